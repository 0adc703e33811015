#!/usr/bin/env bash
# README command (a): set up, build, and run aptflow on a built-in demo dataset.
# 1. a small synthetic Al-Li-Mg specimen with L1_2 domains (POS + RRNG + ground truth),
#    generated on 2 MPI ranks (same bytes as on 1);
# 2. aptflow inspect on it (format, bounds, spectrum peaks, ion types, composition);
# 3. aptflow voxelize: the 1 nm composition grid (parallel HDF5);
# 4. aptflow sdm: Al-Al z-SDMs of FeAl-style windows (the ML-APT features);
# 5. aptflow classify: windows -> shipped CNN -> sub-cells -> ion labels -> domains, scored
#    against the ground truth (/entry1/truth), plus one shuffled-m/q control run;
# 6. aptflow report: an HTML page with the figures; an XDMF file opens the maps in ParaView.
# Output goes to out/demo/ (override with OUT=...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo  # only what the demo needs (scripts/test.sh installs the rest)
bash scripts/build.sh demo  # only the aptflow program: no tests, benchmarks or CUDA objects
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

echo "== 5. aptflow classify (configs/classify/alli_l12.toml: four z-SDM pairs, model models/alli_l12_pairs_1dcnn.h5), scored against the truth"
"${MPIRUN[@]}" "$APTFLOW" classify --config configs/classify/alli_l12.toml --set input="$OUT/demo.pos" \
  --set range="$OUT/demo.rrng" --set output="$OUT/demo_classify.h5" --set truth="$OUT/demo_truth.h5" \
  --shuffle-mq 1

echo "== 6. aptflow report (HTML page with SVG figures)"
"$APTFLOW" report "$OUT/demo_classify.h5" --out "$OUT/report"

/usr/bin/python3 - "$OUT" <<'PY'
import sys, h5py, numpy as np
out = sys.argv[1]
with h5py.File(f"{out}/demo_voxels.h5") as v:
    print(f"voxel grid: counts {v['voxels/counts'].shape} (nz, ny, nx, species)")
with h5py.File(f"{out}/demo_zsdm.h5") as f:
    z = f["features/z/Al-Al"][:]
    print(f"z-SDM features: {z.shape[0]} windows x {z.shape[1]} bins, {int(z.sum())} Al-Al pairs binned")
with h5py.File(f"{out}/demo_truth.h5") as t, h5py.File(f"{out}/demo_classify.h5") as c:
    tr = c["entry1/truth"]
    print(f"recovered domains vs ground truth: {int(tr['detected_domains'][0])} found, "
          f"{int(tr['true_domains'][0])} true, {int(tr['matched_domains'][0])} matched; "
          f"L1_2 ions precision {tr['precision'][0]:.2f} recall {tr['recall'][0]:.2f} F1 {tr['f1'][0]:.2f}")
    true_r = np.cbrt(np.prod(t["domains/radii"][:], axis=1))
    found_r = c["entry1/domains/radius"][:]
    for i, (cen, r) in enumerate(zip(t["domains/centre"][:], true_r)):
        d = np.linalg.norm(c["entry1/domains/centroid"][:] - cen, axis=1) if len(found_r) else np.array([])
        j = int(np.argmin(d)) if len(d) else -1
        near = f"found at {d[j]:.2f} nm, radius {found_r[j]:.2f} nm" if j >= 0 and d[j] < r else "not found"
        print(f"  true domain {i}: centre ({cen[0]:5.1f}, {cen[1]:5.1f}, {cen[2]:5.1f}) nm, radius {r:.2f} nm: {near}")
PY
echo "demo done: results in $OUT (report: $OUT/report/index.html; ParaView: $OUT/demo_classify.xdmf)"
