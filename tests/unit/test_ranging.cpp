// Ranging kernel: apply_ranges against a brute-force linear scan (exact
// equality, including m/q exactly on interval edges), count_species against a
// host loop, element_composition against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <random>

#include "aptflow/core/error.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "test_util.hpp"

namespace {

using RangingExec = Kokkos::DefaultExecutionSpace;
using Mem = RangingExec::memory_space;
using aptflow::RangeTable;

aptflow::IonCloud<Mem> cloud_from(const std::vector<float>& mq) {
  aptflow::IonCloud<Mem> c(static_cast<aptflow::IonIndex>(mq.size()), "test");
  auto h = Kokkos::create_mirror_view(c.mq);
  for (std::size_t i = 0; i < mq.size(); ++i) h(i) = mq[i];
  Kokkos::deep_copy(c.mq, h);
  Kokkos::deep_copy(c.species, aptflow::Species(12345));  // must all be overwritten
  return c;
}

std::vector<int> species_of(const aptflow::IonCloud<Mem>& c) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), c.species);
  return std::vector<int>(h.data(), h.data() + h.extent(0));
}

// The obviously correct reference: first range with lo <= m < hi.
int brute_force(const RangeTable& t, float mq) {
  if (std::isnan(mq)) return 0;
  const double m = mq;
  for (const auto& r : t.ranges)
    if (r.lo <= m && m < r.hi) return r.ion_type + 1;
  return 0;
}

RangeTable random_table(std::mt19937_64& rng, int nranges, int ntypes, bool float_bounds) {
  RangeTable t;
  t.source = "random";
  for (int k = 0; k < ntypes; ++k) t.ion_types.push_back({"T" + std::to_string(k), {}, "", 0});
  double x = std::uniform_real_distribution<double>(0.0, 2.0)(rng);
  for (int i = 0; i < nranges; ++i) {
    double lo = x;
    double hi = lo + std::uniform_real_distribution<double>(0.001, 1.5)(rng);
    if (float_bounds) {  // bounds that are exactly floats, so edges are hit exactly
      lo = static_cast<float>(lo);
      hi = static_cast<float>(hi);
      if (!t.ranges.empty() && lo < t.ranges.back().hi) lo = t.ranges.back().hi;
      if (hi <= lo) hi = std::nextafter(static_cast<float>(lo), 1e9f);
    }
    t.ranges.push_back({lo, hi, static_cast<int>(rng() % ntypes), 0});
    x = rng() % 3 == 0 ? hi : hi + std::uniform_real_distribution<double>(0.0, 2.0)(rng);  // some touch
  }
  return t;
}

}  // namespace

