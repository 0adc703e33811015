// Crystal structures (built-ins, TOML schema, species substitution) and orientations.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "aptflow/core/error.hpp"
#include "aptflow/synth/lattice_block.hpp"
#include "aptflow/synth/orientation.hpp"
#include "aptflow/synth/structure.hpp"
#include "test_util.hpp"

using namespace aptflow::synth;
using aptflow::Config;
using aptflow::ConfigError;

namespace {

double fraction(const CrystalStructure& s, const std::string& sp) {
  for (const auto& [name, f] : s.composition())
    if (name == sp) return f;
  return 0.0;
}

// Species of the site at fractional position p (exact match), "" if none.
std::string species_at(const CrystalStructure& s, double x, double y, double z) {
  for (const auto& site : s.sites)
    if (std::abs(site.position[0] - x) < 1e-12 && std::abs(site.position[1] - y) < 1e-12 &&
        std::abs(site.position[2] - z) < 1e-12)
      return site.occupancy.species.size() == 1 ? site.occupancy.species[0] : "mixed";
  return "";
}

}  // namespace

TEST(SynthStructure, BuiltinSiteCountsAndCompositions) {
  struct Want {
    const char* name;
    std::size_t sites;
    double fa;  // fraction of A
    bool tetragonal;
    double c_over_a;
  };
  const Want want[] = {{"A1", 4, 1.0, false, 1.0},     {"L1_2", 4, 0.75, false, 1.0},
                       {"A2", 2, 1.0, false, 1.0},     {"B2", 2, 0.5, false, 1.0},
                       {"D0_3", 16, 0.75, false, 1.0}, {"L1_0", 4, 0.5, true, 1.0},
                       {"D0_22", 8, 0.75, true, 2.0}};
  EXPECT_EQ(builtin_structure_names().size(), std::size(want));
  for (const auto& w : want) {
    SCOPED_TRACE(w.name);
    const auto s = builtin_structure(w.name);
    EXPECT_EQ(s.sites.size(), w.sites);
    EXPECT_NEAR(fraction(s, "A"), w.fa, 1e-12);
    EXPECT_NEAR(fraction(s, "B"), 1.0 - w.fa, 1e-12);
    EXPECT_EQ(s.lattice == LatticeSystem::tetragonal, w.tetragonal);
    EXPECT_NEAR(s.c / s.a, w.c_over_a, 1e-12);
    // The embedded TOML is the schema: parsing it again gives the same structure.
    auto cfg = Config::from_string(builtin_structure_toml(w.name));
    const auto again = parse_structure(cfg);
    EXPECT_NO_THROW(cfg.check_all_used());
    ASSERT_EQ(again.sites.size(), s.sites.size());
    for (std::size_t i = 0; i < s.sites.size(); ++i) EXPECT_EQ(again.sites[i].position, s.sites[i].position);
  }
  EXPECT_THROW(builtin_structure("B3"), ConfigError);
}

TEST(SynthStructure, L12WithChosenSpecies) {
  const auto s = substitute_species(builtin_structure("L1_2"),
                                    {{"A", {{"Al"}, {1.0}}}, {"B", {{"Li", "Mg"}, {0.8, 0.2}}}});
  EXPECT_EQ(s.species(), (std::vector<std::string>{"Li", "Mg", "Al"}));
  EXPECT_NEAR(fraction(s, "Al"), 0.75, 1e-12);
  EXPECT_NEAR(fraction(s, "Li"), 0.2, 1e-12);
  EXPECT_NEAR(fraction(s, "Mg"), 0.05, 1e-12);
  EXPECT_EQ(species_at(s, 0.5, 0.5, 0.0), "Al");  // faces
  EXPECT_EQ(species_at(s, 0.0, 0.5, 0.5), "Al");
  EXPECT_EQ(species_at(s, 0.0, 0.0, 0.0), "mixed");  // corner: Li 0.8 / Mg 0.2
}

