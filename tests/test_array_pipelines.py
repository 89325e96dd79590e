"""reused_array_pipelines: Keras' pipeline for the same arrays built once, with Keras' batches."""

import keras
import numpy as np
import pytest
from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

from nasnet_keras.array_pipelines import reused_array_pipelines


@pytest.fixture
def built(monkeypatch):
    """Counts the pipelines Keras' own method builds."""
    calls = []
    original = ArrayDataAdapter.get_tf_dataset

    def counted(adapter):
        calls.append(adapter._shuffle)
        return original(adapter)

    monkeypatch.setattr(ArrayDataAdapter, "get_tf_dataset", counted)
    return calls


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 3, n)


def _child():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _two_children(x, y, validation):
    """Two children trained one after the other, as a search trains them (seeded)."""
    keras.utils.set_random_seed(3)
    weights = []
    for _ in range(2):
        model = _child()
        model.fit(x, y, batch_size=10, epochs=3, validation_data=validation, verbose=0)
        weights.append([np.array(w) for w in model.weights])
    return weights


def test_fits_on_the_same_arrays_share_one_pipeline_and_train_as_keras(built):
    x, y = _data()
    validation = _data(20, seed=1)
    keras_weights = _two_children(x, y, validation)
    assert built == [True, False, True, False]  # Keras: training and validation, per fit
    del built[:]
    with reused_array_pipelines():
        reused_weights = _two_children(x, y, validation)
    assert built == [True, False]  # once each
    for ours, theirs in zip(reused_weights, keras_weights):
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)  # the same batches in the same order


def test_other_arrays_batch_sizes_or_shuffling_get_their_own_pipeline(built):
    x, y = _data()
    with reused_array_pipelines():
        model = _child()
        model.fit(x, y, batch_size=10, epochs=1, verbose=0)
        model.fit(x, y, batch_size=12, epochs=1, verbose=0)
        model.fit(x, y, batch_size=10, epochs=1, verbose=0)  # the first again
        assert len(built) == 2
        model.fit(x, y, batch_size=12, epochs=1, shuffle=False, verbose=0)
        model.fit(x.copy(), y, batch_size=10, epochs=1, verbose=0)
    assert len(built) == 4


def test_only_the_last_two_are_kept(built):
    from nasnet_keras import array_pipelines

    model = _child()
    arrays = [_data(seed=s) for s in range(array_pipelines._MAX_PIPELINES + 1)]
    with reused_array_pipelines():
        for x, y in arrays + arrays[-1:] + arrays[:1]:
            model.evaluate(x, y, batch_size=16, verbose=0)
    # The last one again is reused; the first, dropped meanwhile, is built again.
    assert len(built) == len(arrays) + 1


def test_new_arrays_for_every_fit_keep_no_more_pipelines_than_keras(built, monkeypatch):
    # validation_split gives Keras new arrays for every fit: each replaces an old pipeline,
    # which is dropped before the new one is built.
    import gc
    import weakref

    from nasnet_keras import array_pipelines

    alive = []
    counted = ArrayDataAdapter.get_tf_dataset

    def watched(adapter):
        dataset = counted(adapter)
        alive.append(weakref.ref(dataset))
        gc.collect()
        assert sum(ref() is not None for ref in alive) <= array_pipelines._MAX_PIPELINES
        return dataset

    monkeypatch.setattr(ArrayDataAdapter, "get_tf_dataset", watched)
    x, y = _data()
    model = _child()
    with reused_array_pipelines():
        for _ in range(3):
            model.fit(x, y, batch_size=10, epochs=1, validation_split=0.25, verbose=0)
    assert len(built) == 6


def test_keras_method_is_back_after_the_scope_and_after_an_error():
    original = ArrayDataAdapter.get_tf_dataset
    with reused_array_pipelines():
        assert ArrayDataAdapter.get_tf_dataset is not original
    assert ArrayDataAdapter.get_tf_dataset is original
    with pytest.raises(RuntimeError, match="inside"):
        with reused_array_pipelines():
            raise RuntimeError("inside")
    assert ArrayDataAdapter.get_tf_dataset is original


def test_a_search_builds_each_pipeline_once(built, tmp_path):
    from nasnet_search import MacroSearchSpace, NASTuner, RandomOracle

    space = MacroSearchSpace(num_layers=1)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 8, 8, 3)).astype("float32"), rng.integers(0, 10, 40)
    tuner = NASTuner(RandomOracle(space, objective="val_accuracy", max_trials=3, seed=0),
                     input_shape=(8, 8, 3), verbose=0, directory=str(tmp_path), project_name="p")
    tuner.search(x[:30], y[:30], validation_data=(x[30:], y[30:]), epochs=1, batch_size=16)
    assert len(tuner.oracle.trials) == 3
    assert built == [True, False]  # three children, one training and one validation pipeline
