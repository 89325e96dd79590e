"""Recurrent cells of the first NAS paper as Keras 3 RNN cells: `NASCell`, `RecurrentCell`.

`NASCell` is ``tf.contrib.rnn.NASCell`` (and TensorFlow Addons' port) equation for
equation: the same weights (``kernel`` ``[input_dim, 8 * units]``, ``recurrent_kernel``
``[P, 8 * units]``, an optional ``bias`` added to the recurrent product only, optional
``projection_weights``) and the same state order, **(c, h)** (Keras' LSTM uses (h, c)).
`RecurrentCell` interprets any `RecurrentCellSpec` with the same weight layout, so
``RecurrentCell(NAS_CELL, units)`` and ``NASCell(units)`` compute the same function from
the same weights (tested).  Both work in ``keras.layers.RNN`` and serialize.

The interpreter's rules (one reading of the paper's §3.4, which leaves some open):

1. Leaf ``i`` computes ``pre = combination(x W_i, h U_i)`` (``+ b_i`` on the ``h U_i``
   side when ``use_bias``); an internal node combines its children's outputs.
2. Nodes run in index order.  At ``c_node`` (``cell_indices[0]``) ``c_t = pre``: the value
   *before* the node's activation, as in the paper's example (where c_t comes from a leaf).
3. ``out = activation(pre)``; at ``inject_node`` (``cell_indices[1]``) the output becomes
   ``inject_activation(inject_combination(out, c_{t-1}))`` and later nodes read that.
   When both indices name the same node, c_t is taken before the injection (rule 2).
4. ``h_t`` is the root's output, multiplied by ``projection_weights`` when ``projection``
   is set; the cell returns ``h_t, [c_t, h_t]``.
"""

import keras
from keras import ops

from nasnet_keras.recurrent_genotypes import NAS_CELL, RecurrentCellSpec

_ACTIVATIONS = {
    "identity": lambda v: v,
    "tanh": ops.tanh,
    "sigmoid": ops.sigmoid,
    "relu": ops.relu,
    "sin": ops.sin,
}
_COMBINATIONS = {
    "add": ops.add,
    "elem_mult": ops.multiply,
    "max": ops.maximum,
}


def _check_size(name, value, optional=False):
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        allowed = "a positive integer or None" if optional else "a positive integer"
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}.")
    return value


class _TreeCellBase(keras.layers.Layer):
    """Weights, states and config shared by `NASCell` and `RecurrentCell`."""

    base = 8

    def __init__(self, units, projection=None, use_bias=False,
                 kernel_initializer="glorot_uniform", recurrent_initializer="glorot_uniform",
                 projection_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = _check_size("units", units)
        self.projection = _check_size("projection", projection, optional=True)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.projection_initializer = keras.initializers.get(projection_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.output_size = self.projection or self.units
        self.state_size = [self.units, self.output_size]  # (c, h)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"{type(self).__name__} needs the input's last dimension, got "
                             f"shape {tuple(input_shape)}.")
        width = self.base * self.units
        self.kernel = self.add_weight(shape=(input_dim, width), name="kernel",
                                      initializer=self.kernel_initializer)
        self.recurrent_kernel = self.add_weight(shape=(self.output_size, width),
                                                name="recurrent_kernel",
                                                initializer=self.recurrent_initializer)
        self.bias = self.add_weight(shape=(width,), name="bias",
                                    initializer=self.bias_initializer) if self.use_bias else None
        self.projection_weights = None
        if self.projection:
            self.projection_weights = self.add_weight(
                shape=(self.units, self.projection), name="projection_weights",
                initializer=self.projection_initializer)

    def _leaves(self, inputs, h_prev):
        """``x W_i`` and ``h U_i (+ b_i)`` for each leaf i (column block i)."""
        m = ops.matmul(h_prev, self.recurrent_kernel)
        if self.bias is not None:
            m = m + self.bias
        x = ops.matmul(inputs, self.kernel)
        return ops.split(x, self.base, axis=-1), ops.split(m, self.base, axis=-1)

    def _output(self, h):
        return h if self.projection_weights is None else ops.matmul(h, self.projection_weights)

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype)
                for size in self.state_size]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "projection": self.projection,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
                "projection_initializer": keras.initializers.serialize(
                    self.projection_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}


