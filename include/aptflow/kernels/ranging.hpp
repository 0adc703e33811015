#pragma once
// Ranging: assign every ion its species from its mass-to-charge (Da).
//
// Convention: a range is the half-open interval [lo, hi): lo inclusive, hi
// exclusive (RangeTable's convention), so an m/q exactly on a boundary shared
// by two touching ranges goes to the upper one. The float m/q is compared with
// the double bounds exactly (float -> double is exact). m/q values outside
// every range, negative values and NaN get species 0 (unranged).
//
// Lookup is a (branch-free) binary search over the sorted, non-overlapping
// intervals: the last range with lo <= m/q, which holds m/q iff m/q < hi.
#include <Kokkos_Core.hpp>
#include <Kokkos_ScatterView.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/range_table.hpp"
#include "aptflow/io/range_file.hpp"  // validate_range_table

namespace aptflow {

// A RangeTable in a memory space: Views of lo, hi (Da) and species id
// (ion type index + 1), sorted by lo. Trivially copyable into kernels.
template <class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
struct DeviceRangeTable {
  using memory_space = MemorySpace;
  Kokkos::View<const double*, MemorySpace> lo, hi;
  Kokkos::View<const Species*, MemorySpace> species;
  int num_types = 0;  // species ids run 1..num_types

  // Acceleration: uniform buckets over [lo(0), hi(n-1)). A bucket that no
  // range edge touches (with a safety margin far above rounding) stores its
  // species directly (kPure | species); the others store the index of a range
  // at or before every m/q of the bucket, from which a short forward scan
  // finds the answer. Results are exactly those of the binary search.
  static constexpr std::uint32_t kPure = 0x80000000u;
  Kokkos::View<const std::uint32_t*, MemorySpace> bucket;
  double base = 0, top = 0, inv_width = 0;

  KOKKOS_INLINE_FUNCTION std::int64_t size() const { return static_cast<std::int64_t>(lo.extent(0)); }

  // Species of one m/q value (0 when unranged). Usable inside kernels.
  KOKKOS_INLINE_FUNCTION Species lookup(float mq) const {
    const double m = static_cast<double>(mq);
    if (m != m) return 0;                   // NaN (a quiet comparison: raises no FE_INVALID)
    if (!(m >= base && m < top)) return 0;  // below the first or above the last range
    const auto nb = static_cast<std::int64_t>(bucket.extent(0));
    std::int64_t b = static_cast<std::int64_t>((m - base) * inv_width);
    b = b < 0 ? 0 : (b >= nb ? nb - 1 : b);
    const std::uint32_t e = bucket(b);
    if (e & kPure) return static_cast<Species>(e & 0xffffu);
    std::int64_t i = e;
    const std::int64_t n = size();
    while (i + 1 < n && lo(i + 1) <= m) ++i;
    if (!(lo(i) <= m)) return 0;
    return m < hi(i) ? species(i) : Species(0);
  }

