// Cell grid geometry (the kernels are templates in include/aptflow/kernels/cell_list.hpp).
#include "aptflow/kernels/cell_list.hpp"

#include <fmt/format.h>

#include <cmath>

#include "aptflow/core/error.hpp"

namespace aptflow {

CellGrid make_cell_grid(const Box& box, double r_cut, int cells_per_rcut) {
  if (!(r_cut > 0) || !std::isfinite(r_cut))
    throw ConfigError("sdm.r_cut", fmt::format("r_cut = {} nm: must be a positive number of nm", r_cut));
  if (cells_per_rcut < 1 || cells_per_rcut > detail::kMaxReach)
    throw ConfigError("sdm.cells_per_rcut",
                      fmt::format("cells_per_rcut = {}: use 1, 2 or 3", cells_per_rcut));
  CellGrid g;
  // 1e-4 relative margin: positions and displacements are float32 (relative
  // error ~6e-8), cell coordinates double; see the header.
  g.reach = cells_per_rcut;
  g.edge = r_cut * (1.0 + 1e-4) / cells_per_rcut;
  std::int64_t total = 1;
  const bool empty = box.is_empty();  // no ions: one cell
  for (int a = 0; a < 3; ++a) {
    const double lo = empty ? 0.0 : box.lo[a], hi = empty ? 0.0 : box.hi[a];
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
