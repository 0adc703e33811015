// predict_ensemble_aligned (include/aptflow/nn/predict.hpp): the shipped demo
// model on random rows (some empty) gives the same bytes whichever way the
// rows are split into calls (as MPI ranks split the windows of classify), and
// the same probabilities as predict_ensemble up to float rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "aptflow/nn/model_file.hpp"
#include "aptflow/nn/predict.hpp"
#include "test_util.hpp"

namespace {

using namespace aptflow;

nn::Tensor rows(const nn::Tensor& x, std::int64_t b, std::int64_t e) {
  nn::Shape s = x.shape;
  s[0] = e - b;
  nn::Tensor t(s);
  const std::int64_t n = x.sample_size();
  std::copy(x.data.begin() + b * n, x.data.begin() + e * n, t.data.begin());
  return t;
}

TEST(NnPredictAligned, AnySplitGivesTheSameBytesAndMatchesPredictEnsemble) {
  const std::string path = (aptflow::test::source_dir() / "models" / "alli_demo_1dcnn.h5").string();
  std::vector<nn::Model> models;
  models.push_back(nn::load_model(path));
  models.push_back(nn::load_model(path));
  const std::int64_t n = 301, bins = 93, block = 64, first = 37;
  nn::Tensor x(nn::Shape{n, bins, 1});
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (auto& v : x.data) v = u(rng);
  for (std::int64_t r : {0L, 5L, 63L, 64L, 200L, 300L})
    x.data[static_cast<std::size_t>(r * bins + 3)] = std::numeric_limits<float>::quiet_NaN();

  const nn::Prediction whole = nn::predict_ensemble_aligned(models, x, first, block);
  ASSERT_EQ(whole.samples, n);
  EXPECT_EQ(whole.empty, 6);
  // The default path, named in the prediction and its JSON.
  ASSERT_TRUE(whole.conv_path.has_value());
  EXPECT_NE(*whole.conv_path, nn::ConvPath::im2col);
  EXPECT_NE(nn::prediction_json(whole).find(std::string("\"conv_path\":\"") +
                                            std::string(nn::conv_path_name(*whole.conv_path)) + "\""),
            std::string::npos);
  const nn::Prediction ref = nn::predict_ensemble(models, x, 1024);
  for (std::size_t i = 0; i < ref.probabilities.size(); ++i) {
    if (std::isnan(ref.probabilities[i])) {
      EXPECT_TRUE(std::isnan(whole.probabilities[i])) << i;
    } else {
      EXPECT_NEAR(whole.probabilities[i], ref.probabilities[i], 2e-6) << i;
    }
  }
  EXPECT_EQ(whole.predicted, ref.predicted);

  // Random splits, as ranks with different window ranges would call it.
  for (int trial = 0; trial < 4; ++trial) {
    std::vector<std::int64_t> cuts = {0, n};
    for (int c = 0; c < 3; ++c) cuts.push_back(std::uniform_int_distribution<std::int64_t>(1, n - 1)(rng));
    std::sort(cuts.begin(), cuts.end());
    std::vector<float> joined;
    for (std::size_t k = 0; k + 1 < cuts.size(); ++k) {
      if (cuts[k] == cuts[k + 1]) continue;
      const auto p =
          nn::predict_ensemble_aligned(models, rows(x, cuts[k], cuts[k + 1]), first + cuts[k], block);
      joined.insert(joined.end(), p.probabilities.begin(), p.probabilities.end());
    }
    ASSERT_EQ(joined.size(), whole.probabilities.size());
    EXPECT_EQ(std::memcmp(joined.data(), whole.probabilities.data(), joined.size() * sizeof(float)), 0)
        << "split " << trial;
  }
}

}  // namespace
