#pragma once
// Layers of aptflow's neural networks (method.md section 5, docs/models.md):
// the Keras Sequential building blocks of the published ML-APT CNNs, with the
// Keras conventions (channels last, kernel layouts, "same" padding, Flatten
// order, Dropout scaling), so that published Keras models run unchanged.
//
// Every layer works on a batch (Tensor, shape[0] = batch) on the host.
// Convolutions run as a direct convolution (register-blocked, AVX2 + FMA
// where the CPU has it; src/nn/direct_conv.hpp) or lowered to im2col + one
// GEMM per block of output rows (ConvAlgorithm; the path that ran is recorded
// in RunContext::conv_path). Dense layers are one GEMM through aptflow::gemm
// (OpenBLAS or cuBLAS; the path that ran is recorded in RunContext::path).
// Activations are fused into Conv and Dense as in Keras (`activation` of the
// layer) and also exist as a layer of their own.
//
// Inference (Model::predict) calls infer(), a raw-pointer forward pass with
// dropout off, and runs a Conv followed by a non-overlapping MaxPool as one
// fused step (Conv::infer_pooled) that never materialises the unpooled
// output.
//
// Forward is const (a model can serve several threads); backward adds the
// parameter gradients into Param::grad (call Model::zero_grad between steps)
// and recomputes what it needs (im2col, pooling argmax, dropout mask) from
// the forward input/output, so layers keep no per-batch state.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aptflow/kernels/gemm.hpp"
#include "aptflow/nn/tensor.hpp"

namespace aptflow::nn {

enum class Activation { linear, relu, sigmoid, softmax };
std::string to_string(Activation a);
// "linear" | "relu" | "sigmoid" | "softmax"; ConfigError(key) otherwise.
Activation parse_activation(const std::string& text, const std::string& key);

// Keras padding: valid (no padding; out = floor((in - k) / s) + 1) or same
// (out = ceil(in / s); total padding max((out - 1) s + k - in, 0), the
// smaller half before, the larger after; zeros for convolutions, ignored
// cells for pooling).
enum class Padding { valid, same };
std::string to_string(Padding p);
Padding parse_padding(const std::string& text, const std::string& key);

// How a convolution's forward pass runs (what the caller asks for):
//   automatic  direct, except when the GEMM backend is explicitly cuBLAS
//              (then im2col, so that the convolution's GEMMs run on cuBLAS as asked);
//   direct     register-blocked direct convolution on the host;
//   im2col     im2col + aptflow::gemm (the path of the backward pass).
enum class ConvAlgorithm { automatic, direct, im2col };
// What ran: direct with AVX2 + FMA, direct in plain C++ (CPUs without
// AVX2/FMA, non-x86 hosts, nvcc-compiled builds), or im2col + GEMM.
enum class ConvPath { direct_avx2, direct_generic, im2col };
// "[direct avx2]" | "[direct generic]" | "[im2col+gemm]"
std::string_view conv_path_name(ConvPath path) noexcept;
// "auto" | "direct" | "im2col" -> ConvAlgorithm; ConfigError naming `key` otherwise.
ConvAlgorithm parse_conv_algorithm(std::string_view text, std::string_view key);

// How one forward/backward pass runs.
struct RunContext {
  bool training = false;          // Dropout active
  std::uint64_t seed = 0;         // key of the dropout random stream
  std::uint64_t step = 0;         // training step: a fresh dropout mask per step
  std::int64_t first_sample = 0;  // index of the batch's first sample within the step
  int layer = 0;                  // index of the running layer (set by Model)
  GemmBackend backend = GemmBackend::automatic;
  std::optional<GemmPath> path;  // set by every layer that ran a GEMM
  ConvAlgorithm conv = ConvAlgorithm::automatic;
  std::optional<ConvPath> conv_path;  // set by every convolution forward pass
};

// A trainable array: Keras layout, row-major.
struct Param {
  std::string name;  // "kernel" | "bias"
  Shape shape;
  std::vector<float> value;
  std::vector<float> grad;  // same size as value
};

class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  // Keras class name: "Conv1D", "MaxPooling2D", "Dense", "Dropout", ...
  virtual std::string kind() const = 0;
  const std::string& name() const { return name_; }

  // Fix the per-sample input shape (no batch), create the parameters
  // (zero-filled) and return the per-sample output shape. ConfigError naming
  // the layer when the shape does not fit.
  Shape build(const Shape& input);
  bool built() const { return built_; }
  const Shape& input_shape() const { return in_; }
  const Shape& output_shape() const { return out_; }

