// Layers of the neural network; see include/aptflow/nn/layers.hpp.
#include "aptflow/nn/layers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "aptflow/core/error.hpp"
#include "aptflow/core/rng.hpp"
#include "nn/direct_conv.hpp"

namespace aptflow::nn {

namespace {

// im2col buffers are processed in chunks of samples of at most this many floats (128 MiB).
constexpr std::int64_t kMaxColumnFloats = std::int64_t{1} << 25;

std::int64_t samples_per_chunk(std::int64_t batch, std::int64_t floats_per_sample) {
  const std::int64_t n = kMaxColumnFloats / std::max<std::int64_t>(floats_per_sample, 1);
  return std::clamp<std::int64_t>(n, 1, std::max<std::int64_t>(batch, 1));
}

// Forward convolutions lower im2col in blocks of output rows of at most this
// many floats (512 KiB), in a per-thread buffer that is reused, so that the
// columns are still in cache when the GEMM consumes them and no large buffer
// is allocated (and page-faulted) per call.
constexpr std::int64_t kForwardColumnFloats = std::int64_t{1} << 17;

std::vector<float>& forward_scratch(std::size_t floats) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < floats) buffer.resize(floats);
  return buffer;
}

std::string layer_key(const std::string& name) { return fmt::format("model.layers.{}", name); }

// Output extent and padding before, Keras/TensorFlow rules.
void axis_geometry(std::int64_t in, std::int64_t k, std::int64_t s, Padding p, const std::string& name,
                   std::int64_t& out, std::int64_t& pad) {
  if (p == Padding::valid) {
    if (in < k)
      throw ConfigError(layer_key(name), fmt::format("input extent {} is smaller than the window {} "
                                                     "(valid padding); use a larger input or 'same' padding",
                                                     in, k));
    out = (in - k) / s + 1;
    pad = 0;
  } else {
    out = (in + s - 1) / s;
    pad = std::max<std::int64_t>((out - 1) * s + k - in, 0) / 2;
  }
}

void add_bias(float* y, const float* bias, std::int64_t rows, std::int64_t width) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < width; ++j) y[r * width + j] += bias[j];
}

// y = act(y + bias) on rows x width; ReLU and linear in one pass.
void bias_activation(float* y, const float* bias, std::int64_t rows, std::int64_t width, Activation a) {
  if (a == Activation::relu) {
    for (std::int64_t r = 0; r < rows; ++r) {
      float* yr = y + r * width;
      if (bias != nullptr) {
        for (std::int64_t j = 0; j < width; ++j) {
          const float v = yr[j] + bias[j];
          yr[j] = v > 0.0f ? v : 0.0f;
        }
      } else {
        for (std::int64_t j = 0; j < width; ++j) yr[j] = yr[j] > 0.0f ? yr[j] : 0.0f;
      }
    }
    return;
  }
  if (bias != nullptr) add_bias(y, bias, rows, width);
  apply_activation(a, y, rows, width);
}

void add_column_sums(const float* g, float* sums, std::int64_t rows, std::int64_t width) {
  std::vector<double> acc(static_cast<std::size_t>(width), 0.0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < width; ++j) acc[static_cast<std::size_t>(j)] += g[r * width + j];
  for (std::int64_t j = 0; j < width; ++j) sums[j] += static_cast<float>(acc[static_cast<std::size_t>(j)]);
}

Shape json_shape(const nlohmann::json& j, const std::string& key, const std::string& name) {
  if (j.is_number_integer()) return Shape{j.get<std::int64_t>()};
  if (!j.is_array()) throw ConfigError(layer_key(name), fmt::format("'{}' must be an integer list", key));
  Shape s;
  for (const auto& v : j) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 1)
      throw ConfigError(layer_key(name),
                        fmt::format("'{}' must hold positive integers, got {}", key, j.dump()));
    s.push_back(v.get<std::int64_t>());
  }
  return s;
}

// Spatial extents of a channels-last per-sample shape, right-aligned into 3 axes.
void spatial3(const Shape& sample, int rank, std::int64_t out[3]) {
  out[0] = out[1] = out[2] = 1;
  for (int a = 0; a < rank; ++a) out[3 - rank + a] = sample[static_cast<std::size_t>(a)];
}

