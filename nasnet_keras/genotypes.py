"""Cells as data: `CellSpec` describes one cell, `Genotype` a normal/reduction pair.

Indexing follows TF-slim (not DARTS): state 0 is the current input after
ReLU-1x1-BN, state 1 the previous cell's output after adjustment, and state
``num_inputs + b`` the output of block ``b``.  ``concat`` lists the states that
form the cell output explicitly: slim's ``used_hiddenstates`` is not a "was this
consumed" mask (NASNet-A concatenates state 1 in the normal cell and state 3 in
the reduction cell), so it can never be inferred.
"""

import dataclasses
import json
from typing import Tuple

# Operation names of the NASNet search space (papers.md §1.1).  The layer
# factories live in `operations.py`; this tuple fixes the public vocabulary.
NASNET_OPERATIONS = (
    "identity",
    "conv_1x3_3x1",
    "conv_1x7_7x1",
    "dil_conv_3x3",
    "avg_pool_3x3",
    "max_pool_3x3",
    "max_pool_5x5",
    "max_pool_7x7",
    "conv_1x1",
    "conv_3x3",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "sep_conv_7x7",
)

# "add_layernorm" / "add_instancenorm" (NASNet-B/C search spaces, papers.md §1.10):
# add, then normalize over (H, W, C) or over (H, W) per channel, with a learned
# per-channel scale and offset.
COMBINE_OPERATIONS = ("add", "concat", "add_layernorm", "add_instancenorm")

SUPPORTED_NUM_INPUTS = (2, 4)

# How a cell forms its output(s):
# "concat": concatenate the states listed in `concat` (NASNet-A, NASNet-C, PNASNet);
# "pass":   no concatenation; block b's output goes to the cell b + 1 positions
#           later (NASNet-B, papers.md §1.10), so B must equal num_inputs.
OUTPUT_MODES = ("concat", "pass")


def _known_operations():
    # Imported lazily: the registry can grow at run time (`register_operation`).
    from nasnet_keras.operations import OPERATIONS

    return OPERATIONS


def _as_tuple(value, field, label):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(
            f"{label}: `{field}` must be a list, got {type(value).__name__} {value!r}."
        )
    return tuple(value)


