"""Pretrained weights: registry, download, converters and name-based loading."""

from nasnet_keras.weights.download import fetch_weights
from nasnet_keras.weights.keras_h5 import read_keras_app_h5
from nasnet_keras.weights.loading import assign_weights, load_weights, read_weights, save_weights
from nasnet_keras.weights.naming import keras_app_to_slim, model_slim_variables
from nasnet_keras.weights.registry import WEIGHTS, WeightsEntry, imagenet_entry, list_weights
from nasnet_keras.weights.slim_checkpoint import read_slim_checkpoint
