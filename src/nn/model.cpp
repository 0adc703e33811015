// Sequential model; see include/aptflow/nn/model.hpp.
#include "aptflow/nn/model.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "aptflow/core/error.hpp"

namespace aptflow::nn {

// ---------------------------------------------------------------- ModelFeatures

nlohmann::json ModelFeatures::to_json() const {
  nlohmann::json j = {{"kind", kind},
                      {"pairs", pairs},
                      {"bins", bins},
                      {"normalisation", normalisation},
                      {"preprocessing", preprocessing},
                      {"variant", variant}};
  if (!extra.empty()) j["extra"] = extra;
  return j;
}

ModelFeatures ModelFeatures::from_json(const nlohmann::json& j) {
  ModelFeatures f;
  if (!j.is_object()) throw ConfigError("model.features", "must be a JSON object");
  auto str = [&](const char* key, std::string& out, std::initializer_list<const char*> allowed) {
    if (!j.contains(key)) return;
    if (!j[key].is_string()) throw ConfigError(fmt::format("model.features.{}", key), "must be a string");
    out = j[key].get<std::string>();
    if (allowed.size() == 0) return;
    for (const char* a : allowed)
      if (out == a) return;
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    throw ConfigError(fmt::format("model.features.{}", key), fmt::format("'{}' is not one of {}", out, list));
  };
  str("kind", f.kind, {"z", "zx", "3d", "occupancy"});
  str("normalisation", f.normalisation, {"minmax", "none"});
  str("preprocessing", f.preprocessing, {"minmax_only", "experimental"});
  str("variant", f.variant, {"feal", "cocrni"});
  try {
    if (j.contains("pairs")) f.pairs = j["pairs"].get<std::vector<std::string>>();
    if (j.contains("bins")) f.bins = j["bins"].get<Shape>();
  } catch (const nlohmann::json::exception&) {
    throw ConfigError("model.features", "'pairs' must be a list of strings and 'bins' a list of integers");
  }
  if (j.contains("extra")) f.extra = j["extra"];
  return f;
}

// ---------------------------------------------------------------- Model

Layer& Model::add(std::unique_ptr<Layer> layer) {
  APTFLOW_ASSERT(layer != nullptr, "Model::add got a null layer");
  for (const auto& l : layers_)
    if (l->name() == layer->name())
      throw ConfigError(fmt::format("model.layers.{}", layer->name()),
                        "a layer of that name is already in the model; "
                        "give every layer a unique name");
  if (input_.empty()) throw ConfigError("model.input_shape", "set the input shape before adding layers");
  layer->build(output_shape());
  layers_.push_back(std::move(layer));
  acts_.clear();
  return *layers_.back();
}

const Shape& Model::output_shape() const { return layers_.empty() ? input_ : layers_.back()->output_shape(); }

Layer* Model::find(const std::string& name) {
  for (auto& l : layers_)
    if (l->name() == name) return l.get();
  return nullptr;
}

namespace {

// Inference keeps every activation of a pass below about this many floats
// (8 MiB), splitting the caller's chunk further where a layer's output is
// large (3D convolutions), so that a layer's output is still in cache when
// the next layer reads it. Samples are independent at inference, so the
// result does not depend on the split.
constexpr std::int64_t kActivationFloats = std::int64_t{1} << 21;

// Layers whose inference output is their input, reshaped (no copy needed).
bool identity_at_inference(const Layer& l) {
  return dynamic_cast<const Dropout*>(&l) != nullptr || dynamic_cast<const Flatten*>(&l) != nullptr;
}

}  // namespace

Tensor Model::predict(const float* x, std::int64_t batch, std::int64_t chunk) const {
  // The inference plan: layers that compute (Dropout and Flatten only
  // reshape), a Conv and the MaxPool right after it as one step.
  RunContext ctx;
  ctx.backend = backend_;
  ctx.conv = conv_;
  struct Step {
    const Layer* layer;
    const MaxPool* pool;  // fused after a Conv
    int index;
  };
  std::vector<Step> steps;
  const std::int64_t in_size = shape_size(input_), out_size = shape_size(output_shape());
  std::int64_t widest = in_size;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = *layers_[i];
    if (identity_at_inference(l)) continue;
    Step step{&l, nullptr, static_cast<int>(i)};
    if (const auto* conv = dynamic_cast<const Conv*>(&l)) {
      std::size_t j = i + 1;
      while (j < layers_.size() && dynamic_cast<const Dropout*>(layers_[j].get()) != nullptr) ++j;
      const auto* pool = j < layers_.size() ? dynamic_cast<const MaxPool*>(layers_[j].get()) : nullptr;
      if (pool != nullptr && conv->fuses_with(*pool, ctx)) {
        step.pool = pool;
        i = j;
      }
    }
    widest = std::max(widest, shape_size(step.pool ? step.pool->output_shape() : l.output_shape()));
    steps.push_back(step);
  }
  chunk = std::clamp<std::int64_t>(kActivationFloats / std::max<std::int64_t>(widest, 1), 1,
                                   std::max<std::int64_t>(chunk, 1));
  Shape oshape{batch};
  oshape.insert(oshape.end(), output_shape().begin(), output_shape().end());
  Tensor result(oshape);
  // Two activation buffers per thread, grown and reused across calls (a
  // classify run calls predict once per block of windows).
  thread_local std::vector<float> buffers[2];
  const auto need = static_cast<std::size_t>(std::min(chunk, std::max<std::int64_t>(batch, 1)) * widest);
  for (auto& b : buffers)
    if (b.size() < need) b.resize(need);
  for (std::int64_t b0 = 0; b0 < batch; b0 += chunk) {
    const std::int64_t n = std::min(chunk, batch - b0);
    const float* cur = x + b0 * in_size;
    for (std::size_t s = 0; s < steps.size(); ++s) {
      float* next = s + 1 == steps.size() ? result.data.data() + b0 * out_size
                                          : buffers[cur == buffers[0].data() ? 1 : 0].data();
      ctx.layer = steps[s].index;
      if (steps[s].pool != nullptr)
        static_cast<const Conv*>(steps[s].layer)->infer_pooled(cur, n, *steps[s].pool, next, ctx);
      else
        steps[s].layer->infer(cur, n, next, ctx);
      cur = next;
    }
    if (steps.empty()) std::copy_n(cur, n * in_size, result.data.data() + b0 * out_size);
  }
  if (ctx.path) path_ = ctx.path;
  if (ctx.conv_path) conv_path_ = ctx.conv_path;
  return result;
}

