#pragma once
// A small SVG plotting module for the HTML reports (aptflow report): one
// Plot = one figure with a title, axes with ticks and labelled units, and any
// mix of line plots, histogram bars, categorical scatter and one heatmap with
// a colour bar. Output is a standalone SVG 1.1 document (width/height in px,
// DejaVu Sans), so browsers show it in an <img> and h5web-style viewers too.
//
// Geometry (documented because tests check it): the plot area is the rect
// area() = {left, top, width, height} in SVG px; a data point (x, y) maps to
//   px = left + (x - xmin) / (xmax - xmin) * width
//   py = top + height - (y - ymin) / (ymax - ymin) * height
// (log y: log10(y) in place of y and the limits). Limits are the ones set with
// xlim()/ylim(), else the data range padded by 4 % (bars and heatmaps: their
// edges exactly; a y range that starts at 0 for bars stays at 0).
//
// Values are recorded for checking: every bar rect carries data-count, every
// heatmap cell data-v (empty for NaN), every line polyline data-y (the plotted
// values, comma separated) -- the page stays a plain picture for a reader.
//
// Colours: categorical series take the Okabe-Ito palette (colour-blind safe,
// Okabe & Ito 2008), heatmaps viridis (van der Walt & Smith 2015); NaN cells
// are grey (#bdbdbd).
#include <cstdint>
#include <string>
#include <vector>

namespace aptflow::report {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};
// Viridis at t in [0, 1] (clamped): linear interpolation between the 11
// published anchors t = 0, 0.1, ..., 1.
Rgb viridis(double t);
// "#rrggbb"
std::string hex(Rgb c);
// Okabe-Ito colour i (cycled after 8), as "#rrggbb".
std::string category_colour(std::size_t i);
// Grey used for NaN / "none" / failed entries.
inline constexpr const char* nan_colour = "#bdbdbd";

// "Nice" axis ticks inside [lo, hi]: multiples of step = {1, 2, 5} x 10^k,
// chosen so that about `target` ticks fall in the range (at least 2 when
// lo < hi). lo == hi gives {lo}.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);
// Tick label for v on a grid of the given step: as many decimals as the step
// needs, no "-0".
std::string format_tick(double v, double step);
// Counts of the finite values in `bins` equal bins over [lo, hi): bin i holds
// e(i) <= v < e(i + 1) with e(i) = lo + (hi - lo) * i / bins; v == hi goes into
// the last bin; NaN and values outside are not counted.
std::vector<std::int64_t> histogram(const std::vector<double>& values, double lo, double hi, int bins);
// Escape &, <, >, " and ' for XML text and attribute values.
std::string xml_escape(const std::string& s);

struct Rect {
  double x = 0, y = 0, w = 0, h = 0;
};

class Plot {
 public:
  Plot(int width = 640, int height = 420);

  Plot& title(std::string t);
  Plot& xlabel(std::string t);
  Plot& ylabel(std::string t);
  Plot& xlim(double lo, double hi);
  Plot& ylim(double lo, double hi);
  // Logarithmic y axis (decade ticks); values <= 0 are not drawn.
  Plot& log_y(bool on = true);
  // Fixed x ticks with text labels (category axes) instead of numeric ticks.
  Plot& xticks(const std::vector<double>& positions, const std::vector<std::string>& labels);

  // Polyline through (x[i], y[i]); non-finite points break the line.
  // colour < 0: next palette colour.
  Plot& line(const std::vector<double>& x, const std::vector<double>& y, const std::string& label,
             int colour = -1, bool dashed = false);
  // Histogram / bar chart: bar i spans [edges[i], edges[i + 1]) with height
  // heights[i]. Several bar series are drawn semi-transparent on top of each other.
  Plot& bars(const std::vector<double>& edges, const std::vector<double>& heights, const std::string& label,
             int colour = -1);
  // Scatter: point i gets colour category[i] (index into names; -1 = grey,
  // legend entry `none_label` when any point has it). Legend lists the names.
  Plot& scatter(const std::vector<double>& x, const std::vector<double>& y, const std::vector<int>& category,
                const std::vector<std::string>& names, const std::string& none_label = "none",
                double radius = 3.0);
  // Heatmap of a (rows x cols) row-major array; cell (r, c) spans
  // x in [x0 + c dx, x0 + (c + 1) dx), y in [y0 + r dy, ...) with dx = (x1 -
  // x0) / cols, dy = (y1 - y0) / rows (row 0 at the bottom). Colour viridis
  // of (v - vmin) / (vmax - vmin); NaN grey. Larger than max_cells per side:
  // block-averaged (NaN-aware) down to at most max_cells.
  Plot& heatmap(const std::vector<double>& values, std::int64_t rows, std::int64_t cols, double x0, double x1,
                double y0, double y1, double vmin, double vmax, const std::string& colourbar_label,
                std::int64_t max_cells = 100);

  // Plot area in SVG px (depends on the legend and colour bar, so call it
  // after adding the data).
  Rect area() const;
  // Axis limits that svg() uses (log y: log10 of the limits).
  void limits(double& xmin, double& xmax, double& ymin, double& ymax) const;

  std::string svg() const;
  // Write svg() to path (ResourceError naming the path when that fails).
  void save(const std::string& path) const;

  int width() const { return width_; }
  int height() const { return height_; }

 private:
  struct Series {
    enum Kind { line, bars, scatter } kind;
    std::vector<double> x, y;  // bars: x = edges (n + 1), y = heights
    std::vector<int> category;
    std::string label;
    std::string colour;
    bool dashed = false;
    double radius = 3.0;
  };
  struct LegendEntry {
    std::string label, colour;
    bool marker = false;  // circle (scatter) or line/box
  };
  struct Heat {
    std::vector<double> v;
    std::int64_t rows = 0, cols = 0;
    double x0 = 0, x1 = 1, y0 = 0, y1 = 1, vmin = 0, vmax = 1;
    std::string label;
  };

  std::vector<LegendEntry> legend() const;
  double legend_width() const;

  int width_, height_;
  std::string title_, xlabel_, ylabel_;
  bool xlim_set_ = false, ylim_set_ = false, log_y_ = false;
  double xlo_ = 0, xhi_ = 1, ylo_ = 0, yhi_ = 1;
  std::vector<Series> series_;
  std::vector<Heat> heat_;
  std::vector<double> xtick_pos_;
  std::vector<std::string> xtick_labels_;
  std::vector<std::vector<std::string>> scatter_names_;  // one list per scatter series
  int next_colour_ = 0;
};

}  // namespace aptflow::report
