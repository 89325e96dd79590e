"""Running traced TensorFlow functions without its graph optimizer (Grappler).

Grappler pays for itself on graphs that run long; on the weight-sharing supernet it
spent longer preparing the graph than a short search gains (`SupernetSteps`), and on
the controller's small float64 graphs it gains nothing and logs "Not handling type
DT_DOUBLE" once per node it skips, which a user cannot act on.
"""

import contextlib


@contextlib.contextmanager
def without_grappler():
    """Run the calls inside without TensorFlow's graph optimizer (Grappler).

    The options are TensorFlow's per-thread call options, restored on exit, so other
    functions (a child's training) keep Grappler; where TensorFlow's context lacks them,
    this does nothing.  The options dict itself is the context's: a function first called
    by another thread meanwhile would also run without Grappler (the tuner runs in one).
    """
    from tensorflow.python.eager import context

    ctx = context.context()
    saved = getattr(ctx, "_optimizer_experimental_options", None)
    if not isinstance(saved, dict):
        yield
        return
    ctx._optimizer_experimental_options = {**saved, "disable_meta_optimizer": True}
    ctx._thread_local_data.function_call_options = None
    try:
        yield
    finally:
        ctx._optimizer_experimental_options = saved
        ctx._thread_local_data.function_call_options = None


class GraphStep:
    """A traced step, called with or without Grappler (`without_grappler`)."""

    def __init__(self, function, optimize_graph):
        self.function = function
        self.optimize_graph = optimize_graph

    def __call__(self, *args):
        if self.optimize_graph:
            return self.function(*args)
        with without_grappler():
            return self.function(*args)

    def experimental_get_tracing_count(self):
        return self.function.experimental_get_tracing_count()
