// Data-parallel training: every rank applies the same update, and np ranks
// reach the weights and accuracy of one process (docs/training.md).
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "aptflow/core/config.hpp"
#include "aptflow/nn/train.hpp"

using namespace aptflow;
using namespace aptflow::nn;

namespace {

// Three classes of noisy two-channel curves (peak positions differ), identical on every rank.
LabelledData data(std::int64_t n) {
  std::mt19937 g(17);
  std::normal_distribution<float> noise(0.0f, 0.1f);
  LabelledData d;
  d.x = Tensor({n, 24, 2});
  for (std::int64_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 3);
    for (int k = 0; k < 24; ++k) {
      d.x.sample(i)[k * 2] =
          static_cast<float>(std::exp(-0.5 * (k - 6.0 - 5.0 * label) * (k - 6.0 - 5.0 * label) / 3.0)) +
          noise(g);
      d.x.sample(i)[k * 2 + 1] = static_cast<float>(label == 1 ? 0.5 : 0.2) + noise(g);
    }
    d.labels.push_back(label);
    d.rows.push_back(i);
  }
  d.file_rows = n;
  d.file_labels = d.labels;
  d.class_names = {"a", "b", "c"};
  d.source = "<mpi toy>";
  return d;
}

TrainSpec spec() {
  const auto cfg = Config::from_string(R"(
seed = 3
[training]
epochs = 6
learning_rate = 5e-3
batch_size = 20
test_fraction = 0.2
[augment]
shift = [-2, 1]
[[layers]]
type = "conv1d"
filters = 6
kernel = 5
activation = "relu"
[[layers]]
type = "dropout"
rate = 0.3
[[layers]]
type = "maxpool1d"
pool = 2
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 3
activation = "softmax"
)");
  return TrainSpec::from_config(cfg);
}

}  // namespace

TEST(TrainMpi, RanksAgreeAndMatchOneProcess) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const LabelledData d = data(150);
  const TrainSpec s = spec();
  const TrainResult par = train(s, d, MPI_COMM_WORLD);
  const TrainResult one = train(s, d, MPI_COMM_SELF);  // the np 1 reference, on every rank
  ASSERT_EQ(par.members.size(), 1u);
  std::vector<float> w;
  for (std::size_t l = 0; l < par.members[0].size(); ++l)
    for (const auto& p : par.members[0].layer(l).params()) w.insert(w.end(), p.value.begin(), p.value.end());
  // identical on every rank (bitwise): compare with rank 0's copy
  std::vector<float> w0 = w;
  MPI_Bcast(w0.data(), static_cast<int>(w0.size()), MPI_FLOAT, 0, MPI_COMM_WORLD);
  EXPECT_EQ(w, w0);
  // within 1e-4 of one process
  double maxdiff = 0;
  std::size_t o = 0;
  for (std::size_t l = 0; l < one.members[0].size(); ++l)
    for (const auto& p : one.members[0].layer(l).params())
      for (float v : p.value) maxdiff = std::max(maxdiff, std::fabs(double(v) - w[o++]));
  if (rank == 0) std::printf("train mpi: %d ranks, max |w - w(np 1)| = %.3g\n", size, maxdiff);
  EXPECT_LT(maxdiff, 1e-4) << size << " ranks";
  EXPECT_EQ(par.test_accuracy, one.test_accuracy);
  EXPECT_GE(par.test_accuracy, 0.9);
  for (std::size_t e = 0; e < par.history.size(); ++e) {
    EXPECT_NEAR(par.history[e].loss, one.history[e].loss, 1e-4);
    EXPECT_EQ(par.history[e].val_accuracy, one.history[e].val_accuracy);
  }
  EXPECT_EQ(par.members[0].training["ranks"], size);
}
