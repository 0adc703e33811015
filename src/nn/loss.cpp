// Losses; see include/aptflow/nn/loss.hpp.
#include "aptflow/nn/loss.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "aptflow/core/error.hpp"

namespace aptflow::nn {

std::string to_string(LossKind k) {
  return k == LossKind::categorical_crossentropy ? "categorical_crossentropy" : "binary_crossentropy";
}

LossKind parse_loss(const std::string& text) {
  if (text == "categorical_crossentropy") return LossKind::categorical_crossentropy;
  if (text == "binary_crossentropy") return LossKind::binary_crossentropy;
  throw ConfigError("training.loss",
                    fmt::format("'{}' is not one of categorical_crossentropy, binary_crossentropy", text));
}

namespace {

void check(LossKind kind, const Tensor& probs, const std::int32_t* labels) {
  if (probs.shape.size() != 2)
    throw InternalError(
        fmt::format("loss: predictions must be (rows, outputs), got {}", shape_string(probs.shape)));
  const std::int64_t K = probs.shape[1];
  if (kind == LossKind::binary_crossentropy && K != 1)
    throw ConfigError("training.loss",
                      fmt::format("binary_crossentropy needs one sigmoid output, the model has {}; "
                                  "use categorical_crossentropy with a softmax output",
                                  K));
  if (kind == LossKind::categorical_crossentropy && K < 2)
    throw ConfigError("training.loss",
                      "categorical_crossentropy needs a softmax output of >= 2 classes; use "
                      "binary_crossentropy with one sigmoid output");
  const std::int64_t classes = kind == LossKind::binary_crossentropy ? 2 : K;
  for (std::int64_t r = 0; r < probs.shape[0]; ++r)
    if (labels[r] < 0 || labels[r] >= classes)
      throw InternalError(fmt::format("loss: label {} outside [0, {})", labels[r], classes));
}

double clip(double p) { return std::clamp(p, kLossEpsilon, 1.0 - kLossEpsilon); }

}  // namespace

double loss_and_grad(LossKind kind, const Tensor& probs, const std::int32_t* labels,
                     std::int64_t global_batch, Tensor& grad) {
  check(kind, probs, labels);
  APTFLOW_ASSERT(global_batch > 0, "loss_and_grad: global batch must be positive");
  grad.reset(probs.shape);
  std::fill(grad.data.begin(), grad.data.end(), 0.0f);
  const std::int64_t rows = probs.shape[0], K = probs.shape[1];
  const double inv = 1.0 / static_cast<double>(global_batch);
  double sum = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* p = probs.data.data() + r * K;
    float* g = grad.data.data() + r * K;
    if (kind == LossKind::categorical_crossentropy) {
      const double c = clip(p[labels[r]]);
      sum -= std::log(c);
      g[labels[r]] = static_cast<float>(-inv / c);
    } else {
      const double c = clip(p[0]), y = labels[r];
      sum -= y * std::log(c) + (1.0 - y) * std::log(1.0 - c);
      g[0] = static_cast<float>(inv * (c - y) / (c * (1.0 - c)));
    }
  }
  return sum;
}

double loss_sum(LossKind kind, const Tensor& probs, const std::int32_t* labels) {
  Tensor g;
  return loss_and_grad(kind, probs, labels, 1, g);
}

std::int32_t predicted_class(const float* probs, std::int64_t outputs) {
  if (outputs == 1) return probs[0] >= 0.5f ? 1 : 0;
  return static_cast<std::int32_t>(std::max_element(probs, probs + outputs) - probs);
}

}  // namespace aptflow::nn
