// Host tensors; see include/aptflow/nn/tensor.hpp.
#include "aptflow/nn/tensor.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace aptflow::nn {

std::int64_t shape_size(const Shape& shape) {
  std::int64_t n = 1;
  for (auto e : shape) n *= e;
  return n;
}

std::string shape_string(const Shape& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

Tensor::Tensor(Shape s, float fill) : shape(std::move(s)) {
  data.assign(static_cast<std::size_t>(shape_size(shape)), fill);
}

void Tensor::reset(Shape s) {
  shape = std::move(s);
  data.resize(static_cast<std::size_t>(shape_size(shape)));
}

std::int64_t Tensor::sample_size() const {
  std::int64_t n = 1;
  for (std::size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

}  // namespace aptflow::nn
