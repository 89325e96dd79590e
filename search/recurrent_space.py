"""Zoph & Le's (2017) recurrent-cell search space: a tree of combine/activation nodes.

Decisions in the paper's order: for each tree node (leaves first, root last) its
combination then its activation; then the cell inject's combination and activation;
then the two cell indices (the node whose pre-activation value is ``c_t``, the node
that receives ``c_{t-1}``).  Base 8 gives 34 decisions and 8^16 x 15^2, about 6.3e16
cells (the paper: "approximately 6 x 10^16").  Children are language models
(`nasnet_keras.language_model`) scored by validation perplexity; the strategies'
reward is the paper's ``80 / perplexity ** 2`` (`RECURRENT_REWARD`).
"""

from nasnet_keras.recurrent_genotypes import (RECURRENT_ACTIVATIONS, RECURRENT_COMBINATIONS,
                                              RecurrentCellSpec, is_tree_base)
from nasnet_search.decisions import Decision
from nasnet_search.space import SearchSpace, check_names, register_space

PERPLEXITY_CONSTANT = 80.0  # the paper's c


def recurrent_reward(metric="val_perplexity"):
    """The paper's reward, ``80 / perplexity ** 2`` of ``metric``."""
    from nasnet_search.rewards import Reward

    return Reward(metric, "min", perplexity_constant=PERPLEXITY_CONSTANT)


@register_space
class RecurrentCellSearchSpace(SearchSpace):
    """The NAS-2017 recurrent-cell space.

    Args:
        base: leaves of the tree (a power of two; 8 in the paper).
        combinations: node combinations (the paper's Penn Treebank run: add, elem_mult;
            its control experiment adds max).
        activations: node activations (identity, tanh, sigmoid, relu; the control
            experiment adds sin).
    """

    space_name = "recurrent"

    def __init__(self, base=8, combinations=("add", "elem_mult"),
                 activations=("identity", "tanh", "sigmoid", "relu")):
        if not is_tree_base(base):
            raise ValueError(f"`base` must be a power of two >= 2, got {base!r}.")
        self.base = base
        self.combinations = check_names("combinations", combinations, RECURRENT_COMBINATIONS)
        self.activations = check_names("activations", activations, RECURRENT_ACTIVATIONS)
        super().__init__()

    @property
    def num_nodes(self):
        return 2 * self.base - 1

    def _make_decisions(self):
        for i in range(self.num_nodes):
            yield Decision(f"node{i}/combination", self.combinations, "choice", "combination")
            yield Decision(f"node{i}/activation", self.activations, "choice", "activation",
                           closes_anchor=True)
        yield Decision("inject/combination", self.combinations, "choice", "inject_combination")
        yield Decision("inject/activation", self.activations, "choice", "inject_activation")
        nodes = range(self.num_nodes)
        yield Decision("cell_index/c", nodes, "choice", "cell_index")
        yield Decision("cell_index/inject", nodes, "choice", "cell_index")

    # -- values <-> spec ---------------------------------------------------------------------
    def decode(self, values):
        self.actions_from_values(values)  # every value must be allowed
        return RecurrentCellSpec(
            base=self.base,
            nodes=[(values[f"node{i}/combination"], values[f"node{i}/activation"])
                   for i in range(self.num_nodes)],
            cell_inject=(values["inject/combination"], values["inject/activation"]),
            cell_indices=(values["cell_index/c"], values["cell_index/inject"]))

    def encode(self, spec):
        spec = self.arch_from_dict(spec) if isinstance(spec, dict) else spec
        if not isinstance(spec, RecurrentCellSpec):
            raise TypeError(f"Expected a RecurrentCellSpec, got {type(spec).__name__}.")
        if spec.base != self.base:
            raise ValueError(f"The cell has base {spec.base}; this space has base={self.base}.")
        values = {}
        for i, (combination, activation) in enumerate(spec.nodes):
            values[f"node{i}/combination"] = combination
            values[f"node{i}/activation"] = activation
        values["inject/combination"], values["inject/activation"] = spec.cell_inject
        values["cell_index/c"], values["cell_index/inject"] = spec.cell_indices
        for decision in self.decisions:
            if values[decision.name] not in decision.values:
                raise ValueError(f"The cell's {decision.name} is {values[decision.name]!r}; this "
                                 f"space allows {list(decision.values)}.")
        return values

    def arch_to_dict(self, spec):
        return spec.to_dict()

    def arch_from_dict(self, data):
        return RecurrentCellSpec.from_dict(data)

    def describe(self, spec):
        return spec.describe()

    def default_reward(self):
        return recurrent_reward()

    # -- child networks ----------------------------------------------------------------------
    def build_model(self, spec, input_shape=(64,), classes=None, units=64, num_layers=2,
                    dropout=0.0, tied=False, name="child", **unused):
        """The language-model child: ``input_shape`` is ``(sequence_length,)`` and
        ``classes`` the vocabulary size (as the tuner passes them)."""
        from nasnet_keras.language_model import language_model

        if classes is None:
            raise ValueError("`classes` (the vocabulary size) is required for a recurrent child.")
        sequence_length = tuple(input_shape)[0] if input_shape else None
        return language_model(spec, classes, units=units, num_layers=num_layers,
                              dropout=dropout, tied=tied, sequence_length=sequence_length,
                              name=name)

    def get_config(self):
        return {"space": self.space_name, "base": self.base,
                "combinations": list(self.combinations), "activations": list(self.activations)}
