// parse_classify_config: every key read, defaults, and errors that name the key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <cmath>

#include "aptflow/core/error.hpp"
#include "aptflow/pipeline/classify.hpp"
#include "test_util.hpp"

using aptflow::Config;
using aptflow::ConfigError;
using aptflow::parse_classify_config;

namespace {

const char* kBase = R"(
input = "a.pos"
range = "a.rrng"
model = "m.h5"
output = "out.h5"
)";

std::string error_key(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    Config cfg = Config::from_string(text);
    cfg.apply_overrides(sets);
    (void)parse_classify_config(cfg);
  } catch (const ConfigError& e) {
    return e.key();
  }
  return "<no error>";
}

}  // namespace

TEST(ClassifyConfig, DefaultsAndOverrides) {
  Config cfg = Config::from_string(kBase);
  cfg.apply_overrides({"model=[\"a.h5\", \"b.h5\"]", "windows.variant=feal", "windows.stride=0.25",
                       "segment.thresholds=[inf, 3.5, 2.0]", "domains.eps=0.6", "domains.min_samples=5",
                       "windows.chunk=17", "pair=\"Fe-Al\""});
  const auto o = parse_classify_config(cfg);
  EXPECT_EQ(o.input, "a.pos");
  EXPECT_EQ(o.range, "a.rrng");
  EXPECT_EQ(o.output, "out.h5");
  EXPECT_EQ(o.models, (std::vector<std::string>{"a.h5", "b.h5"}));
  EXPECT_EQ(o.pairs, std::vector<std::string>{"Fe-Al"});
  EXPECT_EQ(o.variant, aptflow::WindowVariant::feal);
  EXPECT_DOUBLE_EQ(o.edge, 1.0);
  EXPECT_DOUBLE_EQ(o.stride, 0.25);
  EXPECT_EQ(o.chunk, 17);
  ASSERT_EQ(o.segment.thresholds.size(), 3u);
  EXPECT_TRUE(std::isinf(o.segment.thresholds[0]));
  EXPECT_DOUBLE_EQ(o.segment.thresholds[1], 3.5);
  EXPECT_DOUBLE_EQ(o.segment.thresholds[2], 2.0);
  EXPECT_DOUBLE_EQ(o.segment.ion_radius, 0.25 / 2 * 1.414);
  EXPECT_DOUBLE_EQ(o.segment.domains.eps, 0.6);
  EXPECT_EQ(o.segment.domains.min_samples, 5);
  EXPECT_NE(o.config_text.find("a.pos"), std::string::npos);
  EXPECT_NE(o.config_text.find("inf"), std::string::npos) << o.config_text;

  const auto d = parse_classify_config(Config::from_string(kBase));
  EXPECT_EQ(d.models, (std::vector<std::string>{"m.h5"}));
  EXPECT_EQ(d.variant, aptflow::WindowVariant::cocrni);
  EXPECT_EQ(d.pairs, std::vector<std::string>{"Al-Al"});
  ASSERT_EQ(d.segment.thresholds.size(), 2u);  // CoCrNi defaults {inf, 3.75}
  EXPECT_DOUBLE_EQ(d.segment.thresholds[1], 3.75);
  EXPECT_DOUBLE_EQ(d.segment.domains.eps, 0.4);
}

