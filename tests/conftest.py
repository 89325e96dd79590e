import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import nasnet_keras as nk  # noqa: E402

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def randomize(model, seed=0):
    """Give every variable (BN statistics too) a random value."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if "moving_variance" in w.path:
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype(w.dtype))
        elif w.dtype.startswith("float"):
            w.assign(rng.normal(0.0, 0.1, w.shape).astype(w.dtype))
    return model


def last_op_traceback():
    """The creating Python stack TensorFlow recorded for a freshly traced op (None if none)."""
    import tensorflow as tf

    graph = tf.function(lambda: tf.constant(1.0) * 2.0).get_concrete_function().graph
    return graph.get_operations()[-1].traceback


def tiny_model(**overrides):
    """A NASNet-A small enough for the per-test battery (F = 8, 32 px)."""
    kwargs = dict(genotype=nk.NASNET_A, num_cells=1, penultimate_filters=192, stem="cifar",
                  input_shape=(32, 32, 3), classes=5)
    kwargs.update(overrides)
    return nk.NASNet(**kwargs)


@pytest.fixture(autouse=True)
def _reset_policy():
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def keras_mobile_h5(tmp_path_factory):
    """keras.applications.NASNetMobile with random weights, saved as Keras-3 .h5."""
    model = randomize(keras.applications.NASNetMobile(weights=None), seed=1)
    path = str(tmp_path_factory.mktemp("app") / "nasnet_mobile_random.h5")
    model.save(path)
    return model, path


@pytest.fixture(scope="session")
def keras_mobile_notop_h5(tmp_path_factory):
    model = randomize(keras.applications.NASNetMobile(weights=None, include_top=False,
                                                      input_shape=(224, 224, 3)), seed=2)
    path = str(tmp_path_factory.mktemp("app") / "nasnet_mobile_random_no_top.h5")
    model.save(path)
    return model, path


def write_keras2_weights_h5(model, path):
    """A Keras-2-style weights-only file (root ``layer_names``, ``:0`` suffixes)."""
    import h5py

    with h5py.File(path, "w") as f:
        names = [layer.name for layer in model.layers]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        for layer in model.layers:
            g = f.create_group(layer.name)
            wnames = [f"{layer.name}/{w.name}:0" for w in layer.weights]
            g.attrs["weight_names"] = np.array([n.encode() for n in wnames])
            for wn, w in zip(wnames, layer.weights):
                g.create_dataset(wn, data=np.asarray(w))
    return path


# Test files by measured duration (`pytest --durations`, 2-core CPU), longest first.
# `make test` hands whole files to two xdist workers in collection order, so starting
# the long ones first keeps one worker from finishing alone with a long file.
LONGEST_FIRST = (
    "test_search_tuner.py", "test_parity.py", "test_notebooks.py", "test_weight_sharing.py",
    "test_search_oracles.py", "test_nasnet_bc.py",
    "test_model_battery.py", "test_scaling.py", "test_finetune.py", "test_search_distributed.py",
    "test_console_scripts.py", "test_keras_tuner_contract.py",
    "test_export.py", "test_search_resume.py", "test_demo_and_preprocessing.py",
    "test_analysis.py", "test_convert.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    # A stable sort: tests keep their order within a file; unlisted files keep theirs, last.
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
