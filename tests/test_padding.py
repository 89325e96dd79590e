"""The pad_mode switch on a single strided pool (implementations.md §6)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nasnet_keras.layers import same_pad_amounts
from nasnet_keras.operations import Pooling


@pytest.mark.parametrize("size", [8, 9])
@pytest.mark.parametrize("pool_type", ["max", "avg"])
def test_keras_and_tf_pad_modes(size, pool_type):
    x = -np.random.default_rng(size).uniform(0.5, 2.0, (2, size, size, 4)).astype("float32")
    keras_pool = Pooling(4, pool_type=pool_type, pool_size=3, strides=2, pad_mode="keras")
    tf_pool = Pooling(4, pool_type=pool_type, pool_size=3, strides=2, pad_mode="tf")
    # "keras": keras.applications' ZeroPadding2D(correct_pad) + valid pooling.
    pad = ((0, 1), (0, 1)) if size % 2 == 0 else ((1, 1), (1, 1))
    padded = keras.layers.ZeroPadding2D(pad)(x)
    ref_layer = keras.layers.MaxPooling2D if pool_type == "max" else keras.layers.AveragePooling2D
    expected_keras = ref_layer(3, 2, padding="valid")(padded)
    # "tf": TF SAME pooling (padding ignored / not counted).
    tf_fn = tf.nn.max_pool2d if pool_type == "max" else tf.nn.avg_pool2d
    expected_tf = tf_fn(x, 3, 2, "SAME")
    got_keras, got_tf = np.asarray(keras_pool(x)), np.asarray(tf_pool(x))
    np.testing.assert_allclose(got_keras, expected_keras, atol=1e-6)
    np.testing.assert_allclose(got_tf, expected_tf, atol=1e-6)
    # Interiors agree; the border touching padding differs on negative inputs.
    inner = slice(0, -1) if size % 2 == 0 else slice(1, -1)
    np.testing.assert_allclose(got_keras[:, inner, inner], got_tf[:, inner, inner], atol=1e-6)
    assert np.abs(got_keras[:, -1] - got_tf[:, -1]).max() > 0.1


def test_keras_mode_with_unknown_size_matches_static():
    inp = keras.Input((None, None, 4))
    model = keras.Model(inp, Pooling(4, pool_type="avg", strides=2, pad_mode="keras")(inp))
    for size in (7, 10):
        x = np.random.default_rng(size).normal(size=(1, size, size, 4)).astype("float32")
        static = Pooling(4, pool_type="avg", strides=2, pad_mode="keras")(x)
        np.testing.assert_allclose(model.predict(x, verbose=0), static, atol=1e-6)


def test_same_pad_amounts_match_tf_same():
    for n in range(1, 12):
        for k in (3, 5, 7):
            total = max((-(-n // 2) - 1) * 2 + k - n, 0)
            assert same_pad_amounts(n, k, 2) == (total // 2, total - total // 2)
