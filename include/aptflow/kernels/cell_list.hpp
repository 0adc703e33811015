#pragma once
// Cell list: ions of one species (or all) counting-sorted into cubic cells,
// with cell-sorted copies of their positions for locality. Cells have edge
// >= r_cut / m (m = CellGrid::reach, default 2); every ion within r_cut of a
// point lies in the (2m + 1)^3 cells around the point's cell (m = 1: the
// classic 27 cells). Cells are numbered in C order (cz, cy, cx) ->
// (cz * ny + cy) * nx + cx, so the cells of one (cz, cy) row are contiguous in
// the sorted arrays: a neighbour search is at most (2m + 1)^2 contiguous
// ranges, and neighbour_rows() drops the rows and row ends that lie farther
// than r_cut from the point (about 2.5x fewer candidates than 27 cells at m = 2).
//
// Ions outside the grid's box are clamped into the border cells. Clamping is
// monotone and 1-Lipschitz on cell coordinates, so the neighbour guarantee
// still holds; border cells are treated as unbounded when pruning rows.
//
// Built on any execution space (count with atomics, exclusive scan, scatter,
// then a heap sort of each cell's ion indices on non-Serial backends), so
// the order inside a cell is the cloud order on every backend and thread
// count: results that depend on the visiting order (none of the integer
// counts do) are the same on Serial, OpenMP and Cuda.
#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "aptflow/core/bounds.hpp"  // cloud_bounds
#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/kernels/detail/exec.hpp"

namespace aptflow {

// Geometry of a cell grid. Cell coordinates are computed in double:
// c = clamp(floor((v - lo) / edge), 0, n - 1). make_cell_grid makes
// edge * reach 1e-4 larger than r_cut, so float rounding of positions and of
// displacements can never put two ions within r_cut more than reach cells apart.
struct CellGrid {
  double lo[3] = {0, 0, 0};
  double edge = 1;
  int n[3] = {1, 1, 1};
  int reach = 1;  // cells searched on each side of a point's cell

  std::int64_t num_cells() const { return std::int64_t(n[0]) * n[1] * n[2]; }
  KOKKOS_INLINE_FUNCTION int coord(int axis, double v) const {
    const double t = ::floor((v - lo[axis]) / edge);
    if (!(t >= 0)) return 0;  // also NaN
    if (t > n[axis] - 1) return n[axis] - 1;
    return static_cast<int>(t);
  }
  KOKKOS_INLINE_FUNCTION std::int64_t cell(int cx, int cy, int cz) const {
    return (std::int64_t(cz) * n[1] + cy) * n[0] + cx;
  }
  KOKKOS_INLINE_FUNCTION std::int64_t cell_of(float x, float y, float z) const {
    return cell(coord(0, x), coord(1, y), coord(2, z));
  }
};

// Cubic cells of edge r_cut * (1 + 1e-4) / cells_per_rcut covering box (at
// least one cell per axis; an empty box, the bounds of no ions, gives one
// cell at the origin), searched cells_per_rcut cells on each side.
// cells_per_rcut in 1..3. Throws ConfigError or ResourceError (too many cells).
CellGrid make_cell_grid(const Box& box, double r_cut, int cells_per_rcut = 2);

template <class MemorySpace>
struct CellList {
  using memory_space = MemorySpace;
  CellGrid grid;
  int species = -1;                                // species held, -1 = all ions
  Kokkos::View<std::int64_t*, MemorySpace> start;  // num_cells + 1 offsets
  Kokkos::View<std::int64_t*, MemorySpace> ion;    // sorted slot -> ion index in the cloud
  Kokkos::View<float*, MemorySpace> x, y, z;       // cell-sorted positions (nm)

