"""Transfer learning: new heads, frozen backbones (BatchNorm in inference mode), the
two-phase recipe and the fine-tune command on digits, data pipelines, bad input."""

import json
import os
import warnings

import keras
import numpy as np
import pytest

import nasnet_keras as nk
from nasnet_keras.cli import run_command as cli
from conftest import randomize, tiny_model


def _batch_norm_statistics(model):
    return {w.path: w.numpy().copy() for w in model.weights
            if "moving_mean" in w.path or "moving_variance" in w.path}


def test_a_frozen_backbone_is_the_same_in_training_and_inference(tmp_path):
    model = nk.replace_head(randomize(tiny_model(aux_head=True), seed=1), 3, dropout=0.2)
    assert [o.shape[-1] for o in model.outputs] == [3, 3]  # the aux head was replaced too
    frozen = nk.freeze_backbone(model)
    assert frozen > 5 and model.get_layer("predictions").trainable
    backbone = keras.Model(model.input, model.get_layer("final_relu").output)
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(backbone(x, training=True), backbone(x, training=False),
                               rtol=0, atol=1e-6)
    statistics = _batch_norm_statistics(backbone)
    kernels = {w.path: w.numpy().copy() for w in backbone.trainable_weights + backbone.weights
               if "kernel" in w.path}
    head = model.get_layer("predictions").kernel.numpy().copy()
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy"] * 2)
    y = np.array([0, 1, 2, 0])
    model.fit(x, (y, y), epochs=1, batch_size=4, verbose=0)
    assert all(np.array_equal(statistics[k], v) for k, v in _batch_norm_statistics(backbone).items())
    assert all(np.array_equal(kernels[w.path], w.numpy()) for w in backbone.weights
               if w.path in kernels)
    assert not np.array_equal(head, model.get_layer("predictions").kernel.numpy())
    # Unfreezing the last stage: its cells train, its BatchNorm layers stay frozen by default.
    nk.set_trainable(model, until="reduction_cell_1")
    cell = model.get_layer("cell_2")
    assert cell.trainable and cell.trainable_weights
    assert not any("moving" in w.path or "gamma" in w.path for w in cell.trainable_weights)
    assert not model.get_layer("cell_1").trainable


def test_finetune_command_from_local_weights_on_digits(tmp_path, capsys):
    # "Pretrained" weights from a local file: a small NASNet-A trained briefly on digits.
    # (BatchNorm momentum 0.9 so that its moving statistics settle within the short run.)
    source = nk.NASNet(genotype=nk.NASNET_A, num_cells=1, penultimate_filters=96, stem="cifar",
                       input_shape=(32, 32, 3), classes=10, bn_momentum=0.9)
    (x, y), _, _ = nk.load_arrays("digits", image_size=32, seed=1)
    source.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    source.fit(x[:1024], y[:1024], epochs=2, batch_size=64, verbose=0)
    weights = nk.save_weights(source, str(tmp_path / "pretrained.weights.h5"))
    genotype = tmp_path / "genotype.json"
    genotype.write_text(nk.NASNET_A.to_json())
    out = tmp_path / "out"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = cli(["finetune", "--model", str(genotype), "--weights", weights, "--data",
                     "digits", "--image-size", "32", "--num-cells", "1", "--penultimate-filters",
                     "96", "--epochs", "3", "--batch-size", "64", "--learning-rate", "0.01",
                     "--finetune-learning-rate", "0.001", "--aux-head", "--drop-path-keep-prob",
                     "0.9", "--output", str(out)])
    # Of the warnings a user sees (not the deprecations shown only to developers), only the
    # one a user can act on: the weights file has no auxiliary head.
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)
            and "auxiliary-head" not in str(w.message)] == []
    metrics = json.load(open(paths["metrics"]))
    # Chance is 0.10; the number is reported in the README.
    assert metrics["validation"]["accuracy"] > 0.5, metrics
    assert metrics["epochs"] == {"head": 2, "finetune": 1} and metrics["classes"] == 10
    assert os.path.getsize(paths["curves"]) > 10_000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = keras.saving.load_model(paths["model"])
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []
    assert model.output_shape == (None, 10)
    assert "Epoch 1/2" in capsys.readouterr().out  # Keras progress bars
    with capsys.disabled():  # `pytest -s -k finetune_command` shows the number
        print(f"\ndigits fine-tune validation accuracy: {metrics['validation']['accuracy']:.4f}")
    # A .keras model whose head does not fit the data: a clear error, or --new-head.
    pets = _image_folder(tmp_path / "pets")
    with pytest.raises(SystemExit, match="has 10 classes but 'folder:.*' has 2; give the model "
                                         "a new head"):
        cli(["finetune", "--model", paths["model"], "--data", f"folder:{pets}",
             "--image-size", "32", "--output", str(out)])
    with pytest.raises(SystemExit, match="is not a valid genotype"):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"normal": {"inputs": [0, 1]}}))
        cli(["finetune", "--model", str(bad), "--output", str(out)])


def _image_folder(root, per_class=4):
    for label, value in (("cat", 30), ("dog", 200)):
        os.makedirs(root / label)
        for i in range(per_class):
            image = np.full((20, 24, 3), value + 5 * i, "uint8")
            keras.utils.save_img(str(root / label / f"{i}.png"), image)
    return root


def test_data_pipelines_digits_folder_tfds_and_bad_input(tmp_path):
    import tensorflow_datasets as tfds

    train, val, info = nk.load_data("digits", image_size=24, batch_size=50, augment=True)
    images, labels = next(iter(train))
    assert images.shape == (50, 24, 24, 3) and labels.dtype == "int32"
    assert float(images.numpy().min()) >= -1.0 and float(images.numpy().max()) <= 1.0
    assert (info.classes, info.train_examples, info.validation_examples) == (10, 1437, 360)
    assert sum(int(b[0].shape[0]) for b in val) == 360

    train, val, info = nk.load_data(f"folder:{_image_folder(tmp_path / 'pets')}",
                                    image_size=16, batch_size=4, validation_fraction=0.25)
    assert info.class_names == ["cat", "dog"] and info.train_examples + info.validation_examples == 8
    assert next(iter(train))[0].shape[1:] == (16, 16, 3)

    with tfds.testing.mock_data(num_examples=20):
        train, val, info = nk.load_data("tfds:mnist", image_size=16, batch_size=8,
                                        validation_split="test")
        assert info.classes == 10 and next(iter(train))[0].shape == (8, 16, 16, 3)

    with pytest.raises(ValueError, match=r"`data` must be digits \| tfds:NAME \| folder:PATH, "
                                         "got 'mnist'"):
        nk.load_data("mnist")
    os.makedirs(tmp_path / "empty" / "cat")
    with pytest.raises(ValueError, match="folder .* has no images: 1 class sub-folders, 0 files"):
        nk.load_data(f"folder:{tmp_path / 'empty'}")
    with pytest.raises(ValueError, match="`batch_size` must be an integer >= 1, got 0"):
        nk.load_data("digits", batch_size=0)
    with pytest.raises(ValueError, match="`unfreeze_from` must be an endpoint of"):
        nk.two_phase_finetune(tiny_model(), train, unfreeze_from="cell_99")
    with pytest.raises(ValueError, match="`classes` must be an integer >= 1, got 0"):
        nk.replace_head(tiny_model(), 0)
