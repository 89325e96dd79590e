"""`NASNetCell`: one Keras layer that executes any `CellSpec`.

The cell follows TF-slim's `NasNetABaseCell`:
1. the previous input is adjusted (``prev_mode``, chosen by the builder);
2. the current input goes through ReLU -> 1x1 -> BN ("beginning_bn");
3. each block applies two operations (stride 2 only on the cell's inputs in a
   reduction cell), drop-path on every non-identity op, then combines them;
4. the states in ``concat`` are brought to the last state's width and
   resolution (factorized reduction) and concatenated.

``prev_mode`` (one per earlier input; a string for two-input cells) is passed
explicitly and never inferred from static shapes, so unknown spatial sizes
work (keras.applications gets this wrong, see implementations.md §0.3):
- ``"passthrough"``: use the input as given (slim's ``prev=None``);
- ``"match"``: same resolution; ReLU -> 1x1 -> BN if the width differs from ``filters``;
- ``"reduce"`` / ``"reduce_x4"``: the input has 2x / 4x the resolution;
  ReLU -> factorized reduction.

A ``"pass"`` cell (NASNet-B) returns its B block outputs as a list instead of
one concatenation; with ``live_outputs`` only those outputs (and the blocks
they need) are built and returned, in that order.
"""

import keras
from keras import ops

from nasnet_keras.genotypes import CellSpec
from nasnet_keras.lean_gradients import add_same_shape, concatenate_channels
from nasnet_keras.layers import FactorizedReduction, NormSettings, ScheduledDropPath
from nasnet_keras.layers import bn_variables, conv_variables, zero_pad_same
from nasnet_keras.operations import PAD_MODES, Pooling, build_operation
from nasnet_keras.operation_graphs import call_operation

PREV_MODES = ("passthrough", "match", "reduce", "reduce_x4")
# The prev mode of an input that is 0, 1 or 2 resolution levels above the cell's input.
PREV_MODE_BY_LEVEL_GAP = {0: "match", 1: "reduce", 2: "reduce_x4"}
_REDUCE_STRIDES = {"reduce": 2, "reduce_x4": 4}


