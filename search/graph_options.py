"""How much of TensorFlow's graph optimizer (Grappler) the search's traced functions get.

Grappler pays for itself on graphs that run long; on the weight-sharing supernet it
spent longer preparing the graph than a short search gains (`SupernetSteps`), and on
the controller's small float64 graphs it gains nothing and logs "Not handling type
DT_DOUBLE" once per node it skips, which a user cannot act on (`without_grappler`).

A stand-alone child gets less of it (`short_run_graph_optimization`).  By default
Grappler runs its optimizer list twice and adds a memory optimizer and a layout
optimizer.  On a proxy search child's train step (about 5,000 ops then, CPU, TF 2.21)
that was 1.3 s of the first call: the second iteration removed 4 of 3,388 nodes, the
layout optimizer (NHWC on CPU already) and the memory optimizer (swapping and
recomputation for accelerator memory) changed none, and together they were 0.8 s.
Once the children's BatchNorm and optimizer update were single fused kernels, the
remaining iteration stopped paying on CPU as well: called on the same traced step with
and without Grappler, the steps after the first took as long (proxy child 0.151 s
without against 0.155 s with, NASNet-A CIFAR N = 2, F = 16 0.458 s against 0.452 s,
NASNet-A mobile at batch 8 0.495 s against 0.550 s) while the first call was 0.28 s,
0.68 s and 2.9 s shorter (a scratch script, 6, 4 and 2 children).  So on CPU a short
run skips Grappler; where a GPU is visible it keeps the one iteration as before (not
measured on a GPU, where the remapper's fused kernels may matter more).

The search's graphs are also made without the Python stack of each op's creation
(`without_op_tracebacks`), which TensorFlow otherwise keeps for its error messages.
"""

import contextlib
import inspect

from nasnet_keras.devices import gpu_visible


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


@contextlib.contextmanager
def without_op_tracebacks():
    """Operations created inside do not record the Python stack that created them.

    TensorFlow records it for every op it traces, to name the Python line in an error
    raised while the graph runs, and handles these records again when it first runs the
    graph.  A proxy search child's train function ran its first call (instantiation and one
    step) in 0.35 s without them against 0.45 s with them, its traces as long (medians of
    7 pairs of children, alternating in a scratch script).  An error inside a child's graph
    still names the op, not the Python line.  Process-wide while inside (TensorFlow has no
    per-thread switch); where TensorFlow's op constructor has no such option, this does
    nothing.
    """
    from tensorflow.python.framework import ops

    create = ops._create_c_op
    if "extract_traceback" not in inspect.signature(create).parameters:
        yield
        return

    def create_without_traceback(*args, **kwargs):
        kwargs["extract_traceback"] = False
        return create(*args, **kwargs)

    ops._create_c_op = create_without_traceback
    try:
        yield
    finally:
        ops._create_c_op = create


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


@contextlib.contextmanager
def short_run_graph_optimization():
    """Functions first called inside skip Grappler where TensorFlow sees no GPU; with a
    GPU they are optimized in one iteration, without its layout and memory optimizers.

    The options are TensorFlow's per-thread function-call options, restored on exit.  A
    function's graph is optimized for the options it is called with: call it inside only
    (a whole ``fit``), or it is instantiated, and optimized, again outside.  Where
    TensorFlow's context lacks these options, this does nothing.
    """
    try:
        from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2
        from tensorflow.python.eager import context

        ctx = context.context()
        saved = ctx._thread_local_data.function_call_options
        current = ctx.function_call_options
        config = config_pb2.ConfigProto.FromString(current.config_proto_serialized)
    except (ImportError, AttributeError):
        yield
        return
    rewrite = config.graph_options.rewrite_options
    if not gpu_visible():
        rewrite.disable_meta_optimizer = True
    rewrite.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    rewrite.memory_optimization = rewriter_config_pb2.RewriterConfig.NO_MEM_OPT
    rewrite.layout_optimizer = rewriter_config_pb2.RewriterConfig.OFF
    ctx.function_call_options = context.FunctionCallOptions(current.executor_type, config)
    try:
        yield
    finally:
        ctx._thread_local_data.function_call_options = saved
