"""The main job (``make demo``): a weight-sharing (ENAS) architecture search on
scikit-learn's digits, then the found cell and one uniformly random cell of the same
space retrained identically and compared on held-out images.

Runs offline.  ``python -m nasnet_search.demo --help`` lists the knobs.
"""

import argparse
import os
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search-seconds", type=float, default=180.0,
                        help="budget of the weight-sharing search (tracing included)")
    parser.add_argument("--algorithm", default="reinforce",
                        choices=("reinforce", "ppo", "random", "evolution"))
    parser.add_argument("--retrain-examples", type=int, default=300,
                        help="retrain on this many train+validation images (0: all); a small "
                             "set separates cells that all reach 0.98-0.99 on the whole of it")
    parser.add_argument("--retrain-epochs", type=int, default=10)
    parser.add_argument("--retrain-filters", type=int, default=8)
    parser.add_argument("--retrain-batch-size", type=int, default=32)
    parser.add_argument("--directory", default="searches")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("retrain_epochs", "retrain_filters", "retrain_batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.retrain_examples < 0 or args.search_seconds <= 0:
        parser.error("--retrain-examples must be >= 0 and --search-seconds > 0, got "
                     f"{args.retrain_examples} and {args.search_seconds}")

    import keras
    import numpy as np

    from nasnet_keras.demo import load_digits_dataset
    from nasnet_search import (EvolutionOracle, NASNetSearchSpace, RandomOracle, RLOracle,
                               WeightSharingTuner)
    from nasnet_search.report import write_weight_sharing_report

    start = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    (x_trainval, y_trainval), (x_test, y_test) = load_digits_dataset(size=32, seed=args.seed)
    cut = int(0.8 * len(x_trainval))
    train, val = (x_trainval[:cut], y_trainval[:cut]), (x_trainval[cut:], y_trainval[cut:])

    space = NASNetSearchSpace.preset("enas")
    common = dict(max_trials=None, max_time=args.search_seconds, seed=args.seed)
    if args.algorithm == "random":
        oracle = RandomOracle(space, **common)
    elif args.algorithm == "evolution":
        oracle = EvolutionOracle(space, **common)
    else:
        oracle = RLOracle(space, algorithm=args.algorithm, preset="enas", **common)
    tuner = WeightSharingTuner(oracle, classes=10, num_cells=1, filters=8, batch_size=64,
                               seed=args.seed, directory=args.directory, project_name="demo",
                               overwrite=True)
    print(f"Weight-sharing search: {space.summary()}; {type(oracle).__name__} "
          f"({args.algorithm}); supernet N=1, F=8, 32 px; digits ({len(train[0])} train / "
          f"{len(val[0])} validation images); budget {args.search_seconds:.0f} s.", flush=True)
    result = tuner.search(*train, validation_data=val)
    search_time = time.perf_counter() - start
    found = tuner.best_architecture()
    print("\nCell found:\n" + found.describe())

    inherited = tuner.extract_best(calibration_data=train[0], calibration_steps=10)
    inherited.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, inherited_accuracy = inherited.evaluate(x_test, y_test, batch_size=256, verbose=0)

    retrain_start = time.perf_counter()
    random_cell = space.decode_actions(space.random_actions(np.random.default_rng(args.seed + 1)))
    count = args.retrain_examples or len(x_trainval)
    rows = []
    for label, genotype in (("found by the search", None), ("uniformly random", random_cell)):
        # The same procedure for both (recorded in result.json for the found cell).
        model, accuracy = tuner.retrain(x_trainval[:count], y_trainval[:count], (x_test, y_test),
                                        filters=args.retrain_filters,
                                        epochs=args.retrain_epochs,
                                        batch_size=args.retrain_batch_size, seed=args.seed,
                                        genotype=genotype)
        rows.append((label, accuracy, model.count_params()))
        del model
    retrain_time = time.perf_counter() - retrain_start

    project = os.path.join(args.directory, "demo")
    files = write_weight_sharing_report(project)
    exported = tuner.export(os.path.join(project, "export"), calibration_data=train[0])
    print(f"\nSearch: {tuner.epoch} shared-weight epochs, {result['candidates']} final "
          f"candidates; the found cell with inherited weights (BatchNorm recalibrated): test "
          f"accuracy {float(inherited_accuracy):.4f}.")
    print(f"Retrained from scratch (N=1, F={args.retrain_filters}, {args.retrain_epochs} epochs, "
          f"batch {args.retrain_batch_size}, on {count} train+validation images, same seed), "
          f"test accuracy on {len(x_test)} held-out images:")
    for label, accuracy, params in rows:
        print(f"  {label:>20}: {accuracy:.4f} ({params:,} params)")
    print("(One search and one random cell: a single draw, not evidence either way; "
          "benchmarks/weight_sharing.py --quality compares seeds.)")
    print(f"Search {search_time:.0f} s, retraining {retrain_time:.0f} s, total "
          f"{time.perf_counter() - start:.0f} s.")
    print("Report: " + ", ".join(files))
    print("Exported: " + ", ".join(exported))
    return rows


if __name__ == "__main__":
    main()