// D0_3 Fe3Al against an independent construction: a 2 x 2 x 2 BCC supercell
// whose cube corners alternate Al/Fe like rock salt and whose body centres are Fe.
TEST(SynthStructure, D03MatchesRockSaltConstruction) {
  const auto s =
      substitute_species(builtin_structure("D0_3"), {{"A", {{"Fe"}, {1.0}}}, {"B", {{"Al"}, {1.0}}}});
  int fe = 0, al = 0;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 2; ++k) {
        const std::string corner = (i + j + k) % 2 == 0 ? "Al" : "Fe";
        EXPECT_EQ(species_at(s, i * 0.5, j * 0.5, k * 0.5), corner);
        EXPECT_EQ(species_at(s, i * 0.5 + 0.25, j * 0.5 + 0.25, k * 0.5 + 0.25), "Fe");
        (corner == "Al" ? al : fe) += 1;
        fe += 1;
      }
  EXPECT_EQ(fe, 12);
  EXPECT_EQ(al, 4);
  EXPECT_NEAR(fraction(s, "Fe"), 0.75, 1e-12);
}

TEST(SynthStructure, TomlSchemaWithPartialOccupancy) {
  auto cfg = Config::from_string(R"(
name = "half-ordered"
lattice = "tetragonal"
a = 0.4
c = 0.8
[[sites]]
position = [0.0, 0.0, 0.0]
occupancy = { Al = 0.75, Li = 0.25 }
label = "mixed"
[[sites]]
position = [0.5, 0.5, 0.5]
occupancy = { Li = 1.0 }
)");
  const auto s = parse_structure(cfg);
  EXPECT_NO_THROW(cfg.check_all_used());
  EXPECT_EQ(s.name, "half-ordered");
  EXPECT_DOUBLE_EQ(s.c, 0.8);
  EXPECT_NEAR(fraction(s, "Al"), 0.375, 1e-12);
  EXPECT_NEAR(fraction(s, "Li"), 0.625, 1e-12);
  EXPECT_NEAR(s.atomic_volume(), 0.4 * 0.4 * 0.8 / 2, 1e-15);
}

TEST(SynthStructure, SchemaErrorsNameTheKey) {
  auto expect_key = [](const std::string& text, const std::string& key) {
    auto cfg = Config::from_string(text);
    try {
      parse_structure(cfg);
      cfg.check_all_used();
      ADD_FAILURE() << "no error for " << key;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key(), key) << e.what();
    }
  };
  const std::string head = "a = 0.4\n[[sites]]\nposition = [0.0, 0.0, 0.0]\noccupancy = { Al = 1.0 }\n";
  expect_key("a = 0.4\n[[sites]]\nposition = [0.0, 0.0, 0.0]\noccupancy = { Al = 0.7, Li = 0.2 }\n",
             "sites.0.occupancy");
  expect_key(head + "[[sites]]\nposition = [1.0, 0.0, 0.0]\noccupancy = { Al = 1.0 }\n", "sites.1.position");
  expect_key(head + "[[sites]]\nposition = [0.0, 0.0, 0.0]\noccupancy = { Al = 1.0 }\n", "sites.1.position");
  expect_key(head + "[[sites]]\nposition = [0.5, 0.5, 0.5]\noccupancy = { Al = 1.0 }\nlabl = 'x'\n",
             "sites.1.labl");
  expect_key("c = 0.5\n" + head, "c");
  expect_key("lattice = 'hexagonal'\n" + head, "lattice");
  expect_key("colour = 3\n" + head, "colour");
}

