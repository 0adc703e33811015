// Prediction on feature files; see include/aptflow/nn/predict.hpp.
#include "aptflow/nn/predict.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <utility>

#include "aptflow/core/error.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/nn/model_file.hpp"
#include "aptflow/sdm/preprocess.hpp"

namespace aptflow::nn {

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The preprocessing and why (PredictOptions::preprocessing).
std::pair<std::string, std::string> resolve_preprocessing(const Model& model,
                                                          const std::string& override_mode,
                                                          bool dataset_windows) {
  const ModelFeatures& f = model.features;
  if (!override_mode.empty() && override_mode != "auto") {
    if (override_mode != "none" && override_mode != "minmax_only" && override_mode != "experimental")
      throw ConfigError(
          "predict.preprocess",
          fmt::format("'{}' is not one of auto, none, minmax_only, experimental", override_mode));
    return {override_mode, "--preprocess"};
  }
  std::error_code ec;
  if (!model.source.empty() && std::filesystem::is_regular_file(model.source, ec) &&
      is_keras_file(model.source))
    return dataset_windows
               ? std::pair<std::string, std::string>{"experimental",
                                                     "auto: the Keras model records no preprocessing; "
                                                     "dataset windows get the experimental chain"}
               : std::pair<std::string, std::string>{"minmax_only",
                                                     "auto: the Keras model records no preprocessing; "
                                                     "rows that are not dataset windows (a library) get "
                                                     "min-max, as the published training curves"};
  if (f.normalisation == "none") return {"none", "auto: the model's features are not normalised"};
  return {f.preprocessing, "auto: as the model records"};
}

// Preprocess the rows (samples x bins) of one channel in place.
void preprocess_rows(std::vector<float>& values, std::int64_t samples, std::int64_t bins,
                     const std::string& mode, const std::string& variant, std::int64_t rank, bool published) {
  const auto v = variant == "feal" ? sdm::Variant::feal : sdm::Variant::cocrni;
  sdm::preprocess_channel(
      sdm::CurveRows(values.data(), static_cast<std::size_t>(samples), static_cast<std::size_t>(bins)),
      sdm::PreprocessSpec::of(v, sdm::parse_preprocess_mode(mode, "predict.preprocess"),
                              published ? sdm::BackgroundClip::published : sdm::BackgroundClip::aptflow),
      static_cast<int>(rank), "predict.preprocess");
}

}  // namespace

std::map<std::string, std::vector<std::string>> list_features(const std::string& path) {
  auto f = h5::File::open(path);
  std::map<std::string, std::vector<std::string>> out;
  if (!h5::exists(f, "/features")) return out;
  for (const auto& kind : h5::list_group(f, "/features")) out[kind] = h5::list_group(f, "/features/" + kind);
  return out;
}

