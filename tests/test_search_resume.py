"""Exact resume through keras-tuner's Tuner: uninterrupted, split in two, and killed again
and again at random points (chaos).

Architecture sequences must be identical.  Controller weights are compared to
1e-9: TensorFlow sums gradients in an order that can differ between traces
(see `nasnet_search.algorithms.reproducible`); runs are usually bit-identical,
otherwise a weight or two differ by ~1e-12.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from nasnet_search import (NASNetSearchSpace, RLOracle, SyntheticLandscape, SyntheticTuner,
                           load_results)

N = 12
SETUP = """
from nasnet_search import NASNetSearchSpace, RLOracle, SyntheticLandscape, SyntheticTuner
SPACE = NASNetSearchSpace(num_blocks=2)
LANDSCAPE = SyntheticLandscape(SPACE, seed=3)

def make_tuner(directory, max_trials, landscape=LANDSCAPE):
    oracle = RLOracle(SPACE, algorithm="ppo", objective="reward", max_trials=max_trials, seed=11,
                      settings={"batch_size": 4})
    return SyntheticTuner(oracle, landscape, directory=directory, project_name="p")
"""
namespace = {}
exec(SETUP, namespace)
make_tuner = namespace["make_tuner"]


def _sequence(oracle):
    space = oracle.space
    return [space.actions_from_values(oracle.trials[t].hyperparameters.values)
            for t in oracle.start_order]


def _finish(directory):
    tuner = make_tuner(directory, N)
    tuner.search()
    oracle = tuner.oracle
    assert len(oracle.end_order) == N and oracle.policy_version == N // 4
    return _sequence(oracle), [w.numpy() for w in oracle.controller.weights], oracle


def test_resume_is_exact_after_a_clean_stop_and_after_kills_at_random_points(tmp_path):
    reference, ref_weights, _ = _finish(str(tmp_path / "straight"))

    half = str(tmp_path / "half")
    make_tuner(half, N // 2).search()
    split, split_weights, _ = _finish(half)
    assert split == reference
    for a, b in zip(ref_weights, split_weights):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)

    # Chaos: a child process is SIGKILLed at random points (in training, between trials,
    # half-way through an atomic state write, half-way through a journal line) and
    # restarted until the search completes; the result must equal the uninterrupted run.
    chaos = str(tmp_path / "chaos")
    script = tmp_path / "run.py"
    script.write_text(SETUP + textwrap.dedent(f"""
        import os, signal, sys, tempfile
        from nasnet_search import storage
        kind, at = sys.argv[1], int(sys.argv[2])
        calls = {{"train": 0, "between": 0, "save": 0, "journal": 0}}

        def reached(name):
            calls[name] += 1
            return kind == name and calls[name] == at

        def die():
            os.kill(os.getpid(), signal.SIGKILL)

        write_bytes, append_line = storage.atomic_write_bytes, storage.append_jsonl

        def torn_write(path, data):
            if reached("save"):  # half of the new file written, not yet renamed
                fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp_")
                os.write(fd, data[: len(data) // 2]); os.fsync(fd); die()
            write_bytes(path, data)

        def torn_append(path, record):
            if reached("journal"):
                with open(path, "a") as f:
                    f.write('{{"trial_id": "half a line'); f.flush(); os.fsync(f.fileno())
                die()
            append_line(path, record)

        storage.atomic_write_bytes, storage.append_jsonl = torn_write, torn_append

        def landscape(values):
            if reached("train"):
                die()
            return LANDSCAPE(values)

        tuner = make_tuner({chaos!r}, {N}, landscape)
        pre_create = tuner.pre_create_trial
        def between():
            if reached("between"):
                die()
            pre_create()
        tuner.pre_create_trial = between
        tuner.search()
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    rng = np.random.default_rng(7)
    kills = 0
    for kind in ["train", "save", "between", "journal", "save", "train", None]:
        at = int(rng.integers(1, 4)) if kind else 10**9
        code = subprocess.run([sys.executable, str(script), kind or "none", str(at)], env=env,
                              timeout=300).returncode
        if code == -signal.SIGKILL:
            kills += 1
        else:
            assert code == 0, f"the search process failed after {kind} kill ({code})"
            break
    assert kills >= 5, kills
    resumed, resumed_weights, oracle = _finish(chaos)
    assert resumed == reference
    for a, b in zip(ref_weights, resumed_weights):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    # Interrupted trials re-ran with the same values; no trial id ended twice.
    assert sorted(oracle.end_order) == sorted(set(oracle.end_order))
    assert oracle.ongoing_trials == {}
    rows = load_results(chaos + "/p")
    assert [r["trial_id"] for r in rows] == oracle.end_order
