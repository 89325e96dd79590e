"""Draw cells as the papers do: inputs, one node per block (two operations and
a combine), and the cell output; recurrent cells as their tree (leaves reading
x_t and h_(t-1), the memory's way in and out).  SVG and PNG.

Graphviz (the ``dot`` program) is used when it is installed; otherwise a
pure-Python matplotlib drawing.  ``backend`` forces one.
"""

import os
import shutil
import subprocess

from nasnet_keras.genotypes import CellSpec, Genotype
from nasnet_keras.recurrent_genotypes import COMBINATION_SYMBOLS, RecurrentCellSpec

BACKENDS = ("auto", "graphviz", "matplotlib")
_COMBINE_LABELS = {"add": "add", "concat": "concat", "add_layernorm": "add + LN",
                   "add_instancenorm": "add + IN"}


def input_label(index):
    """Paper notation: input 0 is h_i (the previous cell's output), input k is h_{i-k}."""
    return "h_i" if index == 0 else f"h_(i-{index})"


def _state_label(spec, s):
    return input_label(s) if s < spec.num_inputs else f"block {s - spec.num_inputs}"


# --- graphviz --------------------------------------------------------------------------------

def cell_to_dot(spec, name="cell", title=None, cluster=False):
    """DOT source for one cell (a ``subgraph cluster`` when ``cluster``)."""
    p = name
    lines = [f'subgraph cluster_{p} {{' if cluster else f'digraph {p} {{']
    lines.append('  rankdir=TB; node [fontname="Helvetica", fontsize=11];')
    if title:
        lines.append(f'  label="{title}"; labelloc=t; fontsize=14;')
    for i in range(spec.num_inputs):
        lines.append(f'  {p}_s{i} [label="{input_label(i)}", shape=box, style=filled, '
                     'fillcolor="#c6dbef"];')
    for b in range(spec.num_blocks):
        lop, lin, rop, rin, comb = spec.block(b)
        s = spec.num_inputs + b
        lines.append(f'  {p}_b{b}l [label="{lop}", shape=box, style=filled, fillcolor="#fdd0a2"];')
        lines.append(f'  {p}_b{b}r [label="{rop}", shape=box, style=filled, fillcolor="#fdd0a2"];')
        lines.append(f'  {p}_s{s} [label="{_COMBINE_LABELS[comb]}\\n(block {b})", shape=ellipse, '
                     'style=filled, fillcolor="#c7e9c0"];')
        lines.append(f'  {p}_s{lin} -> {p}_b{b}l; {p}_s{rin} -> {p}_b{b}r;')
        lines.append(f'  {p}_b{b}l -> {p}_s{s}; {p}_b{b}r -> {p}_s{s};')
    if spec.output_mode == "pass":
        for b in range(spec.num_blocks):
            lines.append(f'  {p}_out{b} [label="to cell +{b + 1}", shape=box, style=filled, '
                         'fillcolor="#dadaeb"];')
            lines.append(f'  {p}_s{spec.num_inputs + b} -> {p}_out{b};')
    else:
        lines.append(f'  {p}_out [label="concat -> h_(i+1)", shape=box, style=filled, '
                     'fillcolor="#dadaeb"];')
        for s in spec.concat:
            lines.append(f'  {p}_s{s} -> {p}_out;')
    lines.append("}")
    return "\n".join(lines)


def genotype_to_dot(genotype):
    body = [cell_to_dot(genotype.normal, "normal", "Normal cell", cluster=True),
            cell_to_dot(genotype.reduction, "reduction", "Reduction cell", cluster=True)]
    return "digraph genotype {\n  compound=true;\n" + "\n".join(body) + "\n}"


def _recurrent_node_label(spec, i):
    comb, act = spec.nodes[i]
    symbol = COMBINATION_SYMBOLS.get(comb, comb)
    return f"{symbol}, {act}" + ("\\n(c_t before act.)" if i == spec.cell_indices[0] else "")