TEST(SynthStructure, StructureFromConfigTable) {
  auto cfg = Config::from_string(R"(
[phase]
structure = "D0_22"
a = 0.385
species = { A = { Al = 1.0 }, B = { Ti = 0.9, Zr = 0.1 } }
)");
  const auto s = structure_from_config(cfg, "phase");
  EXPECT_NO_THROW(cfg.check_all_used());
  EXPECT_DOUBLE_EQ(s.a, 0.385);
  EXPECT_DOUBLE_EQ(s.c, 0.77);  // c/a kept
  EXPECT_NEAR(fraction(s, "Al"), 0.75, 1e-12);
  EXPECT_NEAR(fraction(s, "Ti"), 0.225, 1e-12);
  auto bad = Config::from_string("[phase]\nstructure = 'A1'\nc = 0.5\n");
  EXPECT_THROW(structure_from_config(bad, "phase"), ConfigError);
}

TEST(SynthStructure, ShippedStructureFileRelativeToConfig) {
  // A config next to a structures/ folder refers to the file by a relative path.
  const auto shipped = aptflow::test::source_dir() / "configs" / "synth" / "structures" / "L1_2_partial.toml";
  aptflow::test::TempDir dir;
  std::filesystem::create_directories(dir / "structures");
  std::filesystem::copy_file(shipped, dir / "structures" / "L1_2_partial.toml");
  {
    std::ofstream f(dir / "run.toml");
    f << "[phase]\nstructure_file = \"structures/L1_2_partial.toml\"\n"
         "species = { A = { Al = 1.0 }, B = { Li = 1.0 } }\n";
  }
  auto cfg = Config::from_file((dir / "run.toml").string());
  const auto s = structure_from_config(cfg, "phase");
  EXPECT_NO_THROW(cfg.check_all_used());
  EXPECT_EQ(s.name, "L1_2_partial");
  EXPECT_NEAR(fraction(s, "Li"), 0.25, 1e-12);
  const auto& occ = s.sites[0].occupancy;  // species in name order (TOML tables are sorted)
  ASSERT_EQ(occ.species, (std::vector<std::string>{"Al", "Li"}));
  EXPECT_NEAR(occ.probability[1], 0.85, 1e-12);
  // Sampled corner occupancy over a block follows the probabilities.
  const auto b = build_ideal_block(s, BlockSpec{{20, 20, 20}, false}, 3, 0);
  int li_corner = 0, li_face = 0;
  for (std::size_t i = 0; i < b.size(); ++i)
    if (b.species_names[b.species[i] - 1u] == "Li") (b.site_id[i] % 4 == 0 ? li_corner : li_face)++;
  EXPECT_NEAR(li_corner / 8000.0, 0.85, 5 * std::sqrt(0.85 * 0.15 / 8000));
  EXPECT_NEAR(li_face / 24000.0, 0.05, 5 * std::sqrt(0.05 * 0.95 / 24000));
}

// ------------------------------------------------------------- orientation

TEST(SynthOrientation, Pole101IsThePapers45DegreeRotationAboutY) {
  const auto o = Orientation::from_pole({1, 0, 1}, {0.405, 0.405, 0.405});
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> U(-5, 5);
  const double r2 = std::sqrt(2.0);
  for (int n = 0; n < 100; ++n) {
    const std::array<double, 3> p{U(gen), U(gen), U(gen)};
    const auto q = o.apply(p);
    EXPECT_NEAR(q[0], (p[0] - p[2]) / r2, 1e-12);
    EXPECT_NEAR(q[1], p[1], 1e-12);
    EXPECT_NEAR(q[2], (p[0] + p[2]) / r2, 1e-12);
  }
  // The same rotation as Bunge Euler angles (-90, 45, 90).
  const auto e = Orientation::from_euler_deg(-90, 45, 90);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(e.R[i][j], o.R[i][j], 1e-12);
  // [0,1,1] itself: 45 degrees about x.
  const auto o011 = Orientation::from_pole({0, 1, 1}, {0.405, 0.405, 0.405});
  const auto q = o011.apply({0.3, -1.2, 0.7});
  EXPECT_NEAR(q[0], 0.3, 1e-12);
  EXPECT_NEAR(q[1], (-1.2 - 0.7) / r2, 1e-12);
  EXPECT_NEAR(q[2], (-1.2 + 0.7) / r2, 1e-12);
  EXPECT_TRUE(Orientation::from_pole({0, 0, 2}, {0.4, 0.4, 0.4}).is_identity());
}

