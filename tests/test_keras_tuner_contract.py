"""keras-tuner's contract, held by every oracle and by `NASTuner`.

What keras-tuner users rely on (its own tests are the guide): objective directions
inferred from Keras' registry, ``trial.score`` as the metric's best value, the
``Oracle``'s ``hyperparameters`` / ``*_new_entries`` arguments, ``objective=None``,
``max_trials=None``, and the ``Tuner``'s ``executions_per_trial``,
``distribution_strategy``, ``max_model_size``, callbacks, ``HyperModel.fit``,
``get_best_models``, ``search(verbose=0)`` and its fatal errors.  Children here are
a one-layer model (the contract, not training, is under test).
"""

import copy
import json
import os

import keras
import keras_tuner as kt
import numpy as np
import pytest
from keras_tuner.engine.trial import TrialStatus

from nasnet_search import (EvolutionOracle, NASNetSearchSpace, NASTuner, RandomOracle, RLOracle,
                           SyntheticLandscape, load_results, simulate)

SMALL = NASNetSearchSpace(num_blocks=2)
ORACLES = {
    "random": lambda **kw: RandomOracle(SMALL, **kw),
    "evolution": lambda **kw: EvolutionOracle(SMALL, population_size=3, sample_size=2, **kw),
    "rl": lambda **kw: RLOracle(SMALL, settings={"batch_size": 2}, **kw),
}
X = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
Y = (X[:, 0] > 0).astype("int32")


