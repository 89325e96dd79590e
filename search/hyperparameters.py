"""Hyperparameters beyond the architecture (a learning rate, a dropout rate...) as decisions.

A user's hypermodel, or the oracle's ``hyperparameters=`` argument, may declare
keras-tuner hyperparameters that the search space does not own.  Every strategy
proposes action indices over a fixed list of `Decision`s, so each such
hyperparameter becomes one more ``"choice"`` decision after the space's own:

- ``Choice``: its values; ``Boolean``: ``(False, True)``;
- ``Int``: every value from ``min_value`` to ``max_value`` by ``step`` when that
  is at most ``grid`` values, else ``grid`` values spread evenly (geometrically
  for ``sampling="log"``);
- ``Float``: its ``step`` grid when it has one and it is small, else ``grid``
  values spread linearly, geometrically (``"log"``) or reverse-geometrically;
- ``Fixed``: no decision (it has one value).

The RL controller gives each one its own softmax head, random search draws it
uniformly, evolution mutates it like any other decision.
"""

import math

import numpy as np

from nasnet_search.decisions import Decision

DEFAULT_GRID = 8


def _spread(low, high, count, sampling):
    if sampling == "log":
        return list(np.geomspace(low, high, count))
    if sampling == "reverse_log":
        # Dense near `high`: mirror a geometric spread taken from the other end.
        return [low + high - v for v in reversed(np.geomspace(low, high, count))]
    return list(np.linspace(low, high, count))


def hp_values(hp, grid=DEFAULT_GRID):
    """The values a keras-tuner hyperparameter is searched over, or None for ``Fixed``."""
    kind = type(hp).__name__
    if kind == "Fixed":
        return None
    if kind == "Boolean":
        return (False, True)
    if kind == "Choice":
        return tuple(hp.values)
    sampling = getattr(hp, "sampling", "linear") or "linear"
    if kind == "Int":
        step = hp.step or 1
        count = (hp.max_value - hp.min_value) // step + 1
        if count <= grid and sampling == "linear":
            return tuple(range(hp.min_value, hp.max_value + 1, step))
        spread = _spread(hp.min_value, hp.max_value, min(grid, count), sampling)
        values = sorted({int(hp.min_value + step * round((v - hp.min_value) / step)) for v in spread})
        return tuple(v for v in values if hp.min_value <= v <= hp.max_value)
    if kind == "Float":
        if hp.step:
            count = int(math.floor((hp.max_value - hp.min_value) / hp.step + 1e-9)) + 1
            if count <= grid:
                return tuple(float(hp.min_value + i * hp.step) for i in range(count))
        return tuple(float(v) for v in _spread(hp.min_value, hp.max_value, grid, sampling))
    raise ValueError(f"Hyperparameter {hp.name!r} is a {kind}; the architecture search can tune "
                     "Choice, Boolean, Int, Float and Fixed hyperparameters.")


def extra_decisions(hyperparameters, own_names, grid=DEFAULT_GRID):
    """Decisions for the hyperparameters of ``hyperparameters`` not in ``own_names``."""
    decisions = []
    for hp in hyperparameters.space:
        if hp.name in own_names:
            continue
        values = hp_values(hp, grid)
        if values is None or len(values) < 1:
            continue
        decisions.append(Decision(hp.name, values, kind="choice", group=f"hp:{hp.name}"))
    return decisions
