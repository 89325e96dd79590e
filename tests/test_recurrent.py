"""NASCell and genotype-driven recurrent cells (recurrent.md §1 and §5)."""

import json

import keras
import numpy as np
import pytest

import nasnet_keras as nk
from nasnet_keras.recurrent import NASCell, RecurrentCell
from nasnet_keras.recurrent_genotypes import NAS_CELL, RecurrentCellSpec, tree_children

X = np.array([[1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]], "float32")
CONSTANT = dict(kernel_initializer=keras.initializers.Constant(0.5),
                recurrent_initializer=keras.initializers.Constant(0.5),
                projection_initializer=keras.initializers.Constant(0.5))


def _both(units, **kwargs):
    return [NASCell(units, **kwargs), RecurrentCell(NAS_CELL, units, **kwargs)]


@pytest.mark.parametrize("which", [0, 1], ids=["NASCell", "RecurrentCell(NAS_CELL)"])
def test_golden_numbers_of_the_released_cell(which):
    """TensorFlow's and TensorFlow Addons' NASCell tests (recurrent.md §1.4)."""
    cell = _both(6, **CONSTANT)[which]
    c0 = h0 = 0.1 * np.ones((3, 6), "float32")
    out, (c, h) = cell(X, [c0, h0])
    expected_h = np.repeat([[0.57675087], [0.6189357], [0.62739348]], 6, axis=1)
    expected_c = np.repeat([[0.71579772], [0.78041625], [0.79457647]], 6, axis=1)
    expected_c[2, 4:] = 0.79457653
    np.testing.assert_allclose(out, expected_h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h, expected_h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c, expected_c, rtol=1e-6, atol=1e-6)

    projected = _both(6, projection=5, **CONSTANT)[which]
    out, (c, h) = projected(X, [0.1 * np.ones((3, 6), "float32"),
                                0.1 * np.ones((3, 5), "float32")])
    expected_h = np.repeat([[1.69741797], [1.84003687], [1.87398517]], 5, axis=1)
    expected_c = np.repeat([[0.69855207], [0.77073824], [0.78973997]], 6, axis=1)
    np.testing.assert_allclose(out, expected_h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h, expected_h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c, expected_c, rtol=1e-6, atol=1e-6)


def _copy_weights(source, target):
    for a, b in zip(source.weights, target.weights):
        assert a.name == b.name and a.shape == b.shape
        b.assign(a)


@pytest.mark.parametrize("kwargs", [{}, {"use_bias": True, "projection": 3}])
def test_nascell_equals_the_interpreter_running_nas_cell(kwargs):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 7, 5)).astype("float32")
    layers = [keras.layers.RNN(cell, return_sequences=True, return_state=True)
              for cell in _both(6, **kwargs)]
    for layer in layers:
        layer.build(x.shape)
    for w in layers[0].weights:  # random everywhere, the bias too
        w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))
    _copy_weights(layers[0], layers[1])
    first, second = layers[0](x), layers[1](x)
    assert [tuple(t.shape) for t in first] == [(4, 7, kwargs.get("projection", 6)), (4, 6),
                                               (4, kwargs.get("projection", 6))]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.std(np.asarray(first[0])) > 0.05  # the cells did compute something


def test_base_two_worked_example_matches_numpy():
    """The paper's Fig. 5 example: c_t from leaf 1 before its activation, c_(t-1) injected
    into node 0 with (add, relu), h_t from the root."""
    spec = RecurrentCellSpec(base=2, nodes=[["add", "tanh"], ["elem_mult", "relu"],
                                            ["elem_mult", "sigmoid"]],
                             cell_inject=["add", "relu"], cell_indices=[1, 0])
    rng = np.random.default_rng(1)
    cell = RecurrentCell(spec, 3, use_bias=True)
    x, c_prev, h_prev = (rng.normal(size=s).astype("float32") for s in ((5, 4), (5, 3), (5, 3)))
    cell.build(x.shape)
    for w in cell.weights:
        w.assign(rng.normal(0, 0.7, w.shape).astype("float32"))
    out, (c, h) = cell(x, [c_prev, h_prev])

    W, U, b = (np.asarray(w) for w in (cell.kernel, cell.recurrent_kernel, cell.bias))
    xw, hu = x @ W, h_prev @ U + b
    a0 = np.tanh(xw[:, :3] + hu[:, :3])
    pre1 = xw[:, 3:] * hu[:, 3:]
    a1 = np.maximum(pre1, 0)
    a0 = np.maximum(a0 + c_prev, 0)
    expected_h = 1 / (1 + np.exp(-(a0 * a1)))
    np.testing.assert_allclose(out, expected_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, expected_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, pre1, rtol=1e-5, atol=1e-6)


