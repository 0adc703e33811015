#!/usr/bin/env bash
# Configure and build aptflow into build/ (Release). Extra arguments go to cmake.
# Usage: bash scripts/build.sh [demo|all] [cmake arguments...]
#   demo: only the aptflow program (no tests, benchmarks or CUDA objects); a
#         build directory configured before keeps its options
#   all (default): everything (tests, benchmarks, kernels/cuda when nvcc is found)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=all
case "${1:-}" in
  demo | all) MODE=$1; shift ;;
esac
GEN=()
if command -v ninja >/dev/null; then GEN=(-G Ninja); fi
if [ "$MODE" = demo ]; then
  if [ ! -f build/CMakeCache.txt ]; then
    cmake -S . -B build "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DAPTFLOW_ENABLE_TESTS=OFF \
      -DAPTFLOW_ENABLE_BENCHMARKS=OFF -DAPTFLOW_ENABLE_CUDA=OFF "$@"
  fi
  cmake --build build -j"$(nproc)" --target aptflow
  exit 0
fi
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
else
  # A build directory made by the demo has tests, benchmarks and CUDA off: turn them on.
  cmake -S . -B build -DAPTFLOW_ENABLE_TESTS=ON -DAPTFLOW_ENABLE_BENCHMARKS=ON -DAPTFLOW_ENABLE_CUDA=AUTO "$@"
fi
cmake --build build -j"$(nproc)"
