"""The autoregressive RNN controller (Zoph & Le 2017; NASNet; ENAS).

One LSTM step per decision; the sampled action is fed back as the next input
(an embedding of a choice, or the chosen anchor's hidden state for an input
decision).  Input and skip decisions use the additive attention of Zoph & Le,
``v^T tanh(W_prev h_j + W_curr h_i)``, over the anchors (hidden states saved at
the end of each block or layer, plus one per cell input).  Logits are divided
by ``temperature`` and squashed to ``tanh_constant * tanh(.)`` as in ENAS.

Sampling draws one uniform number per decision from the caller's numpy
generator and inverts the CDF inside the graph, so a search's randomness lives
in one JSON-serialisable ``numpy`` state and resumes exactly.
"""

import keras
import numpy as np
from keras import ops

from nasnet_search.graph_options import GraphStep


class Controller(keras.Model):
    """The policy over a space's decisions.

    Args:
        decisions: the space's `Decision` list (its order is the step order).
        units: LSTM units (NASNet: 100).
        num_layers: stacked LSTM layers (NAS 2017: 2).
        init_range: weights start uniform in ``[-init_range, init_range]``.
        temperature: logits are divided by it (None: not applied).
        tanh_constant: logits become ``c * tanh(logits)`` (None: not applied).
        shared_heads: one softmax head per decision group, as ENAS (True), or one
            per decision plus a per-decision bias on attention logits (False:
            position-specific preferences are learned directly, which is what
            a budget of a few hundred trials needs).
        seed: initial weights.
    """

    def __init__(self, decisions, units=100, num_layers=1, init_range=0.1, temperature=None,
                 tanh_constant=None, shared_heads=False, seed=0, **kwargs):
        # float64: see `PolicyTrainer` (exact resume rounds float64 gradients to float32).
        kwargs.setdefault("dtype", "float64")
        super().__init__(**kwargs)
        dtype = self.dtype_policy
        self.decisions = tuple(decisions)
        self.units = units
        self.num_layers = num_layers
        self.init_range = init_range
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        self.shared_heads = shared_heads
        self.seed = seed
        seeds = iter(range(seed * 1000 + 1, seed * 1000 + 1000))

        def init():
            return keras.initializers.RandomUniform(-init_range, init_range, seed=next(seeds))

        self.cells = [keras.layers.LSTMCell(units, kernel_initializer=init(),
                                            recurrent_initializer=init(), bias_initializer=init(),
                                            unit_forget_bias=False, dtype=dtype, name=f"lstm_{i}")
                      for i in range(num_layers)]
        self.start = self.add_weight(shape=(1, units), initializer=init(), name="start_embedding")
        # One softmax head and one embedding per group of "choice" decisions.
        self.heads, self.embeddings, self.group_sizes = {}, {}, {}
        for d in self.decisions:
            if d.kind == "choice":
                known = self.group_sizes.setdefault(d.group, d.size)
                if known != d.size:
                    raise ValueError(f"Decisions of group {d.group!r} must have equal sizes.")
        # Embeddings are plain matrices used as one_hot @ E: dense gradients, because
        # sparse (IndexedSlices) updates are not bit-reproducible on CPU, and exact
        # resume compares weights bit for bit.
        # The last decision's choice feeds no later step: a group used only there (an
        # extra hyperparameter's) gets no embedding, which would never have a gradient.
        fed = {d.group for d in self.decisions[:-1] if d.kind == "choice"}
        for group, size in self.group_sizes.items():
            if group not in fed:
                continue
            self.embeddings[group] = self.add_weight(shape=(size, units), initializer=init(),
                                                     name=f"embed_{group}")
        self.biases = {}
        for t, d in enumerate(self.decisions):
            key = self._head_key(t, d)
            if d.kind == "choice" and key not in self.heads:
                self.heads[key] = keras.layers.Dense(d.size, kernel_initializer=init(),
                                                     bias_initializer=init(), dtype=dtype,
                                                     name=f"head_{key}")
            elif d.kind != "choice" and not shared_heads:
                self.biases[t] = self.add_weight(shape=(1 if d.kind == "skip" else d.size,),
                                                 initializer="zeros", name=f"bias_{t}")
        kinds = {d.kind for d in self.decisions}
        # Only what the space uses: a variable without gradients would warn at every update.
        if "skip" in kinds:
            self.skip_embedding = self.add_weight(shape=(2, units), initializer=init(),
                                                  name="embed_skip")
        if kinds & {"input", "skip"}:
            self.attn_prev = keras.layers.Dense(units, use_bias=False, kernel_initializer=init(),
                                                dtype=dtype, name="attention_prev")
            self.attn_curr = keras.layers.Dense(units, use_bias=False, kernel_initializer=init(),
                                                dtype=dtype, name="attention_curr")
            self.attn_v = keras.layers.Dense(1, use_bias=False, kernel_initializer=init(),
                                             dtype=dtype, name="attention_v")
        self._sample_fn = None  # graph-compiled sampler (the unrolled loop is slow eagerly)
        # Create every variable now, in a fixed order: resume and optimizer slots rely on it.
        self.run(np.zeros((1, len(self.decisions)), "int32"))
        self.built = True

    def _add_anchor(self, h, anchors, anchors_prev):
        anchors.append(h)
        if hasattr(self, "attn_prev"):
            anchors_prev.append(self.attn_prev(h))

    def _head_key(self, t, d):
        return d.group if self.shared_heads else f"{t}"

    def _lstm(self, x, states):
        new_states = []
        for cell, state in zip(self.cells, states):
            x, state = cell(x, state)
            new_states.append(state)
        return x, new_states

    def _shape(self, logits):
        if self.temperature:
            logits = logits / self.temperature
        if self.tanh_constant:
            logits = self.tanh_constant * ops.tanh(logits)
        return logits

    def run(self, actions=None, uniforms=None, greedy=False):
        """Walk the decisions for a batch.

        Give ``actions`` (int ``[batch, T]``, teacher forcing) or ``uniforms``
        (float ``[batch, T]`` in [0, 1), sampling; with ``greedy=True`` only their
        batch size is read and each decision takes its most likely value).  Returns ``(actions,
        log_probs [batch, T], entropies [batch, T])``.
        """
        source = actions if actions is not None else uniforms
        batch = ops.shape(source)[0]
        zeros = ops.zeros((batch, self.units), dtype=self.compute_dtype)
        states = [[zeros, zeros] for _ in self.cells]
        start = ops.repeat(self.start, batch, axis=0)
        x = start
        anchors, anchors_prev = [], []
        taken, logps, ents = [], [], []
        for t, d in enumerate(self.decisions):
            for _ in range(d.new_anchors_before):
                h, states = self._lstm(start, states)
                self._add_anchor(h, anchors, anchors_prev)
                x = start
            h, states = self._lstm(x, states)
            if d.kind == "choice":
                logits = self.heads[self._head_key(t, d)](h)
            else:
                curr = self.attn_curr(h)
                targets = d.candidates if d.kind == "input" else (d.anchor,)
                scores = [self.attn_v(ops.tanh(anchors_prev[j] + curr)) for j in targets]
                scores = ops.concatenate(scores, axis=-1)
                if t in self.biases:
                    scores = scores + self.biases[t]
                logits = scores if d.kind == "input" else ops.concatenate(
                    [ops.zeros_like(scores), scores], axis=-1)  # P(True) = sigmoid(score)
            logits = self._shape(logits)
            log_p = ops.log_softmax(logits, axis=-1)
            if actions is not None:
                a = ops.cast(actions[:, t], "int32")
            elif greedy:
                a = ops.cast(ops.argmax(log_p, axis=-1), "int32")
            else:  # inverse CDF of the policy at the given uniforms
                cdf = ops.cumsum(ops.exp(log_p), axis=-1)
                u = ops.cast(ops.expand_dims(uniforms[:, t], -1), self.compute_dtype)
                below = ops.cast(cdf <= u, "int32")
                a = ops.minimum(ops.sum(below, axis=-1), d.size - 1)
            one_hot = ops.one_hot(a, d.size, dtype=self.compute_dtype)
            logps.append(ops.sum(one_hot * log_p, axis=-1))
            ents.append(-ops.sum(ops.exp(log_p) * log_p, axis=-1))
            taken.append(a)
            if t == len(self.decisions) - 1:
                pass  # nothing reads the last decision's embedding
            elif d.kind == "choice":
                x = ops.matmul(one_hot, self.embeddings[d.group])
            elif d.kind == "input":
                stacked = ops.stack([anchors[j] for j in d.candidates], axis=1)
                x = ops.sum(stacked * ops.expand_dims(one_hot, -1), axis=1)
            else:
                x = ops.matmul(one_hot, self.skip_embedding)
            if d.closes_anchor:
                self._add_anchor(h, anchors, anchors_prev)
        return ops.stack(taken, axis=1), ops.stack(logps, axis=1), ops.stack(ents, axis=1)

    def call(self, actions):
        """Per-decision log-probabilities of ``actions`` (teacher forcing)."""
        return self.run(actions=actions)[1]

    def sample_from_uniforms(self, uniforms):
        """``run(uniforms=uniforms)`` as one traced graph (any number of rows), run
        without Grappler: a small float64 graph (`nasnet_search.graph_options`)."""
        if self._sample_fn is None:
            import tensorflow as tf

            self._sample_fn = GraphStep(
                tf.function(lambda u: self.run(uniforms=u), reduce_retracing=True),
                optimize_graph=False)
        return self._sample_fn(uniforms)

    def sample(self, rng):
        """One architecture: ``(actions, log_prob, entropy)``; consumes the numpy ``rng``."""
        # float32 as the policy computes (float64 uniforms only add Grappler log lines).
        uniforms = rng.random((1, len(self.decisions))).astype("float32")
        actions, logp, ent = self.sample_from_uniforms(uniforms)
        return ([int(a) for a in np.asarray(actions)[0]], float(np.sum(logp)),
                float(np.sum(ent)))

    def most_likely(self):
        """The greedy architecture (each decision's most likely value, step by step)."""
        actions, _, _ = self.run(uniforms=np.zeros((1, len(self.decisions)), "float32"),
                                 greedy=True)
        return [int(a) for a in np.asarray(actions)[0]]
