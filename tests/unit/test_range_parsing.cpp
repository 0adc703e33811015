// Range file parsing on synthetic text: formats, merge and overlap policies
// (against a brute-force reference on random tables), write_rrng round trips,
// and every error case with its line number.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "aptflow/core/error.hpp"
#include "aptflow/io/range_file.hpp"
#include "log_capture.hpp"
#include "test_util.hpp"

namespace {

using aptflow::Composition;
using aptflow::InputError;
using aptflow::OverlapPolicy;
using aptflow::RangeOptions;
using aptflow::RangeTable;
using aptflow::test::LogCapture;

// Parse and expect an InputError at `line` whose message contains `needle`.
template <class F>
void expect_input_error(F&& f, std::int64_t line, const std::string& needle, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << what << ": no InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), InputError::Where::line) << what << ": " << e.what();
    EXPECT_EQ(e.location(), line) << what << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << what << ": " << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": wrong exception type: " << e.what();
  }
}

std::string rrng(const std::vector<std::string>& range_lines, const std::string& ions = "Ion1=Fe\n") {
  int n_ions = 0;
  for (char c : ions) n_ions += c == '\n';
  std::string s = "[Ions]\nNumber=" + std::to_string(n_ions) + "\n" + ions +
                  "[Ranges]\nNumber=" + std::to_string(range_lines.size()) + "\n";
  for (std::size_t i = 0; i < range_lines.size(); ++i)
    s += "Range" + std::to_string(i + 1) + "=" + range_lines[i] + "\n";
  return s;
}

int species_linear(const RangeTable& t, double m) {
  for (const auto& r : t.ranges)
    if (r.lo <= m && m < r.hi) return r.ion_type + 1;
  return 0;
}

}  // namespace

// ----------------------------------------------------------------- chemistry

TEST(RangeParsing, FormulaHelpers) {
  EXPECT_EQ(aptflow::parse_formula("Fe2O3"), (Composition{{"Fe", 2}, {"O", 3}}));
  EXPECT_EQ(aptflow::parse_formula("CO2"), (Composition{{"C", 1}, {"O", 2}}));
  EXPECT_EQ(aptflow::parse_formula("Co"), (Composition{{"Co", 1}}));
  EXPECT_EQ(aptflow::parse_formula("OH3"), (Composition{{"H", 3}, {"O", 1}}));
  EXPECT_EQ(aptflow::parse_formula("FeOC"), (Composition{{"C", 1}, {"Fe", 1}, {"O", 1}}));
  EXPECT_EQ(aptflow::parse_formula("HOH"), (Composition{{"H", 2}, {"O", 1}}));
  for (const char* bad : {"", "All", "X23", "un1", "52pt5", "Hyd", "unknown", "fe", "Fe0", "Xx2"})
    EXPECT_FALSE(aptflow::parse_formula(bad).has_value()) << bad;
  // Hill order: C, H first when there is carbon, else alphabetical.
  EXPECT_EQ(aptflow::formula_of(aptflow::canonical_composition({{"O", 1}, {"H", 1}, {"C", 1}})), "CHO");
  EXPECT_EQ(aptflow::formula_of(aptflow::canonical_composition({{"O", 1}, {"Ti", 1}})), "OTi");
  EXPECT_EQ(aptflow::formula_of(aptflow::canonical_composition({{"Ni", 1}, {"O", 1}})), "NiO");
  EXPECT_EQ(aptflow::formula_of(aptflow::canonical_composition({{"H", 1}, {"Sc", 1}})), "HSc");
  EXPECT_EQ(aptflow::formula_of(aptflow::canonical_composition({{"O", 1}, {"H", 2}, {"O", 0}})), "H2O");
  EXPECT_TRUE(aptflow::is_element_symbol("Og"));
  EXPECT_FALSE(aptflow::is_element_symbol("Xx"));
}

// ----------------------------------------------------------------- RRNG