def tiny_build(hp):
    """A hypermodel that reads the architecture (as users do) and builds a tiny model."""
    SMALL.decode(SMALL.values_from_hp(hp))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(hp.Float("learning_rate", 1e-3, 1e-1,
                                                          sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _tuner(oracle, tmp_path, name="p", **kwargs):
    kwargs.setdefault("verbose", 0)
    return NASTuner(oracle, hypermodel=kwargs.pop("hypermodel", tiny_build),
                    directory=str(tmp_path), project_name=name, **kwargs)


# -- objectives --------------------------------------------------------------------------------
LOSS_LIKE = ["val_loss", "val_sparse_categorical_crossentropy", "val_binary_crossentropy",
             "val_mape", "val_hinge", "val_kl_divergence", "val_poisson", "mse", "val_mae"]
ACCURACY_LIKE = ["val_accuracy", "accuracy", "val_auc", "val_precision", "val_acc"]


@pytest.mark.parametrize("name", LOSS_LIKE + ACCURACY_LIKE)
def test_objective_directions_are_keras_tuners(name):
    expected = kt.oracles.RandomSearchOracle(objective=name, max_trials=1).objective.direction
    assert expected == ("min" if name in LOSS_LIKE else "max")
    for make in ORACLES.values():
        assert make(objective=name).objective.direction == expected


def test_unknown_and_multiple_objectives_are_refused():
    with pytest.raises(ValueError) as theirs:
        kt.oracles.RandomSearchOracle(objective="custom_metric", max_trials=1)
    for make in ORACLES.values():
        with pytest.raises(ValueError) as ours:
            make(objective="custom_metric")
        assert str(ours.value) == str(theirs.value)  # keras-tuner's own error
        with pytest.raises(ValueError, match="`objective` must be one metric.*Reward"):
            make(objective=["val_loss", "val_accuracy"])
    # An explicit direction works for any name.
    assert RandomOracle(SMALL, objective=kt.Objective("custom_metric", "min")).objective.direction \
        == "min"


@pytest.mark.parametrize("kind", sorted(ORACLES))
def test_scores_follow_keras_tuner_for_a_minimised_objective(tmp_path, kind, capsys):
    oracle = ORACLES[kind](objective="val_loss", max_trials=3, seed=0)
    oracle._set_project_dir(str(tmp_path), "p")
    for loss in (0.7, 0.2, 0.5):
        trial = oracle.create_trial("tuner0")
        oracle.update_trial(trial.trial_id, {"val_loss": loss})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    assert [t.score for t in oracle.get_best_trials(3)] == [0.2, 0.5, 0.7]
    assert [oracle.trials[t].score for t in oracle.end_order] == [0.7, 0.2, 0.5]
    rows = load_results(str(tmp_path / "p"))
    assert [r["reward"] for r in rows] == [-0.7, -0.2, -0.5]  # what the strategy learns from
    tuner = _tuner(oracle, tmp_path)
    tuner.results_summary(1)
    assert "Score: 0.2" in capsys.readouterr().out


def test_objective_none_takes_the_number_run_trial_returns(tmp_path):
    class Quadratic(NASTuner):
        def run_trial(self, trial, *args, **kwargs):
            x = trial.hyperparameters.get("x")
            return (x - 0.3) ** 2

    hps = kt.HyperParameters()
    hps.Float("x", 0.0, 1.0, step=0.1)
    oracle = RandomOracle(SMALL, objective=None, hyperparameters=hps, max_trials=6, seed=0)
    tuner = Quadratic(oracle, hypermodel=tiny_build, directory=str(tmp_path), project_name="q",
                      verbose=0)
    tuner.search()
    assert oracle.objective.name == "default_objective" and oracle.objective.direction == "min"
    best = oracle.get_best_trials(6)
    assert [t.score for t in best] == sorted(t.score for t in best)
    assert best[0].score == pytest.approx((best[0].hyperparameters.get("x") - 0.3) ** 2)


def test_max_trials_none_runs_until_max_time(tmp_path, capsys):
    oracle = RandomOracle(SMALL, objective="reward", max_trials=None, max_time=1.0, seed=0)
    history = simulate(oracle, SyntheticLandscape(SMALL), str(tmp_path))
    assert len(history) > 5 and oracle.budget_spent()
    RandomOracle(SMALL, objective="reward", max_trials=None)
    assert "runs until you stop it" in capsys.readouterr().out


# -- hyperparameters beyond the architecture ---------------------------------------------------
@pytest.mark.parametrize("kind", sorted(ORACLES))
def test_extra_hyperparameters_are_searched_and_survive_resume(tmp_path, kind):
    hps = kt.HyperParameters()
    hps.Float("learning_rate", 1e-4, 1e-1, sampling="log")
    hps.Choice("optimizer", ["adam", "sgd"])
    hps.Boolean("augment")
    hps.Int("units", 16, 64, step=16)
    oracle = ORACLES[kind](objective="reward", hyperparameters=hps, max_trials=12, seed=0)
    assert oracle.decisions[-4:][0].name == "learning_rate"
    lrs = {round(v, 6) for v in np.geomspace(1e-4, 1e-1, 8)}

    def landscape(values):  # the search must see the extras: the reward depends on them
        return float(values["optimizer"] == "adam") + values["units"] / 64

    seen = []
    oracle._set_project_dir(str(tmp_path), "p")
    while True:
        trial = oracle.create_trial("tuner0")
        if trial.status == TrialStatus.STOPPED:
            break
        values = trial.hyperparameters.values
        seen.append({k: values[k] for k in ("learning_rate", "optimizer", "augment", "units")})
        oracle.update_trial(trial.trial_id, {"reward": landscape(values)})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
        if len(seen) == 6:
            break
    assert all(round(s["learning_rate"], 6) in lrs and s["units"] in (16, 32, 48, 64)
               for s in seen)
    assert len({(s["optimizer"], s["units"], s["augment"], s["learning_rate"]) for s in seen}) > 1
    journal = load_results(str(tmp_path / "p"))
    assert journal and all("architecture" in r for r in journal)
    resumed = ORACLES[kind](objective="reward", hyperparameters=hps, max_trials=12, seed=0)
    resumed._set_project_dir(str(tmp_path), "p")
    resumed.reload()
    assert resumed.extra_names == ["learning_rate", "optimizer", "augment", "units"]
    assert _next(resumed) == _next(oracle)


def _next(oracle):
    return oracle.create_trial("probe").hyperparameters.values


def test_a_hypermodels_own_hyperparameters_are_tuned_unless_told_otherwise(tmp_path):
    tuned = RandomOracle(SMALL, objective="val_accuracy", max_trials=3, seed=1)
    _tuner(tuned, tmp_path, "tuned").search(X, Y, validation_data=(X, Y), epochs=1)
    rates = {tuned.trials[t].hyperparameters.get("learning_rate") for t in tuned.end_order}
    assert tuned.extra_names == ["learning_rate"] and len(rates) > 1
    fixed = RandomOracle(SMALL, objective="val_accuracy", max_trials=2, seed=1,
                         tune_new_entries=False)
    _tuner(fixed, tmp_path, "fixed").search(X, Y, validation_data=(X, Y), epochs=1)
    assert fixed.extra_names == []
    assert {t.hyperparameters.get("learning_rate") for t in fixed.trials.values()} == {1e-3}
    closed = RandomOracle(SMALL, objective="val_accuracy", max_trials=2, allow_new_entries=False)
    with pytest.raises(RuntimeError, match="`allow_new_entries` is `False`"):
        _tuner(closed, tmp_path, "closed")


def test_hyperparameters_that_clash_with_the_space_are_refused():
    hps = kt.HyperParameters()
    hps.Choice(SMALL.decisions[0].name, [0, 1])
    with pytest.raises(ValueError, match="which the search space owns"):
        RandomOracle(SMALL, hyperparameters=hps)
    with pytest.raises(TypeError, match="`hyperparameters` must be a keras_tuner.HyperParameters"):
        RandomOracle(SMALL, hyperparameters={"learning_rate": 0.1})


# -- the Tuner ----------------------------------------------------------------------------------
class Counting(keras.callbacks.Callback):
    """Counts epochs; keras-tuner hands each run a deep copy, so the original stays at 0."""

    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def test_get_best_models_loads_the_kept_weights_and_names_keep_checkpoints(tmp_path):
    oracle = RandomOracle(SMALL, objective="val_loss", max_trials=3, seed=0)
    tuner = _tuner(oracle, tmp_path, keep_checkpoints=2)
    tuner.search(X, Y, validation_data=(X, Y), epochs=2)
    best, second = tuner.get_best_models(2)
    for model, trial in zip((best, second), oracle.get_best_trials(2)):
        loss = model.evaluate(X, Y, verbose=0)[0]
        assert loss == pytest.approx(trial.metrics.get_last_value("val_loss"), abs=1e-5)
    with pytest.raises(ValueError, match="were not kept: keep_checkpoints=2 keeps the best 2"):
        tuner.get_best_models(3)


def test_executions_callbacks_tensorboard_and_hypermodel_fit(tmp_path):
    class Fitting(kt.HyperModel):
        calls = []

        def build(self, hp):
            return tiny_build(hp)

        def fit(self, hp, model, *args, **kwargs):
            Fitting.calls.append(len(kwargs["callbacks"]))
            history = model.fit(*args, **kwargs)
            return {"val_accuracy": 0.25 * len(Fitting.calls),
                    "loss": history.history["loss"][-1]}

    counting = Counting()
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))
    oracle = RandomOracle(SMALL, objective="val_accuracy", max_trials=1, seed=0)
    tuner = _tuner(oracle, tmp_path, hypermodel=Fitting(), executions_per_trial=2)
    tuner.search(X, Y, validation_data=(X, Y), epochs=1, callbacks=[counting, board])
    trial = oracle.trials[oracle.end_order[0]]
    assert len(Fitting.calls) == 2  # HyperModel.fit, once per execution
    assert trial.score == pytest.approx((0.25 + 0.5) / 2)  # averaged over the executions
    assert counting.epochs == 0  # each run had its own copy
    runs = sorted(os.listdir(tmp_path / "logs" / trial.trial_id))
    assert runs == ["execution0", "execution1"]


