#pragma once
// Each verb lives in its own src/cli/<verb>.cpp and registers itself here.
#include <CLI/CLI.hpp>
#include <csignal>

namespace aptflow::cli {

void register_all(CLI::App& app);
int exit_code();
void set_exit_code(int code);

// SIGTERM (SLURM at the time limit, scancel) and SIGUSR1 (sbatch --signal,
// mpirun forwards it) set flag() while an object lives: the long verbs
// (classify, archive) pass it to their driver as a stop request. The handlers
// from before are restored when it goes, also on an exception. One at a time.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  volatile std::sig_atomic_t* flag() const;

 private:
  struct sigaction old_term_ {};
  struct sigaction old_usr1_ {};
};

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
