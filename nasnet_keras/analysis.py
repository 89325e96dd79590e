"""Counting: parameters and mult-adds of any model this package builds.

Mult-adds are counted the way the NASNet paper counts them: one per
multiply-accumulate of every convolution (regular and depthwise) and of the
classifier, on a batch of one image.  Pooling, BatchNorm, adds and
activations are not counted.  This reproduces the published 564M (mobile,
224 px) and 23.8B (large, 331 px).
"""

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

_COUNTED = ("Conv2D", "DepthwiseConv2dNative", "MatMul")


def _image_size(model, image_size):
    shape = tuple(model.inputs[0].shape[1:])
    if image_size is not None:
        h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        return (h, w, shape[-1])
    if None in shape:
        raise ValueError(
            f"count_mult_adds: model {model.name!r} has input shape {shape}; pass "
            "`image_size` (e.g. 224) to count at a fixed size.")
    return shape


def count_mult_adds(model, image_size=None):
    """Multiply-accumulates of one inference pass on one image (inference mode)."""
    shape = _image_size(model, image_size)
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec((1,) + shape, model.inputs[0].dtype))
    graph = convert_variables_to_constants_v2(concrete).graph
    total = 0
    for op in graph.get_operations():
        if op.type not in _COUNTED:
            continue
        out = op.outputs[0].shape.as_list()
        kernel = op.inputs[1].shape.as_list()
        # The whole output, batch included: the input batch is 1, but a dilated
        # convolution runs as space-to-batch, which moves pixels into the batch.
        positions = int(np.prod([d or 1 for d in out[:-1]]))
        if op.type == "Conv2D":
            total += positions * out[-1] * kernel[0] * kernel[1] * kernel[2]
        elif op.type == "DepthwiseConv2dNative":
            total += positions * out[-1] * kernel[0] * kernel[1]
        else:
            total += positions * kernel[0] * kernel[1]
    return total


def count_params(model):
    """All weights, trainable or not (BatchNorm statistics included), as Keras counts them."""
    return int(model.count_params())
