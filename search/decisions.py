"""One controller decision: a named choice among a fixed list of values.

A search space is a fixed-length list of `Decision`s in the order the controller
emits them.  Actions are positions in ``values``; only the space maps them to
hyperparameter values, so the controller never sees names or types.
"""

import dataclasses
from typing import Tuple

# "choice": a softmax over `values` with its own head (operations, combines,
#           filter sizes...).
# "input":  pick one of the first len(values) anchors by attention (Zoph & Le
#           2017 / ENAS pointer); values are 0..n-1.
# "skip":   a yes/no connection to anchor `anchor`, P = sigmoid(attention);
#           values are (False, True).
KINDS = ("choice", "input", "skip")


@dataclasses.dataclass(frozen=True)
class Decision:
    """A decision of the search space.

    Args:
        name: the keras-tuner hyperparameter name (fixed, e.g. ``normal/b0/op0``).
        values: the allowed values, in action order.
        kind: one of ``KINDS``.
        group: decisions of one group share a softmax head and an embedding
            (e.g. every operation decision).
        candidates: for ``"input"``: the anchor ids that the values 0..n-1 point to.
        anchor: for ``"skip"``: the anchor id the connection points to.
        new_anchors_before: anchors the controller creates (from its start
            embedding) before this decision, e.g. a cell's input states.
        closes_anchor: after this decision the controller's hidden state becomes
            a new anchor (end of a block or layer).

    Anchor ids count every anchor created so far, in creation order.
    """

    name: str
    values: Tuple
    kind: str = "choice"
    group: str = ""
    candidates: Tuple[int, ...] = ()
    anchor: int = -1
    new_anchors_before: int = 0
    closes_anchor: bool = False

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(self.values))
        if self.kind not in KINDS:
            raise ValueError(f"Decision {self.name!r}: `kind` must be one of {KINDS}, got {self.kind!r}.")
        if not self.values:
            raise ValueError(f"Decision {self.name!r}: `values` is empty.")
        if self.kind == "skip" and (self.values != (False, True) or self.anchor < 0):
            raise ValueError(f"Decision {self.name!r}: a skip decision has values (False, True) "
                             f"and an anchor >= 0.")
        object.__setattr__(self, "candidates", tuple(self.candidates))
        if self.kind == "input" and (self.values != tuple(range(len(self.values)))
                                     or len(self.candidates) != len(self.values)):
            raise ValueError(f"Decision {self.name!r}: input values must be 0..n-1, one "
                             f"candidate anchor each.")

    @property
    def size(self):
        return len(self.values)

    def index(self, value):
        """Action index of ``value``; a clear error when it is not allowed."""
        for i, v in enumerate(self.values):
            # True == 1 in Python; a bool must not stand for an index or vice versa.
            if v == value and isinstance(v, bool) == isinstance(value, bool):
                return i
        raise ValueError(f"Decision {self.name!r}: value {value!r} is not allowed; "
                         f"allowed: {list(self.values)}.")

    def declare(self, hp):
        """Register this decision on a keras_tuner ``HyperParameters``; return its value."""
        if self.kind == "skip":
            return hp.Boolean(self.name, default=False)
        return hp.Choice(self.name, list(self.values), default=self.values[0])


def space_size(decisions):
    """Number of distinct action sequences (an exact integer)."""
    size = 1
    for d in decisions:
        size *= d.size
    return size
