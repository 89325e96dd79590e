"""`FusedBatchNormalization`: Keras' BatchNormalization whose training pass is one kernel.

Keras 3 normalizes a training batch with about twenty elementary ops (the moments,
then scale and shift) and differentiates each of them: in a proxy search child (64
BatchNorm layers) that was 2,500 of the train step's 7,600 ops, traced and optimized
again for every child.  TensorFlow's ``FusedBatchNormV3`` computes the same normalization
in one op, and its gradient in one more.  The layer keeps Keras' variables, config and
moving-statistics rule (the biased batch variance,
``moving = moving * momentum + batch * (1 - momentum)``), so weights, checkpoints and
``.keras`` files are interchangeable with ``keras.layers.BatchNormalization``; outputs,
gradients and statistics agree with Keras' within float32 round-off.

One difference shows only with NaN: where a ReLU is the layer's only consumer,
TensorFlow's graph optimizer fuses the two into one training kernel (as it did for
tf.keras 2's fused BatchNorm), and that kernel's ReLU turns NaN into 0.  A diverged
model can then report a finite training loss (about log(classes)) instead of NaN, which
``keras.callbacks.TerminateOnNaN`` does not see; its weights and its validation loss
are still NaN.  `nasnet_search`'s tuner checks a child's weights for that reason.

Inference keeps Keras' own computation (so a NASNet-A still predicts what
keras.applications' does, as the parity tests check), except in the test steps that
`nasnet_keras.prepare_training` installs (`inference_kernel`: validation in ``fit`` and
``evaluate``, one kernel per layer, equal within float32 round-off).  Keras' computation
is also kept for anything the fused kernel does not cover:
another backend, masks, renorm, synchronized statistics, inputs that are not 4-D with
channels last, no ``scale`` or ``center``, float64, or, where TensorFlow sees a GPU, an
epsilon below cuDNN's minimum (TensorFlow's own ``fused_batch_norm`` raises smaller ones
to 1.001e-5 for cuDNN; the CPU kernel takes any epsilon, such as the 1e-5 of NASNet's
CIFAR models and of the search children).
"""

import contextlib
import threading

import keras

from nasnet_keras import devices
from nasnet_keras.lean_gradients import recorded_as_first_output

_FUSABLE_DTYPES = ("float16", "bfloat16", "float32")
_CUDNN_MIN_EPSILON = 1.001e-5  # TensorFlow's margin above cuDNN's CUDNN_BN_MIN_EPSILON


def _min_epsilon():
    return _CUDNN_MIN_EPSILON if devices.gpu_visible() else 0.0


