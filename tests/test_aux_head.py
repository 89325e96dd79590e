import numpy as np
import pytest
import tensorflow as tf

import nasnet_keras as nk

from conftest import tiny_model


def test_aux_head_trains_with_weighted_loss_and_is_stripped_for_inference():
    model = tiny_model(aux_head=True)
    assert len(model.outputs) == 2
    assert model.outputs[1].shape == (None, 5)
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy"] * 2,
                  loss_weights=nk.aux_loss_weights())
    x = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    y = np.arange(8) % 5
    ds = nk.duplicate_targets(tf.data.Dataset.from_tensor_slices((x, y))).batch(4)
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    inference = nk.without_aux_head(model)
    assert len(inference.outputs) == 1
    main, _ = model.predict(x, verbose=0)
    np.testing.assert_allclose(inference.predict(x, verbose=0), main, atol=1e-6)
    assert nk.aux_loss_weights() == [1.0, 0.4]


def test_aux_head_position_is_before_the_second_reduction():
    model = tiny_model(aux_head=True, num_cells=2, penultimate_filters=192)
    aux = [l for l in model.layers if isinstance(l, nk.AuxHead)]
    assert [a.scope for a in aux] == ["aux_3"]  # reductions at 2 and 4: after cell 3
    with pytest.raises(ValueError, match="aux_weight"):
        nk.aux_loss_weights(-1)
