#pragma once
// Preprocessing of z-SDM curves before the CNN (method.md section 3,
// docs/preprocessing.md). Experimental curves:
//   min-max -> Savitzky-Golay (15, 8) -> background by iterative clipping ->
//   subtract -> min-max.
// Synthetic training curves get min-max only (the published mismatch,
// reproduced by default, switchable with PreprocessMode).
//
// All functions work on float curves in place, compute in double precision
// internally, and come as a single-curve form (std::span) and a batch form
// over the rows of a (samples x bins) host array. NaN convention: a curve
// holding any NaN is "empty" (an empty window) and comes out all NaN, except
// for minmax_normalise alone, which ignores NaN bins and leaves them NaN.
#include <Kokkos_Core.hpp>
#include <span>
#include <string>
#include <vector>

#include "aptflow/kernels/preprocess.hpp"

namespace aptflow::sdm {

// (samples, bins) curves, one per row.
using CurveRows = Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace>;

// What min-max does with a curve whose finite values are all equal
// (max == min): `nan` reproduces the published Python ((x - min) / 0), so an
// empty window (all-zero SDM) becomes NaN; `zeros` maps it to 0.
enum class ConstantCurve { nan, zeros };

// x -> (x - min) / (max - min) over the non-NaN bins; NaN bins stay NaN; an
// all-NaN curve stays all NaN.
void minmax_normalise(std::span<float> curve, ConstantCurve constant = ConstantCurve::nan);
void minmax_normalise(const CurveRows& rows, ConstantCurve constant = ConstantCurve::nan);

struct SavgolSpec {
  int window = 15;  // odd, > order, <= number of bins
  int order = 8;
};

// Savitzky-Golay smoothing identical to scipy.signal.savgol_filter(x, window,
// order) with mode='interp': interior points use the least-squares fit of a
// degree-`order` polynomial to the centred window; the first and last
// window/2 points are evaluated on the fit to the first / last `window` points.
class SavgolFilter {
 public:
  // Throws ConfigError ("preprocess.savgol") for an even window or order >= window.
  explicit SavgolFilter(const SavgolSpec& spec = {});
  const SavgolSpec& spec() const { return spec_; }
  // Row p of the hat matrix H = A (A^T A)^-1 A^T of the window (A = Vandermonde
  // matrix of the window positions): the weights giving the fitted value at
  // window position p. Row window/2 is scipy.signal.savgol_coeffs(window, order).
  std::span<const double> weights(int position) const;
  // out = smoothed in; in.size() == out.size() >= window (ConfigError otherwise).
  void apply(std::span<const double> in, std::span<double> out) const;