Tensor Model::predict(const Tensor& x, std::int64_t chunk) const {
  if (x.sample_shape() != input_)
    throw InternalError(fmt::format("Model::predict: samples of shape {} for a model with input shape {}",
                                    shape_string(x.sample_shape()), shape_string(input_)));
  return predict(x.data.data(), x.batch(), chunk);
}

const Tensor& Model::forward(const Tensor& x, const RunContext& ctx) {
  if (x.sample_shape() != input_)
    throw InternalError(fmt::format("Model::forward: samples of shape {} for a model with input shape {}",
                                    shape_string(x.sample_shape()), shape_string(input_)));
  ctx_ = ctx;
  ctx_.backend = backend_;
  ctx_.conv = conv_;
  acts_.resize(layers_.size() + 1);
  acts_[0] = x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    ctx_.layer = static_cast<int>(i);
    layers_[i]->forward(acts_[i], acts_[i + 1], ctx_);
  }
  if (ctx_.path) path_ = ctx_.path;
  if (ctx_.conv_path) conv_path_ = ctx_.conv_path;
  return acts_.back();
}

Tensor Model::backward(const Tensor& grad_output) {
  APTFLOW_ASSERT(acts_.size() == layers_.size() + 1, "Model::backward needs a forward() first");
  APTFLOW_ASSERT(grad_output.shape == acts_.back().shape,
                 "Model::backward: gradient shape differs from output");
  Tensor g = grad_output, gi;
  for (std::size_t i = layers_.size(); i-- > 0;) {
    ctx_.layer = static_cast<int>(i);
    layers_[i]->backward(acts_[i], acts_[i + 1], g, gi, ctx_);
    std::swap(g, gi);
  }
  if (ctx_.path) path_ = ctx_.path;
  return g;
}

void Model::zero_grad() {
  for (auto& l : layers_)
    for (auto& p : l->params()) std::fill(p.grad.begin(), p.grad.end(), 0.0f);
}

std::vector<Param*> Model::parameters() {
  std::vector<Param*> out;
  for (auto& l : layers_)
    for (auto& p : l->params()) out.push_back(&p);
  return out;
}

std::int64_t Model::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& l : layers_) n += l->parameter_count();
  return n;
}

nlohmann::json Model::architecture() const {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : layers_)
    layers.push_back({{"class", l->kind()}, {"name", l->name()}, {"config", l->config()}});
  return {{"input_shape", input_}, {"layers", layers}};
}

Model Model::from_architecture(const nlohmann::json& arch) {
  if (!arch.is_object() || !arch.contains("input_shape") || !arch.contains("layers") ||
      !arch["layers"].is_array())
    throw ConfigError("model.architecture", "needs \"input_shape\" and a \"layers\" list");
  Shape input;
  try {
    input = arch["input_shape"].get<Shape>();
  } catch (const nlohmann::json::exception&) {
    throw ConfigError("model.architecture.input_shape", "must be a list of positive integers");
  }
  if (input.empty()) throw ConfigError("model.architecture.input_shape", "must not be empty");
  Model m(input);
  for (const auto& entry : arch["layers"]) m.add(make_layer(entry));
  return m;
}

std::string Model::summary() const {
  std::string s = fmt::format("{:<24} {:<14} {:<20} {:>10}\n", "layer", "class", "output shape", "params");
  s += fmt::format("{:<24} {:<14} {:<20} {:>10}\n", "(input)", "", shape_string(input_), "");
  for (const auto& l : layers_) {
    std::string cls = l->kind();
    if (auto* c = dynamic_cast<const Conv*>(l.get()))
      cls = fmt::format("{} {}", cls, to_string(c->spec().activation));
    if (auto* d = dynamic_cast<const Dense*>(l.get()))
      cls = fmt::format("{} {}", cls, to_string(d->activation()));
    s += fmt::format("{:<24} {:<14} {:<20} {:>10}\n", l->name(), cls, shape_string(l->output_shape()),
                     l->parameter_count());
  }
  s += fmt::format("total parameters: {}\n", parameter_count());
  return s;
}

std::vector<std::string> Model::output_names() const {
  const std::int64_t n = shape_size(output_shape());
  if (static_cast<std::int64_t>(class_names.size()) == n) return class_names;
  std::vector<std::string> names;
  for (std::int64_t i = 0; i < n; ++i) names.push_back(fmt::format("class_{}", i));
  return names;
}

}  // namespace aptflow::nn
