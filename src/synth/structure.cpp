#include "aptflow/synth/structure.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "aptflow/core/error.hpp"

namespace aptflow::synth {

namespace {

std::string join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

// Built-in structures in the structure TOML schema. Placeholder species: A is
// the majority species, B the minority one (L1_2 A3B: A on faces, B on
// corners; B2 AB: A on corners, B at the body centre; D0_3 A3B (Fe3Al): B on
// 4a, A on 4b and 8c; D0_22 A3B (Al3Ti): B on 2a, A on 2b and 4d).
struct Builtin {
  const char* name;
  const char* toml;
};

const Builtin kBuiltins[] = {
    {"A1", R"(name = "A1"  # disordered FCC (Cu type)
lattice = "cubic"
a = 0.405
[[sites]]
position = [0.0, 0.0, 0.0]
occupancy = { A = 1.0 }
label = "4a"
[[sites]]
position = [0.0, 0.5, 0.5]
occupancy = { A = 1.0 }
label = "4a"
[[sites]]
position = [0.5, 0.0, 0.5]
occupancy = { A = 1.0 }
label = "4a"
[[sites]]
position = [0.5, 0.5, 0.0]
occupancy = { A = 1.0 }
label = "4a"
)"},
    {"L1_2", R"(name = "L1_2"  # A3B, Cu3Au type: B on cube corners, A on face centres
lattice = "cubic"
a = 0.405
[[sites]]
position = [0.0, 0.0, 0.0]
occupancy = { B = 1.0 }
label = "1a corner"
[[sites]]
position = [0.0, 0.5, 0.5]
occupancy = { A = 1.0 }
label = "3c face"
[[sites]]
position = [0.5, 0.0, 0.5]
occupancy = { A = 1.0 }
label = "3c face"
[[sites]]
position = [0.5, 0.5, 0.0]
occupancy = { A = 1.0 }
label = "3c face"
)"},
    {"A2", R"(name = "A2"  # disordered BCC (W type)
lattice = "cubic"
a = 0.287
[[sites]]
position = [0.0, 0.0, 0.0]
occupancy = { A = 1.0 }
label = "2a"
[[sites]]
position = [0.5, 0.5, 0.5]
occupancy = { A = 1.0 }
label = "2a"
)"},
    {"B2", R"(name = "B2"  # AB, CsCl type: A on corners, B at the body centre (FeAl: A = Fe, B = Al)
lattice = "cubic"
a = 0.287
[[sites]]
position = [0.0, 0.0, 0.0]
occupancy = { A = 1.0 }
label = "1a corner"
[[sites]]
position = [0.5, 0.5, 0.5]
occupancy = { B = 1.0 }
label = "1b body centre"
)"},
    {"D0_3", R"(name = "D0_3"  # A3B, BiF3 type (Fe3Al: A = Fe, B = Al); cell = 2 x 2 x 2 BCC cells
lattice = "cubic"
a = 0.574
# BCC corner sites: rock-salt alternation of B (4a) and A (4b)
[[sites]]
position = [0.0, 0.0, 0.0]
occupancy = { B = 1.0 }
label = "4a"
[[sites]]
position = [0.0, 0.5, 0.5]
occupancy = { B = 1.0 }
label = "4a"
[[sites]]
position = [0.5, 0.0, 0.5]
occupancy = { B = 1.0 }
label = "4a"
[[sites]]
position = [0.5, 0.5, 0.0]
occupancy = { B = 1.0 }
label = "4a"
[[sites]]
position = [0.5, 0.5, 0.5]
occupancy = { A = 1.0 }
label = "4b"
[[sites]]
position = [0.5, 0.0, 0.0]
occupancy = { A = 1.0 }
label = "4b"
[[sites]]
position = [0.0, 0.5, 0.0]
occupancy = { A = 1.0 }
label = "4b"
[[sites]]
position = [0.0, 0.0, 0.5]
occupancy = { A = 1.0 }
label = "4b"
# BCC body centres: all A (8c)
[[sites]]
position = [0.25, 0.25, 0.25]
occupancy = { A = 1.0 }
label = "8c"
[[sites]]
position = [0.75, 0.75, 0.25]
occupancy = { A = 1.0 }
label = "8c"
[[sites]]
position = [0.75, 0.25, 0.75]
occupancy = { A = 1.0 }
label = "8c"
[[sites]]
position = [0.25, 0.75, 0.75]
occupancy = { A = 1.0 }
label = "8c"
[[sites]]
position = [0.75, 0.75, 0.75]
occupancy = { A = 1.0 }
label = "8c"
[[sites]]
position = [0.25, 0.25, 0.75]
occupancy = { A = 1.0 }
label = "8c"
[[sites]]
position = [0.25, 0.75, 0.25]
occupancy = { A = 1.0 }
label = "8c"
[[sites]]
position = [0.75, 0.25, 0.25]
occupancy = { A = 1.0 }
label = "8c"
)"},
    {"L1_0", R"(name = "L1_0"  # AB, CuAu type: alternating A and B (002) planes along c
lattice = "tetragonal"
a = 0.405
c = 0.405
[[sites]]
position = [0.0, 0.0, 0.0]
occupancy = { A = 1.0 }
label = "1a"
[[sites]]
position = [0.5, 0.5, 0.0]
occupancy = { A = 1.0 }
label = "1c"
[[sites]]
position = [0.5, 0.0, 0.5]
occupancy = { B = 1.0 }
label = "2e"
[[sites]]
position = [0.0, 0.5, 0.5]
occupancy = { B = 1.0 }
label = "2e"
)"},
    {"D0_22", R"(name = "D0_22"  # A3B, Al3Ti type: two FCC cells stacked along c (c = 2a ideal)
lattice = "tetragonal"
a = 0.405
c = 0.810
[[sites]]
position = [0.0, 0.0, 0.0]
occupancy = { B = 1.0 }
label = "2a"
[[sites]]
position = [0.5, 0.5, 0.5]
occupancy = { B = 1.0 }
label = "2a"
[[sites]]
position = [0.0, 0.0, 0.5]
occupancy = { A = 1.0 }
label = "2b"
[[sites]]
position = [0.5, 0.5, 0.0]
occupancy = { A = 1.0 }
label = "2b"
[[sites]]
position = [0.0, 0.5, 0.25]
occupancy = { A = 1.0 }
label = "4d"
[[sites]]
position = [0.5, 0.0, 0.25]
occupancy = { A = 1.0 }
label = "4d"
[[sites]]
position = [0.0, 0.5, 0.75]
occupancy = { A = 1.0 }
label = "4d"
[[sites]]
position = [0.5, 0.0, 0.75]
occupancy = { A = 1.0 }
label = "4d"
)"},
};

Occupancy read_occupancy(const Config& cfg, const std::string& key, const std::string& report_key) {
  Occupancy occ;
  if (!cfg.has(key))
    throw ConfigError(report_key, "required table is missing (e.g. occupancy = { Al = 1.0 })");
  for (const auto& sp : cfg.keys(key)) {
    const double p = cfg.get_double(key + "." + sp);
    if (!(p >= 0.0 && p <= 1.0))
      throw ConfigError(report_key + "." + sp, fmt::format("probability {} is outside [0, 1]", p));
    if (p > 0.0) {
      occ.species.push_back(sp);
      occ.probability.push_back(p);
    }
  }
  double sum = 0;
  for (double p : occ.probability) sum += p;
  if (occ.species.empty() || std::abs(sum - 1.0) > 1e-6)
    throw ConfigError(report_key,
                      fmt::format("occupation probabilities sum to {}, not 1 (fix the probabilities)", sum));
  return occ;
}

void validate(const CrystalStructure& s, const std::string& where) {
  if (!(s.a > 0) || !(s.c > 0))
    throw ConfigError(join(where, "a"), "lattice parameters a and c must be positive (nm)");
  if (s.sites.empty())
    throw ConfigError(join(where, "sites"), "a structure needs at least one [[sites]] entry");
  for (std::size_t i = 0; i < s.sites.size(); ++i) {
    for (double f : s.sites[i].position)
      if (!(f >= 0.0 && f < 1.0))
        throw ConfigError(fmt::format("{}.{}.position", join(where, "sites"), i),
                          "fractional coordinates must lie in [0, 1) (use 0 instead of 1)");
    for (std::size_t j = 0; j < i; ++j) {
      double d = 0;
      for (int k = 0; k < 3; ++k) {
        double diff = std::abs(s.sites[i].position[k] - s.sites[j].position[k]);
        diff = std::min(diff, 1.0 - diff);
        d = std::max(d, diff);
      }
      if (d < 1e-6)
        throw ConfigError(fmt::format("{}.{}.position", join(where, "sites"), i),
                          fmt::format("site coincides with site {} (remove the duplicate)", j));
    }
  }
}

}  // namespace

std::vector<std::string> CrystalStructure::species() const {
  std::vector<std::string> out;
  for (const auto& site : sites)
    for (const auto& sp : site.occupancy.species)
      if (std::find(out.begin(), out.end(), sp) == out.end()) out.push_back(sp);
  return out;
}

std::vector<std::pair<std::string, double>> CrystalStructure::composition() const {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& sp : species()) out.emplace_back(sp, 0.0);
  for (const auto& site : sites)
    for (std::size_t k = 0; k < site.occupancy.species.size(); ++k)
      for (auto& [name, frac] : out)
        if (name == site.occupancy.species[k]) frac += site.occupancy.probability[k] / sites.size();
  return out;
}

