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
#include <cstring>
#include <limits>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/kernels/cell_list.hpp"
#include "aptflow/kernels/detail/exec.hpp"
#include "aptflow/kernels/detail/z_histogram.hpp"

namespace aptflow {

namespace detail {

// Host backends, one cell at a time: the candidates of every ion of the cell
// (the rows of cells within radius of the cell's box) are copied once into a
// contiguous per-thread buffer, then each ion of the cell is counted against
// it by sphere_counts_add (AVX2 where the CPU has it; the same counts as the
// generic per-ion loop below).
template <class Mem>
struct CompositionCellsHost {
  CellList<Mem> cl;
  Kokkos::View<std::int32_t*, Mem> is_ranged, is_solute;  // per slot: 1 or 0
  double radius, r2;
  Kokkos::View<std::int32_t*, Mem> ranged, solute_count;

  struct Buffer {
    std::vector<float> x, y, z;
    std::vector<std::int32_t> r, s;
  };

  void operator()(const std::int64_t cell) const {
    const std::int64_t b0 = cl.start(cell), e0 = cl.start(cell + 1);
    if (e0 == b0) return;
    const CellGrid& g = cl.grid;
    const int cx = static_cast<int>(cell % g.n[0]), cy = static_cast<int>(cell / g.n[0] % g.n[1]),
              cz = static_cast<int>(cell / (std::int64_t(g.n[0]) * g.n[1]));
    thread_local Buffer buf;
    std::int64_t n = 0;
    // Rows of cells that may hold an ion within radius of an ion of this cell:
    // the gap between two cells' boxes along an axis is (|c - c'| - 1) edges
    // (border cells extend outwards only, away from the other cell), a lower
    // bound of the distance between their ions (clamped ones too); radius
    // enlarged as in for_each_neighbour_row.
    const double rr = radius * (1.0 + 1e-5) + 1e-6, rr2 = rr * rr;
    const int m = g.reach;
    const auto gap = [&](int c, int c2) {
      return c2 > c + 1 ? (c2 - c - 1) * g.edge : c > c2 + 1 ? (c - c2 - 1) * g.edge : 0.0;
    };
    for (int z = cz - m < 0 ? 0 : cz - m; z <= cz + m && z < g.n[2]; ++z)
      for (int y = cy - m < 0 ? 0 : cy - m; y <= cy + m && y < g.n[1]; ++y) {
        const double gz = gap(cz, z), gy = gap(cy, y), d2 = gz * gz + gy * gy;
        if (d2 > rr2) continue;
        const double rx = std::sqrt(rr2 - d2), xlo = g.lo[0] + cx * g.edge;
        const int x0 = g.coord(0, xlo - rx), x1 = g.coord(0, xlo + g.edge + rx);
        const std::int64_t b = cl.start(g.cell(x0, y, z)), e = cl.start(g.cell(x1, y, z) + 1);
        if (n + (e - b) + 8 > static_cast<std::int64_t>(buf.x.size())) {
          const std::size_t want = static_cast<std::size_t>(2 * (n + (e - b) + 8));
          buf.x.resize(want), buf.y.resize(want), buf.z.resize(want), buf.r.resize(want), buf.s.resize(want);
        }
        const auto len = static_cast<std::size_t>(e - b);
        std::memcpy(buf.x.data() + n, cl.x.data() + b, len * sizeof(float));
        std::memcpy(buf.y.data() + n, cl.y.data() + b, len * sizeof(float));
        std::memcpy(buf.z.data() + n, cl.z.data() + b, len * sizeof(float));
        std::memcpy(buf.r.data() + n, is_ranged.data() + b, len * sizeof(std::int32_t));
        std::memcpy(buf.s.data() + n, is_solute.data() + b, len * sizeof(std::int32_t));
        n += e - b;
      }
    // Padding to whole vectors: NaN positions are never within the radius.
    for (; n % 8 != 0; ++n) {
      buf.x[n] = buf.y[n] = buf.z[n] = std::numeric_limits<float>::quiet_NaN();
      buf.r[n] = buf.s[n] = 0;
    }
    const SphereCandidates cand{buf.x.data(), buf.y.data(), buf.z.data(), buf.r.data(), buf.s.data(), n};
    for (std::int64_t slot = b0; slot < e0; ++slot) {
      const float px = cl.x(slot), py = cl.y(slot), pz = cl.z(slot);
      std::int32_t nr = 0, ns = 0;
      if (px == px && py == py && pz == pz) sphere_counts_add(cand, px, py, pz, r2, nr, ns);
      ranged(cl.ion(slot)) = nr;
      solute_count(cl.ion(slot)) = ns;
    }
  }
};

}  // namespace detail

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
  // 2 cells per radius (measured fastest of 1, 2, 3 on the 1.65 M-ion study
  // specimen); ions are visited in cell order, so neighbouring ions share
  // their rows in cache.
  const CellList<Mem> cl = build_cell_list(exec, cloud, make_cell_grid(cloud_bounds(exec, cloud), radius, 2),
                                           -1, "aptflow::composition::cells");
  const auto sp = cloud.species;
  const std::int64_t nsp = static_cast<std::int64_t>(solute.extent(0));
  const double r2 = radius * radius;
  // Per slot: 0 unranged, 1 ranged, 2 solute (no gather of species in the loop).
  Kokkos::View<std::uint8_t*, Mem> code(
      Kokkos::view_alloc("aptflow::composition::code", Kokkos::WithoutInitializing), cl.size());
  Kokkos::parallel_for(
      "aptflow::composition::code", Kokkos::RangePolicy<Exec>(exec, 0, cl.size()),
      KOKKOS_LAMBDA(const std::int64_t q) {
        const Species s = sp(cl.ion(q));
        code(q) = s == 0 ? 0 : (std::int64_t(s) < nsp && solute(s)) ? 2 : 1;
      });
  if constexpr (detail::kHostExec<Exec>) {
    Kokkos::View<std::int32_t*, Mem> is_ranged(
        Kokkos::view_alloc("aptflow::composition::ranged", Kokkos::WithoutInitializing), cl.size()),
        is_solute(Kokkos::view_alloc("aptflow::composition::solute", Kokkos::WithoutInitializing), cl.size());
    Kokkos::parallel_for("aptflow::composition::flags", Kokkos::RangePolicy<Exec>(exec, 0, cl.size()),
                         [=](const std::int64_t q) {
                           is_ranged(q) = code(q) != 0;
                           is_solute(q) = code(q) == 2;
                         });
    Kokkos::parallel_for(
        "aptflow::composition::count", Kokkos::RangePolicy<Exec>(exec, 0, cl.grid.num_cells()),
        detail::CompositionCellsHost<Mem>{cl, is_ranged, is_solute, radius, r2, ranged, solute_count});
    exec.fence();
    return;
  }
  Kokkos::parallel_for(
      "aptflow::composition::count", Kokkos::RangePolicy<Exec>(exec, 0, cl.size()),
      KOKKOS_LAMBDA(const std::int64_t slot) {
        const std::int64_t i = cl.ion(slot);
        const float px = cl.x(slot), py = cl.y(slot), pz = cl.z(slot);
        std::int32_t nr = 0, ns = 0;
        if (!(px == px) || !(py == py) || !(pz == pz)) {
          ranged(i) = 0;
          solute_count(i) = 0;
          return;
        }
        detail::RowRanges rows;
        detail::neighbour_rows(cl.grid, cl.start, px, py, pz, radius, rows);
        const double x0 = px, y0 = py, z0 = pz;
        for (int r = 0; r < rows.n; ++r)
          for (std::int64_t q = rows.b[r]; q < rows.e[r]; ++q) {  // branch-free: vectorises
            const double dx = double(cl.x(q)) - x0, dy = double(cl.y(q)) - y0, dz = double(cl.z(q)) - z0;
            const int in = (dx * dx + dy * dy) + dz * dz <= r2;  // NaN: out
            const int k = code(q);
            nr += in & (k != 0);
            ns += in & (k == 2);
          }
        ranged(i) = nr;
        solute_count(i) = ns;
      });
  exec.fence();
}

