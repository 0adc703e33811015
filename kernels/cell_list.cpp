// Cell grid geometry (the kernels are templates in include/aptflow/kernels/cell_list.hpp).
#include "aptflow/kernels/cell_list.hpp"

#include <fmt/format.h>

#include <cmath>

#include "aptflow/core/error.hpp"

namespace aptflow {

CellGrid make_cell_grid(const Box& box, double min_edge) {
  if (!(min_edge > 0) || !std::isfinite(min_edge))
    throw ConfigError("sdm.r_cut", fmt::format("cell edge {} nm: must be a positive number of nm", min_edge));
  CellGrid g;
  // 1e-4 relative margin: positions and displacements are float32 (relative
  // error ~6e-8), cell coordinates double; see the header.
  g.edge = double(min_edge) * (1.0 + 1e-4);
  std::int64_t total = 1;
  for (int a = 0; a < 3; ++a) {
    const double lo = box.lo[a], hi = box.hi[a];
    if (!std::isfinite(lo) || !std::isfinite(hi) || hi < lo)
      throw InternalError(
          fmt::format("make_cell_grid: bad box axis {}: [{}, {}] (non-finite positions?)", a, lo, hi));
    g.lo[a] = lo;
    const double cells = std::ceil((hi - lo) / g.edge);
    if (cells > 1e7)
      throw ResourceError(
          fmt::format("cell grid: {} cells along axis {} (box {} nm, edge {} nm): the box is too "
                      "large for one rank; decompose the dataset over more ranks",
                      cells, a, hi - lo, g.edge));
    g.n[a] = std::max(1, static_cast<int>(cells));
    total *= g.n[a];
  }
  if (total > (std::int64_t(1) << 31))
    throw ResourceError(
        fmt::format("cell grid: {} cells exceed 2^31: the box is too large for one rank; decompose "
                    "the dataset over more ranks",
                    total));
  return g;
}

}  // namespace aptflow
