// aptflow evaluate --model M [--model M2 ...] --library L [--split all|test|train] [--json]:
// accuracy, confusion matrix, per-class precision and recall (docs/training.md).
#include <cstdio>
#include <memory>

#include "aptflow/core/runtime.hpp"
#include "aptflow/nn/evaluate.hpp"
#include "aptflow/nn/model_file.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

void register_evaluate(CLI::App& app) {
  struct Args {
    std::vector<std::string> models;
    std::string library, split = "all";
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "evaluate",
      "Accuracy, confusion matrix, per-class precision/recall of a model or ensemble on a labelled library "
      "(whole library, or the held-out split recorded in the model file)");
  sub->add_option("--model,-m", a->models, "model file (repeat, or an ensemble file: mean of the members)")
      ->required()
      ->take_all();
  sub->add_option("--library,-l", a->library, "library file or the Fe-Al z-SDM bank")->required();
  sub->add_option("--split", a->split,
                  "all, or test / train: the training split reproduced from the model file")
      ->check(CLI::IsMember({"all", "test", "train"}))
      ->capture_default_str();
  sub->add_flag("--json", a->json, "print one JSON object");
  sub->callback([a] {
    std::vector<nn::Model> models;
    for (const auto& path : a->models)
      for (auto& m : nn::load_models(path)) models.push_back(std::move(m));
    nn::EvaluateOptions opt;
    opt.split = a->split;
    const nn::Evaluation e = nn::evaluate_models(models, a->library, opt);
    if (Runtime::world_rank() != 0) return;
    if (a->json)
      std::puts(nn::evaluation_json(e).dump().c_str());
    else
      std::fputs(nn::evaluation_text(e).c_str(), stdout);
  });
}

}  // namespace aptflow::cli
