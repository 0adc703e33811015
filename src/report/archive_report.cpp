// aptflow report for an archive index (aptflow archive output):
//   /datasets/{path,status,error} strings (n), /datasets/ions int64 (n),
//   /datasets/hydrogen float64 (n), /datasets/metadata/<column> strings (n),
//   /spectra float32 (n, bins) with attrs mq_min, bin_width,
//   /cluster int32 (n; -1 = failed), /embedding/tsne (n, 2),
//   /embedding/pca (n, k), /embedding/explained_variance_ratio (k).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "aptflow/core/error.hpp"
#include "aptflow/report/svg.hpp"
#include "report/detail.hpp"

namespace aptflow::report::detail {

namespace {

namespace fs = std::filesystem;
// Categories shown in a metadata legend; rarer values are pooled as "other".
constexpr std::size_t kMaxCategories = 8;
// Spectrum points drawn per line (longer spectra are averaged in groups).
constexpr hsize_t kMaxSpectrumPoints = 2000;

using Ctx = PageContext;

bool is_failed(const std::string& status, const std::string& error) {
  std::string s = status;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return !error.empty() || s.rfind("fail", 0) == 0 || s.rfind("error", 0) == 0;
}

std::string safe_name(const std::string& s) {
  std::string o;
  for (char c : s) o += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return o;
}

}  // namespace

ReportResult write_archive(const h5::File& f, const std::string& out_dir) {
  Ctx cx{f, out_dir, {}, Page("")};
  cx.result.kind = ReportKind::archive;
  cx.page = Page("aptflow archive report: " + fs::path(f.path()).filename().string());

  const auto paths = h5::read_strings(f, "/datasets/path");
  const std::size_t n = paths.size();
  auto status = read_strings_if(f, "/datasets/status");
  auto error = read_strings_if(f, "/datasets/error");
  status.resize(n), error.resize(n);
  auto ions = read_doubles_if(f, "/datasets/ions");
  auto hydrogen = read_doubles_if(f, "/datasets/hydrogen");
  std::vector<int> cluster(n, -1);
  if (h5::exists(f, "/cluster")) {
    const auto c = h5::read<std::int32_t>(f, "/cluster");
    if (c.size() != n)
      throw InputError(f.path(), "/cluster and /datasets/path differ in length: re-run aptflow archive");
    cluster.assign(c.begin(), c.end());
  }
  int nclusters = 0;
  for (int c : cluster) nclusters = std::max(nclusters, c + 1);
  std::vector<std::string> cnames;
  std::vector<std::int64_t> csize(static_cast<std::size_t>(nclusters), 0);
  for (int c = 0; c < nclusters; ++c) cnames.push_back(fmt::format("cluster {}", c));
  for (int c : cluster)
    if (c >= 0) ++csize[static_cast<std::size_t>(c)];
  std::size_t failed = 0;
  for (std::size_t i = 0; i < n; ++i) failed += is_failed(status[i], error[i]);

  // ---- summary
  cx.page.heading("Summary");
  double total_ions = 0;
  for (double v : ions)
    if (std::isfinite(v)) total_ions += v;
  std::string sizes;
  for (int c = 0; c < nclusters; ++c)
    sizes += fmt::format("{}{}: {}", c ? ", " : "", cnames[static_cast<std::size_t>(c)],
                         csize[static_cast<std::size_t>(c)]);
  cx.page.table({"", ""},
                {{"index file", f.path()},
                 {"datasets", thousands(static_cast<std::int64_t>(n))},
                 {"analysed", thousands(static_cast<std::int64_t>(n - failed))},
                 {"failed", thousands(static_cast<std::int64_t>(failed))},
                 {"ions (all datasets)",
                  ions.empty() ? "(not recorded)" : thousands(static_cast<std::int64_t>(total_ions))},
                 {"clusters", nclusters > 0 ? fmt::format("{} ({})", nclusters, sizes) : "(none)"}},
                "summary");

  // ---- embeddings
  cx.page.heading("Embeddings");
  std::vector<hsize_t> tshape;
  const auto tsne = read_doubles_if(f, "/embedding/tsne", &tshape);
  const auto columns = h5::list_group(f, "/datasets/metadata");
  if (tshape.size() == 2 && tshape[0] == n && tshape[1] >= 2) {
    std::vector<double> x(n), y(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = tsne[i * tshape[1]], y[i] = tsne[i * tshape[1] + 1];
    Plot p(680, 480);
    p.title("t-SNE of the mass spectra, by cluster").xlabel("t-SNE 1 (a.u.)").ylabel("t-SNE 2 (a.u.)");
    p.scatter(x, y, cluster, cnames, "no cluster", 3.5);
    cx.add(p, "tsne_cluster.svg", "t-SNE embedding of the datasets' spectra, coloured by spectral cluster.");
    for (const auto& col : columns) {
      auto vals = h5::read_strings(f, "/datasets/metadata/" + col);
      vals.resize(n);
      std::map<std::string, std::size_t> freq;
      for (const auto& v : vals) ++freq[v];
      std::vector<std::pair<std::string, std::size_t>> order(freq.begin(), freq.end());
      std::stable_sort(order.begin(), order.end(), [](auto& a, auto& b) { return a.second > b.second; });
      std::vector<std::string> names;
      std::map<std::string, int> index;
      for (const auto& [v, cnt] : order) {
        if (v.empty() || names.size() == kMaxCategories) continue;
        index[v] = static_cast<int>(names.size());
        names.push_back(v);
      }
      std::vector<int> cat(n, -1);
      bool pooled = false;
      for (std::size_t i = 0; i < n; ++i) {
        auto it = index.find(vals[i]);
        if (it != index.end())
          cat[i] = it->second;
        else if (!vals[i].empty())
          pooled = true;
      }
      Plot q(680, 480);
      q.title("t-SNE by " + col).xlabel("t-SNE 1 (a.u.)").ylabel("t-SNE 2 (a.u.)");
      q.scatter(x, y, cat, names, pooled ? "other / empty" : "empty", 3.5);
      cx.add(
          q, "tsne_" + safe_name(col) + ".svg",
          fmt::format(
              "t-SNE embedding coloured by the manifest column '{}' ({} distinct values{}).", col,
              freq.size(),
              pooled ? fmt::format("; all but the {} most frequent pooled as other", kMaxCategories) : ""));
    }
    if (columns.empty()) cx.missing("Metadata: no manifest columns (/datasets/metadata) in this file.");
  } else {
    cx.missing("t-SNE embedding: /embedding/tsne (datasets x 2) is not in this file.");
  }
  std::vector<hsize_t> pshape;
  const auto pca = read_doubles_if(f, "/embedding/pca", &pshape);
  if (pshape.size() == 2 && pshape[0] == n && pshape[1] >= 2) {
    const auto evr = read_doubles_if(f, "/embedding/explained_variance_ratio");
    std::vector<double> x(n), y(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = pca[i * pshape[1]], y[i] = pca[i * pshape[1] + 1];
    auto axis = [&](std::size_t k) {
      return k < evr.size() ? fmt::format("PC{} ({:.1f} % of variance)", k + 1, 100.0 * evr[k])
                            : fmt::format("PC{}", k + 1);
    };
    Plot p(680, 480);
    p.title("PCA of the mass spectra").xlabel(axis(0)).ylabel(axis(1));
    p.scatter(x, y, cluster, cnames, "no cluster", 3.5);
    cx.add(p, "pca.svg", "First two principal components of the spectra, coloured by cluster.");
  } else {
    cx.missing("PCA: /embedding/pca (datasets x k, k >= 2) is not in this file.");
  }

  // ---- spectra per cluster
  cx.page.heading("Spectra and composition per cluster");
  if (h5::exists(f, "/spectra") && nclusters > 0) {
    const auto sd = h5::dims(f, "/spectra");
    if (sd.size() != 2 || sd[0] != n)
      throw InputError(f.path(), "/spectra must be (datasets, bins): re-run aptflow archive");
    const hsize_t bins = sd[1];
    auto so = h5::open_object(f, "/spectra");
    const double mq_min = h5::has_attr(so, "mq_min") ? h5::read_attr_double(so, "mq_min") : 0.0;
    const double bw = h5::has_attr(so, "bin_width") ? h5::read_attr_double(so, "bin_width") : 1.0;
    std::vector<double> mean(static_cast<std::size_t>(nclusters) * bins, 0.0);
    std::vector<float> row(bins);
    for (std::size_t i = 0; i < n; ++i) {
      if (cluster[i] < 0 || bins == 0) continue;
      h5::read_rows(f, "/spectra", i, 1, row.data());
      const double w = 1.0 / static_cast<double>(csize[static_cast<std::size_t>(cluster[i])]);
      double* m = mean.data() + static_cast<std::size_t>(cluster[i]) * bins;
      for (hsize_t b = 0; b < bins; ++b) m[b] += w * row[b];
    }
    const hsize_t group = (bins + kMaxSpectrumPoints - 1) / kMaxSpectrumPoints;
    Plot p(900, 440);
    p.title("Mean mass spectrum per cluster")
        .xlabel("mass-to-charge ratio (Da)")
        .ylabel("mean counts per bin")
        .log_y();
    for (int c = 0; c < nclusters; ++c) {
      if (csize[static_cast<std::size_t>(c)] == 0) continue;
      std::vector<double> x, y;
      for (hsize_t b0 = 0; b0 < bins; b0 += group) {
        const hsize_t b1 = std::min(bins, b0 + group);
        double s = 0;
        for (hsize_t b = b0; b < b1; ++b) s += mean[static_cast<std::size_t>(c) * bins + b];
        x.push_back(mq_min + bw * 0.5 * static_cast<double>(b0 + b1));
        y.push_back(s / static_cast<double>(b1 - b0));
      }
      p.line(
          x, y,
          fmt::format("{} (n = {})", cnames[static_cast<std::size_t>(c)], csize[static_cast<std::size_t>(c)]),
          c);
    }
    cx.add(
        p, "spectra_cluster.svg",
        fmt::format("Mean spectrum of the datasets in each cluster (bin width {} Da{}); log scale, empty "
                    "bins not drawn.",
                    short_num(bw), group > 1 ? fmt::format(", averaged over {} bins per point", group) : ""));
  } else {
    cx.missing("Spectra per cluster: /spectra or /cluster is not in this file.");
  }
  if (hydrogen.size() == n && nclusters > 0) {
    std::vector<double> x, y, pos;
    std::vector<int> cat;
    std::vector<std::vector<std::string>> rows;
    for (int c = 0; c < nclusters; ++c) {
      pos.push_back(c);
      double s = 0;
      std::int64_t k = 0;
      std::size_t j = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (cluster[i] != c || !std::isfinite(hydrogen[i])) continue;
        // Deterministic jitter within +-0.25 so equal values stay visible.
        const double jitter = 0.5 * (static_cast<double>((j++ * 7919) % 101) / 100.0 - 0.5);
        x.push_back(c + jitter), y.push_back(hydrogen[i]), cat.push_back(c);
        s += hydrogen[i], ++k;
      }
      rows.push_back({cnames[static_cast<std::size_t>(c)], std::to_string(csize[static_cast<std::size_t>(c)]),
                      k ? short_num(s / static_cast<double>(k)) : "n/a"});
    }
    Plot p(std::max(420, 200 + 70 * nclusters), 420);
    p.title("Hydrogen per cluster")
        .ylabel("hydrogen (atomic fraction)")
        .xlim(-0.6, nclusters - 0.4)
        .xticks(pos, cnames);
    p.scatter(x, y, cat, cnames, "no cluster", 3.0);
    cx.add(p, "hydrogen_cluster.svg",
           "Hydrogen content of each dataset, grouped by cluster (horizontal jitter only for visibility).");
    cx.page.table({"cluster", "datasets", "mean hydrogen"}, rows, "hydrogen");
  } else {
    cx.missing("Hydrogen per cluster: /datasets/hydrogen or /cluster is not in this file.");
  }

  // ---- failures
  cx.page.heading("Failed datasets");
  std::vector<std::vector<std::string>> frows;
  for (std::size_t i = 0; i < n; ++i)
    if (is_failed(status[i], error[i])) frows.push_back({paths[i], status[i], error[i]});
  if (frows.empty())
    cx.page.paragraph("None: every dataset was analysed.");
  else
    cx.page.table({"dataset", "status", "error"}, frows, "failed");

  cx.result.index_html = (fs::path(out_dir) / "index.html").string();
  std::ofstream o(cx.result.index_html, std::ios::binary);
  o << cx.page.html();
  if (!o) throw ResourceError(fmt::format("cannot write '{}' (disk full?)", cx.result.index_html));
  return cx.result;
}

}  // namespace aptflow::report::detail
