"""`NASTuner`: builds each proposed architecture at proxy size and trains it.

A keras-tuner ``Tuner``: ``tuner.search(x, y, validation_data=..., epochs=...)``
passes its arguments to ``model.fit`` as usual.  What it adds for architecture
search:

- children that cannot be built, exceed ``max_params`` / ``max_mult_adds``,
  reach a NaN loss or run out of memory become FAILED trials whose reason is
  kept (the journal's ``reason``), and the search goes on;
- ``params``, ``mult_adds``, ``latency_ms`` (when asked for), ``train_seconds``
  are reported as metrics, so multi-objective rewards work on the chief;
- one progress line per trial; keras-tuner's tensorboard hook is never reached
  (keras_tuner.md finding 1) because `run_trial` is our own;
- the session is cleared before each child, so memory stays bounded;
- only the best trial's weights are kept on disk (``keep_checkpoints``).
"""

import gc
import math
import os
import time

import keras
import keras_tuner as kt
import numpy as np
from keras_tuner.engine.trial import TrialStatus

from nasnet_search import storage
from nasnet_search.oracles import failure_reason

CHECKPOINT = "child.weights.h5"
KEEP_CHECKPOINTS = ("best", "all", "none")


def _make_optimizer(optimizer):
    if callable(optimizer) and not isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer()
    if isinstance(optimizer, keras.optimizers.Optimizer):
        # A fresh copy per child: optimizer state must not leak between trials.
        return optimizer.__class__.from_config(optimizer.get_config())
    return keras.optimizers.get(optimizer)


def measure_latency_ms(model, runs=10):
    """Median wall time of one batch-1 forward pass, in milliseconds."""
    x = np.zeros((1,) + tuple(model.input_shape[1:]), "float32")
    model(x, training=False)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model(x, training=False)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


class NASHyperModel(kt.HyperModel):
    """Decodes a trial's decisions and builds the child network at proxy size."""

    def __init__(self, space, input_shape=(32, 32, 3), classes=10, child_kwargs=None,
                 optimizer="adam", loss="sparse_categorical_crossentropy", metrics=("accuracy",)):
        super().__init__(name="nas_child")
        self.space = space
        self.input_shape = tuple(input_shape)
        self.classes = classes
        self.child_kwargs = dict(child_kwargs or {})
        self.optimizer, self.loss, self.metrics = optimizer, loss, list(metrics)

    def architecture(self, hp):
        return self.space.decode(self.space.values_from_hp(hp))

    def build(self, hp):
        model = self.space.build_model(self.architecture(hp), input_shape=self.input_shape,
                                       classes=self.classes, **self.child_kwargs)
        model.compile(optimizer=_make_optimizer(self.optimizer), loss=self.loss,
                      metrics=self.metrics)
        return model


