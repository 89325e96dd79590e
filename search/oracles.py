"""Search strategies as keras-tuner Oracles: RL controller, random search, aging evolution.

All three share `NASOracle`: the space's decisions are registered as fixed-name
hyperparameters; a strategy proposes *action indices* and observes rewards.  On
top of keras-tuner's bookkeeping the base class adds what architecture search
needs (keras_tuner.md §5):

- per-trial pending data (actions, log-probability, policy version) kept in the
  oracle, keyed by trial id, because nothing custom crosses the gRPC wire;
- the reward computed on the chief from reported metrics (`Reward`);
- FAILED trials mapped to ``failed_reward`` (or skipped when None);
- a numpy generator whose state is saved, so resume is exact;
- every end of trial written once, atomically, after the trial left
  ``ongoing_trials`` (keras-tuner's own save comes too early: finding 4a);
- a run of failures stops the search cleanly instead of raising inside the
  chief's RPC handler (finding 4c);
- an append-only JSONL journal, ``search_log.jsonl``, one record per ended trial;
- for distributed search: leases (a worker silent for ``lease_seconds`` loses
  its trial, which goes back to the queue), reports that arrive twice or late
  are ignored, and a restarted chief keeps its workers' running trials;
- a wall-clock budget, ``max_time``.
"""

import hashlib
import json
import math
import os
import time
from collections import deque

import keras_tuner as kt
import numpy as np
from keras_tuner.engine.trial import TrialStatus

from nasnet_search import storage
from nasnet_search.rewards import Reward

JOURNAL = "search_log.jsonl"


def failure_reason(message):
    """The last line of a failed trial's traceback, without the exception's module path."""
    lines = (message or "").strip().splitlines()
    if not lines:
        return "no message"
    last = lines[-1]
    head, sep, tail = last.partition(": ")
    return tail if sep and "." in head and " " not in head else last


# This package's own metric name: what `SyntheticTuner` and users' `run_trial`s report
# as a strategy's reward.  Every other name is keras-tuner's to infer.
OWN_METRICS = {"reward": "max", "perplexity": "min", "val_perplexity": "min"}

# keras-tuner's default failure streak is 3, this package's was 20: a search space may
# hold many children that cannot be built or do not fit a budget, while a data or
# configuration bug makes every trial fail the same way.  So a search stops after
# `max_consecutive_failed_trials` (20) failures in a row, or as soon as its first
# `max_identical_failures` (3) trials all failed with the same reason.
DEFAULT_FAILURE_STREAK = 20
DEFAULT_IDENTICAL_FAILURES = 3


def objective_direction(name):
    """``"min"`` or ``"max"`` for a metric name, as keras-tuner infers it (Keras' metric and
    loss registry); an unknown name raises keras-tuner's error."""
    if name in OWN_METRICS:
        return OWN_METRICS[name]
    from keras_tuner.src.engine import objective as kt_objective

    return kt_objective.create_objective(name).direction


def _as_reward(objective, reward):
    """``(Reward, keras-tuner Objective)`` from the oracle's arguments."""
    from keras_tuner.src.engine import objective as kt_objective

    if reward is not None:
        if not isinstance(reward, Reward):
            raise TypeError(f"`reward` must be a nasnet_search.Reward, got {type(reward).__name__}.")
        return reward, kt.Objective(reward.metric, reward.direction)
    if isinstance(objective, (list, tuple)) or isinstance(objective, kt_objective.MultiObjective):
        raise ValueError(
            f"`objective` must be one metric, got {objective!r}: a strategy learns from one "
            "reward.  For a second objective use `reward=nasnet_search.Reward(metric, direction, "
            "secondary='params' | 'mult_adds' | 'latency_ms', target=...)`.")
    if objective is None:  # keras-tuner: run_trial returns one number, minimised
        default = kt_objective.DefaultObjective()
        return Reward(default.name, default.direction), default
    if isinstance(objective, kt.Objective):
        return Reward(objective.name, objective.direction), objective
    if not isinstance(objective, str) or not objective:
        raise ValueError(f"`objective` must be a metric name, a keras_tuner.Objective or None, "
                         f"got {objective!r}.")
    direction = objective_direction(objective)
    return Reward(objective, direction), kt.Objective(objective, direction)


