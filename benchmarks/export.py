"""Export parity of NASNet-A mobile (224 px): SavedModel, TFLite float32 and int8.

    python benchmarks/export.py [--images 64] [--weights PATH]

Without ``--weights`` the network keeps random weights with BatchNorm
statistics measured on the images (one training-mode pass), so that
activations have realistic ranges for int8 calibration; with the real
ImageNet file the numbers describe the released model.  Images: digits
resized to 224 px (half calibrate int8, half are scored).
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import nasnet_keras as nk  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--weights", default=None, help="keras.applications NASNet-mobile .h5")
    args = parser.parse_args()
    model = nk.NASNetA("mobile", weights=args.weights)
    (x, _), _, _ = nk.load_arrays("digits", image_size=224, max_examples=args.images)
    calibration, scored = x[: args.images // 2], x[args.images // 2: args.images]
    if args.weights is None:
        import keras

        # Fresh BatchNorm statistics from the images (momentum 0: this batch's moments).
        for layer in model._flatten_layers():
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.0
        model(calibration, training=True)
    reference = np.asarray(model.predict(scored, verbose=0))
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        start = time.time()
        saved = nk.export_saved_model(model, os.path.join(directory, "saved_model"))
        out = nk.saved_model_outputs(saved, scored)
        rows.append(("SavedModel", out, time.time() - start, None))
        for quantization in (None, "int8"):
            start = time.time()
            path = nk.export_tflite(model, os.path.join(directory, f"{quantization}.tflite"),
                                    quantization=quantization, representative_data=calibration)
            out = nk.tflite_outputs(path, scored)
            rows.append((f"TFLite {quantization or 'float32'}", out, time.time() - start,
                         os.path.getsize(path)))
    print(f"NASNet-A mobile, {len(scored)} scored images, weights: {args.weights or 'random'}")
    print("| format | max abs difference | top-1 agreement | file size | export + run time |")
    print("|---|---|---|---|---|")
    for name, out, seconds, size in rows:
        size_text = f"{size / 2**20:.1f} MiB" if size else "-"
        print(f"| {name} | {np.max(np.abs(out - reference)):.2e} | "
              f"{np.mean(out.argmax(1) == reference.argmax(1)):.3f} | {size_text} | {seconds:.0f} s |")


if __name__ == "__main__":
    main()
