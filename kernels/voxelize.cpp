// Voxelisation kernels: window occupancy grids (3D CNN input) and the
// whole-dataset composition grid. No MPI, no HDF5: the distributed grid is
// assembled by the driver (pipeline/voxelize.cpp) and written by io/composition.
// See include/aptflow/kernels/voxelize.hpp and docs/voxelization.md.
#include "aptflow/kernels/voxelize.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "aptflow/core/error.hpp"

namespace aptflow {

namespace detail::voxel {

// Upper bound on the number of cells of the private cell list: beyond it the
// cell edge grows (cells hold more ions, the offsets array stays small).
constexpr std::int64_t kMaxCells = std::int64_t{1} << 22;

// Kokkos::floor appeared in Kokkos 3.7; 3.4 has it in Kokkos::Experimental.
KOKKOS_INLINE_FUNCTION double kfloor(double v) {
#if KOKKOS_VERSION >= 30700
  return Kokkos::floor(v);
#else
  return Kokkos::Experimental::floor(v);
#endif
}

inline std::int64_t cells_along(double lo, double hi, double edge) {
  return static_cast<std::int64_t>(std::floor((hi - lo) / edge)) + 1;
}

}  // namespace detail::voxel

// ====================================================== (a) window voxel grids

namespace detail::voxel {

// The requested ions of cloud compacted into a cell list (origin = their
// minimum), and the channel of every slot in cell order (a window then reads
// contiguous memory). A free function, not the constructor's body: nvcc does
// not allow extended device lambdas in a constructor.
template <class ExecSpace>
struct BinnedIons {
  CellList<typename ExecSpace::memory_space> cells;
  Kokkos::View<int*, typename ExecSpace::memory_space> channel;
};

template <class ExecSpace>
BinnedIons<ExecSpace> bin_requested_ions(const ExecSpace& exec,
                                         const IonCloud<typename ExecSpace::memory_space>& cloud,
                                         const WindowVoxelSpec& spec) {
  using memory_space = typename ExecSpace::memory_space;
  // species id -> channel (-1: not requested). The first listing wins.
  const int max_species = *std::max_element(spec.species.begin(), spec.species.end());
  Kokkos::View<int*, memory_space> channel_of("aptflow::voxel::channel_of", max_species + 1);
  auto channel_host = Kokkos::create_mirror_view(channel_of);
  for (int s = 0; s <= max_species; ++s) channel_host(s) = -1;
  for (std::size_t c = spec.species.size(); c-- > 0;) channel_host(spec.species[c]) = static_cast<int>(c);
  Kokkos::deep_copy(exec, channel_of, channel_host);

  const IonIndex n = cloud.size();
  auto xs = cloud.x, ys = cloud.y, zs = cloud.z;
  auto sp = cloud.species;
  // The requested ions, compacted: positions and channel (as species).
  Kokkos::View<IonIndex*, memory_space> at(
      Kokkos::view_alloc("aptflow::voxel::select", Kokkos::WithoutInitializing), n);
  IonIndex binned = 0;
  Kokkos::parallel_scan(
      "aptflow::voxel::select", Kokkos::RangePolicy<ExecSpace>(exec, 0, n),
      KOKKOS_LAMBDA(const IonIndex i, IonIndex& count, const bool final) {
        const int s = sp(i);
        const bool take = s <= max_species && channel_of(s) >= 0;
        if (final) at(i) = take ? count : -1;
        if (take) ++count;
      },
      binned);
  IonCloud<memory_space> sel(binned, "aptflow::voxel::binned");
  auto bx = sel.x, by = sel.y, bz = sel.z;
  auto bs = sel.species;
  Kokkos::parallel_for(
      "aptflow::voxel::compact", Kokkos::RangePolicy<ExecSpace>(exec, 0, n), KOKKOS_LAMBDA(const IonIndex i) {
        const IonIndex k = at(i);
        if (k < 0) return;
        bx(k) = xs(i);
        by(k) = ys(i);
        bz(k) = zs(i);
        bs(k) = static_cast<Species>(channel_of(sp(i)));
      });
  at = {};

  // The cell list of the binned ions (kernels/cell_list.hpp): origin = their
  // minimum, cell edge >= E, so a window overlaps at most 2 (3 with the
  // rounding margin) cells per axis; grown when the cell count would be
  // excessive. No ions: one cell.
  const Box box = cloud_bounds(exec, sel);
  CellGrid g;
  g.reach = 1;
  g.edge = spec.edge;
  for (;;) {
    for (int a = 0; a < 3; ++a) {
      g.lo[a] = box.is_empty() ? 0.0 : double(box.lo[a]);
      const double hi = box.is_empty() ? 0.0 : double(box.hi[a]);
      g.n[a] = static_cast<int>(cells_along(g.lo[a], hi, g.edge));
    }
    const double total = double(g.n[0]) * double(g.n[1]) * double(g.n[2]);
    if (total <= double(kMaxCells)) break;
    g.edge *= std::max(1.01, std::cbrt(total / double(kMaxCells)));
  }
  BinnedIons<ExecSpace> out;
  out.cells = build_cell_list(exec, sel, g, -1, "aptflow::voxel::cells");
  // Channel of every slot, in cell order (a window reads contiguous memory).
  out.channel = Kokkos::View<int*, memory_space>(
      Kokkos::view_alloc("aptflow::voxel::binned_channel", Kokkos::WithoutInitializing), binned);
  auto ch = out.channel;
  auto slot_ion = out.cells.ion;
  Kokkos::parallel_for(
      "aptflow::voxel::channels", Kokkos::RangePolicy<ExecSpace>(exec, 0, binned),
      KOKKOS_LAMBDA(const IonIndex k) { ch(k) = bs(slot_ion(k)); });
  exec.fence();
  return out;
}

}  // namespace detail::voxel

template <class ExecSpace>
WindowVoxelizer<ExecSpace>::WindowVoxelizer(const ExecSpace& exec, const IonCloud<memory_space>& cloud,
                                            const WindowVoxelSpec& spec)
    : exec_(exec), spec_(spec) {
  using namespace detail::voxel;
  if (!(spec.edge > 0) || !std::isfinite(spec.edge))
    throw ConfigError("voxel.edge",
                      fmt::format("window edge must be a positive length in nm, got {}", spec.edge));
  if (spec.grid < 1 || spec.grid > 1024)
    throw ConfigError("voxel.grid", fmt::format("voxels per axis must be in [1, 1024], got {}", spec.grid));
  if (spec.species.empty())
    throw ConfigError("voxel.species", "no species requested: list at least one species id (channel)");

  auto binned = detail::voxel::bin_requested_ions(exec, cloud, spec);
  cells_ = std::move(binned.cells);
  channel_ = std::move(binned.channel);
}

template <class ExecSpace>
WindowVoxels<typename WindowVoxelizer<ExecSpace>::memory_space> WindowVoxelizer<ExecSpace>::allocate(
    std::int64_t windows) const {
  const auto g = static_cast<std::size_t>(spec_.grid);
  // Not initialised: operator() zeroes each window itself.
  return WindowVoxels<memory_space>(
      Kokkos::view_alloc("aptflow::voxel::windows", Kokkos::WithoutInitializing),
      static_cast<std::size_t>(windows), g, g, g, spec_.species.size());
}

template <class ExecSpace>
void WindowVoxelizer<ExecSpace>::operator()(const WindowCentres<memory_space>& centres,
                                            const WindowVoxels<memory_space>& out) const {
  const int G = spec_.grid;
  const auto nwin = static_cast<std::int64_t>(centres.extent(0));
  if (static_cast<std::int64_t>(out.extent(0)) != nwin || out.extent(1) != std::size_t(G) ||
      out.extent(2) != std::size_t(G) || out.extent(3) != std::size_t(G) ||
      out.extent(4) != spec_.species.size())
    throw InternalError(
        fmt::format("voxelize_windows: output extents ({}, {}, {}, {}, {}) do not match {} windows x {}^3 "
                    "voxels x {} channels",
                    out.extent(0), out.extent(1), out.extent(2), out.extent(3), out.extent(4), nwin, G,
                    spec_.species.size()));
  if (nwin == 0) return;

  const double E = spec_.edge;
  const double h = E / G;
  const CellGrid& cg = cells_.grid;
  const double cs = cg.edge;
  const double lox = cg.lo[0], loy = cg.lo[1], loz = cg.lo[2];
  const std::int64_t ncx = cg.n[0], ncy = cg.n[1], ncz = cg.n[2];
  // Margin for the cell range: any ion with a voxel index inside the window
  // lies within [lo_w, lo_w + E] up to double rounding (far below eps).
  const double eps = 1e-6 * (cs + std::max({std::fabs(lox), std::fabs(loy), std::fabs(loz)}) +
                             double(std::max({ncx, ncy, ncz})) * cs);
  auto bx = cells_.x, by = cells_.y, bz = cells_.z;
  auto bc = channel_;
  auto start = cells_.start;
  const std::int64_t per_window = std::int64_t(G) * G * G * static_cast<std::int64_t>(spec_.species.size());
  const std::int64_t nbinned = binned_ions();

  using Policy = Kokkos::TeamPolicy<ExecSpace>;
  using Member = typename Policy::member_type;
  Kokkos::parallel_for(
      "aptflow::voxel::windows", Policy(exec_, nwin, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
        const std::int64_t w = team.league_rank();
        // Each team zeroes its own window first (cache-hot, no separate pass).
        float* mine = &out(w, 0, 0, 0, 0);
        Kokkos::parallel_for(Kokkos::TeamThreadRange(team, per_window),
                             [&](const std::int64_t k) { mine[k] = 0.0f; });
        team.team_barrier();
        if (nbinned == 0) return;
        const double wx = double(centres(w, 0)) - 0.5 * E;
        const double wy = double(centres(w, 1)) - 0.5 * E;
        const double wz = double(centres(w, 2)) - 0.5 * E;
        auto range = [&](double wlo, double lo, std::int64_t nc, std::int64_t& a, std::int64_t& b) {
          double fa = detail::voxel::kfloor((wlo - eps - lo) / cs);
          double fb = detail::voxel::kfloor((wlo + E + eps - lo) / cs);
          fa = fa < 0 ? 0 : fa;
          fb = fb > double(nc - 1) ? double(nc - 1) : fb;
          a = static_cast<std::int64_t>(fa);
          b = static_cast<std::int64_t>(fb);
          return fa <= fb;
        };
        std::int64_t x0, x1, y0, y1, z0, z1;
        if (!range(wx, lox, ncx, x0, x1) || !range(wy, loy, ncy, y0, y1) || !range(wz, loz, ncz, z0, z1))
          return;
        for (std::int64_t cz = z0; cz <= z1; ++cz)
          for (std::int64_t cy = y0; cy <= y1; ++cy) {
            // Cells (cz, cy, x0..x1) are contiguous in the sorted order.
            const std::int64_t row = (cz * ncy + cy) * ncx;
            const std::int64_t begin = start(row + x0), end = start(row + x1 + 1);
            Kokkos::parallel_for(Kokkos::TeamThreadRange(team, begin, end), [&](const std::int64_t k) {
              const double tx = (double(bx(k)) - wx) / h;
              const double ty = (double(by(k)) - wy) / h;
              const double tz = (double(bz(k)) - wz) / h;
              if (tx < 0 || ty < 0 || tz < 0 || tx >= G || ty >= G || tz >= G) return;
              Kokkos::atomic_add(&out(w, int(tz), int(ty), int(tx), bc(k)), 1.0f);
            });
          }
      });
  exec_.fence();
}

template <class ExecSpace>
WindowVoxels<typename ExecSpace::memory_space> voxelize_windows(
    const ExecSpace& exec, const IonCloud<typename ExecSpace::memory_space>& cloud,
    const WindowCentres<typename ExecSpace::memory_space>& centres, const WindowVoxelSpec& spec) {
  WindowVoxelizer<ExecSpace> voxelizer(exec, cloud, spec);
  auto out = voxelizer.allocate(static_cast<std::int64_t>(centres.extent(0)));
  voxelizer(centres, out);
  return out;
}

// ===================================================== (b) composition grid

CompositionGeometry composition_geometry(const Box& bounds, const CompositionSpec& spec) {
  if (!(spec.edge > 0) || !std::isfinite(spec.edge))
    throw ConfigError("voxel.composition_edge",
                      fmt::format("voxel edge must be a positive length in nm, got {}", spec.edge));
  if (spec.num_types < 0 || spec.num_types > 65534)
    throw ConfigError("voxel.num_types",
                      fmt::format("number of ion types must be in [0, 65534], got {}", spec.num_types));
  CompositionGeometry g;
  g.edge = spec.edge;
  g.channels = spec.num_types + 1;
  std::int64_t* n[3] = {&g.nx, &g.ny, &g.nz};
  for (int a = 0; a < 3; ++a) {
    if (!(bounds.lo[a] <= bounds.hi[a]))
      return CompositionGeometry{{0, 0, 0}, spec.edge, 0, 0, 0, g.channels};
    if (!std::isfinite(bounds.lo[a]) || !std::isfinite(bounds.hi[a]))
      throw InputError(
          "<ion cloud>",
          fmt::format("non-finite bounds on axis {}: positions must be finite numbers (nm)", "xyz"[a]));
    const double lo = bounds.lo[a], hi = bounds.hi[a];
    double origin = std::floor(lo / spec.edge) * spec.edge;
    // Rounding of lo / edge may land on the integer above: keep origin <= lo.
    if (origin > lo) origin -= spec.edge;
    g.origin[a] = origin;
    *n[a] = static_cast<std::int64_t>(std::floor((hi - origin) / spec.edge)) + 1;
  }
  return g;
}

template <class ExecSpace>
CompositionGrid<typename ExecSpace::memory_space> voxelize_composition(
    const ExecSpace& exec, const IonCloud<typename ExecSpace::memory_space>& cloud,
    const CompositionGeometry& geometry, std::int64_t z_begin, std::int64_t planes) {
  using Mem = typename ExecSpace::memory_space;
  if (z_begin < 0 || planes < 0 || z_begin + planes > geometry.nz)
    throw InternalError(fmt::format("voxelize_composition: planes [{}, {}) outside the grid's {} z planes",
                                    z_begin, z_begin + planes, geometry.nz));
  CompositionGrid<Mem> grid;
  grid.geometry = geometry;
  grid.z_begin = z_begin;
  const std::int64_t nx = geometry.nx, ny = geometry.ny, z0 = z_begin, nz = planes;
  const int channels = geometry.channels;
  grid.counts = decltype(grid.counts)("aptflow::voxel::composition_counts", nz, ny, nx, channels);
  const IonIndex n = cloud.size();
  if (n == 0) return grid;
  auto counts = grid.counts;
  auto xs = cloud.x, ys = cloud.y, zs = cloud.z;
  auto sp = cloud.species;
  const double ox = geometry.origin[0], oy = geometry.origin[1], oz = geometry.origin[2], e = geometry.edge;
  // Atomics rather than a duplicated ScatterView: a grid of a whole dataset
  // (10^7 voxels x types) is too large to replicate per thread.
  IonIndex bad_species = 0, outside = 0;
  Kokkos::parallel_reduce(
      "aptflow::voxel::composition", Kokkos::RangePolicy<ExecSpace>(exec, 0, n),
      KOKKOS_LAMBDA(const IonIndex i, IonIndex& bad, IonIndex& out) {
        const int s = sp(i);
        if (s >= channels) {
          ++bad;
          return;
        }
        const double tx = detail::voxel::kfloor((double(xs(i)) - ox) / e);
        const double ty = detail::voxel::kfloor((double(ys(i)) - oy) / e);
        const double tz = detail::voxel::kfloor((double(zs(i)) - oz) / e) - double(z0);
        if (!(tx >= 0 && ty >= 0 && tz >= 0 && tx < double(nx) && ty < double(ny) && tz < double(nz))) {
          ++out;
          return;
        }
        Kokkos::atomic_add(&counts(std::int64_t(tz), std::int64_t(ty), std::int64_t(tx), s), std::int64_t{1});
      },
      bad_species, outside);
  if (bad_species > 0)
    throw InputError("<ion cloud>",
                     fmt::format("{} ions have a species id above the {} ion types of the range "
                                 "table: range the cloud with the same range table",
                                 bad_species, channels - 1));
  if (outside > 0)
    throw InputError("<ion cloud>",
                     fmt::format("{} ions lie outside the composition grid's z planes [{}, {}) (or have "
                                 "non-finite positions): build the grid geometry from bounds that contain "
                                 "every ion",
                                 outside, z0, z0 + nz));
  return grid;
}

template <class ExecSpace>
CompositionGrid<typename ExecSpace::memory_space> voxelize_composition(
    const ExecSpace& exec, const IonCloud<typename ExecSpace::memory_space>& cloud,
    const CompositionGeometry& geometry) {
  return voxelize_composition(exec, cloud, geometry, 0, geometry.nz);
}

template <class ExecSpace>
CompositionGrid<typename ExecSpace::memory_space> voxelize_composition(
    const ExecSpace& exec, const IonCloud<typename ExecSpace::memory_space>& cloud,
    const CompositionSpec& spec) {
  return voxelize_composition(exec, cloud, composition_geometry(cloud_bounds(exec, cloud), spec));
}

// ============================================================ instantiation

#define APTFLOW_VOXEL_INSTANTIATE(EXEC)                                                           \
  template class WindowVoxelizer<EXEC>;                                                           \
  template WindowVoxels<EXEC::memory_space> voxelize_windows<EXEC>(                               \
      const EXEC&, const IonCloud<EXEC::memory_space>&, const WindowCentres<EXEC::memory_space>&, \
      const WindowVoxelSpec&);                                                                    \
  template CompositionGrid<EXEC::memory_space> voxelize_composition<EXEC>(                        \
      const EXEC&, const IonCloud<EXEC::memory_space>&, const CompositionSpec&);                  \
  template CompositionGrid<EXEC::memory_space> voxelize_composition<EXEC>(                        \
      const EXEC&, const IonCloud<EXEC::memory_space>&, const CompositionGeometry&);              \
  template CompositionGrid<EXEC::memory_space> voxelize_composition<EXEC>(                        \
      const EXEC&, const IonCloud<EXEC::memory_space>&, const CompositionGeometry&, std::int64_t, \
      std::int64_t);

// The host space always; the default space too when it is a device backend
// (otherwise the two are the same type).
APTFLOW_VOXEL_INSTANTIATE(Kokkos::DefaultHostExecutionSpace)
#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP) || defined(KOKKOS_ENABLE_SYCL) || \
    defined(KOKKOS_ENABLE_OPENMPTARGET)
APTFLOW_VOXEL_INSTANTIATE(Kokkos::DefaultExecutionSpace)
#endif

}  // namespace aptflow