@keras.saving.register_keras_serializable(package="nasnet_keras")
class NASCell(_TreeCellBase):
    """The recurrent cell found by Zoph & Le (2017) on Penn Treebank, as released in
    ``tf.contrib.rnn.NASCell``: ``NASCell(units, projection=None, use_bias=False, ...)``.

    States ``[c, h]`` (c has ``units`` columns, h ``projection or units``); the output is
    h.  Written out from the released equations (not through `RecurrentCell`, so that
    the two can check each other).
    """

    def call(self, inputs, states):
        c_prev, h_prev = states
        x, m = self._leaves(inputs, h_prev)
        sigmoid, tanh, relu = ops.sigmoid, ops.tanh, ops.relu
        # First layer: the eight leaves.
        l1_0 = sigmoid(x[0] + m[0])
        l1_1 = relu(x[1] + m[1])
        l1_2 = sigmoid(x[2] + m[2])
        l1_3 = relu(x[3] * m[3])
        l1_4 = tanh(x[4] + m[4])
        l1_5 = sigmoid(x[5] + m[5])
        l1_6 = tanh(x[6] + m[6])
        l1_7 = sigmoid(x[7] + m[7])
        # Second layer, then the memory injected into its first node.
        l2_0 = tanh(l1_0 * l1_1)
        l2_1 = tanh(l1_2 + l1_3)
        l2_2 = tanh(l1_4 * l1_5)
        l2_3 = sigmoid(l1_6 + l1_7)
        l2_0 = tanh(l2_0 + c_prev)
        # Third layer: the new memory (identity activation) and its partner.
        new_c = l2_0 * l2_1
        l3_1 = tanh(l2_2 + l2_3)
        new_h = self._output(tanh(new_c * l3_1))
        return new_h, [new_c, new_h]


@keras.saving.register_keras_serializable(package="nasnet_keras")
class RecurrentCell(_TreeCellBase):
    """Any `RecurrentCellSpec` as a Keras RNN cell (the rules in the module docstring).

    Args:
        spec: a `RecurrentCellSpec` (or its ``to_dict()``), e.g. `NAS_CELL`.
        units, projection, use_bias, *_initializer: as `NASCell`; the kernels have
            ``spec.base * units`` columns.
    """

    def __init__(self, spec, units, **kwargs):
        if isinstance(spec, dict):
            spec = RecurrentCellSpec.from_dict(spec)
        if not isinstance(spec, RecurrentCellSpec):
            raise TypeError(f"`spec` must be a RecurrentCellSpec or its dict, got "
                            f"{type(spec).__name__}.")
        self.spec = spec
        self.base = spec.base
        super().__init__(units, **kwargs)

    def call(self, inputs, states):
        c_prev, h_prev = states
        spec = self.spec
        x, m = self._leaves(inputs, h_prev)
        c_node, inject_node = spec.cell_indices
        children = spec.children()
        outputs, new_c = [], None
        for i, (combination, activation) in enumerate(spec.nodes):
            a, b = (x[i], m[i]) if i < spec.base else (outputs[children[i][0]],
                                                       outputs[children[i][1]])
            pre = _COMBINATIONS[combination](a, b)
            if i == c_node:
                new_c = pre
            out = _ACTIVATIONS[activation](pre)
            if i == inject_node:
                inject_combination, inject_activation = spec.cell_inject
                out = _ACTIVATIONS[inject_activation](_COMBINATIONS[inject_combination](
                    out, c_prev))
            outputs.append(out)
        new_h = self._output(outputs[spec.root])
        return new_h, [new_c, new_h]

    def get_config(self):
        return {**super().get_config(), "spec": self.spec.to_dict()}


__all__ = ["NASCell", "RecurrentCell", "NAS_CELL", "RecurrentCellSpec"]