CrystalStructure parse_structure(const Config& cfg, const std::string& prefix) {
  CrystalStructure s;
  s.name = cfg.get_string(join(prefix, "name"), "custom");
  const auto lattice = cfg.get_string(join(prefix, "lattice"), "cubic");
  if (lattice == "cubic")
    s.lattice = LatticeSystem::cubic;
  else if (lattice == "tetragonal")
    s.lattice = LatticeSystem::tetragonal;
  else
    throw ConfigError(join(prefix, "lattice"),
                      fmt::format("'{}' is not \"cubic\" or \"tetragonal\"", lattice));
  s.a = cfg.get_double(join(prefix, "a"));
  if (s.lattice == LatticeSystem::cubic) {
    if (cfg.has(join(prefix, "c")))
      throw ConfigError(join(prefix, "c"),
                        "a cubic structure has c = a (remove c or use lattice = \"tetragonal\")");
    s.c = s.a;
  } else {
    s.c = cfg.get_double(join(prefix, "c"));
  }
  const std::string arr = join(prefix, "sites");
  const std::size_t n = cfg.array_size(arr);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string el = fmt::format("{}[{}]", arr, i);
    const std::string dotted = fmt::format("{}.{}", arr, i);
    for (const auto& k : cfg.keys(el))
      if (k != "position" && k != "occupancy" && k != "label")
        throw ConfigError(dotted + "." + k,
                          "unknown key in a [[sites]] entry (known: position, occupancy, label)");
    Site site;
    const auto pos = cfg.get_doubles(el + ".position");
    if (pos.size() != 3) throw ConfigError(dotted + ".position", "expected 3 fractional coordinates");
    site.position = {pos[0], pos[1], pos[2]};
    site.occupancy = read_occupancy(cfg, el + ".occupancy", dotted + ".occupancy");
    site.label = cfg.get_string(el + ".label", "");
    cfg.mark_used(dotted);
    s.sites.push_back(std::move(site));
  }
  validate(s, prefix);
  return s;
}

