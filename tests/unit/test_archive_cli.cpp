// `aptflow archive` as a user runs it, on the synthetic archive (>= 50 small
// datasets of 4 materials with different hydrogen levels, plus 5 bad
// entries): spectral clustering recovers the materials (ARI >= 0.9), the bad
// entries are reported with their errors and the others complete; every
// per-dataset figure is checked against an independent computation here;
// SIGKILL at random moments + --resume gives the same index as one run;
// SIGUSR1 stops with exit 75; --resume reprocesses changed inputs only.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <regex>
#include <thread>

#include "aptflow/analysis/meta.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/pipeline/archive.hpp"
#include "test_archive_util.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;
namespace h5 = aptflow::h5;
using aptflow::test::run_command;
using aptflow::test::TempDir;
using aptflow::test::write_text;

struct Fixture {
  TempDir dir;
  aptflow::SyntheticArchive archive;
  std::string config;
  explicit Fixture(int datasets = 52, std::int64_t min_ions = 15000, std::int64_t max_ions = 30000) {
    aptflow::SyntheticArchiveSpec spec;
    spec.datasets = datasets;
    spec.min_ions = min_ions;
    spec.max_ions = max_ions;
    archive = aptflow::write_synthetic_archive((dir / "archive").string(), spec);
    config = (dir / "archive.toml").string();
    write_text(config, "manifest = \"" + archive.manifest + "\"\noutput = \"" + (dir / "out").string() +
                           "\"\nprogress = true\n[meta]\ntsne_iterations = 500\n");
  }
  std::string run(const std::string& extra = "", const std::string& prefix = "") const {
    return prefix + aptflow::test::aptflow_exe() + " archive --config " + config + " " + extra;
  }
};

std::string out_of(const Fixture& f, const std::string& name) { return (f.dir / name).string(); }

