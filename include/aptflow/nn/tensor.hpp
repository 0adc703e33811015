#pragma once
// Host tensors of the neural network: a batch of samples, float32,
// row-major, channels last (the Keras layout): shape {batch, steps, channels}
// for 1D data, {batch, rows, cols, channels} for images, {batch, d, h, w,
// channels} for volumes, {batch, features} after Flatten.
#include <cstdint>
#include <string>
#include <vector>

namespace aptflow::nn {

using Shape = std::vector<std::int64_t>;

// Product of the extents (1 for an empty shape).
std::int64_t shape_size(const Shape& shape);
// "(93, 1)"
std::string shape_string(const Shape& shape);

struct Tensor {
  Shape shape;  // shape[0] is the batch
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(Shape s, float fill = 0.0f);
  // Reshape and resize (contents unspecified where new).
  void reset(Shape s);
  std::int64_t batch() const { return shape.empty() ? 0 : shape[0]; }
  // Floats per sample (product of shape[1:]).
  std::int64_t sample_size() const;
  Shape sample_shape() const { return shape.empty() ? Shape{} : Shape(shape.begin() + 1, shape.end()); }
  float* sample(std::int64_t b) { return data.data() + b * sample_size(); }
  const float* sample(std::int64_t b) const { return data.data() + b * sample_size(); }
};

}  // namespace aptflow::nn
