#!/usr/bin/env bash
# README command (a): set up, build, and run aptflow on a built-in demo dataset.
# 1. a small synthetic Al-Li-Mg specimen with L1_2 domains (POS + RRNG + ground truth),
#    generated on 2 MPI ranks (same bytes as on 1);
# 2. aptflow inspect on it (format, bounds, spectrum peaks, ion types, composition);
# 3. aptflow voxelize: the 1 nm composition grid (parallel HDF5);
# 4. aptflow sdm: Al-Al z-SDMs of FeAl-style windows (the ML-APT features);
# 5. aptflow classify (first cut): windows -> shipped CNN -> sub-cells -> ion labels -> domains,
#    compared with the ground truth.
# Output goes to out/demo/ (override with OUT=...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
OUT=${OUT:-out/demo}
APTFLOW=build/aptflow
MPIRUN=(mpirun -np 2 --oversubscribe)
mkdir -p "$OUT"

echo "== 1. synthetic specimen (configs/synth/demo_specimen.toml) -> $OUT"
"${MPIRUN[@]}" "$APTFLOW" synth specimen --config configs/synth/demo_specimen.toml --set name=demo --out "$OUT"
ls -l "$OUT"

echo "== 2. aptflow inspect"
"$APTFLOW" inspect "$OUT/demo.pos" --range "$OUT/demo.rrng"

echo "== 3. aptflow voxelize (1 nm composition grid)"
"${MPIRUN[@]}" "$APTFLOW" voxelize --input "$OUT/demo.pos" --range "$OUT/demo.rrng" --edge 1.0 --out "$OUT/demo_voxels.h5"

echo "== 4. aptflow sdm (Al-Al z-SDM, feal windows)"
"$APTFLOW" sdm --input "$OUT/demo.pos" --range "$OUT/demo.rrng" --pair Al-Al --kind z --windows feal \
  --out "$OUT/demo_zsdm.h5"

echo "== 5. aptflow classify (configs/classify/alli_l12.toml, model models/alli_l12_1dcnn.h5)"
"${MPIRUN[@]}" "$APTFLOW" classify --config configs/classify/alli_l12.toml --set input="$OUT/demo.pos" \
  --set range="$OUT/demo.rrng" --set output="$OUT/demo_classify.h5"

/usr/bin/python3 - "$OUT" <<'PY'
import sys, h5py, numpy as np
out = sys.argv[1]
with h5py.File(f"{out}/demo_truth.h5") as t:
    cls = t["ions/class"][:]
    print(f"ground truth: {len(t['domains/class'])} L1_2 domains, {np.mean(cls == 1):.1%} of ions inside them")
with h5py.File(f"{out}/demo_voxels.h5") as v:
    print(f"voxel grid: counts {v['voxels/counts'].shape} (nz, ny, nx, species)")
with h5py.File(f"{out}/demo_zsdm.h5") as f:
    z = f["features/z/Al-Al"][:]
    print(f"z-SDM features: {z.shape[0]} windows x {z.shape[1]} bins, {int(z.sum())} Al-Al pairs binned")
with h5py.File(f"{out}/demo_truth.h5") as t, h5py.File(f"{out}/demo_classify.h5") as c:
    truth = t["ions/class"][:] == 1
    found = c["entry1/ions/class"][:] == 1
    tp = np.sum(truth & found)
    prec = tp / max(found.sum(), 1)
    rec = tp / max(truth.sum(), 1)
    f1 = 2 * prec * rec / max(prec + rec, 1e-12)
    print(f"classify vs truth (L1_2 ions): precision {prec:.2f} recall {rec:.2f} F1 {f1:.2f}; "
          f"{len(c['entry1/domains/id'])} domains found, {len(t['domains/class'])} true")
PY
echo "demo done: results in $OUT"
