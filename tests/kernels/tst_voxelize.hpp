// Voxelisation kernels on TEST_EXECSPACE (instantiated in kernels/voxelize.cpp
// for the default host and default device spaces; other spaces skip) against
// brute-force binning: window occupancy grids and the composition grid.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <type_traits>

#include "aptflow/kernels/voxelize.hpp"
#include "kernel_test_util.hpp"

namespace aptflow::ktest {

template <class Exec>
inline constexpr bool kVoxelInstantiated = std::is_same_v<Exec, Kokkos::DefaultHostExecutionSpace> ||
                                           std::is_same_v<Exec, Kokkos::DefaultExecutionSpace>;

template <class Exec>
void check_window_voxels() {
  using Mem = typename Exec::memory_space;
  if constexpr (!kVoxelInstantiated<Exec>) {
    GTEST_SKIP() << "voxelize is instantiated for the default host and device spaces only";
  } else {
    const test::PlainCloud p = test::random_cloud(77, 20000, 9.0f);
    const auto cloud = test::to_cloud<Mem>(p);
    const std::int64_t nw = 40;
    Kokkos::View<float* [3], Kokkos::LayoutRight, Mem> centres("centres", nw);
    auto hc = Kokkos::create_mirror_view(centres);
    std::mt19937 rng(4);
    std::uniform_real_distribution<float> u(-1.0f, 10.0f);
    for (std::int64_t w = 0; w < nw; ++w)
      for (int a = 0; a < 3; ++a) hc(w, a) = w < 8 ? (a == 0 ? p.x : a == 1 ? p.y : p.z)[w * 31] : u(rng);
    Kokkos::deep_copy(centres, hc);
    const WindowVoxelSpec spec{1.5, 12, {2, 1}};
    const auto out = voxelize_windows(Exec(), cloud, WindowCentres<Mem>(centres), spec);
    const auto got = test::host_vector(out);
    const int G = spec.grid, C = 2;
    const double h = spec.edge / G;
    std::vector<float> want(got.size(), 0.0f);
    for (std::int64_t w = 0; w < nw; ++w)
      for (std::size_t i = 0; i < p.size(); ++i) {
        const int ch = p.s[i] == 2 ? 0 : p.s[i] == 1 ? 1 : -1;
        if (ch < 0) continue;
        const float pos[3] = {p.x[i], p.y[i], p.z[i]};
        std::int64_t v[3];
        bool in = true;
        for (int a = 0; a < 3; ++a) {
          const double t = std::floor((double(pos[a]) - (double(hc(w, a)) - 0.5 * spec.edge)) / h);
          in = in && t >= 0 && t < G;
          v[a] = static_cast<std::int64_t>(t);
        }
        if (in) want[(((w * G + v[2]) * G + v[1]) * G + v[0]) * C + ch] += 1.0f;
      }
    double total = 0;
    for (float v : want) total += v;
    EXPECT_GT(total, 1000);
    EXPECT_EQ(got, want);
  }
}

template <class Exec>
void check_composition() {
  using Mem = typename Exec::memory_space;
  if constexpr (!kVoxelInstantiated<Exec>) {
    GTEST_SKIP() << "voxelize is instantiated for the default host and device spaces only";
  } else {
    const test::PlainCloud p = test::random_cloud(78, 20000, 9.0f);
    const auto cloud = test::to_cloud<Mem>(p);
    const auto grid = voxelize_composition(Exec(), cloud, CompositionSpec{0.8, 3});
    const auto& g = grid.geometry;
    std::vector<std::int64_t> want(static_cast<std::size_t>(g.voxels() * g.channels), 0);
    for (std::size_t i = 0; i < p.size(); ++i) {
      const float pos[3] = {p.x[i], p.y[i], p.z[i]};
      std::int64_t v[3];
      for (int a = 0; a < 3; ++a)
        v[a] = static_cast<std::int64_t>(std::floor((double(pos[a]) - g.origin[a]) / g.edge));
      want[((v[2] * g.ny + v[1]) * g.nx + v[0]) * g.channels + p.s[i]] += 1;
    }
    EXPECT_EQ(test::host_vector(grid.counts), want);
  }
}

}  // namespace aptflow::ktest

TEST(TEST_CATEGORY, voxelize_window_grids_equal_brute_force) {
  aptflow::ktest::check_window_voxels<TEST_EXECSPACE>();
}

TEST(TEST_CATEGORY, voxelize_composition_equals_brute_force) {
  aptflow::ktest::check_composition<TEST_EXECSPACE>();
}
