"""A sum and a channel concatenation whose TensorFlow gradients trace few ops.

TensorFlow differentiates ``a + b`` without knowing that ``a`` and ``b`` have one shape
when their batch size is unknown: it traces a shape comparison and a reduction for each
side (7 ops), which it then finds it never needed.  Its gradient of a concatenation
computes every input's offset at run time (rank, axis, shapes, offsets, one slice per
input).  In a NASNet cell the summed branches always have one shape and the concatenated
states known channel counts, so the gradients are ``(dy, dy)`` and one split at known
sizes.  In a proxy search child the sums' gradients took 84 more ops, the
concatenations' 80 more (train step: 2,634 and 2,630 ops against 2,550 with both lean
forms; scratch A/B).  The forward ops are TensorFlow's own (``AddN``,
``ConcatV2``), so outputs are bit for bit Keras'; other backends use ``keras.ops``.
`recorded_as_first_output` records an op with a gradient of one's own choosing (also
`FusedBatchNormalization`'s training kernel, as an op of its normalized output only).
"""

import keras
from keras import ops


def _tensorflow():
    return keras.backend.backend() == "tensorflow"


def add_same_shape(a, b):
    """``a + b`` where both have one shape: TensorFlow's ``AddN``, whose gradient passes
    ``dy`` to both without a reduction.  Tensors whose static shapes or dtypes differ
    (broadcasting) take ``keras.ops.add``."""
    if not _tensorflow():
        return ops.add(a, b)
    import tensorflow as tf

    shape_a, shape_b = tf.TensorShape(a.shape), tf.TensorShape(b.shape)
    if (a.dtype != b.dtype or shape_a.rank is None or shape_a.rank != shape_b.rank
            or not shape_a.is_compatible_with(shape_b)):
        return ops.add(a, b)
    return tf.math.add_n([a, b])


def concatenate_channels(tensors):
    """``keras.ops.concatenate(tensors, axis=-1)``, recorded for gradients as one split of
    ``dy`` at the inputs' channel counts (where these are known and the dtypes agree)."""
    tensors = list(tensors)
    sizes = [t.shape[-1] for t in tensors]
    if (not _tensorflow() or len(tensors) < 2 or any(s is None for s in sizes)
            or len({t.dtype for t in tensors}) != 1):
        return ops.concatenate(tensors, axis=-1)
    import tensorflow as tf

    return recorded_as_first_output(
        "ConcatV2", tensors, lambda: tf.concat(tensors, axis=-1),
        lambda y, dy: tf.split(dy, sizes, axis=-1))


def recorded_as_first_output(op_type, inputs, forward, backward):
    """``forward()``, run unseen by TensorFlow's gradient tape, then recorded for gradients
    as an ``op_type`` op from ``inputs`` to its output (the first one, when it returns
    several), whose gradient is ``backward(outputs, dy)``.  Without TensorFlow's tape API
    (a private module), ``forward()`` is recorded as usual, with its registered gradient."""
    try:
        from tensorflow.python.eager import record
    except ImportError:
        return forward()
    with record.stop_recording():
        outputs = forward()
    y = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
    record.record_operation(op_type, [y], list(inputs), lambda dy: backward(outputs, dy))
    return outputs
