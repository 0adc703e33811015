#pragma once
// Mass-spectrum meta-analysis (method.md section 8): PCA, t-SNE, spectral
// clustering and the adjusted Rand index. Rows of every matrix are samples
// (datasets), columns are features (spectrum bins). Deterministic: the same
// input and seed give the same bytes.
#include <Eigen/Dense>

#include <cstdint>
#include <vector>

namespace aptflow::analysis {

struct PcaResult {
  Eigen::MatrixXd scores;                    // samples x components (centred data projected)
  Eigen::MatrixXd components;                // features x components, orthonormal columns
  Eigen::VectorXd explained_variance;        // per component (sample variance, n - 1)
  Eigen::VectorXd explained_variance_ratio;  // per component, of the total variance
  Eigen::VectorXd mean;                      // features
};

// Principal components of x (samples x features), components <= min(samples, features).
// Sign convention: the largest-magnitude entry of each component is positive.
PcaResult pca(const Eigen::MatrixXd& x, int components);

struct TsneOptions {
  int dims = 2;
  double perplexity = 30.0;  // clamped to (samples - 1) / 3 for small inputs
  int iterations = 1000;
  double learning_rate = 200.0;
  double early_exaggeration = 12.0;
  int exaggeration_iterations = 250;
  std::uint64_t seed = 0;
};

// Exact t-SNE (van der Maaten and Hinton 2008) of x (samples x features);
// returns samples x dims. kl (optional) receives the final KL divergence.
Eigen::MatrixXd tsne(const Eigen::MatrixXd& x, const TsneOptions& options, double* kl = nullptr);

struct SpectralOptions {
  int clusters = 0;       // 0: choose by the largest eigengap among 2..max_clusters
  int max_clusters = 10;  // for the eigengap choice
  int neighbours = 7;     // local scale sigma_i = distance to the k-th neighbour (self-tuning affinity)
  int kmeans_restarts = 20;
  std::uint64_t seed = 0;
};

// Spectral clustering (normalised affinity, Ng-Jordan-Weiss embedding, k-means++ with
// restarts); labels 0..k-1, numbered in order of first appearance.
std::vector<int> spectral_clustering(const Eigen::MatrixXd& x, const SpectralOptions& options);

// k-means++ (Lloyd) with restarts; the lowest inertia wins. Labels as above.
std::vector<int> kmeans(const Eigen::MatrixXd& x, int k, int restarts, std::uint64_t seed);

// Adjusted Rand index (Hubert and Arabie 1985) of two labelings of the same samples.
double adjusted_rand_index(const std::vector<int>& a, const std::vector<int>& b);

}  // namespace aptflow::analysis
