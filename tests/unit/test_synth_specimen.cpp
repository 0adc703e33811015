// Synthetic specimens: slab partitions, domain labels against geometry,
// coherent ordering inside domains, lattice counts against brute force,
// m/q and ranges, domain placement, config errors, the shipped config.
#include <gtest/gtest.h>

#include "aptflow/io/range_file.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <tuple>

#include "aptflow/core/error.hpp"
#include "aptflow/synth/specimen.hpp"
#include "test_util.hpp"

using namespace aptflow::synth;
using aptflow::Config;
using aptflow::ConfigError;

namespace {

// The shipped config in the source tree (test::source_dir(): compiled in,
// not taken from __FILE__, which compiler caches may make relative).
std::string shipped_config_path() {
  return (aptflow::test::source_dir() / "configs/synth/specimen_alli_l12.toml").string();
}

// A small Al-Li-Mg specimen; extra TOML is appended (overrides go through --set).
Config small_config(const std::vector<std::string>& overrides = {},
                    const std::string& count_line = "count = 3") {
  auto cfg = Config::from_string(R"(
seed = 77
name = "small"
[specimen]
size = [5.0, 4.5, 6.0]
slab_thickness = 0.7
[matrix]
structure = "A1"
class = "FCC"
a = 0.405
species = { A = { Al = 0.90, Li = 0.08, Mg = 0.02 } }
[domains.dp]
structure = "L1_2"
class = "L1_2"
radius = { distribution = "normal", mean = 1.2, sd = 0.2, min = 0.8, max = 1.5 }
species = { A = { Al = 1.0 }, B = { Li = 0.8, Mg = 0.2 } }
)" + count_line + R"(
[artefacts]
sigma_xy = 0.5
sigma_z = 0.03
efficiency = 0.5
[ions]
mass = { Al = 27.0, Li = 7.0, Mg = 24.0 }
peak_sigma = 0.05
)");
  cfg.apply_overrides(overrides);
  return cfg;
}

bool same(const SpecimenSlab& a, const SpecimenSlab& b) {
  if (a.ions.size() != b.ions.size()) return false;
  for (aptflow::IonIndex i = 0; i < a.ions.size(); ++i)
    if (a.ions.x(i) != b.ions.x(i) || a.ions.y(i) != b.ions.y(i) || a.ions.z(i) != b.ions.z(i) ||
        a.ions.mq(i) != b.ions.mq(i) || a.ions.species(i) != b.ions.species(i))
      return false;
  return a.domain_id == b.domain_id && a.class_id == b.class_id;
}

SpecimenSlab concat(const std::vector<SpecimenSlab>& parts) {
  aptflow::IonIndex n = 0;
  for (const auto& p : parts) n += p.ions.size();
  SpecimenSlab out;
  out.ions = aptflow::HostIonCloud(n);
  aptflow::IonIndex at = 0;
  for (const auto& p : parts) {
    for (aptflow::IonIndex i = 0; i < p.ions.size(); ++i, ++at) {
      out.ions.x(at) = p.ions.x(i);
      out.ions.y(at) = p.ions.y(i);
      out.ions.z(at) = p.ions.z(i);
      out.ions.mq(at) = p.ions.mq(i);
      out.ions.species(at) = p.ions.species(i);
    }
    out.domain_id.insert(out.domain_id.end(), p.domain_id.begin(), p.domain_id.end());
    out.class_id.insert(out.class_id.end(), p.class_id.begin(), p.class_id.end());
  }
  return out;
}

bool inside(const Domain& d, double x, double y, double z) {
  const double u = (x - d.centre[0]) / d.semi_axes[0], v = (y - d.centre[1]) / d.semi_axes[1],
               w = (z - d.centre[2]) / d.semi_axes[2];
  return u * u + v * v + w * w <= 1.0;
}

}  // namespace

