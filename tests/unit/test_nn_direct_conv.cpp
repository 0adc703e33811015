// The direct convolution of inference (src/nn/direct_conv.hpp) and the fused
// Conv + MaxPool step of Model::predict:
// - every instruction set available here (generic always, AVX2 + FMA where
//   the CPU has it) against a naive double-precision loop written from the
//   Keras definitions, over geometries that hit every block tail (output
//   widths 1..14, filters not a multiple of 8, 1..17 channels, strides,
//   "same" padding, ranks 1..3);
// - fused pooling against the naive convolution followed by a naive pool
//   (ragged ends that Keras drops included), and equal to the unfused
//   direct path followed by MaxPool::infer;
// - a sample's result does not depend on the batch around it (bitwise);
// - the shipped Al-Li-Mg (4 pairs) and Fe-Al models and the bench_cnn 3D
//   network: probabilities of the direct + fused path within 1e-6 of the
//   im2col + GEMM path on realistic inputs ("results unchanged").
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/nn/layers.hpp"
#include "aptflow/nn/model.hpp"
#include "aptflow/nn/model_file.hpp"
#include "nn/direct_conv.hpp"
#include "test_nn_nets.hpp"
#include "test_util.hpp"

namespace {

using namespace aptflow::nn;
using aptflow::nn::detail::ConvGeometry;
using aptflow::nn::detail::ConvIsa;
using aptflow::nn::detail::FusedPool;

using aptflow::test::naive_conv;
using aptflow::test::random_values;

std::vector<ConvIsa> isas() {
  std::vector<ConvIsa> out{ConvIsa::generic};
  if (aptflow::nn::detail::conv_isa_available(ConvIsa::avx2)) out.push_back(ConvIsa::avx2);
  return out;
}

// Keras geometry on 3 axes: valid or same padding.
ConvGeometry make_geometry(const std::int64_t (&in)[3], const std::int64_t (&k)[3],
                           const std::int64_t (&s)[3], bool same, std::int64_t C, std::int64_t F) {
  ConvGeometry g;
  for (int a = 0; a < 3; ++a) {
    g.in[a] = in[a];
    g.k[a] = k[a];
    g.s[a] = s[a];
    if (same) {
      g.out[a] = (in[a] + s[a] - 1) / s[a];
      g.pad[a] = std::max<std::int64_t>((g.out[a] - 1) * s[a] + k[a] - in[a], 0) / 2;
    } else {
      g.out[a] = (in[a] - k[a]) / s[a] + 1;
      g.pad[a] = 0;
    }
  }
  g.channels = C;
  g.filters = F;
  return g;
}

// Non-overlapping max pool (window p, valid) of a (batch, out..., F) array.
std::vector<double> naive_pool(const std::vector<double>& y, std::int64_t batch, const ConvGeometry& g,
                               const FusedPool& p) {
  std::vector<double> out;
  const std::int64_t F = g.filters;
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t o0 = 0; o0 < p.out[0]; ++o0)
      for (std::int64_t o1 = 0; o1 < p.out[1]; ++o1)
        for (std::int64_t o2 = 0; o2 < p.out[2]; ++o2)
          for (std::int64_t f = 0; f < F; ++f) {
            double m = -1e300;
            for (std::int64_t a0 = 0; a0 < p.p[0]; ++a0)
              for (std::int64_t a1 = 0; a1 < p.p[1]; ++a1)
                for (std::int64_t a2 = 0; a2 < p.p[2]; ++a2) {
                  const std::int64_t i0 = o0 * p.p[0] + a0, i1 = o1 * p.p[1] + a1, i2 = o2 * p.p[2] + a2;
                  m = std::max(m, y[((((b * g.out[0] + i0) * g.out[1] + i1) * g.out[2] + i2) * F) + f]);
                }
            out.push_back(m);
          }
  return out;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << what << " element " << i;
}

struct Case {
  std::int64_t in[3], k[3], s[3];
  bool same;
  std::int64_t C, F;
  std::int64_t pool[3];  // {0, 0, 0}: no fused pool
};

