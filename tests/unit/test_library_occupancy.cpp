// Occupancy features of synthetic libraries (kind "occupancy",
// aptflow/synth/library.hpp): against a brute-force count over the atoms of
// the block, in the file layout of docs/file-layouts.md, and the config checks.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/io/features.hpp"
#include "aptflow/synth/library.hpp"
#include "test_util.hpp"

using namespace aptflow;
using namespace aptflow::synth;

namespace {

// Two classes whose blocks (9 and 7 cells of 0.287 nm: 2.6 and 2.0 nm, plus
// noise) are larger than or about the cube, so the cube edges cut the block.
const char* kOcc = R"(
seed = 31
[library]
classes = ["BCC", "B2"]
[library.occupancy]
edge = 1.7
grid = 6
species = ["Al", "Fe"]
[sdm]
kinds = ["z", "occupancy"]
pairs = ["Fe-Fe"]
[grid]
sigma_xy = [0.1, 0.4]
sigma_z = [0.03]
eta = [0.5, 0.8]
[classes.BCC]
structure = "A2"
a = 0.287
cells = [9, 9, 9]
species = { A = { Fe = 0.7, Al = 0.3 } }
[classes.B2]
structure = "B2"
a = 0.287
cells = [7, 7, 7]
pole = [1, 0, 1]
species = { A = { Fe = 1.0 }, B = { Al = 1.0 } }
)";

LibrarySpec spec_from(const char* text, const std::vector<std::string>& sets = {}) {
  auto cfg = Config::from_string(text);
  cfg.apply_overrides(sets);
  return parse_library_config(cfg);
}

// Brute force: every atom of the species, its float32 position (as the ion
// cloud stores it), voxel index floor((p + E/2) / (E/G)) per axis in double,
// counted when all three lie in [0, G).
std::vector<float> brute_occupancy(const LatticeBlock& b, const std::string& species, double E, int G) {
  std::vector<float> grid(static_cast<std::size_t>(G) * G * G, 0.0f);
  const double h = E / G;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (b.species_names.at(b.species[i] - 1u) != species) continue;
    const double p[3] = {double(float(b.x[i])), double(float(b.y[i])), double(float(b.z[i]))};
    long k[3];
    bool inside = true;
    for (int a = 0; a < 3; ++a) {
      k[a] = static_cast<long>(std::floor((p[a] + 0.5 * E) / h));
      inside = inside && k[a] >= 0 && k[a] < G;
    }
    if (inside) grid[static_cast<std::size_t>((k[2] * G + k[1]) * G + k[0])] += 1.0f;
  }
  return grid;
}

}  // namespace

TEST(LibraryOccupancy, MatchesBruteForceCountsPerSpecies) {
  const auto spec = spec_from(kOcc);
  ASSERT_TRUE(spec.occupancy);
  EXPECT_EQ(spec.occ.grid, 6);
  EXPECT_DOUBLE_EQ(spec.occ.edge, 1.7);
  ASSERT_EQ(num_channels(spec), 3u);  // z Fe-Fe, occupancy Al, occupancy Fe
  const auto samples = expand_library(spec);
  ASSERT_EQ(samples.size(), 8u);
  LibrarySpec z_only = spec;
  z_only.occupancy = false;
  double inside_total = 0;
  for (const auto& s : samples) {
    const auto rows = library_sample_sdms(spec, s);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0], library_sample_sdms(z_only, s)[0]) << "the SDM channel must not change";
    const LatticeBlock b = library_block(spec, s);
    std::size_t atoms[2] = {0, 0};
    for (std::size_t i = 0; i < b.size(); ++i) ++atoms[b.species_names[b.species[i] - 1u] == "Fe"];
    for (std::size_t c = 0; c < 2; ++c) {
      const auto want = brute_occupancy(b, spec.occ.species[c], 1.7, 6);
      ASSERT_EQ(rows[1 + c].size(), 216u);
      EXPECT_EQ(rows[1 + c], want) << "class " << s.class_id << " key " << s.key << " species "
                                   << spec.occ.species[c];
      double sum = 0;
      for (float v : want) sum += v;
      EXPECT_GT(sum, 0.0);
      EXPECT_LT(sum, double(atoms[c == 1])) << "the cube must cut the block";
      inside_total += sum;
    }
  }
  EXPECT_GT(inside_total, 100.0);
}

TEST(LibraryOccupancy, FileLayoutAndBins) {
  const auto spec =
      spec_from(kOcc, {"library.occupancy.grid=5", "sdm.kinds=[\"occupancy\"]", "sdm.pairs=[]"});
  ASSERT_TRUE(spec.sdms.empty());
  ASSERT_EQ(num_channels(spec), 2u);
  test::TempDir dir;
  const auto path = (dir / "occ.h5").string();
  const auto st = write_library(MPI_COMM_SELF, spec, path);
  EXPECT_EQ(st.samples, 8);
  const auto info = io::read_feature_info(path);
  ASSERT_EQ(info.layout.channels.size(), 2u);
  for (const auto& ch : info.layout.channels) {
    EXPECT_EQ(ch.kind, "occupancy");
    EXPECT_EQ(ch.shape, (std::vector<std::int64_t>{5, 5, 5}));
  }
  ASSERT_EQ(info.layout.bins.size(), 1u);
  EXPECT_EQ(info.layout.bins[0].first, "occupancy");
  ASSERT_EQ(info.layout.bins[0].second.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(info.layout.bins[0].second[i], -0.85 + i * 0.34, 1e-12);
  const auto samples = expand_library(spec);
  for (std::int64_t r : {0, 5, 7}) {
    const LatticeBlock b = library_block(spec, samples[static_cast<std::size_t>(r)]);
    EXPECT_EQ(io::read_features(path, "occupancy", "Fe", r, 1), brute_occupancy(b, "Fe", 1.7, 5));
    EXPECT_EQ(io::read_features(path, "occupancy", "Al", r, 1), brute_occupancy(b, "Al", 1.7, 5));
  }
}

TEST(LibraryOccupancy, ConfigErrorsNameTheKey) {
  auto key_of = [](const std::vector<std::string>& sets) -> std::string {
    try {
      spec_from(kOcc, sets);
    } catch (const ConfigError& e) {
      return e.key();
    }
    return "";
  };
  EXPECT_EQ(key_of({"sdm.kinds=[\"z\"]"}), "library.occupancy");  // settings without the kind
  EXPECT_EQ(key_of({"library.occupancy.species=[\"Fe\", \"Ni\"]"}), "library.occupancy.species");
  EXPECT_EQ(key_of({"library.occupancy.species=[\"Fe\", \"Fe\"]"}), "library.occupancy.species");
  EXPECT_EQ(key_of({"library.occupancy.species=[]"}), "library.occupancy.species");
  EXPECT_EQ(key_of({"library.occupancy.grid=0"}), "library.occupancy.grid");
  EXPECT_EQ(key_of({"library.occupancy.edge=-1.0"}), "library.occupancy.edge");
  EXPECT_EQ(key_of({"sdm.kinds=[\"occupancy\", \"occupancy\"]"}), "sdm.kinds");
  EXPECT_EQ(key_of({"sdm.kinds=[\"occupancy\"]"}), "sdm.pairs");                  // pairs without an SDM kind
  EXPECT_EQ(key_of({"library.occupancy.colour=1"}), "library.occupancy.colour");  // unknown key
  EXPECT_EQ(key_of({}), "");
}
