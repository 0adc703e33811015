// aptflow classify --config FILE [--set key=value ...]: the whole pipeline
// (docs/classify.md) on all MPI ranks of the job.
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "aptflow/core/config.hpp"
#include "aptflow/pipeline/classify.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

namespace {

struct ClassifyArgs {
  std::string config;
  std::vector<std::string> sets;
};

void run(const ClassifyArgs& args) {
  Config cfg = Config::from_file(args.config);
  cfg.apply_overrides(args.sets);
  const ClassifyOptions opt = parse_classify_config(cfg);
  const ClassifySummary s = run_classify(MPI_COMM_WORLD, opt);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0)
    std::printf(
        "aptflow classify: %lld ions, %lld windows (%lld empty), %lld labelled ions (per class: %s), %lld "
        "domains, %.2f s -> %s\n",
        static_cast<long long>(s.ions), static_cast<long long>(s.windows),
        static_cast<long long>(s.empty_windows), static_cast<long long>(s.labelled_ions),
        fmt::format("{}", fmt::join(s.ions_per_class, " ")).c_str(), static_cast<long long>(s.domains),
        s.seconds, opt.output.c_str());
}

}  // namespace

void register_classify(CLI::App& app) {
  auto args = std::make_shared<ClassifyArgs>();
  auto* sub = app.add_subcommand(
      "classify",
      "Classify a dataset: window z-SDMs -> model ensemble probabilities -> sub-cells -> ion labels -> "
      "DBSCAN domains, over MPI z slabs; output HDF5 /entry1/... (docs/classify.md)");
  sub->add_option("--config,-c", args->config, "TOML config (e.g. configs/classify/alli_l12.toml)")
      ->required();
  sub->add_option("--set", args->sets, "key=value overrides of the config (e.g. --set output=\"out.h5\")");
  sub->callback([args] { run(*args); });
}

}  // namespace aptflow::cli
