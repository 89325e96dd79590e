"""Input scaling of the NASNet ImageNet weights: pixels in [0, 255] -> [-1, 1]."""

import numpy as np
from keras import ops
from keras.applications import imagenet_utils


def preprocess_input(x, data_format=None):
    """Scale pixels from [0, 255] to [-1, 1] (``x / 127.5 - 1``, "tf" mode).

    Accepts numpy arrays and tensors; returns the same kind.
    """
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"`data_format` must be None or 'channels_last' (NASNet is channels_last only), "
            f"got {data_format!r}.")
    if isinstance(x, np.ndarray):
        return x.astype("float32") / 127.5 - 1.0
    return ops.cast(x, "float32") / 127.5 - 1.0


def decode_predictions(preds, top=5):
    """ImageNet top-``top`` (class id, name, score) per row (keras.applications' decoder)."""
    return imagenet_utils.decode_predictions(preds, top=top)
