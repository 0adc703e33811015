// Range files from ../shared/data/ranges: every file parses to the ion types
// and ranges a careful reading of it gives (counts written down per file,
// after merging identical repeats and same-type overlaps), with spot checks of
// range bounds, names and compositions.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "aptflow/core/error.hpp"
#include "aptflow/io/range_file.hpp"
#include "log_capture.hpp"
#include "test_util.hpp"

namespace {

using aptflow::Composition;
using aptflow::RangeTable;
using aptflow::test::LogCapture;

std::string ranges_dir() { return (aptflow::test::shared_data_dir() / "ranges").string(); }

RangeTable read(const std::string& name) {
  const auto path = std::filesystem::path(ranges_dir()) / name;
  if (!std::filesystem::exists(path)) ADD_FAILURE() << "missing test file " << path;
  return aptflow::read_range_file(path.string());
}

// The range [lo, hi) with this ion name and composition is in the table.
void expect_range(const RangeTable& t, double lo, double hi, const std::string& name,
                  const Composition& comp) {
  for (const auto& r : t.ranges)
    if (std::abs(r.lo - lo) < 1e-9 && std::abs(r.hi - hi) < 1e-9) {
      const auto& it = t.ion_types.at(r.ion_type);
      EXPECT_EQ(it.name, name) << "range [" << lo << ", " << hi << ") in " << t.source;
      EXPECT_EQ(it.composition, comp) << "range [" << lo << ", " << hi << ") " << name << " in " << t.source;
      return;
    }
  ADD_FAILURE() << "no range [" << lo << ", " << hi << ") (" << name << ") in " << t.source;
}

void expect_counts(const RangeTable& t, std::size_t types, std::size_t ranges) {
  EXPECT_EQ(t.ion_types.size(), types) << t.source;
  EXPECT_EQ(t.ranges.size(), ranges) << t.source;
  for (std::size_t i = 1; i < t.ranges.size(); ++i) {
    EXPECT_LE(t.ranges[i - 1].hi, t.ranges[i].lo) << "sorted and disjoint in " << t.source;
  }
  EXPECT_NO_THROW(aptflow::validate_range_table(t));
}

}  // namespace

TEST(RangeFilesReal, EveryFileParses) {
  APTFLOW_REQUIRE_SHARED_DATA();
  if (!std::filesystem::is_directory(ranges_dir())) GTEST_SKIP() << "no " << ranges_dir();
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(ranges_dir())) {
    EXPECT_NO_THROW(aptflow::read_range_file(e.path().string())) << e.path();
    ++n;
  }
  EXPECT_GE(n, 19);
}

// IVAS RRNG, five elements plus three Cr oxides.
TEST(RangeFilesReal, CompositionspaceSi) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto t = read("compositionspace__Si.RRNG");
  expect_counts(t, 8, 25);
  // Declared [Ions] first, in their order; molecular ions after.
  EXPECT_EQ(t.species_of("Si"), 1);
  EXPECT_EQ(t.species_of("O"), 5);
  expect_range(t, 13.8745, 14.2410, "Si", {{"Si", 1}});
  expect_range(t, 57.8190, 61.1590, "Cr2O", {{"Cr", 2}, {"O", 1}});
  expect_range(t, 41.8690, 43.1810, "CrO2", {{"Cr", 1}, {"O", 2}});
  const auto& si = t.ion_types[0];
  EXPECT_EQ(si.color, "CCCCCC");
  EXPECT_DOUBLE_EQ(si.volume, 0.02003);
}