TEST(SynthSpecimen, AnySlabPartitionGivesTheSameIons) {
  const SpecimenGenerator gen(small_config());
  const auto n = gen.num_slabs();
  ASSERT_EQ(n, 9);  // ceil(6.0 / 0.7)
  const auto all = gen.generate_slab(0, n);
  EXPECT_GT(all.ions.size(), 1000);
  EXPECT_EQ(gen.count_slab(0, n), all.ions.size());
  std::mt19937 rng(1);
  for (int trial = 0; trial < 4; ++trial) {
    // Random cut points.
    std::vector<std::int64_t> cuts{0, n};
    for (int c = 0; c < 3; ++c) cuts.push_back(std::uniform_int_distribution<std::int64_t>(0, n)(rng));
    std::sort(cuts.begin(), cuts.end());
    std::vector<SpecimenSlab> parts;
    for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
      parts.push_back(gen.generate_slab(cuts[c], cuts[c + 1]));
      EXPECT_EQ(gen.count_slab(cuts[c], cuts[c + 1]), parts.back().ions.size());
    }
    EXPECT_TRUE(same(concat(parts), all)) << "trial " << trial;
  }
  // Slab membership by detected z: slab iz holds z in [iz t, (iz + 1) t) (ends open).
  for (std::int64_t iz = 1; iz + 1 < n; ++iz) {
    const auto s = gen.generate_slab(iz, iz + 1);
    for (aptflow::IonIndex i = 0; i < s.ions.size(); ++i) {
      ASSERT_GE(s.ions.z(i), static_cast<float>(iz * 0.7) - 1e-5f);
      ASSERT_LT(s.ions.z(i), static_cast<float>((iz + 1) * 0.7) + 1e-5f);
    }
  }
  // Same config, same ions; another seed, other ions.
  const SpecimenGenerator again(small_config());
  EXPECT_TRUE(same(again.generate_slab(0, n), all));
  const SpecimenGenerator other(small_config({"seed=78"}));
  EXPECT_FALSE(same(other.generate_slab(0, n), all));
}

TEST(SynthSpecimen, LabelsMatchGeometryAndDomainsAreOrdered) {
  // No blur, every atom detected: ions sit on their ideal lattice sites.
  const SpecimenGenerator gen(small_config(
      {"artefacts.sigma_xy=0", "artefacts.sigma_z=0", "artefacts.efficiency=1", "ions.peak_sigma=0"}));
  const auto& doms = gen.domains();
  ASSERT_EQ(doms.size(), 3u);
  const auto s = gen.generate_slab(0, gen.num_slabs());
  const auto& sp = gen.spec().species;
  ASSERT_EQ(sp, (std::vector<std::string>{"Al", "Li", "Mg"}));
  const double a = 0.405;
  std::map<std::string, int> matrix_count;
  int in_domains = 0, matrix = 0;
  for (aptflow::IonIndex i = 0; i < s.ions.size(); ++i) {
    const double x = s.ions.x(i), y = s.ions.y(i), z = s.ions.z(i);
    std::int64_t want = -1;
    for (const auto& d : doms)
      if (inside(d, x, y, z)) want = d.id;
    // float positions: skip ions within 1e-5 nm of a domain surface
    bool near_surface = false;
    for (const auto& d : doms) {
      const double r = std::sqrt(std::pow((x - d.centre[0]) / d.semi_axes[0], 2) +
                                 std::pow((y - d.centre[1]) / d.semi_axes[1], 2) +
                                 std::pow((z - d.centre[2]) / d.semi_axes[2], 2));
      near_surface = near_surface || std::abs(r - 1.0) < 1e-4;
    }
    if (!near_surface) ASSERT_EQ(s.domain_id[i], want) << "ion " << i;
    const auto name = sp[s.ions.species(i) - 1u];
    if (s.domain_id[i] >= 0) {
      ++in_domains;
      EXPECT_EQ(s.class_id[i], 1);
      // L1_2: Li/Mg exactly on cube corners (integer multiples of a), Al on faces.
      const bool corner = std::abs(x / a - std::round(x / a)) < 1e-4 &&
                          std::abs(y / a - std::round(y / a)) < 1e-4 &&
                          std::abs(z / a - std::round(z / a)) < 1e-4;
      EXPECT_EQ(corner, name != "Al") << "ion " << i;
    } else {
      ++matrix;
      EXPECT_EQ(s.class_id[i], 0);
      ++matrix_count[name];
    }
    EXPECT_EQ(s.ions.mq(i), static_cast<float>(gen.spec().mq[s.ions.species(i) - 1u]));
  }
  EXPECT_GT(in_domains, 300);
  EXPECT_NEAR(matrix_count["Li"] / double(matrix), 0.08, 5 * std::sqrt(0.08 * 0.92 / matrix));
  EXPECT_NEAR(matrix_count["Mg"] / double(matrix), 0.02, 5 * std::sqrt(0.02 * 0.98 / matrix));
  EXPECT_EQ(gen.spec().class_names, (std::vector<std::string>{"FCC", "L1_2"}));
}

