// Rotations for crystallographic alignment (include/aptflow/kernels/align.hpp).
#include "aptflow/kernels/align.hpp"

#include <fmt/format.h>

#include <cmath>

#include "aptflow/core/error.hpp"

namespace aptflow {

namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr double kDeg = kPi / 180.0;
}  // namespace

std::array<double, 3> Rotation::turn(const std::array<double, 3>& d) const {
  return {R[0][0] * d[0] + R[0][1] * d[1] + R[0][2] * d[2], R[1][0] * d[0] + R[1][1] * d[1] + R[1][2] * d[2],
          R[2][0] * d[0] + R[2][1] * d[1] + R[2][2] * d[2]};
}

Rotation Rotation::inverse() const {
  Rotation r;
  for (int i = 0; i < 3; ++i) {
    r.centre[i] = centre[i];
    for (int j = 0; j < 3; ++j) r.R[i][j] = R[j][i];
  }
  return r;
}

bool Rotation::is_identity() const {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      if (R[i][j] != (i == j ? 1.0 : 0.0)) return false;
  return true;
}

std::array<double, 12> Rotation::pack() const {
  std::array<double, 12> v{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) v[static_cast<std::size_t>(3 * i + j)] = R[i][j];
  for (int i = 0; i < 3; ++i) v[static_cast<std::size_t>(9 + i)] = centre[i];
  return v;
}

Rotation Rotation::unpack(const double* v) {
  Rotation r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r.R[i][j] = v[3 * i + j];
  for (int i = 0; i < 3; ++i) r.centre[i] = v[9 + i];
  return r;
}

std::array<double, 3> pole_direction(double tilt_deg, double azimuth_deg) {
  const double t = tilt_deg * kDeg, a = azimuth_deg * kDeg;
  return {std::sin(t) * std::cos(a), std::sin(t) * std::sin(a), std::cos(t)};
}

void tilt_azimuth(const std::array<double, 3>& n, double& tilt_deg, double& azimuth_deg) {
  const double len = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
  const double s = n[2] < 0 ? -1.0 / len : 1.0 / len;
  const double x = n[0] * s, y = n[1] * s, z = n[2] * s;
  tilt_deg = std::atan2(std::sqrt(x * x + y * y), z) / kDeg;
  double a = (x == 0.0 && y == 0.0) ? 0.0 : std::atan2(y, x) / kDeg;
  if (a < 0) a += 360.0;
  if (a >= 360.0) a -= 360.0;
  azimuth_deg = a;
}

Rotation rotation_to_z(const std::array<double, 3>& n, const std::array<double, 3>& centre) {
  const double len = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
  if (!(len > 0) || !std::isfinite(len))
    throw InternalError("rotation_to_z: the pole direction has no length or is not finite");
  const double s = n[2] < 0 ? -1.0 / len : 1.0 / len;
  const double x = n[0] * s, y = n[1] * s, z = n[2] * s;
  Rotation r;
  for (int i = 0; i < 3; ++i) r.centre[i] = centre[i];
  const double sin_t = std::sqrt(x * x + y * y);
  if (sin_t == 0.0) return r;  // exactly the identity
  // Axis k = n x z / |n x z| = (y, -x, 0) / sin t; angle t with cos t = z.
  const double kx = y / sin_t, ky = -x / sin_t, c = z, sn = sin_t, v = 1 - c;
  r.R[0][0] = c + v * kx * kx;
  r.R[0][1] = v * kx * ky;
  r.R[0][2] = sn * ky;
  r.R[1][0] = v * kx * ky;
  r.R[1][1] = c + v * ky * ky;
  r.R[1][2] = -sn * kx;
  r.R[2][0] = -sn * ky;
  r.R[2][1] = sn * kx;
  r.R[2][2] = c;
  return r;
}

void check_tile_rotations(const TileRotations& tiles) {
  if (tiles.n[0] < 1 || tiles.n[1] < 1 || tiles.n[2] < 1 ||
      static_cast<std::int64_t>(tiles.rotations.size()) != tiles.size())
    throw InternalError(fmt::format("TileRotations: {} rotations for a {} x {} x {} grid",
                                    tiles.rotations.size(), tiles.n[0], tiles.n[1], tiles.n[2]));
  for (int a = 0; a < 3; ++a)
    if (!(tiles.edge[a] > 0) || !std::isfinite(tiles.origin[a]))
      throw InternalError("TileRotations: tile edges must be positive and the origin finite");
}

}  // namespace aptflow