def test_search_verbose_0_prints_nothing(tmp_path, capsys):
    oracle = RandomOracle(SMALL, objective="val_accuracy", max_trials=2, seed=0)
    _tuner(oracle, tmp_path, verbose=1).search(X, Y, validation_data=(X, Y), epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_max_model_size_and_distribution_strategy(tmp_path):
    import tensorflow as tf

    strategies = []

    def build(hp):
        strategies.append(tf.distribute.get_strategy())
        return tiny_build(hp)

    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    oracle = RandomOracle(SMALL, objective="val_accuracy", max_trials=1, seed=0)
    _tuner(oracle, tmp_path, "s", hypermodel=build, distribution_strategy=strategy).search(
        X, Y, validation_data=(X, Y), epochs=1)
    # The first build only finds the hypermodel's hyperparameters (keras-tuner's too).
    assert len(strategies) == 2 and strategies[1] is strategy
    small = RandomOracle(SMALL, objective="val_accuracy", max_trials=1, seed=0)
    _tuner(small, tmp_path, "m", max_model_size=5).search(X, Y, validation_data=(X, Y), epochs=1)
    row, = load_results(str(tmp_path / "m"))
    assert row["status"] == "FAILED" and row["reason"].startswith("Oversized model: 10 parameters")


def test_fatal_errors_are_keras_tuners(tmp_path):
    oracle = RandomOracle(SMALL, objective="val_accuracy", max_trials=2, seed=0)
    with pytest.raises(kt.errors.FatalTypeError, match="return a valid Keras Model"):
        _tuner(oracle, tmp_path, "none", hypermodel=lambda hp: None).search(
            X, Y, validation_data=(X, Y), epochs=1)

    class Uncopyable(keras.callbacks.Callback):
        def __deepcopy__(self, memo):
            raise TypeError("cannot copy")

    oracle = RandomOracle(SMALL, objective="val_accuracy", max_trials=2, seed=0)
    with pytest.raises(kt.errors.FatalValueError, match="should be deep-copyable"):
        _tuner(oracle, tmp_path, "copy").search(X, Y, validation_data=(X, Y), epochs=1,
                                                callbacks=[Uncopyable()])


def test_a_project_of_another_tuner_names_overwrite(tmp_path):
    def plain_build(hp):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int("units", 2, 4))])
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    theirs = kt.RandomSearch(plain_build, objective="val_accuracy", max_trials=1,
                             directory=str(tmp_path), project_name="p")
    theirs.search(X, Y, validation_data=(X, Y), epochs=1, verbose=0)
    with pytest.raises((ValueError, RuntimeError), match="overwrite=True"):
        _tuner(RandomOracle(SMALL, objective="val_accuracy"), tmp_path)
    _tuner(RandomOracle(SMALL, objective="val_accuracy"), tmp_path, overwrite=True)


