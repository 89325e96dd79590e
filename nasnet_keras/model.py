"""The macro builder (TF-slim ``_build_nasnet_base``) and the NASNet-A, -B and -C entry points."""

import keras
from keras import layers

from nasnet_keras.cell import PREV_MODE_BY_LEVEL_GAP, NASNetCell
from nasnet_keras.configs import CONFIGS_BY_FAMILY
from nasnet_keras.genotypes import NASNET_A, Genotype
from nasnet_keras.heads import AuxHead
from nasnet_keras.layers import make_bn, make_conv
from nasnet_keras.operations import PAD_MODES

STEMS = ("imagenet", "cifar")
MIN_INPUT_SIZE = 32


def cell_output_units(spec):
    """Width of a cell's output(s), all together, in units of its block width F."""
    if spec.output_mode == "pass":
        return sum(2 if c == "concat" else 1 for c in spec.combine)
    last = 2 if spec.combine[-1] == "concat" else 1
    return len(spec.concat) * last


def penultimate_filters_divisor(genotype, stem, filter_multiplier=2):
    """What ``penultimate_filters`` must be a multiple of, so that F is a whole number
    (and, with the imagenet stem, so are the stem cells' F / m^2)."""
    m = filter_multiplier
    return cell_output_units(genotype.normal) * m * m * (m * m if stem == "imagenet" else 1)


def reduction_indices(num_cells):
    """Positions of the two reduction cells among the 3N normal cells (slim)."""
    total = 3 * num_cells
    return [int(total / 3), int(2 * total / 3)]


def _check_input_shape(input_shape, default_size, include_top, weights):
    if input_shape is None:
        return (default_size, default_size, 3) if include_top else (None, None, 3)
    try:
        shape = tuple(None if d is None else int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"`input_shape` must be a tuple (height, width, channels), got {input_shape!r}.")
    if len(shape) != 3:
        raise ValueError(
            f"`input_shape` must be (height, width, channels) (channels_last), got {input_shape!r}.")
    h, w, c = shape
    for side, value in (("height", h), ("width", w)):
        if value is not None and value < MIN_INPUT_SIZE:
            raise ValueError(
                f"`input_shape` {input_shape!r}: {side} {value} is too small; NASNet needs "
                f"at least {MIN_INPUT_SIZE} px (or None for any size).")
    if c is None or c < 1:
        raise ValueError(f"`input_shape` {input_shape!r}: the channel count must be known and >= 1.")
    if weights is not None and c != 3:
        raise ValueError(
            f"`input_shape` {input_shape!r}: pretrained weights need 3 input channels, got {c}.")
    return shape


