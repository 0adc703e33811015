#pragma once
// Direct convolution for inference (internal to aptflow::nn; used by
// Conv::forward / Conv::infer and by the fused Conv + MaxPool step of
// Model::predict, docs/models.md "Inference paths").
//
// Channels last, Keras kernel layout (k_d, k_h, k_w, C, F): for a fixed
// kernel row (a, b) the taps (c_w, c) of one output position read a
// contiguous run of k_w * C input floats, and the F filter weights of each tap
// are contiguous. The micro-kernel keeps an R positions x (8 NV) filters block
// of sums in vector registers (R = 6, NV = 2 with AVX2: 12 accumulators),
// broadcasts one input value per position and tap and multiplies it with the
// filter vectors of the tap: no im2col matrix, no GEMM packing, no beta pass.
// Each output is the sum over (a, b, c_w, c) in that fixed order, then the
// bias, then ReLU; a sample's result does not depend on the batch around it.
//
// Fused max pooling: when a non-overlapping pool (window == stride, valid
// padding) follows, only the conv positions the pool reads are computed
// (Keras drops the ragged end: 7 -> 3 with window 2 uses positions 0..5),
// their maximum is taken and the bias and ReLU applied once per pooled cell:
// max(relu(s_i + b)) == relu(max(s_i) + b) exactly in floating point (both
// maps are monotone), so the fused result equals the unfused one (only the
// sign of a zero may differ, with a linear activation).
//
// Two instruction sets, chosen once per process from the CPU and named:
// "[direct avx2]" (x86-64 with AVX2 and FMA, compiled with GCC target
// attributes, so the binary still runs on older CPUs; 6 x 16 blocks) and
// "[direct generic]" (GCC vectors of 4 floats: SSE2 on any x86-64, NEON on
// aarch64; 3 x 16 blocks). They differ in the last bits (FMA rounding).
// Measured on one core of the AVX2 EPYC development VM: the 3D bench layers
// run at 50-80 GFLOP/s (avx2) and 22-31 GFLOP/s (generic).
#include <cstdint>
#include <string_view>

namespace aptflow::nn::detail {

// One convolution over 3 spatial axes (d, h, w), rank-1/2 layers padded with
// unit leading axes; pad = zeros before (Keras "same"), the rest after.
struct ConvGeometry {
  std::int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, pad[3] = {0, 0, 0}, out[3] = {1, 1, 1};
  std::int64_t channels = 1, filters = 1;
};

// Non-overlapping max pooling applied to the convolution output: window ==
// stride p, valid padding, out = floor(conv out / p) on every axis.
struct FusedPool {
  std::int64_t p[3] = {1, 1, 1}, out[3] = {1, 1, 1};
};

enum class ConvIsa { generic, avx2 };

// The instruction set this CPU and build support best (computed once).
ConvIsa best_conv_isa() noexcept;
// True when `isa` can run here (generic always).
bool conv_isa_available(ConvIsa isa) noexcept;
// "[direct avx2]" | "[direct generic]"
std::string_view conv_isa_name(ConvIsa isa) noexcept;

// y = relu?(conv(x) + bias), pooled when pool != nullptr, for `batch`
// samples of g.in x channels each; y is (batch, out..., filters) or (batch,
// pool->out..., filters). bias may be nullptr (no bias). `kernel` is the
// Keras kernel (k_d, k_h, k_w, C, F). `isa` must be available.
void direct_conv(ConvIsa isa, const ConvGeometry& g, const float* kernel, const float* bias, bool relu,
                 const FusedPool* pool, const float* x, std::int64_t batch, float* y);

}  // namespace aptflow::nn::detail
