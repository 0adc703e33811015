// Host z-SDM binning (include/aptflow/kernels/detail/z_histogram.hpp): one
// source, compiled for the baseline ISA and, on x86-64 with GCC or Clang,
// for AVX2 (8 floats per instruction), selected once at run time.
#include "aptflow/kernels/detail/z_histogram.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__NVCC__) && \
    !defined(__CUDACC__)
#include <immintrin.h>
#endif

namespace aptflow::detail {

namespace {

// Inlined into each ISA variant below, so the same loops are vectorised
// for that ISA. No FMA: the target attributes do not enable it and ISO C++
// mode keeps contraction off, so products and sums round as the definition says.
template <int Variant>
[[gnu::always_inline]] inline void z_histogram_impl(const SdmBinning& bn, const float* X, const float* Y,
                                                    const float* Z, std::int64_t n, const float px,
                                                    const float py, const float pz, ZHistogram& hh) {
  constexpr int kBlock = 256;
  const int dummy = bn.crop_count;
  const float rc2 = bn.rc2, ahi = bn.axis_hi, alo = bn.axis_lo, zlo = bn.crop_lo, zhi = bn.crop_hi;
  const float lo = bn.lo, w = bn.w;
  const int cf = bn.crop_first;
  const bool drop = bn.drop_zero;  // exclude = zero_dx_or_dz
  std::int32_t idx[kBlock];
  for (std::int64_t k0 = 0; k0 < n; k0 += kBlock) {
    const int len = n - k0 < kBlock ? static_cast<int>(n - k0) : kBlock;
    const float* x = X + k0;
    const float* y = Y + k0;
    const float* z = Z + k0;
    for (int j = 0; j < len; ++j) {
      const float dx = x[j] - px;
      const float dy = y[j] - py;
      const float dz = z[j] - pz;
      const float r2 = dx * dx + dy * dy + dz * dz;
      const bool keep = (r2 <= rc2) & (dz >= zlo) & (dz <= zhi) & (dx >= alo) & (dx <= ahi) &
                        !(drop & ((dx == 0.0f) | (dz == 0.0f)));
      // Unconditional division (a conditional one blocks vectorisation),
      // clamped so the conversion is defined (and raises no FE_INVALID)
      // for far away candidates; they are rejected anyway.
      float t = (dz - lo) / w;
      t = t < 0.0f ? 0.0f : t;
      t = t > 8192.0f ? 8192.0f : t;
      idx[j] = keep ? static_cast<std::int32_t>(t) - cf : dummy;
    }
    int j = 0;
    for (; j + kZCopies <= len; j += kZCopies)
      for (int c = 0; c < kZCopies; ++c) ++hh.c[c][idx[j + c]];
    for (; j < len; ++j) ++hh.c[0][idx[j]];
  }
}

template <int Variant>
[[gnu::always_inline]] inline std::int64_t z_gather_impl(const ZGatherBox& box, const float* x,
                                                         const float* y, const float* z, std::int64_t len,
                                                         float* bx, float* by, float* bz, std::int64_t n,
                                                         std::uint8_t* flags) {
  // Pass 1 (vectorised): one flag per candidate; pass 2: compaction.
  for (std::int64_t k = 0; k < len; ++k) {
    float gx = box.xlo - x[k];
    gx = gx > x[k] - box.xhi ? gx : x[k] - box.xhi;
    gx = gx > 0.0f ? gx : 0.0f;
    float gy = box.ylo - y[k];
    gy = gy > y[k] - box.yhi ? gy : y[k] - box.yhi;
    gy = gy > 0.0f ? gy : 0.0f;
    flags[k] = (z[k] >= box.zlo) & (z[k] <= box.zhi) & (gx * gx + gy * gy <= box.r2);
  }
  for (std::int64_t k = 0; k < len; ++k) {
    bx[n] = x[k];
    by[n] = y[k];
    bz[n] = z[k];
    n += flags[k];
  }
  return n;
}

void z_histogram_baseline(const SdmBinning& bn, const float* x, const float* y, const float* z,
                          std::int64_t n, float px, float py, float pz, ZHistogram& hh) {
  z_histogram_impl<0>(bn, x, y, z, n, px, py, pz, hh);
}

template <int Variant>
[[gnu::always_inline]] inline int z_windows_impl(const ZWindowList& list, int begin, float px, float py,
                                                 float pz, float r2, std::int32_t* rows, int m) {
  for (int k = begin; k < list.n; ++k) {  // branch-free compaction
    const float dx = px - list.cx[k], dy = py - list.cy[k], dz = pz - list.cz[k];
    rows[m] = list.row[k];
    m += dx * dx + dy * dy + dz * dz <= r2;
  }
  return m;
}

template <int Variant>
[[gnu::always_inline]] inline void z_add_rows_impl(std::int64_t* out, std::int64_t stride,
                                                   const std::int32_t* rows, int nrows, const std::int64_t* h,
                                                   int nbins) {
  for (int k = 0; k < nrows; ++k) {
    std::int64_t* o = out + rows[k] * stride;
    for (int q = 0; q < nbins; ++q) o[q] += h[q];
  }
}

int z_windows_baseline(const ZWindowList& list, float px, float py, float pz, float r2, std::int32_t* rows) {
  return z_windows_impl<0>(list, 0, px, py, pz, r2, rows, 0);
}

void z_add_rows_baseline(std::int64_t* out, std::int64_t stride, const std::int32_t* rows, int nrows,
                         const std::int64_t* h, int nbins) {
  z_add_rows_impl<0>(out, stride, rows, nrows, h, nbins);
}

// The exact test of kernels/composition.hpp: d = double(q) - double(p),
// (dx*dx + dy*dy) + dz*dz <= r2 in double (NaN: out).
[[gnu::always_inline]] inline void sphere_counts_exact(const SphereCandidates& c, std::int64_t b,
                                                       std::int64_t e, double px, double py, double pz,
                                                       double r2, std::int32_t& nr, std::int32_t& ns) {
  for (std::int64_t q = b; q < e; ++q) {  // branch-free: vectorises
    const double dx = double(c.x[q]) - px, dy = double(c.y[q]) - py, dz = double(c.z[q]) - pz;
    const std::int32_t in = -std::int32_t((dx * dx + dy * dy) + dz * dz <= r2);
    nr += in & c.ranged[q];
    ns += in & c.solute[q];
  }
}

std::int64_t z_gather_baseline(const ZGatherBox& box, const float* x, const float* y, const float* z,
                               std::int64_t len, float* bx, float* by, float* bz, std::int64_t n,
                               std::uint8_t* flags) {
  return z_gather_impl<0>(box, x, y, z, len, bx, by, bz, n, flags);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__NVCC__) && \
    !defined(__CUDACC__)
#define APTFLOW_Z_HISTOGRAM_AVX2 1

// Left-packing table: for an 8-bit lane mask, the indices of the set lanes
// first (the rest of the row is don't-care), and their count.
struct LeftPack {
  alignas(32) std::int32_t index[256][8];
  std::int32_t count[256];
  constexpr LeftPack() : index{}, count{} {
    for (int m = 0; m < 256; ++m) {
      int k = 0;
      for (int b = 0; b < 8; ++b)
        if (m >> b & 1) index[m][k++] = b;
      count[m] = k;
      for (int j = k; j < 8; ++j) index[m][j] = 0;
    }
  }
};
constexpr LeftPack kLeftPack{};

// AVX2 with explicit left-packing: pass 1 tests 8 candidates at a time with
// the same IEEE float32 operations as the baseline (sub, mul, add; ordered
// comparisons, no FMA) and keeps the dz of the kept ones; pass 2 bins those
// (sub, div, truncation, as the baseline), pass 3 increments: the division
// and the increments run on kept pairs only (about a third of the candidates).
__attribute__((target("avx2"))) void z_histogram_avx2(const SdmBinning& bn, const float* X, const float* Y,
                                                      const float* Z, std::int64_t n, float px, float py,
                                                      float pz, ZHistogram& hh) {
  constexpr int kBlock = 256;
  const __m256 vpx = _mm256_set1_ps(px), vpy = _mm256_set1_ps(py), vpz = _mm256_set1_ps(pz);
  const __m256 rc2 = _mm256_set1_ps(bn.rc2), ahi = _mm256_set1_ps(bn.axis_hi),
               alo = _mm256_set1_ps(bn.axis_lo);
  const __m256 zlo = _mm256_set1_ps(bn.crop_lo), zhi = _mm256_set1_ps(bn.crop_hi);
  const __m256 lo = _mm256_set1_ps(bn.lo), w = _mm256_set1_ps(bn.w);
  const __m256i cf = _mm256_set1_epi32(bn.crop_first);
  const __m256 zero = _mm256_setzero_ps();
  // exclude = zero_dx_or_dz: all ones, so that pairs with dx == 0 or dz == 0 are dropped.
  const __m256 drop = _mm256_castsi256_ps(_mm256_set1_epi32(bn.drop_zero ? -1 : 0));
  alignas(32) float kept[kBlock + 16];
  alignas(32) std::int32_t idx[kBlock + 16];
  for (std::int64_t k0 = 0; k0 < n; k0 += kBlock) {
    const int len = n - k0 < kBlock ? static_cast<int>(n - k0) : kBlock;
    int m = 0;
    int j = 0;
    for (; j + 8 <= len; j += 8) {
      const __m256 dx = _mm256_sub_ps(_mm256_loadu_ps(X + k0 + j), vpx);
      const __m256 dy = _mm256_sub_ps(_mm256_loadu_ps(Y + k0 + j), vpy);
      const __m256 dz = _mm256_sub_ps(_mm256_loadu_ps(Z + k0 + j), vpz);
      const __m256 r2 =
          _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy)), _mm256_mul_ps(dz, dz));
      __m256 keep = _mm256_cmp_ps(r2, rc2, _CMP_LE_OQ);
      keep = _mm256_and_ps(keep, _mm256_cmp_ps(dz, zlo, _CMP_GE_OQ));
      keep = _mm256_and_ps(keep, _mm256_cmp_ps(dz, zhi, _CMP_LE_OQ));
      keep = _mm256_and_ps(keep, _mm256_cmp_ps(dx, alo, _CMP_GE_OQ));
      keep = _mm256_and_ps(keep, _mm256_cmp_ps(dx, ahi, _CMP_LE_OQ));
      const __m256 on_plane =
          _mm256_or_ps(_mm256_cmp_ps(dx, zero, _CMP_EQ_OQ), _mm256_cmp_ps(dz, zero, _CMP_EQ_OQ));
      keep = _mm256_andnot_ps(_mm256_and_ps(drop, on_plane), keep);
      const int mask = _mm256_movemask_ps(keep);
      const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i*>(kLeftPack.index[mask]));
      _mm256_storeu_ps(kept + m, _mm256_permutevar8x32_ps(dz, perm));
      m += kLeftPack.count[mask];
    }
    for (; j < len; ++j) {  // tail, scalar, same arithmetic
      const float dx = X[k0 + j] - px, dy = Y[k0 + j] - py, dz = Z[k0 + j] - pz;
      const float r2 = dx * dx + dy * dy + dz * dz;
      if (r2 <= bn.rc2 && dz >= bn.crop_lo && dz <= bn.crop_hi && dx >= bn.axis_lo && dx <= bn.axis_hi &&
          !(bn.drop_zero && (dx == 0.0f || dz == 0.0f)))
        kept[m++] = dz;
    }
    // Bins of the kept dz (all in the crop: (dz - lo) / w >= 0, truncation ==
    // floor). The last vector's unused lanes hold 0 (a finite bin, ignored).
    _mm256_storeu_ps(kept + m, _mm256_setzero_ps());
    for (int q = 0; q < m; q += 8) {
      const __m256 dz = _mm256_load_ps(kept + q);
      const __m256i bins = _mm256_sub_epi32(_mm256_cvttps_epi32(_mm256_div_ps(_mm256_sub_ps(dz, lo), w)), cf);
      _mm256_store_si256(reinterpret_cast<__m256i*>(idx + q), bins);
    }
    int q = 0;
    for (; q + kZCopies <= m; q += kZCopies)
      for (int c = 0; c < kZCopies; ++c) ++hh.c[c][idx[q + c]];
    for (; q < m; ++q) ++hh.c[0][idx[q]];
  }
}

