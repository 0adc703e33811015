// PCA and spectrum normalisation (aptflow/analysis/meta.hpp) against an SVD of
// the centred data (Eigen's one-sided Jacobi SVD, a different algorithm from
// the eigensolver under test) and against numpy.
#include <gtest/gtest.h>

#include <Eigen/SVD>
#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "aptflow/analysis/meta.hpp"
#include "aptflow/core/error.hpp"
#include "test_util.hpp"

namespace an = aptflow::analysis;

namespace {

// Random samples x features with very different variances per direction (a random
// rotation of scaled Gaussians plus an offset), so that components are well separated.
Eigen::MatrixXd pca_data(int n, int p, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd z(n, p), mix(p, p);
  for (int j = 0; j < p; ++j)
    for (int i = 0; i < n; ++i) z(i, j) = normal(gen) * std::pow(0.7, j) * 3.0;
  for (int j = 0; j < p; ++j)
    for (int i = 0; i < p; ++i) mix(i, j) = normal(gen);
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(mix);
  const Eigen::MatrixXd q = qr.householderQ();
  Eigen::MatrixXd x = z * q.transpose();
  for (int j = 0; j < p; ++j) x.col(j).array() += 5.0 + j;
  return x;
}

struct Reference {
  Eigen::MatrixXd scores;  // n x k
  Eigen::VectorXd variance, ratio;
};

Reference jacobi_reference(const Eigen::MatrixXd& x, int k) {
  const Eigen::MatrixXd xc = x.rowwise() - x.colwise().mean();
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(xc, Eigen::ComputeThinU | Eigen::ComputeThinV);
  Reference r;
  const double dof = static_cast<double>(x.rows() - 1);
  r.scores = svd.matrixU().leftCols(k) * svd.singularValues().head(k).asDiagonal();
  r.variance = svd.singularValues().head(k).array().square() / dof;
  r.ratio = r.variance / (xc.squaredNorm() / dof);
  return r;
}

// Compare score columns up to a sign per column.
void expect_scores_match(const Eigen::MatrixXd& got, const Eigen::MatrixXd& want, double tol) {
  ASSERT_EQ(got.rows(), want.rows());
  ASSERT_EQ(got.cols(), want.cols());
  for (Eigen::Index c = 0; c < got.cols(); ++c) {
    const double sign = got.col(c).dot(want.col(c)) >= 0.0 ? 1.0 : -1.0;
    const double err = (got.col(c) - sign * want.col(c)).cwiseAbs().maxCoeff();
    EXPECT_LT(err, tol * (1.0 + want.col(c).cwiseAbs().maxCoeff())) << "component " << c;
  }
}

void check_pca(int n, int p, int k, std::uint64_t seed) {
  const Eigen::MatrixXd x = pca_data(n, p, seed);
  const an::PcaResult r = an::pca(x, k);
  const Reference ref = jacobi_reference(x, k);
  ASSERT_EQ(r.scores.rows(), n);
  ASSERT_EQ(r.components.rows(), p);
  ASSERT_EQ(r.components.cols(), k);
  EXPECT_TRUE((r.mean - x.colwise().mean().transpose()).cwiseAbs().maxCoeff() < 1e-12);
  expect_scores_match(r.scores, ref.scores, 1e-8);
  for (int c = 0; c < k; ++c) {
    EXPECT_NEAR(r.explained_variance(c), ref.variance(c), 1e-9 * ref.variance(0)) << c;
    EXPECT_NEAR(r.explained_variance_ratio(c), ref.ratio(c), 1e-10) << c;
    // Sign convention: largest-magnitude entry positive.
    Eigen::Index arg;
    r.components.col(c).cwiseAbs().maxCoeff(&arg);
    EXPECT_GT(r.components(arg, c), 0.0);
  }
  const Eigen::MatrixXd gram = r.components.transpose() * r.components;
  EXPECT_LT((gram - Eigen::MatrixXd::Identity(k, k)).cwiseAbs().maxCoeff(), 1e-10);
  // Scores are the centred data projected on the components.
  const Eigen::MatrixXd xc = x.rowwise() - x.colwise().mean();
  EXPECT_LT((xc * r.components - r.scores).cwiseAbs().maxCoeff(), 1e-10);
}

}  // namespace

TEST(MetaPca, CovariancePathMatchesJacobiSvd) { check_pca(40, 7, 5, 11); }

TEST(MetaPca, GramPathMatchesJacobiSvd) { check_pca(12, 30, 6, 12); }

TEST(MetaPca, FullRankReconstructsTheData) {
  for (auto [n, p] : {std::pair{9, 25}, std::pair{30, 6}}) {
    const Eigen::MatrixXd x = pca_data(n, p, 13 + n);
    const int k = std::min(n - 1, p);
    const an::PcaResult r = an::pca(x, k);
    const Eigen::MatrixXd xc = x.rowwise() - x.colwise().mean();
    EXPECT_LT((r.scores * r.components.transpose() - xc).cwiseAbs().maxCoeff(), 1e-9) << n << "x" << p;
    EXPECT_NEAR(r.explained_variance_ratio.sum(), 1.0, 1e-10);
  }
}

