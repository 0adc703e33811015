// aptflow predict --model M [--model M2 ...] --input FEATURES.h5 [--json] [--out probs.h5]:
// class probabilities for every row of a feature or library file (mean over
// the models: the published 5-fold ensembles); see docs/models.md.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

#include "aptflow/core/runtime.hpp"
#include "aptflow/nn/model_file.hpp"
#include "aptflow/nn/predict.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

void register_predict(CLI::App& app) {
  struct Args {
    std::vector<std::string> models, pairs, class_names;
    std::string input, out, kind, preprocessing = "auto", background = "aptflow", backend = "auto";
    bool json = false;
    std::int64_t chunk = 1024;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "predict",
      "Class probabilities for every row of a feature/library file (features/<kind>/<A>-<B>); several "
      "--model: mean of their probabilities");
  sub->add_option("--model,-m", a->models, "model file, aptflow or Keras HDF5 (repeat for an ensemble)")
      ->required()
      ->take_all();
  sub->add_option("--input,-i", a->input, "feature or library HDF5 file")->required();
  sub->add_flag("--json", a->json, "print class names, probabilities and predicted classes as JSON");
  sub->add_option("--out,-o", a->out,
                  "write probabilities (samples, classes) and predicted (samples) to HDF5");
  sub->add_option("--pair", a->pairs, "species pair(s) to use as channels, e.g. Co-Co (default: the model's)")
      ->delimiter(',');
  sub->add_option("--kind", a->kind, "feature kind group to read (default: the model's)");
  sub->add_option("--class-names", a->class_names, "class names for a Keras model without metadata")
      ->delimiter(',');
  sub->add_option("--preprocess", a->preprocessing,
                  "auto (default: what the model records; a Keras model: experimental on dataset windows, "
                  "minmax_only on a library), none, minmax_only or experimental")
      ->check(CLI::IsMember({"auto", "none", "minmax_only", "experimental"}));
  sub->add_option("--background", a->background,
                  "background clipping of the experimental chain: aptflow or published (the published loop)")
      ->check(CLI::IsMember({"aptflow", "published"}));
  sub->add_option("--chunk", a->chunk, "samples per forward pass")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  sub->add_option("--gemm", a->backend, "GEMM backend: auto, openblas or cublas")->capture_default_str();
  sub->callback([a] {
    nn::KerasImportOptions keras;
    keras.class_names = a->class_names;
    std::vector<nn::Model> models;
    for (const auto& path : a->models) {
      for (auto& m : nn::load_models(path, keras)) {  // an ensemble file brings all its members
        models.push_back(std::move(m));
        models.back().set_gemm_backend(parse_gemm_backend(a->backend, "--gemm"));
      }
    }
    nn::PredictOptions opt;
    opt.kind = a->kind;
    opt.pairs = a->pairs;
    opt.preprocessing = a->preprocessing;
    opt.published_clipping = a->background == "published";
    opt.chunk = a->chunk;
    const nn::Prediction p = nn::predict_file(models, a->input, opt);
    if (!a->out.empty()) nn::write_prediction(p, a->out);
    if (Runtime::world_rank() != 0) return;
    // Which preprocessing ran is in the text report ("features: ... (preprocessing ...)"),
    // the JSON and the --out file.
    if (a->json) {
      std::puts(nn::prediction_json(p).c_str());
    } else {
      std::fputs(fmt::format("models: {}\n", models.size()).c_str(), stdout);
      std::fputs(nn::prediction_text(p).c_str(), stdout);
      if (!a->out.empty()) std::fputs(fmt::format("written: {}\n", a->out).c_str(), stdout);
    }
  });
}

}  // namespace aptflow::cli
