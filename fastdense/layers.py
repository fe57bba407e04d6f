"""Layers: a Layer knows its build, forward, backward and parameters.

``Dense(units, activation=None, use_bias=True,
kernel_initializer='glorot_uniform', bias_initializer='zeros',
input_shape=None)`` computes ``activation(x @ kernel + bias)``.

The model owns one flat float32 parameter vector and one flat gradient
vector; after ``build`` it calls ``bind`` so that ``kernel``/``bias`` and
their gradients are views into those vectors (the optimizer then updates
every parameter with one kernel call).  Forward and backward write into
buffers the model allocated once per fit:

* forward: ``sgemm(x, kernel, out, bias=bias, relu=True, a_rows=rows)`` --
  bias and ReLU fused into the GEMM epilogue, and for the first layer the
  shuffled mini-batch gathered by ``a_rows`` inside the GEMM (no copy);
* backward: ReLU mask and bias gradient in one pass
  (``relu_backward_f32(..., bias_grad=)``), then ``dW = x^T dz`` (with
  ``a_cols=rows`` for the first layer) and ``dx = dz W^T``.
"""
import itertools
import math

import numpy as np

from . import activations as _activations
from . import utils as _utils

__all__ = ["Layer", "Dense", "get_initializer"]

_F32 = np.float32
_COUNTERS = {}


def _unique_name(prefix):
    counter = _COUNTERS.setdefault(prefix, itertools.count(1))
    return "%s_%d" % (prefix, next(counter))


# ---- initializers (Keras 2.3.1 definitions) ---------------------------------

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


def get_initializer(name):
    if isinstance(name, str) and name.lower() in _INITIALIZERS:
        return _INITIALIZERS[name.lower()]
    raise ValueError("unknown initializer %r: use one of %s"
                     % (name, ", ".join(repr(k) for k in sorted(_INITIALIZERS))))


def _shape_tuple(shape, what):
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        shape = tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError("%s must be a tuple of whole numbers, got %r" % (what, shape))
    return shape


# ---- layers ---------------------------------------------------------------

class Layer:
    """Base class.  Subclasses define build/forward/backward/parameters."""

    def __init__(self, name=None, input_shape=None, input_dim=None, batch_input_shape=None):
        if name is not None and not isinstance(name, str):
            raise ValueError("layer name must be a string, got %r" % (name,))
        self.name = name or _unique_name(self._name_prefix())
        if batch_input_shape is not None:
            input_shape = _shape_tuple(batch_input_shape, "batch_input_shape")[1:]
        if input_dim is not None:
            input_shape = (input_dim,)
        if input_shape is not None:
            input_shape = _shape_tuple(input_shape, "input_shape")
            if len(input_shape) != 1 or input_shape[0] is None or input_shape[0] < 1:
                raise ValueError("%s takes a flat input: input_shape must be (features,), "
                                 "e.g. input_shape=(784,), got %r"
                                 % (type(self).__name__, input_shape))
        self.input_shape = input_shape
        self.input_dim = None
        self.built = False

    @classmethod
    def _name_prefix(cls):
        return cls.__name__.lower()

    # build / parameters
    def build(self, input_dim, rng=None):
        raise NotImplementedError

    def param_shapes(self):
        return []

    def bind(self, params, grads):
        """Take ``params``/``grads`` (lists of views, one per parameter) as storage."""
        raise NotImplementedError

    def get_weights(self):
        return []

    def set_weights(self, weights):
        raise NotImplementedError

    def count_params(self):
        return int(sum(int(np.prod(s)) for s in self.param_shapes()))

    def get_config(self):
        config = {"name": self.name}
        if self.input_shape is not None:
            config["batch_input_shape"] = [None] + list(self.input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def output_dim(self):
        raise NotImplementedError

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, self.name)