@keras.saving.register_keras_serializable(package="nasnet_keras")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with a fused training pass on TensorFlow.

    Same arguments as ``keras.layers.BatchNormalization`` (see the module docstring for
    when Keras' own path is taken instead).
    """

    def _kernel_takes(self, inputs, mask):
        return (mask is None and not self.renorm and not self.synchronized and self.scale
                and self.center and keras.backend.backend() == "tensorflow"
                and len(inputs.shape) == 4 and self.axis in (-1, 3) and self.epsilon > 0
                and self.epsilon >= _min_epsilon()
                and keras.backend.standardize_dtype(inputs.dtype) in _FUSABLE_DTYPES)

    def _fusable(self, inputs, training, mask):
        return bool(training and self.trainable and self._kernel_takes(inputs, mask))

    def call(self, inputs, training=None, mask=None):
        if not training and _inference_kernel.active and self._kernel_takes(inputs, mask):
            return self._fused_inference_pass(inputs)
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        # Keras normalizes in float32 whatever the compute dtype; so does this.
        x = tf.cast(inputs, tf.float32)
        # With exponential_avg_factor f the kernel also returns (1 - f) * mean_in + f * batch
        # mean, Keras' new moving mean, in one op.  Its variance output is Bessel-corrected
        # (n / (n - 1)) where Keras averages the biased variance, which the CPU kernel returns
        # as reserve_space_2 ("the computed batch variance", inverted under cuDNN): so on CPU
        # the variance input is unused (the moving mean again, no zeros to make) and the
        # moving variance needs no batch size.  Fewer ops: a search child has 64 such layers.
        gpu = devices.gpu_visible()
        moving_mean = tf.convert_to_tensor(self.moving_mean.value)
        y, new_moving_mean, corrected_share, _, biased_variance, _ = _fused_training_pass(
            x, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32), moving_mean,
            tf.zeros_like(moving_mean) if gpu else moving_mean, self.epsilon,
            exponential_avg_factor=1.0 - self.momentum)
        self.moving_mean.assign(new_moving_mean)
        if gpu:
            n = tf.cast(tf.size(x) // int(x.shape[-1]), tf.float32)
            variance_share = corrected_share * ((n - 1.0) / n)
            self.moving_variance.assign(self.moving_variance * self.momentum + variance_share)
        else:
            self._move_variance_towards(biased_variance)
        return tf.cast(y, self.compute_dtype)

    def _fused_inference_pass(self, inputs):
        """The moving statistics applied by ``FusedBatchNormV3`` in inference mode: one op
        where Keras traces seven (see `inference_kernel`)."""
        import tensorflow as tf

        y = tf.raw_ops.FusedBatchNormV3(
            x=tf.cast(inputs, tf.float32), scale=tf.cast(self.gamma, tf.float32),
            offset=tf.cast(self.beta, tf.float32),
            mean=tf.cast(self.moving_mean, tf.float32),
            variance=tf.cast(self.moving_variance, tf.float32), epsilon=self.epsilon,
            data_format="NHWC", is_training=False)[0]
        return tf.cast(y, self.compute_dtype)

    def _move_variance_towards(self, batch_variance):
        """``moving = moving * momentum + batch * (1 - momentum)``, Keras' rule, as
        ``moving -= (1 - momentum) * (moving - batch)``: one fused update
        (``ResourceApplyGradientDescent``) and a difference, 4 ops per layer to trace where
        the two products and the sum took 7.  Where the variable is not a plain float32
        TensorFlow variable of this process (a distribution strategy's, or a
        ``keras.StatelessScope``'s value), Keras' ``assign`` does it."""
        import tensorflow as tf
        from keras.src.backend.common.stateless_scope import in_stateless_scope

        variable = self.moving_variance
        if in_stateless_scope() or tf.distribute.has_strategy() or variable.dtype != "float32":
            variable.assign(variable * self.momentum + batch_variance * (1.0 - self.momentum))
            return
        moving = tf.convert_to_tensor(variable.value)
        tf.raw_ops.ResourceApplyGradientDescent(
            var=variable.value.handle, alpha=tf.constant(1.0 - self.momentum, tf.float32),
            delta=moving - batch_variance)


class _InferenceKernel(threading.local):
    active = False


_inference_kernel = _InferenceKernel()


@contextlib.contextmanager
def inference_kernel():
    """While this is active (in this thread), `FusedBatchNormalization` layers called in
    inference mode also run as one ``FusedBatchNormV3`` kernel, which computes Keras'
    normalization in another order (equal within float32 round-off, not bit for bit).
    `nasnet_keras.step_functions` traces the test step of ``fit``'s validation and of
    ``evaluate`` under it: a proxy search child's test step has 1,131 ops instead of
    1,579.  ``predict`` and plain calls keep Keras' computation."""
    previous, _inference_kernel.active = _inference_kernel.active, True
    try:
        yield
    finally:
        _inference_kernel.active = previous


def _fused_training_pass(x, scale, offset, mean, variance, epsilon, exponential_avg_factor):
    """``FusedBatchNormV3``'s six outputs in training mode (NHWC), recorded for gradients as
    an op of its output ``y`` only.

    Recorded whole, the op's five other outputs (statistics and the kernel's reserve
    spaces, which no loss depends on) each get a zero gradient made for them while the
    train step is traced, five unused ops per layer; recorded as ``y``'s op, its gradient
    is what TensorFlow's registered one computes for ``y`` alone (``FusedBatchNormGradV3``
    from the reserve spaces).  Without TensorFlow's tape API, the op is recorded whole.
    """
    import tensorflow as tf

    def kernel():
        return tf.raw_ops.FusedBatchNormV3(
            x=x, scale=scale, offset=offset, mean=mean, variance=variance, epsilon=epsilon,
            exponential_avg_factor=exponential_avg_factor, data_format="NHWC",
            is_training=True)

    def backward(outputs, dy):
        _, _, _, reserve_1, reserve_2, reserve_3 = outputs
        return tf.raw_ops.FusedBatchNormGradV3(
            y_backprop=dy, x=x, scale=scale, reserve_space_1=reserve_1,
            reserve_space_2=reserve_2, reserve_space_3=reserve_3, epsilon=epsilon,
            data_format="NHWC", is_training=True)[:3]

    return recorded_as_first_output("FusedBatchNormV3", [x, scale, offset], kernel, backward)
