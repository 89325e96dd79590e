"""FusedBatchNormalization computes what keras.layers.BatchNormalization computes, in fewer ops."""

import collections

import keras
import numpy as np
import pytest
import tensorflow as tf

import nasnet_keras as nk
from nasnet_keras import FusedBatchNormalization


def _model(norm, seed=0, **norm_kwargs):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", use_bias=False)(inputs)
    x = norm(momentum=0.8, **norm_kwargs)(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv2D(5, 3, strides=2, padding="same", use_bias=False)(x)
    x = norm(momentum=0.8, **norm_kwargs)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def _data(n=64, seed=1):
    rng = np.random.default_rng(seed)
    # Mean and scale far from 0 and 1, so that the statistics matter.
    return (2 + 3 * rng.normal(size=(n, 8, 8, 3))).astype("float32"), rng.integers(0, 3, n)


def _train(norm, steps=20, **norm_kwargs):
    model = _model(norm, **norm_kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _data()
    losses = [model.train_on_batch(x[i % 4 * 16:(i % 4 + 1) * 16], y[i % 4 * 16:(i % 4 + 1) * 16])
              for i in range(steps)]
    return np.array(losses), model


# 1e-3: NASNet's ImageNet models; 1e-5: its CIFAR models and the search children.  Where
# a GPU is visible the moving variance comes from the kernel's Bessel-corrected output (on
# CPU from its biased one); that route runs here with the device check monkeypatched.
@pytest.mark.parametrize("epsilon,gpu", [(1e-3, False), (1e-5, False), (1e-3, True)])
def test_20_steps_match_keras_within_float32_round_off(epsilon, gpu, monkeypatch):
    if gpu:
        monkeypatch.setattr(nk.devices, "gpu_visible", lambda: True)
    their_losses, theirs = _train(keras.layers.BatchNormalization, epsilon=epsilon)
    our_losses, ours = _train(FusedBatchNormalization, epsilon=epsilon)
    assert ours.layers[2]._fusable(tf.zeros((1, 8, 8, 6)), True, None)
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-5, atol=1e-6)
    # Every weight, the moving means and (biased) variances included, in Keras' order.
    assert [w.path.split("/")[-1] for w in ours.weights] == [
        w.path.split("/")[-1] for w in theirs.weights]
    for a, b in zip(ours.weights, theirs.weights):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-6)
    moving_variance = np.array(ours.layers[2].moving_variance)
    assert not np.allclose(moving_variance, 1.0)  # the statistics moved
    x, _ = _data(8, seed=2)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)


def test_outputs_gradients_and_statistics_match_keras_in_one_call():
    x = tf.constant(_data(8)[0])
    results = []
    for norm in (keras.layers.BatchNormalization, FusedBatchNormalization):
        layer = norm(momentum=0.5, epsilon=1e-3)
        layer.build(x.shape)
        layer.gamma.assign(np.linspace(0.5, 2.0, 3))
        layer.beta.assign(np.linspace(-1.0, 1.0, 3))
        weights = tf.constant(np.random.default_rng(3).normal(size=x.shape).astype("float32"))
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * weights)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append([loss, *grads, layer.moving_mean, layer.moving_variance])
    for ours, theirs in zip(results[1], results[0]):
        np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-5, atol=1e-5)
    # Biased variance (Keras), not the kernel's Bessel-corrected one: 8 * 8 * 8 values.
    batch_variance = np.var(np.array(x), axis=(0, 1, 2))
    np.testing.assert_allclose(np.array(results[1][-1]), 0.5 + 0.5 * batch_variance, rtol=1e-5)


def test_the_train_step_is_smaller():
    def count(norm):
        model = _model(norm)
        model.compile(optimizer="sgd", loss="mse")
        step = tf.function(model.train_step)
        spec = (tf.TensorSpec((None, 8, 8, 3)), tf.TensorSpec((None, 3)))
        graph = step.get_concrete_function(spec).graph
        return collections.Counter(op.type for op in graph.get_operations())

    theirs, ours = count(keras.layers.BatchNormalization), count(FusedBatchNormalization)
    assert ours["FusedBatchNormV3"] == ours["FusedBatchNormGradV3"] == 2
    assert theirs["FusedBatchNormV3"] == 0
    assert sum(ours.values()) < 0.8 * sum(theirs.values())


@pytest.mark.parametrize("case", ["mask", "rank2", "renorm", "no_center", "float64",
                                  "epsilon_with_gpu"])
def test_what_the_kernel_cannot_take_is_keras_own_computation(case, monkeypatch):
    rng = np.random.default_rng(4)
    kwargs, call = {}, {}
    x = rng.normal(size=(4, 5, 5, 3)).astype("float32")
    if case == "mask":
        x, call = x[:, :, 0, :], {"mask": tf.constant(rng.random((4, 5)) > 0.3)}
    elif case == "rank2":
        x = x[:, 0, 0, :]
    elif case == "renorm":
        kwargs = {"renorm": True}
    elif case == "no_center":
        kwargs = {"center": False}
    elif case == "float64":
        x, kwargs = x.astype("float64"), {"dtype": "float64"}
    elif case == "epsilon_with_gpu":  # cuDNN's minimum; the CPU kernel takes any epsilon
        monkeypatch.setattr(nk.devices, "gpu_visible", lambda: True)
        kwargs = {"epsilon": 1e-5}
    outputs = []
    for norm in (keras.layers.BatchNormalization, FusedBatchNormalization):
        layer = norm(**kwargs)
        outputs.append(np.array(layer(tf.constant(x), training=True, **call)))
    assert not layer._fusable(tf.constant(x), True, call.get("mask"))
    np.testing.assert_array_equal(outputs[1], outputs[0])


