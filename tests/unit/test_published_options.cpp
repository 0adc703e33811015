// The published-rule options of issue 11 at the configuration and command
// line level: keys read with their defaults, values reaching ClassifyOptions,
// errors naming the key; the region of interest (parsing, membership); bad
// input of classify, sdm, cluster and voxelize: one line, exit code 2,
// nothing written; which preprocessing ran is printed and recorded.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "aptflow/core/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/pipeline/classify.hpp"
#include "aptflow/pipeline/roi.hpp"
#include "test_util.hpp"

using aptflow::Config;
using aptflow::ConfigError;

namespace {

const std::string kBase =
    "input = \"a.pos\"\nrange = \"a.rrng\"\nmodel = \"m.h5\"\noutput = \"o.h5\"\npair = \"Ni-Ni\"\n";

aptflow::ClassifyOptions parse(const std::string& extra, const std::string& base = kBase) {
  return aptflow::parse_classify_config(Config::from_string(base + extra));
}

// The key a ConfigError names ("" when none is thrown).
std::string error_key(const std::string& extra) {
  try {
    parse(extra);
  } catch (const ConfigError& e) {
    return e.key();
  }
  return "";
}

// A small CoCrNi-like cloud: Ni (58 Da), Co (59 Da) at random in [0, 6)^3.
void write_cloud(const std::filesystem::path& dir) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.0f, 6.0f);
  aptflow::HostIonCloud c(4000);
  for (aptflow::IonIndex i = 0; i < c.size(); ++i) {
    c.x(i) = u(rng);
    c.y(i) = u(rng);
    c.z(i) = u(rng);
    c.mq(i) = i % 2 ? 58.0f : 59.0f;
  }
  aptflow::io::write_pos((dir / "a.pos").string(), c);
  std::ofstream((dir / "a.rrng").string())
      << "[Ions]\nNumber=2\nIon1=Ni\nIon2=Co\n[Ranges]\nNumber=2\nRange1=57.7000 58.3000 Vol:0.01100 Ni:1 "
         "Color:00FF00\nRange2=58.7000 59.3000 Vol:0.01100 Co:1 Color:FF0000\n";
  for (aptflow::IonIndex i = 0; i < c.size(); ++i) c.mq(i) = 59.0f;  // control without Ni: every ion Co
  aptflow::io::write_pos((dir / "co_only.pos").string(), c);
}

