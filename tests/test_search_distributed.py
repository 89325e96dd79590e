"""keras-tuner chief/worker search on 127.0.0.1: the launcher, a worker killed mid-trial,
a chief killed and restarted.  Trials are synthetic (no training) so each test takes
seconds of search plus the processes' start-up."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from nasnet_search import storage
from nasnet_search.distributed import free_port, launch, role_environments

ROLE_SCRIPT = """
import os, sys, time
from nasnet_search import NASNetSearchSpace, RLOracle, SyntheticLandscape, SyntheticTuner

directory, trials, seconds, lease = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
me = os.environ["KERASTUNER_TUNER_ID"]
hang_at = os.environ.get("HANG_AT")  # "<tuner id>:<n>": that worker hangs in its n-th trial
space = NASNetSearchSpace(num_blocks=2)

class Tuner(SyntheticTuner):
    count = 0
    def run_trial(self, trial, *args, **kwargs):
        Tuner.count += 1
        if Tuner.count == 1 and os.environ.get("BARRIER"):
            # Each worker holds its first trial until both have one, so both run trials.
            open(os.path.join(directory, "ready_" + me), "w").close()
            deadline = time.time() + 120
            while len([f for f in os.listdir(directory) if f.startswith("ready_")]) < 2:
                assert time.time() < deadline, "the other worker never started"
                time.sleep(0.05)
        with open(os.path.join(directory, "starts.log"), "a") as f:
            f.write(f"{me} {trial.trial_id}\\n")
        if hang_at == f"{me}:{Tuner.count}":
            open(os.path.join(directory, "hanging"), "w").write(trial.trial_id)
            time.sleep(600)
        return super().run_trial(trial, *args, **kwargs)

import keras_tuner as kt
extra = kt.HyperParameters()  # searched beside the architecture, through the chief
extra.Float("learning_rate", 1e-4, 1e-1, sampling="log")
oracle = RLOracle(space, objective="reward", max_trials=trials, seed=11, lease_seconds=lease,
                  settings={"batch_size": 3}, hyperparameters=extra)
tuner = Tuner(oracle, SyntheticLandscape(space, seed=3), seconds=seconds, directory=directory,
              project_name="p", verbose=1, poll_seconds=0.2)
tuner.search()
if tuner.recycle_requested:  # as `nasnet-search resume` does
    sys.exit(75)
"""


@pytest.fixture
def role_argv(tmp_path):
    script = tmp_path / "role.py"
    script.write_text(ROLE_SCRIPT)

    def argv(trials, seconds, lease):
        return [sys.executable, str(script), str(tmp_path), str(trials), str(seconds), str(lease)]

    return argv


def _env(extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), **extra)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _starts(tmp_path):
    return [tuple(line.split()) for line in (tmp_path / "starts.log").read_text().splitlines()]


def _journal(tmp_path):
    return storage.read_jsonl(str(tmp_path / "p" / "search_log.jsonl"))


def _check_complete(tmp_path, trials):
    """Every trial ended once, COMPLETED; the chief's state agrees."""
    records = _journal(tmp_path)
    ids = [r["trial_id"] for r in records]
    assert len(ids) == trials and len(set(ids)) == trials, ids
    assert all(r["status"] == "COMPLETED" for r in records)
    state = storage.read_json(str(tmp_path / "p" / "oracle.json"))
    assert sorted(state["end_order"]) == sorted(ids) and state["ongoing_trials"] == {}
    return records, state


