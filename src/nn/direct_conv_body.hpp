// Body of the direct convolution (src/nn/direct_conv.hpp), compiled once per
// instruction set: src/nn/direct_conv.cpp includes it inside namespace
// `generic` and again inside namespace `avx2` (under GCC target("avx2,fma")),
// each time after defining V, a vector of 8 floats with zero, load, bcast
// (load one float into every lane), store, fma (a * b + c), add and max, and
// the block heights kRows16 and kRows8 (output positions per block of 16 and
// of 8 filters: as many accumulators as the registers hold).
// No include guard and no #include: included twice on purpose, after the
// standard headers it needs (<algorithm>, <array>, <cstdint>, <limits>,
// <utility>) and the APTFLOW_UNROLL(n) macro.

// One block: R consecutive output positions of one output row x 8 NV filters.
struct BlockArgs {
  const float* x = nullptr;               // input at the block's first position (its first tap), channel 0
  std::int64_t xstep = 0;                 // floats between consecutive output positions (s_w C)
  std::int64_t row = 0;                   // floats between input rows (h)
  std::int64_t plane = 0;                 // floats between input planes (d)
  std::int64_t k0 = 1, k1 = 1, taps = 1;  // kernel rows along d and h; k_w C floats per kernel row
  const float* w = nullptr;               // packed kernel at the block's first filter
  std::int64_t wstride = 8;               // floats between consecutive taps in w (F rounded up to 8)
  const float* bias = nullptr;            // at the block's first filter (zeros without bias)
  bool relu = false;
  // Unfused: output of the block's first position and filter, floats between
  // positions, and how many filters from there are real (the rest is padding).
  float* y = nullptr;
  std::int64_t ystride = 0, lanes = 0;
  // Fused pooling (maxbuf != nullptr): running maxima, 8 NV floats per pooled
  // cell of the row; position ow0 + r goes to cell cell_of[ow0 + r] (=
  // (ow0 + r) / pool_w, tabulated: a 64-bit division per position would cost
  // as much as the block's arithmetic when the kernel is small).
  float* maxbuf = nullptr;
  const std::int32_t* cell_of = nullptr;
  std::int64_t ow0 = 0;
};

// The first `lanes` floats of t to dst.
template <int NV>
inline void store_lanes(float* dst, const V (&t)[NV], std::int64_t lanes) {
  APTFLOW_UNROLL(4)
  for (int v = 0; v < NV; ++v) {
    if (8 * v + 8 <= lanes) {
      V::store(dst + 8 * v, t[v]);
    } else if (8 * v < lanes) {
      float tmp[8];
      V::store(tmp, t[v]);
      std::copy_n(tmp, lanes - 8 * v, dst + 8 * v);
    }
  }
}

template <int NV>
inline void bias_relu(V (&t)[NV], const float* bias, bool relu) {
  APTFLOW_UNROLL(4)
  for (int v = 0; v < NV; ++v) {
    t[v] = V::add(t[v], V::load(bias + 8 * v));
    if (relu) t[v] = V::max(t[v], V::zero());
  }
}

template <int R, int NV>
void conv_block(const BlockArgs& a) {
  V acc[R][NV];
  APTFLOW_UNROLL(16)
  for (int r = 0; r < R; ++r) {
    APTFLOW_UNROLL(4)
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  }
  for (std::int64_t i0 = 0; i0 < a.k0; ++i0)
    for (std::int64_t i1 = 0; i1 < a.k1; ++i1) {
      const float* xr = a.x + i0 * a.plane + i1 * a.row;
      const float* wr = a.w + (i0 * a.k1 + i1) * a.taps * a.wstride;
      for (std::int64_t j = 0; j < a.taps; ++j, wr += a.wstride) {
        V wv[NV];
        APTFLOW_UNROLL(4)
        for (int v = 0; v < NV; ++v) wv[v] = V::load(wr + 8 * v);
        APTFLOW_UNROLL(16)
        for (int r = 0; r < R; ++r) {
          const V xb = V::bcast(xr + r * a.xstep + j);
          APTFLOW_UNROLL(4)
          for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(xb, wv[v], acc[r][v]);
        }
      }
    }
  if (a.maxbuf == nullptr) {
    APTFLOW_UNROLL(16)
    for (int r = 0; r < R; ++r) {
      bias_relu<NV>(acc[r], a.bias, a.relu);
      store_lanes<NV>(a.y + r * a.ystride, acc[r], a.lanes);
    }
  } else {
    APTFLOW_UNROLL(16)
    for (int r = 0; r < R; ++r) {
      float* m = a.maxbuf + std::int64_t{a.cell_of[a.ow0 + r]} * (8 * NV);
      APTFLOW_UNROLL(4)
      for (int v = 0; v < NV; ++v) V::store(m + 8 * v, V::max(V::load(m + 8 * v), acc[r][v]));
    }
  }
}

