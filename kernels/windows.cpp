// Window grid placement and window variants (kernels: include/aptflow/kernels/windows.hpp).
#include "aptflow/kernels/windows.hpp"

#include <fmt/format.h>

#include <cmath>

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
