"""keras.applications parity: random weights (BN statistics too) give equal outputs."""

import keras
import numpy as np
import pytest

import nasnet_keras as nk

from conftest import randomize, write_keras2_weights_h5


def _images(size, n=2, seed=0):
    h, w = (size, size) if isinstance(size, int) else size
    return np.random.default_rng(seed).uniform(-1, 1, (n, h, w, 3)).astype("float32")


def _max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def test_mobile_parameter_and_layer_counts():
    model = nk.NASNetA("mobile", input_shape=(224, 224, 3))
    assert model.count_params() == 5_326_716
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 5_289_978
    assert len(model.weights) == 1126
    no_top = nk.NASNetA("mobile", include_top=False)
    assert no_top.count_params() == 4_269_716


def test_mobile_parity_with_top(keras_mobile_h5):
    app, path = keras_mobile_h5
    ours = nk.NASNetA("mobile", input_shape=(224, 224, 3), weights=path)
    x = _images(224)
    expected = app.predict(x, verbose=0)
    assert _max_diff(ours.predict(x, verbose=0), expected) <= 1e-5
    # Pre-pool features too: softmax outputs could hide differences.
    app_features = keras.Model(app.input, app.layers[-3].output).predict(x, verbose=0)
    ours_features = nk.endpoint_model(ours, ["final"]).predict(x, verbose=0)["final"]
    assert np.abs(app_features).mean() > 1e-3
    assert _max_diff(ours_features, app_features) <= 1e-5


def test_mobile_parity_from_a_keras2_weights_only_file(keras_mobile_h5, tmp_path):
    app, _ = keras_mobile_h5
    path = write_keras2_weights_h5(app, str(tmp_path / "keras2.h5"))
    ours = nk.NASNetMobile(weights=path)
    x = _images(224, seed=3)
    assert _max_diff(ours.predict(x, verbose=0), app.predict(x, verbose=0)) <= 1e-5


def test_mobile_parity_without_top(keras_mobile_notop_h5):
    app, path = keras_mobile_notop_h5
    ours = nk.NASNetA("mobile", include_top=False, weights=path, input_shape=(224, 224, 3))
    x = _images(224, seed=4)
    assert _max_diff(ours.predict(x, verbose=0), app.predict(x, verbose=0)) <= 1e-5


def test_unknown_spatial_size_runs_at_224_and_257(keras_mobile_notop_h5):
    app, path = keras_mobile_notop_h5
    ours = nk.NASNetA("mobile", include_top=False, weights=path, input_shape=(None, None, 3))
    assert ours.input_shape == (None, None, None, 3)
    # keras.applications at a static 257 px is the oracle for the odd size.
    app257 = keras.applications.NASNetMobile(include_top=False, weights=None,
                                             input_shape=(257, 257, 3))
    app257.set_weights(app.get_weights())
    for size, oracle in ((224, app), (257, app257)):
        x = _images(size, n=1, seed=size)
        out = ours.predict(x, verbose=0)
        expected = oracle.predict(x, verbose=0)
        assert out.shape == expected.shape == (1, 7 if size == 224 else 8, 7 if size == 224 else 8, 1056)
        assert _max_diff(out, expected) <= 1e-5


@pytest.mark.parametrize("shape", [(150, 200), (32, 32)])
def test_no_top_weights_load_at_other_sizes(keras_mobile_notop_h5, shape):
    app, path = keras_mobile_notop_h5
    ours = nk.NASNetMobile(include_top=False, weights=path, input_shape=shape + (3,),
                           pooling="avg")
    # keras.applications at the same static size is the oracle.
    oracle = keras.applications.NASNetMobile(include_top=False, weights=None, pooling="avg",
                                             input_shape=shape + (3,))
    oracle.set_weights(app.get_weights())
    x = _images(shape, n=1)
    out = ours.predict(x, verbose=0)
    assert out.shape == (1, 1056)
    assert _max_diff(out, oracle.predict(x, verbose=0)) <= 1e-5


def test_top_weights_load_into_a_no_top_model(keras_mobile_h5):
    app, path = keras_mobile_h5
    ours = nk.NASNetMobile(include_top=False, weights=path, input_shape=(224, 224, 3))
    x = _images(224, n=1, seed=5)
    features = keras.Model(app.input, app.layers[-3].output).predict(x, verbose=0)
    assert _max_diff(ours.predict(x, verbose=0), features) <= 1e-5


@pytest.mark.slow
def test_large_parity_and_counts(tmp_path):
    app = randomize(keras.applications.NASNetLarge(weights=None), seed=7)
    assert app.count_params() == 88_949_818
    path = str(tmp_path / "large.h5")
    app.save(path)
    ours = nk.NASNetLarge(weights=path)
    assert ours.count_params() == 88_949_818
    x = _images(331, n=1, seed=8)
    assert _max_diff(ours.predict(x, verbose=0), app.predict(x, verbose=0)) <= 1e-5
    features = keras.Model(app.input, app.layers[-3].output).predict(x, verbose=0)
    no_top = nk.NASNetLarge(include_top=False, weights=path, input_shape=(331, 331, 3))
    assert no_top.count_params() == 84_916_818
    assert _max_diff(no_top.predict(x, verbose=0), features) <= 1e-5
