"""The one place that knows weight names.

Every weight of a model built here has a TF-slim name (``cell_0/comb_iter_0/
left/separable_5x5_1/depthwise_weights``).  keras.applications names are
translated to slim names by `keras_app_to_slim` (rules of implementations.md
§1.8, checked against the full table in ``shared/data``).  Loaders therefore
compare name sets, never positions.
"""

import re

from nasnet_keras.genotypes import NASNET_A

_VARIABLE_NAMES = {
    "kernel": "weights",
    "depthwise_kernel": "depthwise_weights",
    "pointwise_kernel": "pointwise_weights",
    "bias": "biases",
    "gamma": "gamma",
    "beta": "beta",
    "moving_mean": "moving_mean",
    "moving_variance": "moving_variance",
}
_BN = ("gamma", "beta", "moving_mean", "moving_variance")

HEAD_NAMES = ("final_layer/FC/weights", "final_layer/FC/biases")


def is_head_name(name):
    return name in HEAD_NAMES


def is_aux_name(name):
    return re.match(r"aux_\d+/", name) is not None


def _layer_prefix(model):
    """The ``name + "_"`` prefix that `NASNet(name=...)` puts on every layer."""
    for layer in model.layers:
        scope = getattr(layer, "scope", None)
        if scope and layer.name.endswith(scope):
            return layer.name[: len(layer.name) - len(scope)]
    raise ValueError(
        f"Model {model.name!r} has no NASNet cells; weights can only be mapped onto models "
        "built by nasnet_keras.")


def model_slim_variables(model):
    """{slim name: variable} for every weight of a model built by `NASNet`."""
    prefix = _layer_prefix(model)
    out = {}

    def add(name, var):
        if name in out:
            raise AssertionError(f"two variables map to the slim name {name!r}")
        out[name] = var

    for layer in model.layers:
        base = layer.name[len(prefix):] if layer.name.startswith(prefix) else layer.name
        if hasattr(layer, "slim_variables") and getattr(layer, "scope", None):
            for rel, var in layer.slim_variables().items():
                add(f"{layer.scope}/{rel}", var)
        elif base in ("conv0", "l1_stem_3x3"):
            add(f"{base}/weights", layer.kernel)
        elif base in ("conv0_bn", "l1_stem_bn"):
            for n in _BN:
                add(f"{base}/{n}", getattr(layer, n))
        elif base == "predictions":
            add("final_layer/FC/weights", layer.kernel)
            add("final_layer/FC/biases", layer.bias)
    return out


# --- keras.applications names ------------------------------------------------------------

_SEP_RE = re.compile(
    r"^separable_conv_(?P<j>[12])_(?P<bn>bn_)?(?P<kind>normal|reduction)_"
    r"(?P<side>left|right)(?P<k>\d)_(?P<id>.+)$")
_CELL_RE = re.compile(
    r"^(?:(?P<kind>normal|reduction)_(?P<what>conv_1|bn_1)|adjust_(?P<adj>conv_projection|"
    r"conv_1|conv_2|bn))_(?P<id>.+)$")


def _kernel_size(op_name):
    return int(re.search(r"(\d)x\d$", op_name).group(1))


def keras_app_cell_scope(block_id, num_cells):
    """keras.applications block id -> slim scope (``stem_1`` -> ``cell_stem_0``, ...)."""
    if block_id == "stem_1":
        return "cell_stem_0"
    if block_id == "stem_2":
        return "cell_stem_1"
    if block_id.startswith("reduce_"):
        k = int(block_id[len("reduce_"):])
        if k == num_cells:
            return "reduction_cell_0"
        if k == 2 * num_cells:
            return "reduction_cell_1"
        raise ValueError(f"unexpected reduction block id {block_id!r} for N={num_cells}")
    k = int(block_id)
    return f"cell_{k if k < num_cells else k - 1}"


def keras_app_to_slim(layer_name, weight_name, num_cells, factorized_ids=()):
    """Map one keras.applications NASNet weight to its TF-slim name.

    Args:
        layer_name: e.g. ``separable_conv_1_bn_reduction_left4_reduce_4``.
        weight_name: the variable's own name, e.g. ``gamma`` or ``kernel``.
        num_cells: N, normal cells per stage (4 mobile, 6 large).
        factorized_ids: block ids whose ``adjust_bn`` follows a factorized
            reduction (their file has ``adjust_conv_1_{id}``).
    """
    var = _VARIABLE_NAMES.get(weight_name)
    if var is None:
        raise ValueError(f"unknown variable {weight_name!r} in layer {layer_name!r}")
    if layer_name == "stem_conv1":
        return f"conv0/{var}"
    if layer_name == "stem_bn1":
        return f"conv0_bn/{var}"
    if layer_name == "predictions":
        return f"final_layer/FC/{var}"
    m = _SEP_RE.match(layer_name)
    if m:
        scope = keras_app_cell_scope(m["id"], num_cells)
        kind, side, k = m["kind"], m["side"], int(m["k"])
        # keras names block 5's separable branch of the reduction cell "left4".
        comb = 4 if (kind == "reduction" and side == "left" and k == 4) else k - 1
        spec = NASNET_A.normal if kind == "normal" else NASNET_A.reduction
        size = _kernel_size(spec.ops[2 * comb + (side == "right")])
        layer = f"{'bn_sep' if m['bn'] else 'separable'}_{size}x{size}_{m['j']}"
        return f"{scope}/comb_iter_{comb}/{side}/{layer}/{var}"
    m = _CELL_RE.match(layer_name)
    if m:
        scope = keras_app_cell_scope(m["id"], num_cells)
        if m["what"] == "conv_1":
            return f"{scope}/1x1/{var}"
        if m["what"] == "bn_1":
            return f"{scope}/beginning_bn/{var}"
        adj = m["adj"]
        if adj == "conv_projection":
            return f"{scope}/prev_1x1/{var}"
        if adj in ("conv_1", "conv_2"):
            return f"{scope}/path{adj[-1]}_conv/{var}"
        bn = "final_path_bn" if m["id"] in factorized_ids else "prev_bn"
        return f"{scope}/{bn}/{var}"
    raise ValueError(f"layer {layer_name!r} is not a keras.applications NASNet layer")
