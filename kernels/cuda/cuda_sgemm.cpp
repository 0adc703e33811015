// Row-major SGEMM over cuBLAS (column-major).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "aptflow/kernels/detail/gemm_check.hpp"
#include "cuda/cuda_gemm.hpp"
#include "cuda/detail/cuda_check.hpp"

namespace aptflow {

namespace {

[[noreturn]] void throw_cublas_error(const std::string& what, cublasStatus_t status) {
  throw ResourceError("cuBLAS " + what + " failed: " + cublasGetStatusName(status) + ": " +
                      cublasGetStatusString(status) +
                      "; check that a working GPU and driver are present (nvidia-smi) and that device memory "
                      "is not exhausted");
}

// One cuBLAS handle per host thread and device, created on first use (a
// handle is bound to the device current at creation, and creating one costs
// milliseconds). Destroyed when the thread exits; errors at that point (the
// runtime may be unloading) are ignored.
class HandleCache {
 public:
  ~HandleCache() {
    for (cublasHandle_t h : handles_) {
      if (h != nullptr) (void)cublasDestroy(h);
    }
  }
  cublasHandle_t get() {
    int device = 0;
    detail::check_cuda(cudaGetDevice(&device), "cudaGetDevice");
    if (static_cast<std::size_t>(device) >= handles_.size()) handles_.resize(device + 1, nullptr);
    if (handles_[device] == nullptr) {
      cublasHandle_t h = nullptr;
      const cublasStatus_t status = cublasCreate(&h);
      if (status != CUBLAS_STATUS_SUCCESS) throw_cublas_error("cublasCreate", status);
      // Plain FP32 arithmetic: the default, stated so that a change of
      // default in a future cuBLAS does not silently switch to TF32.
      (void)cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
      handles_[device] = h;
    }
    return handles_[device];
  }

 private:
  std::vector<cublasHandle_t> handles_;
};

cublasHandle_t this_thread_handle() {
  thread_local HandleCache cache;
  return cache.get();
}

}  // namespace

void cuda_sgemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
                float alpha, const float* d_a, std::int64_t lda, const float* d_b, std::int64_t ldb,
                float beta, float* d_c, std::int64_t ldc) {
  cuda_sgemm_on_stream(nullptr, transpose_a, transpose_b, m, n, k, alpha, d_a, lda, d_b, ldb, beta, d_c, ldc);
}

void cuda_sgemm_on_stream(void* stream, bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n,
                          std::int64_t k, float alpha, const float* d_a, std::int64_t lda, const float* d_b,
                          std::int64_t ldb, float beta, float* d_c, std::int64_t ldc) {
  detail::check_gemm_args("cuda_sgemm", transpose_a, transpose_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  cublasHandle_t handle = this_thread_handle();
  // The handle is shared by every call of this thread: set the stream each time.
  const cublasStatus_t set = cublasSetStream(handle, static_cast<cudaStream_t>(stream));
  if (set != CUBLAS_STATUS_SUCCESS) throw_cublas_error("cublasSetStream", set);
  // Row-major -> column-major: operands and m <-> n swap (see gemm_check.hpp).
  const detail::ColMajorGemm cm =
      detail::row_major_as_col_major(transpose_a, transpose_b, m, n, k, d_a, lda, d_b, ldb);
  const cublasStatus_t status = cublasSgemm(
      handle, cm.transpose_x ? CUBLAS_OP_T : CUBLAS_OP_N, cm.transpose_y ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(cm.m), static_cast<int>(cm.n), static_cast<int>(cm.k), &alpha, cm.x,
      static_cast<int>(cm.ldx), cm.y, static_cast<int>(cm.ldy), &beta, d_c, static_cast<int>(ldc));
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw_cublas_error("cublasSgemm (m = " + std::to_string(m) + ", n = " + std::to_string(n) +
                           ", k = " + std::to_string(k) + ")",
                       status);
  }
  // Launch errors surface here rather than at the next unrelated call.
  detail::check_cuda(cudaGetLastError(), "cublasSgemm launch");
}

}  // namespace aptflow
