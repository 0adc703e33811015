// Window ownership under the z-slab decomposition.
#include "aptflow/dist/window_ownership.hpp"

#include <limits>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/exchange.hpp"

namespace aptflow::dist {

WindowGrid global_window_grid(const ZSlabDecomposition& d, double edge, double stride) {
  return WindowGrid::over(global_bounds(d.comm(), d.owned()), edge, stride);
}

WindowSlab owned_windows(const ZSlabDecomposition& d, const WindowGrid& grid, int rank) {
  const int r = rank < 0 ? d.rank() : rank;
  const float lo = d.z_lo(r), hi = d.z_hi(r);
  const std::int64_t nz = grid.counts[2];
  // First plane whose float32 centre is >= v (centres are non-decreasing in iz).
  auto first_at_least = [&](float v) {
    std::int64_t a = 0, b = nz;
    while (a < b) {
      const std::int64_t m = a + (b - a) / 2;
      if (grid.centre_f(2, m) < v)
        a = m + 1;
      else
        b = m;
    }
    return a;
  };
  WindowSlab s;
  s.iz_begin = first_at_least(lo);
  s.iz_end = std::max(s.iz_begin, first_at_least(hi));
  const std::int64_t plane = grid.counts[0] * grid.counts[1];
  s.first = s.iz_begin * plane;
  s.count = (s.iz_end - s.iz_begin) * plane;
  return s;
}

void gather_window_layers(MPI_Comm comm, const WindowSlab& mine, std::int64_t plane, std::int64_t row,
                          const float* owned, std::int64_t iz0, std::int64_t iz1, float* out,
                          std::int64_t max_records_per_message) {
  int nranks = 1;
  MPI_Comm_size(comm, &nranks);
  const std::int64_t layer = plane * row;
  std::vector<std::int64_t> need{iz0, iz1}, all(2 * static_cast<std::size_t>(nranks));
  MPI_Allgather(need.data(), 2, MPI_INT64_T, all.data(), 2, MPI_INT64_T, comm);
  std::vector<std::int64_t> send_counts(static_cast<std::size_t>(nranks), 0);
  std::vector<float> send;
  for (int d = 0; d < nranks; ++d) {
    const std::int64_t lo = std::max(mine.iz_begin, all[2 * static_cast<std::size_t>(d)]);
    const std::int64_t hi = std::min(mine.iz_end, all[2 * static_cast<std::size_t>(d) + 1]);
    if (hi <= lo) continue;
    send_counts[static_cast<std::size_t>(d)] = (hi - lo) * layer;
    send.insert(send.end(), owned + (lo - mine.iz_begin) * layer, owned + (hi - mine.iz_begin) * layer);
  }
  const auto recv_counts = detail::exchange_counts(comm, send_counts);
  std::int64_t got = 0;
  for (const auto n : recv_counts) got += n;
  if (got != (iz1 - iz0) * layer)
    throw InternalError("gather_window_layers: the layers received do not match the request");
  detail::alltoallv_bytes(comm, send.data(), send_counts, out, recv_counts, sizeof(float),
                          max_records_per_message);
}

}  // namespace aptflow::dist
