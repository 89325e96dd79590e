import json
import os

import numpy as np

import nasnet_keras as nk
from nasnet_keras.convert import convert
from nasnet_keras.weights.registry import WEIGHTS

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_manifest_is_in_sync_with_the_registry():
    with open(os.path.join(ROOT, "pretrained", "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest == {k: WEIGHTS[k].to_dict() for k in WEIGHTS}
    for name in WEIGHTS:
        assert os.path.exists(os.path.join(ROOT, "pretrained", "cards", f"{name}.md")), name


def test_convert_keras_app_file_reports_parity(tmp_path, keras_mobile_h5):
    app, path = keras_mobile_h5
    out = str(tmp_path / "converted.h5")
    report = convert(path, "mobile", out)
    assert report["params"] == 5_326_716
    assert report["reload_max_abs_diff"] == 0.0
    assert report["keras_applications_max_abs_diff"] <= 1e-5
    model = nk.NASNetMobile(weights=out)
    x = np.random.default_rng(3).uniform(-1, 1, (1, 224, 224, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), app.predict(x, verbose=0), atol=1e-5)
