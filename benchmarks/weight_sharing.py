"""Weight sharing: supernet step cost against a stand-alone child, and the search's overhead.

    python benchmarks/weight_sharing.py [--preset enas] [--selection switch gather]
                                        [--steps 30] [--archs 200] [--json]
    python benchmarks/weight_sharing.py --ranking [--search-seconds 180 | --project DIR]
                                        [--architectures 10]
    python benchmarks/weight_sharing.py --quality [--seeds 0 1 2] [--search-seconds 180]
    python benchmarks/weight_sharing.py --learning [--epochs 12] [--pool K]

(a) One supernet train step (a new random architecture each step) against one train step
    of a stand-alone child of the same size (`NASNetSearchSpace.build_model`, the same
    fused Nesterov SGD, its own traced step), median over ``--steps`` steps after the
    first, same process; the supernet's without and then with Grappler (`SupernetSteps`'
    ``optimize_graph``).  Also each one's first call (the supernet's first traces).
(b) Scoring: per architecture, the whole cost of the tuner's own search phase (strategy
    proposals in chunks of one policy update, encoding, two score batches, the
    controller's updates, the journal) and the part that is not the score steps
    themselves (the overhead, timed around each score call), over ``--archs`` proposals
    of an RL controller (REINFORCE, ENAS settings: an update every 10), after two updates'
    warm-up (their tracing).
(c) ``--ranking``: after a random-search-with-weight-sharing run, Kendall tau between
    the supernet's scores (whole validation split) of ``--architectures`` random cells and
    their test accuracy when retrained stand-alone (as the demo retrains).  With
    ``--project DIR``: no search; the supernet of that finished ``nasnet-search run
    --weight-sharing`` project scores ``--architectures`` of its final candidates, spread
    over their range of scores.
(d) ``--quality``: per seed, RL with weight sharing (REINFORCE, ENAS settings), random
    search with weight sharing, and one uniformly random cell, each retrained the same
    way (N = 1, ``--retrain-filters`` F, ``--retrain-epochs`` on digits' train+validation,
    or its first ``--retrain-examples`` images; test accuracy on the 360 held-out images);
    mean and standard deviation over seeds.
(e) ``--learning``: how fast the shared weights learn.  From the same initial weights and
    with the tuner's optimizer, ``--epochs`` epochs on one fixed random path, then the
    same on a new uniformly random path per batch (the warm-up's sampling), or with
    ``--pool K`` on paths drawn from K fixed random ones; training accuracy per epoch, and
    at the end the accuracy on the validation split of the fixed path and of 20 random
    paths (or of the pool).
The proxy size is the search's default: N = 1, F = 8, 32 px, batch 64, digits.
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nasnet_search import NASNetSearchSpace, RLOracle  # noqa: E402
from nasnet_search.datasets import load_dataset  # noqa: E402
from nasnet_search.weight_sharing import retrain_architecture  # noqa: E402

BATCH = 64


def _child_step(model):
    from nasnet_keras.optimizers import FusedSGD

    optimizer = FusedSGD(0.05, momentum=0.9, nesterov=True)
    optimizer.build(model.trainable_variables)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
                y, model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def _timed(fn, count):
    times = []
    for i in range(count):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return times


def step_costs(space, selection, x, y, steps, rng, directory):
    """Trace and step time of the supernet's train step, without and then with Grappler
    (`SupernetSteps`' ``optimize_graph``), in one process."""
    tuner = _tuner(space, selection, directory)
    net, ops = tuner.supernet, tuner.steps
    archs = [net.encode_actions(space.random_actions(rng)) for _ in range(steps + 1)]
    row = {"selection": selection, "variables": len(net.trainable_variables)}
    for key, step in (("without_grappler", ops.train_step), ("with_grappler",
                                                              ops.train_step.function)):
        times = _timed(lambda i: float(step(x[:BATCH], y[:BATCH], archs[i])[0]), steps + 1)
        # The first call traces (once, in the first row) and prepares the graph.
        row[key] = {"first_call_s": round(times[0], 2),
                    "step_ms": round(1000 * statistics.median(times[1:]), 1)}
    return row, tuner


def _tuner(space, selection, directory, steps_per_epoch=20):
    """The search's own tuner (REINFORCE, ENAS settings) with its steps made as a search
    shorter than 30 minutes makes them (train step without Grappler)."""
    from nasnet_search.weight_sharing import WeightSharingTuner

    oracle = RLOracle(space, algorithm="reinforce", preset="enas", max_trials=None,
                      max_time=1e9, seed=0)
    tuner = WeightSharingTuner(oracle, classes=10, filters=8, batch_size=BATCH,
                               selection=selection, optimize_graph=False, directory=directory,
                               project_name=f"steps_{selection}", overwrite=True, verbose=0)
    tuner._make_steps(steps_per_epoch)
    return tuner


def child_cost(space, x, y, steps, rng):
    genotype = space.decode_actions(space.random_actions(rng))
    model = space.build_model(genotype, classes=10, filters=8)
    step = _child_step(model)
    times = _timed(lambda i: float(step(x[:BATCH], y[:BATCH])), steps + 1)
    return {"trace_and_first_step_s": round(times[0], 2),
            "step_ms": round(1000 * statistics.median(times[1:]), 1),
            "variables": len(model.trainable_variables)}


def scoring_overhead(tuner, xv, yv, archs):
    """The tuner's own search phase (proposals in chunks of one policy update, scoring,
    controller updates, journal), per architecture, and the part of it spent outside the
    score steps (timed around each call)."""
    subset = tuner._batches(xv, yv, 2)
    # Warm up: the score step, the controller's sampling and its first update are traced
    # once per search.
    tuner._search_phase(subset, 2 * tuner.oracle.settings.batch_size)
    score_step, inside = tuner.steps.score_step, []

    def timed_score(*args):
        began = time.perf_counter()
        value = score_step(*args).numpy()
        inside.append(time.perf_counter() - began)
        return value

    timed_score.experimental_get_tracing_count = score_step.experimental_get_tracing_count
    tuner.steps.score_step = timed_score
    try:
        began = time.perf_counter()
        tuner._search_phase(subset, archs)
        per_arch = (time.perf_counter() - began) / archs
    finally:
        tuner.steps.score_step = score_step
    score_ms = 1000 * sum(inside) / archs
    return {"per_architecture_ms": round(1000 * per_arch, 1),
            "score_steps_ms": round(score_ms, 1),
            "overhead_ms": round(1000 * per_arch - score_ms, 1),
            "architectures_per_minute": round(60 / per_arch)}


def _digits():
    from nasnet_keras.demo import load_digits_dataset

    (x_trainval, y_trainval), test = load_digits_dataset(size=32, seed=0)
    cut = int(0.8 * len(x_trainval))
    return ((x_trainval[:cut], y_trainval[:cut]), (x_trainval[cut:], y_trainval[cut:]),
            (x_trainval, y_trainval), test)


def _search(space, algorithm, seed, seconds, data, directory):
    from nasnet_search import RandomOracle
    from nasnet_search.weight_sharing import WeightSharingTuner

    train, val = data[0], data[1]
    common = dict(max_trials=None, max_time=seconds, seed=seed)
    oracle = RandomOracle(space, **common) if algorithm == "random" else \
        RLOracle(space, algorithm=algorithm, preset="enas", **common)
    tuner = WeightSharingTuner(oracle, classes=10, filters=8, batch_size=64, seed=seed,
                               directory=directory, project_name=f"{algorithm}_{seed}",
                               overwrite=True, verbose=0)
    tuner.search(*train, validation_data=val)
    return tuner


def _retrain(args, space, genotype, data, seed):
    """Test accuracy of `genotype` retrained stand-alone on the first ``--retrain-examples``
    images of train+validation (all by default)."""
    x, y = data[2]
    count = args.retrain_examples or len(x)
    _, accuracy = retrain_architecture(space, genotype, x[:count], y[:count], data[3],
                                       filters=args.retrain_filters, epochs=args.retrain_epochs,
                                       batch_size=args.retrain_batch_size, seed=seed)
    return accuracy


def kendall_tau(a, b):
    """Kendall's tau-a of two equally long sequences (ties count as neither)."""
    n, total = len(a), 0
    for i in range(n):
        for j in range(i + 1, n):
            total += np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
    return float(total / (n * (n - 1) / 2))


def _finished_project(path):
    """The tuner of a finished ``nasnet-search run --weight-sharing`` project, its validation
    split as the search scored it, and the final candidates in its journal."""
    from nasnet_search import cli, storage
    from nasnet_search.weight_sharing import JOURNAL

    config = storage.read_json(os.path.join(path, "search_config.json"))
    tuner = cli.make_weight_sharing_tuner(config, overwrite=False, verbose=0)
    if tuner.result is None:
        raise SystemExit(f"--project {path}: the search has not finished (no final choice).")
    tuner._make_steps(1)  # loads the saved shared weights
    _, (xv, yv), _ = cli._load_data(config)
    final = [r for r in storage.read_jsonl(os.path.join(path, JOURNAL)) if r["phase"] == "final"]
    return tuner, (np.asarray(xv, "float32"), np.asarray(yv, "int32")), final


def _ranked_architectures(space, final, count, rng):
    """``count`` of the search's final candidates spread over their range of subset scores
    (best, worst and evenly between), or random cells when there is no search."""
    if not final:
        return [space.random_actions(rng) for _ in range(count)]
    ordered = sorted(final, key=lambda r: -r["reward"])
    picks = np.unique(np.linspace(0, len(ordered) - 1, count).round().astype(int))
    return [ordered[i]["actions"] for i in picks]


def ranking(args, space, directory):
    """Kendall tau between supernet scores and stand-alone retrained accuracy: after a
    random-search-with-weight-sharing run of ``--search-seconds``, for random cells; or, with
    ``--project``, for the final candidates of that finished search (scored again on its
    validation split by its trained supernet)."""
    data = _digits()
    rng = np.random.default_rng(100)
    final = []
    if args.project:
        tuner, validation, final = _finished_project(args.project)
        space = tuner.space
    else:
        tuner = _search(space, "random", 0, args.search_seconds, data, directory)
        validation = (data[1][0].astype("float32"), data[1][1].astype("int32"))
    full = tuner._batches(*validation)
    rows = []
    for actions in _ranked_architectures(space, final, args.architectures, rng):
        shared = tuner._score(actions, full)
        accuracy = _retrain(args, space, space.decode_actions(actions), data, seed=0)
        rows.append((shared, accuracy))
        keras.backend.clear_session()
    tau = kendall_tau([r[0] for r in rows], [r[1] for r in rows])
    return {"architectures": len(rows), "epochs": tuner.epoch, "kendall_tau": round(tau, 3),
            "pairs": [[round(a, 4), round(b, 4)] for a, b in rows]}


def quality(args, space, directory):
    data = _digits()
    out = {"reinforce_ws": [], "random_ws": [], "random_cell": []}
    for seed in args.seeds:
        cells = {}
        for algorithm, key in (("reinforce", "reinforce_ws"), ("random", "random_ws")):
            tuner = _search(space, algorithm, seed, args.search_seconds, data, directory)
            cells[key] = tuner.best_architecture()
            del tuner
            keras.backend.clear_session()
        cells["random_cell"] = space.decode_actions(
            space.random_actions(np.random.default_rng(seed + 1)))
        for key, genotype in cells.items():
            accuracy = _retrain(args, space, genotype, data, seed)
            out[key].append(round(accuracy, 4))
            keras.backend.clear_session()
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in out.items()),
              flush=True)
    summary = {k: {"accuracies": v, "mean": round(float(np.mean(v)), 4),
                   "std": round(float(np.std(v)), 4)} for k, v in out.items()}
    return {"search_seconds": args.search_seconds, "retrain_filters": args.retrain_filters,
            "retrain_epochs": args.retrain_epochs, "retrain_examples": args.retrain_examples,
            "retrain_batch_size": args.retrain_batch_size} | summary


