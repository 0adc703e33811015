#!/usr/bin/env python3
"""Independent reference of the published ML-APT pipeline of Li et al.
(CoCrNi CSRO, arXiv 2303.13433; Fe-Al, Nat Commun 14:7410 (2023)), written
from the rules of the authors' public scripts (zsdm_utils_v2.py,
ZSDM_CrNiCo_same_ele_V9.py, ZSDM_CrNiCo_model_prediction_all_v1.py,
ZSDM_for_CoCrNi_exp_Scan_all_v1.py, ZSDM_IVAS_cluster_analysis_all_v3.py and
the Fe-Al notebook), with numpy, scipy and h5py only: no aptflow code, no code
of those scripts. Used by tests/unit/test_published_pipeline.cpp, which
compares aptflow with it (docs/classify.md "Reproducing the published
pipeline").

The rules (each as the scripts have it):
  windows    corners numpy.arange(lo, hi, stride) per axis, kept where
             corner <= hi - edge; centre = corner + edge / 2; C order (z, y, x).
  z-SDM      centre ions: the A ions within 1.5 * edge / 2 (CoCrNi) or edge / 2
             (Fe-Al) of the centre (cKDTree.query_ball_point, double);
             neighbours: B ions within the same sphere (CoCrNi) or all B ions
             (Fe-Al), within 1.5 nm of the centre ion (query_ball_tree /
             query_ball_point); dx, dz in double (Fe-Al: stored as float32);
             pairs with dx == 0 or dz == 0 dropped; fast_histogram2d over
             [-1.5, 1.5)^2 with 200 bins: row int((dz + 1.5) * (200 / 3));
             summed over dx; rows 54..146 (left edges in [-0.7, 0.7)).
  preprocess min-max (0 / 0 -> NaN: empty window); a curve with NaN stays as
             it is; Savitzky-Golay 15/8 with mode 'interp' (savgol_filter(15, 8):
             evaluated here with the exact rational hat matrix, see below);
             background: first strict local
             minimum right of bin 46 (argrelextrema np.less); while
             max(b[L:U]) > s[m]: one sweep b[m] = min(b[m], (b[m-1] + b[m+1]) / 2),
             the first from a copy, the later ones in place, break after the
             sweep that follows 1000 sweeps; no minimum -> b = 0; min-max of s - b.
  network    Keras Sequential forward (Conv1D valid ReLU, Dropout = identity,
             MaxPooling1D, Flatten, Dense), float32 input; mean over the models.
  sub-cells  sum over the (up to 8) covering windows of the class probability;
             NaN + p = NaN; selected where sum > threshold.
  ions       every ion within stride / 2 * 1.414 of a selected sub-cell centre
             (cKDTree.query_ball_point over all ions).
  domains    DBSCAN (eps, min_samples, sklearn's algorithm: neighbours within
             eps including the point, core iff >= min_samples, clusters grown in
             the order of the points).
  histogram  sizes clipped to hi, numpy.histogram(bins, range=(lo, hi)).
  statistics Pearson r over the bins; chi2 = sum over bins with control >= 1 of
             (real - control)^2 / control; cq = sqrt(chi2 / (chi2 + mean total)).

Positions are read from POS files (float32) and used as double, as the
scripts use the CSV values; the range file is RRNG with inclusive bounds
(pandas between(..., inclusive=True)).

The Savitzky-Golay filter is evaluated with weights computed exactly (rational
arithmetic, each rounded once to the nearest double) and summed over the
window in order: scipy's savgol_filter computes the same
filter with rounding errors of up to a few 1e-10 near the curve ends (its
edge fits use numpy.polyfit), and the clipping loop's stop
(max(b[L:U]) > s[m]) can amplify such a difference when a sweep ends almost
exactly at the level: on 1 of the 8,303 windows of the test specimen the
CSRO probability moves by 0.10 between scipy's and the exact filter, and on
sparse windows (few pairs: their z-SDMs are symmetric, so the smoothed curve
has exact ties) even a last-bit difference can do it. The exact filter is
the rule itself rather than one implementation's rounding;
--savgol scipy runs the scripts' call literally (for measurements).

Usage:
  published_ref.py classify --pos P --rrng R --pair Ni-Ni --box x0 y0 z0 x1 y1 z1
                   --model M [--model M2 ...] [--variant cocrni|feal]
                   [--threshold 3.75] [--out OUT.h5]
  published_ref.py cluster --real P1 --control P2 [--rrng R --species A,B]
                   [--eps 0.4 --min-samples 3 --bins 32 --lo 0 --hi 160] [--out OUT.json]
  published_ref.py preprocess IN.f64 OUT.f64 BINS VARIANT   (raw rows -> preprocessed rows)
"""
import argparse
import json
import re
import sys
from fractions import Fraction

