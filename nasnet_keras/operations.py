"""The operation registry: operation name -> layer factory.

A factory is called as ``factory(filters, strides, in_channels, pad_mode, norm,
name)`` and returns a layer mapping one state to ``filters`` channels at the
given stride.  Adding an operation is one `register_operation` call.

Projections follow TF-slim: a pooling op whose input width differs from
``filters`` is followed by 1x1 conv + BN (no ReLU); ``identity`` becomes
ReLU-1x1(strided)-BN when the stride is 2 or the width differs.
"""

import keras
from keras import ops

from nasnet_keras.layers import NormSettings, bn_variables, conv_variables, zero_pad_same

PAD_MODES = ("keras", "tf")

OPERATIONS = {}


def register_operation(name, factory):
    """Register ``factory`` under ``name``; it becomes valid in any `CellSpec`."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_operation: `name` must be a non-empty string, got {name!r}.")
    if not callable(factory):
        raise TypeError(f"register_operation: `factory` for {name!r} must be callable.")
    OPERATIONS[name] = factory


def build_operation(op_name, filters, strides, in_channels, pad_mode, norm, name):
    if op_name not in OPERATIONS:
        raise ValueError(f"Unknown operation {op_name!r}; allowed: {sorted(OPERATIONS)}.")
    return OPERATIONS[op_name](
        filters=filters, strides=strides, in_channels=in_channels,
        pad_mode=pad_mode, norm=norm, name=name,
    )


class _Operation(keras.layers.Layer):
    """Base: stores the common config; subclasses create sublayers in __init__.

    Cells share work between the operations that read the same state:
    ``starts_with_relu`` ops accept ``activated=relu(x)`` computed once, and
    ops without weights expose a ``pure_key`` so equal ones run once.
    """

    starts_with_relu = False

    def __init__(self, filters, strides=1, in_channels=None, bn_momentum=0.9997,
                 bn_epsilon=1e-3, weight_decay=0.0, **kwargs):
        super().__init__(**kwargs)
        if strides not in (1, 2):
            raise ValueError(f"{type(self).__name__}: `strides` must be 1 or 2, got {strides!r}.")
        self.filters = int(filters)
        self.strides = int(strides)
        self.in_channels = None if in_channels is None else int(in_channels)
        self.norm = NormSettings(bn_momentum, bn_epsilon, weight_decay)

    @property
    def pure_key(self):
        """Hashable description of a weightless op (None if it has weights)."""
        return None

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides,
                "in_channels": self.in_channels, **self.norm.get_config()}

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        if self.strides == 2:
            h = None if h is None else (h + 1) // 2
            w = None if w is None else (w + 1) // 2
        return (b, h, w, self.filters)


class _ConvStack(_Operation):
    """[ReLU -> conv -> BN] x len(self.convs); sublayer names are the slim names."""

    starts_with_relu = True

    def build(self, input_shape):
        shape = (None, None, None, input_shape[-1])
        for conv, bn in zip(self.convs, self.bns):
            conv.build(shape)
            shape = (None, None, None, self.filters)
            bn.build(shape)

    def _before_conv(self, j, x):
        return x

    def _after_conv(self, j, x):
        return x

    def call(self, x, training=None, activated=None):
        for j, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            x = activated if (j == 0 and activated is not None) else ops.relu(x)
            x = self._after_conv(j, conv(self._before_conv(j, x)))
            x = bn(x, training=training)
        return x

    def slim_variables(self):
        out = {}
        for conv, bn in zip(self.convs, self.bns):
            out.update(conv_variables(conv.name, conv))
            out.update(bn_variables(bn.name, bn))
        return out


@keras.saving.register_keras_serializable(package="nasnet_keras")
class StackedSeparableConv(_ConvStack):
    """``repeats`` x [ReLU -> SeparableConv -> BN]; only the first is strided (slim)."""

    def __init__(self, filters, kernel_size=3, repeats=2, **kwargs):
        super().__init__(filters, **kwargs)
        self.kernel_size = int(kernel_size)
        self.repeats = int(repeats)
        k = self.kernel_size
        self.convs, self.bns = [], []
        for j in range(1, self.repeats + 1):
            strided = j == 1 and self.strides == 2
            # Strided: explicit SAME-sized zero padding + "valid" (as keras.applications);
            # same numbers as a SAME conv, and faster on CPU.
            self.convs.append(self.norm.separable(
                self.filters, k, strides=2 if strided else 1,
                padding="valid" if strided else "same", name=f"separable_{k}x{k}_{j}"))
            self.bns.append(self.norm.bn(f"bn_sep_{k}x{k}_{j}"))

    def _before_conv(self, j, x):
        return zero_pad_same(x, self.kernel_size, 2) if (j == 0 and self.strides == 2) else x

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "repeats": self.repeats}


@keras.saving.register_keras_serializable(package="nasnet_keras")
class ConvSequence(_ConvStack):
    """[ReLU -> Conv(kernel) -> BN] for each kernel in ``kernel_sizes``.

    Used for ``conv_1x1``, ``conv_3x3``, the factorized ``conv_1xk_kx1`` and the
    dilated ``dil_conv_3x3``.  Only the first conv is strided.  A dilated conv
    cannot be strided in Keras, so it runs at stride 1 and is subsampled.
    """

    def __init__(self, filters, kernel_sizes=((3, 3),), dilation_rate=1, **kwargs):
        super().__init__(filters, **kwargs)
        self.kernel_sizes = [tuple(int(v) for v in k) for k in kernel_sizes]
        self.dilation_rate = int(dilation_rate)
        self.convs, self.bns = [], []
        for j, k in enumerate(self.kernel_sizes, start=1):
            tag = f"{k[0]}x{k[1]}"
            stride = self.strides if (j == 1 and self.dilation_rate == 1) else 1
            self.convs.append(self.norm.conv(
                self.filters, k, strides=stride, dilation_rate=self.dilation_rate,
                name=f"conv_{tag}_{j}"))
            self.bns.append(self.norm.bn(f"bn_conv_{tag}_{j}"))

    def _after_conv(self, j, x):
        if j == 0 and self.dilation_rate > 1 and self.strides == 2:
            return x[:, ::2, ::2, :]
        return x

    def get_config(self):
        return {**super().get_config(), "kernel_sizes": [list(k) for k in self.kernel_sizes],
                "dilation_rate": self.dilation_rate}


@keras.saving.register_keras_serializable(package="nasnet_keras")
class Pooling(_Operation):
    """Max or average pooling, then 1x1 conv + BN when the width must change.

    ``pad_mode="tf"``: TF-slim's SAME pooling (padding ignored by max, left out
    of the average's count).  ``pad_mode="keras"``: strided pools zero-pad by
    the SAME amounts and pool "valid", as keras.applications does, so its
    weights give identical outputs.  Stride-1 pools are SAME in both modes.
    """

    def __init__(self, filters, pool_type="max", pool_size=3, pad_mode="keras", **kwargs):
        super().__init__(filters, **kwargs)
        if pool_type not in ("max", "avg"):
            raise ValueError(f"Pooling: `pool_type` must be 'max' or 'avg', got {pool_type!r}.")
        if pad_mode not in PAD_MODES:
            raise ValueError(f"Pooling: `pad_mode` must be one of {PAD_MODES}, got {pad_mode!r}.")
        self.pool_type = pool_type
        self.pool_size = int(pool_size)
        self.pad_mode = pad_mode
        self.project = self.in_channels is not None and self.in_channels != self.filters
        if self.project:
            self.conv = self.norm.conv(self.filters, 1, name="1x1")
            self.bn = self.norm.bn("bn_1")

    def build(self, input_shape):
        if self.project:
            self.conv.build((None, None, None, input_shape[-1]))
            self.bn.build((None, None, None, self.filters))

    @property
    def pure_key(self):
        if self.project:
            return None
        return ("pool", self.pool_type, self.pool_size, self.strides, self.pad_mode)

    @property
    def pads_input(self):
        """True when the input is zero-padded first (strided pool, "keras" mode)."""
        return self.strides == 2 and self.pad_mode == "keras"

    def call(self, x, training=None, padded=None):
        """``padded``: the input already zero-padded (cells share it between pools)."""
        pool = ops.max_pool if self.pool_type == "max" else ops.average_pool
        if self.pads_input:
            if padded is None:
                padded = zero_pad_same(x, self.pool_size, 2)
            x = pool(padded, self.pool_size, 2, padding="valid")
        else:
            x = pool(x, self.pool_size, self.strides, padding="same")
        if self.project:
            x = self.bn(self.conv(x), training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        return shape if self.project else shape[:3] + (input_shape[-1],)

    def slim_variables(self):
        if not self.project:
            return {}
        return {**conv_variables("1x1", self.conv), **bn_variables("bn_1", self.bn)}

    def get_config(self):
        return {**super().get_config(), "pool_type": self.pool_type,
                "pool_size": self.pool_size, "pad_mode": self.pad_mode}


@keras.saving.register_keras_serializable(package="nasnet_keras")
class Identity(_Operation):
    """Identity; ReLU -> 1x1 (strided) -> BN when the stride or width demands it."""

    def __init__(self, filters, **kwargs):
        super().__init__(filters, **kwargs)
        self.project = self.strides > 1 or (
            self.in_channels is not None and self.in_channels != self.filters)
        if self.project:
            self.conv = self.norm.conv(self.filters, 1, strides=self.strides, name="1x1")
            self.bn = self.norm.bn("bn_1")

    def build(self, input_shape):
        if self.project:
            self.conv.build((None, None, None, input_shape[-1]))
            self.bn.build((None, None, None, self.filters))

    @property
    def starts_with_relu(self):
        return self.project

    @property
    def pure_key(self):
        return None if self.project else ("identity",)

    def call(self, x, training=None, activated=None):
        if not self.project:
            return x
        return self.bn(self.conv(ops.relu(x) if activated is None else activated),
                       training=training)

    def compute_output_shape(self, input_shape):
        return super().compute_output_shape(input_shape) if self.project else input_shape

    def slim_variables(self):
        if not self.project:
            return {}
        return {**conv_variables("1x1", self.conv), **bn_variables("bn_1", self.bn)}


def _norm_kwargs(norm):
    return norm.get_config()


def _separable(kernel):
    def factory(filters, strides, in_channels, pad_mode, norm, name):
        return StackedSeparableConv(filters, kernel_size=kernel, repeats=2, strides=strides,
                                    in_channels=in_channels, name=name, **_norm_kwargs(norm))
    return factory


def _pool(pool_type, size):
    def factory(filters, strides, in_channels, pad_mode, norm, name):
        return Pooling(filters, pool_type=pool_type, pool_size=size, pad_mode=pad_mode,
                       strides=strides, in_channels=in_channels, name=name,
                       **_norm_kwargs(norm))
    return factory


def _convs(kernel_sizes, dilation_rate=1):
    def factory(filters, strides, in_channels, pad_mode, norm, name):
        return ConvSequence(filters, kernel_sizes=kernel_sizes, dilation_rate=dilation_rate,
                            strides=strides, in_channels=in_channels, name=name,
                            **_norm_kwargs(norm))
    return factory


def _identity(filters, strides, in_channels, pad_mode, norm, name):
    return Identity(filters, strides=strides, in_channels=in_channels, name=name,
                    **_norm_kwargs(norm))


register_operation("identity", _identity)
register_operation("conv_1x3_3x1", _convs([(1, 3), (3, 1)]))
register_operation("conv_1x7_7x1", _convs([(1, 7), (7, 1)]))
register_operation("dil_conv_3x3", _convs([(3, 3)], dilation_rate=2))
register_operation("avg_pool_3x3", _pool("avg", 3))
register_operation("max_pool_3x3", _pool("max", 3))
register_operation("max_pool_5x5", _pool("max", 5))
register_operation("max_pool_7x7", _pool("max", 7))
register_operation("conv_1x1", _convs([(1, 1)]))
register_operation("conv_3x3", _convs([(3, 3)]))
register_operation("sep_conv_3x3", _separable(3))
register_operation("sep_conv_5x5", _separable(5))
register_operation("sep_conv_7x7", _separable(7))
