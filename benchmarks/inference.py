"""Inference throughput: nasnet_keras NASNetA("mobile") vs keras.applications.NASNetMobile,
then the same NASNetA("mobile") on TFLite (float32, float16 weights, int8).

Both models are built and timed in the same process, interleaved, so the
ratio is meaningful on a noisy machine.  Prints images/s per (dtype, batch)
and the median over rounds of the ratio ours / keras.applications (target: >= 1.0).
The TFLite rows come from `nasnet_keras.benchmark_backends` (what ``nasnet-keras
benchmark`` runs), each backend timed in turn, with its ratio to TensorFlow; int8 is
calibrated on random images (speed only).  ``--backends tf`` skips them.

    python benchmarks/inference.py [--batches 1 32] [--dtypes float32 bfloat16] [--seconds 10]
                                   [--backends tf tflite tflite-float16 tflite-int8]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import nasnet_keras as nk  # noqa: E402
from nasnet_keras.benchmark import throughput  # noqa: E402


def _runner(model):
    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return fn


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--seconds", type=float, default=5.0, help="timing per measurement")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per pair")
    parser.add_argument("--backends", nargs="+",
                        default=["tf", "tflite", "tflite-float16", "tflite-int8"])
    args = parser.parse_args(argv)

    print(f"TF {tf.__version__}, keras {keras.__version__}, "
          f"{len(tf.config.list_physical_devices('GPU'))} GPU(s), {os.cpu_count()} CPU(s)")
    print(f"{'dtype':<10}{'batch':>6}{'nasnet_keras img/s':>20}{'keras.app img/s':>18}{'ratio':>8}")
    for dtype in args.dtypes:
        keras.config.set_dtype_policy("mixed_bfloat16" if dtype == "bfloat16" else "float32")
        ours = nk.NASNetA("mobile", input_shape=(224, 224, 3))
        theirs = keras.applications.NASNetMobile(weights=None)
        run_ours, run_theirs = _runner(ours), _runner(theirs)
        for batch in args.batches:
            x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (batch, 224, 224, 3)),
                            dtype="float32")
            a, b = [], []
            for r in range(args.rounds):
                # Alternate who goes first, so drift in machine speed cancels out.
                if r % 2 == 0:
                    a.append(throughput(run_ours, x, args.seconds))
                    b.append(throughput(run_theirs, x, args.seconds))
                else:
                    b.append(throughput(run_theirs, x, args.seconds))
                    a.append(throughput(run_ours, x, args.seconds))
            ratios = sorted(x / y for x, y in zip(a, b))
            print(f"{dtype:<10}{batch:>6}{np.median(a):>20.1f}{np.median(b):>18.1f}"
                  f"{np.median(ratios):>8.2f}")
    keras.config.set_dtype_policy("float32")
    if args.backends != ["tf"]:
        from nasnet_keras.benchmark import format_table

        ours = nk.NASNetA("mobile", input_shape=(224, 224, 3))
        calibration = np.random.default_rng(1).uniform(-1, 1, (32, 224, 224, 3)).astype("float32")
        rows = nk.benchmark_backends(ours, batches=tuple(args.batches), backends=args.backends,
                                     seconds=args.seconds, rounds=args.rounds,
                                     calibration_data=calibration)
        print("\nnasnet_keras NASNetA('mobile'), float32 model, by backend:")
        print(format_table(rows))


if __name__ == "__main__":
    main()
