"""Recurrent cells as data (Zoph & Le 2017, §3.4): `RecurrentCellSpec` and `NAS_CELL`.

A cell is a full binary tree over ``base`` leaves.  Leaf ``i`` combines ``x_t W_i`` with
``h_{t-1} U_i``; each internal node combines its two children; every node then applies
its activation.  Nodes are numbered leaves first (``0 .. base - 1``), then each level
left to right, the root last (``2 * base - 2``); the k-th node of a level has children
2k and 2k + 1 of the level below.  The memory state enters through ``cell_inject`` and
``cell_indices`` (the interpreter's rules: `nasnet_keras.recurrent.RecurrentCell`).
"""

import dataclasses
import json
from typing import Tuple

# The paper's Penn Treebank choices, plus its control experiment's `max` and `sin`.
RECURRENT_COMBINATIONS = ("add", "elem_mult", "max")
RECURRENT_ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu", "sin")


# How the paper writes a combination in equations; other combinations as name(a, b).
COMBINATION_SYMBOLS = {"add": "+", "elem_mult": "*"}


def is_tree_base(base):
    """Whether ``base`` can be the leaf count of a full binary tree: a power of two >= 2."""
    return not isinstance(base, bool) and isinstance(base, int) and base >= 2 and \
        not base & (base - 1)


def tree_children(base):
    """``{node: (left, right)}`` for the internal nodes of a tree over ``base`` leaves."""
    children, start, width = {}, 0, base
    while width > 1:
        for k in range(width // 2):
            children[start + width + k] = (start + 2 * k, start + 2 * k + 1)
        start, width = start + width, width // 2
    return children


def _pair(value, field, allowed_first, allowed_second):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") or len(value) != 2:
        raise ValueError(f"RecurrentCellSpec: `{field}` must be a (combination, activation) "
                         f"pair, got {value!r}.")
    first, second = value
    if first not in allowed_first:
        raise ValueError(f"RecurrentCellSpec: `{field}` has combination {first!r}; allowed: "
                         f"{', '.join(allowed_first)}.")
    if second not in allowed_second:
        raise ValueError(f"RecurrentCellSpec: `{field}` has activation {second!r}; allowed: "
                         f"{', '.join(allowed_second)}.")
    return (first, second)


@dataclasses.dataclass(frozen=True)
class RecurrentCellSpec:
    """One recurrent cell of the NAS-2017 space, as plain (JSON-able) data.

    Args:
        base: number of leaves (input pairs), a power of two (8 in the paper).
        nodes: ``2 * base - 1`` ``(combination, activation)`` pairs in node order.
        cell_inject: ``(combination, activation)`` that merges ``c_{t-1}`` into a node.
        cell_indices: ``(c_node, inject_node)``: ``c_t`` is the pre-activation value of
            ``c_node``; ``inject_node``'s output is replaced by
            ``inject_activation(inject_combination(output, c_{t-1}))``.
    """

    base: int
    nodes: Tuple[Tuple[str, str], ...]
    cell_inject: Tuple[str, str]
    cell_indices: Tuple[int, int]

    def __post_init__(self):
        base = self.base
        if not is_tree_base(base):
            raise ValueError(f"RecurrentCellSpec: `base` must be a power of two >= 2 (the "
                             f"leaves of a full binary tree), got {base!r}.")
        if isinstance(self.nodes, (str, bytes)) or not hasattr(self.nodes, "__iter__"):
            raise ValueError(f"RecurrentCellSpec: `nodes` must be a list of pairs, got "
                             f"{self.nodes!r}.")
        nodes = tuple(_pair(n, f"nodes[{i}]", RECURRENT_COMBINATIONS, RECURRENT_ACTIVATIONS)
                      for i, n in enumerate(self.nodes))
        if len(nodes) != 2 * base - 1:
            raise ValueError(f"RecurrentCellSpec: `nodes` must hold 2 * base - 1 = "
                             f"{2 * base - 1} (combination, activation) pairs for base {base}, "
                             f"got {len(nodes)}.")
        inject = _pair(self.cell_inject, "cell_inject", RECURRENT_COMBINATIONS,
                       RECURRENT_ACTIVATIONS)
        indices = self.cell_indices
        if isinstance(indices, (str, bytes)) or not hasattr(indices, "__iter__") or \
                len(indices) != 2:
            raise ValueError(f"RecurrentCellSpec: `cell_indices` must be (c_node, inject_node), "
                             f"got {indices!r}.")
        for name, index in zip(("c_node", "inject_node"), indices):
            if isinstance(index, bool) or not isinstance(index, int) or \
                    not 0 <= index <= 2 * base - 2:
                raise ValueError(f"RecurrentCellSpec: `cell_indices` {name} must be a node "
                                 f"index in 0..{2 * base - 2}, got {index!r}.")
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "cell_inject", inject)
        object.__setattr__(self, "cell_indices", tuple(indices))

    @property
    def root(self):
        return 2 * self.base - 2

    def children(self):
        """``{node: (left, right)}`` for the internal nodes."""
        return tree_children(self.base)

    def to_dict(self):
        return {"base": self.base, "nodes": [list(n) for n in self.nodes],
                "cell_inject": list(self.cell_inject), "cell_indices": list(self.cell_indices)}

    @classmethod
    def from_dict(cls, data):
        missing = {"base", "nodes", "cell_inject", "cell_indices"} - set(data)
        if missing:
            raise ValueError(f"RecurrentCellSpec: missing field(s) {sorted(missing)}.")
        return cls(base=data["base"], nodes=data["nodes"], cell_inject=data["cell_inject"],
                   cell_indices=data["cell_indices"])

    def to_json(self, **kwargs):
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    def describe(self):
        """The cell's equations, one node per line (``x W_i`` and ``h U_i`` at the leaves)."""
        c_node, inject_node = self.cell_indices

        def combine(name, a, b):
            symbol = COMBINATION_SYMBOLS.get(name)
            return f"{a} {symbol} {b}" if symbol else f"{name}({a}, {b})"

        lines = [f"recurrent cell, base {self.base} ({len(self.nodes)} nodes; c_t = node "
                 f"{c_node} before its activation; c_(t-1) injected at node {inject_node})"]
        children = self.children()
        for i, (comb, act) in enumerate(self.nodes):
            a, b = (f"x W{i}", f"h U{i}") if i < self.base else \
                (f"n{children[i][0]}", f"n{children[i][1]}")
            line = f"n{i} = {act}({combine(comb, a, b)})"
            if i == inject_node:
                line += (f"; then n{i} = {self.cell_inject[1]}("
                         f"{combine(self.cell_inject[0], f'n{i}', 'c_(t-1)')})")
            if i == c_node:
                line += "   [c_t: the value before the activation]"
            lines.append(line)
        lines.append(f"h_t = n{self.root}")
        return "\n".join(lines)


# The cell the paper found on Penn Treebank and released as tf.contrib.rnn.NASCell, read
# off its equations (recurrent.md §3): leaf i uses column block i of the kernels.
NAS_CELL = RecurrentCellSpec(
    base=8,
    nodes=(("add", "sigmoid"), ("add", "relu"), ("add", "sigmoid"), ("elem_mult", "relu"),
           ("add", "tanh"), ("add", "sigmoid"), ("add", "tanh"), ("add", "sigmoid"),
           ("elem_mult", "tanh"), ("add", "tanh"), ("elem_mult", "tanh"), ("add", "sigmoid"),
           ("elem_mult", "identity"), ("add", "tanh"), ("elem_mult", "tanh")),
    cell_inject=("add", "tanh"),
    cell_indices=(12, 8),
)
