"""`reused_operation_graphs`: a cell operation's ops traced once per form, then copied.

A search builds child after child from the same operations (a 3x3 separable conv at 16
filters, a factorized reduction to 32, ...), and TensorFlow traces every op of every
child's train and test steps anew, at 0.3 ms or more of Python per op.  Inside
`reused_operation_graphs`, the first call of an operation of a given form (layer class,
config but the name, input shapes and dtypes, training mode, trainable flags) traces it
once, forward and, where a gradient tape records, backward, into a graph of its own whose
inputs are the operation's inputs and its variables' handles.  Every call of that form,
in any child, copies that graph's ops into the child's graph (TensorFlow's graph import,
in C++: about 0.03 ms per op) with its own tensors and variables as the inputs, and
records the copy on the tape as one op whose gradient copies the backward ops.  The
child's graph then holds the same ops as when traced op by op, so TensorFlow runs the
same kernels: forward values and moving statistics equal bit for bit; gradients sum their
contributions from several consumers in another order (float32 round-off).

(Calling a function traced once per form instead, as a call op, cost more than it saved:
without Grappler, which a search child skips on CPU, the calls are not inlined, and each
step paid for them; README, "A child's fixed cost".)

Only this package's own operation layers are reused (their configs describe all they
compute), and only where the inline call would trace the same ops: TensorFlow, inside a
``tf.function``, no distribution strategy, no ``keras.StatelessScope``, plain TensorFlow
variables.  A form whose graph reads anything but its inputs and its variables, uses
functions, returns more than one tensor, or whose gradient is not a plain tensor is traced
inline every time.  A copy is recorded for first-order gradients, what training takes: a
gradient of a gradient through a copied operation, or forward-mode differentiation, is not
there (nothing in a search asks for one).  Process-wide while inside, like the search's
other scopes; the graphs are dropped with the record.
"""

import contextlib
import json
import threading
from typing import NamedTuple

import keras


class OperationGraphs:
    """The graphs traced inside one `reused_operation_graphs` scope, by form."""

    def __init__(self):
        self.graphs = {}  # form -> _OperationGraph, or None where the form is traced inline
        self.lock = threading.RLock()
        self.copies = 0  # calls answered by copying a graph

    @property
    def traced(self):
        """Forms traced into a reusable graph."""
        return sum(graph is not None for graph in self.graphs.values())


_ACTIVE = [None]


@contextlib.contextmanager
def reused_operation_graphs(graphs=None):
    """Inside, cells trace each form of operation once and copy it (see the module
    docstring).  Yields the `OperationGraphs` record: ``graphs``, an earlier scope's record
    to go on with, or a new one; a nested scope without ``graphs`` shares the outer one's."""
    previous = _ACTIVE[0]
    if graphs is not None and not isinstance(graphs, OperationGraphs):
        raise TypeError(f"reused_operation_graphs: `graphs` must be an OperationGraphs record "
                        f"(what the scope yields) or None, got {graphs!r}.")
    if graphs is None:
        graphs = previous if previous is not None else OperationGraphs()
    _ACTIVE[0] = graphs
    try:
        yield graphs
    finally:
        _ACTIVE[0] = previous


def call_operation(layer, inputs, training=None, **tensors):
    """``layer(inputs, training=training, **tensors)``, copied from its form's graph where
    `reused_operation_graphs` is active and the layer qualifies (module docstring)."""
    graphs = _ACTIVE[0]
    # An operation called while a form is traced (on its own thread) is traced with it.
    tracing = getattr(_TRACING, "active", False)
    form = None if graphs is None or tracing else _form(layer, inputs, training, tensors)
    if form is None:
        return layer(inputs, training=training, **tensors)
    with graphs.lock:
        if form not in graphs.graphs:
            graphs.graphs[form] = _OperationGraph.trace(layer, inputs, tensors, form)
        operation_graph = graphs.graphs[form]
        if operation_graph is not None:
            graphs.copies += 1
    if operation_graph is None:
        return layer(inputs, training=training, **tensors)
    return operation_graph.copy(layer, inputs, tensors)


def _reusable_classes():
    from nasnet_keras.layers import FactorizedReduction
    from nasnet_keras.operations import ConvSequence, Identity, Pooling, StackedSeparableConv

    return (StackedSeparableConv, ConvSequence, Pooling, Identity, FactorizedReduction)


class _Form(NamedTuple):
    """What the traced ops of an operation's call depend on."""

    layer_class: type
    config: str  # the layer's config without its name, as JSON
    training: bool
    tensor_names: tuple  # the names of the extra tensor arguments
    shapes_and_dtypes: tuple  # of ``inputs`` and the extra tensors
    trainable: tuple  # of the layer and its sublayers
    with_gradient: bool  # a gradient tape could record the call
    autocast_dtype: object
    inference_kernel: bool  # `normalization.inference_kernel` is active


