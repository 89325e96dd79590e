"""Weight sharing (ENAS): the supernet, exact extraction, the search loop, kill and resume."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import nasnet_keras as nk
from nasnet_search import (MacroSearchSpace, NASNetSearchSpace, RandomOracle, RLOracle,
                           Supernet, WeightSharingTuner)
from nasnet_search.weight_sharing import JOURNAL, SupernetSteps

# Small enough to trace in seconds, with both kinds of input (strided / not, stem-wide).
SMALL = dict(num_blocks=2, operations=("sep_conv_3x3", "avg_pool_3x3", "identity"),
             combine=("add",))

PRESETS = [
    ("enas", dict(num_blocks=2)),
    ("enas", dict(num_blocks=3, output="searched")),
    ("pnas", dict(num_blocks=2)),
    ("nasnet", dict(num_blocks=2, combine=("add",))),
    ("nasnet_c", dict(num_blocks=2, combine=("add", "add_layernorm", "add_instancenorm"))),
]


def _images(n=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 32, 32, 3)).astype("float32")


@pytest.mark.parametrize("preset,overrides", PRESETS,
                         ids=[f"{p}-{i}" for i, (p, _) in enumerate(PRESETS)])
def test_extracted_child_equals_the_supernet_path(preset, overrides):
    space = NASNetSearchSpace.preset(preset, **overrides)
    net = Supernet(space, filters=4, num_cells=2 if preset == "enas" else 1)
    rng = np.random.default_rng(7)
    x = _images()
    for _ in range(2 if preset != "enas" else 3):
        actions = space.random_actions(rng)
        genotype = space.decode_actions(actions)
        np.testing.assert_array_equal(net.encode_actions(actions), net.encode(genotype))
        expected = net(x, net.encode(genotype), training=True).numpy()
        child = net.extract(genotype)
        assert not isinstance(child, Supernet) and child.count_params() < net.count_params()
        got = child(x, training=True).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_raw_passthrough_case_is_exact():
    """A reduction cell whose previous input already has the cell's width (two concatenated
    states of half width) is passed through by the child, not projected."""
    space = NASNetSearchSpace.preset("enas", num_blocks=2)
    net = Supernet(space, filters=4)
    spec = nk.CellSpec(ops=["sep_conv_3x3", "identity", "avg_pool_3x3", "sep_conv_3x3"],
                       inputs=[0, 1, 0, 1], combine=["add", "add"], concat=[2, 3])
    genotype = nk.Genotype(normal=spec, reduction=spec)
    child = net.extract(genotype)
    # reduction_cell_1 reads reduction_cell_0 (2 chunks of 2F = its own 4F) as it is.
    assert "prev_1x1/weights" not in child.get_layer("child_reduction_cell_1").slim_variables()
    x = _images()
    np.testing.assert_allclose(child(x, training=True).numpy(),
                               net(x, net.encode(genotype), training=True).numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def small_steps():
    space = NASNetSearchSpace(**SMALL)
    net = Supernet(space, filters=4)
    return space, net, SupernetSteps(net, 8, 0.05, 5e-4, 0.9, 1e-4, 5.0, 10)


def test_train_and_score_steps_are_traced_once_for_50_architectures(small_steps):
    space, net, steps = small_steps
    rng = np.random.default_rng(0)
    x, y = _images(8), rng.integers(0, 10, 8).astype("int32")
    seen = set()
    while len(seen) < 50:
        actions = space.random_actions(rng)
        seen.add(tuple(actions))
        arch = net.encode_actions(actions)
        loss, _ = steps.train_step(x, y, arch)
        steps.score_step(x, y, arch)
        assert np.isfinite(float(loss))
    assert steps.train_step.experimental_get_tracing_count() == 1
    assert steps.score_step.experimental_get_tracing_count() == 1
    # The traced forward is the eager one.
    arch = net.encode_actions(actions)
    traced = tf.function(lambda a: net(x, a, training=True))(arch)
    np.testing.assert_allclose(traced.numpy(), net(x, arch, training=True).numpy(), atol=1e-6)


def _gradients(model, call, x, y):
    """Eager gradients of the loss of ``call(x)`` for ``model``'s trainable variables."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, call(x)))
    # The tf.Variables under Keras' variables (an eager tape's zero fill needs TF dtypes).
    return tape.gradient(loss, [v.value for v in model.trainable_variables],
                         unconnected_gradients=tf.UnconnectedGradients.ZERO)