TEST(ArchiveCli, SyntheticArchiveClustersMaterialsAndReportsBadFiles) {
  Fixture fx;
  const auto r = run_command(fx.run());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::size_t n = fx.archive.material.size();
  EXPECT_NE(r.output.find(std::to_string(n) + " datasets (" + std::to_string(n - 5) + " ok, 5 failed"),
            std::string::npos)
      << r.output;
  const auto index = (fx.dir / "out" / "index.h5").string();
  auto f = h5::File::open(index);
  const auto path = h5::read_strings(f, "datasets/path");
  const auto status = h5::read_strings(f, "datasets/status");
  const auto error = h5::read_strings(f, "datasets/error");
  const auto sha = h5::read_strings(f, "datasets/sha256");
  const auto result = h5::read_strings(f, "datasets/result");
  const auto material = h5::read_strings(f, "datasets/metadata/material");
  const auto ions = h5::read<std::int64_t>(f, "datasets/ions");
  const auto hydrogen = h5::read<double>(f, "datasets/hydrogen");
  const auto cluster = h5::read<std::int32_t>(f, "cluster");
  std::vector<hsize_t> sshape, cshape, tshape;
  const auto spectra = h5::read<float>(f, "spectra", &sshape);
  const auto fraction = h5::read<double>(f, "composition/fraction", &cshape);
  const auto elements = h5::read_strings(f, "composition/elements");
  const auto tsne = h5::read<double>(f, "embedding/tsne", &tshape);
  ASSERT_EQ(status.size(), n);
  ASSERT_EQ(sshape, (std::vector<hsize_t>{n, 20000}));
  ASSERT_EQ(tshape, (std::vector<hsize_t>{n, 2}));
  EXPECT_EQ(elements, (std::vector<std::string>{"Al", "Co", "Cr", "Fe", "H", "Li", "Mg", "Ni"}));
  EXPECT_EQ(material, fx.archive.material);

  std::vector<int> truth, found;
  for (std::size_t i = 0; i < n; ++i) {
    SCOPED_TRACE(path[i]);
    const std::string name = fs::path(path[i]).filename().string();
    EXPECT_TRUE(fs::exists(fx.dir / "out" / result[i])) << result[i];
    if (fx.archive.corrupt[i]) {
      EXPECT_EQ(status[i], "failed");
      EXPECT_EQ(cluster[i], -1);
      EXPECT_TRUE(std::isnan(tsne[2 * i]));
      EXPECT_TRUE(std::isnan(hydrogen[i]));
      for (std::size_t b = 0; b < 20000; ++b) ASSERT_EQ(spectra[i * 20000 + b], 0.0f);
      if (name == "bad_truncated.pos")
        EXPECT_NE(error[i].find("not a multiple of 16"), std::string::npos) << error[i];
      if (name == "bad_garbage.pos") EXPECT_NE(error[i].find("1001"), std::string::npos) << error[i];
      if (name == "bad_nan.epos") EXPECT_NE(error[i].find("NaN"), std::string::npos) << error[i];
      if (name == "bad_missing.pos")
        EXPECT_NE(error[i].find("does not exist"), std::string::npos) << error[i];
      if (name == "bad_norange.pos") EXPECT_NE(error[i].find("absent.rrng"), std::string::npos) << error[i];
      continue;
    }
    ASSERT_EQ(status[i], "ok") << error[i];
    EXPECT_EQ(error[i], "");
    // Independent figures: read the file whole, range it, count.
    const auto cloud = aptflow::io::read_dataset(path[i]);
    EXPECT_EQ(ions[i], cloud.size());
    std::int64_t h = 0;
    std::vector<std::int64_t> bins(20000, 0);
    for (std::int64_t k = 0; k < cloud.size(); ++k) {
      const double q = cloud.mq(k);
      if ((q >= 0.9 && q < 1.2) || (q >= 1.9 && q < 2.2)) ++h;
      if (q >= 0 && q < 200) {
        auto b = static_cast<std::int64_t>(std::floor(q / 0.01));
        // Ions within rounding of a bin edge may fall either side: place by the edge values.
        if (b < 20000 && q < b * 0.01) --b;
        if (b + 1 < 20000 && q >= (b + 1) * 0.01) ++b;
        ++bins[static_cast<std::size_t>(b)];
      }
    }
    EXPECT_NEAR(hydrogen[i], static_cast<double>(h) / static_cast<double>(cloud.size()), 1e-12);
    std::int64_t mismatch = 0;
    for (std::size_t b = 0; b < 20000; ++b)
      mismatch += std::abs(bins[b] - static_cast<std::int64_t>(spectra[i * 20000 + b]));
    EXPECT_LE(mismatch, 2);  // at most an ion on a rounding edge
    double sum = 0;
    for (std::size_t e = 0; e < elements.size(); ++e) sum += fraction[i * elements.size() + e];
    EXPECT_NEAR(sum, 1.0, 1e-9);
    // The main element of each material dominates its composition.
    const std::map<std::string, std::string> main = {
        {"AlLiMg", "Al"}, {"FeAl", "Fe"}, {"CoCrNi", "Ni"}, {"NiAlCr", "Ni"}};
    const auto col = std::find(elements.begin(), elements.end(), main.at(material[i])) - elements.begin();
    EXPECT_GT(fraction[i * elements.size() + static_cast<std::size_t>(col)], 0.25);
    EXPECT_GE(cluster[i], 0);
    truth.push_back(
        static_cast<int>(std::find(material.begin(), material.end(), material[i]) - material.begin()));
    found.push_back(cluster[i]);
    if (i % 10 == 0) {
      const auto ref = run_command("sha256sum " + path[i]);
      EXPECT_EQ(sha[i], ref.output.substr(0, 64));
    }
  }
  const double ari = aptflow::analysis::adjusted_rand_index(truth, found);
  std::printf("archive: adjusted Rand index of the spectral clusters vs the materials: %.4f\n", ari);
  EXPECT_GE(ari, 0.9);
  // Hydrogen levels differ between datasets (0.5 % to 20 % of the ions by construction).
  double hmin = 1, hmax = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (status[i] == "ok") hmin = std::min(hmin, hydrogen[i]), hmax = std::max(hmax, hydrogen[i]);
  EXPECT_LT(hmin, 0.03);
  EXPECT_GT(hmax, 0.15);
}

