#pragma once
// Synthetic SDM libraries (method.md section 4): per class a crystal
// structure and a full-factorial grid of artefact parameters (sigma_xy x
// sigma_z x eta, one realisation per grid point); per sample a lattice block
// (make_library_block) and the SDMs of all A atoms as centres for each
// configured kind and pair. Config schema: configs/synth/feal_bcc_b2_d03.toml
// and docs/file-layouts.md.
//
// Sample order: classes in the order of library.classes, then sigma_xy
// (outer), sigma_z, eta (inner). The random stream of a sample is keyed by
// (seed, key) where key is the sample's index in the FULL grid (before
// library.subsample), so a subsampled library holds exactly the
// corresponding rows of the full one, and the output bytes do not depend on
// the number of MPI ranks.
#include <mpi.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "aptflow/core/config.hpp"
#include "aptflow/core/sdm_spec.hpp"
#include "aptflow/synth/lattice_block.hpp"
#include "aptflow/synth/orientation.hpp"
#include "aptflow/synth/structure.hpp"

namespace aptflow::synth {

struct LibraryClass {
  std::string name;  // class name (label index = position in LibrarySpec::classes)
  CrystalStructure structure;
  BlockSpec block;
  Orientation orientation;
  ArtefactModel artefacts;  // thinning and per-species efficiency; sigma/eta come from the grid
  std::vector<double> sigma_xy, sigma_z, eta;

  std::int64_t grid_size() const {
    return static_cast<std::int64_t>(sigma_xy.size() * sigma_z.size() * eta.size());
  }
};

// Occupancy features (kind "occupancy" in sdm.kinds; keys library.occupancy.*):
// per sample and species the number of atoms in each of grid^3 voxels of the
// cube of edge `edge` centred on the block centre (the origin: lattice blocks
// are built centred there), counted by voxelize_windows with that single
// window (docs/voxelization.md conventions: voxel (iz, iy, ix) spans
// [-E/2 + ix E/G, -E/2 + (ix + 1) E/G) along x, likewise y, z).
struct OccupancySpec {
  double edge = 2.0;                 // E, nm
  int grid = 16;                     // G voxels per axis
  std::vector<std::string> species;  // one channel per species name
  // Voxel left edges along each axis relative to the centre: -E/2 + i E/G, i < G.
  std::vector<double> left_edges() const;
};

struct LibrarySpec {
  std::uint64_t seed = 0;
  std::vector<LibraryClass> classes;
  std::vector<SdmSpec> sdms;                               // one per SDM kind (z, zx, 3d)
  std::vector<std::pair<std::string, std::string>> pairs;  // (A, B) species names
  bool occupancy = false;                                  // "occupancy" listed in sdm.kinds
  OccupancySpec occ;
  std::int64_t subsample = 1;  // keep every k-th grid point of each class
  std::string config_text;
};

// Reads a library config and checks that every key is known (ConfigError
// naming the key otherwise). Parameter axes are lists ([0.2, 0.4]) or
// ranges ({ start = 0.02, stop = 0.048, step = 0.002 }, stop included).
LibrarySpec parse_library_config(const Config& cfg);

// Values of a range axis: start + k * step for k = 0 .. round((stop - start) / step).
std::vector<double> axis_range(double start, double stop, double step, const std::string& key);

struct LibrarySample {
  std::int32_t class_id = 0;
  std::uint32_t key = 0;  // index in the full grid (RNG sample key)
  double sigma_xy = 0, sigma_z = 0, eta = 0;
};

// All samples in file order (after subsampling), without computing anything.
std::vector<LibrarySample> expand_library(const LibrarySpec& spec);

// Channel c < sdms * pairs: SDM kind c / pairs, pair c % pairs, size
// spec.sdms[kind].size(); then (when spec.occupancy) one occupancy channel per
// spec.occ.species entry, size grid^3.
std::size_t num_channels(const LibrarySpec& spec);
// The lattice block of one sample.
LatticeBlock library_block(const LibrarySpec& spec, const LibrarySample& s);
// Features of one sample: for each channel (num_channels order), its counts as
// float32 (exact up to 2^24); occupancy channels are (G_z, G_y, G_x) row-major.
std::vector<std::vector<float>> library_sample_sdms(const LibrarySpec& spec, const LibrarySample& s);
// Occupancy grids of a block: one G^3 vector per occ.species entry (zeros for a
// species the block does not have).
std::vector<std::vector<float>> block_occupancy(const OccupancySpec& occ, const LatticeBlock& b);

struct LibraryStats {
  std::int64_t samples = 0;
  double seconds = 0;
};

// Collective over comm: rank r computes a contiguous block of samples and
// writes its rows (features/<kind>/<A>-<B>, features/occupancy/<species>,
// labels, params/{sigma_xy, sigma_z, eta}, bins/<kind>, root attributes
// class_names, config). progress:
// rank 0 prints a line to stderr every few seconds.
LibraryStats write_library(MPI_Comm comm, const LibrarySpec& spec, const std::string& path,
                           bool progress = false);

}  // namespace aptflow::synth