import h5py
import numpy as np
from scipy.signal import argrelextrema, savgol_filter
from scipy.spatial import cKDTree

# ---------------------------------------------------------------- input


def read_pos(path):
    a = np.fromfile(path, dtype=">f4").reshape(-1, 4)
    return a[:, :3].astype(np.float64), a[:, 3].astype(np.float64)


def read_rrng(path):
    """{ion name: [(lo, hi), ...]} from the Ion and Range lines of an RRNG file."""
    names, ranges = {}, {}
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.strip()
        m = re.match(r"Ion(\d+)=(\S+)", line)
        if m:
            names[m.group(1)] = m.group(2)
            continue
        m = re.match(r"Range\d+=([0-9.eE+-]+)\s+([0-9.eE+-]+)\s+(.*)", line)
        if m:
            lo, hi, rest = float(m.group(1)), float(m.group(2)), m.group(3)
            for tok in rest.split():
                if ":" in tok and not tok.startswith(("Vol", "Color", "Name")):
                    el, cnt = tok.split(":")
                    ranges.setdefault(el, []).append((lo, hi))
    return ranges


def species_mask(mq, ranges, name):
    if name not in ranges:
        raise SystemExit(f"{name} is not in the range file")
    keep = np.zeros(mq.shape, bool)
    for lo, hi in ranges[name]:
        keep |= (mq >= lo) & (mq <= hi)  # pandas between(lower, upper, inclusive=True)
    return keep


# ---------------------------------------------------------------- windows


def window_centres(lo, hi, edge, stride):
    axes = []
    for a in range(3):
        corners = np.arange(lo[a], hi[a], stride, dtype=np.float64)
        corners = corners[~(corners > hi[a] - edge)]  # low_pass_filter(arr, hi - voxel)
        axes.append(corners)
    zz, yy, xx = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    centres = np.stack([xx.ravel() + edge / 2, yy.ravel() + edge / 2, zz.ravel() + edge / 2], axis=1)
    return centres, (len(axes[2]), len(axes[1]), len(axes[0]))


def zsdm_rows(a_pos, b_pos, centres, edge, variant):
    """Raw z-SDM counts (windows x 93) and centre counts."""
    n = len(centres)
    out = np.zeros((n, 93), np.float64)
    ncentre = np.zeros(n, np.int64)
    tree_a = cKDTree(a_pos)
    tree_b = cKDTree(b_pos)
    if variant == "cocrni":
        idx_a = tree_a.query_ball_point(centres, edge * 1.5 / 2)
        idx_b = tree_b.query_ball_point(centres, edge * 1.5 / 2)
    else:
        idx_a = tree_a.query_ball_point(centres, edge / 2)
    for w in range(n):
        ca = a_pos[idx_a[w]]
        ncentre[w] = len(ca)
        if len(ca) == 0:
            continue
        if variant == "cocrni":
            nb = b_pos[idx_b[w]]
            if len(nb) == 0:
                continue
            cand = cKDTree(ca).query_ball_tree(cKDTree(nb), 1.5)
        else:
            nb = b_pos
            cand = tree_b.query_ball_point(ca, 1.5)
        dx = np.concatenate([nb[l, 0] - ca[i, 0] for i, l in enumerate(cand)])
        dz = np.concatenate([nb[l, 2] - ca[i, 2] for i, l in enumerate(cand)])
        if variant == "feal":  # x_tot, y_tot are float32 arrays in the Fe-Al notebook
            dx = dx.astype(np.float32).astype(np.float64)
            dz = dz.astype(np.float32).astype(np.float64)
        keep = (dx != 0) & (dz != 0)
        dx, dz = dx[keep], dz[keep]
        ok = (dz >= -1.5) & (dz < 1.5) & (dx >= -1.5) & (dx < 1.5)
        rows = ((dz[ok] + 1.5) * (200 / 3.0)).astype(np.int64)  # C (int) truncation, value >= 0
        h = np.bincount(rows, minlength=200)
        out[w] = h[54:147]
    return out, ncentre