using BlockFn = void (*)(const BlockArgs&);

template <int NV, int... Rs>
constexpr std::array<BlockFn, sizeof...(Rs)> block_table(std::integer_sequence<int, Rs...>) {
  return {&conv_block<Rs + 1, NV>...};
}

template <int NV>
void finish_pooled_row(const float* maxbuf, std::int64_t cells, const float* bias, bool relu, float* y,
                       std::int64_t ystride, std::int64_t lanes) {
  for (std::int64_t c = 0; c < cells; ++c) {
    V t[NV];
    APTFLOW_UNROLL(4)
    for (int v = 0; v < NV; ++v) t[v] = V::load(maxbuf + c * 8 * NV + 8 * v);
    bias_relu<NV>(t, bias, relu);
    store_lanes<NV>(y + c * ystride, t, lanes);
  }
}

// One sample. x: the input with extents inp (already zero-padded where the
// geometry pads), w: kernel with taps wstride floats apart, bias: wstride
// floats; when pooling, maxbuf: pool->out[2] * 16 floats of scratch and
// cell_of[i] = i / pool->p[2] for i < pool->out[2] * pool->p[2].
void conv_sample(const ConvGeometry& g, const std::int64_t (&inp)[3], const float* x, const float* w,
                 std::int64_t wstride, const float* bias, bool relu, const FusedPool* pool, float* y,
                 float* maxbuf, const std::int32_t* cell_of) {
  static constexpr auto table16 = block_table<2>(std::make_integer_sequence<int, kRows16>{});
  static constexpr auto table8 = block_table<1>(std::make_integer_sequence<int, kRows8>{});
  const std::int64_t C = g.channels, F = g.filters;
  BlockArgs a;
  a.xstep = g.s[2] * C;
  a.row = inp[2] * C;
  a.plane = inp[1] * inp[2] * C;
  a.k0 = g.k[0];
  a.k1 = g.k[1];
  a.taps = g.k[2] * C;
  a.wstride = wstride;
  a.relu = relu;
  a.ystride = F;
  auto input_at = [&](std::int64_t od, std::int64_t oh, std::int64_t ow) {
    return x + ((od * g.s[0] * inp[1] + oh * g.s[1]) * inp[2] + ow * g.s[2]) * C;
  };
  for (std::int64_t f0 = 0; f0 < F; f0 += 16) {
    const bool wide = F - f0 > 8;  // then wstride - f0 >= 16
    const std::int64_t R = wide ? kRows16 : kRows8;
    const BlockFn* table = wide ? table16.data() : table8.data();
    a.w = w + f0;
    a.bias = bias + f0;
    a.lanes = F - f0;
    if (pool == nullptr) {
      a.maxbuf = nullptr;
      for (std::int64_t od = 0; od < g.out[0]; ++od)
        for (std::int64_t oh = 0; oh < g.out[1]; ++oh)
          for (std::int64_t ow = 0; ow < g.out[2]; ow += R) {
            const std::int64_t n = std::min(R, g.out[2] - ow);
            a.x = input_at(od, oh, ow);
            a.y = y + ((od * g.out[1] + oh) * g.out[2] + ow) * F + f0;
            table[n - 1](a);
          }
      continue;
    }
    const std::int64_t width = wide ? 16 : 8, cells = pool->out[2], span = cells * pool->p[2];
    a.maxbuf = maxbuf;
    a.cell_of = cell_of;
    for (std::int64_t pd = 0; pd < pool->out[0]; ++pd)
      for (std::int64_t ph = 0; ph < pool->out[1]; ++ph) {
        std::fill(maxbuf, maxbuf + cells * width, -std::numeric_limits<float>::infinity());
        for (std::int64_t dd = 0; dd < pool->p[0]; ++dd)
          for (std::int64_t dh = 0; dh < pool->p[1]; ++dh)
            for (std::int64_t ow = 0; ow < span; ow += R) {
              a.x = input_at(pd * pool->p[0] + dd, ph * pool->p[1] + dh, ow);
              a.ow0 = ow;
              table[std::min(R, span - ow) - 1](a);
            }
        float* yrow = y + ((pd * pool->out[1] + ph) * cells) * F + f0;
        if (wide)
          finish_pooled_row<2>(maxbuf, cells, a.bias, relu, yrow, F, F - f0);
        else
          finish_pooled_row<1>(maxbuf, cells, a.bias, relu, yrow, F, F - f0);
      }
  }
}
