// aptflow report for a classify result file (layout: docs/classify.md).
#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "aptflow/core/error.hpp"
#include "aptflow/report/svg.hpp"
#include "report/detail.hpp"

namespace aptflow::report::detail {

namespace {

namespace fs = std::filesystem;

// The size histogram of the ML-APT paper: 32 bins over 0-160 ions per domain.
constexpr int kSizeBins = 32;
constexpr double kSizeMax = 160.0;

struct Context : PageContext {
  std::vector<std::string> classes;

  std::string class_name(std::int64_t c) const {
    return c >= 0 && c < static_cast<std::int64_t>(classes.size()) ? classes[static_cast<std::size_t>(c)]
                                                                   : fmt::format("class {}", c);
  }
};

// Effective configuration (TOML text) or an empty table when absent / unparsable.
toml::table parse_config(const std::string& text) {
  try {
    return toml::parse(text);
  } catch (const toml::parse_error&) {
    return {};
  }
}

std::string toml_string(const toml::table& t, const std::string& key) {
  const auto node = t.at_path(key);
  if (auto s = node.value<std::string>()) return *s;
  if (const auto* a = node.as_array()) {
    std::string out;
    for (const auto& e : *a)
      if (auto s = e.value<std::string>()) out += (out.empty() ? "" : ", ") + *s;
    return out;
  }
  return "";
}

std::vector<double> edges_of(double lo, double hi, int bins) {
  std::vector<double> e(static_cast<std::size_t>(bins) + 1);
  for (int i = 0; i <= bins; ++i) e[static_cast<std::size_t>(i)] = lo + (hi - lo) * i / bins;
  return e;
}

std::vector<double> as_double(const std::vector<std::int64_t>& v) { return {v.begin(), v.end()}; }

// Plot area that keeps the physical aspect ratio of a (rows x cols) slice,
// at most 330 x 400 px (two figures per row in a 1200 px window); figure size = area + margins + colour bar.
void slice_size(double width_nm, double height_nm, int& fw, int& fh) {
  const double s = std::min(330.0 / std::max(width_nm, 1e-9), 400.0 / std::max(height_nm, 1e-9));
  const double aw = std::clamp(width_nm * s, 120.0, 330.0);
  const double ah = std::clamp(height_nm * s, 120.0, 400.0);
  fw = static_cast<int>(std::lround(aw + 76 + 18 + 78));
  fh = static_cast<int>(std::lround(ah + 42 + 58));
}

void summary(Context& cx, const toml::table& cfg, const std::string& cfg_text) {
  const auto& f = cx.f;
  const auto pdims = h5::dims(f, "/entry1/windows/probability");
  const hsize_t nz = pdims[0], ny = pdims[1], nx = pdims[2], nc = pdims[3];
  // Non-empty windows and the arg-max class, one z plane at a time (the map
  // can be large; never read it whole).
  std::int64_t nonempty = 0;
  std::vector<std::int64_t> argmax(nc, 0);
  for (hsize_t z = 0; z < nz; ++z) {
    const auto plane = h5::read_block<float>(f, "/entry1/windows/probability", {z, 0, 0, 0}, {1, ny, nx, nc});
    for (hsize_t w = 0; w < ny * nx; ++w) {
      const float* p = plane.data() + w * nc;
      if (nc == 0 || std::isnan(p[0])) continue;
      ++nonempty;
      hsize_t best = 0;
      for (hsize_t c = 1; c < nc; ++c)
        if (!std::isnan(p[c]) && p[c] > p[best]) best = c;
      ++argmax[best];
    }
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"result file", f.path()});
  const std::string input = toml_string(cfg, "input");
  rows.push_back({"input", input.empty() ? "(not recorded)" : input});
  if (auto r = toml_string(cfg, "range"); !r.empty()) rows.push_back({"range file", r});
  if (auto m = toml_string(cfg, "model"); !m.empty()) rows.push_back({"model", m});
  if (h5::exists(f, "/entry1/ions/class")) {
    const auto d = h5::dims(f, "/entry1/ions/class");
    rows.push_back({"ions", thousands(d.empty() ? 0 : static_cast<std::int64_t>(d[0]))});
  }
  rows.push_back(
      {"windows", fmt::format("{} x {} x {} (z, y, x) = {}; {} non-empty", nz, ny, nx,
                              thousands(static_cast<std::int64_t>(nz * ny * nx)), thousands(nonempty))});
  auto pr = h5::open_object(f, "/entry1/windows/probability");
  if (h5::has_attr(pr, "edge") && h5::has_attr(pr, "stride"))
    rows.push_back(
        {"window edge, stride", fmt::format("{} nm, {} nm", short_num(h5::read_attr_double(pr, "edge")),
                                            short_num(h5::read_attr_double(pr, "stride")))});
  if (h5::has_attr(pr, "variant")) rows.push_back({"window variant", h5::read_attr_string(pr, "variant")});
  std::string cls;
  for (std::size_t c = 0; c < cx.classes.size(); ++c)
    cls += fmt::format("{}{} ({} windows most likely)", c ? ", " : "", cx.classes[c],
                       thousands(c < argmax.size() ? argmax[c] : 0));
  rows.push_back({"classes", cls});
  if (h5::exists(f, "/entry1/domains/id")) {
    const auto dcls = read_doubles_if(f, "/entry1/domains/class");
    std::string per;
    for (std::size_t c = 0; c < cx.classes.size(); ++c) {
      const auto n = std::count(dcls.begin(), dcls.end(), static_cast<double>(c));
      if (n > 0) per += fmt::format("{}{} {}", per.empty() ? "" : ", ", thousands(n), cx.classes[c]);
    }
    rows.push_back({"domains", fmt::format("{}{}", thousands(static_cast<std::int64_t>(dcls.size())),
                                           per.empty() ? "" : " (" + per + ")")});
  }
  // The XDMF sidecar that classify writes next to the result (<stem>.xdmf).
  const auto xdmf = fs::path(f.path()).replace_extension(".xdmf");
  if (fs::exists(xdmf))
    rows.push_back(
        {"ParaView / VisIt", xdmf.filename().string() + " (XDMF next to the result file; docs/report.md)"});
  cx.page.heading("Summary");
  cx.page.table({"", ""}, rows, "summary");
  if (h5::exists(f, "/entry1/profiling/stage") && h5::exists(f, "/entry1/profiling/seconds_max")) {
    const auto st = h5::read_strings(f, "/entry1/profiling/stage");
    const auto sec = h5::read<double>(f, "/entry1/profiling/seconds_max");
    std::vector<std::vector<std::string>> prow;
    for (std::size_t i = 0; i < st.size() && i < sec.size(); ++i)
      prow.push_back({st[i], fmt::format("{:.3f}", sec[i])});
    cx.page.table({"stage", "wall time (s, max over ranks)"}, prow, "profiling");
  }
  if (!cfg_text.empty()) cx.page.pre(cfg_text, "configuration (effective TOML)");
}

void mean_sdm(Context& cx) {
  const auto& f = cx.f;
  cx.page.heading("Mean SDM per class");
  if (!h5::exists(f, "/entry1/windows/mean_sdm") || !h5::exists(f, "/entry1/windows/sdm_bin_centres")) {
    cx.missing(
        "Mean SDM per class: not in this file (/entry1/windows/mean_sdm is written by newer aptflow "
        "classify).");
    return;
  }
  std::vector<hsize_t> shape;
  const auto m = h5::read<double>(f, "/entry1/windows/mean_sdm", &shape);
  const auto centres = h5::read<double>(f, "/entry1/windows/sdm_bin_centres");
  const auto counts = read_doubles_if(f, "/entry1/windows/mean_sdm_count");
  // (classes, bins) for one species pair, (classes, pairs, bins) for several.
  const bool several = shape.size() == 3;
  if ((shape.size() != 2 && !several) || shape.back() != centres.size())
    throw InputError(f.path(),
                     "/entry1/windows/mean_sdm must be (classes, bins) or (classes, pairs, bins) with bins = "
                     "sdm_bin_centres: re-run aptflow classify");
  const hsize_t npairs = several ? shape[1] : 1, bins = shape.back();
  std::vector<std::string> pairs;
  {
    auto ds = h5::open_object(f, "/entry1/windows/mean_sdm");
    if (h5::has_attr(ds, "pair")) {
      std::string all = h5::read_attr_string(ds, "pair"), item;
      std::istringstream in(all);
      while (std::getline(in, item, ',')) pairs.push_back(item.substr(item.find_first_not_of(' ')));
    }
  }
  for (hsize_t pr = 0; pr < npairs; ++pr) {
    const std::string name = pr < pairs.size() ? pairs[pr] : fmt::format("channel {}", pr);
    Plot p(720, 420);
    p.title(several ? fmt::format("Mean window z-SDM per most likely class: {}", name)
                    : std::string("Mean window z-SDM per most likely class"))
        .xlabel("z distance (nm)")
        .ylabel("mean SDM (counts per bin)");
    for (hsize_t c = 0; c < shape[0]; ++c) {
      const double n = c < counts.size() ? counts[c] : kNaN;
      if (n == 0) continue;  // no window of this class: nothing to average
      const auto at = static_cast<std::ptrdiff_t>((c * npairs + pr) * bins);
      std::vector<double> y(m.begin() + at, m.begin() + at + static_cast<std::ptrdiff_t>(bins));
      p.line(centres, y,
             fmt::format("{} (n = {})", cx.class_name(static_cast<std::int64_t>(c)),
                         std::isnan(n) ? std::string("?") : thousands(static_cast<std::int64_t>(n))),
             static_cast<int>(c));
    }
    std::string file = "mean_sdm.svg";
    if (several) {
      std::string safe = name;
      for (auto& ch : safe)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      file = fmt::format("mean_sdm_{}.svg", safe);
    }
    cx.add(
        p, file,
        fmt::format("Mean z-SDM{} of the windows grouped by their most likely class (n = number of windows). "
                    "Ordered structures show lattice-plane peaks at multiples of the plane spacing.",
                    several ? " of pair " + name : std::string()));
  }
}

void probability_slices(Context& cx, const std::vector<int>& matrix) {
  const auto& f = cx.f;
  const std::string path = "/entry1/windows/probability";
  const auto d = h5::dims(f, path);
  const hsize_t nz = d[0], ny = d[1], nx = d[2], nc = d[3];
  auto pr = h5::open_object(f, path);
  std::vector<double> origin{0, 0, 0};
  double edge = 1.0, stride = 0.5;
  if (h5::has_attr(pr, "origin")) origin = h5::read_attr_doubles(pr, "origin");
  if (h5::has_attr(pr, "edge")) edge = h5::read_attr_double(pr, "edge");
  if (h5::has_attr(pr, "stride")) stride = h5::read_attr_double(pr, "stride");
  if (origin.size() != 3) origin.assign(3, 0.0);
  // Cell (i) of a slice is centred on window centre origin + edge/2 + i stride.
  auto lo = [&](int axis) { return origin[static_cast<std::size_t>(axis)] + 0.5 * edge - 0.5 * stride; };
  cx.page.heading("Probability map slices");
  if (nz == 0 || ny == 0 || nx == 0) {
    cx.missing("Probability map: the window grid is empty (no windows fit the dataset).");
    return;
  }
  cx.page.paragraph(fmt::format(
      "Mean ensemble probability of each ordered class per window ({} nm windows every {} nm); grey = empty "
      "window (no ion at its centre). Matrix class(es) not shown: {}.",
      short_num(edge), short_num(stride), [&] {
        std::string s;
        for (int c : matrix) s += (s.empty() ? "" : ", ") + cx.class_name(c);
        return s.empty() ? std::string("none") : s;
      }()));
  const hsize_t iy = ny / 2;
  const auto xz = h5::read_block<float>(f, path, {0, iy, 0, 0}, {nz, 1, nx, nc});
  std::vector<hsize_t> zs;
  for (int k = 1; k <= 3; ++k) zs.push_back(std::min<hsize_t>(nz - 1, nz * static_cast<hsize_t>(k) / 4));
  zs.erase(std::unique(zs.begin(), zs.end()), zs.end());
  std::vector<std::vector<float>> xy;
  for (hsize_t z : zs) xy.push_back(h5::read_block<float>(f, path, {z, 0, 0, 0}, {1, ny, nx, nc}));

  for (hsize_t c = 0; c < nc; ++c) {
    if (std::find(matrix.begin(), matrix.end(), static_cast<int>(c)) != matrix.end()) continue;
    const std::string name = cx.class_name(static_cast<std::int64_t>(c));
    std::string safe;
    for (char ch : name) safe += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    {
      std::vector<double> v(nz * nx);
      for (hsize_t z = 0; z < nz; ++z)
        for (hsize_t x = 0; x < nx; ++x) v[z * nx + x] = xz[(z * nx + x) * nc + c];
      int fw, fh;
      slice_size(nx * stride, nz * stride, fw, fh);
      Plot p(fw, fh);
      const double ycentre = origin[1] + 0.5 * edge + static_cast<double>(iy) * stride;
      p.title(fmt::format("P({}), xz slice at y = {} nm", name, short_num(ycentre)))
          .xlabel("x (nm)")
          .ylabel("z (nm)")
          .heatmap(v, static_cast<std::int64_t>(nz), static_cast<std::int64_t>(nx), lo(0),
                   lo(0) + static_cast<double>(nx) * stride, lo(2), lo(2) + static_cast<double>(nz) * stride,
                   0.0, 1.0, fmt::format("P({})", name));
      cx.add(p, fmt::format("prob_{}_{}_xz.svg", c, safe),
             fmt::format("Probability of {} in the central xz plane (window row y index {} of {}).", name, iy,
                         ny));
    }
    for (std::size_t k = 0; k < zs.size(); ++k) {
      std::vector<double> v(ny * nx);
      for (hsize_t i = 0; i < ny * nx; ++i) v[i] = xy[k][i * nc + c];
      int fw, fh;
      slice_size(nx * stride, ny * stride, fw, fh);
      Plot p(fw, fh);
      const double zc = origin[2] + 0.5 * edge + static_cast<double>(zs[k]) * stride;
      p.title(fmt::format("P({}), xy slice at z = {} nm", name, short_num(zc)))
          .xlabel("x (nm)")
          .ylabel("y (nm)")
          .heatmap(v, static_cast<std::int64_t>(ny), static_cast<std::int64_t>(nx), lo(0),
                   lo(0) + static_cast<double>(nx) * stride, lo(1), lo(1) + static_cast<double>(ny) * stride,
                   0.0, 1.0, fmt::format("P({})", name));
      cx.add(p, fmt::format("prob_{}_{}_xy{}.svg", c, safe, k),
             fmt::format("Probability of {} in the xy plane at window index z = {} of {}.", name, zs[k], nz));
    }
  }
}

void domains(Context& cx) {
  const auto& f = cx.f;
  cx.page.heading("Domains");
  if (!h5::exists(f, "/entry1/domains/ions")) {
    cx.missing("Domains: not in this file (/entry1/domains).");
    return;
  }
  const auto ions = h5::read<double>(f, "/entry1/domains/ions");
  const auto radius = read_doubles_if(f, "/entry1/domains/radius");
  auto dcls = read_doubles_if(f, "/entry1/domains/class");
  if (dcls.size() != ions.size()) dcls.assign(ions.size(), 0.0);
  if (ions.empty()) {
    cx.page.paragraph("No domains were found.");
    return;
  }
  std::set<double> present(dcls.begin(), dcls.end());
  const auto size_edges = edges_of(0, kSizeMax, kSizeBins);
  Plot hs(560, 380);
  hs.title("Domain size distribution").xlabel("ions per domain").ylabel("domains");
  std::int64_t over = 0;
  for (double c : present) {
    std::vector<double> v;
    for (std::size_t i = 0; i < ions.size(); ++i)
      if (dcls[i] == c) v.push_back(ions[i]), over += ions[i] > kSizeMax;
    hs.bars(size_edges, as_double(histogram(v, 0, kSizeMax, kSizeBins)),
            present.size() > 1 ? cx.class_name(static_cast<std::int64_t>(c)) : "", static_cast<int>(c));
  }
  cx.add(hs, "domain_sizes.svg",
         fmt::format("Domain sizes in {} bins of {} ions over 0-{} ions (as in the ML-APT paper); {} of {} "
                     "domains are larger and not shown.",
                     kSizeBins, kSizeMax / kSizeBins, kSizeMax, over, ions.size()));
  if (radius.size() == ions.size()) {
    double rmax = 0;
    for (double r : radius)
      if (std::isfinite(r)) rmax = std::max(rmax, r);
    rmax = std::max(0.5, std::ceil(rmax * 2.0 + 1e-9) / 2.0);
    const int bins = 30;
    Plot hr(560, 380);
    hr.title("Domain equivalent radius").xlabel("equivalent sphere radius (nm)").ylabel("domains");
    for (double c : present) {
      std::vector<double> v;
      for (std::size_t i = 0; i < radius.size(); ++i)
        if (dcls[i] == c) v.push_back(radius[i]);
      hr.bars(edges_of(0, rmax, bins), as_double(histogram(v, 0, rmax, bins)),
              present.size() > 1 ? cx.class_name(static_cast<std::int64_t>(c)) : "", static_cast<int>(c));
    }
    cx.add(hr, "domain_radius.svg",
           fmt::format("Radius of the sphere with the domain volume, {} bins over 0-{} nm.", bins,
                       short_num(rmax)));
  } else {
    cx.missing("Domain radius: /entry1/domains/radius is not in this file.");
  }
}

std::string values_text(const std::vector<double>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < 12; ++i) s += (i ? ", " : "") + short_num(v[i]);
  if (v.size() > 12) s += fmt::format(", ... ({} values)", v.size());
  return s;
}

