#pragma once
// Spatial distribution maps (SDMs) of a whole cloud or of chosen centre ions:
// integer pair counts between centre ions of species A and neighbour ions of
// species B with |p_j - p_i| <= r_cut (definitions: aptflow/core/sdm_spec.hpp,
// docs/sdm.md). Kernels take the execution space first and the Views carry
// their memory space.
//
// Two algorithms, the same integer counts (tests compare both with a brute
// force on every backend):
//  - cells (host spaces): one work item per centre cell, CPU-tuned binning
//    (blocks of candidates filtered branch-free); whole-cloud histograms are
//    privatised per thread (ScatterView: plain adds on Serial, one copy per
//    thread on OpenMP);
//  - team (device spaces; SdmAlgorithm::team forces it anywhere): one team
//    per centre cell (whole cloud) or per centre ion (centre list), threads
//    over centres, vector lanes over neighbour candidates, atomics into one
//    of P privatised global histograms (team rank mod P), summed at the end.
#include <Kokkos_Core.hpp>
#include <Kokkos_ScatterView.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "aptflow/core/error.hpp"
#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/sdm_spec.hpp"
#include "aptflow/kernels/cell_list.hpp"
#include "aptflow/kernels/detail/z_histogram.hpp"

namespace aptflow {

// Which algorithm a kernel runs: automatic = cells on host execution spaces,
// team on devices; team forces the device algorithm on any backend (tests).
enum class SdmAlgorithm { automatic, cells, team };

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

// Host-only z-SDM of one point (self pair included) into h[0, crop_count):
// the rows' candidates through the vectorised binning of
// detail/z_histogram.hpp. Same result as for_each_pair_bin<z>.
template <class Mem>
inline void z_histogram_host(const SdmBinning& bn, const CellsView<Mem>& nb, const RowRanges& rows,
                             const float px, const float py, const float pz, std::int32_t* h) {
  ZHistogram hh;
  hh.zero(bn.crop_count);
  for (int r = 0; r < rows.n; ++r)
    z_histogram_add(bn, nb.x.data() + rows.b[r], nb.y.data() + rows.b[r], nb.z.data() + rows.b[r],
                    rows.e[r] - rows.b[r], px, py, pz, hh);
  hh.sum_into(h, bn.crop_count);
}

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

// All centre ions of one cell of the centre list per work item, into a
// ScatterView (host). centres_in_b: every centre is also in the neighbour
// list (A == B), so one self pair per centre is removed.
// Only the centres whose cloud index is in [lo, hi) (SdmCentreRange).
template <SdmKind K, class Mem, class Scatter>
struct WholeCloudSdm {
  SdmBinning bn;
  CellsView<Mem> a, b;
  double r_cut;
  bool centres_in_b;
  Scatter hist;
  std::int64_t lo, hi;

  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t c) const {
    const std::int64_t s0 = a.start(c), s1 = a.start(c + 1);
    if (s0 == s1) return;
    auto h = hist.access();
    RowRanges rows;
    std::int64_t centres = 0;
    for (std::int64_t s = s0; s < s1; ++s) {
      if (a.ion(s) < lo || a.ion(s) >= hi) continue;
      ++centres;
      const float px = a.x(s), py = a.y(s), pz = a.z(s);
      neighbour_rows(b.g, b.start, px, py, pz, r_cut, rows);
      for_each_pair_bin<K>(bn, b, rows, px, py, pz, [&](const int bin) { h(bin) += std::int64_t(1); });
    }
    const int sb = self_bin<K>(bn);
    if (centres_in_b && sb >= 0 && centres > 0) h(sb) += -centres;
  }
};

// The pairs of one centre ion (px, py, pz; cloud index self) with the
// neighbour list, over the vector lanes of a team thread: f(bin) per pair
// inside the histogram, the self pair skipped (r2 == 0 and the same ion).
template <SdmKind K, class Member, class Mem, class F>
KOKKOS_INLINE_FUNCTION void team_centre_pairs(const Member& t, const SdmBinning& bn, const CellsView<Mem>& b,
                                              double r_cut, float px, float py, float pz, std::int64_t self,
                                              const F& f) {
  const float rc2 = bn.rc2;
  for_each_neighbour_row(b.g, b.start, px, py, pz, r_cut, [&](const std::int64_t b0, const std::int64_t b1) {
    Kokkos::parallel_for(Kokkos::ThreadVectorRange(t, b0, b1), [&](const std::int64_t k) {
      const float dx = b.x(k) - px, dy = b.y(k) - py, dz = b.z(k) - pz;
      const float r2 = dx * dx + dy * dy + dz * dz;
      if (!(r2 <= rc2) || (r2 == 0.0f && b.ion(k) == self)) return;
      const int bin = bn.template bin<K>(dx, dy, dz);
      if (bin >= 0) f(bin);
    });
  });
}

