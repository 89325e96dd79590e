"""The auxiliary classifier of NASNet (TF-slim ``_build_aux_head``; papers.md §1.7)."""

import keras
from keras import ops

from nasnet_keras.layers import NormSettings, bn_variables, conv_variables


@keras.saving.register_keras_serializable(package="nasnet_keras")
class AuxHead(keras.layers.Layer):
    """ReLU -> AvgPool 5/3 VALID -> 1x1x128 -> BN -> ReLU -> conv x768 over the
    remaining spatial extent (VALID) -> BN -> ReLU -> flatten -> Dense.

    The 768-filter kernel covers the whole remaining map, so the input needs a
    static spatial size.  ``scope`` is the slim scope (``aux_7``, ``aux_11``).
    """

    def __init__(self, classes, activation=None, scope=None, bn_momentum=0.9997,
                 bn_epsilon=1e-3, weight_decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.classes = int(classes)
        self.activation = keras.activations.get(activation)
        self._activation_name = activation
        self.scope = scope or self.name
        self.norm = NormSettings(bn_momentum, bn_epsilon, weight_decay)
        self.proj = self.norm.conv(128, 1, name="proj")
        self.aux_bn0 = self.norm.bn("aux_bn0")
        self.aux_bn1 = self.norm.bn("aux_bn1")
        self.fc = keras.layers.Dense(self.classes, name="FC", dtype="float32")

    def build(self, input_shape):
        _, h, w, c = input_shape
        if h is None or w is None:
            raise ValueError(
                "aux_head=True needs a static spatial size at the auxiliary head; build the "
                "model with a fixed `input_shape` (e.g. (224, 224, 3)), got a map of "
                f"{h}x{w}.")
        ph, pw = (h - 5) // 3 + 1, (w - 5) // 3 + 1
        if ph < 1 or pw < 1:
            raise ValueError(
                f"aux_head=True needs a feature map of at least 5x5 at the auxiliary head, got "
                f"{h}x{w}; use a larger `input_shape` or aux_head=False.")
        self.proj.build((None, None, None, c))
        self.aux_bn0.build((None, None, None, 128))
        self.conv = self.norm.conv(768, (ph, pw), padding="valid", name="Conv")
        self.conv.build((None, ph, pw, 128))
        self.aux_bn1.build((None, 1, 1, 768))
        self.fc.build((None, 768))

    def call(self, x, training=None):
        x = ops.average_pool(ops.relu(x), 5, 3, padding="valid")
        x = ops.relu(self.aux_bn0(self.proj(x), training=training))
        x = ops.relu(self.aux_bn1(self.conv(x), training=training))
        x = self.fc(ops.reshape(x, (-1, 768)))
        return self.activation(ops.cast(x, "float32"))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.classes)

    def slim_variables(self):
        return {
            **conv_variables("aux_logits/proj", self.proj),
            **bn_variables("aux_logits/aux_bn0", self.aux_bn0),
            **conv_variables("aux_logits/Conv", self.conv),
            **bn_variables("aux_logits/aux_bn1", self.aux_bn1),
            "aux_logits/FC/weights": self.fc.kernel,
            "aux_logits/FC/biases": self.fc.bias,
        }

    def get_config(self):
        return {**super().get_config(), "classes": self.classes,
                "activation": self._activation_name, "scope": self.scope,
                **self.norm.get_config()}
