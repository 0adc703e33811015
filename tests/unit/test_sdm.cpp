// SDM spec, exact binning and whole-cloud / centre-list SDM kernels against
// the O(N^2) reference of test_sdm_reference.hpp (exact integer equality).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "aptflow/core/error.hpp"
#include "aptflow/kernels/sdm.hpp"
#include "test_sdm_reference.hpp"

using namespace aptflow;
using aptflow::test::PlainCloud;

namespace {

using Exec = Kokkos::DefaultHostExecutionSpace;

std::vector<std::int64_t> to_vector(const Kokkos::View<std::int64_t*, Kokkos::HostSpace>& v) {
  return std::vector<std::int64_t>(v.data(), v.data() + v.extent(0));
}

std::vector<std::int64_t> kernel_sdm(const PlainCloud& p, const SdmSpec& spec, int a, int b, const Box* box,
                                     int reach = 2) {
  const HostIonCloud cloud = test::to_ion_cloud(p);
  Kokkos::View<std::int64_t*, Kokkos::HostSpace> out("out", spec.size());
  if (box) {
    const auto cells = build_sdm_cells(Exec(), cloud, make_cell_grid(*box, spec.r_cut, reach), a, b);
    compute_sdm(Exec(), cells, spec, out);
  } else {
    compute_sdm(Exec(), cloud, spec, a, b, out);
  }
  return to_vector(out);
}

}  // namespace

TEST(SdmSpec, PublishedDefaults) {
  const auto z = SdmSpec::z();
  EXPECT_EQ(z.bins_per_axis, 200);
  EXPECT_EQ(z.crop_first, 54);
  EXPECT_EQ(z.crop_count, 93);
  EXPECT_EQ(z.size(), 93);
  EXPECT_EQ(z.shape(), (std::vector<std::int64_t>{93}));
  const auto e = z.left_edges();
  ASSERT_EQ(e.size(), 93u);
  EXPECT_NEAR(e.front(), -0.69, 1e-12);
  EXPECT_NEAR(e.back(), 0.69, 1e-12);
  EXPECT_NEAR(e[46], 0.0, 1e-12);
  const auto zx = SdmSpec::zx();
  EXPECT_EQ(zx.size(), 40000);
  EXPECT_EQ(zx.shape(), (std::vector<std::int64_t>{200, 200}));
  EXPECT_NEAR(zx.left_edges()[0], -1.5, 1e-12);
  EXPECT_NEAR(zx.left_edges()[199], 1.485, 1e-12);
  const auto c = SdmSpec::cube();
  EXPECT_EQ(c.bins_per_axis, 40);
  EXPECT_EQ(c.size(), 64000);
  EXPECT_NEAR(c.left_edges()[39], 0.95, 1e-12);
  EXPECT_EQ(parse_sdm_kind("3d"), SdmKind::xyz);
  EXPECT_EQ(to_string(SdmKind::zx), "zx");
}

TEST(SdmSpec, RejectsBadValuesNamingTheKey) {
  SdmSpec s;
  s.bin = 0.017;  // 3 / 0.017 is not whole
  try {
    s.finalize();
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "sdm.bin");
  }
  s = SdmSpec{};
  s.r_cut = -1;
  EXPECT_THROW(s.finalize(), ConfigError);
  EXPECT_THROW(parse_sdm_kind("zz"), ConfigError);
  s = SdmSpec{};
  s.crop_lo = 2.0;
  s.crop_hi = 3.0;
  EXPECT_THROW(s.finalize(), ConfigError);
}

