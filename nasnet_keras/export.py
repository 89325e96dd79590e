"""Shipping a model: TensorFlow SavedModel and TFLite (float, or int8 with calibration).

Both go through Keras 3's ``model.export`` (a SavedModel whose ``serve``
signature takes the image batch); TFLite converts that SavedModel.  The int8
model quantizes weights and activations, calibrated on a representative data
set, and keeps float32 input and output so it is a drop-in replacement.  The
``*_outputs`` helpers run an exported file, for parity checks.
"""

import os
import shutil
import tempfile

import numpy as np

TFLITE_QUANTIZATIONS = (None, "float16", "int8")


def _main_output_model(model):
    """SavedModel/TFLite serve one output; a model with an aux head serves its main one."""
    import keras

    if isinstance(model, keras.Sequential):  # one output (and no `output` until called)
        return model
    if len(model.outputs) > 1:
        from nasnet_keras.training import without_aux_head

        return without_aux_head(model)
    return model


def export_saved_model(model, path):
    """Write a SavedModel to ``path`` (its ``serve`` function maps images to predictions)."""
    _main_output_model(model).export(os.fspath(path), format="tf_saved_model", verbose=False)
    return os.fspath(path)


def saved_model_outputs(path, x):
    """Run the SavedModel at ``path`` on ``x`` (numpy) and return numpy outputs."""
    import tensorflow as tf

    loaded = tf.saved_model.load(os.fspath(path))
    return np.asarray(loaded.serve(tf.constant(x, "float32")))


def _representative(data, limit):
    """A TFLite representative-dataset generator from arrays or a tf.data pipeline."""
    def batches():
        count = 0
        source = data.unbatch() if hasattr(data, "unbatch") else data
        for item in source:
            image = item[0] if isinstance(item, (tuple, list)) else item
            yield [np.asarray(image, "float32")[None]]
            count += 1
            if count >= limit:
                return
    return batches


def export_tflite(model, path, quantization=None, representative_data=None,
                  calibration_examples=100):
    """Write a ``.tflite`` file; return its path.

    Args:
        quantization: None (float32), ``"float16"`` (half-size weights) or
            ``"int8"`` (weights and activations; needs ``representative_data``).
        representative_data: images (a numpy batch, or a ``tf.data`` pipeline
            of ``(images, labels)`` batches) preprocessed as for the model.
        calibration_examples: how many images calibrate the int8 ranges.
    """
    import tensorflow as tf

    if quantization not in TFLITE_QUANTIZATIONS:
        raise ValueError(f"`quantization` must be one of {TFLITE_QUANTIZATIONS}, got "
                         f"{quantization!r}.")
    if quantization == "int8" and representative_data is None:
        raise ValueError("`quantization='int8'` needs `representative_data` (images preprocessed "
                         "as for the model) to calibrate activation ranges.")
    shape = tuple(model.inputs[0].shape)
    if any(d is None for d in shape[1:]):
        raise ValueError(f"`model` {model.name!r} takes any image size (input shape {shape}); TFLite "
                         "needs a fixed one: build it with e.g. input_shape=(224, 224, 3).")
    workdir = tempfile.mkdtemp(prefix="nasnet_tflite_")
    try:
        saved = export_saved_model(model, os.path.join(workdir, "saved_model"))
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        if quantization == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantization == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = _representative(representative_data,
                                                                calibration_examples)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        flatbuffer = converter.convert()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(flatbuffer)
    return os.fspath(path)


def tflite_outputs(path, x):
    """Run the ``.tflite`` file at ``path`` on the batch ``x``, one image at a time."""
    from nasnet_keras.tflite import TFLiteModel

    return TFLiteModel(path).predict(x, batch_size=1)
