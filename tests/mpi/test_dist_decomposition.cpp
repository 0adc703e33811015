// z-slab decomposition (np 1, 2, 4): every ion owned exactly once and unchanged,
// slabs ordered and balanced, equal z on one rank, deterministic, empty ranks,
// the round path of the 64-bit all-to-all, per-ion results back in input order.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "aptflow/dist/decomposition.hpp"
#include "aptflow/dist/exchange.hpp"
#include "aptflow/dist/gather.hpp"
#include "aptflow/dist/window_ownership.hpp"
#include "test_util.hpp"

using namespace aptflow;
using namespace aptflow::dist;

namespace {

// The whole input (every rank builds the same one from the seed).
struct Input {
  std::vector<float> x, y, z, mq;
  std::vector<Species> s;
  IonIndex size() const { return static_cast<IonIndex>(z.size()); }
};

// kind 0: uniform; 1: only 5 distinct z values; 2: all z equal; 3: uniform
// with every ion duplicated (ties between input neighbours).
Input make_input(unsigned seed, IonIndex n, int kind) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-20.f, 20.f), m(1.f, 90.f);
  Input in;
  for (IonIndex i = 0; i < n; ++i) {
    float z = u(rng);
    if (kind == 1) z = 0.75f * static_cast<float>(rng() % 5) - 1.0f;
    if (kind == 2) z = 3.25f;
    if (kind == 3 && i % 2 == 1) z = in.z.back();
    in.x.push_back(u(rng));
    in.y.push_back(u(rng));
    in.z.push_back(z);
    in.mq.push_back(m(rng));
    in.s.push_back(static_cast<Species>(rng() % 4));
  }
  return in;
}

// Rank r's input range: as read_dataset_mpi, or mirrored (rank r reads the
// block of rank p - 1 - r) to show that only disjointness matters.
void input_range(IonIndex n, bool mirrored, IonIndex& first, IonIndex& count) {
  const int p = aptflow::test::world_size();
  const int b = mirrored ? p - 1 - aptflow::test::world_rank() : aptflow::test::world_rank();
  first = n * b / p;
  count = n * (b + 1) / p - first;
}

HostIonCloud slice(const Input& in, IonIndex first, IonIndex count) {
  HostIonCloud c(count, "test::input");
  for (IonIndex k = 0; k < count; ++k) {
    c.x(k) = in.x[first + k];
    c.y(k) = in.y[first + k];
    c.z(k) = in.z[first + k];
    c.mq(k) = in.mq[first + k];
    c.species(k) = in.s[first + k];
  }
  return c;
}

template <class T>
std::vector<T> allgather(const std::vector<T>& mine, MPI_Datatype type) {
  const int p = aptflow::test::world_size();
  int n = static_cast<int>(mine.size());
  std::vector<int> counts(p), displs(p);
  MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < p; ++r) displs[r] = total, total += counts[r];
  std::vector<T> out(static_cast<std::size_t>(total));
  MPI_Allgatherv(mine.data(), n, type, out.data(), counts.data(), displs.data(), type, MPI_COMM_WORLD);
  return out;
}

