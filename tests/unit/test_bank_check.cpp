// Bank check: the mean min-max-normalised z-SDM of each class and channel of
// the shipped Fe-Al library (subsampled: every 10th grid point) against the
// published synthetic bank (../shared/data/mlapt/feal_zsdm_bank.h5).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "aptflow/io/features.hpp"
#include "aptflow/io/h5.hpp"
#include "test_util.hpp"

using namespace aptflow;

namespace {

// Mean over rows of the per-row min-max normalised curves (flat rows -> 0).
std::vector<double> mean_minmax(const std::vector<float>& rows, std::size_t bins,
                                const std::vector<bool>& keep) {
  std::vector<double> m(bins, 0.0);
  std::size_t n = 0;
  for (std::size_t r = 0; r * bins < rows.size(); ++r) {
    if (!keep.empty() && !keep[r]) continue;
    const float* c = rows.data() + r * bins;
    double lo = c[0], hi = c[0];
    for (std::size_t k = 0; k < bins; ++k) lo = std::min(lo, double(c[k])), hi = std::max(hi, double(c[k]));
    for (std::size_t k = 0; k < bins; ++k) m[k] += hi > lo ? (c[k] - lo) / (hi - lo) : 0.0;
    ++n;
  }
  for (auto& v : m) v /= double(n);
  return m;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
  ma /= double(a.size());
  mb /= double(b.size());
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

}  // namespace

TEST(BankCheck, PearsonOfPerClassMeanCurves) {
  // The reference itself: identical curves correlate exactly, shifted ones do not.
  const std::vector<double> x{0, 1, 3, 2, 5, 4}, y{1, 0, 2, 3, 4, 5};
  EXPECT_NEAR(pearson(x, x), 1.0, 1e-12);
  EXPECT_LT(pearson(x, y), 0.9);
  EXPECT_NEAR(mean_minmax({2, 4, 6, 1, 1, 3}, 3, {})[1], (0.5 + 0.0) / 2, 1e-12);

  APTFLOW_REQUIRE_SHARED_DATA();
  const auto bank_path = test::shared_data_dir() / "mlapt" / "feal_zsdm_bank.h5";
  ASSERT_TRUE(std::filesystem::exists(bank_path)) << bank_path;
  test::TempDir dir;
  const auto lib = (dir / "feal.h5").string();
  const auto cfg = (test::source_dir() / "configs" / "synth" / "feal_bcc_b2_d03.toml").string();
  const auto r = test::run_command(test::aptflow_exe() + " synth library --config " + cfg +
                                   " --set library.subsample=10 --out " + lib + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto info = io::read_feature_info(lib);
  ASSERT_EQ(info.layout.samples, 500);
  auto bank = h5::File::open(bank_path.string());
  const char* classes[3][2] = {{"BCC", "BCC"}, {"B2", "B2"}, {"D0_3", "D03"}};
  const char* channels[2][2] = {{"Fe-Fe", "FeFe"}, {"Al-Al", "AlAl"}};
  for (int c = 0; c < 3; ++c) {
    ASSERT_EQ(info.layout.class_names[c], classes[c][0]);
    std::vector<bool> keep(info.labels.size());
    for (std::size_t i = 0; i < keep.size(); ++i) keep[i] = info.labels[i] == c;
    for (const auto& ch : channels) {
      const auto ours = mean_minmax(io::read_features(lib, "z", ch[0]), 93, keep);
      const auto theirs =
          mean_minmax(h5::read<float>(bank, std::string(classes[c][1]) + "/" + ch[1]), 93, {});
      const double rr = pearson(ours, theirs);
      std::printf("bank check %-5s %s: r = %.4f\n", classes[c][0], ch[0], rr);
      EXPECT_GE(rr, 0.98) << classes[c][0] << " " << ch[0];
    }
  }
}
