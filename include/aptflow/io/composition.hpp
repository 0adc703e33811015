#pragma once
// HDF5 layout of a composition grid (docs/voxelization.md): counts per ion type
// per voxel, the fractions among ranged ions, origin, edge, species names.
// The kernels (kernels/voxelize.hpp) count; this writes what they counted.
#include <cstdint>
#include <string>
#include <vector>

#include "aptflow/io/h5.hpp"

namespace aptflow::io {

// The z planes [z_begin, z_begin + planes) of a grid of nz x ny x nx voxels
// with `channels` int64 counts each (channel 0 = unranged, channel k = ion
// type k - 1), C order (z, y, x, channel), voxel (iz, iy, ix) spanning
// origin + (ix, iy, iz) * edge .. + edge.
struct CompositionRows {
  double origin[3] = {0, 0, 0};  // x, y, z, nm
  double edge = 1.0;
  std::int64_t nx = 0, ny = 0, nz = 0;
  int channels = 1;
  std::int64_t z_begin = 0, planes = 0;
  const std::int64_t* counts = nullptr;  // planes * ny * nx * channels values
};

// Write under group (default "/voxels"):
//   counts        int64   (nz, ny, nx, ntypes + 1)  channel 0 = unranged
//   composition   float32 (nz, ny, nx, ntypes)      count / ranged count, NaN if no ranged ion
//   origin        float64 (3)  x, y, z of the lower corner of voxel (0,0,0), nm
//   edge          float64 (1)  voxel edge, nm
//   species_names strings (ntypes + 1): "unranged", type_names...
// type_names has channels - 1 entries. For a parallel file this is
// collective: every rank passes the same geometry and its own planes (the
// ranks' planes tile [0, nz); a rank may pass none). A serial file needs all
// nz planes.
void write_composition(const h5::File& file, const CompositionRows& rows,
                       const std::vector<std::string>& type_names, const std::string& group = "/voxels");

}  // namespace aptflow::io
