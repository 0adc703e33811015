#pragma once
// Voxelisation of an IonCloud (docs/voxelization.md).
//
// (a) Window occupancy grids, the input of the 3D CNN: for each window centre
//     a cube of edge E nm split into G^3 voxels; per voxel the number of ions
//     of each requested species. Layout (windows, G_z, G_y, G_x, channels),
//     channels last as Keras' Conv3D (data_format="channels_last") expects.
// (b) Whole-dataset composition grid: counts per ion type (species 0 =
//     unranged, 1..ntypes) on a regular grid of voxel edge e, layout
//     (nz, ny, nx, ntypes + 1), whole or a block of z planes (the MPI driver,
//     pipeline/voxelize.hpp, gives each rank the planes of its z slab; the
//     HDF5 layout is written by io/composition.hpp).
//
// Voxel index convention everywhere: i = floor((p - lower_corner) / voxel_edge)
// evaluated in double precision from the float ion coordinate, so an ion on a
// voxel face belongs to the voxel above it.
//
// Kernels take the execution space first and are instantiated for
// Kokkos::DefaultExecutionSpace and Kokkos::DefaultHostExecutionSpace; ion
// and result Views live in that space's memory space.
#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "aptflow/core/bounds.hpp"
#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/kernels/cell_list.hpp"

namespace aptflow {

// ------------------------------------------------- (a) window occupancy grids

struct WindowVoxelSpec {
  double edge = 1.0;             // E: edge of the cubic window, nm
  int grid = 16;                 // G: voxels per axis (voxel edge E / G)
  std::vector<Species> species;  // channel c counts ions whose species id is species[c]
};

// (n, 3) window centres, columns x, y, z in nm.
template <class MemorySpace>
using WindowCentres = Kokkos::View<const float* [3], Kokkos::LayoutRight, MemorySpace>;
// (windows, G_z, G_y, G_x, channels): out(w, iz, iy, ix, c) = number of ions of
// species spec.species[c] in voxel (iz, iy, ix) of window w. Float because it
// feeds the network directly; counts are exact below 2^24 per voxel.
template <class MemorySpace>
using WindowVoxels = Kokkos::View<float*****, Kokkos::LayoutRight, MemorySpace>;

// Bins the ions of the requested species once (a cell list of cell edge >= E,
// kernels/cell_list.hpp) so that successive chunks of windows can be
// voxelised cheaply.
// Voxel (iz, iy, ix) of window w spans, along x,
//   [cx - E/2 + ix * E/G, cx - E/2 + (ix + 1) * E/G)
// (likewise y, z); ions outside the cube are ignored, windows may lie partly
// or wholly outside the data.
template <class ExecSpace>
class WindowVoxelizer {
 public:
  using memory_space = typename ExecSpace::memory_space;

  WindowVoxelizer(const ExecSpace& exec, const IonCloud<memory_space>& cloud, const WindowVoxelSpec& spec);

  // Allocate an output for n windows ("aptflow::voxel::windows").
  WindowVoxels<memory_space> allocate(std::int64_t windows) const;
  // Fill out (extent(0) == centres.extent(0), other extents G, G, G,
  // channels) for these window centres; out is overwritten.
  void operator()(const WindowCentres<memory_space>& centres, const WindowVoxels<memory_space>& out) const;

  const WindowVoxelSpec& spec() const { return spec_; }
  int channels() const { return static_cast<int>(spec_.species.size()); }
  std::int64_t binned_ions() const { return cells_.size(); }
  // Cell-list geometry (for tests and profiling).
  double cell_edge() const { return cells_.grid.edge; }
  std::int64_t num_cells() const { return cells_.grid.num_cells(); }

 private:
  ExecSpace exec_;
  WindowVoxelSpec spec_;
  // The binned ions in cell order (origin = their minimum) and their channels.
  CellList<memory_space> cells_;
  Kokkos::View<int*, memory_space> channel_;
};

// One-shot convenience: bin, allocate and fill.
template <class ExecSpace>
WindowVoxels<typename ExecSpace::memory_space> voxelize_windows(
    const ExecSpace& exec, const IonCloud<typename ExecSpace::memory_space>& cloud,
    const WindowCentres<typename ExecSpace::memory_space>& centres, const WindowVoxelSpec& spec);

// ------------------------------------------------ (b) composition grid

struct CompositionSpec {
  double edge = 1.0;  // voxel edge, nm
  int num_types = 0;  // ion types in the range table; channels = num_types + 1 (0 = unranged)
};

// Geometry of a composition grid: origin = the lower corner of voxel
// (0, 0, 0) = floor(bounds.lo / edge) * edge per axis, and
// n_a = floor((bounds.hi - origin) / edge) + 1 voxels along axis a.
struct CompositionGeometry {
  double origin[3] = {0, 0, 0};  // x, y, z, nm
  double edge = 1.0;
  std::int64_t nx = 0, ny = 0, nz = 0;
  int channels = 1;
  std::int64_t voxels() const { return nx * ny * nz; }
  // The z plane of a position, exactly as the kernel computes it (may lie
  // outside [0, nz) for a position outside the grid).
  std::int64_t plane_of(float z) const {
    return static_cast<std::int64_t>(std::floor((double(z) - origin[2]) / edge));
  }
};
// Empty bounds (no ions) give a grid of 0 voxels.
CompositionGeometry composition_geometry(const Box& bounds, const CompositionSpec& spec);

// counts(z - z_begin, y, x, species) for the z planes [z_begin, z_begin +
// counts.extent(0)) of the grid. A whole grid has z_begin = 0 and nz planes;
// the MPI driver gives each rank a contiguous block of planes.
template <class MemorySpace>
struct CompositionGrid {
  CompositionGeometry geometry;
  std::int64_t z_begin = 0;
  Kokkos::View<std::int64_t****, Kokkos::LayoutRight, MemorySpace> counts;

  std::int64_t planes() const { return static_cast<std::int64_t>(counts.extent(0)); }
  bool whole() const { return z_begin == 0 && planes() == geometry.nz; }
};

// Voxelise the cloud on the grid given by its own bounds (or by geometry, e.g.
// global bounds; or only the z planes [z_begin, z_begin + planes) of it).
// Throws InputError when an ion's species id exceeds spec.num_types (range
// table and cloud do not match); positions must be finite and, for the
// geometry overloads, inside the grid (the planes) (InputError if not).
template <class ExecSpace>
CompositionGrid<typename ExecSpace::memory_space> voxelize_composition(
    const ExecSpace& exec, const IonCloud<typename ExecSpace::memory_space>& cloud,
    const CompositionSpec& spec);
template <class ExecSpace>
CompositionGrid<typename ExecSpace::memory_space> voxelize_composition(
    const ExecSpace& exec, const IonCloud<typename ExecSpace::memory_space>& cloud,
    const CompositionGeometry& geometry);
template <class ExecSpace>
CompositionGrid<typename ExecSpace::memory_space> voxelize_composition(
    const ExecSpace& exec, const IonCloud<typename ExecSpace::memory_space>& cloud,
    const CompositionGeometry& geometry, std::int64_t z_begin, std::int64_t planes);

}  // namespace aptflow
