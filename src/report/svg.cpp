// SVG plotting for the reports (include/aptflow/report/svg.hpp).
#include "aptflow/report/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>

#include "aptflow/core/error.hpp"

namespace aptflow::report {

namespace {

// Viridis at t = 0, 0.1, ..., 1 (matplotlib's colormap, van der Walt & Smith 2015).
constexpr std::array<std::array<int, 3>, 11> kViridis = {{{0x44, 0x01, 0x54},
                                                          {0x48, 0x24, 0x75},
                                                          {0x41, 0x44, 0x87},
                                                          {0x35, 0x5f, 0x8d},
                                                          {0x2a, 0x78, 0x8e},
                                                          {0x21, 0x91, 0x8c},
                                                          {0x22, 0xa8, 0x84},
                                                          {0x44, 0xbf, 0x70},
                                                          {0x7a, 0xd1, 0x51},
                                                          {0xbd, 0xdf, 0x26},
                                                          {0xfd, 0xe7, 0x25}}};

// Okabe-Ito, ordered so the first colours differ most on white (yellow last
// but one: weak on white).
constexpr std::array<const char*, 8> kOkabeIto = {"#0072b2", "#e69f00", "#009e73", "#cc79a7",
                                                  "#56b4e9", "#d55e00", "#f0e442", "#000000"};

constexpr double kLeft = 76, kTop = 42, kBottom = 58, kRight = 18;
constexpr double kColourbar = 78;  // colour bar strip + its tick labels
constexpr const char* kFont = "DejaVu Sans, Verdana, sans-serif";

std::string num(double v) { return fmt::format("{:.2f}", v); }
std::string val(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : std::string(); }

void pad_range(double& lo, double& hi, double frac) {
  if (!(lo <= hi)) lo = 0, hi = 1;  // no data
  if (hi - lo <= 0) {
    const double d = std::abs(lo) > 0 ? 0.1 * std::abs(lo) : 0.5;
    lo -= d, hi += d;
    return;
  }
  const double p = (hi - lo) * frac;
  lo -= p, hi += p;
}

std::string truncate_label(const std::string& s, std::size_t n = 32) {
  if (s.size() <= n) return s;
  return s.substr(0, n - 3) + "...";
}

}  // namespace

Rgb viridis(double t) {
  if (std::isnan(t) || t < 0) t = 0;
  if (t > 1) t = 1;
  const double s = t * 10.0;
  const int i = std::min(static_cast<int>(s), 9);
  const double f = s - i;
  Rgb c;
  auto mix = [&](int k) {
    return static_cast<std::uint8_t>(std::lround(kViridis[i][k] + f * (kViridis[i + 1][k] - kViridis[i][k])));
  };
  c.r = mix(0), c.g = mix(1), c.b = mix(2);
  return c;
}

std::string hex(Rgb c) { return fmt::format("#{:02x}{:02x}{:02x}", c.r, c.g, c.b); }

std::string category_colour(std::size_t i) { return kOkabeIto[i % kOkabeIto.size()]; }

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) return {lo};
  target = std::max(target, 2);
  const double raw = (hi - lo) / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  // Steps 1, 2, 5 x 10^k; walk down until at least two ticks fit.
  static constexpr double kSteps[] = {1, 2, 5, 10};
  int k = norm < 1.5 ? 0 : norm < 3 ? 1 : norm < 7 ? 2 : 3;
  for (;;) {
    const double step = kSteps[k] * mag;
    const double eps = step * 1e-9;
    const double first = std::ceil((lo - eps) / step);
    const double last = std::floor((hi + eps) / step);
    if (last - first >= 1) {
      std::vector<double> t;
      for (double m = first; m <= last; m += 1) {
        double v = m * step;
        if (std::abs(v) < eps) v = 0;
        t.push_back(v);
      }
      return t;
    }
    if (k == 0) {
      k = 3;
      mag /= 10;
    } else {
      --k;
    }
  }
}