TEST(SynthSpecimen, SiteCountMatchesBruteForceLattice) {
  // eta = 1, no blur: every lattice site in [0, size) once, also for a rotated lattice.
  for (const char* pole : {"[0, 0, 2]", "[1, 0, 1]", "[1, 1, 1]"}) {
    SCOPED_TRACE(pole);
    const SpecimenGenerator gen(
        small_config({"artefacts.sigma_xy=0", "artefacts.sigma_z=0", "artefacts.efficiency=1",
                      std::string("orientation.pole=") + pole, "domains.dp.count=0"}));
    const auto s = gen.generate_slab(0, gen.num_slabs());
    const auto& R = gen.spec().orientation;
    const auto& st = gen.spec().matrix;
    const double L[3] = {5.0, 4.5, 6.0};
    // Sites exactly on a face of the box (possible for rotated lattices) may
    // fall either side by rounding: bracket the count by a shrunk and a grown box.
    std::int64_t inner = 0, outer = 0;
    const double e = 1e-9;
    for (int i = -40; i <= 40; ++i)
      for (int j = -40; j <= 40; ++j)
        for (int k = -40; k <= 40; ++k)
          for (const auto& site : st.sites) {
            const auto p = R.apply({(i + site.position[0]) * st.a, (j + site.position[1]) * st.a,
                                    (k + site.position[2]) * st.c});
            inner +=
                p[0] >= e && p[0] < L[0] - e && p[1] >= e && p[1] < L[1] - e && p[2] >= e && p[2] < L[2] - e;
            outer += p[0] >= -e && p[0] < L[0] + e && p[1] >= -e && p[1] < L[1] + e && p[2] >= -e &&
                     p[2] < L[2] + e;
          }
    EXPECT_GE(s.ions.size(), inner);
    EXPECT_LE(s.ions.size(), outer);
    if (std::string(pole) == "[0, 0, 2]") {
      // Unrotated: positions are exact on the faces x, y, z = 0 (kept), the far faces hold no site.
      std::int64_t exact = 0;
      for (int i = 0; i <= 40; ++i)
        for (int j = 0; j <= 40; ++j)
          for (int k = 0; k <= 40; ++k)
            for (const auto& site : st.sites) {
              const double p[3] = {(i + site.position[0]) * st.a, (j + site.position[1]) * st.a,
                                   (k + site.position[2]) * st.c};
              exact += p[0] < L[0] && p[1] < L[1] && p[2] < L[2];
            }
      EXPECT_EQ(s.ions.size(), exact);
    }
    // No two ions on one site.
    std::vector<std::tuple<long, long, long>> keys;
    for (aptflow::IonIndex i = 0; i < s.ions.size(); ++i)
      keys.emplace_back(std::lround(s.ions.x(i) * 1e4), std::lround(s.ions.y(i) * 1e4),
                        std::lround(s.ions.z(i) * 1e4));
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(std::unique(keys.begin(), keys.end()), keys.end());
  }
}

