// z-SDM preprocessing against an independent Python reference
// (tests/python/preprocess_ref.py: scipy.signal.savgol_filter and a plain
// loop for the clipping) on random noisy peak curves of 93 bins, plus
// hand-checked tiny cases.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/sdm/preprocess.hpp"
#include "test_util.hpp"

namespace {

namespace sdm = aptflow::sdm;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr int kBins = 93;

// z-SDM-like curves: a broad envelope times (1 + planes at the centre and at
// multiples of a random spacing), Poisson-like noise, rounded to counts; plus
// special rows: smooth Gaussian (no minimum right of the centre), all zero
// (empty window -> NaN), all NaN, constant.
sdm::CurveRows random_curves(int rows, std::uint64_t seed) {
  sdm::CurveRows c("test.curves", rows, kBins);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> normal(0, 1);
  for (int r = 0; r < rows; ++r) {
    const double amp = 20 + 400 * u(rng), spacing = 7 + 7 * u(rng), width = 1.2 + 2 * u(rng),
                 contrast = 0.3 + 2.5 * u(rng), shift = 2 * u(rng) - 1, env = 25 + 40 * u(rng);
    for (int k = 0; k < kBins; ++k) {
      const double d = k - 46 - shift;
      double planes = 0;
      for (int j = -6; j <= 6; ++j) planes += std::exp(-std::pow(d - j * spacing, 2) / (2 * width * width));
      const double mean = amp * std::exp(-d * d / (2 * env * env)) * (1 + contrast * planes);
      c(r, k) = static_cast<float>(std::max(0.0, std::round(mean + std::sqrt(mean) * normal(rng))));
    }
  }
  const int special = rows - 4;
  for (int k = 0; k < kBins; ++k) {
    c(special, k) = static_cast<float>(100 * std::exp(-std::pow(k - 46.0, 2) / (2 * 15.0 * 15.0)));
    c(special + 1, k) = 0.0f;
    c(special + 2, k) = kNaN;
    c(special + 3, k) = 7.0f;
  }
  return c;
}

// tests/python/preprocess_ref.py: from APTFLOW_SOURCE_DIR when it is set,
// else next to this test's source file.
std::string reference_script() {
  auto p = aptflow::test::source_dir() / "tests" / "python" / "preprocess_ref.py";
  return p.string();
}

#define REQUIRE_SCIPY()                                                        \
  do {                                                                         \
    if (!aptflow::test::python_has("numpy, scipy.signal"))                     \
      GTEST_SKIP() << aptflow::test::python_exe()                              \
                   << " with numpy and scipy is missing: skipping the Python " \
                      "reference comparison";                                  \
  } while (0)

struct Reference {
  std::vector<double> values;
  std::vector<std::pair<int, int>> meta;  // (minimum, sweeps) per row
};

// Run tests/python/preprocess_ref.py MODE on the rows.
Reference python_reference(const sdm::CurveRows& in, const std::string& mode, const std::string& args) {
  aptflow::test::TempDir dir;
  const auto src = (dir / "in.f32").string(), dst = (dir / "out.f64").string();
  {
    std::ofstream f(src, std::ios::binary);
    f.write(reinterpret_cast<const char*>(in.data()),
            static_cast<std::streamsize>(in.size() * sizeof(float)));
  }
  const auto script = reference_script();
  auto r = aptflow::test::run_command(aptflow::test::python_exe() + " " + script + " " + mode + " " + src +
                                      " " + dst + " " + std::to_string(in.extent(0)) + " " +
                                      std::to_string(in.extent(1)) + " " + args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  Reference ref;
  ref.values.resize(in.size());
  std::ifstream f(dst, std::ios::binary);
  f.read(reinterpret_cast<char*>(ref.values.data()), static_cast<std::streamsize>(ref.values.size() * 8));
  EXPECT_TRUE(f.good()) << "reading " << dst;
  std::ifstream m(dst + ".meta");
  int a = 0, b = 0;
  while (m >> a >> b) ref.meta.emplace_back(a, b);
  return ref;
}

// |got - want| <= tol * max(1, max |want| of the row); NaN must match NaN.
void expect_rows_close(const sdm::CurveRows& got, const std::vector<double>& want, double tol) {
  const std::size_t rows = got.extent(0), bins = got.extent(1);
  ASSERT_EQ(want.size(), rows * bins);
  for (std::size_t r = 0; r < rows; ++r) {
    double scale = 1;
    for (std::size_t k = 0; k < bins; ++k)
      if (!std::isnan(want[r * bins + k])) scale = std::max(scale, std::fabs(want[r * bins + k]));
    for (std::size_t k = 0; k < bins; ++k) {
      const double w = want[r * bins + k], g = got(r, k);
      if (std::isnan(w)) {
        EXPECT_TRUE(std::isnan(g)) << "row " << r << " bin " << k << ": want NaN, got " << g;
      } else {
        ASSERT_FALSE(std::isnan(g)) << "row " << r << " bin " << k << ": got NaN, want " << w;
        ASSERT_LE(std::fabs(g - w), tol * scale)
            << "row " << r << " bin " << k << ": got " << g << ", want " << w;
      }
    }
  }
}

// ------------------------------------------------------------------ min-max

TEST(PreprocessMinmax, HandChecked) {
  std::vector<float> v{2, 4, kNaN, 6};
  sdm::minmax_normalise(v);
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_EQ(v[1], 0.5f);
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_EQ(v[3], 1.0f);
  std::vector<float> constant{3, 3, kNaN}, zeros{3, 3, kNaN}, nan{kNaN, kNaN};
  sdm::minmax_normalise(constant);
  sdm::minmax_normalise(zeros, sdm::ConstantCurve::zeros);
  sdm::minmax_normalise(nan);
  EXPECT_TRUE(std::isnan(constant[0]) && std::isnan(constant[1]) && std::isnan(constant[2]));
  EXPECT_EQ(zeros[0], 0.0f);
  EXPECT_EQ(zeros[1], 0.0f);
  EXPECT_TRUE(std::isnan(zeros[2]));
  EXPECT_TRUE(std::isnan(nan[0]) && std::isnan(nan[1]));
}

TEST(PreprocessMinmax, MatchesPythonOnRandomCurves) {
  REQUIRE_SCIPY();
  auto c = random_curves(24, 1);
  c(3, 10) = kNaN;  // an isolated NaN bin is ignored and kept
  for (auto constant : {sdm::ConstantCurve::nan, sdm::ConstantCurve::zeros}) {
    auto ref = python_reference(c, "minmax", constant == sdm::ConstantCurve::nan ? "nan" : "zeros");
    sdm::CurveRows got("got", c.extent(0), c.extent(1));
    Kokkos::deep_copy(got, c);
    sdm::minmax_normalise(got, constant);
    expect_rows_close(got, ref.values, 1e-6);
  }
}

// ---------------------------------------------------------- Savitzky-Golay

TEST(PreprocessSavgol, KnownWeightsAndPolynomialsAreExact) {
  // Classic 5-point quadratic smoothing weights (-3, 12, 17, 12, -3) / 35.
  sdm::SavgolFilter f5({5, 2});
  const double want[5] = {-3 / 35.0, 12 / 35.0, 17 / 35.0, 12 / 35.0, -3 / 35.0};
  for (int j = 0; j < 5; ++j) EXPECT_NEAR(f5.weights(2)[j], want[j], 1e-14);
  // Every hat-matrix row sums to one (constants are reproduced).
  sdm::SavgolFilter f({15, 8});
  for (int p = 0; p < 15; ++p) {
    double s = 0;
    for (double w : f.weights(p)) s += w;
    EXPECT_NEAR(s, 1.0, 1e-12) << "row " << p;
  }
  // A polynomial of degree <= 8 is reproduced exactly, edges included.
  std::vector<double> x(40), y(40);
  for (int i = 0; i < 40; ++i) {
    const double t = (i - 20) / 10.0;
    x[i] = 1 - 2 * t + 0.5 * std::pow(t, 3) - 0.25 * std::pow(t, 8);
  }
  f.apply(x, y);
  for (int i = 0; i < 40; ++i) EXPECT_NEAR(y[i], x[i], 1e-9) << i;
}

TEST(PreprocessSavgol, MatchesScipyOnRandomCurves) {
  REQUIRE_SCIPY();
  auto c = random_curves(40, 2);
  // (Long windows at order 8 are left out: scipy's own coefficients lose
  // digits there, see WeightsMatchExactRationalHatMatrix.)
  for (auto spec : {sdm::SavgolSpec{15, 8}, sdm::SavgolSpec{11, 3}, sdm::SavgolSpec{31, 5}}) {
    SCOPED_TRACE(::testing::Message() << "window " << spec.window << " order " << spec.order);
    auto ref = python_reference(c, "savgol", std::to_string(spec.window) + " " + std::to_string(spec.order));
    sdm::CurveRows got("got", c.extent(0), c.extent(1));
    Kokkos::deep_copy(got, c);
    sdm::savgol_filter(got, spec);
    expect_rows_close(got, ref.values, 1e-5);
  }
}

TEST(PreprocessSavgol, WeightsMatchExactRationalHatMatrix) {
  REQUIRE_SCIPY();
  // Exact (rational arithmetic) hat matrices from the Python helper. For
  // (93, 8) scipy.signal.savgol_coeffs itself is off by ~8e-6 per weight.
  for (auto spec : {sdm::SavgolSpec{15, 8}, sdm::SavgolSpec{93, 8}}) {
    SCOPED_TRACE(::testing::Message() << "window " << spec.window << " order " << spec.order);
    aptflow::test::TempDir dir;
    const auto out = (dir / "hat.f64").string();
    const auto script = reference_script();
    auto r = aptflow::test::run_command(
        fmt::format("{} {} hat {} {} {}", aptflow::test::python_exe(), script, out, spec.window, spec.order));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::vector<double> exact(static_cast<std::size_t>(spec.window * spec.window));
    std::ifstream f(out, std::ios::binary);
    f.read(reinterpret_cast<char*>(exact.data()), static_cast<std::streamsize>(exact.size() * 8));
    ASSERT_TRUE(f.good());
    sdm::SavgolFilter filter(spec);
    double worst = 0;
    for (int p = 0; p < spec.window; ++p)
      for (int j = 0; j < spec.window; ++j)
        worst = std::max(worst, std::fabs(filter.weights(p)[j] - exact[std::size_t(p * spec.window + j)]));
    EXPECT_LT(worst, 1e-12);
    // The published (15, 8): every weight is the double nearest to its exact
    // rational value, the same bits as Python's float(Fraction).
    if (spec.window == 15) EXPECT_EQ(worst, 0.0);
  }
}

TEST(PreprocessSavgol, RejectsBadWindows) {
  EXPECT_THROW(sdm::SavgolFilter({14, 8}), aptflow::ConfigError);
  EXPECT_THROW(sdm::SavgolFilter({15, 15}), aptflow::ConfigError);
  std::vector<float> short_curve(10, 1.0f);
  EXPECT_THROW(sdm::savgol_filter(short_curve), aptflow::ConfigError);
}

// -------------------------------------------------------------- background

TEST(PreprocessBackground, HandCheckedGaussSeidelSweeps) {
  // s = [0, 3, 0, 4, 3, 1, 2, 0], centre 4 -> minimum at 5 (s = 1); window 1:5.
  // Sweep 1 (in place): b = [0, 0, 0, 1.5, 1.25, 1, 0.5, 0], max(b[1:5]) = 1.5 > 1.
  // Sweep 2: b = [0, 0, 0, 0.625, 0.8125, 0.65625, 0.328125, 0], max = 0.8125: stop.
  // (Jacobi sweeps would give b[4] = 2.5 after the first sweep.)
  const std::vector<double> s{0, 3, 0, 4, 3, 1, 2, 0};
  std::vector<double> b(8);
  sdm::BackgroundSpec spec{1, 5, 4, 1000};
  auto r = sdm::background_clip(std::span<const double>(s), std::span<double>(b), spec);
  EXPECT_EQ(r.minimum, 5);
  EXPECT_EQ(r.sweeps, 2);
  const std::vector<double> want{0, 0, 0, 0.625, 0.8125, 0.65625, 0.328125, 0};
  EXPECT_EQ(b, want);
  // The sweep cap stops it after one sweep.
  spec.max_sweeps = 1;
  r = sdm::background_clip(std::span<const double>(s), std::span<double>(b), spec);
  EXPECT_EQ(r.sweeps, 1);
  EXPECT_EQ(b[4], 1.25);
  // No local minimum right of the centre: background 0.
  const std::vector<double> falling{5, 4, 3, 2, 1.5, 1, 0.5, 0};
  r = sdm::background_clip(std::span<const double>(falling), std::span<double>(b), spec);
  EXPECT_EQ(r.minimum, -1);
  EXPECT_EQ(b, std::vector<double>(8, 0.0));
  EXPECT_THROW(
      sdm::background_clip(std::span<const double>(s), std::span<double>(b), sdm::BackgroundSpec{1, 9, 4}),
      aptflow::ConfigError);
}

TEST(PreprocessBackground, MatchesPythonOnSmoothedCurves) {
  REQUIRE_SCIPY();
  auto c = random_curves(40, 3);
  sdm::minmax_normalise(c);
  sdm::savgol_filter(c);
  for (auto variant : {sdm::Variant::feal, sdm::Variant::cocrni}) {
    const auto spec = sdm::BackgroundSpec::of(variant);
    SCOPED_TRACE(::testing::Message() << "L:U " << spec.lo << ":" << spec.hi);
    auto ref = python_reference(c, "background",
                                fmt::format("{} {} {} {}", spec.lo, spec.hi, spec.centre, spec.max_sweeps));
    sdm::CurveRows got("got", c.extent(0), c.extent(1));
    auto results = sdm::background_clip(c, got, spec);
    expect_rows_close(got, ref.values, 1e-5);
    ASSERT_EQ(ref.meta.size(), results.size());
    int clipped = 0, none = 0;
    for (std::size_t r = 0; r < results.size(); ++r) {
      EXPECT_EQ(results[r].minimum, ref.meta[r].first) << "row " << r;
      EXPECT_EQ(results[r].sweeps, ref.meta[r].second) << "row " << r;
      clipped += results[r].sweeps > 0;
      none += results[r].minimum < 0;
    }
    EXPECT_GT(clipped, 10);
    EXPECT_EQ(results[36].minimum, -1) << "the smooth Gaussian has no minimum right of the centre";
    EXPECT_GT(none, 3);
  }
}

// ------------------------------------------------------------------ chain

TEST(PreprocessChain, MatchesPythonOnRandomCurves) {
  REQUIRE_SCIPY();
  const auto c = random_curves(48, 4);
  for (auto variant : {sdm::Variant::feal, sdm::Variant::cocrni}) {
    const auto spec = sdm::PreprocessSpec::of(variant);
    auto ref = python_reference(
        c, "preprocess",
        fmt::format("{} {} {} {} {} {} nan", spec.background.lo, spec.background.hi, spec.background.centre,
                    spec.background.max_sweeps, spec.savgol.window, spec.savgol.order));
    sdm::CurveRows got("got", c.extent(0), c.extent(1));
    Kokkos::deep_copy(got, c);
    auto results = sdm::preprocess(got, spec);
    expect_rows_close(got, ref.values, 1e-5);
    ASSERT_EQ(ref.meta.size(), results.size());
    for (std::size_t r = 0; r < results.size(); ++r) EXPECT_EQ(results[r].sweeps, ref.meta[r].second) << r;
    // Empty (all-zero), NaN and constant windows give NaN and stay NaN.
    for (int r = 45; r < 48; ++r)
      for (int k = 0; k < kBins; ++k) EXPECT_TRUE(std::isnan(got(r, k))) << r;
    // Single-curve form agrees with the batch.
    std::vector<float> one(c.data() + 5 * kBins, c.data() + 6 * kBins);
    sdm::preprocess_experimental(one, variant);
    for (int k = 0; k < kBins; ++k) EXPECT_EQ(one[k], got(5, k));
  }
}

TEST(PreprocessChain, MinmaxOnlySwitchIsTheSyntheticPath) {
  auto c = random_curves(8, 5);
  sdm::CurveRows a("a", c.extent(0), c.extent(1)), b("b", c.extent(0), c.extent(1));
  Kokkos::deep_copy(a, c);
  Kokkos::deep_copy(b, c);
  sdm::preprocess(a, sdm::PreprocessSpec::of(sdm::Variant::feal, sdm::PreprocessMode::minmax_only));
  sdm::minmax_normalise(b);
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (std::isnan(b.data()[k]))
      EXPECT_TRUE(std::isnan(a.data()[k]));
    else
      EXPECT_EQ(a.data()[k], b.data()[k]);
  }
  // The experimental path differs from min-max only on a noisy curve.
  std::vector<float> x(c.data(), c.data() + kBins), y = x;
  sdm::preprocess_experimental(x, sdm::Variant::feal);
  sdm::minmax_normalise(y);
  double diff = 0;
  for (int k = 0; k < kBins; ++k) diff += std::fabs(x[k] - y[k]);
  EXPECT_GT(diff, 0.1);
}

}  // namespace