// AVX2 gather: the box test 8 candidates at a time, kept ones left-packed
// into the buffers (which have 8 floats of slack).
__attribute__((target("avx2"))) std::int64_t z_gather_avx2(const ZGatherBox& box, const float* x,
                                                           const float* y, const float* z, std::int64_t len,
                                                           float* bx, float* by, float* bz, std::int64_t n,
                                                           std::uint8_t* flags) {
  const __m256 xlo = _mm256_set1_ps(box.xlo), xhi = _mm256_set1_ps(box.xhi), ylo = _mm256_set1_ps(box.ylo),
               yhi = _mm256_set1_ps(box.yhi), zlo = _mm256_set1_ps(box.zlo), zhi = _mm256_set1_ps(box.zhi),
               r2 = _mm256_set1_ps(box.r2), zero = _mm256_setzero_ps();
  std::int64_t k = 0;
  for (; k + 8 <= len; k += 8) {
    const __m256 vx = _mm256_loadu_ps(x + k), vy = _mm256_loadu_ps(y + k), vz = _mm256_loadu_ps(z + k);
    const __m256 gx = _mm256_max_ps(_mm256_max_ps(_mm256_sub_ps(xlo, vx), _mm256_sub_ps(vx, xhi)), zero);
    const __m256 gy = _mm256_max_ps(_mm256_max_ps(_mm256_sub_ps(ylo, vy), _mm256_sub_ps(vy, yhi)), zero);
    __m256 keep = _mm256_cmp_ps(_mm256_add_ps(_mm256_mul_ps(gx, gx), _mm256_mul_ps(gy, gy)), r2, _CMP_LE_OQ);
    keep = _mm256_and_ps(keep, _mm256_cmp_ps(vz, zlo, _CMP_GE_OQ));
    keep = _mm256_and_ps(keep, _mm256_cmp_ps(vz, zhi, _CMP_LE_OQ));
    const int mask = _mm256_movemask_ps(keep);
    if (mask == 0) continue;
    const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i*>(kLeftPack.index[mask]));
    _mm256_storeu_ps(bx + n, _mm256_permutevar8x32_ps(vx, perm));
    _mm256_storeu_ps(by + n, _mm256_permutevar8x32_ps(vy, perm));
    _mm256_storeu_ps(bz + n, _mm256_permutevar8x32_ps(vz, perm));
    n += kLeftPack.count[mask];
  }
  return z_gather_impl<1>(box, x + k, y + k, z + k, len - k, bx, by, bz, n, flags);
}

