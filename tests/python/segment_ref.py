#!/usr/bin/python3
"""Independent reference for aptflow's segmentation (method.md section 6,
docs/segmentation.md), written from the documented definitions with numpy and
scipy.spatial.cKDTree, not from the C++ code.

  segment_ref.py pipeline DIR   window probabilities + ions -> sub-cell sums,
                                sub-cell labels, ion labels, domains, stats
  segment_ref.py dbscan DIR     labelled ions -> domain id and core flag per ion
  segment_ref.py control DIR    two histograms -> Pearson r, chi2, dof, contingency

DIR holds meta.json and raw little-endian arrays (see each mode); results are
written next to them.
"""
import json
import os
import sys

import numpy as np
from scipy.spatial import cKDTree


def read(d, name, dtype, shape=None):
    a = np.fromfile(os.path.join(d, name), dtype=dtype)
    return a if shape is None else a.reshape(shape)


def subcells(prob, counts, span, thresholds):
    """prob (nz, ny, nx, C); shift-and-add of the window array onto the
    (nz + span - 1, ...) sub-cell grid: window i covers sub-cells i .. i + span - 1."""
    nx, ny, nz = counts
    c = prob.shape[-1]
    p = np.where(np.isnan(prob), 0.0, prob.astype(np.float64))
    s = np.zeros((nz + span - 1, ny + span - 1, nx + span - 1, c))
    for oz in range(span):
        for oy in range(span):
            for ox in range(span):
                s[oz:oz + nz, oy:oy + ny, ox:ox + nx] += p
    label = np.full(s.shape[:3], -1, dtype=np.int32)
    best = np.full(s.shape[:3], -np.inf)
    for k in range(c):
        ok = (s[..., k] > thresholds[k]) & (s[..., k] > best)
        label[ok] = k
        best[ok] = s[..., k][ok]
    return s, label


def label_ions(pos, origin, size, sums, label, radius):
    mz, my, mx = label.shape
    jz, jy, jx = np.nonzero(label >= 0)
    out = np.full(len(pos), -1, dtype=np.int32)
    if len(jz) == 0:
        return out
    cen = np.stack([origin[0] + (jx + 0.5) * size, origin[1] + (jy + 0.5) * size,
                    origin[2] + (jz + 0.5) * size], axis=1)
    cls = label[jz, jy, jx]
    val = sums[jz, jy, jx, cls]
    tree = cKDTree(cen)
    p64 = pos.astype(np.float64)
    for i, cand in enumerate(tree.query_ball_point(p64, radius * (1 + 1e-9) + 1e-12)):
        best, bv = -1, 0.0
        for s in cand:
            d = p64[i] - cen[s]
            if (d[0] * d[0] + d[1] * d[1]) + d[2] * d[2] > radius * radius:
                continue
            c, v = int(cls[s]), float(val[s])
            if best < 0 or v > bv or (v == bv and c < best):
                best, bv = c, v
        out[i] = best
    return out


def dbscan(pos, gid, cls, eps, min_samples):
    """Plain DBSCAN by breadth-first expansion from core seeds; clusters named
    by their smallest core gid, numbered over all classes in name order; a
    border ion joins its neighbouring cluster with the lowest id."""
    n = len(pos)
    p64 = pos.astype(np.float64)
    nbrs = [None] * n
    for c in np.unique(cls):
        idx = np.nonzero(cls == c)[0]
        tree = cKDTree(p64[idx])
        for a, cand in zip(idx, tree.query_ball_point(p64[idx], eps * (1 + 1e-9) + 1e-12)):
            js = idx[np.asarray(cand, dtype=np.int64)]
            d = p64[js] - p64[a]
            keep = (d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]) + d[:, 2] * d[:, 2] <= eps * eps
            nbrs[a] = js[keep]
    core = np.array([len(nbrs[i]) >= min_samples for i in range(n)], dtype=bool)
    comp = np.full(n, -1, dtype=np.int64)
    clusters = []
    for seed in np.nonzero(core)[0][np.argsort(gid[core], kind="stable")]:
        if comp[seed] >= 0:
            continue
        k = len(clusters)
        comp[seed] = k
        stack, members = [seed], [seed]
        while stack:
            a = stack.pop()
            for b in nbrs[a]:
                if core[b] and comp[b] < 0:
                    comp[b] = k
                    stack.append(b)
                    members.append(b)
        clusters.append(min(int(gid[m]) for m in members))
    order = np.argsort(np.array(clusters, dtype=np.int64), kind="stable")
    rank = np.empty(len(clusters), dtype=np.int64)
    rank[order] = np.arange(len(clusters))
    dom = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        if core[i]:
            dom[i] = rank[comp[i]]
    for i in range(n):
        if not core[i]:
            ids = [int(dom[j]) for j in nbrs[i] if core[j]]
            if ids:
                dom[i] = min(ids)
    names = [clusters[k] for k in order]
    return dom, core, names


