#include "test_util.hpp"

#include <mpi.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
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

}  // namespace aptflow::test