TEST(ClassifyConfig, ErrorsNameTheKey) {
  EXPECT_EQ(error_key("range = \"r\"\nmodel = \"m\"\noutput = \"o\"\n"), "input");
  EXPECT_EQ(error_key("input = \"i\"\nrange = \"r\"\noutput = \"o\"\n"), "model");
  EXPECT_EQ(error_key(kBase, {"model=[]"}), "model");
  EXPECT_EQ(error_key(kBase, {"windwos.edge=1.0"}), "windwos.edge");  // typo: unknown key
  EXPECT_EQ(error_key(kBase, {"pair=AlAl"}), "pair");
  EXPECT_EQ(error_key(kBase, {"pair=[\"Al-Al\", \"Li\"]"}), "pair");
  EXPECT_EQ(error_key(kBase, {"pair=[\"Al-Al\", \"Al-Al\"]"}), "pair");  // twice
  EXPECT_EQ(error_key(kBase, {"pair=[]"}), "pair");
  EXPECT_EQ(error_key(kBase, {"pair=[\"Al-Al\", \"Li-Li\"]"}), "<no error>");
  EXPECT_EQ(error_key(kBase, {"windows.variant=hexagonal"}), "windows.variant");
  EXPECT_EQ(error_key(kBase, {"windows.chunk=0"}), "windows.chunk");
  EXPECT_EQ(error_key(kBase, {"windows.stride=-1.0"}), "windows.edge");
  EXPECT_EQ(error_key(kBase), "<no error>");
}

TEST(ClassifyConfig, ShippedConfigParses) {
  const auto o = parse_classify_config(
      Config::from_file((aptflow::test::source_dir() / "configs/classify/alli_l12.toml").string()));
  ASSERT_EQ(o.models.size(), 1u);
  // Resolved from the repository root (resolve_model_path), whatever the working directory.
  EXPECT_TRUE(std::filesystem::exists(o.models[0])) << "the shipped model is missing: " << o.models[0];
  EXPECT_EQ(std::filesystem::path(o.models[0]).filename(), "alli_l12_pairs_1dcnn.h5");
  EXPECT_EQ(o.pairs, (std::vector<std::string>{"Al-Al", "Li-Li", "Al-Li", "Li-Al"}));
  EXPECT_EQ(o.variant, aptflow::WindowVariant::feal);
  ASSERT_EQ(o.segment.thresholds.size(), 2u);
  EXPECT_TRUE(std::isinf(o.segment.thresholds[0]));
  EXPECT_DOUBLE_EQ(o.segment.thresholds[1], 10.5);
  EXPECT_EQ(o.segment.rule, aptflow::IonRule::interpolate);
  EXPECT_DOUBLE_EQ(o.segment.smoothing, o.stride);
  EXPECT_EQ(o.segment.composition.class_name, "L1_2");
  EXPECT_EQ(o.segment.composition.species, (std::vector<std::string>{"Li", "Mg"}));
  EXPECT_DOUBLE_EQ(o.segment.domains.detection_efficiency, 0.5);
}

TEST(ClassifyConfig, ControlAndRunControlKeys) {
  Config cfg = Config::from_string(kBase);
  cfg.apply_overrides({"control.shuffle_mq=3", "control.seed=99", "resume=true", "progress=false"});
  const auto o = parse_classify_config(cfg);
  EXPECT_EQ(o.shuffle_mq, 3);
  EXPECT_EQ(o.shuffle_seed, 99u);
  EXPECT_TRUE(o.resume);
  EXPECT_FALSE(o.progress);
  // resume / progress are left out of the stored text (a resumed run stores
  // the same configuration); everything else is in it.
  EXPECT_EQ(o.config_text.find("resume"), std::string::npos) << o.config_text;
  EXPECT_EQ(o.config_text.find("progress"), std::string::npos) << o.config_text;
  EXPECT_NE(o.config_text.find("shuffle_mq = 3"), std::string::npos) << o.config_text;
  const auto d = parse_classify_config(Config::from_string(kBase));
  EXPECT_EQ(d.shuffle_mq, 0);
  EXPECT_FALSE(d.resume);
  Config with = Config::from_string(kBase);
  with.apply_overrides({"resume=true"});
  EXPECT_EQ(parse_classify_config(with).config_text, d.config_text);
  EXPECT_EQ(error_key(kBase, {"control.shuffle_mq=-1"}), "control.shuffle_mq");
  // device: a run-control key too (the same run on a GPU or on the host).
  EXPECT_EQ(d.device, aptflow::DeviceChoice::automatic);
  Config on_host = Config::from_string(kBase);
  on_host.apply_overrides({"device=\"host\""});
  const auto h = parse_classify_config(on_host);
  EXPECT_EQ(h.device, aptflow::DeviceChoice::host);
  EXPECT_EQ(h.config_text, d.config_text);
  EXPECT_EQ(error_key(kBase, {"device=\"tpu\""}), "device");
  EXPECT_EQ(aptflow::classify_checkpoint_path("a/out.h5"), "a/out.h5.checkpoint.h5");
}

