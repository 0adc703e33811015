// aptflow model import-keras IN.h5 --out MODEL.h5 [...]: convert a Keras 2.x
// Sequential HDF5 model into aptflow's model file (docs/models.md);
// aptflow model info MODEL.h5 [--json]: what a model file holds.
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "aptflow/nn/model_file.hpp"
#include "cli/commands.hpp"

namespace aptflow::cli {

void register_model(CLI::App& app) {
  auto* model =
      app.add_subcommand("model", "Model files: import a Keras model, show what a model file holds");
  model->require_subcommand(1);

  struct ImportArgs {
    std::string in, out, kind, preprocessing = "minmax_only", variant = "cocrni";
    std::vector<std::string> class_names, pairs;
  };
  auto ia = std::make_shared<ImportArgs>();
  auto* imp = model->add_subcommand(
      "import-keras",
      "Convert a Keras 2.x HDF5 Sequential model (e.g. the published ML-APT CNNs) into an aptflow "
      "model file with class names and a feature description");
  imp->add_option("input", ia->in, "Keras HDF5 model (model.save of keras.Sequential)")->required();
  imp->add_option("--out,-o", ia->out, "aptflow model file to write")->required();
  imp->add_option("--class-names", ia->class_names, "class name per output, e.g. FCC,L1_2")->delimiter(',');
  imp->add_option("--pairs", ia->pairs, "species pair per input channel, e.g. Co-Co (channel order)")
      ->delimiter(',');
  imp->add_option("--kind", ia->kind, "feature kind: z, zx, 3d or occupancy (default: from the input rank)")
      ->check(CLI::IsMember({"z", "zx", "3d", "occupancy"}));
  imp->add_option(
         "--preprocessing", ia->preprocessing,
         "what experimental curves get before this model: experimental (min-max, smoothing, background) or "
         "minmax_only")
      ->check(CLI::IsMember({"experimental", "minmax_only"}))
      ->capture_default_str();
  imp->add_option("--variant", ia->variant, "window variant / background window: feal or cocrni")
      ->check(CLI::IsMember({"feal", "cocrni"}))
      ->capture_default_str();
  imp->callback([ia] {
    nn::KerasImportOptions opt;
    opt.class_names = ia->class_names;
    // The feature description: start from what the file implies, then apply the options.
    nn::Model probe = nn::import_keras(ia->in);
    nn::ModelFeatures f = probe.features;
    if (!ia->kind.empty()) f.kind = ia->kind;
    f.pairs = ia->pairs;
    f.preprocessing = ia->preprocessing;
    f.variant = ia->variant;
    opt.features = f;
    nn::Model m = nn::import_keras(ia->in, opt);
    nn::save_model(m, ia->out);
    std::fputs(fmt::format("imported {} -> {}\n{}", ia->in, ia->out, m.summary()).c_str(), stdout);
  });

  struct InfoArgs {
    std::string file;
    bool json = false;
  };
  auto ib = std::make_shared<InfoArgs>();
  auto* info = model->add_subcommand("info",
                                     "Show the layers, classes and feature description of a model file "
                                     "(aptflow or Keras)");
  info->add_option("file", ib->file, "model file")->required();
  info->add_flag("--json", ib->json, "print one JSON object");
  info->callback([ib] {
    const auto members = nn::load_models(ib->file);  // ensembles: member 0 + the count
    const nn::Model& m = members.front();
    if (ib->json) {
      nlohmann::json j = {{"file", ib->file},
                          {"architecture", m.architecture()},
                          {"output_shape", m.output_shape()},
                          {"parameters", m.parameter_count()},
                          {"class_names", m.output_names()},
                          {"features", m.features.to_json()},
                          {"members", members.size()},
                          {"training", m.training}};
      std::puts(j.dump().c_str());
      return;
    }
    std::string s = fmt::format("model {}\n{}", ib->file, m.summary());
    s += fmt::format("classes: {}\nfeatures: {}\nmembers: {}\n", fmt::join(m.output_names(), ", "),
                     m.features.to_json().dump(), members.size());
    std::fputs(s.c_str(), stdout);
  });
}

}  // namespace aptflow::cli
