"""The layer-by-layer CNN space of Zoph & Le 2017 (papers.md §2.1).

Per layer i: one skip decision for each earlier layer j (an anchor point: "does
layer j feed layer i?"), then filter height, filter width, optionally stride
height and width, and the number of filters.  The paper's validity rules:
a layer with no inputs takes the image; several inputs are concatenated along
depth after zero-padding the smaller ones to the largest; the outputs no layer
consumes are concatenated and fed to the classifier.
"""

import dataclasses
from typing import Tuple

from nasnet_search.decisions import Decision
from nasnet_search.space import SearchSpace, register_space


@dataclasses.dataclass(frozen=True)
class MacroLayer:
    filter_height: int
    filter_width: int
    filters: int
    stride_height: int = 1
    stride_width: int = 1
    inputs: Tuple[int, ...] = ()  # earlier layers feeding this one; () means the image

    def __post_init__(self):
        object.__setattr__(self, "inputs", tuple(int(i) for i in self.inputs))


@dataclasses.dataclass(frozen=True)
class MacroArchitecture:
    layers: Tuple[MacroLayer, ...]

    def __post_init__(self):
        layers = tuple(MacroLayer(**l) if isinstance(l, dict) else l for l in self.layers)
        for i, layer in enumerate(layers):
            if any(not 0 <= j < i for j in layer.inputs):
                raise ValueError(f"Macro layer {i}: inputs {list(layer.inputs)} must be earlier "
                                 f"layers 0..{i - 1}.")
        object.__setattr__(self, "layers", layers)

    @property
    def outputs(self):
        """Layers whose output no later layer consumes (concatenated at the end)."""
        consumed = {j for layer in self.layers for j in layer.inputs}
        return [i for i in range(len(self.layers)) if i not in consumed]

    def to_dict(self):
        return {"layers": [dataclasses.asdict(l) | {"inputs": list(l.inputs)} for l in self.layers]}

    def describe(self):
        lines = []
        for i, l in enumerate(self.layers):
            src = ", ".join(f"L{j}" for j in l.inputs) or "image"
            lines.append(f"L{i} = conv {l.filter_height}x{l.filter_width}/{l.stride_height}x"
                         f"{l.stride_width}, {l.filters} filters ({src})")
        lines.append("out = concat(" + ", ".join(f"L{i}" for i in self.outputs) + ")")
        return "\n".join(lines)


