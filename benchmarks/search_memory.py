"""Resident memory across search trials, against a plain Keras loop over the same children.

    python benchmarks/search_memory.py [--trials 30] [--keep-checkpoints 2] [--json]

TensorFlow keeps some memory for every train step it traces, even after
``keras.backend.clear_session()``; the second column measures that cost alone,
so the difference is what the search itself adds per trial.
"""

import argparse
import gc
import glob
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from nasnet_search import MacroSearchSpace, NASTuner, RandomOracle  # noqa: E402


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("needs /proc (Linux)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--keep-checkpoints", type=int, default=1)
    parser.add_argument("--plain-models", type=int, default=12,
                        help="children rebuilt in the plain Keras loop")
    parser.add_argument("--json", action="store_true", help="print one JSON line (tests read it)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 10, 64)
    fit = dict(x=x, y=y, validation_data=(x[:32], y[:32]), epochs=1, batch_size=32)
    rss = []

    class Probe(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            rss.append(rss_mb())

    with tempfile.TemporaryDirectory() as directory:
        oracle = RandomOracle(MacroSearchSpace(num_layers=1, filters=(4, 8)),
                              max_trials=args.trials, seed=1)
        tuner = NASTuner(oracle, input_shape=(16, 16, 3), directory=directory, project_name="p",
                         verbose=0, keep_checkpoints=args.keep_checkpoints)
        start = time.time()
        tuner.search(**fit, callbacks=[Probe()])
        seconds = time.time() - start
        kept = sorted(os.path.basename(os.path.dirname(p))[len("trial_"):]
                      for p in glob.glob(os.path.join(directory, "p", "trial_*", "child.weights.h5")))
        best = sorted(t.trial_id for t in oracle.get_best_trials(args.keep_checkpoints))
        plain = []
        for trial_id in oracle.end_order[:args.plain_models]:
            keras.backend.clear_session()
            gc.collect()
            model = tuner.hypermodel.build(oracle.trials[trial_id].hyperparameters)
            model.fit(**fit, verbose=0)
            del model
            gc.collect()
            plain.append(rss_mb())
    skip = 4  # the first trials also pay one-off imports and caches
    per_trial = (rss[-1] - rss[skip]) / (len(rss) - 1 - skip)
    per_model = (plain[-1] - plain[skip]) / (len(plain) - 1 - skip)
    if args.json:
        print(json.dumps({"rss_mb": rss, "per_trial_mb": per_trial, "plain_per_model_mb": per_model,
                          "kept_checkpoints": kept, "best_trials": best, "seconds": seconds}))
        return
    print(f"{args.trials} trials in {seconds:.0f} s; RSS after trial 1: {rss[0]:.0f} MB, after "
          f"trial {args.trials}: {rss[-1]:.0f} MB")
    print("| loop | RSS growth per trial (MB) |\n|---|---|")
    print(f"| NASTuner search | {per_trial:.2f} |")
    print(f"| plain Keras build + fit of the same children | {per_model:.2f} |")


if __name__ == "__main__":
    main()
