// Whole-cloud and centre-list SDMs on TEST_EXECSPACE, both algorithms (the
// CPU cell algorithm where the backend runs it, and the team algorithm),
// against the O(N^2) reference of tests/unit/test_sdm_reference.hpp: exact
// integer equality.
#include <gtest/gtest.h>

#include <random>

#include "aptflow/kernels/sdm.hpp"
#include "kernel_test_util.hpp"

namespace {
using namespace aptflow;
using Exec = TEST_EXECSPACE;
using Mem = Exec::memory_space;

SdmSpec spec_of(SdmKind kind) {
  return kind == SdmKind::z ? SdmSpec::z() : kind == SdmKind::zx ? SdmSpec::zx() : SdmSpec::cube();
}

// The algorithms this backend runs: cells only on host spaces.
std::vector<SdmAlgorithm> algorithms() {
  if (detail::kHostExec<Exec>) return {SdmAlgorithm::cells, SdmAlgorithm::team};
  return {SdmAlgorithm::team};
}
const char* name(SdmAlgorithm a) { return a == SdmAlgorithm::team ? "team" : "cells"; }
}  // namespace

TEST(TEST_CATEGORY, sdm_whole_cloud_equals_brute_force) {
  const float L = 6.0f;
  Box box;
  for (int ax = 0; ax < 3; ++ax) box.hi[ax] = L;
  for (SdmKind kind : {SdmKind::z, SdmKind::zx, SdmKind::xyz})
    for (auto [a, b] : {std::pair{1, 1}, std::pair{1, 3}, std::pair{2, 1}}) {
      const SdmSpec spec = spec_of(kind);
      const test::PlainCloud p = test::random_cloud(100 + a * 10 + b + static_cast<int>(kind) * 3, 2500, L);
      const auto cloud = test::to_cloud<Mem>(p);
      const auto want = test::reference_sdm(p, spec, a, b);
      ASSERT_GT(test::total(want), 1000) << "test cloud too sparse to mean anything";
      Kokkos::View<std::int64_t*, Mem> out("out", spec.size());
      for (SdmAlgorithm algo : algorithms()) {
        SCOPED_TRACE(::testing::Message()
                     << to_string(kind) << " A=" << a << " B=" << b << " " << name(algo));
        compute_sdm(Exec(), cloud, spec, a, b, out, algo);  // grid from the bounds, default reach
        EXPECT_EQ(test::host_vector(out), want);
        for (int reach : {1, 3}) {  // nominal box (some ions outside)
          const auto cells = build_sdm_cells(Exec(), cloud, make_cell_grid(box, spec.r_cut, reach), a, b);
          compute_sdm(Exec(), cells, spec, out, algo);
          EXPECT_EQ(test::host_vector(out), want) << "reach " << reach;
        }
      }
    }
}

TEST(TEST_CATEGORY, sdm_centre_list_equals_brute_force) {
  const test::PlainCloud p = test::random_cloud(55, 2000, 5.5f);
  const auto cloud = test::to_cloud<Mem>(p);
  std::mt19937 rng(3);
  std::uniform_int_distribution<std::int64_t> pick(0, static_cast<std::int64_t>(p.size()) - 1);
  std::vector<std::int64_t> ids(300);
  for (auto& v : ids) v = pick(rng);  // any species, maybe repeated
  const auto centres = test::device_view<std::int64_t, Mem>(ids, "centres");
  for (SdmKind kind : {SdmKind::z, SdmKind::zx, SdmKind::xyz})
    for (int b : {1, 2}) {
      const SdmSpec spec = spec_of(kind);
      const auto grid = make_cell_grid(cloud_bounds(Exec(), cloud), spec.r_cut, b);
      const auto nb = build_cell_list(Exec(), cloud, grid, b);
      std::vector<std::int64_t> want(spec.size(), 0);
      for (auto i : ids) test::reference_add_centre(p, spec, static_cast<std::size_t>(i), b, want);
      ASSERT_GT(test::total(want), 1000);
      Kokkos::View<std::int64_t*, Mem> out("out", spec.size());
      for (SdmAlgorithm algo : algorithms()) {
        compute_sdm_of_centres(Exec(), cloud, nb, spec, Kokkos::View<const std::int64_t*, Mem>(centres), out,
                               algo);
        EXPECT_EQ(test::host_vector(out), want) << to_string(kind) << " B=" << b << " " << name(algo);
      }
    }
}