std::string describe(const Case& c, ConvIsa isa, bool relu, bool bias) {
  return std::string(aptflow::nn::detail::conv_isa_name(isa)) + " in " + std::to_string(c.in[0]) + "x" +
         std::to_string(c.in[1]) + "x" + std::to_string(c.in[2]) + "x" + std::to_string(c.C) + " k " +
         std::to_string(c.k[0]) + "x" + std::to_string(c.k[1]) + "x" + std::to_string(c.k[2]) + " s " +
         std::to_string(c.s[0]) + "x" + std::to_string(c.s[1]) + "x" + std::to_string(c.s[2]) +
         (c.same ? " same" : " valid") + " F " + std::to_string(c.F) + (relu ? " relu" : " linear") +
         (bias ? " bias" : " no bias");
}

std::vector<Case> cases() {
  std::vector<Case> out = {
      // the shipped 1D models: 93 bins, k = 10, 1/2/4 channels, 16/64 filters, pool 2
      {{1, 1, 93}, {1, 1, 10}, {1, 1, 1}, false, 4, 16, {1, 1, 2}},
      {{1, 1, 93}, {1, 1, 10}, {1, 1, 1}, false, 2, 64, {1, 1, 2}},
      {{1, 1, 93}, {1, 1, 10}, {1, 1, 1}, false, 1, 16, {1, 1, 2}},
      // the bench_cnn 3D network: 20^3 x 1 -> 16, pool 2; 9^3 x 16 -> 32, pool 2 (7 -> 3 drops one)
      {{20, 20, 20}, {3, 3, 3}, {1, 1, 1}, false, 1, 16, {2, 2, 2}},
      {{9, 9, 9}, {3, 3, 3}, {1, 1, 1}, false, 16, 32, {2, 2, 2}},
      // tails: F = 1, 3, 9, 17, 24, 40; pools of 3 with ragged ends; strides and same padding
      {{1, 1, 31}, {1, 1, 4}, {1, 1, 1}, false, 3, 1, {1, 1, 3}},
      {{1, 1, 20}, {1, 1, 3}, {1, 1, 2}, true, 3, 3, {0, 0, 0}},
      {{1, 1, 17}, {1, 1, 4}, {1, 1, 3}, false, 2, 9, {0, 0, 0}},
      {{1, 1, 11}, {1, 1, 4}, {1, 1, 1}, true, 17, 17, {1, 1, 2}},
      {{1, 9, 8}, {1, 3, 2}, {1, 1, 2}, true, 2, 24, {0, 0, 0}},
      {{1, 10, 13}, {1, 3, 3}, {1, 2, 1}, false, 1, 40, {1, 2, 3}},
      {{5, 6, 4}, {2, 3, 2}, {1, 2, 1}, true, 2, 8, {2, 1, 2}},
      {{7, 8, 9}, {3, 2, 3}, {2, 1, 1}, false, 5, 33, {1, 3, 2}},
  };
  // every output width 1..14 (block tails of 6 and 12), with and without a pool of 2
  for (std::int64_t w = 1; w <= 14; ++w) {
    out.push_back({{1, 2, w + 2}, {1, 2, 3}, {1, 1, 1}, false, 3, 16, {0, 0, 0}});
    out.push_back({{1, 1, w + 2}, {1, 1, 3}, {1, 1, 1}, false, 2, 8, {0, 0, 0}});
    if (w >= 2) out.push_back({{1, 1, w + 2}, {1, 1, 3}, {1, 1, 1}, false, 2, 20, {1, 1, 2}});
  }
  return out;
}

