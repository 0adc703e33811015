// Spectral clustering: self-tuning affinity (Zelnik-Manor and Perona, NIPS
// 2004), the normalised affinity L = D^-1/2 A D^-1/2 and its top eigenvectors
// with rows normalised (Ng, Jordan and Weiss, NIPS 2001), then k-means++. The
// number of clusters, when not given, is the position of the largest gap
// between consecutive eigenvalues of L (von Luxburg 2007, section 8.3).
#include <fmt/format.h>
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <limits>

#include "aptflow/analysis/detail/meta_detail.hpp"
#include "aptflow/analysis/meta.hpp"
#include "aptflow/core/error.hpp"

namespace aptflow::analysis {

namespace detail {

Eigen::MatrixXd self_tuning_affinity(const Eigen::MatrixXd& d2, int neighbours) {
  const Eigen::Index n = d2.rows();
  APTFLOW_ASSERT(d2.cols() == n && n >= 2,
                 "self_tuning_affinity needs a square distance matrix of >= 2 samples");
  APTFLOW_ASSERT(neighbours >= 1 && neighbours <= n - 1, "neighbours must be in 1..samples-1");
  Eigen::VectorXd sigma(n);
  std::vector<double> row;
  row.reserve(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    row.clear();
    double smallest_positive = std::numeric_limits<double>::infinity();
    for (Eigen::Index j = 0; j < n; ++j)
      if (j != i) {
        row.push_back(d2(j, i));
        if (d2(j, i) > 0.0) smallest_positive = std::min(smallest_positive, d2(j, i));
      }
    std::nth_element(row.begin(), row.begin() + (neighbours - 1), row.end());
    double s2 = row[neighbours - 1];
    // Duplicated samples: fall back to the nearest distinct sample, so sigma_i > 0
    // whenever sample i has any distinct neighbour (d_ij = 0 gives A_ij = 1 below).
    if (!(s2 > 0.0)) s2 = std::isinf(smallest_positive) ? 1.0 : smallest_positive;
    sigma(i) = std::sqrt(s2);
  }
  Eigen::MatrixXd a(n, n);
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index i = 0; i < n; ++i)
      a(i, j) = i == j ? 0.0 : (d2(i, j) > 0.0 ? std::exp(-d2(i, j) / (sigma(i) * sigma(j))) : 1.0);
  return a;
}

}  // namespace detail

namespace {

std::vector<int> relabel_by_first_appearance(const std::vector<int>& labels, int k) {
  std::vector<int> map(static_cast<std::size_t>(k), -1), out(labels.size());
  int next = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    int& m = map[static_cast<std::size_t>(labels[i])];
    if (m < 0) m = next++;
    out[i] = m;
  }
  return out;
}

}  // namespace

std::vector<int> kmeans(const Eigen::MatrixXd& x, int k, int restarts, std::uint64_t seed) {
  detail::check_finite_matrix(x, "kmeans input", 1);
  const Eigen::Index n = x.rows(), dims = x.cols();
  if (k < 1 || k > n)
    throw ConfigError("analysis.kmeans.k",
                      fmt::format("{} is outside 1..samples = 1..{}; ask for fewer clusters", k, n));
  if (restarts < 1)
    throw ConfigError("analysis.kmeans.restarts", fmt::format("{} < 1; use e.g. 10", restarts));
  const Eigen::MatrixXd xt = x.transpose();  // one sample per column: contiguous
  constexpr int kMaxIterations = 300;

  std::vector<int> best;
  double best_inertia = std::numeric_limits<double>::infinity();
  std::vector<int> label(n);
  Eigen::VectorXd dist(n);
  Eigen::MatrixXd centre(dims, k);
  Eigen::VectorXi count(k);
  for (int r = 0; r < restarts; ++r) {
    detail::Random rng(seed, 1000u + static_cast<std::uint32_t>(r));
    // k-means++ seeding (Arthur and Vassilvitskii 2007): next centre with probability ~ D^2.
    auto pick = [&](double u) {
      return std::min<Eigen::Index>(n - 1, static_cast<Eigen::Index>(u * static_cast<double>(n)));
    };
    centre.col(0) = xt.col(pick(rng.uniform()));
    for (Eigen::Index i = 0; i < n; ++i) dist(i) = (xt.col(i) - centre.col(0)).squaredNorm();
    for (int c = 1; c < k; ++c) {
      const double total = dist.sum();
      Eigen::Index chosen = 0;
      if (total > 0.0) {
        const double target = rng.uniform() * total;
        double acc = 0.0;
        chosen = n - 1;
        for (Eigen::Index i = 0; i < n; ++i) {
          acc += dist(i);
          if (acc >= target && dist(i) > 0.0) {
            chosen = i;
            break;
          }
        }
      } else {
        chosen = pick(rng.uniform());  // fewer distinct samples than clusters
      }
      centre.col(c) = xt.col(chosen);
      for (Eigen::Index i = 0; i < n; ++i)
        dist(i) = std::min(dist(i), (xt.col(i) - centre.col(c)).squaredNorm());
    }
    // Lloyd iterations.
    std::fill(label.begin(), label.end(), -1);
    double inertia = 0.0;
    for (int it = 0; it < kMaxIterations; ++it) {
      bool changed = false;
      inertia = 0.0;
      for (Eigen::Index i = 0; i < n; ++i) {
        int arg = 0;
        double bestd = std::numeric_limits<double>::infinity();
        for (int c = 0; c < k; ++c) {
          const double d = (xt.col(i) - centre.col(c)).squaredNorm();
          if (d < bestd) {
            bestd = d;
            arg = c;
          }
        }
        dist(i) = bestd;
        inertia += bestd;
        if (label[i] != arg) {
          label[i] = arg;
          changed = true;
        }
      }
      if (!changed) break;
      centre.setZero();
      count.setZero();
      for (Eigen::Index i = 0; i < n; ++i) {
        centre.col(label[i]) += xt.col(i);
        ++count(label[i]);
      }
      for (int c = 0; c < k; ++c) {
        if (count(c) > 0) {
          centre.col(c) /= static_cast<double>(count(c));
        } else {  // empty cluster: move it to the sample farthest from its centre
          Eigen::Index far = 0;
          dist.maxCoeff(&far);
          centre.col(c) = xt.col(far);
          dist(far) = 0.0;
        }
      }
    }
    if (inertia < best_inertia) {
      best_inertia = inertia;
      best = label;
    }
  }
  return relabel_by_first_appearance(best, k);
}

