"""`recalibrate_batch_norm`: moving statistics recomputed from data, weights unchanged.

A model whose weights come from somewhere its BatchNorm statistics do not describe
(a child extracted from a weight-sharing supernet, whose statistics are a mixture over
every sampled path; weights averaged over checkpoints) predicts badly in inference mode
until its moving means and variances are measured again on its own activations.
"""

import keras
import numpy as np


def _batches(data, steps):
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        for i, batch in enumerate(data):
            if steps is not None and i >= steps:
                return
            yield batch[0] if isinstance(batch, (tuple, list)) else batch
        return
    if isinstance(data, (np.ndarray, tf.Tensor)) or hasattr(data, "__array__"):
        array = np.asarray(data)
        if array.ndim < 2:
            raise ValueError(f"recalibrate_batch_norm: `data` must be a batch of inputs, got an "
                             f"array of shape {array.shape}.")
        size = 64
        for i, start in enumerate(range(0, len(array), size)):
            if steps is not None and i >= steps:
                return
            yield array[start:start + size]
        return
    raise TypeError("recalibrate_batch_norm: `data` must be a tf.data.Dataset (of inputs or "
                    f"(inputs, targets)) or an array of inputs, got {type(data).__name__}.")


def recalibrate_batch_norm(model, data, steps=None):
    """Set every BatchNormalization layer's moving mean and variance to the average of
    its batch statistics over ``data``, each batch weighted equally.

    Args:
        model: a Keras model.
        data: a ``tf.data.Dataset`` of inputs or ``(inputs, targets)``, or an array of
            inputs (cut into batches of 64).
        steps: batches to use; None: all of ``data``.
    Returns:
        The number of batches used.  Trainable weights and every other state (drop-path
        step counters, random generators' seeds aside) are left as they were.
    """
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise ValueError(f"recalibrate_batch_norm: `steps` must be a positive integer or None, "
                         f"got {steps!r}.")
    norms = [layer for layer in model._flatten_layers(include_self=False)
             if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return 0
    # Forward passes in training mode also advance drop-path counters; put them back.
    bn_state = {id(v) for layer in norms for v in (layer.moving_mean, layer.moving_variance)}
    others = [(v, v.numpy()) for v in model.non_trainable_variables if id(v) not in bn_state]
    momenta = [layer.momentum for layer in norms]
    count = 0
    try:
        for batch in _batches(data, steps):
            # Batch k gets weight 1/(k+1): the moving value becomes the running average.
            for layer in norms:
                layer.momentum = count / (count + 1.0)
            model(batch, training=True)  # eager: the momentum is read at each call
            count += 1
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
        for variable, value in others:
            variable.assign(value)
    if count == 0:
        raise ValueError("recalibrate_batch_norm: `data` yielded no batch.")
    return count