TEST(ArchiveCli, KillAtRandomPointsThenResumeGivesTheSameIndex) {
  Fixture fx(50, 10000, 20000);
  const auto t0 = std::chrono::steady_clock::now();
  const auto base = run_command(fx.run("--set output=\\\"" + out_of(fx, "base") + "\\\""));
  const double full = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(base.exit_code, 0) << base.output;
  std::mt19937_64 rng(2024);
  std::uniform_real_distribution<double> when(0.05, std::max(0.2, full));
  int killed = 0;
  for (int k = 0; k < 4; ++k) {
    const auto r = run_command(fx.run("--resume --set output=\\\"" + out_of(fx, "killed") + "\\\"",
                                      "timeout -s KILL " + std::to_string(when(rng)) + " "));
    if (r.exit_code == 128 + 9 || r.exit_code == 124 || r.exit_code == 137) ++killed;
  }
  std::printf("archive: %d of 4 runs killed (SIGKILL) before the end (uninterrupted run %.2f s)\n", killed,
              full);
  const auto fin = run_command(fx.run("--resume --set output=\\\"" + out_of(fx, "killed") + "\\\""));
  ASSERT_EQ(fin.exit_code, 0) << fin.output;
  const auto a =
      aptflow::test::h5_contents(out_of(fx, "base/index.h5"), aptflow::test::archive_index_volatile());
  const auto b =
      aptflow::test::h5_contents(out_of(fx, "killed/index.h5"), aptflow::test::archive_index_volatile());
  EXPECT_GT(a.size(), 20u);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, bytes] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(bytes == b.at(name)) << name << " differs";
  }
  // No temporaries are left behind.
  for (const auto& e : fs::recursive_directory_iterator(fx.dir / "killed"))
    EXPECT_NE(e.path().extension(), ".tmp") << e.path();
}

TEST(ArchiveCli, SigusrStopsAfterTheCurrentDatasetWithExit75) {
  Fixture fx(50, 20000, 30000);
  const auto err = out_of(fx, "stderr.txt");
  // Start, wait for the first progress line (handlers are installed), send SIGUSR1.
  const std::string cmd = fx.run("2>" + err + " >" + out_of(fx, "stdout.txt") +
                                 " & pid=$!; for i in $(seq 600); do "
                                 "grep -q datasets " +
                                 err +
                                 " 2>/dev/null && break; sleep 0.01; done; kill -USR1 "
                                 "$pid; wait $pid; echo rc=$?");
  const auto r = run_command(cmd);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex("rc=([0-9]+)"))) << r.output;
  const int rc = std::stoi(m[1]);
  // 75 unless every dataset was already done when the signal came (then 0 and a complete index).
  ASSERT_TRUE(rc == aptflow::kArchiveInterruptedExitCode || rc == 0) << "exit " << rc << "\n" << r.output;
  if (rc == 75) {
    EXPECT_FALSE(fs::exists(fx.dir / "out" / "index.h5"));
    const auto fin = run_command(fx.run("--resume"));
    ASSERT_EQ(fin.exit_code, 0) << fin.output;
    EXPECT_NE(fin.output.find("resumed"), std::string::npos);
  }
  EXPECT_TRUE(fs::exists(fx.dir / "out" / "index.h5"));
}

TEST(ArchiveCli, ResumeReprocessesOnlyChangedInputsOrConfiguration) {
  Fixture fx(12, 3000, 5000);
  ASSERT_EQ(run_command(fx.run()).exit_code, 0);
  auto again = run_command(fx.run("--resume"));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("0 processed, 17 resumed"), std::string::npos) << again.output;
  // Rewrite one dataset with other content: only it is processed again.
  auto f = h5::File::open((fx.dir / "out" / "index.h5").string());
  const auto path = h5::read_strings(f, "datasets/path");
  const auto sha0 = h5::read_strings(f, "datasets/sha256");
  f.close();
  auto cloud = aptflow::io::read_dataset(path[0]);
  cloud.mq(0) = 12.345f;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  aptflow::io::write_dataset(path[0], aptflow::io::detect_format(path[0]), cloud);
  again = run_command(fx.run("--resume"));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("1 processed, 16 resumed"), std::string::npos) << again.output;
  auto g = h5::File::open((fx.dir / "out" / "index.h5").string());
  EXPECT_NE(h5::read_strings(g, "datasets/sha256")[0], sha0[0]);
  g.close();
  // Another binning: every dataset again.
  again = run_command(fx.run("--resume --set spectrum.bin_width=0.02"));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("17 processed, 0 resumed"), std::string::npos) << again.output;
  // Failed entries are not retried unless asked (their inputs are unchanged) ...
  again = run_command(fx.run("--resume --set spectrum.bin_width=0.02 --set resume.retry_failed=true"));
  EXPECT_NE(again.output.find("5 processed, 12 resumed"), std::string::npos) << again.output;
  // ... and sha256 verification accepts the unchanged files.
  again = run_command(fx.run("--resume --set spectrum.bin_width=0.02 --set resume.verify=\\\"sha256\\\""));
  EXPECT_NE(again.output.find("0 processed, 17 resumed"), std::string::npos) << again.output;
}