std::string format_tick(double v, double step) {
  int dec = 0;
  if (step > 0 && std::isfinite(step)) {
    // Decimals so that the step is exact: 0.25 -> 2, 0.5 -> 1, 2 -> 0.
    for (dec = 0; dec < 10; ++dec) {
      const double s = step * std::pow(10.0, dec);
      if (std::abs(s - std::round(s)) < 1e-6 * std::max(1.0, s)) break;
    }
  }
  if (step > 0 && std::abs(v) < 1e-9 * step) v = 0;  // rounding residue of a zero tick
  const double a = std::abs(v);
  if (a != 0 && (a >= 1e6 || a < 1e-4)) return fmt::format("{:.3g}", v);
  std::string s = fmt::format("{:.{}f}", v, dec);
  if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s.erase(0, 1);  // "-0"
  return s;
}

std::vector<std::int64_t> histogram(const std::vector<double>& values, double lo, double hi, int bins) {
  std::vector<std::int64_t> h(static_cast<std::size_t>(std::max(bins, 0)), 0);
  if (bins <= 0 || !(hi > lo)) return h;
  // Edge i is lo + (hi - lo) * i / bins, exactly as the bars are drawn.
  auto edge = [&](std::int64_t i) { return lo + (hi - lo) * static_cast<double>(i) / bins; };
  for (double v : values) {
    if (!std::isfinite(v) || v < lo || v > hi) continue;
    auto i = static_cast<std::int64_t>(std::floor((v - lo) / (hi - lo) * bins));
    // Rounding near an edge: move to the bin whose half-open interval holds v.
    while (i > 0 && v < edge(i)) --i;
    while (i < bins - 1 && v >= edge(i + 1)) ++i;
    i = std::clamp<std::int64_t>(i, 0, bins - 1);
    ++h[static_cast<std::size_t>(i)];
  }
  return h;
}

std::string xml_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&apos;";
        break;
      default:
        // Control characters are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r')
          o += ' ';
        else
          o += c;
    }
  }
  return o;
}

Plot::Plot(int width, int height) : width_(width), height_(height) {}
Plot& Plot::title(std::string t) { return title_ = std::move(t), *this; }
Plot& Plot::xlabel(std::string t) { return xlabel_ = std::move(t), *this; }
Plot& Plot::ylabel(std::string t) { return ylabel_ = std::move(t), *this; }
Plot& Plot::xlim(double lo, double hi) {
  xlim_set_ = true, xlo_ = lo, xhi_ = hi;
  return *this;
}
Plot& Plot::ylim(double lo, double hi) {
  ylim_set_ = true, ylo_ = lo, yhi_ = hi;
  return *this;
}
Plot& Plot::log_y(bool on) { return log_y_ = on, *this; }
Plot& Plot::xticks(const std::vector<double>& positions, const std::vector<std::string>& labels) {
  if (positions.size() != labels.size())
    throw InternalError("report::Plot::xticks: positions and labels differ");
  xtick_pos_ = positions, xtick_labels_ = labels;
  return *this;
}

Plot& Plot::line(const std::vector<double>& x, const std::vector<double>& y, const std::string& label,
                 int colour, bool dashed) {
  if (x.size() != y.size()) throw InternalError("report::Plot::line: x and y differ in length");
  Series s{Series::line, x, y, {}, label, category_colour(colour < 0 ? next_colour_++ : colour), dashed};
  series_.push_back(std::move(s));
  return *this;
}

Plot& Plot::bars(const std::vector<double>& edges, const std::vector<double>& heights,
                 const std::string& label, int colour) {
  if (edges.size() != heights.size() + 1) throw InternalError("report::Plot::bars: need heights + 1 edges");
  Series s{Series::bars, edges, heights, {}, label, category_colour(colour < 0 ? next_colour_++ : colour)};
  series_.push_back(std::move(s));
  return *this;
}

Plot& Plot::scatter(const std::vector<double>& x, const std::vector<double>& y,
                    const std::vector<int>& category, const std::vector<std::string>& names,
                    const std::string& none_label, double radius) {
  if (x.size() != y.size() || category.size() != x.size())
    throw InternalError("report::Plot::scatter: x, y and category differ in length");
  Series s{Series::scatter, x, y, category, none_label, ""};
  s.radius = radius;
  // Legend: names (colour by index) in the label list, stored in colour field joined.
  series_.push_back(std::move(s));
  scatter_names_.push_back(names);
  return *this;
}

