"""The main job (``make demo``): a short RL architecture search on scikit-learn's
digits, the best cell retrained briefly, and the search report written.

Runs offline.  ``python -m nasnet_search.demo --help`` lists the knobs.
"""

import argparse
import os
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-trials", type=int, default=8)
    parser.add_argument("--algorithm", default="ppo", choices=("ppo", "reinforce"))
    parser.add_argument("--search-epochs", type=int, default=2)
    parser.add_argument("--retrain-epochs", type=int, default=4)
    parser.add_argument("--directory", default="searches")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import nasnet_keras as nk
    from nasnet_keras.demo import load_digits_dataset
    from nasnet_search import NASNetSearchSpace, NASTuner, RLOracle
    from nasnet_search.report import write_report

    start = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    (x_trainval, y_trainval), (x_test, y_test) = load_digits_dataset(size=32, seed=args.seed)
    cut = int(0.8 * len(x_trainval))
    train, val = (x_trainval[:cut], y_trainval[:cut]), (x_trainval[cut:], y_trainval[cut:])

    space = NASNetSearchSpace()
    oracle = RLOracle(space, algorithm=args.algorithm, objective="val_accuracy",
                      max_trials=args.max_trials, seed=args.seed,
                      settings={"batch_size": max(2, args.max_trials // 3)})
    tuner = NASTuner(oracle, input_shape=(32, 32, 3), classes=10,
                     child_kwargs={"num_cells": 1, "filters": 8},
                     optimizer=lambda: keras.optimizers.Adam(3e-3),
                     directory=args.directory, project_name="demo", overwrite=True)
    print(f"Search: {space.summary()}; {args.algorithm.upper()} controller, "
          f"{args.max_trials} children (N=1, F=8, 32 px), {args.search_epochs} epoch(s) each, on "
          f"digits ({len(train[0])} train / {len(val[0])} validation images).")
    tuner.search(*train, validation_data=val, epochs=args.search_epochs, batch_size=64)
    search_time = time.perf_counter() - start

    best = tuner.best_genotype()
    print("\nBest cell found:\n" + best.describe())
    retrain_start = time.perf_counter()
    keras.backend.clear_session()
    model = space.build_model(best, input_shape=(32, 32, 3), classes=10, num_cells=1, filters=12,
                              name="best")
    model.compile(optimizer=nk.FusedAdam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    nk.prepare_training(model, x_trainval, y_trainval)  # one trace of the train step
    model.fit(x_trainval, y_trainval, epochs=args.retrain_epochs, batch_size=64, verbose=2)
    _, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    retrain_time = time.perf_counter() - retrain_start

    project = os.path.join(args.directory, "demo")
    files = write_report(project)
    exported = tuner.export(os.path.join(project, "export"))
    print(f"\nBest cell retrained (N=1, F=12, {model.count_params():,} params, "
          f"{args.retrain_epochs} epochs on train+validation): test accuracy {accuracy:.4f} "
          f"on {len(x_test)} held-out images (chance 0.10).")
    print(f"Search {search_time:.0f} s, retraining {retrain_time:.0f} s, total "
          f"{time.perf_counter() - start:.0f} s.")
    print("Report: " + ", ".join(files))
    print("Exported: " + ", ".join(exported))
    return float(np.asarray(accuracy))


if __name__ == "__main__":
    main()