TEST(RangeParsing, RrngMolecularCustomAndCrlf) {
  std::string s =
      rrng({"10.5 11 Vol:0.01 Fe:1 Color:ff00ff", "36.9 37.2 Vol:0.04 O:1 Ni:1 Color:00CC99",
            "21.4 21.5 Vol:0 Name:un1 Color:FF0000", "2.0 2.1 H:2", "17 17.1 O:1 Name:hydroxyl H:1"},
           "Ion1=Fe\nIon2=un1\n");
  // CRLF line endings.
  std::string crlf;
  for (char c : s) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  for (const auto& text : {s, crlf}) {
    const auto t = aptflow::parse_rrng_string(text, "mem.rrng");
    ASSERT_EQ(t.ion_types.size(), 5u);
    EXPECT_EQ(t.ion_types[0].name, "Fe");
    EXPECT_EQ(t.ion_types[0].color, "FF00FF");
    EXPECT_EQ(t.ion_types[1].name, "un1");
    EXPECT_TRUE(t.ion_types[1].composition.empty());
    EXPECT_EQ(t.ion_types[2].name, "NiO");  // then in order of first appearance
    EXPECT_EQ(t.ion_types[2].composition, (Composition{{"Ni", 1}, {"O", 1}}));
    EXPECT_EQ(t.ion_types[3].name, "H2");
    EXPECT_EQ(t.ion_types[4].name, "hydroxyl");
    EXPECT_EQ(t.ion_types[4].composition, (Composition{{"H", 1}, {"O", 1}}));
    ASSERT_EQ(t.ranges.size(), 5u);
    EXPECT_EQ(t.ranges[0].lo, 2.0);
    EXPECT_EQ(t.ranges[0].line, 10);  // Range4 is line 10
    EXPECT_EQ(t.ranges[4].ion_type, 2);
    EXPECT_EQ(t.source, "mem.rrng");
  }
}

// Same composition = same ion type, whichever way it is written.
TEST(RangeParsing, RrngIdentityByComposition) {
  const auto t = aptflow::parse_rrng_string(
      rrng({"31 31.5 Ti:1 O:1", "63 64 O:1 Ti:1", "47 48 Ti:1 O:1 Fe:0", "10 11 O:1 O:1 Ti:1"}), "x");
  ASSERT_EQ(t.ion_types.size(), 2u);
  EXPECT_EQ(t.ion_types[0].name, "OTi");
  EXPECT_EQ(t.ion_types[1].name, "O2Ti");
  EXPECT_EQ(t.ranges.size(), 4u);
  EXPECT_EQ(aptflow::find_species(t, "TiO"), 1);
  EXPECT_EQ(aptflow::find_species(t, "TiO2"), 2);
  EXPECT_EQ(aptflow::find_species(t, "Fe"), 0);
}

TEST(RangeParsing, RrngDuplicatesMergedWithOneWarning) {
  LogCapture log;
  std::vector<std::string> lines;
  for (int k = 0; k < 40; ++k) {
    lines.push_back("10 11 Fe:1");
    lines.push_back("20 21 O:1");
  }
  const auto t = aptflow::parse_rrng_string(rrng(lines), "dup.rrng");
  ASSERT_EQ(t.ranges.size(), 2u);
  EXPECT_EQ(t.ranges[0].line, 6);  // the first occurrence is kept
  EXPECT_EQ(t.ranges[1].line, 7);
  EXPECT_EQ(log.count("warn"), 1) << log.text();
  EXPECT_EQ(log.count("merged 78 identical duplicate range(s)"), 1) << log.text();
}

TEST(RangeParsing, RrngSameTypeOverlapsMerge) {
  LogCapture log;
  const auto t = aptflow::parse_rrng_string(
      rrng({"10 12 Fe:1", "11 13 Fe:1", "12.5 14 Fe:1", "14 15 Fe:1", "20 30 O:1", "22 23 O:1"}), "m.rrng");
  ASSERT_EQ(t.ranges.size(), 3u);
  EXPECT_EQ(t.ranges[0].lo, 10);
  EXPECT_EQ(t.ranges[0].hi, 14);  // union of three overlapping ranges
  EXPECT_EQ(t.ranges[1].lo, 14);  // touching, not overlapping: kept apart
  EXPECT_EQ(t.ranges[1].hi, 15);
  EXPECT_EQ(t.ranges[2].lo, 20);
  EXPECT_EQ(t.ranges[2].hi, 30);
  EXPECT_EQ(log.count("merged 3 range(s) overlapping"), 1) << log.text();
}

