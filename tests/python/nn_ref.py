#!/usr/bin/python3
"""Independent numpy reference for aptflow's neural network (docs/models.md).

Reads a Keras 2.x HDF5 Sequential model with h5py and runs the forward pass
in float64 numpy, written from the Keras layer definitions, not from the C++
code: convolution as an explicit sum over kernel offsets with zero padding
("same": pad total max((out-1)*s + k - in, 0), smaller half first), max
pooling over each window (padding cells ignored), Flatten as numpy's
row-major reshape, dropout = identity (inference).

  nn_ref.py forward  MODEL.h5 IN.h5 OUT.h5   IN has dataset x (batch, input...);
                                             OUT gets dataset y (batch, outputs), float64
  nn_ref.py make-keras OUT.h5 KIND SEED [bytes]
        write a small random Keras-format Sequential model (model_config +
        model_weights as Keras 2.2.4 does); KIND = conv1d | conv2d | conv3d |
        unsupported (contains an LSTM layer); 'bytes' stores model_config as a
        fixed-length byte string instead of str.
"""
import json
import sys

import h5py
import numpy as np


def as_text(v):
    return v.decode("utf-8") if isinstance(v, (bytes, np.bytes_)) else str(v)


def to_list(v, rank):
    if isinstance(v, int):
        return [v] * rank
    return list(v)


def geometry(n, k, s, padding):
    if padding == "valid":
        out = (n - k) // s + 1
        return out, 0
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2


def activation(x, name):
    if name in (None, "linear"):
        return x
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError("activation " + name)


def conv(x, kernel, bias, strides, padding):
    # x (batch, spatial..., cin), kernel (k..., cin, cout)
    rank = kernel.ndim - 2
    ks = kernel.shape[:rank]
    spatial = x.shape[1:1 + rank]
    outs, pads = zip(*[geometry(spatial[a], ks[a], strides[a], padding) for a in range(rank)])
    big = [x.shape[0]] + [outs[a] * strides[a] + ks[a] + spatial[a] for a in range(rank)] + [x.shape[-1]]
    xp = np.zeros(big)
    idx = (slice(None),) + tuple(slice(pads[a], pads[a] + spatial[a]) for a in range(rank)) + (slice(None),)
    xp[idx] = x
    y = np.zeros((x.shape[0],) + tuple(outs) + (kernel.shape[-1],))
    for off in np.ndindex(*ks):
        sl = (slice(None),) + tuple(slice(off[a], off[a] + outs[a] * strides[a], strides[a]) for a in range(rank)) \
            + (slice(None),)
        y += np.tensordot(xp[sl], kernel[off], axes=([rank + 1], [0]))
    if bias is not None:
        y += bias
    return y


def maxpool(x, pool, strides, padding):
    rank = len(pool)
    spatial = x.shape[1:1 + rank]
    outs, pads = zip(*[geometry(spatial[a], pool[a], strides[a], padding) for a in range(rank)])
    y = np.full((x.shape[0],) + tuple(outs) + (x.shape[-1],), -np.inf)
    for o in np.ndindex(*outs):
        lo = [max(o[a] * strides[a] - pads[a], 0) for a in range(rank)]
        hi = [min(o[a] * strides[a] - pads[a] + pool[a], spatial[a]) for a in range(rank)]
        win = x[(slice(None),) + tuple(slice(lo[a], hi[a]) for a in range(rank)) + (slice(None),)]
        y[(slice(None),) + tuple(o) + (slice(None),)] = win.reshape(x.shape[0], -1, x.shape[-1]).max(axis=1)
    return y


def load(path):
    f = h5py.File(path, "r")
    cfg = json.loads(as_text(f.attrs["model_config"]))
    layers = cfg["config"]["layers"] if isinstance(cfg["config"], dict) else cfg["config"]
    wroot = f["model_weights"] if "model_weights" in f else f
    weights = {}
    for layer in layers:
        name = layer["config"]["name"]
        if name not in wroot:
            continue
        g = wroot[name]
        names = [as_text(n) for n in g.attrs.get("weight_names", [])]
        weights[name] = {n.split("/")[-1].split(":")[0]: np.array(g[n], dtype=np.float64) for n in names}
    return layers, weights


def forward(layers, weights, x):
    x = x.astype(np.float64)
    for layer in layers:
        cls, c = layer["class_name"], layer["config"]
        w = weights.get(c["name"], {})
        if cls.startswith("Conv"):
            rank = int(cls[4])
            x = conv(x, w["kernel"], w.get("bias"), to_list(c.get("strides", 1), rank), c.get("padding", "valid"))
            x = activation(x, c.get("activation"))
        elif cls.startswith("MaxPooling"):
            rank = int(cls[10])
            pool = to_list(c["pool_size"], rank)
            strides = to_list(c["strides"], rank) if c.get("strides") is not None else pool
            x = maxpool(x, pool, strides, c.get("padding", "valid"))
        elif cls == "Flatten":
            x = x.reshape(x.shape[0], -1)
        elif cls == "Dense":
            x = x @ w["kernel"]
            if "bias" in w:
                x = x + w["bias"]
            x = activation(x, c.get("activation"))
        elif cls == "Dropout":
            pass
        elif cls == "Activation":
            x = activation(x, c["activation"])
        else:
            raise ValueError("unsupported layer " + cls)
    return x


