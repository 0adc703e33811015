// Cell list on TEST_EXECSPACE: the counting sort is a permutation grouped by
// cell with the cloud order inside each cell (on every backend), and every
// ion within r of an ion is found in its neighbour rows (counted in a kernel).
#include <gtest/gtest.h>

#include <algorithm>

#include "aptflow/kernels/cell_list.hpp"
#include "kernel_test_util.hpp"

namespace {
using namespace aptflow;
using Exec = TEST_EXECSPACE;
using Mem = Exec::memory_space;
}  // namespace

TEST(TEST_CATEGORY, cell_list_is_a_permutation_in_cloud_order_per_cell) {
  const auto p = test::random_cloud(11, 3000, 7.0f);
  const auto cloud = test::to_cloud<Mem>(p);
  const CellGrid g = make_cell_grid(cloud_bounds(Exec(), cloud), 1.5);
  for (int species : {-1, 0, 2}) {
    const auto cl = build_cell_list(Exec(), cloud, g, species);
    const auto start = test::host_vector(cl.start), ion = test::host_vector(cl.ion);
    const auto x = test::host_vector(cl.x), y = test::host_vector(cl.y), z = test::host_vector(cl.z);
    std::vector<std::int64_t> expect;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (species < 0 || p.s[i] == species) expect.push_back(static_cast<std::int64_t>(i));
    ASSERT_EQ(cl.size(), static_cast<std::int64_t>(expect.size()));
    ASSERT_EQ(start[g.num_cells()], cl.size());
    for (std::int64_t c = 0; c < g.num_cells(); ++c) {
      ASSERT_LE(start[c], start[c + 1]);
      ASSERT_TRUE(std::is_sorted(ion.begin() + start[c], ion.begin() + start[c + 1])) << "cell " << c;
      for (std::int64_t s = start[c]; s < start[c + 1]; ++s) {
        const auto i = static_cast<std::size_t>(ion[s]);
        ASSERT_EQ(g.cell_of(p.x[i], p.y[i], p.z[i]), c);
        ASSERT_EQ(x[s], p.x[i]);
        ASSERT_EQ(y[s], p.y[i]);
        ASSERT_EQ(z[s], p.z[i]);
      }
    }
    // Grouped by cell and ordered inside: the whole list is the sorted
    // selection only when read cell by cell, so compare as sets too.
    auto sorted = ion;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, expect);
  }
}

namespace aptflow::ktest {
// Per ion, the number of ions within r found in its neighbour rows (exact
// float test), counted in a kernel on Exec. A template in a named namespace:
// nvcc accepts device lambdas there (not in gtest's private TestBody).
template <class Exec>
std::vector<std::int32_t> count_neighbours(const IonCloud<typename Exec::memory_space>& cloud,
                                           const CellList<typename Exec::memory_space>& cl, float r) {
  using Mem = typename Exec::memory_space;
  Kokkos::View<std::int32_t*, Mem> found("found", cloud.size());
  const auto xs = cloud.x, ys = cloud.y, zs = cloud.z;
  const auto start = cl.start;
  const auto cx = cl.x, cy = cl.y, cz = cl.z;
  const CellGrid g = cl.grid;
  const float r2 = r * r;
  const double rd = r;
  Kokkos::parallel_for(
      "test::neighbours", Kokkos::RangePolicy<Exec>(0, cloud.size()), KOKKOS_LAMBDA(const std::int64_t i) {
        const float px = xs(i), py = ys(i), pz = zs(i);
        std::int32_t n = 0;
        detail::for_each_neighbour_row(g, start, px, py, pz, rd, [&](std::int64_t b, std::int64_t e) {
          for (std::int64_t k = b; k < e; ++k) {
            const float dx = cx(k) - px, dy = cy(k) - py, dz = cz(k) - pz;
            n += dx * dx + dy * dy + dz * dz <= r2;
          }
        });
        found(i) = n;
      });
  return test::host_vector(found);
}
}  // namespace aptflow::ktest

TEST(TEST_CATEGORY, cell_list_neighbour_rows_hold_every_neighbour) {
  const auto p = test::random_cloud(21, 2500, 6.0f);
  const auto cloud = test::to_cloud<Mem>(p);
  Box box;  // nominal [0, 6]^3: some ions lie outside and are clamped
  for (int a = 0; a < 3; ++a) box.hi[a] = 6.0f;
  const float r = 1.5f;
  std::vector<std::int32_t> want(p.size(), 0);
  for (std::size_t i = 0; i < p.size(); ++i)
    for (std::size_t j = 0; j < p.size(); ++j)
      want[i] += test::reference_within(p.x[j] - p.x[i], p.y[j] - p.y[i], p.z[j] - p.z[i], r);
  std::int64_t total = 0;
  for (auto v : want) total += v;
  EXPECT_GT(total, 100000);
  for (int reach : {1, 2, 3}) {
    const auto cl = build_cell_list(Exec(), cloud, make_cell_grid(box, r, reach), -1);
    EXPECT_EQ(ktest::count_neighbours<Exec>(cloud, cl, r), want) << "reach " << reach;
  }
}
