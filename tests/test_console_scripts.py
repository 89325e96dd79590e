"""The installed console scripts, run as a shell runs them: exit status 0 on success, and a
non-zero status with a one-line message on failure."""

import os
import subprocess
import sys
import time

import keras
import pytest

BIN = os.path.dirname(sys.executable)


def _script(name):
    path = os.path.join(BIN, name)
    assert os.path.exists(path), f"{name} is not installed next to {sys.executable}"
    return path


def _run(args, cwd, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _message(stderr):
    """Our lines on stderr (TensorFlow's start-up chatter aside)."""
    return [line for line in stderr.splitlines() if line.startswith("nasnet-")]


def test_search_commands_chain_with_and(tmp_path):
    search = _script("nasnet-search")
    common = f"--directory {tmp_path} --project-name p"
    chain = (f"{search} run --space macro --macro-layers 1 --max-trials 2 --max-examples 120 "
             f"--quiet {common} && {search} export {common} && {search} report {common} "
             f"&& echo CHAIN-DONE")
    done = _run(["bash", "-c", chain], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "CHAIN-DONE" in done.stdout
    assert (tmp_path / "p" / "export" / "best_model.keras").exists()
    assert (tmp_path / "p" / "report" / "report.md").exists()

    # A finished search resumed with workers exits at once, successfully.
    start = time.monotonic()
    again = _run([search, "resume", "--workers", "2"] + common.split(), cwd=tmp_path)
    assert again.returncode == 0 and "is finished" in again.stdout, again.stderr[-2000:]
    assert time.monotonic() - start < 30

    missing = _run([search, "resume", "--directory", str(tmp_path), "--project-name", "nope"],
                   cwd=tmp_path)
    assert missing.returncode == 1
    assert _message(missing.stderr) == [
        f"nasnet-search: no search at {str(tmp_path / 'nope')!r} (search_config.json missing); "
        "start one with `nasnet-search run`."]

    unknown = _run([search, "run", "--space", "macro", "--objective", "custom_metric",
                    "--max-examples", "60", "--directory", str(tmp_path), "--project-name", "u"],
                   cwd=tmp_path)
    assert unknown.returncode == 1
    line, = _message(unknown.stderr)
    assert line.startswith("nasnet-search: error: Could not infer optimization direction")
    assert "Traceback" not in unknown.stderr

    usage = _run([search, "run", "--algorithm", "bayesian"], cwd=tmp_path)
    assert usage.returncode == 2 and "invalid choice: 'bayesian'" in usage.stderr


def test_nasnet_keras_export_exit_status(tmp_path):
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.save(tmp_path / "m.keras")
    tool = _script("nasnet-keras")
    ok = _run([tool, "export", "--model", "m.keras", "--format", "saved_model", "--examples", "8",
               "--output", "saved"], cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert '"top1_agreement": 1.0' in ok.stdout
    missing = _run([tool, "export", "--model", "none.keras", "--output", "x"], cwd=tmp_path)
    assert missing.returncode == 1
    assert _message(missing.stderr) == ["nasnet-keras: --model 'none.keras': no such file."]


@pytest.mark.parametrize("module", ["nasnet_search.cli", "nasnet_keras.cli"])
def test_python_m_entry_points_exit_like_the_scripts(tmp_path, module):
    out = _run([sys.executable, "-m", module, "--help"], cwd=tmp_path)
    assert out.returncode == 0 and "usage:" in out.stdout
