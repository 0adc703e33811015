// aptflow report RESULT.h5 --out DIR [--xdmf]: HTML report with SVG figures
// for a classify result or an archive index (docs/report.md).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "aptflow/core/runtime.hpp"
#include "aptflow/io/h5.hpp"
#include "aptflow/io/xdmf.hpp"
#include "aptflow/report/report.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

void register_report(CLI::App& app) {
  struct Args {
    std::string file;
    std::string out;
    bool xdmf = false;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "report",
      "Write an HTML report (index.html + SVG figures) for a classify result or an archive index; "
      "open DIR/index.html in a browser");
  sub->add_option("file", args->file, "classify result or archive index (HDF5)")->required();
  sub->add_option("--out,-o", args->out, "output folder (created; existing figures are overwritten)")
      ->required();
  sub->add_flag("--xdmf", args->xdmf,
                "also write the XDMF sidecar <file stem>.xdmf next to a classify result (for ParaView)");
  sub->callback([args] {
    if (Runtime::world_rank() != 0) return;  // serial: one rank reads and writes
    // The XDMF first, so the page can point to it.
    std::string xdmf;
    if (args->xdmf && h5::is_hdf5(args->file) &&
        h5::exists(h5::File::open(args->file), "/entry1/windows/probability")) {
      xdmf = std::filesystem::path(args->file).replace_extension(".xdmf").string();
      io::write_classify_xdmf(args->file, xdmf);
    }
    const auto r = report::write_report(args->file, args->out);
    std::printf("report (%s): %s, %zu figures\n", report::to_string(r.kind).c_str(), r.index_html.c_str(),
                r.figures.size());
    for (const auto& m : r.missing) std::printf("  not in the file: %s\n", m.c_str());
    if (!xdmf.empty()) std::printf("xdmf: %s\n", xdmf.c_str());
  });
}

}  // namespace aptflow::cli
