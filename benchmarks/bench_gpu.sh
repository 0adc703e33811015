#!/usr/bin/env bash
# The GPU benchmark in one command (docs/benchmarks.md, "GPU (one command)"),
# for a machine with an NVIDIA GPU, run from anywhere in the source tree:
#  1. nvidia-smi must list a GPU (else exit 2);
#  2. builds Kokkos 4.6.01 (Serial + CUDA) and aptflow against it:
#     scripts/test_backends.sh cuda-ARCH -> build-cuda-ARCH/aptflow and
#     build-cuda-ARCH/tests/aptflow_kernel_tests; then switches benchmarks on
#     in that build directory (-DAPTFLOW_ENABLE_BENCHMARKS=ON, needs Google
#     Benchmark) and builds bench_sdm there;
#  3. runs the kernel tests (serial.* and cuda.*; at least one cuda.* test must pass);
#  4. bench_sdm --benchmark_filter=zsdm_feal_windows: z-SDM windows/s of its
#     synthetic FCC block against the cKDTree reference. NOTE: bench_sdm runs on
#     Kokkos::DefaultHostExecutionSpace with HostSpace views (Serial in this
#     build), so this is the HOST figure of the GPU machine's CPU, one core;
#     the GPU windows/s is the windows+predict stage of step 5 (z-SDMs + preprocessing + CNN);
#  5. benchmarks/bench_classify.sh --np 1 --classify-args "--device gpu" for
#     each N of --ions (ions/s, windows/s, the Python reference check on S
#     windows), checking /entry1/profiling's device attributes; and once with
#     "--device host" at --host-ions on the same specimen;
#  6. a table on stdout (windows/s, ions/s per N, the time for 10^9 ions
#     projected linearly in ions from the largest N, against the goal of 600 s
#     on one GPU) and DIR/bench_gpu.json.
#
# Usage: bash benchmarks/bench_gpu.sh [--arch hopper90|ampere80] [--ions "1e7 1e8"] [--out DIR]
#                                     [--host-ions N|none] [--subset S] [--no-build|--build-only] [--skip-sdm]
#                                     [--keep]
#   --arch       Kokkos architecture: hopper90 (H100/H200, default) or ampere80 (A100)
#   --ions       ion counts of the GPU runs (default "1e7 1e8")
#   --out        output directory (default /tmp/bench_gpu.YYYYmmdd-HHMMSS)
#   --host-ions  ion count of the --device host run (default: the smallest of --ions;
#                "none" skips it); 10^7 ions take about 2 min on one core
#   --subset     windows of the Python reference check per run (default 500); its
#                cKDTree over the whole specimen costs minutes at 10^8 ions
#   --no-build   use the existing build-cuda-ARCH (e.g. built on a login node)
#   --build-only step 2 only, no GPU needed (a login node with nvcc); then --no-build on the GPU node
#   --skip-sdm   skip bench_sdm (step 4)
#   --keep       keep specimens and result files (default: removed, the JSON stays)
# Needs: the CUDA toolkit (nvcc), ../shared/vendor/kokkos-4.6.01.tar.gz (or
# APTFLOW_VENDOR_DIR), mpirun, /usr/bin/python3 with numpy, scipy, h5py;
# Google Benchmark for step 4. Jobs: APTFLOW_JOBS (default nproc).
# Exit: 0 all passed, 1 a step failed (the others still run), 2 bad arguments,
# no GPU, or nothing built.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3
ARCH=hopper90
IONS="1e7 1e8"
OUT=""
HOST_IONS=""
SUBSET=500
BUILD=1
BUILD_ONLY=0
SDM=1
KEEP=0

die() { echo "bench_gpu.sh: $*" >&2; exit 2; }
usage() { sed -n '2,42p' "$0" | sed 's/^# \{0,1\}//'; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value: see --help"; }
is_count() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?([eE][0-9]+)?$ ]] && [ "$("$PY" -c "print(int(float('$1')) >= 1000)")" = True ]; }
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) need_value "$@"; ARCH="$2"; shift ;;
    --ions) need_value "$@"; IONS="$2"; shift ;;
    --out) need_value "$@"; OUT="$2"; shift ;;
    --host-ions) need_value "$@"; HOST_IONS="$2"; shift ;;
    --subset) need_value "$@"; SUBSET="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --build-only) BUILD_ONLY=1 ;;
    --skip-sdm) SDM=0 ;;
    --keep) KEEP=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1': see --help" ;;
  esac
  shift
