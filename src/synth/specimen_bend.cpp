// Tilt rotation and bend map of synthetic specimens (include/aptflow/synth/bend.hpp).
#include <algorithm>
#include <cmath>

#include "aptflow/synth/bend.hpp"

namespace aptflow::synth {

namespace {
constexpr double kDeg = 3.14159265358979323846 / 180.0;

// One cylindrical bend in the (a, z) plane (a = x or y): returns (a', z').
inline void bend_plane(double k, double a0, double z0, double& a, double& z) {
  const double u = a - a0, w = z - z0, phi = k * u;
  const double s = std::sin(phi), h = std::sin(0.5 * phi);
  a = a0 + s / k + w * s;
  z = z0 + w * std::cos(phi) - 2.0 * h * h / k;
}
}  // namespace

Mat3d tilt_rotation_deg(double tilt, double azimuth) {
  Mat3d R{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
  if (tilt == 0.0) return R;  // exactly the identity
  const double t = tilt * kDeg, a = azimuth * kDeg;
  const double k[3] = {-std::sin(a), std::cos(a), 0.0};  // z x n, normalised
  const double c = std::cos(t), s = std::sin(t);
  const double K[3][3] = {{0, -k[2], k[1]}, {k[2], 0, -k[0]}, {-k[1], k[0], 0}};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) R[i][j] = (i == j ? c : 0.0) + s * K[i][j] + (1 - c) * k[i] * k[j];
  return R;
}

BendMap::BendMap(const std::array<double, 2>& k_deg_per_nm, const Vec3d& centre)
    : kx_(k_deg_per_nm[0] * kDeg), ky_(k_deg_per_nm[1] * kDeg), c_(centre) {}

Vec3d BendMap::apply(const Vec3d& p) const {
  double x = p[0], y = p[1], z = p[2];
  if (kx_ != 0.0) bend_plane(kx_, c_[0], c_[2], x, z);
  if (ky_ != 0.0) bend_plane(ky_, c_[1], c_[2], y, z);
  return {x, y, z};
}

Vec3d BendMap::inverse(const Vec3d& q) const {
  Vec3d p = q;
  if (!active()) return p;
  for (int it = 0; it < 500; ++it) {
    const Vec3d b = apply(p);
    const Vec3d r{b[0] - q[0], b[1] - q[1], b[2] - q[2]};
    // Newton step with the Jacobian (3 x 3 solve by Cramer's rule).
    const Mat3d J = jacobian(p);
    const double det = J[0][0] * (J[1][1] * J[2][2] - J[1][2] * J[2][1]) -
                       J[0][1] * (J[1][0] * J[2][2] - J[1][2] * J[2][0]) +
                       J[0][2] * (J[1][0] * J[2][1] - J[1][1] * J[2][0]);
    Vec3d d{};
    for (int c = 0; c < 3; ++c) {
      Mat3d M = J;
      for (int r2 = 0; r2 < 3; ++r2) M[r2][c] = r[r2];
      d[c] = (M[0][0] * (M[1][1] * M[2][2] - M[1][2] * M[2][1]) -
              M[0][1] * (M[1][0] * M[2][2] - M[1][2] * M[2][0]) +
              M[0][2] * (M[1][0] * M[2][1] - M[1][1] * M[2][0])) /
             det;
    }
    for (int a = 0; a < 3; ++a) p[a] -= d[a];
    if (std::abs(d[0]) + std::abs(d[1]) + std::abs(d[2]) < 1e-12) break;
  }
  return p;
}

Mat3d BendMap::jacobian(const Vec3d& p) const {
  Mat3d J{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
  double x = p[0], y = p[1], z = p[2];
  if (kx_ != 0.0) {
    const double u = x - c_[0], w = z - c_[2], phi = kx_ * u;
    const double s = std::sin(phi), c = std::cos(phi), st = 1 + kx_ * w;
    J = Mat3d{{{st * c, 0, s}, {0, 1, 0}, {-st * s, 0, c}}};
    bend_plane(kx_, c_[0], c_[2], x, z);
  }
  if (ky_ != 0.0) {
    const double v = y - c_[1], w = z - c_[2], psi = ky_ * v;
    const double s = std::sin(psi), c = std::cos(psi), st = 1 + ky_ * w;
    const Mat3d J2{{{1, 0, 0}, {0, st * c, s}, {0, -st * s, c}}};
    Mat3d P{};
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 3; ++k) P[i][j] += J2[i][k] * J[k][j];
    J = P;
  }
  return J;
}

Vec3d BendMap::margin(const Vec3d& lo, const Vec3d& hi) const {
  Vec3d m{0, 0, 0};
  if (!active()) return m;
  constexpr int kN = 9;
  for (int pass = 0; pass < 4; ++pass) {
    Vec3d d{0, 0, 0};
    for (int i = 0; i < kN; ++i)
      for (int j = 0; j < kN; ++j)
        for (int k = 0; k < kN; ++k) {
          const int idx[3] = {i, j, k};
          Vec3d p{};
          for (int a = 0; a < 3; ++a) p[a] = (lo[a] - m[a]) + (hi[a] - lo[a] + 2 * m[a]) * idx[a] / (kN - 1);
          const Vec3d q = apply(p);
          for (int a = 0; a < 3; ++a) d[a] = std::max(d[a], std::abs(q[a] - p[a]));
        }
    for (int a = 0; a < 3; ++a) m[a] = 1.25 * d[a] + 0.5;
  }
  return m;
}

}  // namespace aptflow::synth