def _wait(procs, seconds):
    deadline = time.time() + seconds
    try:
        return {name: p.wait(timeout=max(1, deadline - time.time())) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()


def _wait_for(condition, procs, seconds, what):
    deadline = time.time() + seconds
    while not condition():
        for name, p in procs.items():
            assert p.poll() is None, f"{name} ended (code {p.returncode}) before {what}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_launcher_runs_a_chief_and_two_workers(tmp_path, role_argv, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    monkeypatch.setenv("BARRIER", "1")
    out = io.StringIO()
    start = time.time()
    code = launch(role_argv(8, 0.3, 30), workers=2, out=out)
    wall = time.time() - start
    text = out.getvalue()
    assert code == 0, text
    assert wall < 180, wall
    records, state = _check_complete(tmp_path, 8)
    # Both workers ran trials, and the chief updated the controller (batch 3: 2 updates).
    assert {r["tuner_id"] for r in records} == {"tuner0", "tuner1"}
    assert state["nas"]["strategy_state"]["policy_version"] == 2
    assert state["nas"]["extra_hyperparameters"] == ["learning_rate"]
    rates = {r["hyperparameters"]["learning_rate"] for r in records}
    assert len(rates) > 1 and all(1e-4 <= v <= 1e-1 for v in rates)
    assert (tmp_path / "p" / state["nas"]["strategy_state"]["controller_file"]).exists()
    # One merged view, every line prefixed with its role; TF's start-up chatter dropped.
    assert "[chief] Search over: 8 trials ended." in text
    assert "[chief] trial 8/8" in text
    assert "[launcher] chief exited with code 0; tuner0 0, tuner1 0." in text
    assert "[tuner0] tuner0: the chief ended the search" in text
    assert "[tuner1] tuner1: the chief ended the search" in text
    assert "absl::InitializeLog" not in text


def test_recycled_workers_lose_nothing(tmp_path, role_argv, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    out = io.StringIO()
    code = launch(role_argv(6, 0.1, 30), workers=1, out=out, recycle_every=2)
    text = out.getvalue()
    assert code == 0, text
    records, _ = _check_complete(tmp_path, 6)
    assert {r["tuner_id"] for r in records} == {"tuner0"}
    starts = _starts(tmp_path)
    assert len(starts) == 6 and len({t for _, t in starts}) == 6  # no trial ran twice
    # After trials 2, 4 and 6; the fourth process is told the search is over.
    assert text.count("[launcher] tuner0 recycled after 2 trials") == 3, text
    assert "[launcher] chief exited with code 0; tuner0 0." in text
    with pytest.raises(ValueError, match="`recycle_every` must be an integer >= 1 or None"):
        role_environments(1, recycle_every=0)


def test_a_worker_killed_mid_trial_loses_its_lease(tmp_path, role_argv):
    # Short trials and a 6 s lease: tuner0 usually runs out of new trials before the lease
    # ends, and must wait (IDLE) instead of leaving, to pick up the lost one.
    argv = role_argv(8, 0.1, 6)
    procs = {name: subprocess.Popen(argv, env=_env(dict(env, HANG_AT="tuner1:2")),
                                    stdout=subprocess.DEVNULL)
             for name, env in role_environments(2)}
    hanging = tmp_path / "hanging"
    try:
        _wait_for(hanging.exists, procs, 120, "tuner1's second trial")
        time.sleep(0.3)
        procs["tuner1"].send_signal(signal.SIGKILL)
    finally:
        codes = _wait(procs, 120)
    assert codes == {"chief": 0, "tuner0": 0, "tuner1": -signal.SIGKILL}
    records, _ = _check_complete(tmp_path, 8)
    lost = hanging.read_text()
    starts = _starts(tmp_path)
    # The interrupted trial ran again once, on the other worker; no other trial ran twice.
    assert starts.count(("tuner1", lost)) == 1 and starts.count(("tuner0", lost)) == 1
    assert len(starts) == 9 and len({t for _, t in starts}) == 8
    assert [r["tuner_id"] for r in records if r["trial_id"] == lost] == ["tuner0"]


def test_a_killed_chief_restarts_and_the_workers_reconnect(tmp_path, role_argv):
    argv = role_argv(10, 0.8, 30)
    roles = role_environments(2)
    procs = {name: subprocess.Popen(argv, env=_env(env), stdout=subprocess.DEVNULL)
             for name, env in roles}
    try:
        _wait_for(lambda: len(_journal(tmp_path)) >= 3 if (tmp_path / "p").exists() else False,
                  procs, 120, "3 ended trials")
        procs["chief"].send_signal(signal.SIGKILL)
        procs["chief"].wait()
        ended_before = {r["trial_id"] for r in _journal(tmp_path)}
        time.sleep(1.0)
        procs["chief"] = subprocess.Popen(argv, env=_env(roles[0][1]), stdout=subprocess.DEVNULL)
    finally:
        codes = _wait(procs, 150)
    assert codes == {"chief": 0, "tuner0": 0, "tuner1": 0}
    _check_complete(tmp_path, 10)
    starts = _starts(tmp_path)
    # No trial ran twice: neither the ones ended before the kill nor those in flight.
    assert len(starts) == 10 and len({t for _, t in starts}) == 10, starts
    assert ended_before <= {t for _, t in starts}
    assert json.loads((tmp_path / "p" / "oracle.json").read_text())["nas"]["stop_reason"] is None


def test_role_environments_and_bad_input():
    roles = dict(role_environments(3, port=12345, gpus=["0", "1"]))
    assert list(roles) == ["chief", "tuner0", "tuner1", "tuner2"]
    assert {env["KERASTUNER_ORACLE_PORT"] for env in roles.values()} == {"12345"}
    assert roles["chief"]["CUDA_VISIBLE_DEVICES"] == "-1"  # the controller runs on the CPU
    assert [roles[f"tuner{i}"]["CUDA_VISIBLE_DEVICES"] for i in range(3)] == ["0", "1", "0"]
    assert "CUDA_VISIBLE_DEVICES" not in dict(role_environments(1, port=1, gpus=[]))["tuner0"]
    with pytest.raises(ValueError, match="`workers` must be an integer >= 1, got 0"):
        role_environments(0)
    with pytest.raises(ValueError, match="`keep_checkpoints` must be one of .* or an integer >= 1"):
        from nasnet_search import MacroSearchSpace, NASTuner, RandomOracle

        NASTuner(RandomOracle(MacroSearchSpace(num_layers=1)), keep_checkpoints=0)


def _serve_in_thread(oracle):
    import threading

    from nasnet_search.distributed import serve

    thread = threading.Thread(target=serve, args=(oracle,),
                              kwargs=dict(poll_seconds=0.05, linger_seconds=0.1), daemon=True)
    thread.start()
    return thread


def _client(tuner_id, monkeypatch):
    from keras_tuner.src.distribute.oracle_client import OracleClient

    monkeypatch.setenv("KERASTUNER_TUNER_ID", tuner_id)
    return OracleClient(None)


def test_chief_answers_idle_while_trials_run_and_stops_on_a_failure_streak(tmp_path, monkeypatch):
    from keras_tuner.engine.trial import TrialStatus

    from nasnet_search import NASNetSearchSpace, RandomOracle

    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    space = NASNetSearchSpace(num_blocks=2)
    for case, limit in (("budget", None), ("failures", 2)):
        monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(free_port()))
        oracle = RandomOracle(space, objective="reward", max_trials=2, seed=0,
                              max_consecutive_failed_trials=limit)
        oracle._set_project_dir(str(tmp_path), case)
        chief = _serve_in_thread(oracle)
        c0, c1 = _client("tuner0", monkeypatch), _client("tuner1", monkeypatch)
        t0, t1 = c0.create_trial("tuner0"), c1.create_trial("tuner1")
        if case == "budget":
            c0.update_trial(t0.trial_id, {"reward": 0.5})
            t0.status = TrialStatus.COMPLETED
            c0.end_trial(t0)
            # No new trial to give, but tuner1's may still come back: tuner0 must wait.
            assert c0.create_trial("tuner0").status == TrialStatus.IDLE
            c1.update_trial(t1.trial_id, {"reward": 0.4})
            t1.status = TrialStatus.COMPLETED
        else:
            t0.status = t1.status = TrialStatus.FAILED
            c0.end_trial(t0)
        c1.end_trial(t1)
        assert c0.create_trial("tuner0").status == TrialStatus.STOPPED
        assert chief.is_alive()  # tuner1 was not told yet
        assert c1.create_trial("tuner1").status == TrialStatus.STOPPED
        chief.join(timeout=10)
        assert not chief.is_alive(), f"{case}: the chief did not exit"
        if case == "budget":
            assert oracle.stop_reason is None and len(oracle.end_order) == 2
        else:
            assert "2 trials in a row failed" in oracle.stop_reason
