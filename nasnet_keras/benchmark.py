"""Images per second of one model on each inference backend, same run, interleaved.

Backends: ``tf`` (the Keras model in a ``tf.function``), ``tflite`` (float32),
``tflite-float16`` (half-size weights) and ``tflite-int8`` (weights and activations,
calibrated on images you give), the last three through `TFLiteModel`.  Each round
times every backend once, in turn, so the machine's drift hits them alike; a row is
the median over rounds, with its ratio to ``tf``.  ``nasnet-keras benchmark`` prints it.
"""

import os
import shutil
import statistics
import tempfile
import time

import numpy as np

BACKENDS = ("tf", "tflite", "tflite-float16", "tflite-int8")
_QUANTIZATION = {"tflite": None, "tflite-float16": "float16", "tflite-int8": "int8"}


def check_backends(backends):
    """``backends`` as a tuple, or an error naming the unknown ones."""
    backends = tuple(backends)
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise ValueError(f"`backends` must be a non-empty selection of {', '.join(BACKENDS)}; "
                         f"got {', '.join(map(repr, unknown)) or 'none'}.")
    return backends


def throughput(run, images, seconds):
    """Images per second of ``run(images)`` over at least ``seconds`` and 3 calls, after two
    warm-up calls (the first may trace)."""
    run(images)
    run(images)
    count, start = 0, time.perf_counter()
    while True:
        run(images)
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and count >= 3:
            return count * len(images) / elapsed


def _runners(model, backends, workdir, calibration_data, num_threads):
    import tensorflow as tf

    from nasnet_keras.export import export_tflite
    from nasnet_keras.tflite import TFLiteModel

    runners = {}
    for backend in backends:
        if backend == "tf":
            function = tf.function(lambda x: model(x, training=False))
            runners[backend] = lambda x, f=function: np.asarray(f(tf.constant(x)))
        else:
            path = export_tflite(model, os.path.join(workdir, f"{backend}.tflite"),
                                 quantization=_QUANTIZATION[backend],
                                 representative_data=calibration_data)
            lite = TFLiteModel(path, num_threads=num_threads)
            runners[backend] = lambda x, m=lite: m.predict(x, batch_size=len(x))
    return runners


def benchmark_backends(model, batches=(1, 32), backends=BACKENDS, seconds=3.0, rounds=3,
                       calibration_data=None, num_threads=None, seed=0):
    """Time ``model`` on each backend; return one dict per (batch, backend): images per
    second, and with ``tf`` among the backends the ratio to it and the largest output
    difference from it on four random images.

    Args:
        model: a Keras image model with a fixed input size.
        batches: batch sizes to time.
        backends: a selection of `BACKENDS`.
        seconds: timing per measurement; rounds: interleaved rounds (median taken).
        calibration_data: images for ``tflite-int8`` (required with it).
        num_threads: TFLite threads (None: every usable CPU, `TFLiteModel`).
    """
    backends = check_backends(backends)
    if "tflite-int8" in backends and calibration_data is None:
        raise ValueError("The `tflite-int8` backend needs `calibration_data`: images "
                         "preprocessed as for the model, to calibrate activation ranges.")
    if not batches or any(isinstance(b, bool) or not isinstance(b, int) or b < 1
                          for b in batches):
        raise ValueError(f"`batches` must be positive integers, got {list(batches)!r}.")
    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise ValueError(f"`model` takes any image size (input shape {shape}); build it with a "
                         "fixed one, e.g. input_shape=(224, 224, 3).")
    rng = np.random.default_rng(seed)
    workdir = tempfile.mkdtemp(prefix="nasnet_benchmark_")
    try:
        runners = _runners(model, backends, workdir, calibration_data, num_threads)
        probe = rng.uniform(-1, 1, (4, *shape)).astype("float32")
        outputs = {b: runners[b](probe) for b in backends}
        rows = []
        for batch in batches:
            images = rng.uniform(-1, 1, (batch, *shape)).astype("float32")
            times = {b: [] for b in backends}
            for _ in range(rounds):
                for backend in backends:
                    times[backend].append(throughput(runners[backend], images, seconds))
            for backend in backends:
                row = {"backend": backend, "batch": batch,
                       "images_per_second": round(statistics.median(times[backend]), 1)}
                if "tf" in backends:  # what the speed costs in output fidelity
                    row["max_abs_difference_to_tf"] = float(
                        np.max(np.abs(outputs[backend] - outputs["tf"])))
                rows.append(row)
            if "tf" in backends:
                base = statistics.median(times["tf"])
                for row in rows[-len(backends):]:
                    row["ratio_to_tf"] = round(row["images_per_second"] / base, 2)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def format_table(rows):
    """The rows as a plain-text table."""
    ratio = any("ratio_to_tf" in r for r in rows)
    lines = [f"{'backend':<16}{'batch':>6}{'images/s':>11}"
             + (f"{'vs tf':>8}{'max |output - tf|':>19}" if ratio else "")]
    for r in rows:
        lines.append(f"{r['backend']:<16}{r['batch']:>6}{r['images_per_second']:>11.1f}"
                     + (f"{r['ratio_to_tf']:>7.2f}x{r['max_abs_difference_to_tf']:>19.2g}"
                        if ratio else ""))
    return "\n".join(lines)
