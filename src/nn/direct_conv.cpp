// Direct convolution for inference; see src/nn/direct_conv.hpp.
#include "nn/direct_conv.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
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

namespace aptflow::nn::detail {

namespace generic {

struct V {
  float v[8];
  static V zero() {
    V r;
    for (float& e : r.v) e = 0.0f;
    return r;
  }
  static V load(const float* p) {
    V r;
    for (int i = 0; i < 8; ++i) r.v[i] = p[i];
    return r;
  }
  static V bcast(const float* p) {
    V r;
    const float s = *p;
    for (float& e : r.v) e = s;
    return r;
  }
  static void store(float* p, const V& a) {
    for (int i = 0; i < 8; ++i) p[i] = a.v[i];
  }
  static V fma(const V& a, const V& b, const V& c) {
    V r;
    for (int i = 0; i < 8; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i];
    return r;
  }
  static V add(const V& a, const V& b) {
    V r;
    for (int i = 0; i < 8; ++i) r.v[i] = a.v[i] + b.v[i];
    return r;
  }
  // The second operand when neither is greater (as _mm256_max_ps).
  static V max(const V& a, const V& b) {
    V r;
    for (int i = 0; i < 8; ++i) r.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i];
    return r;
  }
};

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

#include "nn/direct_conv_body.hpp"

}  // namespace avx2
#pragma GCC pop_options
#endif

namespace {

// Per-thread scratch, grown and reused across calls (inference runs
// thousands of small batches; a fresh allocation each time would page-fault).
struct Scratch {
  std::vector<float> kernel, bias, padded, maxbuf;
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
  float* maxbuf = pool != nullptr ? grow(s.maxbuf, pool->out[2] * 16) : nullptr;
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
      avx2::conv_sample(g, inp, xs, w, wstride, b, relu, pool, ys, maxbuf);
      continue;
    }
#endif
    generic::conv_sample(g, inp, xs, w, wstride, b, relu, pool, ys, maxbuf);
  }
}

}  // namespace aptflow::nn::detail
