"""EfficientNet compound scaling for any genotype's network (papers.md §4).

depth d = alpha**phi (cells per stage), width w = beta**phi (penultimate
filters, rounded to a valid multiple), resolution r = gamma**phi, with
alpha, beta, gamma >= 1 and alpha * beta**2 * gamma**2 ~= 2, so mult-adds grow
about 2**phi.  `search_scaling_coefficients` runs the paper's small grid search
at phi = 1 through keras-tuner on the user's data.
"""

import dataclasses
import itertools
import math

from nasnet_keras.genotypes import NASNET_A
from nasnet_keras.model import NASNet, cell_output_units

DEFAULT_COEFFICIENTS = (1.2, 1.1, 1.15)  # alpha, beta, gamma (EfficientNet)


@dataclasses.dataclass(frozen=True)
class ScaledNetwork:
    num_cells: int
    penultimate_filters: int
    image_size: int
    phi: float
    alpha: float
    beta: float
    gamma: float

    @property
    def predicted_mult_adds_ratio(self):
        """d * w**2 * r**2 from the coefficients, before any rounding."""
        return (self.alpha * self.beta ** 2 * self.gamma ** 2) ** self.phi

    def model_kwargs(self):
        return {"num_cells": self.num_cells, "penultimate_filters": self.penultimate_filters,
                "input_shape": (self.image_size, self.image_size, 3)}


def _check_coefficients(phi, alpha, beta, gamma):
    if not isinstance(phi, (int, float)) or phi < 0:
        raise ValueError(f"`phi` must be a number >= 0, got {phi!r}.")
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if not isinstance(value, (int, float)) or value < 1.0:
            raise ValueError(
                f"`{name}` must be >= 1 (compound scaling never shrinks a dimension), got {value!r}.")


def width_divisor(genotype=NASNET_A, stem="imagenet", filter_multiplier=2):
    """`penultimate_filters` must be a multiple of this (see `NASNet`)."""
    m = filter_multiplier
    return cell_output_units(genotype.normal) * m * m * (m * m if stem == "imagenet" else 1)


def compound_scale(num_cells, penultimate_filters, image_size, phi, alpha=1.2, beta=1.1,
                   gamma=1.15, genotype=NASNET_A, stem="imagenet", filter_multiplier=2):
    """Scale an ``N @ P`` network at ``image_size`` px by ``phi``.

    Depth rounds up (as EfficientNet's ``ceil(d * repeats)``), width rounds to
    the nearest valid multiple, resolution to the nearest pixel.  ``phi = 0``
    returns the network unchanged.
    """
    _check_coefficients(phi, alpha, beta, gamma)
    divisor = width_divisor(genotype, stem, filter_multiplier)
    if penultimate_filters % divisor:
        raise ValueError(f"`penultimate_filters` must be a multiple of {divisor}, "
                         f"got {penultimate_filters!r}.")
    d, w, r = alpha ** phi, beta ** phi, gamma ** phi
    new_cells = max(1, math.ceil(num_cells * d - 1e-9))
    new_width = max(divisor, int(round(penultimate_filters * w / divisor)) * divisor)
    new_size = max(32, int(round(image_size * r)))
    return ScaledNetwork(new_cells, new_width, new_size, phi, alpha, beta, gamma)


def scale_report(base_kwargs, phi, alpha=1.2, beta=1.1, gamma=1.15):
    """Build the base and scaled networks; predicted and counted mult-adds.

    ``base_kwargs``: `NASNet` arguments with ``num_cells``, ``penultimate_filters``
    and a square static ``input_shape``.
    """
    from nasnet_keras.analysis import count_mult_adds

    kwargs = dict(base_kwargs)
    size = kwargs["input_shape"][0]
    scaled = compound_scale(kwargs["num_cells"], kwargs["penultimate_filters"], size, phi,
                            alpha, beta, gamma, genotype=kwargs.get("genotype", NASNET_A),
                            stem=kwargs.get("stem", "imagenet"),
                            filter_multiplier=kwargs.get("filter_multiplier", 2))
    base_macs = count_mult_adds(NASNet(**kwargs))
    scaled_macs = count_mult_adds(NASNet(**{**kwargs, **scaled.model_kwargs()}))
    return {"scaled": scaled, "base_mult_adds": base_macs, "mult_adds": scaled_macs,
            "predicted_ratio": scaled.predicted_mult_adds_ratio,
            "counted_ratio": scaled_macs / base_macs}


def feasible_coefficients(alphas=(1.0, 1.1, 1.2, 1.3, 1.4), betas=(1.0, 1.05, 1.1, 1.15, 1.2),
                          gammas=(1.0, 1.05, 1.1, 1.15, 1.2), target=2.0, tolerance=0.1):
    """Grid points with ``|alpha * beta**2 * gamma**2 - target| <= tolerance``."""
    for name, values in (("alphas", alphas), ("betas", betas), ("gammas", gammas)):
        if not values or min(values) < 1.0:
            raise ValueError(f"`{name}` must be a non-empty list of values >= 1, got {values!r}.")
    out = [(a, b, g) for a, b, g in itertools.product(alphas, betas, gammas)
           if abs(a * b * b * g * g - target) <= tolerance]
    if not out:
        raise ValueError(f"no (alpha, beta, gamma) in the grid has alpha*beta^2*gamma^2 within "
                         f"{tolerance} of {target}; widen the grid or the tolerance.")
    return out


def search_scaling_coefficients(base_kwargs, x, y, validation_data, epochs=1, batch_size=64,
                                directory=None, project_name="compound_scaling", grid=None,
                                overwrite=True, seed=0, **fit_kwargs):
    """Grid-search (alpha, beta, gamma) at phi = 1 with keras-tuner's `GridSearch`.

    Each trial trains the network scaled by one feasible triple (inputs resized
    to its resolution inside the model) and reports ``val_accuracy``.
    Returns ``(best (alpha, beta, gamma), tuner)``.
    """
    import keras
    import keras_tuner as kt

    grid = list(grid) if grid is not None else feasible_coefficients()
    size = base_kwargs["input_shape"][0]

    def build(hp):
        alpha, beta, gamma = grid[hp.Choice("coefficients", list(range(len(grid))))]
        scaled = compound_scale(base_kwargs["num_cells"], base_kwargs["penultimate_filters"],
                                size, 1.0, alpha, beta, gamma,
                                genotype=base_kwargs.get("genotype", NASNET_A),
                                stem=base_kwargs.get("stem", "imagenet"),
                                filter_multiplier=base_kwargs.get("filter_multiplier", 2))
        inputs = keras.Input(tuple(base_kwargs["input_shape"]))
        resized = keras.layers.Resizing(scaled.image_size, scaled.image_size)(inputs)
        net = NASNet(**{**base_kwargs, **scaled.model_kwargs()})
        model = keras.Model(inputs, net(resized))
        model.compile(optimizer=keras.optimizers.Adam(3e-3),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = kt.GridSearch(build, objective="val_accuracy", max_trials=len(grid), seed=seed,
                          directory=directory, project_name=project_name, overwrite=overwrite)
    tuner.search(x, y, validation_data=validation_data, epochs=epochs, batch_size=batch_size,
                 verbose=0, **fit_kwargs)
    best = tuner.get_best_hyperparameters(1)[0].get("coefficients")
    return grid[best], tuner
