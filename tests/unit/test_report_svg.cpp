// The SVG plotting module of the reports (include/aptflow/report/svg.hpp):
// ticks, histogram, colours, data -> pixel mapping and well-formed XML, each
// against an independent reference on random inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <regex>
#include <sstream>
#include <string>

#include "aptflow/core/error.hpp"
#include "aptflow/report/svg.hpp"
#include "test_util.hpp"

namespace {

namespace rp = aptflow::report;

std::vector<std::string> all_matches(const std::string& s, const std::string& re, int group = 1) {
  std::vector<std::string> out;
  const std::regex r(re);
  for (auto it = std::sregex_iterator(s.begin(), s.end(), r); it != std::sregex_iterator(); ++it)
    out.push_back((*it)[group].str());
  return out;
}

TEST(ReportSvg, NiceTicksOnRandomRanges) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-1.0, 1.0), e(-6.0, 6.0);
  for (int t = 0; t < 2000; ++t) {
    const double scale = std::pow(10.0, e(rng));
    double lo = u(rng) * scale, hi = lo + std::abs(u(rng)) * scale + 1e-12 * scale;
    const int target = 2 + static_cast<int>(rng() % 8);
    const auto ticks = rp::nice_ticks(lo, hi, target);
    ASSERT_GE(ticks.size(), 2u) << lo << " " << hi;
    ASSERT_LE(ticks.size(), static_cast<std::size_t>(3 * target + 2)) << lo << " " << hi << " " << target;
    const double step = ticks[1] - ticks[0];
    // step = m x 10^k with m in {1, 2, 5}
    const double k = std::floor(std::log10(step) + 1e-9);
    const double m = step / std::pow(10.0, k);
    EXPECT_TRUE(std::abs(m - 1) < 1e-6 || std::abs(m - 2) < 1e-6 || std::abs(m - 5) < 1e-6) << step;
    for (std::size_t i = 0; i < ticks.size(); ++i) {
      EXPECT_GE(ticks[i], lo - 1e-9 * step);
      EXPECT_LE(ticks[i], hi + 1e-9 * step);
      EXPECT_NEAR(ticks[i], ticks[0] + static_cast<double>(i) * step, 1e-6 * step);
      EXPECT_NEAR(ticks[i] / step, std::round(ticks[i] / step), 1e-6);  // multiples of the step
    }
    // No multiple of the step in range is left out.
    EXPECT_LT(ticks.front() - step, lo + 1e-9 * step);
    EXPECT_GT(ticks.back() + step, hi - 1e-9 * step);
  }
  EXPECT_EQ(rp::nice_ticks(2.5, 2.5), std::vector<double>{2.5});
  EXPECT_EQ(rp::nice_ticks(0, 160, 8), (std::vector<double>{0, 20, 40, 60, 80, 100, 120, 140, 160}));
}

TEST(ReportSvg, TickLabels) {
  EXPECT_EQ(rp::format_tick(0.25, 0.25), "0.25");
  EXPECT_EQ(rp::format_tick(3, 0.5), "3.0");
  EXPECT_EQ(rp::format_tick(-0.0, 0.2), "0.0");
  EXPECT_EQ(rp::format_tick(1000, 200), "1000");
  EXPECT_EQ(rp::format_tick(-1e-12, 0.1), "0.0");
  EXPECT_EQ(rp::format_tick(2e-5, 1e-5), "2e-05");
}

TEST(ReportSvg, HistogramMatchesBruteForce) {
  std::mt19937_64 rng(5);
  for (int t = 0; t < 200; ++t) {
    std::uniform_real_distribution<double> u(-50, 250);
    const int bins = 1 + static_cast<int>(rng() % 40);
    const double lo = std::floor(u(rng) / 10) * 10, hi = lo + 5 + static_cast<double>(rng() % 200);
    std::vector<double> v(300);
    for (auto& x : v) x = u(rng);
    // Exact edges, the upper limit and NaN must be handled.
    for (int i = 0; i <= bins; ++i) v.push_back(lo + (hi - lo) * i / bins);
    v.push_back(std::numeric_limits<double>::quiet_NaN());
    const auto h = rp::histogram(v, lo, hi, bins);
    std::vector<std::int64_t> ref(static_cast<std::size_t>(bins), 0);
    for (double x : v) {
      if (std::isnan(x)) continue;
      for (int i = 0; i < bins; ++i) {
        const double a = lo + (hi - lo) * i / bins, b = lo + (hi - lo) * (i + 1) / bins;
        if ((x >= a && x < b) || (i == bins - 1 && x == hi)) {
          ++ref[static_cast<std::size_t>(i)];
          break;
        }
      }
    }
    ASSERT_EQ(h, ref) << "lo " << lo << " hi " << hi << " bins " << bins;
  }
}

