// Cell list geometry and bounds. The counting sort and neighbour completeness
// on every backend: tests/kernels/tst_cell_list.hpp.
#include <gtest/gtest.h>

#include <algorithm>

#include "aptflow/core/error.hpp"
#include "aptflow/kernels/cell_list.hpp"
#include "test_sdm_reference.hpp"

using namespace aptflow;

namespace {
using Exec = Kokkos::DefaultHostExecutionSpace;
}

TEST(CellList, BoundsMatchPlainLoop) {
  const auto p = test::random_cloud(4, 777, 4.0f);
  const HostIonCloud cloud = test::to_ion_cloud(p);
  const Box b = cloud_bounds(Exec(), cloud);
  EXPECT_EQ(b.lo[0], *std::min_element(p.x.begin(), p.x.end()));
  EXPECT_EQ(b.hi[1], *std::max_element(p.y.begin(), p.y.end()));
  EXPECT_EQ(b.lo[2], *std::min_element(p.z.begin(), p.z.end()));
  EXPECT_EQ(b.hi[2], *std::max_element(p.z.begin(), p.z.end()));
}

TEST(CellList, GridGeometry) {
  Box box;
  box.lo[0] = -1;
  box.hi[0] = 5;
  box.hi[1] = 0;  // degenerate axis: one cell
  box.hi[2] = 1.5f;
  const CellGrid g = make_cell_grid(box, 1.5, 1);
  EXPECT_GE(g.edge, 1.5);
  EXPECT_LT(g.edge, 1.5 * 1.001);
  EXPECT_EQ(g.reach, 1);
  EXPECT_EQ(g.n[0], 4);  // ceil(6 / 1.50015) = ceil(3.9996)
  EXPECT_EQ(g.n[1], 1);
  EXPECT_EQ(g.n[2], 1);
  EXPECT_EQ(g.coord(0, -100.0f), 0);
  EXPECT_EQ(g.coord(0, 100.0f), g.n[0] - 1);
  const CellGrid h = make_cell_grid(box, 1.5);  // default: two cells per r_cut
  EXPECT_EQ(h.reach, 2);
  EXPECT_GE(h.edge * h.reach, 1.5);
  EXPECT_EQ(h.n[0], 8);  // ceil(6 / 0.750075)
  EXPECT_EQ(h.n[2], 2);
  EXPECT_THROW(make_cell_grid(box, 0.0), ConfigError);
  EXPECT_THROW(make_cell_grid(box, 1.5, 4), ConfigError);
}
