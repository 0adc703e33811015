// The inference fast paths of the nn (bench_cnn, docs/models.md):
// - Conv::forward on the im2col path lowers im2col in blocks of output rows
//   that span sample boundaries: checked (and the direct path with it)
//   against a naive double-precision loop on inputs large enough that blocks
//   start mid-sample (padding and strides included);
// - MaxPool::forward on several channels against a naive loop;
// - Model::predict splits a chunk into sub-chunks by activation size, skips
//   Dropout/Flatten and fuses Conv + MaxPool: checked against Model::forward on the whole batch
//   (every layer's own forward, no split) and against a naive per-sample
//   evaluation of the whole network.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "aptflow/nn/layers.hpp"
#include "aptflow/nn/model.hpp"
#include "test_nn_nets.hpp"

namespace {

using namespace aptflow::nn;

using aptflow::test::expect_close;
using aptflow::test::random_values;

void randomise(Layer& l, std::uint32_t seed) {
  for (auto& p : l.params()) p.value = random_values(p.value.size(), seed++, -0.3f, 0.3f);
}

// Keras geometry of a layer spec on a per-sample shape, for the naive
// convolution (aptflow::test::naive_conv).
aptflow::nn::detail::ConvGeometry geometry(const Shape& sample, const ConvSpec& s) {
  aptflow::nn::detail::ConvGeometry g;
  const int r = s.rank;
  for (int a = 0; a < r; ++a) {
    g.in[3 - r + a] = sample[a];
    g.k[3 - r + a] = s.kernel[a];
    g.s[3 - r + a] = s.strides.empty() ? 1 : s.strides[a];
  }
  for (int a = 0; a < 3; ++a) {
    const bool same = s.padding == Padding::same && a >= 3 - r;
    g.out[a] = same ? (g.in[a] + g.s[a] - 1) / g.s[a] : (g.in[a] - g.k[a]) / g.s[a] + 1;
    g.pad[a] = same ? std::max<std::int64_t>((g.out[a] - 1) * g.s[a] + g.k[a] - g.in[a], 0) / 2 : 0;
  }
  g.channels = sample.back();
  g.filters = s.filters;
  return g;
}

TEST(NnInference, ConvRowBlocksSpanningSamplesMatchNaiveLoops) {
  struct Case {
    Shape sample;
    ConvSpec spec;
    std::int64_t batch;
  };
  // Row blocks hold 2^17 / patch rows: 2427 rows for patch 54 (1000 rows per
  // sample), 3640 for patch 36 (2100 rows per sample), so blocks start inside samples.
  const std::vector<Case> cases = {
      {{12, 12, 12, 2}, {3, 5, {3, 3, 3}, {1, 1, 1}, Padding::valid, Activation::relu, true}, 5},
      {{70, 60, 3}, {2, 4, {3, 4}, {2, 1}, Padding::same, Activation::linear, true}, 3},
      {{5000, 3}, {1, 6, {7}, {3}, Padding::same, Activation::relu, false}, 4},
  };
  std::uint32_t seed = 700;
  for (const auto& c : cases) {
    Conv conv("conv", c.spec);
    conv.build(c.sample);
    randomise(conv, seed++);
    Tensor x(Shape{c.batch});
    x.shape.insert(x.shape.end(), c.sample.begin(), c.sample.end());
    x.data = random_values(static_cast<std::size_t>(shape_size(x.shape)), seed++, -1.0f, 1.0f);
    const auto g = geometry(c.sample, c.spec);
    const auto want =
        aptflow::test::naive_conv(g, x.data.data(), c.batch, conv.param("kernel").value,
                                  c.spec.use_bias ? conv.param("bias").value : std::vector<float>{},
                                  c.spec.activation == Activation::relu);
    // The im2col row blocks, and the direct convolution on the same inputs.
    for (ConvAlgorithm algo : {ConvAlgorithm::im2col, ConvAlgorithm::direct}) {
      Tensor y;
      RunContext ctx;
      ctx.conv = algo;
      conv.forward(x, y, ctx);
      ASSERT_TRUE(ctx.conv_path.has_value());
      EXPECT_EQ(*ctx.conv_path == ConvPath::im2col, algo == ConvAlgorithm::im2col);
      expect_close(y.data, want, 1e-5);
    }
  }
}

TEST(NnInference, MaxPoolManyChannelsMatchesNaiveLoop) {
  MaxPool pool("pool", PoolSpec{3, {2, 2, 2}, {}, Padding::valid});
  const Shape sample{7, 6, 5, 9};
  pool.build(sample);
  Tensor x(Shape{3, 7, 6, 5, 9});
  x.data = random_values(x.data.size(), 77, -2.0f, 2.0f);
  Tensor y;
  RunContext ctx;
  pool.forward(x, y, ctx);
  ASSERT_EQ(y.shape, (Shape{3, 3, 3, 2, 9}));
  std::vector<double> want;
  for (std::int64_t b = 0; b < 3; ++b)
    for (std::int64_t o0 = 0; o0 < 3; ++o0)
      for (std::int64_t o1 = 0; o1 < 3; ++o1)
        for (std::int64_t o2 = 0; o2 < 2; ++o2)
          for (std::int64_t c = 0; c < 9; ++c) {
            double m = -1e30;
            for (std::int64_t i0 = 2 * o0; i0 < 2 * o0 + 2; ++i0)
              for (std::int64_t i1 = 2 * o1; i1 < 2 * o1 + 2; ++i1)
                for (std::int64_t i2 = 2 * o2; i2 < 2 * o2 + 2; ++i2)
                  m = std::max<double>(m, x.data[(((b * 7 + i0) * 6 + i1) * 5 + i2) * 9 + c]);
            want.push_back(m);
          }
  expect_close(y.data, want, 0.0);
}

TEST(NnInference, PredictSubChunksAndSkippedLayersMatchForwardAndNaiveNetwork) {
  // Conv output 22^3 x 8 = 85184 floats per sample: predict splits chunk 256
  // into sub-chunks of 24 samples; batch 53 leaves a partial last one.
  const ConvSpec cs{3, 8, {3, 3, 3}, {}, Padding::valid, Activation::relu, true};
  Model m(Shape{24, 24, 24, 1});
  m.add(std::make_unique<Conv>("conv", cs));
  m.add(std::make_unique<Dropout>("drop", 0.5));
  m.add(std::make_unique<MaxPool>("pool", PoolSpec{3, {2, 2, 2}, {}, Padding::valid}));
  m.add(std::make_unique<Flatten>("flat"));
  m.add(std::make_unique<Dense>("dense", 4, Activation::softmax));
  for (std::size_t i = 0; i < m.size(); ++i) randomise(m.layer(i), 900 + 10 * static_cast<std::uint32_t>(i));
  const std::int64_t batch = 53;
  Tensor x(Shape{batch, 24, 24, 24, 1});
  x.data = random_values(x.data.size(), 901, 0.0f, 2.0f);

  const Tensor p = m.predict(x, 256);
  ASSERT_EQ(p.shape, (Shape{batch, 4}));
  RunContext ctx;  // training = false: Dropout is the identity
  const Tensor f = m.forward(x, ctx);
  ASSERT_EQ(f.shape, p.shape);
  for (std::size_t i = 0; i < p.data.size(); ++i) ASSERT_NEAR(p.data[i], f.data[i], 1e-6) << i;
  const Tensor p7 = m.predict(x, 7);  // caller chunks below the sub-chunk size
  for (std::size_t i = 0; i < p.data.size(); ++i) ASSERT_NEAR(p.data[i], p7.data[i], 1e-6) << i;

  // Naive network on a few samples (first, one per sub-chunk boundary, last).
  const auto g = geometry(Shape{24, 24, 24, 1}, cs);
  const auto& w = m.layer(0).param("kernel").value;
  const auto& bias = m.layer(0).param("bias").value;
  const auto& dk = m.layer(4).param("kernel").value;
  const auto& db = m.layer(4).param("bias").value;
  for (std::int64_t s : {0, 23, 24, 47, 48, 52}) {
    const auto conv =
        aptflow::test::naive_conv(g, x.data.data() + s * 24 * 24 * 24, 1, w, bias, true);  // 22^3 x 8
    std::vector<double> pooled;  // 11^3 x 8, Keras flatten order (d, h, w, c)
    for (int o0 = 0; o0 < 11; ++o0)
      for (int o1 = 0; o1 < 11; ++o1)
        for (int o2 = 0; o2 < 11; ++o2)
          for (int c = 0; c < 8; ++c) {
            double mx = -1e30;
            for (int a0 = 0; a0 < 2; ++a0)
              for (int a1 = 0; a1 < 2; ++a1)
                for (int a2 = 0; a2 < 2; ++a2)
                  mx = std::max(mx, conv[(((2 * o0 + a0) * 22 + 2 * o1 + a1) * 22 + 2 * o2 + a2) * 8 + c]);
            pooled.push_back(mx);
          }
    double z[4], top = -1e300, sum = 0;
    for (int u = 0; u < 4; ++u) {
      z[u] = db[u];
      for (std::size_t i = 0; i < pooled.size(); ++i) z[u] += pooled[i] * dk[i * 4 + u];
      top = std::max(top, z[u]);
    }
    for (double& v : z) sum += (v = std::exp(v - top));
    for (int u = 0; u < 4; ++u)
      EXPECT_NEAR(p.data[s * 4 + u], z[u] / sum, 2e-5) << "sample " << s << " unit " << u;
  }
}

}  // namespace
