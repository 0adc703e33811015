#pragma once
// The z-SDM curve preprocessing of method.md section 3 (docs/preprocessing.md)
// as functions of one curve that run on the host and on a device, and the
// batch kernel over the rows of a (samples x bins) View on any execution
// space. aptflow/sdm/preprocess.hpp (the configuration, the exact
// Savitzky-Golay weights, the checks) runs its host API on these, and
// classify's device path runs the same kernel on the GPU: one
// implementation, the same bits on every backend (double arithmetic in a
// fixed order; CUDA builds use -fmad=false).
//
// NaN convention: a curve holding any NaN is empty and comes out all NaN
// (min-max alone ignores NaN bins and leaves them NaN).
#include <Kokkos_Core.hpp>
#include <cstdint>

namespace aptflow::curve {

enum class Chain : int {
  none,          // unchanged
  minmax,        // min-max only
  experimental,  // min-max -> Savitzky-Golay -> background subtraction -> min-max
};

// The chain's parameters (sdm::PreprocessSpec, validated there).
struct ChainSpec {
  Chain mode = Chain::experimental;
  bool constant_nan = true;  // a constant curve becomes NaN (else 0)
  int window = 15;           // Savitzky-Golay window (odd)
  int lo = 37, hi = 53;      // background: the peak window [lo, hi)
  int centre = 46;           // the minimum is searched right of it
  int max_sweeps = 1000;
  bool published = false;  // the published clipping loop (sdm::BackgroundClip::published)
};

struct ClipResult {
  int minimum = -1;  // the local minimum's index, -1: none (background 0)
  int sweeps = 0;
};

KOKKOS_INLINE_FUNCTION bool is_nan(double x) { return x != x; }  // no FE_INVALID
KOKKOS_INLINE_FUNCTION double nan_value() { return __builtin_nan(""); }

KOKKOS_INLINE_FUNCTION bool any_nan(const double* v, int n) {
  for (int i = 0; i < n; ++i)
    if (is_nan(v[i])) return true;
  return false;
}

KOKKOS_INLINE_FUNCTION void fill_nan(double* v, int n) {
  for (int i = 0; i < n; ++i) v[i] = nan_value();
}

// x -> (x - min) / (max - min) over the non-NaN values; NaN stays NaN; a
// constant curve becomes NaN (constant_nan) or 0. No arithmetic touches a
// NaN and no 0/0 is formed.
KOKKOS_INLINE_FUNCTION void minmax(double* v, int n, bool constant_nan) {
  bool found = false;
  double lo = 0, hi = 0;
  for (int i = 0; i < n; ++i) {
    const double x = v[i];
    if (is_nan(x)) continue;
    if (!found) {
      lo = hi = x;
      found = true;
    } else {
      lo = x < lo ? x : lo;
      hi = hi < x ? x : hi;
    }
  }
  if (!found) return;
  const double range = hi - lo;
  for (int i = 0; i < n; ++i) {
    if (is_nan(v[i])) continue;
    if (range > 0)
      v[i] = (v[i] - lo) / range;
    else
      v[i] = constant_nan ? nan_value() : 0.0;
  }
}

// out = the Savitzky-Golay smoothing of in (n >= w bins) with the hat matrix
// hat (w x w, row-major; row p: the weights of the fitted value at window
// position p); the first and last w / 2 points are evaluated on the fit to
// the first / last w points (scipy's mode='interp'). NaN in -> all NaN.
KOKKOS_INLINE_FUNCTION void savgol(const double* hat, int w, const double* in, double* out, int n) {
  if (any_nan(in, n)) {
    fill_nan(out, n);
    return;
  }
  const int half = w / 2;
  for (int i = 0; i < n; ++i) {
    int position = half, first = i - half;
    if (i < half) {
      position = i;
      first = 0;
    } else if (i + half >= n) {
      position = i - (n - w);
      first = n - w;
    }
    const double* h = hat + position * w;
    double acc = 0;
    for (int j = 0; j < w; ++j) acc += h[j] * in[first + j];
    out[i] = acc;
  }
}

KOKKOS_INLINE_FUNCTION double peak(const double* b, int lo, int hi) {
  double m = b[lo];
  for (int k = lo + 1; k < hi; ++k) m = m < b[k] ? b[k] : m;
  return m;
}

// The background b of a smoothed curve s by iterative clipping
// (sdm/preprocess.hpp background_clip; next: n doubles of scratch for the
// published loop's first sweep). NaN in s -> all NaN.
KOKKOS_INLINE_FUNCTION ClipResult background(const double* s, double* b, double* next, int n,
                                             const ChainSpec& spec) {
  ClipResult r;
  if (any_nan(s, n)) {
    fill_nan(b, n);
    return r;
  }
  for (int i = spec.centre + 1; i + 1 < n; ++i)
    if (s[i] < s[i - 1] && (spec.published ? s[i] < s[i + 1] : s[i] <= s[i + 1])) {
      r.minimum = i;
      break;
    }
  if (r.minimum < 0) {
    for (int i = 0; i < n; ++i) b[i] = 0.0;
    return r;
  }
  for (int i = 0; i < n; ++i) b[i] = s[i];
  const double level = s[r.minimum];
  if (spec.published) {
    // while max(b[lo:hi]) > s[m]: sweep; if ite == max_sweeps: break; ite += 1.
    // Sweep 1 reads the old values (Jacobi); the later ones are in place.
    for (int i = 0; i < n; ++i) next[i] = s[i];
    while (peak(b, spec.lo, spec.hi) > level) {
      if (r.sweeps == 0) {
        for (int k = 1; k + 1 < n; ++k) {
          const double m = (b[k - 1] + b[k + 1]) / 2;
          next[k] = m < b[k] ? m : b[k];
        }
        for (int i = 0; i < n; ++i) b[i] = next[i];
      } else {
        for (int k = 1; k + 1 < n; ++k) {
          const double m = (b[k - 1] + b[k + 1]) / 2;
          b[k] = m < b[k] ? m : b[k];
        }
      }
      ++r.sweeps;
      if (r.sweeps == spec.max_sweeps + 1) break;
    }
    return r;
  }
  while (r.sweeps < spec.max_sweeps && peak(b, spec.lo, spec.hi) > level) {
    // Gauss-Seidel: in place, increasing index, end points fixed.
    for (int k = 1; k + 1 < n; ++k) {
      const double m = (b[k - 1] + b[k + 1]) / 2;
      b[k] = m < b[k] ? m : b[k];
    }
    ++r.sweeps;
  }
  return r;
}

// The whole chain on one curve v (n doubles, in place); s, b, next: n doubles
// of scratch each; hat: the Savitzky-Golay weights (experimental only).
KOKKOS_INLINE_FUNCTION ClipResult preprocess_curve(double* v, double* s, double* b, double* next, int n,
                                                   const ChainSpec& spec, const double* hat) {
  if (spec.mode == Chain::none) return {};
  if (any_nan(v, n)) {
    fill_nan(v, n);
    return {};
  }
  minmax(v, n, spec.constant_nan);
  if (spec.mode == Chain::minmax) return {};
  if (any_nan(v, n)) {  // a constant curve under constant_nan: an empty window
    fill_nan(v, n);
    return {};
  }
  savgol(hat, spec.window, v, s, n);
  const ClipResult r = background(s, b, next, n, spec);
  for (int k = 0; k < n; ++k) v[k] = s[k] - b[k];
  minmax(v, n, spec.constant_nan);
  return r;
}

// The chain on every row of rows (in place, float in, double inside) on
// Exec, in blocks of at most `block` rows (scratch: 4 doubles per bin and
// row of a block, in Mem); results: one per row, or extent 0. hat: the
// Savitzky-Golay weights in Mem (experimental; may be empty otherwise).
template <class Exec, class Mem>
void preprocess_rows(const Exec& exec, const Kokkos::View<float**, Kokkos::LayoutRight, Mem>& rows,
                     const ChainSpec& spec, const Kokkos::View<const double*, Mem>& hat,
                     const Kokkos::View<ClipResult*, Mem>& results, std::int64_t block = 16384) {
  const std::int64_t m = static_cast<std::int64_t>(rows.extent(0));
  const int n = static_cast<int>(rows.extent(1));
  if (m == 0 || spec.mode == Chain::none) return;
  const std::int64_t rows_per = m < block ? m : block;
  Kokkos::View<double**, Kokkos::LayoutRight, Mem> work(
      Kokkos::view_alloc("aptflow::curve::preprocess_work", Kokkos::WithoutInitializing), rows_per,
      4 * static_cast<std::int64_t>(n));
  const bool keep = results.extent(0) > 0;
  for (std::int64_t first = 0; first < m; first += rows_per) {
    const std::int64_t count = m - first < rows_per ? m - first : rows_per;
    Kokkos::parallel_for(
        "aptflow::curve::preprocess", Kokkos::RangePolicy<Exec>(exec, 0, count),
        KOKKOS_LAMBDA(const std::int64_t q) {
          const std::int64_t r = first + q;
          double* v = &work(q, 0);
          for (int k = 0; k < n; ++k) v[k] = rows(r, k);
          const ClipResult c = preprocess_curve(v, v + n, v + 2 * n, v + 3 * n, n, spec, hat.data());
          for (int k = 0; k < n; ++k) rows(r, k) = static_cast<float>(v[k]);
          if (keep) results(r) = c;
        });
  }
  exec.fence();
}

// The feature rows of a block of window counts: values(k, q) = counts(k, q)
// as float, or NaN for a window without centre ions (centres(k) <= 0: an
// empty window, not classified; sdm::EmptyRule::nan).
template <class Exec, class Mem>
void counts_to_rows(const Exec& exec, const Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem>& counts,
                    const Kokkos::View<std::int64_t*, Mem>& centres,
                    const Kokkos::View<float**, Kokkos::LayoutRight, Mem>& values) {
  const std::int64_t m = static_cast<std::int64_t>(counts.extent(0)),
                     n = static_cast<std::int64_t>(counts.extent(1));
  Kokkos::parallel_for(
      "aptflow::curve::counts_to_rows", Kokkos::RangePolicy<Exec>(exec, 0, m * n),
      KOKKOS_LAMBDA(const std::int64_t i) {
        const std::int64_t k = i / n, q = i % n;
        values(k, q) = centres(k) <= 0 ? static_cast<float>(nan_value()) : static_cast<float>(counts(k, q));
      });
}

}  // namespace aptflow::curve
