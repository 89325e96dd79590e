"""The ``nasnet-keras`` command: ``finetune`` a NASNet on your data, ``export`` it,
``benchmark`` its inference backends.

``finetune`` writes to ``--output``: ``model.keras``, ``curves.png`` (loss and
accuracy per epoch) and ``metrics.json`` (final validation metrics, data and
timing).  ``export`` writes a SavedModel or a ``.tflite`` file and prints its
parity with the Keras model on validation images.  ``benchmark`` prints images per
second of TensorFlow and TFLite (float32, float16, int8) on this machine, same run.
"""

import argparse
import json
import os
import sys
import time

VARIANTS = ("NASNetA:mobile", "NASNetA:large", "NASNetA:cifar", "NASNetB:mobile", "NASNetB:cifar",
            "NASNetC:mobile", "NASNetC:cifar")
EXPORT_FORMATS = ("saved_model", "tflite", "tflite-float16", "tflite-int8")


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _add_genotype_args(parser):
    """How a ``--model GENOTYPE.json`` becomes a network."""
    parser.add_argument("--num-cells", type=_positive_int, default=2, help="GENOTYPE.json: N")
    parser.add_argument("--penultimate-filters", type=_positive_int, default=192,
                        help="GENOTYPE.json: P")
    parser.add_argument("--stem", choices=("cifar", "imagenet"), default="cifar",
                        help="GENOTYPE.json: stem")


def build_parser():
    parser = argparse.ArgumentParser(prog="nasnet-keras", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    tune = sub.add_parser("finetune", help="fine-tune a NASNet on a data set")
    tune.add_argument("--model", default="NASNetA:mobile",
                      help=f"{' | '.join(VARIANTS)} | GENOTYPE.json | MODEL.keras")
    tune.add_argument("--weights", default=None,
                      help="imagenet | PATH (NASNet-A variants, genotypes); default: none")
    tune.add_argument("--data", default="digits", help="digits | tfds:NAME | folder:PATH")
    tune.add_argument("--data-dir", default=None, help="tensorflow-datasets data_dir")
    tune.add_argument("--image-size", type=_positive_int, default=None,
                      help="default: the variant's size (224 mobile, 331 large, 32 otherwise)")
    tune.add_argument("--epochs", type=_positive_int, default=4, help="both phases together")
    tune.add_argument("--head-epochs", type=_non_negative_int, default=None,
                      help="phase 1, backbone frozen (default: half of --epochs, rounded up)")
    tune.add_argument("--unfreeze-from", default=None,
                      help="first endpoint trained in phase 2 (default: the last reduction cell)")
    tune.add_argument("--batch-size", type=_positive_int, default=32)
    tune.add_argument("--learning-rate", type=float, default=1e-3, help="phase 1 (Adam)")
    tune.add_argument("--finetune-learning-rate", type=float, default=1e-4, help="phase 2 (Adam)")
    tune.add_argument("--dropout", type=float, default=0.0, help="before the new classifier")
    tune.add_argument("--drop-path-keep-prob", type=float, default=1.0,
                      help="ScheduledDropPath during fine-tuning (NASNet-A variants, genotypes)")
    tune.add_argument("--aux-head", action="store_true", help="train with an auxiliary head too")
    tune.add_argument("--augment", action="store_true", help="random crop with padding and flip")
    tune.add_argument("--new-head", action="store_true",
                      help="MODEL.keras only: replace its classifier for the data's classes")
    _add_genotype_args(tune)
    tune.add_argument("--max-examples", type=_positive_int, default=None)
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--output", default="finetuned", help="folder for the results")

    export = sub.add_parser("export", help="SavedModel or TFLite, with a parity check")
    export.add_argument("--model", required=True, help="MODEL.keras")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="saved_model")
    export.add_argument("--data", default="digits",
                        help="images for the parity check and int8 calibration")
    export.add_argument("--data-dir", default=None)
    export.add_argument("--examples", type=_positive_int, default=64,
                        help="validation images for parity and calibration")
    export.add_argument("--output", required=True, help="a folder (saved_model) or a .tflite file")
    bench = sub.add_parser("benchmark", help="images/s of TensorFlow and TFLite on this machine")
    bench.add_argument("--model", default="NASNetA:mobile",
                       help=f"{' | '.join(VARIANTS)} | GENOTYPE.json | MODEL.keras (random "
                            "weights for the first two: speed does not depend on them)")
    bench.add_argument("--image-size", type=_positive_int, default=None,
                       help="default: 224 (mobile), 331 (large), 32 (cifar, GENOTYPE.json)")
    _add_genotype_args(bench)
    bench.add_argument("--batch", type=_positive_int, nargs="+", default=[1, 32])
    bench.add_argument("--backends", default="tf,tflite",
                       help="comma-separated: tf, tflite, tflite-float16, tflite-int8")
    bench.add_argument("--calibration-data", default=None,
                       help="tflite-int8: digits | tfds:NAME | folder:PATH, or 'random' "
                            "(uniform noise: right for speed, not for accuracy)")
    bench.add_argument("--threads", type=_positive_int, default=None,
                       help="TFLite threads (default: every usable CPU)")
    bench.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    bench.add_argument("--rounds", type=_positive_int, default=3, help="interleaved rounds")
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


