#!/usr/bin/env bash
# aptflow's libFuzzer targets (tests/fuzz/README.md).
#   run.sh build BUILD_DIR                 configure + build the clang ASan/UBSan targets in BUILD_DIR
#   run.sh run BUILD_DIR TARGET SECONDS    fuzz TARGET (pos epos apt ato text h5 nxapm rrng rng env) for
#                                          SECONDS, starting from tests/fuzz/corpus/TARGET and
#                                          tests/fuzz/regressions/TARGET (read-only: new inputs go to
#                                          BUILD_DIR/corpus/TARGET); extra arguments go to libFuzzer
#   run.sh regress BUILD_DIR TARGET        run TARGET once over its committed seeds and regression inputs
# Exit 77 (ctest: skipped) when clang or its libFuzzer runtime is missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:?usage: run.sh build|run|regress BUILD_DIR [TARGET SECONDS]}"
build="${2:?BUILD_DIR}"

have_clang() {
  command -v clang++ >/dev/null 2>&1 || return 1
  local rt
  rt="$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null || true)"
  [ -n "$rt" ] && [ -f "$rt" ]
}
if ! have_clang; then
  echo "fuzz: clang++ with libFuzzer (apt: clang libclang-rt-14-dev) not found: skipped"
  exit 77
fi

case "$cmd" in
  build)
    launcher=()
    if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
    cmake -S "$here/targets" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" >/dev/null
    cmake --build "$build" -j "${FUZZ_JOBS:-2}"
    ;;
  run)
    target="${3:?TARGET}"
    seconds="${4:?SECONDS}"
    shift 4
    exe="$build/fuzz_$target"
    [ -x "$exe" ] || { echo "fuzz: $exe missing: run 'run.sh build $build' first"; exit 1; }
    work="$build/corpus/$target"
    mkdir -p "$work" "$build/artifacts"
    # ASan: leaks are errors; UBSan: any report aborts (built with -fno-sanitize-recover).
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
    export OMP_NUM_THREADS=1
    seeds=("$here/corpus/$target")
    if [ -d "$here/regressions/$target" ]; then seeds+=("$here/regressions/$target"); fi
    "$exe" "$work" "${seeds[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len="${FUZZ_MAX_LEN:-8192}" -print_final_stats=1 -artifact_prefix="$build/artifacts/${target}-" "$@"
    ;;
  regress)
    target="${3:?TARGET}"
    exe="$build/fuzz_$target"
    [ -x "$exe" ] || { echo "fuzz: $exe missing: run 'run.sh build $build' first"; exit 1; }
    files=("$here/corpus/$target"/*)
    if [ -d "$here/regressions/$target" ]; then files+=("$here/regressions/$target"/*); fi
    "$exe" -runs=0 "${files[@]}" >/dev/null 2>&1 || "$exe" "${files[@]}"
    echo "fuzz: $target: ${#files[@]} inputs replayed"
    ;;
  *)
    echo "usage: run.sh build|run|regress BUILD_DIR [TARGET SECONDS]"
    exit 2
    ;;
esac
