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
  if (g.edge * g.reach < spec.r_cut)
    throw ConfigError(
        "sdm.r_cut",
        "the cell grid's edge * reach is smaller than r_cut: build it with make_cell_grid(box, r_cut)");
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

// Calls f(bin) for every neighbour slot k in the row ranges with
// r2 <= rc2 whose displacement falls inside the histogram, INCLUDING the
// point itself (d = 0) when it is in the list: callers remove the self pair
// with self_bin() (it is counted exactly once, at d = (0, 0, 0)). This is the
// hot loop: float math, squared distance, contiguous cell-sorted positions,
// no branch per candidate: a block of candidates is filtered branch-free into
// a small buffer (compaction), then the survivors are binned.
template <SdmKind K, class Mem, class F>
KOKKOS_INLINE_FUNCTION void for_each_pair_bin(const SdmBinning& bn, const CellsView<Mem>& nb,
                                              const RowRanges& rows, const float px, const float py,
                                              const float pz, F&& f) {
  constexpr int kBlock = 128;
  const float rc2 = bn.rc2;
  const float alo = bn.axis_lo, ahi = bn.axis_hi;
  const float zlo = K == SdmKind::z ? bn.crop_lo : bn.axis_lo;
  const float zhi = K == SdmKind::z ? bn.crop_hi : bn.axis_hi;
  const bool drop = bn.drop_zero;  // exclude = zero_dx_or_dz
  float bz[kBlock], bx[K == SdmKind::z ? 1 : kBlock], by[K == SdmKind::xyz ? kBlock : 1];
  const float* X = nb.x.data();
  const float* Y = nb.y.data();
  const float* Z = nb.z.data();
  for (int r = 0; r < rows.n; ++r) {
    for (std::int64_t k0 = rows.b[r]; k0 < rows.e[r]; k0 += kBlock) {
      const int len = rows.e[r] - k0 < kBlock ? static_cast<int>(rows.e[r] - k0) : kBlock;
      int m = 0;
      for (int j = 0; j < len; ++j) {
        const float dx = X[k0 + j] - px;
        const float dy = Y[k0 + j] - py;
        const float dz = Z[k0 + j] - pz;
        const float r2 = dx * dx + dy * dy + dz * dz;
        bool keep = (r2 <= rc2) & (dz >= zlo) & (dz <= zhi) & (dx >= alo) & (dx <= ahi) &
                    !(drop & ((dx == 0.0f) | (dz == 0.0f)));
        if constexpr (K == SdmKind::xyz) keep = keep & (dy >= alo) & (dy <= ahi);
        bz[m] = dz;
        if constexpr (K != SdmKind::z) bx[m] = dx;
        if constexpr (K == SdmKind::xyz) by[m] = dy;
        m += keep ? 1 : 0;
      }
      for (int j = 0; j < m; ++j) {
        if constexpr (K == SdmKind::z)
          f(bn.axis_bin(bz[j]) - bn.crop_first);
        else if constexpr (K == SdmKind::zx)
          f(bn.axis_bin(bz[j]) * bn.n + bn.axis_bin(bx[j]));
        else
          f((bn.axis_bin(bz[j]) * bn.n + bn.axis_bin(by[j])) * bn.n + bn.axis_bin(bx[j]));
      }
    }
  }
}