def test_unused_operations_get_zero_gradients_never_none(small_steps):
    space, net, _ = small_steps
    rng = np.random.default_rng(3)
    genotype = space.decode_actions(space.random_actions(rng))
    x, y = _images(8), rng.integers(0, 10, 8).astype("int32")

    # Eager: only the chosen branches run (as in the traced step).
    arch = net.encode(genotype)
    grads = _gradients(net, lambda images: net(images, arch, training=True), x, y)
    assert all(g is not None for g in grads)
    nonzero = sum(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    child = net.extract(genotype)
    # Exactly the child's weights move; every other operation's gradient is exactly zero.
    assert nonzero == len(child.trainable_variables) < len(grads)


def test_training_a_path_trains_the_child_it_extracts_to():
    """Gradients, not only outputs: an SGD step on one path of the supernet, then
    extraction, gives the child that the same step from the first extraction gives.
    (One step: over several, float32 round-off of the two summation orders grows to
    1e-3 in this tiny net's saturated softmax.)"""
    keras.utils.set_random_seed(0)
    space = NASNetSearchSpace.preset("enas", num_blocks=2)
    net = Supernet(space, filters=4)
    rng = np.random.default_rng(11)
    genotype = space.decode_actions(space.random_actions(rng))
    arch = net.encode(genotype)
    x, y = _images(8), rng.integers(0, 10, 8).astype("int32")
    child = net.extract(genotype)

    def sgd_step(model, call):
        grads = _gradients(model, call, x, y)
        keras.optimizers.SGD(0.1).apply_gradients(zip(grads, model.trainable_variables))

    before = child(x, training=False).numpy()
    sgd_step(net, lambda images: net(images, arch, training=True))
    sgd_step(child, lambda images: child(images, training=True))
    trained = net.extract(genotype, name="again")
    after = child(x, training=False).numpy()
    assert np.abs(after - before).max() > 1e-3  # the step changed the child
    # Inference mode: the moving statistics moved identically too.
    np.testing.assert_allclose(trained(x, training=False).numpy(), after, atol=1e-5, rtol=0)
    np.testing.assert_allclose(trained(x, training=True).numpy(),
                               child(x, training=True).numpy(), atol=1e-5, rtol=0)


def test_recalibrate_batch_norm_averages_batch_statistics():
    inputs = keras.Input((4,))
    outputs = keras.layers.BatchNormalization(momentum=0.99)(keras.layers.Dense(3)(inputs))
    model = keras.Model(inputs, outputs)
    data = np.random.default_rng(0).normal(2.0, 3.0, size=(96, 4)).astype("float32")
    kernel_before = model.layers[1].kernel.numpy().copy()
    assert nk.recalibrate_batch_norm(model, data, steps=None) == 2
    hidden = model.layers[1](data).numpy()
    bn = model.layers[2]
    means = [hidden[:64].mean(0), hidden[64:].mean(0)]
    variances = [hidden[:64].var(0), hidden[64:].var(0)]
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean(means, 0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean(variances, 0), rtol=1e-4)
    assert bn.momentum == 0.99
    np.testing.assert_array_equal(model.layers[1].kernel.numpy(), kernel_before)
    with pytest.raises(ValueError, match="`steps`"):
        nk.recalibrate_batch_norm(model, data, steps=0)


# -- clear errors --------------------------------------------------------------------------

@pytest.mark.parametrize("space,match", [
    (NASNetSearchSpace.preset("nasnet"), "`combine` option 'concat'.*Spaces that work: enas"),
    (NASNetSearchSpace.preset("nasnet_b"), "pass-through.*Spaces that work"),
    (MacroSearchSpace(num_layers=2), "NASNetSearchSpace.*macro"),
])
def test_spaces_the_supernet_cannot_express(space, match):
    with pytest.raises(ValueError, match=match):
        Supernet(space)
    with pytest.raises(ValueError, match=match):
        WeightSharingTuner(RandomOracle(space, max_trials=None, max_time=10), overwrite=True,
                           directory="/tmp/never-created-ws")


def test_bad_arguments(tmp_path):
    space = NASNetSearchSpace(**SMALL)
    with pytest.raises(ValueError, match="`selection`"):
        Supernet(space, selection="all")
    with pytest.raises(ValueError, match="`input_shape`.*32 px"):
        Supernet(space, input_shape=(16, 16, 3))
    oracle = RandomOracle(space, max_trials=None, max_time=10)
    with pytest.raises(ValueError, match="`score_batches`"):
        WeightSharingTuner(oracle, score_batches=0, directory=str(tmp_path))
    with pytest.raises(ValueError, match="`optimize_graph`.*'yes'"):
        WeightSharingTuner(oracle, optimize_graph="yes", directory=str(tmp_path))
    # A step made without Grappler runs with TensorFlow's graph optimizer off, and only
    # while it runs.
    from nasnet_search.graph_options import GraphStep

    def meta_optimizer_off():
        return tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer")

    assert GraphStep(meta_optimizer_off, optimize_graph=False)() is True
    assert not meta_optimizer_off()
    assert not GraphStep(meta_optimizer_off, optimize_graph=True)()
    # "auto": Grappler only for long (or unbounded) searches; nothing is traced here.
    for max_time, expected in ((300, False), (None, True), (3600, True)):
        auto = WeightSharingTuner(oracle, filters=4, directory=str(tmp_path),
                                  project_name=f"auto{max_time}")
        auto._make_steps(10, max_time)
        assert auto.steps.train_step.optimize_graph is expected
    tuner = WeightSharingTuner(oracle, filters=4, batch_size=16, score_batches=2,
                               directory=str(tmp_path), project_name="p")
    x, y = _images(32), np.zeros(32, "int32")
    with pytest.raises(ValueError, match="validation split has 20 examples.*score_batches=2 x "
                                         "batch_size=16 = 32"):
        tuner.search(x, y, validation_data=(_images(20), np.zeros(20, "int32")), epochs=1)
    with pytest.raises(ValueError, match="`validation_data`"):
        tuner.search(x, y, epochs=1)
    import keras_tuner as kt

    hps = kt.HyperParameters()
    hps.Choice("learning_rate", [1e-3, 1e-2])
    with pytest.raises(ValueError, match="architecture only.*learning_rate"):
        WeightSharingTuner(RandomOracle(space, max_trials=None, max_time=10,
                                        hyperparameters=hps), directory=str(tmp_path))


# -- the search: killed mid-way, resumed, finished ------------------------------------------

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from nasnet_search import NASNetSearchSpace, RLOracle, WeightSharingTuner
    from nasnet_search.datasets import load_dataset

    (x, y), (xv, yv), classes = load_dataset("digits", 32, max_examples=400)
    space = NASNetSearchSpace(num_blocks=2, operations=("sep_conv_3x3", "avg_pool_3x3",
                                                         "identity"), combine=("add",))
    oracle = RLOracle(space, algorithm="reinforce", max_trials=None, max_time=600, seed=1,
                      settings={"batch_size": 4})
    tuner = WeightSharingTuner(oracle, classes=classes, filters=4, batch_size=32,
                               warmup_epochs=1, archs_per_epoch=8, final_samples=6, final_top=2,
                               directory=sys.argv[1], project_name="ws",
                               overwrite=sys.argv[2] == "new")
    tuner.search(x, y, validation_data=(xv, yv), epochs=int(sys.argv[3]))
    print("TRACES", tuner.steps.train_step.experimental_get_tracing_count(),
          tuner.steps.score_step.experimental_get_tracing_count())
""")


def _run(tmp_path, mode, epochs, **kwargs):
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    # TensorFlow's warnings shown (level 1 hides only its INFO lines).
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1"}
    return subprocess.Popen([sys.executable, str(script), str(tmp_path), mode, str(epochs)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kwargs)


def test_sigkill_then_resume_loses_at_most_the_current_epoch(tmp_path):
    state_file = tmp_path / "ws" / "tuner0.json"
    proc = _run(tmp_path, "new", 4)
    deadline = time.time() + 400
    while time.time() < deadline and proc.poll() is None:
        if state_file.exists() and json.loads(state_file.read_text())["epoch"] >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.stdout.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = json.loads(state_file.read_text())
    assert saved["epoch"] >= 2 and saved["result"] is None
    # Epoch 2 scored architectures; the kill may have cut epoch 3 after its scores were written.
    resumed = _run(tmp_path, "resume", 4)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    assert "TRACES 1 1" in out
    # Warnings a user cannot act on: Grappler on the controller's float64 graphs, and type
    # inference on a cond whose gradient kept an int32 intermediate.
    assert "Not handling type" not in out and "Type inference failed" not in out, out[-3000:]
    state = json.loads(state_file.read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3, 4]
    assert state["history"][:saved["epoch"]] == saved["history"]
    records = [json.loads(line) for line in (tmp_path / "ws" / JOURNAL).read_text().splitlines()]
    search = [r for r in records if r["phase"] == "search"]
    # Warm-up epoch 0 scores nothing; epochs 1, 2 and 3 score 8 each, never twice.
    assert [r["epoch"] for r in search] == [1] * 8 + [2] * 8 + [3] * 8
    result = json.loads((tmp_path / "ws" / "result.json").read_text())
    assert 0.0 <= result["inherited_val_accuracy"] <= 1.0
    assert result["candidates"] >= 2
    # Only the last weights file is kept.
    assert sorted(p.name for p in (tmp_path / "ws").glob("supernet_e*.npz")) == ["supernet_e4.npz"]

    # The chosen child, extracted in this process, scores what the search reported.
    space = NASNetSearchSpace(**SMALL)
    oracle = RLOracle(space, algorithm="reinforce", max_trials=None, max_time=600, seed=1,
                      settings={"batch_size": 4})
    tuner = WeightSharingTuner(oracle, classes=10, filters=4, batch_size=32, warmup_epochs=1,
                               archs_per_epoch=8, final_samples=6, final_top=2,
                               directory=str(tmp_path), project_name="ws")
    assert tuner.result == result
    child = tuner.extract_best()
    assert child.count_params() > 0
    assert nk.Genotype.from_dict(result["architecture"]) == tuner.best_architecture()

    # export and report, as `nasnet-search export` / `report` write them
    from nasnet_search.report import write_weight_sharing_report

    arch_path, model_path = tuner.export(str(tmp_path / "export"),
                                         calibration_data=_images(16), calibration_steps=1)
    assert nk.Genotype.from_json(open(arch_path).read()) == tuner.best_architecture()
    loaded = keras.saving.load_model(model_path)
    assert loaded.count_params() == child.count_params()
    files = write_weight_sharing_report(str(tmp_path / "ws"))
    names = {os.path.basename(f) for f in files}
    assert {"weight_sharing.png", "report.md", "result.json"} <= names
    report = open(tmp_path / "ws" / "report" / "report.md").read()
    assert "24 architectures scored" in report and "![best cells](best_cells.png)" in report


# -- command line ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,match", [
    (["--space", "macro"], "needs --space nasnet"),
    (["--workers", "2"], "Drop --workers"),
    (["--space-preset", "nasnet_b"], "--space-preset nasnet_b: .*pass-through"),
    (["--space-preset", "nasnet"], "--space-preset nasnet: .*'concat'"),
])
def test_command_line_refuses_what_weight_sharing_cannot_do(tmp_path, argv, match):
    from nasnet_search.cli import run_command

    with pytest.raises(SystemExit, match=match):
        run_command(["run", "--weight-sharing", "--max-time", "60", "--directory",
                     str(tmp_path), *argv])
    assert not (tmp_path / "nas").exists()


def test_command_line_needs_a_budget(tmp_path):
    from nasnet_search.cli import run_command

    with pytest.raises(SystemExit, match="--max-time SECONDS or --epochs N"):
        run_command(["run", "--weight-sharing", "--directory", str(tmp_path)])


def test_batched_proposals_are_the_single_proposals():
    space = NASNetSearchSpace(**SMALL)
    one, many = (RLOracle(space, algorithm="reinforce", max_trials=None, max_time=10, seed=4)
                 for _ in range(2))
    singles = [one._propose() for _ in range(5)]
    batch = many.propose_batch(5)
    assert [a for a, _ in singles] == [a for a, _ in batch]
    np.testing.assert_allclose([i["logp"] for _, i in singles], [i["logp"] for _, i in batch],
                               rtol=1e-5)
    first, second = (RandomOracle(space, max_trials=None, max_time=10, seed=1) for _ in range(2))
    assert [a for a, _ in first.propose_batch(3)] == [second._propose()[0] for _ in range(3)]


# -- a tf.distribute strategy ---------------------------------------------------------------

MIRRORED = textwrap.dedent("""
    import json
    import sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from nasnet_search import NASNetSearchSpace, Supernet
    from nasnet_search.weight_sharing import SupernetSteps

    space = NASNetSearchSpace(num_blocks=1, operations=("sep_conv_3x3", "identity"),
                              combine=("add",))
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    keras.utils.set_random_seed(0)
    plain = Supernet(space, filters=4)
    with strategy.scope():
        mirrored = Supernet(space, filters=4)
    for a, b in zip(mirrored.weights, plain.weights):
        a.assign(b.numpy())
    before = [w.numpy() for w in plain.trainable_weights]
    # No clipping, so a gradient counted twice would show.
    plain_steps = SupernetSteps(plain, 8, 0.05, 5e-4, 0.9, 0.0, 0.0, 10)
    mirrored_steps = SupernetSteps(mirrored, 8, 0.05, 5e-4, 0.9, 0.0, 0.0, 10, strategy=strategy)
    rng = np.random.default_rng(0)
    # Two equal halves: each replica's BatchNorm statistics are then the whole batch's.
    half = rng.normal(size=(4, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, 4).astype("int32")
    x, y = np.concatenate([half, half]), np.concatenate([labels, labels])
    arch = plain.encode_actions(space.random_actions(rng))
    out = {"losses": [float(plain_steps.train_step(x, y, arch)[0]),
                      float(mirrored_steps.train_step(x, y, arch)[0])],
           "moved": max(float(np.max(np.abs(w.numpy() - b)))
                        for w, b in zip(plain.trainable_weights, before)),
           "difference": max(float(np.max(np.abs(a.numpy() - b.numpy())))
                             for a, b in zip(mirrored.weights, plain.weights)),
           "traces": mirrored_steps.train_step.experimental_get_tracing_count(),
           # Scoring runs on one device, with the (equal) mirrored weights.
           "scores": [float(plain_steps.score_step(x, y, arch)),
                      float(mirrored_steps.score_step(x, y, arch))],
           "replicas": strategy.num_replicas_in_sync}
    from nasnet_search import RandomOracle, WeightSharingTuner

    try:
        WeightSharingTuner(RandomOracle(space, max_trials=None, max_time=10), filters=4,
                           batch_size=63, directory=sys.argv[1], distribution_strategy=strategy)
    except ValueError as error:
        out["odd_batch"] = str(error)
    print("RESULT " + json.dumps(out))
""")


def test_a_mirrored_strategy_computes_the_one_device_step(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                          text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stdout[-2000:] + done.stderr[-2000:]
    out = json.loads(lines[0][len("RESULT "):])
    assert out["replicas"] == 2 and out["traces"] == 1
    assert abs(out["losses"][0] - out["losses"][1]) < 1e-5
    # One step moved weights by ~0.1; the two agree to round-off (amplified where a
    # gradient is zero up to round-off, e.g. a BatchNorm offset followed by BatchNorm).
    assert out["moved"] > 1e-2
    assert out["difference"] < 1e-5, out
    assert out["scores"][0] == out["scores"][1]
    assert "`batch_size` (63) must be divisible by the strategy's 2 replicas" in out["odd_batch"]


def test_strategy_errors(tmp_path):
    space = NASNetSearchSpace(**SMALL)
    oracle = RandomOracle(space, max_trials=None, max_time=10)
    with pytest.raises(TypeError, match="`distribution_strategy` must be a tf.distribute"):
        WeightSharingTuner(oracle, filters=4, directory=str(tmp_path),
                           distribution_strategy="mirrored")