@dataclasses.dataclass(frozen=True)
class CellSpec:
    """One NASNet-style cell as plain data.

    Args:
        ops: ``2 * B`` operation names, left then right for each block.
        inputs: ``2 * B`` state indices, one per operation.
        combine: ``B`` combine names (see ``COMBINE_OPERATIONS``).
        concat: states concatenated into the cell output, in order.
        num_inputs: number of input states of the cell (2 for NASNet-A, 4 for
            NASNet-B).  Input k comes from the cell k + 1 positions earlier.
        output_mode: ``"concat"`` or ``"pass"`` (see ``OUTPUT_MODES``); with
            ``"pass"``, ``concat`` must be empty.
        label: name used in error messages only (e.g. ``"normal"``).
    """

    ops: Tuple[str, ...]
    inputs: Tuple[int, ...]
    combine: Tuple[str, ...]
    concat: Tuple[int, ...] = ()
    num_inputs: int = 2
    output_mode: str = "concat"
    label: str = dataclasses.field(default="cell", compare=False, repr=False)

    def __post_init__(self):
        label = f"{self.label} cell"
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen)
        set_("ops", _as_tuple(self.ops, "ops", label))
        set_("inputs", _as_tuple(self.inputs, "inputs", label))
        set_("combine", _as_tuple(self.combine, "combine", label))
        set_("concat", _as_tuple(self.concat, "concat", label))
        self._validate(label)

    def _validate(self, label):
        if self.num_inputs not in SUPPORTED_NUM_INPUTS:
            raise ValueError(
                f"{label}: `num_inputs` must be one of {SUPPORTED_NUM_INPUTS}, "
                f"got {self.num_inputs!r}."
            )
        num_blocks = len(self.combine)
        if num_blocks < 1:
            raise ValueError(f"{label}: `combine` must have at least one block, got [].")
        for field in ("ops", "inputs"):
            if len(getattr(self, field)) != 2 * num_blocks:
                raise ValueError(
                    f"{label}: `{field}` must have 2 * B = {2 * num_blocks} entries "
                    f"(B = len(combine) = {num_blocks}), got {len(getattr(self, field))}."
                )
        known = _known_operations()
        for i, op in enumerate(self.ops):
            if op not in known:
                raise ValueError(
                    f"{label}, block {i // 2} ({'left' if i % 2 == 0 else 'right'}): "
                    f"unknown operation {op!r} in `ops`; allowed: {sorted(known)}."
                )
        for i, index in enumerate(self.inputs):
            block = i // 2
            limit = self.num_inputs + block
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < limit:
                raise ValueError(
                    f"{label}, block {block} ({'left' if i % 2 == 0 else 'right'}): "
                    f"`inputs` index {index!r} out of range; allowed 0..{limit - 1} "
                    f"(inputs 0..{self.num_inputs - 1}, then earlier blocks)."
                )
        for block, name in enumerate(self.combine):
            if name not in COMBINE_OPERATIONS:
                raise ValueError(
                    f"{label}, block {block}: unknown `combine` {name!r}; "
                    f"allowed: {list(COMBINE_OPERATIONS)}."
                )
        if self.output_mode not in OUTPUT_MODES:
            raise ValueError(f"{label}: `output_mode` must be one of {list(OUTPUT_MODES)}, "
                             f"got {self.output_mode!r}.")
        if self.output_mode == "pass":
            if num_blocks != self.num_inputs:
                raise ValueError(
                    f"{label}: a pass-through (NASNet-B style) cell sends block b's output to "
                    f"the cell b + 1 positions later, so its outputs must match the next cells' "
                    f"{self.num_inputs} inputs: B = len(combine) must be {self.num_inputs}, "
                    f"got {num_blocks}.")
            if self.concat:
                raise ValueError(f"{label}: `concat` must be empty with output_mode='pass', "
                                 f"got {list(self.concat)}.")
            return
        if not self.concat:
            raise ValueError(f"{label}: `concat` is empty; list at least one state.")
        num_states = self.num_inputs + num_blocks
        for index in self.concat:
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < num_states:
                raise ValueError(
                    f"{label}: `concat` index {index!r} out of range; "
                    f"allowed 0..{num_states - 1}."
                )
        if len(set(self.concat)) != len(self.concat):
            raise ValueError(f"{label}: `concat` repeats a state: {list(self.concat)}.")

    @property
    def num_blocks(self):
        return len(self.combine)

    def blocks_needed(self, outputs=None):
        """Blocks that must run: those whose output leaves the cell, and those they read.

        ``outputs`` (pass cells only): the block outputs wanted; None means all.  A
        concat cell's output is its ``concat`` list, so a block neither concatenated
        nor read by one that is would only add weights without gradients.
        """
        k = self.num_inputs
        if self.output_mode == "pass":
            todo = list(range(self.num_blocks) if outputs is None else outputs)
        else:
            todo = [s - k for s in self.concat if s >= k]
        needed = set()
        while todo:
            b = todo.pop()
            if b not in needed:
                needed.add(b)
                todo += [src - k for src in self.inputs[2 * b:2 * b + 2] if src >= k]
        return needed

    def inputs_read(self, outputs=None):
        """Cell inputs read by the needed blocks or concatenated (see `blocks_needed`)."""
        read = {src for b in self.blocks_needed(outputs) for src in self.inputs[2 * b:2 * b + 2]}
        return sorted(i for i in read | set(self.concat) if i < self.num_inputs)

    def block(self, b):
        """(left_op, left_input, right_op, right_input, combine) of block ``b``."""
        return (
            self.ops[2 * b],
            self.inputs[2 * b],
            self.ops[2 * b + 1],
            self.inputs[2 * b + 1],
            self.combine[b],
        )

    def to_dict(self):
        return {
            "ops": list(self.ops),
            "inputs": list(self.inputs),
            "combine": list(self.combine),
            "concat": list(self.concat),
            "num_inputs": self.num_inputs,
            "output_mode": self.output_mode,
        }

    @classmethod
    def from_dict(cls, data, label="cell"):
        if isinstance(data, CellSpec):
            return data
        if not isinstance(data, dict):
            raise TypeError(f"{label} cell: expected a dict, got {type(data).__name__}.")
        unknown = set(data) - {"ops", "inputs", "combine", "concat", "num_inputs", "output_mode"}
        if unknown:
            raise ValueError(f"{label} cell: unknown fields {sorted(unknown)}.")
        missing = {"ops", "inputs", "combine"} - set(data)
        if missing:
            raise ValueError(f"{label} cell: missing fields {sorted(missing)}.")
        return cls(label=label, **data)

    def describe(self):
        """One line per block, e.g. ``b0 = sep_conv_5x5(h0) + sep_conv_3x3(h1)``."""
        lines = []
        for b in range(self.num_blocks):
            lop, lin, rop, rin, comb = self.block(b)
            sym = "||" if comb == "concat" else "+"
            norm = {"add_layernorm": "  -> layernorm", "add_instancenorm": "  -> instancenorm"}
            lines.append(f"s{self.num_inputs + b} = {lop}(s{lin}) {sym} {rop}(s{rin})"
                         + norm.get(comb, ""))
        if self.output_mode == "pass":
            lines.append("out = " + ", ".join(
                f"s{self.num_inputs + b} -> cell +{b + 1}" for b in range(self.num_blocks)))
        else:
            lines.append("out = concat(" + ", ".join(f"s{i}" for i in self.concat) + ")")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class Genotype:
    """A network's pair of cells: ``normal`` (stride 1) and ``reduction`` (stride 2)."""

    normal: CellSpec
    reduction: CellSpec

    def __post_init__(self):
        for field in ("normal", "reduction"):
            value = getattr(self, field)
            if isinstance(value, dict):
                value = CellSpec.from_dict(value, label=field)
            if not isinstance(value, CellSpec):
                raise TypeError(
                    f"Genotype `{field}` must be a CellSpec or dict, got {type(value).__name__}."
                )
            object.__setattr__(self, field, dataclasses.replace(value, label=field))
        for field in ("num_inputs", "output_mode"):
            a, b = getattr(self.normal, field), getattr(self.reduction, field)
            if a != b:
                raise ValueError(
                    f"Genotype: normal and reduction cells must have the same `{field}`, got "
                    f"{a!r} and {b!r}.")

    @property
    def num_inputs(self):
        return self.normal.num_inputs

    def to_dict(self):
        return {"normal": self.normal.to_dict(), "reduction": self.reduction.to_dict()}

    @classmethod
    def from_dict(cls, data):
        if isinstance(data, Genotype):
            return data
        if not isinstance(data, dict) or set(data) != {"normal", "reduction"}:
            raise ValueError(
                "Genotype: expected a dict with exactly the keys 'normal' and 'reduction', "
                f"got {sorted(data) if isinstance(data, dict) else type(data).__name__}."
            )
        return cls(
            normal=CellSpec.from_dict(data["normal"], "normal"),
            reduction=CellSpec.from_dict(data["reduction"], "reduction"),
        )

    def to_json(self, **kwargs):
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    def describe(self):
        return (
            "normal:\n  " + self.normal.describe().replace("\n", "\n  ")
            + "\nreduction:\n  " + self.reduction.describe().replace("\n", "\n  ")
        )