TEST(RangeParsing, RrngOverlapOfDifferentTypes) {
  const std::string text = rrng({"10 12 Fe:1", "30 31 Ni:1", "11.5 13 O:1"});
  expect_input_error([&] { aptflow::parse_rrng_string(text, "o.rrng"); }, 8, "line 6", "cross-type overlap");
  // Error names both lines: Range3 (line 8) overlaps Range1 (line 6).
  // first_wins: Fe keeps [11.5, 12), O is clipped to [12, 13).
  LogCapture log;
  RangeOptions opt;
  opt.overlap = OverlapPolicy::first_wins;
  const auto t = aptflow::parse_rrng_string(text, "o.rrng", opt);
  ASSERT_EQ(t.ranges.size(), 3u);
  EXPECT_EQ(t.ranges[0].hi, 12);
  EXPECT_EQ(t.ranges[1].lo, 12);
  EXPECT_EQ(t.ranges[1].hi, 13);
  EXPECT_EQ(t.ion_types[static_cast<std::size_t>(t.ranges[1].ion_type)].name, "O");
  EXPECT_EQ(log.count("line 8 ('O') clipped by line 6 ('Fe')"), 1) << log.text();
  // A later range entirely inside an earlier one of another type is dropped,
  // and an earlier range inside a later one splits it.
  const auto u = aptflow::parse_rrng_string(rrng({"20 21 O:1", "10 30 Fe:1", "10.5 11 Ni:1"}), "s", opt);
  ASSERT_EQ(u.ranges.size(), 3u);
  EXPECT_EQ(u.ranges[0].lo, 10);
  EXPECT_EQ(u.ranges[0].hi, 20);
  EXPECT_EQ(u.ranges[1].lo, 20);
  EXPECT_EQ(u.ranges[1].hi, 21);
  EXPECT_EQ(u.ranges[2].lo, 21);
  EXPECT_EQ(u.ranges[2].hi, 30);
  EXPECT_EQ(u.ranges[0].ion_type, u.ranges[2].ion_type);
  // Ni lost all its ranges; O and the two Fe pieces remain.
  EXPECT_EQ(u.ion_types.size(), 2u);
  EXPECT_EQ(aptflow::find_species(u, "Ni"), 0);
}

// Random raw tables on a coarse grid (many shared endpoints, nesting and
// overlaps), checked point by point against the rule "an m/q goes to the
// earliest line whose range holds it".
TEST(RangeParsing, OverlapPoliciesMatchBruteForce) {
  std::mt19937_64 rng(20240611);
  const char* elements[] = {"Fe", "O", "Ni", "Cr"};
  int n_error_cases = 0, n_clean_cases = 0;
  LogCapture quiet;  // many merge/clip warnings by design
  for (int trial = 0; trial < 300; ++trial) {
    struct Raw {
      double lo, hi;
      int el;
    };
    std::vector<Raw> raw;
    const int n = 1 + static_cast<int>(rng() % 12);
    const int grid = 4 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      int a = static_cast<int>(rng() % grid), b = static_cast<int>(rng() % grid);
      if (a == b) b = a + 1;
      if (a > b) std::swap(a, b);
      raw.push_back({0.25 * a + 1.0, 0.25 * b + 1.0, static_cast<int>(rng() % 4)});
    }
    if (rng() % 3 == 0) raw.push_back(raw[rng() % raw.size()]);  // an identical repeat
    std::vector<std::string> lines;
    for (const auto& r : raw) lines.push_back(fmt::format("{} {} {}:1", r.lo, r.hi, elements[r.el]));
    const std::string text = rrng(lines);
    auto owner = [&](double m) {  // brute force: earliest line holding m
      for (const auto& r : raw)
        if (r.lo <= m && m < r.hi) return std::string(elements[r.el]);
      return std::string();
    };
    bool cross = false;  // any overlap of ranges of different ion types?
    for (std::size_t i = 0; i < raw.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (raw[i].el != raw[j].el && raw[i].lo < raw[j].hi && raw[j].lo < raw[i].hi) cross = true;
    std::vector<double> probes;
    for (int g = -1; g <= grid + 1; ++g) {
      probes.push_back(0.25 * g + 1.0);
      probes.push_back(0.25 * g + 1.0 + 0.125);
      probes.push_back(std::nextafter(0.25 * g + 1.0, 0.0));
    }
    for (OverlapPolicy pol : {OverlapPolicy::error, OverlapPolicy::first_wins}) {
      RangeOptions opt;
      opt.overlap = pol;
      if (pol == OverlapPolicy::error && cross) {
        ++n_error_cases;
        EXPECT_THROW(aptflow::parse_rrng_string(text, "r", opt), InputError) << text;
        continue;
      }
      if (pol == OverlapPolicy::error) ++n_clean_cases;
      const auto t = aptflow::parse_rrng_string(text, "r", opt);
      ASSERT_NO_THROW(aptflow::validate_range_table(t));
      for (double m : probes) {
        const int s = species_linear(t, m);
        const std::string got = s ? t.ion_types[static_cast<std::size_t>(s - 1)].name : std::string();
        ASSERT_EQ(got, owner(m)) << "m/q " << m << " policy " << static_cast<int>(pol) << "\n" << text;
      }
      // No two ranges of one ion type overlap or could have been merged
      // because they overlap (touching is allowed).
      for (std::size_t i = 1; i < t.ranges.size(); ++i) ASSERT_LE(t.ranges[i - 1].hi, t.ranges[i].lo);
    }
  }
  EXPECT_GT(n_error_cases, 30);
  EXPECT_GT(n_clean_cases, 30);
}

