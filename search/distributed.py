"""Distributed search on keras-tuner's chief/worker mode, made to finish and to survive deaths.

keras-tuner's own roles and wire format are kept (``KERASTUNER_TUNER_ID``,
``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``; its gRPC servicer and
client); what this module changes (keras_tuner.md §2-3):

- `serve`: the chief's loop polls every ``poll_seconds`` (keras-tuner: 20 s),
  takes back the trials of workers whose lease expired, and ends once the
  budget is spent and no worker is left, letting the last answers go out
  before the server stops;
- `RetryingStub`: a worker whose call fails because the chief went away
  waits for the chief to come back and sends the call again (the oracle
  ignores a repeated end of trial);
- `wait_while_idle`: a worker with nothing to do while others still run
  trials waits (the oracle answers IDLE) instead of leaving, so a trial
  whose worker dies still finds someone to run it;
- `Heartbeat`: a worker's running trial sends an empty report every few
  seconds, which renews its lease;
- `launch`: one chief and K workers on this machine as separate processes,
  their output merged into one stream, per-worker GPU visibility.
"""

import os
import re
import socket
import subprocess
import sys
import threading
import time

CHIEF_ID = "chief"
# A worker asked to stop after `recycle_every` trials (TensorFlow keeps a few MB for every
# train step it traces, so a long-lived worker grows) exits with this status between two
# trials; the launcher starts it again with the same id.  Nothing is lost: its last trial
# has ended, and the chief hands the next one to whoever asks.
RECYCLE_EXIT = 75
RECYCLE_ENV = "NASNET_SEARCH_RECYCLE_EVERY"
# TensorFlow's start-up chatter (absl INFO lines) in each role's output.
_NOISE = re.compile(r"^(I\d{4} |WARNING: All log messages before absl::InitializeLog)")


def role():
    """``"chief"``, ``"worker"`` or ``"local"``, from keras-tuner's variables."""
    from keras_tuner.src.distribute import utils as dist_utils

    if not dist_utils.has_chief_oracle():
        return "local"
    return "chief" if dist_utils.is_chief_oracle() else "worker"


def free_port(host="127.0.0.1"):
    """A TCP port that is free on ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# -- chief ---------------------------------------------------------------------------------------
def serve(oracle, poll_seconds=0.5, linger_seconds=2.0):
    """Serve ``oracle`` to the workers until the search is over.

    Over means: no new trial will start (`NASOracle.budget_spent`, or a worker
    was told STOPPED), no trial is running and every worker that asked for work
    was told to stop or lost its lease.
    """
    from concurrent import futures

    import grpc
    import keras_tuner as kt
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    # One handler thread, as keras-tuner: the oracle sees one request at a time.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(f"The chief cannot listen on {address} (KERASTUNER_ORACLE_IP/PORT); "
                           "is the port in use?")
    server.start()

    @kt.synchronized
    def finished(oracle):
        spent = servicer.stop_triggered or (hasattr(oracle, "budget_spent") and oracle.budget_spent())
        # A trial back in the queue (its worker died) still needs a worker to run it.
        return (spent and not oracle.ongoing_trials and not oracle.tuner_ids
                and not oracle._retry_queue)

    oracle._serving = True
    try:
        while True:
            time.sleep(poll_seconds)
            if hasattr(oracle, "expire_leases"):
                oracle.expire_leases()
            if finished(oracle):
                break
        # Late or restarted workers still get their STOPPED answer for a moment.
        time.sleep(linger_seconds)
    finally:
        server.stop(grace=5).wait()
        oracle._serving = False


# -- worker --------------------------------------------------------------------------------------
class RetryingStub:
    """Wraps a gRPC stub: a call that fails because the chief is unreachable is sent
    again (``wait_for_ready`` then waits for the chief), for up to ``patience`` s."""

    def __init__(self, stub, patience=3600.0, pause=1.0):
        self._stub = stub
        self.patience = patience
        self.pause = pause

    def __getattr__(self, name):
        method = getattr(self._stub, name)

        def call(*args, **kwargs):
            import grpc

            deadline = time.monotonic() + self.patience
            while True:
                try:
                    return method(*args, **kwargs)
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                        raise
                    print(f"[nasnet_search] the chief is unreachable ({name}); retrying.",
                          flush=True)
                    time.sleep(self.pause)

        return call


def wait_while_idle(oracle_client, pause):
    """Make the client's ``create_trial`` ask again every ``pause`` s while the answer is
    IDLE (keras-tuner's own loop would ask again at once, in a busy loop)."""
    from keras_tuner.engine.trial import TrialStatus

    create_trial = oracle_client.create_trial

    def create_trial_when_ready(tuner_id):
        while True:
            trial = create_trial(tuner_id)
            if trial.status != TrialStatus.IDLE:
                return trial
            time.sleep(pause)

    oracle_client.create_trial = create_trial_when_ready


class Heartbeat:
    """Sends an empty report for ``trial_id`` every ``interval`` s, in a thread."""

    def __init__(self, oracle_client, trial_id, interval):
        self._client = oracle_client
        self._trial_id = trial_id
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{trial_id}",
                                        daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(self._interval):
            try:
                self._client.update_trial(self._trial_id, {}, step=0)
            except Exception:  # noqa: BLE001 - the main thread's next call reports it
                pass

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)


