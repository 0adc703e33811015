// Read + range throughput of a POS file from page cache, in GB/s per process,
// against plain `cat FILE > /dev/null` measured in the same run (issue 16,
// item 2). Besides the wall-clock times (best of the iterations) it reports
// CPU times (getrusage; cat's from RUSAGE_CHILDREN), which stay meaningful on
// a loaded machine where a process does not get a whole core.
//   bench_read_range                 10^8 ions (1.6 GB) in $TMPDIR
//   bench_read_range --ions N        another size
//   bench_read_range --smoke         10^6 ions, a few seconds (ctest)
// The aptflow side uses the library as a caller would: io::DatasetReader
// (detection, memory-mapped decoding) in blocks of 16384 ions, then
// apply_ranges_and_count (one pass) on each block.
#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <string>

#include "aptflow/core/runtime.hpp"
#include "aptflow/io/dataset.hpp"
#include "aptflow/io/range_file.hpp"
#include "aptflow/kernels/ranging.hpp"
#include "aptflow/pipeline/inspect.hpp"

namespace {

std::string g_pos;
std::string g_rng;
std::uint64_t g_bytes = 0;
double g_best_cat = 0, g_best_aptflow = 0, g_best_read = 0;  // seconds, best of the iterations
double g_cpu_cat = 0, g_cpu_aptflow = 0, g_cpu_read = 0;     // CPU seconds (user + system), best
double g_best_inspect = 0, g_cpu_inspect = 0;                // inspect_dataset with the range file
double g_best_cli = 0, g_cpu_cli = 0;                        // `aptflow inspect --range` (with --aptflow)
std::string g_aptflow;
constexpr aptflow::IonIndex kBlock = aptflow::IonIndex{1} << 14;

double cpu_seconds(int who) {
  rusage u{};
  getrusage(who, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
void keep_best(double& best, double v) {
  if (best == 0 || v < best) best = v;
}

// A realistic Al-Li-Mg-like spectrum: 12 ranged peaks plus background.
void make_inputs(std::int64_t ions, const std::filesystem::path& dir) {
  // The 10^8-ion file is kept for later runs; smaller ones (--smoke, --ions)
  // get a name of their own: concurrent runs in one $TMPDIR must not delete
  // each other's input.
  const std::string tag =
      ions == 100'000'000 ? "" : "_" + std::to_string(ions) + "_" + std::to_string(getpid());
  g_pos = (dir / ("bench_read_range" + tag + ".pos")).string();
  g_rng = (dir / ("bench_read_range" + tag + ".rrng")).string();
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
    const double c0 = cpu_seconds(RUSAGE_CHILDREN);
    if (std::system(cmd.c_str()) != 0) state.SkipWithError("cat failed");
    const double s = seconds_since(t0);
    state.SetIterationTime(s);
    keep_best(g_best_cat, s);
    keep_best(g_cpu_cat, cpu_seconds(RUSAGE_CHILDREN) - c0);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * g_bytes));
}

// Breakdown: reading and decoding only (no ranging).
void BM_aptflow_read(benchmark::State& state) {
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds(RUSAGE_SELF);
    aptflow::io::DatasetReader reader(g_pos);
    aptflow::HostIonCloud buf;
    double sum = 0;
    for (aptflow::IonIndex first = 0; first < reader.size(); first += kBlock) {
      const auto n = reader.read_into(first, std::min(kBlock, reader.size() - first), buf);
      sum += buf.mq(n - 1);
    }
    benchmark::DoNotOptimize(sum);
    const double s = seconds_since(t0);
    state.SetIterationTime(s);
    keep_best(g_best_read, s);
    keep_best(g_cpu_read, cpu_seconds(RUSAGE_SELF) - c0);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * g_bytes));
}

void BM_aptflow_read_range(benchmark::State& state) {
  const auto table = aptflow::read_range_file(g_rng);
  const auto dtable = aptflow::make_device_range_table<Kokkos::HostSpace>(table);
  Kokkos::DefaultHostExecutionSpace exec;
  std::int64_t ranged = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds(RUSAGE_SELF);
    std::vector<std::int64_t> counts(table.num_types() + 1, 0);
    aptflow::io::DatasetReader reader(g_pos);
    aptflow::HostIonCloud buf;
    for (aptflow::IonIndex first = 0; first < reader.size(); first += kBlock) {
      const auto n = reader.read_into(first, std::min(kBlock, reader.size() - first), buf);
      aptflow::HostIonCloud block;  // the first n ions of the buffer
      block.mq = decltype(buf.mq)(buf.mq.data(), n);
      block.species = decltype(buf.species)(buf.species.data(), n);
      block.x = decltype(buf.x)(buf.x.data(), n);
      auto k = aptflow::apply_ranges_and_count(exec, block, dtable);
      for (std::size_t s = 0; s < counts.size(); ++s) counts[s] += k[s];
    }
    ranged = 0;
    for (std::size_t s = 1; s < counts.size(); ++s) ranged += counts[s];
    benchmark::DoNotOptimize(ranged);
    const double s = seconds_since(t0);
    state.SetIterationTime(s);
    keep_best(g_best_aptflow, s);
    keep_best(g_cpu_aptflow, cpu_seconds(RUSAGE_SELF) - c0);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * g_bytes));
  state.counters["ranged_fraction"] = static_cast<double>(ranged) / (g_bytes / 16.0);
}

