#!/usr/bin/env bash
# Build aptflow against the other Kokkos backends (Kokkos 4.6.01 from
# ../shared/vendor, scripts/build_kokkos.sh) and check them; .ci/run calls it
# after the default (Debian Kokkos 3.4, Serial) build and tests.
#
#   bash scripts/test_backends.sh [openmp] [cuda-hopper90] [cuda-ampere80]   (default: openmp cuda-hopper90)
#
#   openmp         Kokkos Serial + OpenMP -> build-openmp/: aptflow, the unit,
#                  kernel (serial.* and openmp.*) and MPI tests, run with
#                  OMP_NUM_THREADS=2 (ctest labels unit and mpi).
#   cuda-<arch>    Kokkos Serial + CUDA (nvcc_wrapper, Kokkos_ARCH_<ARCH>) ->
#                  build-cuda-<arch>/: every kernel (with device instantiations,
#                  kernels/device_instantiations.cpp), every driver and the
#                  CLI compile and link, and so do the per-backend kernel
#                  tests (their cuda.* tests run only where a GPU is present:
#                  build-cuda-<arch>/tests/aptflow_kernel_tests on a GPU node;
#                  with the driver but no device the test binaries print why
#                  and exit 0; without libcuda.so.1 they do not load).
#
# Kokkos installs go to build-kokkos/<backend> and are reused. Without the
# vendored tarball (or, for CUDA, without nvcc) a backend is skipped with a
# message and the script succeeds. Jobs: APTFLOW_JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
jobs="${APTFLOW_JOBS:-$(nproc)}"
backends=("$@")
if [ ${#backends[@]} -eq 0 ]; then backends=(openmp cuda-hopper90); fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
gen=()
if command -v ninja >/dev/null; then gen=(-G Ninja); fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

elapsed() { echo "$(( $(date +%s) - $1 )) s"; }

# CI time budget: .ci/run exports APTFLOW_CI_START (epoch s) and
# APTFLOW_CI_BUDGET_S; a backend whose expected time (APTFLOW_CI_NEED_S_<backend>,
# measured on a 2-core VM with the unity build, fresh clone: OpenMP 599-708 s,
# CUDA 599-694 s with the Kokkos build) no longer fits is skipped with a message,
# so that a slow runner still finishes in time. Outside CI nothing is skipped.
need_s() {
  case "$1" in
    openmp) echo "${APTFLOW_CI_NEED_S_OPENMP:-800}" ;;
    *) echo "${APTFLOW_CI_NEED_S_CUDA:-800}" ;;
  esac
}

for backend in "${backends[@]}"; do
  t0=$(date +%s)
  if [ -n "${APTFLOW_CI_START:-}" ] && [ -n "${APTFLOW_CI_BUDGET_S:-}" ]; then
    used=$(( t0 - APTFLOW_CI_START ))
    need=$(need_s "$backend")
    if [ $(( used + need )) -gt "$APTFLOW_CI_BUDGET_S" ]; then
      echo "test_backends: $backend SKIPPED: CI has used ${used} s of its ${APTFLOW_CI_BUDGET_S} s budget and this backend needs about ${need} s; run 'bash scripts/test_backends.sh $backend' on a faster machine"
      continue
    fi
  fi
  prefix="$root/build-kokkos/$backend"
  rc=0
  bash scripts/build_kokkos.sh "$backend" "$prefix" || rc=$?
  if [ $rc -eq 77 ]; then
    echo "test_backends: $backend skipped (see the line above)"
    continue
  elif [ $rc -ne 0 ]; then
    exit $rc
  fi
  echo "test_backends: $backend: Kokkos ready after $(elapsed "$t0")"
  build="$root/build-$backend"
  case "$backend" in
    openmp)
      if [ ! -f "$build/CMakeCache.txt" ]; then
        cmake -S . -B "$build" "${gen[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release -DKokkos_ROOT="$prefix" \
          -DAPTFLOW_ENABLE_CUDA=OFF -DAPTFLOW_ENABLE_BENCHMARKS=OFF -DAPTFLOW_TEST_OMP_THREADS=2 >/dev/null
      fi
      cmake --build "$build" -j"$jobs" --target aptflow aptflow_unit_tests aptflow_kernel_tests aptflow_mpi_tests
      echo "test_backends: openmp: built after $(elapsed "$t0")"
      # Threads per process: 2 (the MPI tests get it from APTFLOW_TEST_OMP_THREADS).
      (cd "$build" && OMP_NUM_THREADS=2 OMP_PROC_BIND=false OPENBLAS_NUM_THREADS=1 \
        ctest --output-on-failure -L "unit|mpi" -j"$jobs" --timeout 1500)
      # Threads against ranks on the OpenMP executable (seconds; fails when a
      # configuration changes the results): benchmarks/bench_backends.sh.
      bash benchmarks/bench_backends.sh --smoke --aptflow "$build/aptflow" --out "$build/bench_backends_smoke"
      ;;
    cuda-*)
      arch="${backend#cuda-}"
      sm="sm_${arch//[!0-9]/}"
      if [ ! -f "$build/CMakeCache.txt" ]; then
        cmake -S . -B "$build" "${gen[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release -DKokkos_ROOT="$prefix" \
          -DCMAKE_CXX_COMPILER="$prefix/bin/nvcc_wrapper" -DCMAKE_CXX_FLAGS="-arch=$sm" \
          -DCMAKE_CUDA_ARCHITECTURES="${sm#sm_}" -DAPTFLOW_ENABLE_BENCHMARKS=OFF >/dev/null
      fi
      cmake --build "$build" -j"$jobs" --target aptflow aptflow_kernel_tests
      echo "test_backends: $backend: aptflow (every kernel and driver) and the kernel tests compile and link"
      ;;
  esac
  echo "test_backends: $backend done in $(elapsed "$t0")"
done
