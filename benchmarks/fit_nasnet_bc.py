"""How the NASNet-B and NASNet-C default genotypes were reconstructed.

The paper draws these cells only in figures that no text source reproduces
(papers.md §1.10).  What it does state: the operation set (the 13 NASNet
operations), B = 4 blocks, the extra combines (add + layer norm, add +
instance norm), NASNet-B's 4 inputs with pass-through outputs, NASNet-C's
concatenation of unused states, and the sizes of both reported configurations:

    NASNet-B  CIFAR 4 @ 1152: 2.6M params     mobile 4 @ 1536: 5.3M params, 488M mult-adds
    NASNet-C  CIFAR 4 @  640: 3.1M params     mobile 3 @  960: 4.9M params, 558M mult-adds

This script samples a genotype from that space (seeded) and runs a local
search (random operation, input and combine changes, kept when they do not
worsen the result) on the worst relative error of the three published sizes:
CIFAR params (10 classes), mobile params and mobile mult-adds (1000 classes,
224 px).  The loop uses `analytic_size`, a closed-form count that mirrors the
builder (exact parameters, mult-adds within about 1%); a genotype within 3% is
then built with nasnet_keras and counted with `count_mult_adds`, and the first
with all three real numbers within 5% is printed.  The result is a genotype *with the published sizes*,
not the authors' cell.

    python benchmarks/fit_nasnet_bc.py --model B --seed 0
    python benchmarks/fit_nasnet_bc.py --model C --seed 0
"""

import argparse
import json
import os
import random

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TARGETS = {
    "B": dict(cifar=(4, 1152, 2.6e6), mobile=(4, 1536, 5.3e6, 488e6), num_inputs=4),
    "C": dict(cifar=(4, 640, 3.1e6), mobile=(3, 960, 4.9e6, 558e6), num_inputs=2),
}
COMBINES = ("add", "add_layernorm", "add_instancenorm")  # NASNet-C may also "concat"
TOLERANCE = 0.05
MIN_WEIGHTED_OPS = 3
STEM_MULTIPLIERS = (3, 4, 5, 6)  # CIFAR stem conv = F x this (slim's NASNet-A uses 3)


def sample_cell(rng, num_inputs, op_weights, num_blocks=4):
    import nasnet_keras as nk

    ops, inputs, combine = [], [], []
    for b in range(num_blocks):
        for _ in range(2):
            ops.append(rng.choices(nk.NASNET_OPERATIONS, weights=op_weights)[0])
            inputs.append(rng.randrange(num_inputs + b))
        combine.append(rng.choice(COMBINES if num_inputs == 4 else COMBINES + ("concat",)))
    if num_inputs == 4:
        return nk.CellSpec(ops=ops, inputs=inputs, combine=combine, num_inputs=4,
                           output_mode="pass")
    used = set(inputs)
    concat = [s for s in range(num_inputs, num_inputs + num_blocks) if s not in used]
    return nk.CellSpec(ops=ops, inputs=inputs, combine=combine, concat=concat)


def measure(genotype, target, bound=float("inf"), cifar_stem_multiplier=3):
    """Sizes of both configurations and the worst relative error against the paper.

    Stops early (skipping the costlier measurements) once an error exceeds ``bound``.
    """
    import nasnet_keras as nk

    n, p, params = target["cifar"]
    cifar = nk.NASNet(genotype=genotype, num_cells=n, penultimate_filters=p, stem="cifar",
                      stem_multiplier=cifar_stem_multiplier, input_shape=(32, 32, 3), classes=10)
    result = {"cifar_params": cifar.count_params()}
    errors = [abs(result["cifar_params"] / params - 1)]
    n, p, params, macs = target["mobile"]
    if max(errors) <= bound:
        mobile = nk.NASNet(genotype=genotype, num_cells=n, penultimate_filters=p,
                           stem="imagenet", input_shape=(224, 224, 3), classes=1000)
        result["mobile_params"] = mobile.count_params()
        errors.append(abs(result["mobile_params"] / params - 1))
        if max(errors) <= bound:
            result["mobile_mult_adds"] = nk.count_mult_adds(mobile)
            errors.append(abs(result["mobile_mult_adds"] / macs - 1))
    result["worst_error"] = round(max(errors), 4)
    return result


