"""Core layers: Dense, Activation, Flatten.

``Dense(units, activation=None, use_bias=True,
kernel_initializer='glorot_uniform', bias_initializer='zeros', ...)``
computes ``activation(x @ kernel + bias)`` with these kernel calls:

* forward: ``sgemm(x, kernel, out, bias=bias, relu=...)`` -- bias and ReLU
  fused into the GEMM epilogue; when the layer is the first to compute, the
  shuffled mini-batch is gathered inside the GEMM (``a_rows=rows``, no copy),
  and from compressed rows (``csrmm_f32``) when the input is sparse;
* backward: ReLU mask and bias gradient in one pass
  (``relu_backward_f32(..., bias_grad=)``), then ``dW = x^T dz`` (``a_cols=rows``
  for the first layer; the compressed rows of x^T when sparse) and, when an
  earlier layer needs it, ``dx = dz W^T``.

The output activation may be left to the loss (``logits_only``): softmax +
cross-entropy and sigmoid + binary cross-entropy are computed from the
logits in one fused kernel, and the loss's gradient is already dL/dz
(``dy_is_dz``).
"""
import numpy as np

from .. import activations as _activations
from .. import initializers as _initializers
from .base import Layer, check_bool, _features

__all__ = ["Dense", "Activation", "Flatten"]

_F32 = np.float32


def _whole_units(units):
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) \
            and not (isinstance(units, float) and units.is_integer()):
        raise ValueError("Dense units must be a whole number >= 1, got %r" % (units,))
    if int(units) < 1:
        raise ValueError("Dense units must be >= 1, got %d" % int(units))
    return int(units)


def _none_only(cls_name, **options):
    for key, value in options.items():
        if value is not None:
            raise ValueError("%s(%s=...): fastdense does not support %s; it has "
                             "kernel_regularizer and bias_regularizer"
                             % (cls_name, key, key.replace("_", " ")))


_NDARRAY = np.ndarray


