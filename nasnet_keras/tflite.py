"""Running a ``.tflite`` file like a Keras model: `TFLiteModel`.

On a CPU and one image at a time, TFLite with XNNPACK ran NASNet-A mobile 2.3-2.6x
faster than TensorFlow here (`nasnet-keras benchmark`, `python benchmarks/inference.py
--backends tf tflite`, README "Speed").  The runner uses LiteRT (``ai-edge-litert``) when it is installed and
TensorFlow's own interpreter otherwise; both apply XNNPACK to float models by default.

Two choices, each measured on NASNet-A mobile, 2-core CPU (scratch scripts):
- ``num_threads=None`` means every CPU this process may use: the runtimes' own default
  ran 46 img/s at batch 1 against 67 img/s with 2 threads.
- A batch runs as one call, the input tensor resized to it (65 img/s at batch 32),
  not image by image (60 img/s).
"""

import os

import numpy as np


def _usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def make_interpreter(path, num_threads=None):
    """A LiteRT interpreter for ``path`` (TensorFlow's when LiteRT is not installed)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            # TensorFlow's interpreter still works; the warning only says LiteRT exists.
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            return tf.lite.Interpreter(model_path=path, num_threads=num_threads), "tensorflow"
    return Interpreter(model_path=path, num_threads=num_threads), "litert"


class TFLiteModel:
    """A ``.tflite`` image classifier with Keras' ``predict``.

    Args:
        path: the ``.tflite`` file (`nasnet_keras.export_tflite` writes one).
        num_threads: CPU threads; None uses every CPU this process may use.

    Attributes: ``input_shape`` (with the file's batch size), ``input_dtype``,
    ``runtime`` (``"litert"`` or ``"tensorflow"``), ``num_threads``.  A model with int8
    input or output (not what `export_tflite` writes: it keeps float32 at both ends) is
    quantized and dequantized with the file's scale and zero point, so ``predict``
    always takes and returns float32.
    """

    def __init__(self, path, num_threads=None):
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"`path` {path!r} is not a file; expected a .tflite model "
                                    "(nasnet_keras.export_tflite writes one).")
        if num_threads is None:
            num_threads = _usable_cpus()
        elif isinstance(num_threads, bool) or not isinstance(num_threads, int) or \
                num_threads < 1:
            raise ValueError(f"`num_threads` must be a positive integer or None (every CPU), "
                             f"got {num_threads!r}.")
        self.path = path
        self.num_threads = num_threads
        self._interpreter, self.runtime = make_interpreter(path, num_threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"])
        self.input_dtype = np.dtype(self._input["dtype"])
        self._batch = self.input_shape[0]

    def __repr__(self):
        return (f"TFLiteModel({self.path!r}, input_shape={self.input_shape}, "
                f"runtime={self.runtime!r}, num_threads={self.num_threads})")

    def _check_images(self, images):
        if images.ndim != len(self.input_shape) or \
                tuple(images.shape[1:]) != self.input_shape[1:]:
            raise ValueError(f"`x` holds images of shape {tuple(images.shape[1:])} (batch "
                             f"shape {tuple(images.shape)}), but the model at {self.path!r} "
                             f"takes {self.input_shape[1:]}: resize the data, or export the "
                             "model at this size.")

    def _quantize(self, images):
        if self.input_dtype.kind == "f":
            return images.astype(self.input_dtype, copy=False)
        scale, zero_point = self._input["quantization"]
        info = np.iinfo(self.input_dtype)
        q = np.round(images / scale + zero_point)
        return np.clip(q, info.min, info.max).astype(self.input_dtype)

    def _dequantize(self, values):
        if values.dtype.kind == "f":
            return values.astype("float32", copy=False)
        scale, zero_point = self._output["quantization"]
        return ((values.astype("float32") - zero_point) * scale).astype("float32")

    def _run(self, images):
        if len(images) != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"],
                                                  [len(images), *self.input_shape[1:]])
            self._interpreter.allocate_tensors()
            self._batch = len(images)
        self._interpreter.set_tensor(self._input["index"], self._quantize(images))
        self._interpreter.invoke()
        return self._dequantize(self._interpreter.get_tensor(self._output["index"]))

    def predict(self, x, batch_size=32):
        """Outputs for ``x``: a numpy batch of images, or a ``tf.data.Dataset`` of image
        batches or of ``(images, labels)`` batches (as Keras' ``predict`` takes them)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
        if hasattr(x, "as_numpy_iterator"):  # tf.data: its own batches
            parts = []
            for item in x.as_numpy_iterator():
                images = np.asarray(item[0] if isinstance(item, tuple) else item, "float32")
                parts.append(self.predict(images, batch_size))
            if not parts:
                raise ValueError("`x` is an empty dataset.")
            return np.concatenate(parts)
        images = np.asarray(x, "float32")
        self._check_images(images)
        if len(images) == 0:
            raise ValueError("`x` holds no images.")
        return np.concatenate([self._run(images[i:i + batch_size])
                               for i in range(0, len(images), batch_size)])
