"""Load weights into a model built by `nasnet_keras.NASNet`, strictly and by name."""

import os
import warnings

import numpy as np

from nasnet_keras.configs import NASNET_A_CONFIGS
from nasnet_keras.genotypes import NASNET_A
from nasnet_keras.weights.download import fetch_weights
from nasnet_keras.weights.files import is_nasnet_weights_file, read_weights_file, write_weights_file
from nasnet_keras.weights.keras_h5 import is_keras_app_h5, read_keras_app_h5
from nasnet_keras.weights.naming import is_aux_name, is_head_name, model_slim_variables
from nasnet_keras.weights.registry import imagenet_entry
from nasnet_keras.weights.slim_checkpoint import is_slim_checkpoint, read_slim_checkpoint

_LIST_LIMIT = 12


def check_weights_argument(weights, include_top, classes, classifier_activation):
    """Validate ``weights`` before anything is built (same rules as keras.applications)."""
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if weights == "imagenet":
        if include_top and classes != 1000:
            raise ValueError(
                "`classes` must be 1000 with `weights='imagenet'` and `include_top=True` "
                f"(the ImageNet head has 1000 classes), got classes={classes!r}. "
                "Use include_top=False and add your own head.")
        if include_top and classifier_activation not in (None, "softmax"):
            raise ValueError(
                "`classifier_activation` must be None or 'softmax' with pretrained top "
                f"weights, got {classifier_activation!r}.")
        return
    if not isinstance(weights, str):
        raise ValueError(
            f"`weights` must be None, 'imagenet' or a path to a weights file, got {weights!r}.")
    if not (os.path.isfile(weights) or is_slim_checkpoint(weights)):
        raise ValueError(
            f"`weights` must be None, 'imagenet' or the path to an existing weights file; "
            f"no file (or checkpoint prefix) at {weights!r}.")


def imagenet_variant(architecture):
    """'mobile' or 'large' if ``architecture`` is exactly that NASNet-A, else a clear error."""
    for variant in ("mobile", "large"):
        cfg = NASNET_A_CONFIGS[variant]
        if (architecture.get("genotype") == NASNET_A and architecture.get("stem") == "imagenet"
                and architecture.get("num_cells") == cfg.num_cells
                and architecture.get("penultimate_filters") == cfg.penultimate_filters
                and float(architecture.get("stem_multiplier")) == cfg.stem_multiplier
                and bool(architecture.get("skip_reduction")) == cfg.skip_reduction
                and architecture.get("filter_multiplier") == cfg.filter_multiplier):
            return variant
    raise ValueError(
        "`weights='imagenet'` exists only for NASNet-A mobile (4 @ 1056, imagenet stem, "
        "stem_multiplier 1, skip_reduction False) and large (6 @ 4032, stem_multiplier 3, "
        f"skip_reduction True); got genotype NASNet-A={architecture.get('genotype') == NASNET_A}, "
        f"{architecture.get('num_cells')} @ {architecture.get('penultimate_filters')}, "
        f"stem={architecture.get('stem')!r}. Pass weights=None or a path.")


def read_weights(path, use_ema=False):
    """{slim name: array} from any supported file, plus a short description of it."""
    path = os.fspath(path)
    if is_slim_checkpoint(path):
        return read_slim_checkpoint(path, use_ema=use_ema), "TF-slim checkpoint"
    if not os.path.isfile(path):
        raise ValueError(f"`weights`: no file at {path!r}.")
    if is_nasnet_weights_file(path):
        return read_weights_file(path)[0], "nasnet_keras weights file"
    if is_keras_app_h5(path):
        return read_keras_app_h5(path), "keras.applications NASNet file"
    raise ValueError(
        f"`weights`: {path!r} is not a keras.applications NASNet .h5, a TF-slim checkpoint "
        "prefix or a nasnet_keras weights file.")


def _listing(names):
    names = sorted(names)
    shown = ", ".join(names[:_LIST_LIMIT])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _LIST_LIMIT else "")


def assign_weights(model, arrays, source="weights"):
    """Assign ``{slim name: array}`` to ``model``: every weight exactly once.

    Allowed leftovers: the source's classifier when the model has no top, and
    auxiliary-head weights (a missing aux head stays freshly initialized, with
    a warning).  Anything else missing, unexpected or of the wrong shape is an
    error that lists the names.
    """
    targets = model_slim_variables(model)
    has_head = "final_layer/FC/weights" in targets
    extra = set(arrays) - set(targets)
    unexpected = {n for n in extra if not ((is_head_name(n) and not has_head) or is_aux_name(n))}
    missing = set(targets) - set(arrays)
    missing_aux = {n for n in missing if is_aux_name(n)}
    missing -= missing_aux
    mismatched = {
        n: (tuple(np.shape(arrays[n])), tuple(targets[n].shape))
        for n in targets if n in arrays and tuple(np.shape(arrays[n])) != tuple(targets[n].shape)
    }
    if missing or unexpected or mismatched:
        parts = [f"`weights` ({source}) do not fit model {model.name!r}: the file is for a "
                 "different architecture (or head)."]
        if missing:
            parts.append(f"Missing from the file ({len(missing)}): {_listing(missing)}.")
        if unexpected:
            parts.append(f"Unexpected in the file ({len(unexpected)}): {_listing(unexpected)}.")
        if mismatched:
            items = [f"{n} file {a} vs model {b}" for n, (a, b) in sorted(mismatched.items())]
            parts.append(f"Shape mismatches ({len(items)}): " + "; ".join(items[:_LIST_LIMIT]) + ".")
        raise ValueError(" ".join(parts))
    for name, var in targets.items():
        if name in arrays:
            var.assign(np.asarray(arrays[name], dtype=var.dtype))
    if missing_aux:
        warnings.warn(f"{source}: no auxiliary-head weights; the aux head of {model.name!r} "
                      "keeps its initial values.", stacklevel=2)


def load_weights(model, weights, architecture=None, use_ema=False, cache_dir=None):
    """Load ``weights`` (``"imagenet"`` or a path) into ``model`` by name."""
    if weights == "imagenet":
        if architecture is None:
            raise ValueError("load_weights(model, 'imagenet') needs the model's architecture; "
                             "build it with NASNetA(variant, weights='imagenet').")
        variant = imagenet_variant(architecture)
        entry = imagenet_entry(variant, architecture.get("include_top", True))
        path = fetch_weights(entry, cache_dir=cache_dir)
        arrays, source = read_weights(path)
        source = f"{entry.name} ({source})"
    else:
        arrays, source = read_weights(weights, use_ema=use_ema)
        source = f"{source} {os.fspath(weights)!r}"
    assign_weights(model, arrays, source=source)
    return model


def save_weights(model, path, metadata=None):
    """Write ``model``'s weights in this project's name-keyed format."""
    arrays = {n: np.asarray(v) for n, v in model_slim_variables(model).items()}
    write_weights_file(path, arrays, metadata=metadata)
    return path
