"""Oracles on synthetic rewards: learning, state, failures, duplicates, rewards."""

import json
import os

import numpy as np
import pytest
from keras_tuner.engine.trial import TrialStatus

from nasnet_search import (EvolutionOracle, NASNetSearchSpace, RandomOracle, Reward, RLOracle,
                           SyntheticLandscape, simulate)

SMALL = NASNetSearchSpace(num_blocks=2)


def _last_mean(history, n=100):
    return float(np.mean([r for _, r in history[-n:]]))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_controllers_beat_random_search_within_300_trials(tmp_path, seed):
    space = NASNetSearchSpace()  # the full NASNet space: 50 decisions, 5e36 cells
    landscape = SyntheticLandscape(space, seed=seed, noise=0.02)
    means = {}
    for name, oracle in [
        ("random", RandomOracle(space, objective="reward", max_trials=300, seed=seed)),
        ("ppo", RLOracle(space, algorithm="ppo", objective="reward", max_trials=300, seed=seed)),
        ("reinforce", RLOracle(space, algorithm="reinforce", objective="reward", max_trials=300,
                               seed=seed)),
        ("evolution", EvolutionOracle(space, objective="reward", max_trials=300, seed=seed)),
    ]:
        history = simulate(oracle, landscape, str(tmp_path), project_name=name)
        assert len(history) == 300
        means[name] = _last_mean(history)
    # Random search stays near the expected agreement of a uniform sample (~0.26).
    assert means["random"] < 0.32, means
    for name in ("ppo", "reinforce", "evolution"):
        assert means[name] > means["random"] + 0.1, means


def _next_values(oracle):
    trial = oracle.create_trial("probe")
    return trial.hyperparameters.values


@pytest.mark.parametrize("make", [
    lambda: RLOracle(SMALL, objective="reward", max_trials=30, seed=4, settings={"batch_size": 3}),
    lambda: RandomOracle(SMALL, objective="reward", max_trials=30, seed=4),
    lambda: EvolutionOracle(SMALL, population_size=4, sample_size=2, objective="reward",
                            max_trials=30, seed=4),
], ids=["rl", "random", "evolution"])
def test_state_round_trip_gives_the_same_next_proposal(tmp_path, make):
    landscape = SyntheticLandscape(SMALL, seed=1)
    first = make()
    first.max_trials = 8
    simulate(first, landscape, str(tmp_path))
    json.dumps(first.get_state())  # plain JSON
    assert not [f for f in os.listdir(tmp_path / "synthetic") if f.startswith(".tmp")]
    # A kill half-way through a save leaves its temporary file; resuming removes an old one.
    orphan, fresh = (tmp_path / "synthetic" / ".tmp_a_oracle.json",
                     tmp_path / "synthetic" / ".tmp_b_oracle.json")
    orphan.write_text("{")
    fresh.write_text("{")
    os.utime(orphan, (1e9, 1e9))
    second = make()
    second._set_project_dir(str(tmp_path), "synthetic")
    second.reload()
    assert not orphan.exists() and fresh.exists()  # a fresh one may be a live worker's
    first.max_trials = second.max_trials = 30
    assert _next_values(first) == _next_values(second)


def test_resume_with_another_space_or_strategy_is_refused(tmp_path):
    simulate(RandomOracle(SMALL, objective="reward", max_trials=3, seed=0),
             SyntheticLandscape(SMALL), str(tmp_path))
    other = RandomOracle(NASNetSearchSpace(num_blocks=3), objective="reward", max_trials=3)
    other._set_project_dir(str(tmp_path), "synthetic")
    with pytest.raises(ValueError, match="different space"):
        other.reload()
    evo = EvolutionOracle(SMALL, objective="reward", max_trials=3)
    evo._set_project_dir(str(tmp_path), "synthetic")
    with pytest.raises(ValueError, match="searched with RandomOracle; it cannot be resumed with "
                                         "EvolutionOracle"):
        evo.reload()


def test_a_corrupt_controller_file_is_detected(tmp_path):
    oracle = RLOracle(SMALL, objective="reward", max_trials=4, seed=0, settings={"batch_size": 2})
    simulate(oracle, SyntheticLandscape(SMALL), str(tmp_path))
    path = tmp_path / "synthetic" / oracle.controller_file
    assert oracle.controller_file == "controller_v2.npz"
    assert sorted(p.name for p in path.parent.glob("controller_*")) == ["controller_v2.npz"]
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    again = RLOracle(SMALL, objective="reward", max_trials=4, seed=0, settings={"batch_size": 2})
    again._set_project_dir(str(tmp_path), "synthetic")
    again.reload()
    with pytest.raises(ValueError, match="does not match the checksum"):
        again.controller


