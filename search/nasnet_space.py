"""The NASNet cell search space (Zoph et al. 2018, papers.md §1.1) and its variants.

Per cell and block, five decisions in the paper's order: the two inputs, the two
operations, the combine.  Normal cell first, then reduction: 2 x 5B decisions.
ENAS' and PNAS' restricted operation sets, PNAS' single shared cell, and the
NASNet-B/C styles (4 pass-through inputs; layer/instance-norm combines) are
options of this one class.
"""

import dataclasses

from nasnet_keras.genotypes import COMBINE_OPERATIONS, NASNET_OPERATIONS, CellSpec, Genotype

from nasnet_search.decisions import Decision
from nasnet_search.space import SearchSpace, check_names, register_space

ENAS_OPERATIONS = ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")
PNAS_OPERATIONS = ("identity", "avg_pool_3x3", "max_pool_3x3", "conv_1x7_7x1", "sep_conv_3x3",
                   "sep_conv_5x5", "sep_conv_7x7", "dil_conv_3x3")

# How a sampled cell forms its output:
# "unused":   concatenate the block outputs no other block consumes (the paper's rule);
# "searched": also one yes/no decision per state, so cells whose output keeps a
#             consumed state or a cell input (the released NASNet-A and PNASNet-5,
#             papers.md §1.2) are in the space;
# "pass":     NASNet-B: no concat; block b's output feeds the cell b + 1 later.
OUTPUT_RULES = ("unused", "searched", "pass")

PRESETS = {
    "nasnet": dict(num_blocks=5, operations=NASNET_OPERATIONS, combine=("add", "concat")),
    "enas": dict(num_blocks=5, operations=ENAS_OPERATIONS, combine=("add",)),
    "pnas": dict(num_blocks=5, operations=PNAS_OPERATIONS, combine=("add",), shared_cell=True),
    "nasnet_b": dict(num_blocks=4, operations=NASNET_OPERATIONS, combine=COMBINE_OPERATIONS,
                     num_inputs=4, output="pass"),
    "nasnet_c": dict(num_blocks=4, operations=NASNET_OPERATIONS, combine=COMBINE_OPERATIONS),
}


def unused_block_states(spec_inputs, num_inputs, num_blocks):
    consumed = set(spec_inputs)
    return [num_inputs + b for b in range(num_blocks) if num_inputs + b not in consumed]


