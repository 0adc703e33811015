#include "aptflow/synth/specimen.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <unordered_map>

#include "aptflow/core/error.hpp"
#include "aptflow/core/rng.hpp"

namespace aptflow::synth {

namespace {

using Vec3 = std::array<double, 3>;

// m/q (Da) of the most abundant isotope, singly charged: defaults for
// ions.mass. Anything else must be given in the config.
const std::map<std::string, double> kDefaultMass = {
    {"H", 1.008},   {"Li", 7.016},  {"B", 11.009},  {"C", 12.000},  {"N", 14.003},  {"O", 15.995},
    {"Mg", 23.985}, {"Al", 26.982}, {"Si", 27.977}, {"Sc", 44.956}, {"Ti", 47.948}, {"V", 50.944},
    {"Cr", 51.941}, {"Mn", 54.938}, {"Fe", 55.935}, {"Co", 58.933}, {"Ni", 57.935}, {"Cu", 62.930},
    {"Zn", 63.929}, {"Zr", 89.905}, {"Nb", 92.906}, {"Mo", 97.905}, {"W", 183.951}, {"Au", 196.967}};

std::int64_t floor_mod(std::int64_t a, std::int64_t m) {
  const std::int64_t r = a % m;
  return r < 0 ? r + m : r;
}

// Packed lattice site id: the RNG atom key. 18 bits per cell index (offset
// by 2^17) and 8 bits for the site.
constexpr std::int64_t kCellOffset = std::int64_t{1} << 17;
std::uint64_t site_key(std::int64_t i, std::int64_t j, std::int64_t k, std::size_t s) {
  return (static_cast<std::uint64_t>(i + kCellOffset) << 44) |
         (static_cast<std::uint64_t>(j + kCellOffset) << 26) |
         (static_cast<std::uint64_t>(k + kCellOffset) << 8) | static_cast<std::uint64_t>(s);
}

RadiusDistribution parse_radius(const Config& cfg, const std::string& key, const std::string& report) {
  RadiusDistribution r;
  if (!cfg.has(key)) throw ConfigError(report, "required: radius = 2.5 or radius = { distribution = ... }");
  if (cfg.is_number(key)) {
    r.kind = RadiusDistribution::Kind::fixed;
    r.mean = cfg.get_double(key);
    r.max = r.mean;
  } else {
    for (const auto& k : cfg.keys(key))
      if (k != "distribution" && k != "mean" && k != "sd" && k != "min" && k != "max")
        throw ConfigError(report + "." + k, "unknown key (known: distribution, mean, sd, min, max)");
    const auto d = cfg.get_string(key + ".distribution", "fixed");
    r.mean = cfg.get_double(key + ".mean");
    if (d == "fixed") {
      r.kind = RadiusDistribution::Kind::fixed;
      r.max = r.mean;
    } else if (d == "normal") {
      r.kind = RadiusDistribution::Kind::normal;
      r.sd = cfg.get_double(key + ".sd");
      r.min = cfg.get_double(key + ".min", 0.5);
      r.max = cfg.get_double(key + ".max", r.mean + 5 * r.sd);
      if (!(r.sd >= 0)) throw ConfigError(report + ".sd", "must be >= 0 (nm)");
      if (!(r.min <= r.mean && r.mean <= r.max))
        throw ConfigError(report, "need min <= mean <= max for a truncated normal radius");
    } else {
      throw ConfigError(report + ".distribution", fmt::format("'{}' is not \"fixed\" or \"normal\"", d));
    }
  }
  if (!(r.mean > 0)) throw ConfigError(report, "the radius must be positive (nm)");
  return r;
}

}  // namespace

// ------------------------------------------------------------------ config

SpecimenSpec parse_specimen_config(const Config& cfg) {
  SpecimenSpec s;
  s.name = cfg.get_string("name", "specimen");
  s.seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  const auto sample = cfg.get_int("sample", 0);
  if (sample < 0 || sample > 0xffffffffLL) throw ConfigError("sample", "must be in [0, 2^32)");
  s.sample = static_cast<std::uint32_t>(sample);
  const auto size = cfg.get_doubles("specimen.size");
  if (size.size() != 3 || !(size[0] > 0 && size[1] > 0 && size[2] > 0))
    throw ConfigError("specimen.size", "expected three positive edge lengths in nm, e.g. [40, 40, 100]");
  s.size = {size[0], size[1], size[2]};
  s.slab_thickness = cfg.get_double("specimen.slab_thickness", 1.0);
  if (!(s.slab_thickness > 0)) throw ConfigError("specimen.slab_thickness", "must be positive (nm)");

  s.matrix = structure_from_config(cfg, "matrix");
  s.matrix_class = cfg.get_string("matrix.class", s.matrix.name);
  s.orientation = orientation_from_config(cfg, "orientation", s.matrix.cell());
  if (cfg.has("orientation.tilt")) {
    const auto t = cfg.get_doubles("orientation.tilt");
    if (t.size() != 2 || !std::isfinite(t[0]) || !std::isfinite(t[1]) || t[0] < 0 || t[0] > 90)
      throw ConfigError("orientation.tilt",
                        "expected [tilt, azimuth] in degrees with 0 <= tilt <= 90, e.g. tilt = [5.0, 0.0]");
    const Mat3d T = tilt_rotation_deg(t[0], t[1]);
    if (t[0] != 0.0) {
      Mat3 R{};
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
          for (int k = 0; k < 3; ++k) R[i][j] += T[i][k] * s.orientation.R[k][j];
      s.orientation.R = R;
    }
  }
  if (cfg.has("orientation.bend")) {
    const auto b = cfg.get_doubles("orientation.bend");
    if (b.size() != 2 || !std::isfinite(b[0]) || !std::isfinite(b[1]))
      throw ConfigError("orientation.bend",
                        "expected [kx, ky] in degrees per nm, e.g. bend = [0.2, 0.0] (the pole turns by "
                        "0.2 deg per nm along x)");
    s.bend = {b[0], b[1]};
  }
  if (cfg.has("orientation.bend_centre")) {
    const auto c = cfg.get_doubles("orientation.bend_centre");
    if (c.size() != 3 || !std::isfinite(c[0]) || !std::isfinite(c[1]) || !std::isfinite(c[2]))
      throw ConfigError("orientation.bend_centre", "expected [x, y, z] in nm");
    s.bend_centre = {c[0], c[1], c[2]};
  }

  // Domain populations: named tables [domains.<name>], taken in name order.
  for (const auto& pop_name : cfg.has("domains") ? cfg.keys("domains") : std::vector<std::string>{}) {
    const std::string el = "domains." + pop_name;
    const std::string& dotted = el;
    if (!cfg.is_table(el))
      throw ConfigError(el, "expected a table [domains.<name>] describing one domain population");
    DomainPopulation p;
    p.structure = structure_from_config(cfg, el);
    p.class_name = cfg.get_string(el + ".class", p.structure.name);
    const auto shape = cfg.get_string(el + ".shape", "sphere");
    if (shape == "sphere")
      p.shape = DomainShape::sphere;
    else if (shape == "ellipsoid")
      p.shape = DomainShape::ellipsoid;
    else
      throw ConfigError(dotted + ".shape", fmt::format("'{}' is not \"sphere\" or \"ellipsoid\"", shape));
    p.radius = parse_radius(cfg, el + ".radius", dotted + ".radius");
    if (p.shape == DomainShape::ellipsoid) {
      const auto r = cfg.get_doubles(el + ".semi_axes_ratio");
      if (r.size() != 3 || !(r[0] > 0 && r[1] > 0 && r[2] > 0))
        throw ConfigError(dotted + ".semi_axes_ratio", "expected three positive factors (x, y, z)");
      p.aspect = {r[0], r[1], r[2]};
    } else if (cfg.has(el + ".semi_axes_ratio")) {
      throw ConfigError(dotted + ".semi_axes_ratio", "only for shape = \"ellipsoid\"");
    }
    const bool has_density = cfg.has(el + ".number_density"), has_count = cfg.has(el + ".count");
    if (has_density == has_count)
      throw ConfigError(dotted + ".count", "give exactly one of count and number_density (per nm^3)");
    if (has_count) {
      p.count = cfg.get_int(el + ".count");
      if (p.count < 0) throw ConfigError(dotted + ".count", "must be >= 0");
    } else {
      p.number_density = cfg.get_double(el + ".number_density");
      if (!(p.number_density >= 0)) throw ConfigError(dotted + ".number_density", "must be >= 0 (per nm^3)");
    }
    p.min_gap = cfg.get_double(el + ".min_gap", 0.0);
    if (!(p.min_gap >= 0)) throw ConfigError(dotted + ".min_gap", "must be >= 0 (nm)");
    p.name = pop_name;
    s.populations.push_back(std::move(p));
  }

  ArtefactModel defaults;
  defaults.thinning = Thinning::bernoulli;
  s.artefacts = artefacts_from_config(cfg, "artefacts", defaults);
  if (s.artefacts.thinning != Thinning::bernoulli)
    throw ConfigError(
        "artefacts.thinning",
        "specimens are thinned independently per atom: use thinning = \"bernoulli\" (or omit it)");

  // Species: explicit order, or first appearance over matrix then domains.
  std::vector<std::string> present = s.matrix.species();
  for (const auto& p : s.populations)
    for (const auto& sp : p.structure.species())
      if (std::find(present.begin(), present.end(), sp) == present.end()) present.push_back(sp);
  if (cfg.has("ions.species")) {
    s.species = cfg.get_strings("ions.species");
    for (const auto& sp : present)
      if (std::find(s.species.begin(), s.species.end(), sp) == s.species.end())
        throw ConfigError("ions.species", fmt::format("species '{}' of a structure is not listed", sp));
  } else {
    s.species = present;
  }
  for (const auto& sp : s.species) {
    const auto it = kDefaultMass.find(sp);
    const std::string key = "ions.mass." + sp;
    if (cfg.has(key) || it == kDefaultMass.end())
      s.mq.push_back(cfg.get_double(key));  // missing and no default: ConfigError naming the key
    else
      s.mq.push_back(it->second);
    if (!(s.mq.back() > 0)) throw ConfigError(key, "m/q must be positive (Da)");
    const std::string vkey = "ions.volume." + sp;
    s.volume.push_back(cfg.get_double(vkey, s.matrix.atomic_volume()));
  }
  for (const char* table : {"ions.mass", "ions.volume"})
    if (cfg.has(table))
      for (const auto& k : cfg.keys(table))
        if (std::find(s.species.begin(), s.species.end(), k) == s.species.end())
          throw ConfigError(std::string(table) + "." + k, "no structure has this species (typo?)");
  for (const auto& sp : s.artefacts.efficiency_species)
    if (std::find(s.species.begin(), s.species.end(), sp.first) == s.species.end())
      throw ConfigError("artefacts.efficiency_species." + sp.first, "no structure has this species (typo?)");
  s.peak_sigma = cfg.get_double("ions.peak_sigma", 0.0);
  s.range_half_width = cfg.get_double("ions.range_half_width", 0.3);
  if (!(s.peak_sigma >= 0)) throw ConfigError("ions.peak_sigma", "must be >= 0 (Da)");
  if (!(s.range_half_width > 0)) throw ConfigError("ions.range_half_width", "must be positive (Da)");

  // Classes.
  std::vector<std::string> used_classes{s.matrix_class};
  for (const auto& p : s.populations)
    if (std::find(used_classes.begin(), used_classes.end(), p.class_name) == used_classes.end())
      used_classes.push_back(p.class_name);
  if (cfg.has("class_names")) {
    s.class_names = cfg.get_strings("class_names");
    for (const auto& c : used_classes)
      if (std::find(s.class_names.begin(), s.class_names.end(), c) == s.class_names.end())
        throw ConfigError("class_names", fmt::format("class '{}' of a structure is not listed", c));
  } else {
    s.class_names = used_classes;
  }
  s.config_text = cfg.to_toml();
  return s;
}

// ------------------------------------------------------------------ generator

SpecimenGenerator::SpecimenGenerator(const Config& cfg) : spec_(parse_specimen_config(cfg)) {
  cfg.check_all_used();
  setup();
}

SpecimenGenerator::SpecimenGenerator(SpecimenSpec spec) : spec_(std::move(spec)) { setup(); }

void SpecimenGenerator::setup() {
  const auto& S = spec_;
  num_slabs_ =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(S.size[2] / S.slab_thickness - 1e-9)));
  if (S.matrix.sites.size() > 255) throw ConfigError("matrix.structure", "at most 255 sites per unit cell");

  // Range table.
  ranges_ = RangeTable{};
  ranges_.source = S.name + ".rrng";
  for (std::size_t k = 0; k < S.species.size(); ++k) {
    IonType type;
    type.name = S.species[k];
    type.composition = {{S.species[k], 1}};
    if (k < S.volume.size()) type.volume = S.volume[k];
    ranges_.ion_types.push_back(type);
    ranges_.ranges.push_back(
        MassRange{S.mq[k] - S.range_half_width, S.mq[k] + S.range_half_width, static_cast<int>(k), 0});
  }
  std::sort(ranges_.ranges.begin(), ranges_.ranges.end(),
            [](const MassRange& a, const MassRange& b) { return a.lo < b.lo; });
  for (std::size_t r = 1; r < ranges_.ranges.size(); ++r)
    if (ranges_.ranges[r].lo < ranges_.ranges[r - 1].hi)
      throw ConfigError(
          "ions.range_half_width",
          fmt::format("the ranges of {} and {} overlap (lower range_half_width or fix ions.mass)",
                      S.species[ranges_.ranges[r - 1].ion_type], S.species[ranges_.ranges[r].ion_type]));

  eta_.assign(S.species.size() + 1, S.artefacts.efficiency);
  for (std::size_t k = 0; k < S.species.size(); ++k) eta_[k + 1] = S.artefacts.efficiency_of(S.species[k]);

  auto class_index = [&](const std::string& c) {
    return static_cast<int>(std::find(S.class_names.begin(), S.class_names.end(), c) - S.class_names.begin());
  };
  auto make_dist = [&](const Occupancy& occ) {
    Dist d;
    if (occ.species.size() > 8) throw ConfigError("species", "at most 8 species may share one site");
    double c = 0;
    for (std::size_t m = 0; m < occ.species.size(); ++m) {
      const auto it = std::find(S.species.begin(), S.species.end(), occ.species[m]);
      d.id[m] = static_cast<std::uint16_t>(it - S.species.begin() + 1);
      c += occ.probability[m];
      d.cum[m] = c;
    }
    d.n = static_cast<int>(occ.species.size());
    dists_.push_back(d);
    return static_cast<int>(dists_.size() - 1);
  };

  const std::size_t ns = S.matrix.sites.size();
  matrix_phase_.class_id = class_index(S.matrix_class);
  for (const auto& site : S.matrix.sites) matrix_phase_.dist_of.push_back(make_dist(site.occupancy));

  // Domains share the matrix lattice: map every site of a domain structure
  // onto (matrix cell within the domain cell, matrix site).
  const auto mcell = S.matrix.cell();
  phases_.clear();
  for (std::size_t p = 0; p < S.populations.size(); ++p) {
    const auto& st = S.populations[p].structure;
    const std::string key = "domains." + S.populations[p].name + ".structure";
    Phase ph;
    ph.class_id = class_index(S.populations[p].class_name);
    const auto dcell = st.cell();
    for (int d = 0; d < 3; ++d) {
      const double q = dcell[d] / mcell[d];
      ph.ratio[d] = static_cast<int>(std::lround(q));
      if (ph.ratio[d] < 1 || std::abs(q - ph.ratio[d]) > 0.15 * ph.ratio[d])
        throw ConfigError(
            key, fmt::format("cell edge {} nm of '{}' is not a multiple of the matrix cell edge {} nm "
                             "(coherent domains share the matrix lattice)",
                             dcell[d], st.name, mcell[d]));
    }
    const std::size_t ncells = static_cast<std::size_t>(ph.ratio[0]) * ph.ratio[1] * ph.ratio[2];
    ph.dist_of.assign(ncells * ns, -1);
    for (const auto& site : st.sites) {
      std::array<int, 3> ci{};
      Vec3 res{};
      for (int d = 0; d < 3; ++d) {
        const double q = site.position[d] * ph.ratio[d];
        ci[d] = static_cast<int>(std::floor(q + 1e-6));
        res[d] = q - ci[d];
        if (ci[d] >= ph.ratio[d]) ci[d] -= ph.ratio[d];
      }
      int match = -1;
      for (std::size_t m = 0; m < ns; ++m) {
        bool same = true;
        for (int d = 0; d < 3; ++d) {
          double diff = std::abs(res[d] - S.matrix.sites[m].position[d]);
          diff = std::min(diff, std::abs(1.0 - diff));
          same = same && diff < 1e-4;
        }
        if (same) match = static_cast<int>(m);
      }
      const std::size_t slot =
          ((static_cast<std::size_t>(ci[0]) * ph.ratio[1] + ci[1]) * ph.ratio[2] + ci[2]) * ns +
          static_cast<std::size_t>(std::max(match, 0));
      if (match < 0 || ph.dist_of[slot] >= 0)
        throw ConfigError(
            key, fmt::format("a site of '{}' at ({}, {}, {}) is not a site of the matrix lattice "
                             "'{}' (domains must share the matrix lattice)",
                             st.name, site.position[0], site.position[1], site.position[2], S.matrix.name));
      ph.dist_of[slot] = make_dist(site.occupancy);
    }
    if (std::find(ph.dist_of.begin(), ph.dist_of.end(), -1) != ph.dist_of.end())
      throw ConfigError(key,
                        fmt::format("'{}' leaves matrix sites of '{}' empty (domains must fill the matrix "
                                    "lattice: same number of sites per volume)",
                                    st.name, S.matrix.name));
    phases_.push_back(std::move(ph));
  }

  // Bend: the map, and how far an unbent site may lie from the specimen box.
  {
    Vec3 centre = S.bend_centre;
    for (int d = 0; d < 3; ++d)
      if (std::isnan(centre[d])) centre[d] = 0.5 * S.size[d];
    bend_ = BendMap(S.bend, centre);
    bend_margin_ = {0, 0, 0};
    if (bend_.active()) {
      // No folding: the turn across the specimen and the bend radius against
      // the distance from the centre stay moderate.
      double turn = 0, ratio = 0;
      for (int d = 0; d < 2; ++d) {
        const double k = std::abs(S.bend[d]) * 3.14159265358979323846 / 180.0;
        const double reach = std::max(std::abs(centre[d]), std::abs(S.size[d] - centre[d]));
        const double reach_z = std::max(std::abs(centre[2]), std::abs(S.size[2] - centre[2]));
        turn = std::max(turn, std::abs(S.bend[d]) * reach);
        ratio = std::max(ratio, k * reach_z);
      }
      if (turn > 45.0 || ratio > 0.5)
        throw ConfigError("orientation.bend",
                          fmt::format("the lattice turns by {:.3g} deg between the bend centre and the "
                                      "specimen edge (at most 45) or the bend radius is below twice the "
                                      "z reach ({:.3g}): lower the bend",
                                      turn, ratio));
      bend_margin_ = bend_.margin({0, 0, 0}, S.size);
    }
  }

  // Lattice site ids must fit the packed key: check the crystal-frame extent.
  for (int corner = 0; corner < 8; ++corner) {
    const auto& E = bend_margin_;
    const Vec3 p{(corner & 1) ? S.size[0] + E[0] : -E[0], (corner & 2) ? S.size[1] + E[1] : -E[1],
                 (corner & 4) ? S.size[2] + E[2] : -E[2]};
    const auto q = S.orientation.apply_inverse(p);
    for (int d = 0; d < 3; ++d)
      if (std::abs(q[d] / mcell[d]) > static_cast<double>(kCellOffset - 8))
        throw ConfigError("specimen.size",
                          "specimen too large: at most 131000 unit cells along each crystal axis");
  }
  place_domains();
}