 private:
  SavgolSpec spec_;
  std::vector<double> hat_;  // window x window, row-major
};

void savgol_filter(std::span<float> curve, const SavgolSpec& spec = {});
void savgol_filter(const CurveRows& rows, const SavgolSpec& spec = {});

// Background estimation by iterative clipping on a smoothed curve s
// (clip = aptflow, the default):
//   m = first local minimum of s right of the centre: the smallest index
//       m > centre with s[m] < s[m-1] and s[m] <= s[m+1];
//   no such m -> background b = 0;
//   else b = s, and while max(b[lo:hi]) > s[m] (Python slice: indices lo..hi-1)
//   and fewer than max_sweeps sweeps were done, one Gauss-Seidel sweep:
//       for k = 1 .. n-2 in increasing order: b[k] = min(b[k], (b[k-1] + b[k+1]) / 2)
//   (in place: b[k-1] is already this sweep's value; end points stay fixed).
// clip = published: the loop of the published code (zsdm_utils_v2.py,
// exp_data_processing_parallel), exactly:
//   m = the first STRICT local minimum right of the centre
//       (scipy.signal.argrelextrema(s, np.less): s[m] < s[m-1] and s[m] < s[m+1]);
//   the first sweep reads a copy of s (Jacobi: b[k-1] is the old value), the
//   later ones work in place (the script rebinds its copy to the output array
//   after one sweep); the loop breaks after the sweep that follows max_sweeps
//   sweeps, so up to max_sweeps + 1 (1001) sweeps.
enum class Variant { feal, cocrni };
enum class BackgroundClip { aptflow, published };
// "aptflow" | "published"; ConfigError(key) otherwise.
BackgroundClip parse_background_clip(const std::string& text,
                                     const std::string& key = "preprocess.background");
const char* background_clip_name(BackgroundClip c);
struct BackgroundSpec {
  int lo = 37, hi = 53;  // window L:U in which the background must drop below s[m]
  int centre = 46;       // the minimum is searched at indices > centre
  int max_sweeps = 1000;
  BackgroundClip clip = BackgroundClip::aptflow;
  static BackgroundSpec of(Variant v,
                           BackgroundClip clip = BackgroundClip::aptflow);  // feal: 37:53, cocrni: 23:69
};
struct BackgroundResult {
  int minimum = -1;  // index m of the local minimum, -1 if none (b = 0)
  int sweeps = 0;    // clipping sweeps done
};
// background.size() == smoothed.size(); a curve with NaN gives an all-NaN
// background (minimum -1, sweeps 0).
BackgroundResult background_clip(std::span<const double> smoothed, std::span<double> background,
                                 const BackgroundSpec& spec);
BackgroundResult background_clip(std::span<const float> smoothed, std::span<float> background,
                                 const BackgroundSpec& spec);
// Batch form: background(r, :) of smoothed(r, :); returns one result per row.
std::vector<BackgroundResult> background_clip(const CurveRows& smoothed, const CurveRows& background,
                                              const BackgroundSpec& spec);

enum class PreprocessMode {
  experimental,  // min-max -> savgol -> background subtraction -> min-max
  minmax_only,   // min-max only (what the published synthetic training curves got)
  none,          // the raw counts
};
// "experimental" | "minmax_only" | "none"; ConfigError(key) otherwise.
PreprocessMode parse_preprocess_mode(const std::string& text, const std::string& key = "preprocess.mode");
const char* preprocess_mode_name(PreprocessMode m);
struct PreprocessSpec {
  PreprocessMode mode = PreprocessMode::experimental;
  SavgolSpec savgol;
  BackgroundSpec background;
  ConstantCurve constant = ConstantCurve::nan;
  static PreprocessSpec of(Variant v, PreprocessMode mode = PreprocessMode::experimental,
                           BackgroundClip clip = BackgroundClip::aptflow);
  // The raw counts (PreprocessMode::none): what feature files and libraries store.
  static PreprocessSpec none() {
    PreprocessSpec s;
    s.mode = PreprocessMode::none;
    return s;
  }
};

// The whole chain on one curve, in place, in double precision throughout;
// NaN anywhere in the input -> all NaN. Returns the background result (minimum
// -1, sweeps 0 for minmax_only or NaN curves).
BackgroundResult preprocess(std::span<float> curve, const PreprocessSpec& spec);
// The experimental chain on one curve (spec.mode is ignored).
BackgroundResult preprocess_experimental(std::span<float> curve, Variant variant);
// Batch over rows (Kokkos host parallel_for "aptflow::sdm::preprocess");
// one background result per row.
std::vector<BackgroundResult> preprocess(const CurveRows& rows, const PreprocessSpec& spec);

// spec in the form of the per-curve kernel (aptflow/kernels/preprocess.hpp,
// which every function above runs on: the same bits on the host and on a
// device), with the Savitzky-Golay weights (window x window, row-major;
// empty unless experimental). Checks spec against curves of `bins` bins
// (ConfigError) as preprocess does.
struct PreprocessKernel {
  curve::ChainSpec chain;
  std::vector<double> hat;
};
PreprocessKernel preprocess_kernel(const PreprocessSpec& spec, std::size_t bins);

// The preprocessing of one feature channel's rows by spec.mode, in place: the
// one dispatch of classify, predict and train. none: unchanged; minmax_only:
// min-max per row (a constant row becomes NaN, an empty window);
// experimental: the chain above, for 1D curves only (curve_rank 1; otherwise
// ConfigError(key) naming minmax_only).
void preprocess_channel(const CurveRows& rows, const PreprocessSpec& spec, int curve_rank = 1,
                        const std::string& key = "preprocess.mode");

}  // namespace aptflow::sdm
