// The network batch kernels of classify's device path
// (aptflow/kernels/window_batch.hpp) on TEST_EXECSPACE against plain host
// loops written from their definitions: the batch (done, NaN and infinite
// windows left out, channels last at the chunk's rows, zeros elsewhere), the
// ensemble's sum and mean, and the mean SDM's sums per argmax class in 128
// bits (std::llround of the clamped value times 2^32), with values at the
// clamp and large enough that a 64-bit sum of whole values would overflow.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "aptflow/kernels/window_batch.hpp"
#include "kernel_test_util.hpp"

namespace {
using namespace aptflow;
using Exec = TEST_EXECSPACE;
using Mem = Exec::memory_space;
using Rows = Kokkos::View<float**, Kokkos::LayoutRight, Mem>;

template <class T, class V>
void upload(const std::vector<T>& h, const V& v) {
  Kokkos::deep_copy(v,
                    Kokkos::View<const T*, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>(h.data(), h.size()));
}

std::int32_t ref_class(const float* p, std::int64_t K) {
  if (std::isnan(p[0])) return -1;
  std::int64_t best = 0;
  for (std::int64_t j = 1; j < K; ++j)
    if (p[j] > p[best]) best = j;
  return static_cast<std::int32_t>(best);
}

TEST(TEST_CATEGORY, window_batch_matches_reference) {
  const std::int64_t m = 57, C = 3, B = 11, W = C * B, K = 4, block = 80, row0 = 13, models = 3;
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> feat(static_cast<std::size_t>(m * W));
  for (auto& v : feat) v = u(rng);
  feat[5 * W + 7] = nan;  // window 5: one NaN value
  feat[9 * W + 30] = -inf;
  for (std::int64_t j = 0; j < W; ++j) feat[static_cast<std::size_t>(12 * W + j)] = nan;  // empty
  feat[20 * W + 2] = 3.0e9f;                                                              // clamped to 2^30
  feat[21 * W + 2] = -3.0e9f;
  for (std::int64_t k = 30; k < 40; ++k) feat[static_cast<std::size_t>(k * W + 4)] = 1.0e9f;  // ~2^62 each
  feat[22 * W + 3] = 0.5f / 4294967296.0f;  // exactly half a unit: rounds away from zero
  feat[23 * W + 3] = -0.5f / 4294967296.0f;
  std::vector<std::uint8_t> done(static_cast<std::size_t>(m), 0);
  for (std::int64_t k = 0; k < m; k += 7) done[static_cast<std::size_t>(k)] = 1;

  Rows f("feat", m, W), x("x", block, W), prob("prob", m, K);
  Kokkos::View<std::uint8_t*, Mem> dv("done", m), valid("valid", m);
  upload(feat, Kokkos::View<float*, Mem>(f.data(), f.size()));
  upload(done, dv);
  const Exec exec;
  const std::int64_t n = assemble_window_batch<Exec, Mem>(exec, f, dv, C, row0, x, valid);

  std::vector<std::uint8_t> ref_valid(static_cast<std::size_t>(m));
  std::vector<float> ref_x(static_cast<std::size_t>(block * W), 0.0f);
  std::int64_t ref_n = 0;
  for (std::int64_t k = 0; k < m; ++k) {
    bool ok = !done[static_cast<std::size_t>(k)];
    for (std::int64_t j = 0; j < W; ++j) ok = ok && std::isfinite(feat[static_cast<std::size_t>(k * W + j)]);
    ref_valid[static_cast<std::size_t>(k)] = ok;
    if (!ok) continue;
    ++ref_n;
    for (std::int64_t ch = 0; ch < C; ++ch)
      for (std::int64_t q = 0; q < B; ++q)
        ref_x[static_cast<std::size_t>((row0 + k) * W + q * C + ch)] =
            feat[static_cast<std::size_t>(k * W + ch * B + q)];
  }
  EXPECT_EQ(n, ref_n);
  EXPECT_LT(n, m - 10);
  EXPECT_EQ(test::host_vector(valid), ref_valid);
  EXPECT_EQ(test::host_vector(x), ref_x);

  // Three models' outputs summed in double, then the mean.
  Kokkos::View<double**, Kokkos::LayoutRight, Mem> sum("sum", block, K);
  std::vector<double> ref_sum(static_cast<std::size_t>(block * K), 0.0);
  std::uniform_real_distribution<float> p01(0.0f, 1.0f);
  for (std::int64_t i = 0; i < models; ++i) {
    std::vector<float> y(static_cast<std::size_t>(block * K));
    for (auto& v : y) v = p01(rng);
    if (i == 0)
      y[static_cast<std::size_t>((row0 + 3) * K + 1)] = y[static_cast<std::size_t>((row0 + 3) * K + 2)];
    Rows yd("y", block, K);
    upload(y, Kokkos::View<float*, Mem>(yd.data(), yd.size()));
    add_model_outputs<Exec, Mem>(exec, yd, sum);
    for (std::size_t j = 0; j < y.size(); ++j) ref_sum[j] += y[j];
  }
  ensemble_mean<Exec, Mem>(exec, sum, models, row0, valid, prob);
  const std::vector<float> got = test::host_vector(prob);
  std::vector<float> ref_prob(static_cast<std::size_t>(m * K));
  for (std::int64_t k = 0; k < m; ++k)
    for (std::int64_t j = 0; j < K; ++j)
      ref_prob[static_cast<std::size_t>(k * K + j)] =
          ref_valid[static_cast<std::size_t>(k)]
              ? static_cast<float>(ref_sum[static_cast<std::size_t>((row0 + k) * K + j)] *
                                   (1.0 / double(models)))
              : nan;
  ASSERT_EQ(got.size(), ref_prob.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    if (std::isnan(ref_prob[i]))
      EXPECT_TRUE(std::isnan(got[i])) << i;
    else
      EXPECT_EQ(std::memcmp(&got[i], &ref_prob[i], sizeof(float)), 0) << i;

  // The class sums, and window_class on the host (the rule classify's host path uses).
  Kokkos::View<std::int64_t**, Kokkos::LayoutRight, Mem> hi("hi", K, W), lo("lo", K, W);
  class_feature_sums<Exec, Mem>(exec, f, prob, hi, lo);
  const auto h = test::host_vector(hi), l = test::host_vector(lo);
  std::vector<std::int64_t> per_class(static_cast<std::size_t>(K), 0);
  for (std::int64_t c = 0; c < K; ++c)
    for (std::int64_t j = 0; j < W; ++j) {
      __int128 want = 0;
      for (std::int64_t k = 0; k < m; ++k) {
        if (ref_class(&ref_prob[static_cast<std::size_t>(k * K)], K) != c) continue;
        if (j == 0) ++per_class[static_cast<std::size_t>(c)];
        const double v =
            std::clamp(double(feat[static_cast<std::size_t>(k * W + j)]), -1073741824.0, 1073741824.0);
        want += std::llround(v * 4294967296.0);
      }
      const std::size_t i = static_cast<std::size_t>(c * W + j);
      const __int128 have = static_cast<__int128>(h[i]) * 2147483648 + l[i];
      EXPECT_TRUE(have == want) << "class " << c << " value " << j;
      EXPECT_GE(l[i], 0);
    }
  for (std::int64_t k = 0; k < m; ++k)
    EXPECT_EQ(window_class(&got[static_cast<std::size_t>(k * K)], K),
              ref_class(&ref_prob[static_cast<std::size_t>(k * K)], K));
  for (std::int64_t c = 0; c < K; ++c) EXPECT_GT(per_class[static_cast<std::size_t>(c)], 3) << "class " << c;
  EXPECT_EQ(mean_sdm_fixed(0.5f / 4294967296.0f), 1);
  EXPECT_EQ(mean_sdm_fixed(-0.5f / 4294967296.0f), -1);
  EXPECT_EQ(mean_sdm_fixed(3.0e9f), std::int64_t{1} << 62);
}

}  // namespace