TEST(ReportSvg, ViridisAnchorsAndInterpolation) {
  EXPECT_EQ(rp::hex(rp::viridis(0.0)), "#440154");
  EXPECT_EQ(rp::hex(rp::viridis(0.5)), "#21918c");
  EXPECT_EQ(rp::hex(rp::viridis(1.0)), "#fde725");
  EXPECT_EQ(rp::hex(rp::viridis(-3.0)), "#440154");
  EXPECT_EQ(rp::hex(rp::viridis(7.0)), "#fde725");
  EXPECT_EQ(rp::hex(rp::viridis(std::numeric_limits<double>::quiet_NaN())), "#440154");
  // Halfway between the anchors at 0.9 (#bddf26) and 1.0 (#fde725).
  const auto c = rp::viridis(0.95);
  EXPECT_NEAR(c.r, (0xbd + 0xfd) / 2.0, 0.51);
  EXPECT_NEAR(c.g, (0xdf + 0xe7) / 2.0, 0.51);
  EXPECT_NEAR(c.b, (0x26 + 0x25) / 2.0, 0.51);
  // Perceptually ordered: luminance increases along the map.
  double last = -1;
  for (int i = 0; i <= 100; ++i) {
    const auto v = rp::viridis(i / 100.0);
    const double y = 0.2126 * v.r + 0.7152 * v.g + 0.0722 * v.b;
    EXPECT_GT(y, last - 0.6) << i;
    last = y;
  }
  EXPECT_EQ(rp::category_colour(0), rp::category_colour(8));
  EXPECT_NE(rp::category_colour(0), rp::category_colour(1));
}

TEST(ReportSvg, LinePointsMapIntoThePlotArea) {
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<double> u(-10, 10);
  std::vector<double> x(37), y(37);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i) * 0.3 - 4, y[i] = u(rng);
  rp::Plot p(700, 430);
  p.title("t").xlabel("x (nm)").ylabel("y").xlim(-5, 8).ylim(-12, 11).line(x, y, "series <1>");
  const auto svg = p.svg();
  const auto a = p.area();
  const auto pts = all_matches(svg, "points=\"([^\"]*)\"");
  ASSERT_EQ(pts.size(), 1u);
  std::istringstream in(pts[0]);
  std::string pair;
  std::size_t i = 0;
  while (in >> pair) {
    const auto comma = pair.find(',');
    const double px = std::stod(pair.substr(0, comma)), py = std::stod(pair.substr(comma + 1));
    ASSERT_LT(i, x.size());
    EXPECT_NEAR(px, a.x + (x[i] + 5) / 13.0 * a.w, 0.006) << i;
    EXPECT_NEAR(py, a.y + a.h - (y[i] + 12) / 23.0 * a.h, 0.006) << i;
    ++i;
  }
  EXPECT_EQ(i, x.size());
  // Recorded values, and the legend label escaped.
  const auto dy = all_matches(svg, "data-y=\"([^\"]*)\"");
  ASSERT_EQ(dy.size(), 1u);
  EXPECT_NEAR(std::stod(dy[0].substr(0, dy[0].find(','))), y[0], 1e-5 * std::abs(y[0]) + 1e-12);
  EXPECT_NE(svg.find("series &lt;1&gt;"), std::string::npos);
  // A NaN breaks the line into two polylines.
  y[10] = std::numeric_limits<double>::quiet_NaN();
  rp::Plot q;
  q.line(x, y, "");
  EXPECT_EQ(all_matches(q.svg(), "<polyline").size(), 2u);
}

