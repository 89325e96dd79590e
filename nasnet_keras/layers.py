"""Building blocks shared by cells, stems and heads.

Every block that owns weights implements ``slim_variables()``: a mapping from
TF-slim-style names (relative to the block) to its variables.  Weight loaders
(keras.applications h5, TF-slim checkpoints, this project's files) all go
through these names, so a loader never depends on layer order.
"""

import keras
from keras import ops

from nasnet_keras.lean_gradients import concatenate_channels
from nasnet_keras.normalization import FusedBatchNormalization

_BN_NAMES = ("gamma", "beta", "moving_mean", "moving_variance")


def conv_kwargs(weight_decay):
    """Initializer and L2 penalty of TF-slim's arg scopes.

    slim's ``l2_regularizer(wd)`` adds ``wd * sum(w**2) / 2``; Keras' ``L2(l)``
    adds ``l * sum(w**2)``, hence ``wd / 2``.
    """
    regularizer = keras.regularizers.L2(weight_decay / 2.0) if weight_decay else None
    return {
        "initializer": keras.initializers.VarianceScaling(
            scale=2.0, mode="fan_out", distribution="truncated_normal"
        ),
        "regularizer": regularizer,
    }


def make_conv(filters, kernel_size, strides=1, padding="same", dilation_rate=1,
              weight_decay=0.0, name=None):
    kw = conv_kwargs(weight_decay)
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, dilation_rate=dilation_rate,
        use_bias=False, kernel_initializer=kw["initializer"],
        kernel_regularizer=kw["regularizer"], name=name,
    )


def make_separable_conv(filters, kernel_size, strides=1, padding="same", weight_decay=0.0,
                        name=None):
    kw = conv_kwargs(weight_decay)
    return keras.layers.SeparableConv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False,
        depthwise_initializer=kw["initializer"], pointwise_initializer=kw["initializer"],
        depthwise_regularizer=kw["regularizer"], pointwise_regularizer=kw["regularizer"],
        name=name,
    )


def make_bn(momentum, epsilon, name=None):
    return FusedBatchNormalization(momentum=momentum, epsilon=epsilon, name=name)


def bn_variables(prefix, bn):
    return {f"{prefix}/{n}": getattr(bn, n) for n in _BN_NAMES}


def conv_variables(prefix, conv):
    if isinstance(conv, keras.layers.SeparableConv2D):
        return {
            f"{prefix}/depthwise_weights": conv.depthwise_kernel,
            f"{prefix}/pointwise_weights": conv.pointwise_kernel,
        }
    out = {f"{prefix}/weights": conv.kernel}
    if getattr(conv, "use_bias", False):
        out[f"{prefix}/biases"] = conv.bias
    return out


class NormSettings:
    """BatchNorm and weight-decay settings carried by every block's config."""

    def __init__(self, bn_momentum=0.9997, bn_epsilon=1e-3, weight_decay=0.0):
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)
        self.weight_decay = float(weight_decay)

    def get_config(self):
        return {
            "bn_momentum": self.bn_momentum,
            "bn_epsilon": self.bn_epsilon,
            "weight_decay": self.weight_decay,
        }

    def bn(self, name):
        return make_bn(self.bn_momentum, self.bn_epsilon, name=name)

    def conv(self, filters, kernel_size, strides=1, name=None, **kwargs):
        return make_conv(filters, kernel_size, strides=strides,
                         weight_decay=self.weight_decay, name=name, **kwargs)

    def separable(self, filters, kernel_size, strides=1, padding="same", name=None):
        return make_separable_conv(filters, kernel_size, strides=strides, padding=padding,
                                   weight_decay=self.weight_decay, name=name)


def same_pad_amounts(size, kernel, stride):
    """(before, after) zero padding that TF "SAME" uses along one axis.

    ``size`` may be a Python int or a scalar tensor (unknown spatial size), so
    the amounts are computed with arithmetic that works for both.
    """
    if stride == 1:
        total = kernel - 1
    else:
        # max((ceil(n/s) - 1) * s + k - n, 0); for s = 2 and k >= 2 this is k - 2 + n % 2.
        if stride != 2 or kernel < 2:
            raise ValueError(f"same_pad_amounts: unsupported kernel={kernel}, stride={stride}.")
        total = kernel - 2 + size % 2
    before = total // 2
    return before, total - before


def zero_pad_same(x, kernel, stride):
    """Zero-pad ``x`` (NHWC) by the amounts TF "SAME" would use, for a "valid" op after.

    This reproduces keras.applications' ``ZeroPadding2D(correct_pad(...))`` for
    any input size, static or not.
    """
    shape = ops.shape(x)
    top, bottom = same_pad_amounts(shape[1], kernel, stride)
    left, right = same_pad_amounts(shape[2], kernel, stride)
    return ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])