def test_failed_trials_feed_the_penalty_or_are_skipped(tmp_path):
    landscape = SyntheticLandscape(SMALL)
    penalised = RLOracle(SMALL, objective="reward", max_trials=5, seed=0, failed_reward=-1.0,
                         settings={"batch_size": 100})
    simulate(penalised, landscape, str(tmp_path), "a", fails=lambda i: i % 2 == 0)
    assert [b["reward"] for b in penalised.buffer][::2] == [-1.0, -1.0, -1.0]
    skipped = RLOracle(SMALL, objective="reward", max_trials=5, seed=0, failed_reward=None,
                       settings={"batch_size": 100})
    simulate(skipped, landscape, str(tmp_path), "b", fails=lambda i: i % 2 == 0)
    assert len(skipped.buffer) == 2
    statuses = [skipped.trials[t].status for t in skipped.end_order]
    assert statuses.count(TrialStatus.FAILED) == 3


def test_a_run_of_failures_stops_cleanly(tmp_path):
    oracle = RandomOracle(SMALL, objective="reward", max_trials=50, seed=0,
                          max_consecutive_failed_trials=4, max_identical_failures=None)
    history = simulate(oracle, SyntheticLandscape(SMALL), str(tmp_path), fails=lambda i: True)
    assert len(history) == 4 and "4 trials in a row failed" in oracle.stop_reason
    records = [json.loads(l) for l in open(tmp_path / "synthetic" / "search_log.jsonl")]
    assert [r["status"] for r in records] == ["FAILED"] * 4
    assert records[0]["reason"] == "synthetic failure"


def test_the_same_failure_from_the_start_stops_after_three_trials(tmp_path):
    # Every trial fails the same way: a data or setup bug, not the architectures.
    same = RandomOracle(SMALL, objective="reward", max_trials=50, seed=0)
    assert len(simulate(same, SyntheticLandscape(SMALL), str(tmp_path), "same",
                        fails=lambda i: True)) == 3
    assert "the first 3 trials all failed with the same reason" in same.stop_reason
    assert same.stop_reason.endswith("synthetic failure")
    # Once a trial has completed, failures are the architectures': the long streak applies.
    later = RandomOracle(SMALL, objective="reward", max_trials=50, seed=0,
                         max_consecutive_failed_trials=6)
    history = simulate(later, SyntheticLandscape(SMALL), str(tmp_path), "later",
                       fails=lambda i: i > 0)
    assert len(history) == 7 and "6 trials in a row failed" in later.stop_reason


def test_duplicates_are_not_retrained_and_exhaustion_stops(tmp_path):
    tiny = NASNetSearchSpace(num_blocks=1, operations=("identity", "max_pool_3x3"),
                             combine=("add",))
    assert tiny.size == 256
    oracle = RandomOracle(tiny, objective="reward", max_trials=400, seed=0)
    history = simulate(oracle, SyntheticLandscape(tiny), str(tmp_path))
    keys = [tuple(a) for a, _ in history]
    assert len(keys) == len(set(keys)) and 200 < len(keys) <= 256
    assert "already evaluated" in oracle.stop_reason


def test_evolution_ages_out_the_oldest_and_mutates_one_decision(tmp_path):
    oracle = EvolutionOracle(SMALL, population_size=5, sample_size=3, objective="reward",
                             max_trials=20, seed=0)
    history = simulate(oracle, SyntheticLandscape(SMALL), str(tmp_path))
    assert len(oracle.population) == 5
    assert [a for a, _ in oracle.population] == [a for a, _ in history[-5:]]
    parents = [a for a, _ in history]
    for child in parents[5:]:
        assert min(sum(x != y for x, y in zip(child, p)) for p in parents[:parents.index(child)]) == 1


