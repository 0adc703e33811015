// Test main: initialises MPI and Kokkos once, traps floating-point invalid
// operations (so a NaN produced by arithmetic fails the test), and prints
// gtest output on rank 0 only.
#include <fenv.h>
#include <gtest/gtest.h>

#include "aptflow/core/runtime.hpp"

int main(int argc, char** argv) {
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
