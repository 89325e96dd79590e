"""What every search space offers the oracles, the tuner and the CLI.

A space is a fixed-length list of `Decision`s (no conditional scopes, so the
controller's step order never depends on how a build function walks the graph)
plus the two maps between decision values and an architecture object.
"""

import hashlib
import json

import numpy as np

from nasnet_search.decisions import space_size

_SPACES = {}


def register_space(cls):
    """Class decorator: lets `space_from_config` rebuild the space by name."""
    _SPACES[cls.space_name] = cls
    return cls


def random_actions(decisions, rng):
    """One uniform action per decision, drawn from the numpy generator ``rng``."""
    return [int(rng.integers(d.size)) for d in decisions]


def mutate(decisions, actions, rng):
    """Change one decision to a different value (Real et al.'s op and hidden-state
    mutations are the op and input decisions)."""
    mutable = [i for i, d in enumerate(decisions) if d.size > 1]
    child = list(actions)
    i = mutable[int(rng.integers(len(mutable)))]
    shift = 1 + int(rng.integers(decisions[i].size - 1))
    child[i] = (child[i] + shift) % decisions[i].size
    return child


def check_names(field, given, known):
    """``given`` as a tuple: a non-empty list of distinct names, each in ``known``."""
    if isinstance(given, str) or not given:
        raise ValueError(f"`{field}` must be a non-empty list of names, got {given!r}.")
    unknown = [name for name in given if name not in known]
    if unknown:
        raise ValueError(f"`{field}`: unknown names {unknown}; allowed: {sorted(known)}.")
    if len(set(given)) != len(given):
        raise ValueError(f"`{field}` repeats a name: {list(given)}.")
    return tuple(given)


def space_from_config(config):
    if not isinstance(config, dict) or config.get("space") not in _SPACES:
        raise ValueError(f"Unknown search space config {config!r}; known spaces: {sorted(_SPACES)}.")
    config = dict(config)
    return _SPACES[config.pop("space")](**config)


class SearchSpace:
    """Base class.  Subclasses set ``space_name`` and implement `_make_decisions`,
    `decode`, `encode`, `arch_to_dict`, `arch_from_dict`, `build_model`, `get_config`."""

    space_name = "base"

    def __init__(self):
        self.decisions = tuple(self._make_decisions())
        names = [d.name for d in self.decisions]
        if len(set(names)) != len(names):
            raise ValueError("Search space: decision names must be unique.")
        self._by_name = {d.name: d for d in self.decisions}

    # -- decisions <-> keras-tuner values <-> action indices -------------------------------
    def declare(self, hp):
        """Register every decision on ``hp`` (fixed names, fixed order) and return ``hp``."""
        for decision in self.decisions:
            decision.declare(hp)
        return hp

    def hyperparameters(self):
        import keras_tuner as kt

        return self.declare(kt.HyperParameters())

    def values_from_hp(self, hp):
        """The decision values of a trial's ``HyperParameters``."""
        missing = [d.name for d in self.decisions if d.name not in hp.values]
        if missing:
            raise ValueError(f"HyperParameters lack the decisions {missing[:5]} "
                             f"({len(missing)} missing); declare them with `space.declare(hp)`.")
        return {d.name: hp.values[d.name] for d in self.decisions}

    def actions_from_values(self, values):
        if not isinstance(values, dict):
            raise TypeError(f"`values` must be a dict of decision name -> value, got "
                            f"{type(values).__name__}.")
        missing = [d.name for d in self.decisions if d.name not in values]
        if missing:
            raise ValueError(f"`values` lacks the decisions {missing[:5]} ({len(missing)} missing).")
        return [d.index(values[d.name]) for d in self.decisions]

    def values_from_actions(self, actions):
        if len(actions) != len(self.decisions):
            raise ValueError(f"Expected {len(self.decisions)} actions, got {len(actions)}.")
        out = {}
        for d, a in zip(self.decisions, actions):
            if not 0 <= int(a) < d.size:
                raise ValueError(f"Action {a!r} out of range for {d.name!r} (0..{d.size - 1}).")
            out[d.name] = d.values[int(a)]
        return out

    # -- sampling helpers for the random and evolution baselines ---------------------------
    def random_actions(self, rng):
        return random_actions(self.decisions, rng)

    def mutate(self, actions, rng):
        return mutate(self.decisions, actions, rng)

    # -- architecture objects ---------------------------------------------------------------
    def decode_actions(self, actions):
        return self.decode(self.values_from_actions(actions))

    def arch_key(self, arch):
        """A canonical string for an architecture (equal architectures, equal keys)."""
        return json.dumps(self.arch_to_dict(arch), sort_keys=True)

    def arch_to_json(self, arch):
        return json.dumps(self.arch_to_dict(arch), indent=1)

    def arch_from_json(self, text):
        return self.arch_from_dict(json.loads(text))

    @property
    def size(self):
        """Number of distinct decision sequences."""
        return space_size(self.decisions)

    @property
    def log10_size(self):
        return float(sum(np.log10(d.size) for d in self.decisions))

    def signature(self):
        """Hash of the decision table: a resumed search checks that its space is unchanged."""
        table = [(d.name, [repr(v) for v in d.values], d.kind, d.group, list(d.candidates),
                  d.anchor, d.new_anchors_before, d.closes_anchor) for d in self.decisions]
        return hashlib.sha256(json.dumps(table).encode()).hexdigest()[:16]

    def summary(self):
        return (f"{type(self).__name__}: {len(self.decisions)} decisions, "
                f"{self.size:.3e} architectures (10^{self.log10_size:.1f})")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "space")
        return f"{type(self).__name__}({args})"

    def default_reward(self):
        """The `Reward` an oracle uses when given no objective; None: ``val_accuracy``."""
        return None

    # -- subclass interface ----------------------------------------------------------------
    def _make_decisions(self):
        raise NotImplementedError

    def decode(self, values):
        raise NotImplementedError

    def encode(self, arch):
        raise NotImplementedError

    def arch_to_dict(self, arch):
        raise NotImplementedError

    def arch_from_dict(self, data):
        raise NotImplementedError

    def build_model(self, arch, input_shape, classes, **kwargs):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError
