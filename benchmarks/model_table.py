"""Parameter and mult-add tables of the built-in models (the README's tables;
tests/test_nasnet_bc.py checks the NASNet-B/C one), and the README's drawings of
the NASNet-A, NASNet-B and NASNet-C cells and of NASCell.

    python benchmarks/model_table.py [--figures benchmarks/figures]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import nasnet_keras as nk  # noqa: E402
from nasnet_keras.configs import CONFIGS_BY_FAMILY  # noqa: E402

PAPER = {  # papers.md §1.9: params, mult-adds
    "mobile": ("5.3M", "564M"),
    "large": ("88.9M", "23.8B"),
    "cifar": ("3.3M", "-"),
}
# papers.md §1.9 (Tables 1 and 3): params, mult-adds (None: not published).
PAPER_BC = {
    ("B", "cifar"): (2.6e6, None), ("B", "mobile"): (5.3e6, 488e6),
    ("C", "cifar"): (3.1e6, None), ("C", "mobile"): (4.9e6, 558e6),
}


def _fmt(n):
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def _difference(counted, paper):
    return "-" if paper is None else f"{100 * (counted - paper) / paper:+.0f}%"


def bc_rows():
    """(family, variant, N @ P, input, classes, params, mult-adds) of NASNet-B/C as built."""
    rows = []
    for (family, variant) in PAPER_BC:
        cfg = CONFIGS_BY_FAMILY[family][variant]
        model = getattr(nk, f"NASNet{family}")(variant)
        rows.append((family, variant, cfg.notation, cfg.default_size, model.outputs[0].shape[-1],
                     model.count_params(), nk.count_mult_adds(model)))
    return rows


def print_bc_table(rows):
    print("| model | N @ P | input | classes | params | mult-adds | paper params / mult-adds "
          "| difference |")
    print("|---|---|---|---|---|---|---|---|")
    for family, variant, notation, size, classes, params, mult_adds in rows:
        paper_params, paper_mult_adds = PAPER_BC[(family, variant)]
        paper_ma = "-" if paper_mult_adds is None else _fmt(paper_mult_adds)
        paper = f"{_fmt(paper_params)} / {paper_ma}"
        difference = _difference(params, paper_params)
        if paper_mult_adds is not None:
            difference += f" / {_difference(mult_adds, paper_mult_adds)}"
        print(f"| `NASNet{family}(\"{variant}\")` | {notation} | {size} | {classes} | {params:,} | "
              f"{_fmt(mult_adds)} | {paper} | {difference} |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--figures",
                        help="also draw the NASNet-A/B/C cells and NASCell into this folder")
    args = parser.parse_args(argv)
    if args.figures:
        for backend in ("graphviz", "matplotlib"):
            try:
                print(nk.plot_genotype(nk.NASNET_A, os.path.join(args.figures, f"nasnet_a_{backend}"),
                                       backend=backend))
            except RuntimeError as e:  # no graphviz
                print(e)
        for name in ("NASNET_B", "NASNET_C"):
            print(nk.plot_genotype(getattr(nk, name), os.path.join(args.figures, name.lower())))
        print(nk.plot_recurrent_cell(nk.NAS_CELL, os.path.join(args.figures, "nas_cell"),
                                     title="NASCell (Zoph & Le 2017)"))
    print("| model | N @ P | input | classes | params | mult-adds | paper params / mult-adds |")
    print("|---|---|---|---|---|---|---|")
    for variant in ("mobile", "large", "cifar"):
        cfg = nk.NASNET_A_CONFIGS[variant]
        size = cfg.default_size
        model = nk.NASNetA(variant, input_shape=(size, size, 3))
        classes = model.outputs[0].shape[-1]
        print(f"| `NASNetA(\"{variant}\")` | {cfg.notation} | {size} | {classes} | "
              f"{model.count_params():,} | {_fmt(nk.count_mult_adds(model))} | "
              f"{PAPER[variant][0]} / {PAPER[variant][1]} |", flush=True)
    print()
    print_bc_table(bc_rows())


if __name__ == "__main__":
    main()
