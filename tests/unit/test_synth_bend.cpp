// Tilted and bent lattices of synthetic specimens (include/aptflow/synth/bend.hpp):
// orientation.tilt against Bunge Euler angles, the bend map (inverse,
// Jacobian against finite differences), ideal sites of a bent specimen on
// concentric cylinders, the ground-truth plane normal, unchanged bytes
// without a bend, config errors.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "aptflow/core/error.hpp"
#include "aptflow/synth/specimen.hpp"

using namespace aptflow;
using namespace aptflow::synth;

namespace {

constexpr double kPi = 3.14159265358979323846;

Config bent_config(const std::string& orientation, double sxy = 0.0, double sz = 0.0, double eta = 1.0) {
  return Config::from_string(fmt::format(R"(
seed = 3
[specimen]
size = [12.0, 6.0, 8.0]
[orientation]
{}
[matrix]
structure = "A1"
a = 0.405
species = {{ A = {{ Al = 1.0 }} }}
[artefacts]
sigma_xy = {}
sigma_z = {}
efficiency = {}
)",
                                         orientation, sxy, sz, eta));
}

}  // namespace

TEST(SynthTilt, TiltEqualsTheEulerRotationAboutY) {
  for (double t : {0.5, 5.0, 10.0}) {
    const SpecimenGenerator a(bent_config(fmt::format("tilt = [{}, 0.0]", t)));
    const Orientation e = Orientation::from_euler_deg(90, t, -90);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) EXPECT_NEAR(a.spec().orientation.R[i][j], e.R[i][j], 1e-12);
  }
  // [t, a]: the crystal z ends at (sin t cos a, sin t sin a, cos t), composed after the pole.
  const SpecimenGenerator b(bent_config("pole = [1, 0, 1]\ntilt = [7.0, 123.0]"));
  const Orientation p = Orientation::from_pole({1, 0, 1}, {0.405, 0.405, 0.405});
  const auto zc = p.apply_inverse({0, 0, 1});  // the crystal direction the pole put on z
  const auto n = b.spec().orientation.apply(zc);
  EXPECT_NEAR(n[0], std::sin(7 * kPi / 180) * std::cos(123 * kPi / 180), 1e-12);
  EXPECT_NEAR(n[1], std::sin(7 * kPi / 180) * std::sin(123 * kPi / 180), 1e-12);
  EXPECT_NEAR(n[2], std::cos(7 * kPi / 180), 1e-12);
  // tilt = [0, a] is exactly the identity.
  const SpecimenGenerator c(bent_config("tilt = [0.0, 40.0]"));
  EXPECT_TRUE(c.spec().orientation.is_identity());
}

TEST(SynthBend, MapInverseAndJacobian) {
  const BendMap m({0.4, -0.3}, {6, 3, 4});
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> u(-5, 15);
  for (int trial = 0; trial < 100; ++trial) {
    const Vec3d p{u(rng), u(rng), u(rng)};
    const Vec3d q = m.apply(p);
    const Vec3d back = m.inverse(q);
    for (int a = 0; a < 3; ++a) EXPECT_NEAR(back[a], p[a], 1e-9);
    const Mat3d J = m.jacobian(p);
    const double h = 1e-6;
    for (int c = 0; c < 3; ++c) {
      Vec3d pp = p, pm = p;
      pp[c] += h;
      pm[c] -= h;
      const Vec3d fp = m.apply(pp), fm = m.apply(pm);
      for (int r = 0; r < 3; ++r) EXPECT_NEAR(J[r][c], (fp[r] - fm[r]) / (2 * h), 1e-7);
    }
  }
  // Margin: the unbent point of any bent point of the box lies within it.
  const Vec3d marg = m.margin({0, 0, 0}, {12, 6, 8});
  for (int trial = 0; trial < 200; ++trial) {
    std::uniform_real_distribution<double> x(0, 12), y(0, 6), z(0, 8);
    const Vec3d q{x(rng), y(rng), z(rng)};
    const Vec3d p = m.inverse(q);
    for (int a = 0; a < 3; ++a) EXPECT_LE(std::abs(p[a] - q[a]), marg[a]);
  }
  EXPECT_FALSE(BendMap({0, 0}, {0, 0, 0}).active());
}

