"""Data sets for the command line: ``digits`` (offline), ``tfds:NAME``, ``folder:PATH``.

The loader is `nasnet_keras.data` (shared with fine-tuning); the search keeps
its small data sets in memory as arrays, float32 RGB in [-1, 1].
"""

from nasnet_keras.data import load_arrays


def load_dataset(spec="digits", image_size=32, validation_fraction=0.2, seed=0, max_examples=None,
                 data_dir=None):
    """``(x_train, y_train), (x_val, y_val), classes`` (see `nasnet_keras.data.load_arrays`)."""
    return load_arrays(spec, image_size, validation_fraction=validation_fraction, seed=seed,
                       max_examples=max_examples, data_dir=data_dir, argument="dataset")
