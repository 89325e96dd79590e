"""`reused_array_pipelines`: Keras' tf.data pipeline for the same arrays built once, not per ``fit``.

Given arrays, each ``fit`` (and its validation) builds Keras' input pipeline anew: it copies
the arrays into a dataset and traces the dataset's functions (each epoch's permutation of
the indices, the batches of indices, the gathering of a batch).  A search fits one child
after another on the same arrays; building both pipelines took about 0.05 s of a proxy
child's trial (``fit``'s start to its first epoch, in a scratch copy of
`benchmarks/cli_trial.py` whose trials alternated with and without: 0.056 s against 0.002 s),
and left more garbage for the next child's clearing.

Inside `reused_array_pipelines` Keras builds the pipeline for given array objects, batch
size and shuffling once and hands the same dataset to every later ``fit`` or ``evaluate``.
Nothing else changes, because of how Keras' pipeline shuffles: each epoch's permutation is
drawn when an iterator over the dataset starts, and Keras starts one per epoch.  With a
global seed (``keras.utils.set_random_seed``) every such iterator, of this dataset or of a
new one, draws the same permutations; without one, each draws fresh ones.  So a reused
dataset gives the batches a new one would (``tests/test_array_pipelines.py`` trains two
children each way with a seed and compares the weights bit for bit).

One difference: the dataset holds a copy of the arrays made when it was built, as Keras'
holds one for the length of a ``fit``.  An array changed in place between two fits is not
seen by the second; pass a new array instead.  Two pipelines are kept (training and
validation data), so no more copies of the data are alive than during one of Keras' fits.
"""

import collections
import contextlib

# A search uses two (training and validation data).  Other arrays for each fit (Keras'
# validation_split makes new ones) replace them, the old dropped before the new is built:
# never more copies of the data alive than during one of Keras' own fits.
_MAX_PIPELINES = 2


@contextlib.contextmanager
def reused_array_pipelines():
    """Meanwhile, ``fit`` and ``evaluate`` on the same array objects (with the same batch size
    and shuffling) share one Keras pipeline.  The last two are kept (with the arrays they were
    built from, so an object's id cannot be taken over); all are dropped on exit.  Does
    nothing where Keras has no such adapter (another version)."""
    try:
        from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
    except ImportError:
        yield
        return
    import keras

    original = ArrayDataAdapter.get_tf_dataset
    pipelines = collections.OrderedDict()  # key -> (the arrays, Keras' dataset)

    def get_tf_dataset(adapter):
        arrays = keras.tree.flatten(adapter._inputs)
        key = (tuple(id(a) for a in arrays), adapter._batch_size, adapter._shuffle)
        if key in pipelines:
            pipelines.move_to_end(key)
            return pipelines[key][1]
        while len(pipelines) >= _MAX_PIPELINES:
            pipelines.popitem(last=False)
        dataset = original(adapter)
        pipelines[key] = (arrays, dataset)
        return dataset

    ArrayDataAdapter.get_tf_dataset = get_tf_dataset
    try:
        yield
    finally:
        ArrayDataAdapter.get_tf_dataset = original
        pipelines.clear()