TEST(SynthSpecimen, DepthBlurMovesIonsAcrossSlabsWithoutLoss) {
  // Every atom detected, only z blurred (large, thin slabs): each lattice site
  // appears exactly once, whichever slab its detected z falls in.
  const std::vector<std::string> base{"artefacts.sigma_xy=0", "artefacts.efficiency=1",
                                      "specimen.slab_thickness=0.3", "ions.peak_sigma=0"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), base.begin(), base.end());
    return extra;
  };
  const SpecimenGenerator blurred(small_config(with({"artefacts.sigma_z=0.04"})));
  const SpecimenGenerator sharp(small_config(with({"artefacts.sigma_z=0"})));
  const auto a = blurred.generate_slab(0, blurred.num_slabs());
  const auto b = sharp.generate_slab(0, sharp.num_slabs());
  ASSERT_EQ(a.ions.size(), b.ions.size());
  // Match ions by (x, y, species, domain) and the nearest z: the z shifts follow N(0, 0.04), sites of one
  // column are 0.405 nm apart.
  using K = std::tuple<float, float, int, std::int64_t>;
  std::multimap<K, float> sharp_z;
  for (aptflow::IonIndex i = 0; i < b.ions.size(); ++i)
    sharp_z.emplace(K{b.ions.x(i), b.ions.y(i), b.ions.species(i), b.domain_id[i]}, b.ions.z(i));
  double s2 = 0;
  int moved_slab = 0;
  for (aptflow::IonIndex i = 0; i < a.ions.size(); ++i) {
    auto [lo, hi] = sharp_z.equal_range(K{a.ions.x(i), a.ions.y(i), a.ions.species(i), a.domain_id[i]});
    ASSERT_NE(lo, hi) << "ion " << i << " has no ideal site";
    auto best = lo;
    for (auto it = lo; it != hi; ++it)
      if (std::abs(it->second - a.ions.z(i)) < std::abs(best->second - a.ions.z(i))) best = it;
    const double d = a.ions.z(i) - best->second;
    s2 += d * d;
    moved_slab += std::floor(a.ions.z(i) / 0.3) != std::floor(best->second / 0.3);
    sharp_z.erase(best);
  }
  EXPECT_TRUE(sharp_z.empty());
  EXPECT_NEAR(std::sqrt(s2 / a.ions.size()), 0.04, 0.002);
  EXPECT_GT(moved_slab, 300);
}

TEST(SynthSpecimen, EfficiencyNoiseAndMassPeaks) {
  const SpecimenGenerator gen(
      small_config({"specimen.size=[8.0, 8.0, 8.0]", "artefacts.efficiency_species={Li=0.25}"}));
  const auto s = gen.generate_slab(0, gen.num_slabs());
  const SpecimenGenerator full(small_config({"specimen.size=[8.0, 8.0, 8.0]", "artefacts.efficiency=1",
                                             "artefacts.sigma_xy=0", "artefacts.sigma_z=0"}));
  const auto f = full.generate_slab(0, full.num_slabs());
  std::map<int, double> n_full, n_kept;
  for (aptflow::IonIndex i = 0; i < f.ions.size(); ++i) n_full[f.ions.species(i)] += 1;
  for (aptflow::IonIndex i = 0; i < s.ions.size(); ++i) n_kept[s.ions.species(i)] += 1;
  EXPECT_NEAR(n_kept[1] / n_full[1], 0.5, 5 * std::sqrt(0.25 / n_full[1]));     // Al
  EXPECT_NEAR(n_kept[2] / n_full[2], 0.25, 5 * std::sqrt(0.1875 / n_full[2]));  // Li
  // m/q peaks: Gaussian of width peak_sigma around the mass, inside the range.
  const auto& rt = gen.range_table();
  ASSERT_EQ(rt.num_types(), 3u);
  double sum = 0, sum2 = 0, n = 0;
  for (aptflow::IonIndex i = 0; i < s.ions.size(); ++i) {
    const int sp = s.ions.species(i);
    const double d = s.ions.mq(i) - gen.spec().mq[sp - 1];
    sum += d;
    sum2 += d * d;
    n += 1;
    int ranged = 0;
    for (const auto& r : rt.ranges)
      if (s.ions.mq(i) >= r.lo && s.ions.mq(i) < r.hi) ranged = r.ion_type + 1;
    ASSERT_EQ(ranged, sp);
  }
  EXPECT_NEAR(sum / n, 0.0, 5 * 0.05 / std::sqrt(n));
  EXPECT_NEAR(std::sqrt(sum2 / n), 0.05, 0.002);
  EXPECT_EQ(rt.species_of("Li"), 2);
  // Lateral blur: ions spill out of [0, 8) in x by about sigma_xy.
  float xmin = 1e9f;
  for (aptflow::IonIndex i = 0; i < s.ions.size(); ++i) xmin = std::min(xmin, s.ions.x(i));
  EXPECT_LT(xmin, -0.5f);
}

