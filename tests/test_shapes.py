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


def _cells():
    from nasnet_search import NASNetSearchSpace

    space = NASNetSearchSpace()
    rng = np.random.default_rng(7)
    searched = [space.decode_actions(space.random_actions(rng)) for _ in range(3)]
    genotypes = [nk.NASNET_A, nk.NASNET_B, nk.NASNET_C, nk.PNASNET_5, *searched]
    for genotype in genotypes:
        for spec, strides in ((genotype.normal, 1), (genotype.reduction, 2)):
            yield spec, strides


@pytest.mark.parametrize("size, pad_mode", [(8, "keras"), (9, "keras"), (9, "tf"), (None, "tf")])
def test_cells_know_their_output_shapes_without_tracing(size, pad_mode, monkeypatch):
    """NASNetCell.compute_output_spec follows call's data flow on shapes: equal to what
    Keras' trace of call gives, for every cell style, stride, padding mode and size."""
    import keras
    from keras.src.backend import compute_output_spec as traced_spec

    for i, (spec, strides) in enumerate(_cells()):
        k = spec.num_inputs
        prev_size = None if size is None else (2 * size if strides == 1 else size)
        mode = "reduce" if strides == 1 else "match"
        inputs = [keras.KerasTensor((None, size, size, 12))] + [
            keras.KerasTensor((None, prev_size, prev_size, 20))] * (k - 1)
        cell = nk.NASNetCell(spec, filters=6, strides=strides, prev_mode=mode,
                             pad_mode=pad_mode, name=f"cell_{i}")
        cell.build([tuple(t.shape) for t in inputs])
        expected = traced_spec(cell.call, inputs)
        calls = []
        monkeypatch.setattr(cell, "call", lambda *a, **kw: calls.append(1))
        ours = cell.compute_output_spec(inputs)
        monkeypatch.undo()
        assert not calls, "compute_output_spec traced call"
        expected = expected if isinstance(expected, list) else [expected]
        ours = ours if isinstance(ours, list) else [ours]
        assert [(t.shape, t.dtype) for t in ours] == [(t.shape, t.dtype) for t in expected], (
            spec.describe(), strides)


def test_an_operation_without_a_shape_rule_falls_back_to_keras_trace():
    import keras

    nk.register_operation("shape_test_op", lambda **kw: _NoShapeRule(name=kw["name"]))
    try:
        spec = nk.CellSpec(ops=["shape_test_op", "identity"], inputs=[0, 1], combine=["add"],
                           concat=[2])
        cell = nk.NASNetCell(spec, filters=4, prev_mode="match")
        out = cell([keras.KerasTensor((None, 8, 8, 3)), keras.KerasTensor((None, 8, 8, 5))])
    finally:
        del nk.OPERATIONS["shape_test_op"]
    assert tuple(out.shape) == (None, 8, 8, 4)


def _no_shape_rule_layer():
    import keras

    class NoShapeRule(keras.layers.Layer):
        def call(self, x, training=None):
            return x * 2.0

    return NoShapeRule


_NoShapeRule = _no_shape_rule_layer()
