// aptflow archive throughput on the synthetic archive (issue 6): datasets per
// hour for a whole run (read, hash, spectrum, composition, hydrogen, result
// files, index with PCA + t-SNE + spectral clustering), and the cost of a
// --resume that finds everything done. Run at several process counts:
//   mpirun -n 1 bench_archive        60 datasets of 20k-60k ions + 5 bad entries
//   mpirun -n 2 bench_archive
//   bench_archive --datasets N --min-ions A --max-ions B
//   bench_archive --smoke            8 small datasets, one iteration (ctest)
#include <benchmark/benchmark.h>
#include <mpi.h>

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "aptflow/core/runtime.hpp"
#include "aptflow/pipeline/archive.hpp"

namespace {

namespace fs = std::filesystem;

aptflow::ArchiveOptions g_options;
std::int64_t g_rows = 0;
double g_best_run = 0, g_best_resume = 0;

double timed_run(const aptflow::ArchiveOptions& o, aptflow::ArchiveSummary* s) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  *s = aptflow::run_archive(MPI_COMM_WORLD, o);
  double t = MPI_Wtime() - t0;
  MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return t;
}

void BM_archive_run(benchmark::State& state) {
  for (auto _ : state) {
    if (aptflow::Runtime::world_rank() == 0) fs::remove_all(g_options.output);
    aptflow::ArchiveSummary s;
    const double t = timed_run(g_options, &s);
    if (s.processed != g_rows) state.SkipWithError("not every dataset was processed");
    state.SetIterationTime(t);
    if (g_best_run == 0 || t < g_best_run) g_best_run = t;
  }
  state.counters["datasets_per_hour"] = static_cast<double>(g_rows) / g_best_run * 3600.0;
  state.counters["ranks"] = aptflow::Runtime::world_size();
}

void BM_archive_resume_all_done(benchmark::State& state) {
  auto o = g_options;
  o.resume = true;
  for (auto _ : state) {
    aptflow::ArchiveSummary s;
    const double t = timed_run(o, &s);
    if (s.resumed != g_rows) state.SkipWithError("resume did not skip every dataset");
    state.SetIterationTime(t);
    if (g_best_resume == 0 || t < g_best_resume) g_best_resume = t;
  }
}

}  // namespace

int main(int argc, char** argv) {
  aptflow::Runtime runtime(argc, argv);
  aptflow::SyntheticArchiveSpec spec;  // 60 datasets, 20k-60k ions, 5 bad entries
  int iterations = 3;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--smoke") {
      spec.datasets = 8, spec.min_ions = 2000, spec.max_ions = 4000;
      iterations = 1;
    } else if (a == "--datasets" && i + 1 < argc) {
      spec.datasets = std::atoi(argv[++i]);
    } else if (a == "--min-ions" && i + 1 < argc) {
      spec.min_ions = std::atoll(argv[++i]);
    } else if (a == "--max-ions" && i + 1 < argc) {
      spec.max_ions = std::atoll(argv[++i]);
    } else {
      rest.push_back(argv[i]);
    }
  }
  const int rank = aptflow::Runtime::world_rank();
  if (rank != 0) (void)std::freopen("/dev/null", "w", stdout);  // one report
  int rargc = static_cast<int>(rest.size());
  benchmark::Initialize(&rargc, rest.data());
  long long id = rank == 0 ? static_cast<long long>(getpid()) : 0;
  MPI_Bcast(&id, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
  const fs::path dir = fs::temp_directory_path() / ("aptflow_bench_archive_" + std::to_string(id));
  std::string manifest;
  if (rank == 0) {
    std::printf("synthetic archive: %d datasets of %lld-%lld ions + 5 bad entries in %s, %d ranks\n",
                spec.datasets, static_cast<long long>(spec.min_ions), static_cast<long long>(spec.max_ions),
                dir.c_str(), aptflow::Runtime::world_size());
    manifest = aptflow::write_synthetic_archive((dir / "archive").string(), spec).manifest;
  }
  int len = static_cast<int>(manifest.size());
  MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  manifest.resize(static_cast<std::size_t>(len));
  MPI_Bcast(manifest.data(), len, MPI_CHAR, 0, MPI_COMM_WORLD);
  g_rows = spec.datasets + 5;
  g_options.manifest = manifest;
  g_options.output = (dir / "out").string();
  g_options.progress = false;
  benchmark::RegisterBenchmark("archive_run", BM_archive_run)
      ->UseManualTime()
      ->Iterations(iterations)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("archive_resume_all_done", BM_archive_resume_all_done)
      ->UseManualTime()
      ->Iterations(iterations)
      ->Unit(benchmark::kMillisecond);
  benchmark::RunSpecifiedBenchmarks();
  if (rank == 0) {
    std::printf(
        "\n%lld manifest rows, %d ranks, best of %d: run %.3f s = %.0f datasets/h; resume (all done) %.3f "
        "s\n",
        static_cast<long long>(g_rows), aptflow::Runtime::world_size(), iterations, g_best_run,
        static_cast<double>(g_rows) / g_best_run * 3600.0, g_best_resume);
    fs::remove_all(dir);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return 0;
}