// ----------------------------------------------------------------- RNG, ENV

TEST(RangeParsing, RngPolyatomicColumnsAndVolumeColumn) {
  // Columns Fe, O and a polyatomic column "TiO2"; one row with a volume field.
  const std::string text =
      "3 4\n"
      "Fe\nFe 1.0 0.0 1.0\n"
      "O\nO 0.0 0.8 1.0\n"
      "TiO2\nTiO2 0.0 1.0 0.0\n"
      "------------ Fe O TiO2\n"
      ". 27.9 28.1 1 0 0\n"
      ". 35.8 36.2 1 1 0\n"
      ". 39.9 40.1 0 0 1\n"
      ". 47.9 48.1 0.05 0 1 1\n";  // TiO3, with a volume column
  const auto t = aptflow::parse_rng_string(text, "p.rng");
  ASSERT_EQ(t.ranges.size(), 4u);
  ASSERT_EQ(t.ion_types.size(), 4u);
  EXPECT_EQ(t.ion_types[0].name, "Fe");
  EXPECT_EQ(t.ion_types[0].color, "FF00FF");
  EXPECT_EQ(t.ion_types[1].name, "O2Ti");  // declared column TiO2 comes before the undeclared ions
  EXPECT_EQ(aptflow::find_species(t, "FeO"), 3);
  EXPECT_EQ(t.ion_types[3].name, "O3Ti");
  EXPECT_EQ(t.ion_types[3].composition, (Composition{{"O", 3}, {"Ti", 1}}));
  EXPECT_DOUBLE_EQ(t.ion_types[3].volume, 0.05);
  EXPECT_EQ(aptflow::detect_range_format(text, "p.txt"), aptflow::RangeFormat::rng);
}

TEST(RangeParsing, RngExtensionThatDisagreesIsAnOverlap) {
  const std::string text =
      "2 1\nAl\nAl 0.2 1.0 1.0\nH\nH 0.8 0.8 0.0\n------- Al H\n. 13.95 14.10 1 1\n\n\n"
      "--- polyatomic extension\n1 1\nAlH2\nAlH2 1 0 0\n------- AlH2\n. 13.95 14.10 1\n";
  expect_input_error([&] { aptflow::parse_rng_string(text, "e.rng"); }, 15, "line 7",
                     "disagreeing extension");
}

TEST(RangeParsing, EnvBasic) {
  const std::string text =
      "# GPM\n#\nRev_2.0\n\n# Number of elements / Number of mass ranges\n3\t3\n"
      "O\t0.0\t1.0\t0.0\nMnO2\t0.5\t0.5\t0.5\nX23\t0.3\t0.5\t0.5\n"
      "# ranges\nO\t15.88\t16.84\t20.0\t1.0\nMnO2\t43.38\t43.65\t11.66\t1.0\nX23\t22.24\t22.72\t11.66\t1.0\n"
      "\n# Flight length (m)\n0.100500\n";
  const auto t = aptflow::parse_env_string(text, "a.env");
  ASSERT_EQ(t.ranges.size(), 3u);
  EXPECT_EQ(t.ion_types[1].name, "MnO2");
  EXPECT_EQ(t.ion_types[1].composition, (Composition{{"Mn", 1}, {"O", 2}}));
  EXPECT_TRUE(t.ion_types[2].composition.empty());
  EXPECT_EQ(t.ranges[1].line, 13);  // X23 at line 13
  EXPECT_EQ(aptflow::detect_range_format(text, "a.dat"), aptflow::RangeFormat::env);
}

