#include "aptflow/core/runtime.hpp"

#include <Kokkos_Core.hpp>

namespace aptflow {

Runtime::Runtime(int& argc, char**& argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    owns_mpi_ = true;
  }
  // Kokkos sees only the program name: its own --help would hide aptflow's
  // (threads and devices come from KOKKOS_* environment variables).
  // Kokkos' start-up warnings (e.g. OMP_PROC_BIND unset with OpenMP) would
  // land in the output of every verb, --json included: switched off.
  if (!Kokkos::is_initialized()) {
    static char no_warnings[] = "--kokkos-disable-warnings";
    int kargc = argc > 0 ? 2 : 0;
    char* kargv[] = {argc > 0 ? argv[0] : nullptr, no_warnings, nullptr};
    char** kargv_ptr = kargv;
    Kokkos::initialize(kargc, kargv_ptr);
  }
}

Runtime::~Runtime() {
  if (Kokkos::is_initialized()) Kokkos::finalize();
  if (owns_mpi_) {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
  }
}

int Runtime::world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int Runtime::world_size() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

}  // namespace aptflow
