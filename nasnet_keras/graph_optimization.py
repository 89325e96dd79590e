"""`short_run_graph_optimization`: Grappler without the passes a short training run never repays.

TensorFlow optimizes a traced function's graph (Grappler) when the function first
runs.  By default it runs its optimizer list twice and adds a memory optimizer and a
layout optimizer.  On a proxy search child's train step (about 5,000 ops, CPU, TF 2.21)
that was 1.3 s of the first call: the second iteration removed 4 of 3,388 nodes, the
layout optimizer (NHWC on CPU already) and the memory optimizer (swapping and
recomputation for accelerator memory) changed none, and together they were 0.8 s.
One iteration keeps the passes that do change the graph (pruning, common-subgraph
elimination, constant folding, arithmetic, the remapper's fused kernels, dependency
optimization), so the steady state runs the same graph.
"""

import contextlib


@contextlib.contextmanager
def short_run_graph_optimization():
    """Functions first called inside are optimized by Grappler in one iteration, without
    its layout and memory optimizers.

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
    rewrite.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    rewrite.memory_optimization = rewriter_config_pb2.RewriterConfig.NO_MEM_OPT
    rewrite.layout_optimizer = rewriter_config_pb2.RewriterConfig.OFF
    ctx.function_call_options = context.FunctionCallOptions(current.executor_type, config)
    try:
        yield
    finally:
        ctx._thread_local_data.function_call_options = saved
