// Model files, Keras import and `aptflow predict`:
//  - save/load round trip is exact (architecture, weights, metadata, outputs);
//  - Keras files written by tests/python/nn_ref.py (h5py, Keras 2.2.4 layout)
//    and the published CoCrNi model give the class probabilities of an
//    independent numpy forward pass (nn_ref.py) within 1e-5;
//  - the predict CLI on a small feature file against in-test expectations.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/nn/model_file.hpp"
#include "aptflow/nn/predict.hpp"
#include "test_nn_nets.hpp"
#include "test_util.hpp"

namespace {

using namespace aptflow::nn;
using aptflow::test::random_values;
namespace h5 = aptflow::h5;
using aptflow::test::TempDir;

std::string py() {
  return aptflow::test::python_exe() + " " +
         (aptflow::test::source_dir() / "tests/python/nn_ref.py").string();
}

// Probabilities of the numpy reference for inputs x (batch, input...).
std::vector<double> numpy_forward(const std::string& model, const Tensor& x, const TempDir& dir) {
  const auto in = (dir / "x.h5").string(), out = (dir / "y.h5").string();
  {
    auto f = h5::File::create(in);
    h5::write<float>(f, "/x", x.data, std::vector<hsize_t>(x.shape.begin(), x.shape.end()));
  }
  const auto r = aptflow::test::run_command(fmt::format("{} forward {} {} {}", py(), model, in, out));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto f = h5::File::open(out);
  return h5::read<double>(f, "/y");
}

void expect_matches_numpy(const std::string& model_path, const Model& m, const Tensor& x, const TempDir& dir,
                          double tol) {
  const Tensor y = m.predict(x);
  const auto ref = numpy_forward(model_path, x, dir);
  ASSERT_EQ(ref.size(), y.data.size());
  double worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(ref[i] - y.data[i]));
  EXPECT_LT(worst, tol) << model_path;
}

Model small_model() {
  Model m({8, 6, 2});
  m.add(std::make_unique<Conv>("conv_a",
                               ConvSpec{2, 4, {3, 3}, {1, 1}, Padding::same, Activation::relu, true}));
  m.add(std::make_unique<MaxPool>("pool_a", PoolSpec{2, {2, 2}, {}, Padding::valid}));
  m.add(std::make_unique<Dropout>("drop", 0.5));
  m.add(std::make_unique<Flatten>("flat"));
  m.add(std::make_unique<Dense>("dense_a", 7, Activation::sigmoid));
  m.add(std::make_unique<Dense>("dense_b", 3, Activation::linear, false));
  m.add(std::make_unique<ActivationLayer>("probs", Activation::softmax));
  std::uint32_t seed = 1;
  for (auto* p : m.parameters()) p->value = random_values(p->value.size(), seed++, -0.7f, 0.7f);
  return m;
}

TEST(NnModel, SaveLoadRoundTripIsExact) {
  TempDir dir;
  Model m = small_model();
  m.class_names = {"BCC", "B2", "D0_3"};
  m.features.kind = "zx";
  m.features.pairs = {"Fe-Fe", "Al-Al"};
  m.features.bins = {8, 6};
  m.features.preprocessing = "experimental";
  m.features.variant = "feal";
  m.features.extra = {{"r_cut", 1.5}};
  m.training = {{"optimizer", "adam"}, {"metrics", {{"accuracy", 0.999}}}};
  const auto path = (dir / "m.h5").string();
  save_model(m, path);
  EXPECT_FALSE(is_keras_file(path));
  const Model l = load_model(path);
  EXPECT_EQ(l.architecture(), m.architecture());
  EXPECT_EQ(l.class_names, m.class_names);
  EXPECT_EQ(l.features, m.features);
  EXPECT_EQ(l.training, m.training);
  ASSERT_EQ(l.size(), m.size());
  for (std::size_t i = 0; i < m.size(); ++i) {
    ASSERT_EQ(l.layer(i).params().size(), m.layer(i).params().size());
    for (std::size_t k = 0; k < m.layer(i).params().size(); ++k) {
      EXPECT_EQ(l.layer(i).params()[k].shape, m.layer(i).params()[k].shape);
      EXPECT_EQ(l.layer(i).params()[k].value, m.layer(i).params()[k].value);  // bitwise
    }
  }
  Tensor x({5, 8, 6, 2});
  x.data = random_values(x.data.size(), 77, 0, 1);
  EXPECT_EQ(l.predict(x).data, m.predict(x).data);
  // Root attributes as documented.
  auto f = h5::File::open(path);
  auto root = h5::open_object(f, "/");
  EXPECT_EQ(h5::read_attr_string(root, "format"), "aptflow-model");
  EXPECT_EQ(h5::read_attr_int(root, "version"), 1);
  EXPECT_TRUE(h5::exists(f, "/model/weights/conv_a/kernel"));
  // Not a model -> InputError.
  const auto other = (dir / "other.h5").string();
  {
    auto g = h5::File::create(other);
    h5::write<float>(g, "/x", {1.0f});
  }
  EXPECT_THROW(load_model(other), aptflow::InputError);
}

