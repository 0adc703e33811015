// The features stage (sdm/features.hpp).
#include "aptflow/sdm/features.hpp"

#include <cmath>
#include <limits>

namespace aptflow::sdm {

bool FeatureRows::blank(std::int64_t k) const {
  for (std::int64_t ch = 0; ch < channels; ++ch) {
    const float* r = row(k, ch);
    for (std::int64_t q = 0; q < bins; ++q)
      if (std::isnan(r[q])) return true;
  }
  return false;
}

FeatureRows compute_features(std::int64_t samples, std::int64_t channels, std::int64_t bins,
                             const CountChannel& count, const PreprocessSpec& spec, EmptyRule empty,
                             int curve_rank) {
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  FeatureRows f;
  f.samples = samples;
  f.channels = channels;
  f.bins = bins;
  f.values.resize(static_cast<std::size_t>(channels * samples * bins));
  f.centres.resize(static_cast<std::size_t>(channels * samples));
  SdmRows out("aptflow::sdm::feature_counts", samples, bins);
  CentreCounts centres("aptflow::sdm::feature_centres", samples);
  for (std::int64_t ch = 0; ch < channels; ++ch) {
    count(static_cast<std::size_t>(ch), out, centres);
    float* dst = f.values.data() + ch * samples * bins;
    for (std::int64_t k = 0; k < samples; ++k) {
      f.centres[static_cast<std::size_t>(ch * samples + k)] = centres(k);
      const bool nan = empty == EmptyRule::nan && centres(k) <= 0;
      for (std::int64_t q = 0; q < bins; ++q) dst[k * bins + q] = nan ? kNaN : static_cast<float>(out(k, q));
    }
    preprocess_channel(CurveRows(dst, static_cast<std::size_t>(samples), static_cast<std::size_t>(bins)),
                       spec, curve_rank);
  }
  return f;
}

}  // namespace aptflow::sdm
