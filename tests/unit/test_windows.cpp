// Window grid placement and per-window SDMs (feal and cocrni) against a
// brute-force loop per window; chunked == unchunked.
#include <gtest/gtest.h>

#include "aptflow/core/error.hpp"
#include "aptflow/kernels/windows.hpp"
#include "test_sdm_reference.hpp"

using namespace aptflow;
using aptflow::test::PlainCloud;

namespace {
using Exec = Kokkos::DefaultHostExecutionSpace;
using Rows = Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Kokkos::HostSpace>;
using Counts = Kokkos::View<std::int64_t*, Kokkos::HostSpace>;

Box cube_box(float lo, float hi) {
  Box b;
  for (int a = 0; a < 3; ++a) {
    b.lo[a] = lo;
    b.hi[a] = hi;
  }
  return b;
}

struct Result {
  std::vector<std::int64_t> sdm;  // n_windows x size
  std::vector<std::int64_t> centres;
};

Result run_chunked(const SdmCells<Kokkos::HostSpace>& cells, const WindowGrid& g, const WindowSpec& ws,
                   const SdmSpec& spec, std::int64_t first, std::int64_t n, std::int64_t chunk) {
  Result r;
  for (std::int64_t c = first; c < first + n; c += chunk) {
    const std::int64_t m = std::min(chunk, first + n - c);
    Rows out("out", m, spec.size());
    Counts cnt("cnt", m);
    compute_window_sdms(Exec(), cells, g, ws, spec, c, m, out, cnt);
    r.sdm.insert(r.sdm.end(), out.data(), out.data() + out.size());
    r.centres.insert(r.centres.end(), cnt.data(), cnt.data() + cnt.size());
  }
  return r;
}

}  // namespace

TEST(WindowGrid, PlacementInsideTheBox) {
  Box box;
  box.lo[0] = -2.0f;
  box.hi[0] = 3.0f;  // 5 nm: (5 - 1) / 0.5 + 1 = 9 windows
  box.lo[1] = 0.0f;
  box.hi[1] = 0.9f;  // shorter than the edge: none
  box.lo[2] = 1.0f;
  box.hi[2] = 2.7f;  // (1.7 - 1) / 0.5 = 1.4 -> 2 windows
  const WindowGrid g = WindowGrid::over(box, 1.0, 0.5);
  EXPECT_EQ(g.counts[0], 9);
  EXPECT_EQ(g.counts[1], 0);
  EXPECT_EQ(g.counts[2], 2);
  EXPECT_EQ(g.size(), 0);
  EXPECT_DOUBLE_EQ(g.centre(0, 0), -1.5);
  EXPECT_DOUBLE_EQ(g.centre(0, 8), 2.5);  // last window [2, 3): inside
  EXPECT_DOUBLE_EQ(g.centre(2, 1), 2.0);
  WindowGrid h = WindowGrid::over(cube_box(0, 4), 1.0, 0.5);
  EXPECT_EQ(h.index(2, 3, 4), (4 * 7 + 3) * 7 + 2);
  std::int64_t ix, iy, iz;
  h.unravel(h.index(2, 3, 4), ix, iy, iz);
  EXPECT_EQ(ix, 2);
  EXPECT_EQ(iy, 3);
  EXPECT_EQ(iz, 4);
  EXPECT_THROW(WindowGrid::over(box, 1.0, 0.0), ConfigError);
  EXPECT_EQ(WindowSpec::cocrni(1.0).centre_radius, 0.75f);
  EXPECT_EQ(WindowSpec::feal(1.0).centre_radius, 0.5f);
  WindowSpec bad = WindowSpec::feal(1.0);
  bad.centre_radius = 1.2f;  // against stride 0.5: up to 6^3 windows per ion
  EXPECT_THROW(bad.validate(h), ConfigError);
  EXPECT_THROW(parse_window_variant("x"), ConfigError);
}

class WindowSdms : public ::testing::TestWithParam<std::tuple<WindowVariant, SdmKind, int, int>> {};

