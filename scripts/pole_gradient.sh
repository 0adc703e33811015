#!/usr/bin/env bash
# The local pole map of `aptflow pole --tile` against the truth of a bent specimen
# (issue 15; docs/alignment.md): configs/synth/tilt_gradient.toml (the <002> pole tilts from 0 deg at
# x = 0 to 8 deg at x = 40 nm, towards +x), 10 nm columns. For every tile: the found and the true
# local pole at the centroid of the tile's centre ions (the bend map of include/aptflow/synth/bend.hpp, written out here
# in Python), their angle, and the slope of the found tilt along x.
#
#   bash scripts/pole_gradient.sh [BUILD_DIR]      (OUT=out/pole_gradient NP=2 TILE=10 POLE_ARGS=...)
set -euo pipefail
BUILD=${1:-build}
EXE=$(realpath "$BUILD/aptflow")
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-out/pole_gradient}
NP=${NP:-2}
TILE=${TILE:-10}
POLE_ARGS=${POLE_ARGS:-}
PY=${PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mkdir -p "$OUT"
MPI="mpirun -np $NP --oversubscribe"
$MPI "$EXE" synth specimen --config "$SRC/configs/synth/tilt_gradient.toml" --out "$OUT" > /dev/null
$MPI "$EXE" pole "$OUT/tilt_gradient.pos" --range "$OUT/tilt_gradient.rrng" --tile "$TILE" --out "$OUT/map.h5" $POLE_ARGS
"$PY" - "$OUT/map.h5" <<'PYEOF'
import math, sys
import h5py
import numpy as np
# configs/synth/tilt_gradient.toml: tilt [4, 0] then bend [0.2, 0] deg/nm about the specimen centre.
size = np.array([40.0, 40.0, 30.0]); c = size / 2
t0, k = math.radians(4.0), math.radians(0.2)
n0 = np.array([math.sin(t0), 0.0, math.cos(t0)])
def bend(p):
    u, w = p[0] - c[0], p[2] - c[2]; phi = k * u
    return np.array([c[0] + math.sin(phi) / k + w * math.sin(phi), p[1],
                     c[2] + w * math.cos(phi) - (1 - math.cos(phi)) / k])
def truth(q):
    p = q.copy()
    for _ in range(100):  # unbent point of q (fixed point)
        p = p - (bend(p) - q)
    u, w = p[0] - c[0], p[2] - c[2]; phi = k * u
    J = np.array([[(1 + k * w) * math.cos(phi), 0, math.sin(phi)], [0, 1, 0],
                  [-(1 + k * w) * math.sin(phi), 0, math.cos(phi)]])
    n = np.linalg.solve(J.T, n0)  # planes' normal: J^-T n0
    return n / np.linalg.norm(n)
f = h5py.File(sys.argv[1], "r")
d = f["/pole/tiles/direction"][...]; cen = f["/pole/tiles/centroid"][...]  # mean position of the tile's centres
st = f["/pole/tiles/status"][...]; unc = f["/pole/tiles/uncertainty_deg"][...]
tilt = f["/pole/tiles/tilt_deg"][...]; ions = f["/pole/tiles/ions"][...]
nz, ny, nx = st.shape
print("| tile (x, y) | centroid x, y (nm) | centres | true tilt (deg) | found tilt (deg) | angle error (deg) | uncertainty (deg) |")
print("|---|---|---|---|---|---|---|")
errs, xs, ts = [], [], []
for iz in range(nz):
    for iy in range(ny):
        for ix in range(nx):
            p = cen[iz, iy, ix]
            tr = truth(p); tt = math.degrees(math.acos(tr[2]))
            if st[iz, iy, ix] != 0:
                print(f"| {ix}, {iy} | {p[0]:.1f}, {p[1]:.1f} | {ions[iz, iy, ix]} | {tt:.3f} | not measured (status {st[iz, iy, ix]}) | | |")
                continue
            e = math.degrees(math.acos(min(1.0, abs(float(np.dot(d[iz, iy, ix], tr))))))
            errs.append(e); xs.append(p[0]); ts.append(tilt[iz, iy, ix])
            print(f"| {ix}, {iy} | {p[0]:.1f}, {p[1]:.1f} | {ions[iz, iy, ix]} | {tt:.3f} | {tilt[iz, iy, ix]:.3f} | {e:.3f} | {unc[iz, iy, ix]:.3f} |")
if errs:
    slope = np.polyfit(xs, ts, 1)[0]
    print(f"\nmeasured tiles {len(errs)}: angle error mean {np.mean(errs):.3f} deg, max {np.max(errs):.3f} deg; "
          f"fitted slope of the tilt along x {slope:.4f} deg/nm (true 0.2)")
PYEOF
