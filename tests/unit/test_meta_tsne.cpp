// Exact t-SNE (aptflow/analysis/meta.hpp): the perplexity calibration by the
// entropy of each row of P, the KL gradient by central finite differences,
// decrease of the KL, separation of well-separated blobs, determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "aptflow/analysis/detail/meta_detail.hpp"
#include "aptflow/analysis/meta.hpp"
#include "aptflow/core/error.hpp"

namespace an = aptflow::analysis;

namespace {

Eigen::MatrixXd gaussian(int n, int p, double scale, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd x(n, p);
  for (int j = 0; j < p; ++j)
    for (int i = 0; i < n; ++i) x(i, j) = scale * normal(gen);
  return x;
}

// `blobs` Gaussian clusters of `per` points in p dimensions, centres `spread` apart.
Eigen::MatrixXd gaussian_blobs(int blobs, int per, int p, double spread, std::uint64_t seed,
                               std::vector<int>& truth) {
  const Eigen::MatrixXd centres = gaussian(blobs, p, spread, seed);
  Eigen::MatrixXd x = gaussian(blobs * per, p, 1.0, seed + 1);
  truth.clear();
  for (int b = 0; b < blobs; ++b)
    for (int i = 0; i < per; ++i) {
      x.row(b * per + i) += centres.row(b);
      truth.push_back(b);
    }
  return x;
}

// Direct pairwise squared distances.
Eigen::MatrixXd direct_d2(const Eigen::MatrixXd& x) {
  Eigen::MatrixXd d(x.rows(), x.rows());
  for (int i = 0; i < x.rows(); ++i)
    for (int j = 0; j < x.rows(); ++j) d(i, j) = (x.row(i) - x.row(j)).squaredNorm();
  return d;
}

}  // namespace

TEST(MetaTsne, SquaredDistancesMatchDirect) {
  const Eigen::MatrixXd x = gaussian(30, 12, 2.0, 1).array() + 100.0;  // offset: cancellation
  const Eigen::MatrixXd d = an::detail::squared_distances(x);
  const Eigen::MatrixXd ref = direct_d2(x);
  EXPECT_LT((d - ref).cwiseAbs().maxCoeff(), 1e-10 * ref.maxCoeff());
  EXPECT_EQ(d.diagonal().cwiseAbs().maxCoeff(), 0.0);
}

TEST(MetaTsne, RowsReachTargetPerplexity) {
  for (double perplexity : {3.0, 10.0, 25.0}) {
    const Eigen::MatrixXd x = gaussian(80, 5, 3.0, 2);
    Eigen::VectorXd beta;
    const Eigen::MatrixXd p = an::detail::tsne_conditional_p(direct_d2(x), perplexity, &beta);
    const Eigen::MatrixXd d2 = direct_d2(x);
    for (int i = 0; i < p.rows(); ++i) {
      EXPECT_EQ(p(i, i), 0.0);
      EXPECT_NEAR(p.row(i).sum(), 1.0, 1e-12);
      double entropy = 0.0, z = 0.0;
      for (int j = 0; j < p.cols(); ++j) {
        if (p(i, j) > 0.0) entropy -= p(i, j) * std::log(p(i, j));
        if (j != i) z += std::exp(-beta(i) * d2(i, j));
      }
      // exp(entropy) is the perplexity (natural-log entropy).
      EXPECT_NEAR(std::exp(entropy), perplexity, 1e-4 * perplexity) << "row " << i;
      // The row is the Gaussian kernel with the reported beta.
      for (int j = 0; j < p.cols(); ++j)
        if (j != i) EXPECT_NEAR(p(i, j), std::exp(-beta(i) * d2(i, j)) / z, 1e-12);
    }
  }
}

TEST(MetaTsne, JointPIsSymmetricAndNormalised) {
  const Eigen::MatrixXd pc = an::detail::tsne_conditional_p(direct_d2(gaussian(20, 3, 1.0, 3)), 5.0);
  const Eigen::MatrixXd p = an::detail::tsne_joint_p(pc);
  EXPECT_NEAR(p.sum(), 1.0, 1e-12);
  EXPECT_LT((p - p.transpose()).cwiseAbs().maxCoeff(), 1e-15);
  for (int i = 0; i < 20; ++i)
    for (int j = 0; j < 20; ++j)
      if (i != j) EXPECT_NEAR(p(i, j), std::max((pc(i, j) + pc(j, i)) / 40.0, 1e-12), 1e-11);
}

