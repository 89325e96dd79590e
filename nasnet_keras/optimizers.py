"""Optimizers whose update traces in a few milliseconds, whatever the number of variables.

Keras' own optimizers build the update of every variable from about ten ops, each
through the distribution-strategy machinery; TensorFlow traces all of it when it
traces a train step.  Measured on 2 CPU cores (TF 2.21, Keras 3.15), that is about
25 ms of tracing per variable: 17 s of a proxy child's first epoch (200 variables),
and half a minute for NASNet-A mobile (about 1,100).  `FusedAdam` and `FusedSGD`
compute exactly what ``keras.optimizers.Adam`` and ``SGD`` compute (same formulas,
same variables, same config, so ``.keras`` files and checkpoints are interchangeable)
but update each variable with one of TensorFlow's fused training kernels
(``ResourceApplyAdam``, ``ResourceApplyKerasMomentum``): one op per variable to trace.
Decoupled weight decay, when set, uses one learning rate for all variables: Keras
computes it (with a schedule, a few dozen ops) again for each variable, which was about
a third of the weight-sharing supernet's trace (1,400 variables).

The kernels take float32 and float64 variables (the search's RL controller computes in
float64) and compute in the variable's dtype, as Keras does.  Where a fused kernel does
not apply (another backend, a distribution strategy with several replicas, AMSGrad,
gradient accumulation, variables of another dtype), they take Keras' own path, which
computes the same numbers.
"""

import keras

from nasnet_keras.step_functions import install_step_functions
from nasnet_keras.variable_creation import quick_variable_creation

_FUSED = "fused"
_KERNEL_DTYPES = ("float32", "float64")


def _fusable(optimizer, variables):
    if keras.backend.backend() != "tensorflow" or optimizer.gradient_accumulation_steps:
        return False
    import tensorflow as tf

    if tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1:
        return False
    return all(v.dtype in _KERNEL_DTYPES for v in variables)


class _PerDtype:
    """A hyperparameter cast once per variable dtype (a float64 controller, a float32
    model; both where a model mixes them): Keras casts it again for every variable."""

    def __init__(self, make):
        self._make, self._made = make, {}

    def __call__(self, dtype):
        if dtype not in self._made:
            self._made[dtype] = self._make(dtype)
        return self._made[dtype]


def _tf_variable(variable):
    """The TensorFlow variable behind a Keras one (or the TensorFlow variable given)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


def _handle(variable):
    return _tf_variable(variable).handle


def _fused_weight_decay(optimizer, variables):
    """Keras' decoupled weight decay, ``w -= w * wd * lr``, with the learning rate computed
    once: Keras computes it (a whole schedule) again for every variable."""
    import tensorflow as tf

    lr = _PerDtype(lambda dtype: tf.cast(optimizer.learning_rate, dtype))
    wd = _PerDtype(lambda dtype: tf.cast(optimizer.weight_decay, dtype))
    for variable in variables:
        if not optimizer._use_weight_decay(variable):
            continue
        value = _tf_variable(variable)
        value.assign_sub(value * wd(value.dtype) * lr(value.dtype))


class _FusedMixin:
    def _apply_weight_decay(self, variables):
        if self.weight_decay is None or not _fusable(self, variables):
            return super()._apply_weight_decay(variables)
        _fused_weight_decay(self, variables)


@keras.saving.register_keras_serializable(package="nasnet_keras")
class FusedAdam(_FusedMixin, keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with a fused update (see the module docstring).

    Same arguments as ``keras.optimizers.Adam``.  With ``amsgrad=True`` it is Keras' Adam.
    """

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if self.amsgrad or not _fusable(self, trainable_variables):
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        import tensorflow as tf

        def constants(dtype):
            # As Keras: the powers of the betas cast (a Python float passes through
            # float32), ``1 - beta`` and epsilon from the Python floats themselves.
            def exact(x):
                return tf.cast(x, dtype) if tf.is_tensor(x) else tf.constant(x, dtype)

            step = tf.cast(self.iterations + 1, dtype)
            return dict(beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
                        beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
                        lr=tf.cast(learning_rate, dtype), beta1=exact(self.beta_1),
                        beta2=exact(self.beta_2), epsilon=exact(self.epsilon))

        constants = _PerDtype(constants)
        for grad, variable in zip(grads, trainable_variables):
            index = self._get_variable_index(variable)
            dtype = _tf_variable(variable).dtype
            tf.raw_ops.ResourceApplyAdam(
                var=_handle(variable), m=_handle(self._momentums[index]),
                v=_handle(self._velocities[index]), grad=tf.cast(grad, dtype),
                use_locking=False, **constants(dtype))


