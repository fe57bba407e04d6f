"""``Dropout(rate, seed=None)``: inverted dropout, during fit only.

In training, each unit is kept with probability ``1 - rate`` and scaled by
``1 / (1 - rate)``, so predict and evaluate (where the layer passes its input
through) need no rescaling.  The mask is not stored: it comes from a
counter-based generator (Philox4x32-10, ``src_c/philox.h``) keyed by the
layer's seed and counted by (training step, element index), so the forward
and backward kernels regenerate the same bits, any thread split and any SIMD
level give the same mask, and the NumPy twin gives it too.  A seeded fit is
bit-reproducible.

``seed=None`` draws the layer's seed once, when it is built, from fastdense's
generator (``utils.set_random_seed`` makes it repeatable); ``get_config``
reports the seed in use, so a saved model trains on with the same masks.

Fusion: after a ReLU Dense layer, the gradient through both is
``where(y_drop > 0, g / (1 - rate), 0)`` (a unit passes exactly where the relu
was positive and the unit was kept), with the Dense layer's bias gradient in
the same pass (``relu_dropout_backward_f32``).
"""
import numpy as np

from .. import utils as _utils
from .base import Layer

__all__ = ["Dropout"]

_SEED_LIMIT = 2 ** 63


def _check_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
        raise ValueError("Dropout rate must be a number in [0, 1), got %r" % (rate,))
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError("Dropout rate must be in [0, 1) (the fraction of units dropped), "
                         "got %r" % (rate,))
    return rate


def _check_seed(seed):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= int(seed) < _SEED_LIMIT:
        raise ValueError("Dropout seed must be a whole number in [0, 2**63) or None, got %r"
                         % (seed,))
    return int(seed)


class Dropout(Layer):
    """Sets a fraction ``rate`` of the units to 0 in training (inverted dropout)."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        rate = _check_rate(rate)
        if noise_shape is not None:
            raise ValueError("Dropout(noise_shape=...): fastdense drops each unit on its "
                             "own (noise_shape=None)")
        seed = _check_seed(seed)
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed
        self._seed = seed

    def build(self, input_shape, rng=None):
        if not self.built and self._seed is None:
            rng = rng if rng is not None else _utils.get_rng()
            self._seed = int(rng.integers(0, _SEED_LIMIT))
        super().build(input_shape, rng)

    def computes(self, training):
        return training and self.rate > 0.0

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self._seed)
        return config

    def fuses_backward_with(self, previous):
        """True after a ReLU Dense layer: one kernel gives that layer's dL/dz."""
        act = getattr(previous, "activation", None)
        return act is not None and act.name == "relu" and hasattr(previous, "units")

    def forward(self, ctx, x, out, ws=None):
        # element (i, j) draws mask element (batch_row + i) * n + j of the global
        # batch, so a batch split across processes gets the one-process masks
        return ctx.K.dropout_forward_f32(x, out, self.rate, self._seed, ctx.step,
                                         nthreads=ctx.nthreads,
                                         first=ctx.batch_row * x.shape[1])

    def backward(self, ctx, x, y, dy, dx, grads, ws=None, fuse_previous=False,
                 prev_bias_grad=None):
        if dx is None:
            return None
        K = ctx.K
        if fuse_previous:
            return K.relu_dropout_backward_f32(dy, y, dx, self.rate, bias_grad=prev_bias_grad,
                                               nthreads=ctx.nthreads)
        return K.dropout_backward_f32(dy, dx, self.rate, self._seed, ctx.step,
                                      nthreads=ctx.nthreads,
                                      first=ctx.batch_row * dy.shape[1])
