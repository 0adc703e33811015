#!/usr/bin/env bash
# Accuracy of `aptflow pole` on tilted synthetic specimens (issue 15; docs/alignment.md):
# for every (tilt, azimuth) and lateral blur sigma_xy, generate configs/synth/tilt.toml with
# orientation.tilt = [tilt, azimuth], find the pole and print the angle between the found and the
# true pole, the tilt error, the reported uncertainty and the score, one row per specimen.
#
#   bash scripts/pole_study.sh [BUILD_DIR]
#   OUT=out/pole_study NP=2 SIGMAS="0.5 0.3" TILTS="0 1 2 3 5 7.5 10" POLE_ARGS="--r-cut 2" bash scripts/pole_study.sh
#
# The azimuth of tilt t is 37 t degrees (varied, not only the x direction). Specimens are deleted
# after use unless KEEP=1.
set -euo pipefail
BUILD=${1:-build}
EXE=$(realpath "$BUILD/aptflow")
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-out/pole_study}
NP=${NP:-2}
SIGMAS=${SIGMAS:-"0.5 0.3"}
TILTS=${TILTS:-"0 1 2 3 5 7.5 10"}
POLE_ARGS=${POLE_ARGS:-}
PY=${PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mkdir -p "$OUT"
MPI="mpirun -np $NP --oversubscribe"
printf "| sigma_xy (nm) | tilt (deg) | azimuth (deg) | found tilt | found azimuth | angle error (deg) | tilt error (deg) | uncertainty (deg) | spacing (nm) | score | centres | seconds |\n"
printf "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
for s in $SIGMAS; do
  for t in $TILTS; do
    a=$("$PY" -c "print(round(37 * $t % 360, 3))")
    d="$OUT/s${s}_t${t}"
    $MPI "$EXE" synth specimen --config "$SRC/configs/synth/tilt.toml" --set "orientation.tilt=[$t, $a]" \
      --set "artefacts.sigma_xy=$s" --out "$d" > /dev/null
    start=$(date +%s.%N)
    if $MPI "$EXE" pole "$d/tilt.pos" --range "$d/tilt.rrng" --json $POLE_ARGS > "$d/pole.json" 2> "$d/pole.err"; then
      end=$(date +%s.%N)
      "$PY" - "$d/pole.json" "$t" "$a" "$s" "$start" "$end" <<'PYEOF'
import json, math, sys
j = json.load(open(sys.argv[1])); t, a, s = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
p = j["pole"]; r = math.radians
truth = [math.sin(r(t)) * math.cos(r(a)), math.sin(r(t)) * math.sin(r(a)), math.cos(r(t))]
dot = sum(x * y for x, y in zip(p["direction"], truth))
err = math.degrees(math.acos(min(1.0, abs(dot))))
print(f"| {s} | {t:g} | {a:g} | {p['tilt_deg']:.3f} | {p['azimuth_deg']:.1f} | {err:.3f} | {p['tilt_deg'] - t:+.3f} | "
      f"{p['uncertainty_deg']:.3f} | {p['spacing_nm']:.5f} | {p['score']:.0f} | {j['centres']} | "
      f"{float(sys.argv[6]) - float(sys.argv[5]):.1f} |")
PYEOF
    else
      printf "| %s | %s | %s | not found: %s |\n" "$s" "$t" "$a" "$(grep -o 'best score[^;]*' "$d/pole.err" | head -1)"
    fi
    [ "${KEEP:-0}" = 1 ] || rm -f "$d/tilt.pos" "$d/tilt_truth.h5"
  done
done
