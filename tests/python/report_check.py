#!/usr/bin/python3
"""Independent checks of `aptflow report` pages and XDMF sidecars.

Used by tests/unit/test_report.cpp, test_report_render.cpp and test_xdmf.cpp.
Reads the HDF5 files with h5py and recomputes every plotted number with
numpy (histograms, slices, means), then compares with the values the SVG
figures record (data-count, data-v, data-y attributes; see
include/aptflow/report/svg.hpp) and with the HTML tables.

  report_check.py classify DIR RESULT.h5   (optional groups: checked, or the page must name them absent)
  report_check.py archive DIR INDEX.h5
  report_check.py render DIR SCREENSHOT.png     (exit 77 when chromium is absent)
  report_check.py xdmf FILE.xdmf RESULT.h5
Several checks in one run: separate them with "--". Prints OK per check and
exits 0, or prints FAIL: reason and exits 1.
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import h5py
import numpy as np

SVG = "{http://www.w3.org/2000/svg}"


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def need(cond, msg):
    if not cond:
        fail(msg)


class Page(HTMLParser):
    """img sources, tables by id (rows of cell texts), .missing notes, scripts."""

    def __init__(self):
        super().__init__()
        self.imgs, self.tables, self.missing, self.external = [], {}, [], []
        self._table = None
        self._row = None
        self._cell = None
        self._missing = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag in ("script", "link", "iframe", "object"):
            self.external.append(tag)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id", f"table{len(self.tables)}"), [])
        if tag == "tr" and self._table is not None:
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._cell = ""
        if tag == "p" and a.get("class") == "missing":
            self._missing = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        if tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        if tag == "table":
            self._table = None
        if tag == "p" and self._missing is not None:
            self.missing.append(self._missing)
            self._missing = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._missing is not None:
            self._missing += data


def check_page(d):
    """index.html: every figure a relative, existing, well-formed SVG; no external resources."""
    path = os.path.join(d, "index.html")
    need(os.path.isfile(path), f"{path} missing")
    p = Page()
    with open(path, encoding="utf-8") as f:
        p.feed(f.read())
    need(not p.external, f"index.html must be self-contained, found {p.external}")
    need(len(p.imgs) == len(set(p.imgs)), "a figure is referenced twice")
    for src in p.imgs:
        need(not os.path.isabs(src) and "://" not in src, f"img src {src} is not relative")
        svg = os.path.join(d, src)
        need(os.path.isfile(svg), f"figure {src} missing")
        try:
            root = ET.parse(svg).getroot()
        except ET.ParseError as e:
            fail(f"{src} is not well-formed XML: {e}")
        need(root.tag == SVG + "svg", f"{src}: root is {root.tag}")
        need(float(root.get("width")) > 0 and float(root.get("height")) > 0, f"{src}: no size")
    on_disk = {f for f in os.listdir(d) if f.endswith(".svg")}
    need(on_disk == set(p.imgs), f"SVG files {sorted(on_disk)} != page figures {sorted(p.imgs)}")
    return p


def groups(svg, cls):
    root = ET.parse(svg).getroot()
    return [g for g in root.iter(SVG + "g") if g.get("class") == cls]


def bar_counts(svg):
    return [[float(r.get("data-count")) for r in g.iter(SVG + "rect")] for g in groups(svg, "bars")]


def line_values(svg):
    out = []
    for g in groups(svg, "line"):
        out.append([float(v) if v else math.nan for v in g.get("data-y").split(",")])
    return out


def heat_values(svg):
    (g,) = groups(svg, "heatmap")
    return np.array([float(r.get("data-v")) if r.get("data-v") else np.nan for r in g.iter(SVG + "rect")])


def close(a, b, rtol=1e-5, atol=1e-9):
    # The SVG records values with 6 significant digits.
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def short(v):
    return f"{v:.4g}"


def check_classify(d, h5):
    p = check_page(d)
    f = h5py.File(h5, "r")
    prob = f["entry1/windows/probability"]
    pr = prob[...]
    nz, ny, nx, nc = pr.shape
    names = [s.decode() if isinstance(s, bytes) else s for s in prob.attrs["class_names"]]
    summary = dict((r[0], r[1]) for r in p.tables["summary"])
    nonempty = int(np.sum(~np.isnan(pr[..., 0])))
    need(f"{nz} x {ny} x {nx}" in summary["windows"], f"windows row {summary['windows']}")
    need(f"{nonempty:,} non-empty" in summary["windows"], f"non-empty count: {summary['windows']} vs {nonempty}")
    # Matrix classes: thresholds inf in the config (class 0 when absent).
    cfg = f["entry1/config"][0]
    cfg = cfg.decode() if isinstance(cfg, bytes) else cfg
    matrix = [0]
    if "thresholds" in cfg:
        th = cfg.split("thresholds")[1].split("[")[1].split("]")[0].split(",")
        matrix = [i for i, t in enumerate(th) if t.strip() == "inf"]
    stride = float(prob.attrs["stride"])
    for c in range(nc):
        safe = "".join(ch if ch.isalnum() else "_" for ch in names[c])
        xz = os.path.join(d, f"prob_{c}_{safe}_xz.svg")
        if c in matrix:
            need(not os.path.exists(xz), f"matrix class {names[c]} should have no slice")
            continue
        ref = pr[:, ny // 2, :, c].reshape(-1)
        need(close(heat_values(xz), ref, rtol=1e-5), f"xz slice of {names[c]} differs from the file")
        zs = sorted(set(min(nz - 1, nz * k // 4) for k in (1, 2, 3)))
        for k, z in enumerate(zs):
            xy = os.path.join(d, f"prob_{c}_{safe}_xy{k}.svg")
            need(close(heat_values(xy), pr[z, :, :, c].reshape(-1), rtol=1e-5), f"xy slice z={z} of {names[c]}")
    # Domain histograms (32 bins over 0-160 ions; radius 30 bins over 0 .. ceil(2 max) / 2).
    ions = f["entry1/domains/ions"][:]
    dcls = f["entry1/domains/class"][:]
    rad = f["entry1/domains/radius"][:]
    classes = sorted(set(dcls.tolist()))
    if len(ions) == 0:
        classes = []
        need(not os.path.exists(os.path.join(d, "domain_sizes.svg")), "size histogram without domains")
    got = [] if not classes else bar_counts(os.path.join(d, "domain_sizes.svg"))
    need(len(got) == len(classes), f"domain size series {len(got)} != classes {classes}")
    for series, c in zip(got, classes):
        ref, _ = np.histogram(ions[dcls == c], bins=32, range=(0, 160))
        need(close(series, ref), f"domain size histogram of class {c}: {series} vs {ref.tolist()}")
    rmax = max(0.5, math.ceil(rad.max() * 2.0 + 1e-9) / 2.0) if len(rad) else 0.5
    for series, c in zip(bar_counts(os.path.join(d, "domain_radius.svg")) if classes else [], classes):
        ref, _ = np.histogram(rad[dcls == c], bins=30, range=(0, rmax))
        need(close(series, ref), f"radius histogram of class {c}")
    notes = " ".join(p.missing)

    def absent(group, what):
        if group in f:
            need(what not in notes, f"page says '{what}' although {group} exists")
            return False
        need(what in notes, f"page should say '{what}', notes: {notes}")
        return True

    # Mean SDM per class (classes with windows only).
    if not absent("entry1/windows/mean_sdm", "Mean SDM per class: not in this file"):
        check_mean_sdm(d, f)
    if not absent("entry1/control/size_histogram", "Shuffled-m/q control: not in this file"):
        check_control(d, f, p)
    if not absent("entry1/truth", "Ground truth: not in this file"):
        check_truth(d, f, p)
    print("OK")


def check_mean_sdm(d, f):
    ds = f["entry1/windows/mean_sdm"]
    m = ds[:]
    cnt = f["entry1/windows/mean_sdm_count"][:]
    if m.ndim == 2:  # one species pair: mean_sdm.svg
        figs = [("mean_sdm.svg", m)]
    else:  # (classes, pairs, bins): one figure per pair, named after it
        pairs = [s.strip() for s in str(ds.attrs["pair"]).split(",")]
        need(len(pairs) == m.shape[1], f"pair attribute {pairs} vs mean_sdm shape {m.shape}")
        figs = [("mean_sdm_" + "".join(ch if ch.isalnum() else "_" for ch in pr) + ".svg", m[:, k])
                for k, pr in enumerate(pairs)]
    for name, mm in figs:
        lines = line_values(os.path.join(d, name))
        ref = [mm[c] for c in range(mm.shape[0]) if cnt[c] > 0]
        need(len(lines) == len(ref) and all(close(a, b) for a, b in zip(lines, ref)), f"mean SDM lines of {name}")


def check_control(d, f, p):
    # Control: bars = real run, dashed line = mean of the shuffled runs.
    h = f["entry1/control/size_histogram"][:]
    if h.shape[0] < 2:  # the real run only: no control figure
        need(not os.path.exists(os.path.join(d, "control_sizes.svg")), "control figure without shuffled runs")
        return
    need(close(bar_counts(os.path.join(d, "control_sizes.svg"))[0], h[0]), "control: real histogram")
    need(close(line_values(os.path.join(d, "control_sizes.svg"))[0], h[1:].mean(axis=0)), "control: mean")
    ctl = dict((r[0], r[1]) for r in p.tables["control"][1:])
    need(ctl["pearson_r"] == short(f["entry1/control/pearson_r"][0]), f"pearson_r {ctl}")
    need(ctl["contingency"] == ", ".join(short(v) for v in f["entry1/control/contingency"][:]), f"contingency {ctl}")


def check_truth(d, f, p):
    # Truth: score table, bars and domain counts.
    t = f["entry1/truth"]
    tn = [s.decode() if isinstance(s, bytes) else s for s in t["class_names"][:]]
    rows = p.tables["truth_scores"][1:]
    need([r[0] for r in rows] == tn, f"truth classes {rows}")
    for i, r in enumerate(rows):
        need(r[1:] == [short(t[k][i]) for k in ("precision", "recall", "f1")], f"truth row {r}")
    bars = bar_counts(os.path.join(d, "truth_scores.svg"))
    need(len(bars) == 3 and all(close(a, t[k][:]) for a, k in zip(bars, ("precision", "recall", "f1"))), "truth bars")
    dom = dict((r[0], r[1]) for r in p.tables["truth_domains"][1:])
    need(dom["true domains"] == f"{int(np.ravel(t['true_domains'][()])[0]):,}", f"true domains {dom}")
    need(dom["matched domains"] == f"{int(np.ravel(t['matched_domains'][()])[0]):,}", f"matched {dom}")
    need(dom["radius error (nm)"] == short(float(np.ravel(t["radius_error"][()])[0])), f"radius error {dom}")


def check_archive(d, h5):
    p = check_page(d)
    f = h5py.File(h5, "r")
    s = lambda ds: [v.decode() if isinstance(v, bytes) else v for v in ds[:]]
    paths, status, error = s(f["datasets/path"]), s(f["datasets/status"]), s(f["datasets/error"])
    cl = f["cluster"][:]
    tsne = f["embedding/tsne"][:]
    finite = np.all(np.isfinite(tsne), axis=1)

    def circles(name):
        root = ET.parse(os.path.join(d, name)).getroot()
        return sorted(int(c.get("data-c")) for c in root.iter(SVG + "circle") if c.get("data-c") is not None)

    need(circles("tsne_cluster.svg") == sorted(cl[finite].tolist()), "t-SNE by cluster: point classes")
    need(circles("pca.svg") == sorted(cl[np.all(np.isfinite(f["embedding/pca"][:, :2]), axis=1)].tolist()), "PCA")
    for col in f["datasets/metadata"]:
        vals = s(f["datasets/metadata/" + col])
        freq = {}
        for v in vals:
            freq[v] = freq.get(v, 0) + 1
        top = [v for v, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0])) if v][:8]
        ref = sorted(top.index(v) if v in top else -1 for v, ok in zip(vals, finite) if ok)
        need(circles(f"tsne_{col}.svg") == ref, f"t-SNE by {col}: categories")
        legend = "".join(t.text or "" for t in ET.parse(os.path.join(d, f"tsne_{col}.svg")).getroot().iter(SVG + "text"))
        for v in top:
            need(v in legend, f"legend of {col} lacks {v}")
    # Mean spectrum per cluster (the file's float32 rows averaged in double).
    spec = f["spectra"][:].astype(np.float64)
    k = int(cl.max()) + 1
    lines = line_values(os.path.join(d, "spectra_cluster.svg"))
    ref = [spec[cl == c].mean(axis=0) for c in range(k) if np.any(cl == c)]
    need(len(lines) == len(ref) and all(close(a, b, rtol=1e-5) for a, b in zip(lines, ref)), "mean spectra")
    hyd = f["datasets/hydrogen"][:]
    need(circles("hydrogen_cluster.svg") == sorted(cl[(cl >= 0) & np.isfinite(hyd)].tolist()), "hydrogen points")
    hrows = p.tables["hydrogen"][1:]
    for c in range(k):
        need(hrows[c][2] == short(hyd[(cl == c) & np.isfinite(hyd)].mean()), f"mean hydrogen {hrows[c]}")
    failed = [[a, b, e] for a, b, e in zip(paths, status, error) if e or b.lower().startswith(("fail", "error"))]
    got = p.tables.get("failed", [[]])[1:]
    need(got == failed, f"failed table {got} vs {failed}")
    pca_label = "".join(t.text or "" for t in ET.parse(os.path.join(d, "pca.svg")).getroot().iter(SVG + "text"))
    evr = f["embedding/explained_variance_ratio"][:]
    need(f"PC2 ({100 * evr[1]:.1f} % of variance)" in pca_label, "PCA axis label")
    print("OK")


CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var r = [];
  document.querySelectorAll('img').forEach(function (im) {
    r.push({src: im.getAttribute('src'), ok: im.complete && im.naturalWidth > 0, w: im.naturalWidth});
  });
  var d = document.createElement('pre');
  d.id = 'aptflow-imgcheck';
  d.textContent = JSON.stringify(r);
  document.body.appendChild(d);
});
</script>
"""


