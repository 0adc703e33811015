#!/usr/bin/env python3
"""Write the small seed inputs of aptflow's fuzz targets into tests/fuzz/corpus/<target>/.

Every seed is generated here from the format facts (docs/file-formats.md,
docs/range-files.md); none is copied from another tool. Run with numpy:
    /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import os
import struct

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240601)


def out(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def cloud(n):
    x = rng.uniform(-20, 20, n)
    y = rng.uniform(-20, 20, n)
    z = rng.uniform(0, 60, n)
    m = rng.choice([1.0, 13.5, 27.0, 28.0, 56.0], n) + rng.uniform(0, 0.05, n)
    return x, y, z, m


# POS: big-endian float32 x, y, z, m/q
for n in (1, 8, 40):
    x, y, z, m = cloud(n)
    out("pos", f"pos_{n}", np.stack([x, y, z, m], 1).astype(">f4").tobytes())
x, y, z, m = cloud(20)
m[3] = np.nan
out("pos", "pos_nan", np.stack([x, y, z, m], 1).astype(">f4").tobytes())

# EPOS: 9 float32 + 2 uint32, big-endian
for n in (1, 4, 24):
    x, y, z, m = cloud(n)
    rec = np.zeros(n, dtype=[("f", ">f4", 9), ("u", ">u4", 2)])
    rec["f"][:, 0], rec["f"][:, 1], rec["f"][:, 2], rec["f"][:, 3] = x, y, z, m
    rec["f"][:, 4] = 500.0
    rec["f"][:, 5] = 5.0
    rec["u"][:, 0] = 3
    rec["u"][:, 1] = 1
    out("epos", f"epos_{n}", rec.tobytes())


# APT: file header, sections (Cameca layout)
def utf16(s, units):
    b = s.encode("utf-16-le")[: 2 * (units - 1)]
    return b + b"\0" * (2 * units - len(b))


def section(name, dtype, bits, rec, unit, n, data, header=148, extra=b""):
    h = b"SEC\0" + struct.pack("<ii", header, 2) + utf16(name, 32)
    h += struct.pack("<iIIIii", 1, 1, 1, dtype, bits, rec) + utf16(unit, 16)
    h += struct.pack("<QQ", n, len(data)) + extra
    return h + data


def apt(n, extras, cameca_position=True):
    x, y, z, m = cloud(n)
    f = b"APT\0" + struct.pack("<ii", 540, 2) + utf16("seed.apt", 256) + struct.pack("<qQ", 0, n)
    pos = np.stack([x, y, z], 1).astype("<f4").tobytes()
    box = np.array([x.min(), y.min(), z.min(), x.max(), y.max(), z.max()], "<f4").tobytes() if n else bytes(24)
    if cameca_position:
        f += section("Position", 3, 32, 12, "nm", n, pos, header=172, extra=box)
    else:
        f += section("Position", 3, 32, 12, "nm", n, box + pos)
    f += section("Mass", 3, 32, 4, "Da", n, m.astype("<f4").tobytes())
    if extras:
        f += section("Voltage", 3, 32, 4, "V", n, np.full(n, 5000, "<f4").tobytes())
        f += section("Multiplicity", 1, 32, 4, "", n, np.ones(n, "<i4").tobytes())
        f += section("Pulse Delta", 1, 32, 4, "", n, np.full(n, 2, "<i4").tobytes())
        f += section("pulseDelta", 1, 16, 2, "", n, np.zeros(n, "<i2").tobytes())
        f += section("Detector Coordinates", 3, 32, 8, "mm", n, rng.uniform(-30, 30, 2 * n).astype("<f4").tobytes())
        f += section("freq", 3, 64, 8, "Hz", n, np.full(n, 2e5, "<f8").tobytes())
    return f


out("apt", "apt_plain_3", apt(3, False))
out("apt", "apt_extras_5", apt(5, True))
out("apt", "apt_legacy_box_4", apt(4, False, cameca_position=False))
out("apt", "apt_empty", apt(0, False))


# ATO v3 (both byte orders) and v5
def ato3(n, big):
    x, y, z, m = cloud(n)
    rec = np.zeros((n, 14), "<f4")
    rec[:, 0], rec[:, 1], rec[:, 2], rec[:, 3] = 10 * x, 10 * y, 10 * z, m
    rec[:, 6], rec[:, 7], rec[:, 8], rec[:, 9], rec[:, 10] = 5.0, 0.6, 1.0, -1.0, 1.0
    order = ">" if big else "<"
    return np.array([0, 3], order + "u4").tobytes() + rec.astype(order + "f4").tobytes()


out("ato", "ato3_le_5", ato3(5, False))
out("ato", "ato3_be_17", ato3(17, True))
x, y, z, m = cloud(6)
v5 = bytearray(np.array([0, 5], "<u4").tobytes()) + bytes(4992)
for i in range(6):
    v5 += struct.pack("<hhff", int(x[i] * 100), int(y[i] * 100), z[i] * 10, m[i]) + bytes(28)
out("ato", "ato5_6", bytes(v5))

# text
x, y, z, m = cloud(12)
out("text", "csv_header", "x,y,z,mq\n" + "".join(f"{a:.4f},{b:.4f},{c:.4f},{d:.4f}\n" for a, b, c, d in zip(x, y, z, m)))
out("text", "tsv_plain", "".join(f"{a:.3f}\t{b:.3f}\t{c:.3f}\t{d:.3f}\r\n" for a, b, c, d in zip(x, y, z, m)))
out("text", "space_comments", "# lab export\n" + "".join(f"{a:g} {b:g} {c:g} {d:g} 1\n% c\n" for a, b, c, d in zip(x, y, z, m)))
out("text", "semicolon_comma_angstrom",
    "X [A];Y [A];Z [A];Mass [Da]\n" + "".join(f"{10*a:.2f};{10*b:.2f};{10*c:.2f};{d:.3f}\n".replace(".", ",")
                                            for a, b, c, d in zip(x, y, z, m)))

# range files
out("rrng", "basic", "[Ions]\nNumber=2\nIon1=Ni\nIon2=O\n[Ranges]\nNumber=3\n"
                     "Range1=57.5940 64.1860 Vol:0.01094 Ni:1 Color:00CC00\n"
                     "Range2=73.2600 80.1680 Vol:0.03977 Ni:1 O:1 Color:00CC99\n"
                     "Range3=21.4440 21.5410 Vol:0.00000 Name:un1 Color:FF0000\n")
out("rrng", "quirks", "; comment\n[ions]\nnumber=1\nion1=Al\n[other]\nx=y\n[RANGES]\nNUMBER=3\n"
                      "  Range1=26,9 27,1 Color:FF0000 Vol:0,0166 Al:1.000\nRange1=26.9 27.1 Al:1\n"
                      "Range3=13.4 13.6 Name:Al2 Al:2\n")
out("rng", "basic", "3 4\nAl\nAl 0.2 1.0 1.0\nH\nH 0.8 0.8 0.0\nMg\nMg 0.8 0.0 0.8 (Mg)\n"
                    "----------------- Al H Mg\n. 13.3276 13.8690 1 0 0\n. 13.9510 14.1010 1 1 0\n"
                    ". 23.8 24.2 0.02 0 0 1\n. 30.0 30.5 0 0 0\n")
out("rng", "double", "2 2\nAl\nAl 1 0 0\nH\nH 0 1 0\n-----------\n. 26.9 27.1 1 0\n. 27.9 28.1 0 0\n"
                     "--- polyatomic extension\n1 1\nAlH\nAlH 1 1 0\n------- AlH\n. 27.9 28.1 1\n")
out("env", "basic", "# GPM\nRev_2.0\n# Number of elements / Number of mass ranges\n3\t3\n"
                    "O\t0.0\t1.0\t0.0\nMnO2\t0.5\t0.5\t0.5\nX23\t0.3\t0.5\t0.5\n"
                    "O\t15.880\t16.840\t20.000\t1.000\nMnO2\t43.380\t43.650\t11.660\t1.000\n"
                    "X23\t22.240\t22.720\t11.660\t1.000\n# Flight length (m)\n0.1005\n")

# HDF5 targets: the bytes drive a file builder; a few varied starting points.
for t in ("h5", "nxapm"):
    for k in range(6):
        out(t, f"seed_{k}", rng.integers(0, 256, 16 + 24 * k, dtype=np.uint8).tobytes())
print("seeds written to", os.path.join(here, "corpus"))
