// `aptflow pole` through the executable on a small tilted specimen made by
// `aptflow synth specimen` (configs/synth/tilt.toml): the JSON keys the issue
// asks for and their values, the result file and its XDMF sidecar, the same
// file at np 1 and np 2, `aptflow report` on it, and the one-line errors with
// exit code 2 (no periodicity with the best score, cone > 45, tiles with too
// few ions, unknown species, --tile without --out).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "aptflow/io/dataset.hpp"
#include "aptflow/io/h5.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;
namespace h5 = aptflow::h5;
using aptflow::test::run_command;
using aptflow::test::TempDir;

constexpr double kPi = 3.14159265358979323846;

// A 16 x 16 x 16 nm tilted specimen (tilt 4 deg towards azimuth 60), made once.
const fs::path& specimen_dir() {
  static TempDir dir;
  static const bool made = [] {
    const std::string cfg = (aptflow::test::source_dir() / "configs/synth/tilt.toml").string();
    const auto r = run_command(aptflow::test::aptflow_exe() + " synth specimen --config " + cfg +
                               " --set 'specimen.size=[16.0, 16.0, 16.0]' --set domains.delta_prime.count=2"
                               " --set 'orientation.tilt=[4.0, 60.0]' --set artefacts.sigma_xy=0.4 --out " +
                               dir.path().string());
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return true;
  }();
  (void)made;
  return dir.path();
}

std::string pos() { return (specimen_dir() / "tilt.pos").string(); }
std::string rng() { return (specimen_dir() / "tilt.rrng").string(); }

}  // namespace

