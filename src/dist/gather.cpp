// Gather paths: per-ion results back to input order, per-window rows to a root.
#include "aptflow/dist/gather.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/exchange.hpp"

namespace aptflow::dist {

namespace {
template <class T>
struct IndexedValue {
  IonIndex index;
  T value;
};
}  // namespace

template <class T>
Kokkos::View<T*, Kokkos::HostSpace> to_input_order(const ZSlabDecomposition& d,
                                                   const Kokkos::View<const T*, Kokkos::HostSpace>& values,
                                                   IonIndex round_ions) {
  const int p = d.size();
  const IonIndex n = d.owned_count();
  if (static_cast<IonIndex>(values.extent(0)) != n)
    throw InternalError("to_input_order: " + std::to_string(values.extent(0)) + " values for " +
                        std::to_string(n) + " owned ions");
  if (round_ions < 1) throw InternalError("to_input_order: round_ions must be >= 1");
  const IonIndex first = d.input_first(), count = d.input_count();
  Kokkos::View<T*, Kokkos::HostSpace> out(
      Kokkos::view_alloc("aptflow::dist::input_order", Kokkos::WithoutInitializing), count);
  std::vector<char> seen(static_cast<std::size_t>(count), 0);
  IonIndex received = 0;
  bool bad = false;
  // Rounds over the owned ions (the same number on every rank), so that the
  // exchange buffers hold at most round_ions records per rank at a time.
  const IonIndex mine = (n + round_ions - 1) / round_ions;
  IonIndex rounds = 0;
  MPI_Allreduce(&mine, &rounds, 1, MPI_INT64_T, MPI_MAX, d.comm());
  for (IonIndex r = 0; r < rounds; ++r) {
    const IonIndex b = std::min(n, r * round_ions), e = std::min(n, b + round_ions), m = e - b;
    // Destination rank of each owned ion of the round; pack by destination (counting sort).
    std::vector<int> dest(static_cast<std::size_t>(m));
    std::vector<std::int64_t> send_counts(p, 0);
    for (IonIndex i = 0; i < m; ++i) ++send_counts[dest[i] = d.input_rank_of(d.owned_index()(b + i))];
    std::vector<std::int64_t> at(p, 0);
    for (int q = 1; q < p; ++q) at[q] = at[q - 1] + send_counts[q - 1];
    std::vector<IndexedValue<T>> send(static_cast<std::size_t>(m));
    for (IonIndex i = 0; i < m; ++i) {
      IndexedValue<T>& rec = send[at[dest[i]]++];
      std::memset(static_cast<void*>(&rec), 0, sizeof(rec));
      rec.index = d.owned_index()(b + i);
      rec.value = values(b + i);
    }
    std::vector<int>().swap(dest);  // free it (dest = {} would keep the capacity)
    const std::vector<IndexedValue<T>> recv =
        alltoallv(d.comm(), send, send_counts, nullptr, d.max_records_per_message());
    received += static_cast<IonIndex>(recv.size());
    for (const auto& rec : recv) {
      const IonIndex k = rec.index - first;
      if (k < 0 || k >= count || seen[k]) {
        bad = true;
        break;
      }
      seen[k] = 1;
      out(k) = rec.value;
    }
  }
  if (bad || received != count)
    throw InternalError("to_input_order: rank " + std::to_string(d.rank()) +
                        " did not receive each of its input ions exactly once (a bug, please report)");
  return out;
}

template <class T>
Kokkos::View<T**, Kokkos::LayoutRight, Kokkos::HostSpace> gather_window_rows(
    const ZSlabDecomposition& d, const WindowSlab& mine,
    const Kokkos::View<const T**, Kokkos::LayoutRight, Kokkos::HostSpace>& rows, std::int64_t n_windows,
    int root) {
  const MPI_Comm comm = d.comm();
  const int p = d.size();
  const std::int64_t nrows = static_cast<std::int64_t>(rows.extent(0));
  const std::int64_t len_here = nrows > 0 ? static_cast<std::int64_t>(rows.extent(1)) : -1;
  // Row length agreed by the ranks with rows; each window owned once.
  std::int64_t lens[2] = {len_here, len_here < 0 ? std::numeric_limits<std::int64_t>::min() : -len_here},
               agreed[2];
  MPI_Allreduce(lens, agreed, 2, MPI_INT64_T, MPI_MAX, comm);
  const std::int64_t len = agreed[0] < 0 ? 0 : agreed[0];
  const bool mismatch = agreed[0] >= 0 && -agreed[1] != agreed[0];
  const std::int64_t slab[2] = {mine.first, nrows};
  std::vector<std::int64_t> slabs(2 * static_cast<std::size_t>(p));
  MPI_Allgather(slab, 2, MPI_INT64_T, slabs.data(), 2, MPI_INT64_T, comm);
  std::vector<char> covered(static_cast<std::size_t>(std::max<std::int64_t>(n_windows, 0)), 0);
  bool bad = mismatch || nrows != mine.count || n_windows < 0;
  for (int r = 0; r < p && !bad; ++r)
    for (std::int64_t w = slabs[2 * r]; w < slabs[2 * r] + slabs[2 * r + 1] && !bad; ++w) {
      bad = w < 0 || w >= n_windows || covered[w];
      if (!bad) covered[w] = 1;
    }
  for (std::int64_t w = 0; w < n_windows && !bad; ++w) bad = !covered[w];
  int bad_here = bad, bad_any = 0;
  MPI_Allreduce(&bad_here, &bad_any, 1, MPI_INT, MPI_MAX, comm);
  if (bad_any)
    throw InternalError(
        "gather_window_rows: the ranks' window rows do not tile the grid once with one row length "
        "(pass owned_windows() ranges and rows of equal length)");

  Kokkos::View<T**, Kokkos::LayoutRight, Kokkos::HostSpace> out;
  if (d.rank() == root) out = decltype(out)("aptflow::dist::window_rows", n_windows, len);
  if (len == 0 || n_windows == 0) return out;
  std::vector<std::int64_t> send_counts(p, 0), recv_counts(p, 0);
  send_counts[root] = nrows;
  if (d.rank() == root)
    for (int r = 0; r < p; ++r) recv_counts[r] = slabs[2 * r + 1];
  // Received rows arrive in source rank order; place each block at its first window.
  std::vector<T> buf(d.rank() == root ? static_cast<std::size_t>(n_windows * len) : 0);
  detail::alltoallv_bytes(comm, rows.data(), send_counts, buf.data(), recv_counts, sizeof(T) * len,
                          d.max_records_per_message());
  if (d.rank() == root) {
    std::int64_t at = 0;
    for (int r = 0; r < p; ++r) {
      const std::int64_t first = slabs[2 * r], cnt = slabs[2 * r + 1];
      std::copy(buf.begin() + at * len, buf.begin() + (at + cnt) * len, out.data() + first * len);
      at += cnt;
    }
  }
  return out;
}

#define APTFLOW_DIST_GATHER(T)                                                                \
  template Kokkos::View<T*, Kokkos::HostSpace> to_input_order<T>(                             \
      const ZSlabDecomposition&, const Kokkos::View<const T*, Kokkos::HostSpace>&, IonIndex); \
  template Kokkos::View<T**, Kokkos::LayoutRight, Kokkos::HostSpace> gather_window_rows<T>(   \
      const ZSlabDecomposition&, const WindowSlab&,                                           \
      const Kokkos::View<const T**, Kokkos::LayoutRight, Kokkos::HostSpace>&, std::int64_t, int);
APTFLOW_DIST_GATHER(std::int32_t)
APTFLOW_DIST_GATHER(std::int64_t)
APTFLOW_DIST_GATHER(float)
APTFLOW_DIST_GATHER(double)
#undef APTFLOW_DIST_GATHER

}  // namespace aptflow::dist
