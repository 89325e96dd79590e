import numpy as np
import pytest

import nasnet_keras as nk


def test_schedule_and_measured_keep_rate():
    layer = nk.ScheduledDropPath(keep_prob=0.6, cell_index=4, total_cells=5,
                                 total_training_steps=100, seed=1)
    x = np.ones((40_000, 1, 1, 1), "float32")
    layer.build()
    for step, expected_keep in ((0, 1.0), (50, 0.8), (100, 0.6), (400, 0.6)):
        layer.step.assign(float(step))
        assert float(layer.current_keep_prob()) == pytest.approx(expected_keep)
        y = np.asarray(layer(x, training=True)).ravel()
        kept = y > 0
        assert kept.mean() == pytest.approx(expected_keep, abs=0.01)
        np.testing.assert_allclose(y[kept], 1.0 / expected_keep, rtol=1e-6)
    # Shallower cells drop less: depth ratio (cell_index + 1) / total_cells.
    shallow = nk.ScheduledDropPath(keep_prob=0.6, cell_index=0, total_cells=5,
                                   total_training_steps=100)
    shallow.build()
    shallow.step.assign(100.0)
    assert float(shallow.current_keep_prob()) == pytest.approx(1 - 0.2 * 0.4)


def test_identity_at_inference():
    layer = nk.ScheduledDropPath(keep_prob=0.1, cell_index=0, total_cells=1,
                                 total_training_steps=1)
    layer.build()
    layer.step.assign(1.0)
    x = np.random.default_rng(0).normal(size=(64, 2, 2, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


def _cell(spec, keep):
    return nk.NASNetCell(spec, 4, strides=1, prev_mode="match", drop_path_keep_prob=keep,
                         cell_index=0, total_cells=1, total_training_steps=1, seed=3)


def test_cell_counts_training_steps_and_is_deterministic_in_inference():
    cell = _cell(nk.NASNET_A.normal, 0.5)
    x = np.random.default_rng(1).normal(size=(16, 8, 8, 4)).astype("float32")
    cell([x, x], training=False)
    assert float(cell.drop_path.step) == 0.0
    for _ in range(3):
        cell([x, x], training=True)
    assert float(cell.drop_path.step) == 3.0
    a, b = cell([x, x], training=False), cell([x, x], training=False)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_identity_paths_are_never_dropped():
    identity_only = nk.CellSpec(ops=["identity", "identity"], inputs=[0, 0], combine=["add"],
                                concat=[2])
    with_sep = nk.CellSpec(ops=["identity", "sep_conv_3x3"], inputs=[0, 0], combine=["add"],
                           concat=[2])
    x = np.random.default_rng(2).normal(size=(64, 6, 6, 4)).astype("float32")
    for spec, dropped in ((identity_only, False), (with_sep, True)):
        cell = _cell(spec, 0.05)
        cell([x, x], training=False)
        cell.drop_path.step.assign(1.0)  # schedule at its end: keep = 0.05
        train = np.asarray(cell([x, x], training=True))
        infer = np.asarray(cell([x, x], training=False))
        # BN uses batch statistics in training, so compare against a training pass
        # through the same cell with drop path disabled.
        cell.drop_path.step.assign(0.0)  # keep = 1
        reference = np.asarray(cell([x, x], training=True))
        assert np.array_equal(train, reference) != dropped
        assert infer.shape == train.shape