# Rough parameter cost of each operation in units of F**2 (for the hill climb only).
COST = {"identity": 0, "avg_pool_3x3": 0, "max_pool_3x3": 0, "max_pool_5x5": 0,
        "max_pool_7x7": 0, "conv_1x1": 1, "sep_conv_3x3": 2.1, "sep_conv_5x5": 2.3,
        "sep_conv_7x7": 2.6, "conv_1x3_3x1": 6, "dil_conv_3x3": 9, "conv_3x3": 9,
        "conv_1x7_7x1": 14}


def mutate(rng, genotype, heavier):
    """Swap one operation for a heavier (or lighter) one."""
    import dataclasses

    import nasnet_keras as nk

    which = rng.choice(["normal", "reduction", "normal"])  # normal cells dominate
    spec = getattr(genotype, which)
    ops = list(spec.ops)

    def options(op):
        return [o for o in nk.NASNET_OPERATIONS if (COST[o] > COST[op] if heavier
                                                     else COST[o] < COST[op])]

    movable = [i for i, op in enumerate(ops) if options(op)]
    if movable:
        i = rng.choice(movable)
        ops[i] = rng.choice(options(ops[i]))
    return dataclasses.replace(genotype, **{which: dataclasses.replace(spec, ops=tuple(ops))})


def analytic_measure(genotype, target, cifar_stem_multiplier=3, mac_scale=1.0):
    """Like `measure`, from `analytic_size` (exact params; mult-adds within about 1%)."""
    from nasnet_keras.model import cell_output_units

    for spec in (genotype.normal, genotype.reduction):
        # An input no block reads would be computed for nothing (and pruned at run time).
        if set(range(spec.num_inputs)) - set(spec.inputs):
            raise ValueError("a cell input is unused")
        # A plausible cell learns something: at least MIN_WEIGHTED_OPS convolutions.
        if sum(COST[o] > 0 for o in spec.ops) < MIN_WEIGHTED_OPS:
            raise ValueError("too few operations with weights")
    units = cell_output_units(genotype.normal)
    result, errors = {}, []
    for stem, key, size, classes, divisor in (("cifar", "cifar", 32, 10, units * 4),
                                              ("imagenet", "mobile", 224, 1000, units * 16)):
        n, p, params = target[key][:3]
        if p % divisor:
            raise ValueError(f"P = {p} is not a multiple of {divisor}")
        count, macs = analytic_size(genotype, n, p, stem, size, classes,
                                    stem_multiplier=cifar_stem_multiplier)
        result[f"{key}_params"] = count
        errors.append(abs(count / params - 1))
        if key == "mobile":
            result["mobile_mult_adds"] = int(macs * mac_scale)
            errors.append(abs(macs * mac_scale / target["mobile"][3] - 1))
    result["worst_error"] = round(max(errors), 4)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["B", "C"], required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--restarts", type=int, default=200)
    parser.add_argument("--steps", type=int, default=3000, help="local-search steps per restart")
    parser.add_argument("--verify-below", type=float, default=0.03,
                        help="build and count with Keras when the closed form is this close")
    args = parser.parse_args(argv)

    import nasnet_keras as nk

    target = TARGETS[args.model]
    rng = random.Random(args.seed)
    k = target["num_inputs"]
    mac_scale = 1.0
    for restart in range(args.restarts):
        weights = [rng.gammavariate(0.5, 1.0) + 1e-3 for _ in nk.NASNET_OPERATIONS]
        # The CIFAR stem width is not reported for B/C either; it is part of the fit.
        stem_multiplier = rng.choice(STEM_MULTIPLIERS)
        try:
            genotype = nk.Genotype(sample_cell(rng, k, weights), sample_cell(rng, k, weights))
            best = analytic_measure(genotype, target, stem_multiplier, mac_scale)
        except ValueError:
            continue
        for step in range(args.steps):
            candidate = mutate(rng, genotype, heavier=rng.random() < 0.5)
            if rng.random() < 0.3:
                candidate = rewire(rng, candidate)
            try:
                result = analytic_measure(candidate, target, stem_multiplier, mac_scale)
            except (ValueError, KeyError):
                continue
            if result["worst_error"] <= best["worst_error"]:
                genotype, best = candidate, result
            if best["worst_error"] <= args.verify_below:  # margin for the analytic mult-adds
                break
        print(f"restart {restart}: stem x{stem_multiplier} analytic {best}", flush=True)
        if best["worst_error"] > args.verify_below:
            continue
        checked = measure(genotype, target, cifar_stem_multiplier=stem_multiplier)
        # Calibrate: the closed form over-counts work that TensorFlow prunes or pads.
        mac_scale *= checked["mobile_mult_adds"] / best["mobile_mult_adds"]
        print(f"restart {restart}: keras {checked}", flush=True)
        if checked["worst_error"] <= TOLERANCE:
            print(json.dumps({"model": args.model, "seed": args.seed, "restart": restart,
                              "cifar_stem_multiplier": stem_multiplier, **checked,
                              "genotype": genotype.to_dict()}))
            return genotype
    raise SystemExit("no genotype within tolerance; try another --seed")


