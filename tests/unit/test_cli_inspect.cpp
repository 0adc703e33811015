// `aptflow inspect` as a user runs it: the executable on generated POS, EPOS,
// APT and HDF5 files with a range file. The text and --json reports are
// checked against counts computed here independently (linear scan of the
// ranges, brute-force min/max); every bad input gives exit code 2 and one
// line naming the file (and the byte offset or line where there is one).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "aptflow/core/error.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/range_file.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;
namespace io = aptflow::io;
using aptflow::HostIonCloud;
using aptflow::RangeTable;
using aptflow::test::run_command;
using aptflow::test::TempDir;

// Ion types Al (ranged at 13.5 and 27 Da), Li (7 Da) and the molecular AlO (43 Da).
RangeTable test_table() {
  RangeTable t;
  t.source = "test";
  t.ion_types = {
      {"Al", {{"Al", 1}}, "", 0}, {"Li", {{"Li", 1}}, "", 0}, {"AlO", {{"Al", 1}, {"O", 1}}, "", 0}};
  t.ranges = {{6.8, 7.2, 1, 0}, {13.3, 13.7, 0, 0}, {26.8, 27.2, 0, 0}, {42.8, 43.2, 2, 0}};
  return t;
}

// Random positions; m/q: sharp peaks at 27 (strongest) and 13.5 Da, weaker
// ones at 7 and 43 Da, and a uniform background over [1, 60) Da.
HostIonCloud test_cloud(std::int64_t n, unsigned seed) {
  HostIonCloud c(n, "test.cloud");
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> ux(-12.f, 9.f), uy(-7.f, 15.f), uz(3.f, 80.f), bg(1.f, 60.f);
  std::uniform_real_distribution<float> jitter(0.f, 0.004f);
  for (std::int64_t i = 0; i < n; ++i) {
    c.x(i) = ux(rng), c.y(i) = uy(rng), c.z(i) = uz(rng);
    const int k = static_cast<int>(rng() % 20);
    float m = 0;
    if (k < 8)
      m = 27.001f + jitter(rng);
    else if (k < 13)
      m = 13.501f + jitter(rng);
    else if (k < 15)
      m = 7.001f + jitter(rng);
    else if (k < 16)
      m = 43.001f + jitter(rng);
    else
      m = bg(rng);
    c.mq(i) = m;
  }
  return c;
}

struct Reference {
  std::vector<std::int64_t> per_type;  // counts per ion type
  std::int64_t unranged = 0;
  std::map<std::string, double> composition;
  float lo[3], hi[3], mq_lo, mq_hi;
};

Reference reference(const HostIonCloud& c, const RangeTable& t) {
  Reference r;
  r.per_type.assign(t.num_types(), 0);
  for (int d = 0; d < 3; ++d) r.lo[d] = std::numeric_limits<float>::max(), r.hi[d] = -r.lo[d];
  r.mq_lo = std::numeric_limits<float>::max(), r.mq_hi = -r.mq_lo;
  for (std::int64_t i = 0; i < c.size(); ++i) {
    const float p[3] = {c.x(i), c.y(i), c.z(i)};
    for (int d = 0; d < 3; ++d) r.lo[d] = std::min(r.lo[d], p[d]), r.hi[d] = std::max(r.hi[d], p[d]);
    r.mq_lo = std::min(r.mq_lo, c.mq(i)), r.mq_hi = std::max(r.mq_hi, c.mq(i));
    int type = -1;
    for (const auto& rg : t.ranges)
      if (c.mq(i) >= rg.lo && c.mq(i) < rg.hi) type = rg.ion_type;
    if (type < 0)
      ++r.unranged;
    else
      ++r.per_type[static_cast<std::size_t>(type)];
  }
  std::map<std::string, double> atoms;
  double total = 0;
  for (std::size_t k = 0; k < t.num_types(); ++k)
    for (const auto& [el, n] : t.ion_types[k].composition) {
      atoms[el] += static_cast<double>(n * r.per_type[k]);
      total += static_cast<double>(n * r.per_type[k]);
    }
  for (const auto& [el, a] : atoms) r.composition[el] = a / total;
  return r;
}

