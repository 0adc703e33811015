// Training building blocks (optimisers, losses, splits, augmentation, layer
// configs, initialisation, ensembles, evaluation) against independent
// references, and small end-to-end trainings (docs/training.md).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "aptflow/core/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/nn/evaluate.hpp"
#include "aptflow/nn/loss.hpp"
#include "aptflow/nn/model_file.hpp"
#include "aptflow/nn/optim.hpp"
#include "aptflow/nn/train.hpp"
#include "test_util.hpp"

using namespace aptflow;
using namespace aptflow::nn;
using aptflow::test::TempDir;

namespace {

std::string cfg_path(const std::string& name) {
  return (aptflow::test::source_dir() / "configs" / "train" / name).string();
}

Param random_param(std::mt19937& g, std::size_t n) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  Param p;
  p.name = "kernel";
  p.shape = {static_cast<std::int64_t>(n)};
  for (std::size_t i = 0; i < n; ++i) {
    p.value.push_back(d(g));
    p.grad.push_back(d(g) * 0.1f);
  }
  return p;
}

// Two classes of noisy 1D curves (a peak at bin 10 or bin 20 of 32, random
// height, noise), one channel, already in [0, 1]-ish range.
LabelledData toy_data(std::int64_t n, std::uint64_t seed) {
  std::mt19937 g(static_cast<unsigned>(seed));
  std::normal_distribution<float> noise(0.0f, 0.15f);
  std::uniform_real_distribution<float> h(0.5f, 1.0f);
  LabelledData d;
  d.x = Tensor({n, 32, 1});
  for (std::int64_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 2);
    const double c = label ? 20.0 : 10.0, height = h(g);
    for (int k = 0; k < 32; ++k)
      d.x.sample(i)[k] = static_cast<float>(height * std::exp(-0.5 * (k - c) * (k - c) / 4.0)) + noise(g);
    d.labels.push_back(label);
    d.rows.push_back(i);
  }
  d.file_rows = n;
  d.file_labels = d.labels;
  d.class_names = {"left", "right"};
  d.features.kind = "z";
  d.features.pairs = {"A-A"};
  d.features.bins = {32};
  d.source = "<toy>";
  return d;
}

TrainSpec toy_spec() {
  const auto cfg = Config::from_string(R"(
seed = 5
[training]
epochs = 4
batch_size = 16
test_fraction = 0.25
[augment]
shift = [-1, 1]
[[layers]]
type = "conv1d"
filters = 4
kernel = 5
activation = "relu"
[[layers]]
type = "dropout"
rate = 0.2
[[layers]]
type = "maxpool1d"
pool = 2
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 8
activation = "relu"
[[layers]]
type = "dense"
units = 2
activation = "softmax"
)");
  auto s = TrainSpec::from_config(cfg);
  cfg.check_all_used();
  return s;
}

}  // namespace

// ------------------------------------------------------------------ optimisers

TEST(NnTrainOptim, AdamMatchesKerasFormulaAndFirstStepIsLrSign) {
  std::mt19937 g(1);
  Param p = random_param(g, 50), q = p;
  OptimizerSpec s;
  Adam adam(s);
  std::vector<Param*> ps(1, &p);
  // Step 1: m = 0.1 g, v = 0.001 g^2, lr_t = lr sqrt(0.001) / 0.1 -> update = lr g / (|g| + eps /
  // sqrt(0.001)).
  adam.step(ps);
  for (std::size_t j = 0; j < p.value.size(); ++j) {
    const double gj = q.grad[j];
    const double expect = q.value[j] - 1e-3 * gj / (std::fabs(gj) + 1e-7 / std::sqrt(1e-3));
    EXPECT_NEAR(p.value[j], expect, 1e-6);
    EXPECT_NEAR(std::fabs(p.value[j] - q.value[j]), 1e-3, 1e-5);  // about lr * sign(g)
  }
  // Further steps with changing gradients against a plain double reference.
  std::vector<double> w(q.value.size()), m(q.value.size(), 0.0), v(q.value.size(), 0.0);
  for (std::size_t j = 0; j < w.size(); ++j) w[j] = q.value[j];
  auto ref_step = [&](int t, const std::vector<float>& grad) {
    for (std::size_t j = 0; j < w.size(); ++j) {
      m[j] = 0.9 * m[j] + 0.1 * grad[j];
      v[j] = 0.999 * v[j] + 0.001 * double(grad[j]) * grad[j];
      const double mhat = m[j] / (1 - std::pow(0.9, t)), vhat = v[j] / (1 - std::pow(0.999, t));
      // Keras' form: eps scaled by sqrt(1 - beta_2^t)
      w[j] -= 1e-3 * mhat / (std::sqrt(vhat) + 1e-7 / std::sqrt(1 - std::pow(0.999, t)));
    }
  };
  ref_step(1, q.grad);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int t = 2; t <= 6; ++t) {
    for (auto& x : p.grad) x = d(g);
    ref_step(t, p.grad);
    adam.step(ps);
  }
  for (std::size_t j = 0; j < w.size(); ++j) EXPECT_NEAR(p.value[j], w[j], 2e-6);
  EXPECT_EQ(adam.steps(), 6);
}

