#pragma once
// Internal to aptflow_cuda: turn CUDA runtime and cuBLAS status codes into
// aptflow::ResourceError. Includes CUDA headers, so only kernels/cuda/ sources
// include it.
#include <cuda_runtime_api.h>

#include <string>

#include "aptflow/core/error.hpp"

namespace aptflow::detail {

// "CUDA <what> failed: <cudaErrorName>: <string>; <hint>". Clears the
// runtime's sticky last error so later calls are not blamed for this one.
[[noreturn]] inline void throw_cuda_error(const std::string& what, cudaError_t code,
                                          const std::string& hint) {
  (void)cudaGetLastError();
  throw ResourceError("CUDA " + what + " failed: " + cudaGetErrorName(code) + ": " +
                      cudaGetErrorString(code) + "; " + hint);
}

inline void check_cuda(cudaError_t code, const std::string& what,
                       const char* hint = "check that a working GPU and driver are present (nvidia-smi)") {
  if (code != cudaSuccess) throw_cuda_error(what, code, hint);
}

}  // namespace aptflow::detail
