"""Weight initializers (Keras 2.3.1 definitions), by name.

Each initializer is ``init(shape, rng) -> float64 array``; layers cast to
float32 and copy into their parameter buffer.  ``rng`` is the generator of
``fastdense.utils`` (seeded by ``utils.set_random_seed``), so initial weights
repeat bit for bit under a seed.
"""
import math

import numpy as np

__all__ = ["get", "names"]


def _truncated_normal(rng, stddev, shape):
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return out * stddev


def _variance_scaling(scale, mode, distribution):
    def init(shape, rng):
        fan_in, fan_out = (shape[0], shape[1]) if len(shape) == 2 else (shape[0], shape[0])
        n = {"fan_in": fan_in, "fan_out": fan_out,
             "fan_avg": (fan_in + fan_out) / 2.0}[mode]
        n = max(1.0, n)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * scale / n)
            return rng.uniform(-limit, limit, shape)
        return _truncated_normal(rng, math.sqrt(scale / n) / 0.87962566103423978, shape)
    return init


_INITIALIZERS = {
    "glorot_uniform": _variance_scaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": _variance_scaling(1.0, "fan_avg", "normal"),
    "he_uniform": _variance_scaling(2.0, "fan_in", "uniform"),
    "he_normal": _variance_scaling(2.0, "fan_in", "normal"),
    "lecun_uniform": _variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_normal": _variance_scaling(1.0, "fan_in", "normal"),
    "random_uniform": lambda shape, rng: rng.uniform(-0.05, 0.05, shape),
    "random_normal": lambda shape, rng: rng.normal(0.0, 0.05, shape),
    "zeros": lambda shape, rng: np.zeros(shape),
    "ones": lambda shape, rng: np.ones(shape),
}


def names():
    return sorted(_INITIALIZERS)


def get(name):
    """The initializer called ``name`` ('glorot_uniform', 'zeros', ...)."""
    if isinstance(name, str) and name.lower() in _INITIALIZERS:
        return _INITIALIZERS[name.lower()]
    raise ValueError("unknown initializer %r: use one of %s"
                     % (name, ", ".join(repr(k) for k in names())))