def test_multi_objective_reward(tmp_path):
    soft = Reward("val_accuracy", secondary="params", target=1e5, weight=-0.07)
    assert soft({"val_accuracy": 0.9, "params": 2e5}) == pytest.approx(0.9 * 2 ** -0.07)
    hard = Reward("val_accuracy", secondary="latency_ms", target=10.0, hard=True)
    assert hard({"val_accuracy": 0.9, "latency_ms": 5.0}) == pytest.approx(0.9)
    assert hard({"val_accuracy": 0.9, "latency_ms": 20.0}) == pytest.approx(0.45)
    assert Reward("val_loss", "min")({"val_loss": 0.3}) == pytest.approx(-0.3)
    assert np.isnan(soft({"val_accuracy": 0.9}))
    oracle = RandomOracle(SMALL, reward=soft, max_trials=2, seed=0)
    oracle._set_project_dir(str(tmp_path), "p")
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"val_accuracy": 0.8, "params": 4e5})
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)
    assert oracle.get_best_trials(1)[0].score == pytest.approx(0.8 * 4 ** -0.07)


def test_oracle_and_reward_bad_input():
    with pytest.raises(ValueError, match="`secondary` must be one of"):
        Reward(secondary="flops", target=1.0)
    with pytest.raises(ValueError, match="`target` for 'params' must be a number > 0"):
        Reward(secondary="params")
    with pytest.raises(ValueError, match="`weight` must be <= 0"):
        Reward(secondary="params", target=1.0, weight=0.5)
    with pytest.raises(ValueError, match="`max_trials` must be an integer >= 1 or None, got 0"):
        RandomOracle(SMALL, max_trials=0)
    with pytest.raises(TypeError, match="`space` must be a nasnet_search SearchSpace"):
        RandomOracle("nasnet")
    with pytest.raises(ValueError, match="`sample_size` \\(9\\) must be <= population_size \\(4\\)"):
        EvolutionOracle(SMALL, population_size=4, sample_size=9)
    with pytest.raises(ValueError, match="`algorithm` must be one of"):
        RLOracle(SMALL, algorithm="a3c")
    with pytest.raises(ValueError, match="`max_time` must be a positive number of seconds or None"):
        RandomOracle(SMALL, max_time=0)
    with pytest.raises(ValueError, match="`lease_seconds` must be a positive number of seconds"):
        RandomOracle(SMALL, lease_seconds=float("nan"))


def _end(oracle, trial, reward):
    oracle.update_trial(trial.trial_id, {"reward": reward})
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)


def test_a_silent_worker_loses_its_lease_and_late_reports_count_once(tmp_path):
    oracle = RandomOracle(SMALL, objective="reward", max_trials=3, seed=0, lease_seconds=10)
    oracle._set_project_dir(str(tmp_path), "p")
    first, second = oracle.create_trial("tuner0"), oracle.create_trial("tuner1")
    clock = oracle._last_seen["tuner1"]
    oracle.update_trial(first.trial_id, {})  # a heartbeat: metrics untouched
    assert not oracle.trials[first.trial_id].metrics.exists("reward")
    assert oracle.expire_leases(now=clock + 9) == []
    oracle._last_seen["tuner0"] = clock + 5  # tuner0's heartbeat at +5 s; tuner1 silent
    assert oracle.expire_leases(now=clock + 11) == [("tuner1", second.trial_id)]
    assert oracle.tuner_ids == {"tuner0"} and oracle._retry_queue == [second.trial_id]
    saved = json.load(open(tmp_path / "p" / "oracle.json"))
    assert saved["retry_queue"] == [second.trial_id] and "tuner1" not in saved["ongoing_trials"]
    # Another worker gets the trial again, with the same values.
    again = oracle.create_trial("tuner2")
    assert again.trial_id == second.trial_id and again.hyperparameters.values == \
        second.hyperparameters.values
    # The first worker was only slow: its report is taken, the second run's is ignored.
    _end(oracle, second, 0.7)
    _end(oracle, again, 0.1)
    assert oracle.end_order == [second.trial_id] and oracle.trials[second.trial_id].score == 0.7
    assert "tuner2" not in oracle.ongoing_trials
    _end(oracle, first, 0.5)
    assert oracle.end_order == [second.trial_id, first.trial_id]
    records = [json.loads(l) for l in open(tmp_path / "p" / "search_log.jsonl")]
    assert [(r["trial_id"], r["tuner_id"]) for r in records] == [
        (second.trial_id, "tuner2"), (first.trial_id, "tuner0")]


