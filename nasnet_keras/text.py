"""Text corpora as next-token batches: ``text:pydoc`` (offline) and ``text:PATH``.

``text:pydoc`` is the Python standard library's help topics (``pydoc_data.topics``,
about 465,000 characters of English technical prose on CPython 3.11; it ships with
every CPython, so it needs no download, but it changes between Python releases:
never compare perplexities across them).  ``text:PATH`` reads a UTF-8 file.

Modelling is character level: the vocabulary is the training part's characters
(sorted, index 0 reserved for characters the training part lacks).  The text is cut
into consecutive windows of ``sequence_length + 1`` characters; ``x`` is a window
without its last character, ``y`` without its first.  The last ``validation_fraction``
of the text is the validation part, so no window straddles the split.
"""

import dataclasses
import os

import numpy as np

TEXT_FORMS = "text:pydoc | text:PATH"


@dataclasses.dataclass(frozen=True)
class TextInfo:
    """What `load_text` read: the vocabulary (``vocabulary[i]`` is token i; token 0 is
    the unknown character) and the corpus size."""

    spec: str
    vocabulary: tuple
    characters: int

    @property
    def vocab_size(self):
        return len(self.vocabulary)

    def decode(self, tokens):
        return "".join(self.vocabulary[int(t)] if t else "?" for t in tokens)


def read_corpus(spec, argument="dataset"):
    """The raw text of a ``text:`` spec."""
    if not isinstance(spec, str) or not spec.startswith("text:") or spec == "text:":
        raise ValueError(f"`{argument}` must be {TEXT_FORMS}, got {spec!r}.")
    source = spec[len("text:"):]
    if source == "pydoc":
        from pydoc_data.topics import topics

        return "\n".join(topics[k] for k in sorted(topics))
    if not os.path.isfile(source):
        raise ValueError(f"`{argument}` {spec!r}: no such file {source!r} (expected a UTF-8 "
                         "text file, or text:pydoc).")
    with open(source, encoding="utf8") as f:
        return f.read()


def _windows(tokens, sequence_length):
    count = (len(tokens) - 1) // sequence_length
    x = tokens[:count * sequence_length].reshape(count, sequence_length)
    y = tokens[1:count * sequence_length + 1].reshape(count, sequence_length)
    return x, y


def load_text(spec="text:pydoc", sequence_length=64, validation_fraction=0.1,
              max_sequences=None, argument="dataset"):
    """``(x_train, y_train), (x_val, y_val), info``: int32 arrays of shape
    ``(windows, sequence_length)`` and a `TextInfo`.

    ``max_sequences`` caps the training windows (the first ones) and the validation
    windows at a tenth of it (at least one).
    """
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or \
            sequence_length < 1:
        raise ValueError(f"`sequence_length` must be a positive integer, got {sequence_length!r}.")
    if not isinstance(validation_fraction, (int, float)) or not 0 < validation_fraction < 1:
        raise ValueError(f"`validation_fraction` must be in (0, 1), got {validation_fraction!r}.")
    if max_sequences is not None and (isinstance(max_sequences, bool) or
                                      not isinstance(max_sequences, int) or max_sequences < 1):
        raise ValueError(f"`max_sequences` must be a positive integer or None, got "
                         f"{max_sequences!r}.")
    text = read_corpus(spec, argument)
    cut = int(len(text) * (1 - validation_fraction))
    train_text, val_text = text[:cut], text[cut:]
    needed = sequence_length + 1
    if len(train_text) < needed or len(val_text) < needed:
        minimum = int(np.ceil(needed / min(validation_fraction, 1 - validation_fraction)))
        raise ValueError(
            f"`{argument}` {spec!r} is too short: {len(text)} characters give a training part of "
            f"{len(train_text)} and a validation part of {len(val_text)}; each needs at least "
            f"sequence_length + 1 = {needed} (about {minimum} characters in all).")
    vocabulary = ("",) + tuple(sorted(set(train_text)))
    index = {ch: i for i, ch in enumerate(vocabulary)}
    encode = lambda part: np.array([index.get(ch, 0) for ch in part], "int32")  # noqa: E731
    x, y = _windows(encode(train_text), sequence_length)
    xv, yv = _windows(encode(val_text), sequence_length)
    if max_sequences is not None:
        x, y = x[:max_sequences], y[:max_sequences]
        keep = max(1, max_sequences // 10)
        xv, yv = xv[:keep], yv[:keep]
    return (x, y), (xv, yv), TextInfo(spec, vocabulary, len(text))
