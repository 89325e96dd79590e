import numpy as np

import nasnet_keras as nk
from nasnet_keras import demo


def test_preprocess_input_scales_to_minus_one_one():
    x = np.array([[0.0, 127.5, 255.0]], dtype="float32")
    np.testing.assert_allclose(nk.preprocess_input(x), [[-1.0, 0.0, 1.0]])
    import pytest

    with pytest.raises(ValueError, match="data_format"):
        nk.preprocess_input(x, data_format="channels_first")


def test_digits_data_ship_offline():
    (x_train, y_train), (x_test, y_test) = demo.load_digits_dataset()
    assert x_train.shape[1:] == (32, 32, 3) and len(x_train) + len(x_test) == 1797
    assert x_train.min() >= -1.0 and x_train.max() <= 1.0
    assert set(np.unique(y_train)) == set(range(10))


def test_demo_learns_digits():
    accuracy = demo.main(["--epochs", "2", "--num-cells", "1"])
    assert accuracy > 0.5  # chance is 0.1
