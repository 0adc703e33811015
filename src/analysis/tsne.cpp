// Exact t-SNE (van der Maaten and Hinton, JMLR 9, 2008): Gaussian input
// similarities with a per-point bandwidth matched to a perplexity, Student-t
// output similarities, gradient descent with early exaggeration, momentum
// (0.5, then 0.8) and per-coordinate adaptive gains (Jacobs 1988, as in the
// authors' implementation). O(n^2) time and memory per iteration.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "aptflow/analysis/detail/meta_detail.hpp"
#include "aptflow/analysis/meta.hpp"
#include "aptflow/core/error.hpp"

namespace aptflow::analysis {

namespace detail {

Eigen::MatrixXd tsne_conditional_p(const Eigen::MatrixXd& d2, double perplexity, Eigen::VectorXd* beta_out) {
  const Eigen::Index n = d2.rows();
  APTFLOW_ASSERT(d2.cols() == n && n >= 2,
                 "tsne_conditional_p needs a square distance matrix of >= 2 samples");
  APTFLOW_ASSERT(perplexity > 0.0, "perplexity must be positive");
  const double target = std::log(perplexity);
  constexpr double kTol = 1e-5;
  constexpr int kMaxSteps = 200;
  Eigen::MatrixXd p =
      Eigen::MatrixXd::Zero(n, n);  // column i holds row i (contiguous), transposed at the end
  if (beta_out) beta_out->resize(n);
  Eigen::VectorXd shifted(n), w(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    // Shift by the nearest distance: exp(-beta d) / Z is unchanged, and cannot underflow to 0/0.
    double dmin = std::numeric_limits<double>::infinity(), dsum = 0.0;
    for (Eigen::Index j = 0; j < n; ++j)
      if (j != i) {
        dmin = std::min(dmin, d2(i, j));
        dsum += d2(i, j);
      }
    for (Eigen::Index j = 0; j < n; ++j) shifted(j) = j == i ? 0.0 : d2(i, j) - dmin;
    const double dmean = dsum / static_cast<double>(n - 1) - dmin;
    double beta = dmean > 0.0 ? 1.0 / dmean : 1.0;  // scale-free start
    double lo = 0.0, hi = std::numeric_limits<double>::infinity();
    for (int step = 0; step < kMaxSteps; ++step) {
      double z = 0.0, zd = 0.0;
      for (Eigen::Index j = 0; j < n; ++j) {
        w(j) = j == i ? 0.0 : std::exp(-beta * shifted(j));
        z += w(j);
        zd += w(j) * shifted(j);
      }
      const double entropy = std::log(z) + beta * zd / z;  // H = log Z + beta <d>
      if (std::abs(entropy - target) < kTol) break;
      if (entropy > target) {  // too flat: narrower kernel
        lo = beta;
        beta = std::isinf(hi) ? beta * 2.0 : 0.5 * (beta + hi);
      } else {
        hi = beta;
        beta = 0.5 * (beta + lo);
      }
    }
    double z = 0.0;
    for (Eigen::Index j = 0; j < n; ++j) {
      w(j) = j == i ? 0.0 : std::exp(-beta * shifted(j));
      z += w(j);
    }
    p.col(i) = w / z;
    if (beta_out) (*beta_out)(i) = beta;
  }
  return p.transpose();
}

Eigen::MatrixXd tsne_joint_p(const Eigen::MatrixXd& p_conditional) {
  const Eigen::Index n = p_conditional.rows();
  Eigen::MatrixXd p = p_conditional + p_conditional.transpose();
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index i = 0; i < n; ++i) p(i, j) = i == j ? 0.0 : std::max(p(i, j), 1e-12);
  p /= p.sum();
  return p;
}

namespace {

// num_ij = (1 + |y_i - y_j|^2)^-1 with a zero diagonal; returns the sum.
double student_t(const Eigen::MatrixXd& y, Eigen::MatrixXd& num) {
  const Eigen::Index n = y.rows(), dims = y.cols();
  num.resize(n, n);
  double sum = 0.0;
  for (Eigen::Index j = 0; j < n; ++j) {
    num(j, j) = 0.0;
    for (Eigen::Index i = j + 1; i < n; ++i) {
      double d = 0.0;
      for (Eigen::Index c = 0; c < dims; ++c) {
        const double diff = y(i, c) - y(j, c);
        d += diff * diff;
      }
      const double v = 1.0 / (1.0 + d);
      num(i, j) = v;
      num(j, i) = v;
      sum += 2.0 * v;
    }
  }
  return sum;
}

double kl_from(const Eigen::MatrixXd& p, const Eigen::MatrixXd& num, double sum_num) {
  const Eigen::Index n = p.rows();
  double kl = 0.0;
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index i = 0; i < n; ++i)
      if (i != j && p(i, j) > 0.0) kl += p(i, j) * std::log(p(i, j) * sum_num / num(i, j));
  return kl;
}

}  // namespace

