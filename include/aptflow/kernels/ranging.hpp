#pragma once
// Ranging: assign every ion its species from its mass-to-charge (Da).
//
// Convention: a range is the half-open interval [lo, hi): lo inclusive, hi
// exclusive (RangeTable's convention), so an m/q exactly on a boundary shared
// by two touching ranges goes to the upper one. The float m/q is compared with
// the double bounds exactly (float -> double is exact). m/q values outside
// every range, negative values and NaN get species 0 (unranged).
//
// Lookup, fastest first: (1) a table indexed by the top 17 bits of the float
// m/q (sign, exponent, 8 mantissa bits: 1/256 of the value per entry) gives
// the species directly when no range edge falls inside the entry; (2) else
// uniform buckets over the ranged span with a short scan; (3) the branch-free
// binary search over the sorted, non-overlapping intervals (the last range
// with lo <= m/q, which holds m/q iff m/q < hi) is the reference all three
// agree with exactly.
#include <Kokkos_Core.hpp>
#include <Kokkos_ScatterView.hpp>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/range_table.hpp"  // RangeTable, validate_range_table

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

  // Float-prefix table: entry (bits of m/q) >> kPrefixShift holds the species
  // of every float with that prefix, or kMixed when a range edge lies inside.
  static constexpr int kPrefixShift = 15;
  static constexpr Species kMixed = 0xffff;  // never a species id (at most 65534 ion types)
  Kokkos::View<const Species*, MemorySpace> prefix;

  KOKKOS_INLINE_FUNCTION std::int64_t size() const { return static_cast<std::int64_t>(lo.extent(0)); }

  // Species of one m/q value (0 when unranged). Usable inside kernels.
  KOKKOS_INLINE_FUNCTION Species lookup(float mq) const {
    std::uint32_t bits;
    memcpy(&bits, &mq, sizeof bits);
    const Species s = prefix(bits >> kPrefixShift);
    return s != kMixed ? s : lookup_buckets(mq);
  }

  // The uniform buckets (reference: lookup_search).
  KOKKOS_INLINE_FUNCTION Species lookup_buckets(float mq) const {
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

  // Float-prefix table. Entry k holds the floats with bit patterns
  // [k << shift, (k + 1) << shift); for non-negative floats those are the
  // values [first, last] in increasing order. The entry is pure when no range
  // edge e (lo or hi) satisfies first < e <= last: every float of the entry
  // then lies on the same side of every edge. Negative floats are below every
  // range (lo >= 0), except -0.0, which equals 0.0: its entry is mixed.
  using Table = DeviceRangeTable<MemorySpace>;
  constexpr std::size_t kEntries = std::size_t{1} << (32 - Table::kPrefixShift);
  Kokkos::View<Species*, MemorySpace> prefix(
      Kokkos::view_alloc("aptflow::ranging::prefix", Kokkos::WithoutInitializing), kEntries);
  auto p_h = Kokkos::create_mirror_view(prefix);
  {
    std::vector<double> edges;
    for (std::size_t i = 0; i < n; ++i) {
      edges.push_back(lo_h(i));
      edges.push_back(hi_h(i));
    }
    std::sort(edges.begin(), edges.end());
    DeviceRangeTable<Kokkos::HostSpace> hs;
    hs.lo = lo_h;
    hs.hi = hi_h;
    hs.species = sp_h;
    auto as_float = [](std::uint32_t b) {
      float f;
      std::memcpy(&f, &b, sizeof f);
      return f;
    };
    const std::size_t half = kEntries / 2;
    for (std::size_t k = 0; k < kEntries; ++k) {
      const auto b0 = static_cast<std::uint32_t>(k << Table::kPrefixShift);
      const auto b1 = static_cast<std::uint32_t>(((k + 1) << Table::kPrefixShift) - 1);
      if (k >= half) {  // negative floats (and -0.0 in the first negative entry)
        p_h(k) = k == half ? Table::kMixed : Species(0);
        continue;
      }
      if ((b1 & 0x7f800000u) == 0x7f800000u) {  // an entry reaching Inf / NaN: the buckets decide
        p_h(k) = Table::kMixed;
        continue;
      }
      const double first = static_cast<double>(as_float(b0)), last = static_cast<double>(as_float(b1));
      const auto e = std::upper_bound(edges.begin(), edges.end(), first);  // first edge > first
      const bool mixed = e != edges.end() && *e <= last;
      p_h(k) = mixed ? Table::kMixed : hs.lookup_search(first);
    }
  }
  Kokkos::deep_copy(prefix, p_h);
  d.prefix = prefix;
  return d;
}

// Fill cloud.species from cloud.mq (the only fields read and written: a
// cloud of just these two is enough). Asynchronous in `exec` (fence exec
// before reading species on the host).
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
      "aptflow::ranging::apply_ranges",
      Kokkos::RangePolicy<ExecSpace>(exec, 0, static_cast<std::int64_t>(cloud.mq.extent(0))),
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

// apply_ranges and count_species in one pass over the ions (on one host
// thread a plain loop; elsewhere the two kernels). The same species and
// counts as the two calls. Fences `exec`.
template <class ExecSpace, class CloudMem, class TableMem>
std::vector<std::int64_t> apply_ranges_and_count(const ExecSpace& exec, const IonCloud<CloudMem>& cloud,
                                                 const DeviceRangeTable<TableMem>& table) {
#ifdef KOKKOS_ENABLE_SERIAL
  if constexpr (std::is_same_v<ExecSpace, Kokkos::Serial>) {
    static_assert(Kokkos::SpaceAccessibility<ExecSpace, TableMem>::accessible,
                  "apply_ranges_and_count: the range table is not accessible from this execution space");
    APTFLOW_ASSERT(cloud.species.extent(0) == cloud.mq.extent(0),
                   "ion cloud species and mq differ in length");
    // Four interleaved histograms: runs of one species (a strong peak) do not
    // serialise on one counter.
    const std::size_t bins = static_cast<std::size_t>(table.num_types) + 1;
    std::vector<std::int64_t> h(4 * bins, 0);
    const float* mq = cloud.mq.data();
    Species* sp = cloud.species.data();
    const std::int64_t n = cloud.size();
    std::int64_t* c0 = h.data();
    std::int64_t* c1 = c0 + bins;
    std::int64_t* c2 = c1 + bins;
    std::int64_t* c3 = c2 + bins;
    std::int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      const Species s0 = table.lookup(mq[i]), s1 = table.lookup(mq[i + 1]);
      const Species s2 = table.lookup(mq[i + 2]), s3 = table.lookup(mq[i + 3]);
      sp[i] = s0, sp[i + 1] = s1, sp[i + 2] = s2, sp[i + 3] = s3;
      ++c0[s0], ++c1[s1], ++c2[s2], ++c3[s3];
    }
    for (; i < n; ++i) ++c0[sp[i] = table.lookup(mq[i])];
    for (std::size_t b = 0; b < bins; ++b) c0[b] += c1[b] + c2[b] + c3[b];
    h.resize(bins);
    return h;
  }
#endif
  apply_ranges(exec, cloud, table);
  return count_species(exec, cloud, table.num_types);
}

// Atomic fractions per element from ion counts per species (as returned by
// count_species): a molecular ion contributes each of its atoms (one NiO ion
// counts as one Ni and one O atom). Unranged ions (species 0) and custom ions
// without a composition (RRNG Name: only) are left out. Empty map when no
// atom is counted. Throws InputError when counts.size() != num_types + 1.
std::map<std::string, double> element_composition(const RangeTable& table,
                                                  const std::vector<std::int64_t>& counts);

}  // namespace aptflow
