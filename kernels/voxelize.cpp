// Voxelisation kernels: window occupancy grids (3D CNN input) and the
// whole-dataset composition grid (serial, MPI, HDF5 writer).
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
// Largest MPI message, in elements (well inside int).
constexpr std::int64_t kMpiChunk = std::int64_t{1} << 27;

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

// ====================================================================== bounds

template <class ExecSpace>
Box compute_bounds(const ExecSpace& exec, const IonCloud<typename ExecSpace::memory_space>& cloud) {
  Box box;
  const float inf = std::numeric_limits<float>::infinity();
  for (int a = 0; a < 3; ++a) {
    box.lo[a] = inf;
    box.hi[a] = -inf;
  }
  const IonIndex n = cloud.size();
  if (n == 0) return box;
  Kokkos::View<float*, typename ExecSpace::memory_space> coord[3] = {cloud.x, cloud.y, cloud.z};
  for (int a = 0; a < 3; ++a) {
    auto c = coord[a];
    Kokkos::MinMaxScalar<float> r;
    Kokkos::parallel_reduce(
        "aptflow::voxel::bounds", Kokkos::RangePolicy<ExecSpace>(exec, 0, n),
        KOKKOS_LAMBDA(const IonIndex i, Kokkos::MinMaxScalar<float>& v) {
          const float p = c(i);
          if (p < v.min_val) v.min_val = p;
          if (p > v.max_val) v.max_val = p;
        },
        Kokkos::MinMax<float>(r));
    box.lo[a] = r.min_val;
    box.hi[a] = r.max_val;
  }
  return box;
}

Box merge_bounds(const Box& a, const Box& b) {
  Box m;
  for (int k = 0; k < 3; ++k) {
    m.lo[k] = std::min(a.lo[k], b.lo[k]);
    m.hi[k] = std::max(a.hi[k], b.hi[k]);
  }
  return m;
}

Box allreduce_bounds(const Box& local, MPI_Comm comm) {
  Box g;
  // Collective: two MPI_Allreduce over comm.
  MPI_Allreduce(local.lo, g.lo, 3, MPI_FLOAT, MPI_MIN, comm);
  MPI_Allreduce(local.hi, g.hi, 3, MPI_FLOAT, MPI_MAX, comm);
  return g;
}

