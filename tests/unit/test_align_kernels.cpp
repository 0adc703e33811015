// Rotation kernels of crystallographic alignment (include/aptflow/kernels/align.hpp):
// rotation_to_z on random poles (n -> z, orthonormal, smallest angle), the
// tilt/azimuth convention, whole-cloud and per-tile rotation against a plain
// double-precision reference on random clouds.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "aptflow/kernels/align.hpp"

using namespace aptflow;

namespace {
constexpr double kPi = 3.14159265358979323846;
}

TEST(AlignRotation, RotationToZTakesThePoleToZByTheSmallestAngle) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> t(0, 45), a(-180, 540);
  for (int trial = 0; trial < 200; ++trial) {
    const double tilt = t(rng), az = a(rng);
    const auto n = pole_direction(tilt, az);
    const Rotation r = rotation_to_z(n, {1, 2, 3});
    const auto z = r.turn(n);
    EXPECT_NEAR(z[0], 0, 1e-12);
    EXPECT_NEAR(z[1], 0, 1e-12);
    EXPECT_NEAR(z[2], 1, 1e-12);
    // Orthonormal with determinant +1.
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        double d = 0;
        for (int k = 0; k < 3; ++k) d += r.R[k][i] * r.R[k][j];
        EXPECT_NEAR(d, i == j ? 1.0 : 0.0, 1e-12);
      }
    const double det = r.R[0][0] * (r.R[1][1] * r.R[2][2] - r.R[1][2] * r.R[2][1]) -
                       r.R[0][1] * (r.R[1][0] * r.R[2][2] - r.R[1][2] * r.R[2][0]) +
                       r.R[0][2] * (r.R[1][0] * r.R[2][1] - r.R[1][1] * r.R[2][0]);
    EXPECT_NEAR(det, 1, 1e-12);
    // The smallest rotation: angle acos((trace - 1) / 2) equals the tilt, and
    // the rotation axis is horizontal (perpendicular to the azimuth plane).
    const double tr = r.R[0][0] + r.R[1][1] + r.R[2][2];
    EXPECT_NEAR(std::acos(std::clamp((tr - 1) / 2, -1.0, 1.0)) * 180 / kPi, tilt, 1e-7);
    // -n is the same pole.
    const Rotation r2 = rotation_to_z({-n[0], -n[1], -n[2]}, {1, 2, 3});
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) EXPECT_DOUBLE_EQ(r2.R[i][j], r.R[i][j]);
    // Tilt and azimuth read back.
    double t2 = 0, a2 = 0;
    tilt_azimuth(n, t2, a2);
    EXPECT_NEAR(t2, tilt, 1e-9);
    if (tilt > 1e-6) EXPECT_NEAR(std::remainder(a2 - az, 360.0), 0, 1e-7);
    EXPECT_GE(a2, 0);
    EXPECT_LT(a2, 360);
    // inverse() undoes it.
    const auto back = r.inverse().turn(z);
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(back[i], n[i], 1e-12);
  }
  EXPECT_TRUE(rotation_to_z({0, 0, 5}, {0, 0, 0}).is_identity());
  EXPECT_TRUE(rotation_to_z({0, 0, -1}, {0, 0, 0}).is_identity());
  // Tilt 10 towards +x is undone by -10 deg about +y: x' = cos x - sin z.
  const Rotation ry = rotation_to_z(pole_direction(10, 0), {0, 0, 0});
  EXPECT_NEAR(ry.R[0][0], std::cos(10 * kPi / 180), 1e-15);
  EXPECT_NEAR(ry.R[0][2], -std::sin(10 * kPi / 180), 1e-15);
  EXPECT_NEAR(ry.R[1][1], 1, 1e-15);
}

TEST(AlignRotation, PackUnpack) {
  const Rotation r = rotation_to_z(pole_direction(7, 33), {4, 5, 6});
  const auto p = r.pack();
  const Rotation s = Rotation::unpack(p.data());
  EXPECT_EQ(s.pack(), p);
  EXPECT_EQ(p[9], 4);
  EXPECT_EQ(p[11], 6);
}