# ---------------------------------------------------------------- preprocessing


def minmax(v):
    with np.errstate(invalid="ignore", divide="ignore"):
        return (v - v.min()) / (v.max() - v.min())


def background(s, lo, hi):
    n = len(s)
    mins = np.array(argrelextrema(s, np.less))
    mins = mins[np.where(mins > int(n / 2))]
    if len(mins) == 0:
        return np.zeros(n)
    m = mins[0]
    b = s.copy()
    nxt = np.zeros(n)
    nxt[0], nxt[n - 1] = s[0], s[n - 1]
    first = True
    ite = 0
    while max(b[lo:hi]) > s[m]:
        if first:  # the script's new1_BG_remove_2 from new1_BG_remove (a copy)
            for k in range(1, n - 1):
                nxt[k] = min(b[k], (b[k - 1] + b[k + 1]) / 2)
            b = nxt  # from here on both names are one array: in place
            first = False
        else:
            for k in range(1, n - 1):
                b[k] = min(b[k], (b[k - 1] + b[k + 1]) / 2)
        if ite == 1000:
            break
        ite += 1
    return b


def background_rows(S, lo, hi):
    """background() for every row of S at once (the same operations, vectorised
    over the rows; each row keeps its own stop condition)."""
    rows, n = S.shape
    out = np.zeros_like(S)
    m = np.full(rows, -1)
    for r in range(rows):
        mins = np.array(argrelextrema(S[r], np.less))
        mins = mins[np.where(mins > int(n / 2))]
        if len(mins):
            m[r] = mins[0]
    act = np.nonzero(m >= 0)[0]
    if len(act) == 0:
        return out
    s = S[act]
    level = s[np.arange(len(act)), m[act]]
    b = s.copy()
    ite = np.zeros(len(act), np.int64)
    run = b[:, lo:hi].max(axis=1) > level
    first = np.ones(len(act), bool)
    while run.any():
        ix = np.nonzero(run)[0]
        bb = b[ix]
        f = first[ix]
        if f.any():  # Jacobi sweep for the rows on their first sweep
            old = bb[f].copy()
            new = old.copy()
            new[:, 1:-1] = np.minimum(old[:, 1:-1], (old[:, :-2] + old[:, 2:]) / 2)
            bb[f] = new
        g = ~f
        if g.any():  # in place (Gauss-Seidel) for the others
            x = bb[g]
            for k in range(1, n - 1):
                x[:, k] = np.minimum(x[:, k], (x[:, k - 1] + x[:, k + 1]) / 2)
            bb[g] = x
        b[ix] = bb
        first[ix] = False
        stop = ite[ix] == 1000
        ite[ix] += 1
        run[ix] = ~stop & (bb[:, lo:hi].max(axis=1) > level[ix])
    out[act] = b
    return out


_HAT = {}