TEST(NnTrainOptim, RmspropMatchesReference) {
  std::mt19937 g(2);
  Param p = random_param(g, 40);
  std::vector<double> w(p.value.size()), a(p.value.size(), 0.0);
  for (std::size_t j = 0; j < w.size(); ++j) w[j] = p.value[j];
  OptimizerSpec s;
  s.type = "rmsprop";
  s.learning_rate = 0.01;
  auto opt = make_optimizer(s);
  std::vector<Param*> ps(1, &p);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int t = 1; t <= 5; ++t) {
    for (auto& x : p.grad) x = d(g);
    for (std::size_t j = 0; j < w.size(); ++j) {
      a[j] = 0.9 * a[j] + 0.1 * double(p.grad[j]) * p.grad[j];
      w[j] -= 0.01 * p.grad[j] / (std::sqrt(a[j]) + 1e-7);
    }
    opt->step(ps);
  }
  for (std::size_t j = 0; j < w.size(); ++j) EXPECT_NEAR(p.value[j], w[j], 2e-6);
  s.type = "sgd";
  EXPECT_THROW(make_optimizer(s), ConfigError);
}

// ------------------------------------------------------------------ losses

TEST(NnTrainLoss, CrossEntropyValuesAndGradientsMatchFiniteDifferences) {
  std::mt19937 g(3);
  std::uniform_real_distribution<float> u(0.05f, 1.0f);
  const std::int64_t rows = 6, K = 4, global = 10;
  Tensor p({rows, K});
  std::vector<std::int32_t> labels;
  for (std::int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (std::int64_t k = 0; k < K; ++k) s += p.data[r * K + k] = u(g);
    for (std::int64_t k = 0; k < K; ++k) p.data[r * K + k] /= static_cast<float>(s);
    labels.push_back(static_cast<std::int32_t>(r % K));
  }
  Tensor grad;
  const double L = loss_and_grad(LossKind::categorical_crossentropy, p, labels.data(), global, grad);
  double ref = 0;
  for (std::int64_t r = 0; r < rows; ++r) ref -= std::log(double(p.data[r * K + labels[r]]));
  EXPECT_NEAR(L, ref, 1e-9);
  for (std::size_t i = 0; i < p.data.size(); ++i) {
    Tensor a = p, b = p;
    const float h = 1e-3f;
    a.data[i] += h;
    b.data[i] -= h;
    const double fd = (loss_sum(LossKind::categorical_crossentropy, a, labels.data()) -
                       loss_sum(LossKind::categorical_crossentropy, b, labels.data())) /
                      (double(a.data[i]) - double(b.data[i])) / global;
    EXPECT_NEAR(grad.data[i], fd, 1e-3 * std::max(1.0, std::fabs(fd)));
  }
  // binary
  Tensor q({rows, 1});
  std::vector<std::int32_t> y;
  for (std::int64_t r = 0; r < rows; ++r) {
    q.data[r] = std::uniform_real_distribution<float>(0.05f, 0.95f)(g);
    y.push_back(static_cast<std::int32_t>(r % 2));
  }
  const double Lb = loss_and_grad(LossKind::binary_crossentropy, q, y.data(), global, grad);
  double refb = 0;
  for (std::int64_t r = 0; r < rows; ++r)
    refb -= y[r] ? std::log(double(q.data[r])) : std::log(1.0 - q.data[r]);
  EXPECT_NEAR(Lb, refb, 1e-9);
  for (std::int64_t r = 0; r < rows; ++r) {
    const double pr = q.data[r];
    EXPECT_NEAR(grad.data[r], (y[r] ? -1.0 / pr : 1.0 / (1.0 - pr)) / global, 1e-5);
  }
  // clipping: p = 0 for the true class gives -log(1e-7)
  Tensor z({1, 2});
  z.data = {1.0f, 0.0f};
  std::int32_t one = 1;
  EXPECT_NEAR(loss_sum(LossKind::categorical_crossentropy, z, &one), -std::log(1e-7), 1e-6);
  EXPECT_THROW(loss_sum(LossKind::binary_crossentropy, z, &one), ConfigError);
  EXPECT_EQ(predicted_class(z.data.data(), 2), 0);
}

