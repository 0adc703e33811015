#pragma once
// A duplicated MPI communicator owned by a long-lived object (ArborX, Cabana
// do the same): messages of aptflow's distributed objects can never match
// messages the caller sends on the communicator it passed in.
#include <mpi.h>

#include "aptflow/dist/collective.hpp"  // any_rank and the other small collectives

namespace aptflow::dist {

class DupComm {
 public:
  DupComm() = default;
  // Collective over comm: MPI_Comm_dup.
  explicit DupComm(MPI_Comm comm);
  // MPI_Comm_free (skipped after MPI_Finalize). Destroy on every rank.
  ~DupComm();
  DupComm(DupComm&& other) noexcept;
  DupComm& operator=(DupComm&& other) noexcept;
  DupComm(const DupComm&) = delete;
  DupComm& operator=(const DupComm&) = delete;

  MPI_Comm get() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  void release() noexcept;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace aptflow::dist
