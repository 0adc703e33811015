// Model files: aptflow's HDF5 layout and Keras 2.x import; see
// include/aptflow/nn/model_file.hpp and docs/models.md.
#include "aptflow/nn/model_file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>

#include "aptflow/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/io/h5.hpp"

namespace aptflow::nn {

namespace {

using nlohmann::json;

json parse_json(const std::string& text, const std::string& file, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw InputError(
        file, fmt::format("{} is not valid JSON ({}); the file is damaged or not a model", what, e.what()));
  }
}

std::string read_json_string(const h5::File& f, const std::string& path) {
  auto v = h5::read_strings(f, path);
  if (v.size() != 1)
    throw InputError(f.path(),
                     fmt::format("'{}' must hold exactly one JSON string, it holds {}", path, v.size()));
  return v.front();
}

void load_param(const h5::File& f, const std::string& path, Param& p, const std::string& layer) {
  std::vector<hsize_t> dims;
  auto values = h5::read<float>(f, path, &dims);
  Shape shape(dims.begin(), dims.end());
  if (shape != p.shape)
    throw InputError(f.path(),
                     fmt::format("weights '{}' have shape {} but layer '{}' needs {} for its {}; the "
                                 "architecture and the weights do not belong together",
                                 path, shape_string(shape), layer, shape_string(p.shape), p.name));
  p.value = std::move(values);
  std::fill(p.grad.begin(), p.grad.end(), 0.0f);
}

// ------------------------------------------------------------ Keras -> aptflow layer entries

std::string keras_activation(const json& cfg, const std::string& name, const std::string& cls) {
  if (!cfg.contains("activation")) return "linear";
  const auto& a = cfg["activation"];
  if (!a.is_string())
    throw ConfigError(
        fmt::format("model.layers.{}", name),
        fmt::format("{} layer: activation {} is not a plain name; aptflow supports linear, relu, "
                    "sigmoid and softmax",
                    cls, a.dump()));
  const auto s = a.get<std::string>();
  parse_activation(s, fmt::format("model.layers.{}", name));
  return s;
}

void require_channels_last(const json& cfg, const std::string& name, const std::string& cls) {
  if (cfg.contains("data_format") && !cfg["data_format"].is_null() && cfg["data_format"] != "channels_last")
    throw ConfigError(fmt::format("model.layers.{}", name),
                      fmt::format("{} layer uses data_format {}; aptflow supports channels_last only", cls,
                                  cfg["data_format"].dump()));
}

// One Keras layer -> an aptflow architecture entry; nullopt for layers that
// only carry the input shape (InputLayer).
std::optional<json> translate_keras_layer(const json& layer, const std::string& file) {
  if (!layer.is_object() || !layer.contains("class_name") || !layer.contains("config"))
    throw InputError(file,
                     "model_config: a layer entry lacks 'class_name' or 'config'; not a Keras model file?");
  const std::string cls = layer["class_name"].get<std::string>();
  const json& cfg = layer["config"];
  const std::string name = cfg.value("name", std::string("unnamed"));
  json out = {{"name", name}};
  auto unsupported = [&](const std::string& why) {
    return InputError(file, fmt::format("layer '{}' of Keras class {}: {}", name, cls, why));
  };
  if (cls == "InputLayer") return std::nullopt;
  if (cls == "Conv1D" || cls == "Conv2D" || cls == "Conv3D") {
    require_channels_last(cfg, name, cls);
    if (cfg.contains("dilation_rate"))
      for (const auto& d :
           (cfg["dilation_rate"].is_array() ? cfg["dilation_rate"] : json::array({cfg["dilation_rate"]})))
        if (d != 1) throw unsupported("dilation_rate other than 1 is not supported");
    if (cfg.contains("groups") && cfg["groups"] != 1)
      throw unsupported("grouped convolution is not supported");
    const std::string padding = cfg.value("padding", std::string("valid"));
    if (padding != "valid" && padding != "same")
      throw unsupported(fmt::format("padding '{}' is not supported (valid or same)", padding));
    out["class"] = cls;
    out["config"] = {{"filters", cfg.at("filters")},
                     {"kernel_size", cfg.at("kernel_size")},
                     {"strides", cfg.value("strides", json::array())},
                     {"padding", padding},
                     {"activation", keras_activation(cfg, name, cls)},
                     {"use_bias", cfg.value("use_bias", true)}};
    if (out["config"]["strides"].empty()) out["config"].erase("strides");
    return out;
  }
  if (cls.rfind("MaxPooling", 0) == 0 || cls.rfind("MaxPool", 0) == 0) {
    const char rank = cls[cls.size() - 2];
    if ((rank != '1' && rank != '2' && rank != '3') || cls.back() != 'D')
      throw unsupported("not a MaxPooling1D/2D/3D layer");
    require_channels_last(cfg, name, cls);
    const std::string padding = cfg.value("padding", std::string("valid"));
    if (padding != "valid" && padding != "same")
      throw unsupported(fmt::format("padding '{}' is not supported (valid or same)", padding));
    out["class"] = fmt::format("MaxPooling{}D", rank);
    out["config"] = {{"pool_size", cfg.at("pool_size")}, {"padding", padding}};
    if (cfg.contains("strides") && !cfg["strides"].is_null()) out["config"]["strides"] = cfg["strides"];
    return out;
  }
  if (cls == "Dense") {
    out["class"] = "Dense";
    out["config"] = {{"units", cfg.at("units")},
                     {"activation", keras_activation(cfg, name, cls)},
                     {"use_bias", cfg.value("use_bias", true)}};
    return out;
  }
  if (cls == "Dropout") {
    if (cfg.contains("noise_shape") && !cfg["noise_shape"].is_null())
      throw unsupported("a noise_shape is not supported");
    out["class"] = "Dropout";
    out["config"] = {{"rate", cfg.at("rate")}};
    return out;
  }
  if (cls == "Flatten") {
    require_channels_last(cfg, name, cls);
    out["class"] = "Flatten";
    out["config"] = json::object();
    return out;
  }
  if (cls == "Activation") {
    out["class"] = "Activation";
    out["config"] = {{"activation", keras_activation(cfg, name, cls)}};
    return out;
  }
  if (cls == "ReLU") {
    const bool plain = (!cfg.contains("max_value") || cfg["max_value"].is_null()) &&
                       cfg.value("negative_slope", 0.0) == 0.0 && cfg.value("threshold", 0.0) == 0.0;
    if (!plain)
      throw unsupported("only the plain ReLU (no max_value, negative_slope or threshold) is supported");
    out["class"] = "Activation";
    out["config"] = {{"activation", "relu"}};
    return out;
  }
  if (cls == "Softmax") {
    if (cfg.value("axis", -1) != -1) throw unsupported("softmax over an axis other than the last");
    out["class"] = "Activation";
    out["config"] = {{"activation", "softmax"}};
    return out;
  }
  throw unsupported(
      "not supported; aptflow imports Sequential models of Conv1D/2D/3D, MaxPooling1D/2D/3D, Dense, Dropout, "
      "Flatten, Activation, ReLU and Softmax layers");
}

Shape keras_input_shape(const json& layer) {
  const json& cfg = layer.at("config");
  for (const char* key : {"batch_input_shape", "batch_shape"}) {
    if (!cfg.contains(key) || !cfg[key].is_array()) continue;
    const auto& s = cfg[key];
    Shape out;
    for (std::size_t i = 1; i < s.size(); ++i) {
      if (!s[i].is_number_integer()) return {};
      out.push_back(s[i].get<std::int64_t>());
    }
    return out;
  }
  return {};
}

// "conv1d_22/kernel:0" -> "kernel"
std::string keras_param_name(const std::string& weight_name) {
  std::string s = weight_name;
  if (auto slash = s.rfind('/'); slash != std::string::npos) s = s.substr(slash + 1);
  if (auto colon = s.rfind(':'); colon != std::string::npos) s = s.substr(0, colon);
  return s;
}

}  // namespace