void control(Context& cx) {
  const auto& f = cx.f;
  cx.page.heading("Shuffled-m/q control");
  if (!h5::exists(f, "/entry1/control/size_histogram")) {
    cx.missing(
        "Shuffled-m/q control: not in this file (/entry1/control; run classify with the control enabled).");
    return;
  }
  std::vector<hsize_t> shape;
  const auto h = h5::read<double>(f, "/entry1/control/size_histogram", &shape);
  if (shape.size() != 2 || shape[0] < 1)
    throw InputError(f.path(),
                     "/entry1/control/size_histogram must be (runs, bins) with run 0 the real data: "
                     "re-run aptflow classify");
  const hsize_t runs = shape[0], bins = shape[1];
  if (runs < 2) {
    cx.missing(
        "Shuffled-m/q control: this run has no shuffled runs (aptflow classify --shuffle-mq N adds them).");
    return;
  }
  // Bin edges: attr bin_edges when the writer recorded them, else lo / hi
  // (classify writes them), else the paper's 0-160 ions.
  auto edges = edges_of(0, kSizeMax, static_cast<int>(bins));
  std::string overflow;
  {
    auto ds = h5::open_object(f, "/entry1/control/size_histogram");
    if (h5::has_attr(ds, "lo") && h5::has_attr(ds, "hi")) {
      const auto lo = h5::read_attr_doubles(ds, "lo"), hi = h5::read_attr_doubles(ds, "hi");
      if (lo.size() == 1 && hi.size() == 1 && hi[0] > lo[0])
        edges = edges_of(lo[0], hi[0], static_cast<int>(bins));
    }
    if (h5::has_attr(ds, "bin_edges")) {
      const auto e = h5::read_attr_doubles(ds, "bin_edges");
      if (e.size() == bins + 1) edges = e;
    }
    if (h5::has_attr(ds, "overflow")) overflow = h5::read_attr_string(ds, "overflow");
  }
  std::vector<double> centres(bins), real(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(bins)),
      mean(bins, 0.0);
  for (hsize_t b = 0; b < bins; ++b) centres[b] = 0.5 * (edges[b] + edges[b + 1]);
  Plot p(640, 400);
  p.title("Domain sizes: real vs shuffled m/q").xlabel("ions per domain").ylabel("domains");
  p.bars(edges, real, "real data", 0);
  for (hsize_t r = 1; r < runs; ++r)
    for (hsize_t b = 0; b < bins; ++b) mean[b] += h[r * bins + b] / static_cast<double>(runs - 1);
  p.line(centres, mean, fmt::format("shuffled m/q (mean of {})", runs - 1), 5, true);
  cx.add(
      p, "control_sizes.svg",
      std::string("Domain size histogram of the real run (bars) and of the runs with shuffled mass-to-charge "
                  "labels (dashed: their mean). Random labels should give few, small domains.") +
          (overflow == "last_bin" ? " Domains larger than the last edge are counted in the last bin (as the "
                                    "published analysis)."
                                  : ""));
  std::vector<std::vector<std::string>> rows;
  const std::pair<const char*, const char*> stats[] = {
      {"pearson_r", "Pearson r of the bin counts (aptflow and published)"},
      {"chi2", "chi2, 2 x K homogeneity test (aptflow)"},
      {"contingency", "contingency C = sqrt(chi2 / (chi2 + N)) (aptflow)"},
      {"chi2_published", "chi2 of real against shuffled over the bins with shuffled >= 1 (published)"},
      {"contingency_published", "cq = sqrt(chi2 / (chi2 + mean total)) (published)"}};
  for (const auto& [k, what] : stats) {
    const std::string path = std::string("/entry1/control/") + k;
    if (!h5::exists(f, path) && std::string(k).find("published") != std::string::npos) continue;
    rows.push_back(
        {k, h5::exists(f, path) ? values_text(h5::read<double>(f, path)) : "(not in this file)", what});
  }
  cx.page.table({"statistic (real vs shuffled)", "value(s)", "definition"}, rows, "control");
}

