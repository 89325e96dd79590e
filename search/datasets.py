"""Data sets for the command line: ``digits`` (offline), ``tfds:NAME``, ``folder:PATH``.

Each returns ``(x_train, y_train), (x_val, y_val), classes`` as float32 images in
[-1, 1] (NASNet's preprocessing) of ``image_size`` px, 3 channels.
"""

import os

import numpy as np

DATASET_FORMS = "digits | tfds:NAME | folder:PATH"


def _split(x, y, validation_fraction, seed):
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(round(len(x) * (1 - validation_fraction)))
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def _to_model_range(images, image_size):
    import tensorflow as tf

    x = tf.image.resize(tf.cast(images, "float32"), (image_size, image_size)).numpy()
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return (x / 127.5 - 1.0).astype("float32")


def load_dataset(spec="digits", image_size=32, validation_fraction=0.2, seed=0, max_examples=None):
    if not isinstance(spec, str):
        raise ValueError(f"`dataset` must be {DATASET_FORMS}, got {spec!r}.")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"`validation_fraction` must be in (0, 1), got {validation_fraction!r}.")
    if spec == "digits":
        from nasnet_keras.demo import load_digits_dataset

        train, val = load_digits_dataset(size=image_size, test_fraction=validation_fraction,
                                         seed=seed)
        classes = 10
    elif spec.startswith("tfds:"):
        import tensorflow_datasets as tfds

        name = spec[len("tfds:"):]
        data, info = tfds.load(name, split="train", as_supervised=True, with_info=True)
        if max_examples:
            data = data.take(max_examples)
        pairs = list(tfds.as_numpy(data))
        if not pairs:
            raise ValueError(f"`dataset` {spec!r}: the train split is empty.")
        images = np.stack([image for image, _ in pairs])
        labels = np.array([label for _, label in pairs])
        classes = info.features["label"].num_classes
        train, val = _split(_to_model_range(images, image_size), labels.astype("int32"),
                            validation_fraction, seed)
    elif spec.startswith("folder:"):
        import keras

        path = spec[len("folder:"):]
        if not os.path.isdir(path):
            raise ValueError(f"`dataset` folder {path!r} does not exist (expected one sub-folder "
                             "per class).")
        data = keras.utils.image_dataset_from_directory(
            path, image_size=(image_size, image_size), batch_size=None, shuffle=False)
        classes = len(data.class_names)
        images = np.stack([x for x, _ in data.as_numpy_iterator()])
        labels = np.array([y for _, y in data.as_numpy_iterator()], "int32")
        train, val = _split(_to_model_range(images, image_size), labels, validation_fraction, seed)
    else:
        raise ValueError(f"`dataset` must be {DATASET_FORMS}, got {spec!r}.")
    if max_examples and spec == "digits":
        train = (train[0][:max_examples], train[1][:max_examples])
    return train, val, classes
