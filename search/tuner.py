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
- only the best k trials' weights are kept on disk (``keep_checkpoints``), and
  ``get_best_models`` loads them;
- keras-tuner's ``Tuner`` arguments keep their meaning: ``executions_per_trial``
  (metrics averaged over the runs' best epochs), ``distribution_strategy``,
  ``max_model_size``, callbacks deep-copied per run, a TensorBoard log
  directory per trial and run, ``HyperModel.fit`` when a hypermodel defines it;
- keras-tuner's distributed mode, made to finish and to survive deaths
  (`nasnet_search.distributed`): the chief serves with leases and exits when
  done, workers send heartbeats and ride out a chief restart.
"""

import contextlib
import gc
import logging
import math
import os
import time

import keras
import keras_tuner as kt
import numpy as np
from keras_tuner.engine.trial import TrialStatus
from keras_tuner.src.engine import tuner_utils
from keras_tuner.src.engine.tuner import maybe_compute_model_size, maybe_distribute

from nasnet_keras.array_pipelines import reused_array_pipelines
from nasnet_keras.operation_graphs import reused_operation_graphs
from nasnet_keras.variable_creation import quick_variable_creation
from nasnet_keras.weight_files import quick_weight_files
from nasnet_search import distributed, storage
from nasnet_search.graph_options import short_run_graph_optimization, without_op_tracebacks
from nasnet_search.oracles import failure_reason

CHECKPOINT = "child.weights.h5"
KEEP_CHECKPOINTS = ("best", "all", "none")


def _keep_count(keep_checkpoints):
    """How many trials keep their weights: an int, or None for all."""
    if keep_checkpoints == "all":
        return None
    return {"best": 1, "none": 0}.get(keep_checkpoints, keep_checkpoints)


def _make_optimizer(optimizer):
    """A fresh optimizer per child, fused where it can be (`nasnet_keras.fused`)."""
    from nasnet_keras.optimizers import fused

    if callable(optimizer) and not isinstance(optimizer, keras.optimizers.Optimizer):
        return fused(optimizer())
    if isinstance(optimizer, keras.optimizers.Optimizer):
        # A fresh copy per child: optimizer state must not leak between trials.
        return fused(optimizer.__class__.from_config(optimizer.get_config()))
    return fused(optimizer)


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
        keep_checkpoints: ``"best"`` (default; the best trial's weights only),
            an integer k (the best k), ``"all"`` or ``"none"``.  Discarded
            weights are deleted as the search goes.
        verbose: 1 prints one line per trial, 0 nothing (``search(..., verbose=0)``
            silences one search).
        recycle_every: distributed workers only: leave the search after this many
            trials (``tuner.recycle_requested`` is then True) so that a launcher
            starts a fresh process; bounds the memory TensorFlow keeps per traced
            step.  Default: ``$NASNET_SEARCH_RECYCLE_EVERY`` (set by `launch`).
        poll_seconds: distributed chief only: how often it checks leases and
            whether the search is over.
        hypermodel: a build function or ``keras_tuner.HyperModel`` to use
            instead of the space's builder (it reads the architecture with
            ``space.decode(space.values_from_hp(hp))`` and may declare more
            hyperparameters, which are then searched too).
        **kwargs: keras-tuner ``Tuner`` arguments (``directory``,
            ``project_name``, ``overwrite``, ``executions_per_trial``,
            ``distribution_strategy``, ``max_model_size``, ``tuner_id``).
    """

    def __init__(self, oracle, input_shape=(32, 32, 3), classes=10, child_kwargs=None,
                 optimizer="adam", loss="sparse_categorical_crossentropy", metrics=("accuracy",),
                 max_params=None, max_mult_adds=None, measure_latency=False,
                 keep_checkpoints="best", verbose=1, hypermodel=None, poll_seconds=0.5,
                 recycle_every=None, **kwargs):
        if not hasattr(oracle, "space"):
            raise TypeError("`oracle` must be a nasnet_search oracle (RLOracle, RandomOracle, "
                            f"EvolutionOracle), got {type(oracle).__name__}.")
        if keep_checkpoints not in KEEP_CHECKPOINTS and not (
                isinstance(keep_checkpoints, int) and not isinstance(keep_checkpoints, bool)
                and keep_checkpoints >= 1):
            raise ValueError(f"`keep_checkpoints` must be one of {KEEP_CHECKPOINTS} or an integer "
                             f">= 1, got {keep_checkpoints!r}.")
        for name, value in (("max_params", max_params), ("max_mult_adds", max_mult_adds),
                            ("max_model_size", kwargs.get("max_model_size"))):
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"`{name}` must be a positive number or None, got {value!r}.")
        runs = kwargs.get("executions_per_trial", 1)
        if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
            raise ValueError(f"`executions_per_trial` must be an integer >= 1, got {runs!r}.")
        if verbose not in (0, 1, 2):
            raise ValueError(f"`verbose` must be 0, 1 or 2, got {verbose!r}.")
        self.space = oracle.space
        self.max_params, self.max_mult_adds = max_params, max_mult_adds
        self.measure_latency = measure_latency or oracle.reward.secondary == "latency_ms"
        self.count_mult_adds = max_mult_adds is not None or oracle.reward.secondary == "mult_adds"
        self.keep_checkpoints = keep_checkpoints
        self.verbose = verbose
        self._own_hypermodel = hypermodel is None
        hypermodel = hypermodel or NASHyperModel(oracle.space, input_shape, classes, child_kwargs,
                                                 optimizer, loss, metrics)
        self.poll_seconds = poll_seconds
        # On a worker keras-tuner replaces self.oracle by a gRPC client; the local
        # copy still knows the reward and the lease.
        self._local_oracle = oracle
        self._heartbeat = None
        self._search_start = None
        self._trials_run = 0
        self._progress = verbose
        self.recycle_every = recycle_every or distributed.recycle_every_from_env()
        self.recycle_requested = False
        super().__init__(oracle, hypermodel, **kwargs)
        if self._is_worker():
            self.oracle.stub = distributed.RetryingStub(self.oracle.stub)
            distributed.wait_while_idle(self.oracle, pause=poll_seconds)

    def _populate_initial_space(self):
        if not self._own_hypermodel:
            # A user's hypermodel may declare hyperparameters beyond the architecture:
            # build it as keras-tuner does to find them.
            try:
                super()._populate_initial_space()
            finally:
                clear_session_keeping_settings()
            return
        # The oracle registered the fixed decision table already; building a
        # child here (keras-tuner's default) would only cost time.
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    # -- one trial --------------------------------------------------------------------------
    def _build_checked(self, hp):
        """Build a child under the distribution strategy; keras-tuner's fatal error when the
        build function returns no model (a bug, not the architecture's fault)."""
        try:
            with maybe_distribute(self.distribution_strategy):
                model = self.hypermodel.build(hp)
        except kt.errors.FatalError:
            raise
        except Exception as e:  # noqa: BLE001 - any other build error is the architecture's
            raise kt.errors.FailedTrialError(f"cannot build the child: {type(e).__name__}: {e}") from e
        if not isinstance(model, keras.Model):
            raise kt.errors.FatalTypeError(
                "Expected the model-building function, or HyperModel.build() to return a valid "
                f"Keras Model instance. Received: {model} of type {type(model)}.")
        return model

    def _try_build(self, hp):
        clear_session_keeping_settings()
        gc.collect()
        # One TensorFlow name for all the child's variables: 0.2 s of a proxy child's build.
        # (Entered after clear_session, which drops the graph that holds variable creators.)
        with quick_variable_creation():
            model = self._build_checked(hp)
        size = maybe_compute_model_size(model)
        if self.max_model_size and size > self.max_model_size:
            raise kt.errors.FailedTrialError(f"Oversized model: {size} parameters "
                                             f"> max_model_size={self.max_model_size}")
        return model

    def _size_metrics(self, model):
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
        return metrics

    def _fit(self, hp, model, *fit_args, **fit_kwargs):
        """``HyperModel.fit`` (``model.fit`` unless the hypermodel defines its own), as
        ``{metric: [value per epoch]}``; out of memory fails the trial."""
        try:
            with maybe_distribute(self.distribution_strategy), short_run_graph_optimization():
                results = self.hypermodel.fit(hp, model, *fit_args, **fit_kwargs)
        except MemoryError as e:
            raise kt.errors.FailedTrialError(f"out of memory: {e}") from e
        except Exception as e:
            if type(e).__name__ == "ResourceExhaustedError":  # TF's out-of-memory error
                raise kt.errors.FailedTrialError(f"out of memory: {str(e)[:300]}") from e
            raise
        tuner_utils.validate_trial_results(results, self.oracle.objective, "HyperModel.fit()")
        if isinstance(results, keras.callbacks.History):
            return {k: [float(v) for v in values] for k, values in results.history.items()}
        if isinstance(results, dict):
            return {k: [float(np.mean(v))] for k, v in results.items()}
        if isinstance(results, list):  # several evaluations: keras-tuner averages them
            averaged = tuner_utils.convert_to_metrics_dict(results, self.oracle.objective)
            return {k: [float(v)] for k, v in averaged.items()}
        return {self.oracle.objective.name: [float(results)]}

    def _best_epoch(self, history):
        name = self.oracle.objective.name
        if name not in history:
            raise kt.errors.FatalValueError(
                f"The objective {name!r} is not among the fit metrics {sorted(history)}; pass "
                "`validation_data` for val_* objectives, or choose another objective.")
        values = history[name]
        pick = np.argmax if self.oracle.objective.direction == "max" else np.argmin
        return int(pick(np.nan_to_num(values, nan=-np.inf if pick is np.argmax else np.inf)))

    def run_trial(self, trial, *fit_args, **fit_kwargs):
        start = time.perf_counter()
        hp = trial.hyperparameters
        user_callbacks = fit_kwargs.pop("callbacks", None) or []
        fit_kwargs.setdefault("verbose", 0)
        metrics, runs, train_seconds = {}, [], 0.0
        best_value, objective = None, self.oracle.objective
        for execution in range(self.executions_per_trial):
            # Fresh callbacks per run, as keras-tuner: a callback's state must not leak.
            callbacks = self._deepcopy_callbacks(user_callbacks)
            if any(type(c).__name__ == "TensorBoard" for c in callbacks):
                self._configure_tensorboard_dir(callbacks, trial, execution)
            callbacks.append(keras.callbacks.TerminateOnNaN())
            model = self._try_build(hp)
            if execution == 0:
                metrics.update(self._size_metrics(model))
            fit_start = time.perf_counter()
            _prepare(model, fit_args, fit_kwargs)
            history = self._fit(hp, model, *fit_args, callbacks=callbacks, **fit_kwargs)
            train_seconds += time.perf_counter() - fit_start
            losses = history.get("loss", [])
            if any(not math.isfinite(v) for v in losses):
                raise kt.errors.FailedTrialError(f"NaN or infinite loss at epoch {len(losses)}")
            _check_finite_weights(model)
            best = self._best_epoch(history)
            runs.append(({k: v[min(best, len(v) - 1)] for k, v in history.items()}, best))
            value = runs[-1][0][objective.name]
            if best_value is None or objective.better_than(value, best_value):
                best_value = value
                metrics_so_far = dict(metrics, **{objective.name: value})
                if self._worth_saving(metrics_so_far):
                    # Keep the weights of the best run (keras-tuner: of the best epoch).
                    with quick_weight_files():
                        model.save_weights(self._get_checkpoint_fname(trial.trial_id))
        # keras-tuner's convention: each run's best epoch, averaged over the runs.
        for name in runs[0][0]:
            metrics[name] = float(np.mean([r[0][name] for r in runs if name in r[0]]))
        metrics["best_epoch"] = float(np.mean([r[1] for r in runs]))
        metrics["train_seconds"] = train_seconds
        metrics["trial_seconds"] = time.perf_counter() - start
        return metrics

    def _worth_saving(self, metrics):
        keep = _keep_count(self.keep_checkpoints)
        if keep is None or keep == 0:
            return keep is None
        best = self.oracle.get_best_trials(keep)
        reward = self._local_oracle.reward
        return len(best) < keep or reward(metrics) > reward.from_score(best[-1].score)

    # -- search loop additions --------------------------------------------------------------
    def pre_create_trial(self):
        # Between two trials, before asking for the next: the only point where leaving
        # loses nothing (keras-tuner's loop has no other exit but STOPPED).
        if (self.recycle_every and self._is_worker() and self._trials_run >= self.recycle_every):
            self.recycle_requested = True
            raise _Recycle()
        super().pre_create_trial()

    def search(self, *fit_args, **fit_kwargs):
        from keras_tuner.src import config as kt_config

        self._search_start = time.time()
        self._trials_run = 0
        # keras-tuner passes `verbose` on to fit; 0 also silences this search's own lines.
        verbose = fit_kwargs.get("verbose", self.verbose)
        self._progress = min(self.verbose, 1 if verbose == "auto" else int(verbose))
        self._ended_at_start = 0 if self._is_worker() else len(self.oracle.end_order)
        if distributed.role() == "chief":
            self._serve()
            return
        # keras-tuner prints every failed trial's traceback (DEBUG defaults to True);
        # failed children are routine here, and their reason is in the progress line.
        debug, kt_config.DEBUG = kt_config.DEBUG, self._progress > 1
        try:
            with _children_trace_quietly(), _long_lived_objects_frozen(), \
                    _full_collections_between_children(), without_op_tracebacks(), \
                    reused_array_pipelines(), reused_operation_graphs():
                super().search(*fit_args, **fit_kwargs)
        except _Recycle:
            if self._progress:
                print(f"{self.tuner_id}: leaving after {self._trials_run} trials to be started "
                      "again (recycle_every).", flush=True)
            return
        finally:
            kt_config.DEBUG = debug
        if self._is_worker():
            if self._progress:
                print(f"{self.tuner_id}: the chief ended the search after this worker ran "
                      f"{self._trials_run} trials.", flush=True)
            return
        stop = self.oracle.stop_reason
        if stop and self._progress:
            print(f"Search stopped early: {stop}.")

    def _serve(self):
        """The chief: serve the oracle to the workers until the search is over."""
        self.save()
        if self.verbose:
            self.oracle.on_trial_ended = lambda t: print(self._progress_line(t), flush=True)
            address = (f"{os.environ['KERASTUNER_ORACLE_IP']}:"
                       f"{os.environ['KERASTUNER_ORACLE_PORT']}")
            print(f"Chief serving {type(self.oracle).__name__} on {address}; "
                  f"{len(self.oracle.end_order)} trials ended so far.", flush=True)
        try:
            distributed.serve(self.oracle, poll_seconds=self.poll_seconds)
        finally:
            self.oracle.on_trial_ended = None
        self.save()
        if self.verbose:
            stop = self.oracle.stop_reason
            print(f"Search over: {len(self.oracle.end_order)} trials ended"
                  + (f"; stopped early: {stop}." if stop else "."), flush=True)

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        lease = getattr(self._local_oracle, "lease_seconds", None)
        if self._is_worker() and lease:
            self._heartbeat = distributed.Heartbeat(self.oracle, trial.trial_id, lease / 5)

    def on_trial_end(self, trial):
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        super().on_trial_end(trial)
        self._trials_run += 1
        if _keep_count(self.keep_checkpoints) is not None:
            self._prune_checkpoints()
        if self._progress and (self._is_worker() or distributed.role() == "local"):
            print(self._progress_line(trial), flush=True)

    def _prune_checkpoints(self):
        """Delete the weights of ended trials outside the best k (any worker's)."""
        keep = {t.trial_id for t in self.oracle.get_best_trials(_keep_count(self.keep_checkpoints))}
        for entry in os.scandir(self.project_dir):
            path = os.path.join(entry.path, CHECKPOINT)
            if not entry.name.startswith("trial_") or not os.path.exists(path):
                continue
            trial_id = entry.name[len("trial_"):]
            if trial_id in keep:
                continue
            try:
                status = self.oracle.get_trial(trial_id).status
            except Exception:  # noqa: BLE001 - not a trial of this search
                continue
            if status in (TrialStatus.COMPLETED, TrialStatus.FAILED):
                try:
                    os.remove(path)
                except FileNotFoundError:  # another worker pruned it
                    pass

    def _progress_line(self, trial):
        trial = self.oracle.get_trial(trial.trial_id)
        total = self.oracle.max_trials
        name = self.oracle.objective.name
        best = self.oracle.get_best_trials(1)
        best_score = f"{best[0].score:.4f}" if best else "-"
        elapsed = time.time() - self._search_start
        if self._is_worker():  # the chief has the global count
            count, clock = f"trial {trial.trial_id}", f"elapsed {_clock(elapsed)}"
        else:
            done = len(self.oracle.end_order)
            if total is None:
                count, clock = f"trial {done}", f"elapsed {_clock(elapsed)}"
            else:
                eta = elapsed / max(1, done - self._ended_at_start) * max(0, total - done)
                count = f"trial {done}/{total}"
                clock = f"elapsed {_clock(elapsed)}  ETA {_clock(eta)}"
        if trial.status == TrialStatus.COMPLETED:
            outcome = f"{name} {trial.score:.4f}"
        else:
            outcome = f"{trial.status}: {failure_reason(trial.message)[:120]}"
        params = trial.metrics.get_last_value("params") if trial.metrics.exists("params") else None
        size = f"  {int(params):,} params" if params else ""
        return f"{count}  {outcome}  best {best_score}{size}  {clock}"

    # -- results ----------------------------------------------------------------------------
    def best_architecture(self):
        best = self.oracle.get_best_trials(1)
        if not best:
            raise ValueError("No trial has completed yet, so there is no best architecture.")
        return self.space.decode(self.space.values_from_hp(best[0].hyperparameters))

    best_genotype = best_architecture

    def _get_checkpoint_fname(self, trial_id):
        return os.path.join(self.get_trial_dir(trial_id), CHECKPOINT)

    def load_model(self, trial):
        """The child of ``trial`` with its trained weights (keras-tuner's ``load_model``,
        used by ``get_best_models``); a clear error when they were not kept."""
        path = self._get_checkpoint_fname(trial.trial_id)
        if not os.path.exists(path):
            kept = {"best": "only the best trial's", "none": "no trial's",
                    "all": "every trial's"}.get(self.keep_checkpoints,
                                                f"the best {self.keep_checkpoints} trials'")
            raise ValueError(
                f"The weights of trial {trial.trial_id} were not kept: keep_checkpoints="
                f"{self.keep_checkpoints!r} keeps {kept} weights.  Pass NASTuner(keep_checkpoints="
                "'all' or an integer k) to keep more, or rebuild and train the architecture: "
                "tuner.hypermodel.build(trial.hyperparameters).")
        model = self._build_checked(trial.hyperparameters)
        with maybe_distribute(self.distribution_strategy), quick_weight_files():
            if getattr(model, "optimizer", None) is not None:
                model.optimizer.build(model.trainable_variables)  # the file holds its slots too
            model.load_weights(path)
        return model

    def best_model(self):
        """The best child, with its trained weights when they were kept (else untrained)."""
        best = self.oracle.get_best_trials(1)
        if not best:
            raise ValueError("No trial has completed yet, so there is no best model.")
        if os.path.exists(self._get_checkpoint_fname(best[0].trial_id)):
            return self.load_model(best[0])
        return self._build_checked(best[0].hyperparameters)

    def export(self, directory):
        """Write ``best_architecture.json`` and ``best_model.keras``; return their paths."""
        os.makedirs(directory, exist_ok=True)
        arch_path = os.path.join(directory, "best_architecture.json")
        storage.atomic_write_bytes(arch_path, self.space.arch_to_json(self.best_architecture()).encode())
        model_path = os.path.join(directory, "best_model.keras")
        model = self.best_model()
        with quick_weight_files():
            model.save(model_path)
        return arch_path, model_path

    def results_table(self):
        from nasnet_search.results import load_results

        return load_results(self.project_dir)

    def save(self):
        # keras-tuner writes <tuner_id>.json non-atomically, and its presence triggers reload.
        if not self._is_worker():
            self.oracle.save()
        storage.atomic_write_json(self._get_tuner_fname(), self.get_state())