CrystalStructure load_structure_file(const std::string& path) {
  auto cfg = Config::from_file(path);
  auto s = parse_structure(cfg, "");
  cfg.check_all_used();
  return s;
}

const std::vector<std::string>& builtin_structure_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& b : kBuiltins) v.emplace_back(b.name);
    return v;
  }();
  return names;
}

std::string builtin_structure_toml(const std::string& name) {
  for (const auto& b : kBuiltins)
    if (name == b.name) return b.toml;
  std::string known;
  for (const auto& b : kBuiltins) known += std::string(known.empty() ? "" : ", ") + b.name;
  throw ConfigError("structure", fmt::format("'{}' is not a built-in structure (built-ins: {}; or give "
                                             "structure_file = \"path.toml\")",
                                             name, known));
}

CrystalStructure builtin_structure(const std::string& name) {
  auto cfg = Config::from_string(builtin_structure_toml(name), "builtin:" + name);
  auto s = parse_structure(cfg, "");
  cfg.check_all_used();
  return s;
}

CrystalStructure substitute_species(const CrystalStructure& s, const SpeciesMap& map) {
  CrystalStructure out = s;
  for (auto& site : out.sites) {
    Occupancy occ;
    auto add = [&occ](const std::string& sp, double p) {
      auto it = std::find(occ.species.begin(), occ.species.end(), sp);
      if (it == occ.species.end()) {
        occ.species.push_back(sp);
        occ.probability.push_back(p);
      } else {
        occ.probability[static_cast<std::size_t>(it - occ.species.begin())] += p;
      }
    };
    for (std::size_t k = 0; k < site.occupancy.species.size(); ++k) {
      const auto& sp = site.occupancy.species[k];
      const double p = site.occupancy.probability[k];
      auto it = std::find_if(map.begin(), map.end(), [&](const auto& e) { return e.first == sp; });
      if (it == map.end()) {
        add(sp, p);
      } else {
        for (std::size_t m = 0; m < it->second.species.size(); ++m)
          add(it->second.species[m], p * it->second.probability[m]);
      }
    }
    site.occupancy = std::move(occ);
  }
  return out;
}