# NASNet-A exactly as released (TF-slim nasnet_utils.py; papers.md §1.2).
NASNET_A = Genotype(
    normal=CellSpec(
        ops=("sep_conv_5x5", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_3x3",
             "avg_pool_3x3", "identity", "avg_pool_3x3", "avg_pool_3x3",
             "sep_conv_3x3", "identity"),
        inputs=(0, 1, 1, 1, 0, 1, 1, 1, 0, 0),
        combine=("add",) * 5,
        concat=(1, 2, 3, 4, 5, 6),
    ),
    reduction=CellSpec(
        ops=("sep_conv_5x5", "sep_conv_7x7", "max_pool_3x3", "sep_conv_7x7",
             "avg_pool_3x3", "sep_conv_5x5", "identity", "avg_pool_3x3",
             "sep_conv_3x3", "max_pool_3x3"),
        inputs=(0, 1, 0, 1, 0, 1, 3, 2, 2, 0),
        combine=("add",) * 5,
        concat=(3, 4, 5, 6),
    ),
)

_PNASNET_5_CELL = CellSpec(
    ops=("sep_conv_5x5", "max_pool_3x3", "sep_conv_7x7", "max_pool_3x3",
         "sep_conv_5x5", "sep_conv_3x3", "sep_conv_3x3", "max_pool_3x3",
         "sep_conv_3x3", "identity"),
    inputs=(1, 1, 0, 0, 0, 0, 4, 0, 1, 0),
    combine=("add",) * 5,
    concat=(2, 3, 4, 5, 6),
)