def test_config_and_keras_file_round_trip_and_interchangeable_weights(tmp_path):
    _, model = _train(FusedBatchNormalization, steps=3)
    layer = model.layers[2]
    assert isinstance(layer, FusedBatchNormalization)
    clone = FusedBatchNormalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[2], FusedBatchNormalization)
    x, _ = _data(8, seed=5)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # Weights load into the same network built with Keras' own layer, and predict the same.
    plain = _model(keras.layers.BatchNormalization)
    plain.set_weights(model.get_weights())
    np.testing.assert_array_equal(plain.predict(x, verbose=0), model.predict(x, verbose=0))


def test_mixed_precision_matches_keras():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        x = tf.constant(_data(4)[0])
        outputs = []
        for norm in (keras.layers.BatchNormalization, FusedBatchNormalization):
            layer = norm()
            y = layer(tf.cast(x, "float16"), training=True)
            assert y.dtype == tf.float16
            outputs.append(np.array(y, dtype="float32"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    np.testing.assert_allclose(outputs[1], outputs[0], atol=2e-3)


def test_models_and_search_children_use_it():
    model = nk.NASNet(num_cells=1, penultimate_filters=48, stem="cifar", input_shape=(32, 32, 3),
                      classes=10)
    norms = [layer for layer in model._flatten_layers(include_self=False)
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(isinstance(layer, FusedBatchNormalization) for layer in norms)


def test_a_search_child_trains_through_the_fused_kernel():
    from nasnet_search import NASNetSearchSpace

    space = NASNetSearchSpace()
    arch = space.decode_actions(space.random_actions(np.random.default_rng(0)))
    model = space.build_model(arch, input_shape=(32, 32, 3), classes=10, num_cells=1, filters=4)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    step = tf.function(model.train_step)
    spec = (tf.TensorSpec((None, 32, 32, 3)), tf.TensorSpec((None,), tf.int32))
    graph_ops = step.get_concrete_function(spec).graph.get_operations()
    ops = collections.Counter(op.type for op in graph_ops)
    # The kernel is recorded for gradients as y's op: no zero gradients made for its other
    # five outputs (320 unused ops in a proxy child when recorded whole).
    unused_zeros = [op for op in graph_ops if op.type in ("Const", "ZerosLike")
                    and "zeros" in op.name and not any(t.consumers() for t in op.outputs)]
    assert unused_zeros == []
    norms = [layer for layer in model._flatten_layers(include_self=False)
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) > 10 and {layer.epsilon for layer in norms} == {1e-5}
    assert ops["FusedBatchNormV3"] == ops["FusedBatchNormGradV3"] == len(norms)
    # The moving variance moves by one fused update per layer (Keras' SGD uses none).
    assert ops["ResourceApplyGradientDescent"] == len(norms)


def test_stateless_calls_and_strategies_move_the_variance_through_keras():
    # keras.StatelessScope: the new statistics are returned, the variables left alone.
    x = tf.constant(_data(8)[0])
    results = []
    for norm in (keras.layers.BatchNormalization, FusedBatchNormalization):
        layer = norm(momentum=0.5)
        layer.build(x.shape)
        _, non_trainable = layer.stateless_call(
            [v.value for v in layer.trainable_variables],
            [v.value for v in layer.non_trainable_variables], x, training=True)
        np.testing.assert_array_equal(np.array(layer.moving_variance), 1.0)
        results.append(non_trainable)
    for ours, theirs in zip(*reversed(results)):
        np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-5)
    # Under a distribution strategy Keras assigns the statistics (its aggregation rules).
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        layer = FusedBatchNormalization(momentum=0.5)
        layer.build(x.shape)

    @tf.function
    def step():
        strategy.run(lambda: layer(x, training=True))

    graph = step.get_concrete_function().graph
    assert "ResourceApplyGradientDescent" not in {op.type for op in graph.get_operations()}
    step()
    batch_variance = np.var(np.array(x), axis=(0, 1, 2))
    np.testing.assert_allclose(np.array(layer.moving_variance), 0.5 + 0.5 * batch_variance,
                               rtol=1e-5)


def test_evaluate_runs_the_inference_kernel_and_predict_keras_computation():
    _, ours = _train(FusedBatchNormalization, steps=5)
    plain = _model(keras.layers.BatchNormalization)
    plain.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    plain.set_weights(ours.get_weights())
    x, y = _data(32, seed=6)
    assert nk.prepare_training(ours, x, y)  # installs the test function with the kernel
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    graph = ours.test_function.on_iterator.get_concrete_function(iter(dataset)).graph
    kinds = collections.Counter(op.type for op in graph.get_operations())
    assert kinds["FusedBatchNormV3"] == 2 and kinds["Rsqrt"] == 0
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), plain.evaluate(x, y, verbose=0),
                               rtol=1e-5)
    # predict (and a plain call) keep Keras' computation: bit for bit the plain model's.
    np.testing.assert_array_equal(ours.predict(x, verbose=0), plain.predict(x, verbose=0))
    np.testing.assert_array_equal(ours(x, training=False), plain(x, training=False))