TEST_P(WindowSdms, EqualBruteForcePerWindowAndChunkingDoesNotMatter) {
  const auto [variant, kind, a, b] = GetParam();
  // Small bins for the 3D kind keep the output small.
  const SdmSpec spec = kind == SdmKind::z    ? SdmSpec::z()
                       : kind == SdmKind::zx ? SdmSpec::zx()
                                             : SdmSpec::cube(1.0, 0.1);
  const float L = 5.0f;
  // Denser than the whole-cloud test: windows need several centre ions.
  const PlainCloud p = test::random_cloud(900 + a * 7 + b + static_cast<int>(variant) * 50, 2600, L);
  const HostIonCloud cloud = test::to_ion_cloud(p);
  const Box box = cube_box(0, L);
  const int reach = 1 + (static_cast<int>(kind) + b) % 3;  // 1, 2 or 3 cells per r_cut
  const auto cells =
      build_sdm_cells(Exec(), cloud, make_cell_grid(cloud_bounds(Exec(), cloud), spec.r_cut, reach), a, b);
  const WindowGrid g = WindowGrid::over(box, 1.0, 0.5);
  ASSERT_EQ(g.size(), 9 * 9 * 9);
  const WindowSpec ws = variant == WindowVariant::feal ? WindowSpec::feal(1.0) : WindowSpec::cocrni(1.0);
  // zx rows are 40000 bins: test a slice of windows that spans z planes.
  const std::int64_t first = kind == SdmKind::zx ? 300 : 0;
  const std::int64_t n = kind == SdmKind::zx ? 100 : g.size();
  const Result whole = run_chunked(cells, g, ws, spec, first, n, n);
  const Result chunked = run_chunked(cells, g, ws, spec, first, n, 37);
  EXPECT_EQ(whole.sdm, chunked.sdm);
  EXPECT_EQ(whole.centres, chunked.centres);
  std::int64_t pairs = 0, empty = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    std::int64_t centres = 0;
    const auto want = test::reference_window(p, g, ws, spec, a, b, first + r, centres);
    ASSERT_EQ(whole.centres[r], centres) << "window " << first + r;
    const std::vector<std::int64_t> got(whole.sdm.begin() + r * spec.size(),
                                        whole.sdm.begin() + (r + 1) * spec.size());
    ASSERT_EQ(got, want) << "window " << first + r;
    pairs += test::total(want);
    empty += centres == 0;
  }
  EXPECT_GT(pairs, 5000) << "test too sparse to mean anything";
  EXPECT_LT(empty, n) << "all windows empty";
}

INSTANTIATE_TEST_SUITE_P(Variants, WindowSdms,
                         ::testing::Combine(::testing::Values(WindowVariant::feal, WindowVariant::cocrni),
                                            ::testing::Values(SdmKind::z, SdmKind::zx, SdmKind::xyz),
                                            ::testing::Values(1), ::testing::Values(1, 2)));

// ---- Published rules (docs/sdm.md "Published rules"): fixed box, pair rule
// exclude = zero_dx_or_dz, double arithmetic.

TEST(WindowGrid, FixedBoxHasThePublishedPlacement) {
  // The CoCrNi paper's box: corners numpy.arange(lo, hi, 0.5) <= hi - 1.
  const double lo[3] = {-10, -10, -120}, hi[3] = {10, 10, 0};
  const WindowGrid g = WindowGrid::on_box(lo, hi, 1.0, 0.5);
  EXPECT_EQ(g.counts[0], 39);
  EXPECT_EQ(g.counts[1], 39);
  EXPECT_EQ(g.counts[2], 239);  // 239 * 39 * 39 = 363,519 windows, as the published scan
  EXPECT_EQ(g.size(), 363519);
  EXPECT_DOUBLE_EQ(g.centre(0, 0), -9.5);
  EXPECT_DOUBLE_EQ(g.centre(2, 238), -0.5);
  // Literal loop over the corners of arange for boxes that are not a whole
  // number of strides, in double as numpy computes them: for [0.3, 2.8] the
  // corner 0.3 + 1.5 = 1.8000000000000000444 exceeds 2.8 - 1 =
  // 1.7999999999999998224, so 3 windows (0.3, 0.8, 1.3), not 4.
  auto literal = [](double lo, double hi) {
    std::int64_t n = 0;
    for (std::int64_t i = 0; lo + double(i) * 0.5 < hi; ++i)
      if (!(lo + double(i) * 0.5 > hi - 1.0)) ++n;
    return n;
  };
  for (const double top : {2.8, 2.79, 2.81, 3.3, 1.3, 2.3000001}) {
    const double l3[3] = {0.3, 0.3, -0.2}, h3[3] = {top, 2.8, top - 0.5};
    const WindowGrid f = WindowGrid::on_box(l3, h3, 1.0, 0.5);
    EXPECT_EQ(f.counts[0], literal(0.3, top)) << "top " << top;
    EXPECT_EQ(f.counts[1], 3);
    EXPECT_EQ(f.counts[2], literal(-0.2, top - 0.5)) << "top " << top;
    EXPECT_DOUBLE_EQ(f.origin[0], 0.3);
  }
  const double small[3] = {0, 0, 0}, tiny[3] = {0.9, 5, 5}, flat[3] = {5, 5, 0};
  EXPECT_THROW(WindowGrid::on_box(small, tiny, 1.0, 0.5), ConfigError);  // shorter than one window
  EXPECT_THROW(WindowGrid::on_box(small, flat, 1.0, 0.5), ConfigError);  // z1 <= z0
  EXPECT_THROW(WindowGrid::on_box(lo, hi, 1.0, 0.0), ConfigError);
  EXPECT_THROW(parse_sdm_exclude("none"), ConfigError);
  EXPECT_THROW(parse_sdm_arithmetic("float16"), ConfigError);
  EXPECT_EQ(parse_sdm_exclude("zero_dx_or_dz"), SdmExclude::zero_dx_or_dz);
  EXPECT_EQ(parse_sdm_arithmetic("float64_bins"), SdmArithmetic::float64_bins);
}