TEST(NnTrainLoss, ModelGradientOfTheLossMatchesFiniteDifferences) {
  // loss_and_grad + Model::backward through a softmax Dense network vs central differences in double.
  Model m = build_model(nlohmann::json::parse(R"([
    {"class": "Dense", "name": "d0", "config": {"units": 5, "activation": "relu"}},
    {"class": "Dense", "name": "d1", "config": {"units": 3, "activation": "softmax"}}])"),
                        Shape{4}, 9);
  std::mt19937 g(4);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (Param* p : m.parameters())
    for (auto& v : p->value) v = d(g);
  Tensor x({5, 4});
  for (auto& v : x.data) v = d(g);
  std::vector<std::int32_t> labels{0, 1, 2, 1, 0};
  m.zero_grad();
  Tensor grad;
  const Tensor& y = m.forward(x, RunContext{});
  loss_and_grad(LossKind::categorical_crossentropy, y, labels.data(), 5, grad);
  m.backward(grad);
  auto loss_at = [&]() {
    return loss_sum(LossKind::categorical_crossentropy, m.predict(x), labels.data()) / 5.0;
  };
  for (Param* p : m.parameters()) {
    for (std::size_t j = 0; j < p->value.size(); j += 3) {
      const float w0 = p->value[j];
      p->value[j] = w0 + 1e-2f;
      const double lp = loss_at();
      p->value[j] = w0 - 1e-2f;
      const double lm = loss_at();
      p->value[j] = w0;
      EXPECT_NEAR(p->grad[j], (lp - lm) / 2e-2, 2e-3) << p->name << " " << j;
    }
  }
}

// ------------------------------------------------------------------ splits, augmentation

TEST(NnTrainSplit, StratifiedSplitAndFoldsAreBalancedDisjointAndSeeded) {
  std::vector<std::int64_t> rows;
  std::vector<std::int32_t> labels;
  const int counts[3] = {101, 250, 57};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < counts[c]; ++i) {
      rows.push_back(static_cast<std::int64_t>(rows.size()) * 2 + 1);  // not 0..n-1
      labels.push_back(c);
    }
  std::shuffle(labels.begin(), labels.end(), std::mt19937(5));
  const Split s = stratified_split(rows, labels, 0.2, 7);
  EXPECT_EQ(s.train.size() + s.test.size(), rows.size());
  std::map<std::int64_t, int> label_of;
  for (std::size_t i = 0; i < rows.size(); ++i) label_of[rows[i]] = labels[i];
  std::set<std::int64_t> all(s.train.begin(), s.train.end());
  for (auto r : s.test) EXPECT_TRUE(all.insert(r).second) << "row in both sets";
  EXPECT_EQ(all.size(), rows.size());
  int test_per_class[3] = {0, 0, 0};
  for (auto r : s.test) ++test_per_class[label_of.at(r)];
  for (int c = 0; c < 3; ++c) EXPECT_EQ(test_per_class[c], std::llround(counts[c] * 0.2));
  EXPECT_TRUE(std::is_sorted(s.test.begin(), s.test.end()));
  // deterministic, seed-dependent, not simply the first rows
  EXPECT_EQ(stratified_split(rows, labels, 0.2, 7).test, s.test);
  EXPECT_NE(stratified_split(rows, labels, 0.2, 8).test, s.test);
  // folds: every fold has floor or ceil of n_c / k of each class
  const auto fold = stratified_folds(rows, labels, 5, 7);
  int per[3][5] = {};
  for (std::size_t i = 0; i < rows.size(); ++i) ++per[labels[i]][fold[i]];
  for (int c = 0; c < 3; ++c)
    for (int f = 0; f < 5; ++f) {
      EXPECT_GE(per[c][f], counts[c] / 5);
      EXPECT_LE(per[c][f], counts[c] / 5 + 1);
    }
  EXPECT_THROW(stratified_folds(rows, labels, 1, 7), ConfigError);
  EXPECT_THROW(stratified_split(rows, labels, 1.0, 7), ConfigError);
}

