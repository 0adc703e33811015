#include "cli/commands.hpp"

namespace aptflow::cli {

namespace {
int g_exit_code = 0;
}

int exit_code() { return g_exit_code; }
void set_exit_code(int code) { g_exit_code = code; }

void register_all(CLI::App& app) {
  register_inspect(app);
  register_convert(app);
  register_synth(app);
  register_sdm(app);
  register_voxelize(app);
  register_model(app);
  register_predict(app);
  register_train(app);
  register_evaluate(app);
  register_classify(app);
  register_cluster(app);
  register_report(app);
  register_truth(app);
  register_archive(app);
  register_pole(app);
}

}  // namespace aptflow::cli
