#pragma once
// Shared pieces of the nn tests (unit and cuda): random values, the bench_cnn
// 3D network with fan-scaled random weights, and a naive double-precision
// convolution written from the Keras definition (no im2col, no blocking).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "aptflow/nn/layers.hpp"
#include "aptflow/nn/model.hpp"
#include "nn/direct_conv.hpp"

namespace aptflow::test {

inline std::vector<float> random_values(std::size_t n, std::uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Every element of got within tol * (1 + |want|) of want.
inline void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << "element " << i;
}

// Every parameter uniform in +-sqrt(3 / fan_in) (kernels) or +-0.55 (biases):
// activations of order one through the layers, no saturated softmax.
inline void randomise_fan_in(nn::Model& m, std::uint32_t seed) {
  for (std::size_t i = 0; i < m.size(); ++i)
    for (auto& p : m.layer(i).params()) {
      const double fan = p.name == "kernel" ? double(p.value.size()) / double(p.shape.back()) : 10.0;
      const auto lim = static_cast<float>(std::sqrt(3.0 / fan));
      p.value = random_values(p.value.size(), seed++, -lim, lim);
    }
}

// benchmarks/bench_cnn.cpp's cnn_3d: 20^3 x 1, Conv3D 16 3x3x3 ReLU, MaxPool 2,
// Conv3D 32 3x3x3 ReLU, MaxPool 2 (7 -> 3 drops a ragged end), Flatten,
// Dense 64 ReLU, Dense 2 softmax; weights randomise_fan_in(seed).
inline nn::Model bench_3d_network(std::uint32_t seed) {
  using namespace nn;
  Model m(Shape{20, 20, 20, 1});
  m.add(std::make_unique<Conv>("c1", ConvSpec{3, 16, {3, 3, 3}, {}, Padding::valid, Activation::relu}));
  m.add(std::make_unique<MaxPool>("p1", PoolSpec{3, {2, 2, 2}, {}, Padding::valid}));
  m.add(std::make_unique<Conv>("c2", ConvSpec{3, 32, {3, 3, 3}, {}, Padding::valid, Activation::relu}));
  m.add(std::make_unique<MaxPool>("p2", PoolSpec{3, {2, 2, 2}, {}, Padding::valid}));
  m.add(std::make_unique<Flatten>("flat"));
  m.add(std::make_unique<Dense>("dense", 64, Activation::relu));
  m.add(std::make_unique<Dense>("out", 2, Activation::softmax));
  randomise_fan_in(m, seed);
  return m;
}

// (batch, out..., F) of relu?(conv(x) + bias), double precision, zeros
// outside the input; x holds batch samples of g.in x channels; w is the
// Keras kernel (k..., C, F); bias may be empty.
inline std::vector<double> naive_conv(const nn::detail::ConvGeometry& g, const float* x, std::int64_t batch,
                                      const std::vector<float>& w, const std::vector<float>& bias,
                                      bool relu) {
  std::vector<double> y;
  const std::int64_t C = g.channels, F = g.filters;
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t o0 = 0; o0 < g.out[0]; ++o0)
      for (std::int64_t o1 = 0; o1 < g.out[1]; ++o1)
        for (std::int64_t o2 = 0; o2 < g.out[2]; ++o2)
          for (std::int64_t f = 0; f < F; ++f) {
            double sum = bias.empty() ? 0.0 : bias[f];
            for (std::int64_t a0 = 0; a0 < g.k[0]; ++a0)
              for (std::int64_t a1 = 0; a1 < g.k[1]; ++a1)
                for (std::int64_t a2 = 0; a2 < g.k[2]; ++a2) {
                  const std::int64_t i0 = o0 * g.s[0] - g.pad[0] + a0, i1 = o1 * g.s[1] - g.pad[1] + a1,
                                     i2 = o2 * g.s[2] - g.pad[2] + a2;
                  if (i0 < 0 || i0 >= g.in[0] || i1 < 0 || i1 >= g.in[1] || i2 < 0 || i2 >= g.in[2]) continue;
                  for (std::int64_t c = 0; c < C; ++c)
                    sum += double(x[(((b * g.in[0] + i0) * g.in[1] + i1) * g.in[2] + i2) * C + c]) *
                           w[(((a0 * g.k[1] + a1) * g.k[2] + a2) * C + c) * F + f];
                }
            y.push_back(relu ? std::max(sum, 0.0) : sum);
          }
  return y;
}

}  // namespace aptflow::test
