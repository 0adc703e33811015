// aptflow train --config FILE --library LIB.h5 --out MODEL.h5 [--set key=value ...]:
// train a CNN on a synthetic library (docs/training.md); data parallel over
// MPI ranks. `--convert-bank BANK.h5 --out LIB.h5` writes the published Fe-Al
// z-SDM bank as an aptflow library file instead.
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "aptflow/core/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/nn/model_file.hpp"
#include "aptflow/nn/train.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

void register_train(CLI::App& app) {
  struct Args {
    std::string config, library, out, bank;
    std::vector<std::string> sets;
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "train",
      "Train a CNN on a synthetic library (configs/train/*.toml: [[layers]], [training], [augment]); "
      "stratified split, optional k-fold ensemble, data parallel over MPI ranks (docs/training.md)");
  sub->add_option("--config,-c", a->config, "training config (TOML)");
  sub->add_option("--library,-l", a->library,
                  "library file (aptflow synth library) or the published Fe-Al z-SDM bank");
  sub->add_option("--out,-o", a->out, "model file to write (an ensemble file for folds >= 2)")->required();
  sub->add_option("--set", a->sets, "override a config key: --set key=value (repeatable)");
  sub->add_flag("--quiet,-q", a->quiet, "no per-epoch progress lines");
  sub->add_option("--convert-bank", a->bank,
                  "instead of training: write this Fe-Al z-SDM bank (groups BCC, B2, D03; FeFe, AlAl) as an "
                  "aptflow library file to --out");
  sub->callback([a] {
    const bool root = Runtime::world_rank() == 0;
    if (!a->bank.empty()) {
      if (root) {
        nn::convert_feal_bank(a->bank, a->out);
        std::printf("aptflow train: converted the bank %s -> library %s\n", a->bank.c_str(), a->out.c_str());
      }
      return;
    }
    if (a->config.empty() || a->library.empty())
      throw ConfigError("train", "pass --config FILE and --library LIB.h5 (or --convert-bank BANK.h5)");
    Config cfg = Config::from_file(a->config);
    cfg.apply_overrides(a->sets);
    const nn::TrainSpec spec = nn::TrainSpec::from_config(cfg);
    cfg.check_all_used();
    const nn::LabelledData data = nn::load_labelled(a->library, spec.data);
    if (root)
      std::printf(
          "aptflow train: %zu samples (%lld rows without signal left out), input %s, classes %s, %d "
          "rank(s)\n",
          data.labels.size(), static_cast<long long>(data.dropped),
          nn::shape_string(data.x.sample_shape()).c_str(),
          fmt::format("{}", fmt::join(data.class_names, ", ")).c_str(), Runtime::world_size());
    nn::ProgressFn progress;
    if (root && !a->quiet)
      progress = [](const nn::EpochMetrics& m, int folds, std::int64_t epochs) {
        std::printf(
            "%sepoch %d/%lld  loss %.4f  accuracy %.4f  val_loss %.4f  val_accuracy %.4f  %.0f samples/s  "
            "%.1f s\n",
            folds > 1 ? fmt::format("fold {}/{}  ", m.fold + 1, folds).c_str() : "", m.epoch + 1,
            static_cast<long long>(epochs), m.loss, m.accuracy, m.val_loss, m.val_accuracy,
            m.samples_per_second, m.seconds);
        std::fflush(stdout);
      };
    const nn::TrainResult r = nn::train(spec, data, MPI_COMM_WORLD, progress);
    if (root) {
      nn::save_models(r.members, a->out);
      std::printf(
          "aptflow train: %zu model(s), %lld parameters each, test accuracy %.4f on %zu held-out samples, "
          "%.1f s -> %s\n",
          r.members.size(), static_cast<long long>(r.members.front().parameter_count()), r.test_accuracy,
          r.test_labels.size(), r.seconds, a->out.c_str());
    }
  });
}

}  // namespace aptflow::cli
