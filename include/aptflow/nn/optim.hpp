#pragma once
// Optimisers for training (docs/training.md): Adam and RMSprop with the Keras
// 2.x update rules and defaults, so that published training settings carry
// over unchanged.
//
// Adam (Keras 2.2.4 / tf.keras): at step t = 1, 2, ...
//   m <- beta_1 m + (1 - beta_1) g
//   v <- beta_2 v + (1 - beta_2) g^2
//   w <- w - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)
// RMSprop (Keras):
//   a <- rho a + (1 - rho) g^2
//   w <- w - lr g / (sqrt(a) + epsilon)
// State (m, v, a) is kept in double; weights stay float32.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aptflow/nn/layers.hpp"

namespace aptflow::nn {

struct OptimizerSpec {
  std::string type = "adam";  // adam | rmsprop
  double learning_rate = 1e-3;
  double beta_1 = 0.9;    // adam
  double beta_2 = 0.999;  // adam
  double rho = 0.9;       // rmsprop
  double epsilon = 1e-7;  // both (Keras default)

  nlohmann::json to_json() const;
  // ConfigError naming "training.<key>" for a bad value.
  void validate() const;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every parameter from its Param::grad (the gradient of the
  // mean loss over the global batch). The parameter list must be the same
  // (same order and sizes) on every call.
  virtual void step(const std::vector<Param*>& params) = 0;
  std::int64_t steps() const { return t_; }

 protected:
  void bind(const std::vector<Param*>& params, int slots);
  std::int64_t t_ = 0;
  std::vector<std::vector<double>> state_;  // slots per parameter, concatenated
  std::size_t slots_ = 0;
};

class Adam final : public Optimizer {
 public:
  explicit Adam(const OptimizerSpec& spec) : spec_(spec) {}
  void step(const std::vector<Param*>& params) override;

 private:
  OptimizerSpec spec_;
};

class RMSprop final : public Optimizer {
 public:
  explicit RMSprop(const OptimizerSpec& spec) : spec_(spec) {}
  void step(const std::vector<Param*>& params) override;

 private:
  OptimizerSpec spec_;
};

// Adam or RMSprop from spec.type; ConfigError("training.optimizer") otherwise.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec);

}  // namespace aptflow::nn
