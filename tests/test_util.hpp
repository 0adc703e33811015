#pragma once
// Helpers shared by tests: temporary directories, paths to ../shared/data,
// running the aptflow executable.
#include <filesystem>
#include <string>

namespace aptflow::test {

// A fresh directory under the build's temp area, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// ../shared/data next to the project, or an empty path when it is absent.
std::filesystem::path shared_data_dir();
// Project source dir (for configs/ and tests/python/).
std::filesystem::path source_dir();
// Path to the built aptflow executable.
std::string aptflow_exe();
// /usr/bin/python3 (Debian's, with numpy/scipy/h5py).
std::string python_exe();

// Rank and size in MPI_COMM_WORLD (0 and 1 before MPI_Init).
int world_rank();
int world_size();

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Run a shell command, capture its output and exit code.
CommandResult run_command(const std::string& command);

}  // namespace aptflow::test

// Skip the current test when ../shared/data is absent.
#define APTFLOW_REQUIRE_SHARED_DATA()                                                          \
  do {                                                                                         \
    if (::aptflow::test::shared_data_dir().empty())                                            \
      GTEST_SKIP() << "../shared/data is absent next to the project: skipping real-data test"; \
  } while (0)