TEST(NnModel, KerasFilesMatchNumpyReference) {
  TempDir dir;
  std::uint32_t seed = 5;
  for (std::string kind : {"conv1d", "conv2d", "conv3d", "conv1d bytes"}) {
    const auto path = (dir / fmt::format("keras_{}.h5", seed)).string();
    const auto r = aptflow::test::run_command(
        fmt::format("{} make-keras {} {} {}", py(), path, kind.substr(0, 6), seed) +
        (kind.size() > 6 ? " bytes" : ""));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(is_keras_file(path));
    const Model m = load_model(path);  // detected
    Shape xs{9};
    xs.insert(xs.end(), m.input_shape().begin(), m.input_shape().end());
    Tensor x(xs);
    x.data = random_values(x.data.size(), seed + 100);
    expect_matches_numpy(path, m, x, dir, 1e-5);
    ++seed;
  }
  // Import with metadata, then the aptflow file gives the same outputs.
  const auto path = (dir / "keras_5.h5").string();
  KerasImportOptions opt;
  opt.class_names = {"a", "b", "c"};
  const Model m = import_keras(path, opt);
  EXPECT_EQ(m.class_names, opt.class_names);
  EXPECT_EQ(m.features.bins, Shape({21}));
  save_model(m, (dir / "converted.h5").string());
  Tensor x({4, 21, 2});
  x.data = random_values(x.data.size(), 8);
  EXPECT_EQ(load_model((dir / "converted.h5").string()).predict(x).data, m.predict(x).data);
  opt.class_names = {"only_one"};
  EXPECT_THROW(import_keras(path, opt), aptflow::ConfigError);
}

TEST(NnModel, UnsupportedKerasLayerIsNamed) {
  TempDir dir;
  const auto path = (dir / "lstm.h5").string();
  ASSERT_EQ(aptflow::test::run_command(fmt::format("{} make-keras {} unsupported 1", py(), path)).exit_code,
            0);
  try {
    load_model(path);
    FAIL() << "an LSTM layer must not import";
  } catch (const aptflow::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("lstm_7"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("LSTM"), std::string::npos) << e.what();
  }
}

// z-SDM-like curves: planes every `spacing` bins under a broad envelope, noise, min-max normalised.
Tensor zsdm_like(int n, std::uint32_t seed) {
  Tensor x({n, 93, 1});
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (int s = 0; s < n; ++s) {
    const double spacing = 6 + 8 * u(rng), contrast = 2 * u(rng), width = 1 + 2 * u(rng);
    std::vector<double> c(93);
    for (int k = 0; k < 93; ++k) {
      const double d = k - 46;
      double planes = 0;
      for (int p = -8; p <= 8; ++p) planes += std::exp(-0.5 * std::pow((d - p * spacing) / width, 2));
      c[k] = 100 * std::exp(-0.5 * std::pow(d / 40, 2)) * (1 + contrast * planes) * (0.9 + 0.2 * u(rng));
    }
    const double lo = *std::min_element(c.begin(), c.end()), hi = *std::max_element(c.begin(), c.end());
    for (int k = 0; k < 93; ++k) x.data[s * 93 + k] = float((c[k] - lo) / (hi - lo));
  }
  return x;
}

