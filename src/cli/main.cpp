// aptflow command-line entry point: one program, one verb per sub-command.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "aptflow/config.hpp"
#include "aptflow/core/error.hpp"
#include "aptflow/core/runtime.hpp"
#include "cli/commands.hpp"

int main(int argc, char** argv) {
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
