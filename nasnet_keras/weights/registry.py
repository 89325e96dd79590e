"""Pretrained-weight records (timm-style): where a file comes from and what it expects.

The four keras.applications entries use the same cache file names and md5
hashes as ``keras.applications.nasnet``, so a file already in the Keras cache
(``~/.keras/models`` or ``$KERAS_HOME/models``) is reused without a download.
"""

import dataclasses

KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
SLIM_BASE_URL = "http://download.tensorflow.org/models/"


@dataclasses.dataclass(frozen=True)
class WeightsEntry:
    name: str                 # "<arch>.<tag>", e.g. "nasnet_a_mobile.keras_in1k"
    variant: str              # NASNet-A variant the file fits: "mobile" | "large"
    include_top: bool
    origin: str               # download URL
    fname: str                # cache file name (under cache_subdir "models")
    file_hash: str = None     # None: unknown, not verified
    hash_algorithm: str = "md5"
    format: str = "keras_app_h5"   # | "slim_checkpoint" | "nasnet_keras_h5"
    num_classes: int = 1000
    input_size: int = 224
    preprocessing: str = "tf: x / 127.5 - 1, range [-1, 1]"
    crop_pct: float = 0.875
    interpolation: str = "bilinear"
    pad_mode: str = "keras"
    license: str = "apache-2.0"
    source: str = ""
    extract: bool = False
    checkpoint_name: str = None   # inside an extracted archive

    def to_dict(self):
        return dataclasses.asdict(self)


WEIGHTS = {
    e.name: e
    for e in [
        WeightsEntry(
            name="nasnet_a_mobile.keras_in1k", variant="mobile", include_top=True,
            origin=KERAS_BASE_URL + "NASNet-mobile.h5", fname="nasnet_mobile.h5",
            file_hash="020fb642bf7360b370c678b08e0adf61", input_size=224,
            source="keras.applications NASNetMobile (converted from the TF-slim checkpoint, raw weights)",
        ),
        WeightsEntry(
            name="nasnet_a_mobile.keras_in1k_notop", variant="mobile", include_top=False,
            origin=KERAS_BASE_URL + "NASNet-mobile-no-top.h5", fname="nasnet_mobile_no_top.h5",
            file_hash="1ed92395b5b598bdda52abe5c0dbfd63", input_size=224,
            source="keras.applications NASNetMobile, no top",
        ),
        WeightsEntry(
            name="nasnet_a_large.keras_in1k", variant="large", include_top=True,
            origin=KERAS_BASE_URL + "NASNet-large.h5", fname="nasnet_large.h5",
            file_hash="11577c9a518f0070763c2b964a382f17", input_size=331, crop_pct=0.911,
            source="keras.applications NASNetLarge (converted from the TF-slim checkpoint, raw weights)",
        ),
        WeightsEntry(
            name="nasnet_a_large.keras_in1k_notop", variant="large", include_top=False,
            origin=KERAS_BASE_URL + "NASNet-large-no-top.h5", fname="nasnet_large_no_top.h5",
            file_hash="d81d89dc07e6e56530c4e77faddd61b5", input_size=331, crop_pct=0.911,
            source="keras.applications NASNetLarge, no top",
        ),
        WeightsEntry(
            name="nasnet_a_mobile.slim_in1k", variant="mobile", include_top=True,
            origin=SLIM_BASE_URL + "nasnet-a_mobile_04_10_2017.tar.gz",
            fname="nasnet-a_mobile_04_10_2017.tar.gz", file_hash=None, hash_algorithm=None,
            format="slim_checkpoint", num_classes=1001, input_size=224, pad_mode="tf",
            extract=True, checkpoint_name="model.ckpt",
            source="TF-slim NASNet-A_Mobile_224 (74.0 / 91.6 published); hash not published",
        ),
        WeightsEntry(
            name="nasnet_a_large.slim_in1k", variant="large", include_top=True,
            origin=SLIM_BASE_URL + "nasnet-a_large_04_10_2017.tar.gz",
            fname="nasnet-a_large_04_10_2017.tar.gz", file_hash=None, hash_algorithm=None,
            format="slim_checkpoint", num_classes=1001, input_size=331, crop_pct=0.911,
            pad_mode="tf", extract=True, checkpoint_name="model.ckpt",
            source="TF-slim NASNet-A_Large_331 (82.7 / 96.2 published); hash not published",
        ),
    ]
}


def imagenet_entry(variant, include_top):
    """The default ImageNet file for ``weights="imagenet"``: keras.applications'."""
    suffix = "" if include_top else "_notop"
    return WEIGHTS[f"nasnet_a_{variant}.keras_in1k{suffix}"]


def list_weights():
    return sorted(WEIGHTS)