done
case "$ARCH" in
  hopper90 | ampere80) ;;
  *) die "--arch '$ARCH': use hopper90 (H100/H200) or ampere80 (A100)" ;;
esac
[ -x "$PY" ] && "$PY" -c "import numpy, scipy, h5py" 2>/dev/null ||
  die "$PY with numpy, scipy and h5py is needed: install python3-numpy python3-scipy python3-h5py"
read -r -a ION_LIST <<<"$IONS"
[ ${#ION_LIST[@]} -gt 0 ] || die "--ions is empty: give ion counts, e.g. --ions \"1e7 1e8\""
for n in "${ION_LIST[@]}"; do
  is_count "$n" || die "--ions: '$n' is not an ion count (>= 1000, e.g. 1e7 or 10000000)"
done
if [ -z "$HOST_IONS" ]; then
  HOST_IONS="$("$PY" -c "import sys; print(min(sys.argv[1:], key=float))" "${ION_LIST[@]}")"
elif [ "$HOST_IONS" != none ]; then
  is_count "$HOST_IONS" || die "--host-ions: '$HOST_IONS' is not an ion count (>= 1000) or none"
fi
[[ "$SUBSET" =~ ^[1-9][0-9]*$ ]] || die "--subset: '$SUBSET' is not a positive integer"
[ "$BUILD" = 1 ] || [ "$BUILD_ONLY" = 0 ] || die "--no-build and --build-only exclude each other"
tag() { "$PY" -c "print(int(float('$1')))"; }

# ---- 1. a GPU must be visible (before any build: the build alone takes minutes)
if [ "$BUILD_ONLY" = 1 ]; then
  echo "bench_gpu: --build-only: no GPU check"
else
command -v nvidia-smi >/dev/null ||
  die "no GPU: nvidia-smi is not on PATH (run this on a machine with an NVIDIA GPU and its driver)"
gpus="$(nvidia-smi -L 2>&1)" || die "no GPU: nvidia-smi -L failed: $gpus"
grep -q '^GPU [0-9]' <<<"$gpus" || die "no GPU visible to nvidia-smi: $gpus"
echo "bench_gpu: GPUs visible (one is used; CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-unset}):"
sed 's/^/  /' <<<"$gpus"
fi

if [ -z "$OUT" ]; then OUT="/tmp/bench_gpu.$(date +%Y%m%d-%H%M%S)"; fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
if [ "$BUILD_ONLY" = 0 ]; then
  nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader > "$OUT/gpus.csv" 2>&1 || true
fi
cd "$SRC"
BUILD_DIR="$SRC/build-cuda-$ARCH"
EXE="$BUILD_DIR/aptflow"
KTESTS="$BUILD_DIR/tests/aptflow_kernel_tests"
failed=()
now() { date +%s; }

# ---- 2. build
if [ "$BUILD" = 1 ]; then
  t0=$(now)
  echo "bench_gpu: building Kokkos (Serial + CUDA, $ARCH) and aptflow: bash scripts/test_backends.sh cuda-$ARCH"
  env -u APTFLOW_CI_START -u APTFLOW_CI_BUDGET_S bash scripts/test_backends.sh "cuda-$ARCH" ||
    { echo "bench_gpu.sh: the CUDA build failed (output above)" >&2; exit 1; }
  echo "bench_gpu: build done in $(( $(now) - t0 )) s"
fi
[ -x "$EXE" ] && [ -x "$KTESTS" ] ||
  die "$EXE or $KTESTS is missing: the CUDA build did not happen (test_backends.sh skips without nvcc or without the Kokkos tarball: see its message above)"
SDM_EXE="$BUILD_DIR/benchmarks/bench_sdm"
if [ "$SDM" = 1 ] && [ "$BUILD" = 1 ]; then
  # The same build directory with benchmarks on: only bench_sdm.cpp compiles
  # (aptflow_core is built); without Google Benchmark the configure fails and
  # the option goes back off, so that test_backends.sh keeps working there.
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    echo "bench_gpu: $BUILD_DIR/CMakeCache.txt is missing (not a CMake build of test_backends.sh): bench_sdm skipped" >&2
    failed+=(configure_bench_sdm)
  elif cmake -S "$SRC" -B "$BUILD_DIR" -DAPTFLOW_ENABLE_BENCHMARKS=ON > "$OUT/configure_bench.log" 2>&1; then
    cmake --build "$BUILD_DIR" -j"${APTFLOW_JOBS:-$(nproc)}" --target bench_sdm > "$OUT/build_bench_sdm.log" 2>&1 ||
      { tail -20 "$OUT/build_bench_sdm.log" >&2; echo "bench_gpu: building bench_sdm FAILED (log above, $OUT/build_bench_sdm.log)" >&2; failed+=(build_bench_sdm); }
  else
    tail -5 "$OUT/configure_bench.log" >&2
    echo "bench_gpu: cannot enable benchmarks in $BUILD_DIR (Google Benchmark missing? install libbenchmark-dev): bench_sdm skipped" >&2
    cmake -S "$SRC" -B "$BUILD_DIR" -DAPTFLOW_ENABLE_BENCHMARKS=OFF > /dev/null 2>&1 || true
    failed+=(configure_bench_sdm)
  fi
fi

if [ "$BUILD_ONLY" = 1 ]; then
  echo "bench_gpu: built $EXE, $KTESTS$([ -x "$SDM_EXE" ] && echo ", $SDM_EXE"); on the GPU node: bash benchmarks/bench_gpu.sh --no-build --arch $ARCH"
  exit $(( ${#failed[@]} > 0 ))
fi

# ---- 3. kernel tests on the GPU
echo "bench_gpu: kernel tests: $KTESTS"
rc=0
"$KTESTS" > "$OUT/kernel_tests.log" 2>&1 || rc=$?
cuda_ok=$(grep -c '^\[       OK \] cuda\.' "$OUT/kernel_tests.log" || true)
tail -3 "$OUT/kernel_tests.log" | sed 's/^/  /'
if [ $rc -ne 0 ] || [ "$cuda_ok" -eq 0 ]; then
  echo "bench_gpu: kernel tests FAILED (exit $rc, $cuda_ok cuda.* tests passed; $OUT/kernel_tests.log)" >&2
  failed+=(kernel_tests)
else
  echo "bench_gpu: kernel tests passed ($cuda_ok cuda.* tests on the GPU)"
fi

# ---- 4. bench_sdm (host execution space: see the header)
: > "$OUT/bench_sdm.log"
if [ "$SDM" = 1 ]; then
  if [ -x "$SDM_EXE" ]; then
    echo "bench_gpu: bench_sdm (z-SDM windows/s on the HOST execution space, one core) ..."
    APTFLOW_SOURCE_DIR="$SRC" OMP_NUM_THREADS=1 "$SDM_EXE" --benchmark_filter=zsdm_feal_windows \
      > "$OUT/bench_sdm.log" 2>&1 ||
      { tail -10 "$OUT/bench_sdm.log" >&2; echo "bench_gpu: bench_sdm FAILED ($OUT/bench_sdm.log)" >&2; failed+=(bench_sdm); }
    grep -A4 '^z-SDM feal windows' "$OUT/bench_sdm.log" | sed 's/^/  /' || true
  else
    echo "bench_gpu: $SDM_EXE is missing: bench_sdm skipped (build it or drop --no-build)" >&2
    failed+=(bench_sdm_missing)
  fi
fi

# ---- 5. aptflow classify: GPU at each N, host once
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
classify() {  # classify DIR N DEVICE
  # --keep: the result is read below, the GPU run's specimen serves the host run;
  # both are removed here and in the loop below unless bench_gpu.sh --keep.
  local dir="$1" n="$2" device="$3"
  echo "bench_gpu: aptflow classify --device $device, $n ions -> $dir"
  bash "$SRC/benchmarks/bench_classify.sh" --aptflow "$EXE" --ions "$n" --np 1 --subset "$SUBSET" \
    --out "$dir" --keep --classify-args "--device $device" > "$dir.log" 2>&1 ||
    { tail -20 "$dir.log" >&2; echo "bench_gpu: bench_classify --device $device at $n ions FAILED ($dir.log)" >&2; failed+=("classify_${device}_$n"); return 0; }
  grep -A3 '^aptflow classify:' "$dir.log" | sed 's/^/  /' || true
  if [ -f "$dir/classify_np1.h5" ]; then  # the device attributes of /entry1/profiling
    "$PY" - "$dir/classify_np1.h5" "$device" > "$dir/device.json" <<'EOF' ||
import json, sys
import h5py
with h5py.File(sys.argv[1], "r") as h:
    a = h["/entry1/profiling"].attrs
    d = {k: (a[k].decode() if isinstance(a[k], bytes) else a[k].item() if hasattr(a[k], "item") else str(a[k]))
         for k in ("device", "execution_space", "device_id") if k in a}
print(json.dumps(d))
want = sys.argv[2]  # fail only where the attributes clearly name the other side
dev, space = str(d.get("device", "")).lower(), str(d.get("execution_space", "")).lower()
gpu_names, host_names = ("gpu", "cuda", "hip", "sycl"), ("host", "cpu", "serial", "openmp", "threads")
said = ("gpu" if dev in gpu_names else "host" if dev in host_names else
        "gpu" if any(k in space for k in gpu_names) else "host" if any(k in space for k in host_names) else None)
if said is None:
    print(f"bench_gpu: /entry1/profiling attributes {d or '(none)'} do not say the device: cannot confirm --device {want}",
          file=sys.stderr)
elif said != want:
    print(f"bench_gpu: asked --device {want} but /entry1/profiling says {d}", file=sys.stderr)
    sys.exit(1)
EOF
      failed+=("device_${device}_$n")
    sed 's/^/  \/entry1\/profiling: /' "$dir/device.json"
  fi
  if [ "$KEEP" = 0 ]; then rm -f "$dir"/classify_np*.h5; fi
}
host_done=0
for n in "${ION_LIST[@]}"; do
  t="$(tag "$n")"
  classify "$OUT/gpu_$t" "$n" gpu
  if [ "$HOST_IONS" != none ] && [ "$host_done" = 0 ] && [ "$(tag "$HOST_IONS")" = "$t" ]; then
    mkdir -p "$OUT/host_$t"
    [ -d "$OUT/gpu_$t/specimen" ] && [ ! -e "$OUT/host_$t/specimen" ] && ln -s "../gpu_$t/specimen" "$OUT/host_$t/specimen"
    classify "$OUT/host_$t" "$n" host
    host_done=1
    if [ "$KEEP" = 0 ]; then rm -rf "$OUT/host_$t/specimen"; fi
  fi
  if [ "$KEEP" = 0 ]; then rm -rf "$OUT/gpu_$t/specimen"; fi
done
if [ "$HOST_IONS" != none ] && [ "$host_done" = 0 ]; then
  t="$(tag "$HOST_IONS")"
  mkdir -p "$OUT/host_$t"
  classify "$OUT/host_$t" "$HOST_IONS" host
  if [ "$KEEP" = 0 ]; then rm -rf "$OUT/host_$t/specimen"; fi
fi

# ---- 6. table + JSON
"$PY" - "$OUT" "$ARCH" "$(git -C "$SRC" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
  "${failed[*]:-}" "$SDM" "${ION_LIST[@]}" <<'EOF'
import glob, json, os, re, sys

out, arch, commit, failed, sdm_on = sys.argv[1:6]
failed = failed.split()
GOAL_IONS, GOAL_S = 1e9, 600.0

def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None

def run_of(kind, tag):
    b = load(os.path.join(out, f"{kind}_{tag}", "bench_classify.json"))
    if not b:
        return None
    r = b["runs"][0]
    return {"ions": b["ions"], "windows": b["windows"], "wall_s": r["wall_s"], "pipeline_s": r["pipeline_s"],
            "ions_per_s": r["ions_per_s"], "windows_per_s": r["windows_per_s"],
            "windows_predict_per_s": r["windows_predict_per_s"], "stages_s_max": r["stages_s_max"],
            "peak_rss_kib": r["peak_rss_kib_per_rank"][0], "python_check": b["check"],
            "profiling_device": load(os.path.join(out, f"{kind}_{tag}", "device.json"))}

gpu = {}
for d in sorted(glob.glob(os.path.join(out, "gpu_*"))):
    if os.path.isdir(d):
        r = run_of("gpu", d.rsplit("_", 1)[1])
        if r:
            gpu[r["ions"]] = r
host = None
for d in glob.glob(os.path.join(out, "host_*")):
    if os.path.isdir(d):
        host = run_of("host", d.rsplit("_", 1)[1]) or host

sdm = None
if os.path.exists(os.path.join(out, "bench_sdm.log")):
    text = open(os.path.join(out, "bench_sdm.log")).read()
    m = re.search(r"aptflow : ([0-9.]+) windows/s \(([0-9.]+)\)", text)
    b = re.search(r"^block: .*$", text, re.M)
    if m:
        sdm = {"execution_space": "host (Kokkos::DefaultHostExecutionSpace, one process)",
               "windows_per_cpu_s": float(m.group(1)), "windows_per_wall_s": float(m.group(2)),
               "setup": b.group(0) if b else None}

proj = None
if gpu:
    big = gpu[max(gpu)]
    t = big["wall_s"] * GOAL_IONS / big["ions"]
    tp = big["pipeline_s"] * GOAL_IONS / big["ions"]
    proj = {"from_ions": big["ions"], "wall_s": t, "pipeline_s": tp, "goal_s": GOAL_S, "meets_goal": t <= GOAL_S}

gpus = open(os.path.join(out, "gpus.csv")).read().strip().splitlines() if os.path.exists(os.path.join(out, "gpus.csv")) else []
res = {"commit": commit, "arch": arch, "gpus": gpus, "bench_sdm": sdm, "classify_gpu": [gpu[k] for k in sorted(gpu)],
       "classify_host": host, "projection_1e9_ions": proj, "failed_steps": failed}
json.dump(res, open(os.path.join(out, "bench_gpu.json"), "w"), indent=1)

print(f"\nGPU benchmark, commit {commit}, Kokkos CUDA {arch}, GPU: {gpus[0] if gpus else '?'}")
if sdm:
    print(f"z-SDM windows/s, bench_sdm on the HOST (one core; bench_sdm has no device path): "
          f"{sdm['windows_per_wall_s']:,.0f} wall, {sdm['windows_per_cpu_s']:,.0f} per CPU s")
elif sdm_on == "1":
    print("z-SDM windows/s, bench_sdm: no result (see above)")
print(f"\n{'run':>6} {'ions':>13} {'windows':>11} {'wall s':>8} {'ions/s':>11} {'windows/s':>10} "
      f"{'win+pred w/s':>12} {'check':>6}  device (/entry1/profiling)")
rows = [("gpu", r) for r in res["classify_gpu"]] + ([("host", host)] if host else [])
for kind, r in rows:
    dev = r["profiling_device"] or {}
    print(f"{kind:>6} {r['ions']:>13,} {r['windows']:>11,} {r['wall_s']:8.1f} {r['ions_per_s']:11.4g} "
          f"{r['windows_per_s']:10.4g} {r['windows_predict_per_s']:12.4g} {'OK' if r['python_check']['agree'] else 'FAIL':>6}  "
          + (", ".join(f"{k}={v}" for k, v in dev.items()) or "(no device attributes)"))
print("(windows/s = windows / wall; win+pred w/s = windows / windows+predict stage, the z-SDMs, preprocessing and CNN on the run's device)")
if host and gpu and host["ions"] in gpu:
    g = gpu[host["ions"]]
    print(f"GPU vs host at {host['ions']:,} ions: {host['wall_s'] / g['wall_s']:.1f}x wall, "
          f"{g['windows_predict_per_s'] / host['windows_predict_per_s']:.1f}x windows+predict")
if proj:
    print(f"\nprojected 10^9 ions on one GPU (linear in ions from {proj['from_ions']:,}): {proj['wall_s']:.0f} s wall "
          f"({proj['wall_s'] / 60:.1f} min; stages only {proj['pipeline_s']:.0f} s); goal <= {GOAL_S:.0f} s: "
          + ("MET" if proj["meets_goal"] else f"NOT met ({proj['wall_s'] / GOAL_S:.1f}x the goal)"))
    print("  (a projection: GPU memory and the specimen's read/write at 10^9 ions are not measured)")
if failed:
    print(f"\nFAILED steps: {', '.join(failed)}")
print(f"JSON: {os.path.join(out, 'bench_gpu.json')}")
EOF
if [ ${#failed[@]} -gt 0 ]; then exit 1; fi
