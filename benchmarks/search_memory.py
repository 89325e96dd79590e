"""Resident memory across search trials, against a plain Keras loop over the same children.

    python benchmarks/search_memory.py [--trials 30] [--keep-checkpoints 2] [--json]
    python benchmarks/search_memory.py --workers --trials 100 --recycle-every 25

TensorFlow keeps some memory for every train step it traces, even after
``keras.backend.clear_session()``; the second column measures that cost alone,
so the difference is what the search itself adds per trial.

``--workers``: a chief and one worker (``nasnet-search run --workers 1``), run
twice, without and with ``--recycle-every``; the worker's resident memory is
sampled every 0.5 s and reported per worker process (a recycled worker is a
new process with the same id).
"""

import argparse
import gc
import glob
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid

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


def _tagged_workers(tag):
    """{pid: VmRSS in MB} of the worker processes started with ``NASNET_BENCH_TAG=tag``."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            if f"NASNET_BENCH_TAG={tag}".encode() not in env or \
                    b"KERASTUNER_TUNER_ID=tuner0" not in env:
                continue
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        found[int(pid)] = int(line.split()[1]) / 1024
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def distributed_rss(trials, recycle_every):
    """Run a 1-worker search; return ``[(pid, first MB, last MB, peak MB)]`` per worker process
    (in start order) and the seconds it took."""
    tag = uuid.uuid4().hex
    samples = {}  # pid -> [MB, ...]
    with tempfile.TemporaryDirectory() as directory:
        argv = [sys.executable, "-m", "nasnet_search.cli", "run", "--space", "macro",
                "--macro-layers", "2", "--algorithm", "random", "--image-size", "16",
                "--max-examples", "96", "--max-trials", str(trials), "--keep-checkpoints", "1",
                "--directory", directory, "--project-name", "p", "--quiet", "--workers", "1"]
        if recycle_every:
            argv += ["--recycle-every", str(recycle_every)]
        env = dict(os.environ, NASNET_BENCH_TAG=tag, TF_CPP_MIN_LOG_LEVEL="3")
        start = time.time()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        done = threading.Event()

        def poll():
            while not done.is_set():
                for pid, mb in _tagged_workers(tag).items():
                    samples.setdefault(pid, []).append(mb)
                time.sleep(0.5)

        sampler = threading.Thread(target=poll, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
        seconds = time.time() - start
        if code != 0:
            raise SystemExit(f"the search exited with status {code}")
        ended = len(open(os.path.join(directory, "p", "search_log.jsonl")).read().splitlines())
    rows = [(pid, mbs[0], mbs[-1], max(mbs)) for pid, mbs in samples.items()]
    return rows, seconds, ended


def main_workers(args):
    results = {}
    for label, every in (("no recycling", None), (f"--recycle-every {args.recycle_every}",
                                                  args.recycle_every)):
        rows, seconds, ended = distributed_rss(args.trials, every)
        results[label] = {"processes": len(rows), "peak_mb": max(r[3] for r in rows),
                          "first_mb_per_process": [round(r[1], 1) for r in rows],
                          "last_mb_per_process": [round(r[2], 1) for r in rows],
                          "trials_ended": ended, "seconds": round(seconds, 1)}
    if args.json:
        print(json.dumps(results))
        return
    print(f"{args.trials} trials, one worker (macro space, 2 layers, 16 px):")
    print("| worker | processes | trials ended | peak RSS (MB) | RSS of each process, first and "
          "last sample (MB) | time (s) |\n|---|---|---|---|---|---|")
    for label, r in results.items():
        spans = ", ".join(f"{a:.0f} -> {b:.0f}" for a, b in zip(r["first_mb_per_process"],
                                                              r["last_mb_per_process"]))
        print(f"| {label} | {r['processes']} | {r['trials_ended']} | {r['peak_mb']:.0f} | "
              f"{spans} | {r['seconds']:.0f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", action="store_true",
                        help="measure a distributed worker, without and with --recycle-every")
    parser.add_argument("--recycle-every", type=int, default=25)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--keep-checkpoints", type=int, default=1)
    parser.add_argument("--plain-models", type=int, default=12,
                        help="children rebuilt in the plain Keras loop")
    parser.add_argument("--json", action="store_true", help="print one JSON line (tests read it)")
    args = parser.parse_args()
    if args.workers:
        return main_workers(args)
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