void truth(Context& cx) {
  const auto& f = cx.f;
  cx.page.heading("Comparison with ground truth");
  if (!h5::exists(f, "/entry1/truth")) {
    cx.missing(
        "Ground truth: not in this file (/entry1/truth is written when classify is given a synthetic "
        "specimen's truth file).");
    return;
  }
  auto names = read_strings_if(f, "/entry1/truth/class_names");
  const auto prec = read_doubles_if(f, "/entry1/truth/precision");
  const auto rec = read_doubles_if(f, "/entry1/truth/recall");
  const auto f1 = read_doubles_if(f, "/entry1/truth/f1");
  const std::size_t n = std::max({prec.size(), rec.size(), f1.size()});
  for (std::size_t i = names.size(); i < n; ++i) names.push_back(fmt::format("class {}", i));
  auto at = [](const std::vector<double>& v, std::size_t i) { return i < v.size() ? v[i] : kNaN; };
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < n; ++i)
    rows.push_back({names[i], short_num(at(prec, i)), short_num(at(rec, i)), short_num(at(f1, i))});
  cx.page.table({"class (ions)", "precision", "recall", "F1"}, rows, "truth_scores");
  if (n > 0) {
    Plot p(std::max(420, 160 + static_cast<int>(n) * 90), 380);
    p.title("Per-ion scores against ground truth").ylabel("score").ylim(0, 1.05);
    const char* metric[] = {"precision", "recall", "F1"};
    const std::vector<double>* vals[] = {&prec, &rec, &f1};
    for (int m = 0; m < 3; ++m) {
      // Bar of class i: [i - 0.36 + 0.24 m, + 0.24); the gaps between
      // classes are bars of NaN height (not drawn).
      std::vector<double> edges, heights;
      for (std::size_t i = 0; i < n; ++i) {
        const double x0 = static_cast<double>(i) - 0.36 + 0.24 * m;
        if (i > 0) heights.push_back(kNaN);
        edges.push_back(x0);
        edges.push_back(x0 + 0.24);
        heights.push_back(at(*vals[m], i));
      }
      p.bars(edges, heights, metric[m], m);
    }
    std::vector<double> pos;
    for (std::size_t i = 0; i < n; ++i) pos.push_back(static_cast<double>(i));
    p.xlim(-0.6, static_cast<double>(n) - 0.4).xticks(pos, names);
    cx.add(p, "truth_scores.svg",
           "Precision, recall and F1 of the ion labels per class against the ground truth.");
  }
  std::vector<std::vector<std::string>> drow;
  auto scalar = [&](const char* k, bool integer) {
    const std::string path = std::string("/entry1/truth/") + k;
    if (!h5::exists(f, path)) return std::string("(not in this file)");
    const double v = read_scalar(f, path);
    return integer && std::isfinite(v) ? thousands(static_cast<std::int64_t>(std::llround(v))) : short_num(v);
  };
  drow.push_back({"true domains", scalar("true_domains", true)});
  drow.push_back({"detected domains", scalar("detected_domains", true)});
  drow.push_back({"matched domains", scalar("matched_domains", true)});
  drow.push_back({"true mean radius (nm)", scalar("true_mean_radius", false)});
  drow.push_back({"detected mean radius (nm)", scalar("detected_mean_radius", false)});
  drow.push_back({"radius error (nm)", scalar("radius_error", false)});
  cx.page.table({"domains", "value"}, drow, "truth_domains");
}

}  // namespace

