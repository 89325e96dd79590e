"""Iterators dropped on a background thread (their destruction can wait for tf.data)."""

import threading
import time

import keras
import numpy as np

import nasnet_keras as nk
from nasnet_keras import background_release
from nasnet_keras.background_release import release_in_background


def _until(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


class _Recorded:
    dropped_on = []

    def __del__(self):
        _Recorded.dropped_on.append(threading.current_thread().name)


def test_an_object_is_dropped_on_the_background_thread_once_nobody_else_holds_it():
    _Recorded.dropped_on.clear()
    obj, other = _Recorded(), _Recorded()
    release_in_background(obj)
    release_in_background(obj)  # adopting twice holds it once
    time.sleep(0.1)
    assert _Recorded.dropped_on == []  # still referenced here
    alias = obj
    del obj
    time.sleep(0.1)
    assert _Recorded.dropped_on == []  # ... through another name
    del alias
    assert _until(lambda: _Recorded.dropped_on == ["nasnet_keras-release"])
    del other  # never adopted: dropped here, at once
    assert _Recorded.dropped_on == ["nasnet_keras-release", threading.current_thread().name]


class _HeldProbe(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.training, self.validating = set(), set()

    def on_train_batch_end(self, batch, logs=None):
        self.training |= background_release._RELEASER.held_ids()

    def on_test_batch_end(self, batch, logs=None):
        self.validating |= background_release._RELEASER.held_ids()


def test_fit_hands_its_iterators_to_the_background_thread_and_they_are_released():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8, 8, 3)).astype("float32"), rng.integers(0, 3, 64)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    model.compile(nk.FusedAdam(1e-2), "sparse_categorical_crossentropy")
    assert nk.prepare_training(model, x, y)
    before = background_release._RELEASER.held_ids()  # other tests' leftovers, if any
    probe = _HeldProbe()
    model.fit(x, y, validation_data=(x[:32], y[:32]), epochs=2, batch_size=16, verbose=0,
              callbacks=[probe])
    # Each epoch's training iterator and the first validation one (alive together at some
    # point, so three distinct objects), and perhaps more.
    seen = (probe.training | probe.validating) - before
    assert len(probe.training - before) >= 2 and len(seen) >= 3
    assert _until(lambda: not seen & background_release._RELEASER.held_ids())
