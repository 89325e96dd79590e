"""A synthetic reward landscape: strategies compared in seconds, no training.

The reward of an architecture is the fraction of its decisions that agree with
a hidden target architecture, plus Gaussian noise that is a fixed function of
the architecture (so the same architecture always gets the same reward, and a
resumed search sees the rewards an uninterrupted one saw).
"""

import hashlib
import json
import time

import numpy as np
from keras_tuner.engine.trial import TrialStatus

from nasnet_search.tuner import NASTuner


class SyntheticLandscape:
    """``reward(values)``: agreement with a hidden target, in [0, 1], plus noise."""

    def __init__(self, space, seed=0, noise=0.02, target=None):
        self.space = space
        self.seed = seed
        self.noise = noise
        rng = np.random.default_rng((seed, 0x5EED))  # not the oracles' stream
        self.target = list(target) if target is not None else space.random_actions(rng)

    def reward_of_actions(self, actions):
        agreement = float(np.mean(np.asarray(actions) == np.asarray(self.target)))
        digest = hashlib.sha256(json.dumps([self.seed] + list(map(int, actions))).encode()).digest()
        noise = np.random.default_rng(int.from_bytes(digest[:8], "little")).normal() * self.noise
        return agreement + float(noise)

    def __call__(self, values):
        return self.reward_of_actions(self.space.actions_from_values(values))


def simulate(oracle, landscape, directory, project_name="synthetic", metric=None, fails=None):
    """Run ``oracle`` against ``landscape`` until its budget ends (no Tuner, no training).

    ``fails(trial_index) -> bool`` marks trials FAILED.  Returns the list of
    (actions, reward or None) in trial order.
    """
    metric = metric or oracle.objective.name
    oracle._set_project_dir(directory, project_name)
    history = []
    while True:
        trial = oracle.create_trial("tuner0")
        if trial.status == TrialStatus.STOPPED:
            return history
        values = oracle.space.values_from_hp(trial.hyperparameters)
        actions = oracle.space.actions_from_values(values)
        if fails is not None and fails(len(history)):
            trial.status = TrialStatus.FAILED
            trial.message = "synthetic failure"
            history.append((actions, None))
        else:
            reward = landscape(values)
            oracle.update_trial(trial.trial_id, {metric: reward})
            trial.status = TrialStatus.COMPLETED
            history.append((actions, reward))
        oracle.end_trial(trial)


class SyntheticTuner(NASTuner):
    """A `NASTuner` whose trials return the landscape's reward instead of training
    (for resume, distributed and benchmark runs).  ``seconds`` per trial
    simulates training time."""

    def __init__(self, oracle, landscape, seconds=0.0, verbose=0, **kwargs):
        self.landscape = landscape
        self.seconds = seconds
        super().__init__(oracle, verbose=verbose, **kwargs)

    def run_trial(self, trial, *args, **kwargs):
        if self.seconds:
            time.sleep(self.seconds)
        return {self.oracle.objective.name: self.landscape(dict(trial.hyperparameters.values))}
