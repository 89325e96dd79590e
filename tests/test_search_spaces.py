"""Search spaces: exact encode/decode, validity of every sample, sizes, bad input."""

import math

import keras
import numpy as np
import pytest

import nasnet_keras as nk
from nasnet_search import MacroArchitecture, MacroLayer, MacroSearchSpace, NASNetSearchSpace
from nasnet_search.nasnet_space import PRESETS

PRESET_NAMES = sorted(PRESETS)


def test_released_cells_round_trip_exactly():
    space = NASNetSearchSpace(output="searched")
    assert space.decode(space.encode(nk.NASNET_A)) == nk.NASNET_A
    pnas = NASNetSearchSpace.preset("pnas", output="searched")
    assert pnas.decode(pnas.encode(nk.PNASNET_5)) == nk.PNASNET_5


def test_paper_rule_rejects_nasnet_a_with_a_pointer_to_searched():
    with pytest.raises(ValueError, match=r"normal cell outputs concat\[1, 2, 3, 4, 5, 6\].*searched"):
        NASNetSearchSpace().encode(nk.NASNET_A)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_thousands_of_samples_round_trip(preset):
    space = NASNetSearchSpace.preset(preset)
    rng = np.random.default_rng(7)
    seen = set()
    for _ in range(1500):
        actions = space.random_actions(rng)
        genotype = space.decode_actions(actions)
        assert space.actions_from_values(space.encode(genotype)) == actions
        assert space.decode(space.encode(genotype)) == genotype
        seen.add(space.arch_key(genotype))
    assert len(seen) > 1400  # decoding is injective: distinct samples, distinct genotypes


def test_sampled_cells_follow_the_papers_output_rule():
    space = NASNetSearchSpace()
    rng = np.random.default_rng(0)
    for _ in range(200):
        g = space.decode_actions(space.random_actions(rng))
        for cell in (g.normal, g.reduction):
            consumed = set(cell.inputs)
            assert list(cell.concat) == [s for s in range(2, 7) if s not in consumed]
    b = NASNetSearchSpace.preset("nasnet_b").decode_actions(
        NASNetSearchSpace.preset("nasnet_b").random_actions(rng))
    assert b.normal.output_mode == "pass" and b.num_inputs == 4 and b.normal.concat == ()


def _expected_size(num_blocks, num_inputs, num_ops, num_combine, cells):
    per_cell = 1
    for b in range(num_blocks):
        per_cell *= (num_inputs + b) ** 2 * num_ops ** 2 * num_combine
    return per_cell ** cells


def test_space_sizes():
    assert NASNetSearchSpace().size == _expected_size(5, 2, 13, 2, 2)
    assert NASNetSearchSpace.preset("enas").size == _expected_size(5, 2, 5, 1, 2)
    assert NASNetSearchSpace.preset("pnas").size == _expected_size(5, 2, 8, 1, 1)
    assert NASNetSearchSpace.preset("nasnet_b").size == _expected_size(4, 4, 13, 4, 2)
    searched = NASNetSearchSpace(output="searched")
    assert searched.size == _expected_size(5, 2, 13, 2, 2) * 2 ** 14
    assert math.isclose(NASNetSearchSpace().log10_size, math.log10(NASNetSearchSpace().size))
    assert len(NASNetSearchSpace().decisions) == 2 * 5 * 5  # 2 x 5B, the paper's count


def test_decisions_are_registered_in_the_papers_order():
    names = [d.name for d in NASNetSearchSpace(num_blocks=2).decisions]
    assert names[:5] == ["normal/b0/in0", "normal/b0/in1", "normal/b0/op0", "normal/b0/op1",
                         "normal/b0/comb"]
    assert names[10] == "reduction/b0/in0" and len(names) == 20
    hp = NASNetSearchSpace(num_blocks=2).hyperparameters()
    assert [p.name for p in hp.space] == names


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_every_sample_builds_and_runs(preset):
    space = NASNetSearchSpace.preset(preset)
    rng = np.random.default_rng(3)
    x = np.zeros((2, 32, 32, 3), "float32")
    for i in range(2):
        keras.backend.clear_session()
        genotype = space.decode_actions(space.random_actions(rng))
        model = space.build_model(genotype, input_shape=(32, 32, 3), classes=3, filters=4)
        assert model(x).shape == (2, 3)


