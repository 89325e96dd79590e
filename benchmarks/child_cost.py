"""A child's fixed cost: time outside steady-state training, before and after, same run.

    python benchmarks/child_cost.py [--cases proxy cifar mobile] [--children 2] [--json]
    python benchmarks/child_cost.py --pieces [--cases proxy] [--children 3]

"before" is how `NASTuner` trained children before issue 13: Keras' Adam and
Keras' BatchNormalization, variables created by the first trace (so TensorFlow
traces the train step twice).  "after" is the default now: `nasnet_keras.FusedAdam`,
`nasnet_keras.FusedBatchNormalization`, `prepare_training` and
`short_run_graph_optimization` (one trace, of one graph, one fused op per variable and
per normalization, no Grappler on CPU; where fit validates, the test step traced during
the first epoch), built under `quick_variable_creation`, with the modules' objects frozen
out of Python's garbage collection, TensorFlow's kernel cache kept across children and
no Python traceback recorded per op and each form of cell operation traced once and copied
(`reused_operation_graphs`, its record kept from one "after" child to the next), as
`NASTuner` trains children (but with Python's automatic full collections left on, which
`NASTuner.search` turns off).  Children of
the two kinds alternate in one process, as a search's children follow each other;
each row is the median over children.

- proxy: a NASNet-space child (N = 1, F = 8, 32 px, about 200 variables) on
  digits (1,149 train / 288 validation images, batch 64), 2 epochs;
- cifar: NASNet-A, CIFAR stem, N = 2, F = 16, same data, 2 epochs;
- mobile: NASNet-A mobile at 224 px, batch 8, 2 epochs of 8 steps, no validation.

``--pieces`` times the "after" child's fixed cost piece by piece instead: building,
compiling and preparing it, tracing the train and test functions that ``fit`` runs
(`prepare_training`'s, outside ``fit``), and the first and second call of each on one
batch (the first call adds the graph's instantiation and the kernels' creation, and
Grappler where it runs).

Fixed cost = build + first epoch - second epoch (what the child pays before it
trains at full speed).  Share = fixed cost / (build + both epochs): the part of a
2-epoch trial spent outside fit's steady state; share1 = fixed cost / (build + first
epoch), the same for a 1-epoch trial (`nasnet-search run`'s default).
"""

import argparse
import contextlib
import gc
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import nasnet_keras as nk  # noqa: E402
from nasnet_search.graph_options import (  # noqa: E402
    short_run_graph_optimization, without_op_tracebacks)
from nasnet_search.tuner import clear_session_keeping_settings  # noqa: E402
from nasnet_keras.operation_graphs import OperationGraphs, reused_operation_graphs  # noqa: E402
from nasnet_keras.optimizers import prepare_training  # noqa: E402
from nasnet_keras.variable_creation import quick_variable_creation  # noqa: E402


def _digits():
    from nasnet_keras.demo import load_digits_dataset

    (x, y), _ = load_digits_dataset(size=32, seed=0)
    cut = int(0.8 * len(x))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def _cases():
    from nasnet_search import NASNetSearchSpace

    space = NASNetSearchSpace()
    arch = space.decode_actions(space.random_actions(np.random.default_rng(0)))
    digits = _digits()
    rng = np.random.default_rng(0)
    big = (rng.normal(size=(64, 224, 224, 3)).astype("float32"), rng.integers(0, 10, 64))
    return {
        "proxy": (lambda: space.build_model(arch, input_shape=(32, 32, 3), classes=10,
                                            num_cells=1, filters=8),
                  digits[0], dict(validation_data=digits[1], batch_size=64)),
        "cifar": (lambda: nk.NASNet(num_cells=2, penultimate_filters=384, stem="cifar",
                                    input_shape=(32, 32, 3), classes=10, bn_momentum=0.9),
                  digits[0], dict(validation_data=digits[1], batch_size=64)),
        "mobile": (lambda: nk.NASNetA("mobile", input_shape=(224, 224, 3), classes=10),
                   big, dict(batch_size=8)),
    }


@contextlib.contextmanager
def _keras_batch_norm():
    """Blocks built meanwhile use keras.layers.BatchNormalization, as before issue 13."""
    import nasnet_keras.layers
    import nasnet_keras.model

    fused = nasnet_keras.layers.make_bn

    def keras_bn(momentum, epsilon, name=None):
        return keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, name=name)

    nasnet_keras.layers.make_bn = nasnet_keras.model.make_bn = keras_bn
    try:
        yield
    finally:
        nasnet_keras.layers.make_bn = nasnet_keras.model.make_bn = fused


@contextlib.contextmanager
def _fresh_session(freeze):
    """A cleared Keras session and collected garbage, as NASTuner starts each child; with
    ``freeze`` ("after"), cleared as NASTuner clears (TensorFlow's kernel cache kept), what
    survives kept out of the collector and ops made without their Python tracebacks, as
    NASTuner.search does."""
    if freeze:
        clear_session_keeping_settings()
    else:
        keras.backend.clear_session()
    gc.collect()
    if freeze:
        gc.freeze()
    try:
        with without_op_tracebacks() if freeze else contextlib.nullcontext():
            yield
    finally:
        if freeze:
            gc.unfreeze()


def _step_spec(data):
    import tensorflow as tf

    x, y = data
    return (tf.TensorSpec((None, *x.shape[1:]), tf.float32), tf.TensorSpec((None,), y.dtype))


