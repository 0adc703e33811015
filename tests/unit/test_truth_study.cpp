// A small version of the ground-truth study (docs/ground-truth.md): a 2.5 nm
// L1_2 specimen of configs/synth/truth_r25.toml, cut down, classified with the
// shipped configs/classify/alli_l12.toml and its model, scored with truth=...
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "aptflow/io/h5.hpp"
#include "test_util.hpp"

namespace h5 = aptflow::h5;

TEST(TruthStudy, ShippedConfigFindsTheDomainsOfASmall25nmSpecimen) {
  aptflow::test::TempDir dir;
  const auto src = aptflow::test::source_dir().string();
  const auto exe = aptflow::test::aptflow_exe();
  const auto out = dir.path().string();
  const auto gen =
      aptflow::test::run_command(exe + " synth specimen --config " + src +
                                 "/configs/synth/truth_r25.toml --set 'specimen.size=[14.0,14.0,20.0]' "
                                 "--set domains.delta_prime.count=4 --set seed=4242 --set name=small --out " +
                                 out);
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  const auto run = aptflow::test::run_command(
      "cd " + src + " && " + exe + " classify --config configs/classify/alli_l12.toml --set input=" + out +
      "/small.pos --set range=" + out + "/small.rrng --set output=" + out + "/small.h5 --set truth=" + out +
      "/small_truth.h5 --set progress=false");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto f = h5::File::open(out + "/small.h5");
  ASSERT_EQ(h5::read_strings(f, "/entry1/truth/class_names"), std::vector<std::string>{"L1_2"});
  const double f1 = h5::read<double>(f, "/entry1/truth/f1").at(0);
  const double precision = h5::read<double>(f, "/entry1/truth/precision").at(0);
  const double recall = h5::read<double>(f, "/entry1/truth/recall").at(0);
  const auto true_domains = h5::read<std::int64_t>(f, "/entry1/truth/true_domains").at(0);
  const auto matched = h5::read<std::int64_t>(f, "/entry1/truth/matched_domains").at(0);
  const auto detected = h5::read<std::int64_t>(f, "/entry1/truth/detected_domains").at(0);
  const double matched_error = h5::read<double>(f, "/entry1/truth/matched_radius_error").at(0);
  // The full study (30 x 30 x 60 nm, 32 domains) reaches F1 0.81; this small
  // specimen 0.802 - 0.813 over seeds 1, 2, 3, 5, 6, 4242 (precision 0.81 - 0.83,
  // recall 0.78 - 0.81) with 4 of 4 domains detected and matched and the mean
  // radius within 2.3 % (docs/ground-truth.md). Random labels at this volume
  // fraction (6.5 % of the ions) would give F1 ~ 0.07; the subcell rule with the
  // same model 0.78 - 0.79, the Al-Al-only model 0.72 - 0.77.
  EXPECT_GE(f1, 0.79) << run.output;
  EXPECT_GE(precision, 0.77) << run.output;
  EXPECT_GE(recall, 0.76) << run.output;
  EXPECT_EQ(true_domains, 4);
  EXPECT_EQ(matched, true_domains) << run.output;
  EXPECT_LE(detected, true_domains + 2) << run.output;
  EXPECT_LT(std::abs(matched_error), 0.05) << run.output;
}