class Dense(Layer):
    """Fully connected layer: ``activation(x @ kernel + bias)``."""

    gathers_rows = True
    takes_sparse = True

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        units = _whole_units(units)
        use_bias = check_bool(use_bias, "Dense use_bias")
        activation = _activations.get(activation)
        _initializers.get(kernel_initializer)
        _initializers.get(bias_initializer)
        _none_only("Dense", activity_regularizer=activity_regularizer,
                   kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        kernel_regularizer = _regularizer(kernel_regularizer)
        bias_regularizer = _regularizer(bias_regularizer)
        self.units = units
        super().__init__(**kwargs)
        self.activation = activation
        self._needs_z = bool(getattr(activation, "needs_z", False))
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel = self.bias = None

    def _check_input_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(
                "Dense takes a flat input: input_shape must be (features,), e.g. "
                "input_shape=(784,), got %r; for images put layers.Flatten("
                "input_shape=%r) before it" % (tuple(input_shape), tuple(input_shape)))

    def compute_output_shape(self, input_shape):
        self._check_input_shape(tuple(input_shape))
        return (self.units,)

    @property
    def input_dim(self):
        return self.built_input_shape[0] if self.built else None

    @property
    def output_dim(self):
        return self.units

    def param_shapes(self):
        if self.built_input_shape is None:
            return []
        shapes = [(self.built_input_shape[0], self.units)]
        if self.use_bias:
            shapes.append((self.units,))
        return shapes

    def _initial_values(self, rng):
        shapes = self.param_shapes()
        values = [_initializers.get(self.kernel_initializer)(shapes[0], rng)]
        if self.use_bias:
            values.append(_initializers.get(self.bias_initializer)(shapes[1], rng))
        return values

    def _bind(self, views):
        self.kernel = views[0]
        self.bias = views[1] if self.use_bias else None

    def regularized(self):
        """[(parameter index, regularizer)] for the penalties of this layer."""
        out = []
        if self.kernel_regularizer is not None:
            out.append((0, self.kernel_regularizer))
        if self.bias_regularizer is not None and self.use_bias:
            out.append((1, self.bias_regularizer))
        return out

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=_activations.serialize(self.activation),
                      use_bias=self.use_bias, kernel_initializer=self.kernel_initializer,
                      bias_initializer=self.bias_initializer)
        for key in ("kernel_regularizer", "bias_regularizer"):
            reg = getattr(self, key)
            if reg is not None:
                from .. import regularizers
                config[key] = regularizers.serialize(reg)
        return config

    # -- compute ---------------------------------------------------------------
    def workspace_shapes(self, rows, training):
        act = self.activation
        shapes = {}
        if getattr(act, "needs_z", False):
            shapes["z"] = (rows, self.units)
        if training and act.needs_scratch:
            shapes["scratch"] = (rows, self.units)
        return shapes

    def _product(self, K, x, out, rows, relu, nthreads, bias=True):
        b = self.bias if bias else None
        if type(x) is not _NDARRAY:
            K.csrmm_f32(x.indptr, x.indices, x.values, self.kernel, out, bias=b,
                        relu=relu, nthreads=nthreads)
        else:
            K.sgemm(x, self.kernel, out, bias=b, relu=relu, a_rows=rows,
                    nthreads=nthreads)

    def forward(self, ctx, x, out, rows=None, logits_only=False, ws=None):
        """out = activation(x[rows] @ kernel + bias); logits_only skips the activation."""
        K, nt = ctx.K, ctx.nthreads
        act = self.activation
        name = act.name
        if logits_only or name == "linear":
            self._product(K, x, out, rows, False, nt)
        elif name == "relu":
            self._product(K, x, out, rows, True, nt)
        elif self._needs_z:
            z = ws["z"]
            self._product(K, x, z, rows, False, nt)
            act.forward(K, z, out, nthreads=nt)
        else:
            self._product(K, x, out, rows, False, nt)
            act.forward(K, out, out, nthreads=nt)
        return out

    def backward(self, ctx, x, y, dy, dx, grads, rows=None, dy_is_dz=False,
                 bias_done=False, ws=None):
        """Parameter gradients into ``grads`` (None: frozen) and dL/dx into ``dx``.

        ``dy`` holds dL/d(output) and is turned into dL/dz in place (unless
        ``dy_is_dz``); ``bias_done``: a fused kernel already wrote the bias
        gradient.
        """
        K, nt = ctx.K, ctx.nthreads
        act = self.activation
        bias_grad = grads[1] if (grads is not None and self.use_bias) else None
        if not dy_is_dz:
            if act.name == "relu":
                K.relu_backward_f32(dy, y, dy, bias_grad=bias_grad, nthreads=nt)
                bias_done = True
            elif act.name != "linear":
                if self._needs_z:
                    act.backward(K, dy, y, dy, scratch=ws.get("scratch"), nthreads=nt,
                                 z=ws["z"])
                else:
                    act.backward(K, dy, y, dy, scratch=ws.get("scratch"), nthreads=nt)
        if grads is not None:
            if bias_grad is not None and not bias_done:
                K.bias_grad_f32(dy, bias_grad, nthreads=nt)
            if type(x) is not _NDARRAY:        # a compressed batch (engine/data.py)
                x.weight_gradient(dy, grads[0])
            else:
                K.sgemm(x.T, dy, grads[0], a_cols=rows, nthreads=nt)
        if dx is not None:
            K.sgemm(dy, self.kernel.T, dx, nthreads=nt)
        return dx