// aptflow::test::Checks the ownership partition against the input; returns the owner rank
// of every global index.
std::vector<int> check_partition(const ZSlabDecomposition& d, const Input& in) {
  const int p = aptflow::test::world_size(), me = aptflow::test::world_rank();
  EXPECT_EQ(d.size(), p);
  EXPECT_EQ(d.global_count(), in.size());
  // Bounds: -inf, non-decreasing, +inf, identical on all ranks.
  const std::vector<float>& b = d.bounds();
  EXPECT_EQ(static_cast<int>(b.size()), p + 1);
  EXPECT_EQ(b.front(), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(b.back(), std::numeric_limits<float>::infinity());
  for (int r = 0; r < p; ++r) EXPECT_LE(b[r], b[r + 1]);
  std::vector<float> b0 = b;
  MPI_Bcast(b0.data(), p + 1, MPI_FLOAT, 0, MPI_COMM_WORLD);
  EXPECT_EQ(std::memcmp(b0.data(), b.data(), sizeof(float) * b.size()), 0);
  // Owned ions: in the slab, sorted by (z, index), values of the input.
  const HostIonCloud& o = d.owned();
  std::vector<IonIndex> mine;
  for (IonIndex i = 0; i < d.owned_count(); ++i) {
    const IonIndex g = d.owned_index()(i);
    EXPECT_GE(o.z(i), d.z_lo());
    EXPECT_LT(o.z(i), d.z_hi());
    EXPECT_EQ(d.owner_of_z(o.z(i)), me);
    if (i > 0) EXPECT_TRUE(o.z(i - 1) < o.z(i) || (o.z(i - 1) == o.z(i) && d.owned_index()(i - 1) < g));
    EXPECT_TRUE(g >= 0 && g < in.size());
    if (g < 0 || g >= in.size()) continue;
    EXPECT_EQ(o.x(i), in.x[g]);
    EXPECT_EQ(o.y(i), in.y[g]);
    EXPECT_EQ(o.z(i), in.z[g]);
    EXPECT_EQ(o.mq(i), in.mq[g]);
    EXPECT_EQ(o.species(i), in.s[g]);
    mine.push_back(g);
  }
  const std::vector<IonIndex> all = allgather(mine, MPI_INT64_T);
  const std::vector<IonIndex> counts = allgather(std::vector<IonIndex>{d.owned_count()}, MPI_INT64_T);
  EXPECT_EQ(counts, d.owned_counts());
  std::vector<int> owner(static_cast<std::size_t>(in.size()), -1);
  std::size_t at = 0;
  for (int r = 0; r < p; ++r)
    for (IonIndex k = 0; k < counts[r]; ++k, ++at) {
      const IonIndex g = all[at];
      if (g < 0 || g >= in.size()) continue;
      EXPECT_EQ(owner[g], -1) << "ion " << g << " owned twice";
      owner[g] = r;
    }
  EXPECT_EQ(static_cast<IonIndex>(all.size()), in.size());
  for (IonIndex g = 0; g < in.size(); ++g) {
    EXPECT_GE(owner[g], 0) << "ion " << g << " owned by no rank";
    if (owner[g] >= 0) EXPECT_EQ(owner[g], d.owner_of_z(in.z[g]));
  }
  return owner;
}

ZSlabDecomposition decompose(const Input& in, bool mirrored, const DecomposeOptions& opt = {}) {
  IonIndex first, count;
  input_range(in.size(), mirrored, first, count);
  return decompose_z(MPI_COMM_WORLD, slice(in, first, count), first, opt);
}

}  // namespace

TEST(DistDecompose, EveryIonOwnedOnceInItsSlab) {
  for (const bool mirrored : {false, true}) {
    const Input in = make_input(11, 5003, 0);
    const ZSlabDecomposition d = decompose(in, mirrored);
    check_partition(d, in);
    IonIndex first, count;
    input_range(in.size(), mirrored, first, count);
    EXPECT_EQ(d.input_first(), first);
    EXPECT_EQ(d.input_count(), count);
    for (IonIndex g = 0; g < in.size(); g += 97) {
      const int r = d.input_rank_of(g);
      EXPECT_TRUE(g >= d.input_first(r) && g < d.input_first(r) + d.input_count(r));
    }
    // Its own communicator, not MPI_COMM_WORLD.
    int cmp = 0;
    MPI_Comm_compare(d.comm(), MPI_COMM_WORLD, &cmp);
    EXPECT_EQ(cmp, MPI_CONGRUENT);
  }
}

TEST(DistDecompose, BalancedSlabs) {
  const int p = aptflow::test::world_size();
  const IonIndex n = 40000;
  const Input in = make_input(12, n, 0);
  const ZSlabDecomposition d = decompose(in, false);
  check_partition(d, in);
  // With s samples per rank each slab boundary is off by at most about
  // N / (2 s) ions, a slab by twice that (+ p for the block rounding).
  const double ideal = double(n) / p;
  auto tolerance = [&](const DecomposeOptions& o) {
    const double s = std::min<double>(n / p, std::max<double>(o.oversample * p, o.min_samples));
    return double(n) / s + p;
  };
  for (int r = 0; r < p; ++r)
    EXPECT_LE(std::abs(double(d.owned_counts()[r]) - ideal), tolerance({})) << "rank " << r;
  // Few samples (8 per rank and rank): looser, still within the bound.
  DecomposeOptions coarse;
  coarse.oversample = 8;
  coarse.min_samples = 1;
  const ZSlabDecomposition e = decompose(in, false, coarse);
  check_partition(e, in);
  for (int r = 0; r < p; ++r)
    EXPECT_LE(std::abs(double(e.owned_counts()[r]) - ideal), tolerance(coarse)) << "rank " << r;
}

