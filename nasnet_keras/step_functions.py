"""Train and test functions for ``fit`` and ``evaluate``, each traced as one graph.

Keras' TensorFlow trainer nests two tf.functions: the step on a batch, called from a
function over the dataset's iterator.  Tracing the outer one traces the inner one, then
captures every tensor the inner graph captured a second time (for a proxy search child
the 736 handles of its variables and optimizer slots) and builds the call between them.
A proxy search child's train function took 1.93 s to trace and run first that way, 1.46 s
as one graph (medians of 8 children each, alternating, in a scratch script).

`install_step_functions` sets ``model.train_function`` and ``model.test_function``, which
Keras' ``fit``, ``evaluate``, ``train_on_batch`` and ``test_on_batch`` use until the next
``compile``, to one tf.function each over the iterator.  They run the model's own
``train_step`` and ``test_step`` through its distribution strategy as Keras does, so
they compute the same ops, except that the test step's `FusedBatchNormalization` layers
run as one kernel each (`nasnet_keras.normalization.inference_kernel`: a proxy child's
test step has 1,131 ops instead of 1,579; the same numbers within float32 round-off).
The iterators they are given are dropped on a background thread
(`nasnet_keras.background_release`).  They are installed only where Keras would build
that plain form (TensorFlow, one step per execution, no XLA, not eager, no distribution
strategy) and hand over to Keras' own functions if that changes later.
"""

import contextlib

import keras

from nasnet_keras.background_release import release_in_background
from nasnet_keras.normalization import inference_kernel


def install_step_functions(model):
    """Give ``model`` single-graph train and test functions; False (nothing changed)
    where Keras' own would differ from them (see the module docstring)."""
    if not _plain(model):
        return False
    model.train_function = _iterator_function(model, "train")
    model.test_function = _iterator_function(model, "test")
    return True


def _plain(model):
    if keras.backend.backend() != "tensorflow" or model.run_eagerly or model.jit_compile:
        return False
    import tensorflow as tf

    return (getattr(model, "steps_per_execution", 1) == 1
            and getattr(model, "_distribute_strategy", None) is None
            and not tf.distribute.has_strategy())


def _iterator_function(model, kind):
    import tensorflow as tf

    def one_step(data):
        # As Keras: optional inputs arrive as None, and the step runs in the strategy.  The
        # step is looked up when traced, as Keras' fit looks it up when it starts.
        data = keras.tree.map_structure(
            lambda t: None if isinstance(t, tf.experimental.Optional) else t, data)
        # The test step's BatchNorm layers in one kernel each (read while this traces).
        with inference_kernel() if kind == "test" else contextlib.nullcontext():
            return model.distribute_strategy.run(getattr(model, f"{kind}_step"), args=(data,))

    on_iterator = tf.function(lambda iterator: one_step(iterator.get_next()),
                              reduce_retracing=True, autograph=False)
    on_batch = tf.function(one_step, reduce_retracing=True, autograph=False)

    def function(iterator):
        if not _plain(model):  # settings changed since: Keras' own function from now on
            setattr(model, f"{kind}_function", None)
            getattr(model, f"make_{kind}_function")()
            return getattr(model, f"{kind}_function")(iterator)
        if isinstance(iterator, (tf.data.Iterator, tf.distribute.DistributedIterator)):
            # Its destruction may wait for tf.data's autotuning: not on this thread.
            release_in_background(iterator)
            return on_iterator(iterator)
        # train_on_batch and test_on_batch pass a generator of one batch.
        return on_batch(next(iter(iterator)))

    function.on_iterator = on_iterator  # the traced function, for inspection
    return function
