#!/usr/bin/python3
"""PyTorch reference for benchmarks/bench_cnn.cpp: runs an aptflow model file
(docs/models.md) as an equivalent torch.nn.Sequential on one thread.

Conversion from aptflow/Keras (channels last) to torch (channels first):
- input (batch, spatial..., C) -> (batch, C, spatial...), once, before timing;
- ConvND kernel (k..., in, out) -> weight (out, in, k...);
- Dense kernel (in, out) -> Linear weight (out, in); for the Dense right after
  Flatten the input rows are reordered from Keras' flatten order
  (spatial..., C) to torch's (C, spatial...), so no permute runs at inference;
- Dropout is the identity in eval mode; softmax/sigmoid/relu as modules.

Input: --model (aptflow HDF5 model file), --input (float32 raw, samples in the
model's channels-last input shape). Output: --out float32 raw of the model
outputs (same order as aptflow's), and one JSON line on stdout with the timing
of predict over all samples in chunks of --batch, repeated for at least
--min-time seconds (wall and process CPU time).
Exit code 3 (and a message) when torch cannot be imported.
"""
import argparse
import json
import sys
import time

import h5py
import numpy as np

try:
    import torch
except ImportError as e:  # reported by the caller as "reference skipped"
    print(f"torch not importable: {e}", file=sys.stderr)
    sys.exit(3)


def read_json(f, name):
    v = f[name][()]
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0]
    if isinstance(v, bytes):
        v = v.decode()
    return json.loads(v)


def activation_module(name):
    if name == "linear":
        return None
    if name == "relu":
        return torch.nn.ReLU()
    if name == "sigmoid":
        return torch.nn.Sigmoid()
    if name == "softmax":
        return torch.nn.Softmax(dim=1)
    raise SystemExit(f"activation '{name}' has no torch equivalent here; extend ref_cnn_torch.py")


def build(f):
    arch = read_json(f, "/model/architecture")
    shape = list(arch["input_shape"])  # channels-last per-sample shape of the current tensor
    flat_from = None  # channels-last shape before a Flatten, until the next Dense
    mods = []
    for entry in arch["layers"]:
        cls, name, cfg = entry["class"], entry["name"], entry.get("config", {})
        w = f"/model/weights/{name}"
        if cls in ("Conv1D", "Conv2D", "Conv3D"):
            r = int(cls[4])
            if cfg.get("padding", "valid") != "valid":
                raise SystemExit(f"layer {name}: only valid padding is converted; extend ref_cnn_torch.py")
            kernel = np.asarray(f[w + "/kernel"][()], dtype=np.float32)
            cin, cout = kernel.shape[-2], kernel.shape[-1]
            conv = [torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d][r - 1](
                cin, cout, tuple(cfg["kernel_size"]), stride=tuple(cfg["strides"]),
                bias=cfg.get("use_bias", True))
            perm = (r + 1, r) + tuple(range(r))  # (k..., in, out) -> (out, in, k...)
            conv.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.transpose(perm)))
            if cfg.get("use_bias", True):
                conv.bias.data = torch.from_numpy(np.asarray(f[w + "/bias"][()], dtype=np.float32))
            mods.append(conv)
            act = activation_module(cfg.get("activation", "linear"))
            if act is not None:
                mods.append(act)
            sp = [(shape[a] - cfg["kernel_size"][a]) // cfg["strides"][a] + 1 for a in range(r)]
            shape = sp + [cout]
        elif cls in ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D"):
            r = int(cls[10])
            if cfg.get("padding", "valid") != "valid":
                raise SystemExit(f"layer {name}: only valid padding is converted; extend ref_cnn_torch.py")
            pool, strides = cfg["pool_size"], cfg["strides"]
            mods.append([torch.nn.MaxPool1d, torch.nn.MaxPool2d, torch.nn.MaxPool3d][r - 1](
                tuple(pool), stride=tuple(strides)))
            shape = [(shape[a] - pool[a]) // strides[a] + 1 for a in range(r)] + [shape[-1]]
        elif cls == "Dropout":
            mods.append(torch.nn.Dropout(cfg["rate"]))
        elif cls == "Flatten":
            mods.append(torch.nn.Flatten())
            flat_from = shape
            shape = [int(np.prod(shape))]
        elif cls == "Dense":
            if len(shape) != 1:
                raise SystemExit(f"layer {name}: Dense on a rank-{len(shape)} input; extend ref_cnn_torch.py")
            kernel = np.asarray(f[w + "/kernel"][()], dtype=np.float32)  # (in, out)
            units = kernel.shape[1]
            if flat_from is not None and len(flat_from) > 1:
                # rows in Keras order (spatial..., C) -> torch order (C, spatial...)
                k = kernel.reshape(flat_from + [units])
                k = np.moveaxis(k, len(flat_from) - 1, 0)
                kernel = k.reshape(-1, units)
            flat_from = None
            lin = torch.nn.Linear(kernel.shape[0], units, bias=cfg.get("use_bias", True))
            lin.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.T))
            if cfg.get("use_bias", True):
                lin.bias.data = torch.from_numpy(np.asarray(f[w + "/bias"][()], dtype=np.float32))
            mods.append(lin)
            act = activation_module(cfg.get("activation", "linear"))
            if act is not None:
                mods.append(act)
            shape = [units]
        elif cls == "Activation":
            if len(shape) != 1:
                raise SystemExit(f"layer {name}: Activation on a rank-{len(shape)} input; extend ref_cnn_torch.py")
            act = activation_module(cfg.get("activation", "linear"))
            if act is not None:
                mods.append(act)
        else:
            raise SystemExit(f"layer {name}: class {cls} is not converted; extend ref_cnn_torch.py")
    return arch["input_shape"], shape, torch.nn.Sequential(*mods).eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--min-time", type=float, default=2.0)
    args = ap.parse_args()

    torch.set_num_threads(1)
    with h5py.File(args.model, "r") as f:
        in_shape, out_shape, model = build(f)
    x = np.fromfile(args.input, dtype="<f4").reshape([-1] + list(in_shape))
    n = x.shape[0]
    xt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))  # channels first
    chunks = [xt[i:i + args.batch] for i in range(0, n, args.batch)]

    def predict():
        return torch.cat([model(c) for c in chunks])

    with torch.inference_mode():
        y = predict()  # also the warm-up
        y.numpy().astype("<f4").tofile(args.out)
        reps, wall, cpu = 0, 0.0, 0.0
        while wall < args.min_time or reps < 2:
            t0, c0 = time.perf_counter(), time.process_time()
            predict()
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
            reps += 1
    print(json.dumps({"samples": n, "reps": reps, "wall_s": wall, "cpu_s": cpu,
                      "samples_per_s": n * reps / wall, "cpu_samples_per_s": n * reps / cpu,
                      "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "mkldnn": bool(torch.backends.mkldnn.is_available())}))


if __name__ == "__main__":
    main()
