#pragma once
// SdmSpec: what a spatial distribution map (SDM) histogram is (docs/sdm.md,
// method.md section 2), and SdmBinning: the exact float32 arithmetic that maps
// a displacement d = p_j - p_i (nm) to a bin, shared by every kernel, by the
// test references and by benchmarks/ref_zsdm_ckdtree.py.
//
// Exact definition (all operations IEEE float32, round to nearest):
//   d_c  = p_j,c - p_i,c                                  for c in x, y, z
//   r2   = (dx*dx + dy*dy) + dz*dz
//   pair kept      iff  r2 <= rc2, rc2 = rc * rc, rc = float(r_cut)  (|d| <= r_cut, method says <=)
//   axis bin k_c   = floor((d_c - lo) / w),  lo = float(-range), w = float(bin);
//                    the axis is in the histogram iff 0 <= k_c < n
//   z   : bin k_z - crop_first, kept iff k_x in [0, n) and k_z in the crop
//         (exactly the zx-SDM summed over dx, then cropped)
//   zx  : bin k_z * n + k_x  (rows dz, columns dx), kept iff both in [0, n)
//   xyz : bin (k_z * n + k_y) * n + k_x, kept iff all three in [0, n)
// Self pairs (same ion index) are excluded; each ordered pair counts.
//
// Published-code options (docs/sdm.md "Published rules"), both off by default:
//  exclude = zero_dx_or_dz : a pair with dx == 0 or dz == 0 is not counted
//      (the published z-SDM code keeps only pairs with dx != 0 and dz != 0;
//      this drops the self pair too, and on coordinates rounded to a few
//      decimals also real pairs in one plane).
//  arithmetic = float64 : window z-SDMs in double from the float32 positions,
//      as the published Python (cKDTree, fast_histogram) computes them:
//        d_c  = double(p_j,c) - double(p_i,c)          (exact)
//        pair iff (dx*dx + dy*dy) + dz*dz <= r_cut^2    (double)
//        kept iff -range <= d < range for dz and dx; row k = int((dz + range) * (n / (2 range)))
//      float64_bins: the same, but d is rounded to float32 before the zero
//      test and the binning (the Fe-Al code stores displacements as float32).
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace aptflow {

// z: 1D z-SDM (93 bins by default); zx: 2D (dz, dx) SDM; xyz: 3D SDM ("3d").
enum class SdmKind { z, zx, xyz };

std::string to_string(SdmKind kind);
// "z", "zx", "3d" (also "xyz"); throws ConfigError(key) otherwise.
SdmKind parse_sdm_kind(const std::string& text, const std::string& key = "sdm.kind");

// Which pairs are left out (besides those outside r_cut or the histogram).
enum class SdmExclude {
  self,           // the self pair only (same ion index): aptflow's default
  zero_dx_or_dz,  // every pair with dx == 0 or dz == 0 (published z-SDM code)
};
// Arithmetic of the distance tests and the binning (window z-SDMs).
enum class SdmArithmetic {
  float32,       // aptflow's exact float32 definition above (default)
  float64,       // double differences, distances and bins (published CoCrNi code)
  float64_bins,  // double distances, displacements rounded to float32, double bins (Fe-Al code)
};
std::string to_string(SdmExclude e);
std::string to_string(SdmArithmetic a);
// "self" | "zero_dx_or_dz"; ConfigError(key) otherwise.
SdmExclude parse_sdm_exclude(const std::string& text, const std::string& key = "sdm.exclude");
// "float32" | "float64" | "float64_bins"; ConfigError(key) otherwise.
SdmArithmetic parse_sdm_arithmetic(const std::string& text, const std::string& key = "sdm.arithmetic");

struct SdmSpec {
  SdmKind kind = SdmKind::z;
  // Lengths are given in double (as in a config file); the kernels use their
  // float32 roundings: float(r_cut), float(-range), float(bin).
  double r_cut = 1.5;  // nm, neighbour sphere radius
  double range = 1.5;  // nm, every histogram axis covers [-range, range)
  double bin = 0.015;  // nm, bin width
  // z only: keep the bins whose nominal left edge lies in [crop_lo, crop_hi).
  double crop_lo = -0.7;
  double crop_hi = 0.7;
  SdmExclude exclude = SdmExclude::self;
  SdmArithmetic arithmetic = SdmArithmetic::float32;  // float64*: window z-SDMs only

  // Derived by finalize() (the factories call it).
  int bins_per_axis = 200;
  int crop_first = 54;
  int crop_count = 93;

  // Published defaults: r_cut 1.5 nm, 200 bins of 0.015 nm over [-1.5, 1.5).
  static SdmSpec z();
  static SdmSpec zx();
  // 3D SDM over [-range, range)^3 (default 1.0 nm, 0.05 nm bins: 40^3).
  static SdmSpec cube(double range = 1.0, double bin = 0.05, double r_cut = 1.5);

  // Validate and derive bins_per_axis / crop; throws ConfigError naming the key.
  void finalize();

  // Number of bins of one SDM, flattened (z: 93, zx: 40000, 3d: 64000).
  std::int64_t size() const;
  // Shape of one SDM: {93}, {200, 200} (dz rows, dx columns), {40, 40, 40} (dz, dy, dx).
  std::vector<std::int64_t> shape() const;
  // Nominal left edges (nm, in double: -range + k * bin) of the bins
  // along each output axis: z -> the 93 cropped dz edges (-0.69 .. 0.69);
  // zx and 3d -> the n edges shared by every axis.
  std::vector<double> left_edges() const;
};

// What a kernel needs, by value (device-copyable). The float intervals
// [axis_lo, axis_hi] and [crop_lo, crop_hi] are the exact preimages, over all
// floats d, of "0 <= floor((d - lo) / w) < n" and of "k in the crop": since
// float subtraction, division by w > 0 and floor are monotone, a preimage of
// an integer interval is a float interval, found once by bisection on the
// host. The kernels test d against them and divide only for kept pairs.
struct SdmBinning {
  SdmKind kind = SdmKind::z;
  float rc2 = 0;  // r_cut * r_cut in float32
  float lo = 0;   // -range
  float w = 1;    // bin width
  int n = 0;      // bins per axis
  int crop_first = 0;
  int crop_count = 0;
  float axis_lo = 0, axis_hi = 0;  // floats whose axis bin is in [0, n)
  float crop_lo = 0, crop_hi = 0;  // floats whose axis bin is in the z crop
  bool drop_zero = false;          // exclude = zero_dx_or_dz
  int arithmetic = 0;              // SdmArithmetic as int: 0 float32, 1 float64, 2 float64_bins
  double lo64 = 0, hi64 = 0;       // -range, range (double)
  double norm64 = 1;               // n / (2 range), as fast_histogram: nx / (xmax - xmin)
  double rc2_64 = 0;               // r_cut * r_cut (double)

  // exclude = zero_dx_or_dz drops the pair (always false otherwise).
  KOKKOS_INLINE_FUNCTION bool dropped(float dx, float dz) const {
    return drop_zero && (dx == 0.0f || dz == 0.0f);
  }
  // z-SDM bin (0 .. crop_count - 1) of a pair inside the sphere in the
  // double arithmetic (arithmetic != 0), or -1.
  KOKKOS_INLINE_FUNCTION int bin64_z(double dx, double dz) const {
    if (arithmetic == 2) {
      dx = double(float(dx));
      dz = double(float(dz));
    }
    if (drop_zero && (dx == 0.0 || dz == 0.0)) return -1;
    if (!(dz >= lo64 && dz < hi64 && dx >= lo64 && dx < hi64)) return -1;
    const int k = static_cast<int>((dz - lo64) * norm64) - crop_first;
    return k >= 0 && k < crop_count ? k : -1;
  }

  KOKKOS_INLINE_FUNCTION int axis_bin(float d) const {  // only for d in [axis_lo, axis_hi]
    return static_cast<int>((d - lo) / w);              // (d - lo) / w >= 0: truncation == floor
  }
  KOKKOS_INLINE_FUNCTION bool in_axis(float d) const { return d >= axis_lo && d <= axis_hi; }

  // Flat bin of a displacement already inside the sphere, or -1 when it falls
  // outside the histogram. Kind as template argument: no branch per pair.
  template <SdmKind K>
  KOKKOS_INLINE_FUNCTION int bin(float dx, float dy, float dz) const {
    if (dropped(dx, dz)) return -1;
    if constexpr (K == SdmKind::z) {
      (void)dy;
      if (dz >= crop_lo && dz <= crop_hi && in_axis(dx)) return axis_bin(dz) - crop_first;
      return -1;
    } else if constexpr (K == SdmKind::zx) {
      (void)dy;
      if (in_axis(dz) && in_axis(dx)) return axis_bin(dz) * n + axis_bin(dx);
      return -1;
    } else {
      if (in_axis(dz) && in_axis(dy) && in_axis(dx))
        return (axis_bin(dz) * n + axis_bin(dy)) * n + axis_bin(dx);
      return -1;
    }
  }
};

SdmBinning make_binning(const SdmSpec& spec);

// The reference definition, written plainly (no precomputed intervals):
// the axis bin floor((d - lo) / w) in float32, possibly outside [0, n).
// Tests and documentation use it; kernels use SdmBinning.
std::int64_t reference_axis_bin(float d, float lo, float w);

}  // namespace aptflow
