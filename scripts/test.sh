#!/usr/bin/env bash
# Set up, build and run every test (README command b; .ci/run calls this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
bash scripts/build.sh all  # builds what the demo did not: tests, benchmarks, kernels/cuda
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 1200
