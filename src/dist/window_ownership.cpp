// Window ownership under the z-slab decomposition.
#include "aptflow/dist/window_ownership.hpp"

#include <limits>

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

}  // namespace aptflow::dist
