#pragma once
// Runtime: initialises MPI and Kokkos once per process (RAII) and finalises
// them in the right order. Use one in main() of every program and test.
#include <mpi.h>

namespace aptflow {

class Runtime {
 public:
  Runtime(int& argc, char**& argv);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  static int world_rank();
  static int world_size();

 private:
  bool owns_mpi_ = false;
};

}  // namespace aptflow