def savgol_exact(v, window=15, order=8):
    """savgol_filter(v, window, order) (mode 'interp') row by row, with the
    hat matrix H = A (A^T A)^-1 A^T of the window computed in rational
    arithmetic: row p gives the value at window position p of the
    least-squares polynomial; interior points use the centre row, the first
    and last window // 2 points the rows of the first / last window."""
    key = (window, order)
    if key not in _HAT:
        half, k = window // 2, order + 1
        a = [[Fraction(j - half) ** c for c in range(k)] for j in range(window)]
        ata = [[sum(a[j][r] * a[j][c] for j in range(window)) for c in range(k)] for r in range(k)]
        m = [row[:] + [Fraction(int(i == j)) for j in range(k)] for i, row in enumerate(ata)]
        for i in range(k):  # Gauss-Jordan, exact
            p = next(r for r in range(i, k) if m[r][i] != 0)
            m[i], m[p] = m[p], m[i]
            piv = m[i][i]
            m[i] = [x / piv for x in m[i]]
            for r in range(k):
                if r != i and m[r][i] != 0:
                    f = m[r][i]
                    m[r] = [x - f * y for x, y in zip(m[r], m[i])]
        inv = [row[k:] for row in m]
        t = [[sum(inv[r][c] * a[j][c] for c in range(k)) for j in range(window)] for r in range(k)]
        _HAT[key] = np.array([[float(sum(a[p][r] * t[r][j] for r in range(k))) for j in range(window)]
                              for p in range(window)])
    h = _HAT[key]
    n = v.shape[1]
    half = window // 2
    out = np.empty_like(v)

    def dot(first, row):  # sum over the window in order, one rounding per step (no BLAS reordering)
        acc = np.zeros(v.shape[0])
        for j in range(window):
            acc = acc + h[row, j] * v[:, first + j]
        return acc

    for i in range(n):
        if i < half:
            out[:, i] = dot(0, i)
        elif i + half >= n:
            out[:, i] = dot(n - window, i - (n - window))
        else:
            out[:, i] = dot(i - half, half)
    return out


SAVGOL = "exact"


def preprocess(raw, variant):
    """Published experimental preprocessing of raw rows (windows x 93)."""
    lo, hi = (23, 69) if variant == "cocrni" else (37, 53)
    rows = np.full(raw.shape, np.nan)
    v = np.array([minmax(r) for r in raw])
    good = ~np.isnan(v).any(axis=1)
    if good.any():
        s = savgol_filter(v[good], 15, 8, axis=1) if SAVGOL == "scipy" else savgol_exact(v[good])
        b = background_rows(s, lo, hi)
        rows[good] = np.array([minmax(r) for r in s - b])
    rows[~good] = v[~good]
    return rows


# ---------------------------------------------------------------- network


def load_model(path):
    """[(class, config, weights)] of a Keras 2 HDF5 file or an aptflow model file."""
    f = h5py.File(path, "r")
    layers = []
    if "model_config" in f.attrs:
        cfg = f.attrs["model_config"]
        cfg = json.loads(cfg if isinstance(cfg, str) else cfg.decode())
        lst = cfg["config"]["layers"] if isinstance(cfg["config"], dict) else cfg["config"]
        for l in lst:
            name = l["config"]["name"]
            w = {}
            g = f["model_weights"].get(name)
            if g is not None and name in g:
                for k, d in g[name].items():
                    w[k.split(":")[0]] = d[()]
            layers.append((l["class_name"], l["config"], w))
    else:
        arch = json.loads(f["/model/architecture"][0])
        for l in arch["layers"]:
            w = {}
            g = f["/model/weights"].get(l["name"])
            if g is not None:
                for k, d in g.items():
                    w[k] = d[()]
            layers.append((l["class"], l["config"], w))
    return layers


def act(x, name):
    if name == "relu":
        return np.maximum(x, 0)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    return x


def forward(layers, x):
    x = x.astype(np.float64)
    for cls, cfg, w in layers:
        if cls == "Conv1D":
            k = w["kernel"].astype(np.float64)
            kw = k.shape[0]
            steps = x.shape[1] - kw + 1
            y = np.zeros((x.shape[0], steps, k.shape[2]))
            for t in range(kw):
                y += x[:, t:t + steps, :] @ k[t]
            x = act(y + w["bias"], cfg.get("activation", "linear"))
        elif cls == "MaxPooling1D":
            p = cfg["pool_size"][0] if isinstance(cfg["pool_size"], list) else cfg["pool_size"]
            steps = x.shape[1] // p
            x = x[:, :steps * p, :].reshape(x.shape[0], steps, p, x.shape[2]).max(axis=2)
        elif cls == "Flatten":
            x = x.reshape(x.shape[0], -1)
        elif cls == "Dense":
            x = act(x @ w["kernel"].astype(np.float64) + w["bias"], cfg.get("activation", "linear"))
        elif cls == "Dropout":
            pass
        else:
            raise SystemExit(f"layer {cls} is not in the reference")
    return x


