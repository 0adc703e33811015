// pipeline/device_stages.hpp: the device path of classify's stages
// (`--device gpu`) against the host path, run here on
// Kokkos::DefaultExecutionSpace (Serial or OpenMP in the builds CI runs; the
// same code runs on Kokkos::Cuda): the integer window counts of every pair
// equal the host algorithms' on random clouds (feal and cocrni windows, z-
// and zx-SDMs, chunks of every size), the ensemble's forward passes match
// Model::predict, the windows stage (features, batch, network, mean SDM sums
// on the device) has the bits of the host assembly, the segment stage (sums, sub-cell and ion labels, both
// rules, composition evidence) has the same bits as the host path and as
// the kernels called one by one; plus the `device` choice.
#include <gtest/gtest.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "aptflow/core/bounds.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/kernels/composition.hpp"
#include "aptflow/kernels/segment.hpp"
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
  const StageIons on_host(false, cloud), on_device(true, cloud);
  auto host = make_window_counter(on_host, pairs, grid, wspec, spec);
  auto device = make_window_counter(on_device, pairs, grid, wspec, spec);
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

// The segment stage on a random cloud and random window probabilities (a
// tenth of the windows empty): the device path returns the same bits as the
// host path, and both equal the kernels called one by one, with the
// composition evidence written out from its definition.
void expect_same_segment(IonRule rule, bool composition, EmptyWindow empty, std::uint32_t seed) {
  const HostIonCloud cloud = test::to_ion_cloud(test::random_cloud(seed, 4000, 8.0f));
  const Kokkos::DefaultHostExecutionSpace exec;
  const auto grid = WindowGrid::over(cloud_bounds(exec, cloud), 1.0, 0.5);
  const SubcellGrid sg = SubcellGrid::of(grid);
  const std::int64_t K = 3;
  Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace> prob("prob", grid.size(), K);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (std::int64_t w = 0; w < grid.size(); ++w) {
    const bool blank = u(rng) < 0.1f;
    for (std::int64_t k = 0; k < K; ++k) prob(w, k) = blank ? NAN : u(rng);
  }
  SegmentSpec spec;
  spec.thresholds = {std::numeric_limits<double>::infinity(), 2.5, 3.0};
  spec.rule = rule;
  spec.empty_window = empty;
  spec.smoothing = 0.5;
  SegmentStageInput in;
  in.spec = &spec;
  in.sg = sg;
  in.layers = sg.counts[2];
  in.local_grid = grid;
  in.prob = prob;
  Kokkos::View<std::uint8_t*, Kokkos::HostSpace> solute("solute", 4);
  if (composition) {
    spec.composition.class_name = "b";
    spec.composition.radius = 0.9;
    spec.composition.weight = 6.0;
    spec.composition.ion_weight = 0.4;
    in.evidence_class = 2;
    in.solute = {0, 0, 1, 1};  // species 2 and 3
    in.solute_fraction = 0.37;
    solute(2) = solute(3) = 1;
  }
  const StageIons on_host(false, cloud), on_device(true, cloud);
  const SegmentStageOutput h = run_segment_stage(on_host, in), d = run_segment_stage(on_device, in);
  // The kernels one by one.
  Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> sums("sums", sg.cells(), K),
      field("field", sg.cells(), K);
  Kokkos::View<double*, Kokkos::HostSpace> thr("thr", K), ev;
  for (std::int64_t k = 0; k < K; ++k) thr(k) = spec.thresholds[static_cast<std::size_t>(k)];
  Kokkos::View<std::int32_t*, Kokkos::HostSpace> sl("sl", sg.cells()), il("il", cloud.size());
  sum_subcell_probabilities(exec, grid, prob, sums, empty);
  std::int64_t outside = 0;
  if (rule == IonRule::subcell) {
    threshold_subcells(exec, sums, thr, sl);
    label_ions(exec, sg, cloud, sums, sl, spec.ion_radius, il);
  } else {
    smooth_subcell_sums(exec, sg, 0, sg.counts[2], sums, spec.smoothing, field);
    threshold_subcells(exec, field, thr, sl);
    if (composition) {
      Kokkos::View<std::int32_t*, Kokkos::HostSpace> nr("nr", cloud.size()), ns("ns", cloud.size());
      local_composition(exec, cloud, solute, spec.composition.radius, nr, ns);
      ev = decltype(ev)("ev", cloud.size());
      for (std::int64_t i = 0; i < cloud.size(); ++i) {
        ev(i) = solute(cloud.species(i)) ? spec.composition.ion_weight : 0.0;
        if (nr(i) > 0)
          ev(i) += spec.composition.weight * (double(ns(i)) / double(nr(i)) - in.solute_fraction);
      }
    }
    outside =
        label_ions_interpolated(exec, sg, 0, sg.counts[2], cloud, field, thr, ev, in.evidence_class, il);
  }
  EXPECT_EQ(h.outside, outside);
  EXPECT_EQ(d.outside, outside);
  ASSERT_EQ(h.sums.extent(0), static_cast<std::size_t>(sg.cells()));
  ASSERT_EQ(d.sums.extent(0), static_cast<std::size_t>(sg.cells()));
  for (std::int64_t c = 0; c < sg.cells(); ++c) {
    for (std::int64_t k = 0; k < K; ++k) {
      const double r = sums(c, k);
      EXPECT_TRUE(std::isnan(r) ? std::isnan(h.sums(c, k)) : h.sums(c, k) == r) << c;
      EXPECT_TRUE(std::isnan(r) ? std::isnan(d.sums(c, k)) : d.sums(c, k) == r) << c;
    }
    ASSERT_EQ(h.subcell_label(c), sl(c)) << "sub-cell " << c;
    ASSERT_EQ(d.subcell_label(c), sl(c)) << "sub-cell " << c;
  }
  std::int64_t labelled = 0;
  for (std::int64_t i = 0; i < cloud.size(); ++i) {
    ASSERT_EQ(h.ion_label(i), il(i)) << "ion " << i;
    ASSERT_EQ(d.ion_label(i), il(i)) << "ion " << i;
    labelled += il(i) >= 0;
  }
  EXPECT_GT(labelled, 100) << "the thresholds must label ions to compare";
  EXPECT_LT(labelled, cloud.size()) << "the thresholds must leave ions unlabelled";
}

