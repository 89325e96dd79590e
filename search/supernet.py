"""The weight-sharing supernet (ENAS, Pham et al. 2018) of a `NASNetSearchSpace`.

One Keras model holds every child of the space at proxy size (the cells per stage,
block width F, input size and CIFAR stem that `NASNetSearchSpace.build_model` takes)
and runs any one of them.  The architecture enters as an int32 tensor (`encode`), so
a train step and an evaluation step are each traced once for a whole search.

Design (one_shot.md §5; each choice was checked against the plain child, see
`extract`):
- **Weights per (cell position, block, side, operation, input kind)**, NNI-style: the
  same weights whichever earlier state the operation reads, except where the child's
  weights differ in shape or stride (the strided operations on a reduction cell's
  inputs; the stem-wide input of the first cell).  ENAS' per-input-index copies would
  multiply the weights by up to B + 2 for no benefit the literature shows.
- **Branch selection with ``tf.switch_case``** (``selection="switch"``, the default): only
  the chosen input and operation run, forward and backward; an unchosen operation's
  weights get an exact zero gradient (never None).  ``selection="gather"`` computes
  every candidate and gathers one (ENAS' own way); on 2 CPU cores it measured slower
  (`benchmarks/weight_sharing.py` prints both).
- **The cell output has a fixed width**: every state that may be concatenated is
  multiplied by its 0/1 entry in the architecture's concat mask and all are
  concatenated (one_shot.md §1.7, fixed-shape form).  A masked state adds nothing to
  the next cell's 1x1 projections (their rows for it get zero gradient), so the rows of
  the concatenated states are exactly the child's projection weights (`extract`).
  Where the child skips the projection because the concatenation already has the
  cell's width, the supernet compacts the used chunks instead (a ``tf.cond`` on the
  number of concatenated states).
- **BatchNormalization**: the child's layers (`nasnet_keras.FusedBatchNormalization`,
  Keras' own with a fused training pass), so weights and moving statistics map one to
  one.  Training and scoring both use batch statistics (ENAS;
  one_shot.md §5.4: moving statistics shared by every path describe none of them);
  ``training=True`` only updates the moving statistics of the operations that ran.
  An extracted child therefore needs `nasnet_keras.recalibrate_batch_norm` before it
  predicts in inference mode (`extract` does it when given data).
- No drop path, dropout or auxiliary head while searching (ENAS has no drop path in
  search either, one_shot.md §1.10); the retraining adds what the user asks for.

Not expressible with fixed shapes: the ``concat`` combine (a state of width 2F whose
consumers would change shape) and NASNet-B's four-input pass-through cells; building
a supernet for such a space raises an error naming the option.
"""

import keras
import numpy as np
import tensorflow as tf

from nasnet_keras.genotypes import Genotype
from nasnet_keras.layers import FactorizedReduction, NormSettings, make_bn, make_conv
from nasnet_keras.model import PREV_MODE_BY_LEVEL_GAP, _cell_plan, _sources
from nasnet_keras.operations import build_operation

SELECTIONS = ("switch", "gather")
SUPPORTED_PRESETS = ("enas", "pnas", "nasnet (with combine=('add',))",
                     "nasnet_c (with combine=('add', 'add_layernorm', 'add_instancenorm'))")
_NORM_GROUPS = {"add_layernorm": 1, "add_instancenorm": -1}


def check_space(space):
    """Raise a clear error when the supernet cannot hold ``space``'s children."""
    from nasnet_search.nasnet_space import NASNetSearchSpace

    if not isinstance(space, NASNetSearchSpace):
        raise ValueError(
            f"Weight sharing needs a NASNetSearchSpace (cells), got {type(space).__name__}; the "
            f"macro space (Zoph & Le 2017) is searched stand-alone.  Spaces that work: "
            f"{', '.join(SUPPORTED_PRESETS)}.")
    if space.output == "pass" or space.num_inputs != 2:
        raise ValueError(
            "Weight sharing cannot express NASNet-B's four-input pass-through cells (`output="
            f"'pass'`, `num_inputs={space.num_inputs}`): each cell's inputs change shape with "
            f"the architecture.  Spaces that work: {', '.join(SUPPORTED_PRESETS)}.")
    if "concat" in space.combine:
        raise ValueError(
            f"Weight sharing cannot express the `combine` option 'concat' (space combine="
            f"{list(space.combine)}): a concatenated block has width 2F and every operation "
            f"reading it would change shape.  Spaces that work: {', '.join(SUPPORTED_PRESETS)}.")