void SpecimenGenerator::place_domains() {
  const auto& S = spec_;
  domains_.clear();
  const double volume = S.size[0] * S.size[1] * S.size[2];
  // Cell size of the overlap grid: the largest possible bounding sphere diameter.
  double rmax = 0, gap = 0;
  for (const auto& p : S.populations) {
    const double amax = std::max({p.aspect[0], p.aspect[1], p.aspect[2]});
    rmax = std::max(rmax, p.radius.max * amax);
    gap = std::max(gap, p.min_gap);
  }
  const double g = std::max(2 * rmax + gap, 1e-3);
  auto cell_of = [g](const Vec3& c) {
    return std::array<std::int64_t, 3>{static_cast<std::int64_t>(std::floor(c[0] / g)),
                                       static_cast<std::int64_t>(std::floor(c[1] / g)),
                                       static_cast<std::int64_t>(std::floor(c[2] / g))};
  };
  auto hash = [](std::int64_t a, std::int64_t b, std::int64_t c) {
    return (static_cast<std::uint64_t>(a + (1 << 20)) << 42) ^
           (static_cast<std::uint64_t>(b + (1 << 20)) << 21) ^ static_cast<std::uint64_t>(c + (1 << 20));
  };
  std::unordered_map<std::uint64_t, std::vector<std::size_t>> grid;
  std::vector<double> bound;  // bounding radius per placed domain
  std::vector<double> gaps;   // min_gap per placed domain
  std::uint64_t attempt = 0;  // global attempt counter: the RNG key of a draw
  for (std::size_t pi = 0; pi < S.populations.size(); ++pi) {
    const auto& p = S.populations[pi];
    const std::int64_t want = p.count >= 0 ? p.count : std::llround(p.number_density * volume);
    const std::uint64_t max_attempts = attempt + 1000 + 200 * static_cast<std::uint64_t>(want);
    std::int64_t placed = 0;
    while (placed < want) {
      if (attempt >= max_attempts)
        throw ConfigError(
            "domains." + p.name,
            fmt::format("placed only {} of {} non-overlapping domains: lower number_density/count, "
                        "radius or min_gap, or enlarge specimen.size",
                        placed, want));
      const std::uint64_t a = attempt++;
      double r = p.radius.mean;
      if (p.radius.kind == RadiusDistribution::Kind::normal) {
        bool ok = false;
        for (std::uint32_t b = 0; b < 4096 && !ok; ++b) {
          r = p.radius.mean +
              p.radius.sd * normal2(random_bits(S.seed, S.sample, a, RngPurpose::domain_radius, b)).a;
          ok = r >= p.radius.min && r <= p.radius.max;
        }
        if (!ok) r = p.radius.mean;
      }
      const Vec3 semi{r * p.aspect[0], r * p.aspect[1], r * p.aspect[2]};
      const Double2 u01 = uniform2(random_bits(S.seed, S.sample, a, RngPurpose::domain_centre, 0));
      const Double2 u2 = uniform2(random_bits(S.seed, S.sample, a, RngPurpose::domain_centre, 1));
      const double u[3] = {u01.a, u01.b, u2.a};
      Vec3 c{};
      bool fits = true;
      for (int d = 0; d < 3; ++d) {
        const double room = S.size[d] - 2 * semi[d];
        fits = fits && room >= 0;
        c[d] = semi[d] + u[d] * std::max(room, 0.0);  // the whole domain lies inside the specimen
      }
      if (!fits) continue;
      const double R = std::max({semi[0], semi[1], semi[2]});
      const auto cc = cell_of(c);
      bool overlap = false;
      for (int dx = -1; dx <= 1 && !overlap; ++dx)
        for (int dy = -1; dy <= 1 && !overlap; ++dy)
          for (int dz = -1; dz <= 1 && !overlap; ++dz) {
            const auto it = grid.find(hash(cc[0] + dx, cc[1] + dy, cc[2] + dz));
            if (it == grid.end()) continue;
            for (std::size_t q : it->second) {
              const auto& o = domains_[q].centre;
              const double dist2 = (c[0] - o[0]) * (c[0] - o[0]) + (c[1] - o[1]) * (c[1] - o[1]) +
                                   (c[2] - o[2]) * (c[2] - o[2]);
              const double need = R + bound[q] + std::max(p.min_gap, gaps[q]);
              if (dist2 < need * need) {
                overlap = true;
                break;
              }
            }
          }
      if (overlap) continue;
      Domain d;
      d.id = static_cast<std::int64_t>(domains_.size());
      d.population = static_cast<int>(pi);
      d.class_id = phases_[pi].class_id;
      d.centre = c;
      d.semi_axes = semi;
      grid[hash(cc[0], cc[1], cc[2])].push_back(domains_.size());
      domains_.push_back(d);
      bound.push_back(R);
      gaps.push_back(p.min_gap);
      ++placed;
    }
  }
}

