#pragma once
// Mass-spectrum meta-analysis (method.md section 8): PCA, t-SNE, spectral
// clustering and the adjusted Rand index. Rows of every matrix are samples
// (datasets), columns are features (spectrum bins). Deterministic: the same
// input and seed give the same bytes (random numbers come from Philox-4x32-10,
// aptflow/core/rng.hpp, keyed by the seed; all arithmetic is single-threaded
// Eigen). docs/meta-analysis.md describes methods, defaults and costs.
//
// Errors: a matrix with NaN/Inf, too few samples or a bad parameter throws
// aptflow::InputError (the "file" is the name of the argument, e.g. "pca
// input") or aptflow::ConfigError (key "analysis.<function>.<option>").
#include <Eigen/Dense>

#include <cstdint>
#include <vector>

namespace aptflow::analysis {

// ---------------------------------------------------------------- spectra
// How normalise_spectra transforms the unit-sum spectrum p (p_b = counts_b / total).
enum class SpectrumTransform {
  hellinger,  // sqrt(p): variance-stabilising for Poisson counts; Euclidean distance of the
              // rows is sqrt(2) x the Hellinger distance of the spectra. Default.
  log1p,      // log(1 + log_scale p): compresses large peaks even more; log_scale is the
              // number of ions the spectrum is scaled to (counts per log_scale ions).
  none,       // p itself (unit sum only): dominated by the largest peaks (H, main element).
};

// Rows of `counts` (samples x bins, counts >= 0, each row with a positive total) to unit
// sum, then `transform`. The result does not depend on how many ions a dataset has
// (up to Poisson noise), so experiments of different sizes compare.
Eigen::MatrixXd normalise_spectra(const Eigen::MatrixXd& counts,
                                  SpectrumTransform transform = SpectrumTransform::hellinger,
                                  double log_scale = 1e4);

// ---------------------------------------------------------------- PCA
struct PcaResult {
  Eigen::MatrixXd scores;                    // samples x components (centred data projected)
  Eigen::MatrixXd components;                // features x components, orthonormal columns
  Eigen::VectorXd explained_variance;        // per component (sample variance, n - 1)
  Eigen::VectorXd explained_variance_ratio;  // per component, of the total variance
  Eigen::VectorXd mean;                      // features
};

// Principal components of x (samples x features), components <= min(samples, features).
// Sign convention: the largest-magnitude entry of each component is positive.
// Uses the eigendecomposition of the covariance (features <= samples) or of the Gram
// matrix X_c X_c^T (features > samples, e.g. 20000-bin spectra of a few thousand datasets).
// Needs at least 2 samples.
PcaResult pca(const Eigen::MatrixXd& x, int components);

// ---------------------------------------------------------------- t-SNE
struct TsneOptions {
  int dims = 2;
  double perplexity = 30.0;  // clamped to (samples - 1) / 3 for small inputs
  int iterations = 1000;
  // 0: automatic, max(samples / early_exaggeration / 4, 50) (Belkina et al. 2019, as in
  // scikit-learn); the step is on the exact gradient (with its factor 4).
  double learning_rate = 0.0;
  double early_exaggeration = 12.0;
  int exaggeration_iterations = 250;  // also where momentum switches from 0.5 to 0.8
  std::uint64_t seed = 0;
};

// Exact t-SNE (van der Maaten and Hinton 2008) of x (samples x features);
// returns samples x dims. kl (optional) receives the final KL divergence.
// O(samples^2) memory and time per iteration: fine up to ~5000 samples.
// Needs at least 4 samples (perplexity >= 1).
Eigen::MatrixXd tsne(const Eigen::MatrixXd& x, const TsneOptions& options, double* kl = nullptr);

// ---------------------------------------------------------------- spectral clustering
struct SpectralOptions {
  int clusters = 0;       // 0: choose by the largest eigengap among 2..max_clusters
  int max_clusters = 10;  // for the eigengap choice
  int neighbours = 7;     // local scale sigma_i = distance to the k-th neighbour (self-tuning affinity)
  int kmeans_restarts = 20;
  std::uint64_t seed = 0;
};

struct SpectralResult {
  std::vector<int> labels;      // samples, 0..clusters-1 in order of first appearance
  int clusters = 0;             // given, or chosen by the eigengap
  Eigen::VectorXd eigenvalues;  // largest eigenvalues of D^-1/2 A D^-1/2, descending (1 first)
  Eigen::MatrixXd embedding;    // samples x clusters, rows normalised (Ng-Jordan-Weiss)
};

// Spectral clustering (normalised affinity, Ng-Jordan-Weiss embedding, k-means++ with
// restarts); labels 0..k-1, numbered in order of first appearance.
std::vector<int> spectral_clustering(const Eigen::MatrixXd& x, const SpectralOptions& options);

// The same with the eigenvalues (for the eigengap) and the embedding.
SpectralResult spectral(const Eigen::MatrixXd& x, const SpectralOptions& options);

// ---------------------------------------------------------------- k-means, ARI
// k-means++ (Lloyd) with restarts; the lowest inertia wins. Labels as above.
std::vector<int> kmeans(const Eigen::MatrixXd& x, int k, int restarts, std::uint64_t seed);

// Adjusted Rand index (Hubert and Arabie 1985) of two labelings of the same samples.
// Labels are any non-negative integers. 1 for identical partitions (up to renaming);
// ~0 for independent random labelings. Both trivial (one cluster each, or all singletons
// each): 1.
double adjusted_rand_index(const std::vector<int>& a, const std::vector<int>& b);

}  // namespace aptflow::analysis