TEST(NnTrainSplit, ShiftSampleMatchesPlainLoops) {
  std::mt19937 g(6);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  const Shape shape{7, 3, 2};  // dz, other, channels
  std::vector<float> x(42), out(42);
  for (auto& v : x) v = u(g);
  for (int s = -8; s <= 8; ++s) {
    shift_sample(x.data(), shape, s, out.data());
    for (int i = 0; i < 7; ++i)
      for (int j = 0; j < 6; ++j) {
        const int src = i - s;
        const float expect = (src >= 0 && src < 7) ? x[src * 6 + j] : 0.0f;
        ASSERT_EQ(out[i * 6 + j], expect) << s;
      }
  }
}

// ------------------------------------------------------------------ configs, init

TEST(NnTrainConfig, PublishedArchitecturesHaveThePublishedParameterCounts) {
  const auto feal = Config::from_file(cfg_path("feal_1dcnn.toml"));
  const auto s = TrainSpec::from_config(feal);
  feal.check_all_used();
  EXPECT_EQ(build_model(s.layers, Shape{93, 2}, 1).parameter_count(), 690499);
  EXPECT_EQ(s.shift_lo, -4);
  EXPECT_EQ(s.shift_hi, 3);
  EXPECT_EQ(s.augment_copies, 1);
  EXPECT_EQ(s.epochs, 30);
  EXPECT_EQ(s.batch_size, 32);
  const auto coc = Config::from_file(cfg_path("cocrni_1dcnn.toml"));
  const auto c = TrainSpec::from_config(coc);
  coc.check_all_used();
  EXPECT_EQ(build_model(c.layers, Shape{93, 1}, 1).parameter_count(), 172978);
  for (const char* name : {"allimg_3dcnn.toml", "allimg_z_1dcnn.toml", "alli_demo_1dcnn.toml"}) {
    const auto cfg = Config::from_file(cfg_path(name));
    EXPECT_NO_THROW(TrainSpec::from_config(cfg)) << name;
    EXPECT_NO_THROW(cfg.check_all_used()) << name;
  }
  // unknown layer key, unknown type, missing units
  for (const char* bad : {"[[layers]]\ntype = \"dense\"\nunits = 2\nfilter = 3\n",
                          "[[layers]]\ntype = \"lstm\"\n", "[[layers]]\ntype = \"dense\"\n"})
    EXPECT_THROW(TrainSpec::from_config(Config::from_string(bad)), ConfigError) << bad;
  EXPECT_THROW(TrainSpec::from_config(
                   Config::from_string("[training]\noptimizer = \"sgd\"\n[[layers]]\ntype = \"flatten\"\n")),
               ConfigError);
}