def recurrent_cell_to_dot(spec):
    """DOT source for a `RecurrentCellSpec` (inputs at the bottom, h_t at the top)."""
    c_node, inject_node = spec.cell_indices
    lines = ["digraph recurrent_cell {", '  rankdir=BT; node [fontname="Helvetica", fontsize=11];',
             '  x [label="x_t", shape=box, style=filled, fillcolor="#c6dbef"];',
             '  h [label="h_(t-1)", shape=box, style=filled, fillcolor="#c6dbef"];',
             '  cprev [label="c_(t-1)", shape=box, style=filled, fillcolor="#c6dbef"];',
             '  ht [label="h_t", shape=box, style=filled, fillcolor="#dadaeb"];',
             '  ct [label="c_t", shape=box, style=filled, fillcolor="#dadaeb"];']
    for i in range(len(spec.nodes)):
        lines.append(f'  n{i} [label="{_recurrent_node_label(spec, i)}", shape=ellipse, '
                     'style=filled, fillcolor="#c7e9c0"];')
    for i in range(spec.base):
        lines.append(f"  x -> n{i}; h -> n{i};")
    # Later nodes read the inject node's output after the injection.
    source = {i: f"n{i}" for i in range(len(spec.nodes))} | {inject_node: "inject"}
    for node, (a, b) in spec.children().items():
        lines.append(f"  {source[a]} -> n{node}; {source[b]} -> n{node};")
    comb, act = spec.cell_inject
    symbol = COMBINATION_SYMBOLS.get(comb, comb)
    lines.append(f'  inject [label="inject: {symbol}, {act}", shape=ellipse, style=filled, '
                 'fillcolor="#fdd0a2"];')
    lines.append(f"  n{inject_node} -> inject; cprev -> inject;")
    lines.append(f"  n{c_node} -> ct; {source[spec.root]} -> ht;")
    lines.append("}")
    return "\n".join(lines)


def _render_dot(dot_source, stem):
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("backend='graphviz' needs the Graphviz `dot` program on PATH; "
                           "install graphviz or use backend='matplotlib'.")
    paths = {}
    for fmt in ("svg", "png"):
        out = f"{stem}.{fmt}"
        subprocess.run([dot, f"-T{fmt}", "-o", out], input=dot_source.encode(), check=True,
                       capture_output=True)
        paths[fmt] = out
    return paths


# --- matplotlib ------------------------------------------------------------------------------

def _rows(spec):
    """{depth: [states]}: inputs at depth 0, each block one below its deepest input."""
    depth = {i: 0 for i in range(spec.num_inputs)}
    for b in range(spec.num_blocks):
        _, lin, _, rin, _ = spec.block(b)
        depth[spec.num_inputs + b] = 1 + max(depth[lin], depth[rin])
    rows = {}
    for s, d in depth.items():
        rows.setdefault(d, []).append(s)
    return rows


def _layout(spec):
    rows = _rows(spec)
    pos = {}
    for d, states in rows.items():
        width = 4.4 if d else 2.2
        for k, s in enumerate(states):
            pos[s] = ((k - (len(states) - 1) / 2) * width, -3.0 * d)
    return pos, max(rows)


def _draw_cell(ax, spec, title):
    from matplotlib.patches import FancyArrowPatch

    pos, max_depth = _layout(spec)

    def box(x, y, text, color):
        ax.text(x, y, text, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round,pad=0.3", fc=color, ec="0.3"))

    def arrow(a, b):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=8, color="0.4",
                                     shrinkA=9, shrinkB=9, lw=0.8))

    for i in range(spec.num_inputs):
        box(*pos[i], input_label(i), "#c6dbef")
    for b in range(spec.num_blocks):
        lop, lin, rop, rin, comb = spec.block(b)
        x, y = pos[spec.num_inputs + b]
        for dx, op, src in ((-1.1, lop, lin), (1.1, rop, rin)):
            op_xy = (x + dx, y + 1.3)
            box(*op_xy, op, "#fdd0a2")
            arrow(pos[src], op_xy)
            arrow(op_xy, (x, y))
        box(x, y, f"{_COMBINE_LABELS[comb]}\n(block {b})", "#c7e9c0")
    out_y = -3.0 * (max_depth + 1)
    if spec.output_mode == "pass":
        for b in range(spec.num_blocks):
            x, y = pos[spec.num_inputs + b]
            box(x, out_y, f"to cell +{b + 1}", "#dadaeb")
            arrow((x, y), (x, out_y))
    else:
        box(0.0, out_y, "concat -> h_(i+1)", "#dadaeb")
        for s in spec.concat:
            arrow(pos[s], (0.0, out_y))
    xs = [x for x, _ in pos.values()]
    ax.set_xlim(min(xs) - 2.0, max(xs) + 2.0)
    ax.set_ylim(out_y - 1.0, 1.0)
    ax.set_title(title)
    ax.axis("off")


def _save_figure(fig, stem):
    import matplotlib.pyplot as plt

    fig.tight_layout()
    paths = {}
    for fmt in ("svg", "png"):
        paths[fmt] = f"{stem}.{fmt}"
        fig.savefig(paths[fmt], dpi=110)
    plt.close(fig)
    return paths


def _render_matplotlib(cells, stem):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    widest = max(max(len(r) for r in _rows(spec).values()) for spec, _ in cells)
    fig, axes = plt.subplots(1, len(cells), figsize=(max(6.5, 2.6 * widest) * len(cells), 7),
                             squeeze=False)
    for ax, (spec, title) in zip(axes[0], cells):
        _draw_cell(ax, spec, title)
    return _save_figure(fig, stem)


