#pragma once
// aptflow pole: the direction of the strongest lattice-plane periodicity
// within a cone around z, its plane spacing, tilt and azimuth with their
// uncertainties, globally and per tile (docs/alignment.md has the design and
// the measured accuracy).
//
// Score. For the selected ions (species, region of interest) every ordered
// pair (i, j), i != j, with |d| <= r_cut, d = p_j - p_i, enters the 3D SDM H
// (integer pair counts over [-r_cut, r_cut)^3, bins of `bin` nm; the existing
// SDM kernel). The score at a wave vector k (rad/nm) is the tapered Fourier
// amplitude of H:
//   P(k) = sum_b H_b w(|c_b|) cos(k . c_b) / S(k),
//   w(r) = (1 - r^2 / r_cut^2)^2 (0 beyond r_cut),  S(k) = prod_a sinc(k_a bin / 2)
// (c_b = bin centre; S undoes the averaging over a bin). Planes of spacing d
// with unit normal n make a peak of P at k = (2 pi / d) n, with the shape of
// the taper's Fourier transform: isotropic about the peak, because the
// sphere |d| <= r_cut selects pairs by their detected displacement, so the
// anisotropic blur of APT (sigma_xy >> sigma_z) lowers the peak but does
// not move it. H is even (each pair counts as i->j and j->i), so only the
// half space d_z >= 0 is kept ("folded": H_b + H_-b).
//
// Search. (1) A scan of directions n on a gnomonic grid inside the cone and of
// |k| = q over [2 pi / spacing_max, 2 pi / spacing_min]: the histogram,
// coarsened 2 x 2 x 2, is projected on n (1D SDM along n) and its cosine
// transform taken at every q. The significance of (n, q) is
//   score = (P(n, q) - median over the cone's directions of P(., q)) / sqrt(sum_b H_b w_b^2)
// (the noise of P for uncorrelated pairs); the isotropic part of the pair
// correlation cancels in the median. (2) The best (n, q) is refined on the
// full histogram by least-squares fits of a quadratic to log P on a 5^3 grid
// of k around the estimate, re-centred until it moves less than 1e-3 of a
// grid step. direction = k / |k|, spacing = 2 pi / |k|.
//
// Uncertainty. The centre ions are split into `subsamples` blocks of equal
// height along z (disjoint parts of the specimen); each block's histogram
// (its centres, all neighbours) is refined from the full estimate; the
// standard error of the mean of the block estimates (sample sd / sqrt(G)) is
// the uncertainty of tilt, of the direction across it, of the azimuth and of
// the spacing; uncertainty_deg = the angular standard error of the direction.
//
// MPI. Ions are sorted into z slabs (dist/decomposition.hpp) with a halo of
// r_cut; every rank histograms its own centres; the integer histograms are
// summed with MPI_Reduce (exact), so results are the same bytes on any number
// of ranks. Tiles are analysed by rank (tile mod ranks) in waves.
#include <mpi.h>

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/range_table.hpp"
#include "aptflow/kernels/cell_list.hpp"
#include "aptflow/pipeline/roi.hpp"

namespace aptflow::pole {

using Vec3 = std::array<double, 3>;
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Comma-separated numbers ("0.12,0.6"); ConfigError naming `key` (with `example`)
// when an item is not a finite number.
std::vector<double> parse_numbers(const std::string& text, const std::string& key,
                                  const std::string& example);

struct PoleOptions {
  std::vector<int> species;  // ion-type ids (1-based) used as centres and neighbours; empty = all ranged ions
  Roi roi;                   // centre ions (neighbours: every selected ion)
  double margin = 1.0;       // nm: centres lie r_cut + margin inside the occupied volume
  double cone_deg = 15;      // search cone half-angle about +z, (0, 45]
  double r_cut = 2.0;        // nm (the bias of docs/alignment.md falls as r_cut^-5)
  double bin = 0.05;         // nm; 2 r_cut / bin must be an even whole number
  double spacing_min = 0.12, spacing_max = 0.6;  // nm, plane spacings searched
  int subsamples = 8;                            // z blocks for the uncertainty, 2..64
  double min_score = 10;                         // below: no periodicity
  double tile = 0;                               // nm, tile edge in x and y (0: no map)
  double tile_z = 0;                             // nm, tile height (0: columns through the whole z range)
  std::int64_t min_tile_ions = 5000;             // tiles with fewer selected ions are not measured
  double tile_spacing_window = 0.15;  // tiles search spacings within this fraction of the global one
  std::string source = "input";       // file named in error messages

