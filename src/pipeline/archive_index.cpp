// `aptflow archive`: the index <output>/index.h5, assembled by rank 0 from the
// per-dataset result files in manifest order (so it depends neither on the
// number of ranks nor on the schedule nor on interruptions), with the
// meta-analysis of the normalised spectra of the ok datasets.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "aptflow/analysis/meta.hpp"
#include "aptflow/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/pipeline/archive.hpp"
#include "pipeline/archive_detail.hpp"

namespace aptflow::archive_detail {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

analysis::SpectrumTransform transform_of(const std::string& t) {
  if (t == "log1p") return analysis::SpectrumTransform::log1p;
  if (t == "none") return analysis::SpectrumTransform::none;
  return analysis::SpectrumTransform::hellinger;
}

struct Meta {
  bool done = false;
  std::string note;  // why it was skipped
  std::vector<int> cluster;
  Eigen::MatrixXd tsne, pca;
  Eigen::VectorXd ratio;
  int clusters = 0;
  double kl = 0;
};

// counts: ok datasets x bins.
Meta meta_analysis(const Eigen::MatrixXd& counts, const ArchiveOptions& o) {
  Meta m;
  const auto n = static_cast<int>(counts.rows());
  if (n < 4) {
    m.note = fmt::format("skipped: {} ok datasets (the meta-analysis needs at least 4)", n);
    return m;
  }
  const Eigen::MatrixXd x = analysis::normalise_spectra(counts, transform_of(o.transform));
  const int k = std::max(1, std::min<int>({o.pca_components, n - 1, static_cast<int>(x.cols())}));
  const auto p = analysis::pca(x, k);
  m.pca = p.scores;
  m.ratio = p.explained_variance_ratio;
  // t-SNE of the PCA scores; spectral clustering of the normalised spectra
  // themselves: on PCA scores each material becomes a thin line along its
  // hydrogen level and the eigengap splits it (docs/meta-analysis.md: 19 of 48
  // synthetic archives right with 10 components, 48 of 48 on all bins).
  m.tsne = analysis::tsne(p.scores, o.tsne, &m.kl);
  analysis::SpectralOptions so = o.spectral;
  so.neighbours = std::min(so.neighbours, n - 1);
  so.max_clusters = std::min(so.max_clusters, n - 1);
  so.clusters = std::min(so.clusters, n);
  m.cluster = analysis::spectral_clustering(x, so);
  m.clusters = m.cluster.empty() ? 0 : *std::max_element(m.cluster.begin(), m.cluster.end()) + 1;
  m.done = true;
  return m;
}

}  // namespace