def NASNet(
    genotype=NASNET_A,
    num_cells=4,
    penultimate_filters=1056,
    stem="imagenet",
    stem_multiplier=None,
    skip_reduction=False,
    filter_multiplier=2,
    input_shape=None,
    input_tensor=None,
    include_top=True,
    weights=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    dropout=0.0,
    drop_path_keep_prob=1.0,
    total_training_steps=250_000,
    aux_head=False,
    pad_mode="keras",
    bn_momentum=0.9997,
    bn_epsilon=1e-3,
    weight_decay=0.0,
    default_size=None,
    seed=None,
    name=None,
):
    """Build a NASNet ``N @ P`` network from any genotype.

    Args:
        genotype: a `Genotype` (or its dict); NASNet-A by default.
        num_cells: N, normal cells per stage (three stages).
        penultimate_filters: P, the width of the last cell's output.
        stem: ``"imagenet"`` (3x3/2 conv + two reduction stem cells) or
            ``"cifar"`` (3x3/1 conv).
        stem_multiplier: stem conv width factor; imagenet: ``32 * m`` filters,
            cifar: ``F * m`` (slim).  Defaults 1.0 (imagenet) and 3.0 (cifar).
        skip_reduction: the cell after a reduction takes the input of the cell
            before the reduction as its previous input (NASNet-A large).
        filter_multiplier: width factor per reduction.
        input_shape, input_tensor, include_top, pooling, classes,
            classifier_activation: as in ``keras.applications``.
        weights: None, ``"imagenet"``, or a path to a keras.applications NASNet
            ``.h5``, a TF-slim checkpoint prefix or a file written by
            `nasnet_keras.save_weights`.
        dropout: dropout rate before the classifier.
        drop_path_keep_prob, total_training_steps: ScheduledDropPath.
        aux_head: add the auxiliary classifier; the model then returns
            ``[predictions, aux_predictions]`` (see `aux_loss_weights`).
        pad_mode: ``"keras"`` (strided pooling as keras.applications; its
            weights give identical outputs) or ``"tf"`` (TF-slim SAME pooling).
        bn_momentum, bn_epsilon, weight_decay: BatchNorm and L2 settings.
        default_size: input size used when ``input_shape`` is None with a top.
        seed: seed for drop-path noise.
        name: model name; when given, every layer name is prefixed with
            ``name + "_"`` so several models can live in one graph.
    Returns:
        A ``keras.Model``.
    """
    genotype = _as_genotype(genotype)
    if stem not in STEMS:
        raise ValueError(f"`stem` must be one of {STEMS}, got {stem!r}.")
    if pad_mode not in PAD_MODES:
        raise ValueError(f"`pad_mode` must be one of {PAD_MODES}, got {pad_mode!r}.")
    if not isinstance(num_cells, int) or isinstance(num_cells, bool) or num_cells < 1:
        raise ValueError(f"`num_cells` (N, normal cells per stage) must be an integer >= 1, got {num_cells!r}.")
    if not isinstance(filter_multiplier, int) or filter_multiplier < 1:
        raise ValueError(f"`filter_multiplier` must be an integer >= 1, got {filter_multiplier!r}.")
    if skip_reduction and genotype.num_inputs != 2:
        raise ValueError("`skip_reduction` applies to two-input cells only; this genotype's "
                         f"cells take {genotype.num_inputs} inputs.")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"`pooling` must be None, 'avg' or 'max', got {pooling!r}.")
    if include_top and (not isinstance(classes, int) or classes < 1):
        raise ValueError(f"`classes` must be a positive integer, got {classes!r}.")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
    if not 0.0 < float(drop_path_keep_prob) <= 1.0:
        raise ValueError(f"`drop_path_keep_prob` must be in (0, 1], got {drop_path_keep_prob!r}.")
    if weights is not None:
        from nasnet_keras.weights.loading import check_weights_argument

        check_weights_argument(weights, include_top, classes, classifier_activation)

    m = filter_multiplier
    units = cell_output_units(genotype.normal)
    divisor = penultimate_filters_divisor(genotype, stem, m)
    if not isinstance(penultimate_filters, int) or penultimate_filters < 1 or penultimate_filters % divisor:
        raise ValueError(
            f"`penultimate_filters` must be a positive multiple of {divisor} for this genotype "
            f"and stem (cell output = {units} x F x {m}^2"
            + (f", and F divisible by {m}^2 for the imagenet stem cells" if stem == "imagenet" else "")
            + f"), got {penultimate_filters!r}.")
    filters = penultimate_filters // (units * m * m)

    if stem_multiplier is None:
        stem_multiplier = 1.0 if stem == "imagenet" else 3.0
    if default_size is None:
        default_size = 32 if stem == "cifar" else 331
    prefix = f"{name}_" if name else ""
    model_name = name or "nasnet"

    if input_tensor is not None and keras.utils.is_keras_tensor(input_tensor):
        shape = _check_input_shape(tuple(input_tensor.shape[1:]), default_size, include_top, weights)
        img_input = input_tensor
    else:
        shape = _check_input_shape(input_shape, default_size, include_top, weights)
        img_input = layers.Input(shape=shape, tensor=input_tensor, name=f"{prefix}input")

    norm = {"bn_momentum": bn_momentum, "bn_epsilon": bn_epsilon, "weight_decay": weight_decay}
    plan = _cell_plan(genotype, num_cells, filters, stem, m, skip_reduction,
                      aux_head and include_top)
    cell_kwargs = dict(pad_mode=pad_mode, drop_path_keep_prob=drop_path_keep_prob,
                       total_cells=len(plan), total_training_steps=total_training_steps, **norm)

    if stem == "imagenet":
        x = make_conv(int(32 * stem_multiplier), 3, strides=2, padding="valid",
                      weight_decay=weight_decay, name=f"{prefix}conv0")(img_input)
        x = make_bn(bn_momentum, bn_epsilon, name=f"{prefix}conv0_bn")(x)
        stem_level = 1
    else:
        x = make_conv(int(filters * stem_multiplier), 3, strides=1, padding="same",
                      weight_decay=weight_decay, name=f"{prefix}l1_stem_3x3")(img_input)
        x = make_bn(bn_momentum, bn_epsilon, name=f"{prefix}l1_stem_bn")(x)
        stem_level = 0

    k = genotype.num_inputs
    live, dead = _liveness(plan, k, stem_level)

    # One entry per cell, oldest first: (output, level), level k = stride 2**k.
    # A "pass" cell's output is a dict {j: tensor}: its output j feeds the cell j + 1
    # later; outputs nothing would read are not computed (see `_live_outputs`).
    # None: no cell that far back yet (the input is passed through, slim's prev=None).
    # (None, level): a cell nothing reads, not built (its weights would get no gradients).
    history = [None] * (k - 1) + [(x, stem_level)]

    def take(entry, j):
        tensor, level = entry
        return (tensor[j] if isinstance(tensor, dict) else tensor), level

    def run_cell(spec, scope, cell_filters, strides, srcs, cell_index):
        read = spec.inputs_read(live[cell_index])
        tensor, level = srcs[0]
        if tensor is None:  # slot 0 is a pruned cell, so this cell does not read it
            first = min(j for j in read if srcs[j] is not None)
            tensor = take(srcs[first], first)[0]
        if isinstance(tensor, dict):  # an unread slot 0 may have no live output 0
            x = tensor[0] if 0 in tensor else next(iter(tensor.values()))
        else:
            x = tensor
        tensors, modes = [x], []
        for j, src in enumerate(srcs[1:], start=1):
            if src is None:
                tensors.append(x)
                modes.append("passthrough")
                continue
            if j not in read:  # never prepared, so any tensor will do
                t, t_level = x, level
            else:
                t, t_level = take(src, j)
            mode = PREV_MODE_BY_LEVEL_GAP.get(level - t_level)
            if mode is None:
                raise ValueError(
                    f"`num_cells`={num_cells} is too small for {k}-input cells: {scope} would "
                    f"take an input {level - t_level} reductions back; use more cells per stage.")
            tensors.append(t)
            modes.append(mode)
        cell = NASNetCell(spec, cell_filters, strides=strides,
                          prev_mode=modes[0] if k == 2 else modes, cell_index=cell_index,
                          scope=scope, name=f"{prefix}{scope}", live_outputs=live[cell_index],
                          # One seed per cell, or every cell would draw the same masks.
                          seed=None if seed is None else seed + cell_index, **cell_kwargs)
        out = cell(tensors)
        if spec.output_mode == "pass":
            out = dict(zip(live[cell_index] or range(spec.num_blocks), out))
        history.append((out, level + (strides == 2)))
        return out

    def merged(output, name):
        if not isinstance(output, dict):
            return output
        return layers.Concatenate(name=f"{prefix}{name}")(list(output.values()))

    aux_output = None
    for cell_index, (spec, scope, cell_filters, strides, skip, aux) in enumerate(plan):
        if dead[cell_index]:
            history.append((None, history[-1][1] + (strides == 2)))
            continue
        out = run_cell(spec, scope, cell_filters, strides, _sources(history, k, skip), cell_index)
        if aux:
            tag = f"aux_{scope[len('cell_'):]}"
            aux_output = AuxHead(classes, activation=classifier_activation, scope=tag,
                                 name=f"{prefix}{tag}", **norm)(merged(out, f"{tag}_input"))

    if isinstance(history[-1][0], dict):
        # Pass-through cells: the head takes what the next cell would receive.
        parts = [take(history[-1 - j], j)[0] for j in _head_inputs(history, k)]
        features = layers.Concatenate(name=f"{prefix}final_concat")(parts)
    else:
        features = history[-1][0]
    x = layers.Activation("relu", name=f"{prefix}final_relu")(features)
    if include_top:
        x = layers.GlobalAveragePooling2D(name=f"{prefix}avg_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, seed=seed, name=f"{prefix}dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, dtype="float32",
                         name=f"{prefix}predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name=f"{prefix}avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name=f"{prefix}max_pool")(x)

    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
    else:
        inputs = img_input
    model_outputs = [x, aux_output] if aux_output is not None else x
    model = keras.Model(inputs, model_outputs, name=model_name)

    if weights is not None:
        from nasnet_keras.weights.loading import load_weights

        load_weights(model, weights, architecture=dict(
            genotype=genotype, num_cells=num_cells, penultimate_filters=penultimate_filters,
            stem=stem, stem_multiplier=stem_multiplier, skip_reduction=skip_reduction,
            filter_multiplier=filter_multiplier, include_top=include_top))
    return model