_TRACING = threading.local()  # ``active`` on the thread that traces a form


def _form(layer, inputs, training, tensors):
    """What the traced ops of ``layer``'s call depend on, or None where it is traced inline."""
    if keras.backend.backend() != "tensorflow" or type(layer) not in _reusable_classes():
        return None
    import tensorflow as tf
    from keras.src.backend import get_autocast_scope
    from keras.src.backend.common.stateless_scope import in_stateless_scope
    from tensorflow.python.eager import record

    from nasnet_keras.normalization import _inference_kernel

    if (not layer.built or not tf.inside_function() or in_stateless_scope()
            or tf.distribute.has_strategy() or not isinstance(training, bool)):
        return None
    arguments = [inputs, *tensors.values()]
    if not all(tf.is_symbolic_tensor(t) and t.shape.rank is not None for t in arguments):
        return None
    variables = layer.variables  # Keras walks the sublayers for each call: once here
    if not variables or not all(isinstance(getattr(v, "_value", None), tf.Variable)
                                for v in variables):
        return None
    config = dict(layer.get_config())
    config.pop("name", None)
    autocast = get_autocast_scope()
    return _Form(type(layer), json.dumps(config, sort_keys=True, default=repr), training,
                 tuple(sorted(tensors)),
                 tuple((tuple(t.shape.as_list()), t.dtype.name) for t in arguments),
                 tuple(sub.trainable for sub in layer._flatten_layers()),
                 bool(record.could_possibly_record()),
                 None if autocast is None else autocast.dtype, _inference_kernel.active)


class _OperationGraph:
    """One form's traced ops: the forward part, and the backward part where a tape records.
    Each part is copied into the caller's graph with its own tensors for those it reads."""

    def __init__(self, argument_names, output_name, forward, backward=None, dy_name=None,
                 gradient_names=()):
        self.argument_names = argument_names  # [inputs, *tensors (sorted), *handles]
        self.output_name = output_name
        self.forward = forward
        self.backward = backward  # None where no tape records
        self.dy_name = dy_name
        self.gradient_names = gradient_names  # per argument: a tensor name, or None
        # The gradients the backward part computes (the others are tensors it is given), and
        # the forward tensors it reads or passes on as a gradient.
        computed = [g for g in gradient_names
                    if g is not None and backward is not None and backward.produces(g)]
        self.computed_gradient_names = computed
        saved = set()
        if backward is not None:
            saved = backward.reads | ({g for g in gradient_names if g is not None} - {*computed})
        self.saved_names = sorted(saved - {*argument_names, dy_name})

    # --- tracing, once per form -------------------------------------------------------

    @classmethod
    def trace(cls, layer, inputs, tensors, form):
        """The form's graph, traced with ``layer``'s variables standing for placeholders of
        their handles, or None where it cannot be reused."""
        import tensorflow as tf

        training, with_gradient = form.training, form.with_gradient
        keras_variables = layer.variables
        names = sorted(tensors)
        marks = {}

        def step(variables, inputs, tensors):
            graph = tf.compat.v1.get_default_graph()
            sources = [inputs, *(tensors[n] for n in names)]
            # The placeholders TensorFlow made for the variables' handles (the function's
            # inputs): what the reads use, and what a copy is given.
            handles = [graph.capture(v.handle) for v in variables]
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch([*sources, *handles])
                y = layer(inputs, training=training, **tensors)
            marks.update(forward_end=len(graph.get_operations()), y=y, sources=sources,
                         handles=handles, dy=None, gradients=None)
            if with_gradient and isinstance(y, tf.Tensor):
                marks["dy"] = tf.compat.v1.placeholder(y.dtype, y.shape, name="dy")
                marks["gradients"] = tape.gradient(
                    y, [*sources, *handles], output_gradients=marks["dy"],
                    unconnected_gradients="none")
            marks["end"] = len(graph.get_operations())
            return y

        spec = tf.TensorSpec.from_tensor
        arguments = ([v._value for v in keras_variables], spec(inputs),
                     {n: spec(tensors[n]) for n in names})
        try:
            graph = _on_a_thread(lambda: tf.function(step, autograph=False).get_concrete_function(
                *arguments).graph, form.autocast_dtype, form.inference_kernel)
        except Exception:  # noqa: BLE001 - traced inline, where an error is raised as usual
            return None
        return cls._from_traced(graph, marks, with_gradient)

    @classmethod
    def _from_traced(cls, graph, marks, with_gradient):
        import tensorflow as tf

        y, gradients = marks.get("y"), marks.get("gradients")
        arguments = [*marks.get("sources", ()), *marks.get("handles", ())]
        # The function's inputs are the variables' handles, ``inputs`` and ``tensors``, and
        # nothing else: a captured tensor would be this layer's, not the next one's.
        if (not isinstance(y, tf.Tensor)
                or {t.name for t in graph.inputs} != {t.name for t in arguments}
                or (with_gradient and (gradients is None or any(
                    g is not None and not isinstance(g, tf.Tensor) for g in gradients)))):
            return None
        graph_def = graph.as_graph_def()
        if graph_def.library.function:
            return None
        operations = graph.get_operations()
        argument_names = [t.name for t in arguments]
        arguments_ops = {t.op.name for t in arguments}
        forward = _Part.of(graph_def, {op.name for op in operations[:marks["forward_end"]]}
                           - arguments_ops)
        backward = None
        if with_gradient:
            backward = _Part.of(graph_def, {
                op.name for op in operations[marks["forward_end"]:marks["end"]]} - {
                marks["dy"].op.name})
        if forward is None or (with_gradient and backward is None) or not forward.reads <= {
                *argument_names}:
            return None
        operation_graph = cls(
            argument_names, y.name, forward, backward,
            None if backward is None else marks["dy"].name,
            [None if g is None else g.name for g in gradients or ()])
        if not all(forward.produces(name) for name in operation_graph.saved_names):
            return None
        return operation_graph

    # --- copying, once per call -------------------------------------------------------

    def copy(self, layer, inputs, tensors):
        import tensorflow as tf
        from tensorflow.python.eager import record
        from tensorflow.python.ops import resource_variable_ops

        graph = tf.compat.v1.get_default_graph()
        variables = [v._value for v in layer.variables]
        for variable in variables:  # watched first, so the tape records their captures
            resource_variable_ops.variable_accessed(variable)
        handles = [graph.capture(v.handle) for v in variables]
        arguments = [inputs, *(tensors[n] for n in sorted(tensors)), *handles]
        known = dict(zip(self.argument_names, arguments))
        known.update(self.forward.copy(known, [self.output_name, *self.saved_names],
                                       layer.name))
        y = known[self.output_name]
        if self.backward is not None:
            def backward(dy):
                given = {**known, self.dy_name: dy}
                given.update(self.backward.copy(given, self.computed_gradient_names,
                                                f"{layer.name}_grad"))
                return [None if g is None else given[g] for g in self.gradient_names]

            record.record_operation("NASNetOperation", [y], arguments, backward)
        return y


