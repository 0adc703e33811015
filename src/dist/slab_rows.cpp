// Sums of grid rows over the z slabs; see include/aptflow/dist/slab_rows.hpp.
#include "aptflow/dist/slab_rows.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/exchange.hpp"

namespace aptflow::dist {

SlabRows sum_slab_rows(MPI_Comm comm, std::int64_t total_rows, std::int64_t row_length,
                       std::int64_t held_first, std::int64_t held_rows, const std::int64_t* held) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  if (held_rows < 0 || (held_rows > 0 && (held_first < 0 || held_first + held_rows > total_rows)))
    throw InternalError(fmt::format("sum_slab_rows: rows [{}, {}) outside [0, {})", held_first,
                                    held_first + held_rows, total_rows));
  const std::int64_t mine[2] = {held_first, held_rows};
  std::vector<std::int64_t> all(2 * static_cast<std::size_t>(size));
  MPI_Allgather(mine, 2, MPI_INT64_T, all.data(), 2, MPI_INT64_T, comm);  // collective
  auto hb = [&](int r) { return all[2 * r]; };
  auto he = [&](int r) { return all[2 * r] + all[2 * r + 1]; };
  auto holds = [&](int r) { return all[2 * r + 1] > 0; };

  // Owned ranges [ob, oe): from the holding ranks' first rows, in rank order.
  std::vector<std::int64_t> ob(size, 0), oe(size, 0);
  int prev = -1;
  std::int64_t last_end = 0;
  for (int r = 0; r < size; ++r) {
    if (!holds(r)) continue;
    if (prev >= 0 && hb(r) < last_end - 1)
      throw InternalError(fmt::format(
          "sum_slab_rows: rank {} holds rows from {} but rank {} holds rows up to {}: the row ranges are "
          "not ordered like z slabs (a bug, please report)",
          r, hb(r), prev, last_end - 1));
    ob[r] = prev < 0 ? 0 : hb(r);
    if (prev >= 0) oe[prev] = ob[r];
    prev = r;
    last_end = std::max(last_end, he(r));
  }
  if (prev >= 0) oe[prev] = total_rows;
  for (int r = 0; r < size; ++r) oe[r] = std::max(oe[r], ob[r]);  // ranks without rows own none

  // Send the held rows that other ranks own (records of one value).
  std::vector<std::int64_t> send_counts(size, 0);
  std::int64_t nsend = 0;
  for (int q = 0; q < size; ++q) {
    if (q == rank) continue;
    const std::int64_t b = std::max(held_first, ob[q]), e = std::min(held_first + held_rows, oe[q]);
    if (e > b) send_counts[q] = (e - b) * row_length, nsend += (e - b) * row_length;
  }
  std::vector<std::int64_t> send;
  send.reserve(static_cast<std::size_t>(nsend));
  for (int q = 0; q < size; ++q) {
    if (send_counts[q] == 0) continue;
    const std::int64_t b = std::max(held_first, ob[q]);
    const std::int64_t* p = held + (b - held_first) * row_length;
    send.insert(send.end(), p, p + send_counts[q]);
  }
  std::vector<std::int64_t> recv_counts;
  const std::vector<std::int64_t> recv = alltoallv(comm, send, send_counts, &recv_counts);  // collective
  std::vector<std::int64_t>().swap(send);  // free it (send = {} would keep the capacity)

  SlabRows out;
  out.first = ob[rank];
  out.rows = oe[rank] - ob[rank];
  out.values.assign(static_cast<std::size_t>(out.rows * row_length), 0);
  auto add = [&](int q, std::int64_t q_first, const std::int64_t* q_rows) {
    // Rows of q's range [q_first, he(q)) that this rank owns.
    const std::int64_t b = std::max(q_first, out.first), e = std::min(he(q), out.first + out.rows);
    if (e <= b) return;
    const std::int64_t* src = q_rows + (b - q_first) * row_length;
    std::int64_t* dst = out.values.data() + (b - out.first) * row_length;
    for (std::int64_t k = 0; k < (e - b) * row_length; ++k) dst[k] += src[k];
  };
  if (held_rows > 0) add(rank, held_first, held);
  std::int64_t at = 0;
  for (int q = 0; q < size; ++q) {
    if (recv_counts[q] == 0) continue;
    // q sent the rows of its range that this rank owns, starting at max(hb(q), ob(me)).
    const std::int64_t b = std::max(hb(q), out.first);
    add(q, b, recv.data() + at);
    at += recv_counts[q];
  }
  return out;
}

}  // namespace aptflow::dist
