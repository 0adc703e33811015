#pragma once
// Spatial distribution maps (SDMs) of a whole cloud or of chosen centre ions:
// integer pair counts between centre ions of species A and neighbour ions of
// species B with |p_j - p_i| <= r_cut (definitions: aptflow/sdm/spec.hpp,
// docs/sdm.md). Kernels take the execution space first; on Kokkos::Serial
// histograms are updated with plain adds, elsewhere with atomics.
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <string>

#include "aptflow/core/error.hpp"
#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/kernels/cell_list.hpp"
#include "aptflow/sdm/spec.hpp"

namespace aptflow {

// Cell lists of the centre species A and of the neighbour species B on one
// grid (the same Views when A == B).
template <class MemorySpace>
struct SdmCells {
  int species_a = 0;
  int species_b = 0;
  CellList<MemorySpace> centres;     // species A
  CellList<MemorySpace> neighbours;  // species B

  const CellGrid& grid() const { return neighbours.grid; }
};

template <class Exec, class Mem>
SdmCells<Mem> build_sdm_cells(const Exec& exec, const IonCloud<Mem>& cloud, const CellGrid& grid,
                              int species_a, int species_b) {
  SdmCells<Mem> c;
  c.species_a = species_a;
  c.species_b = species_b;
  c.neighbours = build_cell_list(exec, cloud, grid, species_b, "aptflow::sdm::cells_b");
  c.centres = species_a == species_b ? c.neighbours
                                     : build_cell_list(exec, cloud, grid, species_a, "aptflow::sdm::cells_a");
  return c;
}

namespace detail {

inline void check_grid_for(const CellGrid& g, const SdmSpec& spec) {
  if (g.edge < double(spec.r_cut))
    throw ConfigError("sdm.r_cut",
                      "the cell grid's edge is smaller than r_cut: build it with make_cell_grid(box, r_cut)");
}

// Read-only view of one cell list for kernels.
template <class Mem>
struct CellsView {
  CellGrid g;
  Kokkos::View<const std::int64_t*, Mem> start, ion;
  Kokkos::View<const float*, Mem> x, y, z;
  CellsView() = default;
  explicit CellsView(const CellList<Mem>& c)
      : g(c.grid), start(c.start), ion(c.ion), x(c.x), y(c.y), z(c.z) {}
};

// Calls f(bin) for every neighbour k of the point p (ion index self) in the
// given row ranges that is inside the sphere and the histogram. This is the
// hot loop: float math, squared distance, contiguous cell-sorted positions.
template <SdmKind K, class Mem, class F>
KOKKOS_INLINE_FUNCTION void for_each_pair_bin(const SdmBinning& bn, const CellsView<Mem>& nb,
                                              const RowRanges& rows, const float px, const float py,
                                              const float pz, const std::int64_t self, F&& f) {
  const float rc2 = bn.rc2;
  for (int r = 0; r < rows.n; ++r) {
    const std::int64_t e = rows.e[r];
    for (std::int64_t k = rows.b[r]; k < e; ++k) {
      const float dx = nb.x(k) - px;
      const float dy = nb.y(k) - py;
      const float dz = nb.z(k) - pz;
      const float r2 = dx * dx + dy * dy + dz * dz;
      if (r2 <= rc2) {
        if (r2 == 0.0f && nb.ion(k) == self) continue;  // self pair (only possible at d = 0)
        const int bin = bn.template bin<K>(dx, dy, dz);
        if (bin >= 0) f(bin);
      }
    }
  }
}

template <class Exec, class T>
KOKKOS_INLINE_FUNCTION void add_to(T& target, const T value) {
  if constexpr (kSerialExec<Exec>)
    target += value;
  else
    Kokkos::atomic_add(&target, value);
}

// All centre ions of one cell of the centre list per work item.
template <SdmKind K, class Exec, class Mem>
struct WholeCloudSdm {
  SdmBinning bn;
  CellsView<Mem> a, b;
  Kokkos::View<std::int64_t*, Mem> out;

  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t c) const {
    const std::int64_t s0 = a.start(c), s1 = a.start(c + 1);
    if (s0 == s1) return;
    const int nx = a.g.n[0], ny = a.g.n[1];
    const int cx = static_cast<int>(c % nx);
    const int cy = static_cast<int>((c / nx) % ny);
    const int cz = static_cast<int>(c / (std::int64_t(nx) * ny));
    RowRanges rows;
    neighbour_rows(b.g, b.start, cx, cy, cz, rows);
    const auto o = out;
    for (std::int64_t s = s0; s < s1; ++s)
      for_each_pair_bin<K>(bn, b, rows, a.x(s), a.y(s), a.z(s), a.ion(s),
                           [&](const int bin) { add_to<Exec>(o(bin), std::int64_t(1)); });
  }
};

// Explicit centre ions (indices into the cloud) per work item.
template <SdmKind K, class Exec, class Mem>
struct CentreListSdm {
  SdmBinning bn;
  CellsView<Mem> b;
  Kokkos::View<const std::int64_t*, Mem> centres;
  Kokkos::View<const float*, Mem> x, y, z;
  Kokkos::View<std::int64_t*, Mem> out;

  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const {
    const std::int64_t ion = centres(i);
    const float px = x(ion), py = y(ion), pz = z(ion);
    RowRanges rows;
    neighbour_rows(b.g, b.start, b.g.coord(0, px), b.g.coord(1, py), b.g.coord(2, pz), rows);
    const auto o = out;
    for_each_pair_bin<K>(bn, b, rows, px, py, pz, ion,
                         [&](const int bin) { add_to<Exec>(o(bin), std::int64_t(1)); });
  }
};

template <template <SdmKind, class, class> class Functor, class Exec, class Mem, class... Args>
void dispatch_kind(const Exec& exec, const std::string& label, SdmKind kind, std::int64_t n, Args&&... args) {
  const Kokkos::RangePolicy<Exec> policy(exec, 0, n);
  switch (kind) {
    case SdmKind::z:
      Kokkos::parallel_for(label, policy, Functor<SdmKind::z, Exec, Mem>{args...});
      break;
    case SdmKind::zx:
      Kokkos::parallel_for(label, policy, Functor<SdmKind::zx, Exec, Mem>{args...});
      break;
    case SdmKind::xyz:
      Kokkos::parallel_for(label, policy, Functor<SdmKind::xyz, Exec, Mem>{args...});
      break;
  }
}

template <class Mem>
void check_out(const Kokkos::View<std::int64_t*, Mem>& out, const SdmSpec& spec) {
  if (static_cast<std::int64_t>(out.extent(0)) != spec.size())
    throw InternalError("compute_sdm: output View has " + std::to_string(out.extent(0)) + " bins, the " +
                        to_string(spec.kind) + "-SDM has " + std::to_string(spec.size()));
}

}  // namespace detail

