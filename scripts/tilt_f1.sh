#!/usr/bin/env bash
# Per-ion F1 of `aptflow classify` (shipped configs/classify/alli_l12.toml) on the tilted
# specimens of configs/synth/tilt.toml (issue 15; docs/alignment.md): one row per tilt about y.
# Extra classify options go in CLASSIFY_ARGS (part 2: CLASSIFY_ARGS="--set transform.align=\"auto\"").
#
#   bash scripts/tilt_f1.sh [BUILD_DIR]        (OUT=out/tilt_f1 NP=2 TILTS="0 2 5")
set -euo pipefail
BUILD=${1:-build}
EXE=$(realpath "$BUILD/aptflow")
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${OUT:-out/tilt_f1}")
NP=${NP:-2}
TILTS=${TILTS:-"0 2 5"}
CLASSIFY_ARGS=${CLASSIFY_ARGS:-}
PY=${PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mkdir -p "$OUT"
MPI="mpirun -np $NP --oversubscribe"
printf "| tilt (deg) | precision | recall | F1 | true domains | detected | matched | mean radius error | matched radius error |\n"
printf "|---|---|---|---|---|---|---|---|---|\n"
for t in $TILTS; do
  d="$OUT/t$t"
  $MPI "$EXE" synth specimen --config "$SRC/configs/synth/tilt.toml" --set "orientation.tilt=[$t, 0.0]" --out "$d" > /dev/null
  (cd "$SRC" && $MPI "$EXE" classify --config configs/classify/alli_l12.toml --set input="\"$d/tilt.pos\"" \
    --set range="\"$d/tilt.rrng\"" --set output="\"$d/classified.h5\"" --set progress=false $CLASSIFY_ARGS > "$d/classify.log" 2>&1)
  "$EXE" truth "$d/classified.h5" "$d/tilt_truth.h5" --json > "$d/truth.json"
  "$PY" - "$d/truth.json" "$t" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
c = j["classes"][0] if j.get("classes") else j["micro"]
def f(v, fmt="{:.3f}"):
    return "-" if v is None else fmt.format(v)
print(f"| {sys.argv[2]} | {f(c['precision'])} | {f(c['recall'])} | {f(c['f1'])} | {j['true_domains']} | "
      f"{j['detected_domains']} | {j['matched_domains']} | {f(j.get('radius_error'), '{:+.1%}')} | "
      f"{f(j.get('matched_radius_error'), '{:+.1%}')} |")
PYEOF
done
