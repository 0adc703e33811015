// Window grid placement and window variants (include/aptflow/core/window_grid.hpp).
#include "aptflow/core/window_grid.hpp"

#include <fmt/format.h>

#include <cmath>

#include "aptflow/core/error.hpp"

namespace aptflow {

WindowGrid WindowGrid::over(const Box& box, double edge, double stride) {
  if (!(edge > 0) || !std::isfinite(edge))
    throw ConfigError("windows.edge", fmt::format("edge = {} nm: must be a positive number of nm", edge));
  if (!(stride > 0) || !std::isfinite(stride))
    throw ConfigError("windows.stride",
                      fmt::format("stride = {} nm: must be a positive number of nm", stride));
  WindowGrid g;
  g.edge = edge;
  g.stride = stride;
  for (int a = 0; a < 3; ++a) {
    g.origin[a] = box.lo[a];
    const double len = double(box.hi[a]) - double(box.lo[a]);
    // The 1e-9 absorbs rounding so that a box of exactly edge + k * stride
    // holds k + 1 windows.
    g.counts[a] = len < edge ? 0 : static_cast<std::int64_t>(std::floor((len - edge) / stride + 1e-9)) + 1;
  }
  return g;
}

WindowGrid WindowGrid::on_box(const double lo[3], const double hi[3], double edge, double stride) {
  const Box none;
  WindowGrid g = over(none, edge, stride);  // validates edge and stride
  static const char* axis = "xyz";
  for (int a = 0; a < 3; ++a) {
    if (!std::isfinite(lo[a]) || !std::isfinite(hi[a]) || !(lo[a] < hi[a]))
      throw ConfigError("windows.box",
                        fmt::format("[{}, {}] nm along {} is not a box: give [x0, y0, z0, x1, y1, z1] with "
                                    "x0 < x1, y0 < y1, z0 < z1",
                                    lo[a], hi[a], axis[a]));
    g.origin[a] = lo[a];
    // numpy.arange(lo, hi, stride) holds the corners lo + i * stride < hi;
    // the published code keeps those with corner <= hi - edge.
    const double last = hi[a] - edge;
    auto fits = [&](std::int64_t i) {
      const double corner = lo[a] + double(i) * stride;
      return corner < hi[a] && !(corner > last);
    };
    const double estimate = std::floor((last - lo[a]) / stride);
    if (estimate > 1e12)
      throw ConfigError(
          "windows.box",
          fmt::format("{} windows along {}: use a larger stride or a smaller box", estimate, axis[a]));
    std::int64_t n = estimate > 2 ? static_cast<std::int64_t>(estimate) - 2 : 0;
    while (n > 0 && !fits(n - 1)) --n;  // the corners fit for a prefix of i
    while (fits(n)) ++n;
    if (n == 0)
      throw ConfigError("windows.box",
                        fmt::format("the box [{}, {}] nm along {} holds no window of edge {} nm: make it at "
                                    "least one window edge long",
                                    lo[a], hi[a], axis[a], edge));
    g.counts[a] = n;
  }
  return g;
}

std::string to_string(WindowVariant v) { return v == WindowVariant::feal ? "feal" : "cocrni"; }

WindowVariant parse_window_variant(const std::string& text, const std::string& key) {
  if (text == "feal") return WindowVariant::feal;
  if (text == "cocrni") return WindowVariant::cocrni;
  throw ConfigError(key, fmt::format("unknown window variant '{}': use \"feal\" or \"cocrni\"", text));
}

WindowSpec WindowSpec::feal(double edge) {
  WindowSpec s;
  s.variant = WindowVariant::feal;
  s.centre_radius = static_cast<float>(edge / 2);
  s.neighbour_radius = 0;
  return s;
}

WindowSpec WindowSpec::cocrni(double edge) {
  WindowSpec s;
  s.variant = WindowVariant::cocrni;
  s.centre_radius = static_cast<float>(1.5 * edge / 2);
  s.neighbour_radius = s.centre_radius;
  return s;
}

void WindowSpec::validate(const WindowGrid& grid) const {
  if (!(centre_radius > 0) || !std::isfinite(centre_radius))
    throw ConfigError("windows.centre_radius",
                      fmt::format("centre_radius = {} nm: must be a positive number of nm", centre_radius));
  if (variant == WindowVariant::cocrni && (!(neighbour_radius > 0) || !std::isfinite(neighbour_radius)))
    throw ConfigError(
        "windows.neighbour_radius",
        fmt::format("neighbour_radius = {} nm: must be a positive number of nm", neighbour_radius));
  if (variant == WindowVariant::feal) {
    // Grid points of one axis within a centre sphere: <= floor(2 R / stride) + 1,
    // plus one for rounding.
    const double per_axis = std::floor(2.0 * double(centre_radius) / grid.stride) + 2;
    if (per_axis * per_axis * per_axis > detail::kMaxWindowsPerIon)
      throw ConfigError(
          "windows.centre_radius",
          fmt::format("centre_radius {} nm against stride {} nm: an ion could lie in more than {} "
                      "windows; use a radius below {} nm or a larger stride",
                      centre_radius, grid.stride, detail::kMaxWindowsPerIon, 2.0 * grid.stride));
  }
}

}  // namespace aptflow