// ====================================================== (a) window voxel grids

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
  Kokkos::View<int*, memory_space> ion_channel(
      Kokkos::view_alloc("aptflow::voxel::ion_channel", Kokkos::WithoutInitializing), n);
  // Channel of every ion and bounds of the binned ions (one pass per axis).
  IonIndex binned = 0;
  Kokkos::parallel_reduce(
      "aptflow::voxel::select", Kokkos::RangePolicy<ExecSpace>(exec, 0, n),
      KOKKOS_LAMBDA(const IonIndex i, IonIndex& count) {
        const int s = sp(i);
        const int c = s <= max_species ? channel_of(s) : -1;
        ion_channel(i) = c;
        if (c >= 0) ++count;
      },
      binned);

  Kokkos::View<float*, memory_space> coord[3] = {xs, ys, zs};
  double hi[3] = {0, 0, 0};
  for (int a = 0; a < 3; ++a) {
    auto p = coord[a];
    Kokkos::MinMaxScalar<float> r;
    Kokkos::parallel_reduce(
        "aptflow::voxel::binned_bounds", Kokkos::RangePolicy<ExecSpace>(exec, 0, n),
        KOKKOS_LAMBDA(const IonIndex i, Kokkos::MinMaxScalar<float>& v) {
          if (ion_channel(i) < 0) return;
          const float q = p(i);
          if (q < v.min_val) v.min_val = q;
          if (q > v.max_val) v.max_val = q;
        },
        Kokkos::MinMax<float>(r));
    lo_[a] = binned > 0 ? r.min_val : 0.0;
    hi[a] = binned > 0 ? r.max_val : 0.0;
  }

  // Cell edge >= E, so a window overlaps at most 2 (3 with the rounding
  // margin) cells per axis; grown when the cell count would be excessive.
  cell_edge_ = spec.edge;
  for (;;) {
    for (int a = 0; a < 3; ++a) ncell_[a] = cells_along(lo_[a], hi[a], cell_edge_);
    const double total = double(ncell_[0]) * double(ncell_[1]) * double(ncell_[2]);
    if (total <= double(kMaxCells)) break;
    cell_edge_ *= std::max(1.01, std::cbrt(total / double(kMaxCells)));
  }
  const std::int64_t ncells = ncell_[0] * ncell_[1] * ncell_[2];
  const std::int64_t ncx = ncell_[0], ncy = ncell_[1], ncz = ncell_[2];
  const double lox = lo_[0], loy = lo_[1], loz = lo_[2], cs = cell_edge_;

  // Counting sort of the binned ions by cell.
  Kokkos::View<std::int64_t*, memory_space> ion_cell(
      Kokkos::view_alloc("aptflow::voxel::ion_cell", Kokkos::WithoutInitializing), n);
  Kokkos::View<std::int64_t*, memory_space> cell_count("aptflow::voxel::cell_count", ncells);
  Kokkos::parallel_for(
      "aptflow::voxel::count_cells", Kokkos::RangePolicy<ExecSpace>(exec, 0, n),
      KOKKOS_LAMBDA(const IonIndex i) {
        if (ion_channel(i) < 0) return;
        auto cell = [](double p, double lo, double edge, std::int64_t nc) {
          std::int64_t k = static_cast<std::int64_t>(detail::voxel::kfloor((p - lo) / edge));
          return k < 0 ? std::int64_t{0} : (k >= nc ? nc - 1 : k);
        };
        const std::int64_t c =
            (cell(zs(i), loz, cs, ncz) * ncy + cell(ys(i), loy, cs, ncy)) * ncx + cell(xs(i), lox, cs, ncx);
        ion_cell(i) = c;
        Kokkos::atomic_add(&cell_count(c), std::int64_t{1});
      });
  cell_start_ = Kokkos::View<std::int64_t*, memory_space>("aptflow::voxel::cell_start", ncells + 1);
  auto start = cell_start_;
  Kokkos::parallel_scan(
      "aptflow::voxel::cell_offsets", Kokkos::RangePolicy<ExecSpace>(exec, 0, ncells),
      KOKKOS_LAMBDA(const std::int64_t c, std::int64_t& sum, const bool final) {
        sum += cell_count(c);
        if (final) start(c + 1) = sum;
      });
  Kokkos::deep_copy(exec, cell_count, std::int64_t{0});  // reused as the fill cursor

  x_ = Kokkos::View<float*, memory_space>(
      Kokkos::view_alloc("aptflow::voxel::binned_x", Kokkos::WithoutInitializing), binned);
  y_ = Kokkos::View<float*, memory_space>(
      Kokkos::view_alloc("aptflow::voxel::binned_y", Kokkos::WithoutInitializing), binned);
  z_ = Kokkos::View<float*, memory_space>(
      Kokkos::view_alloc("aptflow::voxel::binned_z", Kokkos::WithoutInitializing), binned);
  channel_ = Kokkos::View<int*, memory_space>(
      Kokkos::view_alloc("aptflow::voxel::binned_channel", Kokkos::WithoutInitializing), binned);
  auto bx = x_, by = y_, bz = z_;
  auto bc = channel_;
  Kokkos::parallel_for(
      "aptflow::voxel::fill_cells", Kokkos::RangePolicy<ExecSpace>(exec, 0, n),
      KOKKOS_LAMBDA(const IonIndex i) {
        const int ch = ion_channel(i);
        if (ch < 0) return;
        const std::int64_t c = ion_cell(i);
        const std::int64_t slot = start(c) + Kokkos::atomic_fetch_add(&cell_count(c), std::int64_t{1});
        bx(slot) = xs(i);
        by(slot) = ys(i);
        bz(slot) = zs(i);
        bc(slot) = ch;
      });
  exec.fence();
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
  const double cs = cell_edge_;
  const double lox = lo_[0], loy = lo_[1], loz = lo_[2];
  const std::int64_t ncx = ncell_[0], ncy = ncell_[1], ncz = ncell_[2];
  // Margin for the cell range: any ion with a voxel index inside the window
  // lies within [lo_w, lo_w + E] up to double rounding (far below eps).
  const double eps = 1e-6 * (cs + std::max({std::fabs(lox), std::fabs(loy), std::fabs(loz)}) +
                             double(std::max({ncx, ncy, ncz})) * cs);
  auto bx = x_, by = y_, bz = z_;
  auto bc = channel_;
  auto start = cell_start_;
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
    const CompositionGeometry& geometry) {
  using Mem = typename ExecSpace::memory_space;
  CompositionGrid<Mem> grid;
  grid.geometry = geometry;
  const std::int64_t nx = geometry.nx, ny = geometry.ny, nz = geometry.nz;
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
        const double tz = detail::voxel::kfloor((double(zs(i)) - oz) / e);
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
                     fmt::format("{} ions lie outside the composition grid (or have non-finite positions): "
                                 "build the grid geometry from bounds that contain every ion",
                                 outside));
  return grid;
}

