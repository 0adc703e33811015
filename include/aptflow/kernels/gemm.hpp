#pragma once
// Dense single-precision matrix product for the neural network (convolutions
// lowered to GEMM, dense layers): two paths, and a name that says which path
// ran.
//
//   [openblas]  cblas_sgemm from OpenBLAS on the host (always built).
//   [cublas]    cublasSgemm on a CUDA device (only in builds with
//               APTFLOW_HAVE_CUDA == 1 and when a device is present).
//
// Two front ends:
//   gemm(exec, ta, tb, alpha, A, B, beta, C)   Kokkos Views in the memory of
//       the execution space `exec` (the kokkos-kernels KokkosBlas::gemm shape):
//       host spaces (Serial, OpenMP, Threads) -> [openblas]; Kokkos::Cuda ->
//       [cublas] on exec's stream, on the device pointers: nothing is copied,
//       so a device-resident forward pass keeps its activations on the GPU.
//   gemm(ta, tb, m, n, k, ..., host pointers)  the host-pointer front end: with
//       the cuBLAS backend the operands are copied to the device, multiplied,
//       and C copied back (a round trip per call).
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
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "aptflow/core/error.hpp"

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

namespace detail {

// cublasSgemm on device pointers, queued on a CUDA stream (a cudaStream_t;
// nullptr = the legacy default stream), row-major as gemm(). The back end of
// gemm(Kokkos::Cuda, ...); defined in kernels/gemm.cpp. Throws ResourceError
// in builds without CUDA or when no device is present, InternalError for bad
// sizes (check_gemm_args).
void gemm_cublas_device(void* stream, Transpose ta, Transpose tb, std::int64_t m, std::int64_t n,
                        std::int64_t k, float alpha, const float* d_a, std::int64_t lda, const float* d_b,
                        std::int64_t ldb, float beta, float* d_c, std::int64_t ldc);

// Row stride (elements) of a rank-2 View whose rows are contiguous: LayoutRight,
// or LayoutStride with stride(1) == 1; InternalError otherwise.
template <class View>
std::int64_t gemm_leading_dimension(const View& v, const char* name) {
  using layout = typename View::array_layout;
  static_assert(
      std::is_same_v<layout, Kokkos::LayoutRight> || std::is_same_v<layout, Kokkos::LayoutStride>,
      "aptflow::gemm(exec, ...) takes row-major Views: LayoutRight, or LayoutStride with unit column "
      "stride");
  const auto cols = static_cast<std::int64_t>(v.extent(1));
  if constexpr (std::is_same_v<layout, Kokkos::LayoutStride>) {
    if (v.extent(0) > 0 && v.extent(1) > 1 && v.stride_1() != 1)
      throw InternalError(std::string("aptflow::gemm(exec, ...): View ") + name + " has a column stride of " +
                          std::to_string(v.stride_1()) +
                          "; pass a row-major View (this is a bug in the caller, please report it)");
  }
  const auto ld = static_cast<std::int64_t>(v.stride_0());
  return ld > cols ? ld : (cols > 1 ? cols : 1);
}

template <class>
inline constexpr bool kAlwaysFalse = false;

}  // namespace detail

