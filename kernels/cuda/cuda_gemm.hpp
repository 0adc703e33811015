#pragma once
// aptflow_cuda: a raw-pointer C++ API over the CUDA runtime, cuBLAS and a few
// nvcc-compiled kernels. No CUDA type appears here, so any translation unit
// (compiled by g++, not nvcc) can include it; it exists only in builds with
// APTFLOW_HAVE_CUDA == 1 (see aptflow/config.hpp).
//
// Conventions
// - Matrices are row-major, like everywhere else in aptflow: element (r, c)
//   of a matrix with leading dimension ld sits at p[r * ld + c].
// - Pointers named d_* are device pointers (from cuda_malloc / DeviceBuffer),
//   h_* are host pointers.
// - Everything runs on the current device (device 0 unless the caller selected
//   another with cuda_set_device) and on the legacy default stream (except
//   cuda_sgemm_on_stream), so a copy back to the host waits for the kernels
//   before it.
// - Every failure throws aptflow::ResourceError with the CUDA or cuBLAS error
//   name and string; nothing here calls exit().
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace aptflow {

// ---------------------------------------------------------------- devices

// Number of CUDA devices this process can use: 0 when there is no GPU, no
// driver, or the driver is older than the runtime. Never throws; the answer
// is computed once per process.
int cuda_device_count() noexcept;

// Why cuda_device_count() is 0 ("no CUDA-capable device is detected", ...);
// empty when a device is present.
std::string cuda_unavailable_reason();

// Name of a device, e.g. "NVIDIA H100 80GB HBM3". Throws ResourceError for a
// device index that does not exist.
std::string cuda_device_name(int device);

// Select the device used by this host thread / the one it currently uses.
void cuda_set_device(int device);
int cuda_current_device();

// Wait until all work queued on the current device has finished.
void cuda_synchronize();

// ---------------------------------------------------------------- memory

// Device allocation of `bytes` bytes (nullptr for 0 bytes); ResourceError
// naming the size when it fails.
void* cuda_malloc(std::size_t bytes);
// Releases memory from cuda_malloc; nullptr is a no-op. Never throws (errors
// while the process tears the driver down are ignored).
void cuda_free(void* d_ptr) noexcept;

void cuda_copy_to_device(void* d_dst, const void* h_src, std::size_t bytes);
void cuda_copy_to_host(void* h_dst, const void* d_src, std::size_t bytes);

// Strided copies of `height` rows of `width_bytes` bytes each, the rows being
// `dst_pitch` and `src_pitch` bytes apart (pitch >= width_bytes). Used to pack
// a sub-matrix with a large leading dimension into a dense device buffer.
void cuda_copy_to_device_2d(void* d_dst, std::size_t dst_pitch, const void* h_src, std::size_t src_pitch,
                            std::size_t width_bytes, std::size_t height);
void cuda_copy_to_host_2d(void* h_dst, std::size_t dst_pitch, const void* d_src, std::size_t src_pitch,
                          std::size_t width_bytes, std::size_t height);

// Owning, move-only device array of `count` elements of a trivially copyable T.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count)
      : data_(static_cast<T*>(cuda_malloc(count * sizeof(T)))), size_(count) {}
  ~DeviceBuffer() { cuda_free(data_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      cuda_free(data_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }

  T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

  // Copy the first `count` elements from / to host memory.
  void upload(const T* h_src, std::size_t count) { cuda_copy_to_device(data_, h_src, count * sizeof(T)); }
  void download(T* h_dst, std::size_t count) const { cuda_copy_to_host(h_dst, data_, count * sizeof(T)); }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// ---------------------------------------------------------------- cuBLAS

// Row-major single-precision GEMM on device pointers:
//   C[m x n] = alpha * op(A) * op(B) + beta * C,
// op(A) is m x k (A is m x k, or k x m when transpose_a), op(B) is k x n.
// lda, ldb, ldc are row strides in elements. With beta == 0, C is not read
// (it may hold garbage or NaN). Wraps cublasSgemm, which is column-major, by
// computing C^T = op(B)^T op(A)^T: a row-major matrix is its column-major
// transpose, so only the operands swap. Uses plain FP32 math (no TF32).
// Queued on the default stream; the next copy to the host waits for it.
// Throws ResourceError (cuBLAS status name and string) when cuBLAS fails and
// InternalError when a size or leading dimension is invalid or exceeds the
// 32-bit cuBLAS interface.
void cuda_sgemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
                float alpha, const float* d_a, std::int64_t lda, const float* d_b, std::int64_t ldb,
                float beta, float* d_c, std::int64_t ldc);
// The same, queued on `stream` (a cudaStream_t, e.g. Kokkos::Cuda::cuda_stream();
// nullptr = the legacy default stream, as cuda_sgemm): ordered after the work
// already queued there, and returns without waiting.
void cuda_sgemm_on_stream(void* stream, bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n,
                          std::int64_t k, float alpha, const float* d_a, std::int64_t lda, const float* d_b,
                          std::int64_t ldb, float beta, float* d_c, std::int64_t ldc);

// ---------------------------------------------------------------- kernels

// y[r, c] = y[r, c] + bias[c] for a row-major rows x cols matrix with row
// stride ldy (a GEMM output: rows = positions, cols = channels), followed by
// max(0, .) when `relu`. One nvcc-compiled kernel, grid-stride over the
// elements.
void cuda_bias_relu(float* d_y, std::int64_t rows, std::int64_t cols, std::int64_t ldy, const float* d_bias,
                    bool relu);

}  // namespace aptflow