Plot& Plot::heatmap(const std::vector<double>& values, std::int64_t rows, std::int64_t cols, double x0,
                    double x1, double y0, double y1, double vmin, double vmax,
                    const std::string& colourbar_label, std::int64_t max_cells) {
  if (rows < 0 || cols < 0 || static_cast<std::int64_t>(values.size()) != rows * cols)
    throw InternalError("report::Plot::heatmap: values must hold rows x cols entries");
  Heat h;
  const std::int64_t br = rows > max_cells ? (rows + max_cells - 1) / max_cells : 1;
  const std::int64_t bc = cols > max_cells ? (cols + max_cells - 1) / max_cells : 1;
  h.rows = (rows + br - 1) / br;
  h.cols = (cols + bc - 1) / bc;
  h.v.assign(static_cast<std::size_t>(h.rows * h.cols), std::numeric_limits<double>::quiet_NaN());
  for (std::int64_t r = 0; r < h.rows; ++r)
    for (std::int64_t c = 0; c < h.cols; ++c) {
      double sum = 0;
      std::int64_t n = 0;
      for (std::int64_t i = r * br; i < std::min(rows, (r + 1) * br); ++i)
        for (std::int64_t j = c * bc; j < std::min(cols, (c + 1) * bc); ++j) {
          const double v = values[static_cast<std::size_t>(i * cols + j)];
          if (std::isfinite(v)) sum += v, ++n;
        }
      if (n > 0) h.v[static_cast<std::size_t>(r * h.cols + c)] = sum / static_cast<double>(n);
    }
  const double dx = cols > 0 ? (x1 - x0) / static_cast<double>(cols) : 0;
  const double dy = rows > 0 ? (y1 - y0) / static_cast<double>(rows) : 0;
  h.x0 = x0, h.y0 = y0;
  h.x1 = x0 + dx * static_cast<double>(h.cols * bc);
  h.y1 = y0 + dy * static_cast<double>(h.rows * br);
  h.vmin = vmin, h.vmax = vmax, h.label = colourbar_label;
  heat_.assign(1, std::move(h));
  return *this;
}

std::vector<Plot::LegendEntry> Plot::legend() const {
  std::vector<LegendEntry> out;
  std::size_t k = 0;
  for (const auto& s : series_) {
    if (s.kind == Series::scatter) {
      const auto& names = scatter_names_[k++];
      // Categories of the points that are drawn (finite x and y).
      std::set<int> used;
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && (!log_y_ || s.y[i] > 0))
          used.insert(s.category[i]);
      for (std::size_t i = 0; i < names.size(); ++i)
        if (used.count(static_cast<int>(i))) out.push_back({names[i], category_colour(i), true});
      if (used.count(-1) || (!used.empty() && *used.begin() < -1)) out.push_back({s.label, nan_colour, true});
    } else if (!s.label.empty()) {
      out.push_back({s.label, s.colour, false});
    }
  }
  return out;
}

double Plot::legend_width() const {
  std::size_t longest = 0;
  for (const auto& e : legend()) longest = std::max(longest, truncate_label(e.label).size());
  return longest == 0 ? 0.0 : 34.0 + 6.8 * static_cast<double>(longest);
}

Rect Plot::area() const {
  const double right = kRight + legend_width() + (heat_.empty() ? 0.0 : kColourbar);
  Rect r;
  r.x = kLeft;
  r.y = kTop;
  r.w = std::max(40.0, width_ - kLeft - right);
  r.h = std::max(40.0, height_ - kTop - kBottom);
  return r;
}

