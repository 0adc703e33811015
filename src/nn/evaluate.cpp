// Evaluation; see include/aptflow/nn/evaluate.hpp.
#include "aptflow/nn/evaluate.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <limits>

#include "aptflow/core/error.hpp"
#include "aptflow/nn/predict.hpp"
#include "aptflow/nn/train.hpp"

namespace aptflow::nn {

using nlohmann::json;

Evaluation evaluate_labels(const std::vector<std::int32_t>& truth, const std::vector<std::int32_t>& predicted,
                           const std::vector<std::string>& class_names) {
  if (truth.size() != predicted.size())
    throw InternalError("evaluate_labels: truth and predictions differ in length");
  Evaluation e;
  e.class_names = class_names;
  const auto K = class_names.size();
  e.confusion.assign(K * K, 0);
  e.support.assign(K, 0);
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] < 0 || static_cast<std::size_t>(truth[i]) >= K)
      throw InternalError(fmt::format("evaluate_labels: label {} outside [0, {})", truth[i], K));
    if (predicted[i] < 0) {
      ++e.empty;
      continue;
    }
    if (static_cast<std::size_t>(predicted[i]) >= K)
      throw InternalError(fmt::format("evaluate_labels: prediction {} outside [0, {})", predicted[i], K));
    ++e.samples;
    ++e.confusion[static_cast<std::size_t>(truth[i]) * K + static_cast<std::size_t>(predicted[i])];
    ++e.support[static_cast<std::size_t>(truth[i])];
    if (truth[i] == predicted[i]) ++correct;
  }
  e.accuracy = e.samples > 0 ? static_cast<double>(correct) / static_cast<double>(e.samples) : 0.0;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t k = 0; k < K; ++k) {
    std::int64_t col = 0;
    for (std::size_t t = 0; t < K; ++t) col += e.confusion[t * K + k];
    const auto tp = static_cast<double>(e.confusion[k * K + k]);
    e.precision.push_back(col > 0 ? tp / static_cast<double>(col) : nan);
    e.recall.push_back(e.support[k] > 0 ? tp / static_cast<double>(e.support[k]) : nan);
  }
  return e;
}

Evaluation evaluate_models(const std::vector<Model>& models, const std::string& library,
                           const EvaluateOptions& options) {
  if (models.empty()) throw ConfigError("evaluate.model", "no model given; pass at least one --model");
  if (options.split != "all" && options.split != "test" && options.split != "train")
    throw ConfigError("evaluate.split", fmt::format("'{}' is not one of all, test, train", options.split));
  const Model& first = models.front();
  DataOptions opt;
  opt.kind = first.features.kind;
  opt.pairs = first.features.pairs;
  opt.preprocessing = first.features.normalisation == "none" ? "none" : first.features.preprocessing;
  opt.variant = first.features.variant;
  std::uint64_t seed = 0;
  double test_fraction = 0;
  if (options.split != "all") {
    const json& t = first.training;
    if (!t.is_object() || !t.contains("split"))
      throw InputError(first.source,
                       "the model records no training split (not trained by aptflow train); use --split all");
    const json& s = t["split"];
    seed = s.at("seed").get<std::uint64_t>();
    test_fraction = s.at("test_fraction").get<double>();
    opt.subsample = s.value("subsample", std::int64_t{1});
  }
  const LabelledData d = load_labelled(library, opt);
  if (options.split != "all") {
    const auto rows = first.training["split"].value("file_rows", std::int64_t{-1});
    if (rows != d.file_rows)
      throw InputError(library,
                       fmt::format("the library has {} rows but the model was trained on one with {} ('{}'); "
                                   "pass the training library to reproduce its split",
                                   d.file_rows, rows, first.training.value("library", std::string())));
  }
  const auto names = first.output_names();
  const bool binary = shape_size(first.output_shape()) == 1;
  if ((!binary && names.size() != d.class_names.size()) || (binary && d.class_names.size() != 2))
    throw ConfigError("evaluate.model",
                      fmt::format("the model has classes ({}) but the library '{}' has ({})",
                                  fmt::join(names, ", "), library, fmt::join(d.class_names, ", ")));
  if (names != d.class_names)
    spdlog::warn(
        "evaluate: model classes ({}) and library classes ({}) differ in name; library labels index the "
        "model outputs in order",
        fmt::join(names, ", "), fmt::join(d.class_names, ", "));
  // Rows to score.
  std::vector<std::int64_t> chosen;
  if (options.split == "all") {
    for (std::int64_t r = 0; r < d.file_rows; ++r) chosen.push_back(r);
  } else {
    std::vector<std::int64_t> rows;
    std::vector<std::int32_t> labels;
    for (std::int64_t r = 0; r < d.file_rows; r += opt.subsample) {
      rows.push_back(r);
      labels.push_back(d.file_labels[static_cast<std::size_t>(r)]);
    }
    const Split s = stratified_split(rows, labels, test_fraction, seed);
    chosen = options.split == "test" ? s.test : s.train;
  }
  std::vector<std::int64_t> pos_of_row(static_cast<std::size_t>(d.file_rows), -1);
  for (std::size_t i = 0; i < d.rows.size(); ++i)
    pos_of_row[static_cast<std::size_t>(d.rows[i])] = static_cast<std::int64_t>(i);
  std::vector<std::int32_t> truth, predicted;
  std::vector<std::int64_t> scored;
  for (auto r : chosen) {
    const auto p = pos_of_row[static_cast<std::size_t>(r)];
    if (p < 0) {  // NaN after preprocessing (or not in the subsample)
      if (r % opt.subsample == 0) {
        truth.push_back(d.file_labels[static_cast<std::size_t>(r)]);
        predicted.push_back(-1);
      }
      continue;
    }
    scored.push_back(p);
  }
  const Shape& input = first.input_shape();
  if (d.x.sample_shape() != input)
    throw ConfigError("evaluate.model", fmt::format("the library rows have shape {} but the model needs {}",
                                                    shape_string(d.x.sample_shape()), shape_string(input)));
  Shape xs{static_cast<std::int64_t>(scored.size())};
  xs.insert(xs.end(), input.begin(), input.end());
  Tensor x(xs);
  const std::int64_t S = d.x.sample_size();
  for (std::size_t i = 0; i < scored.size(); ++i)
    std::copy(d.x.sample(scored[i]), d.x.sample(scored[i]) + S, x.sample(static_cast<std::int64_t>(i)));
  const Prediction p = predict_ensemble(models, x, options.chunk);
  for (std::size_t i = 0; i < scored.size(); ++i) {
    truth.push_back(d.labels[static_cast<std::size_t>(scored[i])]);
    predicted.push_back(p.predicted[i]);
  }
  Evaluation e = evaluate_labels(truth, predicted, d.class_names);
  e.split = options.split;
  e.members = static_cast<std::int64_t>(models.size());
  return e;
}