// Geometry of a window sliding over `rank` spatial axes (Conv and MaxPool),
// padded to 3 axes (d, h, w); returns the spatial output shape.
Shape sliding_geometry(const Shape& input, int r, const Shape& window, const Shape& strides, Padding padding,
                       const std::string& name, const std::string& kind, std::int64_t (&in_sp)[3],
                       std::int64_t (&k)[3], std::int64_t (&s)[3], std::int64_t (&out_sp)[3],
                       std::int64_t (&pad)[3], std::int64_t& channels) {
  if (static_cast<int>(input.size()) != r + 1)
    throw ConfigError(layer_key(name),
                      fmt::format("{} needs inputs of rank {} (spatial..., channels), got {}", kind, r + 1,
                                  shape_string(input)));
  spatial3(input, r, in_sp);
  channels = input.back();
  Shape out;
  for (int a = 0; a < 3; ++a) {
    const int sa = a - (3 - r);
    k[a] = sa >= 0 ? window[static_cast<std::size_t>(sa)] : 1;
    s[a] = sa >= 0 ? strides[static_cast<std::size_t>(sa)] : 1;
    axis_geometry(in_sp[a], k[a], s[a], sa >= 0 ? padding : Padding::valid, name, out_sp[a], pad[a]);
    if (sa >= 0) out.push_back(out_sp[a]);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- enums

std::string to_string(Activation a) {
  switch (a) {
    case Activation::linear:
      return "linear";
    case Activation::relu:
      return "relu";
    case Activation::sigmoid:
      return "sigmoid";
    case Activation::softmax:
      return "softmax";
  }
  return "linear";
}

Activation parse_activation(const std::string& text, const std::string& key) {
  if (text == "linear" || text.empty()) return Activation::linear;
  if (text == "relu") return Activation::relu;
  if (text == "sigmoid") return Activation::sigmoid;
  if (text == "softmax") return Activation::softmax;
  throw ConfigError(
      key, fmt::format("activation '{}' is not supported; use linear, relu, sigmoid or softmax", text));
}

std::string to_string(Padding p) { return p == Padding::same ? "same" : "valid"; }

std::string_view conv_path_name(ConvPath path) noexcept {
  switch (path) {
    case ConvPath::direct_avx2:
      return "[direct avx2]";
    case ConvPath::direct_generic:
      return "[direct generic]";
    case ConvPath::im2col:
      return "[im2col+gemm]";
  }
  return "[im2col+gemm]";
}

ConvAlgorithm parse_conv_algorithm(std::string_view text, std::string_view key) {
  if (text == "auto") return ConvAlgorithm::automatic;
  if (text == "direct") return ConvAlgorithm::direct;
  if (text == "im2col") return ConvAlgorithm::im2col;
  throw ConfigError(std::string(key), fmt::format("'{}' is not a convolution algorithm; use \"auto\", "
                                                  "\"direct\" or \"im2col\"",
                                                  text));
}

Padding parse_padding(const std::string& text, const std::string& key) {
  if (text == "valid") return Padding::valid;
  if (text == "same") return Padding::same;
  throw ConfigError(key, fmt::format("padding '{}' is not supported; use 'valid' or 'same'", text));
}

// ---------------------------------------------------------------- activations

void apply_activation(Activation a, float* y, std::int64_t rows, std::int64_t width) {
  const std::int64_t n = rows * width;
  switch (a) {
    case Activation::linear:
      return;
    case Activation::relu:
      for (std::int64_t i = 0; i < n; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
      return;
    case Activation::sigmoid:
      for (std::int64_t i = 0; i < n; ++i) {
        const float x = y[i];
        if (x >= 0.0f) {
          y[i] = 1.0f / (1.0f + std::exp(-x));
        } else {
          const float e = std::exp(x);
          y[i] = e / (1.0f + e);
        }
      }
      return;
    case Activation::softmax:
      for (std::int64_t r = 0; r < rows; ++r) {
        float* row = y + r * width;
        float top = row[0];
        for (std::int64_t j = 1; j < width; ++j) top = std::max(top, row[j]);
        double sum = 0.0;
        for (std::int64_t j = 0; j < width; ++j) {
          row[j] = std::exp(row[j] - top);
          sum += row[j];
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (std::int64_t j = 0; j < width; ++j) row[j] *= inv;
      }
      return;
  }
}

void activation_backward(Activation a, const float* y, float* grad, std::int64_t rows, std::int64_t width) {
  const std::int64_t n = rows * width;
  switch (a) {
    case Activation::linear:
      return;
    case Activation::relu:
      for (std::int64_t i = 0; i < n; ++i)
        if (!(y[i] > 0.0f)) grad[i] = 0.0f;
      return;
    case Activation::sigmoid:
      for (std::int64_t i = 0; i < n; ++i) grad[i] *= y[i] * (1.0f - y[i]);
      return;
    case Activation::softmax:
      // dz_j = y_j (g_j - sum_k g_k y_k)
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* yr = y + r * width;
        float* gr = grad + r * width;
        double dot = 0.0;
        for (std::int64_t j = 0; j < width; ++j) dot += static_cast<double>(gr[j]) * yr[j];
        for (std::int64_t j = 0; j < width; ++j) gr[j] = yr[j] * (gr[j] - static_cast<float>(dot));
      }
      return;
  }
}

// ---------------------------------------------------------------- Layer

Shape Layer::build(const Shape& input) {
  for (auto e : input)
    if (e < 1)
      throw ConfigError(layer_key(name_),
                        fmt::format("input shape {} has an empty axis", shape_string(input)));
  params_.clear();
  out_ = do_build(input);
  in_ = input;
  built_ = true;
  return out_;
}

void Layer::add_param(std::string name, Shape shape) {
  Param p;
  p.name = std::move(name);
  p.shape = std::move(shape);
  p.value.assign(static_cast<std::size_t>(shape_size(p.shape)), 0.0f);
  p.grad.assign(p.value.size(), 0.0f);
  params_.push_back(std::move(p));
}

Param& Layer::param(const std::string& name) {
  for (auto& p : params_)
    if (p.name == name) return p;
  throw ConfigError(layer_key(name_), fmt::format("{} layer has no parameter '{}'", kind(), name));
}

const Param& Layer::param(const std::string& name) const { return const_cast<Layer*>(this)->param(name); }

std::int64_t Layer::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& p : params_) n += shape_size(p.shape);
  return n;
}

void Layer::infer(const float* x, std::int64_t batch, float* y, RunContext& ctx) const {
  Shape shape{batch};
  shape.insert(shape.end(), in_.begin(), in_.end());
  Tensor in(shape), out;
  std::copy_n(x, in.data.size(), in.data.begin());
  RunContext inference = ctx;
  inference.training = false;
  forward(in, out, inference);
  std::copy(out.data.begin(), out.data.end(), y);
  ctx.path = inference.path ? inference.path : ctx.path;
  ctx.conv_path = inference.conv_path ? inference.conv_path : ctx.conv_path;
}

void Layer::check_input(const Tensor& in) const {
  APTFLOW_ASSERT(built_, fmt::format("layer '{}' used before build()", name_));
  if (in.sample_shape() != in_ || static_cast<std::int64_t>(in.data.size()) != shape_size(in.shape))
    throw InternalError(fmt::format("layer '{}' ({}): input of sample shape {} where {} was built", name_,
                                    kind(), shape_string(in.sample_shape()), shape_string(in_)));
}

// ---------------------------------------------------------------- Conv

Conv::Conv(std::string name, ConvSpec spec) : Layer(std::move(name)), spec_(std::move(spec)) {
  const auto key = layer_key(this->name());
  if (spec_.rank < 1 || spec_.rank > 3) throw ConfigError(key, "convolution rank must be 1, 2 or 3");
  if (spec_.strides.empty()) spec_.strides.assign(static_cast<std::size_t>(spec_.rank), 1);
  if (static_cast<int>(spec_.kernel.size()) != spec_.rank ||
      static_cast<int>(spec_.strides.size()) != spec_.rank)
    throw ConfigError(key, fmt::format("kernel_size and strides need {} entries", spec_.rank));
  for (auto v : spec_.kernel)
    if (v < 1) throw ConfigError(key, "kernel_size entries must be >= 1");
  for (auto v : spec_.strides)
    if (v < 1) throw ConfigError(key, "strides must be >= 1");
  if (spec_.filters < 1) throw ConfigError(key, "filters must be >= 1");
}

std::string Conv::kind() const { return fmt::format("Conv{}D", spec_.rank); }

Shape Conv::do_build(const Shape& input) {
  Shape out = sliding_geometry(input, spec_.rank, spec_.kernel, spec_.strides, spec_.padding, name(), kind(),
                               in_sp_, k_, s_, out_sp_, pad_, channels_);
  out.push_back(spec_.filters);
  Shape kshape = spec_.kernel;
  kshape.push_back(channels_);
  kshape.push_back(spec_.filters);
  add_param("kernel", kshape);
  if (spec_.use_bias) add_param("bias", Shape{spec_.filters});
  return out;
}

void Conv::im2col_rows(const float* x, std::int64_t row0, std::int64_t nrows, float* cols) const {
  const std::int64_t C = channels_, in_size = in_sp_[0] * in_sp_[1] * in_sp_[2] * C, npos = positions();
  const std::int64_t krow = k_[2] * C;  // floats of one kernel row (contiguous when it lies inside)
  std::int64_t b = row0 / npos;
  const std::int64_t o = row0 % npos;
  std::int64_t ow = o % out_sp_[2], oh = (o / out_sp_[2]) % out_sp_[1], od = o / (out_sp_[2] * out_sp_[1]);
  float* dst = cols;
  for (std::int64_t r = 0; r < nrows; ++r) {
    const float* xb = x + b * in_size;
    const std::int64_t iw0 = ow * s_[2] - pad_[2];
    const bool w_inside = iw0 >= 0 && iw0 + k_[2] <= in_sp_[2];
    for (std::int64_t a = 0; a < k_[0]; ++a) {
      const std::int64_t id = od * s_[0] - pad_[0] + a;
      for (std::int64_t bb = 0; bb < k_[1]; ++bb, dst += krow) {
        const std::int64_t ih = oh * s_[1] - pad_[1] + bb;
        if (id < 0 || id >= in_sp_[0] || ih < 0 || ih >= in_sp_[1]) {
          std::fill(dst, dst + krow, 0.0f);
          continue;
        }
        const float* src = xb + (id * in_sp_[1] + ih) * in_sp_[2] * C;
        if (w_inside) {
          std::copy_n(src + iw0 * C, krow, dst);
          continue;
        }
        for (std::int64_t c = 0; c < k_[2]; ++c) {
          const std::int64_t iw = iw0 + c;
          if (iw < 0 || iw >= in_sp_[2])
            std::fill(dst + c * C, dst + (c + 1) * C, 0.0f);
          else
            std::copy_n(src + iw * C, C, dst + c * C);
        }
      }
    }
    if (++ow == out_sp_[2]) {
      ow = 0;
      if (++oh == out_sp_[1]) {
        oh = 0;
        if (++od == out_sp_[0]) {
          od = 0;
          ++b;
        }
      }
    }
  }
}

void Conv::col2im(const float* cols, std::int64_t nb, float* grad_x) const {
  const std::int64_t C = channels_, in_size = in_sp_[0] * in_sp_[1] * in_sp_[2] * C;
  const float* src = cols;
  for (std::int64_t b = 0; b < nb; ++b) {
    float* gb = grad_x + b * in_size;
    for (std::int64_t od = 0; od < out_sp_[0]; ++od)
      for (std::int64_t oh = 0; oh < out_sp_[1]; ++oh)
        for (std::int64_t ow = 0; ow < out_sp_[2]; ++ow)
          for (std::int64_t a = 0; a < k_[0]; ++a) {
            const std::int64_t id = od * s_[0] - pad_[0] + a;
            for (std::int64_t bb = 0; bb < k_[1]; ++bb) {
              const std::int64_t ih = oh * s_[1] - pad_[1] + bb;
              for (std::int64_t c = 0; c < k_[2]; ++c, src += C) {
                const std::int64_t iw = ow * s_[2] - pad_[2] + c;
                if (id < 0 || id >= in_sp_[0] || ih < 0 || ih >= in_sp_[1] || iw < 0 || iw >= in_sp_[2])
                  continue;
                float* g = gb + ((id * in_sp_[1] + ih) * in_sp_[2] + iw) * C;
                for (std::int64_t ch = 0; ch < C; ++ch) g[ch] += src[ch];
              }
            }
          }
  }
}

namespace {

SlidingGeometry make_geometry(const std::int64_t (&in)[3], const std::int64_t (&k)[3],
                              const std::int64_t (&s)[3], const std::int64_t (&pad)[3],
                              const std::int64_t (&out)[3], std::int64_t channels) {
  SlidingGeometry g;
  for (int a = 0; a < 3; ++a) {
    g.in[a] = in[a];
    g.k[a] = k[a];
    g.s[a] = s[a];
    g.pad[a] = pad[a];
    g.out[a] = out[a];
  }
  g.channels = channels;
  return g;
}

detail::ConvGeometry conv_geometry(const SlidingGeometry& s, std::int64_t filters) {
  detail::ConvGeometry g;
  for (int a = 0; a < 3; ++a) {
    g.in[a] = s.in[a];
    g.k[a] = s.k[a];
    g.s[a] = s.s[a];
    g.pad[a] = s.pad[a];
    g.out[a] = s.out[a];
  }
  g.channels = s.channels;
  g.filters = filters;
  return g;
}

}  // namespace

SlidingGeometry Conv::geometry() const { return make_geometry(in_sp_, k_, s_, pad_, out_sp_, channels_); }

SlidingGeometry MaxPool::geometry() const { return make_geometry(in_sp_, k_, s_, pad_, out_sp_, channels_); }

ConvPath Conv::path_for(const RunContext& ctx) const {
  const bool direct = ctx.conv == ConvAlgorithm::direct ||
                      (ctx.conv == ConvAlgorithm::automatic && ctx.backend != GemmBackend::cublas);
  if (!direct) return ConvPath::im2col;
  return detail::best_conv_isa() == detail::ConvIsa::avx2 ? ConvPath::direct_avx2 : ConvPath::direct_generic;
}

namespace {

detail::ConvIsa isa_of(ConvPath p) {
  return p == ConvPath::direct_avx2 ? detail::ConvIsa::avx2 : detail::ConvIsa::generic;
}

}  // namespace

void Conv::forward(const Tensor& in, Tensor& out, RunContext& ctx) const {
  check_input(in);
  Shape oshape{in.batch()};
  oshape.insert(oshape.end(), output_shape().begin(), output_shape().end());
  out.reset(oshape);
  infer(in.data.data(), in.batch(), out.data.data(), ctx);
}

void Conv::infer(const float* x, std::int64_t batch, float* y, RunContext& ctx) const {
  APTFLOW_ASSERT(built(), fmt::format("layer '{}' used before build()", name()));
  if (batch * positions() == 0) return;
  const ConvPath path = path_for(ctx);
  ctx.conv_path = path;
  if (path == ConvPath::im2col) {
    infer_im2col(x, batch, y, ctx);
    return;
  }
  const detail::ConvGeometry g = conv_geometry(geometry(), spec_.filters);
  const bool relu = spec_.activation == Activation::relu;
  detail::direct_conv(isa_of(path), g, param("kernel").value.data(),
                      spec_.use_bias ? param("bias").value.data() : nullptr, relu, nullptr, x, batch, y);
  if (!relu && spec_.activation != Activation::linear)
    apply_activation(spec_.activation, y, batch * positions(), spec_.filters);
}

bool Conv::fuses_with(const MaxPool& pool, const RunContext& ctx) const {
  if (path_for(ctx) == ConvPath::im2col) return false;
  if (spec_.activation != Activation::relu && spec_.activation != Activation::linear) return false;
  const PoolSpec& ps = pool.spec();
  return pool.built() && pool.input_shape() == output_shape() && ps.rank == spec_.rank &&
         ps.padding == Padding::valid && ps.strides == ps.pool;
}

void Conv::infer_pooled(const float* x, std::int64_t batch, const MaxPool& pool, float* y,
                        RunContext& ctx) const {
  APTFLOW_ASSERT(fuses_with(pool, ctx),
                 fmt::format("Conv::infer_pooled: '{}' cannot run fused with '{}'", name(), pool.name()));
  const ConvPath path = path_for(ctx);
  ctx.conv_path = path;
  if (batch == 0) return;
  const detail::ConvGeometry g = conv_geometry(geometry(), spec_.filters);
  detail::FusedPool fp;
  const SlidingGeometry pg = pool.geometry();
  for (int a = 0; a < 3; ++a) {
    fp.p[a] = pg.k[a];
    fp.out[a] = pg.out[a];
  }
  detail::direct_conv(isa_of(path), g, param("kernel").value.data(),
                      spec_.use_bias ? param("bias").value.data() : nullptr,
                      spec_.activation == Activation::relu, &fp, x, batch, y);
}

void Conv::infer_im2col(const float* x, std::int64_t batch, float* y, RunContext& ctx) const {
  const std::int64_t P = patch(), F = spec_.filters, npos = positions();
  const float* kernel = param("kernel").value.data();
  const float* bias = spec_.use_bias ? param("bias").value.data() : nullptr;
  const std::int64_t total = batch * npos;
  if (total == 0) return;
  // A 1x1 (x1) kernel with unit strides is a plain GEMM on the input rows.
  const bool pointwise = P == channels_ && s_[0] == 1 && s_[1] == 1 && s_[2] == 1;
  if (pointwise) {
    ctx.path =
        gemm(Transpose::no, Transpose::no, total, F, P, 1.0f, x, P, kernel, F, 0.0f, y, F, ctx.backend);
    bias_activation(y, bias, total, F, spec_.activation);
    return;
  }
  // Blocks of output rows (row = sample * positions + position; a block may
  // span samples): im2col into the cached buffer, GEMM, bias and activation.
  const std::int64_t block = std::clamp<std::int64_t>(kForwardColumnFloats / P, 1, total);
  std::vector<float>& cols = forward_scratch(static_cast<std::size_t>(block * P));
  for (std::int64_t r0 = 0; r0 < total; r0 += block) {
    const std::int64_t rows = std::min(block, total - r0);
    im2col_rows(x, r0, rows, cols.data());
    float* yb = y + r0 * F;
    ctx.path = gemm(Transpose::no, Transpose::no, rows, F, P, 1.0f, cols.data(), P, kernel, F, 0.0f, yb, F,
                    ctx.backend);
    bias_activation(yb, bias, rows, F, spec_.activation);
  }
}

void Conv::backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor& grad_in,
                    RunContext& ctx) {
  check_input(in);
  const std::int64_t batch = in.batch(), P = patch(), F = spec_.filters, npos = positions();
  grad_in.reset(in.shape);
  std::fill(grad_in.data.begin(), grad_in.data.end(), 0.0f);
  const bool pointwise = P == channels_ && s_[0] == 1 && s_[1] == 1 && s_[2] == 1;
  const std::int64_t nb = samples_per_chunk(batch, npos * P);
  std::vector<float> cols(pointwise ? 0 : static_cast<std::size_t>(nb * npos * P));
  std::vector<float> dcols(pointwise ? 0 : static_cast<std::size_t>(nb * npos * P));
  std::vector<float> gz;
  Param& kernel = param("kernel");
  for (std::int64_t b0 = 0; b0 < batch; b0 += nb) {
    const std::int64_t n = std::min(nb, batch - b0), rows = n * npos;
    gz.assign(grad_out.sample(b0), grad_out.sample(b0) + rows * F);
    activation_backward(spec_.activation, out.sample(b0), gz.data(), rows, F);
    if (spec_.use_bias) add_column_sums(gz.data(), param("bias").grad.data(), rows, F);
    const float* a = in.sample(b0);
    if (!pointwise) {
      im2col_rows(in.sample(b0), 0, rows, cols.data());
      a = cols.data();
    }
    // dK (P x F) += cols^T gz
    gemm(Transpose::yes, Transpose::no, P, F, rows, 1.0f, a, P, gz.data(), F, 1.0f, kernel.grad.data(), F,
         ctx.backend);
    // dcols (rows x P) = gz K^T
    float* dst = pointwise ? grad_in.sample(b0) : dcols.data();
    ctx.path = gemm(Transpose::no, Transpose::yes, rows, P, F, 1.0f, gz.data(), F, kernel.value.data(), F,
                    0.0f, dst, P, ctx.backend);
    if (!pointwise) col2im(dcols.data(), n, grad_in.sample(b0));
  }
}

