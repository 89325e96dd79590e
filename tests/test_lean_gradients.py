"""add_same_shape and concatenate_channels: TensorFlow's outputs and gradients, fewer ops."""

import collections

import keras
import numpy as np
import tensorflow as tf

from nasnet_keras.lean_gradients import add_same_shape, concatenate_channels


def _traced(fn, *specs):
    """Output, gradients (against TensorFlow's own ops) and op counts of ``fn``'s trace."""

    @tf.function(autograph=False)
    def step(*xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            y = fn(*xs)
            loss = tf.reduce_sum(tf.square(y))  # no broadcasting of its own
        return y, tape.gradient(loss, xs)

    graph = step.get_concrete_function(*specs).graph
    return step, collections.Counter(op.type for op in graph.get_operations())


def _inputs(channels, seed=0):
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.normal(size=(3, 4, 4, c)).astype("float32")) for c in channels]


def test_the_sum_and_its_gradient_are_tensorflows_with_no_reduction():
    a, b = _inputs([5, 5])
    spec = tf.TensorSpec((None, 4, 4, 5))
    ours, our_ops = _traced(add_same_shape, spec, spec)
    theirs, their_ops = _traced(tf.add, spec, spec)
    for mine, reference in zip(tf.nest.flatten(ours(a, b)), tf.nest.flatten(theirs(a, b))):
        np.testing.assert_array_equal(mine, reference)
    assert their_ops["BroadcastGradientArgs"] == 1  # the unknown batch size
    assert our_ops["BroadcastGradientArgs"] == our_ops["Sum"] - 1 == 0
    assert sum(our_ops.values()) < sum(their_ops.values()) - 5


def test_the_concatenation_and_its_gradient_are_tensorflows_with_one_split():
    xs = _inputs([2, 3, 4])
    specs = [tf.TensorSpec((None, 4, 4, c)) for c in (2, 3, 4)]
    ours, our_ops = _traced(lambda *t: concatenate_channels(t), *specs)
    theirs, their_ops = _traced(lambda *t: tf.concat(t, axis=-1), *specs)
    for mine, reference in zip(tf.nest.flatten(ours(*xs)), tf.nest.flatten(theirs(*xs))):
        np.testing.assert_array_equal(mine, reference)
    assert our_ops["SplitV"] == 1 and our_ops["Slice"] == our_ops["ConcatOffset"] == 0
    assert their_ops["Slice"] == 3
    assert sum(our_ops.values()) < sum(their_ops.values())


def test_what_the_lean_forms_cannot_take_is_keras_ops():
    # Broadcasting, mixed dtypes and unknown channel counts: keras.ops' results.
    a, b = _inputs([5, 1])
    np.testing.assert_array_equal(add_same_shape(a, b), keras.ops.add(a, b))
    half = tf.cast(b, "float16")
    np.testing.assert_array_equal(add_same_shape(a[..., :1], half),
                                  keras.ops.add(a[..., :1], half))
    np.testing.assert_array_equal(concatenate_channels([a, half]),
                                  keras.ops.concatenate([a, half], axis=-1))

    @tf.function(input_signature=[tf.TensorSpec((None, 4, 4, None))] * 2, autograph=False)
    def unknown_channels(x, y):
        with tf.GradientTape() as tape:
            tape.watch([x, y])
            z = concatenate_channels([x, y])
            loss = tf.reduce_sum(tf.square(z))
        return z, tape.gradient(loss, [x, y])  # a split at unknown sizes would not trace

    graph = unknown_channels.get_concrete_function().graph
    assert any(op.type == "ConcatV2" for op in graph.get_operations())
    z, grads = unknown_channels(a, b)
    np.testing.assert_array_equal(z, tf.concat([a, b], axis=-1))
    for grad, x in zip(grads, (a, b)):
        np.testing.assert_array_equal(grad, 2 * x)
