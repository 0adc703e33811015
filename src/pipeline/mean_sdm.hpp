#pragma once
// Mean preprocessed feature row per argmax class, summed exactly (internal to
// src/pipeline): each value is rounded to a multiple of 2^-32 (clamped to
// +-2^30; mean_sdm_fixed, kernels/window_batch.hpp, which the device path's
// class_feature_sums uses too) and added as an integer, so that any split
// over ranks, rounds, a resume or the device gives the same bits.
#include <mpi.h>

#include <cstdint>
#include <vector>

#include "aptflow/dist/collective.hpp"
#include "aptflow/kernels/window_batch.hpp"
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
      for (std::int64_t q = 0; q < f.bins; ++q) dst[q] += static_cast<__int128>(mean_sdm_fixed(row[q]));
    }
  }
  // Adds another partial sum (a checkpoint's, or a device chunk's: WindowChunk).
  void add(const std::vector<__int128>& s, const std::vector<std::int64_t>& n) {
    for (std::size_t k = 0; k < sum.size() && k < s.size(); ++k) sum[k] += s[k];
    for (std::size_t k = 0; k < count.size() && k < n.size(); ++k) count[k] += n[k];
  }
  // Collective: the sums of every rank, on every rank (exact).
  void sum_over(MPI_Comm comm) {
    dist::sum_exact(comm, sum);
    MPI_Allreduce(MPI_IN_PLACE, count.data(), static_cast<int>(count.size()), MPI_INT64_T, MPI_SUM, comm);
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