def test_max_time_stops_new_trials_and_a_resume_gets_a_fresh_budget(tmp_path):
    oracle = RandomOracle(SMALL, objective="reward", max_trials=50, seed=0, max_time=0.5)
    oracle._set_project_dir(str(tmp_path), "p")
    trial = oracle.create_trial("tuner0")
    oracle._clock_start -= 1.0  # the trial took a second
    _end(oracle, trial, 0.3)
    assert not oracle.budget_spent()
    assert oracle.create_trial("tuner0").status == TrialStatus.STOPPED
    assert oracle.budget_spent() and oracle.stop_reason is None
    resumed = RandomOracle(SMALL, objective="reward", max_trials=50, seed=0, max_time=0.5)
    resumed._set_project_dir(str(tmp_path), "p")
    resumed.reload()
    assert resumed.create_trial("tuner0").status == TrialStatus.RUNNING


def test_a_save_interrupted_half_way_leaves_the_previous_state(tmp_path, monkeypatch):
    from nasnet_search import storage

    oracle = RandomOracle(SMALL, objective="reward", max_trials=5, seed=0)
    oracle._set_project_dir(str(tmp_path), "p")
    _end(oracle, oracle.create_trial("tuner0"), 0.4)
    before = open(tmp_path / "p" / "oracle.json").read()

    def crash(src, dst):
        raise KeyboardInterrupt("killed between writing the new file and renaming it")

    monkeypatch.setattr(storage.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        _end(oracle, oracle.create_trial("tuner0"), 0.6)
    monkeypatch.undo()
    assert open(tmp_path / "p" / "oracle.json").read() == before
    assert not list((tmp_path / "p").glob(".tmp_*"))
    reloaded = RandomOracle(SMALL, objective="reward", max_trials=5, seed=0)
    reloaded._set_project_dir(str(tmp_path), "p")
    reloaded.reload()
    assert len(reloaded.end_order) == 1
    # A journal line torn by a kill is skipped, and the next record starts a fresh line.
    journal = tmp_path / "p" / "search_log.jsonl"
    with open(journal, "a") as f:
        f.write('{"trial_id": "torn')
    storage.append_jsonl(str(journal), {"trial_id": "next"})
    assert [r["trial_id"] for r in storage.read_jsonl(str(journal))][-1] == "next"


def test_a_kill_between_trial_json_and_oracle_json_loses_no_trial(tmp_path, monkeypatch):
    # keras-tuner's create_trial writes trial.json, then oracle.json.  A chief killed between
    # the two left a trial that counted against max_trials and never ran (one trial short).
    oracle = RandomOracle(SMALL, objective="reward", max_trials=3, seed=0)
    oracle._set_project_dir(str(tmp_path), "p")
    _end(oracle, oracle.create_trial("tuner0"), 0.4)

    def killed():
        raise KeyboardInterrupt("killed after trial.json, before oracle.json")

    monkeypatch.setattr(oracle, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        oracle.create_trial("tuner0")
    assert (tmp_path / "p" / "trial_1" / "trial.json").exists()
    resumed = RandomOracle(SMALL, objective="reward", max_trials=3, seed=0)
    resumed._set_project_dir(str(tmp_path), "p")
    resumed.reload()
    assert list(resumed.trials) == ["0"]
    while (trial := resumed.create_trial("tuner0")).status != TrialStatus.STOPPED:
        _end(resumed, trial, 0.5)
    assert resumed.end_order == ["0", "1", "2"]


def test_an_end_of_trial_sent_again_after_a_chief_restart_is_journaled_once(tmp_path,
                                                                              monkeypatch):
    oracle = RandomOracle(SMALL, objective="reward", max_trials=2, seed=0)
    oracle._set_project_dir(str(tmp_path), "p")
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"reward": 0.5})
    trial.status = TrialStatus.COMPLETED

    def killed():
        raise KeyboardInterrupt("killed after the journal line, before oracle.json")

    monkeypatch.setattr(oracle, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        oracle.end_trial(trial)
    restarted = RandomOracle(SMALL, objective="reward", max_trials=2, seed=0)
    restarted._set_project_dir(str(tmp_path), "p")
    restarted.reload()
    restarted.end_trial(trial)  # the worker's retry
    records = [json.loads(l) for l in open(tmp_path / "p" / "search_log.jsonl")]
    assert [r["trial_id"] for r in records] == [trial.trial_id]
    assert restarted.end_order == [trial.trial_id]
