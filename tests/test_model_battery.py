"""keras-hub-style battery on a tiny NASNet-A: config, saving, tf.data, precision, names."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import nasnet_keras as nk

from conftest import randomize, tiny_model


def _x(n=4, size=32, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype("float32")


@pytest.mark.parametrize("stem", ["cifar", "imagenet"])
def test_get_config_from_config_round_trip(stem):
    shape = (32, 32, 3) if stem == "cifar" else (64, 64, 3)
    model = randomize(tiny_model(stem=stem, input_shape=shape))
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = _x(size=shape[0])
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_cell_config_round_trip():
    cell = nk.NASNetCell(nk.NASNET_A.reduction, 8, strides=2, prev_mode="reduce",
                         pad_mode="tf", drop_path_keep_prob=0.7, cell_index=3, total_cells=9,
                         scope="reduction_cell_0", name="rc")
    config = cell.get_config()
    again = nk.NASNetCell.from_config(config)
    assert again.get_config() == config
    assert again.spec == nk.NASNET_A.reduction


def test_keras_file_round_trip(tmp_path):
    model = randomize(tiny_model(drop_path_keep_prob=0.8, total_training_steps=10))
    path = str(tmp_path / "tiny.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    x = _x()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]


def test_predict_on_tf_data():
    model = tiny_model()
    x = _x(10)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(4)
    out = model.predict(ds, verbose=0)
    assert out.shape == (10, 5)
    np.testing.assert_allclose(out, model.predict(x, verbose=0), atol=1e-6)


def test_mixed_bfloat16_train_step_has_float32_outputs():
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = tiny_model(drop_path_keep_prob=0.9, total_training_steps=100)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = _x(8), np.arange(8) % 5
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.output.dtype == "float32"
    assert model.predict(x, verbose=0).dtype == np.float32
    cell = next(l for l in model.layers if isinstance(l, nk.NASNetCell))
    assert cell.compute_dtype == "bfloat16"
    assert any(not np.allclose(a, np.array(w)) for a, w in zip(before, model.trainable_weights))


def test_two_named_models_in_one_graph(tmp_path):
    a = tiny_model(name="left")
    b = tiny_model(name="right")
    assert all(l.name.startswith("left_") for l in a.layers)
    inp = keras.Input((32, 32, 3))
    merged = keras.Model(inp, keras.layers.Average()([a(inp), b(inp)]))
    merged.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    merged.fit(_x(4), np.arange(4) % 5, epochs=1, verbose=0)
    path = str(tmp_path / "two.keras")
    merged.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(_x(2), verbose=0), merged.predict(_x(2), verbose=0),
                               atol=1e-6)
    # Name-keyed weight files ignore the prefix.
    wpath = str(tmp_path / "left.h5")
    nk.save_weights(randomize(a), wpath)
    c = tiny_model(name="other")
    nk.load_weights(c, wpath)
    np.testing.assert_allclose(c.predict(_x(2), verbose=0), a.predict(_x(2), verbose=0), atol=1e-6)


def test_unknown_spatial_size_in_a_generic_model():
    model = tiny_model(stem="imagenet", input_shape=(None, None, 3), include_top=False)
    for size in (32, 45, 64):
        assert model.predict(_x(1, size), verbose=0).shape[-1] == 192


def test_pnasnet_and_concat_combine_build_and_train():
    spec = nk.CellSpec(ops=["sep_conv_3x3", "max_pool_3x3", "conv_1x7_7x1", "dil_conv_3x3",
                            "identity", "conv_3x3"],
                       inputs=[0, 1, 2, 0, 3, 1], combine=["concat", "add", "add"],
                       concat=[0, 1, 3, 4])
    red = nk.CellSpec(ops=["max_pool_5x5", "max_pool_7x7", "conv_1x3_3x1", "conv_1x1",
                           "dil_conv_3x3", "identity"],
                      inputs=[0, 1, 0, 2, 3, 1], combine=["add", "concat", "add"], concat=[2, 4])
    for genotype, p in ((nk.PNASNET_5, 160), (nk.Genotype(spec, red), 128)):
        model = tiny_model(genotype=genotype, penultimate_filters=p, stem="imagenet",
                           input_shape=(64, 64, 3))
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.fit(_x(4, 64), np.arange(4) % 5, epochs=1, verbose=0)
        assert model.predict(_x(2, 64), verbose=0).shape == (2, 5)


def test_default_names_and_prefixes():
    model = nk.NASNetA("cifar", num_cells=1, penultimate_filters=192)
    assert model.name == "nasnet_a_cifar"
    assert model.get_layer("cell_0").scope == "cell_0"
    named = tiny_model(name="student")
    assert named.name == "student" and named.get_layer("student_cell_0").scope == "cell_0"
    assert list(nk.endpoints(named)) == list(nk.endpoints(tiny_model()))


def test_pass_through_cells_feed_the_next_four_cells_and_the_head():
    cell = nk.CellSpec(ops=["sep_conv_3x3", "identity", "max_pool_3x3", "conv_1x1",
                            "avg_pool_3x3", "identity", "dil_conv_3x3", "identity"],
                       inputs=[0, 1, 2, 3, 4, 0, 5, 1],
                       combine=["add", "add_layernorm", "add_instancenorm", "add"],
                       num_inputs=4, output_mode="pass")
    model = tiny_model(genotype=nk.Genotype(cell, cell), num_cells=4, penultimate_filters=128,
                       stem="imagenet", input_shape=(64, 64, 3))
    cells = {l.scope: l for l in model.layers if isinstance(l, nk.NASNetCell)}

    def origins(tensors):  # (cell, output number); a cell returns only its live outputs
        histories = [t._keras_history for t in tensors]
        return [(h.operation.scope, (h.operation.live_outputs or range(4))[h.tensor_index])
                for h in histories]

    # cell_5 reads output 0 of cell_4, 1 of reduction_cell_0, 2 of cell_3, 3 of cell_2.
    assert origins(cells["cell_5"]._inbound_nodes[0].input_tensors) == [
        ("cell_4", 0), ("reduction_cell_0", 1), ("cell_3", 2), ("cell_2", 3)]
    assert cells["cell_4"].prev_modes == ["reduce"] * 3
    assert cells["cell_5"].prev_modes == ["match", "reduce", "reduce"]
    head = model.get_layer("final_concat")
    assert origins(head._inbound_nodes[0].input_tensors) == [
        ("cell_11", 0), ("cell_10", 1), ("cell_9", 2), ("cell_8", 3)]
    assert model.predict(np.zeros((1, 64, 64, 3), "float32"), verbose=0).shape == (1, 5)


def test_outputs_nothing_reads_are_not_built():
    """No weight without a gradient: a pass cell computes only the outputs later cells or
    the head read, and a concat cell skips a block that reaches neither its output nor
    another block (Keras would warn at every step)."""
    b_cell = nk.CellSpec(ops=["sep_conv_3x3", "identity", "conv_1x1", "max_pool_3x3",
                              "dil_conv_3x3", "sep_conv_5x5", "identity", "conv_3x3"],
                         inputs=[0, 1, 2, 3, 4, 0, 5, 1], combine=["add", "add", "add", "concat"],
                         num_inputs=4, output_mode="pass")
    dead_block = nk.CellSpec(ops=["sep_conv_3x3", "identity", "conv_3x3", "conv_1x1",
                                  "avg_pool_3x3", "sep_conv_5x5"],
                             inputs=[0, 1, 1, 0, 2, 0], combine=["add", "add", "add"],
                             concat=[1, 4])  # block 1 (state 3): read by nothing
    for genotype, p in ((nk.Genotype(b_cell, b_cell), 160),
                        (nk.Genotype(dead_block, dead_block), 64)):
        model = tiny_model(genotype=genotype, penultimate_filters=p)
        with tf.GradientTape() as tape:
            loss = keras.ops.sum(model(_x(2), training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        assert [v.path for v, g in zip(model.trainable_variables, grads) if g is None] == []
    cells = {l.scope: l for l in model.layers if isinstance(l, nk.NASNetCell)}
    assert cells["cell_0"].needed_blocks == {0, 2}
    b_model = tiny_model(genotype=nk.Genotype(b_cell, b_cell), penultimate_filters=160)
    b_cells = {l.scope: l for l in b_model.layers if isinstance(l, nk.NASNetCell)}
    # The last cell feeds only the head (its output 0); the one before also output 1.
    assert b_cells["cell_2"].live_outputs == (0,)
    assert b_cells["reduction_cell_1"].live_outputs == (0, 1)
    clone = keras.Model.from_config(b_model.get_config())
    assert clone.count_params() == b_model.count_params()
    with pytest.raises(ValueError, match="live_outputs"):
        nk.NASNetCell(nk.NASNET_A.normal, 8, live_outputs=(0,))
    with pytest.raises(ValueError, match="live_outputs"):
        nk.NASNetCell(b_cell, 8, prev_mode=["match"] * 3, live_outputs=(4,))


def test_endpoints_of_a_pass_through_model_twice_do_not_clash():
    cell = nk.CellSpec(ops=["sep_conv_3x3", "identity", "conv_1x1", "max_pool_3x3",
                            "dil_conv_3x3", "sep_conv_5x5", "identity", "conv_3x3"],
                       inputs=[0, 1, 2, 3, 4, 0, 5, 1], combine=["add", "add", "add", "concat"],
                       num_inputs=4, output_mode="pass")
    model = tiny_model(genotype=nk.Genotype(cell, cell), penultimate_filters=160)
    first, second = nk.endpoint_model(model), nk.endpoint_model(model)
    pyramid = nk.feature_pyramid(model, levels=(0, 1, 2))
    both = keras.Model(model.inputs, [first.outputs, second.outputs, pyramid.outputs])
    outputs = both.predict(_x(1), verbose=0)
    for a, b in zip(outputs[0], outputs[1]):
        np.testing.assert_array_equal(a, b)


def test_cells_nothing_reads_are_pruned():
    """A searched cell that never reads input 0 leaves the cell before it unread (here the
    first reduction cell and, through it, more): those cells are not built, so every
    weight gets a gradient, and the network computes the same function."""
    skips_input_0 = nk.CellSpec(ops=["sep_conv_3x3", "identity", "avg_pool_3x3", "conv_1x1"],
                                inputs=[1, 1, 2, 1], combine=["add", "add"], concat=[2, 3])
    model = tiny_model(genotype=nk.Genotype(skips_input_0, skips_input_0), num_cells=2,
                       penultimate_filters=64)
    built = [l.scope for l in model.layers if isinstance(l, nk.NASNetCell)]
    # Each cell reads only the cell two back: cell_5 <- reduction_cell_1 <- cell_2 <- cell_1.
    assert built == ["cell_1", "cell_2", "reduction_cell_1", "cell_5"]
    with tf.GradientTape() as tape:
        loss = keras.ops.sum(model(_x(2), training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    assert [v.path for v, g in zip(model.trainable_variables, grads) if g is None] == []
    clone = keras.Model.from_config(model.get_config())
    assert clone.count_params() == model.count_params()
