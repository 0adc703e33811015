#include "aptflow/core/runtime.hpp"

#include <Kokkos_Core.hpp>

#include "aptflow/core/error.hpp"

namespace aptflow {

Runtime::Runtime(int& argc, char**& argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    owns_mpi_ = true;
  }
  // Kokkos sees only the program name: its own --help would hide aptflow's
  // (threads and devices come from KOKKOS_* environment variables).
  // Kokkos' start-up warnings (e.g. OMP_PROC_BIND unset with OpenMP) would
  // land in the output of every verb, --json included: switched off.
  if (!Kokkos::is_initialized()) {
    static char no_warnings[] = "--kokkos-disable-warnings";
    int kargc = argc > 0 ? 2 : 0;
    char* kargv[] = {argc > 0 ? argv[0] : nullptr, no_warnings, nullptr};
    char** kargv_ptr = kargv;
    Kokkos::initialize(kargc, kargv_ptr);
  }
}

Runtime::~Runtime() {
  if (Kokkos::is_initialized()) Kokkos::finalize();
  if (owns_mpi_) {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
  }
}

int Runtime::world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int Runtime::world_size() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

DeviceChoice parse_device_choice(const std::string& key, const std::string& value) {
  if (value == "auto") return DeviceChoice::automatic;
  if (value == "host") return DeviceChoice::host;
  if (value == "gpu") return DeviceChoice::gpu;
  throw ConfigError(key, "'" + value + "' is not a device: use auto, host or gpu");
}

std::string to_string(DeviceChoice choice) {
  switch (choice) {
    case DeviceChoice::automatic:
      return "auto";
    case DeviceChoice::host:
      return "host";
    case DeviceChoice::gpu:
      return "gpu";
  }
  return "auto";
}

bool have_gpu_backend() {
#if defined(KOKKOS_ENABLE_CUDA)
  return true;
#else
  return false;
#endif
}

DeviceSelection select_device(DeviceChoice choice, const std::string& key) {
  DeviceSelection s;
  const bool gpu = choice == DeviceChoice::gpu || (choice == DeviceChoice::automatic && have_gpu_backend());
  if (gpu && !have_gpu_backend())
    throw ConfigError(
        key, "'gpu' needs an aptflow built against Kokkos with a GPU backend (this one has " +
                 std::string(Kokkos::DefaultExecutionSpace::name()) +
                 "): build one with `bash scripts/test_backends.sh cuda-hopper90` (or cuda-ampere80) "
                 "and run build-cuda-hopper90/aptflow, or use --device host");
  s.gpu = gpu;
#if defined(KOKKOS_ENABLE_CUDA)
  if (gpu) s.device_id = Kokkos::Cuda().cuda_device();
#endif
  return s;
}

}  // namespace aptflow
