"""`WeightSharingTuner`: ENAS' search (Pham et al. 2018) with any of this package's oracles.

Every child is a path through one `Supernet` whose weights all children share, so a
child is scored with a forward pass on validation images instead of being trained.
Each epoch alternates ENAS' two phases:
1. train the shared weights, one sampled architecture per batch (uniform during the
   warm-up and for random search and evolution, the controller's samples afterwards
   for RL, as ENAS);
2. (after the warm-up) score ``archs_per_epoch`` proposals of the oracle's strategy on a
   **fixed** validation subset (the same images for every candidate, at least two
   batches) and feed the accuracies back as rewards (RL aggregates its
   ``RLSettings.batch_size`` of them per controller update).
At the end, ``final_samples`` architectures from the trained strategy (plus the RL
policy's most likely one) are scored on the subset, the best ``final_top`` again on
the whole validation split, and the best is reported.  `extract_best` gives it as a
plain `nasnet_keras.NASNet` with the inherited weights; `retrain` trains it from
scratch at the size the user gives.

Several GPUs of one host: keras-tuner's ``distribution_strategy`` argument (a
``tf.distribute.MirroredStrategy``) trains the shared weights on all of them
(`WeightSharingTuner`'s docstring says how a batch is split).

Files in the project folder: ``tuner0.json`` (the state, written atomically at each
epoch end: epoch, oracle state, the weights file's name and checksum),
``supernet_e{epoch}.npz`` (shared weights and optimizer slots), ``journal.jsonl`` (one
line per scored architecture) and ``result.json`` (the final choice).  A process killed
at any point resumes from the last epoch end.
"""

import contextlib
import json
import math
import os
import time

import keras
import keras_tuner as kt
import numpy as np

from nasnet_keras.weight_files import quick_weight_files
from nasnet_search import storage
from nasnet_search.graph_options import GraphStep, short_run_graph_optimization

STATE_FORMAT = 1
JOURNAL = "journal.jsonl"
RESULT = "result.json"
AUTO_GRAPPLER_SECONDS = 1800  # optimize_graph="auto": Grappler for searches this long or longer


def _positive_int(name, value, minimum=1):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return value


def _positive_number(name, value, allow_zero=False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"`{name}` must be a number {'>=' if allow_zero else '>'} 0, "
                         f"got {value!r}.")
    return float(value)


def retrain_architecture(space, genotype, x, y, evaluation_data, input_shape=(32, 32, 3),
                         classes=10, num_cells=1, filters=12, epochs=6, batch_size=64,
                         learning_rate=3e-3, seed=0, name="retrained"):
    """Train ``genotype``'s child from scratch (FusedAdam, one trace of the train step) and
    return ``(model, accuracy on evaluation_data)``."""
    import nasnet_keras as nk

    keras.utils.set_random_seed(seed)
    model = space.build_model(genotype, input_shape=tuple(input_shape), classes=classes,
                              num_cells=num_cells, filters=filters, name=name)
    model.compile(optimizer=nk.FusedAdam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    nk.prepare_training(model, x, y, will_evaluate=True)  # evaluate follows fit
    with short_run_graph_optimization():
        model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
        _, accuracy = model.evaluate(*evaluation_data, batch_size=256, verbose=0)
    return model, float(accuracy)


def _check_strategy(strategy, batch_size):
    """``strategy`` if it can train the supernet (None is the default device)."""
    if strategy is None:
        return None
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(f"`distribution_strategy` must be a tf.distribute.Strategy (for example "
                        f"tf.distribute.MirroredStrategy()) or None, got "
                        f"{type(strategy).__name__}.")
    if getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)():
        raise ValueError("`distribution_strategy`: the supernet trains on one host; a multi-"
                         "worker strategy is not supported (use MirroredStrategy).")
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"`batch_size` ({batch_size}) must be divisible by the strategy's "
                         f"{replicas} replicas: each replica trains on an equal part.")
    return strategy


