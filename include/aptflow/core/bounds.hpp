#pragma once
// Bounds of ion positions: the one function every stage uses (cell lists,
// window grids, voxel grids, decomposition, inspect). An empty cloud has the
// empty box (Box::empty(): lo = +inf, hi = -inf), the identity of merge(), so
// the bounds of parts merge into the bounds of the whole, on one rank or
// across ranks (dist::global_bounds). NaN coordinates are skipped.
#include <Kokkos_Core.hpp>
#include <algorithm>

#include "aptflow/core/ion_cloud.hpp"

namespace aptflow {

// The smallest box holding both (empty boxes drop out).
inline Box merge(const Box& a, const Box& b) {
  Box m;
  for (int k = 0; k < 3; ++k) {
    m.lo[k] = std::min(a.lo[k], b.lo[k]);
    m.hi[k] = std::max(a.hi[k], b.hi[k]);
  }
  return m;
}

// Per axis lo = min and hi = max of the ion positions (nm); Box::empty() for
// an empty cloud. One min/max reduction per axis ("aptflow::bounds").
template <class Exec, class Mem>
Box cloud_bounds(const Exec& exec, const IonCloud<Mem>& cloud) {
  static_assert(Kokkos::SpaceAccessibility<Exec, Mem>::accessible,
                "cloud_bounds: the execution space cannot access the cloud's memory space");
  Box b = Box::empty();
  const IonIndex n = cloud.size();
  if (n == 0) return b;
  const Kokkos::View<float*, Mem> axes[3] = {cloud.x, cloud.y, cloud.z};
  for (int a = 0; a < 3; ++a) {
    auto v = axes[a];
    typename Kokkos::MinMax<float>::value_type mm;
    Kokkos::parallel_reduce(
        "aptflow::bounds", Kokkos::RangePolicy<Exec>(exec, 0, n),
        KOKKOS_LAMBDA(const IonIndex i, typename Kokkos::MinMax<float>::value_type& r) {
          if (v(i) < r.min_val) r.min_val = v(i);
          if (v(i) > r.max_val) r.max_val = v(i);
        },
        Kokkos::MinMax<float>(mm));
    b.lo[a] = mm.min_val;
    b.hi[a] = mm.max_val;
  }
  return b;
}

}  // namespace aptflow
