// The published CoCrNi pipeline (Li et al., arXiv 2303.13433) reproduced:
// aptflow classify with configs/classify/cocrni_csro.toml and a fixed window
// box against tests/python/published_ref.py, an independent reference written
// from the published scripts' rules (numpy, scipy, h5py), on aptflow-generated
// CoCrNi specimens with CSRO domains placed as the published column
// (x, y in [-L/2, L/2], z in [-H, 0]), one of them with its coordinates
// rounded to 3 decimals as the published CSV files are. Window probabilities
// agree within 1e-5, the selected sub-cells and the DBSCAN domains are
// identical. `aptflow cluster` equals the reference on a real-versus-shuffled
// pair of extractions (domains, histograms, Pearson r, chi2, cq).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "aptflow/core/ion_cloud.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "test_util.hpp"

namespace h5 = aptflow::h5;
namespace io = aptflow::io;
using aptflow::HostIonCloud;
using aptflow::IonIndex;

namespace {

constexpr double kSize = 10.0, kHeight = 12.0;  // nm

// A CoCrNi specimen with L1_2-type CSRO domains (Ni on the cube corners),
// shifted to x, y in [-5, 5], z in [-12, 0]; optionally rounded to 3 decimals.
std::string make_specimen(const aptflow::test::TempDir& dir, const std::string& name, std::uint64_t seed,
                          bool round3, bool shuffle_mq = false) {
  const auto cfg = dir / (name + ".toml");
  std::ofstream(cfg)
      << "seed = " << seed << "\nsample = 0\nname = \"raw_" << name
      << "\"\nclass_names = [\"FCC\", \"CSRO\"]\n"
         "[specimen]\nsize = [10.0, 10.0, 12.0]\nslab_thickness = 1.0\n"
         "[orientation]\npole = [0, 0, 2]\n"
         "[matrix]\nstructure = \"A1\"\nclass = \"FCC\"\na = 0.36\n"
         "[matrix.species]\nA = { Co = 0.3333333333333333, Cr = 0.3333333333333333, Ni = "
         "0.3333333333333334 }\n"
         "[domains.csro]\nstructure = \"L1_2\"\nclass = \"CSRO\"\nshape = \"sphere\"\n"
         "radius = { distribution = \"normal\", mean = 1.6, sd = 0.3, min = 1.0, max = 2.4 }\n"
         "count = 6\nmin_gap = 0.3\n"
         "[domains.csro.species]\nA = { Co = 0.5, Cr = 0.5 }\nB = { Ni = 1.0 }\n"
         "[artefacts]\nsigma_xy = 0.25\nsigma_z = 0.02\nefficiency = 0.5\nthinning = \"bernoulli\"\n"
         "[ions]\nspecies = [\"Co\", \"Cr\", \"Ni\"]\nmass = { Co = 59.0, Cr = 52.0, Ni = 58.0 }\n"
         "peak_sigma = 0.05\nrange_half_width = 0.3\n";
  const auto gen = aptflow::test::run_command(aptflow::test::aptflow_exe() + " synth specimen --config " +
                                              cfg.string() + " --out " + dir.path().string());
  EXPECT_EQ(gen.exit_code, 0) << gen.output;
  HostIonCloud c = io::read_dataset((dir / ("raw_" + name + ".pos")).string());
  std::mt19937_64 rng(seed);
  std::vector<float> mq(static_cast<std::size_t>(c.size()));
  for (IonIndex i = 0; i < c.size(); ++i) mq[static_cast<std::size_t>(i)] = c.mq(i);
  if (shuffle_mq) std::shuffle(mq.begin(), mq.end(), rng);  // the published control: m/q column shuffled
  for (IonIndex i = 0; i < c.size(); ++i) {
    double x = double(c.x(i)) - kSize / 2, y = double(c.y(i)) - kSize / 2, z = double(c.z(i)) - kHeight;
    if (round3) {
      x = std::round(x * 1000) / 1000;
      y = std::round(y * 1000) / 1000;
      z = std::round(z * 1000) / 1000;
    }
    c.x(i) = static_cast<float>(x);
    c.y(i) = static_cast<float>(y);
    c.z(i) = static_cast<float>(z);
    c.mq(i) = mq[static_cast<std::size_t>(i)];
  }
  const auto pos = (dir / (name + ".pos")).string();
  io::write_pos(pos, c);
  std::filesystem::copy_file(dir / ("raw_" + name + ".rrng"), dir / (name + ".rrng"));
  return pos;
}

bool have_reference() {
  static const int ok = aptflow::test::run_command(aptflow::test::python_exe() +
                                                   " -c 'import numpy, scipy.spatial, scipy.signal, h5py'")
                            .exit_code;
  return ok == 0;
}

std::string script() {
  return (aptflow::test::source_dir() / "tests" / "python" / "published_ref.py").string();
}

// aptflow classify with the paper config on the box; the result file.
std::string classify(const aptflow::test::TempDir& dir, const std::string& name,
                     const std::string& extra = "") {
  const auto src = aptflow::test::source_dir().string();
  const auto out = (dir / (name + ".h5")).string();
  const auto run = aptflow::test::run_command(
      aptflow::test::aptflow_exe() + " classify --config " + src +
      "/configs/classify/cocrni_csro.toml --set input=" + (dir / (name + ".pos")).string() +
      " --set range=" + (dir / (name + ".rrng")).string() + " --set output=" + out +
      " --set 'windows.box=[-5, -5, -12, 5, 5, 0]' --set progress=false " + extra);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("preprocessing: experimental"), std::string::npos) << run.output;
  return out;
}