// ----------------------------------------------------------------- errors

TEST(RangeParsing, RrngErrorsNameTheLine) {
  auto P = [](const std::string& s) { return [s] { aptflow::parse_rrng_string(s, "bad.rrng"); }; };
  const std::string head = "[Ions]\nNumber=1\nIon1=Fe\n[Ranges]\nNumber=1\n";  // range at line 6
  expect_input_error(P(head + "hello world\n"), 6, "expected Key=Value", "garbage line");
  expect_input_error(P(head + "Foo=1 2 Fe:1\n"), 6, "unexpected key", "unknown key");
  expect_input_error(P(head + "Range1=5 5 Fe:1\n"), 6, "not below", "lo == hi");
  expect_input_error(P(head + "Range1=6 5 Fe:1\n"), 6, "not below", "lo > hi");
  expect_input_error(P(head + "Range1=nan 5 Fe:1\n"), 6, "not a finite number", "NaN");
  expect_input_error(P(head + "Range1=1 inf Fe:1\n"), 6, "not a finite number", "inf");
  expect_input_error(P(head + "Range1=1 1e999 Fe:1\n"), 6, "not a finite number", "overflow");
  expect_input_error(P(head + "Range1=-1 5 Fe:1\n"), 6, "negative", "negative mass");
  expect_input_error(P(head + "Range1=1 2 Xx:1\n"), 6, "not a chemical element", "unknown element");
  expect_input_error(P(head + "Range1=1 2 Fe:x\n"), 6, "not a whole number", "bad count");
  expect_input_error(P(head + "Range1=1 2 Fe:-1\n"), 6, "not a whole number", "negative count");
  expect_input_error(P(head + "Range1=1 2 Vol:0.1 Color:FF0000\n"), 6, "names no ion", "no ion");
  expect_input_error(P(head + "Range1=1 2 Fe:1 Color:red\n"), 6, "six hex digits", "bad colour");
  expect_input_error(P(head + "Range1=1 2 Fe:1 junk\n"), 6, "unexpected field", "junk field");
  expect_input_error(P(head + "Range1=1 2\n"), 6, "too few", "too few fields");
  expect_input_error(P(head + "Range1=1 2 Fe:1\nRange2=3 4 Fe:1\n"), 5, "Number=1 but 2", "Number mismatch");
  expect_input_error(P("[Ions]\nNumber=1\nIon1=Fe\n"), 3, "no [Ranges]", "missing [Ranges]");
  expect_input_error(P("\n[Ranges]\nNumber=1\nRange1=1 2 Fe:1\n"), 2, "no [Ions]", "missing [Ions]");
  expect_input_error(P("Number=1\n[Ions]\n"), 1, "before the first section", "text before sections");
  expect_input_error(P("[Ions]\nNumber=1\nIon1=Fe\n[Ranges]\nRange1=1 2 Fe:1\n"), 4,
                     "no Number=", "no Number");
  expect_input_error(P("[Ions]\nNumber=0\n[Ranges]\nNumber=0\n"), 3, "no mass ranges", "no ranges");
  expect_input_error(P(head + "Range1=1 2 Fe:1\n[Ions]\n"), 7, "second [Ions]", "two [Ions]");
  expect_input_error(P("[Ions\n"), 1, "closing ']'", "broken header");
  expect_input_error(P(""), 1, "empty", "empty text");
  expect_input_error(P("  \n\r\n\t\n"), 1, "empty", "white space only");
  expect_input_error(P(std::string("[Ions]\nNumber=1\n\0\n", 18)), 3, "NUL", "binary");
  // Two custom ions may not share a name with a composition ion.
  expect_input_error(P("[Ions]\nNumber=0\n[Ranges]\nNumber=2\nRange1=1 2 Fe:1\nRange2=3 4 Name:Fe\n"), 6,
                     "two different ion types", "name clash");
}

