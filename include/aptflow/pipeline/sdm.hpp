#pragma once
// sdm: SDM features of a dataset (method.md sections 2-3), whole or per
// window, written as a feature file (docs/file-layouts.md), under the z-slab
// decomposition of classify and voxelize (docs/parallel.md). Each rank reads a
// disjoint block of ions, ranges it, keeps the region of interest, turns it
// (transform.align, resolved over all ranks); the sample sort gives every rank
// the ions of one z slab plus a halo of the ions the slab's SDMs can reach.
//  - windows (feal, cocrni): the grid is laid over the global bounds (or
//    windows.box); each rank computes the windows whose centre lies in its
//    slab (contiguous window indices) from its owned + halo ions (halo
//    r_cut + window reach) and writes their rows at their global offsets.
//  - whole dataset (--windows none): each rank counts the pairs whose centre
//    ion it owns against its owned + halo ions (halo r_cut); the int64
//    histograms are summed exactly (MPI_Allreduce) and rank 0 writes the row.
// Memory per rank: its ions + halo (about N / p), never the whole dataset.
// Integer counts: the file is the same on any number of ranks.
#include <mpi.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/core/sdm_spec.hpp"
#include "aptflow/kernels/windows.hpp"
#include "aptflow/pipeline/align.hpp"
#include "aptflow/pipeline/roi.hpp"

namespace aptflow {

struct SdmOptions {
  std::string input;               // dataset (POS, EPOS, APT or aptflow HDF5)
  std::string range;               // range file (RRNG, RNG or ENV)
  std::string output;              // feature file (HDF5, overwritten)
  SdmSpec spec;                    // kind, r_cut, exclude, arithmetic (finalized)
  std::vector<std::string> pairs;  // "A-B": ion-type names of the range file (at least one)
  bool windowed = true;            // false: one SDM over the whole dataset (--windows none)
  WindowVariant variant = WindowVariant::feal;
  double edge = 1.0, stride = 0.5;           // windows.edge, windows.stride (nm)
  WindowSpec wspec;                          // centre (and neighbour) radius
  std::int64_t chunk = 0;                    // windows per write round (0: about 32 MiB of int64 rows)
  std::optional<std::array<double, 6>> box;  // windows.box: x0, y0, z0, x1, y1, z1 (nm)
  Roi roi;                                   // only the ions inside take part (none: all)
  AlignSpec align;                           // transform.* (none: the ions as read)
  std::string config_text;                   // the file's root attribute "config"
  // Where the counts run (--device; docs/cli.md "aptflow sdm"): auto = the
  // GPU in a build with a GPU backend. The same integers on every space.
  DeviceChoice device = DeviceChoice::automatic;
  bool test_device_path = false;  // tests: the device path on a host default execution space
};

struct SdmSummary {
  std::int64_t rows = 0;  // 1 (whole dataset) or the number of windows
  WindowGrid grid;        // windows only
  IonIndex ions = 0;      // ions that took part (inside the region of interest)
  Alignment alignment;    // the rotation applied (none: identity)
  std::string device;     // "host", "gpu" or "default execution space" (the device path on a host space)
};

// Collective over comm. Errors (ConfigError, InputError) are raised on every
// rank, before the output file is created.
SdmSummary run_sdm(MPI_Comm comm, const SdmOptions& options);

}  // namespace aptflow
