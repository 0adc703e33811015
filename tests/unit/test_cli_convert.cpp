// `aptflow convert` as a user runs it, and the stdout/stderr discipline of
// the verbs with --json (issue 12): values survive every reader -> writer
// pair (bit-exact where both formats store float32), ranging is attached and
// carried, MPI runs give the same bytes as one process, bad input gives exit
// code 2, one line and no output file, and with --json stdout holds exactly
// one JSON document while warnings go to stderr.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "aptflow/io/dataset.hpp"
#include "aptflow/io/range_file.hpp"
#include "test_util.hpp"

namespace io = aptflow::io;
namespace fs = std::filesystem;
using aptflow::HostIonCloud;
using aptflow::IonIndex;
using aptflow::test::run_command;

namespace {

HostIonCloud cloud_with_extras(IonIndex n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> p(-25.f, 25.f), m(1.f, 70.f), t(200.f, 900.f);
  HostIonCloud c(n);
  c.allocate_extras();
  for (IonIndex i = 0; i < n; ++i) {
    c.x(i) = p(rng), c.y(i) = p(rng), c.z(i) = p(rng) + 100.f, c.mq(i) = m(rng);
    c.extras.tof(i) = t(rng), c.extras.x_det(i) = p(rng), c.extras.y_det(i) = p(rng);
    c.extras.v_dc(i) = 5.5f, c.extras.v_pulse(i) = 1.25f;
    c.extras.multiplicity(i) = i % 4 == 0 ? 2 : 0, c.extras.pulses_since_last(i) = i % 4 == 0 ? 7 : 0;
  }
  return c;
}

// A range file with a duplicate line: reading it warns.
std::string write_range_file(const fs::path& dir) {
  const auto path = (dir / "r.rrng").string();
  std::ofstream(path) << "[Ions]\nNumber=2\nIon1=Al\nIon2=Li\n[Ranges]\nNumber=3\nRange1=26.5 27.5 Al:1\n"
                         "Range2=26.5 27.5 Al:1\nRange3=6.5 7.5 Li:1\n";
  return path;
}

// A child MPI job must not inherit this test process's own (singleton) MPI variables.
std::vector<char> bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// stdout only, stderr to a file.
struct Split {
  int code;
  std::string out, err;
};
Split run_split(const std::string& cmd, const fs::path& dir) {
  const auto err = (dir / "stderr.txt").string();
  auto r = run_command("( " + cmd + " 2>" + err + " )");
  std::ifstream in(err);
  return {r.exit_code, r.output,
          std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>())};
}

}  // namespace

TEST(CliConvert, EveryReaderToEveryWriter) {
  aptflow::test::TempDir dir;
  const auto c = cloud_with_extras(777, 1);
  const auto epos = (dir / "in.epos").string();
  io::write_epos(epos, c);
  for (const char* to : {"pos", "epos", "apt", "csv", "h5", "nxs"}) {
    const auto out = (dir / (std::string("out.") + to)).string();
    auto r = run_command(fmt::format("{} convert {} {} 2>&1", aptflow::test::aptflow_exe(), epos, out));
    ASSERT_EQ(r.exit_code, 0) << to << ": " << r.output;
    EXPECT_NE(r.output.find("777 ions"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out + ".aptflow-part"));
    const auto back = io::read_dataset(out);
    ASSERT_EQ(back.size(), 777) << to;
    for (IonIndex i = 0; i < 777; ++i) {
      ASSERT_EQ(back.x(i), c.x(i)) << to << " ion " << i;
      ASSERT_EQ(back.z(i), c.z(i)) << to;
      ASSERT_EQ(back.mq(i), c.mq(i)) << to;
    }
    const bool extras = std::string(to) == "epos" || std::string(to) == "apt" || std::string(to) == "h5";
    ASSERT_EQ(back.has_extras(), extras) << to;
    if (extras)
      for (IonIndex i = 0; i < 777; ++i) {
        ASSERT_EQ(back.extras.tof(i), c.extras.tof(i)) << to;
        ASSERT_EQ(back.extras.multiplicity(i), c.extras.multiplicity(i)) << to;
        ASSERT_EQ(back.extras.pulses_since_last(i), c.extras.pulses_since_last(i)) << to;
        ASSERT_NEAR(back.extras.v_dc(i), c.extras.v_dc(i), 1e-6f) << to;
      }
    // And back again to POS: the same bytes as a POS written directly.
    const auto pos = (dir / (std::string("back_") + to + ".pos")).string();
    ASSERT_EQ(
        run_command(fmt::format("{} convert {} {} 2>&1", aptflow::test::aptflow_exe(), out, pos)).exit_code,
        0);
    io::write_pos((dir / "ref.pos").string(), c);
    EXPECT_EQ(bytes_of(pos), bytes_of((dir / "ref.pos").string())) << to;
  }
}