# -- launcher ------------------------------------------------------------------------------------
def visible_gpus():
    """GPU ids this process may hand out: CUDA_VISIBLE_DEVICES, else nvidia-smi's list."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU ")]


def recycle_every_from_env():
    """The worker's ``recycle_every`` as the launcher set it, or None."""
    text = os.environ.get(RECYCLE_ENV)
    return int(text) if text else None


def role_environments(workers, host="127.0.0.1", port=None, gpus=None, recycle_every=None):
    """``[(tuner_id, env)]`` for a chief and ``workers`` workers (env: the variables to set)."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"`workers` must be an integer >= 1, got {workers!r}.")
    if recycle_every is not None and (not isinstance(recycle_every, int)
                                      or isinstance(recycle_every, bool) or recycle_every < 1):
        raise ValueError(f"`recycle_every` must be an integer >= 1 or None, got {recycle_every!r}.")
    port = port or free_port(host)
    common = {"KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port)}
    gpus = visible_gpus() if gpus is None else list(gpus)
    # The chief only runs the controller: keep it off the GPUs.
    roles = [(CHIEF_ID, dict(common, KERASTUNER_TUNER_ID=CHIEF_ID, CUDA_VISIBLE_DEVICES="-1"))]
    for i in range(workers):
        env = dict(common, KERASTUNER_TUNER_ID=f"tuner{i}")
        if recycle_every:
            env[RECYCLE_ENV] = str(recycle_every)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
            env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"  # workers sharing a GPU
        roles.append((f"tuner{i}", env))
    return roles


class _Role:
    def __init__(self, name, argv, env, out, lock):
        self.name, self.argv, self.env = name, argv, env
        self._out, self._lock = out, lock
        self.restarts = 0
        self.recycled = 0
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.reader = threading.Thread(target=self._pump, args=(self.proc,), daemon=True)
        self.reader.start()

    def _pump(self, proc):
        for line in proc.stdout:
            if _NOISE.match(line):
                continue
            with self._lock:
                self._out.write(f"[{self.name}] {line}")
                self._out.flush()

    def say(self, text):
        with self._lock:
            self._out.write(f"[launcher] {text}\n")
            self._out.flush()


def launch(argv, workers, host="127.0.0.1", port=None, gpus=None, worker_restarts=2,
           shutdown_seconds=60.0, out=None, recycle_every=None):
    """Run ``argv`` as a chief and ``workers`` workers on this machine; return the exit code.

    Every role runs the same command (keras-tuner's model) with its variables
    set; their output is prefixed with the role's name.  A worker that crashes
    while the chief runs is restarted with the same id (it then gets its trial
    back), up to ``worker_restarts`` times.  With ``recycle_every`` a worker
    leaves after that many trials (status `RECYCLE_EXIT`) and is started again
    with the same id, which bounds its memory.  When the chief ends, workers get
    ``shutdown_seconds`` to end, then are stopped (not a failure).  The code is
    the chief's, or 1 when a worker failed for good.
    """
    out = out or sys.stdout
    lock = threading.Lock()
    roles = [_Role(name, list(argv), dict(os.environ, **env), out, lock)
             for name, env in role_environments(workers, host, port, gpus, recycle_every)]
    chief, team = roles[0], roles[1:]
    failed = False
    try:
        while chief.proc.poll() is None:
            for worker in team:
                code = worker.proc.poll()
                if code in (None, 0):
                    continue
                if code == RECYCLE_EXIT:
                    worker.recycled += 1
                    worker.say(f"{worker.name} recycled after {recycle_every} trials "
                               f"({worker.recycled} so far); starting it again.")
                    worker.reader.join(timeout=5)
                    worker.start()
                    continue
                if worker.restarts < worker_restarts:
                    worker.restarts += 1
                    worker.say(f"{worker.name} exited with code {code}; restarting it "
                               f"({worker.restarts}/{worker_restarts}).")
                    worker.reader.join(timeout=5)
                    worker.start()
                elif not getattr(worker, "reported", False):
                    worker.reported = failed = True
                    worker.say(f"{worker.name} exited with code {code}; no restarts left.")
            time.sleep(0.2)
        deadline = time.monotonic() + shutdown_seconds
        for worker in team:
            try:
                worker.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # E.g. a worker that started after the chief had finished waits for it.
                worker.say(f"{worker.name} still running {shutdown_seconds:g} s after the chief "
                           "ended; stopping it.")
                worker.proc.terminate()
                worker.proc.wait()
                continue
            if worker.proc.returncode not in (0, None, RECYCLE_EXIT) \
                    and not getattr(worker, "reported", False):
                failed = True
    except BaseException:
        for role_ in roles:
            if role_.proc.poll() is None:
                role_.proc.terminate()
        for role_ in roles:
            role_.proc.wait()
        raise
    finally:
        for role_ in roles:
            role_.reader.join(timeout=5)
    code = chief.proc.returncode
    if code == 0 and failed:
        code = 1
    chief.say(f"chief exited with code {chief.proc.returncode}; "
              + ", ".join(f"{w.name} {w.proc.returncode}" for w in team) + ".")
    return code