// ---------------------------------------------------------------- aptflow format

void save_model(const Model& model, const std::string& path) {
  auto f = h5::File::create(path);
  {
    auto root = h5::open_object(f, "/");
    h5::write_attr(root, "format", std::string(kModelFormat));
    h5::write_attr(root, "version", kModelFormatVersion);
    h5::write_attr(root, "class_names", model.output_names());
    h5::write_attr(root, "aptflow_version", std::string(APTFLOW_VERSION) + " (" + APTFLOW_GIT_HASH + ")");
  }
  h5::write_strings(f, "/model/architecture", {model.architecture().dump()});
  h5::write_strings(f, "/model/features", {model.features.to_json().dump()});
  if (!model.training.is_null() && !model.training.empty())
    h5::write_strings(f, "/model/training", {model.training.dump()});
  h5::ensure_group(f, "/model/weights");
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Layer& l = model.layer(i);
    for (const Param& p : l.params()) {
      std::vector<hsize_t> shape(p.shape.begin(), p.shape.end());
      h5::write<float>(f, fmt::format("/model/weights/{}/{}", l.name(), p.name), p.value, shape);
    }
  }
}

bool is_keras_file(const std::string& path) {
  auto f = h5::File::open(path);
  auto root = h5::open_object(f, "/");
  return h5::has_attr(root, "model_config");
}