TEST(Ranging, EdgesFollowHalfOpenConvention) {
  RangeTable t;
  t.ion_types = {{"A", {{"Al", 1}}, "", 0}, {"B", {{"Fe", 1}}, "", 0}};
  t.ranges = {{1, 2, 0, 0}, {2, 3, 1, 0}, {5, 6, 0, 0}};
  const auto d = aptflow::make_device_range_table<Mem>(t);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> mq = {
      1.0f, 1.5f, 2.0f, std::nextafter(2.0f, 0.f), 3.0f, 4.999f, 5.0f, 6.0f, 0.5f, -1.0f, nan,
      inf,  -inf, 1e30f};
  const std::vector<int> expect = {1, 1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
  auto c = cloud_from(mq);
  RangingExec exec;
  aptflow::apply_ranges(exec, c, d);
  exec.fence();
  EXPECT_EQ(species_of(c), expect);
  // Empty table: everything unranged.
  RangeTable empty;
  aptflow::apply_ranges(exec, c, aptflow::make_device_range_table<Mem>(empty));
  exec.fence();
  EXPECT_EQ(species_of(c), std::vector<int>(mq.size(), 0));
}

TEST(Ranging, ApplyRangesMatchesLinearScan) {
  std::mt19937_64 rng(4242);
  RangingExec exec;
  for (int trial = 0; trial < 40; ++trial) {
    const int nranges = 1 + static_cast<int>(rng() % (trial < 20 ? 8 : 400));
    const int ntypes = 1 + static_cast<int>(rng() % 30);
    const bool float_bounds = trial % 2 == 0;
    const auto t = random_table(rng, nranges, ntypes, float_bounds);
    std::vector<float> mq;
    const double top = t.ranges.back().hi + 2.0;
    std::uniform_real_distribution<double> u(-1.0, top);
    for (int i = 0; i < 20000; ++i) mq.push_back(static_cast<float>(u(rng)));
    for (const auto& r : t.ranges) {  // exactly on the edges and one float either side
      for (double e : {r.lo, r.hi}) {
        const float f = static_cast<float>(e);
        mq.push_back(f);
        mq.push_back(std::nextafter(f, -1e30f));
        mq.push_back(std::nextafter(f, 1e30f));
      }
    }
    mq.push_back(std::numeric_limits<float>::quiet_NaN());
    std::shuffle(mq.begin(), mq.end(), rng);
    auto c = cloud_from(mq);
    aptflow::apply_ranges(exec, c, aptflow::make_device_range_table<Mem>(t));
    exec.fence();
    const auto got = species_of(c);
    std::int64_t mismatches = 0, ranged = 0;
    for (std::size_t i = 0; i < mq.size(); ++i) {
      const int want = brute_force(t, mq[i]);
      ranged += want != 0;
      if (got[i] != want && ++mismatches < 5)
        ADD_FAILURE() << "m/q " << mq[i] << ": kernel " << got[i] << ", linear scan " << want;
    }
    EXPECT_EQ(mismatches, 0) << "trial " << trial;
    EXPECT_GT(ranged, 0);
    if (float_bounds) {  // every lower edge is ranged, every float just below a lower edge of a gap is not
      for (const auto& r : t.ranges) EXPECT_EQ(brute_force(t, static_cast<float>(r.lo)), r.ion_type + 1);
    }
  }
}

TEST(Ranging, CountSpeciesMatchesHostLoop) {
  std::mt19937_64 rng(99);
  RangingExec exec;
  for (int ntypes : {0, 1, 7, 300}) {
    const std::int64_t n = 50000;
    aptflow::IonCloud<Mem> c(n, "count");
    auto h = Kokkos::create_mirror_view(c.species);
    std::vector<std::int64_t> want(static_cast<std::size_t>(ntypes) + 1, 0);
    for (std::int64_t i = 0; i < n; ++i) {
      // Skewed: species 0 and the last one are common.
      const int s = rng() % 4 == 0 ? ntypes : static_cast<int>(rng() % (ntypes + 1));
      h(i) = static_cast<aptflow::Species>(s);
      ++want[static_cast<std::size_t>(s)];
    }
    Kokkos::deep_copy(c.species, h);
    EXPECT_EQ(aptflow::count_species(exec, c, ntypes), want) << ntypes << " types";
  }
  // A species id above num_types: the cloud was ranged with another table.
  aptflow::IonCloud<Mem> c(10, "bad");
  Kokkos::deep_copy(c.species, aptflow::Species(5));
  EXPECT_THROW(aptflow::count_species(exec, c, 4), aptflow::InternalError);
}

TEST(Ranging, ElementCompositionHandExample) {
  RangeTable t;
  t.ion_types = {{"Ni", {{"Ni", 1}}, "", 0},
                 {"O", {{"O", 1}}, "", 0},
                 {"NiO", {{"Ni", 1}, {"O", 1}}, "", 0},
                 {"un1", {}, "", 0},
                 {"Cr2O", {{"Cr", 2}, {"O", 1}}, "", 0}};
  // unranged 5, Ni 10, O 20, NiO 30, un1 7, Cr2O 4:
  // Ni = 10 + 30 = 40, O = 20 + 30 + 4 = 54, Cr = 8; total 102 atoms.
  const auto f = aptflow::element_composition(t, {5, 10, 20, 30, 7, 4});
  ASSERT_EQ(f.size(), 3u);
  EXPECT_DOUBLE_EQ(f.at("Ni"), 40.0 / 102.0);
  EXPECT_DOUBLE_EQ(f.at("O"), 54.0 / 102.0);
  EXPECT_DOUBLE_EQ(f.at("Cr"), 8.0 / 102.0);
  EXPECT_TRUE(aptflow::element_composition(t, {5, 0, 0, 0, 9, 0}).empty());
  EXPECT_THROW(aptflow::element_composition(t, {1, 2, 3}), aptflow::InputError);
}

// Real file end to end: ions placed in known ranges of the R45 NiO file.
TEST(Ranging, EndToEndNickelOxide) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto path =
      aptflow::test::shared_data_dir() / "ranges" / "ger_berlin_kuehbach__Ranges_R45_2434-v01.rrng";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path;
  const auto t = aptflow::read_range_file(path.string());
  // (m/q, copies): O 16.0, Ni 58.0, O2 32.0, NiO 75.0, NiO2 90.0, NiO3 106.0,
  // Ni2O 66.0, unranged 50.0.
  const std::vector<std::pair<float, int>> ions = {{16.0f, 10}, {58.0f, 20}, {32.0f, 5}, {75.0f, 4},
                                                   {90.0f, 3},  {106.0f, 2}, {66.0f, 1}, {50.0f, 7}};
  std::vector<float> mq;
  for (const auto& [m, k] : ions) mq.insert(mq.end(), static_cast<std::size_t>(k), m);
  auto c = cloud_from(mq);
  RangingExec exec;
  aptflow::apply_ranges(exec, c, aptflow::make_device_range_table<Mem>(t));
  const auto counts = aptflow::count_species(exec, c, static_cast<int>(t.num_types()));
  ASSERT_EQ(counts.size(), 8u);
  EXPECT_EQ(counts[0], 7);
  EXPECT_EQ(counts[static_cast<std::size_t>(t.species_of("Ni"))], 20);
  EXPECT_EQ(counts[static_cast<std::size_t>(t.species_of("NiO3"))], 2);
  // Ni = 20 + 4 + 3 + 2 + 2*1 = 31; O = 10 + 2*5 + 4 + 2*3 + 3*2 + 1 = 37.
  const auto f = aptflow::element_composition(t, counts);
  EXPECT_DOUBLE_EQ(f.at("Ni"), 31.0 / 68.0);
  EXPECT_DOUBLE_EQ(f.at("O"), 37.0 / 68.0);
}

TEST(Ranging, DeviceTableRejectsInvalidTables) {
  RangeTable t;
  t.ion_types = {{"A", {}, "", 0}};
  t.ranges = {{2, 3, 0, 0}, {1, 2, 0, 0}};  // not sorted
  EXPECT_THROW(aptflow::make_device_range_table<Mem>(t), aptflow::InputError);
  t.ranges = {{1, 1, 0, 0}};  // empty interval
  EXPECT_THROW(aptflow::make_device_range_table<Mem>(t), aptflow::InputError);
  t.ranges = {{1, 2, 3, 0}};  // no such ion type
  EXPECT_THROW(aptflow::make_device_range_table<Mem>(t), aptflow::InputError);
}