void Plot::limits(double& xmin, double& xmax, double& ymin, double& ymax) const {
  const double inf = std::numeric_limits<double>::infinity();
  double xl = inf, xh = -inf, yl = inf, yh = -inf;
  bool x_exact = false, y_zero = false;
  // NaN stays NaN; log axis: y <= 0 -> -inf (not drawn). No comparison
  // with NaN (the tests trap FE_INVALID).
  auto ty = [&](double y) { return log_y_ && !std::isnan(y) ? (y > 0 ? std::log10(y) : -inf) : y; };
  for (const auto& s : series_) {
    if (s.kind == Series::bars) {
      for (double e : s.x)
        if (std::isfinite(e)) xl = std::min(xl, e), xh = std::max(xh, e), x_exact = true;
      for (double h : s.y) {
        const double t = ty(h);
        if (std::isfinite(t)) yl = std::min(yl, t), yh = std::max(yh, t);
      }
      if (!log_y_) yl = std::min(yl, 0.0), y_zero = true;
    } else {
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        const double t = ty(s.y[i]);
        if (!std::isfinite(s.x[i]) || !std::isfinite(t)) continue;
        xl = std::min(xl, s.x[i]), xh = std::max(xh, s.x[i]);
        yl = std::min(yl, t), yh = std::max(yh, t);
      }
    }
  }
  for (const auto& h : heat_) {
    xl = std::min(xl, h.x0), xh = std::max(xh, h.x1), yl = std::min(yl, h.y0), yh = std::max(yh, h.y1);
    x_exact = true;
  }
  if (!heat_.empty() && series_.empty()) {
    xmin = xl, xmax = xh, ymin = yl, ymax = yh;
  } else {
    if (x_exact && xl < xh) {
      xmin = xl, xmax = xh;
    } else {
      xmin = xl, xmax = xh;
      pad_range(xmin, xmax, 0.04);
    }
    ymin = yl, ymax = yh;
    if (log_y_) {
      if (!(ymin <= ymax)) ymin = 0, ymax = 1;
      ymin = std::floor(ymin), ymax = std::ceil(ymax);
      if (ymax <= ymin) ymax = ymin + 1;
    } else if (y_zero && ymin == 0 && ymax > 0) {
      ymax += 0.05 * ymax;
    } else {
      pad_range(ymin, ymax, 0.04);
    }
  }
  if (xlim_set_) xmin = xlo_, xmax = xhi_;
  if (ylim_set_) {
    ymin = log_y_ ? std::log10(ylo_) : ylo_;
    ymax = log_y_ ? std::log10(yhi_) : yhi_;
  }
  if (!(xmax > xmin)) pad_range(xmin, xmax, 0.04);
  if (!(ymax > ymin)) pad_range(ymin, ymax, 0.04);
}

