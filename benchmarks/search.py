"""Search strategies side by side: RL (PPO, REINFORCE), random search, aging evolution.

1. Synthetic landscape (no training; seconds): the reward of an architecture is
   its agreement with a hidden target cell pair, plus noise.  Prints, per
   strategy, the mean reward of the last 100 of ``--trials`` trials and the
   best reward, averaged over ``--seeds``, and the oracle's own time per trial.
2. Digits (real children, scikit-learn's bundled set): ``--digits-trials``
   trials per strategy with NASNet-space children at proxy size.  Prints the
   best validation accuracy, the wall time per trial, the share of it spent
   outside ``model.fit`` (building, bookkeeping, saving) and the share spent outside
   ``fit``'s steady state (the above, plus tracing and first calls: the trial's time
   less two steady epochs, each taken as long as the trial's second), also as a share
   of the 1-epoch trial ``nasnet-search run`` trains by default (the same time less
   one steady epoch).

    python benchmarks/search.py [--trials 300] [--seeds 0 1 2] [--digits-trials 6] [--skip-digits]
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from nasnet_search import (EvolutionOracle, NASNetSearchSpace, NASTuner, RandomOracle,  # noqa: E402
                           RLOracle, SyntheticLandscape, load_results, simulate)

STRATEGIES = {
    "random": lambda space, **kw: RandomOracle(space, **kw),
    "evolution": lambda space, **kw: EvolutionOracle(space, **kw),
    "ppo": lambda space, **kw: RLOracle(space, algorithm="ppo", **kw),
    "reinforce": lambda space, **kw: RLOracle(space, algorithm="reinforce", **kw),
    # The NASNet paper's settings (PPO, lr 3.5e-4, batch 20, ...), for comparison.
    "ppo-paper": lambda space, **kw: RLOracle(space, preset="nasnet", **kw),
}


def synthetic(trials, seeds):
    space = NASNetSearchSpace()
    print(f"Synthetic landscape over {space.summary()}; {trials} trials, seeds {seeds}")
    print(f"{'strategy':<10} {'last-100 mean':>14} {'best':>7} {'ms/trial':>9}")
    for name, make in STRATEGIES.items():
        last, best, per_trial = [], [], []
        for seed in seeds:
            landscape = SyntheticLandscape(space, seed=seed, noise=0.02)
            oracle = make(space, objective="reward", max_trials=trials, seed=seed)
            start = time.perf_counter()
            history = simulate(oracle, landscape, tempfile.mkdtemp(), project_name=name)
            per_trial.append(1000 * (time.perf_counter() - start) / len(history))
            rewards = [r for _, r in history]
            last.append(np.mean(rewards[-100:]))
            best.append(max(rewards))
        print(f"{name:<10} {np.mean(last):>14.3f} {np.mean(best):>7.3f} {np.mean(per_trial):>9.1f}")


def _epoch_clock():
    """A callback recording each epoch's seconds; keras-tuner copies callbacks for each
    trial, so the record is a class attribute (shared by the copies)."""
    import keras

    class EpochClock(keras.callbacks.Callback):
        trials = []

        def on_train_begin(self, logs=None):
            self.trials.append([])

        def on_epoch_begin(self, epoch, logs=None):
            self._began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.trials[-1].append(time.perf_counter() - self._began)

    return EpochClock()


def digits(trials, seed):
    import keras

    from nasnet_keras.demo import load_digits_dataset

    (x, y), _ = load_digits_dataset(size=32, seed=seed)
    cut = int(0.8 * len(x))
    print(f"\nDigits: {trials} trials per strategy, NASNet space, children N=1 F=8 at 32 px, "
          f"2 epochs on {cut} images, validation on {len(x) - cut}")
    print(f"{'strategy':<10} {'best val acc':>12} {'s/trial':>8} {'outside fit':>12} "
          f"{'outside steady':>15} {'of 1 epoch':>11}")
    for name in ("random", "evolution", "ppo"):
        directory = tempfile.mkdtemp()
        # Small batches and populations: the budget here is a handful of trials.
        extra = {"ppo": {"settings": {"batch_size": 2}},
                 "evolution": {"population_size": 3, "sample_size": 2}}.get(name, {})
        oracle = STRATEGIES[name](NASNetSearchSpace(), max_trials=trials, seed=seed, **extra)
        tuner = NASTuner(oracle, child_kwargs={"num_cells": 1, "filters": 8},
                         optimizer=lambda: keras.optimizers.Adam(3e-3), directory=directory,
                         project_name=name, verbose=0)
        clock = _epoch_clock()  # a new class, so a new record, per strategy
        tuner.search(x[:cut], y[:cut], validation_data=(x[cut:], y[cut:]), epochs=2,
                     batch_size=64, callbacks=[clock])
        rows = load_results(os.path.join(directory, name))
        done = [r for r in rows if r["reward"] is not None]
        seconds = np.mean([r["seconds"] for r in rows])
        outside = 1 - np.mean([r["metric:train_seconds"] / r["seconds"] for r in done])
        # Trials run one at a time, in order: the i-th fit is the i-th journaled trial
        # (only when every trial trained both epochs).
        steady = [epochs[1] for epochs in clock.trials if len(epochs) == 2]
        totals = [r["seconds"] for r in rows]
        unsteady = unsteady_1 = float("nan")
        if len(steady) == len(totals) == len(done):
            unsteady = np.mean([(t - 2 * e) / t for t, e in zip(totals, steady)])
            unsteady_1 = np.mean([(t - 2 * e) / (t - e) for t, e in zip(totals, steady)])
        print(f"{name:<10} {max(r['reward'] for r in done):>12.4f} {seconds:>8.1f} "
              f"{100 * outside:>11.1f}% {100 * unsteady:>14.1f}% {100 * unsteady_1:>10.1f}%")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--digits-trials", type=int, default=6)
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    if not args.skip_synthetic:
        synthetic(args.trials, args.seeds)
    if not args.skip_digits:
        digits(args.digits_trials, args.seeds[0])


if __name__ == "__main__":
    main()
