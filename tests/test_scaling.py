import pytest

import nasnet_keras as nk
from nasnet_keras.demo import load_digits_dataset
from nasnet_keras.scaling import (compound_scale, feasible_coefficients, scale_report,
                                  search_scaling_coefficients)


def test_phi_zero_is_the_identity():
    s = compound_scale(4, 1056, 224, 0)
    assert (s.num_cells, s.penultimate_filters, s.image_size) == (4, 1056, 224)
    assert s.predicted_mult_adds_ratio == 1.0


def test_scaling_arithmetic():
    s = compound_scale(4, 1056, 224, 2)
    assert s.num_cells == 6                    # ceil(4 * 1.44)
    assert s.penultimate_filters % 96 == 0     # a valid width
    assert abs(s.penultimate_filters - 1056 * 1.21) <= 48
    assert s.image_size == round(224 * 1.15 ** 2)
    assert s.predicted_mult_adds_ratio == pytest.approx((1.2 * 1.1 ** 2 * 1.15 ** 2) ** 2)


def test_counted_mult_adds_grow_about_two_to_the_phi():
    base = dict(genotype=nk.NASNET_A, num_cells=2, penultimate_filters=192, stem="cifar",
                input_shape=(32, 32, 3), classes=10)
    report = scale_report(base, phi=1)
    assert report["predicted_ratio"] == pytest.approx(1.92, abs=0.01)
    # Rounding depth up and width/resolution to valid values moves it somewhat.
    assert 1.6 <= report["counted_ratio"] <= 2.6


@pytest.mark.parametrize("kwargs, match", [
    (dict(phi=-1), "`phi`"),
    (dict(phi=1, alpha=0.9), "`alpha`"),
    (dict(phi=1, gamma=0.5), "`gamma`"),
])
def test_bad_coefficients(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compound_scale(4, 1056, 224, **kwargs)


def test_infeasible_grid_is_an_error():
    with pytest.raises(ValueError, match="alpha\\*beta\\^2\\*gamma\\^2"):
        feasible_coefficients(alphas=(1.0,), betas=(1.0,), gammas=(1.0,))


def test_grid_search_on_digits(tmp_path):
    (x, y), (xv, yv) = load_digits_dataset()
    grid = [(1.2, 1.1, 1.15), (1.0, 1.2, 1.2)]
    base = dict(genotype=nk.NASNET_A, num_cells=1, penultimate_filters=96, stem="cifar",
                input_shape=(32, 32, 3), classes=10)
    best, tuner = search_scaling_coefficients(base, x[:256], y[:256], (xv[:128], yv[:128]),
                                              epochs=1, grid=grid, directory=str(tmp_path))
    assert best in grid
    trials = tuner.oracle.get_best_trials(10)
    assert len(trials) == 2 and all(t.score is not None for t in trials)
