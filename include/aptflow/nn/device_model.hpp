#pragma once
// A Model's inference on Kokkos Views in the memory of an execution space
// (issue 13, docs/models.md "Device-resident inference"): the parameters are
// copied into that memory once, and the forward pass keeps every activation
// there -- no host round trip per layer. Only what the caller copies back
// (the probabilities) crosses.
//
//   DeviceModel<Kokkos::DefaultExecutionSpace> net(exec, model);
//   auto p = net.predict(x);            // x, p: (samples, floats) Views in exec's memory
//   auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p);
//
// The layers are dispatched by kind onto kernels templated on the execution
// space (labelled "aptflow::nn::device::*"):
//   Conv    im2col kernel into a scratch View, gemm(exec, cols, kernel, y)
//           ([cublas] on Kokkos::Cuda, [openblas] on host spaces), then a
//           bias + activation kernel;
//   Dense   bias rows, then gemm(exec, x, W, y) with beta = 1, activation;
//   MaxPool one thread per output cell and channel (first covered cell,
//           then strictly greater: the host selection rule);
//   Activation, softmax per row (as apply_activation); Dropout and Flatten
//           are the identity at inference (only the shape changes).
// The same code runs on host execution spaces (Serial, OpenMP), which is how
// it is tested without a GPU: against Model::predict, the host path, whose
// results do not change. Keep it simple: no fusion, no direct convolution
// (the host path has those).
//
// Instantiated for Kokkos::DefaultHostExecutionSpace and, in builds whose
// Kokkos has the CUDA backend, Kokkos::Cuda.
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "aptflow/kernels/gemm.hpp"
#include "aptflow/nn/layers.hpp"
#include "aptflow/nn/model.hpp"

namespace aptflow::nn {

template <class ExecSpace>
class DeviceModel {
 public:
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  // (samples, floats per sample), row-major: a sample's channels-last
  // tensor flattened, as Tensor::data holds it.
  using Matrix = Kokkos::View<float**, Kokkos::LayoutRight, memory_space>;
  using ConstMatrix = Kokkos::View<const float**, Kokkos::LayoutRight, memory_space>;

  // Copies the architecture and the parameters of `model` (the model itself
  // is not kept). `backend` as for gemm(exec, ...): automatic, or the library
  // of exec's space. Waits until the copies are done.
  DeviceModel(const ExecSpace& exec, const Model& model, GemmBackend backend = GemmBackend::automatic);

  const Shape& input_shape() const { return input_; }
  const Shape& output_shape() const { return output_; }
  std::int64_t input_size() const { return shape_size(input_); }
  std::int64_t output_size() const { return shape_size(output_); }

  // y(s, :) = model(x(s, :)) for every row s of x (x.extent(1) ==
  // input_size(), y: (x.extent(0), output_size())), `chunk` rows per pass
  // (scratch: chunk x the widest activation, plus the im2col columns of at
  // most 2^24 floats). Queued on the execution space: fence it (or
  // deep_copy) before reading y on the host. Inputs must be finite.
  // InternalError for wrong extents.
  void predict(const ConstMatrix& x, const Matrix& y, std::int64_t chunk = 1024) const;
  Matrix predict(const ConstMatrix& x, std::int64_t chunk = 1024) const;

  // The path of the last GEMM (none before the first predict).
  std::optional<GemmPath> gemm_path() const { return path_; }

  // One layer of the forward pass, as the kernels see it.
  struct Op {
    enum class Kind { conv, pool, dense, activation } kind = Kind::activation;
    std::string name;
    SlidingGeometry geo;                     // conv, pool
    std::int64_t filters = 0;                // conv: output channels
    std::int64_t rows_per_sample = 1;        // dense: leading positions per sample; activation: rows
    std::int64_t width = 0;                  // dense: inputs I; activation: the softmax width
    std::int64_t units = 0;                  // dense: outputs U
    std::int64_t in_size = 0, out_size = 0;  // floats per sample
    Activation act = Activation::linear;
    Kokkos::View<float*, memory_space> kernel, bias;  // bias empty without one
  };

 private:
  ExecSpace exec_;
  Shape input_, output_;
  std::vector<Op> ops_;
  GemmBackend backend_;
  mutable std::optional<GemmPath> path_;
};

}  // namespace aptflow::nn