@register_space
class NASNetSearchSpace(SearchSpace):
    """NASNet search space over a normal and a reduction cell.

    Args:
        num_blocks: B, blocks per cell (5 in the paper).
        operations: operation names (any registered in `nasnet_keras.OPERATIONS`).
        combine: combine names from ``nasnet_keras.genotypes.COMBINE_OPERATIONS``.
        num_inputs: input states per cell: 2 (NASNet-A/C) or 4 (NASNet-B).
        output: one of ``OUTPUT_RULES``.
        shared_cell: one cell for both normal and reduction (PNAS).

    ``NASNetSearchSpace.preset(name)`` gives the spaces of NASNet ("nasnet"), ENAS
    ("enas"), PNAS ("pnas"), NASNet-B ("nasnet_b") and NASNet-C ("nasnet_c").
    """

    space_name = "nasnet"

    def __init__(self, num_blocks=5, operations=NASNET_OPERATIONS, combine=("add", "concat"),
                 num_inputs=2, output="unused", shared_cell=False):
        from nasnet_keras.operations import OPERATIONS

        if not isinstance(num_blocks, int) or isinstance(num_blocks, bool) or num_blocks < 1:
            raise ValueError(f"`num_blocks` must be an integer >= 1, got {num_blocks!r}.")
        if num_inputs not in (2, 4):
            raise ValueError(f"`num_inputs` must be 2 or 4, got {num_inputs!r}.")
        if output not in OUTPUT_RULES:
            raise ValueError(f"`output` must be one of {OUTPUT_RULES}, got {output!r}.")
        if output == "pass" and num_blocks != num_inputs:
            raise ValueError(f"`output='pass'` (NASNet-B) needs num_blocks == num_inputs, so that "
                             f"the cell's outputs feed the next cells' inputs; got num_blocks="
                             f"{num_blocks}, num_inputs={num_inputs}.")
        if output != "pass" and num_inputs != 2:
            raise ValueError(f"`num_inputs=4` is the NASNet-B style and needs output='pass', got "
                             f"output={output!r}.")
        self.num_blocks = num_blocks
        self.operations = check_names("operations", operations, OPERATIONS)
        self.combine = check_names("combine", combine, COMBINE_OPERATIONS)
        self.num_inputs = num_inputs
        self.output = output
        self.shared_cell = bool(shared_cell)
        super().__init__()

    @classmethod
    def preset(cls, name, **overrides):
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; allowed: {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    @property
    def cell_names(self):
        return ("cell",) if self.shared_cell else ("normal", "reduction")

    def _make_decisions(self):
        k, anchor = self.num_inputs, 0
        for cell in self.cell_names:
            base = anchor
            anchor += k  # the cell's input anchors
            for b in range(self.num_blocks):
                pool = tuple(range(base, base + k + b))
                prefix = f"{cell}/b{b}/"
                yield Decision(prefix + "in0", range(k + b), "input", "input", candidates=pool,
                               new_anchors_before=k if b == 0 else 0)
                yield Decision(prefix + "in1", range(k + b), "input", "input", candidates=pool)
                yield Decision(prefix + "op0", self.operations, "choice", "op")
                yield Decision(prefix + "op1", self.operations, "choice", "op")
                yield Decision(prefix + "comb", self.combine, "choice", "combine",
                               closes_anchor=True)
                anchor += 1
            if self.output == "searched":
                for s in range(k + self.num_blocks):
                    yield Decision(f"{cell}/out/s{s}", (False, True), "skip", "output",
                                   anchor=base + s)

    # -- values <-> genotype ---------------------------------------------------------------
    def _decode_cell(self, values, cell):
        ops, inputs, combine = [], [], []
        for b in range(self.num_blocks):
            p = f"{cell}/b{b}/"
            inputs += [values[p + "in0"], values[p + "in1"]]
            ops += [values[p + "op0"], values[p + "op1"]]
            combine.append(values[p + "comb"])
        if self.output == "pass":
            concat = ()
        else:
            keep = set(unused_block_states(inputs, self.num_inputs, self.num_blocks))
            if self.output == "searched":
                keep |= {s for s in range(self.num_inputs + self.num_blocks)
                         if values[f"{cell}/out/s{s}"]}
            concat = tuple(sorted(keep))
        return CellSpec(ops=ops, inputs=inputs, combine=combine, concat=concat,
                        num_inputs=self.num_inputs,
                        output_mode="pass" if self.output == "pass" else "concat", label=cell)

    def decode(self, values):
        """Decision values -> `nasnet_keras.Genotype`."""
        self.actions_from_values(values)  # validates names and values
        cells = [self._decode_cell(values, cell) for cell in self.cell_names]
        return Genotype(normal=cells[0], reduction=cells[-1])

    def _encode_cell(self, spec, cell, values):
        where = f"{spec.label} cell"
        if spec.num_blocks != self.num_blocks:
            raise ValueError(f"{where} has {spec.num_blocks} blocks; this space has "
                             f"num_blocks={self.num_blocks}.")
        if spec.num_inputs != self.num_inputs:
            raise ValueError(f"{where} takes {spec.num_inputs} inputs; this space has "
                             f"num_inputs={self.num_inputs}.")
        for b in range(self.num_blocks):
            lop, lin, rop, rin, comb = spec.block(b)
            for name, value in (("in0", lin), ("in1", rin), ("op0", lop), ("op1", rop),
                                ("comb", comb)):
                key = f"{cell}/b{b}/{name}"
                try:
                    self._by_name[key].index(value)
                except ValueError:
                    raise ValueError(f"{where}, block {b}: {name} = {value!r} is not in this space "
                                     f"(allowed: {list(self._by_name[key].values)}).") from None
                values[key] = value
        if self.output == "pass":
            if spec.output_mode != "pass":
                raise ValueError(f"{where} concatenates its output; this space passes block "
                                 "outputs on (output='pass').")
            return
        if spec.output_mode == "pass":
            raise ValueError(f"{where} passes its outputs on; this space has output={self.output!r}.")
        unused = unused_block_states(spec.inputs, self.num_inputs, self.num_blocks)
        if self.output == "unused":
            if tuple(spec.concat) != tuple(unused):
                raise ValueError(
                    f"{where} outputs concat{list(spec.concat)}, but under this space's rule "
                    f"(output='unused') it would be concat{unused}.  The released NASNet-A and "
                    "PNASNet-5 cells keep extra states (papers.md §1.2): use output='searched'.")
            return
        if tuple(spec.concat) != tuple(sorted(spec.concat)) or not set(unused) <= set(spec.concat):
            raise ValueError(f"{where} outputs concat{list(spec.concat)}; output='searched' always "
                             f"keeps the unused states {unused} and lists states in order.")
        for s in range(self.num_inputs + self.num_blocks):
            values[f"{cell}/out/s{s}"] = s in spec.concat

    def encode(self, genotype):
        """`nasnet_keras.Genotype` -> decision values (the exact inverse of `decode`)."""
        genotype = Genotype.from_dict(genotype) if isinstance(genotype, dict) else genotype
        if not isinstance(genotype, Genotype):
            raise TypeError(f"`genotype` must be a nasnet_keras.Genotype, got {type(genotype).__name__}.")
        if self.shared_cell and genotype.normal != dataclasses.replace(genotype.reduction,
                                                                      label="normal"):
            raise ValueError("This space has shared_cell=True, but the genotype's normal and "
                             "reduction cells differ.")
        values = {}
        specs = (genotype.normal,) if self.shared_cell else (genotype.normal, genotype.reduction)
        for spec, cell in zip(specs, self.cell_names):
            self._encode_cell(spec, cell, values)
        return values

    def arch_to_dict(self, genotype):
        return genotype.to_dict()

    def arch_from_dict(self, data):
        return Genotype.from_dict(data)

    def describe(self, genotype):
        return genotype.describe()

    # -- child networks ----------------------------------------------------------------------
    def build_model(self, genotype, input_shape=(32, 32, 3), classes=10, num_cells=1, filters=8,
                    stem="cifar", name="child", bn_momentum=0.9, bn_epsilon=1e-5, **nasnet_kwargs):
        """A NASNet child at proxy size: ``num_cells`` per stage, block width ``filters``.

        BatchNorm uses momentum 0.9 (not NASNet's 0.9997): children train for a
        few epochs, and slow moving averages would leave validation at chance.
        """
        from nasnet_keras import NASNet
        from nasnet_keras.model import cell_output_units

        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"`filters` (block width F) must be a positive integer, got {filters!r}.")
        units = cell_output_units(genotype.normal)
        if stem == "imagenet":
            filters = -(-filters // 4) * 4  # the stem cells need F divisible by 4
        return NASNet(genotype=genotype, num_cells=num_cells,
                      penultimate_filters=units * filters * 4, stem=stem,
                      input_shape=tuple(input_shape), classes=classes, name=name,
                      bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, **nasnet_kwargs)

    def get_config(self):
        return {"space": self.space_name, "num_blocks": self.num_blocks,
                "operations": list(self.operations), "combine": list(self.combine),
                "num_inputs": self.num_inputs, "output": self.output,
                "shared_cell": self.shared_cell}
