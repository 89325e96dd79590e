"""Dropping the last reference to a tf.data iterator on a background thread.

Destroying a tf.data iterator whose pipeline autotunes (Keras' pipelines for arrays
do: ``num_parallel_calls`` and ``prefetch`` at ``tf.data.AUTOTUNE``) can wait for one
of tf.data's threads to end (a stack dump showed the training thread waiting so in
``RootDataset``'s iterator destructor; with autotuning off there was no wait, so it is
likely the autotuning thread).  Over 8 proxy search children on this
2-core machine, ``fit`` waited 0.14-1.47 s at 3 of the 8 epoch boundaries (where Keras
drops the last epoch's iterator) and 0.48-1.75 s at 2 of the 8 ends, and 0.01-0.02 s
everywhere with autotuning off (scratch script).  Keras' ``fit`` drops the iterator on
the thread that trains; `release_in_background` makes the last reference a background
thread's, which waits instead (TensorFlow releases Python's lock meanwhile).  Nothing
else changes: the same iterator, destroyed a little later (within about 0.2 s).
"""

import sys
import threading
import time

_POLL_SECONDS = 0.2  # a release a little later costs nothing; fewer wake-ups do


class _Releaser:
    """Holds objects until nobody else does, then drops them on its own thread."""

    def __init__(self):
        self._held = {}  # id -> object; the values are the only extra references
        self._lock = threading.Lock()
        self._work = threading.Event()
        self._thread = None

    def adopt(self, obj):
        key = id(obj)
        if key in self._held:  # the common case: the same iterator, step after step
            return
        with self._lock:
            self._held[key] = obj
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="nasnet_keras-release",
                                                daemon=True)
                self._thread.start()
        self._work.set()

    def _run(self):
        while True:
            self._work.wait()
            with self._lock:
                # References: the dict's and getrefcount's argument; any more, and the
                # object is still in use.
                free = [key for key in self._held if sys.getrefcount(self._held[key]) <= 2]
                released = [self._held.pop(key) for key in free]
                if not self._held:
                    self._work.clear()
            del released[:]  # the destructors run here, on this thread
            if self._held:
                time.sleep(_POLL_SECONDS)

    def held_ids(self):
        """The ids of the objects this thread holds now."""
        return set(self._held)


_RELEASER = _Releaser()


def release_in_background(obj):
    """From now on, when nothing but this module refers to ``obj``, drop it on a
    background thread (within about 0.2 s of the last other reference going)."""
    _RELEASER.adopt(obj)
