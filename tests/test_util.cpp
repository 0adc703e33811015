#include "test_util.hpp"

#include <mpi.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>

namespace aptflow::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  // Rank 0 picks the name so all ranks of an MPI test share one directory.
  int rank = 0;
  int init = 0;
  MPI_Initialized(&init);
  if (init) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::array<char, 64> name{};
  if (rank == 0) {
    std::random_device rd;
    std::snprintf(name.data(), name.size(), "aptflow-test-%d-%08x", static_cast<int>(getpid()), rd());
  }
  if (init) MPI_Bcast(name.data(), static_cast<int>(name.size()), MPI_CHAR, 0, MPI_COMM_WORLD);
  path_ = fs::temp_directory_path() / name.data();
  if (rank == 0) fs::create_directories(path_);
  if (init) MPI_Barrier(MPI_COMM_WORLD);
}

TempDir::~TempDir() {
  int rank = 0;
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) {
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  }
  std::error_code ec;
  if (rank == 0) fs::remove_all(path_, ec);
}

int world_rank() {
  int init = 0, rank = 0;
  MPI_Initialized(&init);
  if (init) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int world_size() {
  int init = 0, size = 1;
  MPI_Initialized(&init);
  if (init) MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

fs::path shared_data_dir() {
  fs::path p;
  if (const char* env = std::getenv("APTFLOW_SHARED_DATA"))
    p = env;
  else
    p = source_dir() / ".." / "shared" / "data";
  std::error_code ec;
  if (fs::is_directory(p, ec)) return fs::canonical(p, ec);
  return {};
}

fs::path source_dir() {
  if (const char* env = std::getenv("APTFLOW_SOURCE_DIR")) return env;
  return APTFLOW_TEST_SOURCE_DIR;
}

std::string aptflow_exe() {
  if (const char* env = std::getenv("APTFLOW_EXE")) return env;
  return APTFLOW_TEST_EXE;
}

std::string python_exe() {
  if (const char* env = std::getenv("APTFLOW_PYTHON")) return env;
  return "/usr/bin/python3";
}

CommandResult run_command(const std::string& command) {
  CommandResult r;
  std::string full = command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe)) r.output += buf.data();
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string shell_quote(const std::string& s) { return "'" + s + "'"; }

std::string child_mpirun(int np, bool one_thread) {
  return std::string(
             "env $(env | grep -oE '^(OMPI|PMIX|OPAL)_[A-Za-z0-9_]*' | grep -v ALLOW_RUN_AS_ROOT | sed "
             "'s/^/-u /') OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ") +
         (one_thread ? "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 " : "") + "mpirun --oversubscribe -np " +
         std::to_string(np) + " ";
}

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool python_has(const std::string& modules) {
  static std::mutex mutex;
  static std::map<std::string, bool> known;
  const std::lock_guard<std::mutex> lock(mutex);
  const auto it = known.find(modules);
  if (it != known.end()) return it->second;
  const bool ok = run_command(python_exe() + " -c 'import " + modules + "'").exit_code == 0;
  known.emplace(modules, ok);
  return ok;
}

}  // namespace aptflow::test