template <class ExecSpace>
CompositionGrid<typename ExecSpace::memory_space> voxelize_composition(
    const ExecSpace& exec, const IonCloud<typename ExecSpace::memory_space>& cloud,
    const CompositionSpec& spec) {
  return voxelize_composition(exec, cloud, composition_geometry(compute_bounds(exec, cloud), spec));
}

template <class ExecSpace>
CompositionGrid<Kokkos::HostSpace> voxelize_composition_mpi(
    const ExecSpace& exec, const IonCloud<typename ExecSpace::memory_space>& cloud,
    const CompositionSpec& spec, MPI_Comm comm, CompositionReduce mode) {
  using namespace detail::voxel;
  const Box global = allreduce_bounds(compute_bounds(exec, cloud), comm);  // collective
  const CompositionGeometry geometry = composition_geometry(global, spec);
  // Every rank must throw or none: agree on the local error before reducing.
  std::string error;
  CompositionGrid<typename ExecSpace::memory_space> local;
  try {
    local = voxelize_composition(exec, cloud, geometry);
  } catch (const Error& e) {
    error = e.what();
  }
  int failed = error.empty() ? 0 : 1, any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, comm);  // collective
  if (any_failed) {
    if (!error.empty()) throw InputError("<ion cloud>", error);
    throw InputError("<ion cloud>",
                     "another rank failed to voxelise its ions (see its message): fix the input");
  }
  auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), local.counts);

  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const std::int64_t plane = geometry.ny * geometry.nx * geometry.channels;
  CompositionGrid<Kokkos::HostSpace> result;
  result.geometry = geometry;
  if (mode == CompositionReduce::all) {
    // Collective: MPI_Allreduce (SUM, int64) in chunks, in place.
    Kokkos::View<std::int64_t****, Kokkos::LayoutRight, Kokkos::HostSpace> sum(
        "aptflow::voxel::composition_sum", geometry.nz, geometry.ny, geometry.nx, geometry.channels);
    Kokkos::deep_copy(sum, host);
    const std::int64_t total = static_cast<std::int64_t>(sum.size());
    for (std::int64_t off = 0; off < total; off += kMpiChunk) {
      const int count = static_cast<int>(std::min(kMpiChunk, total - off));
      MPI_Allreduce(MPI_IN_PLACE, sum.data() + off, count, MPI_INT64_T, MPI_SUM, comm);
    }
    result.counts = sum;
    return result;
  }
  // Slabs: one MPI_Reduce (SUM, int64) per rank's block of z planes, rooted
  // at that rank; collective over comm.
  for (int r = 0; r < size; ++r) {
    const std::int64_t z0 = geometry.nz * r / size, z1 = geometry.nz * (r + 1) / size;
    if (r == rank) {
      result.z_begin = z0;
      result.counts = decltype(result.counts)("aptflow::voxel::composition_slab", z1 - z0, geometry.ny,
                                              geometry.nx, geometry.channels);
    }
    const std::int64_t total = (z1 - z0) * plane;
    for (std::int64_t off = 0; off < total; off += kMpiChunk) {
      const int count = static_cast<int>(std::min(kMpiChunk, total - off));
      std::int64_t* recv = r == rank ? result.counts.data() + off : nullptr;
      MPI_Reduce(host.data() + z0 * plane + off, recv, count, MPI_INT64_T, MPI_SUM, r, comm);
    }
  }
  return result;
}

// ============================================================ HDF5 writer

