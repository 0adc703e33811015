// Synthetic libraries (aptflow/synth/library.hpp) and the feature file layer
// (aptflow/io/features.hpp).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "aptflow/core/error.hpp"
#include "aptflow/io/features.hpp"
#include "aptflow/synth/library.hpp"
#include "test_util.hpp"

using namespace aptflow;
using namespace aptflow::synth;

namespace {

std::string shipped(const std::string& name) {
  return (test::source_dir() / "configs" / "synth" / name).string();
}

LibrarySpec shipped_spec(const std::string& name, const std::vector<std::string>& sets = {}) {
  auto cfg = Config::from_file(shipped(name));
  cfg.apply_overrides(sets);
  return parse_library_config(cfg);
}

std::vector<std::int64_t> per_class(const LibrarySpec& s) {
  std::vector<std::int64_t> n(s.classes.size(), 0);
  for (const auto& x : expand_library(s)) ++n[static_cast<std::size_t>(x.class_id)];
  return n;
}

// Small two-class library (B2 vs A2) for computing tests.
const char* kSmall = R"(
seed = 77
[library]
classes = ["BCC", "B2"]
[sdm]
kinds = ["z", "zx"]
pairs = ["Fe-Fe", "Al-Fe"]
[grid]
sigma_xy = [0.1, 0.3]
sigma_z = [0.02]
eta = { start = 0.5, stop = 0.7, step = 0.1 }
[classes.BCC]
structure = "A2"
a = 0.287
cells = [4, 4, 4]
species = { A = { Fe = 0.7, Al = 0.3 } }
[classes.B2]
structure = "B2"
a = 0.287
cells = [4, 4, 4]
pole = [1, 0, 1]
species = { A = { Fe = 1.0 }, B = { Al = 1.0 } }
sigma_z = [0.03, 0.05]
)";

// Brute-force SDM of a block straight from the definition (spec.hpp): every
// ordered pair (i, j), i != j, i of species a, j of species b.
std::vector<std::int64_t> brute_sdm(const LatticeBlock& b, const SdmSpec& s, int a, int bb) {
  std::vector<std::int64_t> h(static_cast<std::size_t>(s.size()), 0);
  const float rc = static_cast<float>(s.r_cut), rc2 = rc * rc, lo = static_cast<float>(-s.range),
              w = static_cast<float>(s.bin);
  const int n = s.bins_per_axis;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (b.species[i] != a) continue;
    for (std::size_t j = 0; j < b.size(); ++j) {
      if (j == i || b.species[j] != bb) continue;
      const float dx = float(b.x[j]) - float(b.x[i]), dy = float(b.y[j]) - float(b.y[i]),
                  dz = float(b.z[j]) - float(b.z[i]);
      if ((dx * dx + dy * dy) + dz * dz > rc2) continue;
      const auto kx = reference_axis_bin(dx, lo, w), kz = reference_axis_bin(dz, lo, w);
      if (kx < 0 || kx >= n || kz < 0 || kz >= n) continue;
      if (s.kind == SdmKind::z) {
        const auto k = kz - s.crop_first;
        if (k >= 0 && k < s.crop_count) ++h[static_cast<std::size_t>(k)];
      } else {
        ++h[static_cast<std::size_t>(kz * n + kx)];
      }
    }
  }
  return h;
}

}  // namespace

