"""Named configurations (TF-slim HParams + Keras naming), one record per variant.

Numbers come from TF-slim's ``cifar_config``, ``mobile_imagenet_config`` and
``large_imagenet_config`` and their arg scopes (papers.md §1.5).  NASNet-B and
NASNet-C take the paper's N @ P (Tables 1 and 3); the paper gives no other setting
for them, so their stems, BatchNorm and regularizers are NASNet-A's of the same
variant.  The fields
marked *training* are the paper's training regularizers; `NASNetA` leaves them
off unless asked (``paper_regularization=True``), like timm and keras-hub,
because they only matter when training from scratch.
"""

import dataclasses

from nasnet_keras.genotypes import NASNET_A, NASNET_B, NASNET_C, Genotype


@dataclasses.dataclass(frozen=True)
class NASNetConfig:
    genotype: Genotype
    num_cells: int               # N: normal cells per stage
    penultimate_filters: int     # P: width of the last cell's output
    stem: str                    # "imagenet" | "cifar"
    stem_multiplier: float
    skip_reduction: bool
    default_size: int
    bn_momentum: float
    bn_epsilon: float
    weight_decay: float
    # training (paper values)
    drop_path_keep_prob: float
    dropout: float
    total_training_steps: int
    aux_head: bool
    filter_multiplier: int = 2

    @property
    def notation(self):
        return f"{self.num_cells} @ {self.penultimate_filters}"


NASNET_A_CONFIGS = {
    "mobile": NASNetConfig(
        genotype=NASNET_A, num_cells=4, penultimate_filters=1056, stem="imagenet",
        stem_multiplier=1.0, skip_reduction=False, default_size=224,
        bn_momentum=0.9997, bn_epsilon=1e-3, weight_decay=4e-5,
        drop_path_keep_prob=1.0, dropout=0.5, total_training_steps=250_000, aux_head=True,
    ),
    "large": NASNetConfig(
        genotype=NASNET_A, num_cells=6, penultimate_filters=4032, stem="imagenet",
        stem_multiplier=3.0, skip_reduction=True, default_size=331,
        bn_momentum=0.9997, bn_epsilon=1e-3, weight_decay=5e-5,
        drop_path_keep_prob=0.7, dropout=0.5, total_training_steps=250_000, aux_head=True,
    ),
    "cifar": NASNetConfig(
        genotype=NASNET_A, num_cells=6, penultimate_filters=768, stem="cifar",
        stem_multiplier=3.0, skip_reduction=False, default_size=32,
        bn_momentum=0.9, bn_epsilon=1e-5, weight_decay=5e-4,
        drop_path_keep_prob=0.6, dropout=0.0, total_training_steps=937_500, aux_head=True,
    ),
}


def _same_settings(config, genotype, num_cells, penultimate_filters):
    return dataclasses.replace(config, genotype=genotype, num_cells=num_cells,
                               penultimate_filters=penultimate_filters)


# NASNet-B: CIFAR-10 4 @ 1152 (2.6M params), ImageNet mobile 4 @ 1536 (5.3M, 488M mult-adds).
NASNET_B_CONFIGS = {
    "cifar": _same_settings(NASNET_A_CONFIGS["cifar"], NASNET_B, 4, 1152),
    "mobile": _same_settings(NASNET_A_CONFIGS["mobile"], NASNET_B, 4, 1536),
}

# NASNet-C: CIFAR-10 4 @ 640 (3.1M params), ImageNet mobile 3 @ 960 (4.9M, 558M mult-adds).
NASNET_C_CONFIGS = {
    "cifar": _same_settings(NASNET_A_CONFIGS["cifar"], NASNET_C, 4, 640),
    "mobile": _same_settings(NASNET_A_CONFIGS["mobile"], NASNET_C, 3, 960),
}

# Family letter -> its configurations (the entry points `NASNetA/B/C` look theirs up here).
CONFIGS_BY_FAMILY = {"A": NASNET_A_CONFIGS, "B": NASNET_B_CONFIGS, "C": NASNET_C_CONFIGS}