TEST(NnTrainConfig, GlorotUniformInitIsSeededAndHasTheKerasSpread) {
  const auto s = toy_spec();
  const Model a = build_model(s.layers, Shape{32, 1}, 11), b = build_model(s.layers, Shape{32, 1}, 11),
              c = build_model(s.layers, Shape{32, 1}, 12);
  const Param& k = a.layer(4).param("kernel");  // dense 56 -> 8
  const double limit = std::sqrt(6.0 / (56 + 8));
  double sum = 0, sq = 0;
  for (float v : k.value) {
    EXPECT_LE(std::fabs(v), limit);
    sum += v;
    sq += double(v) * v;
  }
  const double n = static_cast<double>(k.value.size());
  EXPECT_NEAR(sum / n, 0.0, 3 * limit / std::sqrt(3 * n));
  EXPECT_NEAR(sq / n, limit * limit / 3, 0.25 * limit * limit / 3);
  EXPECT_EQ(k.value, b.layer(4).param("kernel").value);
  EXPECT_NE(k.value, c.layer(4).param("kernel").value);
  for (float v : a.layer(4).param("bias").value) EXPECT_EQ(v, 0.0f);
  // conv fan: taps * channels
  const Param& ck = a.layer(0).param("kernel");  // (5, 1, 4)
  const double cl = std::sqrt(6.0 / (5 * 1 + 5 * 4));
  float mx = 0;
  for (float v : ck.value) mx = std::max(mx, std::fabs(v));
  EXPECT_LE(mx, cl);
  EXPECT_GT(mx, 0.5 * cl);
}

// ------------------------------------------------------------------ evaluation

