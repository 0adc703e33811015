// Cell list: counting sort and 27-cell neighbour completeness against plain loops.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

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

TEST(CellList, CountingSortIsAPermutationGroupedByCell) {
  const auto p = test::random_cloud(11, 3000, 7.0f);
  const HostIonCloud cloud = test::to_ion_cloud(p);
  const CellGrid g = make_cell_grid(cloud_bounds(Exec(), cloud), 1.5);
  for (int species : {-1, 0, 2}) {
    const auto cl = build_cell_list(Exec(), cloud, g, species);
    std::vector<std::int64_t> expect;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (species < 0 || p.s[i] == species) expect.push_back(static_cast<std::int64_t>(i));
    ASSERT_EQ(cl.size(), static_cast<std::int64_t>(expect.size()));
    ASSERT_EQ(cl.start(g.num_cells()), cl.size());
    std::vector<std::int64_t> got(cl.ion.data(), cl.ion.data() + cl.size());
    for (std::int64_t c = 0; c < g.num_cells(); ++c) {
      ASSERT_LE(cl.start(c), cl.start(c + 1));
      // Serial: cloud order inside a cell (a threaded backend scatters in any order).
      if (aptflow::detail::kSerialExec<Exec>)
        EXPECT_TRUE(std::is_sorted(got.begin() + cl.start(c), got.begin() + cl.start(c + 1)));
      for (std::int64_t s = cl.start(c); s < cl.start(c + 1); ++s) {
        const auto i = static_cast<std::size_t>(cl.ion(s));
        ASSERT_EQ(g.cell_of(p.x[i], p.y[i], p.z[i]), c);
        ASSERT_EQ(cl.x(s), p.x[i]);
        ASSERT_EQ(cl.y(s), p.y[i]);
        ASSERT_EQ(cl.z(s), p.z[i]);
      }
    }
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, expect);
  }
}

// Every ion within r_cut of an ion is found in the pruned neighbour rows,
// for 1, 2 and 3 cells per r_cut, also for ions outside the grid's box
// (clamped into border cells) and on cell boundaries; pruning must prune.
TEST(CellList, NeighbourRowsHoldEveryNeighbour) {
  const auto p = test::random_cloud(21, 2500, 6.0f);
  const HostIonCloud cloud = test::to_ion_cloud(p);
  Box box;  // nominal [0, 6]^3: some ions lie outside
  for (int a = 0; a < 3; ++a) box.hi[a] = 6.0f;
  std::int64_t candidates[4] = {0, 0, 0, 0};
  for (int reach : {1, 2, 3}) {
    const CellGrid g = make_cell_grid(box, 1.5, reach);
    const auto cl = build_cell_list(Exec(), cloud, g, -1);
    std::int64_t found_total = 0;
    for (std::size_t i = 0; i < p.size(); i += 3) {
      detail::RowRanges rows;
      detail::neighbour_rows(g, cl.start, p.x[i], p.y[i], p.z[i], 1.5, rows);
      std::set<std::int64_t> found;
      for (int r = 0; r < rows.n; ++r)
        for (std::int64_t s = rows.b[r]; s < rows.e[r]; ++s) found.insert(cl.ion(s));
      candidates[reach] += static_cast<std::int64_t>(found.size());
      for (std::size_t j = 0; j < p.size(); ++j) {
        if (test::reference_within(p.x[j] - p.x[i], p.y[j] - p.y[i], p.z[j] - p.z[i], 1.5f)) {
          ASSERT_TRUE(found.count(static_cast<std::int64_t>(j)))
              << "ion " << j << " near " << i << " missed, reach " << reach;
          ++found_total;
        }
      }
    }
    EXPECT_GT(found_total, 10000);
  }
  EXPECT_LT(candidates[2], candidates[1]);
  EXPECT_LT(candidates[3], candidates[2]);
}
