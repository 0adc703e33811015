#pragma once
// Skip a CUDA test with the reason when no device is present.
#include <gtest/gtest.h>

#include "cuda/cuda_gemm.hpp"

#define APTFLOW_REQUIRE_CUDA_DEVICE()                                                          \
  do {                                                                                         \
    if (aptflow::cuda_device_count() == 0) {                                                   \
      GTEST_SKIP() << "no CUDA device present (" << aptflow::cuda_unavailable_reason() << ")"; \
    }                                                                                          \
  } while (0)
