"""Why NASNetB and NASNetC have no default genotype.

In this package's network skeleton (NASNet-A's stems, filters doubled at each
reduction, F derived from "N @ P"), no NASNet-C cell of the paper's operation
set gives both published sizes within 5%, and the only NASNet-B cells found to
do so (exhaustively, for one wiring) have normal cells without a single
convolution (sums of identities), which cannot be the paper's 72.8%-top-1
network.

The published sizes (papers.md §1.9):

    NASNet-B  CIFAR 4 @ 1152: 2.6M params     mobile 4 @ 1536: 5.3M params, 488M mult-adds
    NASNet-C  CIFAR 4 @  640: 3.1M params     mobile 3 @  960: 4.9M params, 558M mult-adds

Sizes come from `fit_nasnet_bc.analytic_size`, a closed form of the builder
(tests/test_bc_sizes.py checks it against built models; the closest genotype of
each model is also rebuilt with Keras and counted again).  Two arguments:

1. Ratio bound (NASNet-C, every wiring family without "concat" combines).
   A network's size is a fixed part (stems, input projections, classifier) plus
   one term per operation slot, and each term adds to the CIFAR and the mobile
   count in its own ratio.  So mobile >= fixed_mobile + min_ratio * (CIFAR -
   fixed_CIFAR); with CIFAR at least 95% of 3.1M, that lower bound exceeds
   105% of 4.9M for every (normal width, reduction width, stem) tried.  Mobile
   is 1.5x wider than CIFAR but has only 3/4 of its cells: the paper's pair needs
   a mobile/CIFAR ratio that only operations dominated by depthwise (linear)
   terms could give, and those are too light at these widths.
2. Exhaustive search where the bound does not decide: every assignment of the
   13 operations to the 8 slots of both cells (13^16, reduced exactly: slots
   that add the same sizes only count as a multiset) for fixed wirings.  These
   cover NASNet-C's widest output (10 F: 4 concatenated blocks and input 1) and
   NASNet-B under the issue's reading (P = the 4 states the next cell would
   take = 16 F) and under a wider one (32 F, classifier width only), with and
   without at least 3 convolutions per cell.

    python benchmarks/bc_feasibility.py            # 19 minutes on this 2-core machine
"""

import itertools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import nasnet_keras as nk  # noqa: E402
from fit_nasnet_bc import TARGETS, analytic_size, measure  # noqa: E402

OPS = nk.NASNET_OPERATIONS
TOLERANCE = 0.05
POOL = "max_pool_3x3"  # a slot filler without weights
WEIGHTED = np.array([op != "identity" and "pool" not in op for op in OPS])


def c_spec(ops, inputs, combine, concat):
    return nk.CellSpec(ops=ops, inputs=inputs, combine=combine, concat=concat)


def b_spec(ops, inputs=(0, 1, 2, 3, 0, 1, 2, 3)):
    return nk.CellSpec(ops=ops, inputs=inputs, combine=["add"] * 4, num_inputs=4,
                       output_mode="pass")


def chain_wiring(unused_blocks, with_input1=False):
    """A NASNet-C wiring whose output concatenates `unused_blocks` states (add combines)."""
    inputs = []
    for b in range(4):
        inputs += [2 + b - 1, 0] if 1 <= b <= 4 - unused_blocks else [0, 1]
    concat = [s for s in range(2, 6) if s not in inputs]
    return inputs, ["add"] * 4, ([1] if with_input1 else []) + concat


def sizes(model, genotype, stem_multiplier, head_states=4):
    """(CIFAR params, mobile params, mobile mult-adds) of a genotype.

    For NASNet-B, ``head_states`` reads P as that many final states of width
    4F (the builder's reading is 4; other readings fix up the classifier).
    """
    target = TARGETS[model]
    out = []
    for key, stem, size, classes in (("cifar", "cifar", 32, 10), ("mobile", "imagenet", 224, 1000)):
        n, p = target[key][:2]
        built_p = p if model == "C" else p * 4 // head_states
        count, macs = analytic_size(genotype, n, built_p, stem, size, classes,
                                    stem_multiplier=stem_multiplier)
        head_fix = (p - built_p) * classes  # the classifier on P features instead of built_p
        out.append(count + head_fix)
        if key == "mobile":
            out.append(macs + head_fix)
    return np.array(out, float)