def test_nasnet_space_bad_input():
    with pytest.raises(ValueError, match="unknown names.*'conv_9x9'"):
        NASNetSearchSpace(operations=("conv_9x9", "identity"))
    with pytest.raises(ValueError, match="num_blocks == num_inputs"):
        NASNetSearchSpace(num_blocks=5, num_inputs=4, output="pass")
    with pytest.raises(ValueError, match="num_inputs=4.*needs output='pass'"):
        NASNetSearchSpace(num_blocks=4, num_inputs=4)
    with pytest.raises(ValueError, match="`output` must be one of"):
        NASNetSearchSpace(output="all")
    with pytest.raises(ValueError, match="unknown names.*'mul'"):
        NASNetSearchSpace(combine=("add", "mul"))
    with pytest.raises(ValueError, match="Unknown preset 'darts'"):
        NASNetSearchSpace.preset("darts")
    space = NASNetSearchSpace(num_blocks=2)
    values = space.encode(space.decode_actions([0] * len(space.decisions)))
    bad = dict(values, **{"normal/b1/op0": "conv_9x9"})
    with pytest.raises(ValueError, match="'normal/b1/op0': value 'conv_9x9' is not allowed"):
        space.decode(bad)
    del values["reduction/b0/comb"]
    with pytest.raises(ValueError, match="lacks the decisions.*reduction/b0/comb"):
        space.decode(values)
    with pytest.raises(ValueError, match="has 5 blocks; this space has num_blocks=2"):
        NASNetSearchSpace(num_blocks=2, output="searched").encode(nk.NASNET_A)
    with pytest.raises(ValueError, match="block 0: op0 = 'sep_conv_5x5' is not in this space"):
        NASNetSearchSpace(operations=("identity",), output="searched").encode(nk.NASNET_A)


def test_macro_space_round_trip_and_rules():
    space = MacroSearchSpace(num_layers=5, strides=(1, 2, 3))
    rng = np.random.default_rng(1)
    for _ in range(1500):
        actions = space.random_actions(rng)
        arch = space.decode_actions(actions)
        assert space.actions_from_values(space.encode(arch)) == actions
    # 5 layers: 4 + 3 + 2 + 1 skip decisions, 5 tokens per layer.
    assert len(space.decisions) == 10 + 5 * 5
    assert space.size == 2 ** 10 * (4 * 4 * 3 * 3 * 4) ** 5


def test_macro_builder_applies_the_papers_validity_rules():
    arch = MacroArchitecture((
        MacroLayer(3, 3, 24, stride_height=2, stride_width=2),          # image, 16x16
        MacroLayer(1, 5, 36),                                           # no inputs: the image
        MacroLayer(3, 1, 24, inputs=(0, 1)),                            # 16x16 padded to 32x32
        MacroLayer(5, 5, 48, stride_height=3, stride_width=1, inputs=(0,)),
    ))
    assert arch.outputs == [2, 3]
    model = MacroSearchSpace(num_layers=4, strides=(1, 2, 3)).build_model(
        arch, input_shape=(32, 32, 3), classes=4)
    convs = {l.name: l for l in model.layers if isinstance(l, keras.layers.Conv2D)}
    assert convs["child_conv1"].input.shape[1:] == (32, 32, 3)       # took the image
    assert convs["child_conv2"].input.shape[1:] == (32, 32, 24 + 36)   # depth concat, padded
    assert convs["child_conv3"].output.shape[1:3] == (6, 16)
    concats = [l for l in model.layers if isinstance(l, keras.layers.Concatenate)]
    assert concats[-1].output.shape[1:] == (32, 32, 24 + 48)         # unused outputs, padded
    assert model(np.zeros((2, 32, 32, 3), "float32")).shape == (2, 4)


def test_macro_samples_build():
    space = MacroSearchSpace(num_layers=4, strides=(1, 2, 3), filters=(4, 8))
    rng = np.random.default_rng(2)
    for _ in range(4):
        keras.backend.clear_session()
        model = space.build_model(space.decode_actions(space.random_actions(rng)),
                                  input_shape=(32, 32, 3), classes=3)
        assert model(np.zeros((1, 32, 32, 3), "float32")).shape == (1, 3)


def test_macro_space_bad_input():
    with pytest.raises(ValueError, match="`filters` must be a list of distinct positive"):
        MacroSearchSpace(filters=(24, 24))
    with pytest.raises(ValueError, match="`num_layers` must be an integer >= 1"):
        MacroSearchSpace(num_layers=0)
    with pytest.raises(ValueError, match="inputs \\[2\\] must be earlier layers"):
        MacroArchitecture((MacroLayer(3, 3, 24, inputs=(2,)),))
    space = MacroSearchSpace(num_layers=1)
    with pytest.raises(ValueError, match="strides 2x1; this space fixes strides at 1"):
        space.encode(MacroArchitecture((MacroLayer(3, 3, 24, stride_height=2),)))
    with pytest.raises(ValueError, match="'layer0/filters': value 25 is not allowed"):
        space.encode(MacroArchitecture((MacroLayer(3, 5, 25),)))