nlohmann::json Conv::config() const {
  return {{"filters", spec_.filters},
          {"kernel_size", spec_.kernel},
          {"strides", spec_.strides},
          {"padding", to_string(spec_.padding)},
          {"activation", to_string(spec_.activation)},
          {"use_bias", spec_.use_bias}};
}

// ---------------------------------------------------------------- MaxPool

MaxPool::MaxPool(std::string name, PoolSpec spec) : Layer(std::move(name)), spec_(std::move(spec)) {
  const auto key = layer_key(this->name());
  if (spec_.rank < 1 || spec_.rank > 3) throw ConfigError(key, "pooling rank must be 1, 2 or 3");
  if (spec_.strides.empty()) spec_.strides = spec_.pool;
  if (static_cast<int>(spec_.pool.size()) != spec_.rank ||
      static_cast<int>(spec_.strides.size()) != spec_.rank)
    throw ConfigError(key, fmt::format("pool_size and strides need {} entries", spec_.rank));
  for (auto v : spec_.pool)
    if (v < 1) throw ConfigError(key, "pool_size entries must be >= 1");
  for (auto v : spec_.strides)
    if (v < 1) throw ConfigError(key, "strides must be >= 1");
}

std::string MaxPool::kind() const { return fmt::format("MaxPooling{}D", spec_.rank); }