namespace {

// Member `member` of an aptflow model file (0: /model/weights; i >= 1:
// /ensemble/member<i>/weights).
Model load_aptflow(const std::string& path, std::int64_t member) {
  auto f = h5::File::open(path);
  auto root = h5::open_object(f, "/");
  if (!h5::has_attr(root, "format") || h5::read_attr_string(root, "format") != kModelFormat)
    throw InputError(path,
                     "not a model file: no root attribute format = \"aptflow-model\" and no Keras "
                     "model_config; pass an aptflow model or a Keras 2.x HDF5 model");
  const auto version = h5::read_attr_int(root, "version");
  if (version > kModelFormatVersion)
    throw InputError(
        path, fmt::format("model format version {} is newer than this aptflow reads ({}); update aptflow",
                          version, kModelFormatVersion));
  const auto arch = parse_json(read_json_string(f, "/model/architecture"), path, "/model/architecture");
  Model m;
  try {
    m = Model::from_architecture(arch);
  } catch (const ConfigError& e) {
    throw InputError(path, fmt::format("/model/architecture: {}", e.what()));
  }
  const std::string base =
      member == 0 ? std::string("/model/weights") : fmt::format("/ensemble/member{}/weights", member);
  for (std::size_t i = 0; i < m.size(); ++i) {
    Layer& l = m.layer(i);
    for (Param& p : l.params()) load_param(f, fmt::format("{}/{}/{}", base, l.name(), p.name), p, l.name());
  }
  if (h5::has_attr(root, "class_names")) m.class_names = h5::read_attr_strings(root, "class_names");
  if (h5::exists(f, "/model/features")) {
    try {
      m.features = ModelFeatures::from_json(
          parse_json(read_json_string(f, "/model/features"), path, "/model/features"));
    } catch (const ConfigError& e) {
      throw InputError(path, fmt::format("/model/features: {}", e.what()));
    }
  }
  if (h5::exists(f, "/model/training"))
    m.training = parse_json(read_json_string(f, "/model/training"), path, "/model/training");
  m.source = path;
  return m;
}

std::int64_t member_count(const std::string& path) {
  auto f = h5::File::open(path);
  auto root = h5::open_object(f, "/");
  if (!h5::has_attr(root, "members")) return 1;
  const auto k = h5::read_attr_int(root, "members");
  if (k < 1)
    throw InputError(path, fmt::format("root attribute members = {} must be >= 1; the file is damaged", k));
  return k;
}

}  // namespace

Model load_model(const std::string& path, const KerasImportOptions& keras) {
  if (is_keras_file(path)) return import_keras(path, keras);
  const auto k = member_count(path);
  if (k > 1)
    throw InputError(path, fmt::format("holds an ensemble of {} models (k-fold training); read it with "
                                       "load_models (aptflow predict and evaluate average its members)",
                                       k));
  return load_aptflow(path, 0);
}

void save_models(const std::vector<Model>& members, const std::string& path) {
  if (members.empty()) throw InternalError("save_models: no model to save");
  save_model(members.front(), path);
  if (members.size() == 1) return;
  const nlohmann::json arch = members.front().architecture();
  for (const auto& m : members)
    if (m.architecture() != arch)
      throw InternalError("save_models: ensemble members must share one architecture");
  auto f = h5::File::open(path, true);
  {
    auto root = h5::open_object(f, "/");
    h5::write_attr(root, "members", static_cast<std::int64_t>(members.size()));
  }
  for (std::size_t k = 1; k < members.size(); ++k) {
    const Model& model = members[k];
    for (std::size_t i = 0; i < model.size(); ++i) {
      const Layer& l = model.layer(i);
      for (const Param& p : l.params()) {
        std::vector<hsize_t> shape(p.shape.begin(), p.shape.end());
        h5::write<float>(f, fmt::format("/ensemble/member{}/weights/{}/{}", k, l.name(), p.name), p.value,
                         shape);
      }
    }
  }
}

std::vector<Model> load_models(const std::string& path, const KerasImportOptions& keras) {
  std::vector<Model> out;
  if (is_keras_file(path)) {
    out.push_back(import_keras(path, keras));
    return out;
  }
  const auto k = member_count(path);
  for (std::int64_t i = 0; i < k; ++i) out.push_back(load_aptflow(path, i));
  return out;
}

// ---------------------------------------------------------------- Keras

