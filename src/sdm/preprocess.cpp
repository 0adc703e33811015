// z-SDM curve preprocessing (method.md section 3): min-max, Savitzky-Golay,
// background by iterative clipping. See include/aptflow/sdm/preprocess.hpp
// and docs/preprocessing.md.
#include "aptflow/sdm/preprocess.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "aptflow/core/error.hpp"
#include "aptflow/kernels/preprocess.hpp"

namespace aptflow::sdm {

namespace {

curve::ChainSpec background_chain(const BackgroundSpec& b) {
  curve::ChainSpec c;
  c.lo = b.lo;
  c.hi = b.hi;
  c.centre = b.centre;
  c.max_sweeps = b.max_sweeps;
  c.published = b.clip == BackgroundClip::published;
  return c;
}

BackgroundResult result_of(const curve::ClipResult& r) { return {r.minimum, r.sweeps}; }

void check_background_spec(const BackgroundSpec& s, std::size_t n) {
  const auto bins = static_cast<int>(n);
  if (s.lo < 0 || s.lo >= s.hi || s.hi > bins || s.centre < 0 || s.max_sweeps < 0 || bins < 3)
    throw ConfigError(
        "preprocess.background",
        fmt::format("window {}:{}, centre {}, max_sweeps {} do not fit a curve of {} bins: need "
                    "0 <= lo < hi <= bins, centre >= 0, max_sweeps >= 0, bins >= 3",
                    s.lo, s.hi, s.centre, s.max_sweeps, bins));
}

void check_savgol_fits(const SavgolSpec& s, std::size_t bins) {
  if (bins < static_cast<std::size_t>(s.window))
    throw ConfigError("preprocess.savgol",
                      fmt::format("window {} is longer than the curves ({} bins): use a window <= the bins "
                                  "(scipy's mode='interp' has the same limit)",
                                  s.window, bins));
}

// Exact rationals on __int128 for the Savitzky-Golay weights; any overflow
// throws Overflow (the caller then takes the floating-point path).
struct Overflow {};
struct Rational {
  __int128 n = 0, d = 1;  // d > 0, gcd(n, d) = 1
  static __int128 gcd(__int128 a, __int128 b) {
    if (a < 0) a = -a;
    while (b != 0) {
      const __int128 t = a % b;
      a = b;
      b = t < 0 ? -t : t;
    }
    return a;
  }
  static __int128 mul(__int128 a, __int128 b) {
    __int128 r;
    if (__builtin_mul_overflow(a, b, &r)) throw Overflow{};
    return r;
  }
  static __int128 add(__int128 a, __int128 b) {
    __int128 r;
    if (__builtin_add_overflow(a, b, &r)) throw Overflow{};
    return r;
  }
  static Rational make(__int128 n, __int128 d) {
    if (d == 0) throw Overflow{};
    if (d < 0) n = -n, d = -d;
    const __int128 g = gcd(n, d);
    return g > 1 ? Rational{n / g, d / g} : Rational{n, d};
  }
  Rational operator+(const Rational& o) const { return make(add(mul(n, o.d), mul(o.n, d)), mul(d, o.d)); }
  Rational operator-(const Rational& o) const { return *this + Rational{-o.n, o.d}; }
  Rational operator*(const Rational& o) const { return make(mul(n, o.n), mul(d, o.d)); }
  Rational operator/(const Rational& o) const { return make(mul(n, o.d), mul(d, o.n)); }
  // The double nearest to n / d: exact operands give a correctly rounded quotient.
  double value() const {
    constexpr __int128 kExact = __int128{1} << 53;
    if (n < kExact && -n < kExact && d < kExact) return static_cast<double>(n) / static_cast<double>(d);
    return static_cast<double>(static_cast<long double>(n) / static_cast<long double>(d));
  }
};

// The hat matrix of a Savitzky-Golay window in exact rational arithmetic
// (Gram-Schmidt of the monomials over the integer positions -half .. half),
// each weight rounded once to the nearest double. Empty when a number does
// not fit 128 bits (long windows at high order).
std::vector<double> exact_hat_matrix(int w, int order) {
  const int half = w / 2, k = order + 1;
  try {
    std::vector<std::vector<Rational>> q;  // orthogonal polynomials at the positions
    std::vector<Rational> norm;
    for (int c = 0; c < k; ++c) {
      std::vector<Rational> v(static_cast<std::size_t>(w));
      for (int j = 0; j < w; ++j) {
        __int128 x = 1;
        for (int e = 0; e < c; ++e) x = Rational::mul(x, j - half);
        v[static_cast<std::size_t>(j)] = Rational{x, 1};
      }
      for (int p = 0; p < c; ++p) {
        Rational dot;
        for (int j = 0; j < w; ++j)
          dot = dot +
                v[static_cast<std::size_t>(j)] * q[static_cast<std::size_t>(p)][static_cast<std::size_t>(j)];
        const Rational coef = dot / norm[static_cast<std::size_t>(p)];
        for (int j = 0; j < w; ++j)
          v[static_cast<std::size_t>(j)] = v[static_cast<std::size_t>(j)] -
                                           coef * q[static_cast<std::size_t>(p)][static_cast<std::size_t>(j)];
      }
      Rational nn;
      for (const auto& x : v) nn = nn + x * x;
      if (nn.n == 0) return {};
      q.push_back(std::move(v));
      norm.push_back(nn);
    }
    std::vector<double> hat(static_cast<std::size_t>(w * w));
    for (int p = 0; p < w; ++p)
      for (int j = 0; j < w; ++j) {
        Rational h;
        for (int c = 0; c < k; ++c)
          h = h + q[static_cast<std::size_t>(c)][static_cast<std::size_t>(p)] *
                      q[static_cast<std::size_t>(c)][static_cast<std::size_t>(j)] /
                      norm[static_cast<std::size_t>(c)];
        hat[static_cast<std::size_t>(p * w + j)] = h.value();
      }
    return hat;
  } catch (const Overflow&) {
    return {};
  }
}

std::span<float> row_of(const CurveRows& rows, std::size_t r) {
  return {rows.data() + r * rows.extent(1), rows.extent(1)};
}

}  // namespace

// ---------------------------------------------------------------- min-max

void minmax_normalise(std::span<float> curve, ConstantCurve constant) {
  std::vector<double> v(curve.begin(), curve.end());
  curve::minmax(v.data(), static_cast<int>(v.size()), constant == ConstantCurve::nan);
  std::transform(v.begin(), v.end(), curve.begin(), [](double x) { return static_cast<float>(x); });
}

void minmax_normalise(const CurveRows& rows, ConstantCurve constant) {
  Kokkos::parallel_for("aptflow::sdm::minmax",
                       Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, rows.extent(0)),
                       [=](std::size_t r) { minmax_normalise(row_of(rows, r), constant); });
  Kokkos::DefaultHostExecutionSpace().fence();
}