class Activation(Layer):
    """Applies an activation function: ``Activation('relu')``."""

    def __init__(self, activation, **kwargs):
        act = _activations.get(activation)
        super().__init__(**kwargs)
        self.activation = act

    def get_config(self):
        config = super().get_config()
        config["activation"] = _activations.serialize(self.activation)
        return config

    def workspace_shapes(self, rows, training):
        if training and self.activation.needs_scratch:
            return {"scratch": (rows, _features(self.built_input_shape))}
        return {}

    def computes(self, training):
        return self.activation.name != "linear"

    def forward(self, ctx, x, out, ws=None):
        return self.activation.forward(ctx.K, x, out, nthreads=ctx.nthreads)

    def backward(self, ctx, x, y, dy, dx, grads, ws=None):
        if dx is None:
            return None
        K, nt = ctx.K, ctx.nthreads
        act = self.activation
        if act.name == "relu":
            return K.relu_backward_f32(dy, y, dx, nthreads=nt)
        if getattr(act, "needs_z", False):
            return act.backward(K, dy, y, dx, scratch=ws.get("scratch"), nthreads=nt, z=x)
        return act.backward(K, dy, y, dx, scratch=ws.get("scratch"), nthreads=nt)


class Flatten(Layer):
    """Flattens each sample: ``(N, 28, 28) -> (N, 784)`` (no copy, C order)."""

    passthrough = True

    def __init__(self, data_format=None, **kwargs):
        if data_format not in (None, "channels_last"):
            raise ValueError("Flatten(data_format=%r): fastdense keeps samples in C "
                             "order, which is 'channels_last'" % (data_format,))
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        return (_features(input_shape),)


def _regularizer(identifier):
    if identifier is None:
        return None
    from .. import regularizers
    return regularizers.get(identifier)



# ---- Keras 2.3's "advanced activation" layers --------------------------------------

class _ActivationLayer(Activation):
    """An Activation layer whose activation has parameters (Keras's layer form)."""

    _make = None
    _params = ()

    def __init__(self, **kwargs):
        values = {k: kwargs.pop(k) for k in list(kwargs) if k in self._params}
        super().__init__(type(self)._make(**values), **kwargs)
        for k in self._params:
            setattr(self, k, getattr(self.activation, k, values.get(k)))

    def get_config(self):
        config = Layer.get_config(self)
        config.update({k: getattr(self, k) for k in self._params})
        return config


class LeakyReLU(_ActivationLayer):
    """``LeakyReLU(alpha=0.3)``: z if z > 0 else alpha * z (Keras 3: negative_slope)."""
    _params = ("alpha",)

    def __init__(self, alpha=0.3, negative_slope=None, **kwargs):
        if negative_slope is not None:
            alpha = negative_slope
        super().__init__(alpha=alpha, **kwargs)

    @staticmethod
    def _make(alpha):
        return _activations.LeakyReLU(alpha=alpha)


class ELU(_ActivationLayer):
    """``ELU(alpha=1.0)``: z if z > 0 else alpha * (exp(z) - 1)."""
    _params = ("alpha",)

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(alpha=alpha, **kwargs)

    @staticmethod
    def _make(alpha):
        return _activations.ELU(alpha=alpha)


class ReLU(_ActivationLayer):
    """``ReLU()``: max(z, 0) (max_value, negative_slope and threshold at their
    defaults only; LeakyReLU gives a slope)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        if max_value is not None or negative_slope != 0.0 or threshold != 0.0:
            raise ValueError("ReLU(max_value=..., negative_slope=..., threshold=...): "
                             "fastdense's ReLU layer is max(z, 0); use LeakyReLU(alpha) "
                             "for a negative slope")
        super().__init__(**kwargs)

    @staticmethod
    def _make():
        return _activations.get("relu")


class Softmax(_ActivationLayer):
    """``Softmax(axis=-1)``: softmax over the features."""

    def __init__(self, axis=-1, **kwargs):
        if axis not in (-1, 1):
            raise ValueError("Softmax(axis=%r): fastdense normalises over the features "
                             "(axis=-1)" % (axis,))
        super().__init__(**kwargs)

    @staticmethod
    def _make():
        return _activations.get("softmax")
