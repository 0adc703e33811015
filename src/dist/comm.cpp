// DupComm: a duplicated communicator owned by a long-lived object.
#include "aptflow/dist/comm.hpp"

#include <utility>

#include "aptflow/core/error.hpp"

namespace aptflow::dist {

DupComm::DupComm(MPI_Comm comm) {
  if (MPI_Comm_dup(comm, &comm_) != MPI_SUCCESS)
    throw ResourceError("MPI_Comm_dup failed: check the MPI installation");
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

void DupComm::release() noexcept {
  if (comm_ == MPI_COMM_NULL) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm_);
  comm_ = MPI_COMM_NULL;
}

DupComm::~DupComm() { release(); }

DupComm::DupComm(DupComm&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)), rank_(other.rank_), size_(other.size_) {}

DupComm& DupComm::operator=(DupComm&& other) noexcept {
  if (this != &other) {
    release();
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    rank_ = other.rank_;
    size_ = other.size_;
  }
  return *this;
}

}  // namespace aptflow::dist
