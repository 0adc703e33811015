// DeviceModel (include/aptflow/nn/device_model.hpp), the device-resident
// forward pass, run here on the host execution space (the same kernels and
// gemm(exec, ...) calls a GPU build runs on Kokkos::Cuda; tests/cuda runs it
// there): its probabilities against Model::predict (the host path) for
// every layer kind, padding, strides, activations, bias or none, Dense on
// rank-2 inputs, the shipped models, and chunks that split the batch.
#include <gtest/gtest.h>

#include <Kokkos_Core.hpp>
#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/nn/device_model.hpp"
#include "aptflow/nn/model.hpp"
#include "aptflow/nn/model_file.hpp"
#include "test_nn_nets.hpp"
#include "test_util.hpp"

namespace {

using namespace aptflow::nn;
using Exec = Kokkos::DefaultHostExecutionSpace;

using aptflow::test::random_values;

// DeviceModel<Exec>::predict on Views against Model::predict on the same rows.
void expect_device_matches_host(const Model& m, const std::vector<float>& x, std::int64_t batch,
                                std::int64_t chunk, double tol, const std::string& what) {
  const Tensor host = m.predict(x.data(), batch, 256);
  const Exec exec;
  DeviceModel<Exec> dev(exec, m);
  EXPECT_EQ(dev.input_shape(), m.input_shape());
  EXPECT_EQ(dev.output_shape(), m.output_shape());
  DeviceModel<Exec>::Matrix xd("x", static_cast<std::size_t>(batch),
                               static_cast<std::size_t>(dev.input_size()));
  auto xh = Kokkos::create_mirror_view(xd);
  for (std::int64_t i = 0; i < batch * dev.input_size(); ++i) xh.data()[i] = x[static_cast<std::size_t>(i)];
  Kokkos::deep_copy(exec, xd, xh);
  const auto y = dev.predict(xd, chunk);
  auto yh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), y);
  exec.fence();
  ASSERT_EQ(static_cast<std::int64_t>(yh.extent(0)), batch) << what;
  ASSERT_EQ(static_cast<std::int64_t>(yh.extent(1)), dev.output_size()) << what;
  double worst = 0;
  for (std::int64_t i = 0; i < batch * dev.output_size(); ++i) {
    ASSERT_TRUE(std::isfinite(yh.data()[i])) << what << " " << i;
    worst = std::max(worst, double(std::fabs(yh.data()[i] - host.data[static_cast<std::size_t>(i)])));
  }
  EXPECT_LE(worst, tol) << what;
  ASSERT_TRUE(dev.gemm_path().has_value()) << what;
  EXPECT_EQ(*dev.gemm_path(), aptflow::GemmPath::openblas) << what;
}

