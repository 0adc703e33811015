// aptflow report as a user runs it: the executable on result files written
// here in the documented layouts (report_fixtures.hpp) and on a real
// synth -> classify run. tests/python/report_check.py recomputes every
// plotted number from the HDF5 file with numpy and compares it with the
// values the SVG figures record and with the HTML tables.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "aptflow/core/error.hpp"
#include "aptflow/report/report.hpp"
#include "report_fixtures.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;
using aptflow::test::python_exe;
using aptflow::test::run_command;
using aptflow::test::TempDir;

std::string check_script() { return (aptflow::test::source_dir() / "tests/python/report_check.py").string(); }

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

TEST(ReportClassify, EveryFigureMatchesTheFile) {
  TempDir tmp;
  aptflow::test::ClassifyFixture fx;
  aptflow::test::make_classify_result((tmp / "r.h5").string(), fx, 11);
  const auto run = run_command(aptflow::test::aptflow_exe() + " report " + quote(tmp / "r.h5") + " --out " +
                               quote(tmp / "rep"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("report (classify)"), std::string::npos) << run.output;
  // 2 ordered classes x (1 xz + 3 xy) slices, sizes, radius, mean SDM, control, truth.
  int svgs = 0;
  for (const auto& e : fs::directory_iterator(tmp / "rep")) svgs += e.path().extension() == ".svg";
  EXPECT_EQ(svgs, 8 + 5);
  const auto check = run_command(python_exe() + " " + check_script() + " classify " + quote(tmp / "rep") +
                                 " " + quote(tmp / "r.h5"));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("OK"), std::string::npos) << check.output;
}

TEST(ReportClassify, AbsentSectionsAreNamedNotFatal) {
  TempDir tmp;
  aptflow::test::ClassifyFixture fx;
  fx.nz = 4, fx.ny = 5, fx.nx = 3;
  fx.classes = {"FCC", "L1_2"};
  fx.mean_sdm = fx.control = fx.truth = fx.subcells = false;
  aptflow::test::make_classify_result((tmp / "r.h5").string(), fx, 12);
  const auto r = aptflow::report::write_report((tmp / "r.h5").string(), (tmp / "rep").string());
  EXPECT_EQ(r.kind, aptflow::report::ReportKind::classify);
  ASSERT_EQ(r.missing.size(), 3u);
  EXPECT_NE(r.missing[0].find("Mean SDM"), std::string::npos);
  EXPECT_NE(r.missing[1].find("control"), std::string::npos);
  EXPECT_NE(r.missing[2].find("truth"), std::string::npos);
  EXPECT_EQ(r.figures.size(), 4u + 2u);  // L1_2: xz + 3 xy (nz = 4: z = 1, 2, 3); sizes, radius
  const auto check = run_command(python_exe() + " " + check_script() + " classify " + quote(tmp / "rep") +
                                 " " + quote(tmp / "r.h5"));
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST(ReportArchive, EveryFigureMatchesTheIndex) {
  TempDir tmp;
  aptflow::test::make_archive_index((tmp / "index.h5").string(), 47, 3, 300, 21);
  const auto run = run_command(aptflow::test::aptflow_exe() + " report " + quote(tmp / "index.h5") +
                               " --out " + quote(tmp / "rep"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("report (archive)"), std::string::npos) << run.output;
  for (const char* f : {"tsne_cluster.svg", "tsne_alloy.svg", "tsne_operator.svg", "pca.svg",
                        "spectra_cluster.svg", "hydrogen_cluster.svg"})
    EXPECT_TRUE(fs::exists(tmp / "rep" / f)) << f;
  const auto check = run_command(python_exe() + " " + check_script() + " archive " + quote(tmp / "rep") +
                                 " " + quote(tmp / "index.h5"));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  // The error text is escaped in the page, not interpreted.
  EXPECT_NE(aptflow::test::read_text(tmp / "rep" / "index.html").find("(truncated?) &lt;&amp;&gt;"),
            std::string::npos);
}

TEST(ReportCli, BadInputsGiveOneLineErrors) {
  TempDir tmp;
  { std::ofstream(tmp / "notes.txt") << "not hdf5\n"; }
  auto r = run_command(aptflow::test::aptflow_exe() + " report " + quote(tmp / "notes.txt") + " --out " +
                       quote(tmp / "rep"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("notes.txt"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("not an HDF5 file"), std::string::npos) << r.output;
  {
    auto f = aptflow::h5::File::create((tmp / "other.h5").string());
    aptflow::h5::write(f, "/x", std::vector<double>{1, 2});
  }
  r = run_command(aptflow::test::aptflow_exe() + " report " + quote(tmp / "other.h5") + " --out " +
                  quote(tmp / "rep"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("neither a classify result"), std::string::npos) << r.output;
}

// The real pipeline: synthetic specimen -> classify -> report + XDMF sidecar.
TEST(ReportClassify, RealClassifyRunWithXdmf) {
  TempDir tmp;
  const std::string exe = aptflow::test::aptflow_exe();
  const std::string src = aptflow::test::source_dir().string();
  auto r = run_command("cd '" + src + "' && " + exe +
                       " synth specimen --config configs/synth/demo_specimen.toml " +
                       "--set name=demo --out " + quote(tmp / "d"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command("cd '" + src + "' && " + exe +
                  " classify --config configs/classify/alli_l12.toml --set input=" +
                  quote(tmp / "d/demo.pos") + " --set range=" + quote(tmp / "d/demo.rrng") +
                  " --set output=" + quote(tmp / "r.h5") + " --set progress=false");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(exe + " report " + quote(tmp / "r.h5") + " --out " + quote(tmp / "rep") + " --xdmf");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(fs::exists(tmp / "r.xdmf")) << r.output;
  EXPECT_NE(aptflow::test::read_text(tmp / "rep" / "index.html").find("r.xdmf (XDMF next to the result file"),
            std::string::npos);
  // Optional groups are checked when the real file has them, else the page
  // must name them; then the XDMF sidecar (one python run for both).
  const auto c =
      run_command(python_exe() + " " + check_script() + " classify " + quote(tmp / "rep") + " " +
                  quote(tmp / "r.h5") + " -- xdmf " + quote(tmp / "r.xdmf") + " " + quote(tmp / "r.h5"));
  EXPECT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(c.output, "OK\nOK\n");
}

}  // namespace
