"""`RLOracle`: the RNN controller trained by REINFORCE or PPO behind keras-tuner.

Samples come from the current policy; an update runs whenever ``batch_size``
rewards have arrived (asynchronous, as NAS and ENAS), using the
log-probability stored when each architecture was sampled (PPO's ratio needs
it: the policy may have moved while the child trained).

Exact resume: the controller weights and Adam slots go to
``controller_v<version>.npz`` (atomically, only when the policy changes; the
JSON keeps its name and checksum), everything else to ``oracle.json``.
"""

import os

import numpy as np

from nasnet_search import storage
from nasnet_search.algorithms import PolicyTrainer, advantages, rl_settings
from nasnet_search.oracles import NASOracle


class RLOracle(NASOracle):
    """Reinforcement-learning search (Zoph & Le 2017; Zoph et al. 2018).

    Args:
        space: the search space.
        algorithm: ``"ppo"`` or ``"reinforce"``.
        preset: RL settings: ``"default"`` (learns within a few hundred trials),
            ``"nasnet"``, ``"nas2017"`` or ``"enas"`` (the papers' settings), or an
            `RLSettings`.
        settings: overrides of single `RLSettings` fields, e.g.
            ``learning_rate=1e-3, batch_size=20``.
        **kwargs: `NASOracle` arguments (objective, max_trials, seed, ...).
    """

    def __init__(self, space, algorithm=None, preset="default", settings=None, **kwargs):
        overrides = dict(settings or {})
        if algorithm is not None:
            overrides["algorithm"] = algorithm
        self.settings = rl_settings(preset, **overrides)
        super().__init__(space, **kwargs)
        self._controller = None
        self._trainer = None
        self._stashed = None      # (file name, sha256) to load when the controller is built
        self.baseline = None
        self.policy_version = 0
        self.buffer = []          # observations since the last update
        self.updates = []         # per-update statistics, for reports
        self.controller_file = None
        self.controller_sha256 = None
        self._stale_files = []    # older controller files, removed once oracle.json moved on
        # False: the controller file is written by `save_controller_if_changed` (a caller that
        # saves its own state less often, e.g. WeightSharingTuner at each epoch end).
        self.save_each_update = True
        self._unsaved_update = False

    # Built lazily: keras-tuner workers construct the oracle but never sample (§2.1).
    @property
    def controller(self):
        if self._controller is None:
            from nasnet_search.controller import Controller

            s = self.settings
            self._controller = Controller(
                self.decisions, units=s.units, num_layers=s.num_layers,
                init_range=s.init_range, temperature=s.temperature, tanh_constant=s.tanh_constant,
                shared_heads=s.shared_heads, seed=self.seed)
            self._trainer = PolicyTrainer(self._controller, s)
            if self._stashed:
                self._load_controller(*self._stashed)
                self._stashed = None
        return self._controller

    def _propose(self):
        actions, logp, entropy = self.controller.sample(self.rng)
        return actions, {"logp": logp, "version": self.policy_version}

    def propose_batch(self, count):
        """``count`` proposals from the current policy in one controller call (the same
        numbers as ``count`` calls of `_propose`: the uniforms are drawn in the same order)."""
        uniforms = self.rng.random((count, len(self.decisions))).astype("float32")
        actions, logps, _ = self.controller.sample_from_uniforms(uniforms)
        actions, logps = np.asarray(actions), np.sum(np.asarray(logps), axis=1)
        return [([int(a) for a in row], {"logp": float(lp), "version": self.policy_version})
                for row, lp in zip(actions, logps)]

    def _observe(self, actions, info, reward):
        self.buffer.append({"actions": list(actions), "logp": info["logp"],
                            "version": info["version"], "reward": float(reward)})
        if len(self.buffer) >= self.settings.batch_size:
            self._update()

    def _update(self):
        batch, self.buffer = self.buffer, []
        if self.settings.max_staleness is not None:
            batch = [b for b in batch
                     if self.policy_version - b["version"] <= self.settings.max_staleness]
        if not batch:
            return
        rewards = [self.settings.transform(b["reward"]) for b in batch]
        adv, self.baseline = advantages(rewards, self.baseline, self.settings)
        _ = self.controller  # builds (and restores) the controller and its trainer
        stats = self._trainer.update([b["actions"] for b in batch], [b["logp"] for b in batch], adv)
        self.policy_version += 1
        self.updates.append({"version": self.policy_version, "mean_reward": sum(rewards) / len(rewards),
                             "baseline": self.baseline, **stats})
        if self.save_each_update:
            self._save_controller()
        else:
            self._unsaved_update = True

    # -- controller file ---------------------------------------------------------------------
    def _save_controller(self):
        arrays = ([v.numpy() for v in self._controller.weights]
                  + [v.numpy() for v in self._trainer.optimizer.variables])
        data = storage.arrays_to_bytes(arrays)
        name = f"controller_v{self.policy_version}.npz"
        storage.atomic_write_bytes(os.path.join(self._project_dir, name), data)
        # Keep the previous file until oracle.json points at the new one.
        if self.controller_file:
            self._stale_files.append(self.controller_file)
        self.controller_file, self.controller_sha256 = name, storage.sha256(data)

    def save_controller_if_changed(self):
        if self._unsaved_update:
            self._save_controller()
            self._unsaved_update = False

    def save(self):
        super().save()
        if self._defer_save:
            return
        for stale in self._stale_files:
            if stale != self.controller_file:
                try:
                    os.remove(os.path.join(self._project_dir, stale))
                except FileNotFoundError:
                    pass
        self._stale_files = []

    def _load_controller(self, name, digest):
        path = os.path.join(self._project_dir, name)
        with open(path, "rb") as f:
            data = f.read()
        if storage.sha256(data) != digest:
            raise ValueError(f"{path} does not match the checksum recorded in oracle.json; the "
                             "controller state is corrupt.")
        arrays = storage.arrays_from_bytes(data)
        weights = self._controller.weights
        slots = self._trainer.optimizer.variables
        if len(arrays) != len(weights) + len(slots):
            raise ValueError(f"{path} holds {len(arrays)} arrays, expected "
                             f"{len(weights) + len(slots)} (controller settings changed?).")
        for variable, value in zip(list(weights) + list(slots), arrays):
            variable.assign(value.reshape(variable.shape))

    # -- state -------------------------------------------------------------------------------
    def _strategy_state(self):
        return {"settings": self.settings.to_dict(), "baseline": self.baseline,
                "policy_version": self.policy_version, "buffer": self.buffer,
                "updates": self.updates, "controller_file": self.controller_file,
                "controller_sha256": self.controller_sha256}

    def _set_strategy_state(self, state):
        self.baseline = state["baseline"]
        self.policy_version = state["policy_version"]
        self.buffer = state["buffer"]
        self.updates = state["updates"]
        self.controller_file = state["controller_file"]
        self.controller_sha256 = state["controller_sha256"]
        if state["settings"] != self.settings.to_dict():
            print("[nasnet_search] note: RL settings differ from the saved search; the new "
                  "settings apply from now on.")
        if not self.controller_file:
            self._controller = None  # version 0: the initial weights from the seed
        elif self._controller is None:
            self._stashed = (self.controller_file, self.controller_sha256)
        else:
            self._load_controller(self.controller_file, self.controller_sha256)
