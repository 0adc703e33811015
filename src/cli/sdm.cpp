// aptflow sdm: SDM features of a dataset, whole or per window (method.md
// sections 2-3), written as a feature file (docs/file-layouts.md): the
// command line and its --set keys; the MPI driver (z slabs + halo, as
// classify and voxelize) is pipeline/sdm.hpp.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "aptflow/core/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/core/runtime.hpp"
#include "aptflow/pipeline/sdm.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

namespace {

struct SdmArgs {
  std::string input, range, kind = "z", windows = "feal", out, device = "auto";
  std::vector<std::string> pairs, sets;
};

// The options from the command line and its --set keys; every key is checked
// before anything is read or written.
SdmOptions options_of(const SdmArgs& args) {
  Config cfg = Config::from_string("", "--set");
  cfg.apply_overrides(args.sets);
  SdmOptions o;
  o.input = args.input;
  o.range = args.range;
  o.output = args.out;
  o.pairs = args.pairs;
  o.device = parse_device_choice("--device", args.device);
  const SdmKind kind = parse_sdm_kind(args.kind, "--kind");
  SdmSpec spec = kind == SdmKind::z    ? SdmSpec::z()
                 : kind == SdmKind::zx ? SdmSpec::zx()
                                       : SdmSpec::cube(cfg.get_double("sdm.cube_range", 1.0),
                                                       cfg.get_double("sdm.cube_bin", 0.05));
  spec.r_cut = cfg.get_double("sdm.r_cut", spec.r_cut);
  spec.exclude = parse_sdm_exclude(cfg.get_string("sdm.exclude", "self"));
  spec.arithmetic = parse_sdm_arithmetic(cfg.get_string("sdm.arithmetic", "float32"));
  spec.finalize();
  o.windowed = args.windows != "none";
  if (o.windowed) o.variant = parse_window_variant(args.windows, "--windows");
  o.edge = cfg.get_double("windows.edge", 1.0);
  o.stride = cfg.get_double("windows.stride", 0.5);
  o.wspec = o.variant == WindowVariant::feal ? WindowSpec::feal(o.edge) : WindowSpec::cocrni(o.edge);
  o.wspec.centre_radius = static_cast<float>(cfg.get_double("windows.centre_radius", o.wspec.centre_radius));
  if (o.variant == WindowVariant::cocrni)
    o.wspec.neighbour_radius =
        static_cast<float>(cfg.get_double("windows.neighbour_radius", o.wspec.neighbour_radius));
  o.chunk = cfg.get_int("windows.chunk", 0);
  if (cfg.has("windows.box")) {
    const std::vector<double> box = cfg.get_doubles("windows.box");
    if (box.size() != 6)
      throw ConfigError("windows.box",
                        fmt::format("{} values: give [x0, y0, z0, x1, y1, z1] in nm", box.size()));
    if (!o.windowed)
      throw ConfigError("windows.box", "belongs to window SDMs: give --windows feal or cocrni");
    (void)WindowGrid::on_box(box.data(), box.data() + 3, o.edge,
                             o.stride);  // no window: error before reading
    o.box.emplace();
    std::copy(box.begin(), box.end(), o.box->begin());
  }
  o.roi = parse_roi(cfg);
  o.align = parse_align(cfg);  // transform.* (docs/alignment.md)
  if (spec.arithmetic != SdmArithmetic::float32 && (!o.windowed || kind != SdmKind::z))
    throw ConfigError("sdm.arithmetic",
                      fmt::format("'{}' is implemented for window z-SDMs only: use --kind z with "
                                  "--windows feal or cocrni, or \"float32\"",
                                  to_string(spec.arithmetic)));
  cfg.check_all_used();
  o.spec = spec;
  o.config_text = fmt::format(
      "input = \"{}\"\nrange = \"{}\"\nkind = \"{}\"\nwindows = \"{}\"\npairs = [\"{}\"]\n{}", args.input,
      args.range, args.kind, args.windows, fmt::join(args.pairs, "\", \""), cfg.to_toml());
  return o;
}

void run(const SdmArgs& args) {
  const SdmOptions o = options_of(args);
  const SdmSummary s = run_sdm(MPI_COMM_WORLD, o);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) return;
  if (s.alignment.mode != AlignSpec::Mode::none) std::fprintf(stderr, "%s\n", describe(s.alignment).c_str());
  if (!o.windowed) {
    std::printf("aptflow sdm: 1 row x %zu pairs -> %s (counted on the %s)\n", o.pairs.size(),
                args.out.c_str(), s.device.c_str());
    return;
  }
  const WindowGrid& g = s.grid;
  std::printf("aptflow sdm: %lld windows (%lld x %lld x %lld) x %zu pairs -> %s (counted on the %s)%s\n",
              static_cast<long long>(s.rows), static_cast<long long>(g.counts[0]),
              static_cast<long long>(g.counts[1]), static_cast<long long>(g.counts[2]), o.pairs.size(),
              args.out.c_str(), s.device.c_str(),
              o.roi.enabled() ? fmt::format(" ({} ions in the region of interest)", s.ions).c_str() : "");
}

}  // namespace

void register_sdm(CLI::App& app) {
  auto args = std::make_shared<SdmArgs>();
  auto* sub = app.add_subcommand(
      "sdm",
      "Spatial distribution maps of a dataset: one SDM over all centre ions (--windows none) or one per "
      "window of a grid (feal: centre sphere, neighbours from the whole dataset; cocrni: both in the window "
      "sphere); output: feature file (docs/file-layouts.md)");
  sub->add_option("--input,-i", args->input, "dataset (POS, EPOS, APT or aptflow HDF5)")->required();
  sub->add_option("--range,-r", args->range, "range file (RRNG, RNG or ENV)")->required();
  sub->add_option("--pair,-p", args->pairs, "A-B pair of ion-type names of the range file (repeatable)")
      ->required();
  sub->add_option("--kind,-k", args->kind, "z (93 bins), zx (200 x 200) or 3d")->capture_default_str();
  sub->add_option("--windows,-w", args->windows, "feal, cocrni or none")->capture_default_str();
  sub->add_option(
      "--set", args->sets,
      "key=value: sdm.r_cut, sdm.cube_range, sdm.cube_bin, sdm.exclude, sdm.arithmetic, windows.edge, "
      "windows.stride, windows.centre_radius, windows.neighbour_radius, windows.chunk, windows.box, "
      "roi.box, roi.cylinder, roi.z, transform.align (\"none\", \"auto\" or [tilt, azimuth]), "
      "transform.cone, "
      "transform.species, transform.tile, transform.min_score, transform.r_cut, transform.bin, "
      "transform.subsamples (docs/cli.md, docs/alignment.md)");
  sub->add_option("--out,-o", args->out, "output feature file (HDF5)")->required();
  sub->add_option("--device", args->device,
                  "where the SDMs are counted: auto (the GPU when this build has a GPU backend), host or gpu "
                  "(one GPU per MPI rank of a node; the same integers everywhere)")
      ->capture_default_str();
  sub->callback([args] { run(*args); });
}

}  // namespace aptflow::cli