TEST(DistDecompose, EqualZOnOneRankAndDeterministic) {
  const int p = aptflow::test::world_size();
  for (const int kind : {1, 2, 3}) {
    const Input in = make_input(13 + kind, 3001, kind);
    const ZSlabDecomposition d = decompose(in, kind == 3);
    const std::vector<int> owner = check_partition(d, in);
    std::map<float, int> rank_of_z;
    for (IonIndex g = 0; g < in.size(); ++g) {
      const auto [it, fresh] = rank_of_z.emplace(in.z[g], owner[g]);
      EXPECT_EQ(it->second, owner[g]) << "ions with z = " << in.z[g] << " on two ranks";
    }
    if (kind == 2) {  // one z value: one rank holds all
      int holders = 0;
      for (int r = 0; r < p; ++r) holders += d.owned_counts()[r] > 0;
      EXPECT_EQ(holders, 1);
    }
    // Same input, same rank count: same bytes.
    const ZSlabDecomposition e = decompose(in, kind == 3);
    EXPECT_EQ(d.bounds(), e.bounds());
    EXPECT_EQ(d.owned_count(), e.owned_count());
    aptflow::test::Checks same;
    for (IonIndex i = 0; i < std::min(d.owned_count(), e.owned_count()); ++i)
      same(d.owned_index()(i) == e.owned_index()(i), i);
    EXPECT_EQ(same.failed, 0) << "first at owned ion " << same.first;
  }
}

TEST(DistDecompose, EmptyRanksAndEmptyInput) {
  const int p = aptflow::test::world_size();
  for (const IonIndex n : {IonIndex(0), IonIndex(1), IonIndex(3)}) {
    const Input in = make_input(21, n, 0);
    // Rank 0 read everything, the others nothing (first index n: empty range).
    const bool reader = aptflow::test::world_rank() == 0;
    const ZSlabDecomposition d =
        decompose_z(MPI_COMM_WORLD, reader ? slice(in, 0, n) : slice(in, 0, 0), reader ? 0 : n);
    check_partition(d, in);
    int holders = 0;
    for (int r = 0; r < p; ++r) holders += d.owned_counts()[r] > 0;
    EXPECT_LE(holders, std::min<IonIndex>(n, p));
    // Windows: the grid of the global bounds, tiled by the ranks' slabs.
    const WindowGrid g = global_window_grid(d, 1.0, 0.5);
    if (n == 0) EXPECT_EQ(g.size(), 0);
    std::int64_t next = 0;
    for (int r = 0; r < p; ++r) {
      const WindowSlab s = owned_windows(d, g, r);
      EXPECT_EQ(s.first, next);
      next += s.count;
    }
    EXPECT_EQ(next, g.size());
    // Results go back to rank 0.
    Kokkos::View<std::int64_t*, Kokkos::HostSpace> v("v", d.owned_count());
    for (IonIndex i = 0; i < d.owned_count(); ++i) v(i) = 1000 + d.owned_index()(i);
    const auto back = to_input_order<std::int64_t>(d, v);
    EXPECT_EQ(static_cast<IonIndex>(back.extent(0)), reader ? n : 0);
    for (IonIndex k = 0; k < static_cast<IonIndex>(back.extent(0)); ++k) EXPECT_EQ(back(k), 1000 + k);
    // In rounds of 7 owned ions per rank (ranks with different round counts).
    const auto back7 = to_input_order<std::int64_t>(d, v, 7);
    ASSERT_EQ(back7.extent(0), back.extent(0));
    for (IonIndex k = 0; k < static_cast<IonIndex>(back.extent(0)); ++k) EXPECT_EQ(back7(k), 1000 + k);
  }
}

TEST(DistDecompose, ErrorsOnEveryRank) {
  const Input in = make_input(22, 100, 0);
  // Overlapping input ranges: every rank claims [0, 10) (a negative start at np 1).
  EXPECT_THROW(decompose_z(MPI_COMM_WORLD, slice(in, 0, 10), aptflow::test::world_size() > 1 ? 0 : -5),
               InternalError);
  // A non-finite z on the last rank only: all ranks throw.
  HostIonCloud c = slice(in, aptflow::test::world_rank() * 10, 10);
  if (aptflow::test::world_rank() == aptflow::test::world_size() - 1)
    c.z(3) = std::numeric_limits<float>::infinity();
  EXPECT_THROW(decompose_z(MPI_COMM_WORLD, c, aptflow::test::world_rank() * 10), InternalError);
}

