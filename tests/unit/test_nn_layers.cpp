// Every nn layer against a naive plain-loop reference written from the Keras
// definitions (double precision, direct indexing, no im2col, no GEMM) on
// random inputs, and every backward pass against central finite differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/nn/layers.hpp"
#include "aptflow/nn/model.hpp"
#include "test_nn_nets.hpp"

namespace {

using namespace aptflow::nn;
using aptflow::test::expect_close;
using aptflow::test::random_values;

Tensor random_tensor(Shape shape, std::uint32_t seed) {
  Tensor t(shape);
  t.data = random_values(t.data.size(), seed);
  return t;
}

void randomise_params(Layer& l, std::uint32_t seed) {
  for (auto& p : l.params()) p.value = random_values(p.value.size(), seed++, -0.5f, 0.5f);
}

Shape with_batch(std::int64_t b, const Shape& s) {
  Shape out{b};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

double act_ref(double z, Activation a) {
  if (a == Activation::relu) return z > 0 ? z : 0;
  if (a == Activation::sigmoid) return 1 / (1 + std::exp(-z));
  return z;
}

// Naive N-D convolution (channels last, Keras padding), rank 1..3, on 3 padded axes.
std::vector<double> conv_ref(const Tensor& x, const ConvSpec& s, const std::vector<float>& kernel,
                             const std::vector<float>& bias, Shape& out_shape) {
  const int r = s.rank;
  const std::int64_t B = x.shape[0], C = x.shape.back(), F = s.filters;
  std::int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, st[3] = {1, 1, 1}, out[3] = {1, 1, 1}, pad[3] = {0, 0, 0};
  for (int a = 0; a < r; ++a) {
    in[3 - r + a] = x.shape[1 + a];
    k[3 - r + a] = s.kernel[a];
    st[3 - r + a] = s.strides.empty() ? 1 : s.strides[a];
  }
  for (int a = 0; a < 3; ++a) {
    if (s.padding == Padding::valid) {
      out[a] = (in[a] - k[a]) / st[a] + 1;
    } else {
      out[a] = (in[a] + st[a] - 1) / st[a];
      pad[a] = std::max<std::int64_t>((out[a] - 1) * st[a] + k[a] - in[a], 0) / 2;
    }
  }
  out_shape = {B};
  for (int a = 0; a < r; ++a) out_shape.push_back(out[3 - r + a]);
  out_shape.push_back(F);
  std::vector<double> y;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t o0 = 0; o0 < out[0]; ++o0)
      for (std::int64_t o1 = 0; o1 < out[1]; ++o1)
        for (std::int64_t o2 = 0; o2 < out[2]; ++o2)
          for (std::int64_t f = 0; f < F; ++f) {
            double sum = bias.empty() ? 0.0 : bias[f];
            for (std::int64_t a0 = 0; a0 < k[0]; ++a0)
              for (std::int64_t a1 = 0; a1 < k[1]; ++a1)
                for (std::int64_t a2 = 0; a2 < k[2]; ++a2) {
                  const std::int64_t i0 = o0 * st[0] - pad[0] + a0, i1 = o1 * st[1] - pad[1] + a1,
                                     i2 = o2 * st[2] - pad[2] + a2;
                  if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2]) continue;
                  for (std::int64_t c = 0; c < C; ++c) {
                    const double xv = x.data[(((b * in[0] + i0) * in[1] + i1) * in[2] + i2) * C + c];
                    const double kv = kernel[(((a0 * k[1] + a1) * k[2] + a2) * C + c) * F + f];
                    sum += xv * kv;
                  }
                }
            y.push_back(act_ref(sum, s.activation));
          }
  return y;
}

struct ConvCase {
  Shape input;
  ConvSpec spec;
};