  // The plain binary search (reference for the buckets; also used to build them).
  KOKKOS_INLINE_FUNCTION Species lookup_search(double m) const {
    if (m != m) return 0;  // NaN (a quiet comparison: raises no FE_INVALID)
    std::int64_t n = size();
    if (n == 0) return 0;
    std::int64_t base_i = 0;
    while (n > 1) {
      const std::int64_t half = n / 2;
      base_i = lo(base_i + half) <= m ? base_i + half : base_i;
      n -= half;
    }
    if (!(lo(base_i) <= m)) return 0;  // below the first range
    return m < hi(base_i) ? species(base_i) : Species(0);
  }
};

// Copy a RangeTable into `MemorySpace`. Validates the table first (sorted,
// non-overlapping, lo < hi, at most 65534 ion types): InputError otherwise.
template <class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
DeviceRangeTable<MemorySpace> make_device_range_table(const RangeTable& table) {
  validate_range_table(table);
  const std::size_t n = table.ranges.size();
  Kokkos::View<double*, MemorySpace> lo(
      Kokkos::view_alloc("aptflow::ranging::lo", Kokkos::WithoutInitializing), n);
  Kokkos::View<double*, MemorySpace> hi(
      Kokkos::view_alloc("aptflow::ranging::hi", Kokkos::WithoutInitializing), n);
  Kokkos::View<Species*, MemorySpace> sp(
      Kokkos::view_alloc("aptflow::ranging::species", Kokkos::WithoutInitializing), n);
  auto lo_h = Kokkos::create_mirror_view(lo);
  auto hi_h = Kokkos::create_mirror_view(hi);
  auto sp_h = Kokkos::create_mirror_view(sp);
  for (std::size_t i = 0; i < n; ++i) {
    lo_h(i) = table.ranges[i].lo;
    hi_h(i) = table.ranges[i].hi;
    sp_h(i) = static_cast<Species>(table.ranges[i].ion_type + 1);
  }
  Kokkos::deep_copy(lo, lo_h);
  Kokkos::deep_copy(hi, hi_h);
  Kokkos::deep_copy(sp, sp_h);
  DeviceRangeTable<MemorySpace> d;
  d.lo = lo;
  d.hi = hi;
  d.species = sp;
  d.num_types = static_cast<int>(table.ion_types.size());

  // Buckets, built on the host from the host copies.
  std::size_t nb = 1;
  if (n > 0) {
    d.base = lo_h(0);
    d.top = hi_h(n - 1);
    // Enough buckets that almost none holds an edge (2n edges in nb buckets),
    // at most 256 KiB of table.
    nb = std::min<std::size_t>(std::size_t{1} << 16, std::max<std::size_t>(4096, 256 * n));
    d.inv_width = static_cast<double>(nb) / (d.top - d.base);
  }
  Kokkos::View<std::uint32_t*, MemorySpace> buckets(
      Kokkos::view_alloc("aptflow::ranging::buckets", Kokkos::WithoutInitializing), nb);
  auto b_h = Kokkos::create_mirror_view(buckets);
  if (n > 0) {
    DeviceRangeTable<Kokkos::HostSpace> hs;
    hs.lo = lo_h;
    hs.hi = hi_h;
    hs.species = sp_h;
    const double width = (d.top - d.base) / static_cast<double>(nb);
    const double margin = width * 1e-3;
    std::size_t edge = 0;  // edges (lo and hi of every range) sorted: lo_0 < hi_0 <= lo_1 < ...
    std::vector<double> edges;
    for (std::size_t i = 0; i < n; ++i) {
      edges.push_back(lo_h(i));
      edges.push_back(hi_h(i));
    }
    std::size_t first = 0;  // last range with lo <= bucket start - margin (or 0)
    for (std::size_t b = 0; b < nb; ++b) {
      const double b_lo = d.base + static_cast<double>(b) * width - margin;
      const double b_hi = d.base + static_cast<double>(b + 1) * width + margin;
      while (edge < edges.size() && edges[edge] < b_lo) ++edge;
      const bool pure = edge >= edges.size() || edges[edge] > b_hi;
      while (first + 1 < n && lo_h(first + 1) <= b_lo) ++first;
      if (pure) {
        b_h(b) = DeviceRangeTable<MemorySpace>::kPure | hs.lookup_search(0.5 * (b_lo + b_hi));
      } else {
        b_h(b) = static_cast<std::uint32_t>(first);
      }
    }
  } else {
    b_h(0) = DeviceRangeTable<MemorySpace>::kPure;
  }
  Kokkos::deep_copy(buckets, b_h);
  d.bucket = buckets;
  return d;
}

// Fill cloud.species from cloud.mq. Asynchronous in `exec` (fence exec before
// reading species on the host).
template <class ExecSpace, class CloudMem, class TableMem>
void apply_ranges(const ExecSpace& exec, const IonCloud<CloudMem>& cloud,
                  const DeviceRangeTable<TableMem>& table) {
  static_assert(Kokkos::SpaceAccessibility<ExecSpace, CloudMem>::accessible,
                "apply_ranges: the ion cloud's memory space is not accessible from this execution space");
  static_assert(Kokkos::SpaceAccessibility<ExecSpace, TableMem>::accessible,
                "apply_ranges: the range table's memory space is not accessible from this execution space");
  APTFLOW_ASSERT(cloud.species.extent(0) == cloud.mq.extent(0), "ion cloud species and mq differ in length");
  const auto mq = cloud.mq;
  const auto species = cloud.species;
  const auto t = table;
  Kokkos::parallel_for(
      "aptflow::ranging::apply_ranges", Kokkos::RangePolicy<ExecSpace>(exec, 0, cloud.size()),
      KOKKOS_LAMBDA(const std::int64_t i) { species(i) = t.lookup(mq(i)); });
}

// Ions per species id: result[s] for s = 0 (unranged) .. num_types.
// Throws InternalError when a species id exceeds num_types (the cloud was
// ranged with another table). Fences `exec`.
template <class ExecSpace, class CloudMem>
std::vector<std::int64_t> count_species(const ExecSpace& exec, const IonCloud<CloudMem>& cloud,
                                        int num_types) {
  static_assert(Kokkos::SpaceAccessibility<ExecSpace, CloudMem>::accessible,
                "count_species: the ion cloud's memory space is not accessible from this execution space");
  APTFLOW_ASSERT(num_types >= 0 && num_types <= 65534, "count_species: num_types out of range");
  // Bins 0..num_types, plus one for ids out of range.
  const int nbins = num_types + 2;
#ifdef KOKKOS_ENABLE_SERIAL
  if constexpr (std::is_same_v<ExecSpace, Kokkos::Serial>) {
    // One host thread: a plain histogram beats a ScatterView here (hot in inspect).
    std::vector<std::int64_t> h(static_cast<std::size_t>(nbins), 0);
    const Species* sp = cloud.species.data();
    const std::int64_t n = cloud.size();
    for (std::int64_t i = 0; i < n; ++i) ++h[sp[i] <= num_types ? sp[i] : num_types + 1];
    if (h[static_cast<std::size_t>(num_types + 1)] != 0)
      throw InternalError(
          "count_species: " + std::to_string(h[static_cast<std::size_t>(num_types + 1)]) +
          " ions have a species id above " + std::to_string(num_types) +
          ": the cloud was ranged with a different range table (this is a bug in the caller)");
    h.pop_back();
    return h;
  }
#endif
  Kokkos::View<std::int64_t*, typename ExecSpace::memory_space> counts("aptflow::ranging::counts", nbins);
  auto scatter = Kokkos::Experimental::create_scatter_view(counts);
  const auto species = cloud.species;
  const int overflow = num_types + 1;
  Kokkos::parallel_for(
      "aptflow::ranging::count_species", Kokkos::RangePolicy<ExecSpace>(exec, 0, cloud.size()),
      KOKKOS_LAMBDA(const std::int64_t i) {
        auto access = scatter.access();
        const int s = species(i);
        access(s <= num_types ? s : overflow) += 1;
      });
  Kokkos::Experimental::contribute(counts, scatter);
  exec.fence();
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), counts);
  if (h(overflow) != 0)
    throw InternalError("count_species: " + std::to_string(h(overflow)) + " ions have a species id above " +
                        std::to_string(num_types) +
                        ": the cloud was ranged with a different range table (this is a bug in the caller)");
  return std::vector<std::int64_t>(h.data(), h.data() + num_types + 1);
}

// Atomic fractions per element from ion counts per species (as returned by
// count_species): a molecular ion contributes each of its atoms (one NiO ion
// counts as one Ni and one O atom). Unranged ions (species 0) and custom ions
// without a composition (RRNG Name: only) are left out. Empty map when no
// atom is counted. Throws InputError when counts.size() != num_types + 1.
std::map<std::string, double> element_composition(const RangeTable& table,
                                                  const std::vector<std::int64_t>& counts);

}  // namespace aptflow
