"""nasnet_keras: NASNet cells as data, NASNet-A models and their ImageNet weights.

Public API:
- genotypes: `CellSpec`, `Genotype`, `NASNET_A`, `NASNET_B`, `NASNET_C` (B and C: cells found by
  `nasnet_search`, not the paper's), `PNASNET_5`, `NASNET_OPERATIONS`
- operations: `OPERATIONS`, `register_operation`
- layers: `NASNetCell`, `FactorizedReduction`, `ScheduledDropPath`, `AuxHead`
- models: `NASNet`, `NASNetA`, `NASNetB`, `NASNetC`, `NASNetMobile`, `NASNetLarge`,
  `NASNET_A_CONFIGS`, `NASNET_B_CONFIGS`, `NASNET_C_CONFIGS`
- features: `endpoints`, `endpoint_model`, `feature_pyramid`
- weights: `load_weights`, `save_weights`, `WEIGHTS` (see `nasnet_keras.weights`)
- training: `aux_loss_weights`, `duplicate_targets`, `without_aux_head`
- `preprocess_input`, `decode_predictions`
- analysis: `count_mult_adds`, `count_params`
- drawing: `plot_cell`, `plot_genotype`, `plot_recurrent_cell` (``describe()`` on genotypes for text)
- compound scaling: `compound_scale`, `scale_report`, `search_scaling_coefficients`
- transfer learning: `replace_head`, `freeze_backbone`, `set_trainable`, `check_head`,
  `two_phase_finetune`
- data: `load_data` (tf.data), `load_arrays` (numpy), `DataInfo`
- export: `export_saved_model`, `export_tflite`, `saved_model_outputs`, `tflite_outputs`
- deployment: `TFLiteModel` (a ``.tflite`` file with Keras' ``predict``),
  `benchmark_backends` (images/s of TensorFlow and TFLite, ``nasnet-keras benchmark``)
- a child's fixed cost: `FusedAdam`, `FusedSGD`, `fused` (optimizers whose update traces
  fast), `prepare_training` (the train step traced once, as one graph)
- recurrent cells (Zoph & Le 2017): `NASCell`, `RecurrentCell` (any `RecurrentCellSpec`),
  `RecurrentCellSpec`, `NAS_CELL`; `language_model` (embedding, recurrent layers of any
  cell, softmax, optionally tied), `Perplexity`; `load_text` (``text:pydoc`` offline,
  ``text:PATH``: next-character windows)
- `recalibrate_batch_norm` (moving statistics measured again, e.g. for a child extracted
  from a weight-sharing supernet)
"""

__version__ = "0.1.0"

from nasnet_keras.genotypes import (NASNET_A, NASNET_B, NASNET_C, NASNET_OPERATIONS, PNASNET_5,
                                   CellSpec, Genotype)
from nasnet_keras.operations import OPERATIONS, register_operation
from nasnet_keras.layers import FactorizedReduction, ScheduledDropPath
from nasnet_keras.cell import NASNetCell
from nasnet_keras.heads import AuxHead
from nasnet_keras.configs import (NASNET_A_CONFIGS, NASNET_B_CONFIGS, NASNET_C_CONFIGS,
                                  NASNetConfig)
from nasnet_keras.model import NASNet, NASNetA, NASNetB, NASNetC, NASNetLarge, NASNetMobile
from nasnet_keras.features import endpoint_model, endpoints, feature_pyramid
from nasnet_keras.weights import WEIGHTS, load_weights, save_weights
from nasnet_keras.training import aux_loss_weights, duplicate_targets, without_aux_head
from nasnet_keras.preprocessing import decode_predictions, preprocess_input
from nasnet_keras.analysis import count_mult_adds, count_params
from nasnet_keras.plotting import plot_cell, plot_genotype, plot_recurrent_cell
from nasnet_keras.scaling import compound_scale, scale_report, search_scaling_coefficients
from nasnet_keras.finetune import (check_head, freeze_backbone, replace_head, set_trainable,
                                   two_phase_finetune)
from nasnet_keras.data import DataInfo, load_arrays, load_data
from nasnet_keras.export import (export_saved_model, export_tflite, saved_model_outputs,
                                 tflite_outputs)
from nasnet_keras.tflite import TFLiteModel
from nasnet_keras.benchmark import benchmark_backends
from nasnet_keras.optimizers import FusedAdam, FusedSGD, fused, prepare_training
from nasnet_keras.batch_norm import recalibrate_batch_norm
from nasnet_keras.normalization import FusedBatchNormalization
from nasnet_keras.recurrent_genotypes import NAS_CELL, RecurrentCellSpec
from nasnet_keras.recurrent import NASCell, RecurrentCell
from nasnet_keras.language_model import Perplexity, language_model
from nasnet_keras.text import TextInfo, load_text

__all__ = [
    "AuxHead", "CellSpec", "FactorizedReduction", "Genotype", "NASNET_A", "NASNET_A_CONFIGS",
    "NASNET_B", "NASNET_B_CONFIGS", "NASNET_C", "NASNET_C_CONFIGS", "NASNetB", "NASNetC",
    "NASNET_OPERATIONS", "NASNet", "NASNetA", "NASNetCell", "NASNetConfig", "NASNetLarge",
    "NASNetMobile", "OPERATIONS", "PNASNET_5", "ScheduledDropPath", "WEIGHTS",
    "aux_loss_weights", "decode_predictions", "duplicate_targets", "endpoint_model",
    "endpoints", "feature_pyramid", "load_weights", "preprocess_input", "register_operation",
    "save_weights", "without_aux_head", "count_mult_adds", "count_params", "plot_cell",
    "plot_genotype", "compound_scale", "scale_report", "search_scaling_coefficients",
    "check_head", "freeze_backbone", "replace_head", "set_trainable", "two_phase_finetune",
    "DataInfo", "load_arrays", "load_data", "export_saved_model", "export_tflite",
    "saved_model_outputs", "tflite_outputs", "FusedAdam", "FusedSGD", "fused",
    "prepare_training", "recalibrate_batch_norm", "FusedBatchNormalization", "TFLiteModel",
    "benchmark_backends",
    "NASCell", "RecurrentCell", "RecurrentCellSpec", "NAS_CELL", "plot_recurrent_cell",
    "Perplexity", "language_model", "TextInfo", "load_text",
]
