// aptflow synth library|specimen: synthetic training libraries and specimens.
#include <cstdio>
#include <memory>

#include "aptflow/core/config.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/synth/library.hpp"
#include "aptflow/synth/specimen.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

namespace {

struct ConfigArgs {
  std::string config;
  std::vector<std::string> sets;
  std::string out;
};

void add_config_options(CLI::App* sub, ConfigArgs& a, const std::string& out_help) {
  sub->add_option("--config,-c", a.config, "TOML config file")->required();
  sub->add_option("--set", a.sets, "override a config key: --set key=value (repeatable)");
  sub->add_option("--out,-o", a.out, out_help)->required();
}

Config load(const ConfigArgs& a) {
  Config cfg = Config::from_file(a.config);
  cfg.apply_overrides(a.sets);
  return cfg;
}

}  // namespace

void register_synth(CLI::App& app) {
  auto* synth = app.add_subcommand("synth", "Synthetic data: training libraries and whole specimens");
  synth->require_subcommand(1);

  auto lib = std::make_shared<ConfigArgs>();
  auto* l = synth->add_subcommand(
      "library",
      "Synthetic SDM library (method.md section 4): per class a full-factorial grid of sigma_xy x sigma_z x "
      "eta, "
      "one lattice block and its SDMs per grid point; samples split over MPI ranks, the same bytes on any "
      "number of ranks (configs/synth/*.toml, docs/file-layouts.md)");
  add_config_options(l, *lib, "output HDF5 library file");
  l->callback([lib] {
    const auto spec = synth::parse_library_config(load(*lib));
    const auto st = synth::write_library(MPI_COMM_WORLD, spec, lib->out, true);
    if (Runtime::world_rank() == 0)
      std::printf("aptflow synth library: %lld samples, %zu channels -> %s (%.1f s)\n",
                  static_cast<long long>(st.samples), synth::num_channels(spec), lib->out.c_str(),
                  st.seconds);
  });

  auto spc = std::make_shared<ConfigArgs>();
  auto* s = synth->add_subcommand(
      "specimen",
      "Synthetic specimen with ordered domains and per-ion ground truth: <name>.pos, <name>.rrng, "
      "<name>_truth.h5 in the output directory (configs/synth/specimen_alli_l12.toml, docs/synthetic.md)");
  add_config_options(s, *spc, "output directory");
  s->callback([spc] {
    const auto files = synth::write_specimen(MPI_COMM_WORLD, load(*spc), spc->out);
    if (Runtime::world_rank() == 0)
      std::printf("aptflow synth specimen: %lld ions, %lld domains -> %s, %s, %s\n",
                  static_cast<long long>(files.num_ions), static_cast<long long>(files.num_domains),
                  files.pos.c_str(), files.rrng.c_str(), files.truth.c_str());
  });
}

}  // namespace aptflow::cli
