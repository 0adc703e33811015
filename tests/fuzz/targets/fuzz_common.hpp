#pragma once
// Shared pieces of aptflow's libFuzzer targets (tests/fuzz/README.md).
// A target passes when every input either reads or raises aptflow::Error:
// any other exception escapes LLVMFuzzerTestOneInput and aborts (a crash to
// libFuzzer), as do ASan/UBSan reports, leaks and hangs.
#include <unistd.h>
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "aptflow/core/error.hpp"

namespace aptflow::fuzz {

// Kokkos once per process (IonCloud holds Kokkos Views); never finalised:
// libFuzzer exits from its own code.
inline void init_kokkos() {
  if (!Kokkos::is_initialized()) {
    int argc = 1;
    char name[] = "aptflow_fuzz";
    char* argv[] = {name, nullptr};
    char** p = argv;
    Kokkos::initialize(argc, p);
  }
}

// A per-process scratch file (on /dev/shm when it exists: no disk traffic).
inline std::string scratch_path(const char* ext) {
  const char* dir =
      access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
  return std::string(dir) + "/aptflow-fuzz-" + std::to_string(getpid()) + ext;
}

inline void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

// Run f; aptflow::Error is an accepted outcome (bad input), anything else escapes.
template <class F>
bool accepts(F&& f) {
  try {
    f();
    return true;
  } catch (const aptflow::Error&) {
    return false;
  }
}

// An invariant of an accepted input broke: a bug.
[[noreturn]] inline void invariant_failed(const char* what) {
  std::fprintf(stderr, "aptflow fuzz: invariant failed: %s\n", what);
  std::abort();
}

}  // namespace aptflow::fuzz
