// aptflow archive, parts: file hashes (against sha256sum),
// manifest CSV parsing and its errors, the directory crawl, the common-binning
// spectrum and m/q window counts of inspect (against a brute-force reference),
// result records, configuration errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "aptflow/core/error.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/pipeline/archive.hpp"
#include "aptflow/pipeline/inspect.hpp"
#include "pipeline/archive_detail.hpp"
#include "test_archive_util.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;
namespace ad = aptflow::archive_detail;
using aptflow::test::run_command;
using aptflow::test::TempDir;
using aptflow::test::write_text;

TEST(ArchiveSha256, RandomFilesMatchSha256sum) {
  TempDir dir;
  std::mt19937_64 rng(7);
  for (std::size_t len : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 119u, 120u, 1000u, 4096u + 17u, 3000001u}) {
    std::string data(len, '\0');
    for (auto& c : data) c = static_cast<char>(rng() & 0xff);
    const auto p = (dir / ("f" + std::to_string(len))).string();
    write_text(p, data);
    const auto ref = run_command("sha256sum " + p);
    ASSERT_EQ(ref.exit_code, 0) << ref.output;
    EXPECT_EQ(ad::sha256_file(p), ref.output.substr(0, 64)) << "length " << len;
  }
  try {
    ad::sha256_file((dir / "absent").string());
    ADD_FAILURE() << "no error for a missing file";
  } catch (const aptflow::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ad::sha256_file(dir.path().string()), aptflow::InputError);
}

TEST(ArchiveManifest, ParsesQuotedFieldsMetadataAndRelativePaths) {
  const std::string text =
      "\xEF\xBB\xBF"
      "material, Path ,range,note\r\n"
      "\n"
      "AlLiMg,a/x.pos,r.rrng,\"plain, with comma\"\r\n"
      "\"Fe\"\"Al\",/abs/y.epos, ../z.rng ,\"two\nlines\"\n"
      "CoCrNi,b.apt,,\n";
  const auto m = aptflow::parse_manifest(text, "m.csv", "/base");
  ASSERT_EQ(m.columns, (std::vector<std::string>{"material", "note"}));
  ASSERT_EQ(m.entries.size(), 3u);
  EXPECT_EQ(m.entries[0].path, "/base/a/x.pos");
  EXPECT_EQ(m.entries[0].range, "/base/r.rrng");
  EXPECT_EQ(m.entries[0].metadata, (std::vector<std::string>{"AlLiMg", "plain, with comma"}));
  EXPECT_EQ(m.entries[1].path, "/abs/y.epos");
  EXPECT_EQ(m.entries[1].range, "/z.rng");
  EXPECT_EQ(m.entries[1].metadata, (std::vector<std::string>{"Fe\"Al", "two\nlines"}));
  EXPECT_EQ(m.entries[2].range, "");
  EXPECT_EQ(m.entries[2].metadata, (std::vector<std::string>{"CoCrNi", ""}));
}

std::string manifest_error(const std::string& text) {
  try {
    aptflow::parse_manifest(text, "m.csv", "");
  } catch (const aptflow::InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ArchiveManifest, ErrorsNameTheLine) {
  EXPECT_NE(manifest_error("path,material\na.pos,x\n").find("range"), std::string::npos);
  EXPECT_NE(manifest_error("range,material\na.rrng,x\n").find("path"), std::string::npos);
  const auto wrong = manifest_error("path,range\na.pos,a.rrng\n\nb.pos,b.rrng,extra\n");
  EXPECT_NE(wrong.find("line 4"), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("3 fields"), std::string::npos) << wrong;
  const auto open = manifest_error("path,range\na.pos,\"b.rrng\n");
  EXPECT_NE(open.find("line 2"), std::string::npos) << open;
  EXPECT_NE(open.find("not closed"), std::string::npos) << open;
  EXPECT_NE(manifest_error("").find("empty"), std::string::npos);
  EXPECT_NE(manifest_error("path,range\n\n").find("no datasets"), std::string::npos);
  const auto empty_path = manifest_error("path,range\n,a.rrng\n");
  EXPECT_NE(empty_path.find("line 2"), std::string::npos) << empty_path;
  EXPECT_NE(manifest_error("path,range,path\n").find("twice"), std::string::npos);
  EXPECT_THROW(aptflow::read_manifest("/nonexistent/manifest.csv"), aptflow::InputError);
}

TEST(ArchiveCrawl, FindsDatasetsAndTheRangeFileBesideEach) {
  TempDir dir;
  const fs::path r = dir.path();
  fs::create_directories(r / "x" / "deep");
  fs::create_directories(r / "y");
  fs::create_directories(r / "out" / "datasets");
  for (const char* f :
       {"x/a.pos", "x/a.rrng", "x/b.EPOS", "x/b.rng", "x/deep/c.apt", "x/deep/only.env", "y/d.pos", "y/e.pos",
        "y/one.rrng", "y/two.rrng", "notes.txt", "top.pos", "out/datasets/z.pos"})
    write_text((r / f).string(), "x");
  const auto m = aptflow::crawl_archive(r.string(), (r / "out").string());
  ASSERT_EQ(m.entries.size(), 6u);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"top.pos", ""}, {"x/a.pos", "x/a.rrng"}, {"x/b.EPOS", "x/b.rng"}, {"x/deep/c.apt", "x/deep/only.env"},
      {"y/d.pos", ""}, {"y/e.pos", ""}};
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& e : m.entries)
    got.emplace_back(fs::path(e.path).lexically_relative(r).string(),
                     e.range.empty() ? "" : fs::path(e.range).lexically_relative(r).string());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(m.columns, std::vector<std::string>{"folder"});
  for (const auto& e : m.entries)
    EXPECT_EQ(e.metadata[0], fs::path(e.path).parent_path() == r
                                 ? std::string(".")
                                 : fs::path(e.path).parent_path().lexically_relative(r).string());
  EXPECT_THROW(aptflow::crawl_archive((r / "absent").string()), aptflow::InputError);
}