def _render_recurrent_matplotlib(spec, stem, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    pos, children = {}, spec.children()
    for i in range(spec.base):
        pos[i] = (2.0 * i, 0.0)
    for node in sorted(children):
        a, b = children[node]
        pos[node] = ((pos[a][0] + pos[b][0]) / 2, pos[a][1] + 2.0)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * spec.base), 2.0 + 1.4 * len(set(
        y for _, y in pos.values()))))

    def box(xy, text, color):
        ax.text(*xy, text, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round", facecolor=color, edgecolor="0.4"))

    def arrow(a, b):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=10, color="0.4",
                                     shrinkA=12, shrinkB=12))

    c_node, inject_node = spec.cell_indices
    ix, iy = pos[inject_node]
    inject_xy = (ix + 0.9, iy + 0.9)
    # Later nodes read the inject node's output after the injection.
    source = dict(pos) | {inject_node: inject_xy}
    middle = (spec.base - 1.0)
    box((middle, -2.0), "x_t, h_(t-1)", "#c6dbef")
    for i in range(spec.base):
        arrow((middle, -2.0), pos[i])
    for node, (a, b) in children.items():
        arrow(source[a], pos[node])
        arrow(source[b], pos[node])
    for i, xy in pos.items():
        box(xy, _recurrent_node_label(spec, i).replace("\\n", "\n"), "#c7e9c0")
    comb, act = spec.cell_inject
    box(inject_xy, f"inject c_(t-1): {comb}, {act}", "#fdd0a2")
    arrow(pos[inject_node], inject_xy)
    cx, cy = pos[c_node]
    box((cx - 0.9, cy + 0.9), "c_t", "#dadaeb")
    arrow(pos[c_node], (cx - 0.9, cy + 0.9))
    rx, ry = pos[spec.root]
    box((rx, ry + 1.6), "h_t", "#dadaeb")
    arrow(source[spec.root], (rx, ry + 1.6))
    ax.set_xlim(-1.5, 2.0 * spec.base - 0.5)
    ax.set_ylim(-2.8, ry + 2.2)
    ax.set_title(title)
    ax.axis("off")
    return _save_figure(fig, stem)


# --- public ----------------------------------------------------------------------------------

def _stem_and_backend(path, backend):
    if backend not in BACKENDS:
        raise ValueError(f"`backend` must be one of {BACKENDS}, got {backend!r}.")
    if backend == "auto":
        backend = "graphviz" if shutil.which("dot") else "matplotlib"
    stem, ext = os.path.splitext(os.fspath(path))
    if ext.lower() not in (".svg", ".png"):
        stem = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    return stem, backend


def plot_cell(cell, path, backend="auto", title=None):
    """Draw one `CellSpec`; writes ``<path>.svg`` and ``<path>.png``, returns their paths."""
    spec = CellSpec.from_dict(cell) if isinstance(cell, dict) else cell
    if not isinstance(spec, CellSpec):
        raise TypeError(f"`cell` must be a CellSpec or its dict, got {type(cell).__name__}.")
    stem, backend = _stem_and_backend(path, backend)
    title = title or f"{spec.label} cell"
    if backend == "graphviz":
        return _render_dot(cell_to_dot(spec, "cell", title), stem)
    return _render_matplotlib([(spec, title)], stem)


def plot_genotype(genotype, path, backend="auto"):
    """Draw a `Genotype`'s normal and reduction cells side by side (SVG and PNG)."""
    genotype = Genotype.from_dict(genotype) if isinstance(genotype, dict) else genotype
    if not isinstance(genotype, Genotype):
        raise TypeError(f"`genotype` must be a Genotype or its dict, got {type(genotype).__name__}.")
    stem, backend = _stem_and_backend(path, backend)
    if backend == "graphviz":
        return _render_dot(genotype_to_dot(genotype), stem)
    return _render_matplotlib([(genotype.normal, "Normal cell"),
                               (genotype.reduction, "Reduction cell")], stem)


def plot_recurrent_cell(spec, path, backend="auto", title="Recurrent cell"):
    """Draw a `RecurrentCellSpec` (or its dict) as its tree; writes SVG and PNG."""
    spec = RecurrentCellSpec.from_dict(spec) if isinstance(spec, dict) else spec
    if not isinstance(spec, RecurrentCellSpec):
        raise TypeError(f"`spec` must be a RecurrentCellSpec or its dict, got "
                        f"{type(spec).__name__}.")
    stem, backend = _stem_and_backend(path, backend)
    if backend == "graphviz":
        return _render_dot(recurrent_cell_to_dot(spec), stem)
    return _render_recurrent_matplotlib(spec, stem, title)
