"""NASTuner end to end on digits, failing children, export, the command line, data sets."""

import gc
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras_tuner.engine.trial import TrialStatus

import nasnet_keras as nk
from nasnet_keras.demo import load_digits_dataset
from nasnet_search import (MacroSearchSpace, NASNetSearchSpace, NASTuner, RandomOracle, RLOracle,
                           load_results)
from nasnet_search.cli import run_command as cli
from nasnet_search.datasets import load_dataset
from conftest import last_op_traceback


@pytest.fixture(scope="module")
def digits():
    (x, y), (xv, yv) = load_digits_dataset(size=32, seed=0)
    return (x[:320], y[:320]), (xv[:96], yv[:96])


class _FreezeProbe(keras.callbacks.Callback):
    seen = []  # a class attribute: keras-tuner deep-copies callbacks for each run
    names = []

    def on_train_begin(self, logs=None):
        _FreezeProbe.seen.append(gc.get_freeze_count())
        _FreezeProbe.names.extend({v.value.name for v in self.model.weights})


def test_rl_search_on_digits_end_to_end(tmp_path, digits, capsys):
    (x, y), val = digits
    space = NASNetSearchSpace(num_blocks=2)
    oracle = RLOracle(space, algorithm="ppo", max_trials=3, seed=0, settings={"batch_size": 2})
    tuner = NASTuner(oracle, input_shape=(32, 32, 3), classes=10,
                     child_kwargs={"num_cells": 1, "filters": 4},
                     optimizer=lambda: keras.optimizers.Adam(3e-3),
                     directory=str(tmp_path), project_name="p")
    _FreezeProbe.seen.clear()
    _FreezeProbe.names.clear()
    tuner.search(x, y, validation_data=val, epochs=1, batch_size=64, callbacks=[_FreezeProbe()])
    # The garbage collector skipped the modules' objects while children trained, and only then.
    assert len(_FreezeProbe.seen) == 3 and min(_FreezeProbe.seen) > 100_000
    assert gc.get_freeze_count() == 0
    # Children's variables were made under quick_variable_creation, and only they.
    assert set(_FreezeProbe.names) == {"Variable:0"}
    assert keras.Variable(1.0, name="after").value.name == "after:0"

    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("trial ")]
    assert [l.split()[1] for l in lines] == ["1/3", "2/3", "3/3"]
    assert all("val_accuracy 0." in l and "ETA" in l for l in lines)
    rows = load_results(str(tmp_path / "p"))
    assert [r["status"] for r in rows] == ["COMPLETED"] * 3
    assert all(0.0 <= r["reward"] <= 1.0 and r["metric:params"] > 0 for r in rows)
    assert oracle.policy_version == 1  # one controller update after two rewards

    best = tuner.best_genotype()
    assert isinstance(best, nk.Genotype)
    best_row = max(rows, key=lambda r: r["reward"])
    assert space.arch_from_dict(best_row["architecture"]) == best
    kept = sorted(p.parent.name for p in (tmp_path / "p").glob("trial_*/child.weights.h5"))
    assert kept == [f"trial_{best_row['trial_id']}"]  # keep_checkpoints="best"

    arch_path, model_path = tuner.export(str(tmp_path / "export"))
    assert nk.Genotype.from_json(open(arch_path).read()) == best
    exported = keras.saving.load_model(model_path)
    trained = tuner.best_model()
    np.testing.assert_allclose(exported.predict(val[0][:8], verbose=0),
                               trained.predict(val[0][:8], verbose=0), atol=1e-6)
    _, accuracy = trained.evaluate(*val, verbose=0)
    assert accuracy == pytest.approx(best_row["metric:val_accuracy"], abs=1e-6)


def _macro_params(space, actions):
    keras.backend.clear_session()
    return space.build_model(space.decode_actions(actions), input_shape=(32, 32, 3),
                             classes=10).count_params()


def test_half_the_children_fail_and_the_search_finishes_its_budget(tmp_path, digits):
    (x, y), val = digits
    space = MacroSearchSpace(num_layers=2, filters=(4, 64))
    rng = np.random.default_rng(0)  # the RandomOracle's stream with seed=0
    sizes = [_macro_params(space, space.random_actions(rng)) for _ in range(6)]
    budget = float(np.median(sizes))
    oracle = RandomOracle(space, max_trials=6, seed=0)
    tuner = NASTuner(oracle, input_shape=(32, 32, 3), classes=10, max_params=budget,
                     directory=str(tmp_path), project_name="p", verbose=0)
    tuner.search(x, y, validation_data=val, epochs=1, batch_size=64)
    rows = load_results(str(tmp_path / "p"))
    assert len(rows) == 6
    failed = [r for r in rows if r["status"] == "FAILED"]
    assert [r["status"] == "FAILED" for r in rows] == [s > budget for s in sizes]
    assert 2 <= len(failed) <= 4
    assert all(r["reason"].startswith("over the parameter budget") for r in failed)
    assert all(r["reward"] is not None for r in rows if r["status"] == "COMPLETED")