__attribute__((target("avx2"))) int z_windows_avx2(const ZWindowList& list, float px, float py, float pz,
                                                   float r2, std::int32_t* rows) {
  const __m256 vpx = _mm256_set1_ps(px), vpy = _mm256_set1_ps(py), vpz = _mm256_set1_ps(pz),
               vr2 = _mm256_set1_ps(r2);
  int m = 0, k = 0;
  for (; k + 8 <= list.n; k += 8) {
    const __m256 dx = _mm256_sub_ps(vpx, _mm256_load_ps(list.cx + k));
    const __m256 dy = _mm256_sub_ps(vpy, _mm256_load_ps(list.cy + k));
    const __m256 dz = _mm256_sub_ps(vpz, _mm256_load_ps(list.cz + k));
    const __m256 d2 =
        _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy)), _mm256_mul_ps(dz, dz));
    const int mask = _mm256_movemask_ps(_mm256_cmp_ps(d2, vr2, _CMP_LE_OQ));
    if (mask == 0) continue;
    const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i*>(kLeftPack.index[mask]));
    const __m256i r = _mm256_load_si256(reinterpret_cast<const __m256i*>(list.row + k));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(rows + m), _mm256_permutevar8x32_epi32(r, perm));
    m += kLeftPack.count[mask];
  }
  return z_windows_impl<1>(list, k, px, py, pz, r2, rows, m);
}