Tensor load_inputs(const std::string& path, const Model& model, const PredictOptions& options,
                   Prediction& info) {
  const auto present = list_features(path);
  if (present.empty())
    throw InputError(path, "no 'features' group: not a feature or library file (features/<kind>/<A>-<B>)");
  // kind: option, else the model's when present in the file, else the only one
  std::string kind = options.kind;
  if (kind.empty()) {
    if (present.count(model.features.kind))
      kind = model.features.kind;
    else if (present.size() == 1)
      kind = present.begin()->first;
    else
      throw InputError(path,
                       fmt::format("the model needs features/{} which is absent; choose one of the kinds "
                                   "present with --kind",
                                   model.features.kind));
  }
  if (!present.count(kind))
    throw InputError(path,
                     fmt::format("no features/{} group in the file; pass --kind with a kind it holds", kind));
  const auto& available = present.at(kind);
  std::vector<std::string> pairs = options.pairs.empty() ? model.features.pairs : options.pairs;
  if (pairs.empty()) {
    if (available.size() != 1)
      throw InputError(path,
                       fmt::format("the model names no species pairs and features/{} holds {} ({}); choose "
                                   "them with --pair",
                                   kind, available.size(), fmt::join(available, ", ")));
    pairs = available;
  }
  const Shape& in = model.input_shape();
  const auto channels = static_cast<std::int64_t>(pairs.size());
  // The model's input is (bins..., channels), or just (bins...) for one channel without a channel axis.
  Shape bins;
  if (in.size() >= 2 && in.back() == channels) {
    bins.assign(in.begin(), in.end() - 1);
  } else if (channels == 1) {
    bins = in;
  } else {
    throw InputError(path,
                     fmt::format("{} species pairs ({}) do not fit the model input shape {} (channels last)",
                                 channels, fmt::join(pairs, ", "), shape_string(in)));
  }
  const std::int64_t nbins = shape_size(bins);
  const bool dataset_windows = [&] {
    auto f = h5::File::open(path);
    return h5::exists(f, "/windows/centre");
  }();
  const auto [mode, reason] = resolve_preprocessing(model, options.preprocessing, dataset_windows);

  auto f = h5::File::open(path);
  std::int64_t samples = -1;
  Tensor x;
  for (std::int64_t c = 0; c < channels; ++c) {
    const std::string dpath = fmt::format("/features/{}/{}", kind, pairs[static_cast<std::size_t>(c)]);
    if (!h5::exists(f, dpath))
      throw InputError(path,
                       fmt::format("dataset '{}' is missing (features/{} holds {}); compute the features for "
                                   "that pair or choose --pair",
                                   dpath, kind, fmt::join(available, ", ")));
    std::vector<hsize_t> dims;
    auto values = h5::read<float>(f, dpath, &dims);
    Shape ds(dims.begin(), dims.end());
    if (ds.empty() || Shape(ds.begin() + 1, ds.end()) != bins)
      throw InputError(
          path, fmt::format("dataset '{}' has shape {} but the model needs (samples, {}) per channel", dpath,
                            shape_string(ds), fmt::join(bins, ", ")));
    if (samples < 0) {
      samples = ds[0];
      Shape xs{samples};
      xs.insert(xs.end(), in.begin(), in.end());
      x = Tensor(xs);
    } else if (ds[0] != samples) {
      throw InputError(path,
                       fmt::format("dataset '{}' has {} samples, the first channel {}: the channels of one "
                                   "file must have the same rows",
                                   dpath, ds[0], samples));
    }
    preprocess_rows(values, samples, nbins, mode, model.features.variant,
                    static_cast<std::int64_t>(bins.size()), options.published_clipping);
    for (std::int64_t s = 0; s < samples; ++s)
      for (std::int64_t k = 0; k < nbins; ++k) x.data[(s * nbins + k) * channels + c] = values[s * nbins + k];
  }
  info.kind = kind;
  info.pairs = pairs;
  info.preprocessing = mode;
  info.preprocessing_reason = reason;
  info.background_clip = mode == "experimental" ? (options.published_clipping ? "published" : "aptflow") : "";
  return x;
}

namespace {

void check_ensemble(const std::vector<Model>& models, const Tensor& inputs) {
  if (models.empty()) throw ConfigError("predict.model", "no model given; pass at least one --model");
  const Model& first = models.front();
  for (const auto& m : models) {
    if (m.input_shape() != first.input_shape() || m.output_shape() != first.output_shape())
      throw ConfigError(
          "predict.model",
          fmt::format("ensemble members differ: '{}' has input {} / output {}, '{}' {} / {}; combine "
                      "only models of one architecture family",
                      first.source, shape_string(first.input_shape()), shape_string(first.output_shape()),
                      m.source, shape_string(m.input_shape()), shape_string(m.output_shape())));
  }
  if (inputs.sample_shape() != first.input_shape())
    throw InternalError("predict_ensemble: inputs do not match the model input shape");
}

// Rows without NaN or inf: the ones that enter the network.
std::vector<std::int64_t> finite_rows(const Tensor& inputs) {
  std::vector<std::int64_t> valid;
  const std::int64_t in_size = inputs.sample_size();
  for (std::int64_t s = 0; s < inputs.batch(); ++s) {
    const float* row = inputs.sample(s);
    bool ok = true;
    for (std::int64_t j = 0; j < in_size && ok; ++j) ok = std::isfinite(row[j]);
    if (ok) valid.push_back(s);
  }
  return valid;
}

// sum: per valid row (in `valid` order) the K summed model outputs.
void finish_prediction(Prediction& p, const std::vector<std::int64_t>& valid, const std::vector<double>& sum,
                       std::size_t n_models) {
  const std::int64_t K = p.outputs;
  p.empty = p.samples - static_cast<std::int64_t>(valid.size());
  p.probabilities.assign(static_cast<std::size_t>(p.samples * K), kNaN);
  p.predicted.assign(static_cast<std::size_t>(p.samples), -1);
  p.counts.assign(static_cast<std::size_t>(K == 1 ? 2 : K), 0);
  const double inv = 1.0 / static_cast<double>(n_models);
  for (std::size_t i = 0; i < valid.size(); ++i) {
    float* row = p.probabilities.data() + valid[i] * K;
    for (std::int64_t k = 0; k < K; ++k) row[k] = static_cast<float>(sum[i * K + k] * inv);
    std::int32_t best = 0;
    if (K == 1) {
      best = row[0] >= 0.5f ? 1 : 0;
    } else {
      for (std::int64_t k = 1; k < K; ++k)
        if (row[k] > row[best]) best = static_cast<std::int32_t>(k);
    }
    p.predicted[static_cast<std::size_t>(valid[i])] = best;
    ++p.counts[static_cast<std::size_t>(best)];
  }
}

Prediction start_prediction(const std::vector<Model>& models, const Tensor& inputs) {
  check_ensemble(models, inputs);
  Prediction p;
  p.class_names = models.front().output_names();
  p.samples = inputs.batch();
  p.outputs = shape_size(models.front().output_shape());
  return p;
}

}  // namespace

