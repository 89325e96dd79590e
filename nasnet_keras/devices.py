"""Whether TensorFlow sees a GPU: the fused BatchNorm's epsilon bound and variance output,
and how much graph optimization a short run gets, differ between CPU and GPU."""

import functools


@functools.lru_cache(maxsize=None)
def gpu_visible():
    # Fixed once TensorFlow's runtime has started, which listing the devices does.
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))
