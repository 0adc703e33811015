#!/bin/bash
# End-to-end benchmark of `aptflow classify` (docs/benchmarks.md):
#  1. a synthetic Al-Li-Mg specimen of about N ions (configs/synth/specimen_alli_l12.toml,
#     size scaled for ~30 ions/nm^3; the ion count is measured from the POS file);
#  2. `mpirun -n P aptflow classify --config configs/classify/alli_l12.toml` at each P:
#     wall time, /entry1/profiling stage times (max over ranks), peak RSS per rank;
#  3. the Python reference (benchmarks/ref_classify_numpy.py: cKDTree z-SDMs, numpy
#     preprocessing and CNN forward pass) on S non-empty windows of the np-1 result, in the
#     same run; its probabilities must agree with aptflow's (max |diff| < 1e-3) or the
#     benchmark fails;
#  4. a table on stdout and DIR/bench_classify.json.
#
# Usage: bench_classify.sh [--smoke] [--ions N] [--subset S] [--np "1 2"] [--out DIR]
#                          [--aptflow EXE] [--keep] [--classify-args "ARGS"]
#   --smoke    2e4 ions, 200 windows, np "1 2" (seconds; ctest bench.classify)
#   --aptflow  the aptflow executable (default: $APTFLOW_EXE, else build/aptflow of the source tree)
#   --keep     keep the specimen and result files (default: removed at the end, the JSON stays)
#   --classify-args "ARGS"  appended to every `aptflow classify` command line, split on
#              blanks (e.g. "--device gpu"; default none)
# The machine may be shared: run it under `nice` and quote the load average it records.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3
IONS=10000000
SUBSET=2000
NPS="1 2"
OUT=""
SMOKE=0
KEEP=0
EXE="${APTFLOW_EXE:-$SRC/build/aptflow}"
CLASSIFY_ARGS=""

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1; IONS=20000; SUBSET=200 ;;
    --ions) IONS="$2"; shift ;;
    --subset) SUBSET="$2"; shift ;;
    --np) NPS="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --aptflow) EXE="$2"; shift ;;
    --keep) KEEP=1 ;;
    --classify-args) CLASSIFY_ARGS="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench_classify.sh: unknown argument '$1': see --help" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$EXE" ] || { echo "bench_classify.sh: aptflow executable '$EXE' not found: build it (cmake --build build --target aptflow) or pass --aptflow EXE" >&2; exit 2; }
"$PY" -c "import numpy, scipy, h5py" 2>/dev/null || { echo "bench_classify.sh: $PY lacks numpy/scipy/h5py: install python3-numpy python3-scipy python3-h5py" >&2; exit 2; }
EXE="$(cd "$(dirname "$EXE")" && pwd)/$(basename "$EXE")"
if [ -z "$OUT" ]; then
  OUT="$(mktemp -d /tmp/bench_classify.XXXXXX)"
fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
if [ "$KEEP" = 0 ]; then
  trap 'rm -rf "$OUT/specimen" "$OUT"/classify_np*.h5' EXIT
