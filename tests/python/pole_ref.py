#!/usr/bin/env python3
"""Independent reference for the direction score of `aptflow pole` (docs/alignment.md).

The score at a wave vector k (rad/nm) of a point cloud is the tapered Fourier
amplitude of its pair correlation within r_cut:

    binned:  P(k) = sum_b H_b w(|c_b|) cos(k . c_b) / prod_a sinc(k_a bin / 2)
             H = 3D SDM over [-r_cut, r_cut)^3 with float32 binning (docs/sdm.md):
             d = float32(p_j - p_i), kept iff (dx*dx + dy*dy) + dz*dz <= float32(r_cut)^2,
             bin floor((d - lo) / w) in float32; every ordered pair i != j.
    exact:   P(k) = sum over the same ordered pairs of w(|d|) cos(k . d) (no bins)

with w(r) = (1 - r^2 / r_cut^2)^2. Written from that definition with scipy's
cKDTree and numpy, sharing no code with aptflow.

Usage:
  pole_ref.py score CLOUD R_CUT BIN KFILE   -> JSON {"binned": [...], "exact": [...], "pairs": N}
  pole_ref.py peak CLOUD R_CUT KX KY KZ     -> JSON {"k": [..], "value": v}: the maximum of the exact
                                               score near the start k (Nelder-Mead on k)
CLOUD: little-endian float32 x, y, z per point. KFILE: one k per line, "kx ky kz".
"""
import json
import sys

import numpy as np
from scipy.optimize import minimize
from scipy.spatial import cKDTree


def load(path):
    return np.fromfile(path, dtype="<f4").reshape(-1, 3)


def ordered_pairs(p, rc):
    """Ordered pairs (i, j), i != j, with the float32 rule |d| <= rc; d in float32."""
    tree = cKDTree(p.astype(np.float64))
    pairs = tree.query_pairs(rc * (1 + 1e-5) + 1e-6, output_type="ndarray")
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    d = (p[j] - p[i]).astype(np.float32)  # float32 subtraction, as the kernel
    r2 = (d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]) + d[:, 2] * d[:, 2]
    keep = r2 <= np.float32(rc) * np.float32(rc)
    return d[keep]


def taper(r, rc):
    u = 1.0 - (r * r) / (rc * rc)
    return np.where(r < rc, u * u, 0.0)


def binned_histogram(d, rc, b):
    lo, w = np.float32(-rc), np.float32(b)
    n = int(round(2 * rc / b))
    k = np.floor((d - lo) / w).astype(np.int64)  # float32 division, then floor
    inside = np.all((k >= 0) & (k < n), axis=1)
    k = k[inside]
    flat = (k[:, 2] * n + k[:, 1]) * n + k[:, 0]
    H = np.bincount(flat, minlength=n ** 3).astype(np.float64)
    c = -rc + (np.arange(n) + 0.5) * b
    cz, cy, cx = np.meshgrid(c, c, c, indexing="ij")
    return H, cx.ravel(), cy.ravel(), cz.ravel()


def main():
    mode = sys.argv[1]
    p = load(sys.argv[2])
    rc = float(sys.argv[3])
    d = ordered_pairs(p, rc).astype(np.float64)
    r = np.sqrt((d * d).sum(axis=1))
    wd = taper(r, rc)
    if mode == "score":
        b = float(sys.argv[4])
        ks = np.loadtxt(sys.argv[5], ndmin=2)
        H, cx, cy, cz = binned_histogram(d.astype(np.float32), rc, b)
        nz = H > 0
        H, cx, cy, cz = H[nz], cx[nz], cy[nz], cz[nz]
        wb = taper(np.sqrt(cx * cx + cy * cy + cz * cz), rc)
        binned, exact = [], []
        for k in ks:
            s = np.sinc(k[0] * b / 2 / np.pi) * np.sinc(k[1] * b / 2 / np.pi) * np.sinc(k[2] * b / 2 / np.pi)
            binned.append(float((H * wb * np.cos(k[0] * cx + k[1] * cy + k[2] * cz)).sum() / s))
            exact.append(float((wd * np.cos(d @ k)).sum()))
        print(json.dumps({"binned": binned, "exact": exact, "pairs": int(len(d))}))
    elif mode == "peak":
        k0 = np.array([float(v) for v in sys.argv[4:7]])

        def neg(k):
            return -float((wd * np.cos(d @ k)).sum())

        res = minimize(neg, k0, method="Nelder-Mead",
                       options={"xatol": 1e-6, "fatol": 1e-9 * abs(neg(k0)), "maxiter": 4000})
        print(json.dumps({"k": [float(v) for v in res.x], "value": -float(res.fun)}))
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
