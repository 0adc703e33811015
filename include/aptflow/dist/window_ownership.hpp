#pragma once
// Window ownership under the z-slab decomposition: the global WindowGrid is
// laid over the global bounds (agreed by MPI_Allreduce, identical to the
// serial cloud_bounds of the whole cloud); window (ix, iy, iz) belongs to the
// rank whose slab [z_lo, z_hi) holds its float32 centre z. Centres grow with
// iz, so each rank owns a contiguous range of z planes [iz_begin, iz_end) and
// hence the contiguous window indices [first, first + count) (numbering
// (iz * ny + iy) * nx + ix): ranks in order tile [0, grid.size()).
#include <mpi.h>

#include <cstdint>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/window_grid.hpp"
#include "aptflow/dist/collective.hpp"  // global_bounds
#include "aptflow/dist/decomposition.hpp"

namespace aptflow::dist {

struct WindowSlab {
  std::int64_t iz_begin = 0, iz_end = 0;  // owned z planes
  std::int64_t first = 0, count = 0;      // owned windows, grid numbering
};

// Collective over decomposition.comm(): WindowGrid::over(global bounds of the
// owned ions, edge, stride); the same grid on every rank.
WindowGrid global_window_grid(const ZSlabDecomposition& decomposition, double edge, double stride);

// The windows of grid owned by rank (default: this rank). No communication.
WindowSlab owned_windows(const ZSlabDecomposition& decomposition, const WindowGrid& grid, int rank = -1);

// Collective over comm: the rows of the window layers [iz0, iz1) from the
// ranks that own them (the sub-cell and label stages read a few layers beyond
// their own). Each layer holds `plane` windows of `row` floats; `owned` holds
// this rank's layers [mine.iz_begin, mine.iz_end); out receives
// (iz1 - iz0) x plane x row floats. Ranks own increasing layers, so the rows
// arrive in layer order. max_records_per_message: as for the decomposition's
// exchanges (0: automatic). InternalError when the owners do not cover [iz0, iz1).
void gather_window_layers(MPI_Comm comm, const WindowSlab& mine, std::int64_t plane, std::int64_t row,
                          const float* owned, std::int64_t iz0, std::int64_t iz1, float* out,
                          std::int64_t max_records_per_message = 0);

}  // namespace aptflow::dist