// SdmCentreRange: only the centres with cloud index in [begin, end) (a z
// slab's owned ions), against every neighbour of the list; the ranges of a
// partition of the cloud add up to the whole-cloud SDM.
TEST(TEST_CATEGORY, sdm_centre_range_equals_brute_force) {
  const test::PlainCloud p = test::random_cloud(77, 2400, 5.5f);
  const auto cloud = test::to_cloud<Mem>(p);
  const auto n = static_cast<std::int64_t>(p.size());
  const std::int64_t cuts[] = {0, 1, n / 3, n / 3, n - 700, n};  // an empty range and a one-ion range
  for (SdmKind kind : {SdmKind::z, SdmKind::zx, SdmKind::xyz})
    for (auto [a, b] : {std::pair{1, 1}, std::pair{2, 1}}) {
      const SdmSpec spec = spec_of(kind);
      const auto cells =
          build_sdm_cells(Exec(), cloud, make_cell_grid(cloud_bounds(Exec(), cloud), spec.r_cut), a, b);
      Kokkos::View<std::int64_t*, Mem> out("out", spec.size());
      for (SdmAlgorithm algo : algorithms()) {
        SCOPED_TRACE(::testing::Message()
                     << to_string(kind) << " A=" << a << " B=" << b << " " << name(algo));
        std::vector<std::int64_t> sum(spec.size(), 0);
        for (std::size_t k = 0; k + 1 < std::size(cuts); ++k) {
          std::vector<std::int64_t> want(spec.size(), 0);
          for (std::int64_t i = cuts[k]; i < cuts[k + 1]; ++i)
            if (p.s[i] == a) test::reference_add_centre(p, spec, static_cast<std::size_t>(i), b, want);
          if (cuts[k + 1] - cuts[k] > 600) ASSERT_GT(test::total(want), 100) << "range too sparse";
          compute_sdm(Exec(), cells, spec, out, algo, SdmCentreRange{cuts[k], cuts[k + 1]});
          const auto got = test::host_vector(out);
          EXPECT_EQ(got, want) << "centres [" << cuts[k] << ", " << cuts[k + 1] << ")";
          for (std::size_t q = 0; q < got.size(); ++q) sum[q] += got[q];
        }
        EXPECT_EQ(sum, test::reference_sdm(p, spec, a, b));
      }
    }
}

TEST(TEST_CATEGORY, sdm_r_cut_boundary_is_inclusive_and_self_pairs_excluded) {
  const SdmSpec spec = SdmSpec::cube(2.0, 0.1, 1.5);
  test::PlainCloud p;
  p.add(0.0f, 0.5f, 0.5f, 1);
  p.add(1.5f, 0.5f, 0.5f, 1);                        // dx = 1.5 exactly: counted (<=)
  p.add(0.0f, 0.5f, std::nextafter(2.0f, 3.0f), 1);  // dz = 1.5 + 2 ulp: not counted
  p.add(0.0f, 0.5f, 0.5f, 2);                        // same position, other species: not B
  p.add(0.3f, 0.3f, 0.3f, 1);
  p.add(0.3f, 0.3f, 0.3f, 1);  // two distinct ions at one position: both orders count
  const auto cloud = test::to_cloud<Mem>(p);
  const auto want = test::reference_sdm(p, spec, 1, 1);
  Kokkos::View<std::int64_t*, Mem> out("out", spec.size());
  for (SdmAlgorithm algo : algorithms()) {
    compute_sdm(Exec(), cloud, spec, 1, 1, out, algo);
    const auto got = test::host_vector(out);
    EXPECT_EQ(got, want) << name(algo);
    const std::int64_t n = spec.bins_per_axis;
    EXPECT_EQ(got[(20 * n + 20) * n + reference_axis_bin(1.5f, -2.0f, 0.1f)], 1) << name(algo);
  }
}

// The published pair rule (exclude = zero_dx_or_dz, docs/sdm.md) on
// coordinates rounded to 3 decimals (many pairs with dx == 0 or dz == 0),
// every kind and algorithm; the rule must drop real pairs, not only the self
// pair. The double arithmetic exists for window z-SDMs only: ConfigError.
TEST(TEST_CATEGORY, sdm_whole_cloud_follows_the_published_pair_rule) {
  for (SdmKind kind : {SdmKind::z, SdmKind::zx, SdmKind::xyz}) {
    SdmSpec spec = spec_of(kind);
    const test::PlainCloud p = test::rounded_cloud(600 + static_cast<int>(kind), 2200, 5.0f);
    const auto cloud = test::to_cloud<Mem>(p);
    const auto all = test::reference_sdm(p, spec, 1, 1);
    spec.exclude = SdmExclude::zero_dx_or_dz;
    const auto want = test::reference_sdm(p, spec, 1, 1);
    ASSERT_GT(test::total(want), 1000) << to_string(kind);
    ASSERT_LT(test::total(want), test::total(all)) << to_string(kind) << ": the rule drops nothing";
    Kokkos::View<std::int64_t*, Mem> out("out", spec.size());
    for (SdmAlgorithm algo : algorithms()) {
      compute_sdm(Exec(), cloud, spec, 1, 1, out, algo);
      EXPECT_EQ(test::host_vector(out), want) << to_string(kind) << " " << name(algo);
    }
    spec.arithmetic = SdmArithmetic::float64;
    EXPECT_THROW(compute_sdm(Exec(), cloud, spec, 1, 1, out), ConfigError) << to_string(kind);
  }
}