def _as_genotype(genotype):
    if isinstance(genotype, Genotype):
        return genotype
    if isinstance(genotype, dict):
        return Genotype.from_dict(genotype)
    raise TypeError(f"`genotype` must be a Genotype or its dict, got {type(genotype).__name__}.")


def _cell_plan(genotype, num_cells, filters, stem, m=2, skip_reduction=False, aux_head=False):
    """The cells in network order: (spec, scope, filters, strides, skip, aux head after it)."""
    plan = []
    if stem == "imagenet":
        scaling = 1.0 / (m * m)
        for i in range(2):
            plan.append((genotype.reduction, f"cell_stem_{i}", int(filters * scaling), 2,
                         False, False))
            scaling *= m
    reductions = reduction_indices(num_cells)
    scaling = 1
    for n in range(3 * num_cells):
        after_reduction = n in reductions
        if after_reduction:
            scaling *= m
            plan.append((genotype.reduction, f"reduction_cell_{reductions.index(n)}",
                         filters * scaling, 2, False, False))
        plan.append((genotype.normal, f"cell_{n}", filters * scaling, 1,
                     skip_reduction and after_reduction,
                     aux_head and n == reductions[1] - 1))
    return plan


def _sources(history, k, skip=False):
    """Inputs of the next cell: slot j <- history[-1 - j] (slot 1 one further with skip)."""
    out = [history[-1]]
    for j in range(1, k):
        back = 1 + j + (1 if skip and j == 1 else 0)
        out.append(history[-back] if back <= len(history) else None)
    return out