class SupernetCell(keras.layers.Layer):
    """All children's versions of one cell position (see the module docstring).

    ``inputs[j]`` is described by ``sources[j]``: ``(mode, width, chunks)`` with mode
    ``"passthrough"``, ``"match"`` or ``"reduce"``, the tensor's (fixed) width, and for a
    cell's output the number of F-wide chunks it holds (None for the stem).
    """

    def __init__(self, space, filters, strides, sources, norm, pad_mode="keras",
                 selection="switch", **kwargs):
        super().__init__(**kwargs)
        self.space = space
        self.filters = F = filters
        self.strides = strides
        self.sources = sources
        self.norm = norm
        self.selection = selection
        B = self.num_blocks = space.num_blocks
        self.num_states = 2 + B
        # States that may be concatenated into the output, in chunk order.
        self.out_states = list(range(self.num_states)) if space.output == "searched" \
            else list(range(2, self.num_states))

        (mode0, w0, _), (mode1, w1, chunks1) = sources
        self.base_conv = norm.conv(F, 1, name="1x1")
        self.base_bn = norm.bn("beginning_bn")
        self.base_conv.build((None, None, None, w0))
        self.base_bn.build((None, None, None, F))

        # Slot 1, as `NASNetCell` prepares it for each possible width of the source.
        self.prev_reduction = self.prev_conv = self.prev_bn = None
        self.raw_chunks = 0  # the child passes the source through when it holds this many
        state1_width = F
        if mode1 == "passthrough":
            state1_width = w1
        elif mode1 == "reduce":
            self.prev_reduction = FactorizedReduction(F, 2, name="prev_reduction",
                                                      **norm.get_config())
            self.prev_reduction.build((None, None, None, w1))
        else:
            chunk = w1 // chunks1 if chunks1 else w1
            if chunks1 and F % chunk == 0 and 1 <= F // chunk <= chunks1:
                self.raw_chunks = F // chunk
            if chunks1 or w1 != F:
                self.prev_conv = norm.conv(F, 1, name="prev_1x1")
                self.prev_bn = norm.bn("prev_bn")
                self.prev_conv.build((None, None, None, w1))
                self.prev_bn.build((None, None, None, F))
        widths = [F, state1_width] + [F] * B

        # Operations: one set per (block, side, input kind); kind = (stride, width).
        ops_ = space.operations
        self.kind_of = []   # per block: kind index of each source state
        self.kinds = []     # per block: list of (stride, width, [member states])
        self.op_layers = []  # [b][side][kind][op]
        for b in range(B):
            kinds, kind_of = [], []
            for src in range(2 + b):
                key = (strides if src < 2 else 1, widths[src])
                found = [i for i, k in enumerate(kinds) if k[:2] == key]
                if found:
                    kinds[found[0]][2].append(src)
                    kind_of.append(found[0])
                else:
                    kinds.append((key[0], key[1], [src]))
                    kind_of.append(len(kinds) - 1)
            self.kinds.append(kinds)
            self.kind_of.append(kind_of)
            sides = []
            for side in ("left", "right"):
                per_kind = []
                for g, (stride, width, _) in enumerate(kinds):
                    layers = []
                    for name in ops_:
                        op = build_operation(name, F, stride, width, pad_mode, norm,
                                             name=f"b{b}_{side}_k{g}_{name}")
                        op.build((None, None, None, width))
                        layers.append(op)
                    per_kind.append(layers)
                sides.append(per_kind)
            self.op_layers.append(sides)

        self.combine_norms = []  # [b][combine index] -> layer or None (plain add)
        for b in range(B):
            norms = []
            for name in space.combine:
                layer = None
                if name in _NORM_GROUPS:
                    layer = keras.layers.GroupNormalization(
                        groups=_NORM_GROUPS[name], epsilon=norm.bn_epsilon,
                        name=f"b{b}_{name}")
                    layer.build((None, None, None, F))
                norms.append(layer)
            self.combine_norms.append(norms)

        # A concatenated cell input is brought to F channels at the output resolution.
        self.output_reductions = {}
        for s in self.out_states:
            if s < 2 and (strides == 2 or widths[s] != F):
                layer = FactorizedReduction(F, 1 if strides == 1 else 2,
                                            name=f"output_reduction_{s}", **norm.get_config())
                layer.build((None, None, None, widths[s]))
                self.output_reductions[str(s)] = layer
        self.out_width = len(self.out_states) * F
        self.built = True

    # -- forward -------------------------------------------------------------------------
    def _state1(self, x1, src_mask, training):
        mode1 = self.sources[1][0]
        if mode1 == "passthrough":
            return x1
        if mode1 == "reduce":
            return self.prev_reduction(tf.nn.relu(x1), training=training)
        if self.prev_conv is None:
            return x1

        def project():
            return self.prev_bn(self.prev_conv(tf.nn.relu(x1)), training=training)

        if not self.raw_chunks:
            return project()
        k, chunks = self.raw_chunks, self.sources[1][2]

        def compact():  # the child's concatenation of exactly k chunks
            shape = tf.shape(x1)
            parts = tf.reshape(x1, tf.concat([shape[:3], [chunks, -1]], 0))
            # The k used chunks in order (a stable sort puts the ones first; fixed shape),
            # picked by a 0/1 matrix, not a gather: the gradient then keeps no int32
            # intermediate, which TensorFlow's type inference of the cond warns about.
            used = tf.argsort(1 - src_mask, stable=True)[:k]
            select = tf.one_hot(used, chunks, dtype=x1.dtype)
            picked = tf.einsum("bhwcf,kc->bhwkf", parts, select)
            return tf.reshape(picked, tf.concat([shape[:3], [self.filters]], 0))

        return tf.cond(tf.equal(tf.reduce_sum(src_mask), k), compact, project)

    def _slot(self, b, side, states, src, op, training):
        kinds, layers = self.kinds[b], self.op_layers[b][side]

        def pick(members, local):
            if len(members) == 1:
                return states[members[0]]
            if self.selection == "gather":
                return tf.gather(tf.stack([states[m] for m in members]), local)
            return tf.switch_case(local, [lambda m=m: states[m] for m in members])

        local_index = tf.constant(
            [kinds[self.kind_of[b][s]][2].index(s) for s in range(2 + b)], tf.int32)
        kind_index = tf.constant(self.kind_of[b], tf.int32)
        local = tf.gather(local_index, src)
        if self.selection == "gather":
            outs = []
            for g, (_, _, members) in enumerate(kinds):
                x = pick(members, tf.minimum(local, len(members) - 1))
                outs += [layer(x, training=training) for layer in layers[g]]
            return tf.gather(tf.stack(outs), tf.gather(kind_index, src) * len(layers[0]) + op)

        def run_kind(g):
            x = pick(kinds[g][2], local)
            return tf.switch_case(op, [lambda layer=layer: layer(x, training=training)
                                       for layer in layers[g]])

        if len(kinds) == 1:
            return run_kind(0)
        return tf.switch_case(tf.gather(kind_index, src),
                              [lambda g=g: run_kind(g) for g in range(len(kinds))])

    def call(self, inputs, arch, src_mask, training=None):
        """``arch``: this cell type's row of `Supernet.encode`; ``src_mask``: the concat
        mask of the cell feeding slot 1 (unused when that is the stem)."""
        x0, x1 = inputs
        B = self.num_blocks
        h0 = self.base_bn(self.base_conv(tf.nn.relu(x0)), training=training)
        states = [h0, self._state1(x1, src_mask, training)]
        for b in range(B):
            left = self._slot(b, 0, states, arch[2 * b], arch[2 * B + 2 * b], training)
            right = self._slot(b, 1, states, arch[2 * b + 1], arch[2 * B + 2 * b + 1], training)
            y = left + right
            norms = self.combine_norms[b]
            if any(n is not None for n in norms):
                y = tf.switch_case(arch[4 * B + b], [
                    (lambda: y) if n is None else (lambda n=n: n(y)) for n in norms])
            states.append(y)
        mask = tf.cast(arch[5 * B:], states[-1].dtype)
        chunks = []
        for s in self.out_states:
            state = states[s]
            if str(s) in self.output_reductions:
                state = self.output_reductions[str(s)](state, training=training)
            chunks.append(state * mask[s])
        return tf.concat(chunks, axis=-1)

    # -- the child's weights ---------------------------------------------------------------
    def child_values(self, spec, src_concats):
        """{slim name: array} for a `NASNetCell` of ``spec`` at this position.

        ``src_concats[j]``: the concat list of the cell feeding slot j (None: the stem).
        """
        def rows(kernel, j):
            concat = src_concats[j]
            value = np.asarray(kernel)
            if concat is None:
                return value
            chunk = value.shape[2] // len(self.source_out_states[j])
            return np.concatenate([value[:, :, self.source_out_states[j].index(s) * chunk:
                                         (self.source_out_states[j].index(s) + 1) * chunk]
                                   for s in concat], axis=2)

        out = {"1x1/weights": rows(self.base_conv.kernel, 0)}
        out.update(_bn_values("beginning_bn", self.base_bn))
        if self.prev_reduction is not None:
            r = self.prev_reduction
            out["path1_conv/weights"] = rows(r.path1_conv.kernel, 1)
            out["path2_conv/weights"] = rows(r.path2_conv.kernel, 1)
            out.update(_bn_values("final_path_bn", r.final_path_bn))
        elif self.prev_conv is not None:
            out["prev_1x1/weights"] = rows(self.prev_conv.kernel, 1)
            out.update(_bn_values("prev_bn", self.prev_bn))
        ops_ = list(self.space.operations)
        for b in range(self.num_blocks):
            lop, lin, rop, rin, combine = spec.block(b)
            for side, (op_name, src) in enumerate(((lop, lin), (rop, rin))):
                layer = self.op_layers[b][side][self.kind_of[b][src]][ops_.index(op_name)]
                tag = "left" if side == 0 else "right"
                for name, var in layer.slim_variables().items():
                    out[f"comb_iter_{b}/{tag}/{name}"] = np.asarray(var)
            norm = self.combine_norms[b][list(self.space.combine).index(combine)]
            if norm is not None:
                out[f"comb_iter_{b}/combine_norm/gamma"] = np.asarray(norm.gamma)
                out[f"comb_iter_{b}/combine_norm/beta"] = np.asarray(norm.beta)
        for s, layer in self.output_reductions.items():
            for name, var in layer.slim_variables().items():
                out[f"cell_output/reduction_{s}/{name}"] = np.asarray(var)
        return out