def predict(models, rows):
    """Mean class probabilities over the models; NaN rows give NaN."""
    x = rows.astype(np.float32)[:, :, None]
    good = ~np.isnan(x).any(axis=(1, 2))
    out = None
    for path in models:
        p = np.full((len(x), 0), np.nan)
        layers = load_model(path)
        y = np.full((len(x), 1), np.nan)
        if good.any():
            z = forward(layers, x[good]).astype(np.float32)  # Keras predicts float32
            y = np.full((len(x), z.shape[1]), np.nan)
            y[good] = z
        out = y[None] if out is None else np.concatenate([out, y[None]])
    return out.mean(axis=0)


# ---------------------------------------------------------------- segmentation


def subcell_sums(prob, shape, k=2):
    nz, ny, nx = shape
    p = prob.reshape(shape)
    s = np.zeros((nz + k - 1, ny + k - 1, nx + k - 1))
    # The script adds, per sub-cell, windows (pz, py, px), then px - 1, py - 1, pz - 1.
    for dz in range(k):
        for dy in range(k):
            for dx in range(k):
                s[dz:dz + nz, dy:dy + ny, dx:dx + nx] += p
    return s


def dbscan(points, eps, min_samples):
    """sklearn.cluster.DBSCAN(eps, min_samples).labels_ of points (double)."""
    n = len(points)
    labels = np.full(n, -1, np.int64)
    if n == 0:
        return labels
    nbrs = cKDTree(points).query_ball_point(points, eps)
    core = np.array([len(l) >= min_samples for l in nbrs])
    label = 0
    for i in range(n):
        if labels[i] != -1 or not core[i]:
            continue
        stack = [i]
        while stack:
            j = stack.pop()
            if labels[j] != -1:
                continue
            labels[j] = label
            if core[j]:
                stack.extend(v for v in nbrs[j] if labels[v] == -1)
        label += 1
    return labels


def size_histogram(labels, bins, lo, hi):
    sizes = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(0, np.int64)
    sizes = np.minimum(sizes, hi)  # atom_number_each_SRO[atom_number_each_SRO > 160] = 160
    h, _ = np.histogram(sizes, bins=bins, range=(lo, hi))
    return h.astype(np.int64)


def statistics(real, control):
    real = real.astype(np.float64)
    control = control.astype(np.float64)
    if real.std() == 0 or control.std() == 0:
        r = float("nan")
    else:
        r = float(np.corrcoef(real, control)[0, 1])
    use = control >= 1
    chi2 = float(np.sum((real[use] - control[use]) ** 2 / control[use]))
    total = (real.sum() + control.sum()) / 2.0
    cq = float(np.sqrt(chi2 / (chi2 + total))) if chi2 + total > 0 else float("nan")
    return r, chi2, cq


# ---------------------------------------------------------------- commands


def cmd_classify(a):
    xyz, mq = read_pos(a.pos)
    ranges = read_rrng(a.rrng)
    sa, sb = a.pair.split("-")
    a_pos = xyz[species_mask(mq, ranges, sa)]
    b_pos = xyz[species_mask(mq, ranges, sb)]
    lo, hi = np.array(a.box[:3]), np.array(a.box[3:])
    centres, shape = window_centres(lo, hi, a.edge, a.stride)
    raw, ncentre = zsdm_rows(a_pos, b_pos, centres, a.edge, a.variant)
    rows = preprocess(raw, a.variant)
    prob = predict(a.model, rows)
    cls = a.cls
    sums = subcell_sums(prob[:, cls], shape, int(round(a.edge / a.stride)))
    with np.errstate(invalid="ignore"):
        selected = sums > a.threshold  # NaN > t is False
    mz, my, mx = sums.shape
    jz, jy, jx = np.nonzero(selected)
    sc = np.stack([lo[0] + jx * a.stride + a.stride / 2, lo[1] + jy * a.stride + a.stride / 2,
                   lo[2] + jz * a.stride + a.stride / 2], axis=1)
    radius = a.stride / 2 * 1.414
    picked = np.zeros(len(xyz), bool)
    if len(sc):
        for l in cKDTree(xyz).query_ball_point(sc, radius):
            picked[l] = True
    sel = np.nonzero(picked)[0]  # in input order
    labels = dbscan(xyz[sel], a.eps, a.min_samples)
    domain = np.full(len(xyz), -1, np.int64)
    domain[sel] = labels
    hist = size_histogram(labels, a.bins, a.lo, a.hi)
    with h5py.File(a.out, "w") as f:
        f["raw"] = raw
        f["centres"] = ncentre
        f["rows"] = rows
        f["probability"] = prob.reshape(shape + (prob.shape[1],))
        f["sums"] = sums
        f["selected"] = selected.astype(np.int32)
        f["ion_selected"] = picked.astype(np.int32)
        f["domain"] = domain
        f["size_histogram"] = hist
    print(json.dumps({"windows": int(len(centres)), "empty": int(np.isnan(prob[:, 0]).sum()),
                      "csro_windows": int(np.nansum(prob[:, cls] > 0.5)),
                      "selected_subcells": int(selected.sum()), "selected_ions": int(len(sel)),
                      "domains": int(labels.max() + 1 if len(labels) else 0)}))


