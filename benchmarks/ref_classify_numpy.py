#!/usr/bin/python3
"""Python reference of the `aptflow classify` window stage, in the style of the
published ML-APT code: numpy + scipy cKDTree z-SDMs, numpy preprocessing and a
numpy forward pass of the CNN, on a subset of the windows of an aptflow result.

Everything is read from the files, nothing is hard-coded per model/config:
- /entry1/config of the result (the effective TOML of the run): input, range,
  model (one file or a list = ensemble mean), pair (a string or a list: one input channel per pair);
- /entry1/windows/probability: grid shape (nz, ny, nx, classes) and attrs
  variant, edge, stride, origin (lower corner of window 0);
- the model file(s): architecture, weights, features (preprocessing, variant).
Relative paths of the config are resolved against --base (the directory the
run was started in).

Conventions (docs/sdm.md, docs/classify.md, kernels windows.hpp), so that the
integer z-SDM counts are exactly aptflow's:
- window (ix, iy, iz) centre c = float32(origin + edge / 2 + i * stride),
  numbered w = (iz * ny + iy) * nx + ix;
- feal: centre ions = A ions with |p - c| <= edge / 2; neighbours = all B ions
  within r_cut of a centre. cocrni: centre ions = A ions and neighbour ions =
  B ions with |p - c| <= 1.5 * edge / 2, pairs within r_cut;
- every distance test in float32: d = p - q, r2 = (dx*dx + dy*dy) + dz*dz,
  inside iff r2 <= float32(R) * float32(R); tree queries use R * (1 + 1e-4)
  and this exact test decides;
- self pairs excluded by ion index; bins floor((d - lo) / w) in float32 with
  lo = -1.5, w = 0.015 (SdmSpec::z(), which classify uses), the dx bin must lie
  in [0, 200), the dz bin in the 93-bin crop 54..146;
- a window with no centre ion is empty: NaN probabilities.
Preprocessing as the first model's features say: minmax_only (per row, in
double, constant rows -> NaN) or experimental (tests/python/preprocess_ref.py:
min-max, Savitzky-Golay 15/8, background clipping with the window of the
model's variant, min-max). Forward pass: numpy float32, channels last (Keras
layout, docs/models.md), Conv1D/MaxPooling1D (valid or same), Flatten, Dense,
Dropout (identity), Activation.

Output: one JSON line on stdout (timings, subset, agreement); with --check the
exit code is 1 when the reference and aptflow disagree (max |diff| > --tol or
a different set of empty windows).
"""
import argparse
import json
import os
import sys
import time
import tomllib

import h5py
import numpy as np
from scipy import spatial

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

# SdmSpec::z() (docs/sdm.md): the z-SDM classify computes.
R_CUT, RANGE, BIN = 1.5, 1.5, 0.015
N_BINS = int(round(2 * RANGE / BIN))
_edges = -RANGE + np.arange(N_BINS) * BIN
CROP = np.nonzero((_edges >= -0.7 - 1e-9) & (_edges < 0.7 - 1e-9))[0]
CROP_FIRST, CROP_COUNT = int(CROP[0]), len(CROP)  # 54, 93


# ----------------------------------------------------------------- inputs
def read_pos(path):
    a = np.fromfile(path, dtype=">f4")
    if a.size % 4:
        sys.exit(f"{path}: {a.size * 4} bytes is not a multiple of 16 (POS records x, y, z, m/q): "
                 "give a POS file")
    a = a.reshape(-1, 4).astype(np.float32)
    return np.ascontiguousarray(a[:, :3]), np.ascontiguousarray(a[:, 3])


