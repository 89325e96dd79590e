"""Reading a search's results without instantiating a tuner (users.md row 20).

The source is the append-only journal ``search_log.jsonl`` that the oracle
writes at the end of every trial.
"""

import csv
import json
import os

from nasnet_search import storage
from nasnet_search.oracles import JOURNAL


def load_results(project_dir):
    """One row (dict) per ended trial, in end order; a re-run trial keeps its last row."""
    path = os.path.join(project_dir, JOURNAL)
    if not os.path.isdir(project_dir):
        raise FileNotFoundError(f"No search project at {project_dir!r}.")
    rows = {}
    for record in storage.read_jsonl(path):
        row = {"trial_id": record["trial_id"], "status": record["status"],
               "reward": record["reward"], "seconds": record["seconds"],
               "reason": record["reason"], "tuner_id": record.get("tuner_id")}
        row.update({f"metric:{k}": v for k, v in sorted(record["metrics"].items())})
        row["architecture"] = record["architecture"]
        rows.pop(record["trial_id"], None)
        rows[record["trial_id"]] = row
    return list(rows.values())


def best_so_far(rows):
    """Running maximum of the reward over the rows (None before the first success)."""
    best, out = None, []
    for row in rows:
        if row["reward"] is not None and (best is None or row["reward"] > best):
            best = row["reward"]
        out.append(best)
    return out


def write_csv(rows, path):
    """All trials as CSV (architectures as JSON strings)."""
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(path, "w", newline="", encoding="utf8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v
                             for k, v in row.items()})
    return path
