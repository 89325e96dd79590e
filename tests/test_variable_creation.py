"""quick_variable_creation: one TensorFlow name for new variables, Keras' names unchanged."""

import keras
import numpy as np
import tensorflow as tf

import nasnet_keras as nk
from nasnet_keras.variable_creation import quick_variable_creation


def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = nk.FusedBatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


def test_keras_names_stay_and_tensorflow_names_are_one(tmp_path):
    plain = _model()
    with quick_variable_creation():
        quick = _model()
    assert [v.path for v in quick.weights] == [v.path for v in plain.weights]
    assert {v.value.name for v in quick.weights} == {"Variable:0"}
    assert "conv/kernel:0" in {v.value.name for v in plain.weights}
    for a, b in zip(quick.weights, plain.weights):  # same seeds, same initial values
        np.testing.assert_array_equal(np.array(a), np.array(b))
    # Saving and loading go by Keras' structure: .keras files and weight files round-trip,
    # into models built either way.
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    quick.compile(optimizer=nk.FusedAdam(0.1), loss="mse")
    quick.fit(x, np.ones((4, 2)), epochs=1, verbose=0)
    quick.save(tmp_path / "quick.keras")
    quick.save_weights(tmp_path / "quick.weights.h5")
    loaded = keras.saving.load_model(tmp_path / "quick.keras")
    plain.load_weights(tmp_path / "quick.weights.h5")
    for other in (loaded, plain):
        np.testing.assert_array_equal(other.predict(x, verbose=0), quick.predict(x, verbose=0))
    # A TensorFlow checkpoint too (object-based).
    checkpoint = tf.train.Checkpoint(model=quick)
    path = checkpoint.write(str(tmp_path / "ckpt"))
    with quick_variable_creation():
        again = _model()
    tf.train.Checkpoint(model=again).read(path).expect_partial()
    np.testing.assert_array_equal(again.predict(x, verbose=0), quick.predict(x, verbose=0))


def test_variables_lifted_out_of_a_traced_function_and_the_scope_ends():
    created = []

    @tf.function
    def make():
        if not created:
            created.append(tf.Variable(tf.ones(3), name="lifted"))
        return created[0].read_value()

    with quick_variable_creation():
        with tf.name_scope("outer"):
            make()
    assert created[0].name == "Variable:0"
    assert tf.Variable(1.0, name="after").name == "after:0"


def test_prepare_training_makes_the_optimizer_slots_this_way():
    model = _model()
    model.compile(optimizer=nk.FusedAdam(), loss="mse")
    x = np.zeros((2, 8, 8, 3), "float32")
    assert nk.prepare_training(model, x, np.zeros((2, 2), "float32"))
    # The step counter and learning rate come with the optimizer (compile); the slots, two
    # per trainable variable, are made by the preparation.
    slots = [v for v in model.optimizer.variables if v.name not in ("iteration", "learning_rate")]
    assert len(slots) == 2 * len(model.trainable_variables)
    assert {v.value.name for v in slots} == {"Variable:0"}
    assert any("conv_kernel" in v.path for v in slots)  # Keras' own names, as Keras makes them
