"""Data for fine-tuning and search: ``digits``, ``tfds:NAME`` and ``folder:PATH``.

One spec string names a data set everywhere (``nasnet-keras finetune --data``,
``nasnet-search run --dataset``):

- ``digits``: scikit-learn's bundled 8x8 digits (1,797 images, 10 classes), offline;
- ``tfds:NAME``: a tensorflow-datasets data set (``data_dir`` and splits as tfds);
- ``folder:PATH``: one sub-folder of images per class (keras' image_dataset_from_directory).

`load_data` gives batched, prefetched ``tf.data.Dataset`` pairs of images resized
to the model's size and scaled as `preprocess_input` does ([-1, 1], RGB), with
optional standard augmentation; `load_arrays` gives the same images as numpy
arrays (small data sets, the search add-on).
"""

import dataclasses
import os

import numpy as np

DATA_FORMS = "digits | tfds:NAME | folder:PATH"
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


@dataclasses.dataclass
class DataInfo:
    """What `load_data` loaded."""

    spec: str
    classes: int
    class_names: list
    image_size: int
    train_examples: int
    validation_examples: int


def _check_spec(spec, argument):
    if not isinstance(spec, str) or not (spec == "digits" or spec.startswith(("tfds:", "folder:"))):
        raise ValueError(f"`{argument}` must be {DATA_FORMS}, got {spec!r}.")
    if spec.startswith("tfds:") and not spec[len("tfds:"):]:
        raise ValueError(f"`{argument}` {spec!r} names no tensorflow-datasets data set (tfds:NAME).")


def _check_folder(path, argument):
    if not os.path.isdir(path):
        raise ValueError(f"`{argument}` folder {path!r} does not exist (expected one sub-folder of "
                         "images per class).")
    classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
    count = sum(1 for c in classes for f in os.listdir(os.path.join(path, c))
                if f.lower().endswith(IMAGE_EXTENSIONS))
    if not classes or count == 0:
        raise ValueError(f"`{argument}` folder {path!r} has no images: {len(classes)} class "
                         "sub-folders, "
                         f"0 files ending in {', '.join(IMAGE_EXTENSIONS)}.")
    return classes


def _to_model_range(images, image_size):
    """Any-size 0..255 images (1 or 3 channels) -> float32 RGB ``image_size`` px in [-1, 1]."""
    import tensorflow as tf

    x = tf.cast(images, "float32")
    x = tf.image.resize(x, (image_size, image_size))
    if x.shape[-1] == 1:
        x = tf.image.grayscale_to_rgb(x)
    return x / 127.5 - 1.0


def _digits_uint8():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images[..., None] * (255.0 / 16.0)).astype("float32")  # 0..16 -> 0..255
    return images, digits.target.astype("int32"), [str(i) for i in range(10)]


def _split(n, validation_fraction, seed):
    order = np.random.default_rng(seed).permutation(n)
    cut = int(n * (1 - validation_fraction))
    return order[:cut], order[cut:]


def _check_common(image_size, validation_fraction):
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 8:
        raise ValueError(f"`image_size` must be an integer >= 8, got {image_size!r}.")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"`validation_fraction` must be in (0, 1), got {validation_fraction!r}.")


def _tfds_splits(name, data_dir, split, validation_split, validation_fraction):
    import tensorflow_datasets as tfds

    if validation_split is None:
        percent = int(round(100 * (1 - validation_fraction)))
        splits = [f"{split}[:{percent}%]", f"{split}[{percent}%:]"]
    else:
        splits = [split, validation_split]
    (train, val), info = tfds.load(name, split=splits, as_supervised=True, with_info=True,
                                   data_dir=data_dir)
    label = info.features["label"]
    return train, val, label.num_classes, list(label.names)