  // ConfigError naming the CLI option (--cone, --bin, ...) when a value is out of range.
  void validate() const;
};

// Geometry of the folded histogram: the bins of the full (n^3, SDM layout
// (kz * n + ky) * n + kx) histogram with kz >= n/2 that can hold a pair within
// r_cut, with their centres, taper weights and mirror bins.
struct SpectrumGeometry {
  double r_cut = 1.5, bin = 0.025;
  int n = 120;                        // bins per axis of the full histogram
  std::vector<std::int64_t> flat;     // full-histogram bin of each kept bin
  std::vector<std::int64_t> mirror;   // full-histogram bin of -c
  std::vector<double> cx, cy, cz, w;  // centre (nm) and taper weight
  // Rows (kz - n/2, ky) of the half cube: kept bins have kx in [row_lo, row_hi).
  std::vector<int> row_lo, row_hi;

  static std::shared_ptr<const SpectrumGeometry> make(double r_cut, double bin);
  std::size_t size() const { return flat.size(); }
  double centre(int i) const { return -r_cut + (i + 0.5) * bin; }
  // Half-width at half maximum (rad/nm) of the taper's Fourier transform.
  double peak_hwhm() const { return hwhm; }
  double hwhm = 1;
};

// P(k) of one folded histogram (see the top of this file).
class PairSpectrum {
 public:
  PairSpectrum() = default;
  PairSpectrum(std::shared_ptr<const SpectrumGeometry> geometry, std::vector<std::int64_t> folded);

  const SpectrumGeometry& geometry() const { return *g_; }
  const std::shared_ptr<const SpectrumGeometry>& shared_geometry() const { return g_; }
  const std::vector<std::int64_t>& folded() const { return h_; }
  std::int64_t pairs() const { return pairs_; }  // ordered pairs in the kept bins
  double total() const { return total_; }        // P(0) = sum H w
  double noise() const { return noise_; }        // sqrt(sum H w^2)
  bool empty() const { return pairs_ == 0; }

  double at(const Vec3& k) const;
  // P on the tensor grid kx x ky x kz: out[(c * ny + b) * nx + a] = P(kx[a], ky[b], kz[c]).
  void grid(const std::vector<double>& kx, const std::vector<double>& ky, const std::vector<double>& kz,
            std::vector<double>& out) const;

 private:
  std::shared_ptr<const SpectrumGeometry> g_;
  std::vector<std::int64_t> h_;
  std::int64_t pairs_ = 0;
  double total_ = 0, noise_ = 0;
  // Dense half cube of H w, ((kz - n/2) * n + ky) * n + kx.
  std::vector<double> dense_;
};

// Coarse scan of directions x spacings (step 1 of the search).
struct ConeScan {
  double cone_deg = 0, step = 0;  // gnomonic grid step (tan units)
  int nu = 0;                     // grid points per axis: u = tan(t) cos(a) = (i - (nu-1)/2) step, same for v
  std::vector<double> q;          // rad/nm
  std::vector<double> median;     // per q: median of P over the directions
  std::vector<double> score_at_best_q;  // nu * nu (v rows, u columns), NaN outside the cone
  Vec3 best_k{kNaN, kNaN, kNaN};
  double best_score = kNaN;
  int best_q = -1;
};
ConeScan scan_cone(const PairSpectrum& s, double cone_deg, double q_min, double q_max);

struct Refined {
  bool ok = false;
  Vec3 k{kNaN, kNaN, kNaN};
  double value = kNaN;  // P(k)
  int iterations = 0;
};
// Refine the peak of P near k0 (step 2 of the search).
Refined refine_peak(const PairSpectrum& s, const Vec3& k0);

struct PoleEstimate {
  bool found = false;                // score >= min_score and the refinement converged
  Vec3 direction{kNaN, kNaN, kNaN};  // unit, z >= 0, reconstruction frame
  Vec3 k{kNaN, kNaN, kNaN};          // rad/nm
  double tilt_deg = kNaN, azimuth_deg = kNaN, spacing_nm = kNaN;
  double uncertainty_deg = kNaN;  // angular standard error of the direction
  double tilt_uncertainty_deg = kNaN, cross_uncertainty_deg = kNaN, azimuth_uncertainty_deg = kNaN;
  double spacing_uncertainty_nm = kNaN;
  double score = kNaN;     // significance (see above)
  double contrast = kNaN;  // P(k) / P(0)
  std::int64_t centres = 0, pairs = 0;
  int subsamples_used = 0;
  std::vector<Vec3> sub_directions;  // per z block (NaN when its refinement failed)
  std::vector<double> sub_spacing;

