// Per-window SDMs (feal and cocrni, every kind) on TEST_EXECSPACE, both
// algorithms where the backend runs them, against a brute-force loop per
// window; chunked == unchunked.
#include <gtest/gtest.h>

#include "aptflow/kernels/windows.hpp"
#include "kernel_test_util.hpp"

namespace {
using namespace aptflow;
using Exec = TEST_EXECSPACE;
using Mem = Exec::memory_space;
using Rows = Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem>;
using Counts = Kokkos::View<std::int64_t*, Mem>;

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

Result run_chunked(const SdmCells<Mem>& cells, const WindowGrid& g, const WindowSpec& ws, const SdmSpec& spec,
                   std::int64_t first, std::int64_t n, std::int64_t chunk, SdmAlgorithm algo) {
  Result r;
  for (std::int64_t c = first; c < first + n; c += chunk) {
    const std::int64_t m = std::min(chunk, first + n - c);
    Rows out("out", m, spec.size());
    Counts cnt("cnt", m);
    compute_window_sdms(Exec(), cells, g, ws, spec, c, m, out, cnt, algo);
    const auto o = test::host_vector(out), k = test::host_vector(cnt);
    r.sdm.insert(r.sdm.end(), o.begin(), o.end());
    r.centres.insert(r.centres.end(), k.begin(), k.end());
  }
  return r;
}

std::vector<SdmAlgorithm> algorithms() {
  if (detail::kHostExec<Exec>) return {SdmAlgorithm::cells, SdmAlgorithm::team};
  return {SdmAlgorithm::team};
}
}  // namespace

TEST(TEST_CATEGORY, window_sdms_equal_brute_force_per_window) {
  for (WindowVariant variant : {WindowVariant::feal, WindowVariant::cocrni})
    for (SdmKind kind : {SdmKind::z, SdmKind::zx, SdmKind::xyz})
      for (int b : {1, 2}) {
        const int a = 1;
        // Small bins for the 3D kind keep the output small.
        const SdmSpec spec = kind == SdmKind::z    ? SdmSpec::z()
                             : kind == SdmKind::zx ? SdmSpec::zx()
                                                   : SdmSpec::cube(1.0, 0.1);
        const float L = 5.0f;
        const test::PlainCloud p =
            test::random_cloud(900 + a * 7 + b + static_cast<int>(variant) * 50, 2600, L);
        const auto cloud = test::to_cloud<Mem>(p);
        const int reach = 1 + (static_cast<int>(kind) + b) % 3;  // 1, 2 or 3 cells per r_cut
        const auto cells = build_sdm_cells(
            Exec(), cloud, make_cell_grid(cloud_bounds(Exec(), cloud), spec.r_cut, reach), a, b);
        const WindowGrid g = WindowGrid::over(cube_box(0, L), 1.0, 0.5);
        ASSERT_EQ(g.size(), 9 * 9 * 9);
        const WindowSpec ws =
            variant == WindowVariant::feal ? WindowSpec::feal(1.0) : WindowSpec::cocrni(1.0);
        // zx rows are 40000 bins: a slice of windows that spans z planes.
        const std::int64_t first = kind == SdmKind::zx ? 300 : 0;
        const std::int64_t n = kind == SdmKind::zx ? 100 : g.size();
        Result want;
        std::int64_t pairs = 0, empty = 0;
        for (std::int64_t r = 0; r < n; ++r) {
          std::int64_t centres = 0;
          const auto h = test::reference_window(p, g, ws, spec, a, b, first + r, centres);
          want.sdm.insert(want.sdm.end(), h.begin(), h.end());
          want.centres.push_back(centres);
          pairs += test::total(h);
          empty += centres == 0;
        }
        ASSERT_GT(pairs, 5000) << "test too sparse to mean anything";
        ASSERT_LT(empty, n) << "all windows empty";
        for (SdmAlgorithm algo : algorithms()) {
          SCOPED_TRACE(::testing::Message() << to_string(variant) << " " << to_string(kind) << " B=" << b
                                            << " " << (algo == SdmAlgorithm::team ? "team" : "cells"));
          const Result whole = run_chunked(cells, g, ws, spec, first, n, n, algo);
          EXPECT_EQ(whole.centres, want.centres);
          if (whole.sdm != want.sdm) {
            for (std::int64_t r = 0; r < n; ++r) {
              const std::vector<std::int64_t> got(whole.sdm.begin() + r * spec.size(),
                                                  whole.sdm.begin() + (r + 1) * spec.size());
              const std::vector<std::int64_t> exp(want.sdm.begin() + r * spec.size(),
                                                  want.sdm.begin() + (r + 1) * spec.size());
              ASSERT_EQ(got, exp) << "window " << first + r;
            }
          }
          const Result chunked = run_chunked(cells, g, ws, spec, first, n, 37, algo);
          EXPECT_EQ(chunked.sdm, want.sdm);
          EXPECT_EQ(chunked.centres, want.centres);
        }
      }
}

// The published rules (docs/sdm.md): pair rule zero_dx_or_dz and the double
// arithmetic, on coordinates rounded to 3 decimals (many pairs in one plane,
// displacements on bin edges), every algorithm the backend runs, against the
// plain references of tests/unit/test_sdm_reference.hpp.
TEST(TEST_CATEGORY, window_z_sdms_follow_the_published_rules) {
  for (WindowVariant variant : {WindowVariant::feal, WindowVariant::cocrni})
    for (SdmExclude exclude : {SdmExclude::self, SdmExclude::zero_dx_or_dz})
      for (SdmArithmetic arithmetic :
           {SdmArithmetic::float32, SdmArithmetic::float64, SdmArithmetic::float64_bins}) {
        SdmSpec spec = SdmSpec::z();
        spec.exclude = exclude;
        spec.arithmetic = arithmetic;
        const test::PlainCloud p =
            test::rounded_cloud(5100 + static_cast<int>(variant) * 10 + static_cast<int>(exclude) * 3 +
                                    static_cast<int>(arithmetic),
                                1800, 4.0f);
        const auto cloud = test::to_cloud<Mem>(p);
        const auto cells =
            build_sdm_cells(Exec(), cloud, make_cell_grid(cloud_bounds(Exec(), cloud), 1.5), 1, 1);
        const double lo[3] = {0, 0, -2}, hi[3] = {4, 4, 2};
        const WindowGrid g = WindowGrid::on_box(lo, hi, 1.0, 0.5);
        const WindowSpec ws =
            variant == WindowVariant::feal ? WindowSpec::feal(1.0) : WindowSpec::cocrni(1.0);
        Result want;
        std::int64_t pairs = 0;
        for (std::int64_t w = 0; w < g.size(); ++w) {
          std::int64_t centres = 0;
          const auto h = arithmetic == SdmArithmetic::float32
                             ? test::reference_window(p, g, ws, spec, 1, 1, w, centres)
                             : test::published_window(p, g, ws, spec, 1, 1, w, centres);
          want.sdm.insert(want.sdm.end(), h.begin(), h.end());
          want.centres.push_back(centres);
          pairs += test::total(h);
        }
        ASSERT_GT(pairs, 3000);
        for (SdmAlgorithm algo : algorithms()) {
          SCOPED_TRACE(::testing::Message()
                       << to_string(variant) << " " << to_string(exclude) << " " << to_string(arithmetic)
                       << " " << (algo == SdmAlgorithm::team ? "team" : "cells"));
          const Result got = run_chunked(cells, g, ws, spec, 0, g.size(), 41, algo);
          EXPECT_EQ(got.centres, want.centres);
          EXPECT_EQ(got.sdm, want.sdm);
        }
      }
}
