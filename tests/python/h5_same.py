#!/usr/bin/python3
"""Compare two HDF5 files dataset by dataset and attribute by attribute (bytes).

Usage: h5_same.py A.h5 B.h5 [--skip PATH ...]
PATH is a dataset ("/datasets/seconds") or an attribute ("/@config",
"/group@name"). Prints how many entries were compared and the first ones that
differ; exit status 1 when any differs.
"""
import argparse
import sys

import h5py
import numpy as np


def contents(name, skip):
    out = {}
    with h5py.File(name, "r") as f:
        def visit(path, obj):
            for k, v in obj.attrs.items():
                v = np.asarray(v)
                out[path + "@" + k] = repr(v.tolist()) if v.dtype.kind in "OUS" else v.tobytes()
            if isinstance(obj, h5py.Dataset):
                out[path] = obj[()].tobytes() if obj.dtype.kind != "O" else repr(obj[()].tolist())

        visit("/", f)
        f.visititems(lambda p, o: visit("/" + p, o))
    for s in skip:
        out.pop(s, None)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--skip", nargs="*", default=[])
    args = ap.parse_args()
    a, b = contents(args.a, args.skip), contents(args.b, args.skip)
    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    print(f"compared {len(a)} datasets and attributes: {len(diff)} differ {diff[:5]}")
    sys.exit(1 if diff else 0)


if __name__ == "__main__":
    main()
