#pragma once
// Evaluation of a model or an ensemble on a labelled library (`aptflow
// evaluate`, docs/training.md): accuracy, confusion matrix, per-class
// precision and recall, on the whole library or on the training split's
// held-out rows (reproduced from the seed and fraction recorded in the model
// file).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aptflow/nn/model.hpp"

namespace aptflow::nn {

struct Evaluation {
  std::vector<std::string> class_names;
  std::int64_t samples = 0;             // rows scored
  std::int64_t empty = 0;               // rows left out: NaN after preprocessing (not scored)
  std::vector<std::int64_t> confusion;  // K x K, row = true class, column = predicted class
  std::vector<std::int64_t> support;    // rows per true class
  double accuracy = 0;                  // correct / samples (0 without samples)
  // Per class: precision = TP / predicted as the class, recall = TP / support;
  // NaN (JSON null) when the denominator is 0.
  std::vector<double> precision, recall;
  std::string split = "all";  // all | test | train
  std::int64_t members = 1;
};

// Metrics of predicted against true labels (both in [0, K); predicted -1 =
// not scored, counted in `empty`).
Evaluation evaluate_labels(const std::vector<std::int32_t>& truth, const std::vector<std::int32_t>& predicted,
                           const std::vector<std::string>& class_names);

struct EvaluateOptions {
  std::string split = "all";  // all | test | train (test/train: the model's recorded split)
  std::int64_t chunk = 1024;
};

// Ensemble mean of `models` on the library rows chosen by options.split.
// ConfigError / InputError (with what to do) when the library does not fit
// the models or the split cannot be reproduced.
Evaluation evaluate_models(const std::vector<Model>& models, const std::string& library,
                           const EvaluateOptions& options = {});

nlohmann::json evaluation_json(const Evaluation& e);
// Accuracy, confusion matrix and the per-class table.
std::string evaluation_text(const Evaluation& e);

}  // namespace aptflow::nn
