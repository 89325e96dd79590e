"""Read TF-slim NASNet/PNASNet checkpoints (``model.ckpt`` prefix, V2 format).

Optimizer slots (RMSProp), the global step and, unless ``use_ema``, the
exponential-moving-average shadows are skipped.  slim heads have 1001 classes
with background at index 0; ``drop_background`` removes it so the result
matches 1000-class models (and keras.applications' files).
"""

import os

import numpy as np

_SKIP_SUFFIXES = ("/RMSProp", "/RMSProp_1", "/Momentum", "/ExponentialMovingAverage")
_FC_NAMES = ("final_layer/FC/", "/aux_logits/FC/")


def is_slim_checkpoint(path):
    return isinstance(path, str) and os.path.exists(path + ".index")


def read_slim_checkpoint(prefix, use_ema=False, drop_background=True):
    """{slim name: array} from a checkpoint prefix such as ``.../model.ckpt``."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    out = {}
    for name in sorted(shapes):
        if name == "global_step" or name.endswith(_SKIP_SUFFIXES):
            continue
        source = name
        if use_ema and f"{name}/ExponentialMovingAverage" in shapes:
            source = f"{name}/ExponentialMovingAverage"
        value = np.asarray(reader.get_tensor(source))
        if drop_background and any(k in name for k in _FC_NAMES) and value.shape[-1] == 1001:
            value = value[..., 1:]
        out[name] = value
    return out