def _head_inputs(history, k):
    """Slots j whose entry history[-1 - j] feeds a pass-through head: output j of the cell
    j + 1 positions back, for those at the final resolution."""
    final_level = history[-1][1]
    return [j for j in range(k) if history[-1 - j] is not None
            and history[-1 - j][1] == final_level]


def _live_outputs(plan, k, stem_level):
    """Per cell of `plan`, the outputs of a "pass" cell that something reads (None: all)."""
    return _liveness(plan, k, stem_level)[0]


def _liveness(plan, k, stem_level):
    """``(live, dead)`` per cell of `plan`: the outputs of a "pass" cell that something
    reads (None: all), and whether nothing reads the cell at all.

    Output j of a pass cell feeds the cell j + 1 later, but near the end of the
    network that cell does not exist (or the head does not take it), and a later
    cell may not read that input.  A searched cell that never reads its input 0
    leaves the cell before it unread (a whole reduction cell, say).  Building
    either would only add weights without gradients.  Readers come later, so this
    walks the cells backwards; a dead cell reads nothing, which may kill more.
    """
    history = [None] * (k - 1) + [("stem", stem_level)]
    sources = []
    for index, (_, _, _, strides, skip, _) in enumerate(plan):
        sources.append([None if s is None else s[0] for s in _sources(history, k, skip)])
        history.append((index, history[-1][1] + (strides == 2)))
    read = [set() for _ in plan]
    # The head takes the last cell, or what the next cell would receive after pass cells.
    head = _head_inputs(history, k) if plan[-1][0].output_mode == "pass" else [0]
    for j in head:
        if history[-1 - j][0] != "stem":
            read[history[-1 - j][0]].add(j)
    live, dead = [None] * len(plan), [False] * len(plan)
    for index in reversed(range(len(plan))):
        spec, *_, aux = plan[index]
        if aux:
            read[index].update(range(spec.num_blocks))
        if not read[index]:
            dead[index] = True
            continue
        if spec.output_mode == "pass" and len(read[index]) < spec.num_blocks:
            live[index] = tuple(sorted(read[index]))
        for j in spec.inputs_read(live[index]):
            # A slot with no cell that far back passes slot 0's tensor through.
            source, slot = (sources[index][j], j) if sources[index][j] is not None \
                else (sources[index][0], 0)
            if source not in (None, "stem"):
                read[source].add(slot)
    return live, dead


def _from_config(family, variant, paper_regularization, overrides):
    configs = CONFIGS_BY_FAMILY[family]
    if variant not in configs:
        raise ValueError(
            f"`variant` must be one of {sorted(configs)} for NASNet-{family}, got {variant!r}.")
    cfg = configs[variant]
    kwargs = dict(
        genotype=cfg.genotype, num_cells=cfg.num_cells,
        penultimate_filters=cfg.penultimate_filters, stem=cfg.stem,
        stem_multiplier=cfg.stem_multiplier, skip_reduction=cfg.skip_reduction,
        filter_multiplier=cfg.filter_multiplier, default_size=cfg.default_size,
        bn_momentum=cfg.bn_momentum, bn_epsilon=cfg.bn_epsilon, weight_decay=cfg.weight_decay,
        total_training_steps=cfg.total_training_steps, name=None,
    )
    if paper_regularization:
        kwargs.update(drop_path_keep_prob=cfg.drop_path_keep_prob, dropout=cfg.dropout,
                      aux_head=cfg.aux_head)
    if cfg.stem == "cifar":
        kwargs["classes"] = 10
    kwargs.update(overrides)
    if family in CELL_STYLES:
        _check_cell_style(family, _as_genotype(kwargs["genotype"]))
    model = NASNet(**kwargs)
    if kwargs.get("name") is None:
        model.name = f"nasnet_{family.lower()}_{variant}"  # no layer prefix without a name
    return model


