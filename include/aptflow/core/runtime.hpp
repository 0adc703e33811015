#pragma once
// Runtime: initialises MPI and Kokkos once per process (RAII) and finalises
// them in the right order. Use one in main() of every program and test.
#include <mpi.h>

#include <string>

namespace aptflow {

class Runtime {
 public:
  Runtime(int& argc, char**& argv);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  static int world_rank();
  static int world_size();

 private:
  bool owns_mpi_ = false;
};

// Where a driver's device stages run (`--device`, docs/classify.md "GPU").
// Kokkos gives each MPI rank of a node its own GPU (its default
// map_device_id_by = mpi_rank: the node-local rank from the launcher's
// environment, modulo the GPUs visible); CUDA_VISIBLE_DEVICES narrows it.
enum class DeviceChoice { automatic, host, gpu };

// "auto", "host" or "gpu"; a ConfigError naming `key` otherwise.
DeviceChoice parse_device_choice(const std::string& key, const std::string& value);
std::string to_string(DeviceChoice choice);

// True when this build's Kokkos::DefaultExecutionSpace is a GPU space with
// aptflow's device stages (Kokkos built with CUDA; HIP and SYCL builds compile
// the kernels but run the drivers on the host).
bool have_gpu_backend();

struct DeviceSelection {
  bool gpu = false;    // the device stages run on Kokkos::DefaultExecutionSpace, a GPU
  int device_id = -1;  // the GPU of this rank (-1 on the host)
};

// auto: the GPU when the build has a GPU backend, else the host; host: the
// host; gpu: the GPU, or a ConfigError that says how to build
// aptflow with one (named `key`: the config key or the option). Needs an
// initialised Kokkos.
DeviceSelection select_device(DeviceChoice choice, const std::string& key = "device");

}  // namespace aptflow
