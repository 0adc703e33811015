// Window ownership under the z-slab decomposition.
#include "aptflow/dist/window_ownership.hpp"

#include <limits>

#include "aptflow/kernels/cell_list.hpp"

namespace aptflow::dist {

Box global_bounds(MPI_Comm comm, const HostIonCloud& local) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  float lo[3] = {kInf, kInf, kInf}, hi[3] = {-kInf, -kInf, -kInf};
  if (local.size() > 0) {
    const Box b = cloud_bounds(Kokkos::DefaultHostExecutionSpace(), local);
    for (int a = 0; a < 3; ++a) lo[a] = b.lo[a], hi[a] = b.hi[a];
  }
  float glo[3], ghi[3];
  MPI_Allreduce(lo, glo, 3, MPI_FLOAT, MPI_MIN, comm);
  MPI_Allreduce(hi, ghi, 3, MPI_FLOAT, MPI_MAX, comm);
  Box out;
  if (!(glo[0] <= ghi[0])) return out;  // no ions anywhere
  for (int a = 0; a < 3; ++a) out.lo[a] = glo[a], out.hi[a] = ghi[a];
  return out;
}

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