TEST(DeviceStages, SegmentStageSubcellRule) {
  expect_same_segment(IonRule::subcell, false, EmptyWindow::zero, 81);
  expect_same_segment(IonRule::subcell, false, EmptyWindow::veto, 82);
}

TEST(DeviceStages, SegmentStageInterpolateRule) {
  expect_same_segment(IonRule::interpolate, false, EmptyWindow::zero, 83);
}

TEST(DeviceStages, SegmentStageInterpolateRuleWithComposition) {
  expect_same_segment(IonRule::interpolate, true, EmptyWindow::zero, 84);
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

// A random 1D CNN on (bins, channels) rows with `classes` softmax outputs.
nn::Model small_1d_network(std::int64_t bins, std::int64_t channels, std::int64_t classes,
                           std::uint32_t seed) {
  using namespace nn;
  Model m(Shape{bins, channels});
  m.add(std::make_unique<Conv>("c1", ConvSpec{1, 6, {5}, {}, Padding::valid, Activation::relu}));
  m.add(std::make_unique<MaxPool>("p1", PoolSpec{1, {2}, {}, Padding::valid}));
  m.add(std::make_unique<Flatten>("flat"));
  m.add(std::make_unique<Dense>("out", classes, Activation::softmax));
  test::randomise_fan_in(m, seed);
  return m;
}

// WindowCounter::classify (the device path's windows stage: features,
// preprocessing, batch, network, mean and class sums on the device) against
// the host assembly of classify_pass.cpp written out here: features() rows
// (sdm::compute_features on the host, every preprocessing mode), channels last, done
// and non-finite windows left out, predict_ensemble_aligned with the same
// forward passes (the same bits), and the mean SDM's sums from their
// definition (llround(clamp(v, +-2^30) * 2^32) summed in 128 bits per argmax
// class). Chunks at and off the batch boundaries, a fifth of the windows done.
TEST(DeviceStages, WindowChunkMatchesTheHostAssembly) {
  const HostIonCloud cloud = test::to_ion_cloud(test::random_cloud(91, 4000, 9.0f));
  const std::vector<std::pair<int, int>> pairs = {{1, 1}, {1, 2}, {3, 0}};
  const auto grid = WindowGrid::over(cloud_bounds(Kokkos::DefaultHostExecutionSpace(), cloud), 1.0, 0.5);
  const SdmSpec spec = SdmSpec::z();
  const std::int64_t B = spec.size(), C = 3, K = 3, W = grid.size(), block = 64;
  std::vector<nn::Model> models;
  models.push_back(small_1d_network(B, C, K, 31));
  models.push_back(small_1d_network(B, C, K, 32));
  DeviceEnsemble ensemble(models);
  ASSERT_EQ(ensemble.models(), 2);
  ASSERT_EQ(ensemble.outputs(), K);
  const StageIons ions(true, cloud);
  auto counter = make_window_counter(ions, pairs, grid, WindowSpec::feal(1.0), spec);
  std::mt19937 rng(5);
  std::vector<std::uint8_t> done(static_cast<std::size_t>(W));
  for (auto& d : done) d = rng() % 5 == 0 ? 1 : 0;
  std::int64_t classified = 0, chunks = 0;
  std::vector<std::int64_t> per_class(K, 0);
  for (const auto mode :
       {sdm::PreprocessMode::experimental, sdm::PreprocessMode::minmax_only, sdm::PreprocessMode::none}) {
    const auto prep = sdm::PreprocessSpec::of(sdm::Variant::feal, mode);
    for (std::int64_t b = 0; b * block < W; ++b)
      for (const auto& [lo, hi] : {std::pair<std::int64_t, std::int64_t>{0, block}, {7, 40}, {63, 64}}) {
        const std::int64_t first = b * block + lo, m = std::min(b * block + hi, W) - first;
        if (m < 1) continue;
        ++chunks;
        const std::uint8_t* dk = done.data() + first;
        const WindowChunk w = counter->classify(first, m, dk, prep, ensemble, block);
        // The host assembly.
        const sdm::FeatureRows rows = counter->features(first, m, prep);
        nn::Tensor x(nn::Shape{m, B, C});
        for (std::int64_t k = 0; k < m; ++k)
          for (std::int64_t ch = 0; ch < C; ++ch)
            for (std::int64_t q = 0; q < B; ++q)
              x.data[static_cast<std::size_t>((k * B + q) * C + ch)] =
                  dk[k] ? std::numeric_limits<float>::quiet_NaN() : rows.row(k, ch)[q];
        const nn::Prediction p = nn::predict_ensemble_aligned(models, ensemble.forwards(), x, first, block);
        ASSERT_EQ(w.probabilities.size(), p.probabilities.size());
        std::vector<__int128> sum(static_cast<std::size_t>(K * C * B), 0);
        std::vector<std::int64_t> count(K, 0);
        for (std::int64_t k = 0; k < m; ++k) {
          const float* pk = p.probabilities.data() + k * K;
          for (std::int64_t j = 0; j < K; ++j) {
            const float got = w.probabilities[static_cast<std::size_t>(k * K + j)];
            if (std::isnan(pk[j])) {
              ASSERT_TRUE(std::isnan(got)) << "window " << first + k;
              continue;
            }
            ASSERT_EQ(std::memcmp(&got, pk + j, sizeof(float)), 0)
                << "window " << first + k << " class " << j << ": " << got << " != " << pk[j];
          }
          if (std::isnan(pk[0])) continue;
          ASSERT_FALSE(dk[k]) << "a done window was classified: " << first + k;
          std::int64_t best = 0;
          for (std::int64_t j = 1; j < K; ++j)
            if (pk[j] > pk[best]) best = j;
          ++count[static_cast<std::size_t>(best)];
          ++per_class[static_cast<std::size_t>(best)];
          ++classified;
          for (std::int64_t ch = 0; ch < C; ++ch)
            for (std::int64_t q = 0; q < B; ++q) {
              const double v = std::clamp(double(rows.row(k, ch)[q]), -1073741824.0, 1073741824.0);
              sum[static_cast<std::size_t>(best * C * B + ch * B + q)] += std::llround(v * 4294967296.0);
            }
        }
        ASSERT_EQ(w.class_count, count) << "windows " << first << "+" << m;
        ASSERT_TRUE(w.class_sum == sum) << "windows " << first << "+" << m;
      }
  }
  EXPECT_GT(chunks, 20);
  EXPECT_GT(classified, 500) << "the chunks must classify windows to compare";
  for (std::int64_t j = 0; j < K; ++j)
    EXPECT_GT(per_class[static_cast<std::size_t>(j)], 10)
        << "class " << j << " of " << per_class[0] << " " << per_class[1] << " " << per_class[2];
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
