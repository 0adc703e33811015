#pragma once
// The [[layers]] tables of a training config as architecture entries
// (nn/train.hpp). No Kokkos here: src/nn/train_config.cpp needs toml++'s
// definitions, which nvcc cannot compile, so a CUDA build compiles it with
// the host compiler (cmake/AptflowDependencies.cmake).
#include <nlohmann/json.hpp>

#include "aptflow/core/config.hpp"

namespace aptflow::nn {

// The layer list of a config ([[layers]] tables: type = conv1d | conv2d |
// conv3d | maxpool1d | maxpool2d | maxpool3d | dense | dropout | flatten |
// activation, with filters, kernel, strides, padding, activation, units,
// rate, pool, use_bias, name) as architecture entries. ConfigError naming
// "layers[i].<key>" for an unknown or bad key.
nlohmann::json layers_from_config(const Config& cfg);

}  // namespace aptflow::nn