struct Compared {
  std::int64_t csro_windows = 0, selected = 0, labelled = 0, domains = 0;
};

Compared compare_with_reference(const aptflow::test::TempDir& dir, const std::string& name) {
  Compared cmp;
  const std::string out = classify(dir, name);
  auto f = h5::File::open(out);
  const auto models = h5::read_strings(f, "/entry1/input/model_files");
  std::string model_args;
  for (const auto& m : models) model_args += " --model " + m;
  const auto ref_path = (dir / (name + "_ref.h5")).string();
  const auto ref = aptflow::test::run_command(
      aptflow::test::python_exe() + " " + script() + " classify --pos " + (dir / (name + ".pos")).string() +
      " --rrng " + (dir / (name + ".rrng")).string() + " --pair Ni-Ni --box -5 -5 -12 5 5 0" + model_args +
      " --out " + ref_path);
  EXPECT_EQ(ref.exit_code, 0) << ref.output;
  auto r = h5::File::open(ref_path);
  // Window probabilities: within 1e-5, NaN (empty windows) at the same places.
  std::vector<hsize_t> dims;
  const auto prob = h5::read<float>(f, "/entry1/windows/probability", &dims);
  const auto want = h5::read<double>(r, "/probability");
  EXPECT_EQ(dims, (std::vector<hsize_t>{23, 19, 19, 2}));
  EXPECT_EQ(prob.size(), want.size());
  double worst = 0;
  std::int64_t nan_differ = 0;
  for (std::size_t k = 0; k < std::min(prob.size(), want.size()); ++k) {
    nan_differ += std::isnan(prob[k]) != std::isnan(want[k]);
    if (!std::isnan(want[k]) && !std::isnan(prob[k]))
      worst = std::max(worst, std::fabs(double(prob[k]) - want[k]));
    if (k % 2 == 1 && !std::isnan(want[k]) && want[k] > 0.5) ++cmp.csro_windows;
  }
  EXPECT_EQ(nan_differ, 0) << name << ": empty windows differ";
  EXPECT_LE(worst, 1e-5) << name;
  // Selected sub-cells: aptflow's label (from the double sums) against the reference's sum > 3.75.
  const auto label = h5::read<std::int32_t>(f, "/entry1/subcells/label");
  const auto selected = h5::read<std::int32_t>(r, "/selected");
  EXPECT_EQ(label.size(), selected.size());
  std::int64_t differ = 0;
  for (std::size_t s = 0; s < std::min(label.size(), selected.size()); ++s) {
    differ += (label[s] == 1) != (selected[s] == 1);
    cmp.selected += selected[s] == 1;
  }
  EXPECT_EQ(differ, 0) << name << ": selected sub-cells differ";
  // Ions and domains, in input order.
  const auto cls = h5::read<std::int32_t>(f, "/entry1/ions/class");
  const auto dom = h5::read<std::int64_t>(f, "/entry1/ions/domain_id");
  const auto picked = h5::read<std::int32_t>(r, "/ion_selected");
  const auto ref_dom = h5::read<std::int64_t>(r, "/domain");
  EXPECT_EQ(cls.size(), picked.size());
  std::int64_t ion_differ = 0;
  for (std::size_t i = 0; i < std::min(cls.size(), picked.size()); ++i) {
    ion_differ += (cls[i] == 1) != (picked[i] == 1);
    cmp.labelled += picked[i] == 1;
  }
  EXPECT_EQ(ion_differ, 0) << name;
  EXPECT_EQ(dom, ref_dom) << name << ": DBSCAN domains differ";
  for (auto d : ref_dom) cmp.domains = std::max<std::int64_t>(cmp.domains, d + 1);
  // The size histogram (32 bins over 0-160, larger domains in the last bin).
  EXPECT_EQ(h5::read<std::int64_t>(f, "/entry1/control/size_histogram"),
            h5::read<std::int64_t>(r, "/size_histogram"));
  return cmp;
}

