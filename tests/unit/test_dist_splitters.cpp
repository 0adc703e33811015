// Splitter choice of the z sample sort against a brute-force search.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "aptflow/dist/decomposition.hpp"

using namespace aptflow;
using aptflow::dist::detail::ZSample;

namespace {
// Candidates v: every distinct sample value and +inf; below(v) = total weight
// of the samples with z < v (computed by a full scan); pick the first v of
// smallest |below(v) - j * total / p|.
std::vector<float> brute_splitters(const std::vector<ZSample>& s, IonIndex total, int p) {
  std::vector<float> cand;
  for (const ZSample& x : s) cand.push_back(x.z);
  cand.push_back(std::numeric_limits<float>::infinity());
  std::sort(cand.begin(), cand.end());
  cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
  std::vector<float> out;
  for (int j = 1; j < p; ++j) {
    const IonIndex target = total * j / p;
    IonIndex best = -1;
    float bv = 0;
    for (const float v : cand) {
      IonIndex below = 0;
      for (const ZSample& x : s) below += x.z < v ? x.weight : 0;
      const IonIndex dist = below > target ? below - target : target - below;
      if (best < 0 || dist < best) best = dist, bv = v;
    }
    out.push_back(bv);
  }
  return out;
}
}  // namespace

TEST(DistSplitters, NearestWeightedQuantileLikeBruteForce) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 300; ++trial) {
    const int p = 1 + static_cast<int>(rng() % 9);
    const int m = static_cast<int>(rng() % 60);
    const int distinct = 1 + static_cast<int>(rng() % 20);
    std::vector<ZSample> s(m);
    IonIndex total = 0;
    for (ZSample& x : s) {
      x.z = trial % 3 == 0 ? float(rng() % distinct) * 0.25f
                           : std::uniform_real_distribution<float>(-5, 5)(rng);
      x.weight = 1 + static_cast<IonIndex>(rng() % (trial % 2 ? 3 : 50));
      total += x.weight;
    }
    std::stable_sort(s.begin(), s.end(), [](const ZSample& a, const ZSample& b) { return a.z < b.z; });
    const auto got = aptflow::dist::detail::choose_splitters(s, total, p);
    ASSERT_EQ(got, brute_splitters(s, total, p)) << "trial " << trial << " p " << p << " samples " << m;
  }
}