TEST(CliConvert, RangingAttachedAndCarried) {
  aptflow::test::TempDir dir;
  const auto c = cloud_with_extras(400, 2);
  const auto pos = (dir / "in.pos").string();
  io::write_pos(pos, c);
  const auto rrng = write_range_file(dir.path());
  const auto h5 = (dir / "r.h5").string(), nxs = (dir / "r.nxs").string();
  ASSERT_EQ(run_command(
                fmt::format("{} convert {} {} --range {} 2>&1", aptflow::test::aptflow_exe(), pos, h5, rrng))
                .exit_code,
            0);
  // h5 -> nxapm carries the ranging without --range.
  ASSERT_EQ(
      run_command(fmt::format("{} convert {} {} 2>&1", aptflow::test::aptflow_exe(), h5, nxs)).exit_code, 0);
  const auto table = aptflow::read_range_file(rrng);
  for (const auto& path : {h5, nxs}) {
    const auto t = aptflow::read_range_file(path);
    ASSERT_EQ(t.ranges.size(), table.ranges.size()) << path;
    const auto r = io::read_dataset(path);
    if (path == h5)
      for (IonIndex i = 0; i < 400; ++i) {
        int s = 0;
        for (const auto& m : table.ranges)
          if (m.lo <= r.mq(i) && r.mq(i) < m.hi) s = m.ion_type + 1;
        ASSERT_EQ(r.species(i), s) << i;
      }
  }
  // A format without ranging: --range is a config error naming it; nothing written.
  const auto bad = (dir / "x.pos").string();
  const auto r = run_command(
      fmt::format("{} convert {} {} --range {} 2>&1", aptflow::test::aptflow_exe(), pos, bad, rrng));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--range"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(bad));
}

TEST(CliConvert, BadInputExitTwoOneLineNothingWritten) {
  aptflow::test::TempDir dir;
  const auto c = cloud_with_extras(50, 3);
  const auto pos = (dir / "t.pos").string();
  io::write_pos(pos, c);
  fs::resize_file(pos, 50 * 16 - 3);
  const auto out = (dir / "o.h5").string();
  auto r = run_command(fmt::format("{} convert {} {} 2>&1", aptflow::test::aptflow_exe(), pos, out));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find("at byte 784"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  // A text file with a bad line in the middle: the error names the line, no output remains.
  std::string text = "x,y,z,mq\n";
  for (int k = 0; k < 100; ++k) text += fmt::format("{},{},{},{}\n", k, k * 0.5, k * 0.25, 27 + k % 3);
  text += "1,2,oops,4\n";
  const auto csv = (dir / "t.csv").string();
  std::ofstream(csv) << text;
  r = run_command(fmt::format("{} convert {} {} --block 7 2>&1", aptflow::test::aptflow_exe(), csv, out));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("line 102"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".aptflow-part"));
  // Unknown output extension.
  r = run_command(
      fmt::format("{} convert {} {} 2>&1", aptflow::test::aptflow_exe(), csv, (dir / "o.xyz").string()));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--to"), std::string::npos) << r.output;
}

TEST(CliConvert, MpiRanksGiveTheSameBytes) {
  aptflow::test::TempDir dir;
  const auto c = cloud_with_extras(1001, 4);
  const auto epos = (dir / "in.epos").string();
  io::write_epos(epos, c);
  for (const char* to : {"pos", "apt", "csv", "epos"}) {
    std::vector<std::vector<char>> outs;
    for (int np : {1, 2, 3}) {
      fs::create_directories(dir / fmt::format("np{}", np));
      const auto out =
          (dir / fmt::format("np{}", np) / fmt::format("out.{}", to)).string();  // APT stores the name
      const auto r =
          run_command(fmt::format("{}{} convert {} {} --block 97 2>&1", aptflow::test::child_mpirun(np),
                                  aptflow::test::aptflow_exe(), epos, out));
      ASSERT_EQ(r.exit_code, 0) << r.output;
      outs.push_back(bytes_of(out));
    }
    EXPECT_EQ(outs[0], outs[1]) << to;
    EXPECT_EQ(outs[0], outs[2]) << to;
  }
}

TEST(CliJson, StdoutHoldsOneJsonDocumentWarningsGoToStderr) {
  aptflow::test::TempDir dir;
  const auto c = cloud_with_extras(300, 5);
  const auto pos = (dir / "a.pos").string();
  io::write_pos(pos, c);
  const auto rrng = write_range_file(dir.path());
  const std::vector<std::string> cmds = {
      fmt::format("{} inspect {} --range {} --json", aptflow::test::aptflow_exe(), pos, rrng),
      fmt::format("{} convert {} {} --range {} --json", aptflow::test::aptflow_exe(), pos,
                  (dir / "b.h5").string(), rrng),
      fmt::format("{} cluster {} --range {} --json", aptflow::test::aptflow_exe(), pos, rrng),
  };
  for (const auto& cmd : cmds) {
    const auto r = run_split(cmd, dir.path());
    ASSERT_EQ(r.code, 0) << cmd << "\n" << r.err;
    EXPECT_NO_THROW((void)nlohmann::json::parse(r.out)) << cmd << "\nstdout:\n" << r.out;
    EXPECT_NE(r.err.find("merged 1 identical duplicate"), std::string::npos) << cmd << "\nstderr:\n" << r.err;
  }
  // model info --json on a shipped model.
  const auto model = (aptflow::test::source_dir() / "models" / "alli_demo_1dcnn.h5").string();
  if (fs::exists(model)) {
    const auto r =
        run_split(fmt::format("{} model info {} --json", aptflow::test::aptflow_exe(), model), dir.path());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NO_THROW((void)nlohmann::json::parse(r.out)) << r.out;
  }
  // Errors: nothing on stdout, one line on stderr.
  const auto r = run_split(
      fmt::format("{} inspect {} --json", aptflow::test::aptflow_exe(), (dir / "missing.pos").string()),
      dir.path());
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}
