"""Fetch a registered weight file into the Keras cache, verifying its hash."""

import glob
import os

import keras


def default_cache_dir():
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def fetch_weights(entry, cache_dir=None):
    """Path of ``entry``'s file, downloading it when the cache lacks it.

    A cached file whose hash matches is used without touching the network, so
    this works offline once the file is in ``<cache_dir>/models``.
    """
    cache_dir = cache_dir or default_cache_dir()
    # keras.utils.get_file silently falls back to a temp dir if this is missing.
    os.makedirs(os.path.join(cache_dir, "models"), exist_ok=True)
    try:
        path = keras.utils.get_file(
            entry.fname, entry.origin, file_hash=entry.file_hash,
            hash_algorithm=entry.hash_algorithm or "auto", cache_subdir="models",
            cache_dir=cache_dir, extract=entry.extract,
        )
    except Exception as e:  # get_file raises ValueError, URLError, HTTPError, ...
        cached = os.path.join(cache_dir, "models", entry.fname)
        raise ValueError(
            f"weights={entry.name!r}: could not get {entry.fname} from {entry.origin} "
            f"(expected {entry.hash_algorithm} {entry.file_hash}). To work offline, place the "
            f"file at {cached} or pass weights='/path/to/file'. Cause: {e}"
        ) from e
    if entry.checkpoint_name:
        hits = glob.glob(os.path.join(path, "**", entry.checkpoint_name + ".index"), recursive=True)
        if not hits:
            raise ValueError(f"weights={entry.name!r}: {entry.checkpoint_name} not found in {path}.")
        return hits[0][: -len(".index")]
    return path
