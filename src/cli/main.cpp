// aptflow command-line entry point: one program, one verb per sub-command.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>

#include "aptflow/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/core/runtime.hpp"
#include "cli/commands.hpp"

int main(int argc, char** argv) {
  // Started without mpirun/srun (a singleton), Open MPI would fork an orted
  // daemon in MPI_Init (about 0.2 s of wall time per command) and probe the
  // network transports (PSM's CPU calibration: another 0.2 s). aptflow never
  // spawns processes, so a singleton runs isolated and talks only to itself
  // (pml ob1, btl self). Launchers set their own variables and are left
  // alone; an explicit setting wins.
  if (!std::getenv("OMPI_COMM_WORLD_SIZE") && !std::getenv("PMIX_RANK") && !std::getenv("PMI_RANK")) {
    setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
    setenv("OMPI_MCA_pml", "ob1", 0);
    setenv("OMPI_MCA_btl", "self", 0);
  }
  // Diagnostics (spdlog warnings, range-file notes, progress) go to stderr:
  // stdout carries only a verb's report, and with --json exactly one JSON
  // document (spdlog's default logger would write to stdout).
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
  aptflow::Runtime runtime(argc, argv);
  CLI::App app{"aptflow: machine-learning-enhanced atom probe tomography at cluster scale"};
  app.set_version_flag("--version",
                       std::string("aptflow ") + APTFLOW_VERSION + " (" + APTFLOW_GIT_HASH + ")");
  app.require_subcommand(1);
  aptflow::cli::register_all(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const aptflow::Error& e) {
    std::fprintf(stderr, "aptflow: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aptflow: error: %s\n", e.what());
    return 3;
  }
  return aptflow::cli::exit_code();
}