TEST(ReportSvg, HeatmapColoursAndDownsampling) {
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> u(0, 1);
  const std::int64_t rows = 13, cols = 7;
  std::vector<double> v(rows * cols);
  for (auto& x : v) x = u(rng) < 0.15 ? std::numeric_limits<double>::quiet_NaN() : -2 + 5 * u(rng);
  rp::Plot p;
  p.heatmap(v, rows, cols, 0, 3.5, -1, 5.5, -2, 3, "P");
  const auto svg = p.svg();
  const std::regex cell("fill=\"(#[0-9a-f]{6})\" data-v=\"([^\"]*)\"");
  std::vector<std::pair<std::string, std::string>> cells;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), cell); it != std::sregex_iterator(); ++it)
    cells.emplace_back((*it)[1], (*it)[2]);
  ASSERT_EQ(cells.size(), static_cast<std::size_t>(rows * cols));
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (std::isnan(v[i])) {
      EXPECT_EQ(cells[i].first, rp::nan_colour);
      EXPECT_EQ(cells[i].second, "");
    } else {
      EXPECT_EQ(cells[i].first, rp::hex(rp::viridis((v[i] + 2) / 5.0))) << i;
      EXPECT_NEAR(std::stod(cells[i].second), v[i], 1e-5 * std::abs(v[i]));
    }
  }
  // 250 x 30 cells, max 100 per side: blocks of 3 rows, NaN-aware means.
  const std::int64_t R = 250, C = 30;
  std::vector<double> big(R * C);
  for (auto& x : big) x = u(rng) < 0.3 ? std::numeric_limits<double>::quiet_NaN() : u(rng);
  rp::Plot q;
  q.heatmap(big, R, C, 0, 1, 0, 1, 0, 1, "P", 100);
  const auto vals = all_matches(q.svg(), "data-v=\"([^\"]*)\"");
  ASSERT_EQ(vals.size(), static_cast<std::size_t>(84 * 30));
  for (std::int64_t r = 0; r < 84; ++r)
    for (std::int64_t c = 0; c < C; ++c) {
      double s = 0;
      int n = 0;
      for (std::int64_t k = 3 * r; k < std::min<std::int64_t>(R, 3 * r + 3); ++k)
        if (!std::isnan(big[k * C + c])) s += big[k * C + c], ++n;
      const auto& got = vals[static_cast<std::size_t>(r * C + c)];
      if (n == 0)
        EXPECT_EQ(got, "");
      else
        EXPECT_NEAR(std::stod(got), s / n, 1e-5);
    }
}

TEST(ReportSvg, EveryElementKindIsWellFormedXml) {
  aptflow::test::TempDir tmp;
  std::mt19937_64 rng(10);
  std::normal_distribution<double> g(0, 1);
  std::vector<double> x(200), y(200);
  std::vector<int> cat(200);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = g(rng), y[i] = std::exp(g(rng)), cat[i] = int(i % 4) - 1;
  rp::Plot a(640, 400);
  a.title("A & B <test> \"quoted\" 'single'").xlabel("m/q (Da)").ylabel("counts").log_y();
  a.line(x, y, "line & co").bars({-3, -1, 0, 2}, {1, 10, 100}, "bars").scatter(x, y, cat, {"a", "b<", "c"});
  a.save((tmp / "a.svg").string());
  rp::Plot b(500, 500);
  std::vector<double> v(100);
  for (auto& e : v) e = g(rng);
  b.heatmap(v, 10, 10, 0, 1, 0, 1, -2, 2, "z-score").xticks({0.25, 0.75}, {"left", "right & more"});
  b.save((tmp / "b.svg").string());
  const auto r =
      aptflow::test::run_command(aptflow::test::python_exe() +
                                 " -c \"import sys, xml.etree.ElementTree as ET; [ET.parse(f) for f in "
                                 "sys.argv[1:]]; print('parsed')\" '" +
                                 (tmp / "a.svg").string() + "' '" + (tmp / "b.svg").string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("parsed"), std::string::npos) << r.output;
  EXPECT_THROW(rp::Plot().save((tmp / "no/such/dir/x.svg").string()), aptflow::ResourceError);
}

}  // namespace