// Host-only z-SDM of one point (self pair included) into h[0, crop_count).
// Same result as for_each_pair_bin<z>, faster on CPUs: pass 1 filters and
// bins a block of candidates without branches (the compiler vectorises it;
// rejected candidates go to a dummy bin), pass 2 increments four interleaved
// sub-histograms so that runs of equal bins do not serialise.
template <class Mem>
inline void z_histogram_host(const SdmBinning& bn, const CellsView<Mem>& nb, const RowRanges& rows,
                             const float px, const float py, const float pz, std::int32_t* h) {
  constexpr int kBlock = 256, kCopies = 4, kMaxBins = 1024;
  const int nbins = bn.crop_count, dummy = nbins;
  std::int32_t hh[kCopies][kMaxBins + 1];
  for (int c = 0; c < kCopies; ++c)
    for (int q = 0; q <= nbins; ++q) hh[c][q] = 0;
  const float rc2 = bn.rc2, alo = bn.axis_lo, ahi = bn.axis_hi, zlo = bn.crop_lo, zhi = bn.crop_hi;
  const float lo = bn.lo, w = bn.w;
  const int cf = bn.crop_first;
  const bool drop = bn.drop_zero;  // exclude = zero_dx_or_dz
  const float* X = nb.x.data();
  const float* Y = nb.y.data();
  const float* Z = nb.z.data();
  int idx[kBlock];
  for (int r = 0; r < rows.n; ++r) {
    for (std::int64_t k0 = rows.b[r]; k0 < rows.e[r]; k0 += kBlock) {
      const int len = rows.e[r] - k0 < kBlock ? static_cast<int>(rows.e[r] - k0) : kBlock;
      const float* x = X + k0;
      const float* y = Y + k0;
      const float* z = Z + k0;
      for (int j = 0; j < len; ++j) {
        const float dx = x[j] - px;
        const float dy = y[j] - py;
        const float dz = z[j] - pz;
        const float r2 = dx * dx + dy * dy + dz * dz;
        const bool keep = (r2 <= rc2) & (dz >= zlo) & (dz <= zhi) & (dx >= alo) & (dx <= ahi) &
                          !(drop & ((dx == 0.0f) | (dz == 0.0f)));
        // Unconditional division (a conditional one blocks vectorisation),
        // clamped so the conversion is defined (and raises no FE_INVALID)
        // for far away candidates; they are rejected anyway.
        float t = (dz - lo) / w;
        t = t < 0.0f ? 0.0f : t;
        t = t > 8192.0f ? 8192.0f : t;
        idx[j] = keep ? static_cast<int>(t) - cf : dummy;
      }
      int j = 0;
      for (; j + kCopies <= len; j += kCopies) {
        ++hh[0][idx[j]];
        ++hh[1][idx[j + 1]];
        ++hh[2][idx[j + 2]];
        ++hh[3][idx[j + 3]];
      }
      for (; j < len; ++j) ++hh[0][idx[j]];
    }
  }
  for (int q = 0; q < nbins; ++q) h[q] = hh[0][q] + hh[1][q] + hh[2][q] + hh[3][q];
}

template <class Exec>
inline constexpr bool kHostExec = std::is_same_v<typename Exec::memory_space, Kokkos::HostSpace>;

// The bin of the self pair d = (0, 0, 0), or -1 when it is outside the
// histogram or not counted (exclude = zero_dx_or_dz).
template <SdmKind K>
KOKKOS_INLINE_FUNCTION int self_bin(const SdmBinning& bn) {
  if (bn.arithmetic != 0) return K == SdmKind::z ? bn.bin64_z(0.0, 0.0) : -1;
  return bn.template bin<K>(0.0f, 0.0f, 0.0f);
}

// The double arithmetic (SdmSpec::arithmetic) exists for window z-SDMs only.
inline void check_float32_only(const SdmSpec& spec, const char* what) {
  if (spec.arithmetic != SdmArithmetic::float32)
    throw ConfigError("sdm.arithmetic", std::string("'") + to_string(spec.arithmetic) +
                                            "' is implemented for " + "window z-SDMs only, not for " + what +
                                            ": use \"float32\"");
}

template <class Exec, class T>
KOKKOS_INLINE_FUNCTION void add_to(T& target, const T value) {
  if constexpr (kSerialExec<Exec>)
    target += value;
  else
    Kokkos::atomic_add(&target, value);
}

