// XDMF sidecar of a classify result (include/aptflow/io/xdmf.hpp). The XDMF
// is parsed with Python's xml.etree by tests/python/report_check.py, which
// resolves every HDF5 reference relative to the XDMF file, checks the
// dataset's shape and type against Dimensions / NumberType / Precision,
// applies each HyperSlab and compares it with probability[..., class], and
// checks the geometry (origin ZYX = window-0 centre, sub-cell centres;
// spacing = stride) against the dataset's attributes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "aptflow/core/error.hpp"
#include "aptflow/io/xdmf.hpp"
#include "report_fixtures.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;
using aptflow::test::TempDir;

// One python run for all pairs (xdmf, h5).
aptflow::test::CommandResult check(const std::vector<std::pair<fs::path, fs::path>>& pairs) {
  std::string cmd = aptflow::test::python_exe() + " '" +
                    (aptflow::test::source_dir() / "tests/python/report_check.py").string() + "'";
  for (std::size_t i = 0; i < pairs.size(); ++i)
    cmd += std::string(i ? " --" : "") + " xdmf '" + pairs[i].first.string() + "' '" +
           pairs[i].second.string() + "'";
  return aptflow::test::run_command(cmd);
}

TEST(Xdmf, DescribesTheResultFileExactly) {
  TempDir tmp;
  std::mt19937_64 rng(31);
  std::vector<std::pair<fs::path, fs::path>> pairs;
  for (int t = 0; t < 3; ++t) {
    aptflow::test::ClassifyFixture fx;
    fx.nz = 2 + static_cast<std::int64_t>(rng() % 9), fx.ny = 1 + static_cast<std::int64_t>(rng() % 7);
    fx.nx = 1 + static_cast<std::int64_t>(rng() % 8);
    fx.edge = t == 2 ? 1.5 : 1.0;  // k = edge / stride = 2 or 3
    fx.subcells = t != 1;
    fx.origin[0] = -7.125 + t, fx.origin[1] = 2.375, fx.origin[2] = 0.1 * t;
    fs::create_directories(tmp / "data");
    fs::create_directories(tmp / "vis");
    const auto h5 = tmp / "data" / ("r" + std::to_string(t) + ".h5");
    aptflow::test::make_classify_result(h5.string(), fx, 40 + t);
    // In another folder: the reference must be relative ("../data/r.h5").
    const auto x = tmp / "vis" / ("r" + std::to_string(t) + ".xdmf");
    aptflow::io::write_classify_xdmf(h5.string(), x.string());
    std::stringstream text;
    text << std::ifstream(x).rdbuf();
    EXPECT_NE(text.str().find("../data/r" + std::to_string(t) + ".h5:/entry1/windows/probability"),
              std::string::npos);
    EXPECT_EQ(text.str().find("subcells") != std::string::npos, fx.subcells);
    pairs.emplace_back(x, h5);
    // Next to the file: just its name.
    const auto x2 = tmp / "data" / ("side" + std::to_string(t) + ".xdmf");
    aptflow::io::write_classify_xdmf(h5.string(), x2.string());
    std::stringstream t2;
    t2 << std::ifstream(x2).rdbuf();
    EXPECT_NE(t2.str().find(">r" + std::to_string(t) + ".h5:/entry1"), std::string::npos);
    pairs.emplace_back(x2, h5);
  }
  const auto r = check(pairs);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::size_t oks = 0;
  for (std::size_t p = r.output.find("OK"); p != std::string::npos; p = r.output.find("OK", p + 1)) ++oks;
  EXPECT_EQ(oks, pairs.size()) << r.output;
}

TEST(Xdmf, ErrorsNameTheFile) {
  TempDir tmp;
  {
    auto f = aptflow::h5::File::create((tmp / "a.h5").string());
    aptflow::h5::write(f, "/entry1/windows/probability", std::vector<float>(24, 0.5f), {2, 3, 4});
  }
  try {
    aptflow::io::write_classify_xdmf((tmp / "a.h5").string(), (tmp / "a.xdmf").string());
    FAIL() << "3-D probability accepted";
  } catch (const aptflow::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("a.h5"), std::string::npos) << e.what();
  }
  aptflow::test::ClassifyFixture fx;
  aptflow::test::make_classify_result((tmp / "b.h5").string(), fx, 3);
  EXPECT_THROW(
      aptflow::io::write_classify_xdmf((tmp / "b.h5").string(), (tmp / "missing/dir/b.xdmf").string()),
      aptflow::ResourceError);
}

}  // namespace