ReportResult write_classify(const h5::File& f, const std::string& out_dir) {
  Context cx{{f, out_dir, {}, Page("")}, {}};
  cx.result.kind = ReportKind::classify;
  auto pr = h5::open_object(f, "/entry1/windows/probability");
  const auto d = h5::dims(f, "/entry1/windows/probability");
  if (d.size() != 4)
    throw InputError(f.path(),
                     "/entry1/windows/probability must be (nz, ny, nx, classes): re-run aptflow classify");
  if (h5::has_attr(pr, "class_names")) cx.classes = h5::read_attr_strings(pr, "class_names");
  for (std::size_t c = cx.classes.size(); c < d[3]; ++c) cx.classes.push_back(fmt::format("class {}", c));

  std::string cfg_text;
  if (h5::exists(f, "/entry1/config")) {
    const auto s = h5::read_strings(f, "/entry1/config");
    if (!s.empty()) cfg_text = s[0];
  }
  const auto cfg = parse_config(cfg_text);
  // Matrix classes: those never labelled (threshold inf; docs/segmentation.md).
  // Both default threshold sets have inf for class 0 only.
  std::vector<int> matrix;
  if (const auto* th = cfg.at_path("segment.thresholds").as_array()) {
    for (std::size_t c = 0; c < th->size(); ++c)
      if (auto v = (*th)[c].value<double>(); v && std::isinf(*v)) matrix.push_back(static_cast<int>(c));
  } else if (d[3] > 1) {
    matrix.push_back(0);
  }

  cx.page = Page("aptflow classify report: " + fs::path(f.path()).filename().string());
  summary(cx, cfg, cfg_text);
  mean_sdm(cx);
  probability_slices(cx, matrix);
  domains(cx);
  control(cx);
  truth(cx);

  cx.result.index_html = (fs::path(out_dir) / "index.html").string();
  std::ofstream o(cx.result.index_html, std::ios::binary);
  o << cx.page.html();
  if (!o) throw ResourceError(fmt::format("cannot write '{}' (disk full?)", cx.result.index_html));
  return cx.result;
}

}  // namespace aptflow::report::detail