class Dense(Layer):
    """Fully connected layer: ``activation(x @ kernel + bias)``."""

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 input_shape=None, input_dim=None, name=None, batch_input_shape=None,
                 **kwargs):
        if kwargs:
            raise TypeError("Dense got unexpected arguments %s"
                            % ", ".join(sorted(kwargs)))
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) \
                and not (isinstance(units, float) and units.is_integer()):
            raise ValueError("Dense units must be a whole number >= 1, got %r" % (units,))
        if int(units) < 1:
            raise ValueError("Dense units must be >= 1, got %d" % int(units))
        if not isinstance(use_bias, (bool, np.bool_)):
            raise ValueError("Dense use_bias must be True or False, got %r" % (use_bias,))
        self.activation = _activations.get(activation)
        get_initializer(kernel_initializer)
        get_initializer(bias_initializer)
        super().__init__(name=name, input_shape=input_shape, input_dim=input_dim,
                         batch_input_shape=batch_input_shape)
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel = self.bias = None
        self.kernel_grad = self.bias_grad = None

    @property
    def output_dim(self):
        return self.units

    def param_shapes(self):
        if self.input_dim is None:
            return []
        shapes = [(self.input_dim, self.units)]
        if self.use_bias:
            shapes.append((self.units,))
        return shapes

    def build(self, input_dim, rng=None):
        """Create initial weights (standalone arrays until the model binds them)."""
        if rng is None:
            rng = _utils.get_rng()
        self.input_dim = int(input_dim)
        kernel = get_initializer(self.kernel_initializer)((self.input_dim, self.units), rng)
        self.kernel = np.ascontiguousarray(kernel, dtype=_F32)
        self.kernel_grad = np.zeros_like(self.kernel)
        if self.use_bias:
            bias = get_initializer(self.bias_initializer)((self.units,), rng)
            self.bias = np.ascontiguousarray(bias, dtype=_F32)
            self.bias_grad = np.zeros_like(self.bias)
        self.built = True

    def bind(self, params, grads):
        params[0][...] = self.kernel
        self.kernel, self.kernel_grad = params[0], grads[0]
        if self.use_bias:
            params[1][...] = self.bias
            self.bias, self.bias_grad = params[1], grads[1]

    def get_weights(self):
        if not self.built:
            return []
        return [self.kernel.copy()] + ([self.bias.copy()] if self.use_bias else [])

    def set_weights(self, weights):
        shapes = self.param_shapes()
        if len(weights) != len(shapes):
            raise ValueError("layer %s expects %d weight arrays, got %d"
                             % (self.name, len(shapes), len(weights)))
        arrays = [np.asarray(w) for w in weights]
        for w, s in zip(arrays, shapes):
            if w.shape != s:
                raise ValueError("layer %s: weight of shape %s does not match the "
                                 "expected %s" % (self.name, w.shape, s))
        self.kernel[...] = arrays[0]
        if self.use_bias:
            self.bias[...] = arrays[1]

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=self.activation.name,
                      use_bias=self.use_bias, kernel_initializer=self.kernel_initializer,
                      bias_initializer=self.bias_initializer)
        return config

    # -- compute ---------------------------------------------------------------
    def forward(self, K, x, out, rows=None, logits_only=False, nthreads=1):
        """out = activation(x[rows] @ kernel + bias); logits_only skips the activation."""
        act = self.activation.name
        if act == "relu" and not logits_only:
            K.sgemm(x, self.kernel, out, bias=self.bias, relu=True, a_rows=rows,
                    nthreads=nthreads)
            return out
        K.sgemm(x, self.kernel, out, bias=self.bias, a_rows=rows, nthreads=nthreads)
        if not logits_only and act != "linear":
            self.activation.forward(K, out, out, nthreads=nthreads)
        return out

    def backward(self, K, x, grad, y, dx=None, rows=None, grad_is_dz=False,
                 scratch=None, nthreads=1):
        """Gradients of the kernel and bias (into the bound gradient views).

        ``grad`` holds dL/d(output) and is turned into dL/dz in place (unless
        ``grad_is_dz``: the fused loss already gave dL/dz).  ``x`` is this
        layer's input (rows ``rows`` of it for the first layer); ``dx``, when
        given, receives dL/dx.
        """
        act = self.activation
        bias_done = False
        if not grad_is_dz:
            if act.name == "relu":
                K.relu_backward_f32(grad, y, grad,
                                    bias_grad=self.bias_grad if self.use_bias else None,
                                    nthreads=nthreads)
                bias_done = True
            elif act.name != "linear":
                act.backward(K, grad, y, grad, scratch=scratch, nthreads=nthreads)
        if self.use_bias and not bias_done:
            K.bias_grad_f32(grad, self.bias_grad, nthreads=nthreads)
        K.sgemm(x.T, grad, self.kernel_grad, a_cols=rows, nthreads=nthreads)
        if dx is not None:
            K.sgemm(grad, self.kernel.T, dx, nthreads=nthreads)
        return dx


_REGISTRY = {"Dense": Dense}


def deserialize(config):
    if not isinstance(config, dict) or config.get("class_name") not in _REGISTRY:
        raise ValueError("unknown layer config %r" % (config,))
    return _REGISTRY[config["class_name"]].from_config(dict(config.get("config", {})))


def serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}
