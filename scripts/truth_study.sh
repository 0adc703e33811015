#!/usr/bin/env bash
# Ground-truth study of `aptflow classify` (docs/ground-truth.md; issue 5 item 4):
# generates the synthetic specimens (L1_2 spheres of radius 2.5 nm and 1.0 nm in an FCC Al-Li-Mg
# matrix, efficiency 0.5, sigma_xy 0.5 nm, sigma_z 0.03 nm; plus a second 2.5 nm specimen with
# another seed and matrix composition), classifies each with the shipped
# configs/classify/alli_l12.toml at np 2 with truth=..., and prints one table row per specimen.
#   bash scripts/truth_study.sh [BUILD_DIR]        (OUT=... for the output directory, NP=... ranks,
#                                                 CLASSIFY_ARGS="--set model=..." extra classify options)
set -euo pipefail
cd "$(dirname "$0")/.."
# STUDY_TABLE_ONLY=1: only print the table of an earlier run in $OUT.
build="${1:-build}"
exe="$build/aptflow"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
OUT=${OUT:-out/truth_study}
NP=${NP:-2}
MPIRUN=(mpirun -np "$NP" --oversubscribe)
mkdir -p "$OUT"

# name | synth config | extra --set overrides of the specimen
specimens=(
  "truth_r25|configs/synth/truth_r25.toml|"
  "truth_r10|configs/synth/truth_r10.toml|"
  "truth_r25_b|configs/synth/truth_r25.toml|--set seed=77025 --set name=truth_r25_b --set matrix.species.A={Al=0.91,Li=0.05,Mg=0.04}"
)
for row in "${specimens[@]}"; do
  [ -n "${STUDY_TABLE_ONLY:-}" ] && break
  IFS='|' read -r name cfg sets <<< "$row"
  # shellcheck disable=SC2086
  "${MPIRUN[@]}" "$exe" synth specimen --config "$cfg" $sets --out "$OUT" > /dev/null
  # shellcheck disable=SC2086
  /usr/bin/time -f "%e" -o "$OUT/$name.seconds" "${MPIRUN[@]}" "$exe" classify \
    --config configs/classify/alli_l12.toml --set input="$OUT/$name.pos" --set range="$OUT/$name.rrng" \
    --set output="$OUT/${name}_classify.h5" --set truth="$OUT/${name}_truth.h5" --set progress=false \
    ${CLASSIFY_ARGS:-} > "$OUT/$name.log"
done

/usr/bin/python3 - "$OUT" "${specimens[@]}" <<'PY'
# Columns: the L1_2 scores of /entry1/truth (docs/classify.md, "Ground truth"); "bound": the F1 of
# labelling every ion by whether its *detected* position lies inside a true sphere (centres and
# radii known exactly): the lateral blur (sigma_xy) alone keeps position-based labels below this.
import sys, h5py, numpy as np
from scipy.spatial import cKDTree
out = sys.argv[1]
print(f"{'specimen':<12} {'radius':>6} {'precision':>9} {'recall':>6} {'F1':>5} {'bound':>5} {'true':>5} "
      f"{'found':>5} {'matched':>7} {'r true':>6} {'r found':>7} {'error':>6} {'r matched':>9} {'error':>6} "
      f"{'time s':>6}")
for row in sys.argv[2:]:
    name = row.split("|")[0]
    with h5py.File(f"{out}/{name}_classify.h5") as f, h5py.File(f"{out}/{name}_truth.h5") as t:
        g = f["entry1/truth"]
        k = list(g["class_names"].asstr()[:]).index("L1_2")
        v = lambda n: g[n][0]
        truth = t["ions/class"][:] == list(t.attrs["class_names"]).index("L1_2")
        xyz = np.fromfile(f"{out}/{name}.pos", dtype=">f4").reshape(-1, 4)[:, :3].astype(np.float64)
        d, j = cKDTree(t["domains/centre"][:]).query(xyz)
        inside = d < t["domains/radii"][:, 0][j]
        bound = 2 * np.sum(inside & truth) / (np.sum(inside) + np.sum(truth))
        secs = open(f"{out}/{name}.seconds").read().split()[-1]
        print(f"{name:<12} {t['domains/radii'][0, 0]:6.2f} {g['precision'][k]:9.3f} {g['recall'][k]:6.3f} "
              f"{g['f1'][k]:5.3f} {bound:5.3f} {v('true_domains'):5d} {v('detected_domains'):5d} "
              f"{v('matched_domains'):7d} {v('true_mean_radius'):6.2f} {v('detected_mean_radius'):7.2f} "
              f"{100 * v('radius_error'):+5.1f}% {v('matched_mean_radius'):9.2f} "
              f"{100 * v('matched_radius_error'):+5.1f}% {float(secs):6.1f}")
PY