// 1440 range lines: 48 distinct (lo, hi, ion) triples, of which 17 overlap
// another range of the same ion (e.g. N [6.8889, 7.3155) holds N
// [6.975, 7.027)) and merge: 31 ranges, 13 ion types.
TEST(RangeFilesReal, VAlNManyRepeats) {
  APTFLOW_REQUIRE_SHARED_DATA();
  LogCapture log;
  const auto t = read("ger_aachen_saelker__VAlN_film_plan-view_700C.rrng");
  expect_counts(t, 13, 31);
  expect_range(t, 6.8889, 7.3155, "N", {{"N", 1}});
  expect_range(t, 13.3727, 13.8096, "Al", {{"Al", 1}});
  expect_range(t, 25.3400, 25.7998, "V", {{"V", 1}});  // union of [25.34, 25.607) and [25.3461, 25.7998)
  expect_range(t, 32.2710, 32.6350, "NV", {{"N", 1}, {"V", 1}});
  expect_range(t, 25.9460, 26.0280, "AlV", {{"Al", 1}, {"V", 1}});
  // One warning for the identical repeats, saying how many; one for the unions.
  EXPECT_EQ(log.count("identical duplicate"), 1) << log.text();
  EXPECT_EQ(log.count("merged 1392 identical duplicate range(s)"), 1) << log.text();
  EXPECT_EQ(log.count("merged 17 range(s) overlapping"), 1) << log.text();
  EXPECT_EQ(t.ranges.front().lo, 5.9830);  // C [5.983, 6.018) holds C [5.985, 6.016)
}

TEST(RangeFilesReal, R45NickelOxides) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto t = read("ger_berlin_kuehbach__Ranges_R45_2434-v01.rrng");  // CRLF
  expect_counts(t, 7, 13);
  expect_range(t, 73.2600, 80.1680, "NiO", {{"Ni", 1}, {"O", 1}});
  expect_range(t, 65.7800, 68.2570, "Ni2O", {{"Ni", 2}, {"O", 1}});
  // Two O2 ranges that touch at 33.748 stay two ranges ([lo, hi) do not overlap).
  expect_range(t, 31.8470, 33.7480, "O2", {{"O", 2}});
  expect_range(t, 33.7480, 34.1450, "O2", {{"O", 2}});
}

// Range40 is missing and Range41 appears twice: all 54 lines are ranges.
TEST(RangeFilesReal, TiAlNRepeatedKey) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto t = read("ger_berlin_kuehbach__TiAlN_film_cross-section_850C.rrng");
  expect_counts(t, 15, 54);
  expect_range(t, 25.9290, 26.0730, "NOTi", {{"N", 1}, {"O", 1}, {"Ti", 1}});
  expect_range(t, 36.5690, 36.6980, "NTi2", {{"N", 1}, {"Ti", 2}});
  expect_range(t, 63.8360, 64.0320, "OTi", {{"O", 1}, {"Ti", 1}});  // written "O:1 Ti:1"
  EXPECT_EQ(aptflow::find_species(t, "TiO"), t.species_of("OTi"));
  EXPECT_EQ(aptflow::find_species(t, "TiN"), t.species_of("NTi"));
  expect_range(t, 68.7890, 69.0700, "AlN3", {{"Al", 1}, {"N", 3}});
}

// Decimal commas ("22,8615") as written by IVAS under a German locale.
TEST(RangeFilesReal, MoDecimalComma) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto t = read("ger_duesseldorf_kuehbach__Mo_range.rrng");
  expect_counts(t, 10, 46);
  expect_range(t, 22.8615, 23.0910, "Mo", {{"Mo", 1}});
  expect_range(t, 35.2220, 35.3710, "MoN", {{"Mo", 1}, {"N", 1}});
  expect_range(t, 61.9010, 62.0610, "W", {{"W", 1}});
  EXPECT_DOUBLE_EQ(t.ion_types[static_cast<std::size_t>(t.species_of("Mo") - 1)].volume, 0.01558);
}

TEST(RangeFilesReal, R18Rrng) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto t = read("ger_duesseldorf_kuehbach__R18_58152-v02.RRNG");  // blank line between sections
  expect_counts(t, 8, 14);
  expect_range(t, 29.9480, 30.0810, "CTi", {{"C", 1}, {"Ti", 1}});
  expect_range(t, 22.7100, 25.3240, "Ti", {{"Ti", 1}});
}