// The composition evidence of the interpolated rule per ion i, from the
// counts of local_composition: (solute(species(i)) ? ion_weight : 0), plus
// weight * (solute_count(i) / ranged(i) - fraction) where ranged(i) > 0
// (fraction: the dataset's solute fraction of the ranged ions; double, in
// this order: the same bits on every backend).
template <class Exec, class Mem>
void composition_evidence(const Exec& exec, const Kokkos::View<Species*, Mem>& species,
                          const Kokkos::View<std::uint8_t*, Mem>& solute,
                          const Kokkos::View<std::int32_t*, Mem>& ranged,
                          const Kokkos::View<std::int32_t*, Mem>& solute_count, double fraction,
                          double weight, double ion_weight, const Kokkos::View<double*, Mem>& evidence) {
  const std::int64_t n = static_cast<std::int64_t>(species.extent(0));
  if (static_cast<std::int64_t>(ranged.extent(0)) != n ||
      static_cast<std::int64_t>(solute_count.extent(0)) != n ||
      static_cast<std::int64_t>(evidence.extent(0)) != n)
    throw InternalError(
        "composition_evidence: species, ranged, solute_count and evidence need one entry per ion");
  const std::int64_t nsp = static_cast<std::int64_t>(solute.extent(0));
  Kokkos::parallel_for(
      "aptflow::composition::evidence", Kokkos::RangePolicy<Exec>(exec, 0, n),
      KOKKOS_LAMBDA(const std::int64_t i) {
        const Species s = species(i);
        double v = std::int64_t(s) < nsp && solute(s) ? ion_weight : 0.0;
        if (ranged(i) > 0) v += weight * (double(solute_count(i)) / double(ranged(i)) - fraction);
        evidence(i) = v;
      });
  exec.fence();
}

}  // namespace aptflow
