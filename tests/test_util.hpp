#pragma once
// Helpers shared by tests: temporary directories, paths to ../shared/data,
// running the aptflow executable.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

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
// Counts failed checks without leaving the test: an early return on one rank
// would leave the others waiting in the next collective (a hang, not a failure).
struct Checks {
  std::int64_t failed = 0;
  std::int64_t first = -1;  // where the first failure was
  void operator()(bool ok, std::int64_t where) {
    if (!ok && failed++ == 0) first = where;
  }
};

// Run a shell command, capture its output and exit code.
CommandResult run_command(const std::string& command);

// s in single quotes, for a shell command line (s holds no single quote).
std::string shell_quote(const std::string& s);
// The command prefix of a child MPI job of np ranks ("env -u ... mpirun
// --oversubscribe -np N "): the variables of this process's own (singleton)
// MPI job do not leak into it. one_thread: one OpenMP and OpenBLAS thread per
// rank; else the child inherits this process's settings.
std::string child_mpirun(int np, bool one_thread = true);
// A whole file as bytes / as text (empty when it cannot be read).
std::vector<unsigned char> read_bytes(const std::string& path);
std::string read_text(const std::string& path);
// Whether python_exe() imports these modules ("numpy, scipy.signal"); asked once per list.
bool python_has(const std::string& modules);

}  // namespace aptflow::test

// Skip the current test when ../shared/data is absent.
#define APTFLOW_REQUIRE_SHARED_DATA()                                                          \
  do {                                                                                         \
    if (::aptflow::test::shared_data_dir().empty())                                            \
      GTEST_SKIP() << "../shared/data is absent next to the project: skipping real-data test"; \
  } while (0)
