#pragma once
// Synthetic specimens: a large block of a matrix structure with embedded
// ordered domains (coherent precipitates sharing the matrix lattice, e.g.
// delta'-Al3Li in Al: the same FCC sites, ordered occupancy inside each
// sphere), the artefact model of the libraries (Gaussian blur, Bernoulli
// detection efficiency) and per-ion ground truth (domain id, class).
//
// Generation is slab by slab along z with bounded memory. Slab iz holds the
// ions whose detected (noisy) z lies in [iz t, (iz + 1) t) (the first and last
// slab also take the ions blurred out of the specimen's z range); within a
// slab the order is a fixed enumeration of the lattice. Every random number
// comes from the counter-based stream keyed by (seed, sample, lattice site),
// so any partition of slabs over ranks gives the same ions in the same global
// order (ion order = slab order).
//
// Class index convention: `class_names` lists the classes; ions/class of an
// ion is the index of the class of the structure the ion belongs to (the
// matrix class for matrix ions, the domain's class for ions inside a domain).
// Default class_names: the matrix class first (index 0), then the classes of
// the domain populations in order of first appearance (populations are
// [domains.<name>] tables, taken in name order). Domain ids are
// 0 .. n-1 in placement order; -1 is the matrix.
#include <mpi.h>

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "aptflow/core/config.hpp"
#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/core/range_table.hpp"
#include "aptflow/synth/bend.hpp"
#include "aptflow/synth/lattice_block.hpp"
#include "aptflow/synth/orientation.hpp"
#include "aptflow/synth/structure.hpp"

namespace aptflow::synth {

enum class DomainShape { sphere, ellipsoid };

struct RadiusDistribution {
  enum class Kind { fixed, normal };
  Kind kind = Kind::fixed;
  double mean = 2.5;  // nm
  double sd = 0;      // nm (normal only)
  double min = 0.5;   // nm, draws outside [min, max] are redrawn (normal only)
  double max = 0;     // nm (0: mean + 5 sd)
};

// One population of domains (a [domains.<name>] table of the config).
struct DomainPopulation {
  std::string name;
  std::string class_name;
  CrystalStructure structure;  // ordered structure; its cell is a multiple of the matrix cell
  DomainShape shape = DomainShape::sphere;
  RadiusDistribution radius;
  std::array<double, 3> aspect{1, 1, 1};  // ellipsoid semi-axes = radius * aspect (lab x, y, z)
  double number_density = 0;              // domains per nm^3 (used when count < 0)
  std::int64_t count = -1;                // explicit number of domains
  double min_gap = 0;                     // nm between bounding spheres of two domains
};

// A placed domain. Semi-axes are along the lab x, y, z axes.
struct Domain {
  std::int64_t id = 0;
  int population = 0;
  int class_id = 0;
  std::array<double, 3> centre{};     // nm
  std::array<double, 3> semi_axes{};  // nm
};

struct SpecimenSpec {
  std::string name = "specimen";  // base name of the output files
  std::uint64_t seed = 0;
  std::uint32_t sample = 0;
  std::array<double, 3> size{40, 40, 100};  // nm; the specimen is [0, size)
  double slab_thickness = 1.0;              // nm
  std::string matrix_class;
  CrystalStructure matrix;
  Orientation orientation;  // of the (shared) crystal lattice, orientation.tilt included
  // Bend (synth/bend.hpp): degrees per nm along x and y, about bend_centre
  // (nm; NaN = the specimen centre). Zero: a rigid lattice.
  std::array<double, 2> bend{0, 0};
  std::array<double, 3> bend_centre{std::numeric_limits<double>::quiet_NaN(),
                                    std::numeric_limits<double>::quiet_NaN(),
                                    std::numeric_limits<double>::quiet_NaN()};
  std::vector<DomainPopulation> populations;
  ArtefactModel artefacts;           // thinning is always Bernoulli for specimens
  std::vector<std::string> species;  // ion types; species id = index + 1
  std::vector<double> mq;            // Da, per species
  std::vector<double> volume;        // nm^3 per atom, per species (RRNG Vol:)
  double peak_sigma = 0;             // Da, Gaussian width of the m/q peaks
  double range_half_width = 0.3;     // Da, RRNG range = mq +- this
  std::vector<std::string> class_names;
  std::string config_text;  // the effective config (provenance)
};

// Read a specimen config (keys documented in configs/synth/specimen_alli_l12.toml
// and docs/synthetic.md). Marks the keys it reads; does not check for unknown keys.
SpecimenSpec parse_specimen_config(const Config& cfg);

// Ions of a range of slabs and their ground truth, in the same order.
struct SpecimenSlab {
  HostIonCloud ions;                    // species id = index into spec.species + 1
  std::vector<std::int64_t> domain_id;  // -1 = matrix
  std::vector<std::int32_t> class_id;   // index into class_names
};

class SpecimenGenerator {
 public:
  // Parses the config and checks that every key is known.
  explicit SpecimenGenerator(const Config& cfg);
  explicit SpecimenGenerator(SpecimenSpec spec);