class NASTuner(kt.Tuner):
    """Architecture search with any `NASOracle`.

    Args:
        oracle: `RLOracle`, `RandomOracle`, `EvolutionOracle` (or any NASOracle).
        input_shape, classes: the child networks' input and classes.
        child_kwargs: proxy size and other builder arguments, e.g. NASNet
            ``dict(num_cells=1, filters=8, stem="cifar")``.
        optimizer, loss, metrics: how each child is compiled (``optimizer`` may
            be a name, a config dict, an instance (copied) or a callable).
        max_params, max_mult_adds: budgets; larger children fail without training.
        measure_latency: report ``latency_ms`` (batch 1, CPU/GPU as available).
        keep_checkpoints: ``"best"`` (default), ``"all"`` or ``"none"``.
        verbose: 1 prints one line per trial, 0 nothing.
        **kwargs: keras-tuner ``Tuner`` arguments (``directory``,
            ``project_name``, ``overwrite``...).
    """

    def __init__(self, oracle, input_shape=(32, 32, 3), classes=10, child_kwargs=None,
                 optimizer="adam", loss="sparse_categorical_crossentropy", metrics=("accuracy",),
                 max_params=None, max_mult_adds=None, measure_latency=False,
                 keep_checkpoints="best", verbose=1, hypermodel=None, **kwargs):
        if not hasattr(oracle, "space"):
            raise TypeError("`oracle` must be a nasnet_search oracle (RLOracle, RandomOracle, "
                            f"EvolutionOracle), got {type(oracle).__name__}.")
        if keep_checkpoints not in KEEP_CHECKPOINTS:
            raise ValueError(f"`keep_checkpoints` must be one of {KEEP_CHECKPOINTS}, got "
                             f"{keep_checkpoints!r}.")
        for name, value in (("max_params", max_params), ("max_mult_adds", max_mult_adds)):
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"`{name}` must be a positive number or None, got {value!r}.")
        self.space = oracle.space
        self.max_params, self.max_mult_adds = max_params, max_mult_adds
        self.measure_latency = measure_latency or oracle.reward.secondary == "latency_ms"
        self.count_mult_adds = max_mult_adds is not None or oracle.reward.secondary == "mult_adds"
        self.keep_checkpoints = keep_checkpoints
        self.verbose = verbose
        hypermodel = hypermodel or NASHyperModel(oracle.space, input_shape, classes, child_kwargs,
                                                 optimizer, loss, metrics)
        self._search_start = None
        self._trials_run = 0
        super().__init__(oracle, hypermodel, **kwargs)

    def _populate_initial_space(self):
        # The oracle registered the fixed decision table already; building a
        # child here (keras-tuner's default) would only cost time.
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    # -- one trial --------------------------------------------------------------------------
    def _build_child(self, trial):
        try:
            return self.hypermodel.build(trial.hyperparameters)
        except Exception as e:  # noqa: BLE001 - any build error is the architecture's fault
            raise kt.errors.FailedTrialError(f"cannot build the child: {type(e).__name__}: {e}") from e

    def run_trial(self, trial, *fit_args, **fit_kwargs):
        keras.backend.clear_session()
        gc.collect()
        start = time.perf_counter()
        model = self._build_child(trial)
        metrics = {"params": float(model.count_params())}
        if self.max_params and metrics["params"] > self.max_params:
            raise kt.errors.FailedTrialError(f"over the parameter budget: {int(metrics['params']):,}"
                                             f" > max_params={int(self.max_params):,}")
        if self.count_mult_adds:
            from nasnet_keras.analysis import count_mult_adds

            metrics["mult_adds"] = float(count_mult_adds(model))
            if self.max_mult_adds and metrics["mult_adds"] > self.max_mult_adds:
                raise kt.errors.FailedTrialError(
                    f"over the mult-add budget: {int(metrics['mult_adds']):,} > "
                    f"max_mult_adds={int(self.max_mult_adds):,}")
        if self.measure_latency:
            metrics["latency_ms"] = measure_latency_ms(model)
        fit_kwargs = dict(fit_kwargs)
        fit_kwargs["callbacks"] = list(fit_kwargs.get("callbacks") or []) + [
            keras.callbacks.TerminateOnNaN()]
        fit_kwargs.setdefault("verbose", 0)
        fit_start = time.perf_counter()
        try:
            history = model.fit(*fit_args, **fit_kwargs).history
        except MemoryError as e:
            raise kt.errors.FailedTrialError(f"out of memory: {e}") from e
        except Exception as e:
            if type(e).__name__ == "ResourceExhaustedError":  # TF's out-of-memory error
                raise kt.errors.FailedTrialError(f"out of memory: {str(e)[:300]}") from e
            raise
        metrics["train_seconds"] = time.perf_counter() - fit_start
        losses = history.get("loss", [])
        if any(not math.isfinite(v) for v in losses):
            raise kt.errors.FailedTrialError(f"NaN or infinite loss at epoch {len(losses)}")
        name = self.oracle.objective.name
        if name not in history:
            raise kt.errors.FatalValueError(
                f"The objective {name!r} is not among the fit metrics {sorted(history)}; pass "
                "`validation_data` for val_* objectives, or choose another objective.")
        values = history[name]
        best = int(np.argmax(values) if self.oracle.objective.direction == "max" else np.argmin(values))
        metrics[name] = float(values[best])
        metrics["best_epoch"] = float(best)
        if self._worth_saving(metrics):
            model.save_weights(os.path.join(self.get_trial_dir(trial.trial_id), CHECKPOINT))
        metrics["trial_seconds"] = time.perf_counter() - start
        return metrics

    def _worth_saving(self, metrics):
        if self.keep_checkpoints == "none":
            return False
        reward = getattr(self.oracle, "reward", None)  # absent on a distributed worker's client
        if self.keep_checkpoints == "all" or reward is None:
            return True
        best = self.oracle.get_best_trials(1)
        return not best or reward(metrics) > best[0].score

    # -- search loop additions --------------------------------------------------------------
    def search(self, *fit_args, **fit_kwargs):
        from keras_tuner.src import config as kt_config

        self._search_start = time.time()
        self._trials_run = 0
        # keras-tuner prints every failed trial's traceback (DEBUG defaults to True);
        # failed children are routine here, and their reason is in the progress line.
        debug, kt_config.DEBUG = kt_config.DEBUG, self.verbose > 1
        try:
            super().search(*fit_args, **fit_kwargs)
        finally:
            kt_config.DEBUG = debug
        stop = getattr(self.oracle, "stop_reason", None)
        if stop and self.verbose:
            print(f"Search stopped early: {stop}.")

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self._trials_run += 1
        if self.keep_checkpoints == "best":
            self._prune_checkpoints()
        if self.verbose:
            print(self._progress_line(trial), flush=True)

    def _prune_checkpoints(self):
        best = self.oracle.get_best_trials(1)
        keep = best[0].trial_id if best else None
        for trial_id in list(self.oracle.trials) if hasattr(self.oracle, "trials") else []:
            if trial_id != keep:
                path = os.path.join(self.project_dir, f"trial_{trial_id}", CHECKPOINT)
                if os.path.exists(path):
                    os.remove(path)

    def _progress_line(self, trial):
        trial = self.oracle.get_trial(trial.trial_id)
        done = len(self.oracle.end_order) if hasattr(self.oracle, "end_order") else self._trials_run
        total = self.oracle.max_trials
        best = self.oracle.get_best_trials(1)
        best_score = f"{best[0].score:.4f}" if best else "-"
        elapsed = time.time() - self._search_start
        remaining = max(0, total - done)
        eta = elapsed / max(1, self._trials_run) * remaining
        if trial.status == TrialStatus.COMPLETED:
            outcome = f"reward {trial.score:.4f}"
        else:
            outcome = f"{trial.status}: {failure_reason(trial.message)[:120]}"
        params = trial.metrics.get_last_value("params") if trial.metrics.exists("params") else None
        size = f"  {int(params):,} params" if params else ""
        return (f"trial {done}/{total}  {outcome}  best {best_score}{size}  "
                f"elapsed {_clock(elapsed)}  ETA {_clock(eta)}")

    # -- results ----------------------------------------------------------------------------
    def best_architecture(self):
        best = self.oracle.get_best_trials(1)
        if not best:
            raise ValueError("No trial has completed yet, so there is no best architecture.")
        return self.space.decode(self.space.values_from_hp(best[0].hyperparameters))

    best_genotype = best_architecture

    def best_model(self):
        """The best child, with its trained weights when they were kept."""
        best = self.oracle.get_best_trials(1)
        if not best:
            raise ValueError("No trial has completed yet, so there is no best model.")
        model = self.hypermodel.build(best[0].hyperparameters)
        path = os.path.join(self.project_dir, f"trial_{best[0].trial_id}", CHECKPOINT)
        if os.path.exists(path):
            model.optimizer.build(model.trainable_variables)  # the file holds its slots too
            model.load_weights(path)
        return model

    def export(self, directory):
        """Write ``best_architecture.json`` and ``best_model.keras``; return their paths."""
        os.makedirs(directory, exist_ok=True)
        arch_path = os.path.join(directory, "best_architecture.json")
        storage.atomic_write_bytes(arch_path, self.space.arch_to_json(self.best_architecture()).encode())
        model_path = os.path.join(directory, "best_model.keras")
        self.best_model().save(model_path)
        return arch_path, model_path

    def results_table(self):
        from nasnet_search.results import load_results

        return load_results(self.project_dir)

    def save(self):
        # keras-tuner writes <tuner_id>.json non-atomically, and its presence triggers reload.
        if not self._is_worker():
            self.oracle.save()
        storage.atomic_write_json(self._get_tuner_fname(), self.get_state())


def _clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
