"""Export parity of NASNet-A mobile (224 px): SavedModel, TFLite float32 and int8.

    python benchmarks/export.py [--images 64] [--train-images 256] [--weights PATH]

Without ``--weights`` (the ImageNet file cannot be downloaded here) the
backbone keeps random weights, with BatchNorm statistics measured on digit
images so that activations have realistic ranges; a 10-class head is trained
on its pooled features, so that top-1 agreement means something (a random
1000-class head gives near-uniform outputs whose argmax any rounding flips).
Images: digits resized to 224 px; ``--images`` are split between int8
calibration and scoring.
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
    parser.add_argument("--train-images", type=int, default=256, help="for the 10-class head")
    parser.add_argument("--weights", default=None, help="keras.applications NASNet-mobile .h5")
    args = parser.parse_args()
    import keras

    (x, y), (x_val, _), _ = nk.load_arrays("digits", image_size=224,
                                          max_examples=args.train_images)
    calibration, scored = x_val[: args.images // 2], x_val[args.images // 2: args.images]
    backbone = nk.NASNetA("mobile", weights=args.weights, include_top=False, pooling="avg",
                          input_shape=(224, 224, 3))
    if args.weights is None:
        # BatchNorm statistics from the images (momentum 0: this batch's moments).
        for layer in backbone._flatten_layers():
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.0
        backbone(x[:64], training=True)
    features = backbone.predict(x, batch_size=32, verbose=0)
    head = keras.Sequential([keras.Input(features.shape[1:]),
                             keras.layers.Dense(10, activation="softmax")])
    head.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    head.fit(features, y, epochs=100, batch_size=64, verbose=0)
    model = keras.Model(backbone.input, head(backbone.output), name="nasnet_a_mobile_digits")
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
    print(f"NASNet-A mobile with a digits head, {len(scored)} scored images, backbone weights: "
          f"{args.weights or 'random, BatchNorm statistics from digits'}")
    print("| format | max abs difference | top-1 agreement | file size | export + run time |")
    print("|---|---|---|---|---|")
    for name, out, seconds, size in rows:
        size_text = f"{size / 2**20:.1f} MiB" if size else "-"
        print(f"| {name} | {np.max(np.abs(out - reference)):.2e} | "
              f"{np.mean(out.argmax(1) == reference.argmax(1)):.3f} | {size_text} | {seconds:.0f} s |")


if __name__ == "__main__":
    main()