Model import_keras(const std::string& path, const KerasImportOptions& options) {
  auto f = h5::File::open(path);
  auto root = h5::open_object(f, "/");
  if (!h5::has_attr(root, "model_config"))
    throw InputError(path,
                     "no root attribute 'model_config': not a Keras HDF5 model (saved with model.save?)");
  const json config = parse_json(h5::read_attr_string(root, "model_config"), path, "attribute model_config");
  const std::string cls = config.value("class_name", std::string());
  if (cls != "Sequential")
    throw InputError(path,
                     fmt::format("Keras model class '{}': aptflow imports Sequential models only; rebuild "
                                 "the network as a keras.Sequential",
                                 cls));
  json layers;
  if (config.contains("config") && config["config"].is_array())
    layers = config["config"];  // Keras < 2.2.3: the layer list itself
  else if (config.contains("config") && config["config"].contains("layers"))
    layers = config["config"]["layers"];
  else
    throw InputError(path, "model_config has no layer list");
  if (!layers.is_array() || layers.empty())
    throw InputError(path, "model_config: the Sequential model has no layers");

  Shape input;
  std::vector<json> entries;
  for (const auto& layer : layers) {
    if (input.empty() && layer.is_object() && layer.contains("config")) input = keras_input_shape(layer);
    try {
      if (auto e = translate_keras_layer(layer, path)) entries.push_back(std::move(*e));
    } catch (const ConfigError& e) {
      throw InputError(path, fmt::format("Keras model: {}; aptflow cannot run this network", e.what()));
    } catch (const json::exception& e) {
      throw InputError(path, fmt::format("model_config: layer {} is malformed ({})",
                                         layer.value("class_name", std::string("?")), e.what()));
    }
  }
  if (input.empty())
    throw InputError(path,
                     "model_config: no batch_input_shape on the first layer (or an incomplete one); aptflow "
                     "needs a fixed input shape");
  json arch = {{"input_shape", input}, {"layers", entries}};
  Model m;
  try {
    m = Model::from_architecture(arch);
  } catch (const ConfigError& e) {
    throw InputError(path, fmt::format("Keras model: {}; aptflow cannot run this network", e.what()));
  }

  const std::string wroot = h5::exists(f, "/model_weights") ? "/model_weights" : "/";
  for (std::size_t i = 0; i < m.size(); ++i) {
    Layer& l = m.layer(i);
    if (l.params().empty()) continue;
    const std::string group = fmt::format("{}/{}", wroot == "/" ? "" : wroot, l.name());
    std::vector<std::string> weight_names;
    if (h5::exists(f, group)) {
      auto g = h5::open_object(f, group);
      if (h5::has_attr(g, "weight_names")) weight_names = h5::read_attr_strings(g, "weight_names");
    }
    if (weight_names.empty())
      for (const auto& p : l.params()) weight_names.push_back(fmt::format("{}/{}:0", l.name(), p.name));
    std::vector<bool> loaded(l.params().size(), false);
    for (const auto& wn : weight_names) {
      const std::string pname = keras_param_name(wn);
      std::size_t k = 0;
      while (k < l.params().size() && l.params()[k].name != pname) ++k;
      if (k == l.params().size())
        throw InputError(path,
                         fmt::format("layer '{}' ({}): weight '{}' has no counterpart in aptflow's {} layer",
                                     l.name(), l.kind(), wn, l.kind()));
      const std::string dpath = fmt::format("{}/{}", group, wn);
      if (!h5::exists(f, dpath))
        throw InputError(path,
                         fmt::format("layer '{}': weights '{}' are missing; was the model saved with its "
                                     "weights (model.save)?",
                                     l.name(), dpath));
      load_param(f, dpath, l.params()[k], l.name());
      loaded[k] = true;
    }
    for (std::size_t k = 0; k < loaded.size(); ++k)
      if (!loaded[k])
        throw InputError(
            path, fmt::format("layer '{}': no '{}' weights in the file", l.name(), l.params()[k].name));
  }

  const std::int64_t outputs = shape_size(m.output_shape());
  if (!options.class_names.empty() && static_cast<std::int64_t>(options.class_names.size()) != outputs)
    throw ConfigError("class_names", fmt::format("{} class names given for a model with {} outputs",
                                                 options.class_names.size(), outputs));
  m.class_names = options.class_names.empty() ? m.output_names() : options.class_names;
  if (options.features) {
    m.features = *options.features;
  } else {
    Shape bins(input.begin(), input.end() - (input.size() > 1 ? 1 : 0));
    m.features.bins = bins;
    m.features.kind = bins.size() == 2 ? "zx" : (bins.size() == 3 ? "3d" : "z");
  }
  json training = json::object();
  training["imported_from"] = {{"format", "keras"}};
  if (h5::has_attr(root, "keras_version"))
    training["imported_from"]["keras_version"] = h5::read_attr_string(root, "keras_version");
  if (h5::has_attr(root, "training_config")) {
    try {
      training["keras_training_config"] = json::parse(h5::read_attr_string(root, "training_config"));
    } catch (const json::exception&) {
      // informational only
    }
  }
  m.training = training;
  m.source = path;
  return m;
}

}  // namespace aptflow::nn
