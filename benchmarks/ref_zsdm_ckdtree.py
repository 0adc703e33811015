#!/usr/bin/python3
"""Reference z-SDM window scan in the style of the published ML-APT code
(scipy cKDTree + numpy): per window, query_ball_point for the centre ions in
the window sphere, one query_ball_point per centre ion for its neighbours
within r_cut, the dz of every pair, a histogram over [-1.5, 1.5) in 200 bins,
cropped to the 93 bins with left edge in [-0.7, 0.7).

Differences from the published script, so that integer counts match aptflow
exactly (docs/sdm.md):
- tree queries use a radius enlarged by 1e-4 and the exact float32 test
  r2 = (dx*dx + dy*dy) + dz*dz <= r*r decides (as aptflow does);
- self pairs are excluded by ion index (the published code drops dx == 0 or
  dz == 0 instead), every other ordered pair counts;
- bins are floor((d + 1.5) / 0.015) in float32 (np.bincount), a pair counts
  only if its dx bin lies in [0, 200) too (z-SDM = zx-SDM summed over dx).

Input: raw little-endian files written by benchmarks/bench_sdm.cpp.
Output: int64 raw file, per window 93 counts then the centre-ion count; the
timing (wall and process CPU time of the window loop, the trees excluded)
goes to stdout as one JSON line.
"""
import argparse
import json
import sys
import time

import numpy as np
from scipy import spatial


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xyz", required=True, help="float32 raw, N x 3 (x, y, z) in nm")
    ap.add_argument("--species", required=True, help="uint16 raw, N")
    ap.add_argument("--a", type=int, required=True)
    ap.add_argument("--b", type=int, required=True)
    ap.add_argument("--origin", type=float, nargs=3, required=True)
    ap.add_argument("--edge", type=float, default=1.0)
    ap.add_argument("--stride", type=float, default=0.5)
    ap.add_argument("--counts", type=int, nargs=3, required=True, help="windows along x, y, z")
    ap.add_argument("--centre-radius", type=float, default=0.5)
    ap.add_argument("--r-cut", type=float, default=1.5)
    ap.add_argument("--range", type=float, default=1.5)
    ap.add_argument("--bin", type=float, default=0.015)
    ap.add_argument("--crop-first", type=int, default=54)
    ap.add_argument("--crop-count", type=int, default=93)
    ap.add_argument("--windows", required=True, help="int64 raw list of window indices (C order z, y, x)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    xyz = np.fromfile(args.xyz, dtype="<f4").reshape(-1, 3)
    species = np.fromfile(args.species, dtype="<u2")
    if len(species) != len(xyz):
        sys.exit(f"{args.species}: {len(species)} species for {len(xyz)} positions: rewrite both files")
    windows = np.fromfile(args.windows, dtype="<i8")

    ia = np.nonzero(species == args.a)[0]
    ib = np.nonzero(species == args.b)[0]
    pa, pb = xyz[ia], xyz[ib]
    t0 = time.perf_counter()
    tree_a = spatial.cKDTree(pa.astype(np.float64))
    tree_b = spatial.cKDTree(pb.astype(np.float64))
    t_tree = time.perf_counter() - t0

    f32 = np.float32
    rw = f32(args.centre_radius)
    rw2 = rw * rw
    rc = f32(args.r_cut)
    rc2 = rc * rc
    lo = f32(-args.range)
    w = f32(args.bin)
    n = int(round(2 * args.range / args.bin))
    cf, cc = args.crop_first, args.crop_count
    nx, ny, nz = args.counts
    ox, oy, oz = args.origin

    out = np.zeros((len(windows), cc + 1), dtype=np.int64)
    t0 = time.perf_counter()
    c0 = time.process_time()
    for r, wi in enumerate(windows):
        ix, iy, iz = wi % nx, (wi // nx) % ny, wi // (nx * ny)
        c = np.array([ox + 0.5 * args.edge + ix * args.stride, oy + 0.5 * args.edge + iy * args.stride,
                      oz + 0.5 * args.edge + iz * args.stride], dtype=np.float32)
        cand = np.asarray(tree_a.query_ball_point(c.astype(np.float64), float(rw) * (1 + 1e-4)), dtype=np.int64)
        if len(cand):
            d = pa[cand] - c
            cand = cand[d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2] <= rw2]
        out[r, cc] = len(cand)
        if len(cand) == 0:
            continue
        centres = pa[cand]
        lists = tree_b.query_ball_point(centres.astype(np.float64), float(rc) * (1 + 1e-4))
        lens = np.fromiter((len(l) for l in lists), dtype=np.int64, count=len(lists))
        nbr = np.concatenate([np.asarray(l, dtype=np.int64) for l in lists])
        ctr = np.repeat(np.arange(len(cand)), lens)
        d = pb[nbr] - centres[ctr]
        dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
        r2 = dx * dx + dy * dy + dz * dz
        keep = (r2 <= rc2) & ~((r2 == 0) & (ib[nbr] == ia[cand][ctr]))
        kz = np.floor((dz[keep] - lo) / w)
        kx = np.floor((dx[keep] - lo) / w)
        sel = (kx >= 0) & (kx < n) & (kz >= cf) & (kz < cf + cc)
        out[r, :cc] = np.bincount(kz[sel].astype(np.int64) - cf, minlength=cc)[:cc]
    t_loop = time.perf_counter() - t0
    c_loop = time.process_time() - c0
    out.tofile(args.out)
    nw = max(1, len(windows))
    print(json.dumps({"windows": int(len(windows)), "tree_s": t_tree, "loop_s": t_loop, "cpu_loop_s": c_loop,
                      "s_per_window": t_loop / nw, "cpu_s_per_window": c_loop / nw}))


if __name__ == "__main__":
    main()
