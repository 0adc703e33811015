// Device query, memory and copies over the CUDA runtime (compiled by the host
// compiler; only the kernels in *.cu go through nvcc).
#include <cuda_runtime_api.h>

#include <mutex>
#include <string>

#include "cuda/cuda_gemm.hpp"
#include "cuda/detail/cuda_check.hpp"

namespace aptflow {

namespace {

struct DeviceCensus {
  int count = 0;
  std::string reason;  // why count is 0
};

// cudaGetDeviceCount loads the driver; without one it returns
// cudaErrorInsufficientDriver or cudaErrorNoDevice. Ask once per process.
const DeviceCensus& census() {
  static const DeviceCensus result = [] {
    DeviceCensus c;
    int n = 0;
    const cudaError_t code = cudaGetDeviceCount(&n);
    if (code != cudaSuccess) {
      c.reason = std::string(cudaGetErrorName(code)) + ": " + cudaGetErrorString(code);
      (void)cudaGetLastError();
    } else if (n <= 0) {
      c.reason = "the CUDA runtime reports 0 devices";
    } else {
      c.count = n;
    }
    return c;
  }();
  return result;
}

}  // namespace

int cuda_device_count() noexcept {
  try {
    return census().count;
  } catch (...) {  // std::bad_alloc while building the reason string
    return 0;
  }
}

std::string cuda_unavailable_reason() { return census().reason; }

std::string cuda_device_name(int device) {
  cudaDeviceProp prop{};
  detail::check_cuda(cudaGetDeviceProperties(&prop, device),
                     "cudaGetDeviceProperties(device " + std::to_string(device) + ")",
                     "use a device index below cuda_device_count()");
  return prop.name;
}

void cuda_set_device(int device) {
  detail::check_cuda(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")",
                     "use a device index below cuda_device_count()");
}

int cuda_current_device() {
  int device = 0;
  detail::check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  return device;
}

void cuda_synchronize() { detail::check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

void* cuda_malloc(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  const cudaError_t code = cudaMalloc(&p, bytes);
  if (code != cudaSuccess) {
    detail::throw_cuda_error("cudaMalloc of " + std::to_string(bytes) + " bytes", code,
                             code == cudaErrorMemoryAllocation
                                 ? "free device memory or process fewer windows per chunk"
                                 : "check that a working GPU and driver are present (nvidia-smi)");
  }
  return p;
}

void cuda_free(void* d_ptr) noexcept {
  if (d_ptr == nullptr) return;
  // At process exit the runtime may already be unloading
  // (cudaErrorCudartUnloading); nothing useful can be done about it.
  (void)cudaFree(d_ptr);
  (void)cudaGetLastError();
}

void cuda_copy_to_device(void* d_dst, const void* h_src, std::size_t bytes) {
  if (bytes == 0) return;
  detail::check_cuda(cudaMemcpy(d_dst, h_src, bytes, cudaMemcpyHostToDevice),
                     "cudaMemcpy host->device of " + std::to_string(bytes) + " bytes");
}

void cuda_copy_to_host(void* h_dst, const void* d_src, std::size_t bytes) {
  if (bytes == 0) return;
  detail::check_cuda(cudaMemcpy(h_dst, d_src, bytes, cudaMemcpyDeviceToHost),
                     "cudaMemcpy device->host of " + std::to_string(bytes) + " bytes");
}

void cuda_copy_to_device_2d(void* d_dst, std::size_t dst_pitch, const void* h_src, std::size_t src_pitch,
                            std::size_t width_bytes, std::size_t height) {
  if (width_bytes == 0 || height == 0) return;
  detail::check_cuda(
      cudaMemcpy2D(d_dst, dst_pitch, h_src, src_pitch, width_bytes, height, cudaMemcpyHostToDevice),
      "cudaMemcpy2D host->device of " + std::to_string(height) + " rows x " + std::to_string(width_bytes) +
          " bytes");
}

void cuda_copy_to_host_2d(void* h_dst, std::size_t dst_pitch, const void* d_src, std::size_t src_pitch,
                          std::size_t width_bytes, std::size_t height) {
  if (width_bytes == 0 || height == 0) return;
  detail::check_cuda(
      cudaMemcpy2D(h_dst, dst_pitch, d_src, src_pitch, width_bytes, height, cudaMemcpyDeviceToHost),
      "cudaMemcpy2D device->host of " + std::to_string(height) + " rows x " + std::to_string(width_bytes) +
          " bytes");
}

}  // namespace aptflow
