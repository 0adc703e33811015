// Bias add (+ optional ReLU) on a row-major GEMM output, the epilogue of a
// convolution or dense layer: rows = positions (or batch), cols = channels.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "aptflow/core/error.hpp"
#include "cuda/cuda_gemm.hpp"
#include "cuda/detail/cuda_check.hpp"

namespace aptflow {

namespace {

__global__ void bias_relu_kernel(float* __restrict__ y, std::int64_t rows, std::int64_t cols,
                                 std::int64_t ldy, const float* __restrict__ bias, bool relu) {
  const std::int64_t total = rows * cols;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    const std::int64_t r = i / cols;
    const std::int64_t c = i - r * cols;
    float v = y[r * ldy + c] + bias[c];
    if (relu) v = fmaxf(v, 0.0f);
    y[r * ldy + c] = v;
  }
}

}  // namespace

void cuda_bias_relu(float* d_y, std::int64_t rows, std::int64_t cols, std::int64_t ldy, const float* d_bias,
                    bool relu) {
  if (rows < 0 || cols < 0 || ldy < (cols > 1 ? cols : 1)) {
    throw InternalError("cuda_bias_relu: invalid rows = " + std::to_string(rows) +
                        ", cols = " + std::to_string(cols) + ", ldy = " + std::to_string(ldy) +
                        " (this is a bug in the caller, please report it)");
  }
  const std::int64_t total = rows * cols;
  if (total == 0) return;
  constexpr int kBlock = 256;
  // Enough blocks to fill any current GPU; the loop covers the rest.
  const std::int64_t want = (total + kBlock - 1) / kBlock;
  const int blocks = static_cast<int>(want < 65535 ? want : 65535);
  bias_relu_kernel<<<blocks, kBlock>>>(d_y, rows, cols, ldy, d_bias, relu);
  detail::check_cuda(cudaGetLastError(), "launch of aptflow::cuda::bias_relu");
}

}  // namespace aptflow