SpeciesMap parse_species_map(const Config& cfg, const std::string& key) {
  SpeciesMap map;
  if (!cfg.has(key)) return map;
  cfg.mark_used(key);
  for (const auto& placeholder : cfg.keys(key))
    map.emplace_back(placeholder, read_occupancy(cfg, key + "." + placeholder, key + "." + placeholder));
  return map;
}

CrystalStructure structure_from_config(const Config& cfg, const std::string& table) {
  const bool has_name = cfg.has(join(table, "structure"));
  const bool has_file = cfg.has(join(table, "structure_file"));
  if (has_name == has_file)
    throw ConfigError(join(table, "structure"),
                      "give exactly one of structure = \"<built-in>\" and structure_file = \"path.toml\"");
  CrystalStructure s;
  if (has_name) {
    s = builtin_structure(cfg.get_string(join(table, "structure")));
  } else {
    std::filesystem::path p = cfg.get_string(join(table, "structure_file"));
    if (p.is_relative() && !cfg.source().empty() && cfg.source().front() != '<')
      p = std::filesystem::path(cfg.source()).parent_path() / p;
    s = load_structure_file(p.string());
  }
  if (cfg.has(join(table, "a"))) {
    const double a = cfg.get_double(join(table, "a"));
    if (!(a > 0)) throw ConfigError(join(table, "a"), "lattice parameter must be positive (nm)");
    s.c = s.lattice == LatticeSystem::cubic ? a : s.c * a / s.a;  // keep c/a unless c is given
    s.a = a;
  }
  if (cfg.has(join(table, "c"))) {
    if (s.lattice == LatticeSystem::cubic)
      throw ConfigError(join(table, "c"), fmt::format("structure '{}' is cubic: remove c", s.name));
    s.c = cfg.get_double(join(table, "c"));
    if (!(s.c > 0)) throw ConfigError(join(table, "c"), "lattice parameter must be positive (nm)");
  }
  return substitute_species(s, parse_species_map(cfg, join(table, "species")));
}

}  // namespace aptflow::synth
