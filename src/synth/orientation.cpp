#include "aptflow/synth/orientation.hpp"

#include <fmt/format.h>

#include <cmath>

#include "aptflow/core/error.hpp"

namespace aptflow::synth {

namespace {

using Vec3 = std::array<double, 3>;

double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
Vec3 normalised(const Vec3& a) {
  const double n = std::sqrt(dot(a, a));
  return {a[0] / n, a[1] / n, a[2] / n};
}
Mat3 mul(const Mat3& A, const Mat3& B) {
  Mat3 C{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) C[i][j] += A[i][k] * B[k][j];
  return C;
}
Mat3 rot_z(double t) {
  const double c = std::cos(t), s = std::sin(t);
  return Mat3{{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}};
}
Mat3 rot_x(double t) {
  const double c = std::cos(t), s = std::sin(t);
  return Mat3{{{1, 0, 0}, {0, c, -s}, {0, s, c}}};
}

}  // namespace

bool Orientation::is_identity() const {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      if (R[i][j] != (i == j ? 1.0 : 0.0)) return false;
  return true;
}

Orientation Orientation::from_pole(const std::array<double, 3>& uvw, const std::array<double, 3>& cell) {
  const Vec3 v{uvw[0] * cell[0], uvw[1] * cell[1], uvw[2] * cell[2]};
  if (dot(v, v) == 0.0) throw ConfigError("orientation.pole", "the pole [0, 0, 0] has no direction");
  const Vec3 n = normalised(v);
  // Exact identity for poles along +z (no rounding from normalisation).
  if (n[0] == 0.0 && n[1] == 0.0 && n[2] > 0.0) return identity();
  Vec3 ref{1, 0, 0};
  Vec3 x{ref[0] - dot(ref, n) * n[0], ref[1] - dot(ref, n) * n[1], ref[2] - dot(ref, n) * n[2]};
  if (dot(x, x) < 1e-16) {
    ref = {0, 1, 0};
    x = {ref[0] - dot(ref, n) * n[0], ref[1] - dot(ref, n) * n[1], ref[2] - dot(ref, n) * n[2]};
  }
  x = normalised(x);
  const Vec3 y = cross(n, x);
  Orientation o;
  o.R = Mat3{{x, y, n}};
  return o;
}

Orientation Orientation::from_euler_deg(double phi1, double Phi, double phi2) {
  constexpr double deg = 3.14159265358979323846 / 180.0;
  Orientation o;
  o.R = mul(mul(rot_z(phi1 * deg), rot_x(Phi * deg)), rot_z(phi2 * deg));
  return o;
}

Orientation orientation_from_config(const Config& cfg, const std::string& table,
                                    const std::array<double, 3>& cell) {
  const std::string pole_key = table.empty() ? "pole" : table + ".pole";
  const std::string euler_key = table.empty() ? "euler" : table + ".euler";
  const bool has_pole = cfg.has(pole_key), has_euler = cfg.has(euler_key);
  if (has_pole && has_euler)
    throw ConfigError(pole_key, "give either pole = [u, v, w] or euler = [phi1, Phi, phi2], not both");
  if (has_pole) {
    const auto p = cfg.get_doubles(pole_key);
    if (p.size() != 3) throw ConfigError(pole_key, "expected three Miller indices, e.g. pole = [0, 0, 2]");
    if (p[0] == 0 && p[1] == 0 && p[2] == 0)
      throw ConfigError(pole_key, "the pole [0, 0, 0] has no direction");
    return Orientation::from_pole({p[0], p[1], p[2]}, cell);
  }
  if (has_euler) {
    const auto e = cfg.get_doubles(euler_key);
    if (e.size() != 3)
      throw ConfigError(euler_key,
                        "expected three Bunge Euler angles in degrees, e.g. euler = [-90, 45, 90]");
    return Orientation::from_euler_deg(e[0], e[1], e[2]);
  }
  return Orientation::identity();
}

}  // namespace aptflow::synth
