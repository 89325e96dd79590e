"""Training helpers for the auxiliary head (drop-path needs none: it counts its own steps)."""

import keras

from nasnet_keras.heads import AuxHead

AUX_LOSS_WEIGHT = 0.4


def aux_loss_weights(aux_weight=AUX_LOSS_WEIGHT):
    """``loss_weights`` for ``model.compile`` of a model built with ``aux_head=True``.

    Such a model returns ``[predictions, aux_predictions]``; give it the labels
    twice (see `duplicate_targets`) and compile with
    ``loss=[loss, loss], loss_weights=aux_loss_weights()``.
    """
    if not 0.0 <= float(aux_weight):
        raise ValueError(f"`aux_weight` must be >= 0, got {aux_weight!r}.")
    return [1.0, float(aux_weight)]


def duplicate_targets(dataset):
    """Map a ``tf.data`` dataset of ``(x, y)`` to ``(x, (y, y))`` for the aux head."""
    return dataset.map(lambda x, y: (x, (y, y)))


def without_aux_head(model):
    """The inference model: the same layers and weights, main output only."""
    if not any(isinstance(layer, AuxHead) for layer in model.layers):
        return model
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, model.outputs[0], name=model.name)
