#pragma once
// Argument checks shared by aptflow::gemm (aptflow_core) and
// aptflow::cuda_sgemm (aptflow_cuda). Header-only and free of fmt so that the
// CUDA library does not depend on aptflow_core.
#include <cstdint>
#include <limits>
#include <string>

#include "aptflow/core/error.hpp"

namespace aptflow::detail {

// Validate a row-major GEMM C[m x n] = op(A)[m x k] op(B)[k x n]: sizes >= 0,
// each leading dimension at least the number of columns of the matrix as
// stored (and >= 1), and everything within the 32-bit BLAS interface
// (OpenBLAS here is built with 32-bit integers, cublasSgemm takes int).
// Throws InternalError: a wrong size is a bug in the caller.
inline void check_gemm_args(const char* who, bool transpose_a, bool transpose_b, std::int64_t m,
                            std::int64_t n, std::int64_t k, std::int64_t lda, std::int64_t ldb,
                            std::int64_t ldc) {
  auto fail = [who](const std::string& reason) {
    throw InternalError(std::string(who) + ": " + reason +
                        " (this is a bug in the caller of the GEMM, please report it)");
  };
  if (m < 0 || n < 0 || k < 0) {
    fail("negative size m = " + std::to_string(m) + ", n = " + std::to_string(n) +
         ", k = " + std::to_string(k));
  }
  const std::int64_t cols_a = transpose_a ? m : k;  // A is stored m x k, or k x m when transposed
  const std::int64_t cols_b = transpose_b ? k : n;
  auto check_ld = [&](const char* name, const char* matrix, std::int64_t ld, std::int64_t cols, bool t) {
    const std::int64_t need = cols > 1 ? cols : 1;
    if (ld < need) {
      fail(std::string(name) + " = " + std::to_string(ld) + " is smaller than the " + std::to_string(need) +
           " columns of " + matrix + " as stored (row-major" + (t ? ", transposed" : "") +
           "); pass the row stride in elements");
    }
  };
  check_ld("lda", "A", lda, cols_a, transpose_a);
  check_ld("ldb", "B", ldb, cols_b, transpose_b);
  check_ld("ldc", "C", ldc, n, false);
  constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
  for (std::int64_t v : {m, n, k, lda, ldb, ldc}) {
    if (v > kIntMax) {
      fail("a size or leading dimension (" + std::to_string(v) +
           ") exceeds the 32-bit BLAS interface; split the product into smaller blocks");
    }
  }
}

// The column-major BLAS call (cuBLAS) that computes a row-major
// C[m x n] = op(A) op(B): a row-major matrix with leading dimension ld is the
// column-major transpose with the same ld, so the call computes
// C^T[n x m] = op(B)^T op(A)^T -- operands and m <-> n swap, each transpose
// flag stays with its matrix, and C keeps ldc. Kept here, host-only, so the
// unit tests check it against a column-major cblas_sgemm without a GPU.
struct ColMajorGemm {
  bool transpose_x, transpose_y;  // op() of the first and second operand
  std::int64_t m, n, k;           // column-major sizes: result m x n, inner k
  const float* x;
  std::int64_t ldx;
  const float* y;
  std::int64_t ldy;
};

inline ColMajorGemm row_major_as_col_major(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n,
                                           std::int64_t k, const float* a, std::int64_t lda, const float* b,
                                           std::int64_t ldb) {
  return ColMajorGemm{transpose_b, transpose_a, n, m, k, b, ldb, a, lda};
}

}  // namespace aptflow::detail