TEST(NnLayers, ConvForwardMatchesNaiveLoops) {
  const std::vector<ConvCase> cases = {
      {{93, 1}, {1, 16, {10}, {1}, Padding::valid, Activation::relu, true}},    // the CoCrNi first layer
      {{20, 3}, {1, 4, {3}, {2}, Padding::same, Activation::linear, true}},     // stride + same
      {{17, 2}, {1, 5, {4}, {3}, Padding::valid, Activation::sigmoid, false}},  // stride, valid, no bias
      {{11, 3}, {1, 2, {4}, {1}, Padding::same, Activation::linear, true}},     // even kernel same
      {{9, 8, 2}, {2, 3, {3, 2}, {1, 2}, Padding::same, Activation::relu, true}},
      {{10, 7, 1}, {2, 4, {3, 3}, {2, 1}, Padding::valid, Activation::linear, true}},
      {{5, 6, 4, 2}, {3, 3, {2, 3, 2}, {1, 2, 1}, Padding::same, Activation::linear, true}},
      {{6, 5, 5, 1}, {3, 2, {3, 3, 3}, {1, 1, 1}, Padding::valid, Activation::relu, true}},
      {{7, 5}, {1, 3, {1}, {1}, Padding::valid, Activation::linear, true}},  // pointwise path
  };
  std::uint32_t seed = 10;
  for (const auto& c : cases) {
    Conv conv("conv", c.spec);
    conv.build(c.input);
    randomise_params(conv, seed++);
    const Tensor x = random_tensor(with_batch(3, c.input), seed++);
    Shape want_shape;
    const auto want = conv_ref(x, c.spec, conv.param("kernel").value,
                               c.spec.use_bias ? conv.param("bias").value : std::vector<float>{}, want_shape);
    for (ConvAlgorithm algo : {ConvAlgorithm::automatic, ConvAlgorithm::direct, ConvAlgorithm::im2col}) {
      Tensor y;
      RunContext ctx;
      ctx.conv = algo;
      conv.forward(x, y, ctx);
      EXPECT_EQ(y.shape, want_shape) << conv.kind();
      expect_close(y.data, want, 1e-5);
      ASSERT_TRUE(ctx.conv_path.has_value());
      // The im2col path runs GEMMs and names their path; the direct path runs none.
      EXPECT_EQ(ctx.path.has_value(), algo == ConvAlgorithm::im2col);
      EXPECT_EQ(*ctx.conv_path == ConvPath::im2col, algo == ConvAlgorithm::im2col);
    }
  }
}

TEST(NnLayers, MaxPoolForwardMatchesNaiveLoops) {
  struct Case {
    Shape input;
    PoolSpec spec;
  };
  const std::vector<Case> cases = {
      {{84, 16}, {1, {2}, {}, Padding::valid}},  // the CoCrNi pooling
      {{11, 3}, {1, {3}, {2}, Padding::valid}},
      {{11, 3}, {1, {2}, {2}, Padding::same}},
      {{9, 7, 2}, {2, {2, 3}, {2, 2}, Padding::valid}},
      {{9, 7, 2}, {2, {2, 2}, {}, Padding::same}},
      {{5, 6, 7, 2}, {3, {2, 2, 3}, {1, 2, 2}, Padding::valid}},
  };
  std::uint32_t seed = 50;
  for (const auto& c : cases) {
    MaxPool pool("pool", c.spec);
    pool.build(c.input);
    const Tensor x = random_tensor(with_batch(2, c.input), seed++);
    Tensor y;
    RunContext ctx;
    pool.forward(x, y, ctx);
    const int r = c.spec.rank;
    std::int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, st[3] = {1, 1, 1}, out[3] = {1, 1, 1},
                 pad[3] = {0, 0, 0};
    for (int a = 0; a < r; ++a) {
      in[3 - r + a] = c.input[a];
      k[3 - r + a] = c.spec.pool[a];
      st[3 - r + a] = c.spec.strides.empty() ? c.spec.pool[a] : c.spec.strides[a];
    }
    for (int a = 0; a < 3; ++a) {
      if (c.spec.padding == Padding::valid) {
        out[a] = (in[a] - k[a]) / st[a] + 1;
      } else {
        out[a] = (in[a] + st[a] - 1) / st[a];
        pad[a] = std::max<std::int64_t>((out[a] - 1) * st[a] + k[a] - in[a], 0) / 2;
      }
    }
    const std::int64_t C = c.input.back();
    std::vector<double> want;
    for (std::int64_t b = 0; b < 2; ++b)
      for (std::int64_t o0 = 0; o0 < out[0]; ++o0)
        for (std::int64_t o1 = 0; o1 < out[1]; ++o1)
          for (std::int64_t o2 = 0; o2 < out[2]; ++o2)
            for (std::int64_t ch = 0; ch < C; ++ch) {
              double m = -1e30;
              for (std::int64_t i0 = o0 * st[0] - pad[0]; i0 < o0 * st[0] - pad[0] + k[0]; ++i0)
                for (std::int64_t i1 = o1 * st[1] - pad[1]; i1 < o1 * st[1] - pad[1] + k[1]; ++i1)
                  for (std::int64_t i2 = o2 * st[2] - pad[2]; i2 < o2 * st[2] - pad[2] + k[2]; ++i2)
                    if (i0 >= 0 && i0 < in[0] && i1 >= 0 && i1 < in[1] && i2 >= 0 && i2 < in[2])
                      m = std::max<double>(m,
                                           x.data[(((b * in[0] + i0) * in[1] + i1) * in[2] + i2) * C + ch]);
              want.push_back(m);
            }
    expect_close(y.data, want, 0.0);
  }
}

