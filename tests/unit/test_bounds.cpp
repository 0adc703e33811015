// The one bounds function (core/bounds.hpp): against a plain loop on random
// clouds, merge of parts = bounds of the whole, and the empty cloud's empty box
// (lo = +inf, hi = -inf) that every consumer accepts.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>

#include "aptflow/core/bounds.hpp"
#include "aptflow/kernels/cell_list.hpp"
#include "aptflow/kernels/voxelize.hpp"

using namespace aptflow;

namespace {

using Exec = Kokkos::DefaultHostExecutionSpace;

HostIonCloud random_cloud(IonIndex n, unsigned seed) {
  HostIonCloud c(n, "test.bounds");
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-50.f, 70.f);
  for (IonIndex i = 0; i < n; ++i)
    c.x(i) = u(rng), c.y(i) = u(rng) * 0.5f, c.z(i) = u(rng) + 3.f, c.mq(i) = 1.f;
  return c;
}

HostIonCloud part(const HostIonCloud& c, IonIndex b, IonIndex e) {
  HostIonCloud p(e - b, "test.part");
  for (IonIndex i = b; i < e; ++i) p.x(i - b) = c.x(i), p.y(i - b) = c.y(i), p.z(i - b) = c.z(i);
  return p;
}

}  // namespace

TEST(Bounds, MatchPlainLoopAndMergeOfParts) {
  for (unsigned seed = 1; seed <= 5; ++seed) {
    const IonIndex n = 1 + 997 * seed;
    const HostIonCloud c = random_cloud(n, seed);
    const Box b = cloud_bounds(Exec(), c);
    const Kokkos::View<float*, Kokkos::HostSpace> axes[3] = {c.x, c.y, c.z};
    for (int a = 0; a < 3; ++a) {
      float lo = std::numeric_limits<float>::max(), hi = std::numeric_limits<float>::lowest();
      for (IonIndex i = 0; i < n; ++i) lo = std::min(lo, axes[a](i)), hi = std::max(hi, axes[a](i));
      EXPECT_EQ(b.lo[a], lo);
      EXPECT_EQ(b.hi[a], hi);
    }
    EXPECT_FALSE(b.is_empty());
    // Parts, one of them empty, merge into the whole.
    const IonIndex k = n / 3;
    Box m = merge(cloud_bounds(Exec(), part(c, 0, k)), cloud_bounds(Exec(), part(c, k, k)));
    m = merge(m, cloud_bounds(Exec(), part(c, k, n)));
    for (int a = 0; a < 3; ++a) {
      EXPECT_EQ(m.lo[a], b.lo[a]);
      EXPECT_EQ(m.hi[a], b.hi[a]);
    }
  }
}

TEST(Bounds, EmptyCloudHasTheEmptyBox) {
  const HostIonCloud none(0, "test.none");
  const Box e = cloud_bounds(Exec(), none);
  EXPECT_TRUE(e.is_empty());
  for (int a = 0; a < 3; ++a) {
    EXPECT_EQ(e.lo[a], std::numeric_limits<float>::infinity());
    EXPECT_EQ(e.hi[a], -std::numeric_limits<float>::infinity());
  }
  // The identity of merge: a single ion's box is kept, never widened to the origin.
  HostIonCloud one(1, "test.one");
  one.x(0) = 5.f, one.y(0) = -7.f, one.z(0) = 9.f;
  const Box m = merge(e, cloud_bounds(Exec(), one));
  EXPECT_FALSE(m.is_empty());
  EXPECT_EQ(m.lo[0], 5.f);
  EXPECT_EQ(m.hi[1], -7.f);
  EXPECT_EQ(m.lo[2], 9.f);
  // Default Box (a point at the origin) is not empty.
  EXPECT_FALSE(Box{}.is_empty());
  // Consumers: a cell grid of one cell, a composition grid of no voxels.
  const CellGrid g = make_cell_grid(e, 1.0);
  EXPECT_EQ(g.num_cells(), 1);
  const auto cl = build_cell_list(Exec(), none, g);
  EXPECT_EQ(cl.size(), 0);
  const CompositionGeometry cg = composition_geometry(e, CompositionSpec{1.0, 2});
  EXPECT_EQ(cg.voxels(), 0);
  EXPECT_EQ(voxelize_composition(Exec(), none, CompositionSpec{1.0, 2}).counts.size(), 0u);
}