def rewire(rng, genotype):
    """Change one input index or one combine of one cell (concat recomputed for C)."""
    import dataclasses

    import nasnet_keras as nk

    which = rng.choice(["normal", "reduction"])
    spec = getattr(genotype, which)
    inputs, combine = list(spec.inputs), list(spec.combine)
    if rng.random() < 0.7:
        i = rng.randrange(len(inputs))
        inputs[i] = rng.randrange(spec.num_inputs + i // 2)
    else:
        choices = COMBINES if spec.num_inputs == 4 else COMBINES + ("concat",)
        combine[rng.randrange(len(combine))] = rng.choice(choices)
    changes = {"inputs": tuple(inputs), "combine": tuple(combine)}
    if spec.output_mode == "concat":
        used = set(inputs)
        changes["concat"] = tuple(s for s in range(spec.num_inputs, spec.num_inputs + len(combine))
                                  if s not in used)
        if not changes["concat"]:
            return genotype
    return dataclasses.replace(genotype, **{which: dataclasses.replace(spec, **changes)})



# --- fast analytic sizes (for the search loop only; results are re-checked with Keras) -----

def _op_size(op, cin, F, stride, res_in, res_out):
    """(params, mult-adds) of one operation."""
    if op.startswith("sep_conv_"):
        k = int(op[-1])
        p1, p2 = k * k * cin + cin * F, k * k * F + F * F
        return p1 + p2 + 8 * F, (p1 + p2) * res_out ** 2
    if op in ("identity",) or "pool" in op:
        if op == "identity" and (stride > 1 or cin != F) or ("pool" in op and cin != F):
            return cin * F + 4 * F, cin * F * res_out ** 2
        return 0, 0
    kernels = {"conv_1x1": [(1, 1)], "conv_3x3": [(3, 3)], "dil_conv_3x3": [(3, 3)],
               "conv_1x3_3x1": [(1, 3), (3, 1)], "conv_1x7_7x1": [(1, 7), (7, 1)]}[op]
    params = macs = 0
    c = cin
    for j, (a, b) in enumerate(kernels):
        w = a * b * c * F
        res = res_in if (op == "dil_conv_3x3" and stride == 2) else res_out
        if op == "dil_conv_3x3":
            res += res % 2  # runs as space-to-batch on an even-padded map
        params += w + 4 * F
        macs += w * res ** 2
        c = F
    return params, macs


def _fr_size(cin, F, res_out):
    if cin is None:
        return 0, 0
    return cin * F + 4 * F, cin * F * res_out ** 2


def _cell_size(spec, F, stride, in_channels, modes, res_in, live=None):
    """(params, mult-adds, output channels) of one cell; mirrors NASNetCell.build."""
    res_out = -(-res_in // stride)
    used = spec.inputs_read(live)
    params = macs = 0
    if 0 in used:
        params += in_channels[0] * F + 4 * F
        macs += in_channels[0] * F * res_in ** 2
    channels = [F]
    for j, (c, mode) in enumerate(zip(in_channels[1:], modes), start=1):
        if j in used and (mode.startswith("reduce") or (mode == "match" and c != F)):
            params += c * F + 4 * F
            macs += c * F * res_in ** 2
            c = F
        channels.append(c)
    at_out = [stride == 1] * len(channels)
    needed = spec.blocks_needed(live)
    for b in range(spec.num_blocks):
        lop, lin, rop, rin, comb = spec.block(b)
        if b in needed:
            for op, src in ((lop, lin), (rop, rin)):
                s = stride if src < spec.num_inputs else 1
                p, m = _op_size(op, channels[src], F, s, res_in, res_out)
                params, macs = params + p, macs + m
            if comb in ("add_layernorm", "add_instancenorm"):
                params += 2 * F
        channels.append(2 * F if comb == "concat" else F)
        at_out.append(True)
    if spec.output_mode == "pass":
        return params, macs, channels[spec.num_inputs:], res_out
    final = channels[-1]
    for idx in spec.concat:
        if channels[idx] != final or not at_out[idx]:
            params += channels[idx] * final + 4 * final
            macs += channels[idx] * final * res_out ** 2
    return params, macs, final * len(spec.concat), res_out


def analytic_size(genotype, num_cells, penultimate_filters, stem, image_size, classes, m=2,
                  stem_multiplier=3):
    """(params, mult-adds) of NASNet(...) without building it; mirrors model.NASNet."""
    from nasnet_keras.cell import PREV_MODE_BY_LEVEL_GAP
    from nasnet_keras.model import (_cell_plan, _head_inputs, _live_outputs, _sources,
                                    cell_output_units)

    F = penultimate_filters // (cell_output_units(genotype.normal) * m * m)
    if stem == "imagenet":
        c0, res, level = 32, (image_size - 3) // 2 + 1, 1
    else:
        c0, res, level = int(F * stem_multiplier), image_size, 0
    params = 27 * c0 + 4 * c0
    macs = 27 * c0 * res ** 2
    plan = _cell_plan(genotype, num_cells, F, stem, m)
    k = genotype.num_inputs
    live = _live_outputs(plan, k, level)
    history = [None] * (k - 1) + [(c0, level, res)]

    def take(entry, j):
        c, lv, r = entry
        return (c[j] if isinstance(c, list) else c), lv, r

    for (spec, _, filters, stride, _, _), cell_live in zip(plan, live):
        srcs, read = _sources(history, k), spec.inputs_read(cell_live)
        c_x, level, r = take(srcs[0], 0)
        chans, modes = [c_x], []
        for j, src in enumerate(srcs[1:], start=1):
            if src is None or j not in read:
                chans.append(c_x)
                modes.append("passthrough" if src is None else "match")
                continue
            c, lv, _ = take(src, j)
            modes.append(PREV_MODE_BY_LEVEL_GAP[level - lv])
            chans.append(c)
        p, mm, out, r_out = _cell_size(spec, filters, stride, chans, modes, r, cell_live)
        params, macs = params + p, macs + mm
        history.append((out, level + (stride == 2), r_out))
    if isinstance(history[-1][0], list):  # the head concatenates what the next cell would take
        width = sum(take(history[-1 - j], j)[0] for j in _head_inputs(history, k))
    else:
        width = history[-1][0]
    params += width * classes + classes
    macs += width * classes
    return params, macs


if __name__ == "__main__":
    main()
