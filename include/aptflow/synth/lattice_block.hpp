#pragma once
// Synthetic lattice blocks for training libraries (method.md section 4):
//   1. ideal block of n_x x n_y x n_z unit cells, duplicate sites dropped;
//   2. rotation so that the chosen pole lies along z;
//   3. Gaussian noise N(0, sigma_xy) on x and y, N(0, sigma_z) on z;
//   4. detection efficiency: keep floor(N * eta) atoms (exact) or keep each
//      atom with probability eta (Bernoulli), optionally per species.
// All randomness (occupation of partially ordered sites, noise, thinning) is
// drawn from the counter-based stream keyed by (seed, sample, site id), where
// the site id is the atom's index in the ideal block: the result does not
// depend on the order of generation.
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "aptflow/core/config.hpp"
#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/synth/orientation.hpp"
#include "aptflow/synth/structure.hpp"

namespace aptflow::synth {

enum class Thinning {
  exact,      // keep exactly floor(N * eta) atoms (per species when eta is per species)
  bernoulli,  // keep each atom independently with probability eta
};

struct ArtefactModel {
  double sigma_xy = 0;    // nm, lateral Gaussian blur (x and y independently)
  double sigma_z = 0;     // nm, depth Gaussian blur
  double efficiency = 1;  // detection efficiency eta in [0, 1]
  // Per-species overrides of eta (species name -> eta).
  std::vector<std::pair<std::string, double>> efficiency_species;
  Thinning thinning = Thinning::exact;

  double efficiency_of(const std::string& species) const;
};

// Reads table.{sigma_xy, sigma_z, efficiency, efficiency_species, thinning}
// (thinning = "exact" | "bernoulli"); missing keys keep the given defaults.
ArtefactModel artefacts_from_config(const Config& cfg, const std::string& table,
                                    const ArtefactModel& defaults = {});

struct BlockSpec {
  std::array<int, 3> cells{13, 13, 13};  // unit cells along the crystal axes
  // true: every lattice site of the closed block [0, n a] (sites on the far
  // faces included once: the papers' block with duplicates dropped);
  // false: the half-open block [0, n a), exactly n^3 * sites atoms.
  bool closed = true;
};

// Atoms of a block. Positions in nm (double for exactness in tests); species
// ids are 1-based into species_names (RangeTable convention: id = type + 1).
struct LatticeBlock {
  std::vector<std::string> species_names;
  std::vector<double> x, y, z;
  std::vector<std::uint16_t> species;
  std::vector<std::int64_t> site_id;  // index in the ideal block (the RNG atom key)

  std::size_t size() const { return x.size(); }
};

// Step 1: the ideal block, centred on the origin (the block centre is at
// (0, 0, 0)); partially ordered sites draw their species from the stream.
LatticeBlock build_ideal_block(const CrystalStructure& s, const BlockSpec& spec, std::uint64_t seed,
                               std::uint32_t sample);
// Step 2: p <- R p for every atom.
void rotate_block(LatticeBlock& b, const Orientation& o);
// Step 3: Gaussian displacement, keyed by (seed, sample, site id).
void add_noise(LatticeBlock& b, double sigma_xy, double sigma_z, std::uint64_t seed, std::uint32_t sample);
// Step 4: detection efficiency (keeps the surviving atoms in block order).
void thin_block(LatticeBlock& b, const ArtefactModel& m, std::uint64_t seed, std::uint32_t sample);

// Steps 1-4 for one library sample.
LatticeBlock make_library_block(const CrystalStructure& s, const BlockSpec& spec, const Orientation& o,
                                const ArtefactModel& m, std::uint64_t seed, std::uint32_t sample);

// The block as an ion cloud; mq[k] is the m/q of species id k + 1 (empty: 0).
HostIonCloud to_ion_cloud(const LatticeBlock& b, const std::vector<double>& mq = {});

}  // namespace aptflow::synth