TEST(SynthOrientation, RandomPolesGoToZAndAreRotations) {
  std::mt19937_64 gen(11);
  std::uniform_int_distribution<int> I(-3, 3);
  for (int n = 0; n < 200; ++n) {
    std::array<double, 3> uvw{double(I(gen)), double(I(gen)), double(I(gen))};
    if (uvw[0] == 0 && uvw[1] == 0 && uvw[2] == 0) continue;
    const std::array<double, 3> cell{0.385, 0.385, 0.77};  // tetragonal
    const auto o = Orientation::from_pole(uvw, cell);
    const std::array<double, 3> v{uvw[0] * cell[0], uvw[1] * cell[1], uvw[2] * cell[2]};
    const double len = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    const auto q = o.apply(v);
    EXPECT_NEAR(q[0], 0.0, 1e-12);
    EXPECT_NEAR(q[1], 0.0, 1e-12);
    EXPECT_NEAR(q[2], len, 1e-12);
    // Orthonormal with determinant +1.
    const auto& R = o.R;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        double d = 0;
        for (int k = 0; k < 3; ++k) d += R[i][k] * R[j][k];
        EXPECT_NEAR(d, i == j ? 1.0 : 0.0, 1e-12);
      }
    const double det = R[0][0] * (R[1][1] * R[2][2] - R[1][2] * R[2][1]) -
                       R[0][1] * (R[1][0] * R[2][2] - R[1][2] * R[2][0]) +
                       R[0][2] * (R[1][0] * R[2][1] - R[1][1] * R[2][0]);
    EXPECT_NEAR(det, 1.0, 1e-12);
  }
}

TEST(SynthOrientation, EulerIsTransposeOfBungeMatrix) {
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<double> U(-180, 180);
  const double d = 3.14159265358979323846 / 180;
  for (int n = 0; n < 50; ++n) {
    const double p1 = U(gen), P = U(gen) / 2 + 90, p2 = U(gen);
    const double c1 = std::cos(p1 * d), s1 = std::sin(p1 * d), c = std::cos(P * d), s = std::sin(P * d),
                 c2 = std::cos(p2 * d), s2 = std::sin(p2 * d);
    // Bunge's g (lab -> crystal), textbook form.
    const double g[3][3] = {{c1 * c2 - s1 * s2 * c, s1 * c2 + c1 * s2 * c, s2 * s},
                            {-c1 * s2 - s1 * c2 * c, -s1 * s2 + c1 * c2 * c, c2 * s},
                            {s1 * s, -c1 * s, c}};
    const auto o = Orientation::from_euler_deg(p1, P, p2);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) EXPECT_NEAR(o.R[i][j], g[j][i], 1e-12);
  }
}

TEST(SynthOrientation, FromConfig) {
  const std::array<double, 3> cell{0.4, 0.4, 0.4};
  auto c1 = Config::from_string("[o]\npole = [1, 0, 1]\n");
  EXPECT_NEAR(orientation_from_config(c1, "o", cell).R[2][0], 1 / std::sqrt(2.0), 1e-12);
  auto c2 = Config::from_string("[o]\neuler = [0, 90, 0]\n");
  EXPECT_NEAR(orientation_from_config(c2, "o", cell).R[2][1], 1.0, 1e-12);  // y -> z
  auto c3 = Config::from_string("[o]\neuler = [0, 90, 0]\npole = [0, 0, 1]\n");
  EXPECT_THROW(orientation_from_config(c3, "o", cell), ConfigError);
  auto c4 = Config::from_string("[o]\npole = [0, 0, 0]\n");
  EXPECT_THROW(orientation_from_config(c4, "o", cell), ConfigError);
}