TEST(SynthSpecimen, DomainPlacement) {
  // Placement only (no ions): many domains, density, non-overlap, inside, radius distribution.
  auto cfg =
      small_config({"specimen.size=[60.0, 60.0, 60.0]", "domains.dp.min_gap=0.3"}, "number_density = 1e-3");
  const SpecimenGenerator gen(cfg);
  const auto& d = gen.domains();
  ASSERT_EQ(d.size(), 216u);  // llround(1e-3 * 60^3)
  double rsum = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    EXPECT_EQ(d[i].id, static_cast<std::int64_t>(i));
    const double r = d[i].semi_axes[0];
    EXPECT_GE(r, 0.8);
    EXPECT_LE(r, 1.5);
    rsum += r;
    for (int k = 0; k < 3; ++k) {
      EXPECT_GE(d[i].centre[k] - r, 0.0);
      EXPECT_LE(d[i].centre[k] + r, 60.0);
    }
    for (std::size_t j = 0; j < i; ++j) {
      const double dist = std::hypot(d[i].centre[0] - d[j].centre[0], d[i].centre[1] - d[j].centre[1],
                                     d[i].centre[2] - d[j].centre[2]);
      ASSERT_GE(dist, d[i].semi_axes[0] + d[j].semi_axes[0] + 0.3);
    }
  }
  EXPECT_NEAR(rsum / d.size(), 1.2, 0.05);
}

TEST(SynthSpecimen, EllipsoidsAndTetragonalDomains) {
  // D0_22 (c = 2a) ellipsoids in FCC: ratio (1, 1, 2); B sites (Ti) only where the D0_22 cell has them.
  const SpecimenGenerator gen(
      small_config({"artefacts.sigma_xy=0", "artefacts.sigma_z=0", "artefacts.efficiency=1",
                    "domains.dp.count=2", "domains.dp.radius=1.0", "domains.dp.shape=\"ellipsoid\"",
                    "domains.dp.semi_axes_ratio=[1.0, 1.2, 1.5]", "domains.dp.structure=\"D0_22\"",
                    "domains.dp.class=\"D0_22\"", "domains.dp.species.B={Ti=1.0}", "ions.mass.Ti=48.0"}));
  const auto s = gen.generate_slab(0, gen.num_slabs());
  ASSERT_EQ(gen.domains().size(), 2u);
  EXPECT_DOUBLE_EQ(gen.domains()[0].semi_axes[2], 1.5);
  const double a = 0.405;
  int ti = 0;
  for (aptflow::IonIndex i = 0; i < s.ions.size(); ++i) {
    const auto name = gen.spec().species[s.ions.species(i) - 1u];
    if (s.domain_id[i] < 0) {
      EXPECT_NE(name, "Ti");
      continue;
    }
    EXPECT_TRUE(inside(gen.domains()[s.domain_id[i]], s.ions.x(i), s.ions.y(i), s.ions.z(i)));
    // D0_22 B sites: (0,0,0) and (1/2,1/2,1/2) of the a x a x 2a cell.
    const double fx = s.ions.x(i) / a, fy = s.ions.y(i) / a, fz = s.ions.z(i) / (2 * a);
    auto frac = [](double v) { return v - std::floor(v + 1e-4); };
    const bool b0 = frac(fx) < 1e-3 && frac(fy) < 1e-3 && frac(fz) < 1e-3;
    const bool b1 =
        std::abs(frac(fx) - 0.5) < 1e-3 && std::abs(frac(fy) - 0.5) < 1e-3 && std::abs(frac(fz) - 0.5) < 1e-3;
    EXPECT_EQ(name == "Ti", b0 || b1) << i;
    ti += name == "Ti";
  }
  EXPECT_GT(ti, 10);
}