def load_arrays(spec="digits", image_size=32, validation_fraction=0.2, seed=0,
                max_examples=None, data_dir=None, argument="data"):
    """``(x_train, y_train), (x_val, y_val), classes`` as numpy arrays in [-1, 1].

    For data sets that fit in memory (the search add-on trains many small
    children on the same arrays).  ``max_examples`` caps the training set;
    ``argument`` is the name error messages give the spec.
    """
    _check_spec(spec, argument)
    _check_common(image_size, validation_fraction)
    if spec == "digits":
        images, labels, names = _digits_uint8()
    elif spec.startswith("folder:"):
        import keras

        path = spec[len("folder:"):]
        names = _check_folder(path, argument)
        data = keras.utils.image_dataset_from_directory(
            path, image_size=(image_size, image_size), batch_size=None, shuffle=False,
            class_names=names)
        pairs = list(data.as_numpy_iterator())
        images = np.stack([x for x, _ in pairs])
        labels = np.array([y for _, y in pairs], "int32")
    else:
        import tensorflow_datasets as tfds

        name = spec[len("tfds:"):]
        data, info = tfds.load(name, split="train", as_supervised=True, with_info=True,
                               data_dir=data_dir)
        # Twice the cap, so that the validation share still gets examples after the split.
        pairs = list(tfds.as_numpy(data.take(max_examples * 2) if max_examples else data))
        if not pairs:
            raise ValueError(f"`{argument}` {spec!r}: the train split is empty.")
        images = np.stack([x for x, _ in pairs])
        labels = np.array([y for _, y in pairs], "int32")
        names = list(info.features["label"].names)
    x = _to_model_range(images, image_size).numpy()
    train, val = _split(len(x), validation_fraction, seed)
    if max_examples:
        train = train[:max_examples]
    return (x[train], labels[train]), (x[val], labels[val]), len(names)


def _augment(image_size, seed):
    """Random crop after zero-padding by 1/8 of the size, and a random left-right flip."""
    import tensorflow as tf

    pad = max(1, image_size // 8)

    def augment(image, label):
        padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
        image = tf.image.random_crop(padded, [image_size, image_size, 3], seed=seed)
        return tf.image.random_flip_left_right(image, seed=seed), label

    return augment


def _count(dataset):
    import tensorflow as tf

    n = int(dataset.cardinality())
    if n >= 0:
        return n
    return int(dataset.reduce(tf.constant(0, "int64"), lambda count, _: count + 1))


def load_data(spec="digits", image_size=224, batch_size=32, validation_fraction=0.2,
              augment=False, seed=0, data_dir=None, split="train", validation_split=None,
              max_examples=None, shuffle_buffer=2048, cache=True):
    """``(train, validation, info)``: batched, prefetched ``tf.data`` pipelines.

    Args:
        spec: ``"digits"``, ``"tfds:NAME"`` or ``"folder:PATH"``.
        image_size: the model's input size (images are resized, RGB, [-1, 1]).
        batch_size: examples per batch.
        validation_fraction: share of ``split`` held out for validation
            (tfds without ``validation_split``, folders, digits).
        augment: random crop with padding and horizontal flip on the
            training pipeline (``False`` for data where flips change meaning).
        seed: shuffling, splitting and augmentation seed.
        data_dir, split, validation_split: tensorflow-datasets arguments, e.g.
            ``split="train", validation_split="test"``.
        max_examples: cap on the training examples (quick runs).
        shuffle_buffer: training shuffle buffer.
        cache: keep the resized images in memory after the first epoch
            (``False`` for data sets larger than memory).
    Returns:
        ``train`` (shuffled each epoch), ``validation`` and a `DataInfo`.
    """
    import tensorflow as tf

    _check_spec(spec, "data")
    _check_common(image_size, validation_fraction)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1, got {batch_size!r}.")
    if spec == "digits":
        images, labels, names = _digits_uint8()
        train_idx, val_idx = _split(len(images), validation_fraction, seed)
        train = tf.data.Dataset.from_tensor_slices((images[train_idx], labels[train_idx]))
        val = tf.data.Dataset.from_tensor_slices((images[val_idx], labels[val_idx]))
    elif spec.startswith("folder:"):
        import keras

        path = spec[len("folder:"):]
        names = _check_folder(path, "data")
        train, val = keras.utils.image_dataset_from_directory(
            path, image_size=(image_size, image_size), batch_size=None, class_names=names,
            validation_split=validation_fraction, subset="both", seed=seed)
    else:
        train, val, _, names = _tfds_splits(spec[len("tfds:"):], data_dir, split,
                                            validation_split, validation_fraction)
    if max_examples:
        train = train.take(max_examples)
    counts = [_count(train), _count(val)]
    if counts[0] == 0 or counts[1] == 0:
        raise ValueError(f"`data` {spec!r} gave {counts[0]} training and {counts[1]} validation "
                         "examples; both must be > 0.")

    def prepare(image, label):
        return _to_model_range(image, image_size), tf.cast(label, "int32")

    train = train.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    val = val.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        train, val = train.cache(), val.cache()
    train = train.shuffle(min(shuffle_buffer, counts[0]), seed=seed, reshuffle_each_iteration=True)
    if augment:
        train = train.map(_augment(image_size, seed), num_parallel_calls=tf.data.AUTOTUNE)
    train = train.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    val = val.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    info = DataInfo(spec, len(names), list(names), image_size, counts[0], counts[1])
    return train, val, info