// The precomputed float intervals must reproduce floor((d - lo) / w) exactly,
// in particular right at bin edges and at the histogram ends.
TEST(SdmBinning, IntervalsMatchTheDefinitionAtEveryEdge) {
  for (const SdmSpec& spec : {SdmSpec::z(), SdmSpec::zx(), SdmSpec::cube(), SdmSpec::cube(2.0, 0.1)}) {
    const SdmBinning bn = make_binning(spec);
    const float lo = static_cast<float>(-spec.range), w = static_cast<float>(spec.bin);
    const int n = spec.bins_per_axis;
    std::vector<float> probes;
    for (int k = -2; k <= n + 2; ++k) {
      float e = lo + k * w;
      for (int s = 0; s < 6; ++s) e = std::nextafter(e, -10.0f);
      for (int s = 0; s < 12; ++s) {
        probes.push_back(e);
        e = std::nextafter(e, 10.0f);
      }
    }
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(2.5f * lo, -2.5f * lo);
    for (int i = 0; i < 20000; ++i) probes.push_back(u(rng));
    for (float d : probes) {
      const std::int64_t k = reference_axis_bin(d, lo, w);
      ASSERT_EQ(bn.in_axis(d), k >= 0 && k < n) << "d = " << d;
      if (k >= 0 && k < n) {
        ASSERT_EQ(bn.axis_bin(d), k) << "d = " << d;
      }
      if (spec.kind == SdmKind::z) {
        const bool in_crop = k >= spec.crop_first && k < spec.crop_first + spec.crop_count;
        ASSERT_EQ(d >= bn.crop_lo && d <= bn.crop_hi, in_crop) << "d = " << d;
      }
    }
    // Some probes fall on both sides of an edge: the intervals are tight.
    EXPECT_EQ(reference_axis_bin(bn.axis_lo, lo, w), 0);
    EXPECT_EQ(reference_axis_bin(std::nextafter(bn.axis_lo, -10.0f), lo, w), -1);
    EXPECT_EQ(reference_axis_bin(bn.axis_hi, lo, w), n - 1);
    EXPECT_EQ(reference_axis_bin(std::nextafter(bn.axis_hi, 10.0f), lo, w), n);
  }
}

class SdmWholeCloud : public ::testing::TestWithParam<std::tuple<SdmKind, int, int, bool>> {};