TEST(RangeFilesReal, R31Rrng) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto t = read("ger_duesseldorf_kuehbach__R31_06365-v02.rrng");
  expect_counts(t, 27, 72);
  expect_range(t, 17.9770, 18.1050, "H2O", {{"H", 2}, {"O", 1}});
  expect_range(t, 56.8890, 57.0290, "FeH", {{"Fe", 1}, {"H", 1}});
  expect_range(t, 37.4400, 37.4880, "As", {{"As", 1}});
  // Ion17=As, but Ion12=H has no range of its own (only FeH, HO, H2O): As is 16th.
  EXPECT_EQ(t.species_of("As"), 16);
  EXPECT_EQ(t.species_of("H"), 0);
}

// Custom ion "un1" known only by Name:.
TEST(RangeFilesReal, MlaptCustomName) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto t = read("mlapt_feal__recon_v01.RRNG");
  expect_counts(t, 6, 12);
  expect_range(t, 21.4440, 21.5410, "un1", {});
  expect_range(t, 1.0040, 1.0230, "H", {{"H", 1}});
  EXPECT_EQ(t.species_of("un1"), 6);
}

// Three custom ions (59, 52pt5, 44pt5), hydrides and CaCO3-like ions: 23 types.
TEST(RangeFilesReal, PyccaptRrng) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto t = read("pyccapt_leap__rangefile.rrng");
  expect_counts(t, 23, 32);
  expect_range(t, 58.5660, 58.9600, "59", {});
  expect_range(t, 52.3100, 52.6300, "52pt5", {});
  expect_range(t, 69.4730, 70.3570, "CCa2O3", {{"C", 1}, {"Ca", 2}, {"O", 3}});
  expect_range(t, 28.7170, 28.9580, "CHO", {{"C", 1}, {"H", 1}, {"O", 1}});
  expect_range(t, 14.8930, 15.0220, "CH3", {{"C", 1}, {"H", 3}});
  expect_range(t, 2.0240, 2.0610, "H2", {{"H", 2}});
}

// RNG, 92 main-table rows; the polyatomic extension (65 rows) restates them.
TEST(RangeFilesReal, Lafontaine87DRng) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto t = read("aus_sydney_lafontaine__87D_1.rng");
  expect_counts(t, 25, 92);
  expect_range(t, 29.5910, 29.6950, "Y", {{"Y", 1}});
  expect_range(t, 82.8180, 83.0620, "O3SiZr", {{"O", 3}, {"Si", 1}, {"Zr", 1}});
  expect_range(t, 30.4460, 30.5240, "OSc", {{"O", 1}, {"Sc", 1}});
  expect_range(t, 195.7570, 196.2500, "HfO", {{"Hf", 1}, {"O", 1}});
  EXPECT_EQ(t.species_of("Zr"), 1);
  EXPECT_EQ(t.ion_types[0].color, "660066");  // Zr 0.40 0.00 0.40
  EXPECT_EQ(aptflow::find_species(t, "ZrSiO3"), t.species_of("O3SiZr"));
}

TEST(RangeFilesReal, R18SmallRng) {
  APTFLOW_REQUIRE_SHARED_DATA();
  auto t = read("ger_duesseldorf_kuehbach__R18_53705-v03.rng");
  expect_counts(t, 1, 2);
  expect_range(t, 13.3473, 13.8967, "Al", {{"Al", 1}});
  expect_range(t, 26.8553, 27.3571, "Al", {{"Al", 1}});
  EXPECT_EQ(t.ion_types[0].color, "33FFFF");
  t = read("ger_duesseldorf_kuehbach__R18_60310-v02.rng");
  expect_counts(t, 1, 3);
  expect_range(t, 14.3726, 14.8123, "Si", {{"Si", 1}});
}

