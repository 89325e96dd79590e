"""TF-slim checkpoint conversion on a synthetic V2 checkpoint."""

import numpy as np
import tensorflow as tf

import nasnet_keras as nk
from nasnet_keras.weights import read_keras_app_h5, read_slim_checkpoint


def _write_checkpoint(prefix, tensors):
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])


def test_slim_checkpoint_matches_the_keras_app_path(tmp_path, keras_mobile_h5):
    app, h5_path = keras_mobile_h5
    arrays = read_keras_app_h5(h5_path)
    rng = np.random.default_rng(0)
    ckpt = {}
    for name, value in arrays.items():
        if name.startswith("final_layer/FC/"):
            background = rng.normal(size=value.shape[:-1] + (1,)).astype("float32")
            value = np.concatenate([background, value], axis=-1)  # 1001 classes
        ckpt[name] = value
        ckpt[name + "/ExponentialMovingAverage"] = value + 1.0
        ckpt[name + "/RMSProp"] = np.zeros_like(value)
    ckpt["global_step"] = np.array(1234, dtype=np.int64)
    prefix = str(tmp_path / "model.ckpt")
    _write_checkpoint(prefix, ckpt)

    raw = read_slim_checkpoint(prefix)
    assert set(raw) == set(arrays)
    assert raw["final_layer/FC/weights"].shape == (1056, 1000)
    ema = read_slim_checkpoint(prefix, use_ema=True)
    np.testing.assert_array_equal(ema["conv0/weights"], arrays["conv0/weights"] + 1.0)

    model = nk.NASNetA("mobile", input_shape=(224, 224, 3), weights=prefix)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 224, 224, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), app.predict(x, verbose=0), atol=1e-5)