# What a user sets through keras.mixed_precision / keras.config (dtype policy, traceback
# filtering, interactive logging, flash attention, NNX), keras.distribution and
# keras.utils.set_random_seed: Keras keeps these in the global state clear_session resets.
_USER_SETTINGS = ("dtype_policy", "traceback_filtering", "interactive_logging", "flash_attention",
                  "nnx_enabled", "distribution", "global_random_seed")


def clear_session_keeping_settings():
    """``keras.backend.clear_session()`` (as keras-tuner clears between children), but the
    user's Keras settings survive it: a search started under ``mixed_float16`` trains
    every child in mixed precision (after a plain clear, all would be float32).  And
    TensorFlow's eager kernel cache survives it (`_kernel_cache_kept`)."""
    from keras.src.backend.common import global_state

    kept = {name: global_state.get_global_attribute(name) for name in _USER_SETTINGS}
    with _kernel_cache_kept():
        keras.backend.clear_session()
    for name, value in kept.items():
        if value is not None:
            global_state.set_global_attribute(name, value)


@contextlib.contextmanager
def _kernel_cache_kept():
    """Keras' clear_session empties TensorFlow's eager kernel cache, which holds every traced
    function as instantiated for execution: the RL controller's sampler and update were
    instantiated again after each child (0.19 s of each proposal, 0.8 s of each update,
    measured in a proxy search), and so were the eager kernels of the next child's build.
    Memory stays bounded: after 60 proxy children the process was 6 MB larger than with the
    cache emptied each time, the gap not growing (scratch script; and
    `benchmarks/search_memory.py`, which the tests run)."""
    from tensorflow.python.eager import context

    ctx = context.context()
    ctx.clear_kernel_cache = lambda: None  # an instance attribute hides the method
    try:
        yield
    finally:
        del ctx.clear_kernel_cache


