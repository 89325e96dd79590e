"""NASCell against Keras' LSTM and GRU at an equal parameter count, on text:pydoc.

    python benchmarks/recurrent.py [--budget-units 128] [--epochs 10] [--max-sequences N]
                                   [--sequence-length 64] [--cells nas lstm gru] [--json]

Character-level language models (`nasnet_keras.language_model`: embedding 64, two
recurrent layers, softmax), one per cell, each with as many units as keeps its
parameter count closest to the LSTM's with ``--budget-units`` units.  Same data
(the standard library's help topics, or their first ``--max-sequences`` windows), same
Adam (3e-3, clip norm 1), same seed and batch; by default every window of the corpus
(about 6,500 of 64 characters for training).  Reported: validation perplexity after
each epoch, seconds per epoch after the first (the first includes tracing), parameters.
Perplexities are for this Python's pydoc topics only (they change between releases).
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import nasnet_keras as nk  # noqa: E402
from nasnet_keras.language_model import Perplexity, language_model  # noqa: E402
from nasnet_keras.text import load_text  # noqa: E402

EMBEDDING = 64


def _model(cell, vocab, units, length):
    return language_model(cell, vocab, units=units, embedding_dim=EMBEDDING,
                          sequence_length=length, name=f"lm_{cell}_{units}")


def units_for_budget(cell, vocab, budget, length):
    """The units whose model's parameter count is closest to ``budget``."""
    low, high = 1, 1024
    while high - low > 1:  # parameters grow with units
        mid = (low + high) // 2
        if _model(cell, vocab, mid, length).count_params() <= budget:
            low = mid
        else:
            high = mid
    counts = {u: _model(cell, vocab, u, length).count_params() for u in (low, high)}
    return min(counts, key=lambda u: abs(counts[u] - budget)), counts


class _EpochClock(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times, self._start = [], None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def run(cell, data, vocab, units, args):
    (x, y), (xv, yv) = data
    keras.utils.set_random_seed(0)
    model = _model(cell, vocab, units, args.sequence_length)
    model.compile(optimizer=nk.FusedAdam(3e-3, global_clipnorm=1.0),
                  loss="sparse_categorical_crossentropy", metrics=[Perplexity()])
    clock = _EpochClock()
    history = model.fit(x, y, validation_data=(xv, yv), epochs=args.epochs, batch_size=64,
                        verbose=0, callbacks=[clock])
    later = clock.times[1:] or clock.times
    return {"cell": cell, "units": units, "params": model.count_params(),
            "val_perplexity": [round(v, 2) for v in history.history["val_perplexity"]],
            "train_perplexity": [round(v, 2) for v in history.history["perplexity"]],
            "first_epoch_s": round(clock.times[0], 1),
            "epoch_s": round(statistics.median(later), 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-units", type=int, default=128,
                        help="the LSTM's units; the other cells match its parameter count")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-sequences", type=int, default=None)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--cells", nargs="+", default=["nas", "lstm", "gru"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    train, val, info = load_text("text:pydoc", args.sequence_length,
                                 max_sequences=args.max_sequences)
    keep = len(train[0]) // 64 * 64  # whole batches: one trace per model
    data = ((train[0][:keep], train[1][:keep]), val)
    budget = _model("lstm", info.vocab_size, args.budget_units,
                    args.sequence_length).count_params()
    rows = []
    for cell in args.cells:
        units, _ = units_for_budget(cell, info.vocab_size, budget, args.sequence_length)
        rows.append(run(cell, data, info.vocab_size, units, args))
        if not args.json:
            r = rows[-1]
            print(f"{cell:<5} units {r['units']:>4}  params {r['params']:>8,}  validation "
                  f"perplexity by epoch {r['val_perplexity']}  {r['epoch_s']} s/epoch "
                  f"(first {r['first_epoch_s']} s)", flush=True)
    out = {"corpus_characters": info.characters, "vocab_size": info.vocab_size,
           "train_windows": keep, "validation_windows": len(val[0]),
           "sequence_length": args.sequence_length, "parameter_budget": budget, "rows": rows}
    print(json.dumps(out, indent=1) if args.json else
          f"{keep} training windows of {args.sequence_length} characters, {len(val[0])} "
          f"validation windows, vocabulary {info.vocab_size}, budget {budget:,} parameters.")


if __name__ == "__main__":
    main()
