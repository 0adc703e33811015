// Read + range throughput of a POS file from page cache, in GB/s per process,
// against plain `cat FILE > /dev/null` measured in the same run (issue 2).
//   bench_read_range                 10^8 ions (1.6 GB) in $TMPDIR
//   bench_read_range --ions N        another size
//   bench_read_range --smoke         10^6 ions, a few seconds (ctest)
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "aptflow/core/runtime.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"

namespace {

std::string g_pos;
std::string g_rng;
std::uint64_t g_bytes = 0;
double g_best_cat = 0, g_best_aptflow = 0, g_best_read = 0;  // seconds, best of the iterations

// A realistic Al-Li-Mg-like spectrum: 12 ranged peaks plus background.
void make_inputs(std::int64_t ions, const std::filesystem::path& dir) {
  g_pos = (dir / "bench_read_range.pos").string();
  g_rng = (dir / "bench_read_range.rrng").string();
  aptflow::RangeTable table;
  const char* names[] = {"H", "Li", "C", "O", "Mg", "Al", "Si", "Fe", "Ni", "Cu", "Zn", "Zr"};
  const double masses[] = {1.008,  7.016,  12.0,   15.995, 23.985, 26.982,
                           27.977, 55.935, 57.935, 62.93,  63.93,  89.90};
  for (int k = 0; k < 12; ++k) {
    table.ion_types.push_back({names[k], {{names[k], 1}}});
    table.ranges.push_back({masses[k] - 0.3, masses[k] + 0.3, k, 0});
  }
  std::sort(table.ranges.begin(), table.ranges.end(), [](auto& a, auto& b) { return a.lo < b.lo; });
  aptflow::write_rrng(g_rng, table);
  if (std::filesystem::exists(g_pos) &&
      std::filesystem::file_size(g_pos) == static_cast<std::uint64_t>(ions) * 16) {
    g_bytes = std::filesystem::file_size(g_pos);
    return;
  }
  const std::int64_t chunk = 1 << 22;
  aptflow::io::CloudWriter writer(g_pos, aptflow::io::Format::pos);
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<float> pos(-50.f, 50.f);
  std::uniform_int_distribution<int> peak(0, 13);
  std::normal_distribution<float> width(0.f, 0.05f);
  for (std::int64_t done = 0; done < ions; done += chunk) {
    const std::int64_t n = std::min(chunk, ions - done);
    aptflow::HostIonCloud c(n);
    for (std::int64_t i = 0; i < n; ++i) {
      c.x(i) = pos(rng);
      c.y(i) = pos(rng);
      c.z(i) = pos(rng) * 5.f;
      const int p = peak(rng);
      c.mq(i) = p < 12 ? static_cast<float>(masses[p]) + width(rng) : 100.f + std::abs(pos(rng));
    }
    writer.append(c);
  }
  writer.close();
  g_bytes = std::filesystem::file_size(g_pos);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void BM_cat(benchmark::State& state) {
  const std::string cmd = "cat '" + g_pos + "' > /dev/null";
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    if (std::system(cmd.c_str()) != 0) state.SkipWithError("cat failed");
    const double s = seconds_since(t0);
    state.SetIterationTime(s);
    if (g_best_cat == 0 || s < g_best_cat) g_best_cat = s;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * g_bytes));
}

// Breakdown: reading and decoding only (no ranging).
void BM_aptflow_read(benchmark::State& state) {
  aptflow::io::ReadOptions opt;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    double sum = 0;
    aptflow::io::for_each_chunk(g_pos, opt, [&](const aptflow::HostIonCloud& chunk, aptflow::IonIndex) {
      sum += chunk.mq(chunk.size() - 1);
    });
    benchmark::DoNotOptimize(sum);
    const double s = seconds_since(t0);
    state.SetIterationTime(s);
    if (g_best_read == 0 || s < g_best_read) g_best_read = s;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * g_bytes));
}

void BM_aptflow_read_range(benchmark::State& state) {
  const auto table = aptflow::read_range_file(g_rng);
  const auto dtable = aptflow::make_device_range_table<Kokkos::HostSpace>(table);
  Kokkos::DefaultHostExecutionSpace exec;
  aptflow::io::ReadOptions opt;
  std::int64_t ranged = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::int64_t> counts(table.num_types() + 1, 0);
    aptflow::io::for_each_chunk(g_pos, opt, [&](const aptflow::HostIonCloud& chunk, aptflow::IonIndex) {
      aptflow::HostIonCloud c = chunk;
      aptflow::apply_ranges(exec, c, dtable);
      auto k = aptflow::count_species(exec, c, static_cast<int>(table.num_types()));
      for (std::size_t s = 0; s < counts.size(); ++s) counts[s] += k[s];
    });
    ranged = 0;
    for (std::size_t s = 1; s < counts.size(); ++s) ranged += counts[s];
    benchmark::DoNotOptimize(ranged);
    const double s = seconds_since(t0);
    state.SetIterationTime(s);
    if (g_best_aptflow == 0 || s < g_best_aptflow) g_best_aptflow = s;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * g_bytes));
  state.counters["ranged_fraction"] = static_cast<double>(ranged) / (g_bytes / 16.0);
}

}  // namespace

int main(int argc, char** argv) {
  aptflow::Runtime runtime(argc, argv);
  std::int64_t ions = 100'000'000;
  int iterations = 3;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--smoke") {
      ions = 1'000'000;
      iterations = 1;
    } else if (a == "--ions" && i + 1 < argc) {
      ions = std::atoll(argv[++i]);
    } else {
      rest.push_back(argv[i]);
    }
  }
  int rargc = static_cast<int>(rest.size());
  benchmark::Initialize(&rargc, rest.data());
  const auto dir = std::filesystem::temp_directory_path();
  std::printf("generating %lld ions in %s ...\n", static_cast<long long>(ions), dir.c_str());
  make_inputs(ions, dir);
  // Warm the page cache so both contenders read from memory.
  std::system(("cat '" + g_pos + "' > /dev/null").c_str());
  benchmark::RegisterBenchmark("cat_to_devnull", BM_cat)
      ->UseManualTime()
      ->Iterations(iterations)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("aptflow_read", BM_aptflow_read)
      ->UseManualTime()
      ->Iterations(iterations)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("aptflow_read_range", BM_aptflow_read_range)
      ->UseManualTime()
      ->Iterations(iterations)
      ->Unit(benchmark::kMillisecond);
  benchmark::RunSpecifiedBenchmarks();
  const double gb = g_bytes / 1e9;
  std::printf("\nfile %.3f GB (%lld ions), best of %d:\n", gb, static_cast<long long>(g_bytes / 16),
              iterations);
  std::printf("  cat > /dev/null      %.3f s  %.2f GB/s\n", g_best_cat, gb / g_best_cat);
  std::printf("  aptflow read only    %.3f s  %.2f GB/s per process\n", g_best_read, gb / g_best_read);
  std::printf("  aptflow read+range   %.3f s  %.2f GB/s per process\n", g_best_aptflow, gb / g_best_aptflow);
  std::printf("  ratio aptflow/cat    %.2f\n", g_best_cat / g_best_aptflow);
  if (ions < 100'000'000) std::filesystem::remove(g_pos);
  return 0;
}