TEST(NnLayers, DenseActivationsFlattenMatchNaiveLoops) {
  // Dense on (batch, 7) with each activation; softmax rows sum to 1.
  for (auto act : {Activation::linear, Activation::relu, Activation::sigmoid, Activation::softmax}) {
    Dense d("dense", 5, act);
    d.build({7});
    randomise_params(d, 3);
    const Tensor x = random_tensor({4, 7}, 4);
    Tensor y;
    RunContext ctx;
    d.forward(x, y, ctx);
    std::vector<double> want;
    for (int b = 0; b < 4; ++b) {
      std::vector<double> z(5);
      for (int j = 0; j < 5; ++j) {
        z[j] = d.param("bias").value[j];
        for (int i = 0; i < 7; ++i) z[j] += double(x.data[b * 7 + i]) * d.param("kernel").value[i * 5 + j];
      }
      if (act == Activation::softmax) {
        double top = *std::max_element(z.begin(), z.end()), sum = 0;
        for (auto& v : z) sum += std::exp(v - top);
        for (auto& v : z) v = std::exp(v - top) / sum;
      } else {
        for (auto& v : z) v = act_ref(v, act);
      }
      want.insert(want.end(), z.begin(), z.end());
    }
    expect_close(y.data, want, 1e-5);
  }
  // Flatten: element (t, c) of a (steps, channels) sample goes to t * channels + c.
  Flatten f("flat");
  EXPECT_EQ(f.build({6, 3}), Shape({18}));
  Tensor x = random_tensor({2, 6, 3}, 9), y;
  RunContext ctx;
  f.forward(x, y, ctx);
  EXPECT_EQ(y.shape, Shape({2, 18}));
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 6; ++t)
      for (int c = 0; c < 3; ++c) EXPECT_EQ(y.data[b * 18 + t * 3 + c], x.data[(b * 6 + t) * 3 + c]);
}

TEST(NnLayers, DropoutIsIdentityAtInferenceAndInvertedDropoutInTraining) {
  Dropout d("drop", 0.5);
  d.build({84, 16});
  const Tensor x = random_tensor({40, 84, 16}, 21);
  Tensor y;
  RunContext ctx;
  d.forward(x, y, ctx);
  EXPECT_EQ(y.data, x.data);
  ctx.training = true;
  ctx.seed = 1234;
  ctx.step = 7;
  d.forward(x, y, ctx);
  std::int64_t kept = 0;
  for (std::size_t i = 0; i < x.data.size(); ++i) {
    if (y.data[i] != 0.0f) {
      ++kept;
      EXPECT_FLOAT_EQ(y.data[i], x.data[i] * 2.0f);
    }
  }
  const double frac = double(kept) / x.data.size();  // 53760 draws: sigma 0.002
  EXPECT_NEAR(frac, 0.5, 0.01);
  // The mask depends on the sample index, not on how the batch was split.
  Tensor tail({10, 84, 16}), y_tail;
  std::copy(x.data.begin() + 30 * 84 * 16, x.data.end(), tail.data.begin());
  RunContext ctx2 = ctx;
  ctx2.first_sample = 30;
  d.forward(tail, y_tail, ctx2);
  EXPECT_TRUE(std::equal(y_tail.data.begin(), y_tail.data.end(), y.data.begin() + 30 * 84 * 16));
  // Another step gives another mask.
  ctx.step = 8;
  Tensor y8;
  d.forward(x, y8, ctx);
  EXPECT_NE(y8.data, y.data);
  EXPECT_THROW(Dropout("bad", 1.0), aptflow::ConfigError);
}

