#pragma once
// Crystal structures for synthetic data: a cubic or tetragonal unit cell
// (lattice parameters a, c in nm) with sublattice sites at fractional
// coordinates, each with species occupation probabilities, so that partial
// order ({Al = 0.75, Li = 0.25} on one site) is expressible.
//
// Structure TOML schema (docs/synthetic.md), at the root of a file or below a
// table of a bigger config:
//   name = "L1_2"
//   lattice = "cubic"                  # or "tetragonal"
//   a = 0.405                          # nm
//   c = 0.810                          # nm, tetragonal only (cubic: c = a)
//   [[sites]]
//   position = [0.0, 0.0, 0.0]         # fractional, each in [0, 1)
//   occupancy = { B = 1.0 }            # species -> probability, sums to 1
//   label = "1a corner"                # optional
//
// Built-ins (A1, L1_2, A2, B2, D0_3, L1_0, D0_22) are shipped as TOML text in
// this schema with placeholder species A (majority) and B (minority); they are
// instantiated with chosen species by substitute_species().
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "aptflow/core/config.hpp"

namespace aptflow::synth {

enum class LatticeSystem { cubic, tetragonal };

// Species occupation probabilities of one site (same length, sum 1).
struct Occupancy {
  std::vector<std::string> species;
  std::vector<double> probability;
};

struct Site {
  std::array<double, 3> position{};  // fractional coordinates in [0, 1)
  Occupancy occupancy;
  std::string label;
};

struct CrystalStructure {
  std::string name;
  LatticeSystem lattice = LatticeSystem::cubic;
  double a = 0;  // nm
  double c = 0;  // nm (== a for cubic)
  std::vector<Site> sites;

  // Cell edge lengths (a, a, c) in nm.
  std::array<double, 3> cell() const { return {a, a, c}; }
  double cell_volume() const { return a * a * c; }
  double atomic_volume() const { return cell_volume() / static_cast<double>(sites.size()); }
  // Species names in order of first appearance over the sites.
  std::vector<std::string> species() const;
  // Expected atomic fraction of each species (order of species()).
  std::vector<std::pair<std::string, double>> composition() const;
};

// Parse a structure from a config; `prefix` is the table ("" = root). Marks
// every key it reads as used; unknown keys inside a [[sites]] entry are a
// ConfigError. Validates: a > 0, c > 0, positions in [0, 1), no two sites at
// the same position, probabilities in [0, 1] summing to 1.
CrystalStructure parse_structure(const Config& cfg, const std::string& prefix = "");
// Parse a structure TOML file (every key must be known).
CrystalStructure load_structure_file(const std::string& path);

// Built-in structures: names, TOML text (the schema above), parsed structure.
const std::vector<std::string>& builtin_structure_names();
std::string builtin_structure_toml(const std::string& name);  // ConfigError if unknown
CrystalStructure builtin_structure(const std::string& name);

// Placeholder -> occupancy, e.g. {"A", {Al: 1}}, {"B", {Li: 0.8, Mg: 0.2}}.
using SpeciesMap = std::vector<std::pair<std::string, Occupancy>>;
// Replace each species named in the map by its occupancy (probabilities
// multiply); species not in the map are kept. Equal species are merged.
CrystalStructure substitute_species(const CrystalStructure& s, const SpeciesMap& map);
// Read a species map from a table: key.A = { Al = 0.9, Li = 0.1 }.
SpeciesMap parse_species_map(const Config& cfg, const std::string& key);

// A structure as the tables of a specimen or library config describe it:
//   structure = "L1_2"            built-in name, or
//   structure_file = "x.toml"     a structure TOML file (relative paths are
//                                 taken relative to the config's directory)
//   a = 0.405, c = 0.81           optional overrides of the lattice parameters
//   species = { A = { Al = 1.0 }, B = { Li = 0.8, Mg = 0.2 } }
CrystalStructure structure_from_config(const Config& cfg, const std::string& table);

}  // namespace aptflow::synth
