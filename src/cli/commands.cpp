#include "cli/commands.hpp"

namespace aptflow::cli {

namespace {
int g_exit_code = 0;
volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) { g_stop = 1; }
}  // namespace

int exit_code() { return g_exit_code; }
void set_exit_code(int code) { g_exit_code = code; }

StopSignals::StopSignals() {
  g_stop = 0;
  struct sigaction sa = {};
  sa.sa_handler = &on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, &old_term_);
  sigaction(SIGUSR1, &sa, &old_usr1_);
}

StopSignals::~StopSignals() {
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGUSR1, &old_usr1_, nullptr);
}

volatile std::sig_atomic_t* StopSignals::flag() const { return &g_stop; }

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
