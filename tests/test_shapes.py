"""End-point shape tables of TF-slim's nasnet_test.py (implementations.md §2.6)."""

import numpy as np
import pytest

import nasnet_keras as nk


def _table(model):
    return {name: tuple(t.shape[1:]) for name, t in nk.endpoints(model).items()}


def _expected(stem, cells, reductions):
    out = dict(stem)
    for i, shape in enumerate(cells):
        out[f"cell_{i}"] = shape
    for k, shape in enumerate(reductions):
        out[f"reduction_cell_{k}"] = shape
    return out


def test_mobile_224_endpoints():
    table = _table(nk.NASNetA("mobile", input_shape=(224, 224, 3)))
    expected = _expected(
        {"cell_stem_1": (28, 28, 88)},
        [(28, 28, 264)] * 4 + [(14, 14, 528)] * 4 + [(7, 7, 1056)] * 4,
        [(14, 14, 352), (7, 7, 704)])
    for name, shape in expected.items():
        assert table[name] == shape, name
    assert table["final"] == (7, 7, 1056)


def test_cifar_32_endpoints():
    table = _table(nk.NASNetA("cifar"))
    expected = _expected(
        {"stem": (32, 32, 96)},
        [(32, 32, 192)] * 6 + [(16, 16, 384)] * 6 + [(8, 8, 768)] * 6,
        [(16, 16, 256), (8, 8, 512)])
    for name, shape in expected.items():
        assert table[name] == shape, name


@pytest.mark.slow
def test_large_331_endpoints():
    table = _table(nk.NASNetA("large", include_top=False, input_shape=(331, 331, 3)))
    expected = _expected(
        {"cell_stem_1": (42, 42, 336)},
        [(42, 42, 1008)] * 6 + [(21, 21, 2016)] * 6 + [(11, 11, 4032)] * 6,
        [(21, 21, 1344), (11, 11, 2688)])
    for name, shape in expected.items():
        assert table[name] == shape, name


def test_feature_pyramid_strides():
    model = nk.NASNetA("mobile", include_top=False, input_shape=(224, 224, 3))
    pyramid = nk.feature_pyramid(model)
    out = pyramid.predict(np.zeros((1, 224, 224, 3), "float32"), verbose=0)
    assert {k: v.shape[1:] for k, v in out.items()} == {
        "P2": (56, 56, 44), "P3": (28, 28, 264), "P4": (14, 14, 528), "P5": (7, 7, 1056)}
    with pytest.raises(ValueError, match="levels"):
        nk.feature_pyramid(nk.NASNetA("cifar"))