TEST(NnLayers, BadShapesAndConfigsAreConfigErrors) {
  Conv c("c", {1, 4, {10}, {1}, Padding::valid, Activation::relu, true});
  EXPECT_THROW(c.build({5, 1}), aptflow::ConfigError);  // input shorter than the kernel
  EXPECT_THROW(c.build({5, 5, 1}), aptflow::ConfigError);
  EXPECT_THROW(make_layer({{"class", "LSTM"}, {"name", "l"}}), aptflow::ConfigError);
  EXPECT_THROW(parse_activation("tanh", "k"), aptflow::ConfigError);
}

// ---------------------------------------------------------------- backward

// L = sum_i w_i y_i with fixed random w: dL/dy = w. Check dL/dx and dL/dparams
// against central differences (float forward, double accumulation).
double loss(Layer& l, const Tensor& x, const std::vector<float>& w, RunContext ctx) {
  Tensor y;
  l.forward(x, y, ctx);
  double s = 0;
  for (std::size_t i = 0; i < y.data.size(); ++i) s += double(w[i]) * y.data[i];
  return s;
}

void check_gradients(Layer& l, Tensor x, RunContext ctx, double eps, std::uint32_t seed) {
  Tensor y;
  l.forward(x, y, ctx);
  Tensor g(y.shape);
  g.data = random_values(g.data.size(), seed);
  for (auto& p : l.params()) std::fill(p.grad.begin(), p.grad.end(), 0.0f);
  Tensor gi;
  l.backward(x, y, g, gi, ctx);
  ASSERT_EQ(gi.shape, x.shape);
  auto check = [&](float& v, float analytic, const char* what, std::size_t i) {
    const float keep = v;
    v = keep + float(eps);
    const double up = loss(l, x, g.data, ctx);
    v = keep - float(eps);
    const double down = loss(l, x, g.data, ctx);
    v = keep;
    const double numeric = (up - down) / (2 * eps);
    EXPECT_NEAR(analytic, numeric, 2e-3 * (1 + std::abs(numeric))) << l.kind() << " " << what << " " << i;
  };
  for (std::size_t i = 0; i < x.data.size(); ++i) check(x.data[i], gi.data[i], "input", i);
  for (auto& p : l.params())
    for (std::size_t i = 0; i < p.value.size(); ++i) check(p.value[i], p.grad[i], p.name.c_str(), i);
}

TEST(NnLayers, ConvBackwardMatchesFiniteDifferences) {
  const std::vector<ConvCase> cases = {
      {{9, 2}, {1, 3, {3}, {1}, Padding::valid, Activation::sigmoid, true}},
      {{10, 2}, {1, 2, {4}, {3}, Padding::same, Activation::linear, true}},
      {{5, 4, 2}, {2, 2, {3, 2}, {2, 1}, Padding::same, Activation::softmax, true}},
      {{4, 3, 4, 1}, {3, 2, {2, 2, 3}, {1, 2, 1}, Padding::same, Activation::sigmoid, true}},
      {{6, 3}, {1, 2, {1}, {1}, Padding::valid, Activation::linear, false}},
  };
  std::uint32_t seed = 100;
  for (const auto& c : cases) {
    Conv conv("conv", c.spec);
    conv.build(c.input);
    randomise_params(conv, seed++);
    check_gradients(conv, random_tensor(with_batch(2, c.input), seed++), RunContext{}, 1e-2, seed++);
  }
}