TEST(ClassifyConfig, RelativeModelFoundBesideTheConfigOrItsParents) {
  aptflow::test::TempDir dir;
  namespace fs = std::filesystem;
  fs::create_directories(dir / "proj" / "configs" / "classify");
  fs::create_directories(dir / "proj" / "models");
  std::ofstream(dir / "proj" / "models" / "m.h5") << "x";
  std::ofstream(dir / "proj" / "configs" / "classify" / "local.h5") << "x";
  const std::string cfg = (dir / "proj" / "configs" / "classify" / "c.toml").string();
  // The test runs in the build tree, where neither relative path exists.
  ASSERT_FALSE(fs::exists("models/m.h5"));
  EXPECT_EQ(aptflow::resolve_model_path("models/m.h5", cfg),
            (fs::absolute(dir / "proj" / "models" / "m.h5")).lexically_normal().string());
  EXPECT_EQ(aptflow::resolve_model_path("local.h5", cfg),
            (fs::absolute(dir / "proj" / "configs" / "classify" / "local.h5")).lexically_normal().string());
  EXPECT_EQ(aptflow::resolve_model_path("models/absent.h5", cfg), "models/absent.h5");
  EXPECT_EQ(aptflow::resolve_model_path("/abs/m.h5", cfg), "/abs/m.h5");
  EXPECT_EQ(aptflow::resolve_model_path("models/m.h5", "<string>"), "models/m.h5");
  // The shipped config names the shipped model relative to the repository root.
  const auto shipped = aptflow::parse_classify_config(aptflow::Config::from_file(
      (aptflow::test::source_dir() / "configs" / "classify" / "alli_l12.toml").string()));
  for (const auto& m : shipped.models) EXPECT_TRUE(fs::exists(m)) << m;
}

namespace {

// The ConfigError key of SegmentSpec::validate (run by classify once the
// model's classes are known) after parsing, or "<no error>".
std::string validate_key(const std::vector<std::string>& sets) {
  Config cfg = Config::from_string(kBase);
  cfg.apply_overrides(sets);
  const auto o = parse_classify_config(cfg);
  try {
    o.segment.validate(2);
  } catch (const ConfigError& e) {
    return e.key();
  }
  return "<no error>";
}

}  // namespace

