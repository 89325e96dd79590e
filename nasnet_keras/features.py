"""Intermediate features: stable endpoint names and a feature-pyramid model.

Endpoint names are the TF-slim scopes: ``stem`` (the stem conv after BN),
``cell_stem_0``, ``cell_stem_1`` (ImageNet stem cells), ``cell_<i>`` (normal
cells, numbered 0..3N-1 without gaps), ``reduction_cell_<k>``, and ``final``
(the last cell after ReLU).  A layer-name prefix (``NASNet(name=...)``) does
not change them.
"""

import collections
import weakref

import keras

from nasnet_keras.cell import NASNetCell
from nasnet_keras.weights.naming import _layer_prefix


def endpoint_layers(model):
    """OrderedDict {endpoint name: index in ``model.layers`` of the layer producing it}."""
    prefix = _layer_prefix(model)
    found = collections.OrderedDict()
    for i, layer in enumerate(model.layers):
        base = layer.name[len(prefix):]
        if base in ("conv0_bn", "l1_stem_bn"):
            found["stem"] = i
        elif isinstance(layer, NASNetCell):
            found[layer.scope] = i
        elif base == "final_relu":
            found["final"] = i
    return found


# A pass-through cell's outputs joined into one endpoint tensor, made once per cell layer:
# a second Concatenate of the same name would clash in any model using both.
_JOINED = weakref.WeakKeyDictionary()


def _joined_outputs(layer, outputs):
    if len(outputs) == 1:
        return outputs[0]
    if layer not in _JOINED:
        _JOINED[layer] = keras.layers.Concatenate(name=f"{layer.name}_outputs")(list(outputs))
    return _JOINED[layer]


def _walk(model):
    """[(endpoint name, tensor, level)] in network order; level k = stride 2**k."""
    prefix = _layer_prefix(model)
    out, level = [], None
    for name, index in endpoint_layers(model).items():
        layer = model.layers[index]
        if name == "stem":
            level = 1 if layer.name[len(prefix):] == "conv0_bn" else 0
            out.append((name, layer.output, level))
        elif isinstance(layer, NASNetCell):
            level += layer.strides == 2
            output = layer.output
            if isinstance(output, (list, tuple)):  # a "pass" (NASNet-B) cell: its live outputs
                output = _joined_outputs(layer, output)
            out.append((name, output, level))
        else:
            out.append((name, layer.output, level))
    return out


def endpoints(model):
    """OrderedDict {endpoint name: symbolic tensor} of a model built by `NASNet`."""
    return collections.OrderedDict((name, t) for name, t, _ in _walk(model))


def endpoint_model(model, names=None):
    """A model returning a dict of endpoints (all by default)."""
    points = endpoints(model)
    names = list(points) if names is None else list(names)
    unknown = [n for n in names if n not in points]
    if unknown:
        raise ValueError(f"`names`: unknown endpoints {unknown}; available: {list(points)}.")
    return keras.Model(model.inputs, {n: points[n] for n in names},
                       name=f"{model.name}_endpoints")


def pyramid_levels(model):
    """{level: endpoint name} of the last endpoint at each stride 2**level."""
    return {level: name for name, _, level in _walk(model)}


def feature_pyramid(model, levels=(2, 3, 4, 5)):
    """A model returning ``{"P2": stride-4, "P3": 8, "P4": 16, "P5": 32}`` features.

    Each level is the output of the last cell at that stride (``final``, after
    ReLU, for the deepest).  With the CIFAR stem the strides are 1, 2 and 4, so
    ask for ``levels=(0, 1, 2)``.
    """
    available = {level: tensor for _, tensor, level in _walk(model)}
    missing = [lv for lv in levels if lv not in available]
    if missing:
        raise ValueError(
            f"`levels` {list(levels)}: this model has features at levels {sorted(available)} "
            f"(stride 2**level); {missing} are not available.")
    return keras.Model(model.inputs, {f"P{lv}": available[lv] for lv in levels},
                       name=f"{model.name}_pyramid")