// Whole-cloud SDM: every ion of species A is a centre. out (spec.size() bins,
// flattened as in SdmSpec::shape()) is overwritten with integer pair counts.
template <class Exec, class Mem>
void compute_sdm(const Exec& exec, const SdmCells<Mem>& cells, const SdmSpec& spec,
                 const Kokkos::View<std::int64_t*, Mem>& out) {
  detail::check_grid_for(cells.grid(), spec);
  detail::check_out(out, spec);
  Kokkos::deep_copy(exec, out, std::int64_t(0));
  const SdmBinning bn = make_binning(spec);
  detail::dispatch_kind<detail::WholeCloudSdm, Exec, Mem>(
      exec, "aptflow::sdm::whole_cloud", spec.kind, cells.centres.grid.num_cells(), bn,
      detail::CellsView<Mem>(cells.centres), detail::CellsView<Mem>(cells.neighbours), out);
  exec.fence();
}

// Convenience: grid from the cloud's bounds and r_cut, cells, whole-cloud SDM.
template <class Exec, class Mem>
void compute_sdm(const Exec& exec, const IonCloud<Mem>& cloud, const SdmSpec& spec, int species_a,
                 int species_b, const Kokkos::View<std::int64_t*, Mem>& out) {
  const CellGrid grid = make_cell_grid(cloud_bounds(exec, cloud), spec.r_cut);
  compute_sdm(exec, build_sdm_cells(exec, cloud, grid, species_a, species_b), spec, out);
}

// SDM of explicit centre ions (indices into cloud, any species; duplicates
// count twice) against the neighbour list (species B) built from the same cloud.
template <class Exec, class Mem>
void compute_sdm_of_centres(const Exec& exec, const IonCloud<Mem>& cloud, const CellList<Mem>& neighbours,
                            const SdmSpec& spec, const Kokkos::View<const std::int64_t*, Mem>& centres,
                            const Kokkos::View<std::int64_t*, Mem>& out) {
  detail::check_grid_for(neighbours.grid, spec);
  detail::check_out(out, spec);
  Kokkos::deep_copy(exec, out, std::int64_t(0));
  const SdmBinning bn = make_binning(spec);
  detail::dispatch_kind<detail::CentreListSdm, Exec, Mem>(
      exec, "aptflow::sdm::centre_list", spec.kind, static_cast<std::int64_t>(centres.extent(0)), bn,
      detail::CellsView<Mem>(neighbours), centres, Kokkos::View<const float*, Mem>(cloud.x),
      Kokkos::View<const float*, Mem>(cloud.y), Kokkos::View<const float*, Mem>(cloud.z), out);
  exec.fence();
}

}  // namespace aptflow