def test_nan_and_unbuildable_children_fail_with_their_reason(tmp_path, digits):
    (x, y), val = digits
    nan_tuner = NASTuner(RandomOracle(MacroSearchSpace(num_layers=1), max_trials=1, seed=0),
                         directory=str(tmp_path), project_name="nan", verbose=0)
    x_nan = x.copy()
    x_nan[::7] = np.nan  # a corrupt batch
    nan_tuner.search(x_nan, y, validation_data=val, epochs=2, batch_size=64)
    row, = load_results(str(tmp_path / "nan"))
    # The loss, or (where a fused BatchNorm+ReLU kernel turned the NaN into 0) the weights.
    assert row["status"] == "FAILED" and "NaN or infinite" in row["reason"]
    assert "the child diverged" in row["reason"] or "loss at epoch" in row["reason"]

    # 16 px is below NASNet's minimum: every child fails to build; the search stops cleanly.
    oracle = RandomOracle(NASNetSearchSpace(num_blocks=1), max_trials=10, seed=0,
                          max_consecutive_failed_trials=2)
    tuner = NASTuner(oracle, input_shape=(16, 16, 3), classes=10, directory=str(tmp_path),
                     project_name="unbuildable", verbose=0)
    tuner.search(x[:, :16, :16], y, validation_data=(val[0][:, :16, :16], val[1]), epochs=1)
    rows = load_results(str(tmp_path / "unbuildable"))
    assert len(rows) == 2 and "2 trials in a row failed" in oracle.stop_reason
    assert all(r["reason"].startswith("cannot build the child: ValueError: `input_shape`")
               for r in rows)


def test_30_trials_keep_memory_bounded_and_only_the_best_k_checkpoints():
    # A fresh process: the RSS of this one reflects every test before it.
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "search_memory.py")
    out = subprocess.run([sys.executable, script, "--trials", "30", "--keep-checkpoints", "2",
                          "--json"], capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    rss = result["rss_mb"]
    assert len(rss) == 30
    # A fixed bound; and no growth of the search's own beyond what TensorFlow keeps for each
    # traced train step (a plain Keras build-and-fit loop over the same children).
    assert rss[-1] - rss[0] < 250, rss
    assert result["per_trial_mb"] < result["plain_per_model_mb"] + 1.0, result
    assert result["kept_checkpoints"] == result["best_trials"] and len(result["best_trials"]) == 2


def test_command_line_run_resume_report_export(tmp_path, capsys):
    common = ["--directory", str(tmp_path), "--project-name", "cli"]
    # The first two trials on a chief and two workers, the third in this process.
    assert cli(["run", "--space", "macro", "--macro-layers", "2", "--algorithm", "evolution",
                "--max-trials", "2", "--max-examples", "200", "--keep-checkpoints", "all",
                "--workers", "2"] + common) == 0
    out = capsys.readouterr().out
    assert "[chief] Search over: 2 trials ended." in out
    assert "[launcher] chief exited with code 0; tuner0 0, tuner1 0." in out
    assert len(list(tmp_path.glob("cli/trial_*/child.weights.h5"))) == 2
    with pytest.raises(SystemExit, match="already holds a search; continue it with"):
        cli(["run", "--space", "macro", "--quiet"] + common)
    cli(["resume", "--max-trials", "3", "--quiet"] + common)
    rows = load_results(str(tmp_path / "cli"))
    # Trials 1-2 ran on the workers, trial 3 in this process (keras-tuner's id: tuner0).
    assert len(rows) == 3 and {r["tuner_id"] for r in rows[:2]} <= {"tuner0", "tuner1"}
    assert rows[2]["tuner_id"] == "tuner0"
    files = cli(["report"] + common)
    names = {os.path.basename(f) for f in files}
    assert {"rewards.png", "trials.csv", "report.md", "best_architecture.json"} <= names
    report = open(tmp_path / "cli" / "report" / "report.md").read()
    assert "EvolutionOracle" in report and "Best architecture" in report
    arch_path, model_path = cli(["export"] + common)
    assert json.load(open(arch_path))["layers"]
    assert keras.saving.load_model(model_path).output_shape == (None, 10)
    with pytest.raises(SystemExit, match="no search at"):
        cli(["resume", "--directory", str(tmp_path), "--project-name", "missing"])
    with pytest.raises(SystemExit):
        cli(["run", "--algorithm", "bayesian"] + common)
    assert "invalid choice: 'bayesian'" in capsys.readouterr().err


def test_folder_dataset_and_bad_dataset_names(tmp_path):
    for label in ("cat", "dog"):
        os.makedirs(tmp_path / "images" / label)
        for i in range(3):
            image = np.full((20, 24, 3), 40 * i + (100 if label == "dog" else 0), "uint8")
            keras.utils.save_img(str(tmp_path / "images" / label / f"{i}.png"), image)
    (x, y), (xv, yv), classes = load_dataset(f"folder:{tmp_path / 'images'}", image_size=32,
                                             validation_fraction=0.34)
    assert classes == 2 and x.shape[1:] == (32, 32, 3) and len(x) + len(xv) == 6
    assert x.min() >= -1.0 and x.max() <= 1.0 and set(y) | set(yv) == {0, 1}
    with pytest.raises(ValueError, match="`dataset` must be digits \\| tfds:NAME \\| folder:PATH"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="folder '/nonexistent' does not exist"):
        load_dataset("folder:/nonexistent")
    with pytest.raises(ValueError, match="`validation_fraction` must be in \\(0, 1\\)"):
        load_dataset("digits", validation_fraction=1.5)


def test_tfds_dataset_with_mock_data_offline():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=20):
        (x, y), (xv, yv), classes = load_dataset("tfds:mnist", image_size=32, seed=1)
    assert classes == 10 and x.shape == (16, 32, 32, 3) and xv.shape == (4, 32, 32, 3)
    assert x.min() >= -1.0 and x.max() <= 1.0 and y.dtype == np.int32


