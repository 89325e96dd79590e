import pytest

import nasnet_keras as nk

from conftest import tiny_model


def test_mobile_mult_adds_match_the_paper():
    macs = nk.count_mult_adds(nk.NASNetA("mobile", input_shape=(224, 224, 3)))
    assert macs == pytest.approx(564e6, rel=0.02)


@pytest.mark.slow
def test_large_mult_adds_match_the_paper():
    macs = nk.count_mult_adds(nk.NASNetA("large", input_shape=(331, 331, 3)))
    assert macs == pytest.approx(23.8e9, rel=0.02)


def test_dynamic_models_need_an_image_size():
    model = tiny_model(input_shape=(None, None, 3), include_top=False)
    with pytest.raises(ValueError, match="image_size"):
        nk.count_mult_adds(model)
    # Convolutions scale with the number of pixels.
    small, big = nk.count_mult_adds(model, 32), nk.count_mult_adds(model, 64)
    assert big == pytest.approx(4 * small, rel=0.01)


def test_dilated_convolutions_are_counted_in_full():
    import keras

    model = keras.Sequential([keras.Input((32, 32, 3)),
                              keras.layers.Conv2D(8, 3, dilation_rate=2, padding="same",
                                                  use_bias=False)])
    # TensorFlow runs it as space-to-batch: the pixels move into the batch dimension.
    assert nk.count_mult_adds(model) == 32 * 32 * 9 * 3 * 8