TEST(Library, ShippedGridsMatchThePublishedSampleCounts) {
  auto feal = shipped_spec("feal_bcc_b2_d03.toml");
  EXPECT_EQ(per_class(feal), (std::vector<std::int64_t>{1500, 1500, 2000}));
  EXPECT_EQ(feal.classes[2].name, "D0_3");
  EXPECT_EQ(feal.sdms.size(), 1u);
  EXPECT_EQ(feal.sdms[0].kind, SdmKind::z);
  EXPECT_EQ(feal.pairs.size(), 2u);
  auto cocrni = shipped_spec("cocrni_fcc_l12.toml");
  EXPECT_EQ(per_class(cocrni), (std::vector<std::int64_t>{3250, 1950}));
  auto allimg = shipped_spec("allimg_fcc_l12.toml");
  EXPECT_EQ(per_class(allimg), (std::vector<std::int64_t>{1380, 1196}));
  EXPECT_EQ(allimg.sdms[0].kind, SdmKind::zx);
  // The paper's [011] formula: z' = (x + z)/sqrt2.
  const auto p = allimg.classes[0].orientation.apply({1.0, 0.0, 1.0});
  EXPECT_NEAR(p[2], std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(p[0], 0.0, 1e-12);
  EXPECT_TRUE(feal.classes[1].orientation.is_identity());
  // Grid values of the published tables (first/last), and the block sizes.
  EXPECT_NEAR(feal.classes[0].sigma_z.front(), 0.020, 1e-12);
  EXPECT_NEAR(feal.classes[0].sigma_z.back(), 0.048, 1e-12);
  EXPECT_NEAR(feal.classes[0].eta.back(), 0.68, 1e-12);
  EXPECT_NEAR(cocrni.classes[0].sigma_xy.back(), 0.80, 1e-12);
  EXPECT_EQ(feal.classes[1].block.cells[0], 11);
  EXPECT_NEAR(feal.classes[2].structure.a * feal.classes[2].block.cells[0], 12 * 0.287, 1e-12);
  // Subsampling keeps every k-th grid point of each class, with the full-grid keys.
  auto sub = shipped_spec("feal_bcc_b2_d03.toml", {"library.subsample=10"});
  EXPECT_EQ(per_class(sub), (std::vector<std::int64_t>{150, 150, 200}));
  const auto full = expand_library(feal), part = expand_library(sub);
  for (std::size_t i = 0; i < part.size(); i += 37) {
    const auto& q = part[i];
    const auto& f = full[q.key];
    EXPECT_EQ(f.key, q.key);
    EXPECT_EQ(f.class_id, q.class_id);
    EXPECT_EQ(f.sigma_z, q.sigma_z);
    EXPECT_EQ(f.eta, q.eta);
  }
}

TEST(Library, AxisRangesAndOrder) {
  const auto v = axis_range(0.2, 0.68, 0.02, "x");
  ASSERT_EQ(v.size(), 25u);
  for (std::size_t k = 0; k < v.size(); ++k) EXPECT_NEAR(v[k], 0.2 + 0.02 * double(k), 1e-12);
  EXPECT_THROW(axis_range(0.2, 0.67, 0.02, "x"), ConfigError);
  EXPECT_THROW(axis_range(0.2, 0.6, 0.0, "x"), ConfigError);
  const auto spec = parse_library_config(Config::from_string(kSmall));
  const auto s = expand_library(spec);
  // BCC: 2 x 1 x 3, B2: 2 x 2 x 3; sigma_xy outer, eta inner.
  ASSERT_EQ(s.size(), 18u);
  EXPECT_EQ(s[0].class_id, 0);
  EXPECT_EQ(s[6].class_id, 1);
  EXPECT_DOUBLE_EQ(s[1].eta, 0.6);
  EXPECT_DOUBLE_EQ(s[3].sigma_xy, 0.3);
  EXPECT_DOUBLE_EQ(s[6 + 3].sigma_z, 0.05);
  for (std::size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s[i].key, i);
}

TEST(Library, ConfigErrorsNameTheKey) {
  auto expect_key = [](const std::vector<std::string>& sets, const std::string& key) {
    auto cfg = Config::from_string(kSmall);
    cfg.apply_overrides(sets);
    try {
      parse_library_config(cfg);
      ADD_FAILURE() << "no error for " << key;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  expect_key({"library.typo=1"}, "library.typo");
  expect_key({"sdm.pairs=[\"Fe-Ni\"]"}, "sdm.pairs");
  expect_key({"sdm.pairs=[\"FeFe\"]"}, "sdm.pairs");
  expect_key({"library.subsample=0"}, "library.subsample");
  expect_key({"grid.eta=[1.5]"}, "grid.eta");
  expect_key({"library.classes=[\"BCC\", \"D0_3\"]"}, "classes.D0_3");
  expect_key({"sdm.kinds=[\"q\"]"}, "sdm.kinds");
}

TEST(Library, SampleSdmsMatchBruteForce) {
  const auto spec = parse_library_config(Config::from_string(kSmall));
  const auto samples = expand_library(spec);
  for (std::size_t i : {std::size_t(1), std::size_t(10)}) {
    const auto& s = samples[i];
    const auto block = library_block(spec, s);
    // The block is thinned exactly: floor(N * eta) atoms.
    const auto ideal =
        make_library_block(spec.classes[s.class_id].structure, spec.classes[s.class_id].block,
                           spec.classes[s.class_id].orientation, ArtefactModel{}, spec.seed, s.key);
    EXPECT_EQ(block.size(), static_cast<std::size_t>(std::floor(double(ideal.size()) * s.eta)));
    const auto rows = library_sample_sdms(spec, s);
    ASSERT_EQ(rows.size(), 4u);
    auto id = [&](const std::string& n) {
      for (std::size_t k = 0; k < block.species_names.size(); ++k)
        if (block.species_names[k] == n) return int(k + 1);
      return -1;
    };
    std::size_t c = 0;
    std::int64_t total = 0;
    for (const auto& sdm : spec.sdms)
      for (const auto& [a, b] : spec.pairs) {
        const auto ref = brute_sdm(block, sdm, id(a), id(b));
        ASSERT_EQ(rows[c].size(), ref.size());
        for (std::size_t k = 0; k < ref.size(); ++k) {
          ASSERT_EQ(rows[c][k], float(ref[k])) << "sample " << i << " channel " << c << " bin " << k;
          total += ref[k];
        }
        ++c;
      }
    EXPECT_GT(total, 1000);
  }
}

TEST(Library, WriteLibraryFileMatchesSamples) {
  test::TempDir dir;
  const auto spec = parse_library_config(Config::from_string(kSmall));
  const auto path = (dir / "lib.h5").string();
  const auto st = write_library(MPI_COMM_SELF, spec, path);
  EXPECT_EQ(st.samples, 18);
  const auto info = io::read_feature_info(path);
  EXPECT_EQ(info.layout.samples, 18);
  EXPECT_TRUE(info.layout.library);
  EXPECT_FALSE(info.layout.windows);
  EXPECT_EQ(info.layout.class_names, (std::vector<std::string>{"BCC", "B2"}));
  ASSERT_EQ(info.layout.channels.size(), 4u);
  EXPECT_NE(info.layout.config_text.find("Al-Fe"), std::string::npos);
  EXPECT_FALSE(info.aptflow_version.empty());
  const auto samples = expand_library(spec);
  for (std::size_t p = 0; p < info.layout.params.size(); ++p) {
    const auto& name = info.layout.params[p];
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const double want = name == "sigma_xy"  ? samples[i].sigma_xy
                          : name == "sigma_z" ? samples[i].sigma_z
                                              : samples[i].eta;
      EXPECT_EQ(info.params[p][i], float(want)) << name;
    }
  }
  EXPECT_EQ(info.layout.params.size(), 3u);
  for (std::size_t i = 0; i < samples.size(); ++i) EXPECT_EQ(info.labels[i], samples[i].class_id);
  // bins: z -> 93 left edges from -0.69
  for (const auto& [kind, edges] : info.layout.bins)
    if (kind == "z") {
      ASSERT_EQ(edges.size(), 93u);
      EXPECT_NEAR(edges.front(), -0.69, 1e-9);
    }
  for (std::size_t i : {std::size_t(0), std::size_t(7), std::size_t(17)}) {
    const auto rows = library_sample_sdms(spec, samples[i]);
    std::size_t c = 0;
    for (const auto& sdm : spec.sdms)
      for (const auto& [a, b] : spec.pairs) {
        const auto got = io::read_features(path, to_string(sdm.kind), a + "-" + b, std::int64_t(i), 1);
        EXPECT_EQ(got, rows[c]) << i << " " << c;
        ++c;
      }
  }
  EXPECT_THROW(io::read_features(path, "z", "Ni-Ni"), InputError);
}

TEST(Features, WindowFileRoundTrip) {
  test::TempDir dir;
  const auto path = (dir / "f.h5").string();
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0.0f, 100.0f);
  io::FeatureLayout L;
  L.samples = 11;
  L.channels = {{"zx", "Al-Al", {4, 5}}, {"zx", "Li-Al", {4, 5}}};
  L.bins = {{"zx", {-1.0, -0.5, 0.0, 0.5}}};
  L.windows = true;
  L.window_grid.edge = 1.0;
  L.window_grid.stride = 0.5;
  L.window_grid.counts[0] = 11;
  L.window_grid.origin[2] = -3.5;
  L.window_grid.variant = "cocrni";
  L.config_text = "x = 1\n";
  std::vector<float> a(11 * 20), b(11 * 20), cen(33);
  for (auto& v : a) v = u(rng);
  for (auto& v : b) v = u(rng);
  for (auto& v : cen) v = u(rng);
  std::vector<std::int64_t> ni(11);
  for (auto& v : ni) v = static_cast<std::int64_t>(u(rng));
  {
    io::FeatureWriter w(path, L);
    w.write_features(0, 0, 11, a.data());
    w.write_features(1, 0, 6, b.data());
    w.write_features(1, 6, 5, b.data() + 6 * 20);
    w.write_centres(0, 11, cen.data());
    w.write_centre_ions("Al-Al", 0, 11, ni.data());
    w.write_centre_ions("Li-Al", 0, 11, ni.data());
    EXPECT_THROW(w.write_features(0, 10, 2, a.data()), InternalError);
  }
  const auto info = io::read_feature_info(path);
  EXPECT_EQ(info.layout.samples, 11);
  ASSERT_EQ(info.layout.channels.size(), 2u);
  EXPECT_EQ(info.layout.channels[0].shape, (std::vector<std::int64_t>{4, 5}));
  EXPECT_TRUE(info.layout.windows);
  EXPECT_FALSE(info.layout.library);
  EXPECT_EQ(info.layout.window_grid.counts[0], 11);
  EXPECT_EQ(info.layout.window_grid.origin[2], -3.5);
  EXPECT_EQ(info.layout.window_grid.variant, "cocrni");
  EXPECT_EQ(info.layout.config_text, "x = 1\n");
  EXPECT_EQ(info.centres, cen);
  EXPECT_EQ(io::read_features(path, "zx", "Al-Al"), a);
  EXPECT_EQ(io::read_features(path, "zx", "Li-Al"), b);
  const auto part = io::read_features(path, "zx", "Li-Al", 3, 2);
  EXPECT_EQ(part, std::vector<float>(b.begin() + 60, b.begin() + 100));
  EXPECT_THROW(io::read_feature_info((dir / "missing.h5").string()), InputError);
}