Shape MaxPool::do_build(const Shape& input) {
  Shape out = sliding_geometry(input, spec_.rank, spec_.pool, spec_.strides, spec_.padding, name(), kind(),
                               in_sp_, k_, s_, out_sp_, pad_, channels_);
  out.push_back(channels_);
  return out;
}

std::int64_t MaxPool::argmax(const float* x, std::int64_t o, std::int64_t c) const {
  const std::int64_t ow = o % out_sp_[2], oh = (o / out_sp_[2]) % out_sp_[1],
                     od = o / (out_sp_[2] * out_sp_[1]);
  std::int64_t best = -1;
  float top = 0.0f;
  for (std::int64_t a = 0; a < k_[0]; ++a) {
    const std::int64_t id = od * s_[0] - pad_[0] + a;
    if (id < 0 || id >= in_sp_[0]) continue;
    for (std::int64_t b = 0; b < k_[1]; ++b) {
      const std::int64_t ih = oh * s_[1] - pad_[1] + b;
      if (ih < 0 || ih >= in_sp_[1]) continue;
      for (std::int64_t w = 0; w < k_[2]; ++w) {
        const std::int64_t iw = ow * s_[2] - pad_[2] + w;
        if (iw < 0 || iw >= in_sp_[2]) continue;
        const std::int64_t off = ((id * in_sp_[1] + ih) * in_sp_[2] + iw) * channels_ + c;
        if (best < 0 || x[off] > top) {
          best = off;
          top = x[off];
        }
      }
    }
  }
  return best;  // every output cell covers at least one input cell (valid or same geometry)
}

