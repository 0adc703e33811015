#pragma once
// The network batch of one chunk of classify's windows on any execution
// space (issue 13: the device path of classify keeps the preprocessed rows
// where they were made; docs/classify.md "GPU"):
//
//   feat (m x C*B)  --assemble_window_batch-->  x (block x B*C) + valid (m)
//   x  --the ensemble's forward passes-->  sum (block x K), model by model
//   sum --ensemble_mean-->  prob (m x K)
//   feat, prob --class_feature_sums-->  the mean SDM's fixed-point sums per class
//
// Only prob and the sums (K x C*B integers) need to leave the device. The
// same rules as the host path (classify_pass.cpp, nn::predict_ensemble_aligned,
// detail::MeanSdm), written once here as functions of one value where both
// use them: window_class, mean_sdm_fixed.
#include <Kokkos_Core.hpp>
#include <cstdint>

#include "aptflow/kernels/preprocess.hpp"

namespace aptflow {

// The class of one window's probabilities p[0..K): the first maximum
// (strictly greater wins), -1 when p[0] is NaN (a window not classified).
KOKKOS_INLINE_FUNCTION std::int32_t window_class(const float* p, std::int64_t K) {
  if (curve::is_nan(p[0])) return -1;
  std::int32_t best = 0;
  for (std::int64_t q = 1; q < K; ++q)
    if (p[q] > p[best]) best = static_cast<std::int32_t>(q);
  return best;
}

// A feature value as the mean SDM sums it: clamped to +-2^30, times 2^32,
// rounded half away from zero (std::llround without the library call:
// truncation, then the exact remainder decides). |result| <= 2^62.
KOKKOS_INLINE_FUNCTION std::int64_t mean_sdm_fixed(float value) {
  double v = static_cast<double>(value);
  v = v < -1073741824.0 ? -1073741824.0 : v > 1073741824.0 ? 1073741824.0 : v;
  const double x = v * 4294967296.0;
  std::int64_t i = static_cast<std::int64_t>(x);
  const double d = x - static_cast<double>(i);
  i += (d >= 0.5) - (d <= -0.5);
  return i;
}

// valid(k) = 1 when window k of the chunk is classified: not done(k) and
// every value of feat(k, :) finite. x = zeros, except row row0 + k of a
// valid window, which holds its features channels last: x(row0 + k, q * C +
// ch) = feat(k, ch * B + q) with B = feat.extent(1) / C. Returns the number
// of valid windows (fenced). Requires row0 + m <= x.extent(0).
template <class Exec, class Mem>
std::int64_t assemble_window_batch(const Exec& exec,
                                   const Kokkos::View<const float**, Kokkos::LayoutRight, Mem>& feat,
                                   const Kokkos::View<const std::uint8_t*, Mem>& done, std::int64_t channels,
                                   std::int64_t row0,
                                   const Kokkos::View<float**, Kokkos::LayoutRight, Mem>& x,
                                   const Kokkos::View<std::uint8_t*, Mem>& valid) {
  const auto m = static_cast<std::int64_t>(feat.extent(0)), width = static_cast<std::int64_t>(feat.extent(1));
  const std::int64_t C = channels, B = width / C;
  Kokkos::deep_copy(exec, x, 0.0f);
  std::int64_t n = 0;
  Kokkos::parallel_reduce(
      "aptflow::batch::assemble", Kokkos::RangePolicy<Exec>(exec, 0, m),
      KOKKOS_LAMBDA(const std::int64_t k, std::int64_t& count) {
        bool ok = done(k) == 0;
        for (std::int64_t j = 0; j < width && ok; ++j) {
          const float v = feat(k, j);
          // finite: not NaN (curve::is_nan: quiet), then not +-inf (no NaN is compared: no FE_INVALID)
          ok = !curve::is_nan(v) && v <= 3.40282347e38f && v >= -3.40282347e38f;
        }
        valid(k) = ok ? 1 : 0;
        if (!ok) return;
        ++count;
        for (std::int64_t ch = 0; ch < C; ++ch)
          for (std::int64_t q = 0; q < B; ++q) x(row0 + k, q * C + ch) = feat(k, ch * B + q);
      },
      n);
  exec.fence();
  return n;
}

// sum(r, j) += y(r, j): one model's outputs added to the ensemble's sum (the
// models in order, each in double: the host's order of additions).
template <class Exec, class Mem>
void add_model_outputs(const Exec& exec, const Kokkos::View<const float**, Kokkos::LayoutRight, Mem>& y,
                       const Kokkos::View<double**, Kokkos::LayoutRight, Mem>& sum) {
  const auto rows = static_cast<std::int64_t>(y.extent(0)), K = static_cast<std::int64_t>(y.extent(1));
  Kokkos::parallel_for(
      "aptflow::batch::add_outputs", Kokkos::RangePolicy<Exec>(exec, 0, rows * K),
      KOKKOS_LAMBDA(const std::int64_t i) { sum(i / K, i % K) += static_cast<double>(y(i / K, i % K)); });
}

// prob(k, j) = float(sum(row0 + k, j) * (1 / models)) for a valid window,
// NaN otherwise (nn::predict_ensemble_aligned's mean).
template <class Exec, class Mem>
void ensemble_mean(const Exec& exec, const Kokkos::View<const double**, Kokkos::LayoutRight, Mem>& sum,
                   std::int64_t models, std::int64_t row0,
                   const Kokkos::View<const std::uint8_t*, Mem>& valid,
                   const Kokkos::View<float**, Kokkos::LayoutRight, Mem>& prob) {
  const auto m = static_cast<std::int64_t>(prob.extent(0)), K = static_cast<std::int64_t>(prob.extent(1));
  const double inv = 1.0 / static_cast<double>(models);
  Kokkos::parallel_for(
      "aptflow::batch::ensemble_mean", Kokkos::RangePolicy<Exec>(exec, 0, m * K),
      KOKKOS_LAMBDA(const std::int64_t i) {
        const std::int64_t k = i / K, j = i % K;
        prob(k, j) =
            valid(k) ? static_cast<float>(sum(row0 + k, j) * inv) : static_cast<float>(curve::nan_value());
      });
}

// The mean SDM's sums of the chunk, per class c = window_class(prob(k, :)):
// over the windows k of class c, sum of mean_sdm_fixed(feat(k, j)) =
// hi(c, j) * 2^31 + lo(c, j) (each value split as v = h 2^31 + l, 0 <= l <
// 2^31, so both sums are exact in int64 for any chunk). Integers: the order
// of the windows does not matter.
template <class Exec, class Mem>
void class_feature_sums(const Exec& exec, const Kokkos::View<const float**, Kokkos::LayoutRight, Mem>& feat,
                        const Kokkos::View<const float**, Kokkos::LayoutRight, Mem>& prob,
                        const Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem>& hi,
                        const Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem>& lo) {
  const auto m = static_cast<std::int64_t>(feat.extent(0)), width = static_cast<std::int64_t>(feat.extent(1));
  const auto K = static_cast<std::int64_t>(prob.extent(1));
  Kokkos::parallel_for(
      "aptflow::batch::class_sums", Kokkos::RangePolicy<Exec>(exec, 0, K * width),
      KOKKOS_LAMBDA(const std::int64_t i) {
        const std::int64_t c = i / width, j = i % width;
        std::int64_t h = 0, l = 0;
        for (std::int64_t k = 0; k < m; ++k) {
          if (window_class(&prob(k, 0), K) != c) continue;
          const std::int64_t v = mean_sdm_fixed(feat(k, j));
          const std::int64_t vh = v >> 31;  // floor(v / 2^31)
          h += vh;
          l += v - vh * 2147483648LL;
        }
        hi(c, j) = h;
        lo(c, j) = l;
      });
}

}  // namespace aptflow