json evaluation_json(const Evaluation& e) {
  const auto K = e.class_names.size();
  json conf = json::array();
  for (std::size_t t = 0; t < K; ++t) {
    json row = json::array();
    for (std::size_t k = 0; k < K; ++k) row.push_back(e.confusion[t * K + k]);
    conf.push_back(row);
  }
  auto nullable = [](const std::vector<double>& v) {
    json a = json::array();
    for (double x : v) a.push_back(std::isnan(x) ? json(nullptr) : json(x));
    return a;
  };
  return json{{"class_names", e.class_names},
              {"samples", e.samples},
              {"empty", e.empty},
              {"accuracy", e.accuracy},
              {"confusion", conf},
              {"support", e.support},
              {"precision", nullable(e.precision)},
              {"recall", nullable(e.recall)},
              {"split", e.split},
              {"members", e.members}};
}

std::string evaluation_text(const Evaluation& e) {
  const auto K = e.class_names.size();
  std::string s =
      fmt::format("split: {}  members: {}  samples: {}  empty (not scored): {}\naccuracy: {:.4f}\n", e.split,
                  e.members, e.samples, e.empty, e.accuracy);
  std::size_t w = 9;
  for (const auto& n : e.class_names) w = std::max(w, n.size() + 2);
  s += "confusion (rows: true, columns: predicted)\n" + fmt::format("{:>{}}", "", w);
  for (const auto& n : e.class_names) s += fmt::format("{:>{}}", n, w);
  s += "\n";
  for (std::size_t t = 0; t < K; ++t) {
    s += fmt::format("{:>{}}", e.class_names[t], w);
    for (std::size_t k = 0; k < K; ++k) s += fmt::format("{:>{}}", e.confusion[t * K + k], w);
    s += "\n";
  }
  auto num = [](double x) { return std::isnan(x) ? std::string("-") : fmt::format("{:.4f}", x); };
  s += fmt::format("{:>{}}{:>11}{:>11}{:>10}\n", "class", w, "precision", "recall", "support");
  for (std::size_t k = 0; k < K; ++k)
    s += fmt::format("{:>{}}{:>11}{:>11}{:>10}\n", e.class_names[k], w, num(e.precision[k]), num(e.recall[k]),
                     e.support[k]);
  return s;
}

}  // namespace aptflow::nn