TEST(MetaPca, ZeroVarianceComponentIsOrthogonal) {
  // n samples span at most n - 1 directions after centring: the n-th component has
  // zero variance and an arbitrary direction, which must still be orthonormal.
  const Eigen::MatrixXd x = pca_data(6, 20, 14);
  const an::PcaResult r = an::pca(x, 6);
  const Eigen::MatrixXd gram = r.components.transpose() * r.components;
  EXPECT_LT((gram - Eigen::MatrixXd::Identity(6, 6)).cwiseAbs().maxCoeff(), 1e-10);
  EXPECT_LT(r.scores.col(5).cwiseAbs().maxCoeff(), 1e-9);
  EXPECT_LT(r.explained_variance(5), 1e-12);
}

TEST(MetaPca, MatchesNumpy) {
  aptflow::test::TempDir tmp;
  for (auto [n, p] : {std::pair{25, 8}, std::pair{10, 40}}) {
    const Eigen::MatrixXd x = pca_data(n, p, 15 + p);
    const int k = 4;
    const std::string in = (tmp / "x.txt").string(), out = (tmp / "ref.txt").string();
    {
      std::ofstream f(in);
      f.precision(17);
      f << x << "\n";
    }
    const std::string script = tmp.path().string() + "/pca.py";
    {
      std::ofstream f(script);
      f << "import numpy as np, sys\n"
           "x = np.loadtxt(sys.argv[1], ndmin=2)\n"
           "xc = x - x.mean(axis=0)\n"
           "u, s, vt = np.linalg.svd(xc, full_matrices=False)\n"
           "k = int(sys.argv[3])\n"
           "var = s**2 / (x.shape[0] - 1)\n"
           "np.savetxt(sys.argv[2], np.vstack([u[:, :k] * s[:k], var[:k], (var / var.sum())[:k]]), "
           "fmt='%.17g')\n";
    }
    const auto res = aptflow::test::run_command(aptflow::test::python_exe() + " " + script + " " + in + " " +
                                                out + " " + std::to_string(k) + " 2>&1");
    ASSERT_EQ(res.exit_code, 0) << res.output;
    std::ifstream f(out);
    Eigen::MatrixXd ref(n + 2, k);
    for (int i = 0; i < n + 2; ++i)
      for (int c = 0; c < k; ++c) ASSERT_TRUE(f >> ref(i, c));
    const an::PcaResult r = an::pca(x, k);
    expect_scores_match(r.scores, ref.topRows(n), 1e-8);
    for (int c = 0; c < k; ++c) {
      EXPECT_NEAR(r.explained_variance(c), ref(n, c), 1e-9 * ref(n, 0));
      EXPECT_NEAR(r.explained_variance_ratio(c), ref(n + 1, c), 1e-10);
    }
  }
}

TEST(MetaPca, RejectsBadInput) {
  const Eigen::MatrixXd x = pca_data(5, 4, 16);
  EXPECT_THROW(an::pca(x.topRows(1), 1), aptflow::InputError);
  EXPECT_THROW(an::pca(x, 0), aptflow::ConfigError);
  EXPECT_THROW(an::pca(x, 5), aptflow::ConfigError);
  Eigen::MatrixXd bad = x;
  bad(2, 3) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(an::pca(bad, 2), aptflow::InputError);
  bad(2, 3) = std::numeric_limits<double>::infinity();
  EXPECT_THROW(an::pca(bad, 2), aptflow::InputError);
}

TEST(MetaSpectra, NormalisationMatchesDirectFormulas) {
  std::mt19937_64 gen(17);
  std::poisson_distribution<int> counts(3.0);
  Eigen::MatrixXd c(5, 50);
  for (int j = 0; j < 50; ++j)
    for (int i = 0; i < 5; ++i) c(i, j) = counts(gen) * (i + 1);
  const Eigen::MatrixXd h = an::normalise_spectra(c);
  const Eigen::MatrixXd l = an::normalise_spectra(c, an::SpectrumTransform::log1p, 1e4);
  const Eigen::MatrixXd u = an::normalise_spectra(c, an::SpectrumTransform::none);
  for (int i = 0; i < 5; ++i) {
    double total = 0.0;
    for (int j = 0; j < 50; ++j) total += c(i, j);
    EXPECT_NEAR(h.row(i).squaredNorm(), 1.0, 1e-12);
    EXPECT_NEAR(u.row(i).sum(), 1.0, 1e-12);
    for (int j = 0; j < 50; ++j) {
      EXPECT_NEAR(h(i, j), std::sqrt(c(i, j) / total), 1e-14);
      EXPECT_NEAR(l(i, j), std::log(1.0 + 1e4 * c(i, j) / total), 1e-12);
    }
  }
  // Scaling all counts of a spectrum does not change it.
  Eigen::MatrixXd c3 = c;
  c3.row(2) *= 7.0;
  EXPECT_LT((an::normalise_spectra(c3) - h).cwiseAbs().maxCoeff(), 1e-14);
}

TEST(MetaSpectra, NormalisationRejectsBadSpectra) {
  Eigen::MatrixXd c = Eigen::MatrixXd::Constant(3, 4, 2.0);
  c.row(1).setZero();
  EXPECT_THROW(an::normalise_spectra(c), aptflow::InputError);
  c.row(1).setConstant(1.0);
  c(0, 0) = -1.0;
  EXPECT_THROW(an::normalise_spectra(c), aptflow::InputError);
  c(0, 0) = 1.0;
  EXPECT_NO_THROW(an::normalise_spectra(c));
  EXPECT_THROW(an::normalise_spectra(c, an::SpectrumTransform::log1p, 0.0), aptflow::ConfigError);
}
