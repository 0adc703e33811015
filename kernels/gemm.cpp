// aptflow::gemm: OpenBLAS on the host, cuBLAS on a CUDA device; see
// include/aptflow/kernels/gemm.hpp.
#include "aptflow/kernels/gemm.hpp"

#include <cblas.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstddef>
#include <string>

#include "aptflow/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/kernels/detail/gemm_check.hpp"

#if APTFLOW_HAVE_CUDA
#include "cuda/cuda_gemm.hpp"
#endif

namespace aptflow {

namespace {

void log_path_once(GemmPath path, GemmBackend want) {
  static std::atomic<bool> logged[2] = {false, false};
  const auto i = static_cast<std::size_t>(path);
  if (logged[i].exchange(true)) return;
  const char* asked =
      want == GemmBackend::automatic ? "automatic" : (want == GemmBackend::cublas ? "cublas" : "openblas");
  spdlog::debug("aptflow::gemm: backend {} -> {} (first GEMM on this path)", asked, gemm_path_name(path));
}

// ResourceError unless cuBLAS can run in this process: `who` names the call,
// `instead` says what else the caller can do.
void require_cublas(std::string_view who, std::string_view instead) {
#if APTFLOW_HAVE_CUDA
  if (cuda_device_count() == 0)
    throw ResourceError(fmt::format(
        "{}: the cuBLAS path was requested but no CUDA device is present ({}); run on a GPU node or {}", who,
        cuda_unavailable_reason(), instead));
#else
  throw ResourceError(fmt::format(
      "{}: the cuBLAS path was requested but this aptflow was built without CUDA (APTFLOW_HAVE_CUDA = 0); "
      "rebuild with -DAPTFLOW_ENABLE_CUDA=ON or {}",
      who, instead));
#endif
}

void run_openblas(Transpose ta, Transpose tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                  const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                  std::int64_t ldc) {
  // Sizes were checked to fit the 32-bit interface (blasint is int here).
  cblas_sgemm(CblasRowMajor, ta == Transpose::yes ? CblasTrans : CblasNoTrans,
              tb == Transpose::yes ? CblasTrans : CblasNoTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), alpha, a, static_cast<blasint>(lda), b,
              static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

#if APTFLOW_HAVE_CUDA
// Device scratch reused across calls on the same host thread (cudaMalloc per
// GEMM would cost more than small GEMMs themselves); grows, never shrinks, and
// starts over when the thread switches devices (buffers live on one device).
struct DeviceScratch {
  int device = -1;
  DeviceBuffer<float> a, b, c;
  void bind(int current) {
    if (current == device) return;
    a = DeviceBuffer<float>();
    b = DeviceBuffer<float>();
    c = DeviceBuffer<float>();
    device = current;
  }
  static float* ensure(DeviceBuffer<float>& buf, std::size_t count) {
    if (count == 0) count = 1;  // keep pointers non-null for cuBLAS
    if (buf.size() < count) buf = DeviceBuffer<float>(count);
    return buf.data();
  }
};

// Copy a rows x cols host matrix with leading dimension ld into a dense device
// matrix (leading dimension max(cols, 1)); returns that leading dimension.
std::int64_t upload_packed(float* d_dst, const float* h_src, std::int64_t rows, std::int64_t cols,
                           std::int64_t ld) {
  const std::int64_t ld_dev = cols > 1 ? cols : 1;
  cuda_copy_to_device_2d(d_dst, ld_dev * sizeof(float), h_src, ld * sizeof(float), cols * sizeof(float),
                         rows);
  return ld_dev;
}

void run_cublas(Transpose ta, Transpose tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                std::int64_t ldc) {
  thread_local DeviceScratch scratch;
  scratch.bind(cuda_current_device());
  const bool t_a = ta == Transpose::yes;
  const bool t_b = tb == Transpose::yes;
  const std::int64_t rows_a = t_a ? k : m, cols_a = t_a ? m : k;
  const std::int64_t rows_b = t_b ? n : k, cols_b = t_b ? k : n;
  float* d_a = DeviceScratch::ensure(scratch.a, static_cast<std::size_t>(rows_a * cols_a));
  float* d_b = DeviceScratch::ensure(scratch.b, static_cast<std::size_t>(rows_b * cols_b));
  float* d_c = DeviceScratch::ensure(scratch.c, static_cast<std::size_t>(m * n));
  const std::int64_t lda_dev = upload_packed(d_a, a, rows_a, cols_a, lda);
  const std::int64_t ldb_dev = upload_packed(d_b, b, rows_b, cols_b, ldb);
  // With beta == 0 neither BLAS reads C, so it need not travel.
  const std::int64_t ldc_dev = n;
  if (beta != 0.0f) upload_packed(d_c, c, m, n, ldc);
  cuda_sgemm(t_a, t_b, m, n, k, alpha, d_a, lda_dev, d_b, ldb_dev, beta, d_c, ldc_dev);
  // Row by row, so C's padding beyond column n is left as it was.
  cuda_copy_to_host_2d(c, ldc * sizeof(float), d_c, ldc_dev * sizeof(float), n * sizeof(float), m);
}
#endif

}  // namespace

std::string_view gemm_path_name(GemmPath path) noexcept {
  return path == GemmPath::cublas ? "[cublas]" : "[openblas]";
}

GemmBackend parse_gemm_backend(std::string_view text, std::string_view key) {
  if (text == "auto") return GemmBackend::automatic;
  if (text == "openblas") return GemmBackend::openblas;
  if (text == "cublas") return GemmBackend::cublas;
  throw ConfigError(
      std::string(key),
      fmt::format("'{}' is not a GEMM backend; use \"auto\", \"openblas\" or \"cublas\"", text));
}

bool gemm_cublas_available() noexcept {
#if APTFLOW_HAVE_CUDA
  return cuda_device_count() > 0;
#else
  return false;
#endif
}

GemmPath gemm_automatic_path() noexcept {
  return gemm_cublas_available() ? GemmPath::cublas : GemmPath::openblas;
}

GemmPath gemm(Transpose ta, Transpose tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
              const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
              std::int64_t ldc, GemmBackend want) {
  detail::check_gemm_args("aptflow::gemm", ta == Transpose::yes, tb == Transpose::yes, m, n, k, lda, ldb,
                          ldc);
  GemmPath path = GemmPath::openblas;
  switch (want) {
    case GemmBackend::automatic:
      path = gemm_automatic_path();
      break;
    case GemmBackend::openblas:
      path = GemmPath::openblas;
      break;
    case GemmBackend::cublas:
      require_cublas("aptflow::gemm", "ask for the \"openblas\" or \"auto\" backend");
      path = GemmPath::cublas;
      break;
  }
  log_path_once(path, want);
  if (m == 0 || n == 0) return path;
#if APTFLOW_HAVE_CUDA
  if (path == GemmPath::cublas) {
    run_cublas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return path;
  }
#endif
  run_openblas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  return path;
}

namespace detail {

void gemm_cublas_device(void* stream, Transpose ta, Transpose tb, std::int64_t m, std::int64_t n,
                        std::int64_t k, float alpha, const float* d_a, std::int64_t lda, const float* d_b,
                        std::int64_t ldb, float beta, float* d_c, std::int64_t ldc) {
  check_gemm_args("aptflow::gemm(Kokkos::Cuda, ...)", ta == Transpose::yes, tb == Transpose::yes, m, n, k,
                  lda, ldb, ldc);
  require_cublas("aptflow::gemm(Kokkos::Cuda, ...)", "run on a host execution space");
#if APTFLOW_HAVE_CUDA
  log_path_once(GemmPath::cublas, GemmBackend::cublas);
  cuda_sgemm_on_stream(stream, ta == Transpose::yes, tb == Transpose::yes, m, n, k, alpha, d_a, lda, d_b, ldb,
                       beta, d_c, ldc);
#else
  (void)stream, (void)alpha, (void)d_a, (void)d_b, (void)beta, (void)d_c;
#endif
}

}  // namespace detail

void gemm_reference(Transpose ta, Transpose tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                    const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                    std::int64_t ldc) {
  detail::check_gemm_args("aptflow::gemm_reference", ta == Transpose::yes, tb == Transpose::yes, m, n, k, lda,
                          ldb, ldc);
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (std::int64_t p = 0; p < k; ++p) {
        const double aip = ta == Transpose::yes ? a[p * lda + i] : a[i * lda + p];
        const double bpj = tb == Transpose::yes ? b[j * ldb + p] : b[p * ldb + j];
        sum += aip * bpj;
      }
      double out = static_cast<double>(alpha) * sum;
      if (beta != 0.0f) out += static_cast<double>(beta) * c[i * ldc + j];
      c[i * ldc + j] = static_cast<float>(out);
    }
  }
}

void blas_set_num_threads(int n) {
  APTFLOW_ASSERT(n >= 1, "blas_set_num_threads needs n >= 1, got " + std::to_string(n));
  openblas_set_num_threads(n);
}

int blas_num_threads() noexcept { return openblas_get_num_threads(); }

}  // namespace aptflow
