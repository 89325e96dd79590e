"""quick_weight_files: Keras' attribute skip-sets made once per kind; the files unchanged."""

import collections

import h5py
import keras
import numpy as np
import pytest
from keras.src.saving import saving_lib

import nasnet_keras as nk
from nasnet_keras import weight_files
from nasnet_keras.weight_files import quick_weight_files
from conftest import randomize, tiny_model


@pytest.fixture
def counted(monkeypatch):
    """Keras' own function, counting its calls per kind; no set cached yet."""
    calls, original = collections.Counter(), saving_lib.get_attr_skipset

    def counting(kind):
        calls[kind] += 1
        return original(kind)

    monkeypatch.setattr(saving_lib, "get_attr_skipset", counting)
    monkeypatch.setattr(weight_files, "_SETS", {})
    return calls


def _model_with_slots():
    model = randomize(tiny_model())
    model.compile(optimizer=nk.FusedAdam(1e-3), loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    return model


def _arrays(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def test_each_kind_once_and_the_same_file(tmp_path, counted):
    model = _model_with_slots()
    model.save_weights(tmp_path / "keras.weights.h5")
    walked = sum(counted.values())
    # Keras' own walk builds a set per layer (the reason for all this).
    assert walked > 50, "Keras builds each kind's set once now: quick_weight_files can go"
    counted.clear()
    keras_function = saving_lib.get_attr_skipset
    with quick_weight_files():
        model.save_weights(tmp_path / "quick.weights.h5")
        model.save_weights(tmp_path / "again.weights.h5")
        model.load_weights(tmp_path / "quick.weights.h5")
    assert counted and max(counted.values()) == 1  # each kind once, for both saves and the load
    assert saving_lib.get_attr_skipset is keras_function  # restored
    counted.clear()
    model.save_weights(tmp_path / "after.weights.h5")
    assert sum(counted.values()) == walked  # Keras' own function again

    keras_arrays, quick_arrays = _arrays(tmp_path / "keras.weights.h5"), _arrays(
        tmp_path / "quick.weights.h5")
    assert sorted(keras_arrays) == sorted(quick_arrays)
    for name, value in keras_arrays.items():
        np.testing.assert_array_equal(quick_arrays[name], value)
    fresh = tiny_model()
    fresh.load_weights(tmp_path / "quick.weights.h5")
    for a, b in zip(fresh.weights, model.weights):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_a_keras_file_round_trips_and_an_error_restores(tmp_path, counted):
    model = _model_with_slots()
    original = saving_lib.get_attr_skipset
    with pytest.raises(RuntimeError, match="inside"):
        with quick_weight_files():
            model.save(tmp_path / "model.keras")
            raise RuntimeError("inside")
    assert saving_lib.get_attr_skipset is original
    with quick_weight_files():
        loaded = keras.saving.load_model(tmp_path / "model.keras")
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=0, atol=0)