void MaxPool::forward(const Tensor& in, Tensor& out, RunContext& ctx) const {
  check_input(in);
  Shape oshape{in.batch()};
  oshape.insert(oshape.end(), output_shape().begin(), output_shape().end());
  out.reset(oshape);
  infer(in.data.data(), in.batch(), out.data.data(), ctx);
}

void MaxPool::infer(const float* xs, std::int64_t batch, float* ys, RunContext&) const {
  const std::int64_t C = channels_, in_size = shape_size(input_shape()),
                     out_size = shape_size(output_shape());
  // Same selection as argmax() (first covered cell, then strictly greater),
  // all channels of a cell at once (contiguous, channels last).
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* x = xs + b * in_size;
    float* yo = ys + b * out_size;
    for (std::int64_t od = 0; od < out_sp_[0]; ++od)
      for (std::int64_t oh = 0; oh < out_sp_[1]; ++oh)
        for (std::int64_t ow = 0; ow < out_sp_[2]; ++ow, yo += C) {
          bool first = true;
          for (std::int64_t a = 0; a < k_[0]; ++a) {
            const std::int64_t id = od * s_[0] - pad_[0] + a;
            if (id < 0 || id >= in_sp_[0]) continue;
            for (std::int64_t bb = 0; bb < k_[1]; ++bb) {
              const std::int64_t ih = oh * s_[1] - pad_[1] + bb;
              if (ih < 0 || ih >= in_sp_[1]) continue;
              for (std::int64_t w = 0; w < k_[2]; ++w) {
                const std::int64_t iw = ow * s_[2] - pad_[2] + w;
                if (iw < 0 || iw >= in_sp_[2]) continue;
                const float* xi = x + ((id * in_sp_[1] + ih) * in_sp_[2] + iw) * C;
                if (first) {
                  std::copy_n(xi, C, yo);
                  first = false;
                } else {
                  for (std::int64_t c = 0; c < C; ++c) yo[c] = xi[c] > yo[c] ? xi[c] : yo[c];
                }
              }
            }
          }
        }
  }
}