TEST(SynthSpecimen, ConfigErrors) {
  auto key_of = [](Config cfg) {
    try {
      SpecimenGenerator gen(cfg);
    } catch (const ConfigError& e) {
      return e.key();
    }
    return std::string("<no error>");
  };
  EXPECT_EQ(key_of(small_config({"artefacts.sigma_zz=0.1"})), "artefacts.sigma_zz");
  EXPECT_EQ(key_of(small_config({"domains.dp.radiuss=1.0"})), "domains.dp.radiuss");
  EXPECT_EQ(key_of(small_config({"domains.dp.structure=\"B2\""})),
            "domains.dp.structure");                                        // not coherent with FCC
  EXPECT_EQ(key_of(small_config({"domains.dp.count=500"})), "domains.dp");  // cannot place
  EXPECT_EQ(key_of(small_config({"ions.mass.Lii=7.0"})), "ions.mass.Lii");
  EXPECT_EQ(key_of(small_config({"artefacts.thinning=\"exact\""})), "artefacts.thinning");
  EXPECT_EQ(key_of(small_config({"domains.dp.species.B={Xx=1.0}"})), "ions.mass.Xx");  // no default mass
  EXPECT_EQ(key_of(small_config({"ions.range_half_width=2.0", "ions.mass.Mg=25.5"})),
            "ions.range_half_width");
}

TEST(SynthSpecimen, ShippedConfigGenerates) {
  auto cfg = Config::from_file(shipped_config_path());
  cfg.apply_overrides({"specimen.size=[12.0, 12.0, 12.0]"});
  const SpecimenGenerator gen(cfg);
  EXPECT_EQ(gen.domains().size(), 3u);  // llround(1.5e-3 * 1728)
  EXPECT_EQ(gen.spec().species, (std::vector<std::string>{"Al", "Li", "Mg"}));
  const auto s = gen.generate_slab(0, gen.num_slabs());
  // eta = 0.5 of the FCC sites in [0, 12)^3 (counted on the (a/2) grid: even index sum).
  const int m = static_cast<int>(std::ceil(12.0 / 0.2025));
  double sites = 0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j)
      for (int k = 0; k < m; ++k) sites += (i + j + k) % 2 == 0;
  EXPECT_NEAR(s.ions.size(), 0.5 * sites, 5 * std::sqrt(0.25 * sites));
  // The RRNG written for the specimen reads back as the generator's table.
  const auto txt = aptflow::format_rrng(gen.range_table());
  const auto back = aptflow::parse_rrng_string(txt, "specimen.rrng");
  ASSERT_EQ(back.num_types(), 3u) << txt;
  EXPECT_EQ(back.ion_types[0].name, "Al");
  EXPECT_EQ(back.ion_types[1].name, "Li");
  EXPECT_EQ(back.ion_types[2].name, "Mg");
  EXPECT_NEAR(back.ion_types[0].volume, 0.01661, 1e-5);
  ASSERT_EQ(back.ranges.size(), 3u);
  EXPECT_NEAR(back.ranges[0].lo, 6.7, 1e-9);
  EXPECT_NEAR(back.ranges[0].hi, 7.3, 1e-9);
  EXPECT_EQ(back.ion_types[static_cast<std::size_t>(back.ranges[0].ion_type)].name, "Li");
  EXPECT_NEAR(back.ranges[2].lo, 26.7, 1e-9);
  EXPECT_EQ(back.ion_types[static_cast<std::size_t>(back.ranges[2].ion_type)].name, "Al");
}
