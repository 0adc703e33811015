#pragma once
// Each verb lives in its own src/cli/<verb>.cpp and registers itself here.
#include <CLI/CLI.hpp>

namespace aptflow::cli {

void register_all(CLI::App& app);
int exit_code();
void set_exit_code(int code);

// One function per verb (defined in src/cli/<verb>.cpp).
void register_inspect(CLI::App& app);
void register_convert(CLI::App& app);
void register_synth(CLI::App& app);  // synth library | specimen
void register_sdm(CLI::App& app);
void register_voxelize(CLI::App& app);
void register_model(CLI::App& app);
void register_predict(CLI::App& app);
void register_train(CLI::App& app);
void register_evaluate(CLI::App& app);
void register_classify(CLI::App& app);
void register_cluster(CLI::App& app);
void register_report(CLI::App& app);
void register_truth(CLI::App& app);
void register_archive(CLI::App& app);  // also adds `synth archive` (after register_synth)
void register_pole(CLI::App& app);

}  // namespace aptflow::cli