// ---------------------------------------------------------- Savitzky-Golay

SavgolFilter::SavgolFilter(const SavgolSpec& spec) : spec_(spec) {
  const int w = spec.window, k = spec.order + 1;
  if (w < 1 || w % 2 == 0 || spec.order < 0 || spec.order >= w)
    throw ConfigError("preprocess.savgol",
                      fmt::format("window {} / order {}: the window must be odd and the order in [0, window)",
                                  spec.window, spec.order));
  // The exact weights, each the double nearest to its rational value (so any
  // implementation that rounds them correctly has the same bits: the
  // published clipping loop can turn a last-bit difference of the smoothed
  // curve into another number of sweeps). Windows whose rationals do not
  // fit 128 bits fall back to the floating-point construction below.
  hat_ = exact_hat_matrix(w, spec.order);
  if (!hat_.empty()) return;
  // Orthonormal basis Q (w x k) of the columns of the Vandermonde matrix of
  // the window positions, scaled to [-1, 1] for conditioning (the column
  // space, hence the hat matrix Q Q^T, does not depend on the scaling).
  // Modified Gram-Schmidt with one re-orthogonalisation pass, in double.
  const int half = w / 2;
  const double scale = half > 0 ? half : 1;
  std::vector<double> q(static_cast<std::size_t>(w * k));  // column-major: q[c * w + j]
  for (int c = 0; c < k; ++c) {
    double* col = &q[static_cast<std::size_t>(c * w)];
    for (int j = 0; j < w; ++j) col[j] = std::pow((j - half) / scale, c);
    for (int pass = 0; pass < 2; ++pass)
      for (int p = 0; p < c; ++p) {
        const double* prev = &q[static_cast<std::size_t>(p * w)];
        double dot = 0;
        for (int j = 0; j < w; ++j) dot += prev[j] * col[j];
        for (int j = 0; j < w; ++j) col[j] -= dot * prev[j];
      }
    double norm = 0;
    for (int j = 0; j < w; ++j) norm += col[j] * col[j];
    norm = std::sqrt(norm);
    if (!(norm > 1e-12))
      throw InternalError(fmt::format(
          "SavgolFilter: Vandermonde matrix of window {} order {} is rank deficient", w, spec.order));
    for (int j = 0; j < w; ++j) col[j] /= norm;
  }
  hat_.assign(static_cast<std::size_t>(w * w), 0.0);
  for (int p = 0; p < w; ++p)
    for (int j = 0; j < w; ++j) {
      double h = 0;
      for (int c = 0; c < k; ++c)
        h += q[static_cast<std::size_t>(c * w + p)] * q[static_cast<std::size_t>(c * w + j)];
      hat_[static_cast<std::size_t>(p * w + j)] = h;
    }
}