def published(model):
    t = TARGETS[model]
    return np.array([t["cifar"][2], t["mobile"][2], t["mobile"][3]])


def slot_terms(model, make, stem_multiplier, slots=range(8), **kw):
    """Fixed sizes and each (cell, slot, op)'s added sizes; ``make(normal_ops, reduction_ops)``."""
    fixed = sizes(model, make([POOL] * 8, [POOL] * 8), stem_multiplier, **kw)
    terms = {}
    for cell in ("normal", "reduction"):
        for slot in slots:
            for op in OPS:
                ops = [POOL] * 8
                ops[slot] = op
                g = make(ops, [POOL] * 8) if cell == "normal" else make([POOL] * 8, ops)
                terms[cell, slot, op] = sizes(model, g, stem_multiplier, **kw) - fixed
    return fixed, terms


def ratio_bound(model, make, stem_multiplier):
    """Least mobile param count compatible with a CIFAR count within tolerance."""
    fixed, terms = slot_terms(model, make, stem_multiplier)
    ratio = min(d[1] / d[0] for d in terms.values() if d[0] > 0)
    cifar_low = published(model)[0] * (1 - TOLERANCE)
    return fixed[1] + ratio * (cifar_low - fixed[0]), ratio


def cell_choices(terms, cell):
    """Every distinct (sizes, convolution count) one cell's 8 slots can add, with an example.

    Slots that add the same sizes for every operation form a group; within a group only
    the multiset of operations matters.  Groups are combined one by one, keeping one
    assignment per distinct sum (weightless operations make many sums coincide).
    """
    groups = {}
    for slot in range(8):
        key = tuple(np.round(terms[cell, slot, op]).astype(np.int64).tobytes() for op in OPS)
        groups.setdefault(key, []).append(slot)
    per_op = lambda slot: np.array([np.r_[terms[cell, slot, op], WEIGHTED[k]]  # noqa: E731
                                    for k, op in enumerate(OPS)])
    sums, assignments = np.zeros((1, 4)), np.full((1, 8), -1, np.int8)
    for slots in groups.values():
        multisets = np.array(list(itertools.combinations_with_replacement(range(len(OPS)),
                                                                          len(slots))))
        added = per_op(slots[0])[multisets].sum(axis=1)
        sums = (sums[:, None, :] + added[None]).reshape(-1, 4)
        assignments = np.repeat(assignments, len(multisets), axis=0)
        assignments[:, slots] = np.tile(multisets, (len(assignments) // len(multisets), 1))
        sums, first = np.unique(np.round(sums), axis=0, return_index=True)
        assignments = assignments[first]
    return sums, assignments


def exhaustive(model, make, stem_multiplier, min_convs=0, **kw):
    """Least worst relative error over every pair of operation assignments (exact).

    For each normal-cell choice n, the best reduction-cell choice r minimises
    max_k |fixed_k + n_k + r_k - target_k| / target_k: a nearest-neighbour query in
    the Chebyshev metric over the reduction choices scaled by the targets.
    """
    from scipy.spatial import cKDTree

    fixed, terms = slot_terms(model, make, stem_multiplier, **kw)
    target = published(model)
    choices = {}
    for cell in ("normal", "reduction"):
        sums, assignments = cell_choices(terms, cell)
        keep = sums[:, 3] >= min_convs
        choices[cell] = sums[keep, :3], assignments[keep]
    (normal, normal_ops), (reduction, reduction_ops) = choices["normal"], choices["reduction"]
    tree, wanted = cKDTree(reduction / target), (target - fixed - normal) / target
    for bound in (TOLERANCE, 0.1, 0.2, 0.4, np.inf):  # far queries are slow: widen step by step
        error, nearest = tree.query(wanted, p=np.inf, distance_upper_bound=bound)
        if np.isfinite(error).any():
            break
    i = int(error.argmin())
    total = fixed + normal[i] + reduction[nearest[i]]
    genotype = make([OPS[k] for k in normal_ops[i]], [OPS[k] for k in reduction_ops[nearest[i]]])
    return float(error[i]), total, genotype


def c_maker(normal_wiring, reduction_wiring):
    return lambda n_ops, r_ops: nk.Genotype(c_spec(n_ops, *normal_wiring),
                                            c_spec(r_ops, *reduction_wiring))


def b_maker(n_ops, r_ops):
    return nk.Genotype(b_spec(n_ops), b_spec(r_ops))


def _m(x):
    return f"{x / 1e6:.3f}M"


def main():
    stems = (3, 4, 5, 6)  # CIFAR stem width = F x this; not published for B/C, so left free
    print("## NASNet-C, ratio bound (wirings without 'concat' combines)")
    print("| normal output | reduction output | stem | least mobile/CIFAR ratio of an operation | "
          "least mobile params | allowed |")
    print("|---|---|---|---|---|---|")
    ceiling = published("C")[1] * (1 + TOLERANCE)
    least, least_ratio = np.inf, np.inf
    normal_widths = {"1F": chain_wiring(1), "2F": chain_wiring(2), "4F": chain_wiring(4),
                     "5F": chain_wiring(4, with_input1=True)}
    reduction_widths = {"1F": chain_wiring(1), "2F": chain_wiring(2), "3F": chain_wiring(3),
                        "4F": chain_wiring(4), "5F": chain_wiring(4, with_input1=True)}
    for (nw, nwiring), (rw, rwiring), stem in itertools.product(
            normal_widths.items(), reduction_widths.items(), stems):
        bound, ratio = ratio_bound("C", c_maker(nwiring, rwiring), stem)
        least, least_ratio = min(least, bound), min(least_ratio, ratio)
        print(f"| {nw} | {rw} | {stem} | {ratio:.3f} | {_m(bound)} | <= {_m(ceiling)} |",
              flush=True)
    print(f"\nleast ratio {least_ratio:.3f}; least bound {_m(least)} > {_m(ceiling)}: "
          f"{'no genotype fits' if least > ceiling else 'NOT EXCLUDED'}\n")

    rows = []
    wide = ([0, 1] * 4, ["concat"] * 4, [1, 2, 3, 4, 5])  # 10 F: every block and input 1
    wide_add = ([0, 1] * 4, ["add"] * 3 + ["concat"], [1, 2, 3, 4, 5])
    for nname, nwiring in (("10F, all concat", wide), ("10F, last concat", wide_add)):
        for rname, rwiring in (("4F", chain_wiring(4)), ("10F", wide)):
            for stem in (3, 6):
                error, found, genotype = exhaustive("C", c_maker(nwiring, rwiring), stem)
                rows.append(("C", f"normal {nname}, reduction {rname}", stem, 0, error, found,
                             genotype))
    for head_states in (4, 8):
        for stem in (3, 6):
            for min_convs in (0, 3):
                error, found, genotype = exhaustive("B", b_maker, stem, min_convs,
                                                    head_states=head_states)
                rows.append(("B", f"P = {head_states * 4} F", stem, min_convs, error, found,
                             genotype))
    print("## Exhaustive over operation multisets")
    print("| model | wiring | stem | convolutions per cell >= | best worst error | "
          "CIFAR params | mobile params | mobile mult-adds |")
    print("|---|---|---|---|---|---|---|---|")
    for model, wiring, stem, min_convs, error, found, _ in rows:
        print(f"| {model} | {wiring} | {stem} | {min_convs} | {error:.2%} | {_m(found[0])} | "
              f"{_m(found[1])} | {found[2] / 1e6:.0f}M |")
    for model in ("B", "C"):
        # Rebuild the closest genotype of the builder's own reading with Keras.
        model_rows = [r for r in rows if r[0] == model and "32 F" not in r[1]]
        model_, wiring, stem, _, error, found, genotype = min(model_rows, key=lambda r: r[4])
        checked = measure(genotype, TARGETS[model], cifar_stem_multiplier=stem)
        print(f"\nNASNet-{model} closest ({wiring}, stem {stem}): closed form {error:.2%}, "
              f"Keras {checked}")
        print(genotype.describe())


if __name__ == "__main__":
    main()
