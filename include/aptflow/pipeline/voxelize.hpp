#pragma once
// voxelize: the composition grid of a whole dataset (docs/voxelization.md)
// under the z-slab decomposition of classify (docs/parallel.md). Each rank
// reads a disjoint block of ions and ranges it; the sample sort gives every
// rank the ions of one z slab; each rank counts its ions on the z planes they
// touch (global grid geometry from the global bounds); the partial counts of
// the boundary planes go to their owner (dist/slab_rows.hpp) and every rank
// writes its own planes into one parallel HDF5 file. Memory per rank: its ions
// (about N / p) plus its planes (about nz / p + 1), never the whole grid. The
// file is the same on any number of ranks (integer counts; only the
// provenance attribute mpi_ranks differs). With transform.align
// (docs/alignment.md) the ranged ions are turned before the decomposition:
// the grid (origin, planes) is in the aligned frame and /voxels/alignment
// records the rotation that maps it back.
#include <mpi.h>

#include <cstdint>
#include <string>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/kernels/voxelize.hpp"
#include "aptflow/pipeline/align.hpp"
#include "aptflow/pipeline/roi.hpp"

namespace aptflow {

struct VoxelizeOptions {
  std::string input;   // dataset (POS, EPOS, APT or aptflow HDF5)
  std::string range;   // range file (RRNG, RNG or ENV)
  std::string output;  // HDF5 file (overwritten)
  double edge = 1.0;   // voxel edge, nm
  bool drop_nonfinite = false;
  Roi roi;          // only the ions inside are counted (none: all); input coordinates
  AlignSpec align;  // transform.align (parse_align); none: the ions as read
  // Where the ranging and the counting run (--device): auto = the GPU in a
  // build with a GPU backend. The same integers on every space.
  DeviceChoice device = DeviceChoice::automatic;
  bool test_device_path = false;  // tests: the device path on a host default execution space
};

struct VoxelizeSummary {
  IonIndex ions = 0;  // ions counted (after dropping non-finite ones)
  IonIndex nonfinite_dropped = 0;
  CompositionGeometry geometry;  // channels = ion types + 1
  Alignment alignment;           // the rotation applied (none: identity)
  std::string device;            // "host", "gpu" or "default execution space" (device path on a host space)
};

// Collective over comm. Errors (bad input, no ions) are raised on every rank.
VoxelizeSummary run_voxelize(MPI_Comm comm, const VoxelizeOptions& options);

}  // namespace aptflow
