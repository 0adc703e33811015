// Range files as peer tools and lab scripts write them (issue 12): every quirk
// documented by 3Depict, ifes_apt_tc_data_modeling and IVAS/AP Suite users,
// each with a fixture written here from the format facts, parsed and compared
// with the table it must give. What stays an error names the line.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "aptflow/core/error.hpp"
#include "aptflow/io/range_file.hpp"
#include "log_capture.hpp"

namespace {

using aptflow::Composition;
using aptflow::InputError;
using aptflow::RangeTable;
using aptflow::test::LogCapture;

struct Expected {
  double lo, hi;
  std::string name;
};

void expect_table(const RangeTable& t, const std::vector<Expected>& want, const std::string& what) {
  ASSERT_EQ(t.ranges.size(), want.size()) << what;
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_DOUBLE_EQ(t.ranges[i].lo, want[i].lo) << what << " range " << i;
    EXPECT_DOUBLE_EQ(t.ranges[i].hi, want[i].hi) << what << " range " << i;
    EXPECT_EQ(t.ion_types[t.ranges[i].ion_type].name, want[i].name) << what << " range " << i;
  }
}

void expect_line_error(const std::function<void()>& f, std::int64_t line, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no InputError (" << needle << ")";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), InputError::Where::line) << e.what();
    EXPECT_EQ(e.location(), line) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

// ---- RNG

TEST(RangeQuirks, RngColourLineWithTrailingFormula) {
  // IVAS writes the formula after the colour: "Cd2 1.00 0.00 0.00 (Cd2)".
  const std::string text =
      "2 2\nCd\nCd 0.50 0.50 0.00 (Cd)\nCd2\nCd2 1.00 0.00 0.00 (Cd2)\n------------ Cd Cd2\n"
      ". 55.9 56.2 1 0\n. 111.8 112.2 0 1\n";
  const auto t = aptflow::parse_rng_string(text, "cd.rng");
  expect_table(t, {{55.9, 56.2, "Cd"}, {111.8, 112.2, "Cd2"}}, "trailing formula");
  EXPECT_EQ(t.ion_types[1].composition, (Composition{{"Cd", 2}}));
  EXPECT_EQ(t.ion_types[1].color, "FF0000");
  // Other trailing text on a colour line is still an error naming the line.
  expect_line_error([] { aptflow::parse_rng_string("1 1\nCd\nCd 1 0 0 junk\n---- Cd\n. 1 2 1\n", "x.rng"); },
                    3, "<red> <green> <blue>");
}

TEST(RangeQuirks, RngDashLineWithoutColumnNames) {
  // The columns then follow the ion order.
  const std::string text =
      "2 3\nFe\nFe 1 0 0\nO\nO 0 1 0\n-----------------\n. 27.9 28.1 1 0\n. 15.9 16.1 0 1\n"
      ". 35.9 36.1 1 1\n";
  const auto t = aptflow::parse_rng_string(text, "nocols.rng");
  expect_table(t, {{15.9, 16.1, "O"}, {27.9, 28.1, "Fe"}, {35.9, 36.1, "FeO"}}, "dash line without names");
}

TEST(RangeQuirks, RngRowWithAllZeroCountsIsDropped) {
  LogCapture log;
  const std::string text =
      "2 3\nFe\nFe 1 0 0\nO\nO 0 1 0\n------- Fe O\n. 27.9 28.1 1 0\n. 30.0 30.5 0 0\n"
      ". 15.9 16.1 0 1\n";
  const auto t = aptflow::parse_rng_string(text, "zero.rng");
  expect_table(t, {{15.9, 16.1, "O"}, {27.9, 28.1, "Fe"}}, "all-zero row");
  EXPECT_NE(log.text().find("dropped 1 range row(s) whose counts are all 0 (the first at line 8)"),
            std::string::npos)
      << log.text();
}

TEST(RangeQuirks, RngCountsAsDecimalsCommentsLeadingSpacesDecimalCommas) {
  const std::string text =
      "# written by a lab script\n  2 2\n  Fe\n  Fe 1,0 0,0 0,0\n# the oxygen\nO\nO 0 1 0\n"
      "   ------- Fe O\n  . 27,9 28,1 1.000 0.000\n . 43.8 44.2 1.0 1,0\n";
  EXPECT_EQ(aptflow::detect_range_format(text, "x.dat"), aptflow::RangeFormat::rng);
  const auto t = aptflow::parse_range_string(text, "decimals.rng");
  expect_table(t, {{27.9, 28.1, "Fe"}, {43.8, 44.2, "FeO"}}, "decimal counts");
  expect_line_error([] { aptflow::parse_rng_string("1 1\nFe\nFe 1 0 0\n--- Fe\n. 1 2 1.5\n", "x.rng"); }, 5,
                    "not a whole number");
}

TEST(RangeQuirks, RngIonsListedWithoutRanges) {
  // H and C are listed but never ranged alone: not ion types.
  const std::string text =
      "4 2\nFe\nFe 1 0 0\nH\nH 1 1 1\nC\nC 0 0 0\nO\nO 0 1 0\n------- Fe H C O\n"
      ". 28.4 28.6 1 1 0 0\n. 43.9 44.1 0 0 1 2\n";
  const auto t = aptflow::parse_rng_string(text, "unused.rng");
  ASSERT_EQ(t.num_types(), 2u);
  EXPECT_EQ(t.ion_types[0].name, "FeH");
  EXPECT_EQ(t.ion_types[1].name, "CO2");
}

TEST(RangeQuirks, CamecaDoubleRngWithPolyatomicBlock) {
  // 3Depict's "double RNG": a main table of elements, a separator line, then a
  // second table whose columns are the molecular ions. Here the main table's
  // AlH row is all zeros (it is named only in the polyatomic block) and the
  // AlO row restates the block's row.
  LogCapture log;
  const std::string text =
      "3 4\nAl\nAl 0.2 1.0 1.0\nH\nH 0.8 0.8 0.0\nO\nO 1.0 0.0 0.0\n------- Al H O\n"
      ". 26.9 27.1 1 0 0\n. 27.9 28.1 0 0 0\n. 42.9 43.1 1 0 1\n. 15.9 16.1 0 0 1\n"
      "--------------- polyatomic extension\n2 2\nAlH\nAlH 0.5 0.5 0.5\nAlO\nAlO 0.1 0.2 0.3\n---------- AlH "
      "AlO\n"
      ". 27.9 28.1 1 0\n. 42.9 43.1 0 1\n";
  const auto t = aptflow::parse_rng_string(text, "double.rng");
  expect_table(t, {{15.9, 16.1, "O"}, {26.9, 27.1, "Al"}, {27.9, 28.1, "AlH"}, {42.9, 43.1, "AlO"}},
               "double RNG");
  EXPECT_EQ(t.ion_types[t.ranges[2].ion_type].composition, (Composition{{"Al", 1}, {"H", 1}}));
}

// ---- RRNG

TEST(RangeQuirks, RrngDecimalCountsAnyCaseColorBeforeVolOrMissing) {
  const std::string text =
      "[ions]\nnumber=2\nion1=Al\nION2=O\n[RANGES]\nNUMBER=4\n"
      "Range1=26.90 27.10 Color:FF0000 Vol:0.01660 Al:1.000\n"
      "range2=15.90 16.10 o:1.0 vol:0.0200\n"  // element key in lower case is not an element: error below
      "Range3=42.90 43.10 Al:1 O:1.000\n"
      "Range4=13.40 13.60 Al:1\n";
  expect_line_error([&] { aptflow::parse_rrng_string(text, "quirks.rrng"); }, 8,
                    "not a chemical element symbol");
  std::string ok = text;
  ok.replace(ok.find("o:1.0"), 5, "O:1.0");
  const auto t = aptflow::parse_rrng_string(ok, "quirks.rrng");
  expect_table(t, {{13.4, 13.6, "Al"}, {15.9, 16.1, "O"}, {26.9, 27.1, "Al"}, {42.9, 43.1, "AlO"}},
               "rrng quirks");
  EXPECT_EQ(t.ion_types[0].color, "FF0000");
  EXPECT_DOUBLE_EQ(t.ion_types[0].volume, 0.0166);
  EXPECT_DOUBLE_EQ(t.ion_types[1].volume, 0.02);
  expect_line_error(
      [] { aptflow::parse_rrng_string("[Ions]\nNumber=0\n[Ranges]\nNumber=1\nRange1=1 2 Al:1.5\n", "x"); }, 5,
      "not a whole number");
}

TEST(RangeQuirks, RrngNameAloneOrBesideElementsCommentsLeadingSpaces) {
  const std::string text =
      "; exported by IVAS\n  [Ions]\n  Number=1\n  Ion1=Fe\n\n# ranges follow\n  [Ranges]\n  Number=3\n"
      "  Range1=27.9 28.1 Vol:0.01177 Fe:1 Color:FF00FF\n"
      "  Range2=30.0 30.5 Vol:0 Name:noise Color:808080\n"
      "  Range3=35.9 36.1 Vol:0.02 Name:FeO_peak Fe:1 O:1\n";
  const auto t = aptflow::parse_rrng_string(text, "names.rrng");
  expect_table(t, {{27.9, 28.1, "Fe"}, {30.0, 30.5, "noise"}, {35.9, 36.1, "FeO_peak"}}, "names");
  EXPECT_TRUE(t.ion_types[t.ranges[1].ion_type].composition.empty());
  EXPECT_EQ(t.ion_types[t.ranges[2].ion_type].composition, (Composition{{"Fe", 1}, {"O", 1}}));
}

TEST(RangeQuirks, RrngIonsListedWithoutRangesAndDecimalComma) {
  const std::string text =
      "[Ions]\nNumber=3\nIon1=H\nIon2=Ni\nIon3=O\n[Ranges]\nNumber=1\n"
      "Range1=57,594 64,186 Vol:0,01094 Ni:1 Color:00CC00\n";
  const auto t = aptflow::parse_rrng_string(text, "comma.rrng");
  ASSERT_EQ(t.num_types(), 1u);
  expect_table(t, {{57.594, 64.186, "Ni"}}, "comma");
  EXPECT_DOUBLE_EQ(t.ion_types[0].volume, 0.01094);
}

// ---- ENV

TEST(RangeQuirks, EnvLeadingSpacesCommentsAndCustomIons) {
  const std::string text =
      "#  ENV written by a lab\n  Rev_2.0\n#\n  2  2\n  O 0 1 0\n  Hyd 1 1 1\n# ranges\n"
      "  O   15.88 16.84 20.0 1.0\n  Hyd  1.0 1.1 11.66 1.0\n";
  const auto t = aptflow::parse_range_string(text, "lab.env");
  expect_table(t, {{1.0, 1.1, "Hyd"}, {15.88, 16.84, "O"}}, "env");
  EXPECT_DOUBLE_EQ(t.ion_types[0].volume, 0.02);  // A^3 -> nm^3
}

// ---- atom-count limit (fuzz finding, rng: an accepted RNG table the RRNG reader rejected)

TEST(RangeQuirks, AtomsOfOneElementPerIonStayWithinTheLimitEveryReaderAccepts) {
  // The same element from two columns adds up: 2 x 'H2' + 1 x 'H' = 5 H (accepted,
  // and the table reads back from RRNG); 4000 x 'H2' + 2001 x 'H' = 10001 H is more
  // than any reader accepts, so the RNG reader rejects it at its row.
  const auto rng = [](int h2, int h) {
    return "2 2\nH2\nH2 0.2 1.0 1.0\nH\nH 0.8 0.8 0.0\n----------- H2 H\n. 1.0 1.1 0 1\n. 5.0 5.1 " +
           std::to_string(h2) + " " + std::to_string(h) + "\n";
  };
  const auto ok = aptflow::parse_rng_string(rng(2, 1), "h.rng");
  expect_table(ok, {{1.0, 1.1, "H"}, {5.0, 5.1, "H5"}}, "H2 + H");
  const auto back = aptflow::parse_rrng_string(aptflow::format_rrng(ok), "h.rrng");
  expect_table(back, {{1.0, 1.1, "H"}, {5.0, 5.1, "H5"}}, "read back");
  const auto at_limit = aptflow::parse_rng_string(rng(4000, 2000), "h.rng");
  EXPECT_EQ(at_limit.ion_types[at_limit.ranges[1].ion_type].composition,
            (Composition{{"H", aptflow::kMaxAtomsPerElement}}));
  expect_line_error([&] { aptflow::parse_rng_string(rng(4000, 2001), "h.rng"); }, 8,
                    "more than 10000 H atoms");
  // One column alone: 5001 x 'H2'.
  expect_line_error([&] { aptflow::parse_rng_string(rng(5001, 0), "h.rng"); }, 8, "10002 H atoms");
  // RRNG: the same element twice in a range line adds up too.
  expect_line_error(
      [] {
        aptflow::parse_rrng_string(
            "[Ions]\nNumber=1\nIon1=H\n[Ranges]\nNumber=1\nRange1=1.0 1.1 H:6000 H:6000\n", "h.rrng");
      },
      6, "more than 10000 H atoms");
  // A table from elsewhere (HDF5 ranging) is checked by validate_range_table.
  RangeTable t;
  t.ion_types.push_back({"Hx", {{"H", aptflow::kMaxAtomsPerElement + 1}}, "", 0});
  t.ranges.push_back({1.0, 1.1, 0, 0});
  EXPECT_THROW(aptflow::validate_range_table(t), InputError);
}