# (inputs per cell, output mode) of each family's search space (papers.md §1.10).
CELL_STYLES = {"B": (4, "pass"), "C": (2, "concat")}


def _check_cell_style(family, genotype):
    style = (genotype.num_inputs, genotype.normal.output_mode)
    if style == CELL_STYLES[family]:
        return
    other = next((f for f, s in CELL_STYLES.items() if s == style), None)
    inputs, mode = CELL_STYLES[family]
    raise ValueError(
        f"`genotype` for NASNet{family} must be a NASNet-{family} style genotype ({inputs} "
        f"inputs per cell, output_mode={mode!r}); got one with {style[0]} inputs and "
        f"output_mode={style[1]!r}" + (f" (NASNet-{other} style: use NASNet{other})" if other
                                       else "") + ", or build it with NASNet(genotype=...).")


def NASNetA(variant="mobile", paper_regularization=False, **overrides):
    """NASNet-A in one of the paper's configurations (papers.md §1.5).

    Args:
        variant: ``"mobile"`` (4 @ 1056, 224 px), ``"large"`` (6 @ 4032, 331 px)
            or ``"cifar"`` (6 @ 768, 32 px).
        paper_regularization: switch on the paper's training regularizers
            (drop-path keep probability, dropout, auxiliary head); off by
            default, since they only matter when training from scratch.
        **overrides: any `NASNet` argument.
    """
    return _from_config("A", variant, paper_regularization, overrides)


def NASNetB(variant="mobile", paper_regularization=False, **overrides):
    """NASNet-B style network in one of the paper's configurations (papers.md §1.9).

    Cells take four inputs and concatenate nothing: each block's output feeds the
    cell that many positions later (papers.md §1.10).

    Args:
        variant: ``"mobile"`` (4 @ 1536, 224 px) or ``"cifar"`` (4 @ 1152, 32 px).
        paper_regularization, **overrides: as in `NASNetA`; a ``genotype``
            override must be NASNet-B style (4 inputs, output_mode ``"pass"``).

    The default cells (`NASNET_B`) were found by this package's own search
    (``nasnet_search``) in the paper's NASNet-B search space, on a small proxy task
    (``benchmarks/nasnet_bc_search.py`` reproduces them); they are not the paper's
    cells, which are published only as figures and are not reproduced here.  Sizes
    next to the paper's: README, "NASNet-B and NASNet-C".
    """
    return _from_config("B", variant, paper_regularization, overrides)


def NASNetC(variant="mobile", paper_regularization=False, **overrides):
    """NASNet-C style network in one of the paper's configurations (papers.md §1.9).

    Cells are NASNet-A's kind (two inputs, unused states concatenated) with
    four blocks and the add+LayerNorm / add+InstanceNorm combines.

    Args:
        variant: ``"mobile"`` (3 @ 960, 224 px) or ``"cifar"`` (4 @ 640, 32 px).
        paper_regularization, **overrides: as in `NASNetA`; a ``genotype``
            override must be two-input, concat style.

    The default cells (`NASNET_C`) were found by this package's own search
    (``nasnet_search``) in the paper's NASNet-C search space, on a small proxy task
    (``benchmarks/nasnet_bc_search.py`` reproduces them); they are not the paper's
    cells, which are published only as figures and are not reproduced here.  Sizes
    next to the paper's: README, "NASNet-B and NASNet-C".
    """
    return _from_config("C", variant, paper_regularization, overrides)


def NASNetMobile(input_shape=None, include_top=True, weights="imagenet", input_tensor=None,
                 pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """Drop-in for ``keras.applications.NASNetMobile`` (same signature, same weights).

    Unlike keras.applications, any static input size >= 32 and unknown spatial
    sizes work without a top, with or without pretrained weights.
    """
    return NASNetA("mobile", input_shape=input_shape, include_top=include_top, weights=weights,
                   input_tensor=input_tensor, pooling=pooling, classes=classes,
                   classifier_activation=classifier_activation, weight_decay=0.0, name=name)


def NASNetLarge(input_shape=None, include_top=True, weights="imagenet", input_tensor=None,
                pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """Drop-in for ``keras.applications.NASNetLarge`` (same signature, same weights)."""
    return NASNetA("large", input_shape=input_shape, include_top=include_top, weights=weights,
                   input_tensor=input_tensor, pooling=pooling, classes=classes,
                   classifier_activation=classifier_activation, weight_decay=0.0, name=name)