// The inspect pass (bounds, m/q range, peak histogram, ranging, counts) in this process.
void BM_inspect_range(benchmark::State& state) {
  aptflow::InspectOptions opt;
  opt.range_file = g_rng;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds(RUSAGE_SELF);
    const auto r = aptflow::inspect_dataset(MPI_COMM_SELF, g_pos, opt);
    benchmark::DoNotOptimize(r.ions);
    const double s = seconds_since(t0);
    state.SetIterationTime(s);
    keep_best(g_best_inspect, s);
    keep_best(g_cpu_inspect, cpu_seconds(RUSAGE_SELF) - c0);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * g_bytes));
}

// The names in the environment (before MPI_Init: main fills it first).
std::set<std::string> environment_names() {
  std::set<std::string> names;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv(*e);
    names.insert(kv.substr(0, kv.find('=')));
  }
  return names;
}
std::set<std::string> g_env_before_mpi;

// `aptflow inspect FILE --range R > /dev/null` as a user runs it from a shell
// (process start included). MPI_Init (a singleton here) exports PMIX_* and
// OMPI_* variables; a child that inherited them would take itself for rank 0
// of this process's job and talk to its PMIx server (the wall time was twice
// the CPU time, 2026-12-03). So the command starts without the variables
// MPI_Init added.
void BM_cli_inspect_range(benchmark::State& state) {
  std::string unset;
  for (const auto& name : environment_names())
    if (!g_env_before_mpi.contains(name)) unset += " -u " + name;
  const std::string cmd =
      "env" + unset + " '" + g_aptflow + "' inspect '" + g_pos + "' --range '" + g_rng + "' > /dev/null 2>&1";
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds(RUSAGE_CHILDREN);
    if (std::system(cmd.c_str()) != 0) state.SkipWithError("aptflow inspect failed");
    const double s = seconds_since(t0);
    state.SetIterationTime(s);
    keep_best(g_best_cli, s);
    keep_best(g_cpu_cli, cpu_seconds(RUSAGE_CHILDREN) - c0);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * g_bytes));
}

}  // namespace

int main(int argc, char** argv) {
  g_env_before_mpi = environment_names();
  aptflow::Runtime runtime(argc, argv);
  std::int64_t ions = 100'000'000;
  int iterations = 3;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--smoke") {
      ions = 1'000'000;
      iterations = 1;
    } else if (a == "--aptflow" && i + 1 < argc) {
      g_aptflow = argv[++i];
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
  benchmark::RegisterBenchmark("inspect_range", BM_inspect_range)
      ->UseManualTime()
      ->Iterations(iterations)
      ->Unit(benchmark::kMillisecond);
  if (!g_aptflow.empty())
    benchmark::RegisterBenchmark("aptflow_inspect_cli", BM_cli_inspect_range)
        ->UseManualTime()
        ->Iterations(iterations)
        ->Unit(benchmark::kMillisecond);
  benchmark::RunSpecifiedBenchmarks();
  const double gb = g_bytes / 1e9;
  std::printf("\nfile %.3f GB (%lld ions), best of %d:\n", gb, static_cast<long long>(g_bytes / 16),
              iterations);
  std::printf("                       wall      GB/s    | CPU (user+sys)  GB/s per CPU second\n");
  std::printf("  cat > /dev/null      %.3f s  %6.2f  | %.3f s  %6.2f\n", g_best_cat, gb / g_best_cat,
              g_cpu_cat, gb / g_cpu_cat);
  std::printf("  aptflow read only    %.3f s  %6.2f  | %.3f s  %6.2f\n", g_best_read, gb / g_best_read,
              g_cpu_read, gb / g_cpu_read);
  std::printf("  aptflow read+range   %.3f s  %6.2f  | %.3f s  %6.2f\n", g_best_aptflow, gb / g_best_aptflow,
              g_cpu_aptflow, gb / g_cpu_aptflow);
  std::printf("  inspect --range      %.3f s  %6.2f  | %.3f s  %6.2f   (inspect_dataset in this process)\n",
              g_best_inspect, gb / g_best_inspect, g_cpu_inspect, gb / g_cpu_inspect);
  if (g_best_cli > 0)
    std::printf("  aptflow inspect CLI  %.3f s  %6.2f  | %.3f s  %6.2f   (process start included)\n",
                g_best_cli, gb / g_best_cli, g_cpu_cli, gb / g_cpu_cli);
  std::printf("  ratio read+range/cat wall %.2f   CPU %.2f\n", g_best_cat / g_best_aptflow,
              g_cpu_cat / g_cpu_aptflow);
  std::printf("  ratio inspect/cat    wall %.2f   CPU %.2f\n", g_best_cat / g_best_inspect,
              g_cpu_cat / g_cpu_inspect);
  if (g_best_cli > 0)
    std::printf("  ratio CLI/cat        wall %.2f   CPU %.2f\n", g_best_cat / g_best_cli,
                g_cpu_cat / g_cpu_cli);
  if (ions != 100'000'000) {
    std::filesystem::remove(g_pos);
    std::filesystem::remove(g_rng);
  }
  return 0;
}
