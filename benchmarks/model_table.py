"""Parameter and mult-add table of the built-in models (the README's table),
and the README's drawings of the NASNet-A cells and of NASCell.

    python benchmarks/model_table.py [--figures benchmarks/figures]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import nasnet_keras as nk  # noqa: E402

PAPER = {  # papers.md §1.9: params, mult-adds
    "mobile": ("5.3M", "564M"),
    "large": ("88.9M", "23.8B"),
    "cifar": ("3.3M", "-"),
}


def _fmt(n):
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--figures", help="also draw NASNet-A's cells and NASCell into this folder")
    args = parser.parse_args(argv)
    if args.figures:
        for backend in ("graphviz", "matplotlib"):
            try:
                print(nk.plot_genotype(nk.NASNET_A, os.path.join(args.figures, f"nasnet_a_{backend}"),
                                       backend=backend))
            except RuntimeError as e:  # no graphviz
                print(e)
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


if __name__ == "__main__":
    main()
