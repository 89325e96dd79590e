"""FusedAdam and FusedSGD compute what Keras' Adam and SGD compute, serialize, and resume."""

import keras
import numpy as np
import pytest

import nasnet_keras as nk
from nasnet_keras.optimizers import FusedAdam, FusedSGD, fused
from conftest import last_op_traceback


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    # No bias before BatchNorm (as in NASNet): its true gradient is 0, and Adam would blow
    # the round-off noise standing in for it up to steps of the learning rate's size.
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def _data(n=64, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8, 8, 3)).astype("float32"), rng.integers(0, 3, n)


def _schedule(learning_rate=0.05):
    return keras.optimizers.schedules.CosineDecayRestarts(learning_rate, first_decay_steps=7)


def _train(optimizer, steps=20):
    model = _model()
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _data()
    losses = [model.train_on_batch(x[i % 4 * 16:(i % 4 + 1) * 16], y[i % 4 * 16:(i % 4 + 1) * 16])
              for i in range(steps)]
    return np.array(losses), [np.array(w) for w in model.weights], model


@pytest.mark.parametrize("theirs, ours", [
    (lambda: keras.optimizers.Adam(3e-3), lambda: FusedAdam(3e-3)),
    (lambda: keras.optimizers.Adam(1e-2, beta_1=0.8, epsilon=1e-4),
     lambda: FusedAdam(1e-2, beta_1=0.8, epsilon=1e-4)),
    (lambda: keras.optimizers.SGD(0.05, momentum=0.9), lambda: FusedSGD(0.05, momentum=0.9)),
    (lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
     lambda: FusedSGD(0.05, momentum=0.9, nesterov=True)),
    (lambda: keras.optimizers.SGD(0.05), lambda: FusedSGD(0.05)),
    # Weight decay with a schedule: the learning rate computed once, not per variable.
    (lambda: keras.optimizers.SGD(_schedule(), momentum=0.9, nesterov=True, weight_decay=0.05),
     lambda: FusedSGD(_schedule(), momentum=0.9, nesterov=True, weight_decay=0.05)),
    (lambda: keras.optimizers.Adam(_schedule(3e-3), weight_decay=0.1),
     lambda: FusedAdam(_schedule(3e-3), weight_decay=0.1)),
], ids=["adam", "adam-options", "momentum", "nesterov", "sgd", "sgd-decay", "adam-decay"])
def test_20_steps_match_keras_within_float32_round_off(theirs, ours):
    their_losses, their_weights, _ = _train(theirs())
    our_losses, our_weights, _ = _train(ours())
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-5, atol=1e-6)
    for a, b in zip(our_weights, their_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert not np.allclose(their_weights[0], _model().weights[0])  # it trained


@pytest.mark.parametrize("theirs, ours", [
    (lambda: keras.optimizers.Adam(1e-2, global_clipnorm=1.0),
     lambda: FusedAdam(1e-2, global_clipnorm=1.0)),
    (lambda: keras.optimizers.SGD(0.05, momentum=0.9, weight_decay=0.01),
     lambda: FusedSGD(0.05, momentum=0.9, weight_decay=0.01)),
], ids=["adam", "momentum-decay"])
def test_float64_variables_take_the_fused_kernels_with_keras_numbers(theirs, ours):
    # The RL controller computes in float64: the kernels run in the variables' dtype.
    import tensorflow as tf

    def train(optimizer):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((5,), dtype="float64"),
                                  keras.layers.Dense(8, activation="tanh", dtype="float64"),
                                  keras.layers.Dense(3, dtype="float64")])
        model.compile(optimizer=optimizer,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        rng = np.random.default_rng(2)
        x, y = rng.normal(size=(64, 5)), rng.integers(0, 3, 64)
        losses = [model.train_on_batch(x[i % 4 * 16:][:16], y[i % 4 * 16:][:16])
                  for i in range(20)]
        return np.array(losses), [np.array(w) for w in model.weights], model

    their_losses, their_weights, _ = train(theirs())
    our_losses, our_weights, model = train(ours())
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-12)
    for a, b in zip(our_weights, their_weights):
        assert a.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    variables = model.trainable_variables
    grads = [keras.ops.ones_like(v) for v in variables]
    graph = tf.function(lambda: model.optimizer.apply(grads, variables)).get_concrete_function().graph
    kernel = "ResourceApplyAdam" if isinstance(model.optimizer, FusedAdam) else \
        "ResourceApplyKerasMomentum"
    assert [op.type for op in graph.get_operations()].count(kernel) == len(variables)


def test_the_rl_controller_trains_with_the_fused_adam():
    from nasnet_search import MacroSearchSpace
    from nasnet_search.algorithms import PolicyTrainer, rl_settings
    from nasnet_search.controller import Controller

    controller = Controller(MacroSearchSpace(num_layers=2).decisions, units=8)
    trainer = PolicyTrainer(controller, rl_settings("default"))
    assert type(trainer.optimizer) is FusedAdam
    assert {v.dtype for v in controller.trainable_variables} == {"float64"}


def test_keras_file_round_trip_and_resume(tmp_path):
    _, _, model = _train(FusedAdam(3e-3), steps=10)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, FusedAdam)
    assert int(loaded.optimizer.iterations) == 10
    x, y = _data()
    # Resumed and uninterrupted training take the same next step.
    a = model.train_on_batch(x[:16], y[:16])
    b = loaded.train_on_batch(x[:16], y[:16])
    assert a == pytest.approx(b, rel=1e-6)
    for u, v in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(np.array(u), np.array(v), rtol=1e-6, atol=1e-7)