class SupernetSteps:
    """The supernet's train and score steps, each traced once (the architecture is a tensor).

    With a ``strategy`` (the supernet created in its scope), the train step runs on every
    replica, each on its slice of the batch (`_train_replica`).

    ``optimize_graph=False`` runs the train step without Grappler.  Measured on the
    `enas` supernet (N = 1, F = 8, batch 64, 2 CPU cores, `benchmarks/weight_sharing.py`):
    its first call, which traces it (about 45 s), took 95 s instead of 128 s plus the
    trace, while a step cost 414 ms against 417 ms with Grappler (two A/B runs of a
    scratch script: first calls 58 s against 142 s and 49 s against 107 s after the trace,
    steps 496-606 against 465-473 ms and 375 against 351 ms; this machine's step times
    vary).  Grappler pays
    back its first-call cost only over a search of about half an hour
    (`WeightSharingTuner`'s ``optimize_graph``).  The score step (forward only) follows the
    same setting: without Grappler its first call took 16 s instead of 28 s, and a score
    batch cost 70-80 ms either way (scratch script, demo settings).
    """

    def __init__(self, supernet, batch_size, learning_rate, min_learning_rate, momentum,
                 weight_decay, grad_clip, steps_per_epoch, optimizer="sgd", optimize_graph=True,
                 strategy=None):
        import tensorflow as tf

        self.supernet = supernet
        self.strategy = strategy
        self.batch_size = batch_size
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            self._make_optimizer(learning_rate, min_learning_rate, momentum, weight_decay,
                                 steps_per_epoch, optimizer)
        self.grad_clip = grad_clip
        h, w, c = supernet.image_shape
        images = tf.TensorSpec([batch_size, h, w, c], tf.float32)
        labels = tf.TensorSpec([batch_size], tf.int32)
        arch = tf.TensorSpec([2, supernet.arch_length], tf.int32)
        # No autograph: the steps have no tensor-dependent Python control flow (branches are
        # tf.switch_case), and converting the supernet's Python would only slow the trace.
        self.train_step = GraphStep(
            tf.function(self._train, input_signature=[images, labels, arch], autograph=False),
            optimize_graph)
        self.score_step = GraphStep(
            tf.function(self._score, input_signature=[images, labels, arch], autograph=False),
            optimize_graph)

    def _make_optimizer(self, learning_rate, min_learning_rate, momentum, weight_decay,
                        steps_per_epoch, optimizer):
        from nasnet_keras.optimizers import FusedAdam, FusedSGD

        # ENAS' schedule: cosine with warm restarts after 10, 20, 40, ... epochs, which needs
        # no total length (a search may stop on max_time).
        schedule = keras.optimizers.schedules.CosineDecayRestarts(
            learning_rate, first_decay_steps=10 * steps_per_epoch, t_mul=2.0,
            alpha=min_learning_rate / learning_rate)
        if optimizer == "adam":
            self.optimizer = FusedAdam(learning_rate=schedule, weight_decay=weight_decay or None)
        else:
            self.optimizer = FusedSGD(learning_rate=schedule, momentum=momentum, nesterov=True,
                                      weight_decay=weight_decay or None)
        self.optimizer.build(self.supernet.trainable_variables)

    def _train(self, x, y, arch):
        import tensorflow as tf

        if self.strategy is None:
            return self._train_replica(x, y, arch)
        loss, correct = self.strategy.run(self._train_replica, args=(x, y, arch))
        total = tf.distribute.ReduceOp.SUM
        return (self.strategy.reduce(total, loss, axis=None),
                self.strategy.reduce(total, correct, axis=None))

    def _train_replica(self, x, y, arch):
        """One replica's part of the step: its slice of the batch, the gradient of the whole
        batch's mean loss summed over replicas, clipped, applied to every copy."""
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        if replicas > 1:  # every replica receives the whole batch and takes its own slice
            part = self.batch_size // replicas
            start = context.replica_id_in_sync_group * part
            x, y = x[start:start + part], y[start:start + part]
        variables = self.supernet.trainable_variables
        with tf.GradientTape() as tape:
            probs = self.supernet(x, arch, training=True)
            # Summed over this replica's examples, divided by the whole batch: the replicas'
            # gradients add up to the gradient of the batch mean.
            loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, probs)) \
                / self.batch_size
        # The tf.Variables under Keras' (the zero fill of an unconnected one needs a TF dtype).
        grads = tape.gradient(loss, [v.value for v in variables],
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
        if replicas > 1:
            grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        if self.grad_clip:  # the global norm of the whole batch's gradient, as on one device
            grads, _ = tf.clip_by_global_norm(grads, self.grad_clip)
        if replicas > 1:
            # Keras' apply_gradients sums the replicas' gradients again.
            grads = [g / replicas for g in grads]
        self.optimizer.apply_gradients(zip(grads, variables))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probs, -1, output_type=tf.int32), y),
                                        tf.float32))
        return loss, correct

    def _score(self, x, y, arch):
        import tensorflow as tf

        # Batch statistics, as in training (the module docstring of `supernet`).
        probs = self.supernet(x, arch, training=True)
        return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probs, -1, output_type=tf.int32), y),
                                     tf.float32))

    def state_arrays(self):
        return ([v.numpy() for v in self.supernet.weights]
                + [v.numpy() for v in self.optimizer.variables])

    def load_arrays(self, arrays):
        variables = list(self.supernet.weights) + list(self.optimizer.variables)
        if len(arrays) != len(variables):
            raise ValueError(f"The saved supernet holds {len(arrays)} arrays, this one "
                             f"{len(variables)}: the search's settings changed.")
        for variable, value in zip(variables, arrays):
            variable.assign(value.reshape(variable.shape))