// One error line, exit code 2, and none of the files exist.
void expect_bad_input(const std::string& cmd, const std::vector<std::filesystem::path>& not_written,
                      const std::string& mentions) {
  const auto r = aptflow::test::run_command(cmd);
  EXPECT_EQ(r.exit_code, 2) << cmd << "\n" << r.output;
  std::size_t lines = 0;
  for (char ch : r.output) lines += ch == '\n';
  EXPECT_EQ(lines, 1u) << r.output;
  EXPECT_EQ(r.output.rfind("aptflow: error: ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find(mentions), std::string::npos) << r.output;
  for (const auto& p : not_written) EXPECT_FALSE(std::filesystem::exists(p)) << p;
}

}  // namespace

TEST(PublishedOptions, ClassifyKeysHaveDefaultsAndReachTheOptions) {
  const auto d = parse("");
  EXPECT_FALSE(d.window_box);
  EXPECT_FALSE(d.roi.enabled());
  EXPECT_EQ(d.sdm_exclude, aptflow::SdmExclude::self);
  EXPECT_EQ(d.sdm_arithmetic, aptflow::SdmArithmetic::float32);
  EXPECT_EQ(d.preprocessing, "auto");
  EXPECT_EQ(d.background, aptflow::sdm::BackgroundClip::aptflow);
  EXPECT_EQ(d.segment.empty_window, aptflow::EmptyWindow::zero);
  EXPECT_FALSE(d.segment.domains.histogram.overflow_in_last_bin);
  EXPECT_FALSE(d.any_model_pair);
  const auto o = parse(
      "model_pairs = \"any\"\n[windows]\nbox = [-10, -10, -120, 10, 10, 0]\n[roi]\ncylinder = [0, 0, 10]\nz "
      "= [-120, "
      "0]\n[sdm]\nexclude = \"zero_dx_or_dz\"\narithmetic = \"float64\"\n[preprocess]\nmode = "
      "\"experimental\"\nbackground = \"published\"\n[segment]\nempty_window = "
      "\"veto\"\n[domains.histogram]\nbins = "
      "20\nlo = 10\nhi = 110\noverflow = \"last_bin\"\n");
  ASSERT_TRUE(o.window_box);
  EXPECT_EQ((*o.window_box)[2], -120.0);
  EXPECT_EQ(o.roi.shape, aptflow::Roi::Shape::cylinder);
  EXPECT_EQ(o.roi.radius, 10.0);
  EXPECT_EQ(o.roi.z0, -120.0);
  EXPECT_EQ(o.sdm_exclude, aptflow::SdmExclude::zero_dx_or_dz);
  EXPECT_EQ(o.sdm_arithmetic, aptflow::SdmArithmetic::float64);
  EXPECT_EQ(o.preprocessing, "experimental");
  EXPECT_EQ(o.background, aptflow::sdm::BackgroundClip::published);
  EXPECT_EQ(o.segment.empty_window, aptflow::EmptyWindow::veto);
  EXPECT_EQ(o.segment.domains.histogram.bins, 20);
  EXPECT_EQ(o.segment.domains.histogram.lo, 10.0);
  EXPECT_EQ(o.segment.domains.histogram.hi, 110.0);
  EXPECT_TRUE(o.segment.domains.histogram.overflow_in_last_bin);
  EXPECT_TRUE(o.any_model_pair);
}

TEST(PublishedOptions, BadValuesNameTheirKey) {
  EXPECT_EQ(error_key("[windows]\nbox = [0, 0, 0, 10, 10]\n"), "windows.box");
  EXPECT_EQ(error_key("[windows]\nbox = [0, 0, 0, 10, 10, 0.5]\n"), "windows.box");  // holds no window
  EXPECT_EQ(error_key("[windows]\nbox = [0, 0, 5, 10, 10, 1]\n"), "windows.box");
  EXPECT_EQ(error_key("[roi]\nbox = [0, 0, 0, 1, 1, 1]\ncylinder = [0, 0, 1]\n"), "roi.cylinder");
  EXPECT_EQ(error_key("[roi]\nz = [0, 1]\n"), "roi.z");
  EXPECT_EQ(error_key("[roi]\ncylinder = [0, 0, -1]\n"), "roi.cylinder");
  EXPECT_EQ(error_key("[roi]\nbox = [0, 0, 0, 1, 1]\n"), "roi.box");
  EXPECT_EQ(error_key("[sdm]\nexclude = \"none\"\n"), "sdm.exclude");
  EXPECT_EQ(error_key("[sdm]\narithmetic = \"double\"\n"), "sdm.arithmetic");
  EXPECT_EQ(error_key("[preprocess]\nmode = \"savgol\"\n"), "preprocess.mode");
  EXPECT_EQ(error_key("[preprocess]\nbackground = \"jacobi\"\n"), "preprocess.background");
  EXPECT_EQ(error_key("[segment]\nempty_window = \"nan\"\n"), "segment.empty_window");
  EXPECT_EQ(error_key("[domains.histogram]\nbins = 0\n"), "domains.histogram.bins");
  EXPECT_EQ(error_key("[domains.histogram]\noverflow = \"clip\"\n"), "domains.histogram.overflow");
  EXPECT_EQ(error_key("model_pairs = \"some\"\n"), "model_pairs");
  EXPECT_EQ(error_key("model_fallback = []\n"), "model_fallback");
  EXPECT_EQ(error_key("[sdm]\nexclud = \"self\"\n"), "sdm.exclud");  // a typo is an unknown key
}

TEST(PublishedOptions, ModelFallbackIsUsedWhenAModelIsMissing) {
  aptflow::test::TempDir dir;
  const auto present = (dir / "present.h5").string();
  std::ofstream(present) << "x";
  const std::string base = "input = \"a.pos\"\nrange = \"a.rrng\"\noutput = \"o.h5\"\npair = \"Ni-Ni\"\n";
  auto o =
      parse("model = \"" + (dir / "absent.h5").string() + "\"\nmodel_fallback = \"" + present + "\"\n", base);
  EXPECT_EQ(o.models, std::vector<std::string>{present});
  EXPECT_NE(o.model_note.find("not found"), std::string::npos);
  o = parse("model = \"" + present + "\"\nmodel_fallback = \"" + (dir / "other.h5").string() + "\"\n", base);
  EXPECT_EQ(o.models, std::vector<std::string>{present});
  EXPECT_TRUE(o.model_note.empty());
}

TEST(PublishedOptions, RegionOfInterestParsingAndMembership) {
  const auto box = aptflow::parse_roi_spec("box:-1,-2,-3,1,2,3");
  EXPECT_TRUE(box.contains(1.0f, 2.0f, 3.0f));  // inclusive
  EXPECT_TRUE(box.contains(-1.0f, 0.0f, 0.0f));
  EXPECT_FALSE(box.contains(1.0001f, 0.0f, 0.0f));
  const auto cyl = aptflow::parse_roi_spec("cylinder:0,0,2,-5,5");
  EXPECT_TRUE(cyl.contains(2.0f, 0.0f, 5.0f));
  EXPECT_FALSE(cyl.contains(1.5f, 1.5f, 0.0f));  // 4.5 > 4
  EXPECT_FALSE(cyl.contains(0.0f, 0.0f, 5.5f));
  EXPECT_TRUE(aptflow::parse_roi_spec("cylinder:1,1,0.5").contains(1.0f, 1.0f, 1e6f));
  for (const char* bad :
       {"ball:0,0,1", "box:0,0,0,1,1", "box:0,0,0,1,1,x", "cylinder:0,0", "box:0,0,0,0,1,1"}) {
    try {
      aptflow::parse_roi_spec(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key(), "--roi") << bad;
    }
  }
  EXPECT_EQ(box.describe(), "box [-1, -2, -3] - [1, 2, 3] nm");
}

TEST(PublishedOptions, BadInputIsOneLineExitTwoNothingWritten) {
  aptflow::test::TempDir dir;
  write_cloud(dir.path());
  const auto exe = aptflow::test::aptflow_exe();
  const auto src = aptflow::test::source_dir().string();
  const auto d = dir.path().string();
  const std::string cls = exe + " classify --config " + src +
                          "/configs/classify/cocrni_csro.toml --set input=" + d + "/a.pos --set range=" + d +
                          "/a.rrng --set output=" + d + "/o.h5 --set progress=false";
  // A box that holds no window; a region of interest outside the data.
  expect_bad_input(cls + " --set 'windows.box=[0, 0, 0, 0.5, 6, 6]' 2>&1", {dir / "o.h5", dir / "o.h5.tmp"},
                   "windows.box");
  expect_bad_input(cls + " --set 'roi.box=[50, 50, 50, 60, 60, 60]' 2>&1", {dir / "o.h5", dir / "o.h5.tmp"},
                   "region of interest");
  // sdm: the same box and roi errors.
  const std::string sdm =
      exe + " sdm --input " + d + "/a.pos --range " + d + "/a.rrng --pair Ni-Ni --windows cocrni";
  expect_bad_input(sdm + " --set 'windows.box=[0, 0, 0, 6, 0.9, 6]' --out " + d + "/s.h5 2>&1",
                   {dir / "s.h5"}, "windows.box");
  expect_bad_input(sdm + " --set 'roi.cylinder=[30, 30, 1]' --out " + d + "/s.h5 2>&1", {dir / "s.h5"},
                   "region of interest");
  expect_bad_input(sdm + " --set sdm.arithmetic=float64 --kind zx --out " + d + "/s.h5 2>&1", {dir / "s.h5"},
                   "sdm.arithmetic");
  // cluster: a control without the species asked for, zero bins, an ROI outside.
  const std::string clu = exe + " cluster " + d + "/a.pos --range " + d + "/a.rrng";
  expect_bad_input(clu + " --species Ni --control " + d + "/co_only.pos --out " + d + "/c.h5 2>&1",
                   {dir / "c.h5", dir / "c.h5.tmp", dir / "c.xdmf"}, "co_only.pos");
  expect_bad_input(clu + " --bins 0 --out " + d + "/c.h5 2>&1", {dir / "c.h5"}, "--bins");
  expect_bad_input(clu + " --roi box:40,40,40,50,50,50 --out " + d + "/c.h5 2>&1", {dir / "c.h5"},
                   "region of interest");
  expect_bad_input(clu + " --species Fe --out " + d + "/c.h5 2>&1", {dir / "c.h5"}, "Fe");
  // voxelize: an ROI outside.
  expect_bad_input(
      exe + " voxelize -i " + d + "/a.pos -r " + d + "/a.rrng --roi cylinder:40,40,1 -o " + d + "/v.h5 2>&1",
      {dir / "v.h5"}, "region of interest");
}

TEST(PublishedOptions, ClusterAndVoxelizeRespectTheRegionOfInterest) {
  aptflow::test::TempDir dir;
  write_cloud(dir.path());
  const auto exe = aptflow::test::aptflow_exe();
  const auto d = dir.path().string();
  const auto r = aptflow::test::run_command(exe + " cluster " + d + "/a.pos --range " + d +
                                            "/a.rrng --species Ni --roi box:0,0,0,3,6,6 --eps 0.6 --out " +
                                            d + "/c.h5 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto f = aptflow::h5::File::open(d + "/c.h5");
  const auto ids = aptflow::h5::read<std::int64_t>(f, "/entry1/ions/domain_id");
  const auto cloud = aptflow::io::read_dataset(d + "/a.pos");
  ASSERT_EQ(static_cast<aptflow::IonIndex>(ids.size()), cloud.size());
  std::int64_t in_domains = 0;
  for (aptflow::IonIndex i = 0; i < cloud.size(); ++i) {
    if (cloud.x(i) > 3.0f || cloud.mq(i) != 58.0f) EXPECT_EQ(ids[static_cast<std::size_t>(i)], -1) << i;
    in_domains += ids[static_cast<std::size_t>(i)] >= 0;
  }
  EXPECT_GT(in_domains, 0);
  const auto taking = aptflow::h5::read<std::int64_t>(f, "/entry1/input/clustered_ions").at(0);
  std::int64_t want = 0;
  for (aptflow::IonIndex i = 0; i < cloud.size(); ++i) want += cloud.x(i) <= 3.0f && cloud.mq(i) == 58.0f;
  EXPECT_EQ(taking, want);
  const auto v = aptflow::test::run_command(exe + " voxelize -i " + d + "/a.pos -r " + d +
                                            "/a.rrng --roi box:0,0,0,3,6,6 -o " + d + "/v.h5");
  ASSERT_EQ(v.exit_code, 0) << v.output;
  auto g = aptflow::h5::File::open(d + "/v.h5");
  const auto counts = aptflow::h5::read<std::int64_t>(g, "/voxels/counts");
  std::int64_t total = 0;
  for (auto c : counts) total += c;
  std::int64_t inside = 0;
  for (aptflow::IonIndex i = 0; i < cloud.size(); ++i) inside += cloud.x(i) <= 3.0f;
  EXPECT_EQ(total, inside);
}

TEST(PublishedOptions, PredictPrintsAndRecordsTheAutoPreprocessingOfAKerasModel) {
  const auto shared = aptflow::test::shared_data_dir();
  const auto keras = shared / "mlapt" / "cocrni_1dcnn_keras_model_0.h5";
  if (shared.empty() || !std::filesystem::exists(keras))
    GTEST_SKIP() << "../shared/data/mlapt/cocrni_1dcnn_keras_model_0.h5 is absent: skipping";
  aptflow::test::TempDir dir;
  write_cloud(dir.path());
  const auto exe = aptflow::test::aptflow_exe();
  const auto d = dir.path().string();
  ASSERT_EQ(aptflow::test::run_command(exe + " sdm --input " + d + "/a.pos --range " + d +
                                       "/a.rrng --pair Ni-Ni --windows cocrni --out " + d + "/w.h5")
                .exit_code,
            0);
  const auto r =
      aptflow::test::run_command(exe + " predict --model " + keras.string() + " --input " + d +
                                 "/w.h5 --pair Ni-Ni --class-names FCC,CSRO --out " + d + "/p.h5 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(preprocessing experimental, aptflow clipping; auto: the Keras model"),
            std::string::npos)
      << r.output;
  auto f = aptflow::h5::File::open(d + "/p.h5");
  auto root = aptflow::h5::open_object(f, "/");
  EXPECT_EQ(aptflow::h5::read_attr_string(root, "preprocessing"), "experimental");
  EXPECT_EQ(aptflow::h5::read_attr_string(root, "background_clip"), "aptflow");
  const auto m = aptflow::test::run_command(exe + " predict --model " + keras.string() + " --input " + d +
                                            "/w.h5 --pair Ni-Ni --preprocess minmax_only --json 2>/dev/null");
  ASSERT_EQ(m.exit_code, 0) << m.output;
  EXPECT_NE(m.output.find("\"preprocessing\":\"minmax_only\""), std::string::npos);
}