def test_fused_maps_names_and_instances_and_leaves_others(capsys):
    assert isinstance(fused("adam"), FusedAdam) and isinstance(fused("SGD"), FusedSGD)
    copy = fused(keras.optimizers.Adam(0.02, beta_2=0.99))
    assert isinstance(copy, FusedAdam) and copy.get_config()["beta_2"] == 0.99
    assert float(copy.learning_rate) == pytest.approx(0.02)
    assert isinstance(fused({"class_name": "SGD", "config": {"learning_rate": 0.1}}), FusedSGD)
    rms = keras.optimizers.RMSprop()
    assert fused(rms) is rms
    assert "RMSprop: no fused update; using Keras' own" in capsys.readouterr().out
    assert nk.FusedAdam is FusedAdam


def test_a_search_child_is_traced_once_and_uses_the_fused_optimizer(tmp_path):
    from nasnet_search import MacroSearchSpace, NASTuner, RandomOracle
    from nasnet_search.tuner import NASHyperModel

    children = []

    class Counting(NASHyperModel):
        def build(self, hp):
            model = super().build(hp)
            children.append({"traces": 0, "optimizer": type(model.optimizer).__name__})
            step = model.train_step

            def counted(batch):
                children[-1]["traces"] += 1  # Python runs only while TensorFlow traces
                return step(batch)

            model.train_step = counted
            return model

    space = MacroSearchSpace(num_layers=2)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 16, 16, 3)).astype("float32"), rng.integers(0, 10, 100)
    tuner = NASTuner(RandomOracle(space, objective="val_accuracy", max_trials=3, seed=0),
                     hypermodel=Counting(space, input_shape=(16, 16, 3)), verbose=0,
                     directory=str(tmp_path), project_name="p")
    # 70 images in batches of 32: the last batch is smaller, which must not trace again.
    tuner.search(x[:70], y[:70], validation_data=(x[70:], y[70:]), epochs=2, batch_size=32)
    trained = children[1:]  # the first build only finds the hypermodel's hyperparameters
    assert [c["traces"] for c in trained] == [1, 1, 1]
    assert {c["optimizer"] for c in trained} == {"FusedAdam"}


def test_prepare_training_builds_without_tracing_a_functional_model():
    model = _model()
    model.compile(optimizer=FusedAdam(3e-3), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    calls = [0]
    call = model.call

    def counted(*args, **kwargs):
        calls[0] += 1
        return call(*args, **kwargs)

    model.call = counted
    x, y = _data()
    assert nk.prepare_training(model, x, y)
    assert calls[0] == 0  # the predictions' shapes are known: nothing traced
    assert model.optimizer.built and model._compile_metrics.built and model._compile_loss.built
    logs = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    assert calls[0] == 1 and np.isfinite(logs["loss"][0]) and "accuracy" in logs


def test_prepare_training_builds_a_subclassed_model_the_keras_way():
    class Small(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(keras.ops.mean(x, axis=(1, 2)))

    model = Small()
    model.compile(optimizer=FusedAdam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x, y = _data()
    assert nk.prepare_training(model, x, y)
    assert model.built and model.optimizer.built and model._compile_metrics.built


# On CPU Grappler is skipped (it no longer paid for a child's fused step); with a GPU (the
# device check monkeypatched) it runs one iteration without the layout and memory passes.
@pytest.mark.parametrize("gpu", [False, True])
def test_short_run_graph_optimization_sets_and_restores_the_call_options(gpu, monkeypatch):
    from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2
    from tensorflow.python.eager import context

    from nasnet_search import graph_options
    from nasnet_search.graph_options import short_run_graph_optimization

    monkeypatch.setattr(graph_options, "gpu_visible", lambda: gpu)

    def rewrite():
        serialized = context.context().function_call_options.config_proto_serialized
        return config_pb2.ConfigProto.FromString(serialized).graph_options.rewrite_options

    config = rewriter_config_pb2.RewriterConfig
    before = rewrite()
    x, y = _data()
    with short_run_graph_optimization():
        inside = rewrite()
        assert inside.disable_meta_optimizer == (not gpu)
        assert inside.meta_optimizer_iterations == config.ONE
        assert inside.memory_optimization == config.NO_MEM_OPT
        assert inside.layout_optimizer == config.OFF
        assert inside.remapping == before.remapping  # with a GPU, the remapper stays
        _, _, model = _train(FusedAdam(3e-3), steps=3)
        short = model.evaluate(x, y, verbose=0)
    assert rewrite() == before
    # The same graph, optimized once or not at all: the same numbers.
    _, _, model = _train(FusedAdam(3e-3), steps=3)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(short, rel=1e-6)


def test_without_op_tracebacks_leaves_them_out_inside_and_restores_them():
    from nasnet_search.graph_options import without_op_tracebacks

    assert last_op_traceback()  # TensorFlow records the creating Python stack
    with pytest.raises(RuntimeError, match="inside"):
        with without_op_tracebacks():
            assert last_op_traceback() is None
            raise RuntimeError("inside")
    assert last_op_traceback()  # restored, also after an error