// Row "1 1 0" (Al + H) and the polyatomic extension's AlH column: one ion.
// Mg [12.8699, 13.3276) and Al [13.3276, 13.869) touch without overlapping.
TEST(RangeFilesReal, R18AlHPolyatomic) {
  APTFLOW_REQUIRE_SHARED_DATA();
  LogCapture log;
  const auto t = read("ger_duesseldorf_kuehbach__R18_55377-v02.rng");
  expect_counts(t, 4, 8);
  expect_range(t, 13.9510, 14.1010, "AlH", {{"Al", 1}, {"H", 1}});
  expect_range(t, 12.8699, 13.3276, "Mg", {{"Mg", 1}});
  expect_range(t, 13.3276, 13.8690, "Al", {{"Al", 1}});
  EXPECT_EQ(log.count("identical duplicate"), 0) << "restated extension rows merge silently: " << log.text();
}

TEST(RangeFilesReal, R18NickelSuperalloyRng) {
  APTFLOW_REQUIRE_SHARED_DATA();
  auto t = read("ger_duesseldorf_kuehbach__R18_59377.rng");
  expect_counts(t, 11, 39);
  expect_range(t, 60.4380, 62.8070, "W", {{"W", 1}});
  expect_range(t, 59.9180, 60.4380, "Ta", {{"Ta", 1}});
  t = read("ger_duesseldorf_kuehbach__R18_59377_new.rng");
  expect_counts(t, 12, 45);
  expect_range(t, 15.2700, 16.8490, "Ti", {{"Ti", 1}});
  expect_range(t, 27.8630, 28.2130, "Si", {{"Si", 1}});
}

// 138 main rows, 102 restated in the extension; oxides up to Fe2O5.
TEST(RangeFilesReal, SeHoKimRng) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto t = read("ger_duesseldorf_kuehbach__SeHoKim_R5076_44076_v02.rng");
  expect_counts(t, 37, 138);
  expect_range(t, 41.9440, 42.0140, "CFeO", {{"C", 1}, {"Fe", 1}, {"O", 1}});
  expect_range(t, 95.6540, 96.1780, "Fe2O5", {{"Fe", 2}, {"O", 5}});
  expect_range(t, 18.9340, 19.1120, "H3O", {{"H", 3}, {"O", 1}});
  expect_range(t, 32.0050, 32.1370, "O4", {{"O", 4}});
  expect_range(t, 31.8250, 32.0050, "O2", {{"O", 2}});  // touches O4 at 32.005
}

// One custom ion "All" over [0, 400); the column is headed "a" (warning).
TEST(RangeFilesReal, All02CustomColumn) {
  APTFLOW_REQUIRE_SHARED_DATA();
  LogCapture log;
  const auto t = read("ger_duesseldorf_kuehbach__all02.rng");
  expect_counts(t, 1, 1);
  expect_range(t, 0, 400, "All", {});
  EXPECT_EQ(log.count("headed 'a'"), 1) << log.text();
}

// Custom "unknown" column, ScH (row Sc + H) and C2 (count 2), restated.
TEST(RangeFilesReal, RangeFileRngPolyatomic) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto t = read("ger_duesseldorf_kuehbach__range_file_RNG.RNG");
  expect_counts(t, 10, 18);
  expect_range(t, 27.4100, 27.5300, "unknown", {});
  expect_range(t, 22.9210, 23.0400, "HSc", {{"H", 1}, {"Sc", 1}});
  expect_range(t, 23.9680, 24.0220, "C2", {{"C", 2}});
  EXPECT_EQ(aptflow::find_species(t, "ScH"), t.species_of("HSc"));
}