TEST(ArchiveInspect, CommonBinningAndWindowsMatchBruteForce) {
  TempDir dir;
  std::mt19937_64 rng(11);
  const std::int64_t n = 50003;
  aptflow::HostIonCloud c(n);
  std::uniform_real_distribution<float> pos(-10.f, 10.f), mq(-1.f, 90.f);
  for (std::int64_t i = 0; i < n; ++i) {
    c.x(i) = pos(rng), c.y(i) = pos(rng), c.z(i) = pos(rng);
    c.mq(i) = i % 5 == 0 ? 1.0f + 0.1f * pos(rng) / 10.f : mq(rng);
  }
  const auto p = (dir / "a.pos").string();
  aptflow::io::write_pos(p, c);
  aptflow::InspectOptions o;
  o.spectrum = aptflow::SpectrumBinning{2.5, 0.037, 1700};  // [2.5, 65.4) Da
  o.count_windows = {{0.95, 1.05}, {1.9, 2.2}, {40.0, 41.5}};
  o.chunk_ions = 4099;
  const auto r = aptflow::inspect_dataset(MPI_COMM_SELF, p, o);
  // Reference: bin edges lo + k * w; upper_bound over the edges.
  std::vector<double> edges(1701);
  for (int k = 0; k <= 1700; ++k) edges[static_cast<std::size_t>(k)] = 2.5 + k * 0.037;
  std::vector<std::int64_t> ref(1700, 0), win(3, 0);
  for (std::int64_t i = 0; i < n; ++i) {
    const double q = c.mq(i);
    const auto it = std::upper_bound(edges.begin(), edges.end(), q);
    if (it != edges.begin() && it != edges.end()) ++ref[static_cast<std::size_t>(it - edges.begin() - 1)];
    for (std::size_t w = 0; w < 3; ++w)
      if (q >= o.count_windows[w].first && q < o.count_windows[w].second) ++win[w];
  }
  ASSERT_EQ(r.spectrum.size(), 1700u);
  std::int64_t diff = 0;
  for (std::size_t k = 0; k < 1700; ++k) diff += std::abs(r.spectrum[k] - ref[k]);
  EXPECT_EQ(diff, 0);
  EXPECT_EQ(r.window_counts, win);
  EXPECT_GT(win[0], n / 12);  // a fifth of the ions near 1 Da, half of them in the window
}

TEST(ArchiveRecord, RoundTripAndIncompleteFiles) {
  TempDir dir;
  ad::DatasetRecord r;
  r.index = 17, r.path = "/a/b.pos", r.range = "/a/b.rrng", r.status = "ok", r.sha256 = std::string(64, 'f');
  r.format = "pos", r.ions = 123456789012, r.file_bytes = 99, r.hydrogen = 0.125, r.hydrogen_counts = {5, 7};
  r.elements = {"Al", "Li"}, r.fraction = {0.75, 0.25}, r.species = {"Al", "Li", "unranged"};
  r.species_counts = {3, 1, 9}, r.spectrum = {0, 4, 1, 0, 2}, r.seconds = 1.5, r.config_hash = "abc";
  r.input_stamp = {99, 1234567890123}, r.range_stamp = {-1, -1};
  const auto file = (dir / "r.h5").string();
  ad::write_record(file, r);
  EXPECT_FALSE(fs::exists(file + ".tmp"));
  const auto back = ad::read_record(file);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->index, r.index);
  EXPECT_EQ(back->path, r.path);
  EXPECT_EQ(back->ions, r.ions);
  EXPECT_EQ(back->hydrogen, r.hydrogen);
  EXPECT_EQ(back->elements, r.elements);
  EXPECT_EQ(back->fraction, r.fraction);
  EXPECT_EQ(back->species_counts, r.species_counts);
  EXPECT_EQ(back->spectrum, r.spectrum);
  EXPECT_EQ(back->input_stamp, r.input_stamp);
  EXPECT_EQ(back->range_stamp, r.range_stamp);
  EXPECT_EQ(back->hydrogen_counts, r.hydrogen_counts);
  // A truncated or foreign file is not a record.
  fs::resize_file(file, fs::file_size(file) / 2);
  EXPECT_FALSE(ad::read_record(file));
  write_text(file, "garbage");
  EXPECT_FALSE(ad::read_record(file));
  EXPECT_FALSE(ad::read_record((dir / "absent.h5").string()));
  EXPECT_EQ(ad::result_name(3, "/x/my data.v2.pos"), "datasets/00003_my_data.v2.h5");
}