fi

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
MPIRUN=(mpirun --oversubscribe --bind-to none -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS)
now() { date +%s.%N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---- 1. specimen: a box of aspect 1 : 1 : 2.5 (as the shipped 40 x 40 x 100 nm) holding ~IONS ions
SIZE="$("$PY" -c "
n = float('$IONS'); v = n / 30.1   # FCC Al 60.2 atoms/nm^3 x efficiency 0.5
s = (v / 2.5) ** (1 / 3)
print(f'[{s:.3f},{s:.3f},{2.5 * s:.3f}]')")"
SPEC="$OUT/specimen"
if [ -f "$SPEC/size.txt" ] && [ "$(cat "$SPEC/size.txt")" = "$SIZE" ] && [ -f "$SPEC/alli_l12.pos" ]; then
  echo "bench_classify: reusing the specimen in $SPEC (size $SIZE nm)"
else
  rm -rf "$SPEC"
  echo "bench_classify: generating the specimen, size $SIZE nm ..."
  t0=$(now)
  "${MPIRUN[@]}" -n 2 "$EXE" synth specimen --config "$SRC/configs/synth/specimen_alli_l12.toml" \
    --set "specimen.size=$SIZE" -o "$SPEC" > "$OUT/synth.log" 2>&1 ||
    { cat "$OUT/synth.log" >&2; echo "bench_classify.sh: aptflow synth specimen failed (log above)" >&2; exit 1; }
  echo "$SIZE" > "$SPEC/size.txt"
  echo "bench_classify: specimen in $("$PY" -c "print(f'{$(now) - $t0:.1f}')") s: $(tail -1 "$OUT/synth.log")"
fi
POS="$SPEC/alli_l12.pos"
RRNG="$SPEC/alli_l12.rrng"

# ---- 2. aptflow classify at each np (from the source tree: the config's model path is relative to it)
: > "$OUT/runs.txt"
for P in $NPS; do
  RES="$OUT/classify_np$P.h5"
  rm -f "$RES" "$OUT"/rss_np"$P".*
  echo "bench_classify: aptflow classify, np $P ..."
  l0=$(loadavg)
  t0=$(now)
  # shellcheck disable=SC2086  # CLASSIFY_ARGS is a list of arguments
  (cd "$SRC" && "${MPIRUN[@]}" -n "$P" sh -c '/usr/bin/time -f "%M %U %S %e" -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' \
    "$OUT/rss_np$P" "$EXE" classify --config "$SRC/configs/classify/alli_l12.toml" \
    --set "input=\"$POS\"" --set "range=\"$RRNG\"" --set "output=\"$RES\"" $CLASSIFY_ARGS) > "$OUT/classify_np$P.log" 2>&1 ||
    { tail -20 "$OUT/classify_np$P.log" >&2; echo "bench_classify.sh: aptflow classify at np $P failed (log above, $OUT/classify_np$P.log)" >&2; exit 1; }
  t1=$(now)
  echo "$P $t0 $t1 $l0 $(loadavg)" >> "$OUT/runs.txt"
  grep -v "windows .*ETA" "$OUT/classify_np$P.log" | tail -2 | sed 's/^/  /'
done

# ---- 3. the Python reference on S windows of the first np's result, checked against it
FIRST_NP=$(echo $NPS | cut -d' ' -f1)
echo "bench_classify: Python reference (cKDTree + numpy), $SUBSET windows ..."
l0=$(loadavg)
(cd "$SRC" && "$PY" "$SRC/benchmarks/ref_classify_numpy.py" --result "$OUT/classify_np$FIRST_NP.h5" --base "$SRC" \
  --subset "$SUBSET" --tol 1e-3 > "$OUT/ref.json") ||
  { echo "bench_classify.sh: the Python reference failed" >&2; exit 1; }
echo "$l0 $(loadavg)" > "$OUT/ref_load.txt"

# ---- 4. table + JSON
"$PY" - "$OUT" "$POS" "$IONS" "$SMOKE" "$SUBSET" <<'EOF'
import json, os, sys
import h5py
import numpy as np

out, pos, ions_asked, smoke, subset = sys.argv[1], sys.argv[2], int(float(sys.argv[3])), sys.argv[4] == "1", int(sys.argv[5])
ions = os.path.getsize(pos) // 16
ref = json.load(open(os.path.join(out, "ref.json")))
runs, prob0 = [], None
for line in open(os.path.join(out, "runs.txt")):
    f = line.split()
    p, t0, t1 = int(f[0]), float(f[1]), float(f[2])
    with h5py.File(os.path.join(out, f"classify_np{p}.h5"), "r") as h:
        stages = [s.decode() if isinstance(s, bytes) else str(s) for s in h["/entry1/profiling/stage"][()]]
        secs = [float(v) for v in h["/entry1/profiling/seconds_max"][()]]
        prob = np.asarray(h["/entry1/windows/probability"])
    windows = int(np.prod(prob.shape[:-1]))
    nonempty = int(np.all(np.isfinite(prob.reshape(windows, -1)), axis=1).sum())
    same = diff = nan_same = None
    if prob0 is None:
        prob0 = prob
    else:  # docs/classify.md: same bytes for any np; measured here, fail only beyond 1e-3
        same = bool(prob.shape == prob0.shape and prob.tobytes() == prob0.tobytes())
        nan_same = bool(prob.shape == prob0.shape and np.array_equal(np.isnan(prob), np.isnan(prob0)))
        diff = float(np.nanmax(np.abs(prob - prob0))) if nan_same and np.isfinite(prob).any() else None
    rss, cpu = [], []  # /usr/bin/time per rank: peak RSS (KiB), user + system CPU seconds
    for r in range(p):
        fn = os.path.join(out, f"rss_np{p}.{r}")
        v = open(fn).read().split()[-4:] if os.path.exists(fn) else []
        rss.append(int(v[0]) if len(v) == 4 else None)
        cpu.append(float(v[1]) + float(v[2]) if len(v) == 4 else None)
    wall = t1 - t0
    st = dict(zip(stages, secs))
    runs.append({"np": p, "wall_s": wall, "stages_s_max": st, "pipeline_s": sum(secs),
                 "ions_per_s": ions / wall, "windows_per_s": windows / wall,
                 "windows_predict_per_s": windows / st.get("windows+predict", float("nan")),
                 "peak_rss_kib_per_rank": rss, "cpu_s_per_rank": cpu,
                 "cpu_s_total": sum(c for c in cpu if c is not None), "load_before": f[3:6], "load_after": f[6:9],
                 "probability_identical_to_first_np": same, "probability_empty_windows_same": nan_same,
                 "probability_max_abs_diff_vs_first_np": diff})
base = runs[0]
for r in runs:
    r["speedup"] = base["wall_s"] / r["wall_s"] * base["np"]
    r["efficiency"] = r["speedup"] / r["np"]
    # CPU-time view (robust on a shared machine): np-1 CPU / total CPU of all ranks
    r["cpu_efficiency"] = base["cpu_s_total"] / r["cpu_s_total"] if r["cpu_s_total"] else None
    r["ions_per_cpu_s"] = ions / r["cpu_s_total"] if r["cpu_s_total"] else None
    wp0, wp = base["stages_s_max"].get("windows+predict"), r["stages_s_max"].get("windows+predict")
    r["windows_predict_speedup"] = wp0 / wp * base["np"] if wp0 and wp else None
    r["windows_predict_efficiency"] = r["windows_predict_speedup"] / r["np"] if r["windows_predict_speedup"] else None
apt_spw = base["wall_s"] / windows
apt_wp_spw = base["stages_s_max"]["windows+predict"] / windows
py_est = ref["read_s"] + ref["tree_s"] + nonempty * ref["s_per_window"]
res = {"ions": ions, "ions_asked": ions_asked, "windows": windows, "windows_nonempty": nonempty,
       "smoke": smoke, "runs": runs,
       "python": ref, "python_load": open(os.path.join(out, "ref_load.txt")).read().split(),
       "aptflow_np%d_s_per_window" % base["np"]: apt_spw,
       "aptflow_np%d_windows_predict_s_per_window" % base["np"]: apt_wp_spw,
       "python_s_per_window": ref["s_per_window"], "python_cpu_s_per_window": ref["cpu_s_per_window"],
       "aptflow_np%d_cpu_s_per_window" % base["np"]: base["cpu_s_total"] / windows,
       "ratio_python_vs_aptflow_cpu": ref["cpu_s_per_window"] / (base["cpu_s_total"] / windows),
       "ratio_python_vs_aptflow_wall": ref["s_per_window"] / apt_spw,
       "ratio_python_vs_aptflow_windows_predict": ref["s_per_window"] / apt_wp_spw,
       "python_whole_specimen_estimate_s": py_est,
       "ratio_python_estimate_vs_aptflow_wall": py_est / base["wall_s"],
       "check": {"max_abs_diff": ref["max_abs_diff"], "nan_mismatch": ref["nan_mismatch"],
                 "compared": ref["compared"], "tol": ref["tol"], "agree": ref["agree"]},
       "nproc": os.cpu_count()}
json.dump(res, open(os.path.join(out, "bench_classify.json"), "w"), indent=1)

print(f"\naptflow classify: {ions:,} ions, {windows:,} windows ({nonempty:,} non-empty), "
      f"variant {ref['variant']}, edge {ref['edge']}, stride {ref['stride']}, pair {ref['pair']}")
print(f"{'np':>3} {'wall s':>8} {'win+pred s':>10} {'ions/s':>11} {'windows/s':>10} {'speedup':>7} {'eff':>5} "
      f"{'CPU s':>8} {'CPU eff':>7} {'peak RSS/rank MiB':>18} {'load before -> after':>22}")
for r in runs:
    rss = "/".join(f"{v / 1024:.0f}" if v else "?" for v in r["peak_rss_kib_per_rank"])
    print(f"{r['np']:>3} {r['wall_s']:8.2f} {r['stages_s_max'].get('windows+predict', float('nan')):10.2f} "
          f"{r['ions_per_s']:11.4g} {r['windows_per_s']:10.4g} {r['speedup']:7.2f} {r['efficiency']:5.2f} "
          f"{r['cpu_s_total']:8.2f} {r['cpu_efficiency'] or float('nan'):7.2f} {rss:>18} {' '.join(r['load_before'][:1]) + ' -> ' + ' '.join(r['load_after'][:1]):>22}")
print("stages (s, max over ranks), np " + str(base["np"]) + ": " +
      ", ".join(f"{k} {v:.2f}" for k, v in base["stages_s_max"].items()))
for r in runs[1:]:
    print(f"np {r['np']} vs np {base['np']}: probability map bytes identical: {r['probability_identical_to_first_np']}, "
          f"same empty windows: {r['probability_empty_windows_same']}, max |diff| {r['probability_max_abs_diff_vs_first_np']}")
print(f"Python reference ({ref['subset']} windows): {ref['s_per_window'] * 1e3:.3f} ms/window "
      f"(z-SDM {ref['sdm_s'] / ref['subset'] * 1e3:.3f}, preprocess {ref['preprocess_s'] / ref['subset'] * 1e3:.3f}, "
      f"forward {ref['forward_s'] / ref['subset'] * 1e3:.3f}); read {ref['read_s']:.2f} s, cKDTree {ref['tree_s']:.2f} s")
print(f"aptflow np {base['np']}: {apt_spw * 1e3:.4f} ms/window (whole pipeline wall / windows), "
      f"{apt_wp_spw * 1e3:.4f} ms/window (windows+predict stage)")
print(f"ratio Python / aptflow per window: {res['ratio_python_vs_aptflow_wall']:.1f}x (wall), "
      f"{res['ratio_python_vs_aptflow_windows_predict']:.1f}x (windows+predict stage); whole specimen, Python "
      f"estimate {py_est:.0f} s vs aptflow {base['wall_s']:.1f} s: {res['ratio_python_estimate_vs_aptflow_wall']:.1f}x")
print(f"CPU time: Python {ref['cpu_s_per_window'] * 1e3:.3f} ms/window, aptflow np {base['np']} "
      f"{base['cpu_s_total'] / windows * 1e3:.4f} ms/window (all ranks, whole process): "
      f"{res['ratio_python_vs_aptflow_cpu']:.1f}x")
print(f"check: max |p_python - p_aptflow| = {ref['max_abs_diff']:.3g} over {ref['compared']} windows "
      f"(tol {ref['tol']}), empty-window mismatches {ref['nan_mismatch']}: {'OK' if ref['agree'] else 'FAILED'}")
print(f"JSON: {os.path.join(out, 'bench_classify.json')}")
bad = not ref["agree"] or any(r["probability_empty_windows_same"] is False or
                              (r["probability_max_abs_diff_vs_first_np"] or 0) > 1e-3 for r in runs)
sys.exit(1 if bad else 0)
EOF
