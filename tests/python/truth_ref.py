#!/usr/bin/python3
"""Independent reference for aptflow::compare_with_truth (tests/unit/test_truth.cpp).

usage: truth_ref.py RESULT.h5 TRUTH.h5  -> one JSON object on stdout.
Written from the definitions in docs/classify.md ("Ground truth") with numpy only.
"""
import json
import sys

import h5py
import numpy as np


def names(obj):
    v = obj.attrs["class_names"]
    v = np.atleast_1d(v)
    return [x.decode() if isinstance(x, bytes) else str(x) for x in v]


def main():
    rf, tf = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
    tn = names(tf)
    rn = names(rf["entry1/windows/probability"])
    tc = tf["ions/class"][:].astype(np.int64)
    td = tf["ions/domain_id"][:].astype(np.int64)
    radii = tf["domains/radii"][:]
    rc = rf["entry1/ions/class"][:].astype(np.int64)
    rd = rf["entry1/ions/domain_id"][:].astype(np.int64)
    ids = rf["entry1/domains/id"][:]
    rrad = rf["entry1/domains/radius"][:]
    # matrix class: most common truth class outside the domains (first on ties)
    counts = np.bincount(tc[td < 0], minlength=len(tn))
    matrix = tn[int(np.argmax(counts))] if counts.sum() > 0 else tn[0]
    classes = []
    for n in tn + rn:
        if n != matrix and n not in classes:
            classes.append(n)
    tname = np.array(tn, dtype=object)[tc]
    rname = np.array([rn[c] if c >= 0 else matrix for c in rc], dtype=object)
    out = {"matrix_class": matrix, "classes": []}

    def score(tp, fp, fn):
        div = lambda a, b: a / b if b > 0 else None
        return {"true_positives": int(tp), "false_positives": int(fp), "false_negatives": int(fn),
                "precision": div(tp, tp + fp), "recall": div(tp, tp + fn), "f1": div(2 * tp, 2 * tp + fp + fn)}

    stp = sfp = sfn = 0
    for n in classes:
        t, r = tname == n, rname == n
        tp, fp, fn = np.sum(t & r), np.sum(~t & r), np.sum(t & ~r)
        stp, sfp, sfn = stp + tp, sfp + fp, sfn + fn
        s = score(tp, fp, fn)
        s["name"] = n
        out["classes"].append(s)
    out["micro"] = score(stp, sfp, sfn)
    matched_true, matched_r = set(), []
    for k, d in enumerate(ids):
        tds = td[rd == d]
        vals, cnt = np.unique(tds, return_counts=True)
        for v, c in zip(vals, cnt):
            if v >= 0 and 2 * c > len(tds):
                matched_true.add(int(v))
                matched_r.append(rrad[k])
    out["true_domains"] = int(len(tf["domains/class"]))
    out["detected_domains"] = int(len(ids))
    out["matched_domains"] = len(matched_true)
    out["matched_detected"] = len(matched_r)
    tmean = float(np.mean(np.prod(radii, axis=1) ** (1 / 3))) if len(radii) else None
    dmean = float(np.mean(rrad)) if len(rrad) else None
    mmean = float(np.mean(matched_r)) if matched_r else None
    out["true_mean_radius"] = tmean
    out["detected_mean_radius"] = dmean
    out["matched_mean_radius"] = mmean
    rel = lambda a, b: (a - b) / b if a is not None and b else None
    out["radius_error"] = rel(dmean, tmean)
    out["matched_radius_error"] = rel(mmean, tmean)
    print(json.dumps(out))


main()