def stats(pos, cls, dom, core, names, density, efficiency):
    out = []
    p64 = pos.astype(np.float64)
    for d in range(len(names)):
        m = dom == d
        x = p64[m]
        c = x.mean(axis=0)
        y = x - c
        g = y.T @ y / len(x)
        w, v = np.linalg.eigh(g)
        w, v = w[::-1], v[:, ::-1]
        vol = len(x) / (density * efficiency)
        out.append({"id": d, "name": names[d], "cls": int(cls[m][0]), "ions": int(m.sum()),
                    "core_ions": int((m & core).sum()), "volume": vol,
                    "radius": (3 * vol / (4 * np.pi)) ** (1 / 3), "centroid": c.tolist(),
                    "rg": float(np.sqrt(np.trace(g))), "gyration": w.tolist(),
                    "axes": v.T.tolist()})
    return out


def histogram(sizes, bins, lo, hi):
    sizes = np.asarray(sizes, dtype=np.float64)
    h, _ = np.histogram(sizes, bins=bins, range=(lo, hi))
    return h.tolist(), int((sizes < lo).sum()), int((sizes > hi).sum())


def main():
    mode, d = sys.argv[1], sys.argv[2]
    meta = json.load(open(os.path.join(d, "meta.json")))
    if mode == "pipeline":
        counts, span, nc = meta["counts"], meta["span"], meta["classes"]
        prob = read(d, "prob.f32", np.float32, (counts[2], counts[1], counts[0], nc))
        thr = [float(t) for t in meta["thresholds"]]
        sums, label = subcells(prob, counts, span, thr)
        sums.astype(np.float64).tofile(os.path.join(d, "ref_sums.f64"))
        label.astype(np.int32).tofile(os.path.join(d, "ref_sublabel.i32"))
        pos = read(d, "ions.f32", np.float32, (-1, 3))
        il = label_ions(pos, meta["origin"], meta["size"], sums, label, meta["radius"])
        il.tofile(os.path.join(d, "ref_ionlabel.i32"))
        keep = np.nonzero(il >= 0)[0]
        dom_k, core_k, names = dbscan(pos[keep], keep.astype(np.int64), il[keep], meta["eps"],
                                      meta["min_samples"])
        dom = np.full(len(pos), -1, dtype=np.int64)
        dom[keep] = dom_k
        dom.tofile(os.path.join(d, "ref_domain.i64"))
        st = stats(pos[keep], il[keep], dom_k, core_k, names, meta["density"], meta["efficiency"])
        h, under, over = histogram([s["ions"] for s in st], meta["bins"], meta["lo"], meta["hi"])
        json.dump({"domains": st, "histogram": h, "underflow": under, "overflow": over},
                  open(os.path.join(d, "ref_stats.json"), "w"))
    elif mode == "dbscan":
        pos = read(d, "pos.f32", np.float32, (-1, 3))
        gid = read(d, "gid.i64", np.int64)
        cls = read(d, "cls.i32", np.int32)
        dom, core, names = dbscan(pos, gid, cls, meta["eps"], meta["min_samples"])
        dom.astype(np.int64).tofile(os.path.join(d, "ref_domain.i64"))
        core.astype(np.uint8).tofile(os.path.join(d, "ref_core.u8"))
        st = stats(pos, cls, dom, core, names, meta["density"], meta["efficiency"])
        json.dump({"domains": st}, open(os.path.join(d, "ref_stats.json"), "w"))
    elif mode == "control":
        a = read(d, "a.f64", np.float64)
        b = read(d, "b.f64", np.float64)
        r = np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else float("nan")
        t = np.stack([a, b])
        t = t[:, t.sum(axis=0) > 0]
        e = t.sum(axis=1, keepdims=True) * t.sum(axis=0, keepdims=True) / t.sum()
        chi2 = float(((t - e) ** 2 / e).sum())
        json.dump({"pearson_r": float(r), "chi2": chi2, "dof": int(t.shape[1] - 1),
                   "contingency": float(np.sqrt(chi2 / (chi2 + t.sum())))},
                  open(os.path.join(d, "ref_control.json"), "w"))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