TEST(AlignKernels, RotateCloudMatchesReference) {
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<float> u(-20, 60);
  const IonIndex n = 5000;
  HostIonCloud cloud(n);
  std::vector<float> x0(n), y0(n), z0(n);
  for (IonIndex i = 0; i < n; ++i) {
    cloud.x(i) = x0[i] = u(rng);
    cloud.y(i) = y0[i] = u(rng);
    cloud.z(i) = z0[i] = u(rng);
    cloud.mq(i) = 1;
  }
  const Rotation r = rotation_to_z(pole_direction(6.5, 250), {20, 20, 30});
  rotate_cloud(Kokkos::DefaultHostExecutionSpace(), cloud, r);
  for (IonIndex i = 0; i < n; ++i) {
    const double p[3] = {double(x0[i]) - 20, double(y0[i]) - 20, double(z0[i]) - 30};
    double q[3];
    for (int a = 0; a < 3; ++a) q[a] = r.centre[a] + r.R[a][0] * p[0] + r.R[a][1] * p[1] + r.R[a][2] * p[2];
    EXPECT_EQ(cloud.x(i), static_cast<float>(q[0]));
    EXPECT_EQ(cloud.y(i), static_cast<float>(q[1]));
    EXPECT_EQ(cloud.z(i), static_cast<float>(q[2]));
  }
  // The inverse brings the ions back to within float rounding.
  rotate_cloud(Kokkos::DefaultHostExecutionSpace(), cloud, r.inverse());
  for (IonIndex i = 0; i < n; ++i) EXPECT_NEAR(cloud.x(i), x0[i], 2e-5);
}

TEST(AlignKernels, RotateTilesUsesEachIonsTile) {
  std::mt19937_64 rng(23);
  std::uniform_real_distribution<float> u(-3, 33);
  TileRotations tiles;
  tiles.origin[0] = 0, tiles.origin[1] = 0, tiles.origin[2] = 0;
  tiles.edge[0] = 10, tiles.edge[1] = 10, tiles.edge[2] = 15;
  tiles.n[0] = 3, tiles.n[1] = 3, tiles.n[2] = 2;
  std::uniform_real_distribution<double> t(0, 10), a(0, 360);
  for (std::int64_t k = 0; k < tiles.size(); ++k) {
    const std::int64_t ix = k % 3, iy = (k / 3) % 3, iz = k / 9;
    tiles.rotations.push_back(
        rotation_to_z(pole_direction(t(rng), a(rng)), {ix * 10 + 5.0, iy * 10 + 5.0, iz * 15 + 7.5}));
  }
  const IonIndex n = 4000;
  HostIonCloud cloud(n);
  std::vector<float> x0(n), y0(n), z0(n);
  for (IonIndex i = 0; i < n; ++i) {
    cloud.x(i) = x0[i] = u(rng);
    cloud.y(i) = y0[i] = u(rng);
    cloud.z(i) = z0[i] = u(rng);
  }
  Kokkos::View<std::int64_t*, Kokkos::HostSpace> which("which", n);
  rotate_cloud_tiles(Kokkos::DefaultHostExecutionSpace(), cloud, tiles, which);
  for (IonIndex i = 0; i < n; ++i) {
    // Reference tile: clamp(floor((p - origin) / edge)).
    std::int64_t ti[3];
    const double p[3] = {x0[i], y0[i], z0[i]};
    for (int ax = 0; ax < 3; ++ax)
      ti[ax] = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::floor(p[ax] / tiles.edge[ax])), 0,
                                        tiles.n[ax] - 1);
    const std::int64_t k = (ti[2] * 3 + ti[1]) * 3 + ti[0];
    ASSERT_EQ(which(i), k);
    ASSERT_EQ(tiles.tile_of(p[0], p[1], p[2]), k);
    double q[3] = {p[0], p[1], p[2]};
    tiles.rotations[static_cast<std::size_t>(k)].apply(q[0], q[1], q[2]);
    EXPECT_EQ(cloud.x(i), static_cast<float>(q[0]));
    EXPECT_EQ(cloud.y(i), static_cast<float>(q[1]));
    EXPECT_EQ(cloud.z(i), static_cast<float>(q[2]));
  }
  EXPECT_EQ(tiles.tile_of(std::nan(""), 1e30, -1e30), 2 * 3);  // NaN -> 0, huge -> last, tiny -> 0
}
