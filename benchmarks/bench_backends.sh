#!/bin/bash
# Host backends compared in one run (docs/benchmarks.md "Backends"): the same
# aptflow executable (built against Kokkos with OpenMP: scripts/test_backends.sh
# openmp leaves it in build-openmp/aptflow) on the same specimen, as
#   1 rank  x 1 thread    (the reference of the ratios)
#   1 rank  x T threads   (OpenMP inside the kernels; OpenBLAS on T threads)
#   T ranks x 1 thread    (MPI: the z slabs / window blocks split over ranks)
# for two jobs:
#   kernel  `aptflow sdm --windows feal --kind z --pair Al-Al` (the window z-SDM
#           kernel, 2 nm windows every 2/3 nm as the shipped classify config)
#   classify `aptflow classify --config configs/classify/alli_l12.toml` (end to end)
# Prints wall and CPU seconds, the speedup over 1 x 1 and the ratio threads /
# ranks (wall of T ranks / wall of T threads: above 1, threads are faster), and
# checks that every configuration gives the same bytes (sdm features; classify
# ion classes and window probabilities). Writes DIR/bench_backends.json.
#
# With --serial EXE2 (a build against a Serial-only Kokkos, e.g. build/aptflow)
# the same jobs also run with EXE2 at 1 x 1 and T ranks x 1: the backends
# compared as well (same bytes required of it too).
#
# Usage: bench_backends.sh [--aptflow EXE] [--serial EXE2] [--ions N] [--threads T] [--out DIR] [--smoke]
#   --aptflow  default: build-openmp/aptflow of the source tree
#   --ions     specimen size (default 2e6)
#   --threads  T (default 2 = the cores of the CI machine)
#   --smoke    2e4 ions (seconds)
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3
EXE="$SRC/build-openmp/aptflow"
SERIAL=""
IONS=2000000
T=2
OUT=""
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --aptflow) EXE="$2"; shift ;;
    --serial) SERIAL="$2"; shift ;;
    --ions) IONS="$2"; shift ;;
    --threads) T="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --smoke) IONS=20000 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench_backends.sh: unknown argument '$1': see --help" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$EXE" ] || { echo "bench_backends.sh: aptflow executable '$EXE' not found: build it with 'bash scripts/test_backends.sh openmp' or pass --aptflow EXE" >&2; exit 2; }
case "$T" in ''|*[!0-9]*|0|1) echo "bench_backends.sh: --threads must be an integer >= 2 (got '$T')" >&2; exit 2 ;; esac
"$PY" -c "import numpy, h5py" 2>/dev/null || { echo "bench_backends.sh: $PY lacks numpy/h5py: install python3-numpy python3-h5py" >&2; exit 2; }
EXE="$(cd "$(dirname "$EXE")" && pwd)/$(basename "$EXE")"
if [ -n "$SERIAL" ]; then
  [ -x "$SERIAL" ] || { echo "bench_backends.sh: --serial executable '$SERIAL' not found" >&2; exit 2; }
  SERIAL="$(cd "$(dirname "$SERIAL")" && pwd)/$(basename "$SERIAL")"
fi
[ -n "$OUT" ] || OUT="$(mktemp -d /tmp/bench_backends.XXXXXX)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
trap 'rm -rf "$OUT/specimen" "$OUT"/*.h5' EXIT

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 OMP_PROC_BIND=false
now() { date +%s.%N; }

SIZE="$("$PY" -c "
v = float('$IONS') / 30.1; s = (v / 2.5) ** (1 / 3)
print(f'[{s:.3f},{s:.3f},{2.5 * s:.3f}]')")"
echo "bench_backends: specimen of ~$IONS ions ($SIZE nm) ..."
OMP_NUM_THREADS=1 mpirun --oversubscribe -n 2 -x OMP_NUM_THREADS "$EXE" synth specimen \
  --config "$SRC/configs/synth/specimen_alli_l12.toml" --set "specimen.size=$SIZE" -o "$OUT/specimen" \
  > "$OUT/synth.log" 2>&1 || { cat "$OUT/synth.log" >&2; exit 1; }
POS="$OUT/specimen/alli_l12.pos"
RRNG="$OUT/specimen/alli_l12.rrng"

: > "$OUT/runs.txt"
run() {  # job ranks threads [executable label]
  local job=$1 r=$2 t=$3 exe=${4:-$EXE} tag=${5:-} res="$OUT/$1${5:-}_r$2_t$3.h5" args
  if [ "$job" = kernel ]; then
    args=(sdm --input "$POS" --range "$RRNG" --pair Al-Al --kind z --windows feal
          --set windows.edge=2.0 --set windows.stride=0.6666666666666666 --out "$res")
  else
    args=(classify --config "$SRC/configs/classify/alli_l12.toml" --set "input=\"$POS\""
          --set "range=\"$RRNG\"" --set "output=\"$res\"" --set progress=false)
  fi
  echo "bench_backends: $job, $r rank(s) x $t thread(s) ${tag:+($tag)} ..."
  local t0 t1
  t0=$(now)
  (cd "$SRC" && OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t mpirun --oversubscribe --bind-to none -n "$r" \
     -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS -x OMP_PROC_BIND \
     sh -c '/usr/bin/time -f "%U %S" -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' "$OUT/cpu_$job$tag.r$r.t$t" \
     "$exe" "${args[@]}") > "$OUT/$job$tag.r$r.t$t.log" 2>&1 ||
    { tail -20 "$OUT/$job$tag.r$r.t$t.log" >&2; echo "bench_backends.sh: $job at $r x $t $tag failed" >&2; exit 1; }
  t1=$(now)
  local cpu=0 f
  for f in "$OUT/cpu_$job$tag.r$r.t$t".*; do cpu=$("$PY" -c "a=open('$f').read().split()[-2:]; print($cpu + float(a[0]) + float(a[1]))"); done
  echo "$job $r $t $t0 $t1 $cpu $res ${tag:-main}" >> "$OUT/runs.txt"
}
for job in kernel classify; do
  run "$job" 1 1
  run "$job" 1 "$T"
  run "$job" "$T" 1
  if [ -n "$SERIAL" ]; then
    run "$job" 1 1 "$SERIAL" serial
    run "$job" "$T" 1 "$SERIAL" serial
  fi
