import csv
import os

import numpy as np
import pytest

import nasnet_keras as nk
from nasnet_keras.weights import keras_app_to_slim, model_slim_variables

from conftest import SHARED_DATA, tiny_model

TSV = os.path.join(SHARED_DATA, "nasnet_mobile_keras_to_slim.tsv")


@pytest.mark.skipif(not os.path.exists(TSV), reason="shared/data not beside the checkout")
def test_keras_app_to_slim_matches_the_reference_table():
    with open(TSV) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert len(rows) == 1126
    layers = {r["keras_applications_name"].split("/")[0] for r in rows}
    factorized = {l[len("adjust_conv_1_"):] for l in layers if l.startswith("adjust_conv_1_")}
    for r in rows:
        layer, var = r["keras_applications_name"].split("/")
        assert keras_app_to_slim(layer, var, 4, factorized) == r["tf_slim_checkpoint_name"].split()[0], r


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(stem="imagenet", input_shape=(64, 64, 3)),
    dict(genotype=nk.PNASNET_5, penultimate_filters=160),
    dict(aux_head=True),
])
def test_every_weight_has_exactly_one_slim_name(kwargs):
    model = tiny_model(**kwargs)
    names = model_slim_variables(model)
    ids = {id(v) for v in names.values()}
    assert len(ids) == len(names)
    assert ids == {id(w) for w in model.weights}
    assert sum(int(np.prod(v.shape)) for v in names.values()) == model.count_params()


def test_mobile_slim_names_equal_the_keras_app_names(keras_mobile_h5):
    from nasnet_keras.weights import read_keras_app_h5

    _, path = keras_mobile_h5
    ours = model_slim_variables(nk.NASNetA("mobile", input_shape=(224, 224, 3)))
    theirs = read_keras_app_h5(path)
    assert set(ours) == set(theirs)
    assert all(tuple(ours[n].shape) == theirs[n].shape for n in ours)