# -- finetune ------------------------------------------------------------------------------------
def _variant_model(model_spec, **kwargs):
    """``"NASNetB:cifar"`` -> ``nk.NASNetB("cifar", **kwargs)``."""
    import nasnet_keras as nk

    entry, variant = model_spec.split(":")
    return getattr(nk, entry)(variant, **kwargs)


def _default_size(model_spec):
    """The variant's own input size; 32 for anything else (genotypes, .keras files)."""
    from nasnet_keras.configs import CONFIGS_BY_FAMILY

    if model_spec not in VARIANTS:
        return 32
    entry, variant = model_spec.split(":")
    return CONFIGS_BY_FAMILY[entry[len("NASNet"):]][variant].default_size


def _load_genotype(path):
    import nasnet_keras as nk

    try:
        with open(path, encoding="utf8") as f:
            return nk.Genotype.from_json(f.read())
    except FileNotFoundError:
        raise SystemExit(f"nasnet-keras: --model {path!r}: no such file.") from None
    except (ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"nasnet-keras: --model {path!r} is not a valid genotype: {e}") from None


def build_model(args, classes, image_size):
    """The model to fine-tune, with a head for ``classes`` classes."""
    import keras

    import nasnet_keras as nk

    shape = (image_size, image_size, 3)
    extra = dict(drop_path_keep_prob=args.drop_path_keep_prob, aux_head=args.aux_head)
    if args.model in VARIANTS:
        base = _variant_model(args.model, weights=args.weights, include_top=args.aux_head,
                              input_shape=shape, **extra)
        return nk.replace_head(base, classes, dropout=args.dropout)
    if args.model.endswith(".json"):
        genotype = _load_genotype(args.model)
        base = nk.NASNet(genotype=genotype, num_cells=args.num_cells,
                         penultimate_filters=args.penultimate_filters, stem=args.stem,
                         input_shape=shape, include_top=args.aux_head, weights=args.weights,
                         classes=classes, **extra)
        return nk.replace_head(base, classes, dropout=args.dropout)
    if args.model.endswith(".keras"):
        if not os.path.exists(args.model):
            raise SystemExit(f"nasnet-keras: --model {args.model!r}: no such file.")
        model = keras.saving.load_model(args.model, compile=False)
        if args.new_head:
            return nk.replace_head(model, classes, dropout=args.dropout)
        nk.check_head(model, classes, data=args.data)
        return model
    raise SystemExit(f"nasnet-keras: --model must be {' | '.join(VARIANTS)} | GENOTYPE.json | "
                     f"MODEL.keras, got {args.model!r}.")