TEST(SynthBend, IdealSitesLieOnConcentricCylinders) {
  // No blur, every atom detected: the (002) planes z_c = m a/2 bend into
  // cylinders about the axis (x0, ., z0 - 1/k): radius - 1/k = z_c - z0.
  const double kdeg = 0.5, k = kdeg * kPi / 180;
  const SpecimenGenerator gen(bent_config(fmt::format("bend = [{}, 0.0]", kdeg)));
  const auto s = gen.generate_slab(0, gen.num_slabs());
  ASSERT_GT(s.ions.size(), 10000);
  const double x0 = 6, z0 = 4, rho = 1 / k;
  for (IonIndex i = 0; i < s.ions.size(); ++i) {
    const double dx = s.ions.x(i) - x0, dz = s.ions.z(i) - z0 + rho;
    const double zc = std::sqrt(dx * dx + dz * dz) - rho + z0;
    const double m = zc / 0.2025;
    ASSERT_NEAR(m, std::round(m), 2e-4) << "ion " << i;
    ASSERT_GE(s.ions.x(i), 0.0f);
    ASSERT_LT(s.ions.x(i), 12.0f);
    ASSERT_GE(s.ions.z(i), 0.0f);
    ASSERT_LT(s.ions.z(i), 8.0f);
  }
  // The ground-truth normal is radial: at (x, ., z) it points from the axis
  // (x0, ., z0 - rho) to the point.
  for (double x : {0.5, 6.0, 11.0})
    for (double z : {1.0, 4.0, 7.5}) {
      const auto n = gen.plane_normal({0, 0, 1}, {x, 3, z});
      const double rx = x - x0, rz = z - z0 + rho, len = std::sqrt(rx * rx + rz * rz);
      EXPECT_NEAR(n[0], rx / len, 1e-12);
      EXPECT_NEAR(n[1], 0, 1e-12);
      EXPECT_NEAR(n[2], rz / len, 1e-12);
    }
  // Every ideal site of the bent lattice inside the box is generated: count
  // them by brute force with the bend written out here.
  std::int64_t expect = 0;
  const double off[4][3] = {{0, 0, 0}, {0, 0.5, 0.5}, {0.5, 0, 0.5}, {0.5, 0.5, 0}};
  for (int i = -10; i < 45; ++i)
    for (int j = -5; j < 25; ++j)
      for (int l = -10; l < 35; ++l)
        for (const auto& o : off) {
          const double px = (i + o[0]) * 0.405, py = (j + o[1]) * 0.405, pz = (l + o[2]) * 0.405;
          const double u = px - x0, w = pz - z0, phi = k * u;
          const double bx = x0 + std::sin(phi) / k + w * std::sin(phi);
          const double bz = z0 + w * std::cos(phi) - (1 - std::cos(phi)) / k;
          expect += bx >= 0 && bx < 12 && py >= 0 && py < 6 && bz >= 0 && bz < 8;
        }
  EXPECT_EQ(s.ions.size(), expect);
  // count_slab agrees with generate_slab for every slab of the bent lattice.
  for (std::int64_t iz = 0; iz < gen.num_slabs(); ++iz)
    EXPECT_EQ(gen.count_slab(iz, iz + 1), gen.generate_slab(iz, iz + 1).ions.size());
}

TEST(SynthBend, ZeroBendAndNoBendGiveTheSameIons) {
  const SpecimenGenerator a(bent_config("tilt = [3.0, 10.0]", 0.4, 0.03, 0.5));
  const SpecimenGenerator b(bent_config("tilt = [3.0, 10.0]\nbend = [0.0, 0.0]", 0.4, 0.03, 0.5));
  const auto sa = a.generate_slab(0, a.num_slabs()), sb = b.generate_slab(0, b.num_slabs());
  ASSERT_EQ(sa.ions.size(), sb.ions.size());
  for (IonIndex i = 0; i < sa.ions.size(); ++i) {
    ASSERT_EQ(sa.ions.x(i), sb.ions.x(i));
    ASSERT_EQ(sa.ions.z(i), sb.ions.z(i));
  }
}

TEST(SynthBend, ConfigErrorsNameTheKey) {
  auto key_of = [](const std::string& o) {
    try {
      SpecimenGenerator g(bent_config(o));
    } catch (const ConfigError& e) {
      return e.key();
    }
    return std::string();
  };
  EXPECT_EQ(key_of("tilt = [95.0, 0.0]"), "orientation.tilt");
  EXPECT_EQ(key_of("tilt = [5.0]"), "orientation.tilt");
  EXPECT_EQ(key_of("bend = [0.1]"), "orientation.bend");
  EXPECT_EQ(key_of("bend = [10.0, 0.0]"), "orientation.bend");  // 60 deg across 6 nm
  EXPECT_EQ(key_of("bend = [0.1, 0.0]\nbend_centre = [1.0, 2.0]"), "orientation.bend_centre");
  EXPECT_EQ(key_of("tilte = [1.0, 0.0]"), "orientation.tilte");  // unknown key
}