TEST(ArchiveCli, CrawlFindsRangeFilesBeside) {
  TempDir dir;
  aptflow::SyntheticArchiveSpec spec;
  spec.datasets = 6, spec.min_ions = 2000, spec.max_ions = 3000, spec.corrupt = false;
  const auto a = aptflow::write_synthetic_archive((dir / "src").string(), spec);
  fs::create_directories(dir / "root" / "g1");
  fs::create_directories(dir / "root" / "g2");
  int i = 0;
  for (const auto& e : fs::directory_iterator(dir / "src" / "data")) {
    const auto stem = e.path().stem().string();
    const std::string mat = stem.substr(0, stem.find('_'));
    const auto sub = dir / "root" / (i++ % 2 ? "g1" : "g2");
    fs::copy_file(e.path(), sub / e.path().filename());
    fs::copy_file(dir / "src" / "ranges" / (mat + ".rrng"), sub / (stem + ".rrng"));
  }
  write_text((dir / "root" / "g1" / "lonely.pos").string(), std::string(160, '\0'));
  write_text((dir / "c.toml").string(), "root = \"" + (dir / "root").string() + "\"\noutput = \"" +
                                            (dir / "root" / "out").string() + "\"\n");
  const auto r = run_command(aptflow::test::aptflow_exe() + " archive -c " + (dir / "c.toml").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("7 datasets (6 ok, 1 failed"), std::string::npos) << r.output;
  auto f = h5::File::open((dir / "root" / "out" / "index.h5").string());
  const auto folder = h5::read_strings(f, "datasets/metadata/folder");
  const auto err = h5::read_strings(f, "datasets/error");
  const auto p = h5::read_strings(f, "datasets/path");
  for (std::size_t k = 0; k < p.size(); ++k) {
    EXPECT_EQ(folder[k], fs::path(p[k]).parent_path().filename().string());
    if (fs::path(p[k]).filename() == "lonely.pos") EXPECT_NE(err[k].find("no range file"), std::string::npos);
  }
  // A second run does not crawl its own output directory.
  const auto r2 =
      run_command(aptflow::test::aptflow_exe() + " archive -c " + (dir / "c.toml").string() + " --resume");
  EXPECT_NE(r2.output.find("7 datasets"), std::string::npos) << r2.output;
}

