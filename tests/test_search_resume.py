"""Exact resume through keras-tuner's Tuner: uninterrupted, split in two, and killed mid-trial.

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

from nasnet_search import NASNetSearchSpace, RLOracle, SyntheticLandscape, SyntheticTuner

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


def test_resume_is_exact_after_a_clean_stop_and_after_a_kill(tmp_path):
    reference, ref_weights, _ = _finish(str(tmp_path / "straight"))

    half = str(tmp_path / "half")
    make_tuner(half, N // 2).search()
    split, split_weights, _ = _finish(half)
    assert split == reference
    for a, b in zip(ref_weights, split_weights):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)

    # A child process is killed (SIGKILL) in the middle of trial 7, then the search resumes.
    killed = str(tmp_path / "killed")
    marker = tmp_path / "inside_trial_7"
    script = tmp_path / "run.py"
    script.write_text(SETUP + textwrap.dedent(f"""
        import time
        class Hang:
            count = 0
            def __call__(self, values):
                Hang.count += 1
                if Hang.count == 7:
                    open({str(marker)!r}, "w").close()
                    time.sleep(600)
                return LANDSCAPE(values)
        make_tuner({killed!r}, {N}, Hang()).search()
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        deadline = time.time() + 300
        while not marker.exists():
            assert proc.poll() is None, "the search process ended before trial 7"
            assert time.time() < deadline, "trial 7 never started"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    resumed, resumed_weights, oracle = _finish(killed)
    assert resumed == reference
    for a, b in zip(ref_weights, resumed_weights):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    # The interrupted trial was re-run once with the same values; no trial ran twice otherwise.
    assert sorted(oracle.end_order) == sorted(set(oracle.end_order))
    assert oracle.ongoing_trials == {}