// C = alpha op(A) op(B) + beta C on rank-2 float Views (A, B may be const)
// in memory that `exec` can access; op(A) is m x k with m = C.extent(0),
// op(B) is k x n with n = C.extent(1). Rows must be contiguous (LayoutRight,
// or LayoutStride with unit column stride); the leading dimension is the row
// stride. With beta == 0, C is not read.
//   - host execution spaces: exec.fence() (kernels queued on exec have
//     written A, B, C), then OpenBLAS -> GemmPath::openblas;
//   - Kokkos::Cuda (Kokkos with the CUDA backend and aptflow with CUDA):
//     cuBLAS on exec.cuda_stream(), ordered after the kernels queued there;
//     returns without waiting -> GemmPath::cublas.
// `want` must agree with the space (automatic, or the library of that
// space): asking for cuBLAS on host Views or OpenBLAS on device Views throws
// ResourceError (no silent fallback, no hidden copies). InternalError when
// the shapes do not fit.
template <class ExecSpace, class AView, class BView, class CView>
GemmPath gemm(const ExecSpace& exec, Transpose ta, Transpose tb, float alpha, const AView& a, const BView& b,
              float beta, const CView& c, GemmBackend want = GemmBackend::automatic) {
  static_assert(Kokkos::is_execution_space<ExecSpace>::value,
                "aptflow::gemm(exec, ...): the first argument must be a Kokkos execution space");
  static_assert(
      Kokkos::is_view<AView>::value && Kokkos::is_view<BView>::value && Kokkos::is_view<CView>::value,
      "aptflow::gemm(exec, ...) takes Kokkos Views");
  static_assert(AView::rank == 2 && BView::rank == 2 && CView::rank == 2,
                "aptflow::gemm(exec, ...) takes rank-2 Views (matrices)");
  static_assert(std::is_same_v<typename AView::non_const_value_type, float> &&
                    std::is_same_v<typename BView::non_const_value_type, float> &&
                    std::is_same_v<typename CView::value_type, float>,
                "aptflow::gemm(exec, ...) is single precision: float Views, C not const");
  static_assert(Kokkos::SpaceAccessibility<ExecSpace, typename AView::memory_space>::accessible &&
                    Kokkos::SpaceAccessibility<ExecSpace, typename BView::memory_space>::accessible &&
                    Kokkos::SpaceAccessibility<ExecSpace, typename CView::memory_space>::accessible,
                "aptflow::gemm(exec, ...): the Views must live in memory the execution space can access");
  const auto m = static_cast<std::int64_t>(c.extent(0)), n = static_cast<std::int64_t>(c.extent(1));
  const bool t_a = ta == Transpose::yes, t_b = tb == Transpose::yes;
  const auto k = static_cast<std::int64_t>(t_a ? a.extent(0) : a.extent(1));
  const auto a_rows = static_cast<std::int64_t>(t_a ? a.extent(1) : a.extent(0));
  const auto b_rows = static_cast<std::int64_t>(t_b ? b.extent(1) : b.extent(0));
  const auto b_cols = static_cast<std::int64_t>(t_b ? b.extent(0) : b.extent(1));
  if (a_rows != m || b_rows != k || b_cols != n)
    throw InternalError("aptflow::gemm(exec, ...): op(A) is " + std::to_string(a_rows) + " x " +
                        std::to_string(k) + ", op(B) " + std::to_string(b_rows) + " x " +
                        std::to_string(b_cols) + ", C " + std::to_string(m) + " x " + std::to_string(n) +
                        ": the shapes do not fit (this is a bug in the caller, please report it)");
  const std::int64_t lda = detail::gemm_leading_dimension(a, "A"),
                     ldb = detail::gemm_leading_dimension(b, "B"),
                     ldc = detail::gemm_leading_dimension(c, "C");
  if constexpr (std::is_same_v<typename ExecSpace::memory_space, Kokkos::HostSpace>) {
    if (want == GemmBackend::cublas)
      throw ResourceError(
          "aptflow::gemm(exec, ...): the cuBLAS path was requested for Views of a host execution space; run "
          "the Views on Kokkos::Cuda, or ask for the \"openblas\" or \"auto\" backend");
    exec.fence();
    return gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc,
                GemmBackend::openblas);
  }
#if defined(KOKKOS_ENABLE_CUDA)
  else if constexpr (std::is_same_v<ExecSpace, Kokkos::Cuda>) {
    if (want == GemmBackend::openblas)
      throw ResourceError(
          "aptflow::gemm(exec, ...): the OpenBLAS path was requested for Views in CUDA device memory; run "
          "the "
          "Views on a host execution space, or ask for the \"cublas\" or \"auto\" backend");
    detail::gemm_cublas_device(static_cast<void*>(exec.cuda_stream()), ta, tb, m, n, k, alpha, a.data(), lda,
                               b.data(), ldb, beta, c.data(), ldc);
    return GemmPath::cublas;
  }
#endif
  else {
    static_assert(
        detail::kAlwaysFalse<ExecSpace>,
        "aptflow::gemm(exec, ...): no vendor GEMM for this execution space (host spaces use OpenBLAS, "
        "Kokkos::Cuda uses cuBLAS)");
    return GemmPath::openblas;
  }
}

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