// ENV: 26 ranges, three overlapping Er ranges (55.090-55.550, 55.543-55.880,
// 55.877-56.270) merge into one: 24 ranges, 12 ion types (X23 and Hyd custom).
TEST(RangeFilesReal, RouenEnv) {
  APTFLOW_REQUIRE_SHARED_DATA();
  const auto t = read("ger_rouen__ErMnO.env");
  expect_counts(t, 12, 24);
  expect_range(t, 55.090, 56.270, "Er", {{"Er", 1}});
  expect_range(t, 82.910, 83.410, "Er", {{"Er", 1}});  // touches the next Er range
  expect_range(t, 83.410, 83.910, "Er", {{"Er", 1}});
  expect_range(t, 62.850, 63.130, "Mn2O", {{"Mn", 2}, {"O", 1}});
  expect_range(t, 22.240, 22.720, "X23", {});
  expect_range(t, 0.930, 3.180, "Hyd", {});
  const auto& o = t.ion_types.at(static_cast<std::size_t>(t.species_of("O") - 1));
  EXPECT_EQ(o.color, "00FF00");
  EXPECT_DOUBLE_EQ(o.volume, 0.020);  // 20 A^3
  EXPECT_EQ(t.species_of("O"), 1);
}

// Detection by content: the same text under a misleading name.
TEST(RangeFilesReal, DetectsFormatFromContent) {
  APTFLOW_REQUIRE_SHARED_DATA();
  aptflow::test::TempDir tmp;
  const std::pair<const char*, aptflow::RangeFormat> cases[] = {
      {"compositionspace__Si.RRNG", aptflow::RangeFormat::rrng},
      {"aus_sydney_lafontaine__87D_1.rng", aptflow::RangeFormat::rng},
      {"ger_rouen__ErMnO.env", aptflow::RangeFormat::env}};
  for (const auto& [name, fmt] : cases) {
    const auto src = std::filesystem::path(ranges_dir()) / name;
    const auto dst = tmp / "ranges.txt";
    std::filesystem::copy_file(src, dst, std::filesystem::copy_options::overwrite_existing);
    std::ifstream in(dst);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(aptflow::detect_range_format(ss.str(), "ranges.txt"), fmt) << name;
    const auto a = aptflow::read_range_file(src.string());
    const auto b = aptflow::read_range_file(dst.string());
    EXPECT_EQ(a.ranges.size(), b.ranges.size()) << name;
    EXPECT_EQ(a.ion_types.size(), b.ion_types.size()) << name;
  }
}

// Every real file survives write_rrng -> read_range_file unchanged.
TEST(RangeFilesReal, RoundTripThroughRrng) {
  APTFLOW_REQUIRE_SHARED_DATA();
  if (!std::filesystem::is_directory(ranges_dir())) GTEST_SKIP() << "no " << ranges_dir();
  aptflow::test::TempDir tmp;
  LogCapture quiet;
  for (const auto& e : std::filesystem::directory_iterator(ranges_dir())) {
    const auto t = aptflow::read_range_file(e.path().string());
    const auto out = (tmp / (e.path().filename().string() + ".rrng")).string();
    aptflow::write_rrng(out, t);
    const int warnings_before = quiet.count("warning");
    const auto u = aptflow::read_range_file(out);
    EXPECT_EQ(quiet.count("warning"), warnings_before)
        << "a written file reads back without merges: " << quiet.text();
    ASSERT_EQ(u.ion_types.size(), t.ion_types.size()) << e.path();
    for (std::size_t k = 0; k < t.ion_types.size(); ++k) {
      EXPECT_EQ(u.ion_types[k].name, t.ion_types[k].name) << e.path();
      EXPECT_EQ(u.ion_types[k].composition, t.ion_types[k].composition) << e.path();
      EXPECT_EQ(u.ion_types[k].color, t.ion_types[k].color) << e.path();
      EXPECT_EQ(u.ion_types[k].volume, t.ion_types[k].volume) << e.path();
    }
    ASSERT_EQ(u.ranges.size(), t.ranges.size()) << e.path();
    for (std::size_t i = 0; i < t.ranges.size(); ++i) {
      EXPECT_EQ(u.ranges[i].lo, t.ranges[i].lo) << e.path();
      EXPECT_EQ(u.ranges[i].hi, t.ranges[i].hi) << e.path();
      EXPECT_EQ(u.ranges[i].ion_type, t.ranges[i].ion_type) << e.path();
    }
  }
}
