"""The chief-kill scenario, repeated under CPU load: are trials lost or run twice?

    python benchmarks/stress_chief.py [--runs 20] [--load 1] [--json]

Each run is `tests/test_search_distributed.py`'s scenario: a chief and two workers
on 127.0.0.1 run 10 synthetic trials (0.8 s each); once 3 trials have ended the
chief is SIGKILLed, and restarted a second later; the workers reconnect.  Meanwhile
``--load`` processes burn a core each.  A run *loses* a trial when fewer than 10
trials end, *repeats* one when a trial starts twice, and *journals* one twice when
the journal holds two records of it.  Target: 0 in 20.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from test_search_distributed import ROLE_SCRIPT  # noqa: E402  (the test's exact roles)

from nasnet_search import storage  # noqa: E402
from nasnet_search.distributed import role_environments  # noqa: E402

TRIALS = 10


def _env(extra):
    return dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), TF_CPP_MIN_LOG_LEVEL="3",
                **extra)


def one_run(directory, timeout=300):
    script = os.path.join(directory, "role.py")
    with open(script, "w") as f:
        f.write(ROLE_SCRIPT)
    argv = [sys.executable, script, directory, str(TRIALS), "0.8", "30"]
    roles = role_environments(2)
    procs = {name: subprocess.Popen(argv, env=_env(env), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for name, env in roles}
    journal = os.path.join(directory, "p", "search_log.jsonl")
    deadline = time.time() + timeout
    try:
        while len(storage.read_jsonl(journal)) < 3:
            if time.time() > deadline or any(p.poll() is not None for p in procs.values()):
                return {"error": "never reached 3 ended trials"}
            time.sleep(0.1)
        procs["chief"].send_signal(signal.SIGKILL)
        procs["chief"].wait()
        time.sleep(1.0)
        procs["chief"] = subprocess.Popen(argv, env=_env(roles[0][1]), stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
        codes = {name: p.wait(timeout=max(1, deadline - time.time()))
                 for name, p in procs.items()}
    except subprocess.TimeoutExpired:
        codes = {"timeout": -1}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    records = storage.read_jsonl(journal)
    ended = {r["trial_id"] for r in records}
    with open(os.path.join(directory, "starts.log")) as f:
        starts = [line.split()[1] for line in f if line.strip()]
    return {"codes": codes, "lost": TRIALS - len(ended),
            "repeated": len(starts) - len(set(starts)),
            "journaled_twice": len(records) - len(ended)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--load", type=int, default=1, help="processes burning a core each")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(args.load)]
    results = []
    start = time.time()
    try:
        for i in range(args.runs):
            with tempfile.TemporaryDirectory() as directory:
                result = one_run(directory)
            results.append(result)
            if not args.json:
                print(f"run {i + 1}/{args.runs}: {json.dumps(result)}", flush=True)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    failed = [r for r in results if r.get("error") or r.get("lost") or r.get("repeated")
              or r.get("journaled_twice")
              or any(c != 0 for c in r.get("codes", {}).values())]
    summary = {"runs": len(results), "load_processes": args.load,
               "runs_losing_a_trial": sum(1 for r in results if r.get("lost")),
               "runs_repeating_a_trial": sum(1 for r in results if r.get("repeated")),
               "runs_journaling_a_trial_twice": sum(1 for r in results
                                                    if r.get("journaled_twice")),
               "failed_runs": len(failed), "seconds": round(time.time() - start)}
    print(json.dumps(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