void MaxPool::backward(const Tensor& in, const Tensor&, const Tensor& grad_out, Tensor& grad_in,
                       RunContext&) {
  check_input(in);
  const std::int64_t batch = in.batch(), npos = out_sp_[0] * out_sp_[1] * out_sp_[2], C = channels_;
  grad_in.reset(in.shape);
  std::fill(grad_in.data.begin(), grad_in.data.end(), 0.0f);
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* x = in.sample(b);
    const float* g = grad_out.sample(b);
    float* gi = grad_in.sample(b);
    for (std::int64_t o = 0; o < npos; ++o)
      for (std::int64_t c = 0; c < C; ++c) gi[argmax(x, o, c)] += g[o * C + c];
  }
}

nlohmann::json MaxPool::config() const {
  return {{"pool_size", spec_.pool}, {"strides", spec_.strides}, {"padding", to_string(spec_.padding)}};
}

// ---------------------------------------------------------------- Dense

Dense::Dense(std::string name, std::int64_t units, Activation activation, bool use_bias)
    : Layer(std::move(name)), units_(units), act_(activation), use_bias_(use_bias) {
  if (units_ < 1) throw ConfigError(layer_key(this->name()), "units must be >= 1");
}

Shape Dense::do_build(const Shape& input) {
  if (input.empty()) throw ConfigError(layer_key(name()), "Dense needs an input of rank >= 1");
  add_param("kernel", Shape{input.back(), units_});
  if (use_bias_) add_param("bias", Shape{units_});
  Shape out = input;
  out.back() = units_;
  return out;
}

