#pragma once
// Crystallographic alignment of a dataset before its windows are computed:
// `transform.align = "none" | "auto" | [tilt, azimuth]` (docs/alignment.md).
//
//   "none"            the ions as read (the default);
//   [tilt, azimuth]   a known pole (degrees) is turned onto z: rotation_to_z
//                     of pole_direction(tilt, azimuth) about the centre of the
//                     dataset's bounding box;
//   "auto"            the pole is found with aptflow pole (pipeline/pole.hpp)
//                     on the ions themselves and turned onto z, globally or,
//                     with transform.tile > 0, per column of tile x tile nm
//                     (each about its own centre; columns without a measured
//                     pole use the global one).
// Other keys (auto only): transform.cone (15), transform.species (all ranged
// ions), transform.tile (0), transform.min_score (10), transform.r_cut (2.0),
// transform.bin (0.05), transform.subsamples (8).
//
// Use in a driver (collective over comm), after read + range and before the
// decomposition:
//   const AlignSpec spec = parse_align(cfg);                 // with the other keys
//   const Alignment al = resolve_alignment(comm, cloud, spec, table, input);
//   apply_alignment(al, cloud);                               // rotates the read ions in place
//   ... windows, classes, domains in the aligned frame ...
//   write_alignment(file, "/entry1/alignment", al);           // the rotation, recorded
// Per-ion results keep their global input index and so stay in input order;
// positions written out (domain centroids, window origins) are mapped back with
// to_input_frame() (domains: domains_to_input_frame()). Drivers: classify,
// sdm, voxelize, cluster: each rank holds its block of the dataset and the
// rotation is resolved over the communicator (voxelize and cluster read
// --set transform.* with parse_align_overrides).
#include <mpi.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "aptflow/core/config.hpp"
#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/range_table.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/kernels/align.hpp"
#include "aptflow/pipeline/pole.hpp"

namespace aptflow {

struct DomainStats;  // pipeline/segment.hpp

struct AlignSpec {
  enum class Mode { none, fixed, autodetect };
  Mode mode = Mode::none;
  double tilt_deg = 0, azimuth_deg = 0;  // fixed
  std::vector<std::string> species;      // auto: ion-type names; empty = all ranged ions
  pole::PoleOptions pole;                // auto: cone, r_cut, bin, min_score, subsamples, tile
};

std::string to_string(AlignSpec::Mode m);  // "none", "fixed", "auto"

// Reads `<table>.align` and the keys above (marks them used). ConfigError
// naming the key: a string other than "none"/"auto", an array that is not
// [tilt, azimuth] with 0 <= tilt <= 45, options out of range (pole::PoleOptions::validate,
// reported under the transform key), tile or other auto keys with a fixed or no alignment.
AlignSpec parse_align(const Config& cfg, const std::string& table = "transform");

// The `--set transform.KEY=VALUE` assignments of a verb that has no other
// config keys (voxelize, cluster): parse_align of them; any other key is a
// ConfigError naming it (Config::check_all_used).
AlignSpec parse_align_overrides(const std::vector<std::string>& assignments);

struct Alignment {
  AlignSpec::Mode mode = AlignSpec::Mode::none;
  bool per_tile = false;
  Rotation rotation;                    // the global rotation (identity for none)
  TileRotations tiles;                  // per_tile: one rotation per column
  pole::PoleResult found;               // auto: what aptflow pole found
  std::array<double, 3> pole{0, 0, 1};  // the pole turned onto z (global)
  double tilt_deg = 0, azimuth_deg = 0;

  bool is_identity() const { return mode == AlignSpec::Mode::none || (!per_tile && rotation.is_identity()); }
};

// Collective over comm: the rotation(s) for the ions that the ranks read
// (local: this rank's part, ranged with `table`). none: identity; fixed:
// about the centre of the global bounding box; auto: find_pole (errors as
// there, naming `source`).
Alignment resolve_alignment(MPI_Comm comm, const HostIonCloud& local, const AlignSpec& spec,
                            const RangeTable& table, const std::string& source);

// Rotate the cloud in place (no communication). Per tile: tile_of_ion (if its
// extent is the cloud size) receives each ion's tile.
void apply_alignment(const Alignment& a, const HostIonCloud& cloud,
                     const Kokkos::View<std::int64_t*, Kokkos::HostSpace>& tile_of_ion = {});

// Back to input coordinates: a point of the aligned frame (tile: the tile
// whose rotation moved it; -1 = the global rotation).
std::array<double, 3> to_input_frame(const Alignment& a, const std::array<double, 3>& p,
                                     std::int64_t tile = -1);

// Domains found in the aligned frame back to input coordinates: the centroid
// by to_input_frame (per tile: the rotation of the tile that holds the centroid
// after the global inverse rotation), the gyration axes by the same rotation (each with its
// largest |component| > 0 again); sizes, volumes, radii and eigenvalues do not change.
void domains_to_input_frame(const Alignment& a, std::vector<DomainStats>& domains);

// One line for the progress output: "align (fixed): pole at tilt ... turned onto z".
std::string describe(const Alignment& a);

// Record the alignment under `path` (collective over the file's communicator):
// attributes mode, tilt_deg, azimuth_deg, per_tile; datasets pole (3),
// rotation (12: row-major R then the centre); auto: score, spacing_nm,
// uncertainty_deg; per tile: tiles/rotation (n, 12), tiles/origin, tiles/edge,
// tiles/counts, tiles/status.
void write_alignment(const h5::File& f, const std::string& path, const Alignment& a);

}  // namespace aptflow
