"""Dropping the last reference to a tf.data iterator on a background thread.

Destroying a tf.data iterator whose pipeline autotunes (Keras' pipelines for arrays
do: ``num_parallel_calls`` and ``prefetch`` at ``tf.data.AUTOTUNE``) waits for the
autotuning thread's current cycle, whose period doubles while the iterator lives: on
this 2-core machine a proxy child's ``fit`` waited 0.5-2.6 s at some epoch boundaries
(where Keras replaces the epoch's iterator) and at its end, and no time when autotuning
was off (scratch script, 8 search children each).  Keras' ``fit`` drops the iterator
on the thread that trains; `release_in_background` makes the last reference a
background thread's, which waits instead (TensorFlow releases Python's lock while it
waits).  Nothing else changes: the same iterator, destroyed a few milliseconds later.
"""

import sys
import threading

_POLL_SECONDS = 0.02


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
                threading.Event().wait(_POLL_SECONDS)

    def held(self):
        return len(self._held)


_RELEASER = _Releaser()


def release_in_background(obj):
    """From now on, when nothing but this module refers to ``obj``, drop it on a
    background thread (within about 20 ms of the last other reference going)."""
    _RELEASER.adopt(obj)
