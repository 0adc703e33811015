#pragma once
// Result files for the report and XDMF tests, written here with random
// contents in the documented layouts (docs/classify.md, docs/report.md), so
// the tests do not depend on the classify/archive helpers' code paths.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "aptflow/io/h5.hpp"

namespace aptflow::test {

struct ClassifyFixture {
  std::int64_t nz = 9, ny = 7, nx = 6;
  std::vector<std::string> classes{"FCC", "L1_2", "D0_22"};
  double origin[3] = {-3.25, 1.5, 0.75};  // x, y, z nm
  double edge = 1.0, stride = 0.5;
  bool mean_sdm = true, control = true, truth = true, subcells = true;
};

// Writes a classify-like result: probability (nz, ny, nx, classes) float32
// with NaN rows (empty windows) and attrs, domains, config (TOML), profiling
// and, when enabled, mean SDM, shuffled-m/q control, ground truth and
// sub-cell labels.
inline void make_classify_result(const std::string& path, const ClassifyFixture& fx, unsigned seed) {
  namespace h5 = aptflow::h5;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const auto nc = static_cast<std::int64_t>(fx.classes.size());
  auto f = h5::File::create(path);
  {
    auto g = h5::ensure_group(f, "/entry1");
    h5::write_attr(g, "NX_class", std::string("NXentry"));
  }
  std::vector<float> prob(static_cast<std::size_t>(fx.nz * fx.ny * fx.nx * nc));
  for (std::size_t w = 0; w < prob.size() / static_cast<std::size_t>(nc); ++w) {
    const bool empty = u(rng) < 0.1;
    double s = 0;
    std::vector<double> p(static_cast<std::size_t>(nc));
    for (auto& v : p) v = u(rng) * u(rng), s += v;
    for (std::int64_t c = 0; c < nc; ++c)
      prob[w * static_cast<std::size_t>(nc) + static_cast<std::size_t>(c)] =
          empty ? std::numeric_limits<float>::quiet_NaN()
                : static_cast<float>(p[static_cast<std::size_t>(c)] / s);
  }
  h5::write(f, "/entry1/windows/probability", prob,
            {static_cast<hsize_t>(fx.nz), static_cast<hsize_t>(fx.ny), static_cast<hsize_t>(fx.nx),
             static_cast<hsize_t>(nc)});
  {
    auto d = h5::open_object(f, "/entry1/windows/probability");
    h5::write_attr(d, "class_names", fx.classes);
    h5::write_attr(d, "origin", std::vector<double>{fx.origin[0], fx.origin[1], fx.origin[2]});
    h5::write_attr(d, "edge", fx.edge);
    h5::write_attr(d, "stride", fx.stride);
    h5::write_attr(d, "variant", std::string("cocrni"));
  }
  // Domains: sizes spread over 3-250 ions (some beyond the 160-ion histogram).
  const int nd = 57;
  std::vector<std::int64_t> id(nd), ions(nd);
  std::vector<std::int32_t> dcls(nd);
  std::vector<double> radius(nd), volume(nd);
  for (int i = 0; i < nd; ++i) {
    id[static_cast<std::size_t>(i)] = i;
    ions[static_cast<std::size_t>(i)] = 3 + static_cast<std::int64_t>(std::floor(247 * u(rng) * u(rng)));
    dcls[static_cast<std::size_t>(i)] = 1 + static_cast<std::int32_t>(rng() % 2);
    radius[static_cast<std::size_t>(i)] = 0.3 + 1.7 * u(rng);
    volume[static_cast<std::size_t>(i)] = 4.18879 * std::pow(radius[static_cast<std::size_t>(i)], 3);
  }
  ions[0] = 160;  // on the last edge: counted in the last bin
  ions[1] = 5;    // exactly on a bin edge
  h5::write(f, "/entry1/domains/id", id);
  h5::write(f, "/entry1/domains/ions", ions);
  h5::write(f, "/entry1/domains/class", dcls);
  h5::write(f, "/entry1/domains/radius", radius);
  h5::write(f, "/entry1/domains/volume", volume);
  std::vector<std::int32_t> ion_class(1234, -1);
  h5::write(f, "/entry1/ions/class", ion_class);
  h5::write_strings(f, "/entry1/config",
                    {"input = \"specimen.pos\"\nrange = \"specimen.rrng\"\nmodel = [\"a.h5\", \"b.h5\"]\n"
                     "output = \"r.h5\"\n[segment]\nthresholds = [inf, 3.75, 3.5]\n"});
  h5::write_strings(f, "/entry1/profiling/stage", {"setup", "windows+predict", "write"});
  h5::write(f, "/entry1/profiling/seconds_max", std::vector<double>{0.01, 1.5, 0.2});
  if (fx.mean_sdm) {
    const int bins = 40;
    std::vector<double> m(static_cast<std::size_t>(nc * bins)), centres(bins);
    for (int b = 0; b < bins; ++b) centres[static_cast<std::size_t>(b)] = -1.0 + (b + 0.5) * 0.05;
    for (auto& v : m) v = 5.0 * u(rng);
    std::vector<std::int64_t> cnt(static_cast<std::size_t>(nc));
    for (auto& v : cnt) v = 1 + static_cast<std::int64_t>(rng() % 500);
    h5::write(f, "/entry1/windows/mean_sdm", m, {static_cast<hsize_t>(nc), static_cast<hsize_t>(bins)});
    h5::write(f, "/entry1/windows/mean_sdm_count", cnt);
    h5::write(f, "/entry1/windows/sdm_bin_centres", centres);
  }
  if (fx.control) {
    const int runs = 6, bins = 32;
    std::vector<std::int64_t> h(runs * bins);
    for (auto& v : h) v = static_cast<std::int64_t>(rng() % 40);
    h5::write(f, "/entry1/control/size_histogram", h, {runs, bins});
    h5::write(f, "/entry1/control/pearson_r", std::vector<double>{0.1 + 0.8 * u(rng)});
    h5::write(f, "/entry1/control/chi2", std::vector<double>{100 * u(rng)});
    h5::write(f, "/entry1/control/contingency", std::vector<double>{u(rng), u(rng), u(rng), u(rng)});
  }
  if (fx.truth) {
    h5::write_strings(f, "/entry1/truth/class_names", {"matrix", "L1_2"});
    h5::write(f, "/entry1/truth/precision", std::vector<double>{u(rng), u(rng)});
    h5::write(f, "/entry1/truth/recall", std::vector<double>{u(rng), u(rng)});
    h5::write(f, "/entry1/truth/f1", std::vector<double>{u(rng), u(rng)});
    h5::write(f, "/entry1/truth/true_domains", std::vector<std::int64_t>{61});
    h5::write(f, "/entry1/truth/detected_domains", std::vector<std::int64_t>{57});
    h5::write(f, "/entry1/truth/matched_domains", std::vector<std::int64_t>{49});
    h5::write(f, "/entry1/truth/true_mean_radius", std::vector<double>{1.25});
    h5::write(f, "/entry1/truth/detected_mean_radius", std::vector<double>{1.125});
    h5::write(f, "/entry1/truth/radius_error", std::vector<double>{-0.125});
  }
  if (fx.subcells) {
    const auto k = static_cast<std::int64_t>(std::lround(fx.edge / fx.stride));
    const hsize_t sz = static_cast<hsize_t>(fx.nz + k - 1), sy = static_cast<hsize_t>(fx.ny + k - 1),
                  sx = static_cast<hsize_t>(fx.nx + k - 1);
    std::vector<std::int32_t> label(sz * sy * sx);
    for (auto& v : label) v = static_cast<std::int32_t>(rng() % 4) - 1;
    h5::write(f, "/entry1/subcells/label", label, {sz, sy, sx});
  }
}

// Writes an archive-like index with n datasets, `clusters` clusters and a
// few failed datasets (cluster -1, NaN embedding, error text).
inline void make_archive_index(const std::string& path, int n, int clusters, int bins, unsigned seed) {
  namespace h5 = aptflow::h5;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> g(0.0, 1.0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto f = h5::File::create(path);
  std::vector<std::string> paths, status, error, alloy, operator_name;
  std::vector<std::int64_t> ions;
  std::vector<std::int32_t> cluster;
  std::vector<double> hydrogen, tsne, pca;
  std::vector<float> spectra(static_cast<std::size_t>(n) * static_cast<std::size_t>(bins));
  for (int i = 0; i < n; ++i) {
    const bool fail = i % 9 == 4;
    const int c = fail ? -1 : static_cast<int>(rng() % static_cast<unsigned>(clusters));
    paths.push_back("runs/R5076_" + std::to_string(1000 + i) + (i % 3 ? ".pos" : ".epos"));
    status.push_back(fail ? "failed" : "ok");
    error.push_back(
        fail ? "POS file 'runs/x.pos': size 1000003 is not a multiple of 16 bytes (truncated?) <&>" : "");
    alloy.push_back(i % 5 == 0 ? "" : (i % 2 ? "AlLiMg" : "CoCrNi"));
    operator_name.push_back("op" + std::to_string(i % 12));  // 12 values: pooled as "other"
    ions.push_back(fail ? 0 : 100000 + static_cast<std::int64_t>(rng() % 900000));
    cluster.push_back(c);
    hydrogen.push_back(fail ? nan : 0.01 * (c + 1) + 0.005 * u(rng));
    tsne.push_back(fail ? nan : 10.0 * c + g(rng));
    tsne.push_back(fail ? nan : 5.0 * c + g(rng));
    for (int k = 0; k < 3; ++k) pca.push_back(fail ? nan : c * (k + 1) + 0.3 * g(rng));
    for (int b = 0; b < bins; ++b)
      spectra[static_cast<std::size_t>(i) * static_cast<std::size_t>(bins) + static_cast<std::size_t>(b)] =
          fail ? 0.f
               : static_cast<float>((b % (7 + c) == 0 ? 100.0 : 1.0) * u(rng) * (b % 11 == 0 ? 0.0 : 1.0));
  }
  h5::write_strings(f, "/datasets/path", paths);
  h5::write_strings(f, "/datasets/status", status);
  h5::write_strings(f, "/datasets/error", error);
  h5::write(f, "/datasets/ions", ions);
  h5::write(f, "/datasets/hydrogen", hydrogen);
  h5::write_strings(f, "/datasets/metadata/alloy", alloy);
  h5::write_strings(f, "/datasets/metadata/operator", operator_name);
  h5::write(f, "/cluster", cluster);
  h5::write(f, "/embedding/tsne", tsne, {static_cast<hsize_t>(n), 2});
  h5::write(f, "/embedding/pca", pca, {static_cast<hsize_t>(n), 3});
  h5::write(f, "/embedding/explained_variance_ratio", std::vector<double>{0.61, 0.22, 0.07});
  h5::write(f, "/spectra", spectra, {static_cast<hsize_t>(n), static_cast<hsize_t>(bins)});
  auto s = h5::open_object(f, "/spectra");
  h5::write_attr(s, "mq_min", 0.5);
  h5::write_attr(s, "bin_width", 0.25);
}

}  // namespace aptflow::test