TEST(NnDeviceModel, EveryLayerKindMatchesTheHostPath) {
  struct Net {
    std::string name;
    Model model;
  };
  std::vector<Net> nets;
  {  // the shipped 1D architecture, 4 channels
    Model m(Shape{93, 4});
    m.add(std::make_unique<Conv>("conv", ConvSpec{1, 16, {10}, {}, Padding::valid, Activation::relu}));
    m.add(std::make_unique<Dropout>("drop", 0.5));
    m.add(std::make_unique<MaxPool>("pool", PoolSpec{1, {2}, {}, Padding::valid}));
    m.add(std::make_unique<Flatten>("flat"));
    m.add(std::make_unique<Dense>("dense", 256, Activation::relu));
    m.add(std::make_unique<Dense>("out", 2, Activation::softmax));
    nets.push_back({"alli 1D", std::move(m)});
  }
  {  // 3D: two conv + pool stages (7 -> 3 drops a ragged end)
    Model m(Shape{12, 12, 12, 1});
    m.add(std::make_unique<Conv>("c1", ConvSpec{3, 8, {3, 3, 3}, {}, Padding::valid, Activation::relu}));
    m.add(std::make_unique<MaxPool>("p1", PoolSpec{3, {2, 2, 2}, {}, Padding::valid}));
    m.add(std::make_unique<Conv>("c2", ConvSpec{3, 12, {3, 3, 3}, {}, Padding::valid, Activation::relu}));
    m.add(std::make_unique<MaxPool>("p2", PoolSpec{3, {2, 2, 2}, {}, Padding::valid}));
    m.add(std::make_unique<Flatten>("flat"));
    m.add(std::make_unique<Dense>("dense", 16, Activation::relu));
    m.add(std::make_unique<Dense>("out", 3, Activation::softmax));
    nets.push_back({"3D", std::move(m)});
  }
  {  // 2D: same padding, strides, overlapping same-padded pool, no bias, sigmoid, Activation layers
    Model m(Shape{11, 9, 2});
    m.add(std::make_unique<Conv>("c1",
                                 ConvSpec{2, 5, {3, 2}, {2, 1}, Padding::same, Activation::linear, false}));
    m.add(std::make_unique<ActivationLayer>("a1", Activation::relu));
    m.add(std::make_unique<MaxPool>("p1", PoolSpec{2, {3, 2}, {2, 1}, Padding::same}));
    m.add(std::make_unique<Conv>("c2", ConvSpec{2, 4, {2, 2}, {1, 1}, Padding::valid, Activation::sigmoid}));
    m.add(std::make_unique<Dense>("rows", 6, Activation::relu));  // Dense on (h, w, C): per position
    m.add(std::make_unique<Flatten>("flat"));
    m.add(std::make_unique<Dense>("out", 1, Activation::sigmoid, false));
    nets.push_back({"2D", std::move(m)});
  }
  {  // a softmax Activation layer after a linear Dense
    Model m(Shape{7, 3});
    m.add(std::make_unique<Flatten>("flat"));
    m.add(std::make_unique<Dense>("d", 5, Activation::linear));
    m.add(std::make_unique<ActivationLayer>("sm", Activation::softmax));
    nets.push_back({"dense softmax", std::move(m)});
  }
  std::uint32_t seed = 600;
  for (auto& net : nets) {
    aptflow::test::randomise_fan_in(net.model, seed);
    const std::int64_t batch = 37;
    const auto x = random_values(static_cast<std::size_t>(batch * shape_size(net.model.input_shape())),
                                 seed + 1, 0.0f, 1.0f);
    for (std::int64_t chunk : {1024, 10})
      expect_device_matches_host(net.model, x, batch, chunk, 2e-6, net.name);
    seed += 100;
  }
}

TEST(NnDeviceModel, ShippedModelsMatchTheHostPath) {
  const auto dir = aptflow::test::source_dir() / "models";
  std::uint32_t seed = 800;
  for (const char* name : {"alli_l12_pairs_1dcnn", "feal_1dcnn"}) {
    const auto path = dir / (std::string(name) + ".h5");
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " absent: run bash models/rebuild.sh";
    const Model m = load_model(path.string());
    const std::int64_t batch = 300;
    const auto x =
        random_values(static_cast<std::size_t>(batch * shape_size(m.input_shape())), seed++, 0.0f, 1.0f);
    expect_device_matches_host(m, x, batch, 128, 1e-6, name);
  }
}

TEST(NnDeviceModel, WrongExtentsAreInternalErrorsAndEmptyBatchesWork) {
  Model m(Shape{6, 2});
  m.add(std::make_unique<Flatten>("flat"));
  m.add(std::make_unique<Dense>("d", 3, Activation::softmax));
  const Exec exec;
  DeviceModel<Exec> dev(exec, m);
  DeviceModel<Exec>::Matrix bad("bad", 4, 11), x("x", 4, 12), y("y", 4, 2), empty("empty", 0, 12);
  EXPECT_THROW(dev.predict(bad), aptflow::InternalError);
  EXPECT_THROW(dev.predict(x, y), aptflow::InternalError);
  EXPECT_EQ(dev.predict(empty).extent(0), 0u);
  EXPECT_EQ(dev.predict(empty).extent(1), 3u);
  EXPECT_FALSE(dev.gemm_path().has_value());  // nothing ran yet
  // Asking for cuBLAS on host Views is refused at the first GEMM.
  DeviceModel<Exec> cublas(exec, m, aptflow::GemmBackend::cublas);
  EXPECT_THROW(cublas.predict(x), aptflow::ResourceError);
}

}  // namespace