TEST(ClassifyConfig, InterpolateRuleAndCompositionKeys) {
  using aptflow::IonRule;
  const auto d = parse_classify_config(Config::from_string(kBase));
  EXPECT_EQ(d.segment.rule, IonRule::subcell);
  EXPECT_DOUBLE_EQ(d.segment.smoothing, d.stride);  // read and unused under subcell
  EXPECT_FALSE(d.segment.composition.enabled());

  // The interpolate rule: smoothing defaults to the stride.
  Config plain = Config::from_string(kBase);
  plain.apply_overrides({"segment.rule=\"interpolate\"", "windows.stride=0.25"});
  const auto p = parse_classify_config(plain);
  EXPECT_EQ(p.segment.rule, IonRule::interpolate);
  EXPECT_DOUBLE_EQ(p.segment.smoothing, 0.25);
  EXPECT_FALSE(p.segment.composition.enabled());
  EXPECT_EQ(validate_key({"segment.rule=\"interpolate\""}), "<no error>");

  // Every composition value read.
  Config full = Config::from_string(kBase);
  full.apply_overrides({"segment.rule=\"interpolate\"", "segment.smoothing=0.4",
                        "segment.composition.class=\"L1_2\"", "segment.composition.species=[\"Li\", \"Al\"]",
                        "segment.composition.radius=1.5", "segment.composition.weight=4.0",
                        "segment.composition.ion_weight=-0.5"});
  const auto f = parse_classify_config(full);
  EXPECT_DOUBLE_EQ(f.segment.smoothing, 0.4);
  const auto& e = f.segment.composition;
  EXPECT_TRUE(e.enabled());
  EXPECT_EQ(e.class_name, "L1_2");
  EXPECT_EQ(e.species, (std::vector<std::string>{"Li", "Al"}));
  EXPECT_DOUBLE_EQ(e.radius, 1.5);
  EXPECT_DOUBLE_EQ(e.weight, 4.0);
  EXPECT_DOUBLE_EQ(e.ion_weight, -0.5);
  EXPECT_NO_THROW(f.segment.validate(2));
  EXPECT_NE(f.config_text.find("L1_2"), std::string::npos) << f.config_text;
  // Defaults of the optional composition keys; one species as a string.
  Config some = Config::from_string(kBase);
  some.apply_overrides({"segment.rule=\"interpolate\"", "segment.composition.class=\"L1_2\"",
                        "segment.composition.species=\"Li\""});
  const auto s = parse_classify_config(some).segment.composition;
  EXPECT_EQ(s.species, std::vector<std::string>{"Li"});
  EXPECT_DOUBLE_EQ(s.radius, 1.2);
  EXPECT_DOUBLE_EQ(s.weight, 0.0);
  EXPECT_DOUBLE_EQ(s.ion_weight, 0.0);

  // Errors name the key.
  const std::string interp = "segment.rule=\"interpolate\"";
  const std::string cls = "segment.composition.class=\"L1_2\"", sp = "segment.composition.species=[\"Li\"]";
  EXPECT_EQ(error_key(kBase, {"segment.rule=\"nearest\""}), "segment.rule");
  EXPECT_EQ(error_key(kBase, {"segment.rule=\"subcell\""}), "<no error>");
  // smoothing is read and unused under subcell (a config written for
  // interpolate runs with --set segment.rule=subcell); composition is not.
  EXPECT_EQ(error_key(kBase, {"segment.smoothing=0.5"}), "<no error>");
  EXPECT_EQ(error_key(kBase, {"segment.rule=\"subcell\"", "segment.smoothing=0.5"}), "<no error>");
  EXPECT_EQ(error_key(kBase, {cls, sp}), "segment.composition.class");
  EXPECT_EQ(error_key(kBase, {"segment.composition.class=\"\"", sp}), "<no error>");
  EXPECT_EQ(error_key(kBase, {interp, "segment.ion_radius=0.3"}), "segment.ion_radius");
  EXPECT_EQ(error_key(kBase, {"segment.ion_radius=0.3"}), "<no error>");
  EXPECT_EQ(validate_key({interp, cls}), "segment.composition.species");
  EXPECT_EQ(error_key(kBase, {interp, sp}), "segment.composition.class");  // class missing
  // class "" = no composition evidence (the other keys stay unused).
  EXPECT_EQ(error_key(kBase, {interp, "segment.composition.class=\"\"", sp}), "<no error>");
  EXPECT_EQ(error_key(kBase, {interp, cls, sp, "segment.composition.wieght=1.0"}),
            "segment.composition.wieght");
  EXPECT_EQ(error_key(kBase, {interp, cls, sp}), "<no error>");
  // Values checked by SegmentSpec::validate.
  EXPECT_EQ(validate_key({interp, cls, "segment.composition.species=[]"}), "segment.composition.species");
  EXPECT_EQ(validate_key({interp, cls, sp, "segment.composition.radius=0.0"}), "segment.composition.radius");
  EXPECT_EQ(validate_key({interp, cls, sp, "segment.composition.weight=inf"}), "segment.composition.weight");
  EXPECT_EQ(validate_key({interp, "segment.smoothing=-0.5"}), "segment.smoothing");
  EXPECT_EQ(validate_key({interp, cls, sp}), "<no error>");
}
