// pipeline/device_stages.hpp: the device path of classify's windows stage
// (`--device gpu`) against the host path, run here on
// Kokkos::DefaultExecutionSpace (Serial or OpenMP in the builds CI runs; the
// same code runs on Kokkos::Cuda): the integer window counts of every pair
// equal the host algorithms' on random clouds (feal and cocrni windows, z-
// and zx-SDMs, chunks of every size), and the ensemble's forward passes match
// Model::predict; plus the `device` choice.
#include <gtest/gtest.h>

#include <Kokkos_Core.hpp>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "aptflow/core/bounds.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/nn/model_file.hpp"
#include "aptflow/nn/predict.hpp"
#include "aptflow/pipeline/device_stages.hpp"
#include "test_nn_nets.hpp"
#include "test_sdm_reference.hpp"
#include "test_util.hpp"

namespace {

using namespace aptflow;

void expect_same_counts(WindowVariant variant, const SdmSpec& spec, std::uint32_t seed,
                        std::size_t ions = 3000, float size = 9.0f) {
  const auto plain = test::random_cloud(seed, ions, size);
  const HostIonCloud cloud = test::to_ion_cloud(plain);
  const std::vector<std::pair<int, int>> pairs = {{1, 1}, {1, 2}, {3, 0}};
  const auto grid = WindowGrid::over(cloud_bounds(Kokkos::DefaultHostExecutionSpace(), cloud), 1.0, 0.5);
  const WindowSpec wspec = variant == WindowVariant::feal ? WindowSpec::feal(1.0) : WindowSpec::cocrni(1.0);
  auto host = make_window_counter(false, cloud, pairs, grid, wspec, spec);
  auto device = make_window_counter(true, cloud, pairs, grid, wspec, spec);
  const std::int64_t W = grid.size(), B = spec.size();
  ASSERT_GT(W, 100);
  std::int64_t nonzero = 0;
  for (std::size_t p = 0; p < pairs.size(); ++p)
    for (std::int64_t first = 0, m = 1; first < W; first += m, m = std::min<std::int64_t>(2 * m + 3, 700)) {
      m = std::min(m, W - first);
      WindowCounter::Rows a("a", m, B), b("b", m, B);
      WindowCounter::Counts ca("ca", m), cb("cb", m);
      host->count(p, first, a, ca);
      device->count(p, first, b, cb);
      for (std::int64_t k = 0; k < m; ++k) {
        ASSERT_EQ(ca(k), cb(k)) << "pair " << p << " window " << first + k;
        for (std::int64_t q = 0; q < B; ++q) {
          ASSERT_EQ(a(k, q), b(k, q)) << "pair " << p << " window " << first + k << " bin " << q;
          nonzero += a(k, q) > 0 ? 1 : 0;
        }
      }
    }
  EXPECT_GT(nonzero, 1000) << "the clouds must give counts to compare";
}

TEST(DeviceStages, WindowCountsEqualTheHostPathFeal) {
  expect_same_counts(WindowVariant::feal, SdmSpec::z(), 71);
}

TEST(DeviceStages, WindowCountsEqualTheHostPathCocrni) {
  expect_same_counts(WindowVariant::cocrni, SdmSpec::z(), 72);
}

// zx-SDMs: 2D histograms (the team algorithm on one host thread is slow): a smaller cloud.
TEST(DeviceStages, WindowCountsEqualTheHostPathZx) {
  expect_same_counts(WindowVariant::feal, SdmSpec::zx(), 73, 1200, 6.0f);
}

TEST(DeviceStages, EnsembleForwardsMatchModelPredict) {
  const auto path = test::source_dir() / "models" / "alli_l12_pairs_1dcnn.h5";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " absent: run bash models/rebuild.sh";
  std::vector<nn::Model> models;
  models.push_back(nn::load_model(path.string()));
  models.push_back(nn::load_model(path.string()));
  test::randomise_fan_in(models[1], 5);
  const nn::Model& shipped = models[0];
  DeviceEnsemble ensemble(models);
  ASSERT_EQ(ensemble.forwards().size(), 2u);
  EXPECT_FALSE(ensemble.gemm_path().has_value());
  const std::int64_t rows = 37, in = nn::shape_size(shipped.input_shape());
  const auto x = test::random_values(static_cast<std::size_t>(rows * in), 9, -1.0f, 2.0f);
  // Rows 5 and 20 empty (NaN): predict_ensemble_aligned leaves them out on both paths.
  nn::Tensor t(nn::Shape{rows, shipped.input_shape()[0], shipped.input_shape()[1]});
  t.data = x;
  for (std::int64_t q = 0; q < in; ++q) t.data[static_cast<std::size_t>(5 * in + q)] = NAN;
  t.data[static_cast<std::size_t>(20 * in + 3)] = NAN;
  const nn::Prediction h = nn::predict_ensemble_aligned(models, t, 1000, 16);
  const nn::Prediction d = nn::predict_ensemble_aligned(models, ensemble.forwards(), t, 1000, 16);
  EXPECT_TRUE(ensemble.gemm_path().has_value());
  ASSERT_EQ(h.probabilities.size(), d.probabilities.size());
  std::int64_t finite = 0;
  for (std::size_t i = 0; i < h.probabilities.size(); ++i) {
    if (std::isnan(h.probabilities[i])) {
      EXPECT_TRUE(std::isnan(d.probabilities[i])) << i;
      continue;
    }
    ++finite;
    EXPECT_NEAR(h.probabilities[i], d.probabilities[i], 1e-5) << i;
  }
  EXPECT_EQ(finite, (rows - 2) * h.outputs);
  EXPECT_EQ(h.predicted, d.predicted);
}

TEST(DeviceStages, DeviceChoice) {
  EXPECT_EQ(parse_device_choice("device", "auto"), DeviceChoice::automatic);
  EXPECT_EQ(parse_device_choice("device", "host"), DeviceChoice::host);
  EXPECT_EQ(parse_device_choice("device", "gpu"), DeviceChoice::gpu);
  try {
    parse_device_choice("--device", "cuda");
    FAIL() << "'cuda' accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--device"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("auto, host or gpu"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(select_device(DeviceChoice::host).gpu);
  EXPECT_EQ(select_device(DeviceChoice::host).device_id, -1);
  EXPECT_EQ(select_device(DeviceChoice::automatic).gpu, have_gpu_backend());
  if (have_gpu_backend()) {
    EXPECT_TRUE(select_device(DeviceChoice::gpu).gpu);
    EXPECT_GE(select_device(DeviceChoice::gpu).device_id, 0);
  } else {
    try {
      select_device(DeviceChoice::gpu);
      FAIL() << "gpu accepted in a build without a GPU backend";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("test_backends.sh cuda-hopper90"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
