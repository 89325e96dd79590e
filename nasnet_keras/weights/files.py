"""This project's weight file: HDF5 datasets keyed by TF-slim name.

Keyed by name, so a file loads into any model with the same architecture,
whatever its layer-name prefix, and a mismatch is reported name by name.
"""

import json
import os

import h5py
import numpy as np

FORMAT = "nasnet_keras.weights/1"


def is_nasnet_weights_file(path):
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT
    except OSError:
        return False


def write_weights_file(path, arrays, metadata=None):
    """Write ``{slim name: array}``; a crash midway never leaves a half-written ``path``."""
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["metadata"] = json.dumps(metadata or {})
            group = f.create_group("weights")
            for name in sorted(arrays):
                group.create_dataset(name, data=np.asarray(arrays[name]))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_weights_file(path):
    out = {}
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"{path}: not a nasnet_keras weights file.")

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = np.asarray(obj)

        f["weights"].visititems(visit)
        metadata = json.loads(f.attrs.get("metadata", "{}"))
    return out, metadata
