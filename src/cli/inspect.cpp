// aptflow inspect FILE [--range R] [--json]: summarise a dataset.
#include <cstdio>
#include <memory>

#include "aptflow/core/runtime.hpp"
#include "aptflow/pipeline/inspect.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

void register_inspect(CLI::App& app) {
  struct Args {
    std::string file;
    std::string range;
    std::string format;
    bool json = false;
    bool drop_nonfinite = false;
    int peaks = 10;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("inspect",
                                 "Summarise an APT dataset (POS, EPOS, AP Suite APT, ATO, text, aptflow "
                                 "HDF5, NeXus NXapm, Cameca HDF5): "
                                 "format, sections, ion count, bounds, m/q range, strongest mass-spectrum "
                                 "peaks; with --range the counts "
                                 "per ion type and the composition");
  sub->add_option("file", args->file, "dataset file (format detected from its content)")->required();
  sub->add_option(
      "--range,-r", args->range,
      "range file (RRNG, RNG, ENV) or a point-cloud file with ranging (NXapm, Cameca or aptflow HDF5)");
  sub->add_option(
      "--format", args->format,
      "force the dataset's format instead of detecting it: pos, epos, apt, ato, text, h5, nxapm, cameca");
  sub->add_flag("--json", args->json, "print one JSON object instead of the text report");
  sub->add_flag("--drop-nonfinite", args->drop_nonfinite,
                "drop ions with NaN/Inf coordinates or m/q (counted) instead of failing");
  sub->add_option("--peaks", args->peaks, "number of mass-spectrum peaks to report")
      ->check(CLI::Range(0, 1000));
  sub->callback([args] {
    InspectOptions opt;
    if (!args->range.empty()) opt.range_file = args->range;
    if (!args->format.empty()) opt.format = io::parse_format(args->format, "--format");
    opt.drop_nonfinite = args->drop_nonfinite;
    opt.max_peaks = args->peaks;
    const auto r = inspect_dataset(MPI_COMM_WORLD, args->file, opt);
    if (Runtime::world_rank() == 0) {
      const auto text = args->json ? format_inspect_json(r) + "\n" : format_inspect_text(r);
      std::fputs(text.c_str(), stdout);
    }
  });
}

}  // namespace aptflow::cli