TEST(ArchiveCli, OptionalClassifyStepWritesOneResultPerDataset) {
  TempDir dir;
  // Four small dense Al-Li datasets (5 nm cubes) and the shipped Al-Al model.
  aptflow::SyntheticArchiveSpec spec;
  spec.datasets = 1, spec.min_ions = 100, spec.max_ions = 100, spec.corrupt = false;
  write_synthetic_archive((dir / "src").string(), spec);
  std::string manifest = "path,range,batch\n";
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(0.f, 5.f);
  std::normal_distribution<float> w(0.f, 0.02f);
  for (int k = 0; k < 4; ++k) {
    aptflow::HostIonCloud c(2500 + 200 * k);
    for (std::int64_t i = 0; i < c.size(); ++i)
      c.x(i) = u(rng), c.y(i) = u(rng), c.z(i) = u(rng), c.mq(i) = (i % 5 ? 26.982f : 7.016f) + w(rng);
    aptflow::io::write_pos((dir / ("d" + std::to_string(k) + ".pos")).string(), c);
    manifest += "d" + std::to_string(k) + ".pos,src/ranges/AlLiMg.rrng,b" + std::to_string(k % 2) + "\n";
  }
  manifest += "absent.pos,src/ranges/AlLiMg.rrng,b0\n";
  write_text((dir / "m.csv").string(), manifest);
  const std::string model = (aptflow::test::source_dir() / "models" / "alli_demo_1dcnn.h5").string();
  write_text((dir / "c.toml").string(), "manifest = \"" + (dir / "m.csv").string() + "\"\noutput = \"" +
                                            (dir / "out").string() + "\"\n[classify]\nmodel = \"" + model +
                                            "\"\npair = \"Al-Al\"\n");
  const auto r = run_command(aptflow::test::aptflow_exe() + " archive -c " + (dir / "c.toml").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("5 datasets (4 ok, 1 failed"), std::string::npos) << r.output;
  auto f = h5::File::open((dir / "out" / "index.h5").string());
  const auto res = h5::read_strings(f, "datasets/classify/result");
  const auto domains = h5::read<std::int64_t>(f, "datasets/classify/domains");
  const auto labelled = h5::read<std::int64_t>(f, "datasets/classify/labelled_ions");
  ASSERT_EQ(res.size(), 5u);
  for (std::size_t k = 0; k < 4; ++k) {
    ASSERT_FALSE(res[k].empty());
    auto c = h5::File::open((dir / "out" / res[k]).string());
    // The recorded figures are those of the classify result file.
    EXPECT_EQ(static_cast<std::int64_t>(h5::dims(c, "entry1/domains/id")[0]), domains[k]);
    const auto cls = h5::read<std::int32_t>(c, "entry1/ions/class");
    EXPECT_EQ(static_cast<std::int64_t>(cls.size()), 2500 + 200 * static_cast<std::int64_t>(k));
    std::int64_t lab = 0;
    for (auto v : cls) lab += v >= 0 ? 1 : 0;
    EXPECT_EQ(lab, labelled[k]);
  }
  EXPECT_EQ(res[4], "");
  // Resume keeps them; a missing classify result makes its dataset run again.
  fs::remove(dir / "out" / res[2]);
  const auto again =
      run_command(aptflow::test::aptflow_exe() + " archive -c " + (dir / "c.toml").string() + " --resume");
  EXPECT_NE(again.output.find("1 processed, 4 resumed"), std::string::npos) << again.output;
  EXPECT_TRUE(fs::exists(dir / "out" / res[2]));
}

TEST(ArchiveCli, UnwritableResultFileEndsTheRunWithExit2) {
  Fixture fx(6, 2000, 3000);
  // A non-empty directory where the result file of row 0 belongs: the rename fails.
  fs::create_directories(fx.dir / "out" / "datasets" / "00000_AlLiMg_000.h5" / "x");
  const auto r = run_command(fx.run());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("aptflow: error: archive result"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("00000_AlLiMg_000.h5"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(fx.dir / "out" / "index.h5"));
  for (const auto& e : fs::directory_iterator(fx.dir / "out" / "datasets"))
    EXPECT_NE(e.path().extension(), ".tmp") << e.path();  // the failed rename left nothing behind
  // Once the obstacle is gone, --resume completes the archive.
  fs::remove_all(fx.dir / "out" / "datasets" / "00000_AlLiMg_000.h5");
  const auto again = run_command(fx.run("--resume"));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_TRUE(fs::exists(fx.dir / "out" / "index.h5"));
}

TEST(ArchiveCli, ConfigAndManifestErrorsExitTwoWithOneLine) {
  TempDir dir;
  auto expect_error = [&](const std::string& manifest_text, const std::string& needle) {
    const auto m = (dir / "m.csv").string();
    if (!manifest_text.empty())
      write_text(m, manifest_text);
    else
      fs::remove(m);
    write_text((dir / "c.toml").string(),
               "manifest = \"" + m + "\"\noutput = \"" + (dir / "o").string() + "\"\n");
    const auto r = run_command(aptflow::test::aptflow_exe() + " archive -c " + (dir / "c.toml").string());
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  };
  expect_error("", "manifest not found");
  expect_error("path,material\na.pos,x\n", "lacks the column range");
  expect_error("path,range\na.pos,a.rrng\nb.pos\n", "line 3");
  write_text((dir / "c2.toml").string(), "output = \"o\"\n");
  const auto r = run_command(aptflow::test::aptflow_exe() + " archive -c " + (dir / "c2.toml").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("manifest"), std::string::npos) << r.output;
}

}  // namespace