class NASOracle(kt.Oracle):
    """Base class of the architecture-search oracles.

    Args:
        space: a `SearchSpace` (`NASNetSearchSpace`, `MacroSearchSpace`).
        objective: the metric to optimise, e.g. ``"val_accuracy"`` (``"space default"``:
            ``"val_accuracy"``, and for a `RecurrentCellSearchSpace` ``"val_perplexity"``
            with the paper's reward, 80 / perplexity ** 2, `recurrent_reward`) (direction
            inferred as keras-tuner infers it; an unknown name is an error), a
            ``keras_tuner.Objective``, or None (keras-tuner's default: the
            number a custom ``run_trial`` returns, minimised).  ``trial.score``
            follows keras-tuner: the metric's best value.
        reward: a `Reward` for multi-objective search (overrides ``objective``).
        max_trials: trial budget, failed trials included; None: no limit (then
            give ``max_time``, or stop the search yourself).
        hyperparameters: a ``keras_tuner.HyperParameters`` with hyperparameters
            to tune beside the architecture (e.g. a learning rate); the
            hypermodel may declare more.  They become extra decisions of every
            strategy (`nasnet_search.hyperparameters`).
        allow_new_entries, tune_new_entries: keras-tuner's: whether the
            hypermodel may declare hyperparameters the oracle does not know,
            and whether those are tuned (else they keep their defaults).
        seed: root seed (sampling; the RL controller's initial weights).
        failed_reward: reward given to the strategy for a FAILED trial (cannot
            build, NaN, out of memory, over budget); None skips such trials.
        max_consecutive_failed_trials: stop the search (cleanly) after this many
            failures in a row; None never stops.
        max_identical_failures: stop sooner, after this many failures, when no
            trial has completed and every failure so far had the same reason
            (a data or configuration bug, not the architectures); None: off.
        max_retries_per_trial: re-runs of a crashed (INVALID) trial.
        max_duplicate_draws: proposals of already-evaluated architectures in a
            row before the space counts as exhausted.
        max_time: wall-clock seconds for one `search` call (this process's
            session; a resumed search gets ``max_time`` again); no new trial
            starts after it.  None: no limit.
        lease_seconds: distributed search only: a worker that sends nothing
            (`NASTuner` workers send a heartbeat every ``lease_seconds / 5``)
            for this long is taken for dead; its trial is re-queued for
            another worker.  None: wait for it forever (keras-tuner's way).
    """

    def __init__(self, space, objective="space default", reward=None, max_trials=100,
                 hyperparameters=None, allow_new_entries=True, tune_new_entries=True, seed=None,
                 failed_reward=0.0, max_consecutive_failed_trials=DEFAULT_FAILURE_STREAK,
                 max_identical_failures=DEFAULT_IDENTICAL_FAILURES, max_retries_per_trial=0,
                 max_duplicate_draws=100, max_time=None, lease_seconds=600.0):
        from nasnet_search.space import SearchSpace

        if not isinstance(space, SearchSpace):
            raise TypeError(f"`space` must be a nasnet_search SearchSpace, got {type(space).__name__}.")
        if max_trials is not None and (not isinstance(max_trials, int)
                                       or isinstance(max_trials, bool) or max_trials < 1):
            raise ValueError(f"`max_trials` must be an integer >= 1 or None, got {max_trials!r}.")
        if max_trials is None and max_time is None:
            print("[nasnet_search] note: max_trials=None and max_time=None: the search runs "
                  "until you stop it (its state is saved after every trial).")
        if hyperparameters is not None and not isinstance(hyperparameters, kt.HyperParameters):
            raise TypeError("`hyperparameters` must be a keras_tuner.HyperParameters or None, got "
                            f"{type(hyperparameters).__name__}.")
        if max_identical_failures is not None and (
                not isinstance(max_identical_failures, int)
                or isinstance(max_identical_failures, bool) or max_identical_failures < 1):
            raise ValueError("`max_identical_failures` must be an integer >= 1 or None, got "
                             f"{max_identical_failures!r}.")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"`seed` must be a non-negative integer or None, got {seed!r}.")
        if failed_reward is not None and not math.isfinite(failed_reward):
            raise ValueError(f"`failed_reward` must be a finite number or None, got {failed_reward!r}.")
        if max_consecutive_failed_trials is not None and max_consecutive_failed_trials < 1:
            raise ValueError("`max_consecutive_failed_trials` must be >= 1 or None, got "
                             f"{max_consecutive_failed_trials!r}.")
        for name, value in (("max_time", max_time), ("lease_seconds", lease_seconds)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not value > 0 or not math.isfinite(value)):
                raise ValueError(f"`{name}` must be a positive number of seconds or None, got "
                                 f"{value!r}.")
        self.space = space
        # (isinstance first: keras-tuner's Objective.__eq__ fails on a string)
        if isinstance(objective, str) and objective == "space default":
            objective = "val_accuracy"
            if reward is None:
                reward = space.default_reward()
        self.reward, kt_objective = _as_reward(objective, reward)
        space_hps = space.hyperparameters()
        if hyperparameters is not None:
            clash = [hp.name for hp in hyperparameters.space if hp.name in space_hps.values]
            if clash:
                raise ValueError(f"`hyperparameters` declares {clash[:3]}, which the search space "
                                 "owns; give your hyperparameters other names.")
            space_hps.merge(hyperparameters)
        super().__init__(
            objective=kt_objective, max_trials=max_trials, hyperparameters=space_hps,
            allow_new_entries=allow_new_entries, tune_new_entries=tune_new_entries, seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            # Our own check stops cleanly; keras-tuner's would raise (finding 4c).
            max_consecutive_failed_trials=10**9)
        if seed is not None:
            self.seed = seed  # keras-tuner turns seed=0 into a random seed
        self._display.verbose = 0
        self.failed_reward = failed_reward
        self.failure_limit = max_consecutive_failed_trials
        self.identical_failure_limit = max_identical_failures
        self.max_duplicate_draws = max_duplicate_draws
        self.rng = np.random.default_rng(self.seed)
        self.pending = {}        # trial id -> {"actions", "started", strategy data}
        self.reward_cache = {}   # architecture hash -> reward of its completed trial
        self.stop_reason = None
        self.max_time = max_time
        self.lease_seconds = lease_seconds
        self.on_trial_ended = None  # callback(trial), e.g. the chief's progress line
        self._serving = False       # True while a distributed chief serves this oracle
        self._defer_save = False
        self._clock_start = None    # first create_trial of this session (max_time)
        self._time_up = False
        self._last_seen = {}        # tuner id -> time.monotonic() of its last request
        self._saved_ongoing = {}    # tuner id -> trial id, as read from oracle.json
        self._journaled = set()     # trial ids with a journal record (read back on reload)
        # Decisions for hyperparameters beyond the architecture; fixed at the first proposal
        # (the controller's shape, the meaning of saved actions).
        self.extra_names = None
        self._extras = []

    # keras-tuner's per-trial table lists every decision (50+ rows); NASTuner prints one line
    # per trial instead, so keras-tuner's display stays off whatever `search(verbose=)` says.
    @property
    def verbose(self):
        return 0

    @verbose.setter
    def verbose(self, value):
        if hasattr(self, "_display"):
            self._display.verbose = 0

    # -- strategy interface ------------------------------------------------------------------
    def _propose(self):
        """Return ``(actions, info)``; ``info`` is JSON data kept until the trial ends."""
        raise NotImplementedError

    def _observe(self, actions, info, reward):
        """Learn from one evaluated architecture."""

    def propose_batch(self, count):
        """``count`` proposals ``[(actions, info)]`` before any of them is observed."""
        return [self._propose() for _ in range(count)]

    def _strategy_state(self):
        return {}

    def _set_strategy_state(self, state):
        pass

    # -- decisions: the space's, then the extra hyperparameters' -----------------------------
    @property
    def decisions(self):
        """Every decision a strategy makes: the space's, then one per extra hyperparameter."""
        if self.extra_names is None:
            self._freeze_extras()
        return self.space.decisions + tuple(self._extras)

    def _freeze_extras(self, names=None):
        from nasnet_search.hyperparameters import extra_decisions

        own = {d.name for d in self.space.decisions}
        extras = extra_decisions(self.hyperparameters, own)
        if names is not None:
            by_name = {d.name: d for d in extras}
            missing = [n for n in names if n not in by_name]
            if missing:
                raise ValueError(f"This search tuned the hyperparameters {missing}, which the "
                                 "resumed oracle does not declare; declare them as before, or "
                                 "start a new project (overwrite=True).")
            extras = [by_name[n] for n in names]
        self._extras = extras
        self.extra_names = [d.name for d in extras]

    def update_space(self, hyperparameters):
        known = set(self.hyperparameters.values)
        super().update_space(hyperparameters)
        added = [hp.name for hp in self.hyperparameters.space if hp.name not in known]
        if added and self.extra_names is not None:
            # The strategy's decisions are fixed once it has proposed; what a hypermodel
            # declares later keeps its default (keras-tuner's tune_new_entries=False).
            print(f"[nasnet_search] note: {added} declared after the search started; they keep "
                  "their defaults.", flush=True)

    def random_actions(self):
        from nasnet_search.space import random_actions

        return random_actions(self.decisions, self.rng)

    def _extra_values(self, actions):
        """The extra hyperparameters' values of a proposal's actions."""
        n = len(self.space.decisions)
        return {d.name: d.values[int(a)] for d, a in zip(self._extras, actions[n:])}

    def trial_values(self, actions):
        """keras-tuner values of a proposal: the architecture's and the extra hyperparameters'."""
        values = self.space.values_from_actions(actions[:len(self.space.decisions)])
        values.update(self._extra_values(actions))
        return values

    # -- keras-tuner hooks -------------------------------------------------------------------
    def _arch_hash(self, actions):
        return hashlib.sha256(json.dumps(list(actions)).encode()).hexdigest()[:24]

    def populate_space(self, trial_id):
        if self.stop_reason or self._out_of_time():
            return {"status": TrialStatus.STOPPED, "values": None}
        in_flight = {self._arch_hash(p["actions"]) for p in self.pending.values()}
        for _ in range(self.max_duplicate_draws):
            actions, info = self._propose()
            key = self._arch_hash(actions)
            if key in self.reward_cache:
                # Already evaluated: the strategy learns the known reward without training.
                self._observe(actions, info, self.reward_cache[key])
                continue
            if key in in_flight:
                continue
            self.pending[trial_id] = {"actions": [int(a) for a in actions], "started": time.time(),
                                      **info}
            return {"status": TrialStatus.RUNNING, "values": self.trial_values(actions)}
        self.stop_reason = (f"{self.max_duplicate_draws} proposals in a row were architectures "
                            "already evaluated (the space is exhausted or the policy collapsed)")
        print(f"[nasnet_search] search stopped: {self.stop_reason}.")
        return {"status": TrialStatus.STOPPED, "values": None}

    def _out_of_time(self):
        if self.max_time is None or self._clock_start is None:
            return False
        if not self._time_up and time.monotonic() - self._clock_start >= self.max_time:
            self._time_up = True
            print(f"[nasnet_search] search stopped: max_time={self.max_time:g} s reached; "
                  "no new trial starts.", flush=True)
        return self._time_up

    def budget_spent(self):
        """True once no new trial will start (trials may still be running)."""
        if self._retry_queue:
            return False
        return bool(self.stop_reason or self._time_up
                    or (self.max_trials is not None and len(self.trials) >= self.max_trials))

    @kt.synchronized
    def create_trial(self, tuner_id):
        now = time.monotonic()
        if self._clock_start is None:
            self._clock_start = now
        self._last_seen[tuner_id] = now
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.STOPPED and self.ongoing_trials and self._serving:
            # Other workers are still running trials; one of them may die and its trial
            # come back to the queue.  Keep this worker waiting (IDLE) until they end.
            self.tuner_ids.add(tuner_id)
            trial.status = TrialStatus.IDLE
        return trial

    def _owner(self, trial_id):
        for tuner_id, trial in self.ongoing_trials.items():
            if trial.trial_id == trial_id:
                return tuner_id
        return None

    @kt.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        owner = self._owner(trial_id)
        if owner is not None:
            self._last_seen[owner] = time.monotonic()
        if not metrics or trial_id in self.end_order:
            # An empty report is a worker's heartbeat; a report for an ended trial comes
            # from a second run of it (its lease expired) and must not touch the result.
            return self.trials[trial_id]
        return super().update_trial(trial_id, metrics, step=step)

    @kt.synchronized
    def expire_leases(self, now=None):
        """Take back the trials of workers silent for longer than ``lease_seconds``.

        Called by the chief's serving loop.  Returns ``[(tuner_id, trial_id or None)]``.
        """
        if self.lease_seconds is None:
            return []
        now = time.monotonic() if now is None else now
        expired = []
        for tuner_id in sorted(self.tuner_ids | set(self.ongoing_trials)):
            seen = self._last_seen.setdefault(tuner_id, now)
            if now - seen <= self.lease_seconds:
                continue
            trial = self.ongoing_trials.pop(tuner_id, None)
            self.tuner_ids.discard(tuner_id)
            del self._last_seen[tuner_id]
            if trial is not None:
                self._retry_queue.append(trial.trial_id)
                print(f"[nasnet_search] {tuner_id} sent nothing for {now - seen:.0f} s "
                      f"(lease_seconds={self.lease_seconds:g}): trial {trial.trial_id} goes back "
                      "to the queue.", flush=True)
            expired.append((tuner_id, trial.trial_id if trial is not None else None))
        if expired:
            self.save()
        return expired

    def score_trial(self, trial):
        metrics = {}
        for name in trial.metrics.metrics:
            if name == self.reward.metric:
                metrics[name] = trial.metrics.get_best_value(name)
            else:
                metrics[name] = trial.metrics.get_last_value(name)
        trial.score = self.reward.score(metrics)  # keras-tuner's convention (not negated)
        trial.best_step = trial.metrics.get_best_step(self.reward.metric)
        if math.isnan(trial.score):  # keras-tuner then retries or fails the trial
            trial.message = (f"the reward is not a number: it needs finite "
                             f"{self.reward.metrics_needed()}, got {metrics}")

    @kt.synchronized
    def end_trial(self, trial):
        if trial.trial_id in self.end_order and self._owner(trial.trial_id) is None:
            # The trial already ended: a repeated report (a worker retrying after the
            # chief restarted) or the slower of two runs of a re-queued trial.
            return
        if trial.trial_id in self._retry_queue:
            # Its lease expired but the first worker finished it after all.
            self._retry_queue = [t for t in self._retry_queue if t != trial.trial_id]
        runner = self._owner(trial.trial_id)
        self._defer_save = True
        try:
            super().end_trial(trial)
        finally:
            self._defer_save = False
        stored = self.trials[trial.trial_id]
        if stored.status in (TrialStatus.COMPLETED, TrialStatus.FAILED) \
                and stored.trial_id in self.pending:
            info = self.pending.pop(stored.trial_id)
            actions = info.pop("actions")
            started = info.pop("started")
            reward = (self.reward.from_score(stored.score) if stored.status == TrialStatus.COMPLETED
                      else self.failed_reward)
            if stored.status == TrialStatus.COMPLETED:
                self.reward_cache[self._arch_hash(actions)] = reward
            if reward is not None:
                self._observe(actions, info, reward)
            self._journal(stored, actions, time.time() - started, runner)
        self.save()
        if self.on_trial_ended is not None:
            self.on_trial_ended(stored)

    def _check_consecutive_failures(self):
        if self.stop_reason:
            return
        ended = [self.trials[t] for t in self.end_order]
        run = 0
        for trial in ended:
            run = run + 1 if trial.status == TrialStatus.FAILED else 0
        if self.failure_limit is not None and run >= self.failure_limit:
            self.stop_reason = f"{run} trials in a row failed (max_consecutive_failed_trials)"
        elif (self.identical_failure_limit is not None and run == len(ended)
              and run >= self.identical_failure_limit):
            reasons = {failure_reason(t.message) for t in ended}
            # A distributed chief gets no failure messages (keras-tuner's wire format lacks
            # them): unknown reasons are not "the same reason".
            if len(reasons) == 1 and all(t.message for t in ended):
                self.stop_reason = (f"the first {run} trials all failed with the same reason, "
                                    f"which points at the data or the setup rather than the "
                                    f"architectures (max_identical_failures): {reasons.pop()}")
        if self.stop_reason:
            print(f"[nasnet_search] search stopped: {self.stop_reason}.")

    def trial_reward(self, trial):
        """The strategy's reward (higher is better) of a completed trial's score."""
        return self.reward.from_score(trial.score)

    def get_best_trials(self, num_trials=1):
        done = [t for t in self.trials.values() if t.status == TrialStatus.COMPLETED
                and t.score is not None and math.isfinite(t.score)]
        done.sort(key=lambda t: (-self.trial_reward(t), t.trial_id))
        return done[:num_trials]

    # -- journal -----------------------------------------------------------------------------
    def _journal(self, trial, actions, seconds, tuner_id):
        if trial.trial_id in self._journaled:
            # A chief killed after the journal line but before oracle.json: the worker sent
            # the end of the trial again to the restarted chief.  One record per trial.
            return
        self._journaled.add(trial.trial_id)
        metrics = {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}
        record = {
            "trial_id": trial.trial_id, "index": len(self.end_order), "status": trial.status,
            "reward": (self.trial_reward(trial) if trial.status == TrialStatus.COMPLETED
                       else None),
            "score": trial.score if trial.status == TrialStatus.COMPLETED else None,
            "metrics": metrics, "seconds": round(seconds, 3), "time": time.time(),
            "tuner_id": tuner_id,
            "architecture": self.space.arch_to_dict(
                self.space.decode_actions(actions[:len(self.space.decisions)])),
            "hyperparameters": self._extra_values(actions),
            "reason": (failure_reason(trial.message) if trial.status != TrialStatus.COMPLETED
                       else None),
        }
        storage.append_jsonl(os.path.join(self._project_dir, JOURNAL), record)

    # -- persistence -------------------------------------------------------------------------
    def save(self):
        if self._defer_save:
            return
        storage.atomic_write_json(self._get_oracle_fname(), self.get_state())

    def reload(self):
        super().reload()  # sends every running trial to the retry queue
        from keras_tuner.src.distribute import utils as dist_utils

        # keras-tuner's create_trial writes trial.json, then oracle.json: a kill between
        # the two leaves a trial that the saved state never started.  It would count
        # against max_trials and never run; its id is given again to the next trial.
        started = set(self.start_order)
        for trial_id in [t for t in self.trials if t not in started]:
            del self.trials[trial_id]
        self._journaled = {r["trial_id"] for r in
                           storage.read_jsonl(os.path.join(self._project_dir, JOURNAL))}

        if dist_utils.is_chief_oracle() or not dist_utils.has_chief_oracle():
            storage.remove_stale_temporaries(self._project_dir)  # whoever owns the state
        if not dist_utils.is_chief_oracle():
            return
        # A restarted chief: the workers may still be running their trials and will
        # report them; give each a fresh lease instead of running the trial again.
        for tuner_id, trial_id in self._saved_ongoing.items():
            if trial_id in self._retry_queue:
                self._retry_queue.remove(trial_id)
                self.ongoing_trials[tuner_id] = self.trials[trial_id]
                self.tuner_ids.add(tuner_id)

    def _save_trial(self, trial):
        path = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        storage.atomic_write_json(path, trial.get_state())

    def get_state(self):
        state = super().get_state()
        state["nas"] = {
            "strategy": type(self).__name__,
            "space": self.space.get_config(),
            "space_signature": self.space.signature(),
            "rng": self.rng.bit_generator.state,
            "pending": self.pending,
            "reward_cache": self.reward_cache,
            "stop_reason": self.stop_reason,
            "strategy_state": self._strategy_state(),
            "extra_hyperparameters": self.extra_names,
            "score_convention": "keras-tuner",
        }
        return state

    def set_state(self, state):
        super().set_state(state)
        self._saved_ongoing = dict(state["ongoing_trials"])
        nas = state.get("nas")
        if nas is None:
            raise ValueError(f"The project {self._project_dir!r} was not written by a "
                             "nasnet_search oracle; pass overwrite=True to start a new search "
                             "there, or choose another project_name.")
        if nas["strategy"] != type(self).__name__:
            raise ValueError(f"This project was searched with {nas['strategy']}; it cannot be "
                             f"resumed with {type(self).__name__} (pass overwrite=True to start "
                             "a new search there).")
        if nas["space_signature"] != self.space.signature():
            raise ValueError(f"This project was searched over a different space ({nas['space']}); "
                             f"resume with the same space, or start a new project "
                             "(overwrite=True).")
        if nas.get("score_convention") != "keras-tuner":
            # Written before scores followed keras-tuner (a minimised metric's score was
            # negated): score again from the metrics, which is the same however often it runs.
            for trial in self.trials.values():
                if trial.status == TrialStatus.COMPLETED and trial.score is not None:
                    self.score_trial(trial)
                    self._save_trial(trial)
        if nas.get("extra_hyperparameters") is not None:
            self._freeze_extras(nas["extra_hyperparameters"])
        self.rng.bit_generator.state = nas["rng"]
        self.pending = nas["pending"]
        self.reward_cache = nas["reward_cache"]
        self.stop_reason = nas["stop_reason"]
        self._set_strategy_state(nas["strategy_state"])