std::string config_error(const std::string& toml) {
  try {
    aptflow::parse_archive_config(aptflow::Config::from_string(toml));
  } catch (const aptflow::ConfigError& e) {
    return e.key();
  }
  return "no error";
}

TEST(ArchiveConfig, KeysDefaultsAndErrors) {
  const auto o = aptflow::parse_archive_config(aptflow::Config::from_string(
      "manifest = \"m.csv\"\noutput = \"out\"\n[spectrum]\nmq_max = 100.0\nbin_width = 0.05\n"
      "[hydrogen]\nwindows = [0.9, 1.1]\n[meta]\nclusters = 4\nseed = 3\n"));
  EXPECT_EQ(o.binning.bins, 2000);
  EXPECT_EQ(o.binning.mq_min, 0.0);
  EXPECT_EQ(o.hydrogen_windows.size(), 1u);
  EXPECT_EQ(o.spectral.clusters, 4);
  EXPECT_EQ(o.tsne.seed, 3u);
  EXPECT_FALSE(o.classify);
  const auto d =
      aptflow::parse_archive_config(aptflow::Config::from_string("root = \"r\"\noutput = \"o\"\n"));
  EXPECT_EQ(d.binning.bins, 20000);  // 0-200 Da at 0.01 Da
  EXPECT_EQ(d.hydrogen_windows.size(), 2u);
  EXPECT_EQ(config_error("output = \"o\"\n"), "manifest");
  EXPECT_EQ(config_error("manifest = \"m\"\nroot = \"r\"\noutput = \"o\"\n"), "root");
  EXPECT_EQ(config_error("manifest = \"m\"\n"), "output");
  EXPECT_EQ(config_error("manifest = \"m\"\noutput = \"o\"\nmanfest = 1\n"), "manfest");
  EXPECT_EQ(config_error("manifest = \"m\"\noutput = \"o\"\n[spectrum]\nbin_width = 0.0\n"),
            "spectrum.bin_width");
  EXPECT_EQ(config_error("manifest = \"m\"\noutput = \"o\"\n[hydrogen]\nwindows = [1.0]\n"),
            "hydrogen.windows");
  EXPECT_EQ(config_error("manifest = \"m\"\noutput = \"o\"\n[meta]\ntransform = \"sqrt\"\n"),
            "meta.transform");
  EXPECT_EQ(config_error("manifest = \"m\"\noutput = \"o\"\n[classify]\ninput = \"x\"\nmodel = \"m.h5\"\n"),
            "classify.input");
  EXPECT_EQ(config_error("manifest = \"m\"\noutput = \"o\"\n[classify]\nmodel = \"m.h5\"\nwindow = 3\n"),
            "classify.window");
  EXPECT_EQ(config_error("manifest = \"m\"\noutput = \"o\"\n[resume]\nverify = \"md5\"\n"), "resume.verify");
  const auto c = aptflow::parse_archive_config(aptflow::Config::from_string(
      "manifest = \"m\"\noutput = \"o\"\n[classify]\nmodel = \"m.h5\"\n[classify.windows]\nedge = 1.0\n"));
  EXPECT_TRUE(c.classify);
  EXPECT_NE(c.classify_text.find("progress = false"), std::string::npos) << c.classify_text;
}

TEST(ArchiveConfig, ShippedExampleParses) {
  auto cfg = aptflow::Config::from_file(
      (aptflow::test::source_dir() / "configs" / "archive" / "example.toml").string());
  const auto o = aptflow::parse_archive_config(cfg);
  EXPECT_EQ(o.binning.bins, 20000);
  EXPECT_EQ(o.binning.bin_width, 0.01);
  EXPECT_EQ(o.colour_by, "material");
  EXPECT_FALSE(o.classify);
  // Its commented [classify] section, switched on, is valid too.
  cfg.set("classify.model", "\"models/alli_demo_1dcnn.h5\"");
  cfg.set("classify.pair", "\"Al-Al\"");
  EXPECT_TRUE(aptflow::parse_archive_config(cfg).classify);
}

}  // namespace
