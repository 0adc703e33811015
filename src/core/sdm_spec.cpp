// SdmSpec: the names, parsing, validation and derived quantities of an SDM,
// and the exact float binning intervals (include/aptflow/core/sdm_spec.hpp,
// docs/sdm.md).
#include "aptflow/core/sdm_spec.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "aptflow/core/error.hpp"

namespace aptflow {

std::string to_string(SdmKind kind) {
  switch (kind) {
    case SdmKind::z:
      return "z";
    case SdmKind::zx:
      return "zx";
    case SdmKind::xyz:
      return "3d";
  }
  return "?";
}

SdmKind parse_sdm_kind(const std::string& text, const std::string& key) {
  if (text == "z") return SdmKind::z;
  if (text == "zx") return SdmKind::zx;
  if (text == "3d" || text == "xyz") return SdmKind::xyz;
  throw ConfigError(key, fmt::format("unknown SDM kind '{}': use \"z\", \"zx\" or \"3d\"", text));
}

std::string to_string(SdmExclude e) { return e == SdmExclude::self ? "self" : "zero_dx_or_dz"; }

std::string to_string(SdmArithmetic a) {
  switch (a) {
    case SdmArithmetic::float32:
      return "float32";
    case SdmArithmetic::float64:
      return "float64";
    case SdmArithmetic::float64_bins:
      return "float64_bins";
  }
  return "?";
}

SdmExclude parse_sdm_exclude(const std::string& text, const std::string& key) {
  if (text == "self") return SdmExclude::self;
  if (text == "zero_dx_or_dz") return SdmExclude::zero_dx_or_dz;
  throw ConfigError(key, fmt::format("unknown pair rule '{}': use \"self\" (only the self pair is left out) "
                                     "or \"zero_dx_or_dz\" (the published code: every pair with dx == 0 or "
                                     "dz == 0)",
                                     text));
}

SdmArithmetic parse_sdm_arithmetic(const std::string& text, const std::string& key) {
  if (text == "float32") return SdmArithmetic::float32;
  if (text == "float64") return SdmArithmetic::float64;
  if (text == "float64_bins") return SdmArithmetic::float64_bins;
  throw ConfigError(key, fmt::format("unknown arithmetic '{}': use \"float32\" (aptflow), \"float64\" "
                                     "(published CoCrNi code) or \"float64_bins\" (published Fe-Al code)",
                                     text));
}

SdmSpec SdmSpec::z() {
  SdmSpec s;
  s.kind = SdmKind::z;
  s.finalize();
  return s;
}

SdmSpec SdmSpec::zx() {
  SdmSpec s;
  s.kind = SdmKind::zx;
  s.finalize();
  return s;
}

SdmSpec SdmSpec::cube(double range, double bin, double r_cut) {
  SdmSpec s;
  s.kind = SdmKind::xyz;
  s.range = range;
  s.bin = bin;
  s.r_cut = r_cut;
  s.finalize();
  return s;
}

void SdmSpec::finalize() {
  if (!(r_cut > 0) || !std::isfinite(r_cut))
    throw ConfigError("sdm.r_cut", fmt::format("r_cut = {} nm: must be a positive number of nm", r_cut));
  if (!(range > 0) || !std::isfinite(range))
    throw ConfigError("sdm.range", fmt::format("range = {} nm: must be a positive number of nm", range));
  if (!(bin > 0) || !std::isfinite(bin))
    throw ConfigError("sdm.bin", fmt::format("bin = {} nm: must be a positive number of nm", bin));
  const double q = 2.0 * double(range) / double(bin);
  const double nq = std::round(q);
  if (nq < 1 || std::abs(q - nq) > 1e-4 * nq)
    throw ConfigError("sdm.bin", fmt::format("2 * range / bin = {} is not a whole number of bins: choose a "
                                             "bin width that divides 2 * range ({} nm)",
                                             q, 2.0 * range));
  if (!(float(bin) > 0) || !(float(range) > 0) || !(float(r_cut) > 0) || !std::isfinite(float(range)))
    throw ConfigError("sdm.bin", "r_cut, range and bin must be representable as positive float32 numbers");
  if (nq > 4096)
    throw ConfigError("sdm.bin", fmt::format("{} bins per axis is too many: use at most 4096", nq));
  bins_per_axis = static_cast<int>(nq);
  if (kind == SdmKind::xyz && std::int64_t(bins_per_axis) * bins_per_axis * bins_per_axis > (1LL << 28))
    throw ConfigError("sdm.bin", "a 3D SDM of more than 2^28 bins: use a wider bin or a smaller range");
  crop_first = 0;
  crop_count = bins_per_axis;
  if (kind == SdmKind::z) {
    // Nominal left edges -range + k * bin in double, with a tolerance of
    // 1e-6 bin so that -1.5 + 54 * 0.015 counts as -0.69 >= -0.7.
    const double tol = 1e-6 * double(bin);
    int first = -1, count = 0;
    for (int k = 0; k < bins_per_axis; ++k) {
      const double e = -double(range) + k * double(bin);
      if (e >= crop_lo - tol && e < crop_hi - tol) {
        if (first < 0) first = k;
        ++count;
      }
    }
    if (count == 0)
      throw ConfigError("sdm.crop", fmt::format("z-SDM crop [{}, {}) nm holds no bin left edge: widen it",
                                                crop_lo, crop_hi));
    if (count > 1024) throw ConfigError("sdm.crop", "a z-SDM of more than 1024 bins: narrow the crop");
    crop_first = first;
    crop_count = count;
  }
}

std::int64_t SdmSpec::size() const {
  const std::int64_t n = bins_per_axis;
  switch (kind) {
    case SdmKind::z:
      return crop_count;
    case SdmKind::zx:
      return n * n;
    case SdmKind::xyz:
      return n * n * n;
  }
  return 0;
}

std::vector<std::int64_t> SdmSpec::shape() const {
  const std::int64_t n = bins_per_axis;
  switch (kind) {
    case SdmKind::z:
      return {crop_count};
    case SdmKind::zx:
      return {n, n};
    case SdmKind::xyz:
      return {n, n, n};
  }
  return {};
}

std::vector<double> SdmSpec::left_edges() const {
  std::vector<double> e;
  const int first = kind == SdmKind::z ? crop_first : 0;
  const int count = kind == SdmKind::z ? crop_count : bins_per_axis;
  for (int k = first; k < first + count; ++k) e.push_back(-double(range) + k * double(bin));
  return e;
}

std::int64_t reference_axis_bin(float d, float lo, float w) {
  const float t = (d - lo) / w;
  const float f = std::floor(t);
  if (f < -1e9f) return -1000000000;
  if (f > 1e9f) return 1000000000;
  return static_cast<std::int64_t>(f);
}

namespace {

// Order-preserving map float <-> int64 (NaN excluded), so that a bisection
// over keys visits floats in increasing order.
std::int64_t key_of(float f) {
  std::int32_t i;
  std::memcpy(&i, &f, 4);
  if (i >= 0) return i;
  return -static_cast<std::int64_t>(i & 0x7fffffff);
}
float float_of(std::int64_t k) {
  std::uint32_t u = k >= 0 ? static_cast<std::uint32_t>(k) : (0x80000000u | static_cast<std::uint32_t>(-k));
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Smallest float d (finite) with floor((d - lo) / w) >= k, computed in float32.
float first_float_with_bin_at_least(std::int64_t k, float lo, float w) {
  const float big = std::numeric_limits<float>::max();
  std::int64_t a = key_of(-big), b = key_of(big);  // predicate false at a? true at b? (checked by caller)
  if (reference_axis_bin(float_of(a), lo, w) >= k) return float_of(a);
  while (b - a > 1) {
    const std::int64_t m = a + (b - a) / 2;
    if (reference_axis_bin(float_of(m), lo, w) >= k)
      b = m;
    else
      a = m;
  }
  return float_of(b);
}

float previous_float(float f) { return float_of(key_of(f) - 1); }

}  // namespace

SdmBinning make_binning(const SdmSpec& spec) {
  SdmBinning b;
  b.kind = spec.kind;
  const float rc = static_cast<float>(spec.r_cut);
  b.rc2 = rc * rc;
  b.lo = static_cast<float>(-spec.range);
  b.w = static_cast<float>(spec.bin);
  b.n = spec.bins_per_axis;
  b.crop_first = spec.kind == SdmKind::z ? spec.crop_first : 0;
  b.crop_count = spec.kind == SdmKind::z ? spec.crop_count : spec.bins_per_axis;
  b.axis_lo = first_float_with_bin_at_least(0, b.lo, b.w);
  b.axis_hi = previous_float(first_float_with_bin_at_least(b.n, b.lo, b.w));
  b.crop_lo = first_float_with_bin_at_least(b.crop_first, b.lo, b.w);
  b.crop_hi = previous_float(first_float_with_bin_at_least(b.crop_first + b.crop_count, b.lo, b.w));
  APTFLOW_ASSERT(b.axis_lo < b.axis_hi && b.crop_lo < b.crop_hi, "SDM binning intervals are empty");
  b.drop_zero = spec.exclude == SdmExclude::zero_dx_or_dz;
  b.arithmetic = static_cast<int>(spec.arithmetic);
  b.lo64 = -spec.range;
  b.hi64 = spec.range;
  b.norm64 = double(b.n) / (b.hi64 - b.lo64);
  b.rc2_64 = spec.r_cut * spec.r_cut;
  return b;
}

}  // namespace aptflow