namespace {

// Domains overlapping a z range, binned on a 2D grid over x, y (CSR).
struct DomainIndex {
  double g = 1;
  std::int64_t nx = 1, ny = 1;
  std::vector<std::int64_t> start;
  std::vector<std::int32_t> items;

  DomainIndex(const std::vector<Domain>& domains, const Vec3& size, double zlo, double zhi) {
    std::vector<std::int32_t> sel;
    double smax = 0;
    for (std::size_t i = 0; i < domains.size(); ++i) {
      const auto& d = domains[i];
      if (d.centre[2] + d.semi_axes[2] < zlo || d.centre[2] - d.semi_axes[2] > zhi) continue;
      sel.push_back(static_cast<std::int32_t>(i));
      smax = std::max({smax, d.semi_axes[0], d.semi_axes[1]});
    }
    // Cell edge: the largest domain diameter (a domain touches at most 2 x 2
    // cells), at least 1/1024 of the specimen so the grid stays small.
    g = sel.empty() ? std::max(size[0], size[1])
                    : std::max({2 * smax, 0.25, std::max(size[0], size[1]) / 1024});
    nx = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(size[0] / g)));
    ny = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(size[1] / g)));
    std::vector<std::vector<std::int32_t>> cells(static_cast<std::size_t>(nx * ny));
    for (auto i : sel) {
      const auto& d = domains[static_cast<std::size_t>(i)];
      const auto x0 = clampi(static_cast<std::int64_t>(std::floor((d.centre[0] - d.semi_axes[0]) / g)), nx);
      const auto x1 = clampi(static_cast<std::int64_t>(std::floor((d.centre[0] + d.semi_axes[0]) / g)), nx);
      const auto y0 = clampi(static_cast<std::int64_t>(std::floor((d.centre[1] - d.semi_axes[1]) / g)), ny);
      const auto y1 = clampi(static_cast<std::int64_t>(std::floor((d.centre[1] + d.semi_axes[1]) / g)), ny);
      for (auto x = x0; x <= x1; ++x)
        for (auto y = y0; y <= y1; ++y) cells[static_cast<std::size_t>(x * ny + y)].push_back(i);
    }
    start.assign(cells.size() + 1, 0);
    for (std::size_t c = 0; c < cells.size(); ++c)
      start[c + 1] = start[c] + static_cast<std::int64_t>(cells[c].size());
    for (const auto& c : cells) items.insert(items.end(), c.begin(), c.end());
  }
  static std::int64_t clampi(std::int64_t v, std::int64_t n) {
    return std::min(std::max<std::int64_t>(v, 0), n - 1);
  }

  // Index of the domain containing p, or -1.
  // Index of the domain containing p, or -1. The test is the exact
  // ((p - c) / s)^2 <= 1 of the domain (divisions kept: labels must not
  // depend on a rounding shortcut); a bounding-box test skips most candidates.
  std::int64_t find(const std::vector<Domain>& domains, double x, double y, double z) const {
    const auto cx = clampi(static_cast<std::int64_t>(std::floor(x / g)), nx);
    const auto cy = clampi(static_cast<std::int64_t>(std::floor(y / g)), ny);
    const auto c = static_cast<std::size_t>(cx * ny + cy);
    for (auto k = start[c]; k < start[c + 1]; ++k) {
      const auto& d = domains[static_cast<std::size_t>(items[static_cast<std::size_t>(k)])];
      const double dx = x - d.centre[0], dy = y - d.centre[1], dz = z - d.centre[2];
      if (std::abs(dx) > d.semi_axes[0] || std::abs(dy) > d.semi_axes[1] || std::abs(dz) > d.semi_axes[2])
        continue;
      const double ux = dx / d.semi_axes[0], uy = dy / d.semi_axes[1], uz = dz / d.semi_axes[2];
      if (ux * ux + uy * uy + uz * uz <= 1.0) return items[static_cast<std::size_t>(k)];
    }
    return -1;
  }
};