@keras.saving.register_keras_serializable(package="nasnet_keras")
class FactorizedReduction(keras.layers.Layer):
    """TF-slim ``factorized_reduction``: halve the resolution without losing pixels.

    Two 1x1 convolutions see the even and the odd (one-pixel shifted) grid,
    their outputs are concatenated and batch-normalized.  With ``strides=1`` it
    is a plain 1x1 projection (``path_conv``/``path_bn``).  The caller applies
    the ReLU.
    """

    def __init__(self, filters, strides=2, bn_momentum=0.9997, bn_epsilon=1e-3,
                 weight_decay=0.0, **kwargs):
        super().__init__(**kwargs)
        if strides not in (1, 2, 4):
            raise ValueError(f"FactorizedReduction: `strides` must be 1, 2 or 4, got {strides!r}.")
        self.filters = int(filters)
        self.strides = int(strides)
        self.norm = NormSettings(bn_momentum, bn_epsilon, weight_decay)
        if self.strides == 1:
            self.path_conv = self.norm.conv(self.filters, 1, name="path_conv")
            self.path_bn = self.norm.bn("path_bn")
        else:
            half = self.filters // 2
            self.path1_conv = self.norm.conv(half, 1, name="path1_conv")
            self.path2_conv = self.norm.conv(self.filters - half, 1, name="path2_conv")
            self.final_path_bn = self.norm.bn("final_path_bn")

    def build(self, input_shape):
        channels_shape = (None, None, None, input_shape[-1])
        if self.strides == 1:
            self.path_conv.build(channels_shape)
            self.path_bn.build((None, None, None, self.filters))
        else:
            self.path1_conv.build(channels_shape)
            self.path2_conv.build(channels_shape)
            self.final_path_bn.build((None, None, None, self.filters))

    def call(self, x, training=None):
        if self.strides == 1:
            return self.path_bn(self.path_conv(x), training=training)
        # A 1x1 average pool of stride 2 subsamples; it is faster than a strided slice.
        s = self.strides
        path1 = ops.average_pool(x, 1, s, padding="valid")
        # Shift by one pixel: pad bottom/right, drop the first row and column.
        shifted = ops.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:, :]
        path2 = ops.average_pool(shifted, 1, s, padding="valid")
        out = concatenate_channels([self.path1_conv(path1), self.path2_conv(path2)])
        return self.final_path_bn(out, training=training)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        s = self.strides
        h = None if h is None else (h + s - 1) // s
        w = None if w is None else (w + s - 1) // s
        return (b, h, w, self.filters)

    def slim_variables(self):
        if self.strides == 1:
            return {**conv_variables("path_conv", self.path_conv),
                    **bn_variables("path_bn", self.path_bn)}
        return {**conv_variables("path1_conv", self.path1_conv),
                **conv_variables("path2_conv", self.path2_conv),
                **bn_variables("final_path_bn", self.final_path_bn)}

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides,
                **self.norm.get_config()}


@keras.saving.register_keras_serializable(package="nasnet_keras")
class ScheduledDropPath(keras.layers.Layer):
    """NASNet's ScheduledDropPath (TF-slim "v3"; papers.md §1.6).

    keep = 1 - t * (cell_index + 1) / total_cells * (1 - keep_prob), with
    t = min(1, step / total_training_steps).  One Bernoulli draw per example,
    outputs scaled by 1 / keep.  Inactive outside training.  The step counter is
    a non-trainable variable advanced once per training call of the owning cell,
    so the schedule survives save/load; it exists only when drop path is on.
    """

    def __init__(self, keep_prob=1.0, cell_index=0, total_cells=1,
                 total_training_steps=1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < float(keep_prob) <= 1.0:
            raise ValueError(
                f"ScheduledDropPath: `drop_path_keep_prob` must be in (0, 1], got {keep_prob!r}."
            )
        if int(total_training_steps) < 1:
            raise ValueError(
                "ScheduledDropPath: `total_training_steps` must be a positive integer, "
                f"got {total_training_steps!r}."
            )
        if not 0 <= int(cell_index) < int(total_cells):
            raise ValueError(
                f"ScheduledDropPath: `cell_index` {cell_index!r} must be in "
                f"0..{int(total_cells) - 1}."
            )
        self.keep_prob = float(keep_prob)
        self.cell_index = int(cell_index)
        self.total_cells = int(total_cells)
        self.total_training_steps = int(total_training_steps)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if self.enabled else None

    @property
    def enabled(self):
        return self.keep_prob < 1.0

    def build(self, input_shape=None):
        if self.enabled:
            self.step = self.add_weight(
                name="step", shape=(), initializer="zeros", trainable=False, dtype="float32",
                autocast=False
            )

    def advance(self):
        """Count one training step (the owning cell calls this once per training call)."""
        if self.enabled:
            self.step.assign_add(1.0)

    def current_keep_prob(self):
        if not self.enabled:
            return ops.convert_to_tensor(1.0, "float32")
        progress = ops.minimum(1.0, self.step / float(self.total_training_steps))
        depth = (self.cell_index + 1) / self.total_cells
        return 1.0 - progress * depth * (1.0 - self.keep_prob)

    def call(self, x, training=None):
        if not (training and self.enabled):
            return x
        keep = self.current_keep_prob()
        batch = ops.shape(x)[0]
        noise = keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator, dtype="float32")
        mask = ops.floor(keep + noise) / keep
        return x * ops.cast(mask, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "keep_prob": self.keep_prob,
                "cell_index": self.cell_index, "total_cells": self.total_cells,
                "total_training_steps": self.total_training_steps, "seed": self.seed}