@keras.saving.register_keras_serializable(package="nasnet_keras")
class NASNetCell(keras.layers.Layer):
    """A normal (``strides=1``) or reduction (``strides=2``) cell.

    Call it on ``[current, previous]``.  Args:
        spec: a `CellSpec` (or its dict).
        filters: F, the width of every block.
        strides: 1 or 2.
        prev_mode: see the module docstring.
        pad_mode: ``"keras"`` or ``"tf"`` (strided pooling semantics).
        bn_momentum, bn_epsilon, weight_decay: per-variant settings.
        drop_path_keep_prob, cell_index, total_cells, total_training_steps:
            ScheduledDropPath (off when ``drop_path_keep_prob == 1``).
        scope: the TF-slim scope of this cell (``cell_0``, ``reduction_cell_1``,
            ...); weight files are mapped through it.  Defaults to the layer name.
        seed: seed of the drop-path noise.
        live_outputs: ``"pass"`` cells only: the block outputs to compute and
            return, in this order (None: all).  The builder passes the ones a
            later cell or the head reads.
    """

    def __init__(self, spec, filters, strides=1, prev_mode="match", pad_mode="keras",
                 bn_momentum=0.9997, bn_epsilon=1e-3, weight_decay=0.0,
                 drop_path_keep_prob=1.0, cell_index=0, total_cells=1,
                 total_training_steps=1, scope=None, seed=None, live_outputs=None, **kwargs):
        super().__init__(**kwargs)
        self.spec = CellSpec.from_dict(spec, label=self.name)
        self.live_outputs = self._check_live_outputs(live_outputs)
        if int(filters) < 1:
            raise ValueError(f"NASNetCell {self.name}: `filters` must be >= 1, got {filters!r}.")
        if strides not in (1, 2):
            raise ValueError(f"NASNetCell {self.name}: `strides` must be 1 or 2, got {strides!r}.")
        k = self.spec.num_inputs
        modes = [prev_mode] * (k - 1) if isinstance(prev_mode, str) else list(prev_mode)
        if len(modes) != k - 1 or any(m not in PREV_MODES for m in modes):
            raise ValueError(
                f"NASNetCell {self.name}: `prev_mode` must be one of {PREV_MODES} or a list of "
                f"{k - 1} of them (one per earlier input), got {prev_mode!r}.")
        self.prev_modes = modes
        if pad_mode not in PAD_MODES:
            raise ValueError(
                f"NASNetCell {self.name}: `pad_mode` must be one of {PAD_MODES}, got {pad_mode!r}.")
        self.filters = int(filters)
        self.strides = int(strides)
        self.pad_mode = pad_mode
        self.norm = NormSettings(bn_momentum, bn_epsilon, weight_decay)
        self.scope = scope or self.name
        self.seed = seed
        self.drop_path = ScheduledDropPath(
            keep_prob=drop_path_keep_prob, cell_index=cell_index, total_cells=total_cells,
            total_training_steps=total_training_steps, seed=seed, name="drop_path")

    def _check_live_outputs(self, live_outputs):
        if live_outputs is None:
            return None
        blocks = self.spec.num_blocks
        try:
            live = tuple(int(b) for b in live_outputs)
        except (TypeError, ValueError):
            live = ()
        if (self.spec.output_mode != "pass" or not live or len(set(live)) != len(live)
                or any(not 0 <= b < blocks for b in live)):
            raise ValueError(
                f"NASNetCell {self.name}: `live_outputs` must be None or distinct block indices "
                f"in [0, {blocks}) of a \"pass\" cell, got {live_outputs!r} "
                f"(output mode {self.spec.output_mode!r}).")
        return live

    # --- construction -----------------------------------------------------------------

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != self.spec.num_inputs:
            raise ValueError(
                f"NASNetCell {self.name}: expected a list of {self.spec.num_inputs} inputs "
                f"[current, previous, ...], got {input_shape!r}.")
        F = self.filters
        # Blocks whose output goes nowhere and inputs nothing reads are not built: their
        # weights would get no gradients (Keras warns at every step).
        self.needed_blocks = self.spec.blocks_needed(self.live_outputs)
        self.used_inputs = self.spec.inputs_read(self.live_outputs)
        self.base_conv = self.base_bn = None
        if 0 in self.used_inputs:
            self.base_conv = self.norm.conv(F, 1, name="1x1")
            self.base_bn = self.norm.bn("beginning_bn")
            self.base_conv.build((None, None, None, input_shape[0][-1]))
            self.base_bn.build((None, None, None, F))

        # Earlier inputs (slot j >= 1): factorized reduction if at a higher
        # resolution, 1x1 projection if only the width differs.
        self.input_reductions, self.input_convs, self.input_bns = {}, {}, {}
        states = [(F, self.strides == 1)]  # (channels, at output resolution)
        for j, (mode, shape) in enumerate(zip(self.prev_modes, input_shape[1:]), start=1):
            channels = shape[-1]
            tag = "prev" if j == 1 else f"input_{j}"
            if j not in self.used_inputs:
                pass
            elif mode in _REDUCE_STRIDES:
                layer = FactorizedReduction(F, _REDUCE_STRIDES[mode], name=f"{tag}_reduction",
                                            **self.norm.get_config())
                layer.build((None, None, None, channels))
                self.input_reductions[str(j)] = layer
                channels = F
            elif mode == "match" and channels != F:
                self.input_convs[str(j)] = self.norm.conv(F, 1, name=f"{tag}_1x1")
                self.input_bns[str(j)] = self.norm.bn(f"{tag}_bn")
                self.input_convs[str(j)].build((None, None, None, channels))
                self.input_bns[str(j)].build((None, None, None, F))
                channels = F
            states.append((channels, self.strides == 1))
        self.block_ops = []
        self.combine_norms = {}
        for b in range(self.spec.num_blocks):
            lop, lin, rop, rin, combine = self.spec.block(b)
            if b not in self.needed_blocks:
                self.block_ops += [None, None]
                states.append((F, True))
                continue
            for side, op_name, src in (("left", lop, lin), ("right", rop, rin)):
                stride = self.strides if src < self.spec.num_inputs else 1
                op = build_operation(op_name, F, stride, states[src][0], self.pad_mode,
                                     self.norm, name=f"comb_iter_{b}_{side}")
                op.build((None, None, None, states[src][0]))
                self.block_ops.append(op)
            if combine in ("add_layernorm", "add_instancenorm"):
                # GroupNorm with one group is layer norm over (H, W, C); with one
                # group per channel it is instance norm.
                norm = keras.layers.GroupNormalization(
                    groups=1 if combine == "add_layernorm" else -1,
                    epsilon=self.norm.bn_epsilon, name=f"comb_iter_{b}_combine_norm")
                norm.build((None, None, None, F))
                self.combine_norms[str(b)] = norm
            states.append((2 * F if combine == "concat" else F, True))

        final_channels = states[-1][0]
        self.output_reductions = {}
        for idx in self.spec.concat:
            channels, at_output = states[idx]
            if channels != final_channels or not at_output:
                layer = FactorizedReduction(
                    final_channels, 1 if at_output else 2,
                    name=f"cell_output_reduction_{idx}", **self.norm.get_config())
                layer.build((None, None, None, channels))
                self.output_reductions[str(idx)] = layer
        self.drop_path.build()
        self.built = True

    # --- forward ------------------------------------------------------------------------

    def call(self, inputs, training=None):
        x = inputs[0]
        h = None
        if self.base_conv is not None:
            h = self.base_bn(self.base_conv(ops.relu(x)), training=training)
        states = [h]
        for j, p in enumerate(inputs[1:], start=1):
            if j not in self.used_inputs:
                p = None
            elif str(j) in self.input_reductions:
                p = call_operation(self.input_reductions[str(j)], ops.relu(p), training=training)
            elif str(j) in self.input_convs:
                p = self.input_bns[str(j)](self.input_convs[str(j)](ops.relu(p)),
                                            training=training)
            states.append(p)
        # Work shared between ops that read the same state: its ReLU, its zero
        # padding for strided pools, and the output of equal weightless ops
        # (NASNet-A's normal cell pools its previous input twice).
        activated, padded, pure = {}, {}, {}
        for b in range(self.spec.num_blocks):
            left, right = self.block_ops[2 * b], self.block_ops[2 * b + 1]
            lop, lin, rop, rin, combine = self.spec.block(b)
            if left is None:  # nothing reads this block's output
                states.append(None)
                continue
            outs = []
            for op, op_name, src in ((left, lop, lin), (right, rop, rin)):
                key = getattr(op, "pure_key", None)  # custom ops may lack these
                if key is not None and (key, src) in pure:
                    y = pure[(key, src)]
                else:
                    kwargs = {}
                    if getattr(op, "starts_with_relu", False):
                        if src not in activated:
                            activated[src] = ops.relu(states[src])
                        kwargs["activated"] = activated[src]
                    if isinstance(op, Pooling) and op.pads_input:
                        pad_key = (src, op.pool_size)
                        if pad_key not in padded:
                            padded[pad_key] = zero_pad_same(states[src], op.pool_size, 2)
                        kwargs["padded"] = padded[pad_key]
                    y = call_operation(op, states[src], training=training, **kwargs)
                    if key is not None:
                        pure[(key, src)] = y
                if op_name != "identity":  # slim never drops identity paths
                    y = self.drop_path(y, training=training)
                outs.append(y)
            if combine == "concat":
                states.append(concatenate_channels(outs))
            else:
                y = add_same_shape(outs[0], outs[1])
                if str(b) in self.combine_norms:
                    y = self.combine_norms[str(b)](y)
                states.append(y)
        parts = self._output_states(
            states, lambda layer, state: call_operation(layer, state, training=training))
        if training:
            self.drop_path.advance()
        if self.spec.output_mode == "pass":
            return parts
        return parts[0] if len(parts) == 1 else concatenate_channels(parts)

    def _output_states(self, states, reduce):
        """A "pass" cell's live block outputs; else the ``concat`` states, each brought to
        the last state's width and resolution by ``reduce(layer, state)`` where it differs
        (``call`` runs the layer, ``_output_shapes`` its shape rule)."""
        if self.spec.output_mode == "pass":
            live = self.live_outputs or range(self.spec.num_blocks)
            return [states[self.spec.num_inputs + b] for b in live]
        return [reduce(self.output_reductions[str(idx)], states[idx])
                if str(idx) in self.output_reductions else states[idx]
                for idx in self.spec.concat]

    # --- output shapes ------------------------------------------------------------------

    def compute_output_spec(self, inputs, training=None):
        """The outputs' shapes from the sublayers' own shape rules, following ``call``'s data
        flow.  Keras would otherwise trace ``call`` on symbolic tensors to learn them, a
        third of the time it takes to build a small network.  Falls back to that trace
        when a rule is missing (a registered operation without ``compute_output_shape``)
        or two shapes that are added differ."""
        try:
            shapes = self._output_shapes([tuple(t.shape) for t in inputs])
        except Exception:  # noqa: BLE001 - any gap: let Keras trace, which is exact
            shapes = None
        if shapes is None:
            return super().compute_output_spec(inputs, training=training)
        if isinstance(shapes, list):
            return [keras.KerasTensor(shape, dtype=self.compute_dtype) for shape in shapes]
        return keras.KerasTensor(shapes, dtype=self.compute_dtype)

    def _output_shapes(self, input_shapes):
        if not self.built:
            return None
        F = self.filters
        states = [None if self.base_conv is None else input_shapes[0][:3] + (F,)]
        for j, p in enumerate(input_shapes[1:], start=1):
            if j not in self.used_inputs:
                p = None
            elif str(j) in self.input_reductions:
                p = tuple(self.input_reductions[str(j)].compute_output_shape(p))
            elif str(j) in self.input_convs:
                p = p[:3] + (F,)
            states.append(p)
        for b in range(self.spec.num_blocks):
            left, right = self.block_ops[2 * b], self.block_ops[2 * b + 1]
            _, lin, _, rin, combine = self.spec.block(b)
            if left is None:
                states.append(None)
                continue
            outs = [tuple(left.compute_output_shape(states[lin])),
                    tuple(right.compute_output_shape(states[rin]))]
            if combine == "concat":
                if outs[0][:3] != outs[1][:3]:
                    return None
                states.append(outs[0][:3] + (outs[0][3] + outs[1][3],))
            else:
                if outs[0] != outs[1]:
                    return None
                states.append(outs[0])
        parts = self._output_states(
            states, lambda layer, shape: tuple(layer.compute_output_shape(shape)))
        if self.spec.output_mode == "pass":
            return parts
        if any(part[:3] != parts[0][:3] for part in parts):
            return None
        return parts[0][:3] + (sum(part[3] for part in parts),)

    # --- weights by name ----------------------------------------------------------------

    def slim_variables(self):
        """{TF-slim name relative to `scope`: variable} for every weight of the cell."""
        out = {}
        if self.base_conv is not None:
            out.update({**conv_variables("1x1", self.base_conv),
                        **bn_variables("beginning_bn", self.base_bn)})
        for j in range(1, self.spec.num_inputs):
            scope = "" if j == 1 else f"input_{j}/"  # slot 1 keeps slim's names
            if str(j) in self.input_reductions:
                for name, var in self.input_reductions[str(j)].slim_variables().items():
                    out[scope + name] = var
            elif str(j) in self.input_convs:
                out.update({scope + n: v for n, v in
                            conv_variables("prev_1x1", self.input_convs[str(j)]).items()})
                out.update({scope + n: v for n, v in
                            bn_variables("prev_bn", self.input_bns[str(j)]).items()})
        for i, op in enumerate(self.block_ops):
            if op is None:
                continue
            side = "left" if i % 2 == 0 else "right"
            for name, var in op.slim_variables().items():
                out[f"comb_iter_{i // 2}/{side}/{name}"] = var
        for b, norm in self.combine_norms.items():
            out[f"comb_iter_{b}/combine_norm/gamma"] = norm.gamma
            out[f"comb_iter_{b}/combine_norm/beta"] = norm.beta
        for idx, layer in self.output_reductions.items():
            for name, var in layer.slim_variables().items():
                out[f"cell_output/reduction_{idx}/{name}"] = var
        return out

    def get_config(self):
        dp = self.drop_path
        return {
            **super().get_config(),
            "spec": self.spec.to_dict(),
            "filters": self.filters,
            "strides": self.strides,
            "prev_mode": self.prev_modes[0] if len(self.prev_modes) == 1 else self.prev_modes,
            "pad_mode": self.pad_mode,
            **self.norm.get_config(),
            "drop_path_keep_prob": dp.keep_prob,
            "cell_index": dp.cell_index,
            "total_cells": dp.total_cells,
            "total_training_steps": dp.total_training_steps,
            "scope": self.scope,
            "seed": self.seed,
            "live_outputs": None if self.live_outputs is None else list(self.live_outputs),
        }