def _compile(model, data, after, validates=False):
    optimizer = nk.FusedAdam(3e-3) if after else keras.optimizers.Adam(3e-3)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    if after:  # as NASTuner prepares a child
        prepare_training(model, *data, will_evaluate=validates)


# The operation graphs the "after" children trace and copy, kept from child to child as
# through a search (`NASTuner.search`); "before" children trace every op themselves.
_OPERATION_GRAPHS = OperationGraphs()


def _operation_graphs(after):
    return reused_operation_graphs(_OPERATION_GRAPHS) if after else contextlib.nullcontext()


def one_child(build, data, fit_kwargs, after):
    with _fresh_session(freeze=after), _operation_graphs(after):
        return _timed_child(build, data, fit_kwargs, after)


def _timed_child(build, data, fit_kwargs, after):
    start = time.perf_counter()
    with quick_variable_creation() if after else _keras_batch_norm():
        model = build()
    _compile(model, data, after, validates="validation_data" in fit_kwargs)
    traces = [0]
    step = model.train_step

    def counted(batch):
        traces[0] += 1  # Python runs only while TensorFlow traces
        return step(batch)

    model.train_step = counted
    built = time.perf_counter()
    marks = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            marks.append(time.perf_counter())

    with short_run_graph_optimization() if after else contextlib.nullcontext():
        model.fit(*data, epochs=2, verbose=0, callbacks=[Clock()], **fit_kwargs)
    first, second = marks[0] - built, marks[1] - marks[0]
    build = built - start
    model.train_step = step
    ops = _train_step_ops(model, data)
    fixed = build + first - second
    return {"build_s": build, "first_epoch_s": first, "second_epoch_s": second,
            "fixed_s": fixed, "ratio": first / second, "share": fixed / (build + first + second),
            "share1": fixed / (build + first),
            "traces": traces[0], "variables": len(model.trainable_variables), "ops": ops}


def _train_step_ops(model, data):
    """Operations in the child's train step as traced (before Grappler), counted on a
    trace of its own after the timings."""
    import tensorflow as tf

    graph = tf.function(model.train_step).get_concrete_function(_step_spec(data)).graph
    return len(graph.get_operations())


def one_child_in_pieces(build, data, fit_kwargs):
    import tensorflow as tf

    with _fresh_session(freeze=True):
        clock = [time.perf_counter()]

        def lap():
            clock.append(time.perf_counter())
            return clock[-1] - clock[-2]

        times = {}
        with quick_variable_creation():
            model = build()
        times["build_s"] = lap()
        _compile(model, data, after=True)
        times["compile_prepare_s"] = lap()
        batches = tf.data.Dataset.from_tensor_slices(data).batch(fit_kwargs["batch_size"])
        iterator = iter(batches.repeat())
        lap()
        with short_run_graph_optimization():
            for name in ("train", "test"):
                function = getattr(model, f"{name}_function").on_iterator
                function = function.get_concrete_function(iterator)
                times[f"{name}_trace_s"] = lap()
                function(iterator)
                times[f"{name}_first_call_s"] = lap()
                function(iterator)
                times[f"{name}_second_call_s"] = lap()
        return times


def pieces(cases, names, children, as_json):
    rows = {}
    for name in names:
        build, data, fit_kwargs = cases[name]
        runs = [one_child_in_pieces(build, data, fit_kwargs) for _ in range(children)]
        rows[name] = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
        if not as_json:
            print(f"{name:7s} " + "  ".join(f"{k[:-2]} {v:.2f} s" for k, v in rows[name].items()),
                  flush=True)
    if as_json:
        print(json.dumps(rows))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["proxy", "cifar", "mobile"])
    parser.add_argument("--children", type=int, default=2, help="children of each kind, per case")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--pieces", action="store_true",
                        help="time the 'after' child's fixed cost piece by piece")
    args = parser.parse_args(argv)
    cases = _cases()
    unknown = sorted(set(args.cases) - set(cases))
    if unknown:
        parser.error(f"--cases: unknown {unknown}; choose from {sorted(cases)}")
    if args.pieces:
        return pieces(cases, args.cases, args.children, args.json)
    rows = {}
    for name in args.cases:
        build, data, fit_kwargs = cases[name]
        runs = {"before": [], "after": []}
        for _ in range(args.children):  # alternate, so both see the same process state
            for label in ("before", "after"):
                runs[label].append(one_child(build, data, fit_kwargs, label == "after"))
        for label, results in runs.items():
            rows[f"{name} {label}"] = {k: round(statistics.median(r[k] for r in results), 3)
                                       for k in results[0]}
            if not args.json:
                r = rows[f"{name} {label}"]
                print(f"{name:7s} {label:6s} vars {r['variables']:5.0f}  ops {r['ops']:5.0f}  "
                      f"traces {r['traces']:.0f}  "
                      f"build {r['build_s']:6.1f} s  epoch 1 {r['first_epoch_s']:6.1f} s  "
                      f"epoch 2 {r['second_epoch_s']:6.1f} s  ratio {r['ratio']:4.1f}  "
                      f"fixed {r['fixed_s']:6.1f} s  share {r['share']:.0%}  "
                      f"share1 {r['share1']:.0%}", flush=True)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    sys.exit(main())
