"""Bad input gets a clear error naming the argument, the value and what is allowed."""

import numpy as np
import pytest

import nasnet_keras as nk

from conftest import tiny_model


def test_unknown_variant():
    with pytest.raises(ValueError, match=r"`variant`.*'cifar', 'large', 'mobile'.*'medium'"):
        nk.NASNetA("medium")


def test_invalid_genotype():
    bad = nk.NASNET_A.to_dict()
    bad["reduction"]["inputs"][6] = 9
    with pytest.raises(ValueError, match=r"reduction cell, block 3.*`inputs` index 9"):
        nk.NASNet(genotype=bad)
    with pytest.raises(TypeError, match="genotype"):
        nk.NASNet(genotype="nasnet_a")


def test_penultimate_filters_not_divisible():
    with pytest.raises(ValueError, match=r"`penultimate_filters` must be a positive multiple of 96.*1000"):
        nk.NASNetA("mobile", penultimate_filters=1000)
    with pytest.raises(ValueError, match=r"multiple of 24.*100"):
        nk.NASNetA("cifar", penultimate_filters=100)


@pytest.mark.parametrize("shape", [(31, 224, 3), (224, 16, 3)])
def test_input_smaller_than_32(shape):
    with pytest.raises(ValueError, match=r"`input_shape`.*too small.*at least 32"):
        nk.NASNetA("mobile", input_shape=shape)


def test_bad_input_shape_rank():
    with pytest.raises(ValueError, match="`input_shape`"):
        nk.NASNetA("mobile", input_shape=(224, 224))


def test_classes_with_imagenet_top():
    with pytest.raises(ValueError, match=r"`classes` must be 1000.*classes=10"):
        nk.NASNetMobile(weights="imagenet", classes=10)


def test_imagenet_weights_for_another_architecture():
    with pytest.raises(ValueError, match=r"weights='imagenet'` exists only for NASNet-A mobile"):
        nk.NASNetA("cifar", weights="imagenet", include_top=False)


def test_weights_path_missing():
    with pytest.raises(ValueError, match=r"`weights`.*no file.*nope\.h5"):
        nk.NASNetMobile(weights="nope.h5")


def test_weights_of_a_different_architecture(tmp_path, keras_mobile_h5):
    path = str(tmp_path / "tiny.h5")
    nk.save_weights(tiny_model(), path)
    with pytest.raises(ValueError, match=r"different architecture.*Missing from the file"):
        tiny_model(stem="imagenet", input_shape=(64, 64, 3), weights=path)
    with pytest.raises(ValueError, match=r"Shape mismatches"):
        tiny_model(penultimate_filters=384, weights=path)
    _, app_path = keras_mobile_h5
    with pytest.raises(ValueError, match=r"keras.applications NASNet file.*Unexpected in the file"):
        nk.NASNetA("cifar", weights=app_path, include_top=False)


def test_not_a_weights_file(tmp_path):
    path = tmp_path / "junk.h5"
    path.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="is not a keras.applications NASNet"):
        tiny_model(weights=str(path))


def test_other_arguments():
    with pytest.raises(ValueError, match="`stem`"):
        tiny_model(stem="mnist")
    with pytest.raises(ValueError, match="`pad_mode`"):
        tiny_model(pad_mode="reflect")
    with pytest.raises(ValueError, match="`pooling`"):
        tiny_model(include_top=False, pooling="min")
    with pytest.raises(ValueError, match="`drop_path_keep_prob`"):
        tiny_model(drop_path_keep_prob=0.0)
    with pytest.raises(ValueError, match="`num_cells`"):
        tiny_model(num_cells=0)
    with pytest.raises(ValueError, match="aux_head=True needs a static"):
        tiny_model(input_shape=(None, None, 3), aux_head=True)