Prediction predict_ensemble(const std::vector<Model>& models, const Tensor& inputs, std::int64_t chunk) {
  Prediction p = start_prediction(models, inputs);
  const std::int64_t in_size = inputs.sample_size(), K = p.outputs;
  // Rows with a NaN never enter the network.
  const std::vector<std::int64_t> valid = finite_rows(inputs);
  std::vector<float> packed(valid.size() * static_cast<std::size_t>(in_size));
  for (std::size_t i = 0; i < valid.size(); ++i)
    std::copy(inputs.sample(valid[i]), inputs.sample(valid[i]) + in_size, packed.begin() + i * in_size);
  std::vector<double> sum(valid.size() * static_cast<std::size_t>(K), 0.0);
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& m : models) {
    const Tensor y = m.predict(packed.data(), static_cast<std::int64_t>(valid.size()), chunk);
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += y.data[i];
    if (m.gemm_path()) p.path = m.gemm_path();
    if (m.conv_path()) p.conv_path = m.conv_path();
  }
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  finish_prediction(p, valid, sum, models.size());
  return p;
}

Prediction predict_ensemble_aligned(const std::vector<Model>& models, const std::vector<Forward>& forwards,
                                    const Tensor& inputs, std::int64_t first_row, std::int64_t block) {
  if (block < 1) throw InternalError("predict_ensemble_aligned: block must be >= 1");
  if (first_row < 0) throw InternalError("predict_ensemble_aligned: negative first_row");
  if (forwards.size() != models.size())
    throw InternalError("predict_ensemble_aligned: one forward pass per model expected");
  Prediction p = start_prediction(models, inputs);
  const std::int64_t in_size = inputs.sample_size(), K = p.outputs, n = p.samples;
  const std::vector<std::int64_t> valid = finite_rows(inputs);
  std::vector<std::int64_t> slot(static_cast<std::size_t>(n), -1);  // row -> index in valid
  for (std::size_t i = 0; i < valid.size(); ++i)
    slot[static_cast<std::size_t>(valid[i])] = static_cast<std::int64_t>(i);
  std::vector<double> sum(valid.size() * static_cast<std::size_t>(K), 0.0);
  std::vector<float> buf(static_cast<std::size_t>(block * in_size)), y(static_cast<std::size_t>(block * K));
  const auto t0 = std::chrono::steady_clock::now();
  if (n > 0) {
    for (std::int64_t b = first_row / block; b * block < first_row + n; ++b) {
      // Global rows [b * block, (b + 1) * block): ours at their place, the rest (other
      // ranks' rows, empty rows) zeros, so that every forward pass has the same shape
      // and a row its same position whichever rows are around it.
      const std::int64_t lo = std::max(b * block, first_row), hi = std::min((b + 1) * block, first_row + n);
      std::fill(buf.begin(), buf.end(), 0.0f);
      bool any = false;
      for (std::int64_t g = lo; g < hi; ++g)
        if (slot[static_cast<std::size_t>(g - first_row)] >= 0) {
          const float* row = inputs.sample(g - first_row);
          std::copy(row, row + in_size, buf.begin() + (g - b * block) * in_size);
          any = true;
        }
      if (!any) continue;
      for (const auto& forward : forwards) {
        forward(buf.data(), block, y.data());
        for (std::int64_t g = lo; g < hi; ++g) {
          const std::int64_t i = slot[static_cast<std::size_t>(g - first_row)];
          if (i < 0) continue;
          for (std::int64_t k = 0; k < K; ++k)
            sum[static_cast<std::size_t>(i * K + k)] += y[static_cast<std::size_t>((g - b * block) * K + k)];
        }
      }
    }
  }
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  finish_prediction(p, valid, sum, models.size());
  return p;
}

