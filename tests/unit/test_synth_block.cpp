// Library lattice blocks: site counts and positions, duplicate removal on the
// block faces, rotation, noise moments, thinning counts, determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "aptflow/core/error.hpp"
#include "aptflow/synth/lattice_block.hpp"

using namespace aptflow::synth;

namespace {

CrystalStructure fcc_al() { return substitute_species(builtin_structure("A1"), {{"A", {{"Al"}, {1.0}}}}); }

using Key = std::tuple<long, long, long>;
// Position rounded to 1e-6 nm.
Key key_of(double x, double y, double z) {
  return {std::lround(x * 1e6), std::lround(y * 1e6), std::lround(z * 1e6)};
}

// Reference for the closed block: every cell emits its sites and all their
// periodic images on the cell's far faces (fractional 0 -> also 1), the way a
// per-cell generator with both faces does; duplicates are then dropped by position.
std::map<Key, std::string> closed_block_reference(const CrystalStructure& s, int n) {
  std::map<Key, std::string> out;
  const auto cell = s.cell();
  for (int k = 0; k < n; ++k)
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < n; ++i)
        for (const auto& site : s.sites)
          for (int sx = 0; sx < 2; ++sx)
            for (int sy = 0; sy < 2; ++sy)
              for (int sz = 0; sz < 2; ++sz) {
                const auto& f = site.position;
                if ((sx && f[0] != 0.0) || (sy && f[1] != 0.0) || (sz && f[2] != 0.0)) continue;
                const double x = (i + f[0] + sx - 0.5 * n) * cell[0], y = (j + f[1] + sy - 0.5 * n) * cell[1],
                             z = (k + f[2] + sz - 0.5 * n) * cell[2];
                out.emplace(key_of(x, y, z), site.occupancy.species[0]);
              }
  return out;
}

}  // namespace

TEST(SynthBlock, HalfOpenBlockHasNCubedCells) {
  for (const char* name : {"A1", "L1_2", "A2", "B2", "D0_3", "L1_0", "D0_22"}) {
    SCOPED_TRACE(name);
    const auto s = builtin_structure(name);
    const auto b = build_ideal_block(s, BlockSpec{{3, 4, 5}, false}, 1, 0);
    EXPECT_EQ(b.size(), 3u * 4u * 5u * s.sites.size());
    std::set<Key> uniq;
    for (std::size_t i = 0; i < b.size(); ++i) uniq.insert(key_of(b.x[i], b.y[i], b.z[i]));
    EXPECT_EQ(uniq.size(), b.size());
  }
}

TEST(SynthBlock, ClosedBlockDropsDuplicateFaceSites) {
  for (const char* name : {"A1", "L1_2", "B2", "D0_3", "D0_22"}) {
    SCOPED_TRACE(name);
    const auto s = builtin_structure(name);
    const int n = 4;
    const auto b = build_ideal_block(s, BlockSpec{{n, n, n}, true}, 1, 0);
    const auto ref = closed_block_reference(s, n);
    ASSERT_EQ(b.size(), ref.size());
    const auto names = b.species_names;
    for (std::size_t i = 0; i < b.size(); ++i) {
      const auto it = ref.find(key_of(b.x[i], b.y[i], b.z[i]));
      ASSERT_NE(it, ref.end()) << "atom " << i << " is not a site of the reference block";
      EXPECT_EQ(names[b.species[i] - 1u], it->second);
    }
  }
  // FCC closed block: (n+1)^3 corners + 3 n^2 (n+1) face centres.
  const int n = 13;
  const auto b = build_ideal_block(fcc_al(), BlockSpec{{n, n, n}, true}, 1, 0);
  EXPECT_EQ(b.size(), static_cast<std::size_t>((n + 1) * (n + 1) * (n + 1) + 3 * n * n * (n + 1)));
}

