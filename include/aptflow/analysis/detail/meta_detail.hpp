#pragma once
// Internals of the meta-analysis (aptflow/analysis/meta.hpp), exposed for the
// tests: pairwise distances, the t-SNE input similarities P, the KL
// divergence and its gradient, the self-tuning affinity and a seeded stream
// of random numbers.
#include <Eigen/Dense>

#include <cstdint>
#include <string>

namespace aptflow::analysis::detail {

// Throws InputError(what, ...) when x has fewer than min_rows rows, no columns, or a NaN/Inf.
void check_finite_matrix(const Eigen::MatrixXd& x, const std::string& what, int min_rows);

// Pairwise squared Euclidean distances (n x n, symmetric, zero diagonal, >= 0), from the
// Gram matrix: |x_i|^2 + |x_j|^2 - 2 x_i.x_j after centring (less cancellation).
Eigen::MatrixXd squared_distances(const Eigen::MatrixXd& x);

// Conditional similarities p_{j|i} = exp(-beta_i d2_ij) / sum_k exp(-beta_i d2_ik) (row i,
// zero diagonal) with beta_i found by bisection so that the Shannon entropy of row i is
// log(perplexity) (natural log) to within 1e-5. beta (optional) receives beta_i = 1/(2 sigma_i^2).
Eigen::MatrixXd tsne_conditional_p(const Eigen::MatrixXd& d2, double perplexity,
                                   Eigen::VectorXd* beta = nullptr);

// Joint P = (P_cond + P_cond^T) / (2 n), entries floored at 1e-12 off the diagonal and
// renormalised to unit sum (so the KL gradient formula is exact).
Eigen::MatrixXd tsne_joint_p(const Eigen::MatrixXd& p_conditional);

// KL(P || Q) with q_ij = (1 + |y_i - y_j|^2)^-1 / sum_{k != l} (1 + |y_k - y_l|^2)^-1.
double tsne_kl(const Eigen::MatrixXd& p, const Eigen::MatrixXd& y);

// dKL/dy_i = 4 sum_j (p_ij - q_ij) (y_i - y_j) / (1 + |y_i - y_j|^2); n x dims.
// kl (optional) receives KL(P || Q) at y.
Eigen::MatrixXd tsne_gradient(const Eigen::MatrixXd& p, const Eigen::MatrixXd& y, double* kl = nullptr);

// Self-tuning affinity (Zelnik-Manor and Perona 2004): A_ij = exp(-d_ij^2 / (sigma_i sigma_j)),
// sigma_i = distance to the neighbours-th nearest other sample, A_ii = 0.
Eigen::MatrixXd self_tuning_affinity(const Eigen::MatrixXd& d2, int neighbours);

// Uniform and normal random numbers, a pure function of (seed, stream, index):
// Philox-4x32-10 with key = seed and counter = (index, stream).
class Random {
 public:
  Random(std::uint64_t seed, std::uint32_t stream) : seed_(seed), stream_(stream) {}
  double uniform();  // (0, 1)
  double normal();   // standard normal
 private:
  std::uint64_t seed_;
  std::uint32_t stream_;
  std::uint64_t index_ = 0;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace aptflow::analysis::detail
