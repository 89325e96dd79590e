"""prepare_training's train and test functions: one graph each, Keras' numbers."""

import collections

import keras
import numpy as np
import pytest
import tensorflow as tf

import nasnet_keras as nk
from nasnet_keras.step_functions import install_step_functions


def _model(seed=0, **compile_kwargs):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", use_bias=False)(inputs)
    x = nk.FusedBatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    model.compile(optimizer=nk.FusedAdam(1e-2), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  **compile_kwargs)
    return model


def _data(n=70, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8, 8, 3)).astype("float32"), rng.integers(0, 3, n)


def _graph_ops(model, kind, data):
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(16)
    function = getattr(model, f"{kind}_function")
    graph = function.on_iterator.get_concrete_function(iter(dataset)).graph
    return collections.Counter(op.type for op in graph.get_operations())


def test_fit_and_evaluate_run_one_graph_each_with_keras_numbers():
    x, y = _data()
    histories, weights = [], []
    for ours in (False, True):
        model = _model()
        assert nk.prepare_training(model, x, y)
        if not ours:  # Keras' own nested functions
            model.train_function = model.test_function = None
        history = model.fit(x[:50], y[:50], validation_data=(x[50:], y[50:]), epochs=4,
                            batch_size=16, shuffle=False, verbose=0)
        histories.append(history.history)
        weights.append(model.get_weights())
        if ours:
            for kind in ("train", "test"):
                ops = _graph_ops(model, kind, (x[:16], y[:16]))
                # No call into a second traced function: the step is in this graph.
                assert ops["StatefulPartitionedCall"] == ops["PartitionedCall"] == 0
                # The test step's BatchNorm is the inference kernel, the train step's the
                # training one: one op each.
                assert ops["FusedBatchNormV3"] == 1
                assert ops["Rsqrt"] == 0
    assert histories[1].keys() == histories[0].keys()
    for key in histories[0]:
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=1e-6, atol=1e-7)
    for a, b in zip(weights[1], weights[0]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# Keras warns at the end of each pass over a dataset of unknown length, with its own
# functions as with these.
@pytest.mark.filterwarnings("ignore:Your input ran out of data")
def test_train_and_test_on_batch_and_an_unknown_length_dataset():
    x, y = _data()
    results = []
    for ours in (False, True):
        model = _model()
        assert nk.prepare_training(model, x, y)
        if not ours:
            model.train_function = model.test_function = None
        row = [model.train_on_batch(x[:16], y[:16]), model.test_on_batch(x[16:32], y[16:32])]
        # tf.data of unknown length: fit learns the epoch's end from the iterator.
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True).batch(16)
        assert dataset.cardinality() == tf.data.UNKNOWN_CARDINALITY
        history = model.fit(dataset, epochs=2, shuffle=False, verbose=0)
        row.append(history.history["loss"])
        row.append(model.evaluate(dataset, verbose=0))
        results.append(row)
    for a, b in zip(results[1], results[0]):
        np.testing.assert_allclose(np.array(a, dtype=float), np.array(b, dtype=float),
                                   rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("setting", [{"run_eagerly": True}, {"steps_per_execution": 2},
                                     {"jit_compile": True}])
def test_keras_own_functions_where_ours_would_differ(setting):
    x, y = _data()
    model = _model(**setting)
    assert nk.prepare_training(model, x, y)
    assert model.train_function is None and model.test_function is None
    assert not install_step_functions(model)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # Keras' own path still trains


def test_a_setting_changed_after_installing_hands_over_to_keras():
    x, y = _data()
    model = _model()
    assert nk.prepare_training(model, x, y)
    ours = model.train_function
    assert hasattr(ours, "on_iterator")
    model.run_eagerly = True
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.train_function is not ours and not hasattr(model.train_function, "on_iterator")
    # compile() drops them, as it drops Keras' own.
    model.compile(optimizer="adam", loss="mse")
    assert model.train_function is None


def _traced_on(model, kind):
    """Record the thread each trace of ``model``'s ``kind`` step runs on."""
    import threading

    threads, step = [], getattr(model, f"{kind}_step")

    def recorded(data):
        threads.append(threading.current_thread().name)  # Python runs only while tracing
        return step(data)

    setattr(model, f"{kind}_step", recorded)
    return threads


class _BackgroundTraceAwaited(keras.callbacks.Callback):
    """Validation waits for a background trace already started (tiny steps could otherwise
    reach validation before that thread runs, and the test would race)."""

    def on_test_begin(self, logs=None):
        import threading

        for thread in threading.enumerate():
            if thread.name == "nasnet_keras-trace":
                thread.join()


@pytest.mark.parametrize("will_evaluate", [False, True])
def test_the_test_step_is_traced_during_the_first_epoch_when_fit_will_validate(will_evaluate):
    x, y = _data(n=120)
    model = _model()
    assert nk.prepare_training(model, x, y, will_evaluate=will_evaluate)
    test_traces = _traced_on(model, "test")
    history = model.fit(x[:96], y[:96], validation_data=(x[96:], y[96:]), epochs=2,
                        batch_size=16, shuffle=False, verbose=0,
                        callbacks=[_BackgroundTraceAwaited()])
    model.evaluate(x[96:], y[96:], verbose=0)
    # Traced once either way; with will_evaluate, on the background thread while training ran.
    assert len(test_traces) == 1
    assert (test_traces[0] == "nasnet_keras-trace") == will_evaluate
    reference = _model()
    assert nk.prepare_training(reference, x, y)
    expected = reference.fit(x[:96], y[:96], validation_data=(x[96:], y[96:]), epochs=2,
                             batch_size=16, shuffle=False, verbose=0)
    for key in expected.history:
        np.testing.assert_allclose(history.history[key], expected.history[key], rtol=1e-6)


def test_validation_data_of_another_form_is_traced_for_when_it_comes():
    x, y = _data(n=120)
    model = _model()
    assert nk.prepare_training(model, x, y, will_evaluate=True)
    test_traces = _traced_on(model, "test")
    # Training labels int64, validation labels int32: the background trace is of no use.
    validation = (x[96:], y[96:].astype("int32"))
    history = model.fit(x[:96], y[:96], validation_data=validation, epochs=1, batch_size=16,
                        shuffle=False, verbose=0)
    assert "MainThread" in test_traces
    reference = _model()
    assert nk.prepare_training(reference, x, y)
    expected = reference.fit(x[:96], y[:96], validation_data=validation, epochs=1,
                             batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["val_loss"], expected.history["val_loss"],
                               rtol=1e-6)
