"""The NAS-2017 recurrent-cell search: space, text data, language models, reward, command."""

import math
import os

import keras
import numpy as np
import pytest

import nasnet_keras as nk
from nasnet_keras.language_model import Perplexity, ReversibleEmbedding, language_model
from nasnet_keras.text import load_text
from nasnet_search import RecurrentCellSearchSpace, Reward, recurrent_reward
from nasnet_search.cli import run_command as search_cli


def test_space_decisions_order_and_size():
    space = RecurrentCellSearchSpace()
    names = [d.name for d in space.decisions]
    assert len(names) == 34
    assert names[:4] == ["node0/combination", "node0/activation", "node1/combination",
                         "node1/activation"]
    assert names[-4:] == ["inject/combination", "inject/activation", "cell_index/c",
                          "cell_index/inject"]
    assert space.size == 8 ** 16 * 15 ** 2  # about 6.3e16, the paper's "6 x 10^16"
    assert math.isclose(space.size, 6.33e16, rel_tol=0.01)
    assert RecurrentCellSearchSpace(base=2).size == 8 ** 4 * 3 ** 2
    assert space.decode(space.encode(nk.NAS_CELL)) == nk.NAS_CELL
    assert space.encode(space.decode_actions([0] * 34))["cell_index/inject"] == 0


def test_thousands_of_random_cells_round_trip_and_run():
    space = RecurrentCellSearchSpace(combinations=("add", "elem_mult", "max"),
                                     activations=("identity", "tanh", "sigmoid", "relu", "sin"))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3)).astype("float32")
    states = [np.zeros((2, 4), "float32"), np.zeros((2, 4), "float32")]
    for i in range(3000):
        actions = space.random_actions(rng)
        spec = space.decode_actions(actions)
        assert space.actions_from_values(space.encode(spec)) == actions
        assert space.arch_from_dict(space.arch_to_dict(spec)) == spec
        if i % 10 == 0:  # 300 of them as cells, one step each
            out, (c, h) = nk.RecurrentCell(spec, 4)(x, states)
            assert out.shape == (2, 4) and c.shape == (2, 4)
            assert np.all(np.isfinite(np.asarray(out))) and np.all(np.isfinite(np.asarray(c)))


def test_space_bad_input():
    with pytest.raises(ValueError, match="`base` must be a power of two >= 2, got 6"):
        RecurrentCellSearchSpace(base=6)
    with pytest.raises(ValueError, match=r"`activations`: unknown names \['gelu'\]"):
        RecurrentCellSearchSpace(activations=("tanh", "gelu"))
    with pytest.raises(ValueError, match="`combinations` must be a non-empty list"):
        RecurrentCellSearchSpace(combinations=())
    with pytest.raises(ValueError, match="base 8; this space has base=4"):
        RecurrentCellSearchSpace(base=4).encode(nk.NAS_CELL)
    with pytest.raises(ValueError, match="node3/combination is 'elem_mult'; this space allows"):
        RecurrentCellSearchSpace(combinations=("add",)).encode(nk.NAS_CELL)


def test_paper_reward_is_80_over_perplexity_squared():
    reward = recurrent_reward()
    assert reward({"val_perplexity": 40.0}) == pytest.approx(80 / 1600)
    assert reward.score({"val_perplexity": 40.0}) == 40.0  # keras-tuner's score: the metric
    assert reward.from_score(40.0) == pytest.approx(0.05)
    assert math.isnan(reward({"val_perplexity": float("nan")}))
    assert math.isnan(reward({"val_accuracy": 0.5}))
    # Oracles given no objective use it for this space (and val_accuracy for the others).
    from nasnet_search import EvolutionOracle, NASNetSearchSpace, RandomOracle

    oracle = EvolutionOracle(RecurrentCellSearchSpace(), max_trials=2)
    assert oracle.reward.perplexity_constant == 80 and oracle.objective.name == "val_perplexity"
    assert oracle.objective.direction == "min"
    assert RandomOracle(NASNetSearchSpace(num_blocks=2), max_trials=2).objective.name == \
        "val_accuracy"
    with pytest.raises(ValueError, match="`direction` must be 'min'"):
        Reward("val_perplexity", "max", perplexity_constant=80)
    with pytest.raises(ValueError, match="`perplexity_constant` must be a number > 0"):
        Reward("val_perplexity", "min", perplexity_constant=0)