def _prepare(model, fit_args, fit_kwargs):
    """Variables built before fit, so the train step is traced once, and the test step
    traced during the first epoch when fit validates (an optimization only: data of a form
    it does not know is left to Keras)."""
    from nasnet_keras.optimizers import prepare_training

    x = fit_args[0] if fit_args else fit_kwargs.get("x")
    y = fit_args[1] if len(fit_args) > 1 else fit_kwargs.get("y")
    validates = (fit_kwargs.get("validation_data") is not None
                 or bool(fit_kwargs.get("validation_split")))
    try:
        prepare_training(model, x, y, will_evaluate=validates)
    except Exception:  # noqa: BLE001 - Keras builds them in the first trace instead
        pass


def _check_finite_weights(model):
    """A diverged child fails even when its loss looks finite: TensorFlow's fused
    BatchNorm+ReLU training kernel (Grappler's remapper) turns NaN into 0, so NaN weights
    can give a constant loss of log(classes) instead of NaN."""
    for weight in model.weights:
        if not np.isfinite(keras.ops.convert_to_numpy(weight)).all():
            raise kt.errors.FailedTrialError(
                f"NaN or infinite weights after training ({weight.path}): the child diverged")


class _RetracingFilter(logging.Filter):
    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def _long_lived_objects_frozen():
    """Python's garbage collector leaves alone what exists when the search starts
    (TensorFlow's and Keras' modules: about 480,000 objects) until the search ends.
    Otherwise each child's clean-up (`_try_build`'s ``gc.collect``) and the full
    collection its tracing triggers traverse them all: about 0.4 s of a proxy child's
    trial.  Objects made during the search are collected as usual; a process that froze
    objects itself keeps its own arrangement."""
    if gc.get_freeze_count():
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _full_collections_between_children():
    """Python's automatic full garbage collections off while the search runs (the younger
    generations are collected as usual).  Each child's clearing collects everything
    (`_try_build`: Keras' clear_session and gc.collect), so what reaches the oldest
    generation is freed at the next child at the latest; the automatic ones, which a child's
    tracing triggered once or twice more (sometimes on the thread tracing its test step),
    found little.  In 7 trials of ``benchmarks/cli_trial.py`` full collections took
    0.13-0.24 s a trial with them, 0.09-0.15 s without (``gc.callbacks``, scratch script).
    The thresholds are restored when the search ends; a process with the collector off
    is left as it is."""
    thresholds = gc.get_threshold()
    if not gc.isenabled():
        yield
        return
    gc.set_threshold(thresholds[0], thresholds[1], _NO_AUTOMATIC_FULL_COLLECTION)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


_NO_AUTOMATIC_FULL_COLLECTION = 1 << 30  # a full collection after this many younger ones


@contextlib.contextmanager
def _children_trace_quietly():
    """Drop TensorFlow's "N out of the last M calls ... triggered tf.function retracing"
    warning while children train.  TensorFlow counts the traces of all Keras train and
    test functions together (they share one code object), and every child is a new
    model that must trace its own: the warning would blame the user for the search
    itself, with few steps per child (e.g. short text windows)."""
    logger, quiet = logging.getLogger("tensorflow"), _RetracingFilter()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


class _Recycle(Exception):
    """Leaves keras-tuner's search loop between two trials (`recycle_every`)."""


def _clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