TEST(NnTrainEvaluate, ConfusionPrecisionRecallMatchHandCounts) {
  const std::vector<std::int32_t> truth{0, 0, 0, 1, 1, 2, 2, 2, 2, 0};
  const std::vector<std::int32_t> pred{0, 1, 0, 1, 1, 2, 0, 2, -1, 0};
  const Evaluation e = evaluate_labels(truth, pred, {"a", "b", "c"});
  EXPECT_EQ(e.samples, 9);
  EXPECT_EQ(e.empty, 1);
  EXPECT_EQ(e.confusion, (std::vector<std::int64_t>{3, 1, 0, 0, 2, 0, 1, 0, 2}));
  EXPECT_NEAR(e.accuracy, 7.0 / 9.0, 1e-12);
  EXPECT_NEAR(e.precision[0], 3.0 / 4.0, 1e-12);
  EXPECT_NEAR(e.recall[0], 3.0 / 4.0, 1e-12);
  EXPECT_NEAR(e.precision[1], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(e.recall[1], 1.0, 1e-12);
  EXPECT_NEAR(e.precision[2], 1.0, 1e-12);
  EXPECT_NEAR(e.recall[2], 2.0 / 3.0, 1e-12);
  const Evaluation z = evaluate_labels({0, 0}, {0, 0}, {"a", "b"});
  EXPECT_TRUE(std::isnan(z.precision[1]));
  EXPECT_TRUE(evaluation_json(z)["precision"][1].is_null());
}

// ------------------------------------------------------------------ training

TEST(NnTrainLoop, ToyProblemLearnsAndIsDeterministic) {
  const LabelledData d = toy_data(240, 1);
  const TrainSpec s = toy_spec();
  const TrainResult r = train(s, d, MPI_COMM_NULL);
  ASSERT_EQ(r.members.size(), 1u);
  EXPECT_EQ(r.history.size(), 4u);
  EXPECT_EQ(r.test_labels.size(), 60u);
  EXPECT_GE(r.test_accuracy, 0.95);
  EXPECT_LT(r.history.back().loss, r.history.front().loss);
  EXPECT_EQ(r.history.front().samples, 2 * 180);  // one shifted copy each
  const TrainResult again = train(s, d, MPI_COMM_NULL);
  EXPECT_EQ(again.members[0].layer(4).param("kernel").value, r.members[0].layer(4).param("kernel").value);
  EXPECT_EQ(r.members[0].training["split"]["test"], 60);
  EXPECT_EQ(r.members[0].class_names, d.class_names);
}

TEST(NnTrainLoop, KFoldEnsembleSavesLoadsAndAverages) {
  const LabelledData d = toy_data(160, 2);
  TrainSpec s = toy_spec();
  s.folds = 3;
  s.epochs = 2;
  const TrainResult r = train(s, d, MPI_COMM_NULL);
  ASSERT_EQ(r.members.size(), 3u);
  EXPECT_EQ(r.history.size(), 6u);
  // each fold validates on about a third of the 120 training rows
  EXPECT_NE(r.members[0].layer(0).param("kernel").value, r.members[1].layer(0).param("kernel").value);
  TempDir dir;
  const auto path = (dir / "ens.h5").string();
  save_models(r.members, path);
  EXPECT_THROW(load_model(path), InputError);
  const auto back = load_models(path);
  ASSERT_EQ(back.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k)
    for (std::size_t l = 0; l < back[k].size(); ++l)
      for (std::size_t p = 0; p < back[k].layer(l).params().size(); ++p)
        EXPECT_EQ(back[k].layer(l).params()[p].value, r.members[k].layer(l).params()[p].value);
  EXPECT_EQ(back[2].training["members"], 3);
  // ensemble test predictions = argmax of the member mean
  Tensor x({static_cast<std::int64_t>(r.test_labels.size()), 32, 1});
  std::vector<float> mean(x.batch() * 2, 0.0f);
  std::size_t i = 0;
  for (std::int64_t row : r.split.test) std::copy(d.x.sample(row), d.x.sample(row) + 32, x.sample(i++));
  for (const auto& m : back) {
    const Tensor p = m.predict(x);
    for (std::size_t j = 0; j < mean.size(); ++j) mean[j] += p.data[j] / 3.0f;
  }
  for (std::int64_t j = 0; j < x.batch(); ++j)
    EXPECT_EQ(r.test_predicted[j], mean[j * 2 + 1] > mean[j * 2] ? 1 : 0);
}

TEST(NnTrainLoop, LibraryEndToEndTrainEvaluatePredict) {
  // A small synthetic CoCrNi library, the published CoCrNi architecture, 3 epochs.
  TempDir dir;
  const auto lib = (dir / "cocrni.h5").string(), model = (dir / "m.h5").string();
  const std::string exe = aptflow::test::aptflow_exe();
  auto r = aptflow::test::run_command(
      fmt::format("{} synth library --config {} --set library.subsample=3 --out {}", exe,
                  (aptflow::test::source_dir() / "configs" / "synth" / "cocrni_fcc_l12.toml").string(), lib));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = aptflow::test::run_command(
      fmt::format("{} train --config {} --library {} --out {} --set training.epochs=3 "
                  "--set training.folds=2",
                  exe, cfg_path("cocrni_1dcnn.toml"), lib, model));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("fold 2/2  epoch 3/3"), std::string::npos) << r.output;
  r = aptflow::test::run_command(
      fmt::format("{} evaluate --model {} --library {} --split test --json", exe, model, lib));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_GE(j["accuracy"].get<double>(), 0.95);
  EXPECT_EQ(j["members"], 2);
  const auto trained = load_models(model);
  EXPECT_EQ(j["accuracy"], trained[0].training["test"]["accuracy"]);  // the split is reproduced
  EXPECT_EQ(j["confusion"], trained[0].training["test"]["confusion"]);
  // predict reads the ensemble file (2 members)
  r = aptflow::test::run_command(fmt::format("{} predict --model {} --input {} --json", exe, model, lib));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto p = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(p["samples"], 5200 / 3 + 1);
  // bad config key -> error naming it
  r = aptflow::test::run_command(
      fmt::format("{} train --config {} --library {} --out {} --set training.epoch=3", exe,
                  cfg_path("cocrni_1dcnn.toml"), lib, model));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("training.epoch"), std::string::npos) << r.output;
}

