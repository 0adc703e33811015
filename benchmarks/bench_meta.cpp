// Costs of the mass-spectrum meta-analysis (aptflow/analysis/meta.hpp) at
// archive sizes: PCA of n spectra of 20000 bins (Gram route), exact t-SNE of
// n points in 50 dimensions (1000 iterations), spectral clustering of n
// samples (distances, dense eigendecomposition, k-means++ restarts), each on
// Gaussian blobs. Single-threaded (Eigen without OpenMP). --smoke: tiny sizes
// for the ctest that keeps this program from rotting.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "aptflow/analysis/meta.hpp"
#include "smoke_args.hpp"

namespace an = aptflow::analysis;

namespace {

Eigen::MatrixXd blobs(int n, int p, int clusters, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd centres(clusters, p), x(n, p);
  for (int j = 0; j < p; ++j)
    for (int c = 0; c < clusters; ++c) centres(c, j) = 4.0 * normal(gen);
  for (int j = 0; j < p; ++j)
    for (int i = 0; i < n; ++i) x(i, j) = centres(i % clusters, j) + normal(gen);
  return x;
}

void bench_pca(benchmark::State& state) {
  const Eigen::MatrixXd x = blobs(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), 4, 1);
  for (auto _ : state) benchmark::DoNotOptimize(an::pca(x, static_cast<int>(state.range(2))).scores.data());
}

void bench_tsne(benchmark::State& state) {
  const Eigen::MatrixXd x = blobs(static_cast<int>(state.range(0)), 50, 5, 2);
  an::TsneOptions o;
  o.iterations = static_cast<int>(state.range(1));
  for (auto _ : state) benchmark::DoNotOptimize(an::tsne(x, o).data());
}

void bench_spectral(benchmark::State& state) {
  const Eigen::MatrixXd x = blobs(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), 4, 3);
  for (auto _ : state) benchmark::DoNotOptimize(an::spectral(x, an::SpectralOptions{}).labels.data());
}

}  // namespace

int main(int argc, char** argv) {
  auto [smoke, args] = aptflow::bench::parse_smoke_args(argc, argv);

  if (smoke) {
    benchmark::RegisterBenchmark("pca", bench_pca)->Args({30, 200, 5})->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("tsne", bench_tsne)->Args({40, 50})->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("spectral", bench_spectral)->Args({40, 20})->Unit(benchmark::kMillisecond);
  } else {
    // args: samples, features, components
    benchmark::RegisterBenchmark("pca", bench_pca)
        ->Args({200, 20000, 50})
        ->Args({1000, 20000, 50})
        ->Args({3000, 20000, 50})
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
    // args: samples, iterations
    benchmark::RegisterBenchmark("tsne", bench_tsne)
        ->Args({1000, 1000})
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
    // args: samples, features
    benchmark::RegisterBenchmark("spectral", bench_spectral)
        ->Args({1000, 50})
        ->Args({1000, 20000})
        ->Args({3000, 50})
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