SpectralResult spectral(const Eigen::MatrixXd& x, const SpectralOptions& o) {
  detail::check_finite_matrix(x, "spectral clustering input", 2);
  const Eigen::Index n = x.rows();
  if (o.clusters < 0 || o.clusters > n)
    throw ConfigError(
        "analysis.spectral.clusters",
        fmt::format("{} is outside 0..samples = 0..{}; use 0 to choose by the eigengap", o.clusters, n));
  if (o.clusters == 0 && (o.max_clusters < 2 || n < 3))
    throw ConfigError("analysis.spectral.max_clusters",
                      fmt::format("cannot choose the number of clusters among 2..{} for {} samples; give "
                                  "max_clusters >= 2 and at least 3 samples, or set clusters",
                                  o.max_clusters, n));
  if (o.neighbours < 1)
    throw ConfigError("analysis.spectral.neighbours", fmt::format("{} < 1; use e.g. 7", o.neighbours));
  if (o.kmeans_restarts < 1)
    throw ConfigError("analysis.spectral.kmeans_restarts",
                      fmt::format("{} < 1; use e.g. 20", o.kmeans_restarts));
  const int neighbours = static_cast<int>(std::min<Eigen::Index>(o.neighbours, n - 1));

  const Eigen::MatrixXd a = detail::self_tuning_affinity(detail::squared_distances(x), neighbours);
  const Eigen::VectorXd dinv =
      a.rowwise().sum().cwiseMax(std::numeric_limits<double>::min()).cwiseSqrt().cwiseInverse();
  const Eigen::MatrixXd l = dinv.asDiagonal() * a * dinv.asDiagonal();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(l);
  if (es.info() != Eigen::Success) throw InternalError("spectral: eigendecomposition did not converge");

  SpectralResult out;
  // Eigenvalues of interest, descending: clusters + 1 (or max_clusters + 1 for the gap).
  const Eigen::Index kmax = o.clusters > 0 ? o.clusters : std::min<Eigen::Index>(o.max_clusters, n - 1);
  const Eigen::Index keep = std::min<Eigen::Index>(kmax + 1, n);
  out.eigenvalues.resize(keep);
  for (Eigen::Index c = 0; c < keep; ++c) out.eigenvalues(c) = es.eigenvalues()(n - 1 - c);
  if (o.clusters > 0) {
    out.clusters = o.clusters;
  } else {
    double best_gap = -1.0;
    for (Eigen::Index k = 2; k <= kmax; ++k) {
      const double gap = out.eigenvalues(k - 1) - out.eigenvalues(k);
      if (gap > best_gap) {
        best_gap = gap;
        out.clusters = static_cast<int>(k);
      }
    }
  }
  const int k = out.clusters;
  out.embedding.resize(n, k);
  for (int c = 0; c < k; ++c) out.embedding.col(c) = es.eigenvectors().col(n - 1 - c);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double norm = out.embedding.row(i).norm();
    if (norm > 0.0) out.embedding.row(i) /= norm;
  }
  out.labels = kmeans(out.embedding, k, o.kmeans_restarts, o.seed);
  return out;
}

std::vector<int> spectral_clustering(const Eigen::MatrixXd& x, const SpectralOptions& options) {
  return spectral(x, options).labels;
}

}  // namespace aptflow::analysis