__attribute__((target("avx2"))) void z_add_rows_avx2(std::int64_t* out, std::int64_t stride,
                                                     const std::int32_t* rows, int nrows,
                                                     const std::int64_t* h, int nbins) {
  z_add_rows_impl<1>(out, stride, rows, nrows, h, nbins);
}

// Float32 first, 8 candidates at a time: F = (dx*dx + dy*dy) + dz*dz from
// float differences is within 8 * 2^-24 (relative) of the double d2 of the
// definition, so F < r2 (1 - 2^-14) means in and F > r2 (1 + 2^-14) out for
// certain; the few candidates in between (and the tail) take the exact
// double test. Same counts as sphere_counts_exact, always.
__attribute__((target("avx2"))) void sphere_counts_avx2(const SphereCandidates& c, float px, float py,
                                                        float pz, double r2, std::int32_t& nr,
                                                        std::int32_t& ns) {
  const double dpx = px, dpy = py, dpz = pz;
  const __m256 vpx = _mm256_set1_ps(px), vpy = _mm256_set1_ps(py), vpz = _mm256_set1_ps(pz);
  const __m256 lo = _mm256_set1_ps(static_cast<float>(r2 * (1.0 - 1.0 / 16384))),
               hi = _mm256_set1_ps(static_cast<float>(r2 * (1.0 + 1.0 / 16384)));
  __m256i ar = _mm256_setzero_si256(), as = _mm256_setzero_si256();
  std::int64_t k = 0;
  for (; k + 8 <= c.n; k += 8) {
    const __m256 dx = _mm256_sub_ps(_mm256_loadu_ps(c.x + k), vpx);
    const __m256 dy = _mm256_sub_ps(_mm256_loadu_ps(c.y + k), vpy);
    const __m256 dz = _mm256_sub_ps(_mm256_loadu_ps(c.z + k), vpz);
    const __m256 f =
        _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy)), _mm256_mul_ps(dz, dz));
    const __m256 in = _mm256_cmp_ps(f, lo, _CMP_LT_OQ);
    ar = _mm256_add_epi32(
        ar, _mm256_and_si256(_mm256_castps_si256(in),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c.ranged + k))));
    as = _mm256_add_epi32(
        as, _mm256_and_si256(_mm256_castps_si256(in),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c.solute + k))));
    // Undecided: F in [lo, hi] (NaN: neither, out).
    const int unsure = _mm256_movemask_ps(_mm256_cmp_ps(f, hi, _CMP_LE_OQ)) ^ _mm256_movemask_ps(in);
    if (unsure != 0) [[unlikely]]
      for (int j = 0; j < 8; ++j)
        if (unsure >> j & 1) sphere_counts_exact(c, k + j, k + j + 1, dpx, dpy, dpz, r2, nr, ns);
  }
  sphere_counts_exact(c, k, c.n, dpx, dpy, dpz, r2, nr, ns);
  alignas(32) std::int32_t r[8], s[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(r), ar);
  _mm256_store_si256(reinterpret_cast<__m256i*>(s), as);
  for (int j = 0; j < 8; ++j) {
    nr += r[j];
    ns += s[j];
  }
}