// All centre ions of one cell of the centre list per work item. centres_in_b:
// every centre is also in the neighbour list (A == B), so one self pair per
// centre is removed.
template <SdmKind K, class Exec, class Mem>
struct WholeCloudSdm {
  SdmBinning bn;
  CellsView<Mem> a, b;
  double r_cut;
  bool centres_in_b;
  Kokkos::View<std::int64_t*, Mem> out;

  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t c) const {
    const std::int64_t s0 = a.start(c), s1 = a.start(c + 1);
    if (s0 == s1) return;
    const auto o = out;
    RowRanges rows;
    for (std::int64_t s = s0; s < s1; ++s) {
      const float px = a.x(s), py = a.y(s), pz = a.z(s);
      neighbour_rows(b.g, b.start, px, py, pz, r_cut, rows);
      for_each_pair_bin<K>(bn, b, rows, px, py, pz,
                           [&](const int bin) { add_to<Exec>(o(bin), std::int64_t(1)); });
    }
    const int sb = self_bin<K>(bn);
    if (centres_in_b && sb >= 0) add_to<Exec>(o(sb), -(s1 - s0));
  }
};

// Explicit centre ions (indices into the cloud) per work item; a centre of
// the neighbour list's species is in that list: its self pair is removed.
template <SdmKind K, class Exec, class Mem>
struct CentreListSdm {
  SdmBinning bn;
  CellsView<Mem> b;
  double r_cut;
  int b_species;  // species of the neighbour list, -1 = all
  Kokkos::View<const std::int64_t*, Mem> centres;
  Kokkos::View<const float*, Mem> x, y, z;
  Kokkos::View<const Species*, Mem> species;
  Kokkos::View<std::int64_t*, Mem> out;

  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const {
    const std::int64_t ion = centres(i);
    const float px = x(ion), py = y(ion), pz = z(ion);
    RowRanges rows;
    neighbour_rows(b.g, b.start, px, py, pz, r_cut, rows);
    const auto o = out;
    for_each_pair_bin<K>(bn, b, rows, px, py, pz,
                         [&](const int bin) { add_to<Exec>(o(bin), std::int64_t(1)); });
    const int sb = self_bin<K>(bn);
    if (sb >= 0 && (b_species < 0 || int(species(ion)) == b_species)) add_to<Exec>(o(sb), std::int64_t(-1));
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
  detail::check_float32_only(spec, "whole-cloud SDMs");
  Kokkos::deep_copy(exec, out, std::int64_t(0));
  const SdmBinning bn = make_binning(spec);
  detail::dispatch_kind<detail::WholeCloudSdm, Exec, Mem>(
      exec, "aptflow::sdm::whole_cloud", spec.kind, cells.centres.grid.num_cells(), bn,
      detail::CellsView<Mem>(cells.centres), detail::CellsView<Mem>(cells.neighbours), spec.r_cut,
      cells.species_a == cells.species_b, out);
  exec.fence();
}

// Convenience: grid from the cloud's bounds and r_cut, cells, whole-cloud SDM.
template <class Exec, class Mem>
void compute_sdm(const Exec& exec, const IonCloud<Mem>& cloud, const SdmSpec& spec, int species_a,
                 int species_b, const Kokkos::View<std::int64_t*, Mem>& out) {
  const CellGrid grid = make_cell_grid(cloud_bounds(exec, cloud), spec.r_cut);  // default reach 2
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
  detail::check_float32_only(spec, "SDMs of centre lists");
  Kokkos::deep_copy(exec, out, std::int64_t(0));
  const SdmBinning bn = make_binning(spec);
  detail::dispatch_kind<detail::CentreListSdm, Exec, Mem>(
      exec, "aptflow::sdm::centre_list", spec.kind, static_cast<std::int64_t>(centres.extent(0)), bn,
      detail::CellsView<Mem>(neighbours), spec.r_cut, neighbours.species, centres,
      Kokkos::View<const float*, Mem>(cloud.x), Kokkos::View<const float*, Mem>(cloud.y),
      Kokkos::View<const float*, Mem>(cloud.z), Kokkos::View<const Species*, Mem>(cloud.species), out);
  exec.fence();
}

}  // namespace aptflow