TEST(CliPole, JsonHasThePoleOfTheTiltedSpecimen) {
  const auto r = run_command(aptflow::test::aptflow_exe() + " pole " + pos() + " --range " + rng() +
                             " --json --subsamples 4 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  const auto& p = j["pole"];
  for (const char* k : {"direction", "tilt_deg", "azimuth_deg", "spacing_nm", "uncertainty_deg"})
    EXPECT_TRUE(p.contains(k)) << k;
  const double t = 4 * kPi / 180, a = 60 * kPi / 180;
  const double truth[3] = {std::sin(t) * std::cos(a), std::sin(t) * std::sin(a), std::cos(t)};
  double dot = 0;
  for (int i = 0; i < 3; ++i) dot += p["direction"][i].get<double>() * truth[i];
  EXPECT_LT(std::acos(std::min(1.0, dot)) * 180 / kPi, 0.3);
  EXPECT_NEAR(p["tilt_deg"].get<double>(), 4.0, 0.3);
  EXPECT_NEAR(p["azimuth_deg"].get<double>(), 60.0, 5.0);
  EXPECT_NEAR(p["spacing_nm"].get<double>(), 0.2025, 0.002);
  EXPECT_GT(p["uncertainty_deg"].get<double>(), 0.0);
  EXPECT_EQ(j["species"].size(), 3u);
  EXPECT_GT(j["centres"].get<std::int64_t>(), 1000);
  EXPECT_TRUE(j["output"].is_null());
  EXPECT_FALSE(j.contains("tiles"));
}

TEST(CliPole, TileMapFileIsTheSameAtOneAndTwoRanksAndReports) {
  TempDir out;
  const std::string common =
      " pole " + pos() + " --range " + rng() + " --tile 8 --min-tile-ions 1000 --subsamples 3";
  const auto r1 = run_command(aptflow::test::aptflow_exe() + common + " --out " + (out / "a.h5").string());
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  EXPECT_NE(r1.output.find("tiles:"), std::string::npos) << r1.output;
  const auto r2 = run_command(aptflow::test::child_mpirun(2, false) + aptflow::test::aptflow_exe() + common +
                              " --json --out " + (out / "b.h5").string());
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  ASSERT_TRUE(fs::exists(out / "a.xdmf"));
  ASSERT_TRUE(fs::exists(out / "b.xdmf"));
  auto fa = h5::File::open((out / "a.h5").string());
  auto fb = h5::File::open((out / "b.h5").string());
  for (const char* d : {"/pole/direction", "/pole/tilt_deg", "/pole/uncertainty_deg", "/pole/scan/score",
                        "/pole/tiles/tilt_deg", "/pole/tiles/direction", "/pole/tiles/uncertainty_deg"}) {
    const auto a = h5::read<double>(fa, d), b = h5::read<double>(fb, d);
    ASSERT_EQ(a.size(), b.size()) << d;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!(std::isnan(a[i]) && std::isnan(b[i]))) EXPECT_EQ(a[i], b[i]) << d << "[" << i << "]";
  }
  std::vector<hsize_t> shape;
  const auto st = h5::read<std::int8_t>(fa, "/pole/tiles/status", &shape);
  ASSERT_EQ(shape.size(), 3u);
  EXPECT_EQ(shape[0], 1u);  // columns
  int measured = 0;
  for (auto s : st) measured += s == 0;
  EXPECT_GE(measured, 1);
  // The XDMF names the file relatively and the tile datasets.
  std::ifstream x(out / "a.xdmf");
  const std::string text((std::istreambuf_iterator<char>(x)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("a.h5:/pole/tiles/tilt_deg"), std::string::npos);
  EXPECT_NE(text.find("3DCoRectMesh"), std::string::npos);
  EXPECT_NE(text.find("Center=\"Cell\""), std::string::npos);
  // aptflow report on the pole result.
  const auto rep = run_command(aptflow::test::aptflow_exe() + " report " + (out / "a.h5").string() +
                               " --out " + (out / "rep").string());
  ASSERT_EQ(rep.exit_code, 0) << rep.output;
  for (const char* f :
       {"index.html", "scan.svg", "subsamples.svg", "tile_tilt.svg", "tile_azimuth.svg", "tile_poles.svg"})
    EXPECT_TRUE(fs::exists(out / "rep" / f)) << f;
  std::ifstream h(out / "rep" / "index.html");
  const std::string html((std::istreambuf_iterator<char>(h)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("tilt from z"), std::string::npos);
}

TEST(CliPole, BadInputIsOneLineAndExitCodeTwo) {
  TempDir dir;
  auto one_line = [](const aptflow::test::CommandResult& r) {
    std::string o = r.output;
    while (!o.empty() && o.back() == '\n') o.pop_back();
    return o.find('\n') == std::string::npos;
  };
  // Cone wider than 45 degrees.
  auto r =
      run_command(aptflow::test::aptflow_exe() + " pole " + pos() + " --range " + rng() + " --cone 50 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--cone"), std::string::npos) << r.output;
  EXPECT_TRUE(one_line(r)) << r.output;
  // Tiles too small for the ions they hold.
  r = run_command(aptflow::test::aptflow_exe() + " pole " + pos() + " --range " + rng() + " --tile 4 --out " +
                  (dir / "t.h5").string() + " 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--tile"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("median"), std::string::npos) << r.output;
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_FALSE(fs::exists(dir / "t.h5"));
  // --tile needs --out.
  r = run_command(aptflow::test::aptflow_exe() + " pole " + pos() + " --range " + rng() + " --tile 8 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  // Unknown ion type.
  r = run_command(aptflow::test::aptflow_exe() + " pole " + pos() + " --range " + rng() +
                  " --species Xx 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("'Xx'"), std::string::npos) << r.output;
  // No periodicity: a random cloud of Al ions (same range file).
  {
    std::mt19937_64 g(3);
    std::uniform_real_distribution<float> u(0.0f, 16.0f);
    aptflow::HostIonCloud c(100000);
    for (std::int64_t i = 0; i < c.size(); ++i) {
      c.x(i) = u(g);
      c.y(i) = u(g);
      c.z(i) = u(g);
      c.mq(i) = 27.0f;
    }
    aptflow::io::write_pos((dir / "random.pos").string(), c);
  }
  r = run_command(aptflow::test::aptflow_exe() + " pole " + (dir / "random.pos").string() + " --range " +
                  rng() + " --out " + (dir / "r.h5").string() + " 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("no lattice-plane periodicity"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("best score"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("random.pos"), std::string::npos) << r.output;
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_FALSE(fs::exists(dir / "r.h5"));
}
