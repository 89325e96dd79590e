"""Policy-gradient updates for the controller: REINFORCE (Zoph & Le 2017) and
PPO (NASNet), with an exponential-moving-average baseline and an entropy bonus.

Named presets hold the papers' settings.  They were tuned for thousands of
trials on hundreds of GPUs; "default" is tuned to learn within a few hundred
trials (see benchmarks/search.py for the measurement).
"""

import dataclasses

import numpy as np

from nasnet_search.graph_options import GraphStep

ALGORITHMS = ("reinforce", "ppo")
REWARD_TRANSFORMS = ("identity", "cube")


@dataclasses.dataclass(frozen=True)
class RLSettings:
    """Controller and update settings.

    Args:
        algorithm: "ppo" or "reinforce".
        learning_rate: Adam learning rate.
        batch_size: m, completed trials per update.
        entropy_weight: weight of the mean entropy bonus in the loss.
        baseline_decay: EMA baseline ``b <- d * b + (1 - d) * R`` per reward.
        clip_ratio: PPO's epsilon.
        ppo_epochs: PPO passes over each batch.
        grad_clip: global-norm gradient clipping (None: off).
        normalize_advantages: divide the batch's advantages by their std.
        reward_transform: "identity" or "cube" (NAS 2017 used accuracy cubed).
        units, num_layers, init_range, temperature, tanh_constant, shared_heads:
            the controller (see `Controller`).
        max_staleness: drop samples drawn more than this many updates ago (None: keep).
    """

    algorithm: str = "ppo"
    learning_rate: float = 0.01
    batch_size: int = 10
    entropy_weight: float = 1e-3
    baseline_decay: float = 0.9
    clip_ratio: float = 0.2
    ppo_epochs: int = 4
    grad_clip: float = 5.0
    normalize_advantages: bool = True
    reward_transform: str = "identity"
    units: int = 100
    num_layers: int = 1
    init_range: float = 0.1
    temperature: float = None
    tanh_constant: float = None
    shared_heads: bool = False
    max_staleness: int = None

    def __post_init__(self):
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"`algorithm` must be one of {ALGORITHMS}, got {self.algorithm!r}.")
        if self.reward_transform not in REWARD_TRANSFORMS:
            raise ValueError(f"`reward_transform` must be one of {REWARD_TRANSFORMS}, got "
                             f"{self.reward_transform!r}.")
        positive = ("learning_rate", "batch_size", "ppo_epochs", "units", "num_layers", "init_range")
        for field in positive:
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"`{field}` must be > 0, got {value!r}.")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ValueError(f"`baseline_decay` must be in [0, 1), got {self.baseline_decay!r}.")
        if not 0.0 < self.clip_ratio < 1.0:
            raise ValueError(f"`clip_ratio` must be in (0, 1), got {self.clip_ratio!r}.")
        if self.entropy_weight < 0:
            raise ValueError(f"`entropy_weight` must be >= 0, got {self.entropy_weight!r}.")

    def transform(self, reward):
        return reward ** 3 if self.reward_transform == "cube" else reward

    def to_dict(self):
        return dataclasses.asdict(self)


# The papers' settings (papers.md §1.8, §2.2; keras_tuner.md §4.3).  Values the
# papers do not give (PPO clip and epochs) keep the defaults.
PRESETS = {
    "default": RLSettings(),
    "nasnet": RLSettings(algorithm="ppo", learning_rate=3.5e-4, batch_size=20,
                         entropy_weight=1e-5, baseline_decay=0.95, units=100, normalize_advantages=False),
    "nas2017": RLSettings(algorithm="reinforce", learning_rate=6e-4, batch_size=8,
                          entropy_weight=0.0, baseline_decay=0.95, units=35, num_layers=2,
                          init_range=0.08, reward_transform="cube",
                          normalize_advantages=False),
    "enas": RLSettings(algorithm="reinforce", learning_rate=3.5e-3, batch_size=10,
                       entropy_weight=1e-4, baseline_decay=0.99, units=64, tanh_constant=1.1, shared_heads=True,
                       normalize_advantages=False),
}


