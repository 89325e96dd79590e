"""Wall time of each notebook run top to bottom as shipped (offline, default settings).

    python benchmarks/notebooks.py [--json]

The target is about 5 minutes each on 2 CPU cores; `FULL_SIZE = True` in a notebook's
parameters cell is the full-size run, not measured here.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "notebooks")


def run(name):
    book = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    with tempfile.TemporaryDirectory() as cwd:
        start = time.perf_counter()
        NotebookClient(book, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": cwd}}).execute()
        return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    names = sorted(f for f in os.listdir(NOTEBOOKS) if f.endswith(".ipynb"))
    seconds = {}
    for name in names:
        seconds[name] = round(run(name), 1)
        if not args.json:
            print(f"{name:32s} {seconds[name]:7.1f} s", flush=True)
    if args.json:
        print(json.dumps(seconds))


if __name__ == "__main__":
    sys.exit(main())