TEST(DistExchange, RoundsEqualOneShotAndCarry64BitCounts) {
  const int p = aptflow::test::world_size(), me = aptflow::test::world_rank();
  // Record (src, dst, k); pair counts vary, some zero.
  struct Rec {
    std::int32_t src, dst;
    std::int64_t k;
  };
  std::vector<std::int64_t> counts(p);
  std::vector<Rec> send;
  for (int d = 0; d < p; ++d) {
    counts[d] = (me * 7 + d * 13) % 11 == 3 ? 0 : (me * 5 + d * 3) % 23 + 1;
    for (std::int64_t k = 0; k < counts[d]; ++k) send.push_back({me, d, k});
  }
  for (const std::int64_t cap : {std::int64_t(0), std::int64_t(1), std::int64_t(3), std::int64_t(1000)}) {
    std::vector<std::int64_t> rc;
    const std::vector<Rec> got = alltoallv(MPI_COMM_WORLD, send, counts, &rc, cap);
    std::size_t at = 0;
    aptflow::test::Checks ok;
    for (int s = 0; s < p; ++s) {
      const std::int64_t want = (s * 7 + me * 13) % 11 == 3 ? 0 : (s * 5 + me * 3) % 23 + 1;
      EXPECT_EQ(rc[s], want) << "from rank " << s << ", cap " << cap;
      for (std::int64_t k = 0; k < want && at < got.size(); ++k, ++at)
        ok(got[at].src == s && got[at].dst == me && got[at].k == k, static_cast<std::int64_t>(at));
    }
    EXPECT_EQ(at, got.size());
    EXPECT_EQ(ok.failed, 0) << "first at record " << ok.first << ", cap " << cap;
  }
  // The decomposition through small messages equals the one-shot one.
  const Input in = make_input(23, 2000, 1);
  DecomposeOptions small;
  small.max_records_per_message = 7;
  const ZSlabDecomposition a = decompose(in, false), b = decompose(in, false, small);
  check_partition(b, in);
  EXPECT_EQ(a.bounds(), b.bounds());
  EXPECT_EQ(a.owned_count(), b.owned_count());
  aptflow::test::Checks same;
  for (IonIndex i = 0; i < std::min(a.owned_count(), b.owned_count()); ++i)
    same(a.owned_index()(i) == b.owned_index()(i), i);
  EXPECT_EQ(same.failed, 0) << "first at owned ion " << same.first;
}

namespace {
// Per-ion results that depend on the ion's data and global index only.
std::int64_t f64(IonIndex g, float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return g * 1000003 + bits;
}
std::int32_t f32(IonIndex g, Species s) {
  return static_cast<std::int32_t>((g * 2654435761u) % 100000) * 8 + s;
}
}  // namespace

TEST(DistGather, PerIonResultsReturnInInputOrder) {
  for (const bool mirrored : {false, true}) {
    for (const std::int64_t cap : {std::int64_t(0), std::int64_t(5)}) {
      const Input in = make_input(31, 4099, 3);
      DecomposeOptions opt;
      opt.max_records_per_message = cap;
      const ZSlabDecomposition d = decompose(in, mirrored, opt);
      const IonIndex n = d.owned_count();
      Kokkos::View<std::int64_t*, Kokkos::HostSpace> a("a", n);
      Kokkos::View<std::int32_t*, Kokkos::HostSpace> b("b", n);
      Kokkos::View<float*, Kokkos::HostSpace> c("c", n);
      Kokkos::View<double*, Kokkos::HostSpace> e("e", n);
      for (IonIndex i = 0; i < n; ++i) {
        const IonIndex g = d.owned_index()(i);
        a(i) = f64(g, d.owned().x(i));
        b(i) = f32(g, d.owned().species(i));
        c(i) = d.owned().mq(i) * 0.5f;
        e(i) = double(d.owned().z(i)) + 1e-9 * double(g);
      }
      const auto ra = to_input_order<std::int64_t>(d, a);
      const auto rb = to_input_order<std::int32_t>(d, b);
      const auto rc = to_input_order<float>(d, c);
      const auto re = to_input_order<double>(d, e);
      IonIndex first, count;
      input_range(in.size(), mirrored, first, count);
      const bool sized =
          static_cast<IonIndex>(ra.extent(0)) == count && static_cast<IonIndex>(rb.extent(0)) == count &&
          static_cast<IonIndex>(rc.extent(0)) == count && static_cast<IonIndex>(re.extent(0)) == count;
      EXPECT_TRUE(sized);
      aptflow::test::Checks ok;
      for (IonIndex k = 0; k < count && sized; ++k) {
        const IonIndex g = first + k;
        ok(ra(k) == f64(g, in.x[g]) && rb(k) == f32(g, in.s[g]) && rc(k) == in.mq[g] * 0.5f &&
               re(k) == double(in.z[g]) + 1e-9 * double(g),
           g);
      }
      EXPECT_EQ(ok.failed, 0) << "first at global index " << ok.first;
      Kokkos::View<std::int32_t*, Kokkos::HostSpace> wrong("wrong", n + 1);
      EXPECT_THROW(to_input_order<std::int32_t>(d, wrong), InternalError);
    }
  }
}
