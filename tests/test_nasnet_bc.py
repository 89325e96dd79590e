"""NASNetB and NASNetC: the paper's four configurations, their sizes as the README
reports them, build / train a step / .keras round trip of each (mobile in the slow
tests), the provenance of their default cells, and the errors for a wrong variant or
cell style."""

import os
import re

import numpy as np
import pytest

import nasnet_keras as nk
from nasnet_keras.configs import CONFIGS_BY_FAMILY
from nasnet_search import NASNetSearchSpace

ROOT = os.path.join(os.path.dirname(__file__), "..")
ENTRY = {"B": nk.NASNetB, "C": nk.NASNetC}
DEFAULT = {"B": nk.NASNET_B, "C": nk.NASNET_C}
PRESET = {"B": "nasnet_b", "C": "nasnet_c"}


def _model_table():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "model_table", os.path.join(ROOT, "benchmarks", "model_table.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _readme_row(family, variant):
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    match = re.search(rf"^\| `NASNet{family}\(\"{variant}\"\)` \|(.*)\|$", text, re.M)
    assert match, f"README has no size row for NASNet{family}({variant!r})"
    return [cell.strip() for cell in match.group(1).split("|")]


def test_readme_size_table_is_what_this_code_counts(capsys):
    """The README's NASNet-B/C table, next to the paper's numbers, as the builder counts."""
    table = _model_table()
    rows = table.bc_rows()
    table.print_bc_table(rows)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert len(printed) == 4
    for (family, variant, notation, size, classes, params, mult_adds), line in zip(rows, printed):
        assert notation == CONFIGS_BY_FAMILY[family][variant].notation
        readme = _readme_row(family, variant)
        assert readme == [cell.strip() for cell in line.strip("|").split("|")[1:]]
        assert int(readme[3].replace(",", "")) == params
        paper_params, _ = table.PAPER_BC[(family, variant)]
        percent = float(readme[6].split("/")[0].strip().rstrip("%"))
        assert percent == pytest.approx(100 * (params - paper_params) / paper_params, abs=0.5)


@pytest.mark.parametrize("family", ["B", "C"])
def test_paper_configurations(family):
    configs = CONFIGS_BY_FAMILY[family]
    expected = {"B": {"cifar": "4 @ 1152", "mobile": "4 @ 1536"},
                "C": {"cifar": "4 @ 640", "mobile": "3 @ 960"}}[family]
    assert {v: c.notation for v, c in configs.items()} == expected
    assert configs["mobile"].default_size == 224 and configs["cifar"].default_size == 32
    assert all(c.genotype == DEFAULT[family] for c in configs.values())


@pytest.mark.parametrize("family", ["B", "C"])
def test_default_cells_are_members_of_the_papers_search_space(family):
    space = NASNetSearchSpace.preset(PRESET[family])
    assert space.decode(space.encode(DEFAULT[family])) == DEFAULT[family]


@pytest.mark.parametrize("family", ["B", "C"])
def test_cifar_builds_trains_a_step_and_round_trips(family, tmp_path):
    _train_step_and_round_trip(ENTRY[family]("cifar", classes=5), 32, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["B", "C"])
def test_mobile_at_full_size(family, tmp_path):
    """The mobile configurations at 224 px (their parameters do not shrink with the input,
    so a smaller input would save little of this test's time)."""
    model = ENTRY[family]("mobile")
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)
    _train_step_and_round_trip(model, 224, tmp_path)


def _train_step_and_round_trip(model, size, tmp_path):
    import keras

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, size, size, 3)).astype("float32")
    y = np.array([0, model.output_shape[-1] - 1])
    model.compile(optimizer=nk.FusedAdam(1e-3), loss="sparse_categorical_crossentropy")
    nk.prepare_training(model, x, y)  # one trace of the train step instead of two
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored(x, training=False), model(x, training=False), atol=1e-5)


@pytest.mark.parametrize("call,message", [
    (lambda: nk.NASNetB("large"), r"`variant` must be one of \['cifar', 'mobile'\] for "
                                  r"NASNet-B, got 'large'"),
    (lambda: nk.NASNetC("tiny"), r"`variant` must be one of \['cifar', 'mobile'\] for "
                                 r"NASNet-C, got 'tiny'"),
    (lambda: nk.NASNetC("cifar", genotype=nk.NASNET_B),
     r"`genotype` for NASNetC must be a NASNet-C style genotype \(2 inputs per cell, "
     r"output_mode='concat'\); got one with 4 inputs and output_mode='pass' \(NASNet-B "
     r"style: use NASNetB\)"),
    (lambda: nk.NASNetB("cifar", genotype=nk.NASNET_C.to_dict()),
     r"`genotype` for NASNetB must be a NASNet-B style genotype \(4 inputs per cell, "
     r"output_mode='pass'\); got one with 2 inputs and output_mode='concat' \(NASNet-C "
     r"style: use NASNetC\)"),
])
def test_bad_variant_and_cell_style(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_any_two_input_concat_cell_is_accepted_by_nasnetc():
    """NASNetC takes any two-input concat-style cell (here NASNet-A's, 6 F wide, so P
    must be a multiple of 24: the paper's 640 is not)."""
    with pytest.raises(ValueError, match="`penultimate_filters` must be a positive multiple of 24"):
        nk.NASNetC("cifar", genotype=nk.NASNET_A)
    model = nk.NASNetC("cifar", genotype=nk.NASNET_A, penultimate_filters=648)
    assert model.name == "nasnet_c_cifar" and model.output_shape == (None, 10)


def test_provenance_is_stated_wherever_the_cells_are_offered():
    """Docstrings, the README and the model cards say who found the cells."""
    texts = {"NASNetB": nk.NASNetB.__doc__, "NASNetC": nk.NASNetC.__doc__}
    for family in "bc":
        with open(os.path.join(ROOT, "pretrained", "cards", f"nasnet_{family}.md")) as f:
            texts[f"card nasnet_{family}"] = f.read()
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    texts["README"] = readme[readme.index("### NASNet-B and NASNet-C"):]
    for where, text in texts.items():
        flat = " ".join(text.split())
        assert "nasnet_search" in flat, where
        assert "not the paper's cells" in flat, where


def test_command_line_model_names():
    """`nasnet-keras finetune|benchmark --model NASNetB:cifar` etc. build the right network."""
    from nasnet_keras import cli

    assert cli._default_size("NASNetC:mobile") == 224 and cli._default_size("NASNetB:cifar") == 32
    model = cli._variant_model("NASNetB:cifar", input_shape=(32, 32, 3), classes=3)
    assert model.name == "nasnet_b_cifar" and model.output_shape == (None, 3)


def test_imagenet_weights_are_refused_for_searched_cells():
    with pytest.raises(ValueError, match="`weights='imagenet'` exists only for NASNet-A"):
        nk.NASNetC("mobile", weights="imagenet", include_top=False, input_shape=(64, 64, 3))