TEST(NnDirectConv, EveryIsaMatchesNaiveLoopsFusedAndUnfused) {
  std::uint32_t seed = 4000;
  int checked = 0;
  for (const Case& c : cases()) {
    const ConvGeometry g = make_geometry(c.in, c.k, c.s, c.same, c.C, c.F);
    const std::int64_t batch = 3, in_size = c.in[0] * c.in[1] * c.in[2] * c.C;
    const auto x = random_values(static_cast<std::size_t>(batch * in_size), seed++, -1.0f, 1.0f);
    const auto w =
        random_values(static_cast<std::size_t>(c.k[0] * c.k[1] * c.k[2] * c.C * c.F), seed++, -0.5f, 0.5f);
    const auto b = random_values(static_cast<std::size_t>(c.F), seed++, -0.5f, 0.5f);
    for (bool relu : {false, true})
      for (bool with_bias : {false, true}) {
        const std::vector<float> bias = with_bias ? b : std::vector<float>{};
        const auto want = naive_conv(g, x.data(), batch, w, bias, relu);
        for (ConvIsa isa : isas()) {
          const std::string what = describe(c, isa, relu, with_bias);
          std::vector<float> y(want.size(), -7.0f);
          aptflow::nn::detail::direct_conv(isa, g, w.data(), with_bias ? b.data() : nullptr, relu, nullptr,
                                           x.data(), batch, y.data());
          expect_close(y, want, 1e-5, what);
          if (c.pool[0] == 0) continue;
          FusedPool p;
          for (int a = 0; a < 3; ++a) {
            p.p[a] = c.pool[a];
            p.out[a] = g.out[a] / p.p[a];
          }
          const auto want_pooled = naive_pool(want, batch, g, p);
          std::vector<float> yp(want_pooled.size(), -7.0f);
          aptflow::nn::detail::direct_conv(isa, g, w.data(), with_bias ? b.data() : nullptr, relu, &p,
                                           x.data(), batch, yp.data());
          expect_close(yp, want_pooled, 1e-5, what + " pooled");
          // Pooling the unfused output gives the same values.
          std::vector<double> unfused_pooled =
              naive_pool(std::vector<double>(y.begin(), y.end()), batch, g, p);
          for (std::size_t i = 0; i < yp.size(); ++i)
            ASSERT_EQ(yp[i], static_cast<float>(unfused_pooled[i])) << what << " pooled element " << i;
          ++checked;
        }
      }
  }
  EXPECT_GT(checked, 100);
}

TEST(NnDirectConv, SampleResultsDoNotDependOnTheBatch) {
  const Case c{{9, 9, 9}, {3, 3, 3}, {1, 1, 1}, false, 16, 32, {2, 2, 2}};
  const ConvGeometry g = make_geometry(c.in, c.k, c.s, c.same, c.C, c.F);
  FusedPool p;
  for (int a = 0; a < 3; ++a) {
    p.p[a] = 2;
    p.out[a] = g.out[a] / 2;
  }
  const std::int64_t batch = 5, in_size = 9 * 9 * 9 * 16, out_size = 27 * 32;
  const auto x = random_values(static_cast<std::size_t>(batch * in_size), 51, 0.0f, 1.0f);
  const auto w = random_values(27 * 16 * 32, 52, -0.3f, 0.3f);
  const auto b = random_values(32, 53, -0.1f, 0.1f);
  for (ConvIsa isa : isas()) {
    std::vector<float> all(static_cast<std::size_t>(batch * out_size));
    aptflow::nn::detail::direct_conv(isa, g, w.data(), b.data(), true, &p, x.data(), batch, all.data());
    for (std::int64_t s = 0; s < batch; ++s) {
      std::vector<float> one(static_cast<std::size_t>(out_size));
      aptflow::nn::detail::direct_conv(isa, g, w.data(), b.data(), true, &p, x.data() + s * in_size, 1,
                                       one.data());
      for (std::int64_t i = 0; i < out_size; ++i)
        ASSERT_EQ(one[static_cast<std::size_t>(i)], all[static_cast<std::size_t>(s * out_size + i)])
            << "sample " << s << " element " << i;
    }
  }
}

