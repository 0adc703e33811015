// Direct convolution for inference; see src/nn/direct_conv.hpp.
#include "nn/direct_conv.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "aptflow/core/error.hpp"

// The AVX2 + FMA body is compiled with GCC's target pragma (x86-64 GCC only;
// nvcc and clang builds use the generic body) and chosen at run time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define APTFLOW_DIRECT_CONV_AVX2 1
#include <immintrin.h>
#else
#define APTFLOW_DIRECT_CONV_AVX2 0
#endif

// Full unrolling of the register-block loops (GCC; nvcc's front end and
// clang do not know the pragma, and unroll such short constant loops anyway).
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define APTFLOW_PRAGMA(x) _Pragma(#x)
#define APTFLOW_UNROLL(n) APTFLOW_PRAGMA(GCC unroll n)
#else
#define APTFLOW_UNROLL(n)
#endif

namespace aptflow::nn::detail {

namespace generic {

// Two 4-float GCC vectors: SSE2 on any x86-64, NEON on aarch64, scalar code
// elsewhere. 16 registers of 4 floats hold 3 x 16 or 6 x 8 accumulators.
typedef float F4 __attribute__((vector_size(16)));
typedef std::int32_t I4 __attribute__((vector_size(16)));
struct V {
  F4 lo, hi;
  static V zero() { return {F4{0, 0, 0, 0}, F4{0, 0, 0, 0}}; }
  static V load(const float* p) {
    V r;
    std::memcpy(&r.lo, p, sizeof(F4));
    std::memcpy(&r.hi, p + 4, sizeof(F4));
    return r;
  }
  static V bcast(const float* p) {
    const float s = *p;
    return {F4{s, s, s, s}, F4{s, s, s, s}};
  }
  static void store(float* p, const V& a) {
    std::memcpy(p, &a.lo, sizeof(F4));
    std::memcpy(p + 4, &a.hi, sizeof(F4));
  }
  static V fma(const V& a, const V& b, const V& c) { return {a.lo * b.lo + c.lo, a.hi * b.hi + c.hi}; }
  static V add(const V& a, const V& b) { return {a.lo + b.lo, a.hi + b.hi}; }
  // The second operand when neither is greater (as _mm256_max_ps).
  static V max(const V& a, const V& b) { return {max4(a.lo, b.lo), max4(a.hi, b.hi)}; }
  static F4 max4(F4 a, F4 b) {
    const I4 greater = a > b;  // all ones where a > b
    return reinterpret_cast<F4>((reinterpret_cast<I4>(a) & greater) | (reinterpret_cast<I4>(b) & ~greater));
  }
};
constexpr int kRows16 = 3, kRows8 = 6;

#include "nn/direct_conv_body.hpp"

}  // namespace generic

#if APTFLOW_DIRECT_CONV_AVX2
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {

struct V {
  __m256 v;
  static V zero() { return {_mm256_setzero_ps()}; }
  static V load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static V bcast(const float* p) { return {_mm256_broadcast_ss(p)}; }
  static void store(float* p, V a) { _mm256_storeu_ps(p, a.v); }
  static V fma(V a, V b, V c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
  static V add(V a, V b) { return {_mm256_add_ps(a.v, b.v)}; }
  static V max(V a, V b) { return {_mm256_max_ps(a.v, b.v)}; }
};
// 12 of the 16 ymm registers accumulate: 6 positions x 16 filters, 12 x 8.
constexpr int kRows16 = 6, kRows8 = 12;

#include "nn/direct_conv_body.hpp"

}  // namespace avx2
#pragma GCC pop_options
#endif

namespace {

// Per-thread scratch, grown and reused across calls (inference runs
// thousands of small batches; a fresh allocation each time would page-fault).
struct Scratch {
  std::vector<float> kernel, bias, padded, maxbuf;
  std::vector<std::int32_t> cell_of;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

float* grow(std::vector<float>& v, std::int64_t n) {
  if (static_cast<std::int64_t>(v.size()) < n) v.resize(static_cast<std::size_t>(n));
  return v.data();
}

}  // namespace

ConvIsa best_conv_isa() noexcept {
  static const ConvIsa isa = [] {
#if APTFLOW_DIRECT_CONV_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ConvIsa::avx2;
#endif
    return ConvIsa::generic;
  }();
  return isa;
}

bool conv_isa_available(ConvIsa isa) noexcept { return isa == ConvIsa::generic || best_conv_isa() == isa; }

std::string_view conv_isa_name(ConvIsa isa) noexcept {
  return isa == ConvIsa::avx2 ? "[direct avx2]" : "[direct generic]";
}

void direct_conv(ConvIsa isa, const ConvGeometry& g, const float* kernel, const float* bias, bool relu,
                 const FusedPool* pool, const float* x, std::int64_t batch, float* y) {
  APTFLOW_ASSERT(conv_isa_available(isa), "direct_conv: instruction set not available on this CPU");
  const std::int64_t C = g.channels, F = g.filters;
  const std::int64_t wstride = (F + 7) / 8 * 8;
  const std::int64_t taps = g.k[0] * g.k[1] * g.k[2] * C;
  Scratch& s = scratch();
  // Filters padded to a multiple of 8 with zero weights (their sums are never stored).
  const float* w = kernel;
  if (wstride != F) {
    float* packed = grow(s.kernel, taps * wstride);
    for (std::int64_t t = 0; t < taps; ++t) {
      std::copy_n(kernel + t * F, F, packed + t * wstride);
      std::fill(packed + t * wstride + F, packed + (t + 1) * wstride, 0.0f);
    }
    w = packed;
  }
  float* b = grow(s.bias, wstride);
  std::fill(b, b + wstride, 0.0f);
  if (bias != nullptr) std::copy_n(bias, F, b);
  // Zero-padded copy of each sample where the geometry pads ("same").
  std::int64_t inp[3];
  bool padded = false;
  for (int a = 0; a < 3; ++a) {
    inp[a] = std::max(g.in[a], (g.out[a] - 1) * g.s[a] + g.k[a]);
    padded = padded || inp[a] != g.in[a] || g.pad[a] != 0;
  }
  const std::int64_t in_size = g.in[0] * g.in[1] * g.in[2] * C;
  float* xp = nullptr;
  if (padded) {
    xp = grow(s.padded, inp[0] * inp[1] * inp[2] * C);
    std::fill(xp, xp + inp[0] * inp[1] * inp[2] * C, 0.0f);
  }
  float* maxbuf = nullptr;
  const std::int32_t* cell_of = nullptr;
  if (pool != nullptr) {
    maxbuf = grow(s.maxbuf, pool->out[2] * 16);
    s.cell_of.resize(static_cast<std::size_t>(pool->out[2] * pool->p[2]));
    for (std::size_t i = 0; i < s.cell_of.size(); ++i)
      s.cell_of[i] = static_cast<std::int32_t>(static_cast<std::int64_t>(i) / pool->p[2]);
    cell_of = s.cell_of.data();
  }
  const std::int64_t out_size =
      (pool != nullptr ? pool->out[0] * pool->out[1] * pool->out[2] : g.out[0] * g.out[1] * g.out[2]) * F;
  for (std::int64_t n = 0; n < batch; ++n) {
    const float* xs = x + n * in_size;
    if (padded) {
      // Only the interior changes from sample to sample; the border stays zero.
      for (std::int64_t i0 = 0; i0 < g.in[0]; ++i0)
        for (std::int64_t i1 = 0; i1 < g.in[1]; ++i1)
          std::copy_n(xs + (i0 * g.in[1] + i1) * g.in[2] * C, g.in[2] * C,
                      xp + (((i0 + g.pad[0]) * inp[1] + i1 + g.pad[1]) * inp[2] + g.pad[2]) * C);
      xs = xp;
    }
    float* ys = y + n * out_size;
#if APTFLOW_DIRECT_CONV_AVX2
    if (isa == ConvIsa::avx2) {
      avx2::conv_sample(g, inp, xs, w, wstride, b, relu, pool, ys, maxbuf, cell_of);
      continue;
    }
#endif
    generic::conv_sample(g, inp, xs, w, wstride, b, relu, pool, ys, maxbuf, cell_of);
  }
}

}  // namespace aptflow::nn::detail
