"""Read keras.applications NASNet weight files by layer name.

Three layouts are understood:
- Keras 2 weights-only HDF5 (the official files): ``layer_names`` at the root,
  ``weight_names`` such as ``stem_bn1/gamma:0``;
- Keras 3 ``model.save("x.h5")``: the same under ``model_weights``, with
  name-scoped weight names;
- Keras 3 ``model.save_weights("x.weights.h5")``: ``layers/<name>/vars/<i>``.
The result is ``{slim name: array}``; nothing depends on layer order.
"""

import re

import h5py
import numpy as np

from nasnet_keras.weights.naming import keras_app_to_slim

_BN_ORDER = ("gamma", "beta", "moving_mean", "moving_variance")


def is_keras_app_h5(path):
    try:
        with h5py.File(path, "r") as f:
            return _find_legacy_group(f) is not None or _is_native_keras_app(f)
    except OSError:
        return False


def _find_legacy_group(f):
    if "layer_names" in f.attrs:
        return f
    if "model_weights" in f and "layer_names" in f["model_weights"].attrs:
        return f["model_weights"]
    return None


def _is_native_keras_app(f):
    return "layers" in f and any(n in f["layers"] for n in ("stem_conv1", "stem_bn1"))


def _decode(v):
    return v.decode("utf8") if isinstance(v, bytes) else str(v)


def _read_raw(f):
    """[(layer name, variable name, array)] from either layout."""
    rows = []
    group = _find_legacy_group(f)
    if group is not None:
        for layer in map(_decode, group.attrs["layer_names"]):
            g = group[layer]
            for wname in map(_decode, g.attrs.get("weight_names", [])):
                var = wname.split("/")[-1].split(":")[0]
                rows.append((layer, var, np.asarray(g[wname])))
        return rows
    for layer, g in f["layers"].items():
        if "vars" not in g or not len(g["vars"]):
            continue
        arrays = [np.asarray(g["vars"][str(i)]) for i in range(len(g["vars"]))]
        if "bn" in layer:
            names = _BN_ORDER
        elif layer.startswith("separable_conv"):
            names = ("depthwise_kernel", "pointwise_kernel")
        elif layer == "predictions":
            names = ("kernel", "bias")
        else:
            names = ("kernel",)
        if len(names) != len(arrays):
            raise ValueError(f"layer {layer!r} holds {len(arrays)} variables, expected {len(names)}")
        rows.extend((layer, n, a) for n, a in zip(names, arrays))
    return rows


def read_keras_app_h5(path):
    """{slim name: array} of a keras.applications NASNetMobile/NASNetLarge file."""
    with h5py.File(path, "r") as f:
        rows = _read_raw(f)
    layers = {layer for layer, _, _ in rows}
    reduce_ids = sorted(int(m.group(1)) for l in layers
                        if (m := re.match(r"reduction_conv_1_reduce_(\d+)$", l)))
    if not reduce_ids:
        raise ValueError(f"{path}: not a keras.applications NASNet weight file (no reduction cells).")
    num_cells = reduce_ids[0]
    factorized = {l[len("adjust_conv_1_"):] for l in layers if l.startswith("adjust_conv_1_")}
    out = {}
    for layer, var, array in rows:
        name = keras_app_to_slim(layer, var, num_cells, factorized)
        if name in out:
            raise ValueError(f"{path}: two weights map to {name!r} (second from layer {layer!r}).")
        out[name] = array
    return out
