#pragma once
// All-to-all exchange of fixed-size records with 64-bit counts. MPI-3
// collectives take int counts and displacements; alltoallv() sends in one
// MPI_Alltoallv when every rank's send and receive totals fit in an int
// (in records of one contiguous datatype) and otherwise in rounds: in round k
// each rank pair exchanges at most max_records_per_message records, the
// number of rounds agreed with MPI_Allreduce.
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "aptflow/core/error.hpp"

namespace aptflow::dist {

namespace detail {
// Collective over comm: MPI_Alltoall of one int64 count per rank pair.
std::vector<std::int64_t> exchange_counts(MPI_Comm comm, const std::vector<std::int64_t>& send_counts);

// Collective over comm. send: records for rank 0, then rank 1, ... (counts
// send_counts, record_bytes each); recv: room for sum(recv_counts) records,
// filled in source rank order. max_records_per_message = 0: automatic (one
// message per rank pair when the int limits allow, else rounds of at most
// 256 MiB per rank); > 0 forces rounds of at most that many records per pair
// whenever a pair exchanges more (tests use it to exercise the round path).
void alltoallv_bytes(MPI_Comm comm, const void* send, const std::vector<std::int64_t>& send_counts,
                     void* recv, const std::vector<std::int64_t>& recv_counts, std::size_t record_bytes,
                     std::int64_t max_records_per_message = 0);
}  // namespace detail

// Collective over comm: send[send_offset(d) .. + send_counts[d]) goes to rank
// d (records packed in destination rank order); returns the records received,
// packed in source rank order, and their counts per source in recv_counts.
template <class T>
std::vector<T> alltoallv(MPI_Comm comm, const std::vector<T>& send,
                         const std::vector<std::int64_t>& send_counts,
                         std::vector<std::int64_t>* recv_counts = nullptr,
                         std::int64_t max_records_per_message = 0) {
  static_assert(std::is_trivially_copyable_v<T>, "alltoallv: records are sent as bytes");
  std::int64_t sent = 0;
  for (const std::int64_t c : send_counts) sent += c;
  APTFLOW_ASSERT(sent == static_cast<std::int64_t>(send.size()),
                 "alltoallv: send counts must add up to send.size()");
  const std::vector<std::int64_t> rc = detail::exchange_counts(comm, send_counts);
  std::int64_t total = 0;
  for (const std::int64_t c : rc) total += c;
  std::vector<T> recv(static_cast<std::size_t>(total));
  detail::alltoallv_bytes(comm, send.data(), send_counts, recv.data(), rc, sizeof(T),
                          max_records_per_message);
  if (recv_counts) *recv_counts = rc;
  return recv;
}

}  // namespace aptflow::dist