TEST_P(SdmWholeCloud, EqualsBruteForce) {
  const auto [kind, a, b, explicit_box] = GetParam();
  const SdmSpec spec = kind == SdmKind::z    ? SdmSpec::z()
                       : kind == SdmKind::zx ? SdmSpec::zx()
                                             : SdmSpec::cube();
  const float L = 6.0f;
  const PlainCloud p = test::random_cloud(100 + a * 10 + b + static_cast<int>(kind) * 3, 2500, L);
  Box box;
  for (int ax = 0; ax < 3; ++ax) box.hi[ax] = L;
  const auto want = test::reference_sdm(p, spec, a, b);
  EXPECT_GT(test::total(want), 1000) << "test cloud too sparse to mean anything";
  if (explicit_box) {  // nominal box (some ions outside), 1, 2 or 3 cells per r_cut
    for (int reach : {1, 2, 3}) EXPECT_EQ(kernel_sdm(p, spec, a, b, &box, reach), want) << "reach " << reach;
  } else {  // grid from the cloud's bounds, default reach
    const auto got = kernel_sdm(p, spec, a, b, nullptr);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(got, want);
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, SdmWholeCloud,
                         ::testing::Combine(::testing::Values(SdmKind::z, SdmKind::zx, SdmKind::xyz),
                                            ::testing::Values(1, 2), ::testing::Values(1, 3),
                                            ::testing::Bool()));

TEST(Sdm, RCutBoundaryIsInclusiveAndSelfPairsExcluded) {
  // 3D SDM over [-2, 2)^3 so that |d| = 1.5 lies inside the histogram.
  const SdmSpec spec = SdmSpec::cube(2.0, 0.1, 1.5);
  PlainCloud p;
  p.add(0.0f, 0.5f, 0.5f, 1);
  p.add(1.5f, 0.5f, 0.5f, 1);                        // dx = 1.5 exactly: counted (<=)
  p.add(0.0f, 0.5f, std::nextafter(2.0f, 3.0f), 1);  // dz = 1.5 + 2 ulp: not counted
  p.add(0.0f, 0.5f, 0.5f, 2);                        // same position, other species: not B
  const auto got = kernel_sdm(p, spec, 1, 1, nullptr);
  EXPECT_EQ(test::total(got), 2);  // 0->1 and 1->0
  const std::int64_t n = spec.bins_per_axis;
  // d = (+1.5, 0, 0): kx = floor(3.5 / 0.1) = 35 (float), ky = kz = 20.
  EXPECT_EQ(got[(20 * n + 20) * n + reference_axis_bin(1.5f, -2.0f, 0.1f)], 1);
  EXPECT_EQ(got[(20 * n + 20) * n + reference_axis_bin(-1.5f, -2.0f, 0.1f)], 1);
  EXPECT_EQ(got, test::reference_sdm(p, spec, 1, 1));
  // Two distinct ions at one position: the pair counts (both orders), the
  // self pair does not.
  PlainCloud q;
  q.add(0.3f, 0.3f, 0.3f, 1);
  q.add(0.3f, 0.3f, 0.3f, 1);
  const auto z = kernel_sdm(q, SdmSpec::z(), 1, 1, nullptr);
  EXPECT_EQ(test::total(z), 2);
  EXPECT_EQ(z[100 - 54], 2);  // dz = 0 -> bin floor(1.5 / 0.015) = 100
}

TEST(Sdm, CentreListEqualsBruteForce) {
  const PlainCloud p = test::random_cloud(55, 2000, 5.5f);
  const HostIonCloud cloud = test::to_ion_cloud(p);
  std::mt19937 rng(3);
  std::uniform_int_distribution<std::int64_t> pick(0, static_cast<std::int64_t>(p.size()) - 1);
  Kokkos::View<std::int64_t*, Kokkos::HostSpace> centres("centres", 300);
  for (std::size_t i = 0; i < centres.extent(0); ++i) centres(i) = pick(rng);  // any species, maybe repeated
  for (const SdmSpec& spec : {SdmSpec::z(), SdmSpec::zx(), SdmSpec::cube()}) {
    for (int b : {1, 2}) {
      const auto grid = make_cell_grid(cloud_bounds(Exec(), cloud), spec.r_cut, b);
      const auto nb = build_cell_list(Exec(), cloud, grid, b);
      Kokkos::View<std::int64_t*, Kokkos::HostSpace> out("out", spec.size());
      compute_sdm_of_centres(Exec(), cloud, nb, spec,
                             Kokkos::View<const std::int64_t*, Kokkos::HostSpace>(centres), out);
      std::vector<std::int64_t> want(spec.size(), 0);
      for (std::size_t i = 0; i < centres.extent(0); ++i)
        test::reference_add_centre(p, spec, static_cast<std::size_t>(centres(i)), b, want);
      EXPECT_GT(test::total(want), 1000);
      EXPECT_EQ(to_vector(out), want) << to_string(spec.kind) << " B=" << b;
    }
  }
}

TEST(Sdm, RejectsGridFinerThanRCutAndWrongOutput) {
  const HostIonCloud cloud = test::to_ion_cloud(test::random_cloud(1, 50, 3.0f));
  Box box;
  for (int a = 0; a < 3; ++a) box.hi[a] = 3.0f;
  const auto cells = build_sdm_cells(Exec(), cloud, make_cell_grid(box, 1.0), 1, 1);
  Kokkos::View<std::int64_t*, Kokkos::HostSpace> out("out", 93);
  EXPECT_THROW(compute_sdm(Exec(), cells, SdmSpec::z(), out), ConfigError);
  Kokkos::View<std::int64_t*, Kokkos::HostSpace> bad("bad", 92);
  EXPECT_THROW(compute_sdm(Exec(), cloud, SdmSpec::z(), 1, 1, bad), InternalError);
}

TEST(Sdm, PublishedPairRuleDropsZeroDxOrDzAndEqualsBruteForce) {
  // exclude = zero_dx_or_dz (the published z-SDM code): on coordinates
  // rounded to 3 decimals many pairs lie in one x or z plane.
  PlainCloud p = test::random_cloud(808, 2500, 6.0f);
  for (std::size_t i = 0; i < p.size(); ++i) {
    p.x[i] = static_cast<float>(std::round(double(p.x[i]) * 1000.0) / 1000.0);
    p.z[i] = static_cast<float>(std::round(double(p.z[i]) * 1000.0) / 1000.0);
  }
  for (SdmSpec spec : {SdmSpec::z(), SdmSpec::zx(), SdmSpec::cube()}) {
    const auto all = test::reference_sdm(p, spec, 1, 1);
    spec.exclude = SdmExclude::zero_dx_or_dz;
    const auto want = test::reference_sdm(p, spec, 1, 1);
    EXPECT_LT(test::total(want), test::total(all)) << to_string(spec.kind) << ": the rule drops nothing";
    EXPECT_EQ(kernel_sdm(p, spec, 1, 1, nullptr), want) << to_string(spec.kind);
  }
  // Duplicated positions: under the rule not even distinct ions at d = 0 count.
  PlainCloud q;
  q.add(0.3f, 0.3f, 0.3f, 1);
  q.add(0.3f, 0.3f, 0.3f, 1);
  SdmSpec z = SdmSpec::z();
  z.exclude = SdmExclude::zero_dx_or_dz;
  EXPECT_EQ(test::total(kernel_sdm(q, z, 1, 1, nullptr)), 0);
  // The double arithmetic is implemented for window z-SDMs only.
  z.arithmetic = SdmArithmetic::float64;
  EXPECT_THROW(kernel_sdm(q, z, 1, 1, nullptr), ConfigError);
}
