"""The download path: file:// origins, hash checks, and the offline cache."""

import dataclasses
import hashlib

import numpy as np
import pytest

import nasnet_keras as nk
from nasnet_keras.weights import registry
from nasnet_keras.weights.download import fetch_weights


def _md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


def _entry(origin_path, file_hash, fname="demo_weights.h5", algorithm="md5"):
    return registry.WeightsEntry(name="demo.test", variant="mobile", include_top=False,
                                 origin=f"file://{origin_path}", fname=fname,
                                 file_hash=file_hash, hash_algorithm=algorithm)


def test_fetch_verifies_hash_and_then_works_offline(tmp_path):
    source = tmp_path / "remote" / "w.bin"
    source.parent.mkdir()
    source.write_bytes(b"weights" * 100)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    path = fetch_weights(_entry(source, digest, algorithm="sha256"), cache_dir=str(cache))
    assert path == str(cache / "models" / "demo_weights.h5")
    assert open(path, "rb").read() == source.read_bytes()
    source.unlink()  # the origin is gone: the cached file must be enough
    assert fetch_weights(_entry(source, digest, algorithm="sha256"), cache_dir=str(cache)) == path


def test_hash_mismatch_is_a_clear_error(tmp_path):
    source = tmp_path / "w.bin"
    source.write_bytes(b"corrupted")
    with pytest.raises(ValueError, match=r"weights='demo.test'.*could not get demo_weights.h5"):
        fetch_weights(_entry(source, "0" * 32), cache_dir=str(tmp_path / "cache"))


def test_registry_matches_keras_applications():
    mobile = registry.imagenet_entry("mobile", True)
    assert (mobile.fname, mobile.file_hash) == ("nasnet_mobile.h5", "020fb642bf7360b370c678b08e0adf61")
    large = registry.imagenet_entry("large", False)
    assert (large.fname, large.file_hash) == ("nasnet_large_no_top.h5", "d81d89dc07e6e56530c4e77faddd61b5")
    assert all(e.origin.startswith("http") for e in registry.WEIGHTS.values())


def test_weights_imagenet_uses_the_keras_cache_offline(tmp_path, monkeypatch, keras_mobile_notop_h5):
    app, path = keras_mobile_notop_h5
    cache = tmp_path / "keras_home"
    (cache / "models").mkdir(parents=True)
    entry = registry.WEIGHTS["nasnet_a_mobile.keras_in1k_notop"]
    (cache / "models" / entry.fname).write_bytes(open(path, "rb").read())
    # Stand-in for the official file: same name, its own hash, an unreachable origin.
    fake = dataclasses.replace(entry, file_hash=_md5(path), origin="http://127.0.0.1:9/none.h5")
    monkeypatch.setitem(registry.WEIGHTS, entry.name, fake)
    monkeypatch.setenv("KERAS_HOME", str(cache))
    model = nk.NASNetMobile(include_top=False, weights="imagenet", input_shape=(96, 96, 3))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 96, 96, 3)).astype("float32")
    import keras
    oracle = keras.applications.NASNetMobile(include_top=False, weights=None, input_shape=(96, 96, 3))
    oracle.set_weights(app.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), oracle.predict(x, verbose=0), atol=1e-5)


def test_corrupt_cached_file_and_no_network_is_a_clear_error(tmp_path, monkeypatch):
    cache = tmp_path / "keras_home"
    (cache / "models").mkdir(parents=True)
    entry = registry.WEIGHTS["nasnet_a_mobile.keras_in1k_notop"]
    (cache / "models" / entry.fname).write_bytes(b"truncated download")
    monkeypatch.setitem(registry.WEIGHTS, entry.name,
                        dataclasses.replace(entry, origin="http://127.0.0.1:9/none.h5"))
    monkeypatch.setenv("KERAS_HOME", str(cache))
    with pytest.raises(ValueError, match=r"weights='nasnet_a_mobile.keras_in1k_notop'.*"
                                         r"expected md5 1ed92395b5b598bdda52abe5c0dbfd63"):
        nk.NASNetMobile(include_top=False, weights="imagenet")
