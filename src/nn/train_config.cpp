// The [[layers]] tables of a training config as the JSON layer list of a
// model (include/aptflow/nn/train_config.hpp). Kept apart from train.cpp: it needs
// toml++'s definitions, which nvcc cannot compile, and no Kokkos, so a CUDA
// build compiles it with the host compiler (cmake/AptflowDependencies.cmake).
#include <fmt/format.h>

#include <toml++/toml.h>
#include <map>
#include <set>

#include "aptflow/core/error.hpp"
#include "aptflow/nn/train_config.hpp"

namespace aptflow::nn {

using nlohmann::json;

namespace {

std::string layer_cfg_key(std::size_t i, const std::string& k) { return fmt::format("layers[{}].{}", i, k); }

json int_list(const toml::node& n, const std::string& key, int rank) {
  json out = json::array();
  if (auto v = n.value<std::int64_t>()) {
    for (int i = 0; i < rank; ++i) out.push_back(*v);
    return out;
  }
  const auto* arr = n.as_array();
  if (!arr || static_cast<int>(arr->size()) != rank)
    throw ConfigError(key, fmt::format("expected an integer or a list of {} integers", rank));
  for (const auto& e : *arr) {
    auto v = e.value<std::int64_t>();
    if (!v || *v < 1) throw ConfigError(key, "expected positive integers");
    out.push_back(*v);
  }
  return out;
}

}  // namespace

json layers_from_config(const Config& cfg) {
  cfg.mark_used("layers");
  const toml::node* node = cfg.table().get("layers");
  const toml::array* arr = node ? node->as_array() : nullptr;
  if (!arr || arr->empty() || !arr->is_array_of_tables())
    throw ConfigError("layers",
                      "the config needs a layer list: [[layers]] tables with type = \"conv1d\", ...");
  json layers = json::array();
  std::map<std::string, int> used_names;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::table& t = *arr->get(i)->as_table();
    std::set<std::string> read;
    auto get = [&](const std::string& k) -> const toml::node* {
      read.insert(k);
      return t.get(k);
    };
    auto get_str = [&](const std::string& k, const std::string& dflt) {
      const auto* n = get(k);
      if (!n) return dflt;
      auto v = n->value<std::string>();
      if (!v) throw ConfigError(layer_cfg_key(i, k), "expected a string");
      return *v;
    };
    auto get_int = [&](const std::string& k) -> std::int64_t {
      const auto* n = get(k);
      if (!n) throw ConfigError(layer_cfg_key(i, k), "required key is missing");
      auto v = n->value<std::int64_t>();
      if (!v || *v < 1) throw ConfigError(layer_cfg_key(i, k), "expected a positive integer");
      return *v;
    };
    const std::string type = get_str("type", "");
    if (type.empty()) throw ConfigError(layer_cfg_key(i, "type"), "every [[layers]] table needs a type");
    json entry;
    json c = json::object();
    std::string base;
    const bool conv = type == "conv1d" || type == "conv2d" || type == "conv3d";
    const bool pool = type == "maxpool1d" || type == "maxpool2d" || type == "maxpool3d";
    if (conv) {
      const int rank = type[4] - '0';
      entry["class"] = fmt::format("Conv{}D", rank);
      base = type;
      c["filters"] = get_int("filters");
      const auto* k = get("kernel");
      if (!k) throw ConfigError(layer_cfg_key(i, "kernel"), "required key is missing");
      c["kernel_size"] = int_list(*k, layer_cfg_key(i, "kernel"), rank);
      const auto* s = get("strides");
      c["strides"] = s ? int_list(*s, layer_cfg_key(i, "strides"), rank)
                       : int_list(toml::value<std::int64_t>(1), "", rank);
      c["padding"] = get_str("padding", "valid");
      c["activation"] = get_str("activation", "linear");
      const auto* b = get("use_bias");
      c["use_bias"] = b ? b->value<bool>().value_or(true) : true;
    } else if (pool) {
      const int rank = type[7] - '0';
      entry["class"] = fmt::format("MaxPooling{}D", rank);
      base = fmt::format("max_pooling{}d", rank);
      const auto* p = get("pool");
      c["pool_size"] =
          p ? int_list(*p, layer_cfg_key(i, "pool"), rank) : int_list(toml::value<std::int64_t>(2), "", rank);
      const auto* s = get("strides");
      if (s) c["strides"] = int_list(*s, layer_cfg_key(i, "strides"), rank);
      c["padding"] = get_str("padding", "valid");
    } else if (type == "dense") {
      entry["class"] = "Dense";
      base = "dense";
      c["units"] = get_int("units");
      c["activation"] = get_str("activation", "linear");
      const auto* b = get("use_bias");
      c["use_bias"] = b ? b->value<bool>().value_or(true) : true;
    } else if (type == "dropout") {
      entry["class"] = "Dropout";
      base = "dropout";
      const auto* r = get("rate");
      auto v = r ? r->value<double>() : std::nullopt;
      if (!v) throw ConfigError(layer_cfg_key(i, "rate"), "a dropout layer needs rate = <0..1>");
      c["rate"] = *v;
    } else if (type == "flatten") {
      entry["class"] = "Flatten";
      base = "flatten";
    } else if (type == "activation") {
      entry["class"] = "Activation";
      base = "activation";
      c["activation"] = get_str("activation", "linear");
    } else {
      throw ConfigError(
          layer_cfg_key(i, "type"),
          fmt::format("'{}' is not one of conv1d, conv2d, conv3d, maxpool1d, maxpool2d, maxpool3d, "
                      "dense, dropout, flatten, activation",
                      type));
    }
    std::string name = get_str("name", "");
    if (name.empty()) {
      const int n = used_names[base]++;
      name = n == 0 ? base : fmt::format("{}_{}", base, n);
    }
    for (auto&& [k, v] : t) {
      (void)v;
      if (!read.count(std::string(k.str())))
        throw ConfigError(layer_cfg_key(i, std::string(k.str())),
                          fmt::format("unknown key for a {} layer (docs/training.md lists the keys)", type));
    }
    entry["name"] = name;
    entry["config"] = c;
    layers.push_back(entry);
  }
  return layers;
}

}  // namespace aptflow::nn