def read_rrng(path):
    """Ranges (lo, hi, ion name) of an RRNG file; name = Name: field, else the
    element composition (Al, AlH2, ...)."""
    ranges, section = [], None
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            s = line.strip()
            if not s or s[0] in ";#":
                continue
            if s.startswith("["):
                section = s.lower()
                continue
            if section != "[ranges]" or not s.lower().startswith("range"):
                continue
            parts = s.split("=", 1)[1].replace(",", ".").split()
            lo, hi = float(parts[0]), float(parts[1])
            name, comp = None, []
            for field in parts[2:]:
                k, _, v = field.partition(":")
                if k.lower() == "name":
                    name = v
                elif k.lower() not in ("vol", "color") and v and float(v) != 0:
                    comp.append(k + ("" if int(float(v)) == 1 else str(int(float(v)))))
            ranges.append((lo, hi, name or "".join(comp)))
    return ranges


def species_mask(mq, ranges, name, path):
    """Ions whose m/q lies in a range [lo, hi) of ion type name (compared in double)."""
    m = mq.astype(np.float64)
    sel = np.zeros(len(mq), dtype=bool)
    found = False
    for lo, hi, n in ranges:
        if n == name:
            sel |= (m >= lo) & (m < hi)
            found = True
    if not found:
        sys.exit(f"{path}: no range of ion type '{name}' (have {sorted({r[2] for r in ranges})}): "
                 "fix pair in the config")
    return sel


# ----------------------------------------------------------------- model
def _text(v):
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0]
    return v.decode() if isinstance(v, (bytes, np.bytes_)) else str(v)


def load_model(path):
    """Layers [(class, config, kernel, bias)], input shape, features dict."""
    with h5py.File(path, "r") as f:
        if "model_config" in f.attrs:  # Keras 2.x Sequential
            cfg = json.loads(_text(f.attrs["model_config"]))
            layers, in_shape = [], None
            for lay in cfg["config"]["layers"] if isinstance(cfg["config"], dict) else cfg["config"]:
                c, lc = lay["class_name"], lay["config"]
                if in_shape is None and "batch_input_shape" in lc:
                    in_shape = list(lc["batch_input_shape"][1:])
                if c == "InputLayer":
                    continue
                if c == "ReLU":
                    c, lc = "Activation", {"activation": "relu"}
                if c == "Softmax":
                    c, lc = "Activation", {"activation": "softmax"}
                c = c.replace("MaxPool1D", "MaxPooling1D")
                g = f["model_weights"].get(lc["name"])
                kernel = bias = None
                if g is not None and "weight_names" in g.attrs:
                    for wn in g.attrs["weight_names"]:
                        wn = _text(wn)
                        if "kernel" in wn:
                            kernel = np.asarray(g[wn], dtype=np.float32)
                        elif "bias" in wn:
                            bias = np.asarray(g[wn], dtype=np.float32)
                layers.append((c, lc, kernel, bias))
            features = {"preprocessing": "minmax_only", "normalisation": "minmax", "variant": "cocrni"}
            return layers, in_shape, features
        arch = json.loads(_text(f["/model/architecture"][()]))
        features = json.loads(_text(f["/model/features"][()]))
        layers = []
        for e in arch["layers"]:
            w = f"/model/weights/{e['name']}"
            kernel = np.asarray(f[w + "/kernel"], dtype=np.float32) if w + "/kernel" in f else None
            bias = np.asarray(f[w + "/bias"], dtype=np.float32) if w + "/bias" in f else None
            layers.append((e["class"], e.get("config", {}), kernel, bias))
        return layers, list(arch["input_shape"]), features


def _act(x, name):
    if name in (None, "linear"):
        return x
    if name == "relu":
        return np.maximum(x, np.float32(0))
    if name == "sigmoid":
        return np.float32(1) / (np.float32(1) + np.exp(-x))
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    sys.exit(f"activation '{name}' is not implemented in ref_classify_numpy.py; extend it")


