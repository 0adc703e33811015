#!/usr/bin/env python3
"""Fail when an include goes the wrong way (docs/architecture.md).

Every C++ file of the library and the CLI belongs to an area by its path
(include/aptflow/<area>/, src/<area>/, kernels/ = kernels). An area may include
only the areas listed for it in ALLOWED; MPI (<mpi.h> or an MPI_ call) only in
MPI_AREAS; HDF5 (<hdf5.h> or an H5 C call) only in io/. EXCEPTIONS lists the
few known wrong-way edges with the step that removes them; an exception that no
longer occurs is reported, not failed. Usage: check_layers.py SOURCE_DIR
"""
import os
import re
import sys

# Who may include whom: core <- io, dist <- kernels <- sdm, nn, synth, analysis
# <- pipeline, report <- cli.
LOWER = {
    "core": [],
    "dist": ["core"],
    "io": ["core", "dist/collective.hpp"],  # io's communicator arguments agree on errors through dist/collective
    "kernels": ["core", "cuda"],
    "sdm": ["core", "kernels"],
    "nn": ["core", "io", "dist", "kernels", "sdm"],
    "synth": ["core", "io", "dist", "kernels", "sdm"],
    "analysis": ["core", "io", "dist", "kernels"],
    "pipeline": ["core", "io", "dist", "kernels", "sdm", "nn", "synth", "analysis"],
    "report": ["core", "io", "dist", "kernels", "sdm", "nn", "synth", "analysis", "pipeline"],
    "cli": ["core", "io", "dist", "kernels", "sdm", "nn", "synth", "analysis", "pipeline", "report"],
}
# MPI: the distributed layer, io's communicator arguments, the drivers, and the
# data-parallel trainer and synthetic-data writers (they take an MPI_Comm).
MPI_AREAS = {"dist", "io", "nn", "synth", "pipeline", "report", "cli"}
MPI_FILES = {"include/aptflow/core/runtime.hpp", "src/core/runtime.cpp"}  # the program starts MPI there
HDF5_AREAS = {"io"}

# Known wrong-way edges: (file, included header) -> the step that removes it.
EXCEPTIONS = {}

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
MPI_CALL = re.compile(r"\bMPI_[A-Z][A-Za-z_]*\s*\(")
H5_CALL = re.compile(r"\bH5[A-Z][A-Za-z0-9_]*\s*\(")


def area_of(rel):
    parts = rel.split("/")
    if parts[0] == "include" and len(parts) > 3 and parts[1] == "aptflow":
        return parts[2]
    if parts[0] == "include" and len(parts) == 3:
        return "core"  # include/aptflow/config.hpp (generated: version, feature macros)
    if parts[0] == "src" and len(parts) > 2:
        return parts[1]
    if parts[0] == "kernels":
        return "cuda" if len(parts) > 2 and parts[1] == "cuda" else "kernels"
    return None


def target_of(inc):
    """(area, path inside the area) of a project include, or None for a system header."""
    p = inc[len("aptflow/"):] if inc.startswith("aptflow/") else inc
    head = p.split("/")[0]
    if inc == "aptflow/config.hpp":
        return "core", "config.hpp"
    if head in LOWER or head == "cuda":
        return head, p
    return None


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def main(root, notes=True):
    errors, used = [], set()
    for top in ("include", "src", "kernels"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if not name.endswith((".hpp", ".cpp", ".h", ".cu", ".in")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                area = area_of(rel)
                if area is None or area == "cuda":
                    continue
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                code = strip_comments(text)
                includes = INCLUDE.findall(code)
                first = target_of(includes[0]) if includes and rel.endswith(".cpp") else None
                if first and first[0] != area and first[0] != "cuda":
                    key = (rel, "implements " + first[1])
                    if key in EXCEPTIONS:
                        used.add(key)
                    else:
                        errors.append(f"{rel}: implements {first[1]} outside {first[0]}/: move it beside its header")
                for inc in includes:
                    if inc in ("mpi.h",) and area not in MPI_AREAS and rel not in MPI_FILES:
                        errors.append(f"{rel}: includes <mpi.h>, but MPI belongs in {sorted(MPI_AREAS)}")
                    if inc.startswith("hdf5") and area not in HDF5_AREAS:
                        errors.append(f"{rel}: includes <{inc}>: HDF5 only behind io/ (add an io/h5.hpp function)")
                    t = target_of(inc)
                    if t is None or t[0] == area:
                        continue
                    tarea, tpath = t
                    allowed = LOWER.get(area, [])
                    if tarea in allowed or tpath in allowed:
                        continue
                    key = (rel, tpath)
                    if key in EXCEPTIONS:
                        used.add(key)
                        continue
                    errors.append(f"{rel}: includes {inc}: {area}/ may include only {allowed + [area]}")
                if area not in MPI_AREAS and rel not in MPI_FILES and MPI_CALL.search(code):
                    errors.append(f"{rel}: calls MPI, but MPI belongs in {sorted(MPI_AREAS)}")
                if area not in HDF5_AREAS and H5_CALL.search(code):
                    errors.append(f"{rel}: calls the HDF5 C API: HDF5 only behind io/ (add an io/h5.hpp function)")
    for key, why in sorted(EXCEPTIONS.items()):
        if notes and key not in used:
            print(f"note: the known exception {key[0]} -> {key[1]} no longer occurs ({why}): remove it from "
                  f"EXCEPTIONS")
    for e in errors:
        print(f"layering: {e}")
    print(f"layering: {len(errors)} wrong-way include(s) or call(s); {len(used)} known exception(s) in use")
    return 1 if errors else 0


def self_test():
    """The checker must fail on a tree with one of each wrong way, and pass without them."""
    import tempfile

    bad = {
        "include/aptflow/kernels/k.hpp": '#include <mpi.h>\n#include "aptflow/pipeline/p.hpp"\n',
        "src/nn/n.cpp": '#include "aptflow/nn/n.hpp"\nvoid f() { H5Fclose(0); }\n',
        "src/dist/d.cpp": '#include "aptflow/dist/d.hpp"\n#include "aptflow/synth/rng.hpp"\n',
        "src/pipeline/x.cpp": '#include "aptflow/nn/x.hpp"\n',
        "kernels/v.cpp": '#include "aptflow/kernels/k.hpp"\nvoid g() { MPI_Barrier(0); }\n',
    }
    good = {
        "include/aptflow/kernels/k.hpp": '#include "aptflow/core/ion_cloud.hpp"  // MPI_Comm in a comment\n',
        "src/nn/n.cpp": '#include "aptflow/nn/n.hpp"\n#include "aptflow/io/h5.hpp"\n',
        "src/io/dataset.cpp": '#include "aptflow/io/dataset.hpp"\n#include "aptflow/dist/collective.hpp"\n',
    }
    results = []
    for tree in (bad, good):
        with tempfile.TemporaryDirectory() as root:
            for rel, text in tree.items():
                os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
                with open(os.path.join(root, rel), "w") as f:
                    f.write(text)
            results.append(main(root, notes=False))
    ok = results == [1, 0]
    print("layering self-test:", "ok" if ok else f"FAILED (exit codes {results}, want [1, 0])")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        sys.exit(self_test())
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
