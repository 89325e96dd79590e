"""Where a `nasnet-search run` trial's time goes, and its share outside fit's steady state.

    python benchmarks/cli_trial.py [--trials 14] [--json] [-- more `nasnet-search run` arguments]

Runs ``nasnet-search run`` in this process (its defaults: PPO over the NASNet space, proxy
children, digits; in a temporary folder) with 2-epoch trials, and times each trial from its
start to the next trial's start (the oracle's work and the bookkeeping included) and its pieces:
building the child (the session cleared, the last child collected), preparing it, each epoch
(validation included), each validation pass, saving a checkpoint.  The first trial is left out
of the summary (the process's first traces), and so is the last (no next trial to end it).

Fixed cost = trial - 2 x second epoch: what the trial spends outside fit's steady state.
share1 = fixed / (fixed + second epoch): the same for a 1-epoch trial, the command's default.
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from nasnet_search import cli  # noqa: E402
from nasnet_search import tuner as tuner_module  # noqa: E402

_now = time.perf_counter


class _Clock(keras.callbacks.Callback):
    """Marks the epochs and validation passes of one trial's fit."""

    def __init__(self, marks):
        super().__init__()
        self.marks = marks

    def on_epoch_begin(self, epoch, logs=None):
        self.marks[f"epoch{epoch}_begin"] = _now()

    def on_epoch_end(self, epoch, logs=None):
        self.marks[f"epoch{epoch}_end"] = _now()

    def on_test_begin(self, logs=None):
        self.marks.setdefault("tests", []).append([_now(), None])

    def on_test_end(self, logs=None):
        self.marks["tests"][-1][1] = _now()


@contextlib.contextmanager
def _timed_trials(trials):
    """While inside, each NASTuner trial appends a dict of time marks to ``trials``."""
    tuner_class, saved = tuner_module.NASTuner, {}

    def replace(owner, name, wrapper):
        saved[(owner, name)] = getattr(owner, name)
        setattr(owner, name, wrapper(getattr(owner, name)))

    def trial_begin(original):
        def wrapped(self, trial):
            trials.append({"begin": _now()})
            return original(self, trial)
        return wrapped

    def summed(name):
        def wrapper(original):
            def wrapped(*args, **kwargs):
                start = _now()
                try:
                    return original(*args, **kwargs)
                finally:
                    if trials:
                        trials[-1][name] = trials[-1].get(name, 0.0) + _now() - start
            return wrapped
        return wrapper

    def clocked_fit(original):
        def wrapped(self, hp, model, *args, **kwargs):
            kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [_Clock(trials[-1])]
            return original(self, hp, model, *args, **kwargs)
        return wrapped

    replace(tuner_class, "on_trial_begin", trial_begin)
    replace(tuner_class, "_try_build", summed("build"))
    replace(tuner_class, "_fit", clocked_fit)
    replace(tuner_module, "_prepare", summed("prepare"))
    replace(keras.Model, "save_weights", summed("save"))
    try:
        yield
    finally:
        for (owner, name), original in saved.items():
            setattr(owner, name, original)


def _row(trial, next_begin):
    second = trial["epoch1_end"] - trial["epoch1_begin"]
    total = next_begin - trial["begin"]
    fixed = total - 2 * second
    (first_test, second_test) = trial["tests"][:2]
    return {
        "trial_s": total, "epoch1_s": trial["epoch0_end"] - trial["epoch0_begin"],
        "epoch2_s": second, "fixed_s": fixed, "share1": fixed / (fixed + second),
        "build_s": trial.get("build", 0.0), "prepare_s": trial.get("prepare", 0.0),
        "validation1_s": first_test[1] - first_test[0],
        "validation2_s": second_test[1] - second_test[0],
        "save_s": trial.get("save", 0.0),
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=14)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(own)
    if args.trials < 3:
        parser.error(f"--trials must be at least 3 (the first and the last are left out), got "
                     f"{args.trials}")
    trials = []
    with tempfile.TemporaryDirectory() as directory, _timed_trials(trials):
        cli.main(["run", "--directory", directory, "--epochs", "2", "--max-trials",
                  str(args.trials), "--quiet", *extra])
    # A trial runs until the next one begins (the last one, with no next, is left out), and
    # counts if it trained two epochs with validation (a failed child does not).
    rows = [_row(trial, following["begin"]) for trial, following in zip(trials[1:], trials[2:])
            if "epoch1_end" in trial and len(trial.get("tests", [])) >= 2]
    if not rows:
        raise SystemExit("no trial trained two validated epochs; nothing to report")
    summary = {f"{kind}_{key}": round(fn(r[key] for r in rows), 3)
               for kind, fn in (("median", statistics.median), ("mean", statistics.mean))
               for key in rows[0]}
    if args.json:
        print(json.dumps({"trials": len(rows), **summary}))
        return
    for r in rows:
        print("  ".join(f"{k} {v:.2f}" for k, v in r.items()))
    for kind in ("median", "mean"):
        print(f"{kind:6s} " + "  ".join(f"{k} {summary[f'{kind}_{k}']:.2f}" for k in rows[0]))


if __name__ == "__main__":
    main()