class _Part:
    """Some of a traced graph's nodes as a graph definition, and the tensors outside them
    that they read (which a copy is given)."""

    def __init__(self, graph_def, reads):
        self.graph_def = graph_def
        self.reads = reads
        self.node_names = {node.name for node in graph_def.node}

    @classmethod
    def of(cls, graph_def, names):
        """The nodes named in ``names``; None where one is ordered after a node outside
        them (a control input, which a copy would not keep)."""
        from tensorflow.core.framework import graph_pb2

        out = graph_pb2.GraphDef()
        out.versions.CopyFrom(graph_def.versions)
        reads = set()
        for node in graph_def.node:
            if node.name not in names:
                continue
            for source in node.input:
                name = source.lstrip("^").split(":")[0]
                if name in names:
                    continue
                if source.startswith("^"):
                    return None
                reads.add(source if ":" in source else f"{source}:0")
            out.node.append(node)
        return cls(out, reads)

    def produces(self, tensor_name):
        return tensor_name.split(":")[0] in self.node_names

    def copy(self, known, wanted, name):
        """Copy the nodes into the current graph, reading ``known[t]`` for each tensor ``t``
        they read from outside; the copies of ``wanted`` by name (those produced here)."""
        from tensorflow.python.framework import importer

        produced = [t for t in wanted if self.produces(t)]
        # A read absent from the definition is taken from the map without a node of its
        # own (TensorFlow's importer needs a node only for an input it does not map).
        copies = importer.import_graph_def(
            self.graph_def, input_map={t: known[t] for t in self.reads},
            return_elements=produced, name=name)
        return dict(zip(produced, copies))


def _on_a_thread(trace, autocast_dtype, inference_kernel_active):
    """``trace()`` on a thread of its own: away from the caller's gradient tapes (which
    would otherwise record the traced ops, and watch the variables as read), its Keras
    call context and its graph, with the caller's autocast dtype and BatchNorm kernel."""
    from keras.src.backend.common.variables import AutocastScope

    from nasnet_keras.normalization import inference_kernel

    result = {}

    def run():
        _TRACING.active = True
        try:
            with contextlib.ExitStack() as scopes:
                if autocast_dtype is not None:
                    scopes.enter_context(AutocastScope(autocast_dtype))
                if inference_kernel_active:
                    scopes.enter_context(inference_kernel())
                result["graph"] = trace()
        except BaseException as error:  # noqa: BLE001 - raised again on the caller's thread
            result["error"] = error

    thread = threading.Thread(target=run, name="nasnet_keras-operation-trace")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["graph"]
