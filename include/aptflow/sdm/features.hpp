#pragma once
// The features stage (method.md sections 2-3), shared by classify, sdm and
// synth library: for a block of samples (windows, or one library block) and
// each channel (species pair), the integer SDM counts as float rows, the
// empty rule, then the channel's preprocessing.
//
//   counts (int64, per channel) -> float rows -> NaN for a sample without
//   centre ions (EmptyRule::nan) -> preprocess_channel(spec.mode)
//
// The counting itself is the caller's (host or device window counter, the
// whole-block SDM): this stage owns what is done with the counts.
#include <cstdint>
#include <functional>
#include <vector>

#include <Kokkos_Core.hpp>

#include "aptflow/sdm/preprocess.hpp"

namespace aptflow::sdm {

using SdmRows = Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Kokkos::HostSpace>;
using CentreCounts = Kokkos::View<std::int64_t*, Kokkos::HostSpace>;

// count(channel, out, centres): the block's counts of one channel into out
// (samples x bins, overwritten) and its centre ions per sample into centres.
using CountChannel =
    std::function<void(std::size_t channel, const SdmRows& out, const CentreCounts& centres)>;

// nan: a sample without centre ions becomes a NaN row (not classified);
// keep: its counts stay (zeros), as feature files store them.
enum class EmptyRule { nan, keep };

struct FeatureRows {
  std::int64_t samples = 0, channels = 0, bins = 0;
  std::vector<float> values;          // (channel, sample, bin)
  std::vector<std::int64_t> centres;  // (channel, sample): centre ions

  const float* channel(std::int64_t ch) const { return values.data() + ch * samples * bins; }
  const float* row(std::int64_t k, std::int64_t ch) const {
    return values.data() + (ch * samples + k) * bins;
  }
  // Any NaN in sample k's channels (an empty window, or a constant channel
  // under min-max).
  bool blank(std::int64_t k) const;
};

// Collective nothing; host memory. ConfigError from the preprocessing (a
// curve_rank other than 1 under experimental).
FeatureRows compute_features(std::int64_t samples, std::int64_t channels, std::int64_t bins,
                             const CountChannel& count, const PreprocessSpec& spec, EmptyRule empty,
                             int curve_rank = 1);

}  // namespace aptflow::sdm
