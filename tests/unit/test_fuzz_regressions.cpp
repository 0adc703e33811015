// Every input the libFuzzer targets once crashed on (tests/fuzz/regressions/
// <target>/, tests/fuzz/README.md), replayed through the same checks as the
// range-file targets: the parser either raises aptflow::Error or returns a
// table that is valid and reads back from RRNG with the same ranges.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "aptflow/core/error.hpp"
#include "aptflow/core/range_table.hpp"
#include "aptflow/io/range_file.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;

aptflow::RangeTable parse(const std::string& target, const std::string& text,
                          const aptflow::RangeOptions& o) {
  if (target == "rrng") return aptflow::parse_rrng_string(text, "regression.rrng", o);
  if (target == "rng") return aptflow::parse_rng_string(text, "regression.rng", o);
  return aptflow::parse_env_string(text, "regression.env", o);
}

}  // namespace

TEST(FuzzRegressions, RangeFileInputsGiveAnErrorOrATableThatReadsBack) {
  const fs::path root = aptflow::test::source_dir() / "tests" / "fuzz" / "regressions";
  int replayed = 0;
  for (const std::string target : {"rrng", "rng", "env"}) {
    if (!fs::is_directory(root / target)) continue;
    for (const auto& e : fs::directory_iterator(root / target)) {
      SCOPED_TRACE(e.path().string());
      const std::string text = aptflow::test::read_text(e.path());
      for (const auto policy : {aptflow::OverlapPolicy::error, aptflow::OverlapPolicy::first_wins}) {
        aptflow::RangeOptions o;
        o.overlap = policy;
        aptflow::RangeTable t;
        try {
          t = parse(target, text, o);
        } catch (const aptflow::Error&) {
          continue;  // rejected with a message: fine
        }
        ASSERT_NO_THROW(aptflow::validate_range_table(t));
        std::string rrng;
        try {
          rrng = aptflow::format_rrng(t);
        } catch (const aptflow::Error&) {
          continue;  // a name RRNG cannot store
        }
        aptflow::RangeTable back;
        ASSERT_NO_THROW(back = aptflow::parse_rrng_string(rrng, "roundtrip.rrng")) << rrng;
        ASSERT_EQ(back.ranges.size(), t.ranges.size());
        for (std::size_t i = 0; i < t.ranges.size(); ++i) {
          EXPECT_EQ(back.ranges[i].lo, t.ranges[i].lo);
          EXPECT_EQ(back.ranges[i].hi, t.ranges[i].hi);
          EXPECT_EQ(back.ion_types[back.ranges[i].ion_type].name, t.ion_types[t.ranges[i].ion_type].name);
        }
      }
      ++replayed;
    }
  }
  if (replayed == 0) GTEST_SKIP() << "no regression inputs under " << root;
}