void write_composition(const h5::File& file, const CompositionGrid<Kokkos::HostSpace>& grid,
                       const std::vector<std::string>& type_names, const std::string& group) {
  const auto& g = grid.geometry;
  if (static_cast<int>(type_names.size()) + 1 != g.channels)
    throw InternalError(fmt::format("write_composition: {} type names for a grid of {} ion types",
                                    type_names.size(), g.channels - 1));
  if (static_cast<std::int64_t>(grid.counts.extent(1)) != g.ny ||
      static_cast<std::int64_t>(grid.counts.extent(2)) != g.nx ||
      static_cast<int>(grid.counts.extent(3)) != g.channels || grid.z_begin < 0 ||
      grid.z_begin + grid.planes() > g.nz)
    throw InternalError("write_composition: counts extents do not match the grid geometry");
  // Planes this rank writes: [row0, row1) of the file, from the grid's own planes.
  std::int64_t row0 = grid.z_begin, row1 = grid.z_begin + grid.planes();
  if (file.parallel() && grid.whole()) {
    int rank = 0, size = 1;
    MPI_Comm_rank(file.comm(), &rank);
    MPI_Comm_size(file.comm(), &size);
    row0 = g.nz * rank / size;
    row1 = g.nz * (rank + 1) / size;
  } else if (!file.parallel() && !grid.whole()) {
    throw InternalError(
        fmt::format("write_composition '{}': a slab of z planes [{}, {}) cannot be written to a "
                    "serial file: pass the parallel file or reduce with CompositionReduce::all",
                    file.path(), grid.z_begin, grid.z_begin + grid.planes()));
  }
  const int C = g.channels;
  const std::int64_t plane = g.ny * g.nx * C;
  const std::int64_t* mine = grid.counts.data() + (row0 - grid.z_begin) * plane;
  const hsize_t nz = g.nz, ny = g.ny, nx = g.nx;

  // Collective creates and writes (each rank passes its own rows).
  h5::create_dataset<std::int64_t>(file, group + "/counts", {nz, ny, nx, hsize_t(C)});
  h5::write_rows<std::int64_t>(file, group + "/counts", row0, row1 - row0, mine);

  // Fractions over ranged ions (channels 1..C-1); NaN where a voxel holds none.
  const int T = C - 1;
  if (T > 0) {
    std::vector<float> comp(static_cast<std::size_t>((row1 - row0) * g.ny * g.nx * T));
    const std::int64_t voxels = (row1 - row0) * g.ny * g.nx;
    for (std::int64_t v = 0; v < voxels; ++v) {
      const std::int64_t* c = mine + v * C;
      std::int64_t ranged = 0;
      for (int k = 1; k < C; ++k) ranged += c[k];
      for (int k = 1; k < C; ++k)
        comp[v * T + (k - 1)] =
            ranged > 0 ? static_cast<float>(static_cast<double>(c[k]) / static_cast<double>(ranged))
                       : std::numeric_limits<float>::quiet_NaN();
    }
    h5::create_dataset<float>(file, group + "/composition", {nz, ny, nx, hsize_t(T)});
    h5::write_rows<float>(file, group + "/composition", row0, row1 - row0, comp.data());
  }

  h5::write<double>(file, group + "/origin", {g.origin[0], g.origin[1], g.origin[2]});
  h5::write<double>(file, group + "/edge", {g.edge});
  std::vector<std::string> names{"unranged"};
  names.insert(names.end(), type_names.begin(), type_names.end());
  h5::write_strings(file, group + "/species_names", names);
  auto grp = h5::open_object(file, group);
  h5::write_attr(grp, "layout",
                 std::string("counts[z][y][x][species], composition[z][y][x][type] (species = type + 1); "
                             "voxel (iz, iy, ix) spans origin + (ix, iy, iz) * edge .. + edge"));
  h5::write_attr(grp, "units", std::string("nm"));
}

// ============================================================ instantiation

#define APTFLOW_VOXEL_INSTANTIATE(EXEC)                                                           \
  template Box compute_bounds<EXEC>(const EXEC&, const IonCloud<EXEC::memory_space>&);            \
  template class WindowVoxelizer<EXEC>;                                                           \
  template WindowVoxels<EXEC::memory_space> voxelize_windows<EXEC>(                               \
      const EXEC&, const IonCloud<EXEC::memory_space>&, const WindowCentres<EXEC::memory_space>&, \
      const WindowVoxelSpec&);                                                                    \
  template CompositionGrid<EXEC::memory_space> voxelize_composition<EXEC>(                        \
      const EXEC&, const IonCloud<EXEC::memory_space>&, const CompositionSpec&);                  \
  template CompositionGrid<EXEC::memory_space> voxelize_composition<EXEC>(                        \
      const EXEC&, const IonCloud<EXEC::memory_space>&, const CompositionGeometry&);              \
  template CompositionGrid<Kokkos::HostSpace> voxelize_composition_mpi<EXEC>(                     \
      const EXEC&, const IonCloud<EXEC::memory_space>&, const CompositionSpec&, MPI_Comm,         \
      CompositionReduce);

// The host space always; the default space too when it is a device backend
// (otherwise the two are the same type).
APTFLOW_VOXEL_INSTANTIATE(Kokkos::DefaultHostExecutionSpace)
#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP) || defined(KOKKOS_ENABLE_SYCL) || \
    defined(KOKKOS_ENABLE_OPENMPTARGET)
APTFLOW_VOXEL_INSTANTIATE(Kokkos::DefaultExecutionSpace)
#endif

}  // namespace aptflow
