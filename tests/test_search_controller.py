"""The RNN controller and the policy-gradient updates."""

import numpy as np
import pytest

from nasnet_search import MacroSearchSpace, NASNetSearchSpace, RLSettings, rl_settings
from nasnet_search.algorithms import PolicyTrainer, advantages
from nasnet_search.controller import Controller

SPACE = NASNetSearchSpace(num_blocks=2, output="searched")


@pytest.fixture(scope="module")
def controller():
    return Controller(SPACE.decisions, units=16, seed=3)


def test_sampling_is_a_function_of_the_generator_state(controller):
    a = [controller.sample(np.random.default_rng(5))[0] for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(5)
    draws = [controller.sample(rng)[0] for _ in range(20)]
    assert len({tuple(d) for d in draws}) > 15
    for actions in draws:
        SPACE.decode_actions(actions)  # every sample is valid


def test_teacher_forcing_reproduces_the_sampled_log_probability(controller):
    rng = np.random.default_rng(0)
    samples = [controller.sample(rng) for _ in range(6)]
    logps = np.asarray(controller(np.array([s[0] for s in samples]))).sum(axis=1)
    np.testing.assert_allclose(logps, [s[1] for s in samples], rtol=1e-5, atol=1e-5)
    assert all(s[2] > 0 for s in samples)


def test_the_initial_policy_is_near_uniform():
    ctl = Controller(SPACE.decisions, units=16, seed=0)
    uniform = -sum(np.log(d.size) for d in SPACE.decisions)
    _, logp, _ = ctl.sample(np.random.default_rng(1))
    assert abs(logp - uniform) < 0.2 * abs(uniform)  # weights start in [-0.1, 0.1]


def test_macro_skip_decisions_use_attention():
    space = MacroSearchSpace(num_layers=3)
    ctl = Controller(space.decisions, units=8, seed=0, shared_heads=True)  # no per-decision bias
    actions, _, _ = ctl.sample(np.random.default_rng(0))
    assert len(actions) == len(space.decisions)
    skips = [t for t, d in enumerate(space.decisions) if d.kind == "skip"]
    logps = np.asarray(ctl(np.array([actions])))[0]
    assert not np.allclose(logps[skips], np.log(0.5))
    # P(j -> i) = sigmoid(v^T tanh(...)): with v = 0 every skip is a fair coin.
    ctl.attn_v.kernel.assign(np.zeros(ctl.attn_v.kernel.shape))
    logps = np.asarray(ctl(np.array([actions])))[0]
    np.testing.assert_allclose(logps[skips], np.log(0.5), atol=1e-12)


@pytest.mark.parametrize("algorithm", ["reinforce", "ppo"])
def test_an_update_raises_the_probability_of_rewarded_actions(algorithm):
    ctl = Controller(SPACE.decisions, units=16, seed=1)
    trainer = PolicyTrainer(ctl, rl_settings(algorithm=algorithm, learning_rate=0.05))
    rng = np.random.default_rng(2)
    samples = [ctl.sample(rng) for _ in range(4)]
    actions = np.array([s[0] for s in samples])
    before = np.asarray(ctl(actions)).sum(axis=1)
    trainer.update(actions, [s[1] for s in samples], np.array([1.0, -1.0, -1.0, -1.0]))
    after = np.asarray(ctl(actions)).sum(axis=1)
    assert after[0] > before[0] and after[1] < before[1]


def test_baseline_and_advantages():
    s = RLSettings(baseline_decay=0.5, normalize_advantages=False)
    adv, baseline = advantages([1.0, 3.0], None, s)
    np.testing.assert_allclose(adv, [-1.0, 1.0])    # first baseline: the batch mean
    assert baseline == pytest.approx(0.5 * (0.5 * 2 + 0.5) + 0.5 * 3)
    adv, _ = advantages([4.0], 2.0, s)
    np.testing.assert_allclose(adv, [2.0])
    cube = RLSettings(reward_transform="cube")
    assert cube.transform(0.5) == pytest.approx(0.125)


def test_presets_hold_the_papers_settings():
    nasnet = rl_settings("nasnet")
    assert (nasnet.algorithm, nasnet.learning_rate, nasnet.entropy_weight, nasnet.baseline_decay,
            nasnet.batch_size, nasnet.units) == ("ppo", 3.5e-4, 1e-5, 0.95, 20, 100)
    nas = rl_settings("nas2017")
    assert (nas.algorithm, nas.learning_rate, nas.units, nas.num_layers, nas.init_range) == \
        ("reinforce", 6e-4, 35, 2, 0.08)
    assert rl_settings("nasnet", batch_size=5).batch_size == 5


def test_settings_bad_input():
    with pytest.raises(ValueError, match="`algorithm` must be one of"):
        RLSettings(algorithm="a2c")
    with pytest.raises(ValueError, match="`learning_rate` must be > 0"):
        RLSettings(learning_rate=0)
    with pytest.raises(ValueError, match="`clip_ratio` must be in"):
        RLSettings(clip_ratio=1.5)
    with pytest.raises(ValueError, match="Unknown RL preset 'darts'"):
        rl_settings("darts")
    with pytest.raises(TypeError):
        rl_settings(learning_rte=0.1)