  // Flat numeric form (for MPI and files): kPacked doubles.
  static constexpr int kPacked = 20;
  std::array<double, kPacked> pack() const;
  static PoleEstimate unpack(const double* v);
};

// The analysis of one region: scan (q in [q_min, q_max]), refinement, sub-sample
// uncertainty. subs: the folded histograms of the sub-samples (same geometry;
// may be empty: no uncertainty). scan_out: the scan, if wanted.
PoleEstimate estimate_pole(const PairSpectrum& full, const std::vector<std::vector<std::int64_t>>& subs,
                           double cone_deg, double q_min, double q_max, double min_score,
                           ConeScan* scan_out = nullptr);

// Folded histogram of the centres (indices into cloud) against every ion of
// the cell list (built from the same cloud), using compute_sdm_of_centres.
std::vector<std::int64_t> folded_histogram(const HostIonCloud& cloud,
                                           const CellList<Kokkos::HostSpace>& cells,
                                           const SpectrumGeometry& g, const std::vector<IonIndex>& centres);

enum class TileStatus : std::int8_t { measured = 0, too_few_ions = 1, no_periodicity = 2 };

struct TileMap {
  double origin[3] = {0, 0, 0}, edge[3] = {0, 0, 0};  // nm
  std::int64_t n[3] = {1, 1, 1};                      // tiles along x, y, z
  std::vector<PoleEstimate> tiles;                    // (iz * ny + iy) * nx + ix
  std::vector<std::int64_t> ions;                     // centre ions per tile
  std::vector<Vec3> centroid;  // mean position of the tile's centre ions (nm; NaN if none)
  std::vector<TileStatus> status;
  std::int64_t measured = 0, too_few = 0, no_periodicity = 0;
  std::int64_t size() const { return n[0] * n[1] * n[2]; }
};

struct PoleResult {
  PoleOptions options;
  PoleEstimate pole;
  ConeScan scan;
  bool has_tiles = false;
  TileMap tiles;
  std::int64_t ions = 0;     // selected ions (species)
  std::int64_t centres = 0;  // centre ions: in the region of interest and the eroded volume
  Box bounds;                // of the selected ions
  int ranks = 1;
  double seconds_histograms = 0, seconds_analysis = 0;  // wall time of the two stages (rank 0)
};

// Collective over comm: the pole of the ions that the ranks read (local:
// this rank's part, species from a range table; any split of the ions over
// the ranks gives the same result). InputError (naming options.source) when
// too few ions are selected or no periodicity is found in the cone (with the
// best score); ConfigError for bad options and tiles that hold too few ions.
// The result is complete on every rank.
PoleResult find_pole(MPI_Comm comm, const HostIonCloud& local, const PoleOptions& options);

// Output. Collective over comm: /pole (see docs/alignment.md) in a new HDF5
// file, and path with .xdmf in place of .h5 describing the tile map.
void write_pole_file(MPI_Comm comm, const std::string& path, const PoleResult& r, const std::string& input,
                     const std::string& range, const std::vector<std::string>& species_names);
// The XDMF sidecar path of a result path (x.h5 -> x.xdmf).
std::string xdmf_path_for(const std::string& h5_path);
// One JSON object: {"pole": {...}, ...} (docs/alignment.md).
std::string pole_json(const PoleResult& r, const std::string& input,
                      const std::vector<std::string>& species_names, const std::string& out_file);
// Human-readable summary lines.
std::string pole_text(const PoleResult& r, const std::vector<std::string>& species_names);

}  // namespace aptflow::pole