TEST(RangeParsing, RngAndEnvErrorsNameTheLine) {
  auto R = [](const std::string& s) { return [s] { aptflow::parse_rng_string(s, "bad.rng"); }; };
  auto E = [](const std::string& s) { return [s] { aptflow::parse_env_string(s, "bad.env"); }; };
  const std::string head = "2 2\nFe\nFe 1 0 1\nO\nO 0 1 0\n------ Fe O\n";  // rows at line 7, 8
  expect_input_error(R("2 x\n"), 1, "two whole numbers", "bad header");
  expect_input_error(R(head + ". 1 2 1 0\n"), 7, "truncated", "missing row");
  expect_input_error(R(head + ". 1 2 1 0\n. 3 4 1\n"), 8, "found 3 fields", "short row");
  expect_input_error(R(head + ". 1 2 0 0\n. 3 4 0 0\n"), 8, "no mass ranges", "only rows without ions");
  expect_input_error(R(head + ". 1 2 1 0\n. 4 3 0 1\n"), 8, "not below", "lo > hi");
  expect_input_error(R(head + ". 1 2 1 0\n. nan 3 0 1\n"), 8, "not a finite number", "NaN");
  expect_input_error(R(head + ". 1 2 1 0\n. -3 3 0 1\n"), 8, "negative", "negative");
  expect_input_error(R(head + ". 1 2 1 0\n. 3 4 0 1.5\n"), 8, "not a whole number", "fractional count");
  expect_input_error(R(head + ". 1 2 1 0\n. 3 4 0 1\nhello\n"), 9, "after the range table",
                     "trailing garbage");
  expect_input_error(R("3 1\nFe\nFe 1 0 1\nO\nO 0 1 0\n------ Fe O\n. 1 2 1 0\n"), 6, "reached after 2",
                     "ion count");
  expect_input_error(R("1 1\nFe\nFe 1 0 1\nFe O\n. 1 2 1\n"), 4, "header line", "no dashes");
  expect_input_error(R("2 1\nX9\nX9 1 0 1\nO\nO 0 1 0\n------ X9 O\n. 1 2 1 1\n"), 7,
                     "not a chemical formula", "custom combined");
  expect_input_error(E("# c\nRev_2.0\n2 1\nO 0 1 0\nMn 0 0 1\nFe 1 2 3 1\n"), 6, "not in the element list",
                     "unknown ion");
  expect_input_error(E("# c\nRev_2.0\n2 2\nO 0 1 0\nMn 0 0 1\nO 1 2 3 1\n"), 6, "truncated", "truncated env");
  expect_input_error(E("# c\nRev_2.0\n1 1\nO 0 1 0\nO 2 1 3 1\n"), 5, "not below", "env lo > hi");
  expect_input_error(E("# only comments\n#\n"), 2, "no content", "comments only");
}

