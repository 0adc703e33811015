// Philox-4x32-10 counter-based stream: known answers, reproducibility,
// uniformity, normal moments, independence of keys.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <set>
#include <vector>

#include "aptflow/core/rng.hpp"

using namespace aptflow;

namespace {

U32x4 u4(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) { return U32x4{{a, b, c, d}}; }

void expect_block(const U32x4& got, const U32x4& want) {
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got.v[i], want.v[i]) << "word " << i;
}

}  // namespace

// Known-answer vectors of Philox-4x32-10 (Random123 distribution, kat_vectors).
TEST(SynthRng, PhiloxKnownAnswers) {
  expect_block(philox4x32_10(u4(0, 0, 0, 0), 0, 0), u4(0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8));
  expect_block(philox4x32_10(u4(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), 0xffffffff, 0xffffffff),
               u4(0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd));
  expect_block(philox4x32_10(u4(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), 0xa4093822, 0x299f31d0),
               u4(0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1));
}

TEST(SynthRng, ReproducibleAndKeyedByEveryField) {
  const auto a = random_bits(42, 7, 123456789012345ULL, RngPurpose::noise, 3);
  const auto b = random_bits(42, 7, 123456789012345ULL, RngPurpose::noise, 3);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a.v[i], b.v[i]);
  // Changing any one field changes about half of the 128 bits (avalanche).
  auto flips = [&](const U32x4& o) {
    int n = 0;
    for (int i = 0; i < 4; ++i) n += std::popcount(a.v[i] ^ o.v[i]);
    return n;
  };
  double sum = 0;
  int trials = 0;
  for (int bit = 0; bit < 64; ++bit) {
    sum += flips(random_bits(42ULL ^ (1ULL << bit), 7, 123456789012345ULL, RngPurpose::noise, 3));
    sum += flips(random_bits(42, 7, 123456789012345ULL ^ (1ULL << bit), RngPurpose::noise, 3));
    trials += 2;
  }
  for (int bit = 0; bit < 32; ++bit) {
    sum += flips(random_bits(42, 7u ^ (1u << bit), 123456789012345ULL, RngPurpose::noise, 3));
    ++trials;
  }
  for (int bit = 0; bit < 16; ++bit) {
    sum += flips(random_bits(42, 7, 123456789012345ULL, RngPurpose::noise, 3u ^ (1u << bit)));
    ++trials;
  }
  sum += flips(random_bits(42, 7, 123456789012345ULL, RngPurpose::site, 3));
  ++trials;
  EXPECT_NEAR(sum / trials, 64.0, 2.5);
}

TEST(SynthRng, UniformsAreUniformInOpenInterval) {
  const int n = 200000, bins = 100;
  std::vector<int> hist(bins, 0);
  double mean = 0, m2 = 0;
  for (int i = 0; i < n / 2; ++i) {
    const auto u = uniform2(random_bits(1, 0, static_cast<std::uint64_t>(i), RngPurpose::test));
    for (double v : {u.a, u.b}) {
      ASSERT_GT(v, 0.0);
      ASSERT_LT(v, 1.0);
      ++hist[static_cast<int>(v * bins)];
      mean += v;
      m2 += v * v;
    }
  }
  mean /= n;
  const double var = m2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.5, 4 * std::sqrt(1.0 / 12 / n));
  EXPECT_NEAR(var, 1.0 / 12, 0.002);
  double chi2 = 0;
  const double e = static_cast<double>(n) / bins;
  for (int h : hist) chi2 += (h - e) * (h - e) / e;
  // 99 degrees of freedom: mean 99, sd 14; 170 is p ~ 1e-5.
  EXPECT_LT(chi2, 170.0);
  EXPECT_GT(chi2, 50.0);  // too uniform is also suspicious
  // Extremes map inside (0, 1).
  EXPECT_GT(uniform_open(0, 0), 0.0);
  EXPECT_LT(uniform_open(0xffffffffu, 0xffffffffu), 1.0);
}

TEST(SynthRng, NormalMoments) {
  const int n = 400000;
  double s1 = 0, s2 = 0, s3 = 0, s4 = 0, maxabs = 0;
  int beyond2 = 0;
  for (int i = 0; i < n / 2; ++i) {
    const auto g = normal2(random_bits(99, 3, static_cast<std::uint64_t>(i), RngPurpose::noise));
    for (double v : {g.a, g.b}) {
      s1 += v;
      s2 += v * v;
      s3 += v * v * v;
      s4 += v * v * v * v;
      maxabs = std::max(maxabs, std::abs(v));
      beyond2 += std::abs(v) > 2.0;
    }
  }
  const double mean = s1 / n, var = s2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 4 / std::sqrt(n));
  EXPECT_NEAR(var, 1.0, 0.01);
  EXPECT_NEAR(s3 / n, 0.0, 0.03);
  EXPECT_NEAR(s4 / n, 3.0, 0.06);
  EXPECT_NEAR(static_cast<double>(beyond2) / n, 0.0455, 0.002);  // P(|Z| > 2)
  EXPECT_LE(maxabs, kMaxNormal);
}

TEST(SynthRng, StreamsOfDifferentKeysAreUncorrelated) {
  // Correlation of the uniforms of neighbouring atoms, seeds, samples and purposes.
  const int n = 100000;
  auto corr = [&](auto f, auto g) {
    double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; ++i) {
      const double a = f(i), b = g(i);
      sa += a;
      sb += b;
      sab += a * b;
      saa += a * a;
      sbb += b * b;
    }
    const double cov = sab / n - sa / n * sb / n;
    return cov / std::sqrt((saa / n - sa * sa / n / n) * (sbb / n - sb * sb / n / n));
  };
  auto u = [](std::uint64_t seed, std::uint32_t sample, std::uint64_t atom, RngPurpose p) {
    return uniform2(random_bits(seed, sample, atom, p)).a;
  };
  const double tol = 5 / std::sqrt(n);
  EXPECT_NEAR(corr([&](int i) { return u(5, 0, i, RngPurpose::site); },
                   [&](int i) { return u(5, 0, i + 1, RngPurpose::site); }),
              0.0, tol);
  EXPECT_NEAR(corr([&](int i) { return u(5, 0, i, RngPurpose::site); },
                   [&](int i) { return u(6, 0, i, RngPurpose::site); }),
              0.0, tol);
  EXPECT_NEAR(corr([&](int i) { return u(5, 0, i, RngPurpose::site); },
                   [&](int i) { return u(5, 1, i, RngPurpose::site); }),
              0.0, tol);
  EXPECT_NEAR(corr([&](int i) { return u(5, 0, i, RngPurpose::site); },
                   [&](int i) { return u(5, 0, i, RngPurpose::noise); }),
              0.0, tol);
  // The two normals of one block are uncorrelated.
  EXPECT_NEAR(corr([&](int i) { return normal2(random_bits(5, 0, i, RngPurpose::noise)).a; },
                   [&](int i) { return normal2(random_bits(5, 0, i, RngPurpose::noise)).b; }),
              0.0, tol);
  // No repeated blocks over many counters.
  std::set<std::uint64_t> seen;
  for (int i = 0; i < n; ++i) {
    const auto r = random_bits(5, 0, i, RngPurpose::site);
    seen.insert((static_cast<std::uint64_t>(r.v[0]) << 32) | r.v[1]);
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(n));
}