IndexCounts write_index(const ArchiveOptions& o, const ArchiveManifest& man) {
  const auto n = man.entries.size();
  std::vector<DatasetRecord> recs(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& e = man.entries[i];
    const std::string file =
        (fs::path(o.output) / result_name(static_cast<std::int64_t>(i), e.path)).string();
    auto r = read_record(file);
    if (!r)
      throw InternalError(
          fmt::format("archive index: the result file '{}' of dataset '{}' is missing or "
                      "incomplete after the run: rerun with --resume",
                      file, e.path));
    recs[i] = std::move(*r);
  }
  const auto bins = static_cast<std::size_t>(o.binning.bins);
  IndexCounts counts;
  std::set<std::string> element_set;
  std::vector<std::size_t> ok_rows;
  for (std::size_t i = 0; i < n; ++i) {
    if (recs[i].status == "ok") {
      ++counts.ok;
      ok_rows.push_back(i);
      element_set.insert(recs[i].elements.begin(), recs[i].elements.end());
      if (recs[i].spectrum.size() != bins)
        throw InternalError(fmt::format("archive index: result of '{}' has {} bins, expected {}",
                                        recs[i].path, recs[i].spectrum.size(), bins));
    } else {
      ++counts.failed;
    }
  }
  const std::vector<std::string> elements(element_set.begin(), element_set.end());
  const std::size_t m = elements.size();
  std::map<std::string, std::size_t> col;
  for (std::size_t k = 0; k < m; ++k) col[elements[k]] = k;

  std::vector<std::string> paths(n), ranges(n), status(n), error(n), sha(n), result(n), format(n), cls(n);
  std::vector<std::int64_t> ions(n), bytes(n), cls_domains(n, 0), cls_labelled(n, 0);
  std::vector<double> hydrogen(n, kNaN), seconds(n), fraction(n * m, kNaN);
  const std::size_t nw = o.hydrogen_windows.size();
  std::vector<std::int64_t> hcounts(n * nw, 0);
  std::vector<float> spectra(n * bins, 0.0f);
  Eigen::MatrixXd ok_counts(static_cast<Eigen::Index>(ok_rows.size()), static_cast<Eigen::Index>(bins));
  for (std::size_t i = 0; i < n; ++i) {
    const auto& r = recs[i];
    paths[i] = r.path, ranges[i] = r.range, status[i] = r.status, error[i] = r.error, sha[i] = r.sha256;
    result[i] = result_name(static_cast<std::int64_t>(i), r.path);
    format[i] = r.format, cls[i] = r.classify_result;
    cls_domains[i] = r.classify_domains, cls_labelled[i] = r.classify_labelled;
    ions[i] = r.ions, bytes[i] = r.file_bytes, seconds[i] = r.seconds;
    if (r.status != "ok") continue;
    hydrogen[i] = r.hydrogen;
    for (std::size_t k = 0; k < m; ++k) fraction[i * m + k] = 0.0;
    for (std::size_t k = 0; k < r.elements.size(); ++k) fraction[i * m + col[r.elements[k]]] = r.fraction[k];
    for (std::size_t w = 0; w < nw && w < r.hydrogen_counts.size(); ++w)
      hcounts[i * nw + w] = r.hydrogen_counts[w];
    for (std::size_t b = 0; b < bins; ++b) spectra[i * bins + b] = static_cast<float>(r.spectrum[b]);
  }
  for (std::size_t j = 0; j < ok_rows.size(); ++j)
    for (std::size_t b = 0; b < bins; ++b)
      ok_counts(static_cast<Eigen::Index>(j), static_cast<Eigen::Index>(b)) =
          static_cast<double>(recs[ok_rows[j]].spectrum[b]);

  const Meta meta = meta_analysis(ok_counts, o);
  counts.clusters = meta.clusters;
  const int k = meta.done ? static_cast<int>(meta.pca.cols()) : 0;
  std::vector<std::int32_t> cluster(n, -1);
  std::vector<double> tsne(n * 2, kNaN), pca(n * static_cast<std::size_t>(k), kNaN),
      ratio(static_cast<std::size_t>(k));
  if (meta.done) {
    for (std::size_t j = 0; j < ok_rows.size(); ++j) {
      const auto i = ok_rows[j];
      const auto jj = static_cast<Eigen::Index>(j);
      cluster[i] = meta.cluster[j];
      tsne[i * 2] = meta.tsne(jj, 0), tsne[i * 2 + 1] = meta.tsne(jj, 1);
      for (int c = 0; c < k; ++c)
        pca[i * static_cast<std::size_t>(k) + static_cast<std::size_t>(c)] = meta.pca(jj, c);
    }
    for (int c = 0; c < k; ++c) ratio[static_cast<std::size_t>(c)] = meta.ratio(c);
  }

  const std::string final_path = (fs::path(o.output) / "index.h5").string();
  const std::string tmp = temp_name(final_path);
  {
    auto f = h5::File::create(tmp);
    auto root = h5::open_object(f, "/");
    h5::write_attr(root, "aptflow_version", std::string(APTFLOW_VERSION));
    h5::write_attr(root, "aptflow_git", std::string(APTFLOW_GIT_HASH));
    h5::write_attr(root, "source", man.source);
    h5::write_attr(root, "config", o.config_text);
    h5::write_attr(root, "datasets", static_cast<std::int64_t>(n));
    h5::write_attr(root, "ok", counts.ok);
    h5::write_attr(root, "failed", counts.failed);
    const auto N = static_cast<hsize_t>(n);
    h5::write_strings(f, "datasets/path", paths);
    h5::write_strings(f, "datasets/range", ranges);
    h5::write_strings(f, "datasets/status", status);
    h5::write_strings(f, "datasets/error", error);
    h5::write_strings(f, "datasets/sha256", sha);
    h5::write_strings(f, "datasets/result", result);
    h5::write_strings(f, "datasets/format", format);
    if (o.classify) {
      h5::write_strings(f, "datasets/classify/result", cls);
      h5::write<std::int64_t>(f, "datasets/classify/domains", cls_domains);
      h5::write<std::int64_t>(f, "datasets/classify/labelled_ions", cls_labelled);
    }
    h5::write<std::int64_t>(f, "datasets/ions", ions);
    h5::write<std::int64_t>(f, "datasets/file_bytes", bytes);
    h5::write<double>(f, "datasets/hydrogen", hydrogen);
    {
      std::vector<double> win;
      for (const auto& [lo, hi] : o.hydrogen_windows) win.push_back(lo), win.push_back(hi);
      auto d = h5::open_object(f, "datasets/hydrogen");
      h5::write_attr(d, "windows", win);
    }
    if (nw > 0)
      h5::write<std::int64_t>(f, "datasets/hydrogen_counts", hcounts, {N, static_cast<hsize_t>(nw)});
    h5::write<double>(f, "datasets/seconds", seconds);
    h5::ensure_group(f, "datasets/metadata");
    for (std::size_t c = 0; c < man.columns.size(); ++c) {
      std::vector<std::string> v(n);
      for (std::size_t i = 0; i < n; ++i) v[i] = man.entries[i].metadata[c];
      h5::write_strings(f, "datasets/metadata/" + man.columns[c], v);
    }
    {
      auto g = h5::open_object(f, "datasets/metadata");
      h5::write_attr(g, "columns", man.columns);
    }
    h5::write_strings(f, "composition/elements", elements);
    if (m > 0)
      h5::write<double>(f, "composition/fraction", fraction, {N, static_cast<hsize_t>(m)});
    else
      h5::create_dataset<double>(f, "composition/fraction", {N, 0});
    h5::write<float>(f, "spectra", spectra, {N, static_cast<hsize_t>(bins)});
    {
      auto d = h5::open_object(f, "spectra");
      h5::write_attr(d, "mq_min", o.binning.mq_min);
      h5::write_attr(d, "bin_width", o.binning.bin_width);
      h5::write_attr(d, "mq_max",
                     o.binning.mq_min + static_cast<double>(o.binning.bins) * o.binning.bin_width);
      h5::write_attr(d, "units", std::string("counts per bin (failed rows zero)"));
    }
    h5::write<std::int32_t>(f, "cluster", cluster);
    h5::write<double>(f, "embedding/tsne", tsne, {N, 2});
    if (k > 0)
      h5::write<double>(f, "embedding/pca", pca, {N, static_cast<hsize_t>(k)});
    else
      h5::create_dataset<double>(f, "embedding/pca", {N, 0});
    h5::write<double>(f, "embedding/explained_variance_ratio", ratio);
    {
      auto g = h5::open_object(f, "embedding");
      h5::write_attr(g, "transform", o.transform);
      h5::write_attr(g, "clusters", static_cast<std::int64_t>(meta.clusters));
      h5::write_attr(
          g, "colour_by",
          !o.colour_by.empty() ? o.colour_by : (man.columns.empty() ? std::string() : man.columns[0]));
      h5::write_attr(g, "perplexity", o.tsne.perplexity);
      h5::write_attr(g, "tsne_kl", meta.kl);
      h5::write_attr(
          g, "note",
          meta.done ? std::string("t-SNE of the PCA scores, spectral clustering of the normalised spectra")
                    : meta.note);
    }
    f.flush();
  }
  std::error_code ec;
  fs::rename(tmp, final_path, ec);
  if (ec) {
    std::error_code ignore;
    std::filesystem::remove(tmp, ignore);
    throw ResourceError(
        fmt::format("archive index '{}': cannot rename from '{}' ({}): check the output directory",
                    final_path, tmp, ec.message()));
  }
  return counts;
}

}  // namespace aptflow::archive_detail