def _pad_same(x, k, s, fill):
    n = x.shape[1]
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return np.pad(x, ((0, 0), (total // 2, total - total // 2), (0, 0)), constant_values=fill)


def forward(layers, x):
    """numpy float32 forward pass; x (batch, steps, channels) channels last."""
    for cls, cfg, kernel, bias in layers:
        if cls == "Conv1D":
            k, s = int(np.ravel(cfg["kernel_size"])[0]), int(np.ravel(cfg.get("strides", [1]))[0])
            if cfg.get("padding", "valid") == "same":
                x = _pad_same(x, k, s, 0)
            win = np.lib.stride_tricks.sliding_window_view(x, k, axis=1)[:, ::s]  # (b, out, cin, k)
            b, lo = win.shape[0], win.shape[1]
            cols = np.ascontiguousarray(win.transpose(0, 1, 3, 2)).reshape(b * lo, -1)  # (k, cin) order
            y = cols @ kernel.reshape(-1, kernel.shape[-1])
            if bias is not None:
                y += bias
            x = _act(y.reshape(b, lo, -1), cfg.get("activation", "linear"))
        elif cls == "MaxPooling1D":
            p = int(np.ravel(cfg["pool_size"])[0])
            s = int(np.ravel(cfg.get("strides") or [p])[0])
            if cfg.get("padding", "valid") == "same":
                x = _pad_same(x, p, s, -np.inf)
            x = np.lib.stride_tricks.sliding_window_view(x, p, axis=1)[:, ::s].max(axis=-1)
        elif cls == "Flatten":
            x = x.reshape(x.shape[0], -1)
        elif cls == "Dense":
            x = x @ kernel
            if bias is not None:
                x += bias
            x = _act(x, cfg.get("activation", "linear"))
        elif cls == "Activation":
            x = _act(x, cfg.get("activation", "linear"))
        elif cls == "Dropout":
            pass
        else:
            sys.exit(f"layer class {cls} is not implemented in ref_classify_numpy.py (z-SDM 1D CNNs); "
                     "extend it")
    return x


# ----------------------------------------------------------------- preprocessing
def preprocess(rows, features):
    """rows: float64 (n, 93), NaN rows = empty windows."""
    if features.get("normalisation", "minmax") == "none":
        return rows
    mode = features.get("preprocessing", "minmax_only")
    out = np.full_like(rows, np.nan)
    if mode == "minmax_only":
        lo, hi = rows.min(axis=1, keepdims=True), rows.max(axis=1, keepdims=True)
        ok = np.isfinite(lo[:, 0]) & (hi[:, 0] > lo[:, 0])
        out[ok] = (rows[ok] - lo[ok]) / (hi[ok] - lo[ok])
        return out
    if mode == "experimental":
        import preprocess_ref  # tests/python: numpy/scipy reference of the published chain
        lo, hi = (37, 53) if features.get("variant", "cocrni") == "feal" else (23, 69)
        centre = rows.shape[1] // 2
        with np.errstate(invalid="ignore"):
            for r in range(len(rows)):
                out[r] = preprocess_ref.preprocess(rows[r], lo, hi, centre, 1000, 15, 8, "nan")[0]
        return out
    sys.exit(f"model preprocessing '{mode}' is not implemented in ref_classify_numpy.py; extend it")


# ----------------------------------------------------------------- windows
class WindowSdm:
    def __init__(self, xyz, sel_a, sel_b, variant, edge):
        f32 = np.float32
        self.ia, self.ib = np.nonzero(sel_a)[0], np.nonzero(sel_b)[0]
        self.pa, self.pb = xyz[self.ia], xyz[self.ib]
        same = np.array_equal(self.ia, self.ib)
        self.tree_a = spatial.cKDTree(self.pa.astype(np.float64))
        self.tree_b = self.tree_a if same else spatial.cKDTree(self.pb.astype(np.float64))
        self.variant = variant
        self.ra = f32(edge / 2) if variant == "feal" else f32(1.5 * edge / 2)
        self.rb = self.ra
        self.rc, self.lo, self.w = f32(R_CUT), f32(-RANGE), f32(BIN)

    @staticmethod
    def _ball(tree, pts, c, r):
        """Indices into pts with |p - c| <= r, the float32 test deciding."""
        cand = np.asarray(tree.query_ball_point(c.astype(np.float64), float(r) * (1 + 1e-4)), dtype=np.int64)
        if len(cand):
            d = pts[cand] - c
            cand = cand[d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2] <= r * r]
        return cand

    def __call__(self, c):
        """z-SDM counts (93,) int64 and the number of centre ions of the window centred at c (float32)."""
        ca = self._ball(self.tree_a, self.pa, c, self.ra)
        if len(ca) == 0:
            return None, 0
        centres = self.pa[ca]
        if self.variant == "cocrni":
            cb = self._ball(self.tree_b, self.pb, c, self.rb)
            d = self.pb[cb][None, :, :] - centres[:, None, :]  # (centres, neighbours, 3)
            same = self.ib[cb][None, :] == self.ia[ca][:, None]
            d, same = d.reshape(-1, 3), same.reshape(-1)
        else:  # feal: neighbours from the whole dataset
            lists = self.tree_b.query_ball_point(centres.astype(np.float64), float(self.rc) * (1 + 1e-4))
            lens = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
            nbr = np.concatenate([np.asarray(x, dtype=np.int64) for x in lists])
            ctr = np.repeat(np.arange(len(ca)), lens)
            d = self.pb[nbr] - centres[ctr]
            same = self.ib[nbr] == self.ia[ca][ctr]
        dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
        r2 = dx * dx + dy * dy + dz * dz
        keep = (r2 <= self.rc * self.rc) & ~((r2 == 0) & same)
        kz = np.floor((dz[keep] - self.lo) / self.w)
        kx = np.floor((dx[keep] - self.lo) / self.w)
        sel = (kx >= 0) & (kx < N_BINS) & (kz >= CROP_FIRST) & (kz < CROP_FIRST + CROP_COUNT)
        return np.bincount(kz[sel].astype(np.int64) - CROP_FIRST, minlength=CROP_COUNT)[:CROP_COUNT], len(ca)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--result", required=True, help="aptflow classify result HDF5")
    ap.add_argument("--base", default=".", help="directory the relative paths of /entry1/config refer to")
    ap.add_argument("--subset", type=int, default=2000, help="windows to compute (non-empty, spread)")
    ap.add_argument("--tol", type=float, default=1e-3, help="max |p_ref - p_aptflow| allowed")
    ap.add_argument("--check", action="store_true", help="exit 1 when the probabilities disagree")
    args = ap.parse_args()

    def path(p):
        return p if os.path.isabs(p) else os.path.join(args.base, p)

    with h5py.File(args.result, "r") as f:
        cfg = tomllib.loads(_text(f["/entry1/config"][()]))
        pds = f["/entry1/windows/probability"]
        prob = np.asarray(pds, dtype=np.float32)
        variant, edge, stride = _text(pds.attrs["variant"]), float(pds.attrs["edge"]), float(pds.attrs["stride"])
        origin = np.asarray(pds.attrs["origin"], dtype=np.float64)
    nz, ny, nx, ncls = prob.shape
    prob = prob.reshape(-1, ncls)
    models = cfg["model"] if isinstance(cfg["model"], list) else [cfg["model"]]
    pairs = cfg.get("pair", "Al-Al")
    pairs = [pairs] if isinstance(pairs, str) else list(pairs)  # one input channel per pair
    names = [pr.split("-", 1) for pr in pairs]

    # subset: non-empty windows of the aptflow result, evenly spread over the grid order
    finite = np.nonzero(np.all(np.isfinite(prob), axis=1))[0]
    pick = np.unique(finite[np.round(np.linspace(0, len(finite) - 1, min(args.subset, len(finite)))).astype(np.int64)])

    t0 = time.perf_counter()
    xyz, mq = read_pos(path(cfg["input"]))
    ranges = read_rrng(path(cfg["range"]))
    sels = [(species_mask(mq, ranges, a, cfg["range"]), species_mask(mq, ranges, b, cfg["range"])) for a, b in names]
    t_read = time.perf_counter() - t0
    loaded = [load_model(path(m)) for m in models]
    features = loaded[0][2]

    t0 = time.perf_counter()
    sdms = [WindowSdm(xyz, sa, sb, variant, edge) for sa, sb in sels]
    t_tree = time.perf_counter() - t0

    C = len(pairs)
    rows = np.full((C, len(pick), CROP_COUNT), np.nan)
    ncentres = np.zeros(len(pick), dtype=np.int64)  # of the first pair
    t0, c0 = time.perf_counter(), time.process_time()
    for r, w in enumerate(pick):
        ix, iy, iz = w % nx, (w // nx) % ny, w // (nx * ny)
        c = np.array([origin[0] + 0.5 * edge + ix * stride, origin[1] + 0.5 * edge + iy * stride,
                      origin[2] + 0.5 * edge + iz * stride], dtype=np.float64).astype(np.float32)
        for ch, sdm in enumerate(sdms):
            h, n = sdm(c)
            if ch == 0:
                ncentres[r] = n
            if n:
                rows[ch, r] = h.astype(np.float32)
    t_sdm, c_sdm = time.perf_counter() - t0, time.process_time() - c0
    c_all0 = c0

    t0 = time.perf_counter()
    # (windows, bins, channels): channels last, each channel min-max normalised on its own
    x = np.stack([preprocess(rows[ch], features) for ch in range(C)], axis=-1).astype(np.float32)
    x = x.reshape(len(pick), -1)
    t_pre = time.perf_counter() - t0

    t0 = time.perf_counter()
    ok = np.all(np.isfinite(x), axis=1)
    ref = np.full((len(pick), ncls), np.nan, dtype=np.float32)
    if ok.any():
        acc = np.zeros((int(ok.sum()), ncls), dtype=np.float32)
        for layers, in_shape, _ in loaded:
            xin = x[ok].reshape(-1, CROP_COUNT) if len(in_shape) == 1 else x[ok].reshape(-1, CROP_COUNT, C)
            acc += forward(layers, xin).reshape(-1, ncls)
        ref[ok] = acc / np.float32(len(loaded))
    t_fwd = time.perf_counter() - t0
    c_loop = time.process_time() - c_all0  # z-SDMs + preprocessing + forward, process CPU time

    apt = prob[pick]
    both = np.isfinite(ref).all(axis=1) & np.isfinite(apt).all(axis=1)
    nan_mismatch = int(np.sum(np.isfinite(ref).all(axis=1) != np.isfinite(apt).all(axis=1)))
    max_diff = float(np.max(np.abs(ref[both] - apt[both]))) if both.any() else 0.0
    n = max(1, len(pick))
    loop = t_sdm + t_pre + t_fwd
    res = {"windows_total": int(prob.shape[0]), "windows_nonempty": int(len(finite)), "subset": int(len(pick)),
           "subset_empty_in_ref": int(np.sum(ncentres == 0)), "variant": variant, "edge": edge, "stride": stride,
           "pair": ", ".join(pairs), "models": models, "preprocessing": features.get("preprocessing"),
           "ions": int(len(xyz)), "read_s": t_read, "tree_s": t_tree, "sdm_s": t_sdm, "sdm_cpu_s": c_sdm,
           "preprocess_s": t_pre, "forward_s": t_fwd, "s_per_window": loop / n, "cpu_s": c_loop, "cpu_s_per_window": c_loop / n,
           "sdm_s_per_window": t_sdm / n, "max_abs_diff": max_diff, "nan_mismatch": nan_mismatch,
           "compared": int(both.sum()), "tol": args.tol,
           "agree": bool(max_diff <= args.tol and nan_mismatch == 0 and both.sum() > 0)}
    print(json.dumps(res))
    if args.check and not res["agree"]:
        print(f"ref_classify_numpy: reference and aptflow disagree on {args.result}: max |diff| {max_diff:.3g} "
              f"(tol {args.tol}), {nan_mismatch} windows empty in only one of them", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
