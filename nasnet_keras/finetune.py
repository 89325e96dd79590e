"""Transfer learning: a new head, a frozen backbone, and the two-phase recipe.

Frozen means ``trainable = False`` on every layer up to an endpoint.  In Keras 3 a
BatchNormalization layer that is not trainable runs in inference mode: it uses its
moving statistics in ``fit`` too and never updates them.  So a frozen backbone
computes the same function in training and in inference, and fine-tuning on a
small data set cannot disturb statistics learned on ImageNet.  When the top
cells are unfrozen for the second phase their BatchNormalization layers stay
frozen by default (``bn_trainable=False``), the usual advice for small data.
"""

import keras

from nasnet_keras.features import endpoint_layers
from nasnet_keras.heads import AuxHead
from nasnet_keras.optimizers import FusedAdam, prepare_training
from nasnet_keras.weights.naming import _layer_prefix


def _endpoint_layers(model):
    """{endpoint name: index of its layer in ``model.layers``} (see `endpoints`)."""
    found = endpoint_layers(model)
    if "final" not in found:
        raise ValueError(f"Model {model.name!r} was not built by nasnet_keras.NASNet (it has no "
                         "`final_relu` layer).")
    return found


def _check_endpoint(model, endpoint, argument):
    found = _endpoint_layers(model)
    if endpoint not in found:
        raise ValueError(f"`{argument}` must be an endpoint of {model.name!r}: one of "
                         f"{list(found)}, got {endpoint!r}.")
    return found[endpoint]


def replace_head(model, classes, dropout=0.0, activation="softmax", name=None):
    """A model with the backbone of ``model`` (shared layers and weights) and a new
    classifier for ``classes`` classes.

    Works on NASNet models with or without a top.  A model with an auxiliary
    head gets a new auxiliary head too (same input), so it returns
    ``[predictions, aux_predictions]`` as before.
    """
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise ValueError(f"`classes` must be an integer >= 1, got {classes!r}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
    prefix = _layer_prefix(model)
    features = model.layers[_endpoint_layers(model)["final"]].output
    x = keras.layers.GlobalAveragePooling2D(name=f"{prefix}avg_pool")(features)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{prefix}dropout")(x)
    outputs = keras.layers.Dense(classes, activation=activation, dtype="float32",
                                 name=f"{prefix}predictions")(x)
    aux = [layer for layer in model.layers if isinstance(layer, AuxHead)]
    if aux:
        config = dict(aux[0].get_config(), classes=classes, activation=activation)
        new_aux = AuxHead.from_config(config)
        outputs = [outputs, new_aux(aux[0].input)]
    return keras.Model(_inputs(model), outputs, name=name or model.name)


def _inputs(model):
    # A single input stays a tensor, not a one-item list: exported signatures, and
    # calls with a plain array, expect the original structure.
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def _head_classes(model):
    output = model.output[0] if isinstance(model.output, (list, tuple)) else model.output
    return output.shape[-1]


def check_head(model, classes, data="the data"):
    """Raise a clear error when ``model``'s classifier does not have ``classes`` outputs."""
    if _head_classes(model) != classes:
        raise ValueError(f"The head of {model.name!r} has {_head_classes(model)} classes but "
                         f"{data!r} has {classes}; give the model a new head with "
                         f"nasnet_keras.replace_head(model, {classes}) (command line: --new-head).")


def set_trainable(model, until=None, bn_trainable=False):
    """Freeze every layer up to and including endpoint ``until``; the rest train.

    ``until=None`` unfreezes everything; ``until="final"`` freezes the whole
    backbone (only the head trains).  BatchNormalization layers after
    ``until`` train only with ``bn_trainable=True``.  Returns the number of
    frozen layers.  Recompile the model afterwards (Keras reads
    ``trainable`` when it compiles).
    """
    last = -1 if until is None else _check_endpoint(model, until, "until")
    frozen = 0
    for i, layer in enumerate(model.layers):
        layer.trainable = i > last
        frozen += i <= last
        if i > last and not bn_trainable:
            for sub in _batch_norms(layer):
                sub.trainable = False
    return frozen


def _batch_norms(layer):
    if isinstance(layer, keras.layers.BatchNormalization):
        return [layer]
    return [sub for sub in getattr(layer, "_flatten_layers", lambda **_: [])(include_self=False)
            if isinstance(sub, keras.layers.BatchNormalization)]


def freeze_backbone(model):
    """Freeze everything but the classifier (`set_trainable` up to ``"final"``)."""
    return set_trainable(model, until="final")


def _shuffle(train):
    # A tf.data pipeline shuffles itself; Keras warns on every fit that it ignores shuffle=True.
    import tensorflow as tf

    return not isinstance(train, tf.data.Dataset)


def two_phase_finetune(model, train, validation=None, head_epochs=3, finetune_epochs=3,
                       unfreeze_from=None, head_learning_rate=1e-3,
                       finetune_learning_rate=1e-4, loss="sparse_categorical_crossentropy",
                       metrics=("accuracy",), callbacks=None, classes=None, verbose="auto"):
    """Train the head on a frozen backbone, then the top cells at a lower rate.

    Args:
        model: a NASNet with its new head (`replace_head`).
        train, validation: ``tf.data`` pipelines of ``(images, labels)``
            (`nasnet_keras.data.load_data`).  For a model with an auxiliary
            head, give labels twice (`duplicate_targets`).
        head_epochs: phase 1, backbone frozen (0 skips it).
        finetune_epochs: phase 2 (0 skips it).
        unfreeze_from: the first endpoint trained in phase 2; default: the
            last reduction cell, so the last stage's cells and the head train.
        head_learning_rate, finetune_learning_rate: Adam rates of the phases
            (`FusedAdam`: Keras' Adam, traced in a fraction of the time).
        classes: the data's class count, checked against the head when given.
    Returns:
        ``{"head": History or None, "finetune": History or None}``.
    """
    if classes is not None:
        check_head(model, classes)
    found = _endpoint_layers(model)
    if unfreeze_from is None:
        reductions = [n for n in found if n.startswith("reduction_cell_")]
        unfreeze_from = reductions[-1] if reductions else "final"
    names = list(found)
    _check_endpoint(model, unfreeze_from, "unfreeze_from")
    aux = isinstance(model.output, (list, tuple))
    compile_kwargs = dict(loss=[loss, loss] if aux else loss,
                          loss_weights=[1.0, 0.4] if aux else None,
                          metrics=[list(metrics), []] if aux else list(metrics))
    history = {"head": None, "finetune": None}
    if head_epochs:
        freeze_backbone(model)
        model.compile(optimizer=FusedAdam(head_learning_rate), **compile_kwargs)
        # One trace of the train step, not two; the test step's during the first epoch.
        prepare_training(model, train, will_evaluate=validation is not None)
        history["head"] = model.fit(train, validation_data=validation, epochs=head_epochs,
                                    callbacks=callbacks, verbose=verbose,
                                    shuffle=_shuffle(train))
    if finetune_epochs:
        before = names[names.index(unfreeze_from) - 1] if names.index(unfreeze_from) else None
        set_trainable(model, until=before)
        model.compile(optimizer=FusedAdam(finetune_learning_rate), **compile_kwargs)
        prepare_training(model, train, will_evaluate=validation is not None)
        history["finetune"] = model.fit(train, validation_data=validation,
                                        initial_epoch=head_epochs,
                                        epochs=head_epochs + finetune_epochs,
                                        callbacks=callbacks, verbose=verbose,
                                        shuffle=_shuffle(train))
    return history