// JSON report of a successful run (stdout + stderr must be nothing but the JSON).
nlohmann::json inspect_json(const std::string& args) {
  const auto r = run_command(aptflow::test::aptflow_exe() + " inspect " + args + " --json");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  try {
    return nlohmann::json::parse(r.output);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "output is not JSON (" << e.what() << "):\n" << r.output;
    return {};
  }
}

void check_json(const nlohmann::json& j, const HostIonCloud& c, const RangeTable& t,
                const std::string& format) {
  const auto ref = reference(c, t);
  EXPECT_EQ(j.at("format"), format);
  EXPECT_EQ(j.at("ions").get<std::int64_t>(), c.size());
  for (int d = 0; d < 3; ++d) {
    EXPECT_FLOAT_EQ(j.at("bounds").at("min")[d].get<float>(), ref.lo[d]);
    EXPECT_FLOAT_EQ(j.at("bounds").at("max")[d].get<float>(), ref.hi[d]);
  }
  EXPECT_FLOAT_EQ(j.at("mq").at("min").get<float>(), ref.mq_lo);
  EXPECT_FLOAT_EQ(j.at("mq").at("max").get<float>(), ref.mq_hi);
  ASSERT_EQ(j.at("ion_types").size(), t.num_types());
  for (std::size_t k = 0; k < t.num_types(); ++k) {
    EXPECT_EQ(j["ion_types"][k].at("name"), t.ion_types[k].name);
    EXPECT_EQ(j["ion_types"][k].at("count").get<std::int64_t>(), ref.per_type[k]) << t.ion_types[k].name;
  }
  EXPECT_EQ(j.at("unranged").get<std::int64_t>(), ref.unranged);
  ASSERT_EQ(j.at("composition").size(), ref.composition.size());
  for (const auto& [el, f] : ref.composition)
    EXPECT_NEAR(j["composition"].at(el).get<double>(), f, 1e-12) << el;
}

struct Files {
  TempDir dir;
  HostIonCloud cloud = test_cloud(6000, 7);
  RangeTable table = test_table();
  std::string rrng = (dir / "ranges.rrng").string();
  Files() { aptflow::write_rrng(rrng, table); }
  std::string write(const std::string& name, io::Format f) {
    const auto p = (dir / name).string();
    io::write_dataset(p, f, cloud);
    return p;
  }
};

TEST(CliInspect, JsonMatchesIndependentCountsForEveryFormat) {
  Files f;
  for (const auto& [name, fmt] : {std::pair{"a.pos", io::Format::pos}, std::pair{"a.epos", io::Format::epos},
                                  std::pair{"a.apt", io::Format::apt}, std::pair{"a.h5", io::Format::h5}}) {
    SCOPED_TRACE(name);
    const auto path = f.write(name, fmt);
    const auto j =
        inspect_json(aptflow::test::shell_quote(path) + " --range " + aptflow::test::shell_quote(f.rrng));
    if (j.is_null()) continue;
    check_json(j, f.cloud, f.table, std::string(io::format_name(fmt)));
    EXPECT_EQ(j.at("nonfinite_dropped").get<std::int64_t>(), 0);
    EXPECT_EQ(j.at("bytes").get<std::uint64_t>(), fs::file_size(path));
  }
}