  const SpecimenSpec& spec() const { return spec_; }
  const std::vector<Domain>& domains() const { return domains_; }
  // Ranges mq +- range_half_width for the species, in species order.
  const RangeTable& range_table() const { return ranges_; }
  std::int64_t num_slabs() const { return num_slabs_; }
  // The bend map of the lattice (identity when spec().bend is zero).
  const BendMap& bend() const { return bend_; }
  // Ground truth of the local pole: the unit lab-frame normal (z >= 0) at the
  // lab point `at` (nm) of the lattice planes whose normal in the crystal
  // frame is the Cartesian vector crystal_normal (e.g. {0, 0, 1} for (002)).
  std::array<double, 3> plane_normal(const std::array<double, 3>& crystal_normal,
                                     const std::array<double, 3>& at) const;

  // Ions of slabs [iz_begin, iz_end), slab after slab. Thread-compatible (const).
  SpecimenSlab generate_slab(std::int64_t iz_begin, std::int64_t iz_end) const;
  // Number of ions generate_slab(iz_begin, iz_end) returns, without storing them.
  std::int64_t count_slab(std::int64_t iz_begin, std::int64_t iz_end) const;

 private:
  struct Dist {
    int n = 0;
    std::uint16_t id[8]{};
    double cum[8]{};
  };
  struct Phase {
    int class_id = 0;
    std::array<int, 3> ratio{1, 1, 1};  // cell of the phase in matrix cells
    std::vector<int> dist_of;           // (cell mod ratio, matrix site) -> index into dists_
  };
  template <class Sink>
  std::int64_t run_slab(std::int64_t iz, Sink& sink) const;
  void setup();
  void place_domains();

  SpecimenSpec spec_;
  std::vector<Domain> domains_;
  RangeTable ranges_;
  std::int64_t num_slabs_ = 0;
  std::vector<Dist> dists_;
  Phase matrix_phase_;
  std::vector<Phase> phases_;  // per population
  std::vector<double> eta_;    // per species id (index 0 unused)
  BendMap bend_;
  std::array<double, 3> bend_margin_{0, 0, 0};  // nm: unbent points of the specimen lie within this of it
};

struct SpecimenFiles {
  std::string pos, rrng, truth;
  std::int64_t num_ions = 0;
  std::int64_t num_domains = 0;
};

// Collective over comm: generate the specimen (each rank a contiguous range
// of slabs, in chunks of bounded size) and write, in out_dir,
//   <name>.pos       big-endian float32 x, y, z, m/q per ion (MPI-IO)
//   <name>.rrng      the range table
//   <name>_truth.h5  ions/domain_id (int64), ions/class (int32) in POS order;
//                    domains/centre (n, 3), domains/radii (n, 3), domains/class (n);
//                    root attributes class_names, species, config, seed, sample.
// The bytes of the POS and RRNG files, and the contents of the truth file,
// do not depend on the number of ranks.
SpecimenFiles write_specimen(MPI_Comm comm, const Config& cfg, const std::string& out_dir);
SpecimenFiles write_specimen(MPI_Comm comm, const SpecimenGenerator& gen, const std::string& out_dir,
                             std::int64_t chunk_ions = 4 << 20);

}  // namespace aptflow::synth
