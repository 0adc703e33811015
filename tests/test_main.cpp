// Test main: initialises MPI and Kokkos once, traps floating-point invalid
// operations (so a NaN produced by arithmetic fails the test), and prints
// gtest output on rank 0 only.
#include <fenv.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "aptflow/core/runtime.hpp"
#include "aptflow/kernels/gemm.hpp"

#include <Kokkos_Macros.hpp>  // KOKKOS_ENABLE_CUDA
#ifdef KOKKOS_ENABLE_CUDA
#include <cuda_runtime_api.h>
#endif

int main(int argc, char** argv) {
#ifdef KOKKOS_ENABLE_CUDA
  // A Kokkos CUDA build aborts in Kokkos::initialize without a GPU: skip
  // every test with a message instead (nothing is listed to ctest).
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr,
                 "aptflow tests: skipped: this build uses Kokkos' CUDA backend and no CUDA device is "
                 "present; run it on a GPU node\n");
    return 0;
  }
#endif
  // Tests run as root in CI and one thread per rank; the caller's environment wins.
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
  setenv("OMP_NUM_THREADS", "1", 0);
  setenv("APTFLOW_PYTHON", "/usr/bin/python3", 0);
  // OpenBLAS read its environment when it was loaded: set its threads directly.
  if (!std::getenv("OPENBLAS_NUM_THREADS")) aptflow::blas_set_num_threads(1);
  aptflow::Runtime runtime(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (aptflow::Runtime::world_rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  feenableexcept(FE_INVALID);
  int rc = RUN_ALL_TESTS();
  fedisableexcept(FE_INVALID);
  // Every rank must agree on the outcome.
  int global = 0;
  MPI_Allreduce(&rc, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return global;
}