Prediction predict_ensemble_aligned(const std::vector<Model>& models, const Tensor& inputs,
                                    std::int64_t first_row, std::int64_t block) {
  std::vector<Forward> forwards;
  bool ran = false;
  for (const auto& m : models)
    forwards.emplace_back([&m, &ran, block](const float* x, std::int64_t rows, float* y) {
      const Tensor out = m.predict(x, rows, block);
      std::copy(out.data.begin(), out.data.end(), y);
      ran = true;
    });
  Prediction p = predict_ensemble_aligned(models, forwards, inputs, first_row, block);
  for (const auto& m : models) {
    if (!ran) break;
    if (m.gemm_path()) p.path = m.gemm_path();
    if (m.conv_path()) p.conv_path = m.conv_path();
  }
  return p;
}

Prediction predict_file(const std::vector<Model>& models, const std::string& path,
                        const PredictOptions& options) {
  if (models.empty()) throw ConfigError("predict.model", "no model given; pass at least one --model");
  Prediction info;
  const Tensor x = load_inputs(path, models.front(), options, info);
  Prediction p = predict_ensemble(models, x, options.chunk);
  p.kind = info.kind;
  p.pairs = info.pairs;
  p.preprocessing = info.preprocessing;
  p.preprocessing_reason = info.preprocessing_reason;
  p.background_clip = info.background_clip;
  return p;
}

void write_prediction(const Prediction& p, const std::string& path) {
  auto f = h5::File::create(path);
  h5::write<float>(f, "/probabilities", p.probabilities,
                   {static_cast<hsize_t>(p.samples), static_cast<hsize_t>(p.outputs)});
  h5::write<std::int32_t>(f, "/predicted", p.predicted, {static_cast<hsize_t>(p.samples)});
  auto root = h5::open_object(f, "/");
  h5::write_attr(root, "class_names", p.class_names);
  h5::write_attr(root, "kind", p.kind);
  h5::write_attr(root, "pairs", p.pairs);
  h5::write_attr(root, "preprocessing", p.preprocessing);
  h5::write_attr(root, "preprocessing_reason", p.preprocessing_reason);
  if (!p.background_clip.empty()) h5::write_attr(root, "background_clip", p.background_clip);
}

std::string prediction_json(const Prediction& p) {
  nlohmann::json probs = nlohmann::json::array();
  for (std::int64_t s = 0; s < p.samples; ++s) {
    nlohmann::json row = nlohmann::json::array();
    for (std::int64_t k = 0; k < p.outputs; ++k) {
      const float v = p.probabilities[static_cast<std::size_t>(s * p.outputs + k)];
      if (std::isnan(v))
        row.push_back(nullptr);
      else
        row.push_back(v);
    }
    probs.push_back(std::move(row));
  }
  nlohmann::json j = {{"class_names", p.class_names},
                      {"probabilities", probs},
                      {"predicted", p.predicted},
                      {"counts", p.counts},
                      {"samples", p.samples},
                      {"empty", p.empty},
                      {"kind", p.kind},
                      {"pairs", p.pairs},
                      {"preprocessing", p.preprocessing},
                      {"preprocessing_reason", p.preprocessing_reason},
                      {"background_clip", p.background_clip},
                      {"gemm_path", p.path ? std::string(gemm_path_name(*p.path)) : std::string()},
                      {"conv_path", p.conv_path ? std::string(conv_path_name(*p.conv_path)) : std::string()}};
  return j.dump();
}

std::string prediction_text(const Prediction& p) {
  std::string s = fmt::format("samples: {} (empty, NaN: {})\nfeatures: {} {} (preprocessing {}{}; {})\n",
                              p.samples, p.empty, p.kind, fmt::join(p.pairs, ","), p.preprocessing,
                              p.background_clip.empty() ? "" : ", " + p.background_clip + " clipping",
                              p.preprocessing_reason);
  s += "predicted class counts:\n";
  for (std::size_t k = 0; k < p.counts.size(); ++k) {
    const std::string name = p.outputs == 1 ? std::to_string(k) : p.class_names[k];
    const double frac =
        p.samples > p.empty ? 100.0 * p.counts[k] / static_cast<double>(p.samples - p.empty) : 0.0;
    s += fmt::format("  {:<16} {:>10}  ({:.1f} %)\n", name, p.counts[k], frac);
  }
  const std::int64_t valid = p.samples - p.empty;
  s += fmt::format("network: {:.3f} s{}, GEMM {}, convolution {}\n", p.seconds,
                   p.seconds > 0 && valid > 0 ? fmt::format(" ({:.0f} samples/s)", valid / p.seconds) : "",
                   p.path ? gemm_path_name(*p.path) : "none",
                   p.conv_path ? conv_path_name(*p.conv_path) : "none");
  return s;
}

}  // namespace aptflow::nn