TEST(SynthBlock, FccNeighboursAndB2Neighbours) {
  // Interior FCC atom: 12 neighbours at a / sqrt2. Interior B2 Fe: 8 Al at a sqrt3 / 2, 6 Fe at a.
  const auto fcc = build_ideal_block(fcc_al(), BlockSpec{{4, 4, 4}, true}, 1, 0);
  const double a = 0.405;
  for (std::size_t i = 0; i < fcc.size(); ++i) {
    if (std::abs(fcc.x[i]) > 0.3 || std::abs(fcc.y[i]) > 0.3 || std::abs(fcc.z[i]) > 0.3) continue;
    int nn = 0;
    double dmin = 1e9;
    for (std::size_t j = 0; j < fcc.size(); ++j) {
      if (j == i) continue;
      const double d = std::hypot(fcc.x[j] - fcc.x[i], fcc.y[j] - fcc.y[i], fcc.z[j] - fcc.z[i]);
      dmin = std::min(dmin, d);
      nn += std::abs(d - a / std::sqrt(2.0)) < 1e-9;
    }
    EXPECT_EQ(nn, 12);
    EXPECT_NEAR(dmin, a / std::sqrt(2.0), 1e-9);
  }
  const auto b2s =
      substitute_species(builtin_structure("B2"), {{"A", {{"Fe"}, {1.0}}}, {"B", {{"Al"}, {1.0}}}});
  const auto b2 = build_ideal_block(b2s, BlockSpec{{4, 4, 4}, true}, 1, 0);
  const double ab = 0.287;
  int checked = 0;
  for (std::size_t i = 0; i < b2.size(); ++i) {
    if (b2.species_names[b2.species[i] - 1u] != "Fe") continue;
    if (std::abs(b2.x[i]) > 0.3 || std::abs(b2.y[i]) > 0.3 || std::abs(b2.z[i]) > 0.3) continue;
    int first_al = 0, first_other = 0, second_fe = 0, second_other = 0;
    for (std::size_t j = 0; j < b2.size(); ++j) {
      if (j == i) continue;
      const double d = std::hypot(b2.x[j] - b2.x[i], b2.y[j] - b2.y[i], b2.z[j] - b2.z[i]);
      const bool al = b2.species_names[b2.species[j] - 1u] == "Al";
      if (std::abs(d - ab * std::sqrt(3.0) / 2) < 1e-9) (al ? first_al : first_other)++;
      if (std::abs(d - ab) < 1e-9) (al ? second_other : second_fe)++;
    }
    EXPECT_EQ(first_al, 8);
    EXPECT_EQ(first_other, 0);
    EXPECT_EQ(second_fe, 6);
    EXPECT_EQ(second_other, 0);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(SynthBlock, RotationPole101MatchesFormula) {
  const auto s = fcc_al();
  auto ideal = build_ideal_block(s, BlockSpec{{5, 5, 5}, true}, 1, 0);
  auto rot = ideal;
  rotate_block(rot, Orientation::from_pole({1, 0, 1}, s.cell()));
  const double r2 = std::sqrt(2.0);
  for (std::size_t i = 0; i < ideal.size(); ++i) {
    EXPECT_NEAR(rot.z[i], (ideal.x[i] + ideal.z[i]) / r2, 1e-12);
    EXPECT_NEAR(rot.x[i], (ideal.x[i] - ideal.z[i]) / r2, 1e-12);
    EXPECT_NEAR(rot.y[i], ideal.y[i], 1e-12);
  }
  // The ideal block is centred on the origin.
  double cx = 0, cy = 0, cz = 0;
  for (std::size_t i = 0; i < ideal.size(); ++i) {
    cx += ideal.x[i];
    cy += ideal.y[i];
    cz += ideal.z[i];
  }
  EXPECT_NEAR(cx / ideal.size(), 0.0, 1e-12);
  EXPECT_NEAR(cy / ideal.size(), 0.0, 1e-12);
  EXPECT_NEAR(cz / ideal.size(), 0.0, 1e-12);
}

TEST(SynthBlock, NoiseMoments) {
  const auto s = fcc_al();
  const auto ideal = build_ideal_block(s, BlockSpec{{20, 20, 20}, false}, 7, 3);
  auto noisy = ideal;
  const double sxy = 0.4, sz = 0.03;
  add_noise(noisy, sxy, sz, 7, 3);
  const double n = static_cast<double>(ideal.size());
  double mx = 0, my = 0, mz = 0, vx = 0, vy = 0, vz = 0, cxy = 0;
  for (std::size_t i = 0; i < ideal.size(); ++i) {
    const double dx = noisy.x[i] - ideal.x[i], dy = noisy.y[i] - ideal.y[i], dz = noisy.z[i] - ideal.z[i];
    mx += dx;
    my += dy;
    mz += dz;
    vx += dx * dx;
    vy += dy * dy;
    vz += dz * dz;
    cxy += dx * dy;
  }
  EXPECT_NEAR(mx / n, 0.0, 5 * sxy / std::sqrt(n));
  EXPECT_NEAR(my / n, 0.0, 5 * sxy / std::sqrt(n));
  EXPECT_NEAR(mz / n, 0.0, 5 * sz / std::sqrt(n));
  EXPECT_NEAR(std::sqrt(vx / n), sxy, 0.02 * sxy);
  EXPECT_NEAR(std::sqrt(vy / n), sxy, 0.02 * sxy);
  EXPECT_NEAR(std::sqrt(vz / n), sz, 0.02 * sz);
  EXPECT_NEAR(cxy / n / (sxy * sxy), 0.0, 0.02);
  // Another sample gives other displacements.
  auto other = ideal;
  add_noise(other, sxy, sz, 7, 4);
  EXPECT_NE(other.x[10], noisy.x[10]);
}

TEST(SynthBlock, ExactThinningKeepsFloorNEta) {
  const auto s =
      substitute_species(builtin_structure("L1_2"), {{"A", {{"Al"}, {1.0}}}, {"B", {{"Li"}, {1.0}}}});
  const auto ideal = build_ideal_block(s, BlockSpec{{13, 13, 13}, true}, 2, 0);
  const std::size_t N = ideal.size();
  for (double eta : {0.2, 0.35, 0.5, 0.79, 1.0, 0.0}) {
    auto b = ideal;
    ArtefactModel m;
    m.efficiency = eta;
    thin_block(b, m, 2, 0);
    EXPECT_EQ(b.size(), static_cast<std::size_t>(std::floor(N * eta))) << eta;
    // Survivors keep block order (site ids increasing) and their positions.
    for (std::size_t i = 1; i < b.size(); ++i) ASSERT_LT(b.site_id[i - 1], b.site_id[i]);
    for (std::size_t i = 0; i < b.size(); ++i) {
      const auto k = static_cast<std::size_t>(b.site_id[i]);
      EXPECT_EQ(b.x[i], ideal.x[k]);
      EXPECT_EQ(b.species[i], ideal.species[k]);
    }
  }
  // Per-species exact efficiency: floor(N_s eta_s) of each species.
  auto b = ideal;
  ArtefactModel m;
  m.efficiency = 0.6;
  m.efficiency_species = {{"Li", 0.3}};
  thin_block(b, m, 2, 0);
  std::size_t n_al = 0, n_li = 0, k_al = 0, k_li = 0;
  for (auto sp : ideal.species) (ideal.species_names[sp - 1u] == "Al" ? n_al : n_li)++;
  for (auto sp : b.species) (b.species_names[sp - 1u] == "Al" ? k_al : k_li)++;
  EXPECT_EQ(k_al, static_cast<std::size_t>(std::floor(n_al * 0.6)));
  EXPECT_EQ(k_li, static_cast<std::size_t>(std::floor(n_li * 0.3)));
}

TEST(SynthBlock, BernoulliThinningFraction) {
  const auto ideal = build_ideal_block(fcc_al(), BlockSpec{{20, 20, 20}, false}, 4, 0);
  auto b = ideal;
  ArtefactModel m;
  m.efficiency = 0.37;
  m.thinning = Thinning::bernoulli;
  thin_block(b, m, 4, 0);
  const double n = static_cast<double>(ideal.size());
  EXPECT_NEAR(b.size() / n, 0.37, 5 * std::sqrt(0.37 * 0.63 / n));
  // Both modes rank atoms by the same uniform: the Bernoulli survivors are the
  // atoms an exact thinning to the same count keeps.
  auto e = ideal;
  ArtefactModel me;
  me.efficiency = (b.size() + 0.5) / n;
  thin_block(e, me, 4, 0);
  EXPECT_EQ(e.site_id, b.site_id);
}

TEST(SynthBlock, PartialOccupancyFractions) {
  auto cfg = aptflow::Config::from_string(R"(
a = 0.405
[[sites]]
position = [0.0, 0.0, 0.0]
occupancy = { Li = 0.25, Mg = 0.05, Al = 0.70 }
[[sites]]
position = [0.5, 0.5, 0.0]
occupancy = { Al = 1.0 }
[[sites]]
position = [0.5, 0.0, 0.5]
occupancy = { Al = 1.0 }
[[sites]]
position = [0.0, 0.5, 0.5]
occupancy = { Al = 1.0 }
)");
  const auto s = parse_structure(cfg);
  const auto b = build_ideal_block(s, BlockSpec{{25, 25, 25}, false}, 9, 1);
  std::map<std::string, int> corner;
  int corners = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (b.site_id[i] % 4 != 0) {  // face sites: always Al
      ASSERT_EQ(b.species_names[b.species[i] - 1u], "Al");
      continue;
    }
    ++corners;
    ++corner[b.species_names[b.species[i] - 1u]];
  }
  ASSERT_EQ(corners, 25 * 25 * 25);
  for (auto [sp, p] : {std::pair<const char*, double>{"Li", 0.25}, {"Mg", 0.05}, {"Al", 0.70}})
    EXPECT_NEAR(corner[sp] / double(corners), p, 5 * std::sqrt(p * (1 - p) / corners)) << sp;
  // Occupation is keyed by (seed, sample, site): same inputs, same species; other seed, others.
  const auto again = build_ideal_block(s, BlockSpec{{25, 25, 25}, false}, 9, 1);
  EXPECT_EQ(again.species, b.species);
  const auto other = build_ideal_block(s, BlockSpec{{25, 25, 25}, false}, 10, 1);
  EXPECT_NE(other.species, b.species);
}

TEST(SynthBlock, LibraryBlockIsDeterministic) {
  const auto s = substitute_species(builtin_structure("L1_2"),
                                    {{"A", {{"Al"}, {1.0}}}, {"B", {{"Li", "Mg"}, {0.8, 0.2}}}});
  ArtefactModel m;
  m.sigma_xy = 0.4;
  m.sigma_z = 0.03;
  m.efficiency = 0.55;
  const auto o = Orientation::from_pole({1, 0, 1}, s.cell());
  const auto a = make_library_block(s, BlockSpec{{13, 13, 13}, true}, o, m, 123, 17);
  const auto b = make_library_block(s, BlockSpec{{13, 13, 13}, true}, o, m, 123, 17);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.z, b.z);
  EXPECT_EQ(a.species, b.species);
  const auto c = make_library_block(s, BlockSpec{{13, 13, 13}, true}, o, m, 123, 18);
  EXPECT_EQ(c.size(), a.size());  // exact thinning
  EXPECT_NE(c.site_id, a.site_id);
  // Thinning does not depend on the noise level (independent purposes).
  ArtefactModel m2 = m;
  m2.sigma_xy = 0.8;
  const auto d = make_library_block(s, BlockSpec{{13, 13, 13}, true}, o, m2, 123, 17);
  EXPECT_EQ(d.site_id, a.site_id);
  // As an ion cloud with m/q per species.
  const auto cloud = to_ion_cloud(a, {7.0, 24.0, 27.0});
  ASSERT_EQ(cloud.size(), static_cast<aptflow::IonIndex>(a.size()));
  for (std::size_t i = 0; i < a.size(); i += 97) {
    EXPECT_EQ(cloud.x(i), static_cast<float>(a.x[i]));
    EXPECT_EQ(cloud.species(i), a.species[i]);
    EXPECT_EQ(cloud.mq(i), static_cast<float>(std::vector<double>{7.0, 24.0, 27.0}[a.species[i] - 1u]));
  }
}

TEST(SynthBlock, ArtefactsFromConfig) {
  auto cfg = aptflow::Config::from_string(
      "[art]\nsigma_xy = 0.6\nsigma_z = 0.02\nefficiency = 0.4\nefficiency_species = { Li = 0.3 }\n"
      "thinning = 'bernoulli'\n");
  const auto m = artefacts_from_config(cfg, "art");
  EXPECT_NO_THROW(cfg.check_all_used());
  EXPECT_DOUBLE_EQ(m.sigma_xy, 0.6);
  EXPECT_DOUBLE_EQ(m.efficiency_of("Li"), 0.3);
  EXPECT_DOUBLE_EQ(m.efficiency_of("Al"), 0.4);
  EXPECT_EQ(m.thinning, Thinning::bernoulli);
  auto bad = aptflow::Config::from_string("[art]\nefficiency = 1.5\n");
  EXPECT_THROW(artefacts_from_config(bad, "art"), aptflow::ConfigError);
}