def test_tuner_bad_input():
    space = MacroSearchSpace(num_layers=1)
    with pytest.raises(ValueError, match="`keep_checkpoints` must be one of"):
        NASTuner(RandomOracle(space), keep_checkpoints="some")
    with pytest.raises(ValueError, match="`max_params` must be a positive number or None, got -5"):
        NASTuner(RandomOracle(space), max_params=-5)
    import keras_tuner as kt

    with pytest.raises(TypeError, match="must be a nasnet_search oracle"):
        NASTuner(kt.oracles.RandomSearchOracle(objective="val_accuracy", max_trials=1))


class _SettingsProbe(keras.callbacks.Callback):
    seen = []  # a class attribute: keras-tuner deep-copies callbacks for each run

    def on_train_begin(self, logs=None):
        from keras.src.utils.rng_utils import get_random_seed

        _SettingsProbe.seen.append((self.model.layers[-1].compute_dtype, get_random_seed()))


def _search_with(probe, tmp_path, digits, max_trials=1):
    """A random search of one-layer macro children (128 digits, one epoch each) with the
    callback class ``probe``, whose class attribute ``seen`` starts empty."""
    (x, y), val = digits
    tuner = NASTuner(RandomOracle(MacroSearchSpace(num_layers=1), max_trials=max_trials, seed=0),
                     directory=str(tmp_path), project_name="p", verbose=0)
    probe.seen.clear()
    tuner.search(x[:128], y[:128], validation_data=val, epochs=1, batch_size=64,
                 callbacks=[probe()])


def test_children_keep_the_users_keras_settings(tmp_path, digits):
    # Keras' clear_session, run before each child, resets the global dtype policy and seed.
    from keras.src.backend.common import global_state

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(7)
    try:
        _search_with(_SettingsProbe, tmp_path, digits, max_trials=2)
        assert _SettingsProbe.seen == [("bfloat16", 7)] * 2
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        assert [r["status"] for r in load_results(str(tmp_path / "p"))] == ["COMPLETED"] * 2
    finally:
        keras.mixed_precision.set_global_policy("float32")
        global_state.set_global_attribute("global_random_seed", None)


class _TracebackProbe(keras.callbacks.Callback):
    seen = []

    def on_train_end(self, logs=None):
        _TracebackProbe.seen.append(last_op_traceback())


def test_children_are_traced_without_op_tracebacks_and_the_users_graphs_after_with(
        tmp_path, digits):
    # TensorFlow's record of the Python stack that made each op costs a child's first call.
    _search_with(_TracebackProbe, tmp_path, digits)
    assert _TracebackProbe.seen == [None]
    assert last_op_traceback()


class _CollectorProbe(keras.callbacks.Callback):
    seen = []

    def on_train_begin(self, logs=None):
        _CollectorProbe.seen.append((gc.isenabled(), gc.get_threshold()))


@pytest.mark.parametrize("collector_on", [True, False])
def test_full_collections_only_between_children_and_the_thresholds_restored(
        tmp_path, digits, collector_on):
    # Each child's clearing collects; automatic full collections during a child's tracing
    # found little.  A process that turned the collector off is left as it is.
    before = gc.get_threshold()
    if not collector_on:
        gc.disable()
    try:
        _search_with(_CollectorProbe, tmp_path, digits)
        ((enabled, during),) = _CollectorProbe.seen
        assert enabled == collector_on
        assert during[:2] == before[:2]
        assert (during[2] > 1_000_000) == collector_on
        assert gc.get_threshold() == before and gc.isenabled() == collector_on
    finally:
        gc.enable()


def test_clearing_between_children_keeps_tensorflows_kernel_cache(monkeypatch):
    # Keras' clear_session empties TensorFlow's kernel cache, where traced functions (the
    # controller's sampler and update) stay instantiated; the search's clearing keeps it
    # and still resets Keras' state.
    from tensorflow.python.eager import context

    from nasnet_search.tuner import clear_session_keeping_settings

    cleared = []
    monkeypatch.setattr(type(context.context()), "clear_kernel_cache",
                        lambda self: cleared.append(True))
    keras.layers.Dense(1)
    clear_session_keeping_settings()
    assert cleared == []
    assert keras.layers.Dense(1).name == "dense"  # Keras' name counters were reset
    assert "clear_kernel_cache" not in vars(context.context())  # the guard is gone
    keras.backend.clear_session()
    assert cleared == [True]