def cloud_for_cluster(path, rrng, species):
    xyz, mq = read_pos(path)
    if species:
        ranges = read_rrng(rrng)
        keep = np.zeros(len(xyz), bool)
        for s in species.split(","):
            keep |= species_mask(mq, ranges, s)
        xyz = xyz[keep]
    return xyz


def cmd_cluster(a):
    res = {}
    hists = []
    for key, path in (("real", a.real), ("control", a.control)):
        xyz = cloud_for_cluster(path, a.rrng, a.species)
        labels = dbscan(xyz, a.eps, a.min_samples)
        h = size_histogram(labels, a.bins, a.lo, a.hi)
        hists.append(h)
        res[key] = {"domains": int(labels.max() + 1 if len(labels) and labels.max() >= 0 else 0),
                    "noise_ions": int((labels < 0).sum()), "size_histogram": h.tolist(),
                    "labels": labels.tolist()}
    r, chi2, cq = statistics(hists[0], hists[1])
    res["pearson_r"], res["chi2"], res["contingency"] = r, chi2, cq
    with open(a.out, "w") as f:
        json.dump(res, f)


def cmd_preprocess(a):
    raw = np.fromfile(a.inp, dtype=np.float64).reshape(-1, a.bins)
    out = preprocess(raw, a.variant)
    # The background pieces too, for the test: minimum and sweep count are
    # not needed; the chain's output is what the network sees.
    out.astype(np.float64).tofile(a.out)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("classify")
    c.add_argument("--pos", required=True)
    c.add_argument("--rrng", required=True)
    c.add_argument("--pair", required=True)
    c.add_argument("--box", type=float, nargs=6, required=True)
    c.add_argument("--model", action="append", required=True)
    c.add_argument("--variant", default="cocrni")
    c.add_argument("--edge", type=float, default=1.0)
    c.add_argument("--stride", type=float, default=0.5)
    c.add_argument("--threshold", type=float, default=3.75)
    c.add_argument("--cls", type=int, default=1)
    c.add_argument("--eps", type=float, default=0.4)
    c.add_argument("--min-samples", dest="min_samples", type=int, default=3)
    c.add_argument("--bins", type=int, default=32)
    c.add_argument("--lo", type=float, default=0)
    c.add_argument("--hi", type=float, default=160)
    c.add_argument("--out", required=True)
    c.add_argument("--savgol", default="exact", choices=["exact", "scipy"])
    k = sub.add_parser("cluster")
    k.add_argument("--real", required=True)
    k.add_argument("--control", required=True)
    k.add_argument("--rrng", default="")
    k.add_argument("--species", default="")
    k.add_argument("--eps", type=float, default=0.4)
    k.add_argument("--min-samples", dest="min_samples", type=int, default=3)
    k.add_argument("--bins", type=int, default=32)
    k.add_argument("--lo", type=float, default=0)
    k.add_argument("--hi", type=float, default=160)
    k.add_argument("--out", required=True)
    q = sub.add_parser("preprocess")
    q.add_argument("inp")
    q.add_argument("out")
    q.add_argument("bins", type=int)
    q.add_argument("variant")
    a = p.parse_args()
    global SAVGOL
    SAVGOL = getattr(a, "savgol", "exact")
    {"classify": cmd_classify, "cluster": cmd_cluster, "preprocess": cmd_preprocess}[a.cmd](a)


if __name__ == "__main__":
    main()