TEST(NnLayers, DenseActivationPoolDropoutBackwardMatchFiniteDifferences) {
  for (auto act : {Activation::linear, Activation::sigmoid, Activation::softmax}) {
    Dense d("dense", 4, act);
    d.build({6});
    randomise_params(d, 7);
    check_gradients(d, random_tensor({3, 6}, 8), RunContext{}, 1e-2, 9);
    ActivationLayer a("act", act);
    a.build({5});
    check_gradients(a, random_tensor({3, 5}, 10), RunContext{}, 1e-2, 11);
  }
  // ReLU: inputs kept away from the kink.
  {
    ActivationLayer a("relu", Activation::relu);
    a.build({12});
    Tensor x = random_tensor({2, 12}, 12);
    for (auto& v : x.data) v = v < 0 ? v - 0.1f : v + 0.1f;
    check_gradients(a, x, RunContext{}, 1e-2, 13);
  }
  // Max pooling: distinct values at least 0.05 apart, so eps = 1e-2 keeps every argmax.
  for (auto padding : {Padding::valid, Padding::same}) {
    MaxPool p("pool", {2, {2, 2}, {2, 1}, padding});
    p.build({5, 4, 2});
    Tensor x({2, 5, 4, 2});
    std::vector<int> order(x.data.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = int(i);
    std::shuffle(order.begin(), order.end(), std::mt19937(14));
    for (std::size_t i = 0; i < order.size(); ++i) x.data[i] = 0.05f * order[i] - 2.0f;
    check_gradients(p, x, RunContext{}, 1e-2, 15);
  }
  // Dropout in training: the mask is fixed by the context.
  {
    Dropout d("drop", 0.3);
    d.build({4, 3});
    RunContext ctx;
    ctx.training = true;
    ctx.seed = 99;
    check_gradients(d, random_tensor({3, 4, 3}, 16), ctx, 1e-2, 17);
  }
}

TEST(NnLayers, ModelBackwardMatchesFiniteDifferences) {
  Model m({12, 2});
  m.add(std::make_unique<Conv>("c1", ConvSpec{1, 3, {3}, {1}, Padding::same, Activation::sigmoid, true}));
  m.add(std::make_unique<Dropout>("drop", 0.25));
  m.add(std::make_unique<MaxPool>("p1", PoolSpec{1, {2}, {}, Padding::valid}));
  m.add(std::make_unique<Flatten>("flat"));
  m.add(std::make_unique<Dense>("d1", 3, Activation::softmax));
  std::uint32_t seed = 200;
  for (auto* p : m.parameters()) p->value = random_values(p->value.size(), seed++, -0.8f, 0.8f);
  Tensor x = random_tensor({2, 12, 2}, 300);
  RunContext ctx;
  ctx.training = true;
  ctx.seed = 5;
  const Tensor y = m.forward(x, ctx);
  Tensor g(y.shape);
  g.data = random_values(g.data.size(), 301);
  m.zero_grad();
  const Tensor gx = m.backward(g);
  auto L = [&]() {
    const Tensor& out = m.forward(x, ctx);
    double s = 0;
    for (std::size_t i = 0; i < out.data.size(); ++i) s += double(g.data[i]) * out.data[i];
    return s;
  };
  const double eps = 1e-2;
  // Pooling of sigmoid outputs can tie only with probability 0 on random inputs;
  // a few parameters of every layer and every input.
  for (auto* p : m.parameters()) {
    const auto grads = p->grad;
    for (std::size_t i = 0; i < p->value.size(); i += 3) {
      const float keep = p->value[i];
      p->value[i] = keep + float(eps);
      const double up = L();
      p->value[i] = keep - float(eps);
      const double down = L();
      p->value[i] = keep;
      const double numeric = (up - down) / (2 * eps);
      EXPECT_NEAR(grads[i], numeric, 2e-3 * (1 + std::abs(numeric))) << p->name << " " << i;
    }
  }
  for (std::size_t i = 0; i < x.data.size(); ++i) {
    const float keep = x.data[i];
    x.data[i] = keep + float(eps);
    const double up = L();
    x.data[i] = keep - float(eps);
    const double down = L();
    x.data[i] = keep;
    EXPECT_NEAR(gx.data[i], (up - down) / (2 * eps), 2e-3 * (1 + std::abs((up - down) / (2 * eps)))) << i;
  }
  EXPECT_EQ(m.parameter_count(), 3 * 2 * 3 + 3 + 18 * 3 + 3);
  ASSERT_TRUE(m.gemm_path().has_value());
}

}  // namespace