class WeightSharingTuner(kt.Tuner):
    """Architecture search with weight sharing (ENAS) through a `NASOracle`'s strategy.

    Args:
        oracle: `RLOracle` (ENAS), `RandomOracle` (random search with weight sharing, Li &
            Talwalkar 2019) or `EvolutionOracle`, over a `NASNetSearchSpace` the supernet
            can express (`nasnet_search.supernet.check_space`).
        input_shape, classes, num_cells, filters: the supernet (proxy) size.
        batch_size: training and scoring batch (batches are full; the rest of an epoch's
            shuffled examples waits for the next epoch).
        learning_rate, min_learning_rate, momentum, weight_decay, grad_clip: the shared
            weights' Nesterov SGD with ENAS' cosine-with-restarts schedule, decoupled
            weight decay and global-norm clipping.
        warmup_epochs: epochs of uniform path sampling before the strategy proposes.
        archs_per_epoch: architectures the strategy proposes and learns from per epoch
            (50: 2-3 per training step on digits, 17-22 steps an epoch; ENAS scored 300
            per 282 steps of CIFAR-10, each on one batch).
        score_batches: batches of the fixed validation subset each proposal is scored on.
        final_samples, final_top: the final choice (module docstring).
        selection: the supernet's branch selection, ``"switch"`` or ``"gather"``.
        seed: data order and path sampling (the oracle keeps its own seed).
        optimize_graph: run TensorFlow's graph optimizer (Grappler) on the train step:
            True, False, or ``"auto"`` (the default): only when the search's ``max_time``
            is unset or at least 30 minutes.  Without it the first step came 58-84 s
            sooner and later steps cost 0-20% more (measured, `SupernetSteps`).
        verbose: 1 prints one line per epoch, 0 nothing.
        **kwargs: keras-tuner ``Tuner`` arguments (``directory``, ``project_name``,
            ``overwrite``, ``distribution_strategy``).  ``distribution_strategy``: a
            ``tf.distribute`` strategy of one host (``MirroredStrategy`` over its GPUs) that
            trains the shared weights: the supernet and its optimizer are created in its
            scope, and each batch (``batch_size``, divisible by the number of replicas) is
            split among the replicas, whose gradients are summed before clipping, so a step
            computes what one device computes except that BatchNorm normalizes each replica's
            part with its own statistics.  Scoring runs on one device.  None (the default):
            the default device.
    """

    def __init__(self, oracle, input_shape=(32, 32, 3), classes=10, num_cells=1, filters=8,
                 batch_size=64, learning_rate=0.05, min_learning_rate=5e-4, momentum=0.9,
                 weight_decay=1e-4, grad_clip=5.0, warmup_epochs=2, archs_per_epoch=50,
                 score_batches=2, final_samples=100, final_top=5, selection="switch", seed=0,
                 optimizer="sgd", optimize_graph="auto", verbose=1, **kwargs):
        from nasnet_search.oracles import NASOracle
        from nasnet_search.supernet import Supernet, check_space

        if not isinstance(oracle, NASOracle):
            raise TypeError("`oracle` must be a nasnet_search oracle (RLOracle, RandomOracle, "
                            f"EvolutionOracle), got {type(oracle).__name__}.")
        check_space(oracle.space)
        if len(oracle.hyperparameters.space) != len(oracle.space.decisions):
            extra = [hp.name for hp in oracle.hyperparameters.space
                     if hp.name not in {d.name for d in oracle.space.decisions}]
            raise ValueError(f"Weight sharing searches the architecture only; the oracle also "
                             f"tunes {extra}.  Search those stand-alone (`NASTuner`).")
        self.batch_size = _positive_int("batch_size", batch_size)
        self.learning_rate = _positive_number("learning_rate", learning_rate)
        self.min_learning_rate = _positive_number("min_learning_rate", min_learning_rate, True)
        self.momentum = _positive_number("momentum", momentum, True)
        self.weight_decay = _positive_number("weight_decay", weight_decay, True)
        self.grad_clip = _positive_number("grad_clip", grad_clip, True)
        self.warmup_epochs = _positive_int("warmup_epochs", warmup_epochs, 0)
        self.archs_per_epoch = _positive_int("archs_per_epoch", archs_per_epoch)
        self.score_batches = _positive_int("score_batches", score_batches, 1)
        self.final_samples = _positive_int("final_samples", final_samples)
        self.final_top = _positive_int("final_top", final_top)
        self.seed = _positive_int("seed", seed, 0)
        if optimizer not in ("sgd", "adam"):
            raise ValueError(f"`optimizer` must be 'sgd' (ENAS' Nesterov momentum) or 'adam', got "
                             f"{optimizer!r}.")
        self.optimizer_name = optimizer
        if optimize_graph not in (True, False, "auto"):
            raise ValueError(f"`optimize_graph` must be True, False or 'auto', got "
                             f"{optimize_graph!r}.")
        self.optimize_graph = optimize_graph
        if verbose not in (0, 1):
            raise ValueError(f"`verbose` must be 0 or 1, got {verbose!r}.")
        self.verbose = verbose
        self.space = oracle.space
        strategy = _check_strategy(kwargs.get("distribution_strategy"), self.batch_size)
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            self.supernet = Supernet(oracle.space, input_shape=tuple(input_shape),
                                     classes=classes, num_cells=num_cells, filters=filters,
                                     selection=selection)
        self.supernet_config = dict(input_shape=list(input_shape), classes=classes,
                                    num_cells=num_cells, filters=filters, selection=selection)
        self.steps = None          # SupernetSteps, made once the data size is known
        self.epoch = 0             # epochs finished
        self.history = []          # one dict per finished epoch
        self.result = None         # the final choice, once made
        self._loaded_arrays = None
        self._weights_file = None
        self._trace_seconds = 0.0  # spent tracing the steps in this process
        if hasattr(oracle, "save_each_update"):
            oracle.save_each_update = False  # the controller file is written at epoch ends
        super().__init__(oracle, hypermodel=None, **kwargs)
        os.makedirs(self.project_dir, exist_ok=True)

    # -- keras-tuner plumbing ----------------------------------------------------------------
    def _populate_initial_space(self):
        pass  # the oracle registered the fixed decision table already

    def run_trial(self, trial, *args, **kwargs):
        raise NotImplementedError("WeightSharingTuner scores architectures on its supernet; "
                                  "call `search`, not keras-tuner's trial loop.")

    def _project(self, name):
        return os.path.join(self.project_dir, name)

    def save(self):
        """Write the shared weights, then the state that points at them (both atomic)."""
        if self.steps is None:
            return
        if hasattr(self.oracle, "save_controller_if_changed"):
            self.oracle.save_controller_if_changed()
        name = f"supernet_e{self.epoch}.npz"
        data = storage.arrays_to_bytes(self.steps.state_arrays())
        storage.atomic_write_bytes(self._project(name), data)
        state = {"format": STATE_FORMAT, "epoch": self.epoch, "history": self.history,
                 "weights_file": name, "weights_sha256": storage.sha256(data),
                 "supernet": self.supernet_config, "space": self.space.get_config(),
                 "oracle_rng": self.oracle.rng.bit_generator.state,
                 "strategy": type(self.oracle).__name__,
                 "strategy_state": self.oracle._strategy_state(), "result": self.result}
        storage.atomic_write_json(self._get_tuner_fname(), state)
        previous, self._weights_file = self._weights_file, name
        for stale in [previous] + list(getattr(self.oracle, "_stale_files", [])):
            if stale and stale != name and stale != getattr(self.oracle, "controller_file", None):
                try:
                    os.remove(self._project(stale))
                except FileNotFoundError:
                    pass
        if hasattr(self.oracle, "_stale_files"):
            self.oracle._stale_files = []

    def reload(self):
        state = storage.read_json(self._get_tuner_fname())
        if state.get("format") != STATE_FORMAT or state.get("space") != self.space.get_config():
            raise ValueError(f"{self.project_dir} holds another search (space or format "
                             "differs); pass overwrite=True to start a new one.")
        if state["supernet"] != self.supernet_config:
            raise ValueError(f"{self.project_dir} was searched with supernet "
                             f"{state['supernet']}, not {self.supernet_config}; pass "
                             "overwrite=True to start a new one.")
        if state["strategy"] != type(self.oracle).__name__:
            raise ValueError(f"{self.project_dir} was searched by {state['strategy']}, not "
                             f"{type(self.oracle).__name__}; pass overwrite=True to start anew.")
        with open(self._project(state["weights_file"]), "rb") as f:
            data = f.read()
        if storage.sha256(data) != state["weights_sha256"]:
            raise ValueError(f"{state['weights_file']} does not match its checksum; the saved "
                             "supernet is corrupt.")
        self._loaded_arrays = storage.arrays_from_bytes(data)
        self._weights_file = state["weights_file"]
        self.epoch, self.history, self.result = state["epoch"], state["history"], state["result"]
        self.oracle.rng.bit_generator.state = state["oracle_rng"]
        self.oracle._set_strategy_state(state["strategy_state"])
        # Scores of the epoch the kill interrupted are written again by the rerun.
        journal = self._project(JOURNAL)
        kept = [r for r in storage.read_jsonl(journal) if r["epoch"] < self.epoch
                or (self.result is not None and r.get("phase") == "final")]
        storage.atomic_write_bytes(journal, "".join(
            json.dumps(r, sort_keys=True) + "\n" for r in kept).encode("utf8"))
        storage.remove_stale_temporaries(self.project_dir)

    # -- the search ----------------------------------------------------------------------------
    def _check_data(self, x, y, validation_data):
        x = np.asarray(x, np.float32)
        y = np.asarray(y).astype(np.int32).reshape(-1)
        if validation_data is None or len(validation_data) != 2:
            raise ValueError("`validation_data` must be (x_val, y_val): architectures are scored "
                             "on validation images.")
        xv = np.asarray(validation_data[0], np.float32)
        yv = np.asarray(validation_data[1]).astype(np.int32).reshape(-1)
        shape = tuple(self.supernet.image_shape)
        for name, images, labels in (("x", x, y), ("validation_data", xv, yv)):
            if images.shape[1:] != shape or len(images) != len(labels):
                raise ValueError(f"`{name}` must hold images of shape {shape} with one label "
                                 f"each, got images {images.shape} and {len(labels)} labels.")
        if len(x) < self.batch_size:
            raise ValueError(f"`x` has {len(x)} examples, fewer than batch_size="
                             f"{self.batch_size}.")
        subset = self.score_batches * self.batch_size
        if len(xv) < subset:
            raise ValueError(
                f"The validation split has {len(xv)} examples, fewer than the scoring subset "
                f"(score_batches={self.score_batches} x batch_size={self.batch_size} = {subset}); "
                "use a larger validation split or fewer/smaller scoring batches.")
        return x, y, xv, yv

    def _make_steps(self, steps_per_epoch, max_time=None):
        if self.steps is None:
            optimize = self.optimize_graph
            if optimize == "auto":
                optimize = max_time is None or max_time >= AUTO_GRAPPLER_SECONDS
            self.steps = SupernetSteps(self.supernet, self.batch_size, self.learning_rate,
                                       self.min_learning_rate, self.momentum, self.weight_decay,
                                       self.grad_clip, steps_per_epoch, self.optimizer_name,
                                       optimize_graph=optimize,
                                       strategy=self.distribution_strategy)
            if self._loaded_arrays is not None:
                self.steps.load_arrays(self._loaded_arrays)
                self._loaded_arrays = None

    def _training_actions(self, rng):
        from nasnet_search.rl_oracle import RLOracle
        from nasnet_search.space import random_actions

        if isinstance(self.oracle, RLOracle) and self.epoch >= self.warmup_epochs:
            return self.oracle._propose()[0]  # ENAS: the controller's samples train the weights
        return random_actions(self.space.decisions, rng)

    def _score(self, actions, batches):
        arch = self.supernet.encode_actions(actions)
        if self.steps.score_step.experimental_get_tracing_count() == 0:
            began = time.monotonic()
            float(self.steps.score_step(*batches[0], arch))
            self._trace_seconds += time.monotonic() - began
        correct = sum(float(self.steps.score_step(xb, yb, arch)) for xb, yb in batches)
        return correct / sum(len(yb) for _, yb in batches)

    def _batches(self, images, labels, count=None):
        n = len(labels) // self.batch_size if count is None else count
        return [(images[i * self.batch_size:(i + 1) * self.batch_size],
                 labels[i * self.batch_size:(i + 1) * self.batch_size]) for i in range(n)]

    def search(self, x, y, validation_data=None, epochs=None, max_time=None, **kwargs):
        """Run (or continue) the search; returns the final choice (`result`).

        ``epochs``: total epochs of shared-weight training, the warm-up included; None with
        ``max_time``: as many as fit.  ``max_time`` (seconds, this call) defaults to the
        oracle's.  The final choice is made when either budget is spent.
        """
        if kwargs:
            raise TypeError(f"WeightSharingTuner.search: unexpected arguments {sorted(kwargs)} "
                            "(it takes x, y, validation_data, epochs, max_time).")
        max_time = self.oracle.max_time if max_time is None else max_time
        if epochs is None and max_time is None:
            raise ValueError("Give `epochs` or `max_time` (or the oracle's max_time): weight "
                             "sharing trains until one of them is spent.")
        if epochs is not None:
            _positive_int("epochs", epochs)
        if max_time is not None:
            _positive_number("max_time", max_time)
        x, y, xv, yv = self._check_data(x, y, validation_data)
        steps_per_epoch = len(x) // self.batch_size
        self._make_steps(steps_per_epoch, max_time)
        subset = self._batches(xv, yv, self.score_batches)
        start = time.monotonic()
        epoch_seconds = []
        while self.result is None and (epochs is None or self.epoch < epochs):
            began = time.monotonic()
            # Stop when the next epoch would not fit (the last one is the steady estimate;
            # the first ones include tracing).
            if max_time is not None and epoch_seconds and \
                    began - start + epoch_seconds[-1] > max_time:
                break
            traced = self._trace_seconds
            self._run_epoch(x, y, subset, steps_per_epoch, start, epochs, epoch_seconds)
            # Tracing happens once per process: it does not predict the next epoch's length.
            epoch_seconds.append(time.monotonic() - began - (self._trace_seconds - traced))
            if max_time is not None and time.monotonic() - start >= max_time:
                break
        if self.result is None:
            self.result = self._final_choice(subset, xv, yv)
            self.save()
        if not os.path.exists(self._project(RESULT)):  # a kill may have come between the two
            storage.atomic_write_json(self._project(RESULT), self.result)
        return self.result

    def _run_epoch(self, x, y, subset, steps_per_epoch, start, epochs, epoch_seconds):
        rng = np.random.default_rng([self.seed, self.epoch])  # the data order and the paths
        order = rng.permutation(len(x))
        losses, correct = [], 0.0
        for step in range(steps_per_epoch):
            idx = order[step * self.batch_size:(step + 1) * self.batch_size]
            arch = self.supernet.encode_actions(self._training_actions(rng))
            if step == 0 and self.steps.train_step.experimental_get_tracing_count() == 0:
                began = time.monotonic()
                loss, right = self.steps.train_step(x[idx], y[idx], arch)
                self._trace_seconds += time.monotonic() - began
            else:
                loss, right = self.steps.train_step(x[idx], y[idx], arch)
            losses.append(float(loss))
            correct += float(right)
        if not math.isfinite(np.mean(losses)):
            raise FloatingPointError(f"The shared weights diverged in epoch {self.epoch + 1} "
                                     f"(loss {np.mean(losses)}); lower `learning_rate` or "
                                     "`grad_clip`.")
        rewards = self._search_phase(subset) if self.epoch >= self.warmup_epochs else []
        self.epoch += 1
        elapsed = time.monotonic() - start
        entry = {"epoch": self.epoch, "loss": float(np.mean(losses)),
                 "train_accuracy": correct / (steps_per_epoch * self.batch_size),
                 "mean_reward": float(np.mean(rewards)) if rewards else None,
                 "best_reward": float(np.max(rewards)) if rewards else None,
                 "seconds": elapsed}
        self.history.append(entry)
        self.save()
        if self.verbose:
            eta = ""
            if epochs is not None:
                per = elapsed / max(1, len(epoch_seconds) + 1)
                eta = f", ETA {per * (epochs - self.epoch):.0f} s"
            reward = ("warm-up" if not rewards else
                      f"reward mean {entry['mean_reward']:.3f} best {entry['best_reward']:.3f}")
            print(f"[weight sharing] epoch {self.epoch}: shared-weight train accuracy "
                  f"{entry['train_accuracy']:.3f}, loss {entry['loss']:.3f}, {reward}; "
                  f"{elapsed:.0f} s elapsed{eta}", flush=True)

    def _search_phase(self, subset, count=None):
        """Score ``count`` (default ``archs_per_epoch``) proposals of the strategy on the
        fixed subset, feed the rewards back, journal them; returns the rewards."""
        count = self.archs_per_epoch if count is None else count
        records = []
        # Proposals come in chunks of one policy update (RL) so that each is on-policy;
        # one controller call per chunk.
        chunk = getattr(getattr(self.oracle, "settings", None), "batch_size", 1)
        while len(records) < count:
            for actions, info in self.oracle.propose_batch(min(chunk, count - len(records))):
                reward = self._score(actions, subset)
                self.oracle._observe(actions, info, reward)
                records.append({"epoch": self.epoch, "phase": "search", "reward": reward,
                                "actions": [int(a) for a in actions]})
        storage.append_jsonl_many(self._project(JOURNAL), records)
        return [r["reward"] for r in records]

    def _final_candidates(self):
        from nasnet_search.rl_oracle import RLOracle

        seen, out = set(), []

        def add(actions):
            key = tuple(int(a) for a in actions)
            if key not in seen:
                seen.add(key)
                out.append(list(key))

        if isinstance(self.oracle, RLOracle):
            add(self.oracle.controller.most_likely())
        for actions, _ in self.oracle.propose_batch(self.final_samples):
            add(actions)
        return out

    def _final_choice(self, subset, xv, yv):
        candidates = self._final_candidates()
        scored = sorted(((self._score(a, subset), a) for a in candidates),
                        key=lambda item: -item[0])
        full = self._batches(xv, yv)
        top = [(self._score(a, full), s, a) for s, a in scored[:self.final_top]]
        top.sort(key=lambda item: -item[0])
        storage.append_jsonl_many(self._project(JOURNAL), [
            {"epoch": self.epoch, "phase": "final", "reward": s, "actions": a}
            for s, a in scored])
        best_accuracy, best_subset, best = top[0]
        genotype = self.space.decode_actions(best)
        result = {"architecture": genotype.to_dict(), "actions": best,
                  "inherited_val_accuracy": best_accuracy, "subset_score": best_subset,
                  "candidates": len(candidates),
                  "top": [{"val_accuracy": f, "subset_score": s,
                           "architecture": self.space.decode_actions(a).to_dict()}
                          for f, s, a in top],
                  "epochs": self.epoch}
        if self.verbose:
            print(f"[weight sharing] final choice among {len(candidates)} candidates: inherited-"
                  f"weight validation accuracy {best_accuracy:.4f}", flush=True)
        return result

    # -- results -----------------------------------------------------------------------------
    def best_architecture(self):
        """The chosen genotype (after `search`)."""
        if self.result is None:
            raise RuntimeError("No final choice yet: run `search` first.")
        from nasnet_keras.genotypes import Genotype

        return Genotype.from_dict(self.result["architecture"])

    def extract_best(self, calibration_data=None, calibration_steps=None):
        """The chosen child as a plain `nasnet_keras.NASNet` with the inherited weights
        (BatchNorm statistics recomputed on ``calibration_data`` when given)."""
        if self.steps is None and self._loaded_arrays is not None:
            self._make_steps(1)
        return self.supernet.extract(self.best_architecture(), calibration_data=calibration_data,
                                     calibration_steps=calibration_steps)

    def export(self, directory, calibration_data=None, calibration_steps=20):
        """Write ``best_architecture.json`` and ``best_model.keras`` (the extracted child with
        the inherited weights, BatchNorm statistics recomputed on ``calibration_data`` when
        given); return their paths."""
        os.makedirs(directory, exist_ok=True)
        arch_path = os.path.join(directory, "best_architecture.json")
        storage.atomic_write_bytes(arch_path, self.best_architecture().to_json(indent=1).encode())
        model_path = os.path.join(directory, "best_model.keras")
        model = self.extract_best(calibration_data, calibration_steps)
        with quick_weight_files():
            model.save(model_path)
        return arch_path, model_path

    def retrain(self, x, y, evaluation_data, num_cells=1, filters=12, epochs=6, batch_size=64,
                learning_rate=3e-3, seed=0, genotype=None):
        """Train the chosen cell (or ``genotype``) from scratch with `nasnet_keras` at the size
        given, evaluate it on ``evaluation_data`` = (x, y), record both accuracies in
        ``result.json`` (chosen cell only) and return ``(model, accuracy)``."""
        chosen = genotype is None
        genotype = self.best_architecture() if chosen else genotype
        model, accuracy = retrain_architecture(
            self.space, genotype, x, y, evaluation_data, input_shape=self.supernet.image_shape,
            classes=self.supernet.classes, num_cells=num_cells, filters=filters, epochs=epochs,
            batch_size=batch_size, learning_rate=learning_rate, seed=seed)
        if chosen:
            self.result["retrained"] = {"accuracy": accuracy, "num_cells": num_cells,
                                        "filters": filters, "epochs": epochs,
                                        "params": model.count_params()}
            storage.atomic_write_json(self._project(RESULT), self.result)
            self.save()
        return model, accuracy

    def get_best_models(self, num_models=1):
        return [self.extract_best()][:num_models]

    def get_best_hyperparameters(self, num_trials=1):
        hp = self.space.hyperparameters()
        hp.values.update(self.space.encode(self.best_architecture()))
        return [hp][:num_trials]

    def results_summary(self, num_trials=5):
        if self.result is None:
            print("No final choice yet.")
            return
        for rank, item in enumerate(self.result["top"][:num_trials], start=1):
            print(f"#{rank}: validation accuracy {item['val_accuracy']:.4f} (subset "
                  f"{item['subset_score']:.4f})")