TEST(CliInspect, TextReportContainsTheNumbers) {
  Files f;
  const auto path = f.write("t.pos", io::Format::pos);
  const auto r = run_command(aptflow::test::aptflow_exe() + " inspect " + aptflow::test::shell_quote(path) +
                             " -r " + aptflow::test::shell_quote(f.rrng));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto ref = reference(f.cloud, f.table);
  EXPECT_NE(r.output.find("format      pos"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ions        6000\n"), std::string::npos) << r.output;
  for (std::size_t k = 0; k < f.table.num_types(); ++k) {
    char line[128];
    std::snprintf(line, sizeof line, "  %-10s%10lld", f.table.ion_types[k].name.c_str(),
                  static_cast<long long>(ref.per_type[k]));
    EXPECT_NE(r.output.find(line), std::string::npos) << line << "\n" << r.output;
  }
  char unr[128];
  std::snprintf(unr, sizeof unr, "  %-10s%10lld", "unranged", static_cast<long long>(ref.unranged));
  EXPECT_NE(r.output.find(unr), std::string::npos) << r.output;
  char al[64];
  std::snprintf(al, sizeof al, "  Al  %9.5f", ref.composition.at("Al"));
  EXPECT_NE(r.output.find(al), std::string::npos) << al << "\n" << r.output;
  char xr[96];
  std::snprintf(xr, sizeof xr, "x [%.3f, %.3f]", ref.lo[0], ref.hi[0]);
  EXPECT_NE(r.output.find(xr), std::string::npos) << xr << "\n" << r.output;
}

TEST(CliInspect, ReportsTheStrongPeaks) {
  Files f;
  const auto path = f.write("p.pos", io::Format::pos);
  const auto j = inspect_json(aptflow::test::shell_quote(path) + " --peaks 4");
  ASSERT_FALSE(j.is_null());
  EXPECT_FALSE(j.contains("composition"));  // no range file, no ranging keys
  const auto& peaks = j.at("peaks");
  ASSERT_EQ(peaks.size(), 4u);
  // The peaks, strongest first: 27 (40 % of the ions), 13.5 (25 %), 7 (10 %), 43 (5 %).
  const double expect[4] = {27.0, 13.5, 7.0, 43.0};
  std::int64_t in_peak[4] = {0, 0, 0, 0};
  for (std::int64_t i = 0; i < f.cloud.size(); ++i)
    for (int k = 0; k < 4; ++k) in_peak[k] += std::abs(f.cloud.mq(i) - expect[k]) < 0.0055;
  for (int k = 0; k < 4; ++k) {
    EXPECT_NEAR(peaks[k].at("mq").get<double>(), expect[k], 0.011) << k;
    // Every peak ion lies in [m + 0.001, m + 0.005): one 0.01-Da bin, plus at most a few background ions.
    EXPECT_GE(peaks[k].at("counts").get<std::int64_t>(), in_peak[k]) << k;
    EXPECT_LE(peaks[k].at("counts").get<std::int64_t>(), in_peak[k] + 5) << k;
  }
}

// Bad input: exit code 2, exactly one line, naming the file and `where`.
void expect_one_line_error(const std::string& args, const std::string& file, const std::string& where) {
  const auto r = run_command(aptflow::test::aptflow_exe() + " inspect " + args);
  EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << "\n" << r.output;
  EXPECT_EQ(r.output.rfind("aptflow: error: ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("'" + file + "'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(where), std::string::npos) << where << "\n" << r.output;
}

TEST(CliInspect, BadInputsGiveOneLineAndExitCode2) {
  Files f;
  // Truncated POS: the last record is incomplete.
  const auto trunc = f.write("trunc.pos", io::Format::pos);
  fs::resize_file(trunc, fs::file_size(trunc) - 5);
  expect_one_line_error(aptflow::test::shell_quote(trunc), trunc, "at byte " + std::to_string(5999 * 16));

  // NaN coordinate in record 1234: an error at its byte offset; --drop-nonfinite drops and counts it.
  HostIonCloud bad = test_cloud(3000, 11);
  bad.y(1234) = std::numeric_limits<float>::quiet_NaN();
  bad.mq(2500) = std::numeric_limits<float>::infinity();
  const auto nan_pos = (f.dir / "nan.pos").string();
  io::write_pos(nan_pos, bad);
  expect_one_line_error(aptflow::test::shell_quote(nan_pos), nan_pos, "at byte " + std::to_string(1234 * 16));
  {
    const auto j = inspect_json(aptflow::test::shell_quote(nan_pos) + " --drop-nonfinite --range " +
                                aptflow::test::shell_quote(f.rrng));
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j.at("ions").get<std::int64_t>(), 2998);
    EXPECT_EQ(j.at("nonfinite_dropped").get<std::int64_t>(), 2);
    // The same as inspecting the cloud without the two ions.
    HostIonCloud kept(2998, "kept");
    for (std::int64_t i = 0, k = 0; i < bad.size(); ++i) {
      if (i == 1234 || i == 2500) continue;
      kept.x(k) = bad.x(i), kept.y(k) = bad.y(i), kept.z(k) = bad.z(i), kept.mq(k) = bad.mq(i), ++k;
    }
    check_json(j, kept, f.table, "pos");
    const auto r = run_command(aptflow::test::aptflow_exe() + " inspect " +
                               aptflow::test::shell_quote(nan_pos) + " --drop-nonfinite");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("dropped     2 ions with NaN/Inf values"), std::string::npos) << r.output;
  }

  // APT file with a wrong signature: a .apt name without the signature is an error at byte 0,
  // whatever its size (it is never decoded as POS/EPOS).
  const auto apt = f.write("magic.apt", io::Format::apt);
  {
    std::fstream s(apt, std::ios::in | std::ios::out | std::ios::binary);
    s.seekp(0);
    s.write("APX", 3);
  }
  expect_one_line_error(aptflow::test::shell_quote(apt), apt, "at byte 0: no \"APT\\0\" signature");
  // The same bytes padded to a multiple of 16 (a POS-like size) are still refused.
  {
    std::ofstream s(apt, std::ios::app | std::ios::binary);
    const auto pad = (16 - fs::file_size(apt) % 16) % 16;
    s << std::string(pad, '\0');
  }
  ASSERT_EQ(fs::file_size(apt) % 16, 0u);
  expect_one_line_error(aptflow::test::shell_quote(apt), apt, "at byte 0: no \"APT\\0\" signature");
  // The APT reader itself (format forced) names the missing signature at byte 0.
  try {
    io::probe_dataset(apt, io::Format::apt);
    ADD_FAILURE() << "forced APT read of a file without the signature succeeded";
  } catch (const aptflow::InputError& e) {
    EXPECT_EQ(e.where(), aptflow::InputError::Where::byte);
    EXPECT_EQ(e.location(), 0);
    EXPECT_NE(std::string(e.what()).find("signature"), std::string::npos) << e.what();
  }

  // Empty file, directory, missing file.
  const auto empty = (f.dir / "empty.pos").string();
  std::ofstream(empty).close();
  expect_one_line_error(aptflow::test::shell_quote(empty), empty, "at byte 0");
  const auto sub = (f.dir / "subdir").string();
  fs::create_directory(sub);
  expect_one_line_error(aptflow::test::shell_quote(sub), sub, "directory");
  const auto missing = (f.dir / "missing.pos").string();
  expect_one_line_error(aptflow::test::shell_quote(missing), missing, "does not exist");

  // A garbage line in the range file: named with its line number.
  const auto good = f.write("good.pos", io::Format::pos);
  const auto badr = (f.dir / "bad.rrng").string();
  {
    std::ofstream o(badr);
    o << "[Ions]\nNumber=1\nIon1=Al\n[Ranges]\nNumber=1\nRange1=26.8 27.2 Vol:0.01 Al:1\nthis is garbage\n";
  }
  expect_one_line_error(aptflow::test::shell_quote(good) + " --range " + aptflow::test::shell_quote(badr),
                        badr, "line 7");
  // Missing range file.
  expect_one_line_error(aptflow::test::shell_quote(good) + " --range " + aptflow::test::shell_quote(missing),
                        missing, "");

  // Usage errors are CLI11's (exit code >= 100), not aptflow errors.
  const auto usage = run_command(aptflow::test::aptflow_exe() + " inspect");
  EXPECT_GE(usage.exit_code, 100) << usage.output;
}

}  // namespace