def keras_layer(cls, name, **config):
    config["name"] = name
    config.setdefault("trainable", True)
    config.setdefault("dtype", "float32")
    return {"class_name": cls, "config": config}


def make_keras(out, kind, seed, as_bytes):
    rng = np.random.default_rng(seed)
    if kind in ("conv1d", "unsupported"):
        shape = [21, 2]
        layers = [
            keras_layer("Conv1D", "c1", batch_input_shape=[None] + shape, filters=4, kernel_size=[3], strides=[2],
                        padding="same", data_format="channels_last", dilation_rate=[1], activation="relu",
                        use_bias=True),
            keras_layer("Dropout", "drop", rate=0.5, noise_shape=None, seed=None),
            keras_layer("MaxPooling1D", "p1", pool_size=[2], strides=[2], padding="valid",
                        data_format="channels_last"),
            keras_layer("Conv1D", "c2", filters=3, kernel_size=[2], strides=[1], padding="valid",
                        data_format="channels_last", dilation_rate=[1], activation="linear", use_bias=True),
            keras_layer("Flatten", "flat", data_format="channels_last"),
            keras_layer("Dense", "d1", units=5, activation="sigmoid", use_bias=True),
            keras_layer("Dense", "d2", units=3, activation="softmax", use_bias=True),
        ]
        if kind == "unsupported":
            layers.insert(3, keras_layer("LSTM", "lstm_7", units=4))
    elif kind == "conv2d":
        shape = [9, 8, 1]
        layers = [
            keras_layer("Conv2D", "c1", batch_input_shape=[None] + shape, filters=3, kernel_size=[3, 3],
                        strides=[1, 1], padding="valid", data_format="channels_last", dilation_rate=[1, 1],
                        activation="relu", use_bias=True),
            keras_layer("MaxPooling2D", "p1", pool_size=[2, 2], strides=[2, 2], padding="same",
                        data_format="channels_last"),
            keras_layer("Conv2D", "c2", filters=2, kernel_size=[2, 3], strides=[2, 1], padding="same",
                        data_format="channels_last", dilation_rate=[1, 1], activation="linear", use_bias=True),
            keras_layer("Flatten", "flat", data_format="channels_last"),
            keras_layer("Dense", "d1", units=1, activation="sigmoid", use_bias=True),
        ]
    elif kind == "conv3d":
        shape = [6, 5, 7, 2]
        layers = [
            keras_layer("Conv3D", "c1", batch_input_shape=[None] + shape, filters=3, kernel_size=[3, 2, 3],
                        strides=[1, 2, 2], padding="same", data_format="channels_last",
                        dilation_rate=[1, 1, 1], activation="relu", use_bias=True),
            keras_layer("MaxPooling3D", "p1", pool_size=[2, 2, 2], strides=[2, 1, 2], padding="valid",
                        data_format="channels_last"),
            keras_layer("Flatten", "flat", data_format="channels_last"),
            keras_layer("Dense", "d1", units=4, activation="softmax", use_bias=True),
        ]
    else:
        raise ValueError(kind)
    # weight shapes by a dry run of the shape arithmetic
    f = h5py.File(out, "w")
    config = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": layers}}
    text = json.dumps(config)
    f.attrs["model_config"] = np.bytes_(text.encode()) if as_bytes else text
    f.attrs["keras_version"] = "2.2.4"
    f.attrs["backend"] = "tensorflow"
    g = f.create_group("model_weights")
    g.attrs["layer_names"] = np.array([l["config"]["name"].encode() for l in layers])
    x = np.zeros([1] + shape)
    weights = {}
    for layer in layers:
        cls, c = layer["class_name"], layer["config"]
        name = c["name"]
        lg = g.create_group(name)
        params = {}
        if cls.startswith("Conv"):
            rank = int(cls[4])
            params["kernel"] = rng.uniform(-0.6, 0.6, size=tuple(c["kernel_size"]) + (x.shape[-1], c["filters"]))
            params["bias"] = rng.uniform(-0.2, 0.2, size=c["filters"])
        elif cls == "Dense":
            n_in = int(np.prod(x.shape[1:]))
            params["kernel"] = rng.uniform(-0.6, 0.6, size=(n_in, c["units"]))
            params["bias"] = rng.uniform(-0.2, 0.2, size=c["units"])
        if params:
            names = [f"{name}/{p}:0" for p in params]
            lg.attrs["weight_names"] = np.array([n.encode() for n in names])
            for p, v in params.items():
                lg.create_dataset(f"{name}/{p}:0", data=v.astype(np.float32))
        else:
            lg.attrs["weight_names"] = np.array([], dtype=np.float64)
        weights[name] = {p: v.astype(np.float32).astype(np.float64) for p, v in params.items()}
        if cls != "LSTM":
            x = forward([layer], weights, x)
    f.close()


def main():
    if sys.argv[1] == "forward":
        layers, weights = load(sys.argv[2])
        with h5py.File(sys.argv[3], "r") as f:
            x = np.array(f["x"])
        y = forward(layers, weights, x)
        with h5py.File(sys.argv[4], "w") as f:
            f.create_dataset("y", data=y)
    elif sys.argv[1] == "make-keras":
        make_keras(sys.argv[2], sys.argv[3], int(sys.argv[4]), len(sys.argv) > 5 and sys.argv[5] == "bytes")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