double tsne_kl(const Eigen::MatrixXd& p, const Eigen::MatrixXd& y) {
  APTFLOW_ASSERT(p.rows() == y.rows() && p.cols() == y.rows(), "tsne_kl: P must be samples x samples");
  Eigen::MatrixXd num;
  const double sum = student_t(y, num);
  return kl_from(p, num, sum);
}

Eigen::MatrixXd tsne_gradient(const Eigen::MatrixXd& p, const Eigen::MatrixXd& y, double* kl) {
  APTFLOW_ASSERT(p.rows() == y.rows() && p.cols() == y.rows(), "tsne_gradient: P must be samples x samples");
  const Eigen::Index n = y.rows(), dims = y.cols();
  Eigen::MatrixXd num;
  const double sum = student_t(y, num);
  Eigen::MatrixXd grad = Eigen::MatrixXd::Zero(n, dims);
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index i = j + 1; i < n; ++i) {
      // Both (i, j) and (j, i) terms: P may be unsymmetric (not in t-SNE, but in tests).
      const double wij = (p(i, j) - num(i, j) / sum) * num(i, j);
      const double wji = (p(j, i) - num(i, j) / sum) * num(i, j);
      const double w = 2.0 * (wij + wji);  // 4 x the mean of both orders
      for (Eigen::Index c = 0; c < dims; ++c) {
        const double g = w * (y(i, c) - y(j, c));
        grad(i, c) += g;
        grad(j, c) -= g;
      }
    }
  if (kl) *kl = kl_from(p, num, sum);
  return grad;
}

}  // namespace detail

Eigen::MatrixXd tsne(const Eigen::MatrixXd& x, const TsneOptions& o, double* kl) {
  detail::check_finite_matrix(x, "tsne input", 4);
  const Eigen::Index n = x.rows();
  if (o.dims < 1) throw ConfigError("analysis.tsne.dims", fmt::format("{} < 1; use 2 for a map", o.dims));
  if (!(o.perplexity > 0.0))
    throw ConfigError("analysis.tsne.perplexity", fmt::format("{} is not positive; use 5..50", o.perplexity));
  if (o.iterations < 0)
    throw ConfigError("analysis.tsne.iterations", fmt::format("{} < 0; use e.g. 1000", o.iterations));
  if (!(o.learning_rate >= 0.0))
    throw ConfigError("analysis.tsne.learning_rate",
                      fmt::format("{} is negative; use 0 (automatic) or e.g. 200", o.learning_rate));
  if (!(o.early_exaggeration >= 1.0))
    throw ConfigError("analysis.tsne.early_exaggeration",
                      fmt::format("{} < 1; use e.g. 12", o.early_exaggeration));
  if (o.exaggeration_iterations < 0)
    throw ConfigError("analysis.tsne.exaggeration_iterations",
                      fmt::format("{} < 0; use e.g. 250", o.exaggeration_iterations));
  const double perplexity = std::min(o.perplexity, static_cast<double>(n - 1) / 3.0);
  // A fixed rate of 200 overshoots for small n (the map oscillates after the exaggeration).
  const double learning_rate = o.learning_rate > 0.0
                                   ? o.learning_rate
                                   : std::max(static_cast<double>(n) / o.early_exaggeration / 4.0, 50.0);

  const Eigen::MatrixXd p =
      detail::tsne_joint_p(detail::tsne_conditional_p(detail::squared_distances(x), perplexity));

  // Initial map: N(0, 1e-4^2), as in the reference implementation.
  detail::Random rng(o.seed, 1);
  Eigen::MatrixXd y(n, o.dims);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index c = 0; c < o.dims; ++c) y(i, c) = 1e-4 * rng.normal();

  Eigen::MatrixXd update = Eigen::MatrixXd::Zero(n, o.dims);
  Eigen::MatrixXd gains = Eigen::MatrixXd::Ones(n, o.dims);
  constexpr double kMinGain = 0.01;
  const Eigen::MatrixXd p_exaggerated = p * o.early_exaggeration;
  for (int it = 0; it < o.iterations; ++it) {
    const bool early = it < o.exaggeration_iterations;
    const double momentum = early ? 0.5 : 0.8;
    const Eigen::MatrixXd grad = detail::tsne_gradient(early ? p_exaggerated : p, y);
    for (Eigen::Index c = 0; c < o.dims; ++c)
      for (Eigen::Index i = 0; i < n; ++i) {
        // Gain grows when the gradient opposes the last step (keep going), shrinks otherwise.
        double& g = gains(i, c);
        g = (grad(i, c) > 0.0) != (update(i, c) > 0.0) ? g + 0.2 : g * 0.8;
        g = std::max(g, kMinGain);
        update(i, c) = momentum * update(i, c) - learning_rate * g * grad(i, c);
        y(i, c) += update(i, c);
      }
    y.rowwise() -= y.colwise().mean();
  }
  if (kl) *kl = detail::tsne_kl(p, y);
  return y;
}

}  // namespace aptflow::analysis
