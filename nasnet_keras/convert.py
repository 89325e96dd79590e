"""Weight conversion command: ``python -m nasnet_keras.convert`` (``nasnet-keras-convert``).

    convert INPUT --variant mobile|large [--no-top] [--use-ema] --output OUT.h5
        INPUT is a keras.applications NASNet .h5, a TF-slim checkpoint prefix
        (``.../model.ckpt``) or a nasnet_keras weights file.  Every weight is
        mapped by name; the written file is reloaded and its outputs compared
        with the converted model, and, for keras.applications input, with
        keras.applications itself.  The max abs differences are printed.
    manifest
        Print the weights registry as JSON (``pretrained/manifest.json``).
"""

import argparse
import json
import sys

import numpy as np


def _probe(size, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (2, size, size, 3)).astype("float32")


def convert(input_path, variant, output, include_top=True, use_ema=False, pad_mode="keras"):
    import nasnet_keras as nk
    from nasnet_keras.configs import NASNET_A_CONFIGS
    from nasnet_keras.weights.keras_h5 import is_keras_app_h5
    from nasnet_keras.weights.loading import assign_weights, read_weights

    size = NASNET_A_CONFIGS[variant].default_size
    build = lambda: nk.NASNetA(variant, include_top=include_top, pad_mode=pad_mode,  # noqa: E731
                               input_shape=(size, size, 3))
    arrays, source = read_weights(input_path, use_ema=use_ema)
    model = build()
    assign_weights(model, arrays, source=source)
    nk.save_weights(model, output, metadata={
        "variant": variant, "include_top": include_top, "pad_mode": pad_mode,
        "source": f"{source} {input_path}", "use_ema": use_ema,
    })
    x = _probe(size)
    expected = model.predict(x, verbose=0)
    reloaded = build()
    nk.load_weights(reloaded, output)
    report = {"output": output, "source": source, "params": model.count_params(),
              "reload_max_abs_diff": float(np.abs(reloaded.predict(x, verbose=0) - expected).max())}
    if is_keras_app_h5(input_path):
        import keras

        app_cls = keras.applications.NASNetMobile if variant == "mobile" else keras.applications.NASNetLarge
        app = app_cls(weights=None, include_top=include_top, input_shape=(size, size, 3))
        app.load_weights(input_path)
        report["keras_applications_max_abs_diff"] = float(
            np.abs(app.predict(x, verbose=0) - expected).max())
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="nasnet-keras-convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert", help="convert a weight file to this project's format")
    c.add_argument("input")
    c.add_argument("--variant", choices=["mobile", "large"], required=True)
    c.add_argument("--output", required=True)
    c.add_argument("--no-top", action="store_true")
    c.add_argument("--use-ema", action="store_true", help="TF-slim: take the EMA shadows")
    c.add_argument("--pad-mode", choices=["keras", "tf"], default="keras")
    sub.add_parser("manifest", help="print the weights registry as JSON")
    args = parser.parse_args(argv)
    if args.command == "manifest":
        from nasnet_keras.weights.registry import WEIGHTS

        json.dump({k: WEIGHTS[k].to_dict() for k in sorted(WEIGHTS)}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    report = convert(args.input, args.variant, args.output, include_top=not args.no_top,
                     use_ema=args.use_ema, pad_mode=args.pad_mode)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
