import json

import pytest

import nasnet_keras as nk
from nasnet_keras.genotypes import CellSpec, Genotype


def test_nasnet_a_is_the_released_cells():
    # TF-slim nasnet_utils.py (papers.md §1.2), op names translated.
    n, r = nk.NASNET_A.normal, nk.NASNET_A.reduction
    assert n.inputs == (0, 1, 1, 1, 0, 1, 1, 1, 0, 0)
    assert n.concat == (1, 2, 3, 4, 5, 6)
    assert r.inputs == (0, 1, 0, 1, 0, 1, 3, 2, 2, 0)
    assert r.concat == (3, 4, 5, 6)
    assert n.ops[4:6] == ("avg_pool_3x3", "identity")
    assert r.ops[2] == "max_pool_3x3" and r.ops[9] == "max_pool_3x3"
    assert set(n.combine) == set(r.combine) == {"add"}
    assert nk.PNASNET_5.normal == nk.PNASNET_5.reduction
    assert nk.PNASNET_5.normal.concat == (2, 3, 4, 5, 6)


def test_vocabulary_is_the_13_nasnet_operations():
    assert len(nk.NASNET_OPERATIONS) == 13
    assert set(nk.NASNET_OPERATIONS) <= set(nk.OPERATIONS)


def test_json_round_trip():
    for g in (nk.NASNET_A, nk.PNASNET_5):
        text = g.to_json()
        assert json.loads(text)["normal"]["concat"] == list(g.normal.concat)
        assert Genotype.from_json(text) == g


def test_frozen():
    with pytest.raises(Exception):
        nk.NASNET_A.normal.ops = ()


def _cell(**changes):
    base = nk.NASNET_A.normal.to_dict()
    base.update(changes)
    return base


@pytest.mark.parametrize("changes, words", [
    (dict(inputs=[0, 1, 1, 1, 0, 1, 1, 7, 0, 0]), ["normal", "block 3", "inputs", "0..4"]),
    (dict(ops=["sep_conv_9x9"] + list(nk.NASNET_A.normal.ops[1:])),
     ["normal", "block 0", "unknown operation", "sep_conv_9x9", "ops"]),
    (dict(concat=[]), ["normal", "concat", "empty"]),
    (dict(concat=[1, 9]), ["normal", "concat", "0..6"]),
    (dict(ops=list(nk.NASNET_A.normal.ops[:-1])), ["normal", "ops", "10"]),
    (dict(combine=["add", "add", "mul", "add", "add"]), ["normal", "block 2", "combine", "mul"]),
    (dict(num_inputs=3), ["normal", "num_inputs"]),
])
def test_validation_errors_name_cell_block_field(changes, words):
    with pytest.raises(ValueError) as err:
        Genotype.from_dict({"normal": _cell(**changes), "reduction": nk.NASNET_A.reduction.to_dict()})
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_register_operation_extends_the_vocabulary():
    import keras

    nk.register_operation("zero_test", lambda **kw: keras.layers.Identity(name=kw["name"]))
    try:
        spec = CellSpec(ops=["zero_test", "identity"], inputs=[0, 1], combine=["add"], concat=[2])
        assert spec.ops[0] == "zero_test"
    finally:
        del nk.OPERATIONS["zero_test"]
    with pytest.raises(ValueError, match="zero_test"):
        CellSpec(ops=["zero_test", "identity"], inputs=[0, 1], combine=["add"], concat=[2])


def test_describe_one_line_per_block():
    lines = nk.NASNET_A.reduction.describe().splitlines()
    assert len(lines) == 6
    assert lines[3] == "s5 = identity(s3) + avg_pool_3x3(s2)"
