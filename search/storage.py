"""Atomic files: a crash or kill leaves either the old file or the new one, never half."""

import hashlib
import io
import json
import os
import tempfile
import time

import numpy as np


def atomic_write_bytes(path, data):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp_", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def remove_stale_temporaries(directory, older_than=600.0):
    """Delete the temporary files of writes a kill interrupted; returns their paths.

    A write lasts milliseconds, so a ``.tmp_*`` file older than ``older_than``
    seconds belongs to no running process (a chief restarting while its workers
    write must not remove theirs).
    """
    removed, cutoff = [], time.time() - older_than
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            try:
                if name.startswith(".tmp_") and os.path.getmtime(path) < cutoff:
                    os.remove(path)
                    removed.append(path)
            except FileNotFoundError:  # another process got there first
                continue
    return removed


def atomic_write_json(path, obj):
    atomic_write_bytes(path, json.dumps(obj, indent=1).encode("utf8"))


def read_json(path):
    with open(path, encoding="utf8") as f:
        return json.load(f)


def arrays_to_bytes(arrays):
    """``.npz`` bytes of a list of arrays, in order (0-d arrays stay 0-d)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{f"a{i:04d}": np.asarray(a) for i, a in enumerate(arrays)})
    return buffer.getvalue()


def arrays_from_bytes(data):
    with np.load(io.BytesIO(data)) as npz:
        return [npz[f"a{i:04d}"] for i in range(len(npz.files))]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def append_jsonl(path, record):
    """Append one line and flush it to disk (the journal is append-only)."""
    append_jsonl_many(path, [record])


def append_jsonl_many(path, records):
    """Append one line per record with a single write and flush."""
    if not records:
        return
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    with open(path, "ab") as f:
        if f.tell() > 0:
            # A kill mid-write leaves a torn last line; start on a fresh one.
            with open(path, "rb") as r:
                r.seek(-1, os.SEEK_END)
                if r.read(1) != b"\n":
                    text = "\n" + text
        f.write(text.encode("utf8"))
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path):
    """Records of a JSONL file; a torn last line (killed mid-write) is skipped."""
    records = []
    if not os.path.exists(path):
        return records
    with open(path, encoding="utf8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records