  // out = layer(in); in.sample_shape() must equal input_shape().
  virtual void forward(const Tensor& in, Tensor& out, RunContext& ctx) const = 0;
  // Inference on raw host memory: y = layer(x) for `batch` samples of
  // input_shape() at x, output_shape() each at y (x and y must not overlap),
  // dropout off. Same arithmetic as forward() with ctx.training == false.
  // The default copies through forward(); the layers of the hot path override it.
  virtual void infer(const float* x, std::int64_t batch, float* y, RunContext& ctx) const;
  // Given in/out of the forward pass (same ctx) and dL/dout: grad_in = dL/din,
  // and dL/dparam is added into Param::grad.
  virtual void backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor& grad_in,
                        RunContext& ctx) = 0;

  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  // ConfigError when the layer has no parameter of that name.
  Param& param(const std::string& name);
  const Param& param(const std::string& name) const;
  std::int64_t parameter_count() const;

  // Layer configuration (aptflow architecture JSON, docs/models.md).
  virtual nlohmann::json config() const = 0;

 protected:
  virtual Shape do_build(const Shape& input) = 0;
  void add_param(std::string name, Shape shape);
  void check_input(const Tensor& in) const;
  std::vector<Param> params_;

 private:
  std::string name_;
  Shape in_, out_;
  bool built_ = false;
};

class MaxPool;

// The geometry of a sliding window (Conv or MaxPool) over 3 spatial axes
// (d, h, w; rank-1/2 layers padded with unit leading axes), channels last:
// output position o on axis a reads input o * s[a] - pad[a] + 0..k[a]-1.
struct SlidingGeometry {
  std::int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, pad[3] = {0, 0, 0}, out[3] = {1, 1, 1};
  std::int64_t channels = 1;
};

// Conv1D / Conv2D / Conv3D, channels last. Kernel (k..., in, out) as Keras:
// Conv1D (k, in, out), Conv2D (kh, kw, in, out), Conv3D (kd, kh, kw, in, out);
// bias (out). Dilation 1 only.
struct ConvSpec {
  int rank = 1;  // 1, 2 or 3 spatial dimensions
  std::int64_t filters = 1;
  Shape kernel;   // rank entries
  Shape strides;  // rank entries (empty: all 1)
  Padding padding = Padding::valid;
  Activation activation = Activation::linear;
  bool use_bias = true;
};
class Conv final : public Layer {
 public:
  Conv(std::string name, ConvSpec spec);
  std::string kind() const override;
  const ConvSpec& spec() const { return spec_; }
  void forward(const Tensor& in, Tensor& out, RunContext& ctx) const override;
  void infer(const float* x, std::int64_t batch, float* y, RunContext& ctx) const override;
  void backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor& grad_in,
                RunContext& ctx) override;
  nlohmann::json config() const override;

  // True when `pool` (built on this layer's output) can run fused with this
  // convolution under ctx: the direct path, ReLU or linear activation, and a
  // non-overlapping pool (strides == pool_size, valid padding).
  bool fuses_with(const MaxPool& pool, const RunContext& ctx) const;
  // y = pool(layer(x)) without the unpooled output (fuses_with must hold);
  // the values infer() followed by pool.infer() give, computing only the
  // positions the pool reads.
  void infer_pooled(const float* x, std::int64_t batch, const MaxPool& pool, float* y, RunContext& ctx) const;
  // The path forward/infer takes under ctx.
  ConvPath path_for(const RunContext& ctx) const;
  // Set by build().
  SlidingGeometry geometry() const;

 private:
  Shape do_build(const Shape& input) override;
  ConvSpec spec_;
  // Geometry padded to 3 spatial axes (d, h, w); set by build.
  std::int64_t in_sp_[3] = {1, 1, 1}, out_sp_[3] = {1, 1, 1}, k_[3] = {1, 1, 1}, s_[3] = {1, 1, 1},
               pad_[3] = {0, 0, 0}, channels_ = 0;
  // Patches of output rows [row0, row0 + nrows) (row = sample * positions() +
  // position, counted from the sample at x): nrows x patch() floats.
  void im2col_rows(const float* x, std::int64_t row0, std::int64_t nrows, float* cols) const;
  void infer_im2col(const float* x, std::int64_t batch, float* y, RunContext& ctx) const;
  void col2im(const float* cols, std::int64_t nb, float* grad_x) const;
  std::int64_t patch() const { return k_[0] * k_[1] * k_[2] * channels_; }
  std::int64_t positions() const { return out_sp_[0] * out_sp_[1] * out_sp_[2]; }
};

