"""`quick_variable_creation`: TensorFlow variables made without one kernel instantiation each.

Eagerly, TensorFlow makes a variable's handle with a ``VarHandleOp`` whose attributes
include the variable's full TensorFlow name (its name scope: ``cell_0/1x1/kernel``).
TensorFlow caches eager kernels by their attributes, so a new name is a cache miss and
a new kernel: measured on 2 CPU cores (TF 2.21), 0.4-0.6 ms per variable against 0.02 ms
for a name seen before.  A proxy search child has about 730 variables with its
optimizer's slots, each under a name of its own: 0.5 s of each child spent naming them
(build 0.82 -> 0.62 s, compile and optimizer slots 0.49 -> 0.19 s; scratch script).

Inside `quick_variable_creation` the TensorFlow-level name of every new variable is
``Variable`` (``tf.Variable``'s default).  Keras' own names and paths (``v.name``,
``v.path``), which Keras uses to save, load and print weights, do not change, nor does
anything a model computes; TensorFlow's object-based checkpoints do not use these names
either.  Only ``v.value.name`` (the underlying ``tf.Variable``'s) reads ``Variable:0``.
"""

import contextlib

import keras

_NAME = "Variable"


@contextlib.contextmanager
def quick_variable_creation():
    """Variables created meanwhile (eagerly or lifted out of a ``tf.function``) get one
    TensorFlow name, so TensorFlow reuses one handle kernel for all of them.  Nothing
    changes with another backend.  ``keras.backend.clear_session()`` ends it early (it
    resets TensorFlow's default graph, which holds variable creators): enter it after."""
    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    def creator(next_creator, **kwargs):
        kwargs["name"] = _NAME
        with tf.name_scope(""):  # the root scope: the name is the same in every layer
            return next_creator(**kwargs)

    with tf.variable_creator_scope(creator):
        yield
