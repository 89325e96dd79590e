"""The main job (``make demo``): train a small NASNet-A on scikit-learn's digits.

Runs offline: the data ship inside scikit-learn.  Prints held-out accuracy and
wall time.  ``python -m nasnet_keras.demo --help`` lists the knobs.
"""

import argparse
import time

import numpy as np


def load_digits_dataset(size=32, test_fraction=0.2, seed=0):
    """Digits (8x8, 10 classes) as RGB ``size``x``size`` images in [-1, 1]."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.images.astype("float32") / 16.0            # [0, 1]
    x = tf.image.resize(x[..., None], (size, size), method="bilinear").numpy()
    x = np.repeat(x, 3, axis=-1) * 2.0 - 1.0                # [-1, 1], as preprocess_input
    y = digits.target.astype("int32")
    order = np.random.default_rng(seed).permutation(len(x))
    split = int(len(x) * (1 - test_fraction))
    train, test = order[:split], order[split:]
    return (x[train], y[train]), (x[test], y[test])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-cells", type=int, default=2, help="N (cells per stage)")
    parser.add_argument("--penultimate-filters", type=int, default=192, help="P")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import keras

    import nasnet_keras as nk

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_digits_dataset(seed=args.seed)
    model = nk.NASNet(genotype=nk.NASNET_A, num_cells=args.num_cells,
                      penultimate_filters=args.penultimate_filters, stem="cifar",
                      input_shape=(32, 32, 3), classes=10, bn_momentum=0.9, bn_epsilon=1e-5,
                      name="nasnet_a_digits")
    print(f"NASNet-A {args.num_cells} @ {args.penultimate_filters} (CIFAR stem) on digits: "
          f"{model.count_params():,} parameters, {len(x_train)} train / {len(x_test)} test images")
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2)
    train_time = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"test accuracy {accuracy:.4f} (chance 0.10), test loss {loss:.4f}, "
          f"training time {train_time:.1f} s for {args.epochs} epochs")
    return accuracy


if __name__ == "__main__":
    main()