# PNASNet-5 (TF-slim pnasnet.py): one cell, used at stride 1 and stride 2.
PNASNET_5 = Genotype(normal=_PNASNET_5_CELL, reduction=_PNASNET_5_CELL)

# NASNET_B and NASNET_C: cells found by this package's own search (nasnet_search, aging
# evolution on a digits proxy task) in the paper's NASNet-B and NASNet-C search spaces;
# not the paper's cells, which are published only as figures.  The command that finds
# them, the proxy task, the selection rule and their comparison with random cells:
# benchmarks/nasnet_bc_search.py and the README ("NASNet-B and NASNet-C").
NASNET_B = Genotype(  # search seed 0, 60 children
    normal=CellSpec(
        ops=("dil_conv_3x3", "sep_conv_7x7", "sep_conv_7x7", "sep_conv_3x3",
             "conv_3x3", "conv_1x1", "identity", "max_pool_7x7"),
        inputs=(0, 0, 4, 3, 2, 3, 6, 6),
        combine=("add", "concat", "concat", "add_instancenorm"),
        num_inputs=4, output_mode="pass",
    ),
    reduction=CellSpec(
        ops=("max_pool_5x5", "sep_conv_7x7", "sep_conv_3x3", "conv_1x3_3x1",
             "identity", "conv_1x7_7x1", "conv_3x3", "dil_conv_3x3"),
        inputs=(0, 1, 4, 1, 0, 2, 0, 5),
        combine=("add_layernorm", "concat", "add_instancenorm", "add_instancenorm"),
        num_inputs=4, output_mode="pass",
    ),
)
NASNET_C = Genotype(  # search seed 0, 40 children
    normal=CellSpec(
        ops=("conv_1x3_3x1", "conv_3x3", "conv_1x1", "dil_conv_3x3",
             "max_pool_7x7", "dil_conv_3x3", "max_pool_3x3", "conv_1x1"),
        inputs=(0, 0, 2, 2, 1, 0, 2, 3),
        combine=("concat", "add_layernorm", "add", "add_instancenorm"),
        concat=(4, 5),
    ),
    reduction=CellSpec(
        ops=("conv_1x3_3x1", "conv_1x3_3x1", "conv_3x3", "sep_conv_5x5",
             "conv_1x7_7x1", "conv_3x3", "avg_pool_3x3", "dil_conv_3x3"),
        inputs=(1, 1, 1, 0, 0, 1, 4, 1),
        combine=("concat", "add_instancenorm", "concat", "add"),
        concat=(2, 3, 5),
    ),
)
