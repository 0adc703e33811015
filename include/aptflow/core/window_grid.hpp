#pragma once
// Window scans (method.md section 3): cubic windows on a regular grid, one
// SDM per window. The grid, the variants and their parameters (the kernels
// that count them: kernels/windows.hpp).
//
// Grid placement (WindowGrid::over): window (ix, iy, iz) spans
// [origin + i * stride, origin + i * stride + edge) per axis, origin = box.lo;
// its centre is c_i = origin + edge / 2 + i * stride (double, then rounded to
// float32 for the tests below); there are floor((L - edge) / stride + 1e-9) + 1
// windows along an axis of length L (0 when L < edge): every window lies
// inside the box (as the published code, which skips windows that stick out).
// Windows are numbered in C order: w = (iz * ny + iy) * nx + ix.
//
// Fixed box (WindowGrid::on_box, config key windows.box): the published
// placement on a box [lo, hi] given by the user instead of the data's
// bounds: corners lo + i * stride for i = 0, 1, ... while the corner is
// below hi and corner + edge <= hi (both in double), i.e. the corners of
// numpy.arange(lo, hi, stride) that are <= hi - edge. Windows that hold no
// ion are empty windows.
//
// Variants (distances in float32, as SdmBinning: r2 = (dx*dx + dy*dy) + dz*dz,
// d = p - c, inside iff r2 <= R * R):
//  feal   : centre ions = A ions within centre_radius (default edge / 2) of the
//           window centre; neighbours = every B ion of the cloud within r_cut of
//           a centre ion.
//  cocrni : centre ions = A ions within centre_radius, neighbours = B ions
//           within neighbour_radius of the window centre (both default
//           1.5 * edge / 2) and within r_cut of the centre ion.
#include <cstdint>
#include <string>

#include "aptflow/core/ion_cloud.hpp"

namespace aptflow {

namespace detail {
// An ion lies in at most this many feal windows (WindowSpec::validate).
inline constexpr int kMaxWindowsPerIon = 128;
}  // namespace detail

struct WindowGrid {
  double origin[3] = {0, 0, 0};        // lower corner of window (0, 0, 0), nm (x, y, z)
  double edge = 1.0;                   // nm
  double stride = 0.5;                 // nm
  std::int64_t counts[3] = {0, 0, 0};  // windows along x, y, z

  std::int64_t size() const { return counts[0] * counts[1] * counts[2]; }
  double centre(int axis, std::int64_t i) const { return origin[axis] + 0.5 * edge + double(i) * stride; }
  float centre_f(int axis, std::int64_t i) const { return static_cast<float>(centre(axis, i)); }
  std::int64_t index(std::int64_t ix, std::int64_t iy, std::int64_t iz) const {
    return (iz * counts[1] + iy) * counts[0] + ix;
  }
  void unravel(std::int64_t w, std::int64_t& ix, std::int64_t& iy, std::int64_t& iz) const {
    ix = w % counts[0];
    iy = (w / counts[0]) % counts[1];
    iz = w / (counts[0] * counts[1]);
  }
  // Windows that fit inside box (see the file comment). Throws ConfigError
  // (windows.edge / windows.stride) for non-positive values.
  static WindowGrid over(const Box& box, double edge = 1.0, double stride = 0.5);
  // The published placement on the fixed box lo[3], hi[3] (nm; see the file
  // comment). Throws ConfigError (windows.box) for a box that holds no window.
  static WindowGrid on_box(const double lo[3], const double hi[3], double edge = 1.0, double stride = 0.5);
};

enum class WindowVariant { feal, cocrni };
std::string to_string(WindowVariant v);
WindowVariant parse_window_variant(const std::string& text, const std::string& key = "windows.variant");

struct WindowSpec {
  WindowVariant variant = WindowVariant::feal;
  float centre_radius = 0.5f;     // nm
  float neighbour_radius = 0.0f;  // nm, cocrni only
  // FeAl paper: centre sphere radius edge / 2; neighbours from the whole cloud.
  static WindowSpec feal(double edge = 1.0);
  // CoCrNi paper: centre and neighbour sphere radius 1.5 * edge / 2.
  static WindowSpec cocrni(double edge = 1.0);
  // Throws ConfigError naming the key for radii that are not positive, or a
  // feal centre radius so large against the stride that one ion could sit in
  // more than 128 windows.
  void validate(const WindowGrid& grid) const;
};

}  // namespace aptflow