def learning(args, space, directory):
    data = _digits()
    (x, y), (xv, yv) = data[0], data[1]
    x, xv, y, yv = x.astype("float32"), xv.astype("float32"), y.astype("int32"), yv.astype("int32")
    tuner = _tuner(space, "switch", directory, len(x) // BATCH)
    net, ops = tuner.supernet, tuner.steps
    initial = ops.state_arrays()
    rng = np.random.default_rng(0)
    fixed = space.random_actions(rng)
    validation = tuner._batches(xv, yv)
    out = {}
    pool = [space.random_actions(rng) for _ in range(args.pool)]
    for mode in ("fixed_path", "random_paths"):
        ops.load_arrays(initial)
        curve = []
        for _ in range(args.epochs):
            order, right = rng.permutation(len(x)), 0.0
            for step in range(len(x) // BATCH):
                idx = order[step * BATCH:(step + 1) * BATCH]
                actions = (fixed if mode == "fixed_path" else
                           pool[rng.integers(len(pool))] if pool else space.random_actions(rng))
                right += float(ops.train_step(x[idx], y[idx], net.encode_actions(actions))[1])
            curve.append(round(right / (len(x) // BATCH * BATCH), 3))
            print(f"{mode}: epoch {len(curve)} train accuracy {curve[-1]}", flush=True)
        paths = [fixed] if mode == "fixed_path" else pool or [space.random_actions(rng)
                                                               for _ in range(20)]
        scores = [tuner._score(actions, validation) for actions in paths]
        out[mode] = {"train_accuracy": curve,
                     "validation_accuracy_mean": round(float(np.mean(scores)), 3),
                     "validation_accuracy_max": round(float(np.max(scores)), 3)}
    return {"epochs": args.epochs, "steps_per_epoch": len(x) // BATCH, "pool": args.pool} | out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="enas")
    parser.add_argument("--selection", nargs="+", default=["switch"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--archs", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--ranking", action="store_true")
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--learning", action="store_true")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--pool", type=int, default=0,
                        help="--learning: draw the random paths from this many fixed ones (0: "
                             "a new path per batch)")
    parser.add_argument("--architectures", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--search-seconds", type=float, default=180.0)
    parser.add_argument("--retrain-epochs", type=int, default=6)
    parser.add_argument("--retrain-filters", type=int, default=12)
    parser.add_argument("--retrain-examples", type=int, default=None,
                        help="retrain on this many train+validation images (default: all; "
                             "300 with --retrain-epochs 10 --retrain-filters 8 "
                             "--retrain-batch-size 32 is the NASNet-B/C proxy, which separates "
                             "cells)")
    parser.add_argument("--retrain-batch-size", type=int, default=64)
    parser.add_argument("--directory", default="/tmp/nasnet_ws_benchmark")
    parser.add_argument("--project", default=None,
                        help="--ranking: rank the final candidates of this finished "
                             "`nasnet-search run --weight-sharing` project instead of searching")
    args = parser.parse_args()
    if args.ranking or args.quality or args.learning:
        space = NASNetSearchSpace.preset(args.preset)
        out = {}
        if args.learning:
            out["learning"] = learning(args, space, args.directory)
        if args.ranking:
            out["ranking"] = ranking(args, space, args.directory)
        if args.quality:
            out["quality"] = quality(args, space, args.directory)
        print(json.dumps(out, indent=1))
        return
    (x, y), (xv, yv), _ = load_dataset("digits", 32)
    x, xv = x.astype("float32"), xv.astype("float32")
    y, yv = y.astype("int32"), yv.astype("int32")
    space = NASNetSearchSpace.preset(args.preset)
    rng = np.random.default_rng(0)
    out = {"preset": args.preset, "child": child_cost(space, x, y, args.steps, rng),
           "supernet": []}
    scorer = None
    for selection in args.selection:
        row, tuner = step_costs(space, selection, x, y, args.steps, rng, args.directory)
        for key in ("without_grappler", "with_grappler"):
            row[key]["ratio_to_child"] = round(row[key]["step_ms"] / out["child"]["step_ms"], 2)
        out["supernet"].append(row)
        if selection == "switch" or scorer is None:
            scorer = tuner
    out["scoring"] = scoring_overhead(scorer, xv, yv, args.archs)
    if args.json:
        print(json.dumps(out, indent=1))
        return
    child = out["child"]
    print(f"stand-alone child: {child['step_ms']} ms/step, traced in "
          f"{child['trace_and_first_step_s']} s, {child['variables']} variables")
    for row in out["supernet"]:
        for key in ("without_grappler", "with_grappler"):
            r = row[key]
            print(f"supernet ({row['selection']}, {key.replace('_', ' ')}): {r['step_ms']} "
                  f"ms/step = {r['ratio_to_child']}x the child, first call {r['first_call_s']} "
                  f"s, {row['variables']} variables")
    s = out["scoring"]
    print(f"scoring: {s['per_architecture_ms']} ms per architecture ({s['score_steps_ms']} ms of "
          f"score steps, {s['overhead_ms']} ms overhead): {s['architectures_per_minute']} per "
          "minute")


if __name__ == "__main__":
    main()
