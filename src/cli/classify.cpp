// aptflow classify --config FILE [--set key=value ...] [--resume] [--shuffle-mq N]:
// the whole pipeline (docs/classify.md) on all MPI ranks of the job. SIGTERM
// and SIGUSR1 request a stop: the ranks finish their current chunk of windows,
// write <output>.checkpoint.h5 and exit with kClassifyExitStopped (75).
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "aptflow/core/config.hpp"
#include "aptflow/pipeline/classify.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

namespace {

struct ClassifyArgs {
  std::string config;
  std::vector<std::string> sets;
  bool resume = false;
  std::int64_t shuffle_mq = -1;
  std::string device;  // --device (empty: the config's `device`, default auto)
};

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

void run(const ClassifyArgs& args) {
  Config cfg = Config::from_file(args.config);
  cfg.apply_overrides(args.sets);
  ClassifyOptions opt = parse_classify_config(cfg);
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  if (world_rank == 0 && !opt.model_note.empty())
    std::fprintf(stderr, "aptflow classify: %s\n", opt.model_note.c_str());
  if (args.resume) opt.resume = true;
  if (args.shuffle_mq >= 0) opt.shuffle_mq = args.shuffle_mq;
  if (!args.device.empty()) opt.device = parse_device_choice("--device", args.device);
  if (const char* ms = std::getenv("APTFLOW_TEST_CHUNK_SLEEP_MS")) opt.test_chunk_sleep_ms = std::atoi(ms);
  const StopSignals signals;
  opt.stop = signals.flag();
  const ClassifySummary s = run_classify(MPI_COMM_WORLD, opt);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (s.stopped) {
    if (rank == 0) {
      std::string cmd = "aptflow classify --config " + shell_quote(args.config);
      for (const auto& a : args.sets) cmd += " --set " + shell_quote(a);
      if (args.shuffle_mq >= 0) cmd += fmt::format(" --shuffle-mq {}", args.shuffle_mq);
      if (!args.device.empty()) cmd += " --device " + args.device;
      std::printf(
          "aptflow classify: stopped by request after %lld/%lld windows; checkpoint %s; resume with: %s "
          "--resume\n",
          static_cast<long long>(s.windows_computed), static_cast<long long>(s.windows), s.checkpoint.c_str(),
          cmd.c_str());
    }
    set_exit_code(kClassifyExitStopped);
    return;
  }
  if (rank == 0) {
    std::printf(
        "aptflow classify: %lld ions%s, %lld windows (%lld empty%s), %lld labelled ions (per class: %s), "
        "%lld "
        "domains, %.2f s -> %s\n",
        static_cast<long long>(s.ions),
        s.input_ions != s.ions ? fmt::format(" in the region of interest (of {})", s.input_ions).c_str() : "",
        static_cast<long long>(s.windows), static_cast<long long>(s.empty_windows),
        s.resumed ? fmt::format("; {} computed, the rest from the checkpoint", s.windows_computed).c_str()
                  : "",
        static_cast<long long>(s.labelled_ions), fmt::format("{}", fmt::join(s.ions_per_class, " ")).c_str(),
        static_cast<long long>(s.domains), s.seconds, opt.output.c_str());
    std::printf("preprocessing: %s [%s]\n", s.preprocessing.c_str(), s.preprocessing_reason.c_str());
    if (!s.control.empty()) {
      std::printf("shuffled m/q control (domain sizes, %zu bins; real run: %lld domains)\n",
                  s.size_histogram.size(), static_cast<long long>(s.domains));
      std::printf("  %4s %20s %8s %10s %10s %12s %14s %14s\n", "run", "seed", "domains", "pearson_r", "chi2",
                  "contingency", "chi2_published", "cq_published");
      for (std::size_t j = 0; j < s.control.size(); ++j) {
        const auto& r = s.control[j];
        std::printf("  %4zu %20llu %8lld %10.4f %10.2f %12.4f %14.2f %14.4f\n", j + 1,
                    static_cast<unsigned long long>(r.seed), static_cast<long long>(r.domains),
                    r.vs_real.pearson_r, r.vs_real.chi2, r.vs_real.contingency, r.vs_real.chi2_published,
                    r.vs_real.contingency_published);
      }
      std::printf(
          "  (chi2, contingency: 2 x K homogeneity test, N = total; published: chi2 of real against "
          "control over the bins with control >= 1, cq = sqrt(chi2 / (chi2 + mean total)))\n");
    }
  }
}

}  // namespace

void register_classify(CLI::App& app) {
  auto args = std::make_shared<ClassifyArgs>();
  auto* sub = app.add_subcommand(
      "classify",
      "Classify a dataset: window z-SDMs -> model ensemble probabilities -> sub-cells -> ion labels -> "
      "DBSCAN domains, over MPI z slabs; output HDF5 /entry1/... (docs/classify.md). SIGTERM / SIGUSR1: "
      "checkpoint and exit 75; rerun with --resume");
  sub->add_option("--config,-c", args->config, "TOML config (e.g. configs/classify/alli_l12.toml)")
      ->required();
  sub->add_option("--set", args->sets, "key=value overrides of the config (e.g. --set output=\"out.h5\")");
  sub->add_flag("--resume", args->resume,
                "continue from <output>.checkpoint.h5 (same files and config; any number of ranks)");
  sub->add_option("--shuffle-mq", args->shuffle_mq,
                  "shuffled m/q control runs after the real run (config control.shuffle_mq)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option(
      "--device", args->device,
      "where the window z-SDMs and the CNN run: auto (the GPU when this build has a GPU backend), "
      "host or gpu (one GPU per MPI rank of a node; config key device; docs/classify.md \"GPU\")");
  sub->callback([args] { run(*args); });
}

}  // namespace aptflow::cli
