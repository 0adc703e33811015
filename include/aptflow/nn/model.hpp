#pragma once
// Model: a Keras-style Sequential network (a list of layers with a fixed
// per-sample input shape), plus what a user needs to run it on new data:
// class names and the feature description (docs/models.md).
//
//   Model m(Shape{93, 1});
//   m.add(std::make_unique<Conv>("conv", ConvSpec{1, 16, {10}, {}, Padding::valid, Activation::relu}));
//   ...
//   Tensor p = m.predict(x, batch);        // inference, chunked, probabilities
//   m.forward(x, ctx); m.backward(dL_dy);  // training: gradients in parameters()
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aptflow/kernels/gemm.hpp"
#include "aptflow/nn/layers.hpp"
#include "aptflow/nn/tensor.hpp"

namespace aptflow::nn {

// What a model needs as input, so that `aptflow predict` can build it from a
// feature file (features/<kind>/<A>-<B>, one dataset per pair = channel).
struct ModelFeatures {
  std::string kind = "z";                     // z | zx | 3d | occupancy
  std::vector<std::string> pairs;             // species pairs "A-B", in channel order (empty: unknown)
  Shape bins;                                 // per-channel shape, e.g. {93} (empty: from the input shape)
  std::string normalisation = "minmax";       // minmax | none: per curve (row), NaN-preserving
  std::string preprocessing = "minmax_only";  // minmax_only | experimental (method.md section 3)
  std::string variant = "cocrni";             // feal | cocrni: window variant and background L:U
  nlohmann::json extra = nlohmann::json::object();  // anything else (SDM spec, windows, ...)

  nlohmann::json to_json() const;
  // ConfigError naming "model.features.<key>" for a bad value.
  static ModelFeatures from_json(const nlohmann::json& j);
  bool operator==(const ModelFeatures&) const = default;
};

class Model {
 public:
  Model() = default;
  explicit Model(Shape input_shape) : input_(std::move(input_shape)) {}
  Model(Model&&) noexcept = default;
  Model& operator=(Model&&) noexcept = default;

  // Append a layer and build it on the current output shape. ConfigError for
  // a duplicate name or a shape that does not fit.
  Layer& add(std::unique_ptr<Layer> layer);

  const Shape& input_shape() const { return input_; }
  // Per-sample output shape (the input shape for an empty model).
  const Shape& output_shape() const;
  std::size_t size() const { return layers_.size(); }
  Layer& layer(std::size_t i) { return *layers_.at(i); }
  const Layer& layer(std::size_t i) const { return *layers_.at(i); }
  // nullptr when absent
  Layer* find(const std::string& name);

  // Inference (dropout off) on `batch` samples of input_shape() stored
  // contiguously at x; processes at most `chunk` samples at a time (fewer
  // where a layer's activations would exceed ~8 MiB). Returns
  // (batch, outputs...). Inputs must be finite. Runs Layer::infer layer by
  // layer in two reused per-thread buffers, skips Dropout and Flatten, and
  // fuses a Conv with the non-overlapping MaxPool after it (Conv::infer_pooled).
  Tensor predict(const float* x, std::int64_t batch, std::int64_t chunk = 256) const;
  Tensor predict(const Tensor& x, std::int64_t chunk = 256) const;

  // Forward pass that keeps every activation for backward() (training).
  const Tensor& forward(const Tensor& x, const RunContext& ctx);
  // dL/d(output) of the last forward() -> dL/d(input); adds the parameter
  // gradients into Param::grad.
  Tensor backward(const Tensor& grad_output);
  void zero_grad();
  std::vector<Param*> parameters();
  std::int64_t parameter_count() const;

  void set_gemm_backend(GemmBackend b) { backend_ = b; }
  GemmBackend gemm_backend() const { return backend_; }
  // The path the last GEMM of this model took (none before the first pass).
  std::optional<GemmPath> gemm_path() const { return path_; }
  // How convolutions run (ConvAlgorithm, layers.hpp) and the path the last
  // convolution took (none before the first pass or without convolutions).
  void set_conv_algorithm(ConvAlgorithm a) { conv_ = a; }
  ConvAlgorithm conv_algorithm() const { return conv_; }
  std::optional<ConvPath> conv_path() const { return conv_path_; }

  // {"input_shape": [...], "layers": [{"class", "name", "config"}, ...]}
  nlohmann::json architecture() const;
  // Layers with zero weights; ConfigError for a bad architecture.
  static Model from_architecture(const nlohmann::json& arch);
  // Keras-like table: layer, class, output shape, parameters.
  std::string summary() const;

  // Metadata carried by the model file.
  std::vector<std::string> class_names;  // one per output (empty: "class_<i>")
  ModelFeatures features;
  nlohmann::json training = nlohmann::json::object();  // training config + metrics (may be empty)
  std::string source;                                  // file it was loaded from, if any
  // class_names, or "class_0".. when missing.
  std::vector<std::string> output_names() const;

 private:
  Shape input_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Tensor> acts_;  // acts_[i] = input of layer i; acts_.back() = output
  RunContext ctx_;
  GemmBackend backend_ = GemmBackend::automatic;
  ConvAlgorithm conv_ = ConvAlgorithm::automatic;
  mutable std::optional<GemmPath> path_;
  mutable std::optional<ConvPath> conv_path_;
};

}  // namespace aptflow::nn