// MaxPooling1D / 2D / 3D, channels last; strides default to the pool size.
struct PoolSpec {
  int rank = 1;
  Shape pool;     // rank entries
  Shape strides;  // rank entries (empty: pool)
  Padding padding = Padding::valid;
};
class MaxPool final : public Layer {
 public:
  MaxPool(std::string name, PoolSpec spec);
  std::string kind() const override;
  const PoolSpec& spec() const { return spec_; }
  void forward(const Tensor& in, Tensor& out, RunContext& ctx) const override;
  void infer(const float* x, std::int64_t batch, float* y, RunContext& ctx) const override;
  // Set by build().
  SlidingGeometry geometry() const;
  void backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor& grad_in,
                RunContext& ctx) override;
  nlohmann::json config() const override;

 private:
  Shape do_build(const Shape& input) override;
  PoolSpec spec_;
  std::int64_t in_sp_[3] = {1, 1, 1}, out_sp_[3] = {1, 1, 1}, k_[3] = {1, 1, 1}, s_[3] = {1, 1, 1},
               pad_[3] = {0, 0, 0}, channels_ = 0;
  // Flat input offset (within a sample) of the maximum of output cell `o`, channel c.
  std::int64_t argmax(const float* x, std::int64_t o, std::int64_t c) const;
};

// Dense: y = act(x W + b) on the last axis, W (in, out), b (out); leading
// per-sample axes (if any) are batched as in Keras.
class Dense final : public Layer {
 public:
  Dense(std::string name, std::int64_t units, Activation activation = Activation::linear,
        bool use_bias = true);
  std::string kind() const override { return "Dense"; }
  std::int64_t units() const { return units_; }
  Activation activation() const { return act_; }
  void forward(const Tensor& in, Tensor& out, RunContext& ctx) const override;
  void infer(const float* x, std::int64_t batch, float* y, RunContext& ctx) const override;
  void backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor& grad_in,
                RunContext& ctx) override;
  nlohmann::json config() const override;

 private:
  Shape do_build(const Shape& input) override;
  std::int64_t units_;
  Activation act_;
  bool use_bias_;
};

// Activation on its own (Keras Activation, ReLU, Softmax layers); softmax
// over the last axis.
class ActivationLayer final : public Layer {
 public:
  ActivationLayer(std::string name, Activation activation);
  std::string kind() const override { return "Activation"; }
  Activation activation() const { return act_; }
  void forward(const Tensor& in, Tensor& out, RunContext& ctx) const override;
  void infer(const float* x, std::int64_t batch, float* y, RunContext& ctx) const override;
  void backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor& grad_in,
                RunContext& ctx) override;
  nlohmann::json config() const override;

 private:
  Shape do_build(const Shape& input) override { return input; }
  Activation act_;
};

// Dropout: identity at inference. In training (ctx.training) every element
// is dropped with probability `rate` and the kept ones scaled by
// 1 / (1 - rate) (Keras' inverted dropout). The mask is a pure function of
// (ctx.seed, ctx.step, ctx.layer, sample index ctx.first_sample + b, element):
// Philox-4x32-10, so it does not depend on batch splitting or threads.
class Dropout final : public Layer {
 public:
  Dropout(std::string name, double rate);
  std::string kind() const override { return "Dropout"; }
  double rate() const { return rate_; }
  void forward(const Tensor& in, Tensor& out, RunContext& ctx) const override;
  void infer(const float* x, std::int64_t batch, float* y, RunContext& ctx) const override;
  void backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor& grad_in,
                RunContext& ctx) override;
  nlohmann::json config() const override;
  // True when element `element` of sample `sample` is kept under ctx.
  static bool kept(const RunContext& ctx, std::int64_t sample, std::int64_t element, std::int64_t sample_size,
                   double rate);

 private:
  Shape do_build(const Shape& input) override { return input; }
  double rate_;
};

// Flatten: (steps, channels) -> steps * channels in row-major order (Keras
// channels_last): element (t, c) goes to t * channels + c. A copy, no math.
class Flatten final : public Layer {
 public:
  explicit Flatten(std::string name) : Layer(std::move(name)) {}
  std::string kind() const override { return "Flatten"; }
  void forward(const Tensor& in, Tensor& out, RunContext& ctx) const override;
  void infer(const float* x, std::int64_t batch, float* y, RunContext& ctx) const override;
  void backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor& grad_in,
                RunContext& ctx) override;
  nlohmann::json config() const override { return nlohmann::json::object(); }

 private:
  Shape do_build(const Shape& input) override { return Shape{shape_size(input)}; }
};

// A layer from its aptflow architecture entry {"class": ..., "name": ...,
// "config": {...}} (docs/models.md); ConfigError naming the layer otherwise.
std::unique_ptr<Layer> make_layer(const nlohmann::json& entry);

// Activation math on rows x width values in place (softmax per row of
// `width`), and its backward: grad (in place) <- dL/dz given y = act(z) and
// grad = dL/dy.
void apply_activation(Activation a, float* y, std::int64_t rows, std::int64_t width);
void activation_backward(Activation a, const float* y, float* grad, std::int64_t rows, std::int64_t width);

}  // namespace aptflow::nn
