#include "cli/commands.hpp"

namespace aptflow::cli {

void register_inspect(CLI::App& app) {
  auto* sub =
      app.add_subcommand("inspect", "Summarise an APT dataset (format, ions, bounds, m/q, peaks, ranging)");
  (void)sub;
}

}  // namespace aptflow::cli