struct CountSink {
  static constexpr bool store = false;
  void push(float, float, float, float, std::uint16_t, std::int64_t, std::int32_t) {}
};

struct VectorSink {
  static constexpr bool store = true;
  std::vector<float> x, y, z, mq;
  std::vector<std::uint16_t> species;
  std::vector<std::int64_t> domain;
  std::vector<std::int32_t> cls;
  void push(float px, float py, float pz, float m, std::uint16_t s, std::int64_t d, std::int32_t c) {
    x.push_back(px);
    y.push_back(py);
    z.push_back(pz);
    mq.push_back(m);
    species.push_back(s);
    domain.push_back(d);
    cls.push_back(c);
  }
};

}  // namespace

template <class Sink>
std::int64_t SpecimenGenerator::run_slab(std::int64_t iz, Sink& sink) const {
  const auto& S = spec_;
  const auto& R = S.orientation;
  const double t = S.slab_thickness;
  // Candidate ideal positions: z within the slab +- the largest z blur.
  const double margin = kMaxNormal * S.artefacts.sigma_z + 1e-6;
  const double z0 = static_cast<double>(iz) * t;
  const double z1 = iz + 1 == num_slabs_ ? S.size[2] : static_cast<double>(iz + 1) * t;
  const double zlo = std::max(0.0, z0 - margin), zhi = std::min(S.size[2], z1 + margin);
  if (zlo >= zhi) return 0;
  const DomainIndex index(domains_, S.size, zlo, zhi);

  const auto cell = S.matrix.cell();
  const std::size_t ns = S.matrix.sites.size();
  // Lattice vectors and site offsets in the lab frame.
  const Vec3 ax = R.apply({cell[0], 0, 0}), ay = R.apply({0, cell[1], 0}), az = R.apply({0, 0, cell[2]});
  std::vector<Vec3> off(ns);
  for (std::size_t s = 0; s < ns; ++s) {
    const auto& f = S.matrix.sites[s].position;
    off[s] = R.apply({f[0] * cell[0], f[1] * cell[1], f[2] * cell[2]});
  }
  // Crystal-frame bounding box of the candidate region (bent lattices: the
  // unbent region, which lies within bend_margin_ of the bent one).
  const auto& E = bend_margin_;
  const bool bent = bend_.active();
  Vec3 lo{1e300, 1e300, 1e300}, hi{-1e300, -1e300, -1e300};
  for (int corner = 0; corner < 8; ++corner) {
    const Vec3 p{(corner & 1) ? S.size[0] + E[0] : -E[0], (corner & 2) ? S.size[1] + E[1] : -E[1],
                 (corner & 4) ? zhi + E[2] : zlo - E[2]};
    const auto q = R.apply_inverse(p);
    for (int d = 0; d < 3; ++d) {
      lo[d] = std::min(lo[d], q[d] / cell[d]);
      hi[d] = std::max(hi[d], q[d] / cell[d]);
    }
  }
  const auto i0 = static_cast<std::int64_t>(std::floor(lo[0])) - 1,
             i1 = static_cast<std::int64_t>(std::ceil(hi[0])) + 1;
  const auto j0 = static_cast<std::int64_t>(std::floor(lo[1])) - 1,
             j1 = static_cast<std::int64_t>(std::ceil(hi[1])) + 1;
  const auto k0 = static_cast<std::int64_t>(std::floor(lo[2])) - 1,
             k1 = static_cast<std::int64_t>(std::ceil(hi[2])) + 1;
  const double bounds_lo[3] = {-E[0], -E[1], zlo - E[2]},
               bounds_hi[3] = {S.size[0] + E[0], S.size[1] + E[1], zhi + E[2]};

  const double sxy = S.artefacts.sigma_xy, sz = S.artefacts.sigma_z, sm = S.peak_sigma;
  const auto last = num_slabs_ - 1;
  std::int64_t count = 0;
  for (std::int64_t i = i0; i <= i1; ++i)
    for (std::int64_t j = j0; j <= j1; ++j)
      for (std::size_t s = 0; s < ns; ++s) {
        const Vec3 base{i * ax[0] + j * ay[0] + off[s][0], i * ax[1] + j * ay[1] + off[s][1],
                        i * ax[2] + j * ay[2] + off[s][2]};
        // k range from the linear constraints lo <= base + k az < hi.
        double klo = static_cast<double>(k0), khi = static_cast<double>(k1);
        bool empty = false;
        for (int d = 0; d < 3; ++d) {
          if (std::abs(az[d]) > 1e-12) {
            const double ta = (bounds_lo[d] - base[d]) / az[d], tb = (bounds_hi[d] - base[d]) / az[d];
            klo = std::max(klo, std::min(ta, tb));
            khi = std::min(khi, std::max(ta, tb));
          } else if (base[d] < bounds_lo[d] - 1e-9 || base[d] > bounds_hi[d] + 1e-9) {
            empty = true;
          }
        }
        if (empty || klo > khi + 1) continue;
        const auto ka = std::max(k0, static_cast<std::int64_t>(std::ceil(klo)) - 1);
        const auto kb = std::min(k1, static_cast<std::int64_t>(std::floor(khi)) + 1);
        for (std::int64_t k = ka; k <= kb; ++k) {
          double px = base[0] + k * az[0], py = base[1] + k * az[1], pz = base[2] + k * az[2];
          if (bent) {
            const Vec3 q = bend_.apply({px, py, pz});
            px = q[0], py = q[1], pz = q[2];
          }
          // Ideal site inside the specimen and near this slab.
          if (!(px >= 0.0 && px < S.size[0] && py >= 0.0 && py < S.size[1] && pz >= 0.0 && pz < S.size[2]))
            continue;
          if (!(pz >= z0 - margin && pz < z1 + margin)) continue;
          const std::int64_t dom = index.find(domains_, px, py, pz);
          const Phase& ph =
              dom < 0 ? matrix_phase_ : phases_[static_cast<std::size_t>(domains_[dom].population)];
          int di;
          if (dom < 0) {
            di = ph.dist_of[s];
          } else {
            const auto ci = floor_mod(i, ph.ratio[0]), cj = floor_mod(j, ph.ratio[1]),
                       ck = floor_mod(k, ph.ratio[2]);
            di = ph.dist_of[static_cast<std::size_t>(((ci * ph.ratio[1] + cj) * ph.ratio[2] + ck)) * ns + s];
          }
          const Dist& dist = dists_[static_cast<std::size_t>(di)];
          const std::uint64_t key = site_key(i, j, k, s);
          const U32x4 rs = random_bits(S.seed, S.sample, key, RngPurpose::site);
          std::uint16_t sp = dist.id[dist.n - 1];
          if (dist.n > 1) {
            const double u = uniform_open(rs.v[0], rs.v[1]);
            for (int m = 0; m < dist.n; ++m)
              if (u < dist.cum[m]) {
                sp = dist.id[m];
                break;
              }
          }
          if (!(uniform_open(rs.v[2], rs.v[3]) < eta_[sp])) continue;  // not detected
          if constexpr (!Sink::store) {
            // Counting: an ion farther than the largest blur from the slab faces stays in the slab.
            if (pz >= z0 + margin && pz < z1 - margin) {
              ++count;
              continue;
            }
          }
          const Double2 gz = normal2(random_bits(S.seed, S.sample, key, RngPurpose::noise, 1));
          const double zn = pz + sz * gz.a;
          auto slab = static_cast<std::int64_t>(std::floor(zn / t));
          slab = std::min(std::max<std::int64_t>(slab, 0), last);
          if (slab != iz) continue;
          ++count;
          if constexpr (Sink::store) {
            const Double2 gxy = normal2(random_bits(S.seed, S.sample, key, RngPurpose::noise, 0));
            const double m = S.mq[sp - 1u] + sm * gz.b;
            sink.push(static_cast<float>(px + sxy * gxy.a), static_cast<float>(py + sxy * gxy.b),
                      static_cast<float>(zn), static_cast<float>(m), sp, dom < 0 ? -1 : domains_[dom].id,
                      ph.class_id);
          }
        }
      }
  return count;
}