std::span<const double> SavgolFilter::weights(int position) const {
  APTFLOW_ASSERT(position >= 0 && position < spec_.window, "Savitzky-Golay weight row outside the window");
  return {hat_.data() + static_cast<std::size_t>(position * spec_.window),
          static_cast<std::size_t>(spec_.window)};
}

void SavgolFilter::apply(std::span<const double> in, std::span<double> out) const {
  const std::size_t n = in.size(), w = static_cast<std::size_t>(spec_.window);
  if (out.size() != n) throw InternalError("SavgolFilter::apply: input and output sizes differ");
  check_savgol_fits(spec_, n);
  curve::savgol(hat_.data(), static_cast<int>(w), in.data(), out.data(), static_cast<int>(n));
}

void savgol_filter(std::span<float> curve, const SavgolSpec& spec) {
  SavgolFilter f(spec);
  std::vector<double> in(curve.begin(), curve.end()), out(curve.size());
  f.apply(in, out);
  std::transform(out.begin(), out.end(), curve.begin(), [](double x) { return static_cast<float>(x); });
}

void savgol_filter(const CurveRows& rows, const SavgolSpec& spec) {
  const SavgolFilter f(spec);
  const std::size_t bins = rows.extent(1);
  if (rows.extent(0) > 0) check_savgol_fits(spec, bins);
  Kokkos::parallel_for(
      "aptflow::sdm::savgol", Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, rows.extent(0)),
      [=, &f](std::size_t r) {
        auto row = row_of(rows, r);
        std::vector<double> in(row.begin(), row.end()), out(bins);
        f.apply(in, out);
        std::transform(out.begin(), out.end(), row.begin(), [](double x) { return static_cast<float>(x); });
      });
  Kokkos::DefaultHostExecutionSpace().fence();
}

// -------------------------------------------------------------- background

BackgroundClip parse_background_clip(const std::string& text, const std::string& key) {
  if (text == "aptflow") return BackgroundClip::aptflow;
  if (text == "published") return BackgroundClip::published;
  throw ConfigError(key, fmt::format("unknown background clipping '{}': use \"aptflow\" or \"published\" "
                                     "(the published loop, docs/preprocessing.md)",
                                     text));
}

PreprocessMode parse_preprocess_mode(const std::string& text, const std::string& key) {
  if (text == "experimental") return PreprocessMode::experimental;
  if (text == "minmax_only") return PreprocessMode::minmax_only;
  if (text == "none") return PreprocessMode::none;
  throw ConfigError(
      key, fmt::format("'{}' is not one of none, minmax_only, experimental (docs/preprocessing.md)", text));
}

const char* preprocess_mode_name(PreprocessMode m) {
  return m == PreprocessMode::experimental  ? "experimental"
         : m == PreprocessMode::minmax_only ? "minmax_only"
                                            : "none";
}

const char* background_clip_name(BackgroundClip c) {
  return c == BackgroundClip::published ? "published" : "aptflow";
}

BackgroundSpec BackgroundSpec::of(Variant v, BackgroundClip clip) {
  BackgroundSpec s;  // FeAl (Li et al. 2023): L:U = 37:53
  s.clip = clip;
  if (v == Variant::cocrni) {
    s.lo = 23;  // CoCrNi (arXiv 2303.13433): L:U = 23:69
    s.hi = 69;
  }
  return s;
}

BackgroundResult background_clip(std::span<const double> smoothed, std::span<double> background,
                                 const BackgroundSpec& spec) {
  if (background.size() != smoothed.size())
    throw InternalError("background_clip: sizes of curve and background differ");
  check_background_spec(spec, smoothed.size());
  std::vector<double> next(smoothed.size());
  return result_of(curve::background(smoothed.data(), background.data(), next.data(),
                                     static_cast<int>(smoothed.size()), background_chain(spec)));
}

BackgroundResult background_clip(std::span<const float> smoothed, std::span<float> background,
                                 const BackgroundSpec& spec) {
  std::vector<double> s(smoothed.begin(), smoothed.end()), b(s.size());
  if (background.size() != smoothed.size())
    throw InternalError("background_clip: sizes of curve and background differ");
  auto r = background_clip(std::span<const double>(s), std::span<double>(b), spec);
  std::transform(b.begin(), b.end(), background.begin(), [](double x) { return static_cast<float>(x); });
  return r;
}

