#include <gtest/gtest.h>

#include "aptflow/core/config.hpp"
#include "aptflow/core/error.hpp"

using aptflow::Config;

TEST(Config, TypedGettersAndOverrides) {
  auto c = Config::from_string("seed = 3\n[synth]\nsigma_xy = [0.2, 0.4]\nname = 'x'\n");
  c.apply_overrides({"seed=7", "synth.eta=0.5", "synth.name=fcc", "new.table.key=\"s\""});
  EXPECT_EQ(c.get_int("seed"), 7);
  EXPECT_DOUBLE_EQ(c.get_double("synth.eta"), 0.5);
  EXPECT_EQ(c.get_string("synth.name"), "fcc");
  EXPECT_EQ(c.get_doubles("synth.sigma_xy"), (std::vector<double>{0.2, 0.4}));
  EXPECT_EQ(c.get_string("new.table.key"), "s");
  EXPECT_NO_THROW(c.check_all_used());
}

TEST(Config, UnknownKeyIsAnErrorNamingIt) {
  auto c = Config::from_string("seed = 3\n[synth]\nsigma_yx = 0.2\n");
  c.get_int("seed");
  c.get_double("synth.sigma_xy", 0.5);
  try {
    c.check_all_used();
    FAIL();
  } catch (const aptflow::ConfigError& e) {
    EXPECT_EQ(e.key(), "synth.sigma_yx");
  }
}

TEST(Config, WrongTypeAndMissingKey) {
  auto c = Config::from_string("seed = 'abc'\n");
  EXPECT_THROW(c.get_int("seed"), aptflow::ConfigError);
  EXPECT_THROW(c.get_double("missing"), aptflow::ConfigError);
  EXPECT_THROW(Config::from_string("a = = 3\n"), aptflow::InputError);
  EXPECT_THROW(c.apply_overrides({"novalue"}), aptflow::ConfigError);
}
