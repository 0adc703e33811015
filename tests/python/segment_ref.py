#!/usr/bin/python3
"""Independent reference for aptflow's segmentation (method.md section 6,
docs/segmentation.md), written from the documented definitions with numpy and
scipy.spatial.cKDTree, not from the C++ code.

  segment_ref.py pipeline DIR   window probabilities + ions -> sub-cell sums,
                                sub-cell labels, ion labels, domains, stats
  segment_ref.py dbscan DIR     labelled ions -> domain id and core flag per ion
  segment_ref.py control DIR    two histograms -> Pearson r, chi2, dof, contingency
  segment_ref.py interpolate DIR  sub-cell sums -> Gaussian-smoothed sums; ions ->
                                local composition counts, evidence, trilinear
                                scores and labels of the interpolated rule

DIR holds meta.json and raw little-endian arrays (see each mode); results are
written next to them.
"""
import json
import os
import sys

import numpy as np
from scipy import ndimage
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


def smooth(sums, sigma, size):
    """sums (mz, my, mx, C). Direct 3D: out = sum_n w(n) in(n) / sum_n w(n)
    over the in-grid sub-cells n within T = ceil(3 sigma / size) per axis,
    w = the product of g(d) = exp(-d^2 / (2 (sigma / size)^2)) over the axes;
    both sums are correlations with the full (2T + 1)^3 kernel, zero outside.
    The 1e-9 only keeps a ratio such as 3 sigma / size = 3 + 4e-16 at T = 3."""
    t = int(np.ceil(3 * sigma / size - 1e-9)) if sigma > 0 else 0
    if t <= 0:
        return sums.copy()
    s = sigma / size
    d = np.arange(-t, t + 1, dtype=np.float64)
    g = np.exp(-d * d / (2 * s * s))
    k = g[:, None, None] * g[None, :, None] * g[None, None, :]
    norm = ndimage.correlate(np.ones(sums.shape[:3]), k, mode="constant", cval=0.0)
    out = np.empty_like(sums)
    for c in range(sums.shape[3]):
        out[..., c] = ndimage.correlate(sums[..., c], k, mode="constant", cval=0.0) / norm
    return out


def composition(pos, species, solute_ids, radius):
    """Per ion: ranged ions (species != 0) and solute ions within radius
    (d2 = (dx^2 + dy^2) + dz^2 in float64 <= radius^2), itself included; an
    ion with a NaN coordinate has none."""
    n = len(pos)
    p64 = pos.astype(np.float64)
    finite = np.all(np.isfinite(p64), axis=1)
    ranged_idx = np.nonzero((species != 0) & finite)[0]
    is_sol = np.isin(species, np.asarray(solute_ids, dtype=np.int64))
    ranged = np.zeros(n, dtype=np.int32)
    sol = np.zeros(n, dtype=np.int32)
    if len(ranged_idx) == 0:
        return ranged, sol
    tree = cKDTree(p64[ranged_idx])
    q = np.nonzero(finite)[0]
    for i, cand in zip(q, tree.query_ball_point(p64[q], radius * (1 + 1e-9))):
        js = ranged_idx[np.asarray(cand, dtype=np.int64)]
        d = p64[js] - p64[i]
        keep = js[(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]) + d[:, 2] * d[:, 2] <= radius * radius]
        ranged[i] = len(keep)
        sol[i] = int(is_sol[keep].sum())
    return ranged, sol


def interpolate(field, pos, origin, size):
    """Trilinear interpolation of field (mz, my, mx, C) at the sub-cell index
    coordinates (p - origin) / size - 0.5, beyond the grid the border value
    (map_coordinates order 1, mode nearest); NaN rows for NaN positions."""
    p64 = pos.astype(np.float64)
    finite = np.all(np.isfinite(p64), axis=1)
    u = np.zeros((3, len(pos)))
    for a in range(3):
        u[2 - a] = np.where(finite, (p64[:, a] - origin[a]) / size - 0.5, 0.0)
    out = np.full((len(pos), field.shape[3]), np.nan)
    for c in range(field.shape[3]):
        out[finite, c] = ndimage.map_coordinates(field[..., c], u[:, finite], order=1, mode="nearest")
    return out


def z_layers(pos, origin, size, mz):
    """The two sub-cell layers (j, j + 1; j alone when mz = 1) whose centres
    bracket each ion along z; -1 for a NaN position."""
    z = pos[:, 2].astype(np.float64)
    out = np.full((len(pos), 2), -1, dtype=np.int64)
    ok = np.isfinite(pos.astype(np.float64)).all(axis=1)
    u = np.clip((z[ok] - origin[2]) / size - 0.5, 0, mz - 1)
    j = np.minimum(np.floor(u), max(mz - 2, 0)).astype(np.int64)
    out[ok, 0] = j
    out[ok, 1] = j + 1 if mz > 1 else j
    return out


def label_scores(score, thresholds):
    lab = np.full(len(score), -1, dtype=np.int32)
    for i in range(len(score)):
        best, bv = -1, 0.0
        for c in range(score.shape[1]):
            v = score[i, c]
            if np.isnan(v):
                best = -1
                break
            if v > thresholds[c] and (best < 0 or v > bv):
                best, bv = c, v
        lab[i] = best
    return lab


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
    elif mode == "interpolate":
        mx, my, mz = meta["counts"]
        nc = meta["classes"]
        sums = read(d, "sums.f64", np.float64, (mz, my, mx, nc))
        fields = []
        for k, sigma in enumerate(meta["sigmas"]):
            fields.append(smooth(sums, float(sigma), float(meta["size"])))
            fields[-1].tofile(os.path.join(d, "ref_smooth%d.f64" % k))
        if meta.get("ions", False):
            pos = read(d, "ions.f32", np.float32, (-1, 3))
            species = read(d, "species.u16", np.uint16).astype(np.int64)
            ranged, sol = composition(pos, species, meta["solute"], float(meta["radius"]))
            ranged.tofile(os.path.join(d, "ref_ranged.i32"))
            sol.tofile(os.path.join(d, "ref_solute.i32"))
            is_sol = np.isin(species, np.asarray(meta["solute"], dtype=np.int64))
            frac = np.where(ranged > 0, sol / np.maximum(ranged, 1) - float(meta["f"]), 0.0)
            ev = float(meta["weight"]) * frac + float(meta["ion_weight"]) * is_sol
            ev.astype(np.float64).tofile(os.path.join(d, "ref_evidence.f64"))
            score = interpolate(fields[meta["label_field"]], pos, meta["origin"], float(meta["size"]))
            if meta["evidence_class"] >= 0:
                score[:, meta["evidence_class"]] += ev
            score.tofile(os.path.join(d, "ref_score.f64"))
            z_layers(pos, meta["origin"], float(meta["size"]), mz).tofile(os.path.join(d, "ref_zlayers.i64"))
            for k, thr in enumerate(meta["thresholds"]):
                label_scores(score, [float(t) for t in thr]).tofile(os.path.join(d, "ref_label%d.i32" % k))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
