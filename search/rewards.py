"""Turning a trial's metrics into one reward (higher is better).

Single objective: the metric itself (negated when it is minimised).  With a
second objective (parameters, mult-adds or measured latency) the MnasNet form
``reward = base * (value / target) ** weight`` applies; ``weight=-0.07`` is
MnasNet's soft constraint, and ``hard=True`` uses weight 0 below the target and
-1 above it.  For a perplexity objective, ``perplexity_constant=c`` makes the base
reward Zoph & Le's (2017) ``c / perplexity ** 2`` (c = 80 in the paper).  The tuner
reports ``params``, ``mult_adds`` and ``latency_ms`` as metrics, so the chief can
compute the reward in distributed mode too.
"""

import math

SECONDARY_METRICS = ("params", "mult_adds", "latency_ms")


class Reward:
    """What a trial's metrics are worth: keras-tuner's score, and the strategy's reward.

    keras-tuner's convention is kept for ``trial.score``: with one objective it
    is the metric itself (``val_loss`` stays positive; ``score_direction`` says
    which way is better); with a second objective it is the combined MnasNet
    value, higher is better.  The strategies learn from the *reward*, which is
    always higher-is-better: the score, negated for a minimised objective.

    Args:
        metric: the objective metric (e.g. ``"val_accuracy"``).
        direction: ``"max"`` or ``"min"``.
        secondary: None or one of ``SECONDARY_METRICS``.
        target: the secondary metric's target value (> 0).
        weight: exponent (<= 0: larger models are penalised).
        hard: MnasNet's hard-constraint variant.
        perplexity_constant: None, or c > 0: the metric is a perplexity (direction
            ``"min"``) and the reward is ``c / perplexity ** 2``.
    """

    def __init__(self, metric="val_accuracy", direction="max", secondary=None, target=None,
                 weight=-0.07, hard=False, perplexity_constant=None):
        if direction not in ("max", "min"):
            raise ValueError(f"`direction` must be 'max' or 'min', got {direction!r}.")
        if secondary is not None:
            if secondary not in SECONDARY_METRICS:
                raise ValueError(f"`secondary` must be one of {SECONDARY_METRICS}, got {secondary!r}.")
            if not isinstance(target, (int, float)) or target <= 0:
                raise ValueError(f"`target` for {secondary!r} must be a number > 0, got {target!r}.")
            if weight > 0:
                raise ValueError(f"`weight` must be <= 0 (it penalises large {secondary}), got {weight!r}.")
        if perplexity_constant is not None:
            if isinstance(perplexity_constant, bool) or \
                    not isinstance(perplexity_constant, (int, float)) or perplexity_constant <= 0:
                raise ValueError(f"`perplexity_constant` must be a number > 0 or None, got "
                                 f"{perplexity_constant!r}.")
            if direction != "min":
                raise ValueError(f"`perplexity_constant` makes the reward c / perplexity ** 2 of a "
                                 f"minimised perplexity; `direction` must be 'min', got "
                                 f"{direction!r}.")
        self.perplexity_constant = perplexity_constant
        self.metric, self.direction = metric, direction
        self.secondary, self.target, self.weight, self.hard = secondary, target, weight, hard

    @property
    def score_direction(self):
        """``"max"`` or ``"min"``: which scores are better (keras-tuner's ``trial.score``)."""
        return "max" if self.secondary else self.direction

    def score(self, metrics):
        """keras-tuner's ``trial.score`` of ``metrics``; NaN when a needed metric is missing."""
        if self.perplexity_constant and not self.secondary:  # the perplexity itself
            value = metrics.get(self.metric)
            return float(value) if value is not None and math.isfinite(value) else float("nan")
        reward = self(metrics)
        return reward if self.score_direction == "max" else -reward

    def from_score(self, score):
        """The strategy's reward (higher is better) of a keras-tuner score."""
        if self.perplexity_constant and not self.secondary:
            return self.perplexity_constant / score ** 2
        return score if self.score_direction == "max" else -score

    def metrics_needed(self):
        return [self.metric] + ([self.secondary] if self.secondary else [])

    def __call__(self, metrics):
        """``metrics``: name -> value.  NaN when a needed metric is missing or not finite."""
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            return float("nan")
        if self.perplexity_constant:
            if value <= 0:
                return float("nan")
            base = self.perplexity_constant / value ** 2
        else:
            base = value if self.direction == "max" else -value
        if not self.secondary:
            return float(base)
        extra = metrics.get(self.secondary)
        if extra is None or not math.isfinite(extra) or extra <= 0:
            return float("nan")
        weight = (0.0 if extra <= self.target else -1.0) if self.hard else self.weight
        return float(base * (extra / self.target) ** weight)

    def get_config(self):
        return {"metric": self.metric, "direction": self.direction, "secondary": self.secondary,
                "target": self.target, "weight": self.weight, "hard": self.hard,
                "perplexity_constant": self.perplexity_constant}