def _bn_values(prefix, bn):
    return {f"{prefix}/{n}": np.asarray(getattr(bn, n))
            for n in ("gamma", "beta", "moving_mean", "moving_variance")}


@keras.saving.register_keras_serializable(package="nasnet_search")
class Supernet(keras.Model):
    """Every child of ``space`` at proxy size, in one model.

    Args:
        space: a `NASNetSearchSpace` the supernet can express (`check_space`).
        input_shape: image shape (height, width, channels), at least 32 px.
        classes: number of classes.
        num_cells: N, normal cells per stage (``build_model``'s ``num_cells``).
        filters: F, the block width of the first stage.
        selection: ``"switch"`` (run only the chosen branch) or ``"gather"``
            (compute every candidate and gather one).
        bn_momentum, bn_epsilon: as `NASNetSearchSpace.build_model` (0.9, 1e-5).

    Call it as ``supernet(images, arch, training=...)`` with ``arch = supernet.encode(g)``
    (an int32 ``[2, 5B + B + 2]`` array: per cell type the inputs, operations, combines
    and the concat mask).  ``extract(genotype)`` returns the plain child with the
    inherited weights.
    """

    def __init__(self, space, input_shape=(32, 32, 3), classes=10, num_cells=1, filters=8,
                 selection="switch", bn_momentum=0.9, bn_epsilon=1e-5, pad_mode="keras",
                 **kwargs):
        super().__init__(**kwargs)
        check_space(space)
        from nasnet_search.weight_sharing import _positive_int

        for name, value in (("num_cells", num_cells), ("filters", filters), ("classes", classes)):
            _positive_int(name, value)
        if selection not in SELECTIONS:
            raise ValueError(f"`selection` must be one of {SELECTIONS}, got {selection!r}.")
        shape = tuple(input_shape)
        if len(shape) != 3 or any(not isinstance(d, int) or d < 1 for d in shape) \
                or min(shape[:2]) < 32:
            raise ValueError(f"`input_shape` must be (height, width, channels) with known sizes "
                             f"of at least 32 px, got {input_shape!r}.")
        self.space = space
        self.image_shape = shape
        self.classes = classes
        self.num_cells = num_cells
        self.filters = filters
        self.selection = selection
        self.pad_mode = pad_mode
        self.norm = NormSettings(bn_momentum, bn_epsilon, 0.0)
        B = space.num_blocks
        self.arch_length = 5 * B + 2 + B

        stem_width = int(filters * 3.0)
        self.stem_conv = make_conv(stem_width, 3, name="l1_stem_3x3")
        self.stem_bn = make_bn(bn_momentum, bn_epsilon, name="l1_stem_bn")
        self.stem_conv.build((None,) + shape)
        self.stem_bn.build((None, None, None, stem_width))

        # The child's cell plan (placeholder genotype: only strides and widths are read).
        plan = _cell_plan(_placeholder_genotype(B), num_cells, filters, "cifar")
        # history entries: (producer: -1 stem / cell index, level, width, chunks)
        history = [None, (-1, 0, stem_width, None)]
        self.cells, self.cell_types, self.cell_sources, self.scopes = [], [], [], []
        for index, (_, scope, cell_filters, strides, _, _) in enumerate(plan):
            srcs = _sources(history, 2)
            level = srcs[0][1]
            described = []
            for j, src in enumerate(srcs):
                if src is None:  # the first cell reads the stem twice
                    described.append(("passthrough", srcs[0][2], srcs[0][3]))
                else:
                    mode = "match" if j == 0 else PREV_MODE_BY_LEVEL_GAP[level - src[1]]
                    described.append((mode, src[2], src[3]))
            producers = [s[0] if s is not None else srcs[0][0] for s in srcs]
            cell = SupernetCell(space, cell_filters, strides, described, self.norm,
                                pad_mode=pad_mode, selection=selection, name=scope)
            self.cells.append(cell)
            self.cell_types.append(0 if strides == 1 else 1)
            self.cell_sources.append(producers)
            self.scopes.append(scope)
            history.append((index, level + (strides == 2), cell.out_width,
                            len(cell.out_states)))
        for cell, producers in zip(self.cells, self.cell_sources):
            cell.source_out_states = [None if p < 0 else self.cells[p].out_states
                                      for p in producers]
        self.classifier = keras.layers.Dense(classes, activation="softmax", dtype="float32",
                                             name="predictions")
        self.classifier.build((None, self.cells[-1].out_width))
        self.built = True

    # -- architectures as tensors -------------------------------------------------------------
    def encode(self, genotype):
        """A genotype of the space (or its decision values / actions) -> int32 ``[2, L]``."""
        genotype = self._as_genotype(genotype)
        ops_, combine = list(self.space.operations), list(self.space.combine)
        rows = []
        for spec in (genotype.normal, genotype.reduction):
            mask = [0] * (2 + self.space.num_blocks)
            for s in spec.concat:
                mask[s] = 1
            if list(spec.concat) != sorted(spec.concat):
                raise ValueError(f"{spec.label} cell: the supernet keeps concatenated states in "
                                 f"index order; `concat` {list(spec.concat)} is not sorted.")
            rows.append(list(spec.inputs) + [ops_.index(o) for o in spec.ops]
                        + [combine.index(c) for c in spec.combine] + mask)
        return np.asarray(rows, np.int32)

    def encode_actions(self, actions):
        """`encode` of the space's action indices, without building a genotype (the
        search encodes one architecture per step and per score)."""
        table = self._action_table
        if len(actions) < table["length"]:
            raise ValueError(f"Expected {table['length']} actions, got {len(actions)}.")
        B, k = self.space.num_blocks, 2
        rows = []
        for positions, outs in table["cells"]:
            row = [int(actions[p]) for p in positions]  # inputs, ops, combines: indices
            inputs = set(row[:2 * B])
            mask = [int(s >= k and s not in inputs) for s in range(k + B)]
            for s, p in outs.items():
                mask[s] = max(mask[s], int(actions[p]))  # output="searched": False, True
            rows.append(row + mask)
        if len(rows) == 1:
            rows = rows * 2  # one shared cell (PNAS)
        return np.asarray(rows, np.int32)

    @property
    def _action_table(self):
        if getattr(self, "_table", None) is None:
            index = {d.name: i for i, d in enumerate(self.space.decisions)}
            B = self.space.num_blocks
            cells = []
            for cell in self.space.cell_names:
                positions = [index[f"{cell}/b{b}/in{j}"] for b in range(B) for j in (0, 1)]
                positions += [index[f"{cell}/b{b}/op{j}"] for b in range(B) for j in (0, 1)]
                positions += [index[f"{cell}/b{b}/comb"] for b in range(B)]
                outs = {s: index[f"{cell}/out/s{s}"] for s in range(2 + B)
                        if f"{cell}/out/s{s}" in index}
                cells.append((positions, outs))
            self._table = {"cells": cells, "length": len(self.space.decisions)}
        return self._table

    def _as_genotype(self, arch):
        if isinstance(arch, dict) and set(arch) != {"normal", "reduction"}:
            arch = self.space.decode(arch)  # decision values
        genotype = Genotype.from_dict(arch) if isinstance(arch, dict) else arch
        if not isinstance(genotype, Genotype):
            raise TypeError(f"Expected a nasnet_keras.Genotype, its dict or decision values, got "
                            f"{type(arch).__name__}.")
        self.space.encode(genotype)  # raises a clear error if it is not in the space
        return genotype

    # -- forward --------------------------------------------------------------------------
    def call(self, images, arch, training=None):
        x = self.stem_bn(self.stem_conv(images), training=training)
        outputs, masks = [], []
        B = self.space.num_blocks
        for cell, kind, producers in zip(self.cells, self.cell_types, self.cell_sources):
            inputs = [x if p < 0 else outputs[p] for p in producers]
            src_mask = masks[producers[1]] if producers[1] >= 0 else None
            row = arch[kind]
            outputs.append(cell(inputs, row, src_mask, training=training))
            masks.append(tf.gather(row[5 * B:], cell.out_states))
        features = tf.reduce_mean(tf.nn.relu(outputs[-1]), axis=[1, 2])
        return self.classifier(features)

    # -- the plain child ---------------------------------------------------------------------
    def build_child(self, genotype, name="child"):
        """The plain `nasnet_keras.NASNet` child of ``genotype`` (fresh weights)."""
        return self.space.build_model(
            self._as_genotype(genotype), input_shape=self.image_shape, classes=self.classes,
            num_cells=self.num_cells, filters=self.filters, stem="cifar", name=name,
            bn_momentum=self.norm.bn_momentum, bn_epsilon=self.norm.bn_epsilon,
            pad_mode=self.pad_mode)

    def child_weights(self, genotype):
        """{layer name without the model prefix: {slim name: array}} of ``genotype``'s child."""
        genotype = self._as_genotype(genotype)
        specs = (genotype.normal, genotype.reduction)
        out = {"l1_stem_3x3": {"weights": np.asarray(self.stem_conv.kernel)},
               "l1_stem_bn": {n: np.asarray(getattr(self.stem_bn, n))
                              for n in ("gamma", "beta", "moving_mean", "moving_variance")}}
        for cell, kind, producers, scope in zip(self.cells, self.cell_types, self.cell_sources,
                                                self.scopes):
            concats = [None if p < 0 else list(specs[self.cell_types[p]].concat)
                       for p in producers]
            out[scope] = cell.child_values(specs[kind], concats)
        last = self.cells[-1]
        kernel = np.asarray(self.classifier.kernel)
        F = last.filters
        idx = [last.out_states.index(s) for s in specs[self.cell_types[-1]].concat]
        out["predictions"] = {
            "kernel": np.concatenate([kernel[i * F:(i + 1) * F] for i in idx], axis=0),
            "bias": np.asarray(self.classifier.bias)}
        return out

    def extract(self, genotype, name="child", calibration_data=None, calibration_steps=None):
        """The plain `nasnet_keras.NASNet` child of ``genotype`` carrying the inherited weights.

        Its output equals the supernet's for that architecture (both with batch
        statistics).  Its BatchNorm moving statistics are the supernet's, shared by all
        paths; give ``calibration_data`` (a dataset of ``(x, y)`` or of images, or an
        array of images) to recompute them for this child (`recalibrate_batch_norm`).
        """
        from nasnet_keras.cell import NASNetCell
        from nasnet_keras.batch_norm import recalibrate_batch_norm

        child = self.build_child(genotype, name=name)
        values = self.child_weights(genotype)
        prefix = f"{name}_"
        for layer in child.layers:
            key = layer.name[len(prefix):] if layer.name.startswith(prefix) else layer.name
            if isinstance(layer, NASNetCell):
                _assign(layer.slim_variables(), values[key], layer.name)
            elif key == "l1_stem_3x3":
                layer.kernel.assign(values[key]["weights"])
            elif key == "l1_stem_bn":
                for n, v in values[key].items():
                    getattr(layer, n).assign(v)
            elif key == "predictions":
                layer.kernel.assign(values[key]["kernel"])
                layer.bias.assign(values[key]["bias"])
            elif layer.weights:
                raise RuntimeError(f"extract: no supernet weights for the child's layer "
                                   f"{layer.name!r}.")
        if calibration_data is not None:
            recalibrate_batch_norm(child, calibration_data, steps=calibration_steps)
        return child

    def get_config(self):
        return {**super().get_config(), "space": self.space.get_config(),
                "input_shape": list(self.image_shape), "classes": self.classes,
                "num_cells": self.num_cells, "filters": self.filters,
                "selection": self.selection, "bn_momentum": self.norm.bn_momentum,
                "bn_epsilon": self.norm.bn_epsilon, "pad_mode": self.pad_mode}

    @classmethod
    def from_config(cls, config):
        from nasnet_search.space import space_from_config

        config = dict(config)
        config["space"] = space_from_config(config["space"])
        return cls(**config)


def _assign(variables, values, where):
    for name, var in variables.items():
        if name not in values:
            raise RuntimeError(f"extract: the supernet has no weight for {where}/{name}.")
        value = values[name]
        if tuple(var.shape) != value.shape:
            raise RuntimeError(f"extract: {where}/{name} has shape {tuple(var.shape)} in the "
                               f"child but {value.shape} from the supernet.")
        var.assign(value)


def _placeholder_genotype(num_blocks):
    from nasnet_keras.genotypes import CellSpec

    spec = CellSpec(ops=["identity"] * 2 * num_blocks, inputs=[0, 1] * num_blocks,
                    combine=["add"] * num_blocks, concat=[1 + num_blocks])
    return Genotype(normal=spec, reduction=spec)
