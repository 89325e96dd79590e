"""A small language model around any recurrent cell (the NAS paper's Penn Treebank child).

``language_model(cell, vocab_size)``: embedding, ``num_layers`` recurrent layers of the
cell, optional dropout between them, and a softmax over the vocabulary, optionally
through the embedding matrix itself (tied embeddings, Inan et al. 2016; Press & Wolf
2016; the paper's "shared embeddings" rows).  ``cell`` is ``"nas"`` (`NASCell`),
``"lstm"``, ``"gru"`` (Keras' own) or a `RecurrentCellSpec`.
"""

import keras
from keras import ops

from nasnet_keras.recurrent import NASCell, RecurrentCell
from nasnet_keras.recurrent_genotypes import RecurrentCellSpec

CELL_NAMES = ("nas", "lstm", "gru")


@keras.saving.register_keras_serializable(package="nasnet_keras")
class ReversibleEmbedding(keras.layers.Embedding):
    """An embedding that also maps vectors back to vocabulary logits with its own
    matrix (``reverse=True``), so input and output embeddings are one weight."""

    def call(self, inputs, reverse=False):
        if reverse:  # the embedding matrix in the layer's compute dtype (mixed precision)
            return ops.matmul(inputs, ops.transpose(ops.cast(self.embeddings, self.compute_dtype)))
        return super().call(inputs)

    def compute_output_spec(self, inputs, reverse=False):
        if reverse:
            return keras.KerasTensor((*inputs.shape[:-1], self.input_dim),
                                     dtype=self.compute_dtype)
        return super().compute_output_spec(inputs)


@keras.saving.register_keras_serializable(package="nasnet_keras")
class Perplexity(keras.metrics.Mean):
    """exp(mean cross-entropy per token) of sparse targets and predicted probabilities."""

    def __init__(self, name="perplexity", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        loss = keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
        return super().update_state(loss, sample_weight=sample_weight)

    def result(self):
        return ops.exp(super().result())


def make_cell(cell, units):
    """One recurrent cell of ``units`` units from a name or a `RecurrentCellSpec`."""
    if isinstance(cell, dict):
        cell = RecurrentCellSpec.from_dict(cell)
    if isinstance(cell, RecurrentCellSpec):
        return RecurrentCell(cell, units)
    if cell == "nas":
        return NASCell(units)
    if cell == "lstm":
        return keras.layers.LSTMCell(units)
    if cell == "gru":
        return keras.layers.GRUCell(units)
    raise ValueError(f"`cell` must be one of {CELL_NAMES} or a RecurrentCellSpec, got {cell!r}.")


def language_model(cell, vocab_size, units=128, embedding_dim=None, num_layers=2, dropout=0.0,
                   tied=False, sequence_length=None, name="language_model"):
    """A next-token model: ``(batch, time)`` token ids to ``(batch, time, vocab_size)``
    probabilities.

    Args:
        cell: ``"nas"``, ``"lstm"``, ``"gru"`` or a `RecurrentCellSpec`.
        vocab_size: number of tokens.
        units: units of each recurrent layer.
        embedding_dim: embedding width (default ``units``; must equal ``units`` when
            ``tied``).
        num_layers: recurrent layers.
        dropout: dropout rate on the embeddings and after each recurrent layer.
        tied: the softmax uses the embedding matrix (no separate output weights).
        sequence_length: fixed time steps, or None for any.
    """
    for field, value, minimum in (("vocab_size", vocab_size, 2), ("units", units, 1),
                                  ("num_layers", num_layers, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"`{field}` must be an integer >= {minimum}, got {value!r}.")
    embedding_dim = units if embedding_dim is None else embedding_dim
    if tied and embedding_dim != units:
        raise ValueError(f"`tied=True` needs `embedding_dim` == `units` (the last layer's output "
                         f"feeds the embedding matrix), got {embedding_dim} and {units}.")
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
    inputs = keras.Input((sequence_length,), dtype="int32", name="tokens")
    embedding = ReversibleEmbedding(vocab_size, embedding_dim, name="embedding")
    x = embedding(inputs)
    if dropout:
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    for i in range(num_layers):
        x = keras.layers.RNN(make_cell(cell, units), return_sequences=True, name=f"rnn_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    if tied:
        logits = embedding(x, reverse=True)
    else:
        logits = keras.layers.Dense(vocab_size, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=name)
