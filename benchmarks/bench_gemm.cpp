// GEMM throughput for the shapes the CNNs of docs/method.md produce:
// aptflow::gemm [openblas] on host pointers and through the execution-space
// View API (gemm(exec, ...) on host Views), and, when a device is present,
// [cublas] with copies (host pointers) and, in builds whose Kokkos has the
// CUDA backend, [cublas] on device Views (gemm(Kokkos::Cuda, ...), no
// copies), against the triple-loop gemm_reference, in GFLOP/s (2 m n k per
// product; Google Benchmark prints the "flops" counter as e.g. 12.3G/s).
//
// Shapes (1D CNN Fe-Al: input 93 x 2, Conv1D 64 k=10 -> 84 x 64, MaxPool 2,
// Dense 2688 -> 256 -> 3; convolution lowered to GEMM with k = 10 * 2 = 20):
//   conv_fwd      m = batch * 84, n = 64, k = 20        (im2col x kernel)
//   conv_wgrad    m = 20, n = 64, k = batch * 84, A^T   (im2col^T x dY)
//   dense_fwd     m = batch, n = 256, k = 2688
//   dense_wgrad   m = 2688, n = 256, k = batch, A^T
//   head_fwd      m = batch, n = 3, k = 256
//
// OpenBLAS runs single-threaded unless OPENBLAS_NUM_THREADS is set (the
// library default would be one thread per core). --smoke: tiny sizes and a
// tiny minimum time, for the ctest that keeps this program from rotting.
#include <benchmark/benchmark.h>

#include <Kokkos_Core.hpp>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "aptflow/kernels/gemm.hpp"
#include "smoke_args.hpp"

namespace {

using aptflow::Transpose;

struct Case {
  std::string name;
  Transpose ta, tb;
  std::int64_t m, n, k;
};

std::vector<float> random_vector(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

enum class Impl { openblas, openblas_views, cublas, cublas_views, reference };

// gemm(exec, ...) on Views of exec's memory holding the same operands.
template <class Exec>
void run_views(benchmark::State& state, const Case& c, const std::vector<float>& a,
               const std::vector<float>& b, std::vector<float>& out) {
  using Matrix = Kokkos::View<float**, Kokkos::LayoutRight, typename Exec::memory_space>;
  using Host =
      Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
  const auto rows_a = static_cast<std::size_t>(c.ta == Transpose::yes ? c.k : c.m);
  const auto rows_b = static_cast<std::size_t>(c.tb == Transpose::yes ? c.n : c.k);
  const auto m = static_cast<std::size_t>(c.m), n = static_cast<std::size_t>(c.n);
  Matrix da("aptflow::bench::a", rows_a, a.size() / rows_a),
      db("aptflow::bench::b", rows_b, b.size() / rows_b), dc("aptflow::bench::c", m, n);
  Kokkos::deep_copy(da, Host(const_cast<float*>(a.data()), rows_a, a.size() / rows_a));
  Kokkos::deep_copy(db, Host(const_cast<float*>(b.data()), rows_b, b.size() / rows_b));
  const Exec exec;
  for (auto _ : state) {
    aptflow::gemm(exec, c.ta, c.tb, 1.0f, da, db, 0.0f, dc);
    exec.fence();
  }
  Kokkos::deep_copy(Host(out.data(), m, n), dc);
}

void run_case(benchmark::State& state, const Case& c, Impl impl) {
  const std::int64_t lda = c.ta == Transpose::yes ? c.m : c.k;
  const std::int64_t ldb = c.tb == Transpose::yes ? c.k : c.n;
  const std::vector<float> a = random_vector(static_cast<std::size_t>(c.m * c.k), 1);
  const std::vector<float> b = random_vector(static_cast<std::size_t>(c.k * c.n), 2);
  std::vector<float> out = random_vector(static_cast<std::size_t>(c.m * c.n), 3);
  if (impl == Impl::openblas_views || impl == Impl::cublas_views) {
#if defined(KOKKOS_ENABLE_CUDA)
    if (impl == Impl::cublas_views)
      run_views<Kokkos::Cuda>(state, c, a, b, out);
    else
#endif
      run_views<Kokkos::DefaultHostExecutionSpace>(state, c, a, b, out);
    state.counters["flops"] = benchmark::Counter(2.0 * static_cast<double>(c.m * c.n * c.k),
                                                 benchmark::Counter::kIsIterationInvariantRate);
    return;
  }
  for (auto _ : state) {
    if (impl == Impl::reference) {
      aptflow::gemm_reference(c.ta, c.tb, c.m, c.n, c.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, out.data(),
                              c.n);
    } else {
      aptflow::gemm(c.ta, c.tb, c.m, c.n, c.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, out.data(), c.n,
                    impl == Impl::cublas ? aptflow::GemmBackend::cublas : aptflow::GemmBackend::openblas);
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.counters["flops"] = benchmark::Counter(2.0 * static_cast<double>(c.m * c.n * c.k),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

std::vector<Case> cases(bool smoke) {
  if (smoke) {
    return {{"smoke_nn", Transpose::no, Transpose::no, 8, 8, 8},
            {"smoke_tt", Transpose::yes, Transpose::yes, 7, 5, 3}};
  }
  std::vector<Case> out = {{"conv_fwd_b1", Transpose::no, Transpose::no, 84, 64, 20}};
  for (std::int64_t batch : {32, 256}) {
    const std::string b = "_b" + std::to_string(batch);
    out.push_back({"conv_fwd" + b, Transpose::no, Transpose::no, batch * 84, 64, 20});
    out.push_back({"conv_wgrad" + b, Transpose::yes, Transpose::no, 20, 64, batch * 84});
    out.push_back({"dense_fwd" + b, Transpose::no, Transpose::no, batch, 256, 2688});
    out.push_back({"dense_wgrad" + b, Transpose::yes, Transpose::no, 2688, 256, batch});
    out.push_back({"head_fwd" + b, Transpose::no, Transpose::no, batch, 3, 256});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  auto [smoke, args] = aptflow::bench::parse_smoke_args(argc, argv);
  Kokkos::ScopeGuard kokkos;
  if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) aptflow::blas_set_num_threads(1);

  for (const Case& c : cases(smoke)) {
    benchmark::RegisterBenchmark(("gemm_openblas/" + c.name).c_str(), run_case, c, Impl::openblas)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("gemm_openblas_views/" + c.name).c_str(), run_case, c, Impl::openblas_views)
        ->Unit(benchmark::kMicrosecond);
    if (aptflow::gemm_cublas_available()) {
      benchmark::RegisterBenchmark(("gemm_cublas_with_copies/" + c.name).c_str(), run_case, c, Impl::cublas)
          ->Unit(benchmark::kMicrosecond);
#if defined(KOKKOS_ENABLE_CUDA)
      benchmark::RegisterBenchmark(("gemm_cublas_device_views/" + c.name).c_str(), run_case, c,
                                   Impl::cublas_views)
          ->Unit(benchmark::kMicrosecond);
#endif
    }
    benchmark::RegisterBenchmark(("gemm_reference/" + c.name).c_str(), run_case, c, Impl::reference)
        ->Unit(benchmark::kMicrosecond);
  }

  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::AddCustomContext("blas_threads", std::to_string(aptflow::blas_num_threads()));
  benchmark::AddCustomContext("gemm_automatic_path",
                              std::string(aptflow::gemm_path_name(aptflow::gemm_automatic_path())));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