bool have_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}
#endif

}  // namespace

void z_histogram_add(const SdmBinning& bn, const float* x, const float* y, const float* z, std::int64_t n,
                     float px, float py, float pz, ZHistogram& hh) {
#ifdef APTFLOW_Z_HISTOGRAM_AVX2
  if (have_avx2()) return z_histogram_avx2(bn, x, y, z, n, px, py, pz, hh);
#endif
  z_histogram_baseline(bn, x, y, z, n, px, py, pz, hh);
}

std::int64_t z_gather(const ZGatherBox& box, const float* x, const float* y, const float* z, std::int64_t len,
                      float* bx, float* by, float* bz, std::int64_t n, std::uint8_t* flags) {
#ifdef APTFLOW_Z_HISTOGRAM_AVX2
  if (have_avx2()) return z_gather_avx2(box, x, y, z, len, bx, by, bz, n, flags);
#endif
  return z_gather_baseline(box, x, y, z, len, bx, by, bz, n, flags);
}

int z_windows_of(const ZWindowList& list, float px, float py, float pz, float r2, std::int32_t* rows) {
#ifdef APTFLOW_Z_HISTOGRAM_AVX2
  if (have_avx2()) return z_windows_avx2(list, px, py, pz, r2, rows);
#endif
  return z_windows_baseline(list, px, py, pz, r2, rows);
}

void z_add_rows(std::int64_t* out, std::int64_t stride, const std::int32_t* rows, int nrows,
                const std::int64_t* h, int nbins) {
#ifdef APTFLOW_Z_HISTOGRAM_AVX2
  if (have_avx2()) return z_add_rows_avx2(out, stride, rows, nrows, h, nbins);
#endif
  z_add_rows_baseline(out, stride, rows, nrows, h, nbins);
}

void sphere_counts_add(const SphereCandidates& c, float px, float py, float pz, double r2,
                       std::int32_t& ranged, std::int32_t& solute) {
#ifdef APTFLOW_Z_HISTOGRAM_AVX2
  // The float pre-test needs r2 (1 -+ 2^-14) to be normal float32 numbers.
  if (have_avx2() && r2 > 1e-30 && r2 < 1e30) return sphere_counts_avx2(c, px, py, pz, r2, ranged, solute);
#endif
  sphere_counts_exact(c, 0, c.n, px, py, pz, r2, ranged, solute);
}

const char* z_histogram_isa() {
#ifdef APTFLOW_Z_HISTOGRAM_AVX2
  if (have_avx2()) return "avx2";
#endif
  return "baseline";
}

}  // namespace aptflow::detail
