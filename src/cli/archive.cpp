// aptflow archive --config FILE [--set key=value ...] [--resume]: reprocess a
// whole archive of datasets (docs/archive.md); and `aptflow synth archive`:
// a synthetic archive to try it on.
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "aptflow/core/config.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/pipeline/archive.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

namespace {

struct ArchiveArgs {
  std::string config;
  std::vector<std::string> sets;
  bool resume = false;
};

void run(const ArchiveArgs& args) {
  Config cfg = Config::from_file(args.config);
  cfg.apply_overrides(args.sets);
  ArchiveOptions opt = parse_archive_config(cfg);
  opt.resume = opt.resume || args.resume;
  // SIGTERM (SLURM at the time limit, scancel) and SIGUSR1 (sbatch --signal,
  // mpirun forwards it): finish the current dataset, start no new one.
  const StopSignals signals;
  opt.stop = signals.flag();
  const ArchiveSummary s = run_archive(MPI_COMM_WORLD, opt);
  if (Runtime::world_rank() == 0) {
    if (s.interrupted) {
      std::printf(
          "aptflow archive: interrupted after %lld of %lld datasets this run (%lld resumed, %.1f s): "
          "rerun with --resume\n",
          static_cast<long long>(s.processed), static_cast<long long>(s.datasets - s.resumed),
          static_cast<long long>(s.resumed), s.seconds);
    } else {
      std::printf(
          "aptflow archive: %lld datasets (%lld ok, %lld failed; %lld processed, %lld resumed), %lld "
          "clusters, %.1f s -> %s\n",
          static_cast<long long>(s.datasets), static_cast<long long>(s.ok), static_cast<long long>(s.failed),
          static_cast<long long>(s.processed), static_cast<long long>(s.resumed),
          static_cast<long long>(s.clusters), s.seconds, s.index.c_str());
    }
    std::fflush(stdout);
  }
  if (s.interrupted) set_exit_code(kArchiveInterruptedExitCode);
}

}  // namespace

void register_archive(CLI::App& app) {
  auto args = std::make_shared<ArchiveArgs>();
  auto* sub = app.add_subcommand(
      "archive",
      "Reprocess an archive of datasets (manifest CSV or directory crawl) on all MPI ranks: spectrum, "
      "composition, hydrogen, optional classify per dataset; index.h5 with PCA, t-SNE and spectral clusters "
      "(docs/archive.md). Exit 75: interrupted by SIGTERM/SIGUSR1, rerun with --resume");
  sub->add_option("--config,-c", args->config, "TOML config (e.g. configs/archive/example.toml)")->required();
  sub->add_option("--set", args->sets, "key=value overrides of the config (e.g. --set output=\"run2\")");
  sub->add_flag("--resume", args->resume,
                "skip datasets whose result files are complete and verified (same inputs and configuration)");
  sub->callback([args] { run(*args); });

  // aptflow synth archive --out DIR: the synthetic archive of the tests.
  auto* synth = app.get_subcommand("synth");
  struct SynthArgs {
    std::string out;
    SyntheticArchiveSpec spec;
    bool clean = false;
  };
  auto sa = std::make_shared<SynthArgs>();
  auto* s = synth->add_subcommand(
      "archive",
      "A synthetic archive for aptflow archive: POS/EPOS datasets of 4 materials (Al-Li-Mg, Fe-Al, Co-Cr-Ni, "
      "Ni-Al-Cr) with varying hydrogen, range files, manifest.csv (path, range, material, instrument, date) "
      "and 5 "
      "bad entries");
  s->add_option("--out,-o", sa->out, "directory to write")->required();
  s->add_option("--datasets", sa->spec.datasets, "good datasets")->check(CLI::Range(1, 100000));
  s->add_option("--min-ions", sa->spec.min_ions, "fewest ions per dataset")->check(CLI::PositiveNumber);
  s->add_option("--max-ions", sa->spec.max_ions, "most ions per dataset")->check(CLI::PositiveNumber);
  s->add_option("--seed", sa->spec.seed, "random seed");
  s->add_flag("--clean", sa->clean, "no bad entries");
  s->callback([sa] {
    SyntheticArchiveSpec spec = sa->spec;
    spec.corrupt = !sa->clean;
    if (Runtime::world_rank() == 0) {
      const auto a = write_synthetic_archive(sa->out, spec);
      std::printf("aptflow synth archive: %zu manifest rows -> %s\n", a.material.size(), a.manifest.c_str());
    }
    MPI_Barrier(MPI_COMM_WORLD);
  });
}

}  // namespace aptflow::cli