void Dense::forward(const Tensor& in, Tensor& out, RunContext& ctx) const {
  check_input(in);
  Shape oshape{in.batch()};
  oshape.insert(oshape.end(), output_shape().begin(), output_shape().end());
  out.reset(oshape);
  infer(in.data.data(), in.batch(), out.data.data(), ctx);
}

void Dense::infer(const float* x, std::int64_t batch, float* y, RunContext& ctx) const {
  const std::int64_t I = input_shape().back(), U = units_, rows = batch * (shape_size(input_shape()) / I);
  if (rows == 0) return;
  // y = bias, then y += x W (beta = 1): the bias rides on the GEMM's
  // accumulation instead of a separate pass, and OpenBLAS skips its beta pass.
  float beta = 0.0f;
  if (use_bias_) {
    const float* bias = param("bias").value.data();
    for (std::int64_t r = 0; r < rows; ++r) std::copy_n(bias, U, y + r * U);
    beta = 1.0f;
  }
  ctx.path = gemm(Transpose::no, Transpose::no, rows, U, I, 1.0f, x, I, param("kernel").value.data(), U, beta,
                  y, U, ctx.backend);
  bias_activation(y, nullptr, rows, U, act_);
}

void Dense::backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor& grad_in,
                     RunContext& ctx) {
  check_input(in);
  const std::int64_t I = input_shape().back(), U = units_, rows = shape_size(in.shape) / I;
  std::vector<float> gz(grad_out.data.begin(), grad_out.data.begin() + rows * U);
  activation_backward(act_, out.data.data(), gz.data(), rows, U);
  if (use_bias_) add_column_sums(gz.data(), param("bias").grad.data(), rows, U);
  Param& kernel = param("kernel");
  gemm(Transpose::yes, Transpose::no, I, U, rows, 1.0f, in.data.data(), I, gz.data(), U, 1.0f,
       kernel.grad.data(), U, ctx.backend);
  grad_in.reset(in.shape);
  ctx.path = gemm(Transpose::no, Transpose::yes, rows, I, U, 1.0f, gz.data(), U, kernel.value.data(), U, 0.0f,
                  grad_in.data.data(), I, ctx.backend);
}

nlohmann::json Dense::config() const {
  return {{"units", units_}, {"activation", to_string(act_)}, {"use_bias", use_bias_}};
}

// ---------------------------------------------------------------- Activation

ActivationLayer::ActivationLayer(std::string name, Activation activation)
    : Layer(std::move(name)), act_(activation) {}

void ActivationLayer::forward(const Tensor& in, Tensor& out, RunContext&) const {
  check_input(in);
  out.shape = in.shape;
  out.data = in.data;
  const std::int64_t width = input_shape().empty() ? 1 : input_shape().back();
  apply_activation(act_, out.data.data(), shape_size(in.shape) / width, width);
}

void ActivationLayer::infer(const float* x, std::int64_t batch, float* y, RunContext&) const {
  const std::int64_t n = batch * shape_size(input_shape());
  std::copy_n(x, n, y);
  const std::int64_t width = input_shape().empty() ? 1 : input_shape().back();
  apply_activation(act_, y, n / width, width);
}

void ActivationLayer::backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor& grad_in,
                               RunContext&) {
  check_input(in);
  grad_in.shape = in.shape;
  grad_in.data = grad_out.data;
  const std::int64_t width = input_shape().empty() ? 1 : input_shape().back();
  activation_backward(act_, out.data.data(), grad_in.data.data(), shape_size(in.shape) / width, width);
}

nlohmann::json ActivationLayer::config() const { return {{"activation", to_string(act_)}}; }

// ---------------------------------------------------------------- Dropout

Dropout::Dropout(std::string name, double rate) : Layer(std::move(name)), rate_(rate) {
  if (!(rate >= 0.0 && rate < 1.0))
    throw ConfigError(layer_key(this->name()), fmt::format("dropout rate {} must lie in [0, 1)", rate));
}

bool Dropout::kept(const RunContext& ctx, std::int64_t sample, std::int64_t element, std::int64_t sample_size,
                   double rate) {
  const auto e = static_cast<std::uint64_t>(sample * sample_size + element);
  const std::uint64_t block = e >> 2;
  const U32x4 ctr{{static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32),
                   static_cast<std::uint32_t>(ctx.step),
                   (0xD0u << 16) | (static_cast<std::uint32_t>(ctx.layer) & 0xffffu)}};
  const auto bits =
      philox4x32_10(ctr, static_cast<std::uint32_t>(ctx.seed), static_cast<std::uint32_t>(ctx.seed >> 32));
  const double u = (static_cast<double>(bits.v[e & 3u]) + 0.5) * 0x1.0p-32;
  return u >= rate;
}