std::array<double, 3> SpecimenGenerator::plane_normal(const std::array<double, 3>& crystal_normal,
                                                      const std::array<double, 3>& at) const {
  // Planes n_c . p_c = const map to n_lab . p = const under the rotation R;
  // the bend B turns that normal into J^-T n_lab (J the Jacobian of B).
  const Vec3 n = spec_.orientation.apply(crystal_normal);
  Vec3 m = n;
  if (bend_.active()) {
    const Mat3d J = bend_.jacobian(bend_.inverse(at));
    // m = J^-T n: solve J^T m = n (cofactors).
    const double det = J[0][0] * (J[1][1] * J[2][2] - J[1][2] * J[2][1]) -
                       J[0][1] * (J[1][0] * J[2][2] - J[1][2] * J[2][0]) +
                       J[0][2] * (J[1][0] * J[2][1] - J[1][1] * J[2][0]);
    Mat3d C{};  // cofactor matrix: J^-T = C / det
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        const int i1 = (i + 1) % 3, i2 = (i + 2) % 3, j1 = (j + 1) % 3, j2 = (j + 2) % 3;
        C[i][j] = J[i1][j1] * J[i2][j2] - J[i1][j2] * J[i2][j1];
      }
    for (int i = 0; i < 3; ++i) m[i] = (C[i][0] * n[0] + C[i][1] * n[1] + C[i][2] * n[2]) / det;
  }
  const double len = std::sqrt(m[0] * m[0] + m[1] * m[1] + m[2] * m[2]);
  const double sgn = m[2] < 0 ? -1.0 : 1.0;
  return {sgn * m[0] / len, sgn * m[1] / len, sgn * m[2] / len};
}