@keras.saving.register_keras_serializable(package="nasnet_keras")
class FusedSGD(_FusedMixin, keras.optimizers.SGD):
    """``keras.optimizers.SGD`` (with momentum and Nesterov) with a fused update."""

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if not _fusable(self, trainable_variables):
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        import tensorflow as tf

        lr = _PerDtype(lambda dtype: tf.cast(learning_rate, dtype))
        momentum = _PerDtype(lambda dtype: tf.cast(self.momentum, dtype))
        for grad, variable in zip(grads, trainable_variables):
            dtype = _tf_variable(variable).dtype
            grad = tf.cast(grad, dtype)
            if self.momentum == 0:
                tf.raw_ops.ResourceApplyGradientDescent(var=_handle(variable), alpha=lr(dtype),
                                                        delta=grad, use_locking=False)
                continue
            # Keras' rule: m = momentum * m - lr * g; w += m (Nesterov: w += momentum*m - lr*g).
            accum = _handle(self.momentums[self._get_variable_index(variable)])
            tf.raw_ops.ResourceApplyKerasMomentum(
                var=_handle(variable), accum=accum, lr=lr(dtype), grad=grad,
                momentum=momentum(dtype), use_locking=False, use_nesterov=self.nesterov)


FUSED_OPTIMIZERS = {"adam": FusedAdam, "sgd": FusedSGD}
_SAID = set()  # optimizer classes already reported as not fused (one line each per process)


def fused(optimizer):
    """The fused equivalent of ``optimizer`` (a name, a config dict or a Keras Adam/SGD),
    with the same configuration; any other optimizer is returned as Keras would make it,
    with one log line saying that its update is not fused."""
    if isinstance(optimizer, (FusedAdam, FusedSGD)):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in FUSED_OPTIMIZERS:
        return FUSED_OPTIMIZERS[optimizer.lower()]()
    if isinstance(optimizer, dict):
        optimizer = keras.optimizers.deserialize(optimizer)
    elif isinstance(optimizer, str):
        optimizer = keras.optimizers.get(optimizer)
    kind = type(optimizer)
    if kind in (keras.optimizers.Adam, keras.optimizers.SGD):
        fused_kind = FusedAdam if kind is keras.optimizers.Adam else FusedSGD
        return fused_kind.from_config(optimizer.get_config())
    if kind not in _SAID:
        _SAID.add(kind)
        print(f"[nasnet_keras] {kind.__name__}: no fused update; using Keras' own (slower to "
              "trace for many variables).", flush=True)
    return optimizer


def _first_batch(x, y=None, batch_size=2):
    """A small batch of ``fit``'s data: arrays ``x`` and ``y``, or a tf.data dataset of
    ``(x, y)``; None for anything else (a generator, or no labels)."""
    import tensorflow as tf

    if isinstance(x, tf.data.Dataset):
        batch = next(iter(x.take(1)))
        return tuple(batch) if isinstance(batch, (tuple, list)) and len(batch) >= 2 else None
    if y is None:
        return None
    # Several inputs or outputs come as lists or dicts of arrays.
    return keras.tree.map_structure(lambda a: a[:batch_size], (x, y))


def prepare_training(model, x, y=None, will_evaluate=False):
    """Create the variables a first train step would create (optimizer slots, the state of
    compiled metrics and losses) before ``fit``, from one batch of ``fit``'s data.

    TensorFlow cannot keep a graph that created variables: when the first trace of a
    train step creates them, it traces the step a second time (Keras defers this
    creation to the first trace unless a distribution strategy is set).  Built here,
    the step is traced once, and as one graph (`install_step_functions`: without
    Keras' nested function around it) until the next ``compile``.  The variables made
    here are named by `quick_variable_creation` (a third of a proxy child's preparation
    went to naming its optimizer's 400 slots).  ``will_evaluate=True`` when ``fit`` will
    validate (``validation_data``, ``validation_split``) or ``evaluate`` follows it: the test
    step is then traced while the first epoch trains, on a background thread, instead of
    before the first validation.  Returns True when the model was prepared;
    False (and nothing changed) when the data's form is unknown or the model is not
    compiled.
    """
    if keras.backend.backend() != "tensorflow" or getattr(model, "optimizer", None) is None:
        return False
    batch = _first_batch(x, y)
    if batch is None or not hasattr(model, "_symbolic_build"):
        return False
    with quick_variable_creation():
        if not _build_from_known_outputs(model, batch):
            model._symbolic_build(data_batch=batch)
    install_step_functions(model, will_evaluate=will_evaluate)
    return True


def _build_from_known_outputs(model, batch):
    """What Keras' ``_symbolic_build`` does, without tracing the model: it traces a whole
    forward pass only to learn the shapes of the predictions, which a built functional
    model already knows.  False (nothing built) for any other model."""
    from keras.src.backend import compute_output_spec
    from keras.src.models.functional import Functional
    from keras.src.trainers.data_adapters import data_adapter_utils

    if not isinstance(model, Functional) or not all(
            layer.built for layer in model._flatten_layers()):
        return False

    def to_spec(v):
        return None if v is None else keras.KerasTensor(
            v.shape, keras.backend.standardize_dtype(v.dtype))

    x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(
        keras.tree.map_structure(to_spec, batch))
    y_pred = keras.tree.map_structure(
        lambda t: keras.KerasTensor(t.shape, t.dtype), model._outputs_struct)
    if model._compile_metrics is not None and not model._compile_metrics.built:
        compute_output_spec(model.compute_metrics, x, y, y_pred, sample_weight=sample_weight)
    if model._compile_loss is not None and not model._compile_loss.built:
        compute_output_spec(model._compute_loss, x, y, y_pred, sample_weight=sample_weight,
                            training=False)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model._post_build()
    return True