@register_space
class MacroSearchSpace(SearchSpace):
    """Zoph & Le 2017's CNN space.

    Args:
        num_layers: layers per network (the paper starts at 6 and grows).
        filter_sizes: filter height and width choices.
        filters: number-of-filters choices.
        strides: None (all strides 1, the paper's first experiment) or the stride
            choices, e.g. ``(1, 2, 3)``.
        skip_connections: search the anchor-point skip connections; when False
            every layer takes the previous one.
    """

    space_name = "macro"

    def __init__(self, num_layers=6, filter_sizes=(1, 3, 5, 7), filters=(24, 36, 48, 64),
                 strides=None, skip_connections=True):
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
            raise ValueError(f"`num_layers` must be an integer >= 1, got {num_layers!r}.")
        for field, given in (("filter_sizes", filter_sizes), ("filters", filters),
                             ("strides", strides or (1,))):
            if (isinstance(given, (str, int)) or not given
                    or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in given)
                    or len(set(given)) != len(given)):
                raise ValueError(f"`{field}` must be a list of distinct positive integers, got "
                                 f"{given!r}.")
        self.num_layers = num_layers
        self.filter_sizes = tuple(filter_sizes)
        self.filters = tuple(filters)
        self.strides = tuple(strides) if strides else None
        self.skip_connections = bool(skip_connections)
        super().__init__()

    def _make_decisions(self):
        for i in range(self.num_layers):
            p = f"layer{i}/"
            if self.skip_connections:
                for j in range(i):
                    yield Decision(p + f"from{j}", (False, True), "skip", "skip", anchor=j)
            yield Decision(p + "filter_height", self.filter_sizes, "choice", "filter_height")
            yield Decision(p + "filter_width", self.filter_sizes, "choice", "filter_width")
            if self.strides:
                yield Decision(p + "stride_height", self.strides, "choice", "stride_height")
                yield Decision(p + "stride_width", self.strides, "choice", "stride_width")
            yield Decision(p + "filters", self.filters, "choice", "filters", closes_anchor=True)

    def decode(self, values):
        self.actions_from_values(values)
        layers = []
        for i in range(self.num_layers):
            p = f"layer{i}/"
            if self.skip_connections:
                inputs = tuple(j for j in range(i) if values[p + f"from{j}"])
            else:
                inputs = (i - 1,) if i else ()
            layers.append(MacroLayer(
                filter_height=values[p + "filter_height"], filter_width=values[p + "filter_width"],
                filters=values[p + "filters"],
                stride_height=values[p + "stride_height"] if self.strides else 1,
                stride_width=values[p + "stride_width"] if self.strides else 1,
                inputs=inputs))
        return MacroArchitecture(tuple(layers))

    def encode(self, arch):
        arch = self.arch_from_dict(arch) if isinstance(arch, dict) else arch
        if len(arch.layers) != self.num_layers:
            raise ValueError(f"The architecture has {len(arch.layers)} layers; this space has "
                             f"num_layers={self.num_layers}.")
        values = {}
        for i, layer in enumerate(arch.layers):
            p = f"layer{i}/"
            if self.skip_connections:
                for j in range(i):
                    values[p + f"from{j}"] = j in layer.inputs
            elif layer.inputs != ((i - 1,) if i else ()):
                raise ValueError(f"Layer {i} takes {list(layer.inputs)}; without skip connections "
                                 "each layer takes the previous one.")
            values[p + "filter_height"] = layer.filter_height
            values[p + "filter_width"] = layer.filter_width
            values[p + "filters"] = layer.filters
            if self.strides:
                values[p + "stride_height"] = layer.stride_height
                values[p + "stride_width"] = layer.stride_width
            elif (layer.stride_height, layer.stride_width) != (1, 1):
                raise ValueError(f"Layer {i} has strides {layer.stride_height}x{layer.stride_width};"
                                 " this space fixes strides at 1.")
        self.actions_from_values(values)  # every value must be allowed
        return values

    def arch_to_dict(self, arch):
        return arch.to_dict()

    def arch_from_dict(self, data):
        if not isinstance(data, dict) or "layers" not in data:
            raise ValueError(f"A macro architecture is a dict with 'layers', got {data!r:.80}.")
        return MacroArchitecture(tuple(data["layers"]))

    def describe(self, arch):
        return arch.describe()

    def build_model(self, arch, input_shape=(32, 32, 3), classes=10, name="child",
                    classifier_activation="softmax", **unused):
        """The Keras child network (conv -> BN -> ReLU per layer, as the paper)."""
        return build_macro_model(arch, input_shape, classes, name, classifier_activation)

    def get_config(self):
        return {"space": self.space_name, "num_layers": self.num_layers,
                "filter_sizes": list(self.filter_sizes), "filters": list(self.filters),
                "strides": list(self.strides) if self.strides else None,
                "skip_connections": self.skip_connections}


def _pad_to(x, height, width):
    """Zero-pad ``x`` at the bottom and right to ``height`` x ``width``."""
    import keras

    dh, dw = height - x.shape[1], width - x.shape[2]
    if dh == 0 and dw == 0:
        return x
    return keras.layers.ZeroPadding2D(((0, dh), (0, dw)))(x)


def _merge(tensors):
    import keras

    if len(tensors) == 1:
        return tensors[0]
    height = max(t.shape[1] for t in tensors)
    width = max(t.shape[2] for t in tensors)
    return keras.layers.Concatenate(axis=-1)([_pad_to(t, height, width) for t in tensors])


def build_macro_model(arch, input_shape=(32, 32, 3), classes=10, name="child",
                      classifier_activation="softmax"):
    import keras

    from nasnet_keras.normalization import FusedBatchNormalization

    if len(input_shape) != 3 or any(s is None for s in input_shape[:2]):
        raise ValueError(f"`input_shape` must be a static (height, width, channels), got {input_shape!r}.")
    image = keras.Input(shape=tuple(input_shape), name=f"{name}_input")
    outputs = []
    for i, layer in enumerate(arch.layers):
        x = _merge([outputs[j] for j in layer.inputs]) if layer.inputs else image
        x = keras.layers.Conv2D(layer.filters, (layer.filter_height, layer.filter_width),
                                strides=(layer.stride_height, layer.stride_width), padding="same",
                                use_bias=False, name=f"{name}_conv{i}")(x)
        x = FusedBatchNormalization(name=f"{name}_bn{i}")(x)
        outputs.append(keras.layers.ReLU(name=f"{name}_relu{i}")(x))
    x = _merge([outputs[i] for i in arch.outputs])
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    x = keras.layers.Dense(classes, activation=classifier_activation, name=f"{name}_predictions")(x)
    return keras.Model(image, x, name=name)
