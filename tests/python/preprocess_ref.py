#!/usr/bin/python3
"""Independent reference for aptflow's z-SDM preprocessing (method.md section 3).

Written from the method description with numpy/scipy, not from the C++ code.
Curves are float32 rows of a (rows x bins) raw little-endian file; results are
written as float64 rows; for 'background' and 'preprocess' a second file
OUT.meta holds "minimum sweeps" per row (minimum -1 = none).

  preprocess_ref.py minmax     IN OUT ROWS BINS CONSTANT(nan|zeros)
  preprocess_ref.py savgol     IN OUT ROWS BINS WINDOW ORDER
  preprocess_ref.py background IN OUT ROWS BINS LO HI CENTRE MAX_SWEEPS
  preprocess_ref.py preprocess IN OUT ROWS BINS LO HI CENTRE MAX_SWEEPS WINDOW ORDER CONSTANT
  preprocess_ref.py hat        OUT WINDOW ORDER   (exact Savitzky-Golay hat matrix, window x window)

A row holding any NaN is an empty window: every step returns all NaN for it,
except minmax, which ignores NaN bins (nanmin/nanmax) and keeps them NaN.
"""
import sys
from fractions import Fraction

import numpy as np
from scipy.signal import savgol_filter


def minmax(x, constant):
    if np.all(np.isnan(x)):
        return x.copy()
    lo, hi = np.nanmin(x), np.nanmax(x)
    if hi > lo:
        return (x - lo) / (hi - lo)
    y = np.where(np.isnan(x), np.nan, 0.0 if constant == "zeros" else np.nan)
    return y


def savgol(x, window, order):
    if np.any(np.isnan(x)):
        return np.full_like(x, np.nan)
    return savgol_filter(x, window, order)  # mode='interp' (scipy's default)


def background(s, lo, hi, centre, max_sweeps):
    """Iterative clipping, Gauss-Seidel sweeps (in place, increasing index)."""
    n = len(s)
    if np.any(np.isnan(s)):
        return np.full_like(s, np.nan), -1, 0
    m = -1
    for i in range(centre + 1, n - 1):
        if s[i] < s[i - 1] and s[i] <= s[i + 1]:
            m = i
            break
    if m < 0:
        return np.zeros_like(s), -1, 0
    b = [float(v) for v in s]  # plain floats: a fast pure-Python loop
    level = float(s[m])
    sweeps = 0
    while sweeps < max_sweeps and max(b[lo:hi]) > level:
        for k in range(1, n - 1):
            avg = (b[k - 1] + b[k + 1]) / 2
            if avg < b[k]:
                b[k] = avg
        sweeps += 1
    return np.array(b), m, sweeps


def preprocess(x, lo, hi, centre, max_sweeps, window, order, constant):
    if np.any(np.isnan(x)):
        return np.full_like(x, np.nan), -1, 0
    v = minmax(x, constant)
    if np.any(np.isnan(v)):
        return np.full_like(x, np.nan), -1, 0
    s = savgol(v, window, order)
    b, m, sweeps = background(s, lo, hi, centre, max_sweeps)
    return minmax(s - b, constant), m, sweeps


def exact_hat(window, order):
    """Hat matrix H = A (A^T A)^-1 A^T of the window positions -half..half in
    exact rational arithmetic (scipy's savgol_coeffs loses digits for long
    windows: lstsq on an unscaled Vandermonde matrix)."""
    half, k = window // 2, order + 1
    x = [j - half for j in range(window)]
    pw = [[Fraction(xi) ** a for a in range(k)] for xi in x]
    m = [[sum(p[a] * p[b] for p in pw) for b in range(k)] + [Fraction(int(a == c)) for c in range(k)]
         for a in range(k)]
    for i in range(k):  # Gauss-Jordan inverse of A^T A
        piv = next(r for r in range(i, k) if m[r][i] != 0)
        m[i], m[piv] = m[piv], m[i]
        m[i] = [v / m[i][i] for v in m[i]]
        for r in range(k):
            if r != i and m[r][i] != 0:
                f = m[r][i]
                m[r] = [a - f * b for a, b in zip(m[r], m[i])]
    inv = [row[k:] for row in m]
    v = [[sum(inv[a][b] * pw[p][b] for b in range(k)) for a in range(k)] for p in range(window)]
    return np.array([[float(sum(v[p][a] * pw[j][a] for a in range(k))) for j in range(window)]
                     for p in range(window)])


def main(argv):
    if argv[1] == "hat":
        exact_hat(int(argv[3]), int(argv[4])).astype("<f8").tofile(argv[2])
        return
    mode, src, dst, rows, bins = argv[1], argv[2], argv[3], int(argv[4]), int(argv[5])
    a = argv[6:]
    x = np.fromfile(src, dtype="<f4").astype(np.float64).reshape(rows, bins)
    out = np.empty_like(x)
    meta = []
    with np.errstate(invalid="ignore"):
        for r in range(rows):
            if mode == "minmax":
                out[r] = minmax(x[r], a[0])
            elif mode == "savgol":
                out[r] = savgol(x[r], int(a[0]), int(a[1]))
            elif mode == "background":
                out[r], m, n = background(x[r], int(a[0]), int(a[1]), int(a[2]), int(a[3]))
                meta.append((m, n))
            elif mode == "preprocess":
                out[r], m, n = preprocess(x[r], int(a[0]), int(a[1]), int(a[2]), int(a[3]), int(a[4]),
                                          int(a[5]), a[6])
                meta.append((m, n))
            else:
                sys.exit("unknown mode " + mode)
    out.astype("<f8").tofile(dst)
    if meta:
        with open(dst + ".meta", "w") as f:
            for m, n in meta:
                f.write(f"{m} {n}\n")


if __name__ == "__main__":
    main(sys.argv)
