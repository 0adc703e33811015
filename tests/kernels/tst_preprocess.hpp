// The z-SDM preprocessing kernel (aptflow/kernels/preprocess.hpp) on
// TEST_EXECSPACE against a plain host reference written here from the
// definitions of docs/preprocessing.md (min-max, Savitzky-Golay with the
// weights of sdm::SavgolFilter, background by iterative clipping in both
// loops, subtraction, min-max): the same float bits and the same clipping
// results per curve, on random peaked curves with empty (NaN) and constant
// rows; blocks of any size give the same rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "aptflow/kernels/preprocess.hpp"
#include "aptflow/sdm/preprocess.hpp"
#include "kernel_test_util.hpp"

namespace {
using namespace aptflow;
using Exec = TEST_EXECSPACE;
using Mem = Exec::memory_space;

// Random z-SDM-like curves: a central peak, side peaks at +-d, noise; row 3
// empty (NaN), row 5 constant, row 8 with one NaN bin.
std::vector<float> random_curves(std::uint32_t seed, int rows, int bins) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<float> v(static_cast<std::size_t>(rows * bins));
  for (int r = 0; r < rows; ++r) {
    const double d = 8 + 10 * u(rng), a = 50 * u(rng), base = 20 + 40 * u(rng);
    for (int k = 0; k < bins; ++k) {
      const double x = k - bins / 2.0;
      const double y = base + 3 * a * std::exp(-x * x / 4) + a * std::exp(-(x - d) * (x - d) / 6) +
                       a * std::exp(-(x + d) * (x + d) / 6) + 10 * u(rng);
      v[static_cast<std::size_t>(r * bins + k)] = static_cast<float>(std::floor(y));
    }
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int k = 0; k < bins; ++k) {
    if (rows > 3) v[static_cast<std::size_t>(3 * bins + k)] = nan;
    if (rows > 5) v[static_cast<std::size_t>(5 * bins + k)] = 7.0f;
  }
  if (rows > 8) v[static_cast<std::size_t>(8 * bins + 4)] = nan;
  return v;
}

void ref_minmax(std::vector<double>& v, bool constant_nan) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double x : v)
    if (!std::isnan(x)) lo = std::min(lo, x), hi = std::max(hi, x);
  if (!(lo <= hi)) return;
  for (double& x : v)
    if (!std::isnan(x)) x = hi > lo ? (x - lo) / (hi - lo) : constant_nan ? std::nan("") : 0.0;
}

bool has_nan(const std::vector<double>& v) {
  return std::any_of(v.begin(), v.end(), [](double x) { return std::isnan(x); });
}

// One curve by the definitions; returns (minimum, sweeps).
std::pair<int, int> ref_chain(std::vector<double>& v, const sdm::PreprocessSpec& spec,
                              const sdm::SavgolFilter& f) {
  const int n = static_cast<int>(v.size());
  const double nan = std::nan("");
  if (has_nan(v)) {
    std::fill(v.begin(), v.end(), nan);
    return {-1, 0};
  }
  ref_minmax(v, true);
  if (spec.mode == sdm::PreprocessMode::minmax_only) return {-1, 0};
  if (has_nan(v)) {
    std::fill(v.begin(), v.end(), nan);
    return {-1, 0};
  }
  const int w = spec.savgol.window, h = w / 2;
  std::vector<double> s(v.size());
  for (int i = 0; i < n; ++i) {
    const int first = std::clamp(i - h, 0, n - w);  // the window the point is fitted on
    const auto wt = f.weights(i - first);
    double acc = 0;
    for (int j = 0; j < w; ++j) acc += wt[j] * v[first + j];
    s[i] = acc;
  }
  const auto& bs = spec.background;
  const bool published = bs.clip == sdm::BackgroundClip::published;
  int m = -1;
  for (int i = bs.centre + 1; i + 1 < n && m < 0; ++i)
    if (s[i] < s[i - 1] && (published ? s[i] < s[i + 1] : s[i] <= s[i + 1])) m = i;
  std::vector<double> b(v.size(), 0.0);
  int sweeps = 0;
  if (m >= 0) {
    b = s;
    auto peak = [&] { return *std::max_element(b.begin() + bs.lo, b.begin() + bs.hi); };
    while (peak() > s[m]) {
      if (!published && sweeps == bs.max_sweeps) break;
      const std::vector<double> old = b;  // Jacobi for the published first sweep
      for (int k = 1; k + 1 < n; ++k) {
        const double left = published && sweeps == 0 ? old[k - 1] : b[k - 1];
        b[k] = std::min(b[k], (left + b[k + 1]) / 2);
      }
      ++sweeps;
      if (published && sweeps == bs.max_sweeps + 1) break;
    }
  }
  for (int k = 0; k < n; ++k) v[k] = s[k] - b[k];
  ref_minmax(v, true);
  return {m, sweeps};
}

