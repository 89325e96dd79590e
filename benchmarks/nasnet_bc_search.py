"""How `NASNET_B` and `NASNET_C` were found, and how they compare with random cells.

The paper publishes its NASNet-B and NASNet-C cells only as figures, so this
package ships cells found by its own search in the paper's two search spaces
(``NASNetSearchSpace.preset("nasnet_b" | "nasnet_c")``):

    python benchmarks/nasnet_bc_search.py search --model B --seed 0
    python benchmarks/nasnet_bc_search.py search --model C --seed 0
    python benchmarks/nasnet_bc_search.py compare --model B
    python benchmarks/nasnet_bc_search.py compare --model C

Proxy task: digits (bundled with scikit-learn) at 32 px, split with seed 0
into 1,437 training and 360 validation images.  A proxy child is N = 1,
F = 8, CIFAR stem, trained from scratch on ``TRAIN_EXAMPLES`` training images
for ``EPOCHS`` epochs (batch 32, Adam 3e-3).  Full-size digits hardly separate
cells (most score 0.98-0.99); this little data and training spreads them (see
``compare``'s random cells).

``search`` runs ``nasnet-search run`` (aging evolution, ``TRIALS`` children,
the given seed, which also splits the data: ``compare`` assumes seed 0) on that
task, each child scored on the 360 validation images, then the selection.
Selection rule: among the children whose cells build at both of the paper's
configurations of the model (``N @ P`` must divide evenly), the ``FINALISTS``
best by search score are trained again with seeds 1 and 2; the highest mean
of the three scores wins, printed as JSON.  Size plays no part: at the paper's
N @ P the cells found are larger than the paper's networks (README, "NASNet-B
and NASNet-C").  ``select`` runs the selection alone on a finished search's
``--directory``.  With ``--threads 1`` the children train in one thread, and
a rerun of the selection gave the same scores to the last digit.

``compare`` retrains the shipped cell and ``RANDOM_CELLS`` uniformly random
cells of the same space on images the search never saw (training images
300-599 for training, 600-1436 for testing), with seeds 100, 101 and 102, and
prints the shipped cell's mean, the random cells' median and best (of their
means).  ``--threads 1`` lets two runs share this 2-core machine.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

TRAIN_EXAMPLES = 300
EPOCHS = 10
BATCH_SIZE = 32
FILTERS = 8
LEARNING_RATE = 3e-3
TRIALS = {"B": 60, "C": 40}  # C children cost about twice as much
FINALISTS = 5
RANDOM_CELLS = 10
COMPARE_SEEDS = (100, 101, 102)
RANDOM_CELLS_SEED = 1234
PRESETS = {"B": "nasnet_b", "C": "nasnet_c"}


def _digits():
    from nasnet_keras.data import load_arrays

    return load_arrays("digits", 32, seed=0)


def _train(space, genotype, train, test, seed):
    from nasnet_search.weight_sharing import retrain_architecture

    _, accuracy = retrain_architecture(space, genotype, *train, test, filters=FILTERS,
                                       epochs=EPOCHS, batch_size=BATCH_SIZE,
                                       learning_rate=LEARNING_RATE, seed=seed)
    return accuracy


def builds_at_paper_configs(model, genotype):
    """Whether both of the paper's configurations of `model` accept `genotype` (``N @ P``
    must divide evenly)."""
    from nasnet_keras.configs import CONFIGS_BY_FAMILY
    from nasnet_keras.model import penultimate_filters_divisor

    return all(config.penultimate_filters % penultimate_filters_divisor(
        genotype, config.stem, config.filter_multiplier) == 0
        for config in CONFIGS_BY_FAMILY[model].values())


def _project(args):
    return f"nasnet_{args.model.lower()}_seed{args.seed}"


def search(args):
    from nasnet_search import cli

    args.directory = args.directory or tempfile.mkdtemp(prefix="nasnet_bc_search_")
    start = time.time()
    status = cli.main(["run", "--space-preset", PRESETS[args.model], "--algorithm", "evolution",
                       "--dataset", "digits", "--max-examples", str(TRAIN_EXAMPLES),
                       "--epochs", str(EPOCHS), "--batch-size", str(BATCH_SIZE),
                       "--filters", str(FILTERS), "--learning-rate", str(LEARNING_RATE),
                       "--max-trials", str(args.trials or TRIALS[args.model]),
                       "--seed", str(args.seed), "--keep-checkpoints", "none",
                       "--directory", args.directory, "--project-name", _project(args),
                       "--overwrite", "--quiet"])
    if status:
        sys.exit(status)
    print(f"search: {time.time() - start:.0f} s", flush=True)
    select(args)


def select(args):
    """The selection rule, on a finished search project (``search`` ends with it)."""
    from nasnet_search import NASNetSearchSpace
    from nasnet_search.results import load_results

    if not args.directory:
        sys.exit("select: give --directory, the folder holding the search project")
    start = time.time()
    space = NASNetSearchSpace.preset(PRESETS[args.model])
    rows = [r for r in load_results(os.path.join(args.directory, _project(args)))
            if r["reward"] is not None]
    scores = [r["metric:val_accuracy"] for r in rows]
    candidates = [(r["metric:val_accuracy"], space.arch_from_dict(r["architecture"]))
                  for r in rows]
    candidates.sort(key=lambda c: -c[0])
    chosen = [(s, g) for s, g in candidates if builds_at_paper_configs(args.model, g)]
    chosen = chosen[:FINALISTS]
    if not chosen:
        sys.exit(f"select: none of the {len(rows)} scored children builds at both of the "
                 f"paper's NASNet-{args.model} configurations; search longer")
    (x, y), validation, _ = _digits()
    train = (x[:TRAIN_EXAMPLES], y[:TRAIN_EXAMPLES])
    finalists = []
    for score, genotype in chosen:
        again = [_train(space, genotype, train, validation, seed) for seed in (1, 2)]
        finalists.append((statistics.mean([score] + again), [score] + again, genotype))
        print(f"finalist: scores {[round(s, 4) for s in [score] + again]}", flush=True)
    best = max(finalists, key=lambda f: f[0])
    print(json.dumps({
        "model": args.model, "seed": args.seed, "trials": len(rows),
        "selection_seconds": round(time.time() - start),
        "search_scores": {"median": statistics.median(scores), "best": max(scores)},
        "winner_scores": best[1], "genotype": best[2].to_dict()}))


def compare(args):
    import nasnet_keras as nk
    from nasnet_search import NASNetSearchSpace

    space = NASNetSearchSpace.preset(PRESETS[args.model])
    (x, y), _, _ = _digits()
    train = (x[TRAIN_EXAMPLES:2 * TRAIN_EXAMPLES], y[TRAIN_EXAMPLES:2 * TRAIN_EXAMPLES])
    test = (x[2 * TRAIN_EXAMPLES:], y[2 * TRAIN_EXAMPLES:])
    rng = np.random.default_rng(RANDOM_CELLS_SEED)
    shipped = getattr(nk, f"NASNET_{args.model}")
    cells = [("shipped", shipped)] + [
        (f"random {i}", space.decode_actions(space.random_actions(rng)))
        for i in range(args.random_cells)]
    means = {}
    for label, genotype in cells:
        scores = [_train(space, genotype, train, test, seed) for seed in COMPARE_SEEDS]
        means[label] = statistics.mean(scores)
        print(f"{label:>9}: mean {means[label]:.4f}  scores "
              f"{' '.join(f'{s:.4f}' for s in scores)}", flush=True)
    random_means = [v for k, v in means.items() if k != "shipped"]
    print(json.dumps({"model": args.model, "seeds": list(COMPARE_SEEDS),
                      "shipped_mean": means["shipped"],
                      "random_median": statistics.median(random_means),
                      "random_best": max(random_means), "random_worst": min(random_means)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("search", "select", "compare"))
    parser.add_argument("--model", choices=sorted(PRESETS), required=True)
    parser.add_argument("--seed", type=int, default=0, help="search: the search's seed")
    parser.add_argument("--trials", type=int, default=None,
                        help=f"search: children trained (default {TRIALS})")
    parser.add_argument("--random-cells", type=int, default=RANDOM_CELLS)
    parser.add_argument("--directory", default=None,
                        help="search: where the project goes; select: where it is")
    parser.add_argument("--threads", type=int, default=None,
                        help="TensorFlow's intra-op threads (default: every core)")
    args = parser.parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    {"search": search, "select": select, "compare": compare}[args.command](args)


if __name__ == "__main__":
    main()
