"""Export of a searched cell's network: SavedModel, TFLite float and int8 with parity, and
its `.keras` file loading in a fresh process; the `TFLiteModel` runner and the
``nasnet-keras benchmark`` command.  (NASNet-A mobile itself: benchmarks/export.py and
benchmarks/inference.py, numbers in the README.)"""

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

    # Seeded: the int8 agreement below is measured on 48 images, one image is 2%.
    keras.utils.set_random_seed(0)
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


@pytest.fixture(scope="module")
def flat_tflite(searched, tmp_path_factory):
    return nk.export_tflite(searched[0], tmp_path_factory.mktemp("tflite") / "float.tflite")


def test_saved_model_and_tflite_float_and_int8_parity(searched, flat_tflite, tmp_path, capsys):
    model, _, x = searched
    reference = np.asarray(model.predict(x, verbose=0))
    saved = nk.export_saved_model(model, tmp_path / "saved_model")
    np.testing.assert_allclose(nk.saved_model_outputs(saved, x), reference, rtol=0, atol=1e-5)
    assert np.max(np.abs(nk.tflite_outputs(flat_tflite, x) - reference)) < 1e-4
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


def test_tflite_model_predicts_as_keras_one_image_batched_and_from_tf_data(searched, flat_tflite):
    import tensorflow as tf

    model, _, x = searched
    reference = np.asarray(model.predict(x, verbose=0))
    lite = nk.TFLiteModel(flat_tflite, num_threads=1)
    assert lite.input_shape == (1, 32, 32, 3) and lite.runtime in ("litert", "tensorflow")
    np.testing.assert_allclose(lite.predict(x[:1]), reference[:1], rtol=0, atol=1e-4)
    # 48 images in batches of 20: the input tensor resized to 20, then to the last 8.
    batched = lite.predict(x, batch_size=20)
    assert batched.shape == reference.shape and batched.dtype == np.float32
    np.testing.assert_allclose(batched, reference, rtol=0, atol=1e-4)
    pairs = tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x)))).batch(16)
    np.testing.assert_allclose(lite.predict(pairs), reference, rtol=0, atol=1e-4)
    images = tf.data.Dataset.from_tensor_slices(x).batch(7)
    np.testing.assert_allclose(lite.predict(images), reference, rtol=0, atol=1e-4)
    assert nk.TFLiteModel(flat_tflite).num_threads >= 1  # None: every usable CPU


@pytest.mark.filterwarnings("ignore:Statistics for quantized inputs:UserWarning")
def test_tflite_model_quantizes_int8_input_and_dequantizes_int8_output(tmp_path):
    """A file with int8 ends (other converters write them; `export_tflite` keeps float)."""
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    x = rng.uniform(-1, 1, (16, 8, 8, 3)).astype("float32")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in x)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path = tmp_path / "int8_ends.tflite"
    path.write_bytes(converter.convert())
    lite = nk.TFLiteModel(path)
    assert lite.input_dtype == np.int8
    out = lite.predict(x, batch_size=5)
    reference = np.asarray(model(x))
    assert out.dtype == np.float32
    # Within a few quantization steps of the float model (the outputs span about 1).
    assert np.max(np.abs(out - reference)) < 0.05, np.max(np.abs(out - reference))


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_tflite_model_prefers_litert_when_installed(flat_tflite, monkeypatch):
    """`ai_edge_litert`'s Interpreter is used when importable (a stand-in module here: LiteRT
    is not installed on this machine)."""
    import sys
    import types

    import tensorflow as tf

    made = []

    class Interpreter(tf.lite.Interpreter):
        def __init__(self, model_path, num_threads=None):
            made.append((model_path, num_threads))
            super().__init__(model_path=model_path, num_threads=num_threads)

    package = types.ModuleType("ai_edge_litert")
    module = types.ModuleType("ai_edge_litert.interpreter")
    module.Interpreter = Interpreter
    monkeypatch.setitem(sys.modules, "ai_edge_litert", package)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", module)
    lite = nk.TFLiteModel(flat_tflite, num_threads=2)
    assert lite.runtime == "litert" and made == [(str(flat_tflite), 2)]
    assert lite.predict(np.zeros((3, 32, 32, 3), "float32")).shape == (3, 10)


def test_tflite_model_bad_input(flat_tflite, tmp_path):
    lite = nk.TFLiteModel(flat_tflite)
    with pytest.raises(ValueError, match=r"`x` holds images of shape \(28, 28, 3\).*takes "
                                         r"\(32, 32, 3\)"):
        lite.predict(np.zeros((2, 28, 28, 3), "float32"))
    with pytest.raises(ValueError, match="`x` holds images of shape"):
        lite.predict(np.zeros((32, 32, 3), "float32"))  # one image without its batch axis
    with pytest.raises(ValueError, match="`x` holds no images"):
        lite.predict(np.zeros((0, 32, 32, 3), "float32"))
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer, got 0"):
        lite.predict(np.zeros((1, 32, 32, 3), "float32"), batch_size=0)
    with pytest.raises(ValueError, match="`num_threads` must be a positive integer or None"):
        nk.TFLiteModel(flat_tflite, num_threads=0)
    with pytest.raises(FileNotFoundError, match="`path` .*missing.tflite.* is not a file"):
        nk.TFLiteModel(tmp_path / "missing.tflite")


def test_benchmark_command_prints_every_requested_backend(tmp_path, capsys):
    genotype = tmp_path / "cell.json"
    genotype.write_text(nk.NASNET_A.to_json())
    backends = ("tf", "tflite", "tflite-float16", "tflite-int8")
    rows = cli(["benchmark", "--model", str(genotype), "--num-cells", "1",
                "--penultimate-filters", "96", "--backends", ",".join(backends),
                "--calibration-data", "random", "--batch", "1", "3", "--seconds", "0.05",
                "--rounds", "1"])
    table = capsys.readouterr().out.splitlines()
    assert [(r["backend"], r["batch"]) for r in rows] == [(b, n) for n in (1, 3) for b in backends]
    for row in rows:
        assert row["images_per_second"] > 0
        assert any(line.split()[:2] == [row["backend"], str(row["batch"])] for line in table)
    by_backend = {r["backend"]: r for r in rows if r["batch"] == 1}
    assert by_backend["tf"]["ratio_to_tf"] == 1.0
    assert by_backend["tflite"]["max_abs_difference_to_tf"] < 1e-4


def test_benchmark_bad_arguments(searched, capsys):
    model = searched[0]
    with pytest.raises(SystemExit, match="--backends must list some of tf, tflite, "
                                         "tflite-float16, tflite-int8 .*got 'tf,onnx'"):
        cli(["benchmark", "--backends", "tf,onnx"])
    with pytest.raises(SystemExit, match="--backends tflite-int8 needs --calibration-data"):
        cli(["benchmark", "--backends", "tflite-int8"])
    with pytest.raises(SystemExit, match="--calibration-data` must be digits"):
        cli(["benchmark", "--backends", "tflite-int8", "--calibration-data", "imagenet"])
    with pytest.raises(ValueError, match="`backends` must be a non-empty selection .*'onnx'"):
        nk.benchmark_backends(model, backends=("tf", "onnx"))
    with pytest.raises(ValueError, match="`tflite-int8` backend needs `calibration_data`"):
        nk.benchmark_backends(model, backends=("tflite-int8",))
    with pytest.raises(ValueError, match="`batches` must be positive integers"):
        nk.benchmark_backends(model, batches=(0,), backends=("tf",))