def rl_settings(preset="default", **overrides):
    if isinstance(preset, RLSettings):
        return dataclasses.replace(preset, **overrides)
    if preset not in PRESETS:
        raise ValueError(f"Unknown RL preset {preset!r}; allowed: {sorted(PRESETS)}.")
    return dataclasses.replace(PRESETS[preset], **overrides)


def advantages(rewards, baseline, settings):
    """Advantages against the baseline from before this batch, and the updated baseline.

    The baseline starts at the first batch's mean; then it follows the EMA in
    arrival order.
    """
    rewards = np.asarray(rewards, "float64")
    if baseline is None:
        baseline = float(rewards.mean())
    adv = rewards - baseline
    if settings.normalize_advantages and len(adv) > 1 and adv.std() > 1e-8:
        adv = adv / adv.std()
    d = settings.baseline_decay
    for r in rewards:
        baseline = d * baseline + (1.0 - d) * float(r)
    return adv, baseline


def reproducible(gradient):
    """A float64 gradient rounded so that it (almost never) depends on summation order.

    TensorFlow sums a shared weight's gradient over the unrolled steps in an
    order that differs between traces, i.e. between a search and its resumed
    process (measured: float32 controllers drifted by ~1e-6 after 3 updates).
    The controller computes in float64, where those sums differ by ~1e-16;
    rounded to float32 they agree unless a value sits right at a rounding
    boundary, and magnitudes below 1e-12 (cancellation noise that Adam would
    normalise into visible steps) become 0.  Measured: most resumed runs are
    bit-identical; the rest differ in a few weights by ~1e-12.
    """
    import tensorflow as tf

    rounded = tf.cast(tf.cast(gradient, tf.float32), gradient.dtype)
    return tf.where(tf.abs(gradient) < 1e-12, tf.zeros_like(rounded), rounded)


class PolicyTrainer:
    """Applies the REINFORCE or PPO update to a `Controller` with Adam."""

    def __init__(self, controller, settings):
        from nasnet_keras.optimizers import FusedAdam

        self.controller = controller
        self.settings = settings
        # Keras' Adam with one fused kernel per variable (float64 here): with Keras' own update
        # the first PPO update (traced once) took 2.7 s instead of 2.2 s (89 variables of the
        # NASNet space), with the same numbers.
        self.optimizer = FusedAdam(settings.learning_rate, global_clipnorm=settings.grad_clip)
        self.optimizer.build(controller.trainable_variables)
        self._step = None

    def _loss(self, actions, logp_old, adv):
        from keras import ops

        _, logps, ents = self.controller.run(actions=actions)
        logp = ops.sum(logps, axis=1)
        entropy = ops.mean(ops.sum(ents, axis=1))
        if self.settings.algorithm == "reinforce":
            surrogate = ops.mean(adv * logp)
        else:
            eps = self.settings.clip_ratio
            ratio = ops.exp(logp - logp_old)
            surrogate = ops.mean(ops.minimum(ratio * adv, ops.clip(ratio, 1 - eps, 1 + eps) * adv))
        return -surrogate - self.settings.entropy_weight * entropy, entropy

    def _train_step(self):
        if self._step is None:
            import tensorflow as tf

            variables = self.controller.trainable_variables

            @tf.function(reduce_retracing=True)
            def step(actions, logp_old, adv):
                with tf.GradientTape() as tape:
                    loss, entropy = self._loss(actions, logp_old, adv)
                grads = [reproducible(g) for g in tape.gradient(loss, variables)]
                self.optimizer.apply(grads, variables)
                return loss, entropy

            # A small float64 graph: no Grappler (`nasnet_search.graph_options`).
            self._step = GraphStep(step, optimize_graph=False)
        return self._step

    def update(self, actions, logp_old, adv):
        """One update on a batch; returns loss and mean entropy for monitoring."""
        actions = np.asarray(actions, "int32")
        logp_old = np.asarray(logp_old, "float64")
        adv = np.asarray(adv, "float64")
        epochs = self.settings.ppo_epochs if self.settings.algorithm == "ppo" else 1
        step = self._train_step()
        for _ in range(epochs):
            loss, entropy = step(actions, logp_old, adv)
        return {"loss": float(loss), "entropy": float(entropy)}