class RandomOracle(NASOracle):
    """Uniform random search over the space (NASNet's baseline, papers.md §1.8)."""

    def _propose(self):
        return self.random_actions(), {}


class EvolutionOracle(NASOracle):
    """Aging (regularized) evolution, Real et al. 2019 (papers.md §3.4).

    The first ``population_size`` trials are random; then each proposal mutates
    the best of ``sample_size`` population members drawn at random, and the
    oldest member leaves when a child arrives.  The paper used 100 / 25 for
    20,000 trials; the defaults suit a few hundred.
    """

    def __init__(self, space, population_size=20, sample_size=5, **kwargs):
        for name, value in (("population_size", population_size), ("sample_size", sample_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}.")
        if sample_size > population_size:
            raise ValueError(f"`sample_size` ({sample_size}) must be <= population_size "
                             f"({population_size}).")
        super().__init__(space, **kwargs)
        self.population_size = population_size
        self.sample_size = sample_size
        self.population = deque()  # (actions, reward), oldest first
        self.num_proposed = 0

    def _propose(self):
        self.num_proposed += 1
        if self.num_proposed <= self.population_size or not self.population:
            return self.random_actions(), {}
        members = list(self.population)
        picks = self.rng.choice(len(members), size=min(self.sample_size, len(members)),
                                replace=False)
        parent = max((members[i] for i in sorted(picks)), key=lambda m: m[1])
        from nasnet_search.space import mutate

        return mutate(self.decisions, parent[0], self.rng), {}

    def _observe(self, actions, info, reward):
        self.population.append((list(actions), float(reward)))
        while len(self.population) > self.population_size:
            self.population.popleft()

    def _strategy_state(self):
        return {"population": [[a, r] for a, r in self.population],
                "num_proposed": self.num_proposed}

    def _set_strategy_state(self, state):
        self.population = deque((list(a), r) for a, r in state["population"])
        self.num_proposed = state["num_proposed"]