std::string Plot::svg() const {
  const Rect a = area();
  double xmin, xmax, ymin, ymax;
  limits(xmin, xmax, ymin, ymax);
  auto px = [&](double x) { return a.x + (x - xmin) / (xmax - xmin) * a.w; };
  auto py = [&](double y) { return a.y + a.h - (y - ymin) / (ymax - ymin) * a.h; };
  auto ty = [&](double y) {
    return log_y_ && !std::isnan(y) ? (y > 0 ? std::log10(y) : -std::numeric_limits<double>::infinity()) : y;
  };

  std::string o;
  o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"{2}\" font-size=\"12\">\n",
      width_, height_, kFont);
  o += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", width_, height_);
  if (!title_.empty())
    o += fmt::format(
        "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
        num(width_ / 2.0), xml_escape(title_));
  o += fmt::format(
      "<defs><clipPath id=\"area\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath></defs>\n",
      num(a.x), num(a.y), num(a.w), num(a.h));

  // Grid lines and ticks.
  std::vector<double> xt = nice_ticks(xmin, xmax, std::max(3, static_cast<int>(a.w / 90)));
  if (!xtick_pos_.empty()) xt = xtick_pos_;
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1.0;
  std::vector<double> yt;
  double ystep = 1.0;
  if (log_y_) {
    const int span = static_cast<int>(std::round(ymax - ymin));
    const int every = std::max(1, span / 8 + (span % 8 != 0 && span > 8 ? 1 : 0));
    for (double d = std::ceil(ymin); d <= ymax + 1e-9; d += every) yt.push_back(d);
  } else {
    yt = nice_ticks(ymin, ymax, std::max(3, static_cast<int>(a.h / 60)));
    ystep = yt.size() > 1 ? yt[1] - yt[0] : 1.0;
  }
  o += "<g class=\"grid\" stroke=\"#e6e6e6\" stroke-width=\"1\">\n";
  for (double t : xt)
    o += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", num(px(t)), num(a.y),
                     num(a.y + a.h));
  for (double t : yt)
    o += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\"/>\n", num(py(t)), num(a.x),
                     num(a.x + a.w));
  o += "</g>\n";

  // Heatmap cells.
  for (const auto& h : heat_) {
    o += "<g class=\"heatmap\" shape-rendering=\"crispEdges\" clip-path=\"url(#area)\">\n";
    const double dx = (h.x1 - h.x0) / static_cast<double>(std::max<std::int64_t>(h.cols, 1));
    const double dy = (h.y1 - h.y0) / static_cast<double>(std::max<std::int64_t>(h.rows, 1));
    const double span = h.vmax > h.vmin ? h.vmax - h.vmin : 1.0;
    for (std::int64_t r = 0; r < h.rows; ++r)
      for (std::int64_t c = 0; c < h.cols; ++c) {
        const double v = h.v[static_cast<std::size_t>(r * h.cols + c)];
        const double X0 = px(h.x0 + static_cast<double>(c) * dx),
                     X1 = px(h.x0 + static_cast<double>(c + 1) * dx);
        const double Y0 = py(h.y0 + static_cast<double>(r + 1) * dy),
                     Y1 = py(h.y0 + static_cast<double>(r) * dy);
        const std::string fill = std::isfinite(v) ? hex(viridis((v - h.vmin) / span)) : nan_colour;
        o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" data-v=\"{}\"/>\n",
                         num(X0), num(Y0), num(X1 - X0 + 0.3), num(Y1 - Y0 + 0.3), fill, val(v));
      }
    o += "</g>\n";
  }

  // Data series.
  std::size_t scatter_k = 0;
  for (const auto& s : series_) {
    if (s.kind == Series::bars) {
      o += fmt::format(
          "<g class=\"bars\" fill=\"{}\" fill-opacity=\"0.75\" stroke=\"#333333\" stroke-width=\"0.5\" "
          "clip-path=\"url(#area)\">\n",
          s.colour);
      const double base = log_y_ ? ymin : std::max(ymin, 0.0);
      for (std::size_t i = 0; i + 1 < s.x.size(); ++i) {
        const double t = ty(s.y[i]);
        if (!std::isfinite(t)) continue;  // NaN (gap) or <= 0 on a log axis
        const double X0 = px(s.x[i]), X1 = px(s.x[i + 1]);
        const double top = py(t);
        const double bot = py(base);
        o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" data-count=\"{}\"/>\n",
                         num(std::min(X0, X1)), num(std::min(top, bot)), num(std::abs(X1 - X0)),
                         num(std::abs(bot - top)), val(s.y[i]));
      }
      o += "</g>\n";
    } else if (s.kind == Series::line) {
      // Break the line at non-finite points: one polyline per finite run.
      std::string values;
      for (std::size_t i = 0; i < s.y.size(); ++i) values += (i ? "," : "") + val(s.y[i]);
      o += fmt::format("<g class=\"line\" data-label=\"{}\" data-y=\"{}\">\n", xml_escape(s.label), values);
      std::string pts;
      auto flush = [&] {
        if (!pts.empty())
          o += fmt::format(
              "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\" stroke-linejoin=\"round\"{} "
              "clip-path=\"url(#area)\" points=\"{}\"/>\n",
              s.colour, s.dashed ? " stroke-dasharray=\"6 4\"" : "", pts);
        pts.clear();
      };
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        const double t = ty(s.y[i]);
        if (!std::isfinite(s.x[i]) || !std::isfinite(t)) {
          flush();
          continue;
        }
        pts += fmt::format("{}{},{}", pts.empty() ? "" : " ", num(px(s.x[i])), num(py(t)));
      }
      flush();
      o += "</g>\n";
    } else {
      o += "<g class=\"scatter\" stroke=\"#ffffff\" stroke-width=\"0.4\" clip-path=\"url(#area)\">\n";
      (void)scatter_names_[scatter_k++];
      // Grey ("none") points first so coloured ones stay on top.
      for (int pass = 0; pass < 2; ++pass)
        for (std::size_t i = 0; i < s.x.size(); ++i) {
          const bool none = s.category[i] < 0;
          if ((pass == 0) != none) continue;
          const double t = ty(s.y[i]);
          if (!std::isfinite(s.x[i]) || !std::isfinite(t)) continue;
          o += fmt::format(
              "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\" data-c=\"{}\"/>\n", num(px(s.x[i])),
              num(py(t)), num(s.radius),
              none ? std::string(nan_colour) : category_colour(static_cast<std::size_t>(s.category[i])),
              s.category[i]);
        }
      o += "</g>\n";
    }
  }

  // Axes frame, tick labels, axis labels.
  o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333333\"/>\n",
                   num(a.x), num(a.y), num(a.w), num(a.h));
  o += "<g class=\"ticks\" stroke=\"#333333\">\n";
  for (double t : xt)
    o += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", num(px(t)), num(a.y + a.h),
                     num(a.y + a.h + 5));
  for (double t : yt)
    o += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\"/>\n", num(py(t)), num(a.x - 5),
                     num(a.x));
  o += "</g>\n<g class=\"tick-labels\" font-size=\"11\" fill=\"#222222\">\n";
  for (std::size_t i = 0; i < xt.size(); ++i)
    o += fmt::format(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", num(px(xt[i])), num(a.y + a.h + 18),
        xtick_pos_.empty() ? format_tick(xt[i], xstep) : xml_escape(truncate_label(xtick_labels_[i], 14)));
  for (double t : yt) {
    if (log_y_)
      o += fmt::format(
          "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">10<tspan dy=\"-5\" "
          "font-size=\"9\">{}</tspan></text>\n",
          num(a.x - 8), num(py(t) + 4), format_tick(t, 1.0));
    else
      o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", num(a.x - 8),
                       num(py(t) + 4), format_tick(t, ystep));
  }
  o += "</g>\n";
  if (!xlabel_.empty())
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n",
                     num(a.x + a.w / 2), num(a.y + a.h + 42), xml_escape(xlabel_));
  if (!ylabel_.empty())
    o += fmt::format(
        "<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 {0} "
        "{1})\">{2}</text>\n",
        num(18), num(a.y + a.h / 2), xml_escape(ylabel_));

  // Colour bar.
  double next_x = a.x + a.w + 14;
  for (const auto& h : heat_) {
    const double bx = next_x, bw = 16;
    constexpr int kSteps = 64;
    o += "<g class=\"colourbar\" shape-rendering=\"crispEdges\">\n";
    for (int i = 0; i < kSteps; ++i) {
      const double y0 = a.y + a.h * (1.0 - (i + 1.0) / kSteps);
      o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n", num(bx), num(y0),
                       num(bw), num(a.h / kSteps + 0.3), hex(viridis((i + 0.5) / kSteps)));
    }
    o +=
        fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333333\"/>\n",
                    num(bx), num(a.y), num(bw), num(a.h));
    const auto ct = nice_ticks(h.vmin, h.vmax, 5);
    const double cstep = ct.size() > 1 ? ct[1] - ct[0] : 1.0;
    for (double t : ct) {
      const double y = a.y + a.h * (1.0 - (t - h.vmin) / (h.vmax > h.vmin ? h.vmax - h.vmin : 1.0));
      o += fmt::format(
          "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#333333\"/><text x=\"{3}\" y=\"{4}\" "
          "font-size=\"11\">{5}</text>\n",
          num(bx + bw), num(y), num(bx + bw + 4), num(bx + bw + 6), num(y + 4), format_tick(t, cstep));
    }
    o += fmt::format(
        "<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 {0} "
        "{1})\">{2}</text>\n",
        num(bx + bw + 50), num(a.y + a.h / 2), xml_escape(h.label));
    o += "</g>\n";
    next_x += kColourbar;
  }

  // Legend.
  const auto entries = legend();
  if (!entries.empty()) {
    o += "<g class=\"legend\" font-size=\"11\">\n";
    double y = a.y + 8;
    for (const auto& e : entries) {
      if (e.marker)
        o += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"4.5\" fill=\"{}\"/>\n", num(next_x + 8), num(y),
                         e.colour);
      else
        o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"16\" height=\"8\" fill=\"{}\"/>\n", num(next_x),
                         num(y - 4), e.colour);
      o += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", num(next_x + 22), num(y + 4),
                       xml_escape(truncate_label(e.label)));
      y += 17;
    }
    o += "</g>\n";
  }
  o += "</svg>\n";
  return o;
}

void Plot::save(const std::string& path) const {
  std::ofstream f(path, std::ios::binary);
  const auto s = svg();
  f.write(s.data(), static_cast<std::streamsize>(s.size()));
  if (!f)
    throw ResourceError(fmt::format("cannot write figure '{}' (directory missing or disk full?)", path));
}

}  // namespace aptflow::report
