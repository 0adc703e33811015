#pragma once
// Model files (docs/models.md): aptflow's own HDF5 layout, and import of
// Keras 2.x HDF5 Sequential models (the published ML-APT networks).
//
// aptflow layout:
//   /                      attrs format = "aptflow-model", version = 1,
//                          class_names = [...], aptflow_version
//   /model/architecture    JSON string (Model::architecture())
//   /model/features        JSON string (ModelFeatures::to_json())
//   /model/training        JSON string (training config + metrics; only when not empty)
//   /model/weights/<layer>/<param>   float32 in Keras layout (kernel, bias)
//   ensembles: root attr members = k, /ensemble/member<i>/weights/... (i >= 1)
//
// Keras layout (detected by the root attribute `model_config`, str or bytes):
//   model_config           {"class_name": "Sequential", "config": {"layers": [...]}}
//                          (or "config": [...] in older Keras 2)
//   model_weights/<layer>  attr weight_names = ["<layer>/kernel:0", ...]
//   model_weights/<layer>/<layer>/kernel:0, bias:0
#include <optional>
#include <string>
#include <vector>

#include "aptflow/nn/model.hpp"

namespace aptflow::nn {

inline constexpr const char* kModelFormat = "aptflow-model";
inline constexpr std::int64_t kModelFormatVersion = 1;

// Write the model (overwrites the file). ResourceError when it cannot be written.
void save_model(const Model& model, const std::string& path);

// True when the HDF5 file has a root attribute `model_config` (a Keras model).
bool is_keras_file(const std::string& path);

// What a Keras file does not say.
struct KerasImportOptions {
  std::vector<std::string> class_names;   // empty: "class_<i>"
  std::optional<ModelFeatures> features;  // empty: kind z, no pairs, bins from the input shape
};

// Read a Keras 2.x Sequential model. InputError naming the file for a
// missing or malformed piece; ConfigError naming the layer and its class
// for an unsupported layer or option.
Model import_keras(const std::string& path, const KerasImportOptions& options = {});

// An aptflow model file, or a Keras file (detected) imported with `keras`.
// InputError for an ensemble file (members > 1): use load_models.
Model load_model(const std::string& path, const KerasImportOptions& keras = {});

// Ensembles (k-fold training, docs/training.md): one file holds every member.
// Member 0 is the plain model (/model/...); the root attribute members = k
// (int64) and /ensemble/member<i>/weights/<layer>/<param> for i = 1..k-1 hold
// the others (same architecture, features, class names and training JSON).
// One member: exactly save_model.
void save_models(const std::vector<Model>& members, const std::string& path);
// Every member of a model file (one for a plain aptflow or a Keras file).
std::vector<Model> load_models(const std::string& path, const KerasImportOptions& keras = {});

}  // namespace aptflow::nn
