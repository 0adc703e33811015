// Optimisers; see include/aptflow/nn/optim.hpp.
#include "aptflow/nn/optim.hpp"

#include <fmt/format.h>

#include <cmath>

#include "aptflow/core/error.hpp"

namespace aptflow::nn {

nlohmann::json OptimizerSpec::to_json() const {
  nlohmann::json j{{"type", type}, {"learning_rate", learning_rate}, {"epsilon", epsilon}};
  if (type == "adam") {
    j["beta_1"] = beta_1;
    j["beta_2"] = beta_2;
  } else {
    j["rho"] = rho;
  }
  return j;
}

void OptimizerSpec::validate() const {
  if (type != "adam" && type != "rmsprop")
    throw ConfigError("training.optimizer", fmt::format("'{}' is not one of adam, rmsprop", type));
  if (!(learning_rate > 0.0)) throw ConfigError("training.learning_rate", "must be > 0 (Keras default 1e-3)");
  if (!(epsilon > 0.0)) throw ConfigError("training.epsilon", "must be > 0 (Keras default 1e-7)");
  if (!(beta_1 >= 0.0 && beta_1 < 1.0)) throw ConfigError("training.beta_1", "must lie in [0, 1)");
  if (!(beta_2 >= 0.0 && beta_2 < 1.0)) throw ConfigError("training.beta_2", "must lie in [0, 1)");
  if (!(rho >= 0.0 && rho < 1.0)) throw ConfigError("training.rho", "must lie in [0, 1)");
}

void Optimizer::bind(const std::vector<Param*>& params, int slots) {
  if (state_.empty()) {
    slots_ = static_cast<std::size_t>(slots);
    for (const Param* p : params) state_.emplace_back(p->value.size() * slots_, 0.0);
    return;
  }
  APTFLOW_ASSERT(state_.size() == params.size(), "Optimizer::step: the parameter list changed");
  for (std::size_t i = 0; i < params.size(); ++i)
    APTFLOW_ASSERT(state_[i].size() == params[i]->value.size() * slots_,
                   "Optimizer::step: a parameter changed size");
}

void Adam::step(const std::vector<Param*>& params) {
  bind(params, 2);
  ++t_;
  const double b1 = spec_.beta_1, b2 = spec_.beta_2;
  const double lr_t = spec_.learning_rate * std::sqrt(1.0 - std::pow(b2, static_cast<double>(t_))) /
                      (1.0 - std::pow(b1, static_cast<double>(t_)));
  for (std::size_t i = 0; i < params.size(); ++i) {
    Param& p = *params[i];
    double* m = state_[i].data();
    double* v = m + p.value.size();
    for (std::size_t j = 0; j < p.value.size(); ++j) {
      const double g = p.grad[j];
      m[j] = b1 * m[j] + (1.0 - b1) * g;
      v[j] = b2 * v[j] + (1.0 - b2) * g * g;
      p.value[j] = static_cast<float>(p.value[j] - lr_t * m[j] / (std::sqrt(v[j]) + spec_.epsilon));
    }
  }
}

void RMSprop::step(const std::vector<Param*>& params) {
  bind(params, 1);
  ++t_;
  const double rho = spec_.rho;
  for (std::size_t i = 0; i < params.size(); ++i) {
    Param& p = *params[i];
    double* a = state_[i].data();
    for (std::size_t j = 0; j < p.value.size(); ++j) {
      const double g = p.grad[j];
      a[j] = rho * a[j] + (1.0 - rho) * g * g;
      p.value[j] =
          static_cast<float>(p.value[j] - spec_.learning_rate * g / (std::sqrt(a[j]) + spec_.epsilon));
    }
  }
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec) {
  spec.validate();
  if (spec.type == "adam") return std::make_unique<Adam>(spec);
  return std::make_unique<RMSprop>(spec);
}

}  // namespace aptflow::nn