TEST(MetaTsne, GradientMatchesFiniteDifferences) {
  const int n = 14;
  // The t-SNE P, and a random (non-symmetric) one with unit sum.
  const Eigen::MatrixXd p_tsne =
      an::detail::tsne_joint_p(an::detail::tsne_conditional_p(direct_d2(gaussian(n, 4, 1.0, 4)), 4.0));
  Eigen::MatrixXd p_rand = gaussian(n, n, 1.0, 5).cwiseAbs();
  p_rand.diagonal().setZero();
  p_rand /= p_rand.sum();
  for (const Eigen::MatrixXd* p : std::initializer_list<const Eigen::MatrixXd*>{&p_tsne, &p_rand})
    for (int dims : {2, 3}) {
      Eigen::MatrixXd y = gaussian(n, dims, 1.5, 6 + dims);
      double kl = 0.0;
      const Eigen::MatrixXd g = an::detail::tsne_gradient(*p, y, &kl);
      EXPECT_NEAR(kl, an::detail::tsne_kl(*p, y), 1e-12);
      const double h = 1e-5;
      for (int i = 0; i < n; ++i)
        for (int c = 0; c < dims; ++c) {
          const double keep = y(i, c);
          y(i, c) = keep + h;
          const double up = an::detail::tsne_kl(*p, y);
          y(i, c) = keep - h;
          const double down = an::detail::tsne_kl(*p, y);
          y(i, c) = keep;
          EXPECT_NEAR(g(i, c), (up - down) / (2.0 * h), 1e-7 + 1e-5 * std::abs(g(i, c))) << i << "," << c;
        }
    }
}

TEST(MetaTsne, KlMatchesDirectFormula) {
  const int n = 9;
  Eigen::MatrixXd p = gaussian(n, n, 1.0, 8).cwiseAbs();
  p.diagonal().setZero();
  p /= p.sum();
  const Eigen::MatrixXd y = gaussian(n, 2, 1.0, 9);
  double z = 0.0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      if (i != j) z += 1.0 / (1.0 + (y.row(i) - y.row(j)).squaredNorm());
  double kl = 0.0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      if (i != j) kl += p(i, j) * std::log(p(i, j) / (1.0 / (1.0 + (y.row(i) - y.row(j)).squaredNorm()) / z));
  EXPECT_NEAR(an::detail::tsne_kl(p, y), kl, 1e-12);
}

TEST(MetaTsne, KlDecreasesAndBlobsStaySeparated) {
  std::vector<int> truth;
  const Eigen::MatrixXd x = gaussian_blobs(3, 30, 10, 8.0, 10, truth);
  an::TsneOptions o;
  o.perplexity = 15.0;
  o.iterations = 0;
  double kl0 = 0.0, kl_mid = 0.0, kl_end = 0.0;
  an::tsne(x, o, &kl0);
  // KL of the unexaggerated P may rise during the exaggeration phase; compare after it.
  o.iterations = 400;
  an::tsne(x, o, &kl_mid);
  o.iterations = 700;
  const Eigen::MatrixXd y = an::tsne(x, o, &kl_end);
  EXPECT_LT(kl_mid, 0.5 * kl0);
  EXPECT_LT(kl_end, kl_mid);
  ASSERT_EQ(y.rows(), 90);
  ASSERT_EQ(y.cols(), 2);
  EXPECT_NEAR(y.colwise().mean().norm(), 0.0, 1e-9);
  EXPECT_DOUBLE_EQ(an::adjusted_rand_index(an::kmeans(y, 3, 5, 1), truth), 1.0);
  // Well separated: every point is nearer its own blob's centroid than any other.
  for (int i = 0; i < 90; ++i) {
    Eigen::MatrixXd centroid = Eigen::MatrixXd::Zero(3, 2);
    for (int j = 0; j < 90; ++j) centroid.row(truth[j]) += y.row(j) / 30.0;
    int arg = 0;
    (centroid.rowwise() - y.row(i)).rowwise().squaredNorm().minCoeff(&arg);
    EXPECT_EQ(arg, truth[i]);
  }
}

TEST(MetaTsne, DeterministicForASeed) {
  const Eigen::MatrixXd x = gaussian(40, 6, 1.0, 11);
  an::TsneOptions o;
  o.iterations = 200;
  o.seed = 42;
  const Eigen::MatrixXd a = an::tsne(x, o), b = an::tsne(x, o);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(double) * a.size()), 0);
  o.seed = 43;
  const Eigen::MatrixXd c = an::tsne(x, o);
  EXPECT_GT((a - c).cwiseAbs().maxCoeff(), 1e-3);
  o.dims = 3;
  EXPECT_EQ(an::tsne(x, o).cols(), 3);
}

TEST(MetaTsne, RejectsBadInput) {
  const Eigen::MatrixXd x = gaussian(10, 3, 1.0, 12);
  an::TsneOptions o;
  EXPECT_THROW(an::tsne(x.topRows(3), o), aptflow::InputError);
  Eigen::MatrixXd bad = x;
  bad(4, 1) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(an::tsne(bad, o), aptflow::InputError);
  o.perplexity = 0.0;
  EXPECT_THROW(an::tsne(x, o), aptflow::ConfigError);
  o = an::TsneOptions{};
  o.dims = 0;
  EXPECT_THROW(an::tsne(x, o), aptflow::ConfigError);
  o = an::TsneOptions{};
  o.learning_rate = -1.0;
  EXPECT_THROW(an::tsne(x, o), aptflow::ConfigError);
  // Duplicated samples are fine (zero distances), small inputs clamp the perplexity.
  Eigen::MatrixXd dup(6, 2);
  dup << 0, 0, 0, 0, 0, 0, 5, 5, 5, 5, 5, 5;
  o = an::TsneOptions{};
  o.iterations = 100;
  double kl = -1.0;
  const Eigen::MatrixXd y = an::tsne(dup, o, &kl);
  EXPECT_TRUE(y.allFinite());
  EXPECT_TRUE(std::isfinite(kl));
}