void Dropout::forward(const Tensor& in, Tensor& out, RunContext& ctx) const {
  check_input(in);
  out.shape = in.shape;
  out.data = in.data;
  if (!ctx.training || rate_ == 0.0) return;
  const std::int64_t n = in.sample_size();
  const float scale = static_cast<float>(1.0 / (1.0 - rate_));
  for (std::int64_t b = 0; b < in.batch(); ++b) {
    float* y = out.sample(b);
    for (std::int64_t j = 0; j < n; ++j)
      y[j] = kept(ctx, ctx.first_sample + b, j, n, rate_) ? y[j] * scale : 0.0f;
  }
}

void Dropout::infer(const float* x, std::int64_t batch, float* y, RunContext&) const {
  std::copy_n(x, batch * shape_size(input_shape()), y);  // the identity at inference
}

void Dropout::backward(const Tensor& in, const Tensor&, const Tensor& grad_out, Tensor& grad_in,
                       RunContext& ctx) {
  check_input(in);
  grad_in.shape = in.shape;
  grad_in.data = grad_out.data;
  if (!ctx.training || rate_ == 0.0) return;
  const std::int64_t n = in.sample_size();
  const float scale = static_cast<float>(1.0 / (1.0 - rate_));
  for (std::int64_t b = 0; b < in.batch(); ++b) {
    float* g = grad_in.sample(b);
    for (std::int64_t j = 0; j < n; ++j)
      g[j] = kept(ctx, ctx.first_sample + b, j, n, rate_) ? g[j] * scale : 0.0f;
  }
}

nlohmann::json Dropout::config() const { return {{"rate", rate_}}; }

// ---------------------------------------------------------------- Flatten

void Flatten::forward(const Tensor& in, Tensor& out, RunContext&) const {
  check_input(in);
  out.shape = Shape{in.batch(), in.sample_size()};
  out.data = in.data;
}

void Flatten::infer(const float* x, std::int64_t batch, float* y, RunContext&) const {
  std::copy_n(x, batch * shape_size(input_shape()), y);
}

void Flatten::backward(const Tensor& in, const Tensor&, const Tensor& grad_out, Tensor& grad_in,
                       RunContext&) {
  check_input(in);
  grad_in.shape = in.shape;
  grad_in.data = grad_out.data;
}

// ---------------------------------------------------------------- factory

std::unique_ptr<Layer> make_layer(const nlohmann::json& entry) {
  if (!entry.is_object() || !entry.contains("class") || !entry["class"].is_string())
    throw ConfigError("model.architecture", "every layer entry needs a \"class\" string");
  const std::string cls = entry["class"].get<std::string>();
  const std::string name = entry.value("name", std::string());
  if (name.empty()) throw ConfigError("model.architecture", fmt::format("a {} layer has no \"name\"", cls));
  const nlohmann::json cfg = entry.value("config", nlohmann::json::object());
  const auto key = layer_key(name);
  auto get_str = [&](const char* k, const std::string& dflt) {
    return cfg.contains(k) && cfg[k].is_string() ? cfg[k].get<std::string>() : dflt;
  };
  try {
    if (cls == "Conv1D" || cls == "Conv2D" || cls == "Conv3D") {
      ConvSpec s;
      s.rank = cls[4] - '0';
      s.filters = cfg.at("filters").get<std::int64_t>();
      s.kernel = json_shape(cfg.at("kernel_size"), "kernel_size", name);
      if (cfg.contains("strides")) s.strides = json_shape(cfg["strides"], "strides", name);
      s.padding = parse_padding(get_str("padding", "valid"), key);
      s.activation = parse_activation(get_str("activation", "linear"), key);
      s.use_bias = cfg.value("use_bias", true);
      return std::make_unique<Conv>(name, s);
    }
    if (cls == "MaxPooling1D" || cls == "MaxPooling2D" || cls == "MaxPooling3D") {
      PoolSpec s;
      s.rank = cls[10] - '0';
      s.pool = json_shape(cfg.at("pool_size"), "pool_size", name);
      if (cfg.contains("strides") && !cfg["strides"].is_null())
        s.strides = json_shape(cfg["strides"], "strides", name);
      s.padding = parse_padding(get_str("padding", "valid"), key);
      return std::make_unique<MaxPool>(name, s);
    }
    if (cls == "Dense")
      return std::make_unique<Dense>(name, cfg.at("units").get<std::int64_t>(),
                                     parse_activation(get_str("activation", "linear"), key),
                                     cfg.value("use_bias", true));
    if (cls == "Activation")
      return std::make_unique<ActivationLayer>(name, parse_activation(get_str("activation", "linear"), key));
    if (cls == "Dropout") return std::make_unique<Dropout>(name, cfg.at("rate").get<double>());
    if (cls == "Flatten") return std::make_unique<Flatten>(name);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(
        key, fmt::format("{} layer configuration is incomplete or mistyped ({}); fix the architecture", cls,
                         e.what()));
  }
  throw ConfigError(key, fmt::format("layer class '{}' is not supported; aptflow runs Conv1D/2D/3D, "
                                     "MaxPooling1D/2D/3D, Dense, Activation, Dropout and Flatten",
                                     cls));
}

}  // namespace aptflow::nn