def test_text_windows_are_shifted_by_one_and_split_at_the_end(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("abcdefghij" * 30 + "XYZ" * 10, encoding="utf8")
    (x, y), (xv, yv), info = load_text(f"text:{corpus}", sequence_length=8,
                                       validation_fraction=0.1)
    assert x.shape[1] == 8 and x.dtype == np.int32
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    np.testing.assert_array_equal(x[1:, 0], y[:-1, -1])  # consecutive windows
    assert info.decode(x[0]) == "abcdefgh" and info.decode(y[0]) == "bcdefghi"
    # The vocabulary is the training part's; the validation part (the text's last 33
    # characters) holds characters it lacks, which become token 0.
    assert info.vocab_size == 1 + 10
    assert info.decode(xv[0]) == "hij?????"
    (x, _), (xv, _), info = load_text("text:pydoc", sequence_length=32, max_sequences=50)
    assert x.shape == (50, 32) and xv.shape == (5, 32) and info.characters > 100_000


def test_text_bad_input(tmp_path):
    empty, short = tmp_path / "empty.txt", tmp_path / "short.txt"
    empty.write_text("")
    short.write_text("just a few words")
    with pytest.raises(ValueError, match=r"`dataset` 'text:.*empty.txt' is too short: 0 characters"):
        load_text(f"text:{empty}")
    with pytest.raises(ValueError, match=r"too short: 16 characters .*sequence_length \+ 1 = 65"):
        load_text(f"text:{short}", sequence_length=64)
    with pytest.raises(ValueError, match="no such file"):
        load_text(f"text:{tmp_path / 'missing.txt'}")
    with pytest.raises(ValueError, match="`dataset` must be text:pydoc | text:PATH, got 'pydoc'"):
        load_text("pydoc")
    with pytest.raises(ValueError, match="`sequence_length` must be a positive integer"):
        load_text("text:pydoc", sequence_length=0)


def test_language_models_of_every_cell_and_tied_embeddings(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 12, (4, 6)).astype("int32")
    counts = {}
    for cell in ("lstm", "gru", "nas", nk.NAS_CELL):
        model = language_model(cell, 12, units=8, sequence_length=6)
        assert model(x).shape == (4, 6, 12)
        counts[str(cell)[:8]] = model.count_params()
    tied = language_model(nk.NAS_CELL, 12, units=8, tied=True)
    untied = language_model(nk.NAS_CELL, 12, units=8)
    assert untied.count_params() - tied.count_params() == 8 * 12 + 12  # no output weights
    probabilities = np.asarray(tied(x))
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    path = tmp_path / "tied.keras"
    tied.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("embedding"), ReversibleEmbedding)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), probabilities, atol=1e-6)
    with pytest.raises(ValueError, match="`tied=True` needs `embedding_dim` == `units`"):
        language_model("nas", 12, units=8, embedding_dim=4, tied=True)
    with pytest.raises(ValueError, match="`cell` must be one of"):
        language_model("rnn", 12)


def test_perplexity_is_exp_of_the_mean_token_cross_entropy():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(5), size=(3, 4)).astype("float32")
    targets = rng.integers(0, 5, (3, 4))
    metric = Perplexity()
    metric.update_state(targets, probs)
    expected = np.exp(-np.mean(np.log(np.take_along_axis(probs, targets[..., None], -1))))
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)
    again = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert isinstance(again, Perplexity) and again.name == "perplexity"


def test_short_search_on_pydoc_exports_and_reports(tmp_path, capfd):
    import logging

    common = ["--directory", str(tmp_path), "--project-name", "lm"]
    warned = []
    collect = logging.Handler()
    collect.emit = lambda record: warned.append(record.getMessage())
    tensorflow_logger = logging.getLogger("tensorflow")
    tensorflow_logger.addHandler(collect)
    try:
        tuner = search_cli(["run", "--space", "recurrent", "--dataset", "text:pydoc",
                            "--algorithm", "reinforce", "--max-trials", "4", "--max-examples",
                            "96", "--sequence-length", "16", "--units", "8", *common])
    finally:
        tensorflow_logger.removeHandler(collect)
    trials = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    assert len(trials) == 4
    for trial in trials:  # keras-tuner's score is the validation perplexity itself
        assert trial.score == trial.metrics.get_last_value("val_perplexity") > 1
    out = capfd.readouterr()
    # Without NASTuner's filter, TensorFlow warns about retracing from the fourth child on.
    assert not [m for m in warned if "retracing" in m]
    assert "retracing" not in out.out + out.err
    assert "RecurrentCellSearchSpace: 34 decisions" in out.out
    arch, model = search_cli(["export", *common])
    spec = nk.RecurrentCellSpec.from_json(open(arch).read())
    assert spec == tuner.best_architecture()
    assert keras.saving.load_model(model).output_shape[-1] > 50  # the characters of pydoc
    files = search_cli(["report", *common])
    assert any(f.endswith("best_cell.png") for f in files)
    report = open(os.path.join(tmp_path, "lm", "report", "report.md")).read()
    assert "recurrent cell, base 8" in report


@pytest.mark.parametrize("argv, message", [
    (["--space", "recurrent", "--dataset", "digits"],
     "--dataset must be text:pydoc or text:PATH, got 'digits'"),
    (["--dataset", "text:pydoc"], "--dataset text:pydoc is text; it needs --space recurrent"),
    (["--space", "recurrent", "--weight-sharing", "--max-time", "60"],
     "--weight-sharing supports --space nasnet"),
    (["--space", "recurrent", "--recurrent-base", "6"], "--recurrent-base must be a power of two"),
])
def test_search_command_bad_recurrent_arguments(tmp_path, argv, message):
    with pytest.raises(SystemExit, match=message):
        search_cli(["run", "--directory", str(tmp_path), *argv])


def test_search_command_short_corpus_is_a_clear_error(tmp_path, capsys):
    from nasnet_search.cli import main

    corpus = tmp_path / "tiny.txt"
    corpus.write_text("too short")
    code = main(["run", "--space", "recurrent", "--dataset", f"text:{corpus}",
                 "--directory", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "`dataset` 'text:" in err and "is too short: 9 characters" in err
