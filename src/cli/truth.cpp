// aptflow truth RESULT.h5 TRUTH.h5 [--json] [--write]: compare a classify result
// with the ground truth of a synthetic specimen (docs/classify.md, "Ground truth").
#include <cstdio>
#include <memory>

#include "aptflow/core/runtime.hpp"
#include "aptflow/pipeline/truth.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

void register_truth(CLI::App& app) {
  struct Args {
    std::string result, truth;
    bool json = false, write = false;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "truth",
      "Compare a classify result with a synthetic specimen's ground truth: per-ion precision, recall, F1 per "
      "class, true / detected / matched domains, mean radius error (docs/classify.md)");
  sub->add_option("result", args->result, "result HDF5 of aptflow classify")->required();
  sub->add_option("truth", args->truth, "<name>_truth.h5 of aptflow synth specimen")->required();
  sub->add_flag("--json", args->json, "print one JSON object instead of the text report");
  sub->add_flag("--write", args->write, "also store the numbers in the result file under /entry1/truth");
  sub->callback([args] {
    if (Runtime::world_rank() != 0) return;
    const TruthComparison c = compare_with_truth(args->result, args->truth);
    if (args->write) write_truth_comparison(args->result, c);
    const auto text = args->json ? format_truth_json(c) + "\n" : format_truth_comparison(c);
    std::fputs(text.c_str(), stdout);
  });
}

}  // namespace aptflow::cli
