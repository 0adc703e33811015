#pragma once
// Mean preprocessed feature row per argmax class, summed exactly (internal to
// src/pipeline): each value is rounded to a multiple of 2^-32 (clamped to
// +-2^30) and added as an integer, so that any split over ranks, rounds or a
// resume gives the same bits.
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "aptflow/dist/collective.hpp"
#include "aptflow/sdm/features.hpp"

namespace aptflow::detail {

struct MeanSdm {
  static constexpr double kScale = 4294967296.0;  // 2^32
  std::int64_t K = 0, bins = 0;
  std::vector<__int128> sum;        // K x bins
  std::vector<std::int64_t> count;  // K
  void init(std::int64_t k, std::int64_t b) {
    K = k;
    bins = b;
    sum.assign(static_cast<std::size_t>(K * bins), 0);
    count.assign(static_cast<std::size_t>(K), 0);
  }
  // Sample k of a features block, argmax class c (its channels in order).
  void add(std::int64_t c, const sdm::FeatureRows& f, std::int64_t k) {
    ++count[static_cast<std::size_t>(c)];
    for (std::int64_t ch = 0; ch < f.channels; ++ch) {
      const float* row = f.row(k, ch);
      __int128* dst = sum.data() + c * bins + ch * f.bins;
      for (std::int64_t q = 0; q < f.bins; ++q) {
        const double v = std::clamp(static_cast<double>(row[q]), -1073741824.0, 1073741824.0);
        dst[q] += static_cast<__int128>(round_half_away(v * kScale));
      }
    }
  }
  // Adds another partial sum (a checkpoint's).
  void add(const std::vector<__int128>& s, const std::vector<std::int64_t>& n) {
    for (std::size_t k = 0; k < sum.size() && k < s.size(); ++k) sum[k] += s[k];
    for (std::size_t k = 0; k < count.size() && k < n.size(); ++k) count[k] += n[k];
  }
  // Collective: the sums of every rank, on every rank (exact).
  void sum_over(MPI_Comm comm) {
    dist::sum_exact(comm, sum);
    MPI_Allreduce(MPI_IN_PLACE, count.data(), static_cast<int>(count.size()), MPI_INT64_T, MPI_SUM, comm);
  }
  // std::llround (half away from zero) inlined for |x| <= 2^62: truncation,
  // then the exact remainder decides.
  static std::int64_t round_half_away(const double x) {
    std::int64_t i = static_cast<std::int64_t>(x);
    const double d = x - static_cast<double>(i);
    i += (d >= 0.5) - (d <= -0.5);
    return i;
  }
  std::vector<double> mean() const {
    std::vector<double> m(sum.size(), 0.0);
    for (std::int64_t c = 0; c < K; ++c)
      for (std::int64_t q = 0; q < bins; ++q)
        if (count[static_cast<std::size_t>(c)] > 0)
          m[static_cast<std::size_t>(c * bins + q)] =
              static_cast<double>(sum[static_cast<std::size_t>(c * bins + q)]) / kScale /
              static_cast<double>(count[static_cast<std::size_t>(c)]);
    return m;
  }
};

}  // namespace aptflow::detail
