"""reused_operation_graphs: a cell operation traced once per form and copied, same numbers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nasnet_keras import operation_graphs
from nasnet_keras.layers import NormSettings
from nasnet_keras.operation_graphs import call_operation, reused_operation_graphs
from nasnet_keras.operations import StackedSeparableConv, build_operation
from nasnet_search import NASNetSearchSpace

SPACE = NASNetSearchSpace(num_blocks=3)


def _child(seed):
    keras.utils.set_random_seed(seed)
    genotype = SPACE.decode_actions(SPACE.random_actions(np.random.default_rng(seed)))
    model = SPACE.build_model(genotype, input_shape=(32, 32, 3), num_cells=1, filters=8)
    return model


def _step(model, x, y, training):
    """Outputs, moving statistics after the call (put back after), and gradients."""
    before = [np.array(v) for v in model.non_trainable_variables]

    @tf.function(autograph=False)
    def step():
        with tf.GradientTape() as tape:
            out = model(x, training=training)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, out))
        return out, tape.gradient(loss, model.trainable_variables)

    out, gradients = step()
    statistics = [np.array(v) for v in model.non_trainable_variables]
    for variable, value in zip(model.non_trainable_variables, before):
        variable.assign(value)
    return np.array(out), statistics, gradients


@pytest.mark.parametrize("training", [True, False])
def test_copies_compute_what_tracing_op_by_op_does(training):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(6, 32, 32, 3)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, 6))
    model = _child(1)
    inline = _step(model, x, y, training)
    with reused_operation_graphs() as graphs:
        copied = _step(model, x, y, training)
    assert graphs.traced > 0 and graphs.copies >= graphs.traced
    np.testing.assert_array_equal(copied[0], inline[0])  # the same ops, bit for bit
    for ours, theirs in zip(copied[1], inline[1]):
        np.testing.assert_array_equal(ours, theirs)
    assert all(g is not None for g in copied[2])
    for ours, theirs in zip(copied[2], inline[2]):
        # Contributions to one gradient from several consumers may be summed in another
        # order: float32 round-off of the gradient's scale.
        scale = float(np.max(np.abs(theirs))) or 1.0
        np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=0,
                                   atol=1e-5 * scale)


def test_each_form_is_traced_once_across_children():
    x = tf.constant(np.random.default_rng(1).normal(size=(4, 32, 32, 3)).astype("float32"))
    y = tf.constant([1, 2, 3, 4])
    with reused_operation_graphs() as graphs:
        _step(_child(2), x, y, True)
        traced, copies = graphs.traced, graphs.copies
        _step(_child(2), x, y, True)  # another child of the same architecture
    assert graphs.traced == traced  # nothing new to trace
    assert graphs.copies == 2 * copies


def _operation():
    layer = build_operation("sep_conv_3x3", 8, 1, 8, "keras", NormSettings(0.9, 1e-3, 0.0),
                            "op")
    layer.build((None, 8, 8, 8))
    return layer


def test_calls_outside_a_traced_function_or_the_scope_are_plain_calls():
    layer, x = _operation(), tf.ones((2, 8, 8, 8))
    with reused_operation_graphs() as graphs:
        eager = call_operation(layer, x, training=True)  # eager: nothing to copy into
    assert graphs.traced == 0 and graphs.copies == 0
    traced = tf.function(lambda: call_operation(layer, x, training=False), autograph=False)
    np.testing.assert_array_equal(np.array(traced()), np.array(layer(x, training=False)))
    assert eager.shape == (2, 8, 8, 8)


def test_a_form_that_reads_more_than_its_inputs_and_variables_is_traced_inline(monkeypatch):
    outside = tf.Variable(2.0)
    original = StackedSeparableConv.call

    def call(self, x, training=None, activated=None):
        return original(self, x, training=training, activated=activated) * outside

    monkeypatch.setattr(StackedSeparableConv, "call", call)
    layer, x = _operation(), tf.ones((2, 8, 8, 8))
    expected = np.array(layer(x, training=False))
    with reused_operation_graphs() as graphs:
        got = tf.function(lambda: call_operation(layer, x + 0, training=False),
                          autograph=False)()
        outside.assign(3.0)  # a copy would still read the first layer's variable
        again = tf.function(lambda: call_operation(layer, x + 0, training=False),
                            autograph=False)()
    assert graphs.traced == 0 and graphs.copies == 0 and len(graphs.graphs) == 1
    np.testing.assert_allclose(np.array(got), expected)
    np.testing.assert_allclose(np.array(again), expected * 1.5, rtol=1e-6)


def test_the_scope_ends_on_exit_and_after_an_error_and_nests():
    with reused_operation_graphs() as outer:
        with reused_operation_graphs() as inner:
            assert inner is outer
        assert operation_graphs._ACTIVE[0] is outer
    assert operation_graphs._ACTIVE[0] is None
    with pytest.raises(RuntimeError, match="inside"):
        with reused_operation_graphs():
            raise RuntimeError("inside")
    assert operation_graphs._ACTIVE[0] is None
    with reused_operation_graphs(outer) as again:  # an earlier record, gone on with
        assert again is outer
    with pytest.raises(TypeError, match="`graphs` must be an OperationGraphs record"):
        with reused_operation_graphs({}):
            pass


def test_a_search_copies_its_childrens_operations(monkeypatch, tmp_path):
    from nasnet_search import NASTuner, RandomOracle

    copies = []
    original = operation_graphs._OperationGraph.copy

    def counted(self, *args):
        copies.append(self)
        return original(self, *args)

    monkeypatch.setattr(operation_graphs._OperationGraph, "copy", counted)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(24, 32, 32, 3)).astype("float32"), rng.integers(0, 10, 24)
    tuner = NASTuner(RandomOracle(SPACE, objective="val_accuracy", max_trials=2, seed=0),
                     input_shape=(32, 32, 3), child_kwargs={"filters": 8}, verbose=0,
                     directory=str(tmp_path), project_name="p")
    tuner.search(x[:16], y[:16], validation_data=(x[16:], y[16:]), epochs=1, batch_size=8)
    assert len(tuner.oracle.trials) == 2 and copies
    assert operation_graphs._ACTIVE[0] is None
