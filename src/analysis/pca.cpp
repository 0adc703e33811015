// Principal component analysis by a symmetric eigendecomposition: of the
// covariance (features <= samples) or of the Gram matrix X_c X_c^T (features >
// samples). Mass spectra have up to 20000 bins and tens to thousands of
// datasets, so the Gram route turns an O(p^3) problem into O(n^2 p + n^3).
#include <fmt/format.h>
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>

#include "aptflow/analysis/detail/meta_detail.hpp"
#include "aptflow/analysis/meta.hpp"
#include "aptflow/core/error.hpp"

namespace aptflow::analysis {

namespace {

// Flip the sign of each column so that its largest-magnitude entry (first on ties) is positive.
void fix_signs(Eigen::MatrixXd& v) {
  for (Eigen::Index c = 0; c < v.cols(); ++c) {
    Eigen::Index arg = 0;
    double best = -1.0;
    for (Eigen::Index r = 0; r < v.rows(); ++r)
      if (std::abs(v(r, c)) > best) {
        best = std::abs(v(r, c));
        arg = r;
      }
    if (v(arg, c) < 0.0) v.col(c) = -v.col(c);
  }
}

// Unit vector orthogonal to the first `filled` columns of v (Gram-Schmidt of the unit
// vectors e_0, e_1, ...), for components of zero variance whose direction is arbitrary.
Eigen::VectorXd orthogonal_completion(const Eigen::MatrixXd& v, Eigen::Index filled) {
  for (Eigen::Index e = 0; e < v.rows(); ++e) {
    Eigen::VectorXd u = Eigen::VectorXd::Unit(v.rows(), e);
    for (int pass = 0; pass < 2; ++pass)
      for (Eigen::Index c = 0; c < filled; ++c) u -= v.col(c).dot(u) * v.col(c);
    const double norm = u.norm();
    if (norm > 0.5) return u / norm;
  }
  throw InternalError("pca: no orthogonal completion found (more components than features?)");
}

}  // namespace

PcaResult pca(const Eigen::MatrixXd& x, int components) {
  detail::check_finite_matrix(x, "pca input", 2);
  const Eigen::Index n = x.rows(), p = x.cols();
  if (components < 1 || components > std::min(n, p))
    throw ConfigError("analysis.pca.components",
                      fmt::format("{} is outside 1..min(samples, features) = 1..{}; ask for fewer components",
                                  components, std::min(n, p)));
  PcaResult out;
  out.mean = x.colwise().mean().transpose();
  const Eigen::MatrixXd xc = x.rowwise() - out.mean.transpose();
  const double dof = static_cast<double>(n - 1);
  const double total_variance = xc.squaredNorm() / dof;
  const Eigen::Index k = components;

  out.components.resize(p, k);
  if (p <= n) {
    Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(p, p);
    cov.selfadjointView<Eigen::Lower>().rankUpdate(xc.transpose());
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(cov);  // reads the lower triangle
    if (es.info() != Eigen::Success)
      throw InternalError("pca: covariance eigendecomposition did not converge");
    for (Eigen::Index c = 0; c < k; ++c) {  // eigenvalues ascend
      out.components.col(c) = es.eigenvectors().col(p - 1 - c);
    }
  } else {
    // X_c = U S V^T: X_c X_c^T = U S^2 U^T and V = X_c^T U S^-1.
    Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(n, n);
    gram.selfadjointView<Eigen::Lower>().rankUpdate(xc);
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(gram);
    if (es.info() != Eigen::Success) throw InternalError("pca: Gram eigendecomposition did not converge");
    const double largest = std::max(0.0, es.eigenvalues()(n - 1));
    for (Eigen::Index c = 0; c < k; ++c) {
      const double lambda = std::max(0.0, es.eigenvalues()(n - 1 - c));
      // Components below the rounding level of the largest have no direction of their own.
      if (lambda > 1e-12 * largest && lambda > 0.0) {
        Eigen::VectorXd v = xc.transpose() * es.eigenvectors().col(n - 1 - c);
        // Re-orthogonalise against earlier components (rounding in the Gram matrix).
        for (Eigen::Index j = 0; j < c; ++j) v -= out.components.col(j).dot(v) * out.components.col(j);
        out.components.col(c) = v / v.norm();
      } else {
        out.components.col(c) = orthogonal_completion(out.components, c);
      }
    }
  }
  fix_signs(out.components);
  out.scores = xc * out.components;
  // The variance along each component, from the scores (exact for the returned directions).
  out.explained_variance.resize(k);
  for (Eigen::Index c = 0; c < k; ++c) out.explained_variance(c) = out.scores.col(c).squaredNorm() / dof;
  out.explained_variance_ratio = total_variance > 0.0
                                     ? Eigen::VectorXd(out.explained_variance / total_variance)
                                     : Eigen::VectorXd::Zero(k);
  return out;
}

}  // namespace aptflow::analysis
