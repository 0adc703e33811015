#include "aptflow/synth/lattice_block.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "aptflow/core/error.hpp"
#include "aptflow/core/rng.hpp"

namespace aptflow::synth {

namespace {

std::string join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

void check_probability(const std::string& key, double v) {
  if (!(v >= 0.0 && v <= 1.0)) throw ConfigError(key, fmt::format("{} is outside [0, 1]", v));
}

}  // namespace

double ArtefactModel::efficiency_of(const std::string& species) const {
  for (const auto& [name, eta] : efficiency_species)
    if (name == species) return eta;
  return efficiency;
}

ArtefactModel artefacts_from_config(const Config& cfg, const std::string& table,
                                    const ArtefactModel& defaults) {
  ArtefactModel m = defaults;
  m.sigma_xy = cfg.get_double(join(table, "sigma_xy"), defaults.sigma_xy);
  m.sigma_z = cfg.get_double(join(table, "sigma_z"), defaults.sigma_z);
  if (!(m.sigma_xy >= 0)) throw ConfigError(join(table, "sigma_xy"), "must be >= 0 (nm)");
  if (!(m.sigma_z >= 0)) throw ConfigError(join(table, "sigma_z"), "must be >= 0 (nm)");
  m.efficiency = cfg.get_double(join(table, "efficiency"), defaults.efficiency);
  check_probability(join(table, "efficiency"), m.efficiency);
  const std::string es = join(table, "efficiency_species");
  if (cfg.has(es)) {
    m.efficiency_species.clear();
    for (const auto& sp : cfg.keys(es)) {
      const double eta = cfg.get_double(es + "." + sp);
      check_probability(es + "." + sp, eta);
      m.efficiency_species.emplace_back(sp, eta);
    }
    cfg.mark_used(es);
  }
  const auto th =
      cfg.get_string(join(table, "thinning"), defaults.thinning == Thinning::exact ? "exact" : "bernoulli");
  if (th == "exact")
    m.thinning = Thinning::exact;
  else if (th == "bernoulli")
    m.thinning = Thinning::bernoulli;
  else
    throw ConfigError(join(table, "thinning"), fmt::format("'{}' is not \"exact\" or \"bernoulli\"", th));
  return m;
}

LatticeBlock build_ideal_block(const CrystalStructure& s, const BlockSpec& spec, std::uint64_t seed,
                               std::uint32_t sample) {
  for (int d = 0; d < 3; ++d)
    if (spec.cells[d] < 1) throw ConfigError("cells", "a block needs at least one unit cell along each axis");
  LatticeBlock b;
  b.species_names = s.species();
  // Per site: species ids and cumulative probabilities.
  struct SiteTable {
    std::vector<std::uint16_t> id;
    std::vector<double> cum;
  };
  std::vector<SiteTable> tables;
  for (const auto& site : s.sites) {
    SiteTable t;
    double c = 0;
    for (std::size_t k = 0; k < site.occupancy.species.size(); ++k) {
      const auto it = std::find(b.species_names.begin(), b.species_names.end(), site.occupancy.species[k]);
      t.id.push_back(static_cast<std::uint16_t>(it - b.species_names.begin() + 1));
      c += site.occupancy.probability[k];
      t.cum.push_back(c);
    }
    tables.push_back(std::move(t));
  }
  const auto cell = s.cell();
  const int extra = spec.closed ? 1 : 0;
  const double eps = 1e-9;
  std::int64_t next_id = 0;
  for (int k = 0; k < spec.cells[2] + extra; ++k)
    for (int j = 0; j < spec.cells[1] + extra; ++j)
      for (int i = 0; i < spec.cells[0] + extra; ++i)
        for (std::size_t st = 0; st < s.sites.size(); ++st) {
          const auto& f = s.sites[st].position;
          const double fx = i + f[0], fy = j + f[1], fz = k + f[2];
          // Closed block: a site beyond the far face belongs to no cell of the block.
          if (fx > spec.cells[0] + eps || fy > spec.cells[1] + eps || fz > spec.cells[2] + eps) continue;
          const std::int64_t id = next_id++;
          const auto& t = tables[st];
          std::uint16_t sp = t.id.back();
          if (t.id.size() > 1) {
            const auto r = random_bits(seed, sample, static_cast<std::uint64_t>(id), RngPurpose::site);
            const double u = uniform_open(r.v[0], r.v[1]);
            for (std::size_t m = 0; m < t.cum.size(); ++m)
              if (u < t.cum[m]) {
                sp = t.id[m];
                break;
              }
          }
          b.x.push_back((fx - 0.5 * spec.cells[0]) * cell[0]);
          b.y.push_back((fy - 0.5 * spec.cells[1]) * cell[1]);
          b.z.push_back((fz - 0.5 * spec.cells[2]) * cell[2]);
          b.species.push_back(sp);
          b.site_id.push_back(id);
        }
  return b;
}

void rotate_block(LatticeBlock& b, const Orientation& o) {
  if (o.is_identity()) return;
  for (std::size_t n = 0; n < b.size(); ++n) {
    const auto p = o.apply({b.x[n], b.y[n], b.z[n]});
    b.x[n] = p[0];
    b.y[n] = p[1];
    b.z[n] = p[2];
  }
}

void add_noise(LatticeBlock& b, double sigma_xy, double sigma_z, std::uint64_t seed, std::uint32_t sample) {
  if (sigma_xy == 0 && sigma_z == 0) return;
  for (std::size_t n = 0; n < b.size(); ++n) {
    const auto id = static_cast<std::uint64_t>(b.site_id[n]);
    const Double2 gxy = normal2(random_bits(seed, sample, id, RngPurpose::noise, 0));
    const Double2 gz = normal2(random_bits(seed, sample, id, RngPurpose::noise, 1));
    b.x[n] += sigma_xy * gxy.a;
    b.y[n] += sigma_xy * gxy.b;
    b.z[n] += sigma_z * gz.a;
  }
}

void thin_block(LatticeBlock& b, const ArtefactModel& m, std::uint64_t seed, std::uint32_t sample) {
  const std::size_t n = b.size();
  // The thinning uniform of an atom: words 2, 3 of its site block (words 0, 1
  // draw the occupation), so keep/drop is independent of the species draw.
  std::vector<double> u(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto r = random_bits(seed, sample, static_cast<std::uint64_t>(b.site_id[i]), RngPurpose::site);
    u[i] = uniform_open(r.v[2], r.v[3]);
  }
  std::vector<double> eta(b.species_names.size() + 1, m.efficiency);
  for (std::size_t k = 0; k < b.species_names.size(); ++k) eta[k + 1] = m.efficiency_of(b.species_names[k]);
  std::vector<char> keep(n, 0);
  if (m.thinning == Thinning::bernoulli) {
    for (std::size_t i = 0; i < n; ++i) keep[i] = u[i] < eta[b.species[i]];
  } else {
    // Per species (or all together when eta is common): keep the floor(N eta)
    // atoms with the smallest uniforms (ties broken by site id).
    const bool common = m.efficiency_species.empty();
    const std::size_t groups = common ? 1 : b.species_names.size() + 1;
    std::vector<std::vector<std::size_t>> members(groups);
    for (std::size_t i = 0; i < n; ++i) members[common ? 0 : b.species[i]].push_back(i);
    for (std::size_t g = 0; g < groups; ++g) {
      auto& idx = members[g];
      const double e = common ? m.efficiency : eta[g];
      const auto k = static_cast<std::size_t>(std::floor(static_cast<double>(idx.size()) * e));
      auto less = [&](std::size_t p, std::size_t q) {
        return u[p] < u[q] || (u[p] == u[q] && b.site_id[p] < b.site_id[q]);
      };
      if (k < idx.size())
        std::nth_element(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(), less);
      for (std::size_t r = 0; r < std::min(k, idx.size()); ++r) keep[idx[r]] = 1;
    }
  }
  std::size_t w = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!keep[i]) continue;
    b.x[w] = b.x[i];
    b.y[w] = b.y[i];
    b.z[w] = b.z[i];
    b.species[w] = b.species[i];
    b.site_id[w] = b.site_id[i];
    ++w;
  }
  b.x.resize(w);
  b.y.resize(w);
  b.z.resize(w);
  b.species.resize(w);
  b.site_id.resize(w);
}

LatticeBlock make_library_block(const CrystalStructure& s, const BlockSpec& spec, const Orientation& o,
                                const ArtefactModel& m, std::uint64_t seed, std::uint32_t sample) {
  auto b = build_ideal_block(s, spec, seed, sample);
  rotate_block(b, o);
  add_noise(b, m.sigma_xy, m.sigma_z, seed, sample);
  thin_block(b, m, seed, sample);
  return b;
}

HostIonCloud to_ion_cloud(const LatticeBlock& b, const std::vector<double>& mq) {
  HostIonCloud c(static_cast<IonIndex>(b.size()), "aptflow::synth::block");
  for (std::size_t i = 0; i < b.size(); ++i) {
    c.x(i) = static_cast<float>(b.x[i]);
    c.y(i) = static_cast<float>(b.y[i]);
    c.z(i) = static_cast<float>(b.z[i]);
    const std::size_t t = b.species[i] - 1u;
    c.mq(i) = t < mq.size() ? static_cast<float>(mq[t]) : 0.0f;
    c.species(i) = b.species[i];
  }
  return c;
}

}  // namespace aptflow::synth