// ------------------------------------------------- the published clipping loop

TEST(PreprocessBackground, PublishedLoopHandChecked) {
  // s = [0, 3, 0, 4, 3, 1, 2, 0], centre 4, window 1:5, minimum 5 (strict: 1 < 3, 1 < 2).
  // Sweep 1 from a copy (Jacobi): b = [0, 0, 0, 1.5, 2.5, 1, 0.5, 0], max(b[1:5]) = 2.5 > 1.
  // Sweep 2 in place: b = [0, 0, 0, 1.25, 1.125, 0.8125, 0.40625, 0], max = 1.25 > 1.
  // Sweep 3 in place: b = [0, 0, 0, 0.5625, 0.6875, 0.546875, 0.2734375, 0], max = 0.6875: stop.
  const std::vector<double> s{0, 3, 0, 4, 3, 1, 2, 0};
  std::vector<double> b(8);
  sdm::BackgroundSpec spec{1, 5, 4, 1000, sdm::BackgroundClip::published};
  auto r = sdm::background_clip(std::span<const double>(s), std::span<double>(b), spec);
  EXPECT_EQ(r.minimum, 5);
  EXPECT_EQ(r.sweeps, 3);
  EXPECT_EQ(b, (std::vector<double>{0, 0, 0, 0.5625, 0.6875, 0.546875, 0.2734375, 0}));
  // The loop breaks after the sweep that follows max_sweeps sweeps: 2 sweeps for 1, 1 for 0.
  spec.max_sweeps = 1;
  r = sdm::background_clip(std::span<const double>(s), std::span<double>(b), spec);
  EXPECT_EQ(r.sweeps, 2);
  EXPECT_EQ(b, (std::vector<double>{0, 0, 0, 1.25, 1.125, 0.8125, 0.40625, 0}));
  spec.max_sweeps = 0;
  r = sdm::background_clip(std::span<const double>(s), std::span<double>(b), spec);
  EXPECT_EQ(r.sweeps, 1);
  EXPECT_EQ(b, (std::vector<double>{0, 0, 0, 1.5, 2.5, 1, 0.5, 0}));
  // A flat bottom is no strict minimum: aptflow's rule takes index 3, the published none (b = 0).
  const std::vector<double> flat{5, 4, 3, 1, 1, 2, 0};
  sdm::BackgroundSpec a{1, 4, 2, 1000}, p{1, 4, 2, 1000, sdm::BackgroundClip::published};
  std::vector<double> bf(7);
  EXPECT_EQ(sdm::background_clip(std::span<const double>(flat), std::span<double>(bf), a).minimum, 3);
  EXPECT_EQ(sdm::background_clip(std::span<const double>(flat), std::span<double>(bf), p).minimum, -1);
  EXPECT_EQ(bf, std::vector<double>(7, 0.0));
  EXPECT_EQ(sdm::parse_background_clip("published"), sdm::BackgroundClip::published);
  EXPECT_THROW(sdm::parse_background_clip("jacobi"), aptflow::ConfigError);
}