class PublishedWindowSdms
    : public ::testing::TestWithParam<std::tuple<WindowVariant, SdmExclude, SdmArithmetic>> {};

TEST_P(PublishedWindowSdms, EqualThePublishedRulesWrittenPlainly) {
  const auto [variant, exclude, arithmetic] = GetParam();
  SdmSpec spec = SdmSpec::z();
  spec.exclude = exclude;
  spec.arithmetic = arithmetic;
  const float L = 5.0f;
  const PlainCloud p = test::rounded_cloud(
      4100 + static_cast<int>(variant) * 10 + static_cast<int>(exclude) * 3 + static_cast<int>(arithmetic),
      2600, L);
  const HostIonCloud cloud = test::to_ion_cloud(p);
  const auto cells =
      build_sdm_cells(Exec(), cloud, make_cell_grid(cloud_bounds(Exec(), cloud), spec.r_cut), 1, 1);
  const double lo[3] = {0, 0, -2}, hi[3] = {5, 5, 3};
  const WindowGrid g = WindowGrid::on_box(lo, hi, 1.0, 0.5);
  const WindowSpec ws = variant == WindowVariant::feal ? WindowSpec::feal(1.0) : WindowSpec::cocrni(1.0);
  const Result whole = run_chunked(cells, g, ws, spec, 0, g.size(), g.size());
  const Result chunked = run_chunked(cells, g, ws, spec, 0, g.size(), 53);
  EXPECT_EQ(whole.sdm, chunked.sdm);
  std::int64_t pairs = 0;
  for (std::int64_t w = 0; w < g.size(); ++w) {
    std::int64_t centres = 0;
    const auto want = arithmetic == SdmArithmetic::float32
                          ? test::reference_window(p, g, ws, spec, 1, 1, w, centres)
                          : test::published_window(p, g, ws, spec, 1, 1, w, centres);
    ASSERT_EQ(whole.centres[w], centres) << "window " << w;
    const std::vector<std::int64_t> got(whole.sdm.begin() + w * spec.size(),
                                        whole.sdm.begin() + (w + 1) * spec.size());
    ASSERT_EQ(got, want) << "window " << w;
    pairs += test::total(want);
  }
  EXPECT_GT(pairs, 5000);
}

INSTANTIATE_TEST_SUITE_P(Rules, PublishedWindowSdms,
                         ::testing::Combine(::testing::Values(WindowVariant::feal, WindowVariant::cocrni),
                                            ::testing::Values(SdmExclude::self, SdmExclude::zero_dx_or_dz),
                                            ::testing::Values(SdmArithmetic::float32, SdmArithmetic::float64,
                                                              SdmArithmetic::float64_bins)));

TEST(PublishedWindowSdms, DoubleArithmeticDiffersFromFloat32OnRoundedCoordinates) {
  // Why the option exists: on coordinates rounded to 3 decimals many
  // displacements sit on bin edges, where float32 and double binning part.
  SdmSpec f32 = SdmSpec::z(), f64 = SdmSpec::z();
  f32.exclude = f64.exclude = SdmExclude::zero_dx_or_dz;
  f64.arithmetic = SdmArithmetic::float64;
  const PlainCloud p = test::rounded_cloud(77, 2600, 5.0f);
  const HostIonCloud cloud = test::to_ion_cloud(p);
  const auto cells = build_sdm_cells(Exec(), cloud, make_cell_grid(cloud_bounds(Exec(), cloud), 1.5), 1, 1);
  const double lo[3] = {0, 0, -2}, hi[3] = {5, 5, 3};
  const WindowGrid g = WindowGrid::on_box(lo, hi, 1.0, 0.5);
  const Result a = run_chunked(cells, g, WindowSpec::cocrni(1.0), f32, 0, g.size(), g.size());
  const Result b = run_chunked(cells, g, WindowSpec::cocrni(1.0), f64, 0, g.size(), g.size());
  EXPECT_NE(a.sdm, b.sdm);
  SdmSpec zx = SdmSpec::zx();
  zx.arithmetic = SdmArithmetic::float64;
  Rows out("out", 1, zx.size());
  Counts cnt("cnt", 1);
  EXPECT_THROW(compute_window_sdms(Exec(), cells, g, WindowSpec::cocrni(1.0), zx, 0, 1, out, cnt),
               ConfigError);
}
