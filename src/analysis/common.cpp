// Shared pieces of the meta-analysis: input checks, spectrum normalisation,
// pairwise distances and the seeded random stream.
#include <fmt/format.h>

#include <cmath>

#include "aptflow/analysis/detail/meta_detail.hpp"
#include "aptflow/analysis/meta.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/core/rng.hpp"

namespace aptflow::analysis {

namespace detail {

void check_finite_matrix(const Eigen::MatrixXd& x, const std::string& what, int min_rows) {
  if (x.rows() < min_rows)
    throw InputError(what, fmt::format("{} samples (rows), at least {} are needed; pass more datasets",
                                       x.rows(), min_rows));
  if (x.cols() < 1) throw InputError(what, "no features (columns); pass a non-empty matrix");
  for (Eigen::Index c = 0; c < x.cols(); ++c)
    for (Eigen::Index r = 0; r < x.rows(); ++r)
      if (!std::isfinite(x(r, c)))
        throw InputError(
            what, fmt::format("row {} column {} is {} (not finite); clean the input first", r, c, x(r, c)));
}

Eigen::MatrixXd squared_distances(const Eigen::MatrixXd& x) {
  const Eigen::Index n = x.rows();
  // Centring does not change distances but makes |x_i|^2 + |x_j|^2 - 2 x_i.x_j cancel less.
  const Eigen::MatrixXd xc = x.rowwise() - x.colwise().mean();
  Eigen::MatrixXd g = Eigen::MatrixXd::Zero(n, n);
  g.selfadjointView<Eigen::Lower>().rankUpdate(xc);
  Eigen::MatrixXd d2(n, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    d2(j, j) = 0.0;
    for (Eigen::Index i = j + 1; i < n; ++i) {
      const double v = std::max(0.0, g(i, i) + g(j, j) - 2.0 * g(i, j));
      d2(i, j) = v;
      d2(j, i) = v;
    }
  }
  return d2;
}

double Random::uniform() {
  const U32x4 r = philox4x32_10(
      U32x4{{static_cast<std::uint32_t>(index_), static_cast<std::uint32_t>(index_ >> 32), stream_, 0xA7A1u}},
      static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32));
  ++index_;
  return uniform_open(r.v[0], r.v[1]);
}

double Random::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const U32x4 r = philox4x32_10(
      U32x4{{static_cast<std::uint32_t>(index_), static_cast<std::uint32_t>(index_ >> 32), stream_, 0xA7A2u}},
      static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32));
  ++index_;
  const Double2 z = normal2(r);
  spare_ = z.b;
  has_spare_ = true;
  return z.a;
}

}  // namespace detail

Eigen::MatrixXd normalise_spectra(const Eigen::MatrixXd& counts, SpectrumTransform transform,
                                  double log_scale) {
  const std::string what = "normalise_spectra input";
  detail::check_finite_matrix(counts, what, 1);
  if (transform == SpectrumTransform::log1p && !(log_scale > 0.0))
    throw ConfigError(
        "analysis.normalise_spectra.log_scale",
        fmt::format("{} is not positive; use the typical ion count of a spectrum, e.g. 1e4", log_scale));
  Eigen::MatrixXd out(counts.rows(), counts.cols());
  for (Eigen::Index r = 0; r < counts.rows(); ++r) {
    if (counts.row(r).minCoeff() < 0.0)
      throw InputError(what,
                       fmt::format("row {} has a negative count; spectra must be histograms of counts", r));
    const double total = counts.row(r).sum();
    if (!(total > 0.0))
      throw InputError(what, fmt::format("row {} has no counts (empty spectrum); drop the dataset", r));
    out.row(r) = counts.row(r) / total;
  }
  switch (transform) {
    case SpectrumTransform::hellinger:
      out = out.array().sqrt().matrix();
      break;
    case SpectrumTransform::log1p:
      out = (out.array() * log_scale).log1p().matrix();
      break;
    case SpectrumTransform::none:
      break;
  }
  return out;
}

}  // namespace aptflow::analysis