std::vector<BackgroundResult> background_clip(const CurveRows& smoothed, const CurveRows& background,
                                              const BackgroundSpec& spec) {
  if (background.extent(0) != smoothed.extent(0) || background.extent(1) != smoothed.extent(1))
    throw InternalError("background_clip: extents of curves and backgrounds differ");
  std::vector<BackgroundResult> results(smoothed.extent(0));
  if (smoothed.extent(0) == 0) return results;
  check_background_spec(spec, smoothed.extent(1));
  BackgroundResult* res = results.data();
  const curve::ChainSpec chain = background_chain(spec);
  Kokkos::parallel_for(
      "aptflow::sdm::background",
      Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, smoothed.extent(0)), [=](std::size_t r) {
        auto in = row_of(smoothed, r);
        auto out = row_of(background, r);
        std::vector<double> s(in.begin(), in.end()), b(s.size()), next(s.size());
        res[r] =
            result_of(curve::background(s.data(), b.data(), next.data(), static_cast<int>(s.size()), chain));
        std::transform(b.begin(), b.end(), out.begin(), [](double x) { return static_cast<float>(x); });
      });
  Kokkos::DefaultHostExecutionSpace().fence();
  return results;
}

// ------------------------------------------------------------------ chain

PreprocessSpec PreprocessSpec::of(Variant v, PreprocessMode mode, BackgroundClip clip) {
  PreprocessSpec s;
  s.mode = mode;
  s.background = BackgroundSpec::of(v, clip);
  return s;
}

BackgroundResult preprocess(std::span<float> curve, const PreprocessSpec& spec) {
  if (spec.mode == PreprocessMode::none) return {};
  const PreprocessKernel k = preprocess_kernel(spec, curve.size());
  const std::size_t n = curve.size();
  std::vector<double> v(curve.begin(), curve.end()), work(3 * n);
  const curve::ClipResult r =
      curve::preprocess_curve(v.data(), work.data(), work.data() + n, work.data() + 2 * n,
                              static_cast<int>(n), k.chain, k.hat.data());
  std::transform(v.begin(), v.end(), curve.begin(), [](double x) { return static_cast<float>(x); });
  return result_of(r);
}

BackgroundResult preprocess_experimental(std::span<float> curve, Variant variant) {
  return preprocess(curve, PreprocessSpec::of(variant, PreprocessMode::experimental));
}

std::vector<BackgroundResult> preprocess(const CurveRows& rows, const PreprocessSpec& spec) {
  std::vector<BackgroundResult> results(rows.extent(0));
  if (rows.extent(0) == 0 || spec.mode == PreprocessMode::none) return results;
  const PreprocessKernel k = preprocess_kernel(spec, rows.extent(1));
  const Kokkos::View<const double*, Kokkos::HostSpace> hat(k.hat.data(), k.hat.size());
  Kokkos::View<curve::ClipResult*, Kokkos::HostSpace> clip("aptflow::sdm::clip_results", rows.extent(0));
  curve::preprocess_rows(Kokkos::DefaultHostExecutionSpace(), rows, k.chain, hat, clip);
  for (std::size_t r = 0; r < results.size(); ++r) results[r] = result_of(clip(r));
  return results;
}

PreprocessKernel preprocess_kernel(const PreprocessSpec& spec, std::size_t bins) {
  PreprocessKernel k;
  k.chain = background_chain(spec.background);
  k.chain.mode = spec.mode == PreprocessMode::none          ? curve::Chain::none
                 : spec.mode == PreprocessMode::minmax_only ? curve::Chain::minmax
                                                            : curve::Chain::experimental;
  k.chain.constant_nan = spec.constant == ConstantCurve::nan;
  k.chain.window = spec.savgol.window;
  if (spec.mode != PreprocessMode::experimental) return k;
  check_background_spec(spec.background, bins);
  const SavgolFilter f(spec.savgol);
  check_savgol_fits(spec.savgol, bins);
  for (int p = 0; p < spec.savgol.window; ++p) {
    const auto w = f.weights(p);
    k.hat.insert(k.hat.end(), w.begin(), w.end());
  }
  return k;
}

void preprocess_channel(const CurveRows& rows, const PreprocessSpec& spec, int curve_rank,
                        const std::string& key) {
  if (rows.extent(0) == 0 || spec.mode == PreprocessMode::none) return;
  if (spec.mode == PreprocessMode::minmax_only) {
    minmax_normalise(rows, ConstantCurve::nan);
    return;
  }
  if (curve_rank != 1)
    throw ConfigError(
        key,
        "the experimental preprocessing (smoothing, background) applies to 1D z-SDM curves only; "
        "use minmax_only");
  (void)preprocess(rows, spec);
}

}  // namespace aptflow::sdm
