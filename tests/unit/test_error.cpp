#include <gtest/gtest.h>

#include "aptflow/core/error.hpp"

TEST(Error, InputErrorNamesFileOffsetAndReason) {
  auto e = aptflow::InputError::at_byte("a.pos", 1000003, "size is not a multiple of 16 bytes (truncated?)");
  EXPECT_STREQ(e.what(), "'a.pos': at byte 1000003: size is not a multiple of 16 bytes (truncated?)");
  EXPECT_EQ(e.location(), 1000003);
  auto l = aptflow::InputError::at_line("r.rrng", 12, "garbage");
  EXPECT_STREQ(l.what(), "'r.rrng': line 12: garbage");
}

TEST(Error, AssertReportsFileAndLine) {
  try {
    APTFLOW_ASSERT(1 + 1 == 3, "arithmetic");
    FAIL() << "no throw";
  } catch (const aptflow::InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("test_error.cpp"), std::string::npos);
  }
}
