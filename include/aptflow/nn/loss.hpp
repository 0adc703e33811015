#pragma once
// Losses for training (docs/training.md), as Keras computes them on the
// network's probabilities: predictions are clipped to [1e-7, 1 - 1e-7]
// (Keras' epsilon) before the logarithm.
//
//   categorical cross-entropy (softmax output, K >= 2 classes):
//       L_i = -log(clip(p_i[y_i]))
//   binary cross-entropy (one sigmoid output, labels 0/1):
//       L_i = -(y_i log(clip(p_i)) + (1 - y_i) log(1 - clip(p_i)))
//
// The functions see a part of a global batch (an MPI rank's share): they
// return the SUM of L_i over the rows given and write dL/dp of the MEAN loss
// over `global_batch` rows, so that gradients summed over ranks are those of
// the global batch mean. The gradient of the clipped loss is taken as
// -1 / max(p, 1e-7) (binary: (p - y) / (c (1 - c)) with c the clipped p), so
// a confidently wrong sample still pushes its weights.
#include <cstdint>
#include <string>
#include <vector>

#include "aptflow/nn/tensor.hpp"

namespace aptflow::nn {

enum class LossKind { categorical_crossentropy, binary_crossentropy };
std::string to_string(LossKind k);
// "categorical_crossentropy" | "binary_crossentropy"; ConfigError("training.loss") otherwise.
LossKind parse_loss(const std::string& text);

inline constexpr double kLossEpsilon = 1e-7;

// probs (rows, K); labels in [0, K) (binary: K == 1 and labels 0/1);
// grad is resized to probs' shape. Returns the summed loss over the rows.
double loss_and_grad(LossKind kind, const Tensor& probs, const std::int32_t* labels,
                     std::int64_t global_batch, Tensor& grad);
// Summed loss only.
double loss_sum(LossKind kind, const Tensor& probs, const std::int32_t* labels);
// Predicted class of row r: argmax (first maximum), or p >= 0.5 for one output.
std::int32_t predicted_class(const float* probs, std::int64_t outputs);

}  // namespace aptflow::nn