TEST(NnDirectConv, IsaNamesAndAvailability) {
  EXPECT_TRUE(aptflow::nn::detail::conv_isa_available(ConvIsa::generic));
  EXPECT_TRUE(aptflow::nn::detail::conv_isa_available(aptflow::nn::detail::best_conv_isa()));
  EXPECT_EQ(aptflow::nn::detail::conv_isa_name(ConvIsa::avx2), "[direct avx2]");
  EXPECT_EQ(aptflow::nn::detail::conv_isa_name(ConvIsa::generic), "[direct generic]");
  EXPECT_EQ(conv_path_name(ConvPath::im2col), "[im2col+gemm]");
  EXPECT_EQ(parse_conv_algorithm("direct", "k"), ConvAlgorithm::direct);
  EXPECT_EQ(parse_conv_algorithm("im2col", "k"), ConvAlgorithm::im2col);
  EXPECT_EQ(parse_conv_algorithm("auto", "k"), ConvAlgorithm::automatic);
  EXPECT_THROW(parse_conv_algorithm("winograd", "k"), aptflow::ConfigError);
}

// A model's predict on the direct + fused path against the im2col + GEMM
// path (the path before the direct convolution existed) and Model::forward.
void expect_paths_agree(Model& m, const std::vector<float>& x, std::int64_t batch, double tol,
                        const std::string& what) {
  m.set_conv_algorithm(ConvAlgorithm::im2col);
  const Tensor before = m.predict(x.data(), batch, 256);
  ASSERT_TRUE(m.conv_path().has_value());
  EXPECT_EQ(*m.conv_path(), ConvPath::im2col);
  m.set_conv_algorithm(ConvAlgorithm::automatic);
  const Tensor after = m.predict(x.data(), batch, 256);
  ASSERT_TRUE(m.conv_path().has_value());
  EXPECT_NE(*m.conv_path(), ConvPath::im2col);
  ASSERT_EQ(before.shape, after.shape);
  double worst = 0;
  for (std::size_t i = 0; i < before.data.size(); ++i) {
    ASSERT_TRUE(std::isfinite(after.data[i])) << what << " " << i;
    worst = std::max(worst, double(std::fabs(before.data[i] - after.data[i])));
  }
  EXPECT_LE(worst, tol) << what;
  // Model::forward runs every layer unfused (Conv::forward, then MaxPool::forward).
  Tensor xt(Shape{batch});
  xt.shape.insert(xt.shape.end(), m.input_shape().begin(), m.input_shape().end());
  xt.data = x;
  RunContext ctx;
  const Tensor f = m.forward(xt, ctx);
  for (std::size_t i = 0; i < f.data.size(); ++i)
    ASSERT_NEAR(f.data[i], after.data[i], 1e-6) << what << " " << i;
}

// Min-max normalised curves in [0, 1] (what classify feeds the 1D models).
std::vector<float> curves(std::int64_t batch, std::int64_t bins, std::int64_t channels, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(batch * bins * channels));
  for (std::int64_t s = 0; s < batch; ++s)
    for (std::int64_t c = 0; c < channels; ++c) {
      const float phase = 6.28f * u(rng), period = 8.0f + 8.0f * u(rng);
      for (std::int64_t k = 0; k < bins; ++k)
        x[static_cast<std::size_t>((s * bins + k) * channels + c)] =
            0.5f + 0.4f * std::sin(phase + 6.28f * static_cast<float>(k) / period) + 0.1f * u(rng);
    }
  return x;
}

TEST(NnDirectConv, ShippedModelsGiveTheImToColProbabilitiesWithin1e6) {
  const auto dir = aptflow::test::source_dir() / "models";
  std::uint32_t seed = 77;
  for (const char* name : {"alli_l12_pairs_1dcnn", "alli_l12_1dcnn", "feal_1dcnn"}) {
    const auto path = dir / (std::string(name) + ".h5");
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " absent: run bash models/rebuild.sh";
    Model m = load_model(path.string());
    const std::int64_t bins = m.input_shape()[0], channels = m.input_shape()[1], batch = 700;
    expect_paths_agree(m, curves(batch, bins, channels, seed++), batch, 1e-6, name);
  }
}

TEST(NnDirectConv, Bench3dNetworkGivesTheImToColProbabilitiesWithin1e6) {
  Model m = aptflow::test::bench_3d_network(90);
  const std::int64_t batch = 40;
  expect_paths_agree(m, random_values(static_cast<std::size_t>(batch * 8000), 91, 0.0f, 3.0f), batch, 1e-6,
                     "bench 3D");
}

}  // namespace
