"""Export of a searched cell's network: SavedModel, TFLite float and int8 with parity, and
its `.keras` file loading in a fresh process.  (NASNet-A mobile itself:
benchmarks/export.py, numbers in the README.)"""

import json
import subprocess
import sys

import numpy as np
import pytest

import nasnet_keras as nk
from nasnet_keras.cli import run_command as cli
from nasnet_search import NASNetSearchSpace


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A small trained network of a cell sampled from the NASNet search space."""
    import keras

    space = NASNetSearchSpace(num_blocks=3)
    genotype = space.decode_actions(space.random_actions(np.random.default_rng(5)))
    model = nk.NASNet(genotype=genotype, num_cells=1, penultimate_filters=96, stem="cifar",
                      input_shape=(32, 32, 3), classes=10)
    (x, y), (xv, _), _ = nk.load_arrays("digits", image_size=32)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x[:512], y[:512], epochs=1, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("searched") / "searched.keras"
    model.save(path)
    return model, str(path), xv[:48]


def test_saved_model_and_tflite_float_and_int8_parity(searched, tmp_path, capsys):
    model, _, x = searched
    reference = np.asarray(model.predict(x, verbose=0))
    saved = nk.export_saved_model(model, tmp_path / "saved_model")
    np.testing.assert_allclose(nk.saved_model_outputs(saved, x), reference, rtol=0, atol=1e-5)
    flat = nk.export_tflite(model, tmp_path / "float.tflite")
    assert np.max(np.abs(nk.tflite_outputs(flat, x) - reference)) < 1e-4
    quantized = nk.export_tflite(model, tmp_path / "int8.tflite", quantization="int8",
                                 representative_data=x)
    agreement = np.mean(nk.tflite_outputs(quantized, x).argmax(1) == reference.argmax(1))
    with capsys.disabled():  # `pytest -s -k tflite tests/test_export.py` shows the number
        print(f"\nint8 top-1 agreement with float: {agreement:.3f} on {len(x)} digits")
    assert agreement >= 0.8
    with pytest.raises(ValueError, match="`quantization='int8'` needs `representative_data`"):
        nk.export_tflite(model, tmp_path / "x.tflite", quantization="int8")
    with pytest.raises(ValueError, match="`quantization` must be one of"):
        nk.export_tflite(model, tmp_path / "x.tflite", quantization="int4")
    any_size = nk.NASNet(genotype=nk.NASNET_A, num_cells=1, penultimate_filters=96, stem="cifar",
                         include_top=False)
    with pytest.raises(ValueError, match="takes any image size .*TFLite needs a fixed one"):
        nk.export_tflite(any_size, tmp_path / "x.tflite")


def test_searched_keras_file_loads_in_a_fresh_process_and_exports_from_the_cli(searched, tmp_path,
                                                                              capsys):
    model, path, x = searched
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", np.asarray(model.predict(x, verbose=0)))
    code = ("import sys, numpy as np, keras\n"
            "import nasnet_keras  # registers the custom layers\n"
            f"m = keras.saving.load_model({path!r})\n"
            f"out = m.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0)\n"
            f"np.testing.assert_allclose(out, np.load({str(tmp_path / 'expected.npy')!r}), "
            "atol=1e-5)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    parity = cli(["export", "--model", path, "--format", "saved_model", "--examples", "16",
                  "--output", str(tmp_path / "cli_saved")])
    assert parity["max_abs_difference"] < 1e-5 and parity["top1_agreement"] == 1.0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["examples"] == 16