TEST(NnTrainBank, PublishedFeAlBankSubsetReaches95Percent) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto bank = (aptflow::test::shared_data_dir() / "mlapt" / "feal_zsdm_bank.h5").string();
  ASSERT_TRUE(is_feal_bank(bank));
  auto cfg = Config::from_file(cfg_path("feal_1dcnn.toml"));
  cfg.apply_overrides({"training.epochs=3", "data.subsample=5"});
  const TrainSpec s = TrainSpec::from_config(cfg);
  const LabelledData d = load_labelled(bank, s.data);
  EXPECT_EQ(d.file_rows, 5000);
  EXPECT_EQ(d.labels.size() + d.dropped, 1000u);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"BCC", "B2", "D0_3"}));
  const TrainResult r = train(s, d, MPI_COMM_NULL);
  EXPECT_EQ(r.test_labels.size(), 200u);
  EXPECT_GE(r.test_accuracy, 0.95);
  // the converter writes the same rows as an aptflow library
  TempDir dir;
  const auto lib = (dir / "bank.h5").string();
  convert_feal_bank(bank, lib);
  const LabelledData c = load_labelled(lib, s.data);
  EXPECT_EQ(c.x.data, d.x.data);
  EXPECT_EQ(c.labels, d.labels);
}

TEST(NnTrainModels, ShippedDefaultModelsLoadAndScoreTheirLibrary) {
  const auto dir = aptflow::test::source_dir() / "models";
  struct Expect {
    const char* name;
    std::int64_t params;
    std::vector<std::string> classes;
  };
  for (const Expect& e :
       {Expect{"cocrni_1dcnn", 172978, {"FCC", "L1_2"}}, Expect{"feal_1dcnn", 690499, {"BCC", "B2", "D0_3"}},
        Expect{"alli_demo_1dcnn", 172978, {"FCC", "L1_2"}},
        Expect{"alli_l12_1dcnn", 172978, {"FCC", "L1_2"}}}) {
    const auto path = dir / (std::string(e.name) + ".h5");
    ASSERT_TRUE(std::filesystem::exists(path)) << path << ": run bash models/rebuild.sh";
    const Model m = load_model(path.string());
    EXPECT_EQ(m.parameter_count(), e.params) << e.name;
    EXPECT_EQ(m.class_names, e.classes) << e.name;
    EXPECT_EQ(m.features.preprocessing, "minmax_only");
    EXPECT_GE(m.training["test"]["accuracy"].get<double>(), 0.98) << e.name;
    // the training config stored next to the model is the one it was trained from
    const auto cfg = Config::from_file((dir / (std::string(e.name) + ".train.toml")).string());
    EXPECT_EQ(TrainSpec::from_config(cfg).to_json()["layers"], m.training["config"]["layers"]) << e.name;
  }
  // the CoCrNi model on a regenerated (subsampled) CoCrNi library
  TempDir tmp;
  const auto lib = (tmp / "c.h5").string();
  auto r = aptflow::test::run_command(fmt::format(
      "{} synth library --config {} --set library.subsample=7 --out {}", aptflow::test::aptflow_exe(),
      (aptflow::test::source_dir() / "configs" / "synth" / "cocrni_fcc_l12.toml").string(), lib));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<Model> ms;
  ms.push_back(load_model((dir / "cocrni_1dcnn.h5").string()));
  const Evaluation ev = evaluate_models(ms, lib);
  EXPECT_EQ(ev.samples, (3250 + 6) / 7 + (1950 + 6) / 7);  // every 7th grid point of each class
  EXPECT_GE(ev.accuracy, 0.97);
}

TEST(NnTrainLoop, SigmoidBinaryCrossEntropyWithRmsprop) {
  const LabelledData d = toy_data(240, 3);
  TrainSpec s = toy_spec();
  s.loss = LossKind::binary_crossentropy;
  s.optimizer.type = "rmsprop";
  s.layers.back()["config"]["units"] = 1;
  s.layers.back()["config"]["activation"] = "sigmoid";
  const TrainResult r = train(s, d, MPI_COMM_NULL);
  EXPECT_EQ(shape_size(r.members[0].output_shape()), 1);
  EXPECT_GE(r.test_accuracy, 0.95);
  EXPECT_EQ(r.members[0].training["config"]["optimizer"]["type"], "rmsprop");
  // a softmax output with binary cross-entropy is refused
  TrainSpec bad = toy_spec();
  bad.loss = LossKind::binary_crossentropy;
  EXPECT_THROW(train(bad, d, MPI_COMM_NULL), ConfigError);
}
