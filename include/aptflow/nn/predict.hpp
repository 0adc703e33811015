#pragma once
// Class probabilities for every row of a feature or library file
// (`aptflow predict`, docs/models.md).
//
// Feature file layout: features/<kind>/<A>-<B>, float32 (samples, bins...),
// one dataset per species pair. A model's input is the pairs stacked as
// channels, last axis, in the order of the model's pairs. Rows holding a NaN
// (empty windows) give NaN probabilities and predicted class -1; they never
// enter the network. Several models: the mean of their probabilities (the
// published 5-fold ensembles); they must share input shape and outputs, and
// the first model's feature description is used.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "aptflow/nn/model.hpp"

namespace aptflow::nn {

// kind -> pair names present under features/<kind>/ (sorted). Empty map when
// the file has no features group.
std::map<std::string, std::vector<std::string>> list_features(const std::string& path);

struct PredictOptions {
  std::string kind;                // override of the model's kind ("" = model's, or the only kind present)
  std::vector<std::string> pairs;  // override of the model's pairs ("" = model's, or the only pair present)
  // "" or "auto": what an aptflow model file records; a Keras file records
  // nothing and gets "experimental" on dataset windows (a feature file of
  // `aptflow sdm --windows`, which has /windows/centre) and "minmax_only" on
  // other rows (a library: synthetic curves, as the published training).
  // Or "none" | "minmax_only" | "experimental".
  std::string preprocessing;
  // Background clipping of the experimental chain: aptflow's loop or the
  // published one (sdm/preprocess.hpp).
  bool published_clipping = false;
  std::int64_t chunk = 1024;  // samples per forward pass
};

struct Prediction {
  std::vector<std::string> class_names;  // of the first model
  std::string kind;
  std::vector<std::string> pairs;
  std::string preprocessing;         // what was applied: none | minmax_only | experimental
  std::string preprocessing_reason;  // why (e.g. "auto: Keras model, dataset windows")
  std::string background_clip;       // experimental: "aptflow" or "published"
  std::int64_t samples = 0, outputs = 0, empty = 0;
  std::vector<float> probabilities;     // samples x outputs, row-major; NaN rows for empty samples
  std::vector<std::int32_t> predicted;  // argmax (one sigmoid output: p >= 0.5), -1 for empty
  std::vector<std::int64_t> counts;     // samples per predicted class
  std::optional<GemmPath> path;         // GEMM path of the last forward pass
  std::optional<ConvPath> conv_path;    // convolution path of the last forward pass (none without Conv)
  double seconds = 0;                   // network time (not I/O)
};

// Read and stack the channels, apply the preprocessing, check the shape
// against `model`: (samples, input_shape...). Records what it used in `info`.
// InputError naming the file and dataset for a missing or mis-shaped dataset.
Tensor load_inputs(const std::string& path, const Model& model, const PredictOptions& options,
                   Prediction& info);

// Mean class probabilities of the models on the rows of `inputs`.
Prediction predict_ensemble(const std::vector<Model>& models, const Tensor& inputs,
                            std::int64_t chunk = 1024);

// As predict_ensemble, with results that do not depend on how the rows are
// split into calls: row s of `inputs` is global row first_row + s, and every
// forward pass runs exactly the `block` global rows [k block, (k + 1) block)
// (rows not given here and empty rows enter as zeros, their outputs are
// dropped). GEMM results can depend on the batch size and on a row's place in
// it; here a row's probabilities depend only on its values and on
// (first_row + s) mod block, so any partition of the rows over calls or MPI
// ranks gives the same bytes.
Prediction predict_ensemble_aligned(const std::vector<Model>& models, const Tensor& inputs,
                                    std::int64_t first_row, std::int64_t block);

// One network of an ensemble as predict_ensemble_aligned runs it: y (rows x
// outputs) = the network on x (rows x inputs), both row-major host memory.
using Forward = std::function<void(const float* x, std::int64_t rows, float* y)>;

// As above, with forwards[i] in place of models[i].predict (e.g. a DeviceModel
// on a GPU: classify --device gpu); the models give the shapes and classes.
// The GEMM paths of the result are left unset.
Prediction predict_ensemble_aligned(const std::vector<Model>& models, const std::vector<Forward>& forwards,
                                    const Tensor& inputs, std::int64_t first_row, std::int64_t block);

// load_inputs + predict_ensemble.
Prediction predict_file(const std::vector<Model>& models, const std::string& path,
                        const PredictOptions& options = {});

// probabilities (samples, outputs) float32 + predicted (samples,) int32, root
// attrs class_names, kind, pairs, preprocessing.
void write_prediction(const Prediction& p, const std::string& path);
// {"class_names": [...], "probabilities": [[...], ...], "predicted": [...], ...}; NaN -> null.
std::string prediction_json(const Prediction& p);
// Counts per predicted class.
std::string prediction_text(const Prediction& p);

}  // namespace aptflow::nn