TEST(NnModel, PublishedCocrniModelMatchesNumpyReference) {
  APTFLOW_REQUIRE_SHARED_DATA();
  TempDir dir;
  const auto path = (aptflow::test::shared_data_dir() / "mlapt/cocrni_1dcnn_keras_model_0.h5").string();
  const Model m = load_model(path);
  EXPECT_EQ(m.parameter_count(), 172978);  // method.md section 5
  EXPECT_EQ(m.input_shape(), Shape({93, 1}));
  EXPECT_EQ(m.output_shape(), Shape({2}));
  Tensor x({64, 93, 1});
  x.data = random_values(x.data.size(), 3, 0, 1);
  expect_matches_numpy(path, m, x, dir, 1e-5);
  const Tensor z = zsdm_like(64, 4);
  expect_matches_numpy(path, m, z, dir, 1e-5);
  // Probabilities are probabilities.
  const Tensor p = m.predict(z);
  for (int s = 0; s < 64; ++s) EXPECT_NEAR(p.data[2 * s] + p.data[2 * s + 1], 1.0, 1e-6);
}

// ---------------------------------------------------------------- predict

TEST(NnModel, PredictCliOnFeatureFile) {
  TempDir dir;
  // A 2-channel 1D model (Fe-Fe, Al-Al) of 21 bins, two ensemble members.
  auto make = [](std::uint32_t seed) {
    Model m({21, 2});
    m.add(std::make_unique<Conv>("c", ConvSpec{1, 4, {5}, {1}, Padding::valid, Activation::relu, true}));
    m.add(std::make_unique<MaxPool>("p", PoolSpec{1, {2}, {}, Padding::valid}));
    m.add(std::make_unique<Flatten>("f"));
    m.add(std::make_unique<Dense>("d", 3, Activation::softmax));
    for (auto* p : m.parameters()) p->value = random_values(p->value.size(), seed++, -1, 1);
    m.class_names = {"BCC", "B2", "D0_3"};
    m.features.pairs = {"Fe-Fe", "Al-Al"};
    m.features.bins = {21};
    return m;
  };
  std::vector<Model> models;
  models.push_back(make(10));
  models.push_back(make(20));
  const auto m1 = (dir / "m1.h5").string(), m2 = (dir / "m2.h5").string();
  save_model(models[0], m1);
  save_model(models[1], m2);
  // Feature file: 12 samples of raw counts; sample 3 all NaN in Fe-Fe, sample 7 constant (an empty window) in
  // Al-Al.
  const int n = 12, bins = 21;
  auto fefe = random_values(n * bins, 30, 0, 500), alal = random_values(n * bins, 31, 0, 80);
  for (int k = 0; k < bins; ++k) {
    fefe[3 * bins + k] = std::numeric_limits<float>::quiet_NaN();
    alal[7 * bins + k] = 0.0f;
  }
  const auto feat = (dir / "features.h5").string();
  {
    auto f = h5::File::create(feat);
    h5::write<float>(f, "/features/z/Fe-Fe", fefe, {n, bins});
    h5::write<float>(f, "/features/z/Al-Al", alal, {n, bins});
    h5::write<float>(f, "/features/z/Ni-Ni", random_values(n * bins, 32), {n, bins});
  }
  EXPECT_EQ(list_features(feat).at("z"), (std::vector<std::string>{"Al-Al", "Fe-Fe", "Ni-Ni"}));
  // Expected: per-row min-max of each channel, stacked channels last, mean of the two models.
  Tensor x({n, bins, 2});
  std::vector<bool> empty(n, false);
  for (int s = 0; s < n; ++s)
    for (int c = 0; c < 2; ++c) {
      const auto& v = c == 0 ? fefe : alal;
      double lo = 1e30, hi = -1e30;
      bool nan = false;
      for (int k = 0; k < bins; ++k) {
        const float e = v[s * bins + k];
        if (std::isnan(e)) {
          nan = true;
          continue;
        }
        lo = std::min<double>(lo, e);
        hi = std::max<double>(hi, e);
      }
      if (nan || !(hi > lo)) {
        empty[s] = true;
        continue;
      }
      for (int k = 0; k < bins; ++k)
        x.data[(s * bins + k) * 2 + c] = float((v[s * bins + k] - lo) / (hi - lo));
    }
  std::vector<double> want(n * 3, 0.0);
  for (const auto& m : models) {
    const Tensor y = m.predict(x);
    for (int i = 0; i < n * 3; ++i) want[i] += 0.5 * y.data[i];
  }
  const auto out = (dir / "probs.h5").string();
  const auto r =
      aptflow::test::run_command(fmt::format("{} predict --model {} --model {} --input {} --json --out {}",
                                             aptflow::test::aptflow_exe(), m1, m2, feat, out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["class_names"], nlohmann::json({"BCC", "B2", "D0_3"}));
  EXPECT_EQ(j["empty"], 2);
  auto f = h5::File::open(out);
  const auto probs = h5::read<float>(f, "/probabilities");
  const auto predicted = h5::read<std::int32_t>(f, "/predicted");
  ASSERT_EQ(probs.size(), std::size_t(n * 3));
  for (int s = 0; s < n; ++s) {
    if (empty[s]) {
      EXPECT_TRUE(j["probabilities"][s][0].is_null());
      EXPECT_TRUE(std::isnan(probs[s * 3]));
      EXPECT_EQ(predicted[s], -1);
      EXPECT_EQ(j["predicted"][s], -1);
      continue;
    }
    int best = 0;
    for (int k = 0; k < 3; ++k) {
      EXPECT_NEAR(j["probabilities"][s][k].get<double>(), want[s * 3 + k], 1e-6) << s;
      EXPECT_NEAR(probs[s * 3 + k], want[s * 3 + k], 1e-6) << s;
      if (want[s * 3 + k] > want[s * 3 + best]) best = k;
    }
    EXPECT_EQ(predicted[s], best);
  }
  // Text mode: counts per class; a Keras-like model without pairs on a file with several pairs needs --pair.
  const auto t = aptflow::test::run_command(
      fmt::format("{} predict -m {} -i {}", aptflow::test::aptflow_exe(), m1, feat));
  EXPECT_EQ(t.exit_code, 0) << t.output;
  EXPECT_NE(t.output.find("D0_3"), std::string::npos) << t.output;
  Model nopairs = make(10);
  nopairs.features.pairs.clear();
  save_model(nopairs, (dir / "nopairs.h5").string());
  const auto e = aptflow::test::run_command(fmt::format(
      "{} predict -m {} -i {}", aptflow::test::aptflow_exe(), (dir / "nopairs.h5").string(), feat));
  EXPECT_NE(e.exit_code, 0);
  EXPECT_NE(e.output.find("--pair"), std::string::npos) << e.output;
  const auto ok = aptflow::test::run_command(fmt::format("{} predict -m {} -i {} --pair Fe-Fe,Al-Al --json",
                                                         aptflow::test::aptflow_exe(),
                                                         (dir / "nopairs.h5").string(), feat));
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  const auto j1 = nlohmann::json::parse(ok.output);
  for (int s = 0; s < n; ++s)
    if (!empty[s])
      EXPECT_NEAR(j1["probabilities"][s][0].get<double>(), models[0].predict(x).data[s * 3], 1e-6);
}

TEST(NnModel, PredictCliWithPublishedKerasModel) {
  APTFLOW_REQUIRE_SHARED_DATA();
  TempDir dir;
  const auto keras = (aptflow::test::shared_data_dir() / "mlapt/cocrni_1dcnn_keras_model_0.h5").string();
  const Tensor z = zsdm_like(20, 9);
  std::vector<float> raw(z.data.size());
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = 3.0f + 250.0f * z.data[i];  // min-max gives z back
  const auto feat = (dir / "co.h5").string();
  {
    auto f = h5::File::create(feat);
    h5::write<float>(f, "/features/z/Co-Co", raw, {20, 93});
  }
  const auto r = aptflow::test::run_command(
      fmt::format("{} predict --model {} --input {} --json", aptflow::test::aptflow_exe(), keras, feat));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  const auto ref = numpy_forward(keras, z, dir);
  for (int s = 0; s < 20; ++s)
    for (int k = 0; k < 2; ++k) EXPECT_NEAR(j["probabilities"][s][k].get<double>(), ref[s * 2 + k], 1e-5);
  EXPECT_EQ(j["pairs"], nlohmann::json({"Co-Co"}));
}

}  // namespace