SpecimenSlab SpecimenGenerator::generate_slab(std::int64_t iz_begin, std::int64_t iz_end) const {
  if (iz_begin < 0 || iz_end > num_slabs_ || iz_begin > iz_end)
    throw InternalError(fmt::format("SpecimenGenerator::generate_slab: slabs [{}, {}) outside [0, {})",
                                    iz_begin, iz_end, num_slabs_));
  VectorSink sink;
  for (auto iz = iz_begin; iz < iz_end; ++iz) run_slab(iz, sink);
  const auto n = static_cast<IonIndex>(sink.x.size());
  SpecimenSlab out;
  out.ions = HostIonCloud(n, "aptflow::synth::specimen");
  for (IonIndex q = 0; q < n; ++q) {
    out.ions.x(q) = sink.x[q];
    out.ions.y(q) = sink.y[q];
    out.ions.z(q) = sink.z[q];
    out.ions.mq(q) = sink.mq[q];
    out.ions.species(q) = sink.species[q];
  }
  out.domain_id = std::move(sink.domain);
  out.class_id = std::move(sink.cls);
  return out;
}

std::int64_t SpecimenGenerator::count_slab(std::int64_t iz_begin, std::int64_t iz_end) const {
  if (iz_begin < 0 || iz_end > num_slabs_ || iz_begin > iz_end)
    throw InternalError(fmt::format("SpecimenGenerator::count_slab: slabs [{}, {}) outside [0, {})", iz_begin,
                                    iz_end, num_slabs_));
  CountSink sink;
  std::int64_t n = 0;
  for (auto iz = iz_begin; iz < iz_end; ++iz) n += run_slab(iz, sink);
  return n;
}

}  // namespace aptflow::synth
