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

// Brute force: SDM and centre count of window w.
std::vector<std::int64_t> reference_window(const PlainCloud& p, const WindowGrid& g, const WindowSpec& ws,
                                           const SdmSpec& spec, int a, int b, std::int64_t w,
                                           std::int64_t& centres) {
  std::int64_t ix, iy, iz;
  g.unravel(w, ix, iy, iz);
  const float cx = g.centre_f(0, ix), cy = g.centre_f(1, iy), cz = g.centre_f(2, iz);
  std::vector<std::int64_t> h(spec.size(), 0);
  centres = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p.s[i] != a || !test::reference_within(p.x[i] - cx, p.y[i] - cy, p.z[i] - cz, ws.centre_radius))
      continue;
    ++centres;
    test::reference_add_centre(p, spec, i, b, h, ws.variant == WindowVariant::cocrni, cx, cy, cz,
                               ws.neighbour_radius);
  }
  return h;
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
    const auto want = reference_window(p, g, ws, spec, a, b, first + r, centres);
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