TEST(RangeParsing, FileErrors) {
  aptflow::test::TempDir tmp;
  auto expect_file_error = [](const std::string& path, const std::string& needle) {
    try {
      aptflow::read_range_file(path);
      ADD_FAILURE() << path << ": no error";
    } catch (const InputError& e) {
      EXPECT_EQ(e.file(), path);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_file_error((tmp / "missing.rrng").string(), "no such file");
  expect_file_error(tmp.path().string(), "is a directory");
  const auto empty = (tmp / "empty.rrng").string();
  std::ofstream(empty).close();
  expect_input_error([&] { aptflow::read_range_file(empty); }, 1, "empty", "empty file");
  const auto garbage = (tmp / "noise.txt").string();
  std::ofstream(garbage) << "\nhello world\n";
  expect_input_error([&] { aptflow::read_range_file(garbage); }, 2, "not a recognised range file",
                     "unknown format");
  const auto fifo = (tmp / "pipe.rrng").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  expect_file_error(fifo, "not a regular file");  // and does not hang
  if (geteuid() != 0) {
    const auto locked = (tmp / "locked.rrng").string();
    std::ofstream(locked) << rrng({"1 2 Fe:1"});
    chmod(locked.c_str(), 0);
    expect_file_error(locked, "cannot be opened");
  }
}

// ----------------------------------------------------------------- write_rrng

TEST(RangeParsing, WriteRrngRoundTripsRandomTables) {
  std::mt19937_64 rng(777);
  aptflow::test::TempDir tmp;
  const std::vector<std::string> elements = {"H",  "C",  "N",  "O",  "Al", "Si",
                                             "Ti", "Cr", "Fe", "Ni", "Mo", "W"};
  for (int trial = 0; trial < 60; ++trial) {
    RangeTable t;
    t.source = "random";
    std::set<std::string> keys;
    const int ntypes = 1 + static_cast<int>(rng() % 25);
    while (static_cast<int>(t.ion_types.size()) < ntypes) {
      aptflow::IonType it;
      if (rng() % 6 == 0) {
        it.name = "X" + std::to_string(rng() % 1000);  // custom ion
      } else {
        Composition c;
        const int ne = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < ne; ++e)
          c.emplace_back(elements[rng() % elements.size()], 1 + static_cast<int>(rng() % 3));
        it.composition = aptflow::canonical_composition(c);
        it.name = aptflow::formula_of(it.composition);
        if (rng() % 5 == 0) it.name = "ion" + std::to_string(rng() % 1000);  // named molecule
      }
      if (rng() % 2) it.color = fmt::format("{:06X}", rng() % 0x1000000);
      if (rng() % 2) it.volume = std::uniform_real_distribution<double>(0.001, 0.2)(rng);
      const std::string key = it.composition.empty() ? "n:" + it.name : aptflow::formula_of(it.composition);
      bool clash = keys.count(key) > 0;
      for (const auto& o : t.ion_types) clash = clash || o.name == it.name;
      if (!clash) {
        keys.insert(key);
        t.ion_types.push_back(it);
      }
    }
    // Disjoint ranges with full-precision bounds, some touching; every type used.
    const int nranges = ntypes + static_cast<int>(rng() % 40);
    double x = std::uniform_real_distribution<double>(0.5, 3.0)(rng);
    for (int i = 0; i < nranges; ++i) {
      aptflow::MassRange r;
      r.lo = x;
      r.hi = x + std::uniform_real_distribution<double>(1e-4, 2.0)(rng);
      r.ion_type = i < ntypes ? i : static_cast<int>(rng() % ntypes);
      t.ranges.push_back(r);
      x = rng() % 3 == 0 ? r.hi : r.hi + std::uniform_real_distribution<double>(1e-6, 3.0)(rng);
    }
    // Two touching ranges of one type must stay two after the round trip.
    if (rng() % 2) {
      aptflow::MassRange r = t.ranges.back();
      r.lo = r.hi;
      r.hi = r.lo + 0.5;
      t.ranges.push_back(r);
    }
    const auto path = (tmp / ("t" + std::to_string(trial) + ".rrng")).string();
    aptflow::write_rrng(path, t);
    const auto u = aptflow::read_range_file(path);
    ASSERT_EQ(u.ion_types.size(), t.ion_types.size()) << aptflow::format_rrng(t);
    for (std::size_t k = 0; k < t.ion_types.size(); ++k) {
      EXPECT_EQ(u.ion_types[k].name, t.ion_types[k].name);
      EXPECT_EQ(u.ion_types[k].composition, t.ion_types[k].composition);
      EXPECT_EQ(u.ion_types[k].color, t.ion_types[k].color);
      EXPECT_EQ(u.ion_types[k].volume, t.ion_types[k].volume);
    }
    ASSERT_EQ(u.ranges.size(), t.ranges.size()) << aptflow::format_rrng(t);
    for (std::size_t i = 0; i < t.ranges.size(); ++i) {
      EXPECT_EQ(u.ranges[i].lo, t.ranges[i].lo);  // bit-identical
      EXPECT_EQ(u.ranges[i].hi, t.ranges[i].hi);
      EXPECT_EQ(u.ranges[i].ion_type, t.ranges[i].ion_type);
      EXPECT_EQ(u.ranges[i].line,
                static_cast<std::int64_t>(i) + 5 + static_cast<std::int64_t>(t.ion_types.size()));
    }
  }
}

TEST(RangeParsing, WriteRrngRejectsInvalidTables) {
  aptflow::test::TempDir tmp;
  RangeTable t;
  t.ion_types.push_back({"Fe", {{"Fe", 1}}, "", 0});
  t.ranges.push_back({10, 12, 0, 0});
  t.ranges.push_back({11, 13, 0, 0});  // overlaps
  EXPECT_THROW(aptflow::write_rrng((tmp / "a.rrng").string(), t), InputError);
  t.ranges.pop_back();
  t.ranges.push_back({13, 14, 1, 0});  // no ion type 1
  EXPECT_THROW(aptflow::write_rrng((tmp / "a.rrng").string(), t), InputError);
  t.ranges.pop_back();
  t.ion_types[0].name = "Fe ion";  // white space cannot be stored
  EXPECT_THROW(aptflow::write_rrng((tmp / "a.rrng").string(), t), InputError);
  t.ion_types[0].name = "Fe";
  EXPECT_THROW(aptflow::write_rrng((tmp / "no_such_dir" / "a.rrng").string(), t), aptflow::ResourceError);
  EXPECT_NO_THROW(aptflow::write_rrng((tmp / "a.rrng").string(), t));
}

// Never crash or hang: random corruptions of real and synthetic range files
// either parse to a valid table or give an InputError.
TEST(RangeParsing, CorruptedFilesGiveInputErrorOrValidTable) {
  std::vector<std::pair<std::string, std::string>> texts = {
      {"s.rrng", rrng({"10 12 Fe:1 Color:FF0000", "20 21 Ni:1 O:1", "1 2 Name:x Vol:0.1"})},
      {"s.rng",
       "2 2\nFe\nFe 1 0 1\nO\nO 0 1 0\n------ Fe O\n. 1 2 1 0\n. 3 4 1 1\n\n--- x\n1 1\nFeO\nFeO 1 1 1\n"
       "--- FeO\n. 3 4 1\n"},
      {"s.env", "# c\nRev_2.0\n2 2\nO 0 1 0\nMn 0 0 1\nO 1 2 3 1\nMn 5 6 11.6 1\n# rest\n0.1\n"}};
  const auto dir = aptflow::test::shared_data_dir() / "ranges";
  if (!aptflow::test::shared_data_dir().empty() && std::filesystem::is_directory(dir))
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      texts.emplace_back(e.path().filename().string(), ss.str());
    }
  LogCapture quiet;
  std::mt19937_64 rng(31337);
  const std::string alphabet = std::string("0123456789.,-+: \t\n\r[]=#;aeEFeOXnN", 34) + std::string(1, '\0');
  int n_ok = 0, n_error = 0;
  for (const auto& [name, original] : texts) {
    for (int trial = 0; trial < 120; ++trial) {
      std::string s = original;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !s.empty(); ++e) {
        const std::size_t pos = rng() % s.size();
        switch (rng() % 5) {
          case 0:  // delete a few characters
            s.erase(pos, 1 + rng() % 8);
            break;
          case 1:  // insert random characters
            for (int k = static_cast<int>(rng() % 4); k >= 0; --k)
              s.insert(s.begin() + static_cast<long>(pos), alphabet[rng() % alphabet.size()]);
            break;
          case 2:  // replace one character
            s[pos] = alphabet[rng() % alphabet.size()];
            break;
          case 3:  // truncate
            s.resize(pos);
            break;
          default: {  // duplicate a line
            const auto b = s.rfind('\n', pos);
            const auto en = s.find('\n', pos);
            const std::size_t from = b == std::string::npos ? 0 : b + 1;
            const std::string line =
                s.substr(from, en == std::string::npos ? std::string::npos : en - from + 1);
            s.insert(from, line);
          }
        }
      }
      for (OverlapPolicy pol : {OverlapPolicy::error, OverlapPolicy::first_wins}) {
        RangeOptions opt;
        opt.overlap = pol;
        try {
          const auto t = aptflow::parse_range_string(s, name, opt);
          EXPECT_NO_THROW(aptflow::validate_range_table(t));
          ++n_ok;
        } catch (const InputError& e) {
          EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
          ++n_error;
        } catch (const std::exception& e) {
          ADD_FAILURE() << name << ": " << e.what() << "\n--- text:\n" << s;
        }
      }
    }
  }
  EXPECT_GT(n_ok, 40);
  EXPECT_GT(n_error, 100);
}