done

"$PY" - "$OUT" "$POS" "$T" "$EXE" <<'EOF'
import json, os, sys
import h5py
import numpy as np

out, pos, T, exe = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ions = os.path.getsize(pos) // 16
runs = {}
for line in open(os.path.join(out, "runs.txt")):
    job, r, t, t0, t1, cpu, res, tag = line.split()
    runs.setdefault(job, []).append({"executable": "serial" if tag == "serial" else "main", "ranks": int(r),
                                     "threads": int(t), "wall_s": float(t1) - float(t0), "cpu_s": float(cpu),
                                     "file": res})

def payload(job, f):  # (bytes that must match, window probabilities or None)
    with h5py.File(f, "r") as h:
        if job == "kernel":
            return b"".join(np.asarray(h[k]).tobytes() for k in sorted(_datasets(h))), None
        return np.asarray(h["/entry1/ions/class"]).tobytes(), np.asarray(h["/entry1/windows/probability"])

def _datasets(h):
    names = []
    h.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and n.startswith(("features", "windows", "centre")) else None)
    return names

res = {"ions": ions, "threads": T, "executable": exe, "nproc": os.cpu_count(), "jobs": {}}
print(f"\nbackends: {ions:,} ions, {exe}, T = {T}")
print(f"{'job':>9} {'exe':>6} {'ranks':>5} {'threads':>7} {'wall s':>8} {'CPU s':>8} {'speedup':>7} {'same bytes':>10}"
      "  (sdm: features; classify: ion classes, and the window probabilities' max |diff|)")
for job, rs in runs.items():
    base = rs[0]
    ref = payload(job, base["file"])
    if job == "classify":
        with h5py.File(base["file"], "r") as h:
            v = h["/entry1/profiling"].attrs.get("execution_space", b"?")
            res["execution_space"] = v.decode() if isinstance(v, bytes) else str(v)
            print(f"execution space (classify /entry1/profiling): {res['execution_space']}")
    for r in rs:
        got, prob = payload(job, r["file"])
        r["speedup"] = base["wall_s"] / r["wall_s"]
        r["same_bytes_as_1x1"] = got == ref[0]  # sdm: every feature; classify: the ion classes
        if prob is not None:  # OpenBLAS on T threads sums in another order: not bytes, within 1e-6
            r["probability_max_abs_diff_vs_1x1"] = float(np.nanmax(np.abs(prob - ref[1]))) if np.isfinite(prob).any() else 0.0
        del r["file"]
        d = r.get("probability_max_abs_diff_vs_1x1")
        print(f"{job:>9} {r['executable']:>6} {r['ranks']:>5} {r['threads']:>7} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} {r['speedup']:7.2f} "
              f"{str(r['same_bytes_as_1x1']):>10}" + ("" if d is None else f"  max |dp| {d:.2g}"))
    th = next(r for r in rs if r["threads"] == T)
    rk = next(r for r in rs if r["ranks"] == T and r["executable"] == "main")
    ratio = rk["wall_s"] / th["wall_s"]
    res["jobs"][job] = {"runs": rs, "ratio_threads_vs_ranks_wall": ratio,
                        "ratio_threads_vs_ranks_cpu": rk["cpu_s"] / th["cpu_s"]}
    se = [r for r in rs if r["executable"] == "serial" and r["ranks"] == 1]
    if se:  # the main executable at 1 x 1 against the Serial one at 1 x 1
        res["jobs"][job]["ratio_serial_vs_main_1x1_wall"] = se[0]["wall_s"] / base["wall_s"]
        print(f"{job:>9}: Serial executable / main executable at 1 x 1: {se[0]['wall_s'] / base['wall_s']:.2f}x wall")
    print(f"{job:>9}: {T} threads vs {T} ranks: {ratio:.2f}x (wall of ranks / wall of threads), "
          f"CPU {rk['cpu_s'] / th['cpu_s']:.2f}x")
json.dump(res, open(os.path.join(out, "bench_backends.json"), "w"), indent=1)
print(f"JSON: {os.path.join(out, 'bench_backends.json')}")
bad = [f"{j} {r['ranks']}x{r['threads']}" for j, v in res["jobs"].items() for r in v["runs"]
       if not r["same_bytes_as_1x1"] or r.get("probability_max_abs_diff_vs_1x1", 0) > 1e-6]
if bad:
    sys.exit("bench_backends.sh: results differ from 1 x 1 beyond the tolerance in: " + ", ".join(bad))
EOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