def chromium(args, user_dir):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    cmd = ["timeout", "60", exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--hide-scrollbars", f"--user-data-dir={user_dir}"] + args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def check_render(d, png):
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        print("SKIP: chromium is not installed (bash scripts/setup.sh installs it)")
        sys.exit(77)
    p = check_page(d)
    need(p.imgs, "no figures on the page")
    with open(os.path.join(d, "index.html"), encoding="utf-8") as f:
        html = f.read()
    check = os.path.join(d, "check.html")
    with open(check, "w", encoding="utf-8") as f:
        f.write(html.replace("</body>", CHECK_SCRIPT + "</body>"))
    # One Chromium run: the DOM after the load event (image check) and the
    # 1200 x 3000 screenshot of the same page.
    with tempfile.TemporaryDirectory() as ud:
        r = chromium(["--virtual-time-budget=10000", "--dump-dom", f"--screenshot={os.path.abspath(png)}",
                      "--window-size=1200,3000", "file://" + os.path.abspath(check)], ud)
    os.remove(check)
    need(r.returncode == 0, f"chromium exited {r.returncode}: {r.stderr[-500:]}")
    need(os.path.isfile(png), f"chromium wrote no screenshot: {r.stderr[-500:]}")
    dom = r.stdout
    i = dom.find('id="aptflow-imgcheck"')
    need(i >= 0, "the image check did not run (no load event?)")
    text = dom[dom.index(">", i) + 1: dom.index("</pre>", i)]
    text = text.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    res = json.loads(text)
    need(sorted(x["src"] for x in res) == sorted(p.imgs), "image list differs from the page")
    bad = [x["src"] for x in res if not x["ok"]]
    need(not bad, f"figures that did not load in Chromium: {bad}")
    print(f"OK {len(res)} figures loaded")


def check_xdmf(xdmf, h5):
    try:
        root = ET.parse(xdmf).getroot()
    except ET.ParseError as e:
        fail(f"{xdmf} is not well-formed XML: {e}")
    need(root.tag == "Xdmf" and root.get("Version") == "3.0", "root must be <Xdmf Version=3.0>")
    base = os.path.dirname(os.path.abspath(xdmf))
    f = h5py.File(h5, "r")
    prob = f["entry1/windows/probability"]
    origin = np.array(prob.attrs["origin"], float)
    edge, stride = float(prob.attrs["edge"]), float(prob.attrs["stride"])
    names = [s.decode() if isinstance(s, bytes) else s for s in prob.attrs["class_names"]]
    types = {("Float", 4): np.float32, ("Float", 8): np.float64, ("Int", 4): np.int32, ("Int", 8): np.int64,
             ("UInt", 4): np.uint32, ("UInt", 8): np.uint64, ("Char", 1): np.int8, ("UChar", 1): np.uint8}

    def dims(item):
        return tuple(int(v) for v in item.get("Dimensions").split())

    def hdf(item):
        need(item.get("Format") == "HDF", "expected an HDF DataItem")
        fname, _, path = item.text.strip().partition(":")
        fpath = os.path.join(base, fname)
        need(not os.path.isabs(fname), f"HDF5 reference {fname} is not relative")
        need(os.path.isfile(fpath) and os.path.samefile(fpath, h5), f"{fname} does not resolve to {h5}")
        need(path in f, f"dataset {path} missing in {h5}")
        ds = f[path]
        need(ds.shape == dims(item), f"{path}: Dimensions {dims(item)} but the dataset is {ds.shape}")
        want = types.get((item.get("NumberType"), int(item.get("Precision"))))
        need(want is not None and ds.dtype == np.dtype(want),
             f"{path}: NumberType {item.get('NumberType')}/{item.get('Precision')} but dtype {ds.dtype}")
        return ds[...]

    grids = {g.get("Name"): g for g in root.iter("Grid")}
    need("windows" in grids, "no windows grid")
    for name, g in grids.items():
        topo = g.find("Topology")
        need(topo.get("TopologyType") == "3DCoRectMesh", f"{name}: topology")
        geo = g.find("Geometry")
        need(geo.get("GeometryType") == "ORIGIN_DXDYDZ", f"{name}: geometry type")
        o, sp = [np.array(it.text.split(), float) for it in geo.findall("DataItem")]
        shift = edge / 2 if name == "windows" else stride / 2
        need(np.allclose(o, origin[::-1] + shift, rtol=0, atol=1e-12), f"{name}: origin {o} (ZYX)")
        need(np.allclose(sp, [stride] * 3), f"{name}: spacing {sp}")
        for att in g.findall("Attribute"):
            need(att.get("Center") == "Node", f"{name}/{att.get('Name')}: centre")
            item = att.find("DataItem")
            if item.get("ItemType") == "HyperSlab":
                sel, src = item.findall("DataItem")
                data = hdf(src)
                s = np.array(sel.text.split(), int).reshape(3, -1)
                need(sel.get("Format") == "XML" and dims(sel) == s.shape, "hyperslab selection")
                need(tuple(s[2]) == dims(item), f"{att.get('Name')}: count {s[2]} vs Dimensions {dims(item)}")
                need(np.all(s[0] + (s[2] - 1) * s[1] < data.shape), f"{att.get('Name')}: hyperslab outside")
                sl = tuple(slice(a, a + (n - 1) * b + 1, b) for a, b, n in zip(*s))
                c = names.index(att.get("Name")[2:-1])
                need(np.array_equal(data[sl][..., 0], data[..., c], equal_nan=True), f"{att.get('Name')}: values")
                need(dims(topo) == data.shape[:3], f"{name}: topology {dims(topo)} vs {data.shape}")
            else:
                data = hdf(item)
                need(dims(topo) == data.shape, f"{name}: topology {dims(topo)} vs {data.shape}")
    if "entry1/subcells/label" in f:
        need("subcells" in grids, "subcells grid missing although /entry1/subcells/label exists")
    attrs = [a.get("Name") for a in grids["windows"].findall("Attribute")]
    need(attrs == [f"P({n})" for n in names], f"attributes {attrs}")
    print("OK")


def main():
    # Several checks in one process (h5py import is the slow part):
    # report_check.py MODE A B [-- MODE A B ...]
    args = sys.argv[1:]
    jobs = []
    while args:
        cut = args.index("--") if "--" in args else len(args)
        jobs.append(args[:cut])
        args = args[cut + 1:]
    if not jobs or any(len(j) != 3 for j in jobs):
        fail(__doc__)
    for mode, a, b in jobs:
        if mode == "classify":
            check_classify(a, b)
        elif mode == "archive":
            check_archive(a, b)
        elif mode == "render":
            check_render(a, b)
        elif mode == "xdmf":
            check_xdmf(a, b)
        else:
            fail(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