  std::int64_t size() const { return static_cast<std::int64_t>(ion.extent(0)); }
};

// Counting sort of the ions with cloud.species == species (all ions when
// species < 0) into the cells of grid: count, exclusive scan, scatter, and
// (on threaded and device backends, whose scatter order is arbitrary) a sort
// of each cell's ion indices; inside a cell the order is the cloud order.
template <class Exec, class Mem>
CellList<Mem> build_cell_list(const Exec& exec, const IonCloud<Mem>& cloud, const CellGrid& grid,
                              int species = -1, const std::string& label = "aptflow::cell_list") {
  static_assert(Kokkos::SpaceAccessibility<Exec, Mem>::accessible,
                "build_cell_list: the execution space cannot access the cloud's memory space");
  detail::ScopedRegion region("aptflow::cell_list::build");
  CellList<Mem> cl;
  cl.grid = grid;
  cl.species = species;
  const std::int64_t ncells = grid.num_cells();
  const IonIndex n = cloud.size();
  auto xs = cloud.x, ys = cloud.y, zs = cloud.z;
  auto sp = cloud.species;
  const bool all = species < 0;
  const Species want = static_cast<Species>(all ? 0 : species);

  Kokkos::View<std::int64_t*, Mem> count(Kokkos::view_alloc(exec, label + ".count"), ncells + 1);
  Kokkos::parallel_for(
      "aptflow::cell_list::count", Kokkos::RangePolicy<Exec>(exec, 0, n), KOKKOS_LAMBDA(const IonIndex i) {
        if (!all && sp(i) != want) return;
        detail::add_to<Exec>(count(grid.cell_of(xs(i), ys(i), zs(i))), std::int64_t(1));
      });
  cl.start = Kokkos::View<std::int64_t*, Mem>(
      Kokkos::view_alloc(exec, label + ".start", Kokkos::WithoutInitializing), ncells + 1);
  auto start = cl.start;
  std::int64_t total = 0;
  Kokkos::parallel_scan(
      "aptflow::cell_list::scan", Kokkos::RangePolicy<Exec>(exec, 0, ncells + 1),
      KOKKOS_LAMBDA(const std::int64_t c, std::int64_t& sum, const bool final) {
        if (final) start(c) = sum;
        sum += count(c);
      },
      total);
  // Reuse count as the scatter cursor.
  Kokkos::deep_copy(exec, count, start);
  cl.ion = Kokkos::View<std::int64_t*, Mem>(
      Kokkos::view_alloc(exec, label + ".ion", Kokkos::WithoutInitializing), total);
  cl.x =
      Kokkos::View<float*, Mem>(Kokkos::view_alloc(exec, label + ".x", Kokkos::WithoutInitializing), total);
  cl.y =
      Kokkos::View<float*, Mem>(Kokkos::view_alloc(exec, label + ".y", Kokkos::WithoutInitializing), total);
  cl.z =
      Kokkos::View<float*, Mem>(Kokkos::view_alloc(exec, label + ".z", Kokkos::WithoutInitializing), total);
  auto ion = cl.ion;
  auto ox = cl.x, oy = cl.y, oz = cl.z;
  Kokkos::parallel_for(
      "aptflow::cell_list::scatter", Kokkos::RangePolicy<Exec>(exec, 0, n), KOKKOS_LAMBDA(const IonIndex i) {
        if (!all && sp(i) != want) return;
        ion(detail::fetch_add<Exec>(count(grid.cell_of(xs(i), ys(i), zs(i))), std::int64_t(1))) = i;
      });
  if constexpr (!detail::kSerialExec<Exec>) {
    // Serial scatters in cloud order already; elsewhere restore it per cell.
    Kokkos::parallel_for(
        "aptflow::cell_list::sort_cells", Kokkos::RangePolicy<Exec>(exec, 0, ncells),
        KOKKOS_LAMBDA(const std::int64_t c) {
          const std::int64_t b = start(c), len = start(c + 1) - b;
          if (len > 1) detail::heap_sort(ion.data() + b, len);
        });
  }
  Kokkos::parallel_for(
      "aptflow::cell_list::gather", Kokkos::RangePolicy<Exec>(exec, 0, total),
      KOKKOS_LAMBDA(const std::int64_t s) {
        const std::int64_t i = ion(s);
        ox(s) = xs(i);
        oy(s) = ys(i);
        oz(s) = zs(i);
      });
  exec.fence();
  return cl;
}

namespace detail {
inline constexpr int kMaxReach = 3;
// Contiguous slot ranges [b, e) of the cell rows that can hold ions within r
// of a point, empty rows skipped.
struct RowRanges {
  std::int64_t b[(2 * kMaxReach + 1) * (2 * kMaxReach + 1)];
  std::int64_t e[(2 * kMaxReach + 1) * (2 * kMaxReach + 1)];
  int n = 0;
};

// Distance along one axis from v to the extent of cell c (0 inside); border
// cells extend to infinity because they hold the clamped outside ions.
KOKKOS_INLINE_FUNCTION double axis_gap(const CellGrid& g, int axis, int c, double v) {
  const double lo = g.lo[axis] + c * g.edge, hi = lo + g.edge;
  if (c > 0 && v < lo) return lo - v;
  if (c < g.n[axis] - 1 && v > hi) return v - hi;
  return 0.0;
}

// Calls f(b, e) for the contiguous slot range [b, e) of every non-empty row
// of cells that may hold an ion within r of (px, py, pz). Conservative: r is
// enlarged by 1e-5 relative + 1e-6 nm (float32 rounding of positions,
// displacements and squared distances is below 1e-6 relative). No arrays:
// device kernels walk the rows directly.
template <class StartView, class F>
KOKKOS_INLINE_FUNCTION void for_each_neighbour_row(const CellGrid& g, const StartView& start, float px,
                                                   float py, float pz, double r, F&& f) {
  const double rr = r * (1.0 + 1e-5) + 1e-6, rr2 = rr * rr;
  const int m = g.reach;
  const int cy = g.coord(1, py), cz = g.coord(2, pz);
  const int z0 = cz - m > 0 ? cz - m : 0, z1 = cz + m < g.n[2] - 1 ? cz + m : g.n[2] - 1;
  const int y0 = cy - m > 0 ? cy - m : 0, y1 = cy + m < g.n[1] - 1 ? cy + m : g.n[1] - 1;
  for (int z = z0; z <= z1; ++z) {
    const double gz = axis_gap(g, 2, z, pz);
    if (gz > rr) continue;
    for (int y = y0; y <= y1; ++y) {
      const double gy = axis_gap(g, 1, y, py);
      const double d2 = gz * gz + gy * gy;
      if (d2 > rr2) continue;
      const double rx = ::sqrt(rr2 - d2);
      const int x0 = g.coord(0, px - rx), x1 = g.coord(0, px + rx);
      const std::int64_t b = start(g.cell(x0, y, z));
      const std::int64_t e = start(g.cell(x1, y, z) + 1);
      if (e > b) f(b, e);
    }
  }
}

// The rows of for_each_neighbour_row, collected (host kernels).
template <class StartView>
KOKKOS_INLINE_FUNCTION void neighbour_rows(const CellGrid& g, const StartView& start, float px, float py,
                                           float pz, double r, RowRanges& rows) {
  rows.n = 0;
  for_each_neighbour_row(g, start, px, py, pz, r, [&](const std::int64_t b, const std::int64_t e) {
    rows.b[rows.n] = b;
    rows.e[rows.n] = e;
    ++rows.n;
  });
}
}  // namespace detail

}  // namespace aptflow