// Write the ions with class >= 0 of a classify result (in input order) as a POS file: an extraction.
std::string extraction(const aptflow::test::TempDir& dir, const std::string& name) {
  auto f = h5::File::open((dir / (name + ".h5")).string());
  const auto cls = h5::read<std::int32_t>(f, "/entry1/ions/class");
  const HostIonCloud c = io::read_dataset((dir / (name + ".pos")).string());
  std::vector<IonIndex> keep;
  for (IonIndex i = 0; i < c.size(); ++i)
    if (cls[static_cast<std::size_t>(i)] >= 0) keep.push_back(i);
  HostIonCloud e(static_cast<IonIndex>(keep.size()));
  for (std::size_t k = 0; k < keep.size(); ++k) {
    e.x(k) = c.x(keep[k]);
    e.y(k) = c.y(keep[k]);
    e.z(k) = c.z(keep[k]);
    e.mq(k) = c.mq(keep[k]);
  }
  const auto pos = (dir / (name + "_extract.pos")).string();
  io::write_pos(pos, e);
  return pos;
}

}  // namespace

TEST(PublishedPipeline, ClassifyEqualsThePublishedReferenceOnCoCrNiSpecimens) {
  if (!have_reference()) GTEST_SKIP() << aptflow::test::python_exe() << " with numpy, scipy, h5py is missing";
  aptflow::test::TempDir dir;
  make_specimen(dir, "plain", 11, false);
  make_specimen(dir, "rounded", 12, true);
  const Compared a = compare_with_reference(dir, "plain");
  const Compared b = compare_with_reference(dir, "rounded");
  // The comparison means something: CSRO windows, selected sub-cells and domains exist.
  for (const auto& c : {a, b}) {
    EXPECT_GT(c.csro_windows, 50);
    EXPECT_GT(c.selected, 20);
    EXPECT_GT(c.labelled, 200);
    EXPECT_GE(c.domains, 2);
  }
}

TEST(PublishedPipeline, ClusterEqualsTheReferenceOnARealVersusShuffledPair) {
  if (!have_reference()) GTEST_SKIP() << aptflow::test::python_exe() << " with numpy, scipy, h5py is missing";
  aptflow::test::TempDir dir;
  make_specimen(dir, "real", 21, true);
  make_specimen(dir, "shuffled", 21, true, true);
  classify(dir, "real");
  // On shuffled m/q the model sees almost no CSRO (no sub-cell sum above
  // 3.75); a lower threshold gives a control extraction of a few hundred ions.
  classify(dir, "shuffled", "--set 'segment.thresholds=[inf, 0.5]'");
  const auto real = extraction(dir, "real"), shuffled = extraction(dir, "shuffled");
  const auto out = (dir / "cluster.h5").string();
  const auto run = aptflow::test::run_command(aptflow::test::aptflow_exe() + " cluster " + real +
                                              " --control " + shuffled + " --json --out " + out);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto got = nlohmann::json::parse(run.output.substr(run.output.find('{')));
  const auto ref_json = (dir / "cluster_ref.json").string();
  const auto ref =
      aptflow::test::run_command(aptflow::test::python_exe() + " " + script() + " cluster --real " + real +
                                 " --control " + shuffled + " --out " + ref_json);
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  nlohmann::json want;
  std::ifstream(ref_json) >> want;
  EXPECT_EQ(got["domains"], want["real"]["domains"]);
  EXPECT_EQ(got["noise_ions"], want["real"]["noise_ions"]);
  EXPECT_EQ(got["size_histogram"], want["real"]["size_histogram"]);
  EXPECT_EQ(got["control"]["domains"], want["control"]["domains"]);
  EXPECT_EQ(got["control"]["noise_ions"], want["control"]["noise_ions"]);
  EXPECT_EQ(got["control"]["size_histogram"], want["control"]["size_histogram"]);
  EXPECT_NEAR(got["control"]["pearson_r"].get<double>(), want["pearson_r"].get<double>(), 1e-12);
  EXPECT_NEAR(got["control"]["chi2"].get<double>(), want["chi2"].get<double>(), 1e-9);
  EXPECT_NEAR(got["control"]["contingency"].get<double>(), want["contingency"].get<double>(), 1e-12);
  // Per-ion domain ids (sklearn's labels in file order) from --out.
  auto f = h5::File::open(out);
  EXPECT_EQ(h5::read<std::int64_t>(f, "/entry1/ions/domain_id"),
            want["real"]["labels"].get<std::vector<std::int64_t>>());
  EXPECT_EQ(h5::read<std::int64_t>(f, "/entry1/control/domain_id"),
            want["control"]["labels"].get<std::vector<std::int64_t>>());
  EXPECT_GE(got["domains"].get<int>(), 2);
  EXPECT_TRUE(std::filesystem::exists(dir / "cluster.xdmf"));
}