def test_tuner_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="`executions_per_trial` must be an integer >= 1, got 0"):
        _tuner(RandomOracle(SMALL), tmp_path, executions_per_trial=0)
    with pytest.raises(ValueError, match="`max_model_size` must be a positive number"):
        _tuner(RandomOracle(SMALL), tmp_path, max_model_size=-1)
    with pytest.raises(ValueError, match="Unrecognized arguments \\['epochs'\\]"):
        _tuner(RandomOracle(SMALL), tmp_path, epochs=3)
    assert json.dumps(copy.deepcopy(RandomOracle(SMALL).get_state()))  # plain JSON state


def test_a_project_written_with_negated_scores_is_converted_on_resume(tmp_path):
    oracle = RandomOracle(SMALL, objective="val_loss", max_trials=4, seed=0)
    oracle._set_project_dir(str(tmp_path), "p")
    for loss in (0.7, 0.2):
        trial = oracle.create_trial("tuner0")
        oracle.update_trial(trial.trial_id, {"val_loss": loss})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    # As earlier versions wrote it: scores negated, no convention recorded.
    project = tmp_path / "p"
    state = json.loads((project / "oracle.json").read_text())
    del state["nas"]["score_convention"]
    (project / "oracle.json").write_text(json.dumps(state))
    for path in project.glob("trial_*/trial.json"):
        data = json.loads(path.read_text())
        data["score"] = -data["score"]
        path.write_text(json.dumps(data))
    for _ in range(2):  # converted once, and stays converted
        resumed = RandomOracle(SMALL, objective="val_loss", max_trials=4, seed=0)
        resumed._set_project_dir(str(tmp_path), "p")
        resumed.reload()
        assert [t.score for t in resumed.get_best_trials(2)] == [0.2, 0.7]
