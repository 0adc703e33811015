// The bucket-accelerated lookup must give exactly the binary search's answer.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "aptflow/kernels/ranging.hpp"

TEST(RangingBuckets, EqualsBinarySearchOnRandomTablesAndEdges) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 60; ++trial) {
    aptflow::RangeTable t;
    const int n = 1 + static_cast<int>(rng() % 300);
    std::uniform_real_distribution<double> gap(0.0, trial % 3 == 0 ? 0.002 : 2.0);
    std::uniform_real_distribution<double> width(1e-4, trial % 2 ? 0.05 : 1.5);
    double x = std::uniform_real_distribution<double>(0.0, 50.0)(rng);
    for (int k = 0; k < 5; ++k) t.ion_types.push_back({"T" + std::to_string(k), {{"H", k + 1}}});
    for (int i = 0; i < n; ++i) {
      const double lo = x + (rng() % 4 == 0 ? 0.0 : gap(rng));  // some ranges touch
      const double hi = lo + width(rng);
      t.ranges.push_back({lo, hi, static_cast<int>(rng() % 5), i + 1});
      x = hi;
    }
    const auto d = aptflow::make_device_range_table<Kokkos::HostSpace>(t);
    std::vector<float> probes;
    std::uniform_real_distribution<float> any(static_cast<float>(t.ranges.front().lo) - 1.f,
                                              static_cast<float>(x) + 1.f);
    for (int i = 0; i < 20000; ++i) probes.push_back(any(rng));
    for (const auto& r : t.ranges)
      for (double e : {r.lo, r.hi}) {
        const float f = static_cast<float>(e);
        probes.push_back(f);
        probes.push_back(std::nextafter(f, -INFINITY));
        probes.push_back(std::nextafter(f, INFINITY));
      }
    probes.push_back(std::numeric_limits<float>::quiet_NaN());
    probes.push_back(INFINITY);
    probes.push_back(-INFINITY);
    for (float m : probes)
      ASSERT_EQ(d.lookup(m), d.lookup_search(static_cast<double>(m))) << "trial " << trial << " m/q " << m;
  }
}
