#pragma once
// Local composition around every ion: the composition evidence of the
// interpolated segmentation rule (docs/segmentation.md, segment.composition).
//
// For ion i: ranged(i) = the number of ranged ions (species != 0) of the
// cloud within radius of i, i itself included when ranged; solute(i) = those
// whose species s has solute(s) != 0. Within: d2 = (dx*dx + dy*dy) + dz*dz
// in double from the float32 positions, d2 <= radius^2. Integer counts: the
// same on any backend and in any order; a rank that holds every ion within
// radius of i (owned + halo) gets the counts of the whole dataset.
#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdint>

#include "aptflow/core/error.hpp"
#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/kernels/cell_list.hpp"

namespace aptflow {

template <class Exec, class Mem>
void local_composition(const Exec& exec, const IonCloud<Mem>& cloud,
                       const Kokkos::View<std::uint8_t*, Mem>& solute, double radius,
                       const Kokkos::View<std::int32_t*, Mem>& ranged,
                       const Kokkos::View<std::int32_t*, Mem>& solute_count) {
  if (!std::isfinite(radius) || !(radius > 0))  // isfinite first: no FE_INVALID for a NaN
    throw ConfigError("segment.composition.radius", "must be a positive number of nm (e.g. 1.2)");
  const IonIndex n = cloud.size();
  if (static_cast<IonIndex>(ranged.extent(0)) != n || static_cast<IonIndex>(solute_count.extent(0)) != n)
    throw InternalError("local_composition: ranged and solute_count need one entry per ion");
  if (n == 0) return;
  const CellList<Mem> cl = build_cell_list(exec, cloud, make_cell_grid(cloud_bounds(exec, cloud), radius, 2),
                                           -1, "aptflow::composition::cells");
  const auto xs = cloud.x, ys = cloud.y, zs = cloud.z;
  const auto sp = cloud.species;
  const std::int64_t nsp = static_cast<std::int64_t>(solute.extent(0));
  const double r2 = radius * radius;
  Kokkos::parallel_for(
      "aptflow::composition::count", Kokkos::RangePolicy<Exec>(exec, 0, n), KOKKOS_LAMBDA(const IonIndex i) {
        const float px = xs(i), py = ys(i), pz = zs(i);
        std::int32_t nr = 0, ns = 0;
        if (!(px == px) || !(py == py) || !(pz == pz)) {
          ranged(i) = 0;
          solute_count(i) = 0;
          return;
        }
        detail::RowRanges rows;
        detail::neighbour_rows(cl.grid, cl.start, px, py, pz, radius, rows);
        for (int r = 0; r < rows.n; ++r)
          for (std::int64_t q = rows.b[r]; q < rows.e[r]; ++q) {
            const std::int64_t k = cl.ion(q);
            const Species s = sp(k);
            if (s == 0) continue;
            const double dx = double(cl.x(q)) - double(px), dy = double(cl.y(q)) - double(py),
                         dz = double(cl.z(q)) - double(pz);
            if (!((dx * dx + dy * dy) + dz * dz <= r2)) continue;  // also NaN
            ++nr;
            if (std::int64_t(s) < nsp && solute(s)) ++ns;
          }
        ranged(i) = nr;
        solute_count(i) = ns;
      });
  exec.fence();
}

}  // namespace aptflow