void expect_kernel_matches(sdm::PreprocessSpec spec, std::uint32_t seed, int max_sweeps) {
  const int rows = 40, bins = 100;
  spec.background.max_sweeps = max_sweeps;
  const auto curves = random_curves(seed, rows, bins);
  const sdm::PreprocessKernel k = sdm::preprocess_kernel(spec, bins);
  const auto hat = test::device_view<double, Mem>(k.hat, "test::hat");
  for (const std::int64_t block : {std::int64_t{16384}, std::int64_t{7}}) {
    Kokkos::View<float**, Kokkos::LayoutRight, Mem> x("test::rows", rows, bins);
    {
      auto h = Kokkos::create_mirror_view(x);
      std::memcpy(h.data(), curves.data(), curves.size() * sizeof(float));
      Kokkos::deep_copy(x, h);
    }
    Kokkos::View<curve::ClipResult*, Mem> clip("test::clip", rows);
    curve::preprocess_rows(Exec(), x, k.chain, Kokkos::View<const double*, Mem>(hat), clip, block);
    const auto out = test::host_vector(x);
    const auto res = test::host_vector(clip);
    const sdm::SavgolFilter f(spec.savgol);
    int clipped = 0;
    for (int r = 0; r < rows; ++r) {
      std::vector<double> v(curves.begin() + r * bins, curves.begin() + (r + 1) * bins);
      const auto [m, sweeps] = ref_chain(v, spec, f);
      ASSERT_EQ(res[static_cast<std::size_t>(r)].minimum, m) << "row " << r;
      ASSERT_EQ(res[static_cast<std::size_t>(r)].sweeps, sweeps) << "row " << r;
      clipped += sweeps > 0;
      for (int q = 0; q < bins; ++q) {
        const float want = static_cast<float>(v[static_cast<std::size_t>(q)]);
        const float got = out[static_cast<std::size_t>(r * bins + q)];
        if (std::isnan(want))
          ASSERT_TRUE(std::isnan(got)) << "row " << r << " bin " << q;
        else
          ASSERT_EQ(std::memcmp(&want, &got, sizeof(float)), 0)
              << "row " << r << " bin " << q << ": " << got << " != " << want;
      }
    }
    if (spec.mode == sdm::PreprocessMode::experimental) EXPECT_GT(clipped, rows / 2);
  }
}

TEST(TEST_CATEGORY, preprocess_experimental_feal) {
  expect_kernel_matches(sdm::PreprocessSpec::of(sdm::Variant::feal), 11, 1000);
  expect_kernel_matches(sdm::PreprocessSpec::of(sdm::Variant::feal), 12, 3);  // the sweep limit
}

TEST(TEST_CATEGORY, preprocess_experimental_cocrni_published) {
  const auto spec = sdm::PreprocessSpec::of(sdm::Variant::cocrni, sdm::PreprocessMode::experimental,
                                            sdm::BackgroundClip::published);
  expect_kernel_matches(spec, 13, 1000);
  expect_kernel_matches(spec, 14, 2);
}

TEST(TEST_CATEGORY, preprocess_minmax_only) {
  expect_kernel_matches(sdm::PreprocessSpec::of(sdm::Variant::feal, sdm::PreprocessMode::minmax_only), 15,
                        1000);
}

}  // namespace
