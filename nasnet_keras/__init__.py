"""nasnet_keras: NASNet cells as data, NASNet-A models and their ImageNet weights."""

__version__ = "0.1.0"

from nasnet_keras.genotypes import NASNET_A, NASNET_OPERATIONS, PNASNET_5, CellSpec, Genotype
from nasnet_keras.operations import OPERATIONS, register_operation
from nasnet_keras.layers import FactorizedReduction, ScheduledDropPath
from nasnet_keras.cell import NASNetCell
from nasnet_keras.heads import AuxHead
from nasnet_keras.configs import NASNET_A_CONFIGS, NASNetConfig
from nasnet_keras.model import NASNet, NASNetA, NASNetLarge, NASNetMobile