// Team algorithm. Whole cloud (centres empty): team = one cell of the
// centre list, its threads over the cell's centres. Centre list: team = one
// explicit centre. Pairs go with atomics into copies(team rank % P, bin).
template <SdmKind K, class Exec, class Mem>
struct TeamSdm {
  using Policy = Kokkos::TeamPolicy<Exec>;
  using Member = typename Policy::member_type;
  SdmBinning bn;
  CellsView<Mem> a, b;
  double r_cut;
  Kokkos::View<const std::int64_t*, Mem> centres;  // explicit centres (cloud indices), or empty
  Kokkos::View<const float*, Mem> x, y, z;         // cloud positions (explicit centres only)
  Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem> copies;
  std::int64_t lo, hi;  // whole cloud: only the centres with cloud index in [lo, hi)

  KOKKOS_INLINE_FUNCTION void operator()(const Member& t) const {
    const std::int64_t r = t.league_rank();
    const std::int64_t p = r % static_cast<std::int64_t>(copies.extent(0));
    const auto h = copies;
    const auto add = [&](const int bin) { Kokkos::atomic_add(&h(p, bin), std::int64_t(1)); };
    if (centres.extent(0) > 0) {  // launched with one thread per team: vector lanes only
      Kokkos::parallel_for(Kokkos::TeamThreadRange(t, 0, 1), [&](const int) {
        const std::int64_t ion = centres(r);
        team_centre_pairs<K>(t, bn, b, r_cut, x(ion), y(ion), z(ion), ion, add);
      });
      return;
    }
    Kokkos::parallel_for(Kokkos::TeamThreadRange(t, a.start(r), a.start(r + 1)), [&](const std::int64_t s) {
      if (a.ion(s) < lo || a.ion(s) >= hi) return;
      team_centre_pairs<K>(t, bn, b, r_cut, a.x(s), a.y(s), a.z(s), a.ion(s), add);
    });
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

// f(std::integral_constant<SdmKind, K>) for the runtime kind: one
// instantiation per kind, no branch per pair.
template <class F>
void with_kind(SdmKind kind, F&& f) {
  switch (kind) {
    case SdmKind::z:
      f(std::integral_constant<SdmKind, SdmKind::z>{});
      break;
    case SdmKind::zx:
      f(std::integral_constant<SdmKind, SdmKind::zx>{});
      break;
    case SdmKind::xyz:
      f(std::integral_constant<SdmKind, SdmKind::xyz>{});
      break;
  }
}

template <class Exec>
bool use_team(SdmAlgorithm algorithm) {
  // The cell algorithms are CPU code (stack blocks of candidates): devices
  // always run the team algorithm.
  return !kHostExec<Exec> || algorithm == SdmAlgorithm::team;
}

// Team algorithm, whole cloud (centres empty) or explicit centres; out overwritten.
template <class Exec, class Mem>
void team_sdm(const Exec& exec, const SdmBinning& bn, const CellsView<Mem>& a, const CellsView<Mem>& b,
              double r_cut, const Kokkos::View<const std::int64_t*, Mem>& centres, const IonCloud<Mem>* cloud,
              std::int64_t league, const Kokkos::View<std::int64_t*, Mem>& out, std::int64_t lo = 0,
              std::int64_t hi = std::numeric_limits<std::int64_t>::max()) {
  // P privatised histograms: enough to spread the atomics, small enough to
  // sum (64 x 64000 bins x 8 bytes = 33 MB for the largest 3D SDM).
  const std::int64_t nbins = static_cast<std::int64_t>(out.extent(0));
  const std::int64_t P = kHostExec<Exec> ? std::max(1, Exec().concurrency()) : 64;
  Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem> copies(
      Kokkos::view_alloc(exec, "aptflow::sdm::copies"), P, nbins);
  const bool explicit_centres = centres.extent(0) > 0;
  Kokkos::View<const float*, Mem> x, y, z;
  if (cloud) {
    x = cloud->x;
    y = cloud->y;
    z = cloud->z;
  }
  with_kind(bn.kind, [&](auto k) {
    constexpr SdmKind K = decltype(k)::value;
    using F = TeamSdm<K, Exec, Mem>;
    const int vector = kHostExec<Exec> ? 1 : 32;
    const F f{bn, a, b, r_cut, centres, x, y, z, copies, lo, hi};
    if (explicit_centres)
      Kokkos::parallel_for("aptflow::sdm::team_centres", typename F::Policy(exec, league, 1, vector), f);
    else
      Kokkos::parallel_for("aptflow::sdm::team_cells", typename F::Policy(exec, league, Kokkos::AUTO, vector),
                           f);
  });
  Kokkos::parallel_for(
      "aptflow::sdm::sum_copies", Kokkos::RangePolicy<Exec>(exec, 0, nbins),
      KOKKOS_LAMBDA(const std::int64_t q) {
        std::int64_t v = 0;
        for (std::int64_t p = 0; p < P; ++p) v += copies(p, q);
        out(q) = v;
      });
}

}  // namespace detail

// The centre ions of a whole-cloud SDM by cloud index: [begin, end). The
// default takes them all; a z slab's owned ions (dist/halo.hpp LocalIons:
// [owned_begin, owned_end)) count their pairs with owned + halo neighbours,
// and the slabs' histograms add up to the SDM of the whole cloud.
struct SdmCentreRange {
  std::int64_t begin = 0;
  std::int64_t end = std::numeric_limits<std::int64_t>::max();
};

// Whole-cloud SDM: every ion of species A is a centre (those of `centres`
// only, when given). out (spec.size() bins, flattened as in
// SdmSpec::shape()) is overwritten with integer pair counts.
template <class Exec, class Mem>
void compute_sdm(const Exec& exec, const SdmCells<Mem>& cells, const SdmSpec& spec,
                 const Kokkos::View<std::int64_t*, Mem>& out,
                 SdmAlgorithm algorithm = SdmAlgorithm::automatic, const SdmCentreRange& centres = {}) {
  detail::check_grid_for(cells.grid(), spec);
  detail::check_out(out, spec);
  detail::check_float32_only(spec, "whole-cloud SDMs");
  detail::ScopedRegion region("aptflow::sdm::whole_cloud");
  const SdmBinning bn = make_binning(spec);
  const detail::CellsView<Mem> a(cells.centres), b(cells.neighbours);
  const std::int64_t ncells = cells.centres.grid.num_cells();
  if (detail::use_team<Exec>(algorithm)) {
    detail::team_sdm(exec, bn, a, b, spec.r_cut, Kokkos::View<const std::int64_t*, Mem>(),
                     static_cast<const IonCloud<Mem>*>(nullptr), ncells, out, centres.begin, centres.end);
  } else if constexpr (detail::kHostExec<Exec>) {
    using namespace Kokkos::Experimental;
    using Device = Kokkos::Device<typename Exec::execution_space, Mem>;
    // Serial: the histogram itself; threaded host spaces: one copy per thread.
    using Dup = std::conditional_t<detail::kSerialExec<Exec>, ScatterNonDuplicated, ScatterDuplicated>;
    Kokkos::deep_copy(exec, out, std::int64_t(0));
    ScatterView<std::int64_t*, Kokkos::LayoutRight, Device, ScatterSum, Dup, ScatterNonAtomic> hist(out);
    detail::with_kind(spec.kind, [&](auto k) {
      constexpr SdmKind K = decltype(k)::value;
      Kokkos::parallel_for(
          "aptflow::sdm::whole_cloud", Kokkos::RangePolicy<Exec>(exec, 0, ncells),
          detail::WholeCloudSdm<K, Mem, decltype(hist)>{
              bn, a, b, spec.r_cut, cells.species_a == cells.species_b, hist, centres.begin, centres.end});
    });
    hist.contribute_into(exec, out);  // out += the per-thread copies (Serial: out itself)
  }
  exec.fence();
}

// Convenience: grid from the cloud's bounds and r_cut, cells, whole-cloud SDM.
template <class Exec, class Mem>
void compute_sdm(const Exec& exec, const IonCloud<Mem>& cloud, const SdmSpec& spec, int species_a,
                 int species_b, const Kokkos::View<std::int64_t*, Mem>& out,
                 SdmAlgorithm algorithm = SdmAlgorithm::automatic) {
  const CellGrid grid = make_cell_grid(cloud_bounds(exec, cloud), spec.r_cut);  // default reach 2
  compute_sdm(exec, build_sdm_cells(exec, cloud, grid, species_a, species_b), spec, out, algorithm);
}

// SDM of explicit centre ions (indices into cloud, any species; duplicates
// count twice) against the neighbour list (species B) built from the same cloud.
template <class Exec, class Mem>
void compute_sdm_of_centres(const Exec& exec, const IonCloud<Mem>& cloud, const CellList<Mem>& neighbours,
                            const SdmSpec& spec, const Kokkos::View<const std::int64_t*, Mem>& centres,
                            const Kokkos::View<std::int64_t*, Mem>& out,
                            SdmAlgorithm algorithm = SdmAlgorithm::automatic) {
  detail::check_grid_for(neighbours.grid, spec);
  detail::check_out(out, spec);
  detail::check_float32_only(spec, "SDMs of centre lists");
  detail::ScopedRegion region("aptflow::sdm::centre_list");
  Kokkos::deep_copy(exec, out, std::int64_t(0));
  const std::int64_t n = static_cast<std::int64_t>(centres.extent(0));
  if (n == 0) return;
  const SdmBinning bn = make_binning(spec);
  const detail::CellsView<Mem> b(neighbours);
  if (detail::use_team<Exec>(algorithm)) {
    detail::team_sdm(exec, bn, b, b, spec.r_cut, centres, &cloud, n, out);
  } else if constexpr (detail::kHostExec<Exec>) {
    detail::with_kind(spec.kind, [&](auto k) {
      constexpr SdmKind K = decltype(k)::value;
      Kokkos::parallel_for(
          "aptflow::sdm::centre_list", Kokkos::RangePolicy<Exec>(exec, 0, n),
          detail::CentreListSdm<K, Exec, Mem>{bn, b, spec.r_cut, neighbours.species, centres, cloud.x,
                                              cloud.y, cloud.z, cloud.species, out});
    });
  }
  exec.fence();
}

}  // namespace aptflow