def test_rnn_shapes_and_state_order():
    x = np.random.default_rng(0).normal(size=(2, 3, 5)).astype("float32")
    assert tuple(keras.layers.RNN(NASCell(10))(x).shape) == (2, 10)
    out, c, h = keras.layers.RNN(NASCell(10, projection=4), return_state=True)(x)
    assert tuple(out.shape) == (2, 4) and tuple(c.shape) == (2, 10) and tuple(h.shape) == (2, 4)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(h))  # (c, h): h is the output


def test_config_round_trip_and_keras_file(tmp_path):
    cell = NASCell(10, projection=5, use_bias=True, name="nas_cell_3")
    config = cell.get_config()
    again = NASCell.from_config(config)
    for key in ("units", "projection", "use_bias", "name"):
        assert again.get_config()[key] == config[key]
    spec_cell = RecurrentCell(NAS_CELL, 4, projection=3)
    assert RecurrentCell.from_config(spec_cell.get_config()).spec == NAS_CELL
    json.dumps(spec_cell.get_config())  # JSON-safe

    x = np.random.default_rng(0).normal(size=(2, 6, 5)).astype("float32")
    for cell in (NASCell(8, use_bias=True), RecurrentCell(NAS_CELL, 8, projection=4)):
        inputs = keras.Input((6, 5))
        model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.RNN(cell)(inputs)))
        path = tmp_path / f"{type(cell).__name__}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                                   rtol=0, atol=1e-6)


def test_spec_json_round_trip_tree_and_description():
    assert RecurrentCellSpec.from_json(NAS_CELL.to_json()) == NAS_CELL
    assert tree_children(8)[8] == (0, 1) and tree_children(8)[13] == (10, 11)
    assert tree_children(8)[14] == (12, 13) and len(tree_children(8)) == 7
    assert tree_children(2) == {2: (0, 1)}
    text = NAS_CELL.describe()
    assert "n3 = relu(x W3 * h U3)" in text
    assert "n8 = tanh(n0 * n1); then n8 = tanh(n8 + c_(t-1))" in text
    assert "n12 = identity(n8 * n9)   [c_t" in text and text.endswith("h_t = n14")
    assert nk.NAS_CELL is NAS_CELL and nk.NASCell is NASCell


@pytest.mark.parametrize("change, message", [
    (dict(base=6), r"`base` must be a power of two >= 2 .*got 6"),
    (dict(base=1, nodes=[["add", "tanh"]]), r"`base` must be a power of two"),
    (dict(nodes=NAS_CELL.nodes[:-1]), r"`nodes` must hold 2 \* base - 1 = 15 .*got 14"),
    (dict(cell_indices=(15, 8)), r"`cell_indices` c_node must be a node index in 0..14, got 15"),
    (dict(cell_indices=(12, -1)), r"`cell_indices` inject_node must be a node index"),
    (dict(cell_indices=(12,)), r"`cell_indices` must be \(c_node, inject_node\)"),
    (dict(nodes=(("sub", "tanh"),) + NAS_CELL.nodes[1:]),
     r"`nodes\[0\]` has combination 'sub'; allowed: add, elem_mult, max"),
    (dict(nodes=NAS_CELL.nodes[:3] + (("add", "gelu"),) + NAS_CELL.nodes[4:]),
     r"`nodes\[3\]` has activation 'gelu'; allowed: identity, tanh"),
    (dict(cell_inject=("add",)), r"`cell_inject` must be a \(combination, activation\) pair"),
])
def test_invalid_specs_name_the_field(change, message):
    fields = NAS_CELL.to_dict() | change
    with pytest.raises(ValueError, match=message):
        RecurrentCellSpec(**fields)


def test_bad_cell_arguments():
    with pytest.raises(ValueError, match="`units` must be a positive integer, got 0"):
        NASCell(0)
    with pytest.raises(ValueError, match="`projection` must be a positive integer or None"):
        NASCell(4, projection=-2)
    with pytest.raises(TypeError, match="`spec` must be a RecurrentCellSpec"):
        RecurrentCell("nas", 4)
    with pytest.raises(ValueError, match="missing field"):
        RecurrentCell({"base": 2}, 4)