TEST(PreprocessChain, PublishedLoopMatchesThePublishedReference) {
  // The whole experimental chain with the published clipping against
  // tests/python/published_ref.py (scipy savgol_filter, argrelextrema, the
  // script's loop); the two clipping variants differ on these curves.
  REQUIRE_SCIPY();
  const auto c = random_curves(300, 11);
  aptflow::test::TempDir dir;
  const auto src = (dir / "raw.f64").string(), dst = (dir / "out.f64").string();
  {
    std::vector<double> raw(c.data(), c.data() + c.size());
    std::ofstream f(src, std::ios::binary);
    f.write(reinterpret_cast<const char*>(raw.data()), static_cast<std::streamsize>(raw.size() * 8));
  }
  const auto script = (aptflow::test::source_dir() / "tests" / "python" / "published_ref.py").string();
  for (auto variant : {sdm::Variant::feal, sdm::Variant::cocrni}) {
    const std::string name = variant == sdm::Variant::feal ? "feal" : "cocrni";
    auto r = aptflow::test::run_command(aptflow::test::python_exe() + " " + script + " preprocess " + src +
                                        " " + dst + " " + std::to_string(kBins) + " " + name);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::vector<double> want(c.size());
    std::ifstream f(dst, std::ios::binary);
    f.read(reinterpret_cast<char*>(want.data()), static_cast<std::streamsize>(want.size() * 8));
    ASSERT_TRUE(f.good());
    sdm::CurveRows pub("pub", c.extent(0), c.extent(1)), own("own", c.extent(0), c.extent(1));
    Kokkos::deep_copy(pub, c);
    Kokkos::deep_copy(own, c);
    sdm::preprocess(pub, sdm::PreprocessSpec::of(variant, sdm::PreprocessMode::experimental,
                                                 sdm::BackgroundClip::published));
    sdm::preprocess(own, sdm::PreprocessSpec::of(variant));
    expect_rows_close(pub, want, 1e-5);
    int differ = 0;
    for (std::size_t row = 0; row < c.extent(0); ++row)
      for (std::size_t k = 0; k < c.extent(1); ++k)
        if (!std::isnan(pub(row, k)) && std::fabs(pub(row, k) - own(row, k)) > 1e-4) {
          ++differ;
          break;
        }
    EXPECT_GT(differ, 10) << name << ": the published loop should change some curves";
  }
}
