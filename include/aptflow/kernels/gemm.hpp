#pragma once
// Dense single-precision matrix product for the neural network (convolutions
// lowered to GEMM, dense layers): one function, two paths, and a name that
// says which path ran.
//
//   [openblas]  cblas_sgemm from OpenBLAS on the host (always built).
//   [cublas]    cublasSgemm on the current CUDA device (only in builds with
//               APTFLOW_HAVE_CUDA == 1 and when a device is present): the
//               operands are copied to the device, multiplied, and C copied
//               back, so the caller passes host pointers either way.
//
// Never a silent fallback: asking for cuBLAS where it cannot run throws
// ResourceError; `automatic` picks cuBLAS exactly when it can run and logs
// (spdlog debug, once per path) which path it took.
//
// Matrices are row-major: element (r, c) of X with leading dimension ldx sits
// at X[r * ldx + c]; ldx >= number of columns as stored.
//
// Threads: OpenBLAS (pthread build) starts as many threads as cores unless
// OPENBLAS_NUM_THREADS says otherwise. Under MPI with one rank per core that
// oversubscribes, so set OPENBLAS_NUM_THREADS=1 there (the test and benchmark
// ctests do) or call blas_set_num_threads(1).
#include <cstdint>
#include <string_view>

namespace aptflow {

enum class Transpose { no, yes };

// What the caller asks for.
enum class GemmBackend { automatic, openblas, cublas };

// What actually ran.
enum class GemmPath { openblas, cublas };

// "[openblas]" or "[cublas]".
std::string_view gemm_path_name(GemmPath path) noexcept;

// "auto" | "openblas" | "cublas" (a config value) -> GemmBackend; throws
// ConfigError naming `key` for anything else.
GemmBackend parse_gemm_backend(std::string_view text, std::string_view key);

// True when this build has CUDA and a CUDA device is present, i.e. when
// gemm(..., GemmBackend::cublas) can run.
bool gemm_cublas_available() noexcept;

// The path GemmBackend::automatic takes in this process.
GemmPath gemm_automatic_path() noexcept;

// C[m x n] = alpha * op(A) * op(B) + beta * C, row-major, host pointers.
// op(A) is m x k: A is stored m x k (ta == no) or k x m (ta == yes); op(B) is
// k x n: B is stored k x n or n x k. With beta == 0, C is not read (it may
// hold garbage or NaN). Entries of C beyond column n (the padding up to ldc)
// are not touched on either path. Returns the path that ran.
// Throws InternalError for negative sizes or leading dimensions smaller than
// the stored columns (or beyond the 32-bit BLAS interface), and ResourceError
// when `want` is cublas but this build has no CUDA or no device is present,
// or when a CUDA/cuBLAS call fails.
GemmPath gemm(Transpose ta, Transpose tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
              const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
              std::int64_t ldc, GemmBackend want = GemmBackend::automatic);

// Same contract, computed by a plain triple loop with double accumulation:
// the slow, obviously correct reference for tests and benchmarks.
void gemm_reference(Transpose ta, Transpose tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                    const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                    std::int64_t ldc);

// Number of threads OpenBLAS uses in this process (openblas_set_num_threads /
// openblas_get_num_threads). n must be >= 1.
void blas_set_num_threads(int n);
int blas_num_threads() noexcept;

}  // namespace aptflow