def _plot_curves(histories, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logs = {}
    for history in histories:
        if history is not None:
            for key, values in history.history.items():
                logs.setdefault(key, []).extend(values)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for key in (metric, f"val_{metric}"):
            if key in logs:
                ax.plot(range(1, len(logs[key]) + 1), logs[key], marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        if ax.lines:  # no curve of this metric (e.g. no accuracy logged): no empty legend
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def cmd_finetune(args):
    import keras

    import nasnet_keras as nk
    from nasnet_keras.data import load_data
    from nasnet_keras.weight_files import quick_weight_files

    keras.utils.set_random_seed(args.seed)
    size = args.image_size or _default_size(args.model)
    try:
        train, val, info = load_data(args.data, image_size=size, batch_size=args.batch_size,
                                     augment=args.augment, seed=args.seed, data_dir=args.data_dir,
                                     max_examples=args.max_examples)
    except ValueError as e:
        raise SystemExit(f"nasnet-keras: {e}") from None
    try:
        model = build_model(args, info.classes, size)
    except ValueError as e:  # weights that do not fit, a head for other classes, bad sizes
        raise SystemExit(f"nasnet-keras: {e}") from None
    plain_val = val
    if isinstance(model.output, (list, tuple)):
        train, val = nk.duplicate_targets(train), nk.duplicate_targets(val)
    head = (args.epochs + 1) // 2 if args.head_epochs is None else min(args.head_epochs, args.epochs)
    print(f"Fine-tuning {model.name} ({model.count_params():,} parameters) on {args.data}: "
          f"{info.train_examples} train / {info.validation_examples} validation images, "
          f"{info.classes} classes, {size} px; {head} head + {args.epochs - head} fine-tuning "
          "epochs.", flush=True)
    start = time.time()
    histories = nk.two_phase_finetune(
        model, train, val, head_epochs=head, finetune_epochs=args.epochs - head,
        unfreeze_from=args.unfreeze_from, head_learning_rate=args.learning_rate,
        finetune_learning_rate=args.finetune_learning_rate, classes=info.classes, verbose=1)
    seconds = time.time() - start
    os.makedirs(args.output, exist_ok=True)
    final = nk.without_aux_head(model)  # what is saved and deployed
    final.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    results = final.evaluate(plain_val, verbose=0, return_dict=True)
    metrics = {"data": args.data, "model": args.model, "weights": args.weights,
               "classes": info.classes, "image_size": size,
               "train_examples": info.train_examples,
               "validation_examples": info.validation_examples,
               "epochs": {"head": head, "finetune": args.epochs - head},
               "validation": {k: float(v) for k, v in results.items()},
               "train_seconds": round(seconds, 1)}
    paths = {"model": os.path.join(args.output, "model.keras"),
             "curves": os.path.join(args.output, "curves.png"),
             "metrics": os.path.join(args.output, "metrics.json")}
    # Saved uncompiled: a compiled copy would carry an optimizer that never ran, whose
    # missing variables Keras warns about at every load.
    with quick_weight_files():
        keras.Model(final.inputs, final.outputs, name=final.name).save(paths["model"])
    _plot_curves(histories.values(), paths["curves"])
    with open(paths["metrics"], "w", encoding="utf8") as f:
        json.dump(metrics, f, indent=1)
    print(f"validation {json.dumps(metrics['validation'])}; wrote {', '.join(paths.values())}")
    return paths


# -- export --------------------------------------------------------------------------------------
def cmd_export(args):
    import keras
    import numpy as np

    from nasnet_keras import export
    from nasnet_keras.data import load_arrays

    if not os.path.exists(args.model):
        raise SystemExit(f"nasnet-keras: --model {args.model!r}: no such file.")
    model = keras.saving.load_model(args.model, compile=False)
    size = model.input_shape[1]
    try:
        _, (x, _), _ = load_arrays(args.data, image_size=size, data_dir=args.data_dir,
                                   max_examples=args.examples)
    except ValueError as e:
        raise SystemExit(f"nasnet-keras: {e}") from None
    x = x[:args.examples]
    reference = np.asarray(model.predict(x, verbose=0))
    if args.format == "saved_model":
        path = export.export_saved_model(model, args.output)
        outputs = export.saved_model_outputs(path, x)
    else:
        quantization = {"tflite": None, "tflite-float16": "float16",
                        "tflite-int8": "int8"}[args.format]
        path = export.export_tflite(model, args.output, quantization=quantization,
                                    representative_data=x)
        outputs = export.tflite_outputs(path, x)
    parity = {"format": args.format, "path": path, "examples": len(x),
              "max_abs_difference": float(np.max(np.abs(outputs - reference))),
              "top1_agreement": float(np.mean(outputs.argmax(-1) == reference.argmax(-1)))}
    print(json.dumps(parity))
    return parity


# -- benchmark -----------------------------------------------------------------------------------
def _benchmark_model(args):
    import keras

    import nasnet_keras as nk

    if args.model in VARIANTS:
        size = args.image_size or _default_size(args.model)
        return _variant_model(args.model, weights=None, input_shape=(size, size, 3))
    if args.model.endswith(".json"):
        size = args.image_size or 32
        return nk.NASNet(genotype=_load_genotype(args.model), num_cells=args.num_cells,
                         penultimate_filters=args.penultimate_filters, stem=args.stem,
                         input_shape=(size, size, 3), classes=10)
    if args.model.endswith(".keras"):
        if not os.path.exists(args.model):
            raise SystemExit(f"nasnet-keras: --model {args.model!r}: no such file.")
        return keras.saving.load_model(args.model, compile=False)
    raise SystemExit(f"nasnet-keras: --model must be {' | '.join(VARIANTS)} | GENOTYPE.json | "
                     f"MODEL.keras, got {args.model!r}.")


def cmd_benchmark(args):
    import numpy as np

    from nasnet_keras.benchmark import BACKENDS, benchmark_backends, check_backends, format_table

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    try:  # before the model is built
        check_backends(backends)
    except ValueError:
        raise SystemExit(f"nasnet-keras: --backends must list some of {', '.join(BACKENDS)} "
                         f"(comma-separated), got {args.backends!r}.") from None
    if "tflite-int8" in backends and args.calibration_data is None:
        raise SystemExit("nasnet-keras: --backends tflite-int8 needs --calibration-data (images "
                         "to calibrate int8 ranges: digits | tfds:NAME | folder:PATH, or "
                         "'random' to time it only).")
    if args.calibration_data not in (None, "random"):
        from nasnet_keras.data import _check_spec

        try:  # before the model is built: a typo should not cost a minute
            _check_spec(args.calibration_data, "--calibration-data")
        except ValueError as e:
            raise SystemExit(f"nasnet-keras: {e}") from None
    model = _benchmark_model(args)
    shape = tuple(model.inputs[0].shape[1:])
    calibration = None
    if args.calibration_data == "random":
        calibration = np.random.default_rng(0).uniform(-1, 1, (32, *shape)).astype("float32")
    elif args.calibration_data is not None and "tflite-int8" in backends:
        from nasnet_keras.data import load_arrays

        try:
            (calibration, _), _, _ = load_arrays(args.calibration_data, image_size=shape[0],
                                                 max_examples=100, argument="--calibration-data")
        except ValueError as e:
            raise SystemExit(f"nasnet-keras: {e}") from None
    rows = benchmark_backends(model, batches=args.batch, backends=backends,
                              seconds=args.seconds, rounds=args.rounds,
                              calibration_data=calibration, num_threads=args.threads)
    if args.json:
        print(json.dumps({"model": args.model, "input_shape": list(shape), "rows": rows}))
    else:
        print(f"{args.model}, input {shape}, {os.cpu_count()} CPUs, median of {args.rounds} "
              f"interleaved rounds:")
        print(format_table(rows))
    return rows


def run_command(argv=None):
    """Parse ``argv`` and run the command; return what it produced (paths, parity, rows)."""
    args = build_parser().parse_args(argv)
    return {"finetune": cmd_finetune, "export": cmd_export,
            "benchmark": cmd_benchmark}[args.command](args)


# Errors that mean "this input cannot work", said in one line; anything else is a bug and
# keeps its traceback.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PermissionError)


def console_main(prog, run, argv=None):
    """A console script's body: 0 on success; a one-line message on stderr and a non-zero
    status on failure (1; 2 for bad arguments, argparse's; 130 when interrupted)."""
    try:
        run(argv)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as e:
        print(f"{prog}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - keras-tuner's fatal errors are the user's too
        if type(e).__module__.startswith("keras_tuner") and "Fatal" in type(e).__name__:
            print(f"{prog}: error: {' '.join(str(e).split())}", file=sys.stderr)
            return 1
        raise
    return 0


def main(argv=None):
    """``nasnet-keras``: exit status 0 on success (``sys.exit(main())``)."""
    return console_main("nasnet-keras", run_command, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
