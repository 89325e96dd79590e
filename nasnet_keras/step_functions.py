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
(`nasnet_keras.background_release`).  With ``will_evaluate``, the test function is traced
on a background thread while the train function runs its second step: a step in
TensorFlow's kernels leaves Python's lock free, and the first validation (or ``evaluate``)
finds the function traced.  Where training keeps every core busy, the trace's work only
moves: in a proxy search on this project's 2-core machine (2-epoch trials alternating
with and without it, 12 each, medians), the first validation took 0.42 s instead of 0.73 s
and the first epoch's training 0.25 s longer relative to the second.  With a core to
spare (TensorFlow held to one thread, as a stand-in for training on an accelerator; 7
pairs of children), the first epoch's excess over the second fell from 1.46 s to 1.03 s.
Only one of a model's steps is traced at a time (a lock), so the two traces never
interleave in Keras' layer state.  They are installed only where Keras would build
that plain form (TensorFlow, one step per execution, no XLA, not eager, no distribution
strategy) and hand over to Keras' own functions if that changes later.
"""

import contextlib
import threading

import keras

from nasnet_keras.background_release import release_in_background
from nasnet_keras.normalization import inference_kernel


def install_step_functions(model, will_evaluate=False):
    """Give ``model`` single-graph train and test functions; False (nothing changed)
    where Keras' own would differ from them (see the module docstring).  ``will_evaluate``:
    the test step will run once training has started (``fit`` with validation, or
    ``evaluate`` after ``fit``), so trace it meanwhile on a background thread."""
    if not _plain(model):
        return False
    one_trace_at_a_time = threading.RLock()
    model.test_function = _iterator_function(model, "test", one_trace_at_a_time)
    model.train_function = _iterator_function(
        model, "train", one_trace_at_a_time,
        trace_in_background=model.test_function.on_iterator if will_evaluate else None)
    return True


def _plain(model):
    if keras.backend.backend() != "tensorflow" or model.run_eagerly or model.jit_compile:
        return False
    import tensorflow as tf

    return (getattr(model, "steps_per_execution", 1) == 1
            and getattr(model, "_distribute_strategy", None) is None
            and not tf.distribute.has_strategy())


def _iterator_function(model, kind, tracing_lock, trace_in_background=None):
    import tensorflow as tf

    def one_step(data):  # runs only while TensorFlow traces
        # As Keras: optional inputs arrive as None, and the step runs in the strategy.  The
        # step is looked up when traced, as Keras' fit looks it up when it starts.
        data = keras.tree.map_structure(
            lambda t: None if isinstance(t, tf.experimental.Optional) else t, data)
        # The test step's BatchNorm layers in one kernel each (read while this traces).
        with tracing_lock, inference_kernel() if kind == "test" else contextlib.nullcontext():
            return model.distribute_strategy.run(getattr(model, f"{kind}_step"), args=(data,))

    on_iterator = tf.function(lambda iterator: one_step(iterator.get_next()),
                              reduce_retracing=True, autograph=False)
    on_batch = tf.function(one_step, reduce_retracing=True, autograph=False)
    iterator_calls = [0]

    def function(iterator):
        if not _plain(model):  # settings changed since: Keras' own function from now on
            setattr(model, f"{kind}_function", None)
            getattr(model, f"make_{kind}_function")()
            return getattr(model, f"{kind}_function")(iterator)
        if isinstance(iterator, (tf.data.Iterator, tf.distribute.DistributedIterator)):
            # Its destruction may wait for tf.data's autotuning: not on this thread.
            release_in_background(iterator)
            iterator_calls[0] += 1
            # The second step: the first has instantiated the graph, which holds Python's lock.
            if iterator_calls[0] == 2 and trace_in_background is not None:
                _trace_on_a_thread(trace_in_background, _any_batch_size(iterator))
            return on_iterator(iterator)
        # train_on_batch and test_on_batch pass a generator of one batch.
        return on_batch(next(iter(iterator)))

    function.on_iterator = on_iterator  # the traced function, for inspection
    return function


def _any_batch_size(iterator):
    """The iterator's spec, its tensors' first dimension unknown: a validation set's batches
    may not divide as the training set's (a graph traced so takes both)."""
    import tensorflow as tf

    def relaxed(spec):
        if isinstance(spec, tf.TensorSpec) and spec.shape.rank:
            return tf.TensorSpec([None, *spec.shape[1:]], spec.dtype, spec.name)
        return spec

    return tf.data.IteratorSpec(tf.nest.map_structure(relaxed, iterator.element_spec))


def _trace_on_a_thread(function, iterator_spec):
    """Trace ``function`` for iterators like the training one (a validation set of the same
    form: arrays, or a dataset of the same element spec).  A validation set of another
    form is traced for when it comes, as without this."""
    def trace():
        try:
            function.get_concrete_function(iterator_spec)
        except Exception:  # noqa: BLE001 - the call traces again, and raises where it is seen
            pass

    threading.Thread(target=trace, name="nasnet_keras-trace", daemon=True).start()
