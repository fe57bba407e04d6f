"""Activation functions as small objects: forward and backward, in place.

Each activation maps a pre-activation ``z`` to ``y`` (``forward(K, z, out)``;
``out`` may be ``z`` itself) and maps the gradient with respect to ``y`` to
the gradient with respect to ``z`` (``backward(K, grad, y, out, scratch=None,
nthreads=1, z=None)``; ``out`` may be ``grad``).  ``K`` is the kernel module
(``fastdense._ckernels`` or ``fastdense.reference``).

Where the derivative is a function of the output (relu, elu, selu,
leaky_relu, softplus, exponential, hard_sigmoid, sigmoid, tanh) backward
works from ``y`` alone, so the layer need not keep ``z``.  Where it is not
(gelu, silu/swish, softsign, and Python functions), the class attribute
``needs_z`` is True: the layer must keep the pre-activation in a buffer of
its own and pass it as ``z=``.  ``needs_scratch``: backward wants a buffer
the size of ``y`` (softmax only).

Names follow Keras 2.3.1, plus the Keras 3 spellings where they are not
ambiguous ('silu'/'swish', 'gelu', 'leaky_relu').  'hard_sigmoid' is Keras
2.3's ``clip(0.2 x + 0.5, 0, 1)``; Keras 3's slope is 1/6:
``HardSigmoid(slope=1/6)``.  Parametrised objects -- ``ELU(alpha)``,
``LeakyReLU(alpha)``, ``GELU(approximate)``, ``HardSigmoid(slope)`` -- are
what the Keras layers ELU / LeakyReLU wrap.

A Python function works too (``Dense(10, activation=my_fn)``): fastdense's
own module functions (``activations.relu``, ``activations.elu``, ...) map to
the fast objects; any other callable ``f`` is wrapped in ``Lambda(f)``:
forward evaluates ``f`` on the float32 array (it must be elementwise: the
same shape back), backward uses ``f.derivative`` or ``Lambda(f,
derivative=df)`` when given, else a central difference in float64 (see
``Lambda``).  Such a model cannot be saved by name: ``serialize`` raises.
"""
import numpy as np

__all__ = ["Activation", "Linear", "ReLU", "Sigmoid", "Tanh", "Softmax", "ELU",
           "SELU", "GELU", "LeakyReLU", "Softplus", "Softsign", "Swish", "SiLU",
           "Exponential", "HardSigmoid", "Lambda", "get", "serialize", "deserialize",
           "linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "gelu",
           "leaky_relu", "softplus", "softsign", "silu", "swish", "exponential",
           "hard_sigmoid"]

_F32 = np.float32


class Activation:
    name = None
    needs_scratch = False   # backward wants a buffer the size of y
    needs_z = False         # backward needs the pre-activation z (pass z=)

    def forward(self, K, z, out, nthreads=1):
        raise NotImplementedError

    def backward(self, K, grad, y, out, scratch=None, nthreads=1, z=None):
        raise NotImplementedError

    def get_config(self):
        """The constructor arguments (empty for the plain functions)."""
        return {}

    def __call__(self, z):
        """Plain NumPy evaluation (float32 in, new array of z's shape out)."""
        z = np.asarray(z, dtype=_F32)
        z2 = np.ascontiguousarray(z.reshape(-1, z.shape[-1]) if z.ndim else z.reshape(1, 1))
        out = np.empty_like(z2)
        from . import reference
        with np.errstate(all="ignore"):
            self.forward(reference, z2, out)
        return out.reshape(z.shape)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        config = self.get_config()
        if get(self.name) == self:
            return "activations.get(%r)" % self.name
        return "activations.%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % kv for kv in sorted(config.items())))


class Linear(Activation):
    name = "linear"

    def forward(self, K, z, out, nthreads=1):
        if out is not z:
            out[...] = z
        return out

    def backward(self, K, grad, y, out, scratch=None, nthreads=1, z=None):
        if out is not grad:
            out[...] = grad
        return out


class ReLU(Activation):
    name = "relu"

    def forward(self, K, z, out, nthreads=1):
        return K.relu_f32(z, out, nthreads=nthreads)

    def backward(self, K, grad, y, out, scratch=None, nthreads=1, z=None,
                 bias_grad=None):
        return K.relu_backward_f32(grad, y, out, bias_grad=bias_grad, nthreads=nthreads)


class Softmax(Activation):
    name = "softmax"
    needs_scratch = True

    def forward(self, K, z, out, nthreads=1):
        return K.softmax_f32(z, out, nthreads=nthreads)

    def backward(self, K, grad, y, out, scratch=None, nthreads=1, z=None):
        # dz_i = y_i (g_i - sum_j g_j y_j)
        if scratch is None:
            scratch = np.empty_like(y)
        np.multiply(grad, y, out=scratch)
        dot = scratch.sum(axis=1, keepdims=True)
        np.subtract(grad, dot, out=out)
        out *= y
        return out


class _Kernel(Activation):
    """An activation with a forward and a backward kernel, ``<kernel>_f32``
    and ``<kernel>_backward_f32``, taking ``_params()`` after the arrays."""
    kernel = None

    def _params(self):
        return ()

    def forward(self, K, z, out, nthreads=1):
        return getattr(K, self.kernel + "_f32")(z, out, *self._params(), nthreads=nthreads)

    def backward(self, K, grad, y, out, scratch=None, nthreads=1, z=None):
        if self.needs_z:
            if z is None:
                raise ValueError("the %s backward pass needs the pre-activation z "
                                 "(activation.needs_z is True): keep it and pass z="
                                 % self.name)
            src = z
        else:
            src = y
        return getattr(K, self.kernel + "_backward_f32")(grad, src, out, *self._params(),
                                                         nthreads=nthreads)


def _number(value, what, minimum=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise ValueError("%s must be a number, got %r" % (what, value))
    value = float(value)
    if not np.isfinite(value) or (minimum is not None and value < minimum):
        raise ValueError("%s must be a finite number%s, got %r"
                         % (what, "" if minimum is None else " >= %g" % minimum, value))
    return value


class Sigmoid(_Kernel):
    name = kernel = "sigmoid"


class Tanh(_Kernel):
    name = kernel = "tanh"


class ELU(_Kernel):
    """``z > 0 ? z : alpha (exp(z) - 1)``; alpha >= 0 (the gradient is taken
    from the output, which tells the branches apart only then)."""
    name = kernel = "elu"

    def __init__(self, alpha=1.0):
        self.alpha = _number(alpha, "ELU alpha", minimum=0.0)

    def _params(self):
        return (self.alpha,)

    def get_config(self):
        return {"alpha": self.alpha}


class SELU(_Kernel):
    """``scale * elu(z, alpha)`` with alpha = 1.6732632..., scale = 1.0507009..."""
    name = kernel = "selu"


class GELU(_Kernel):
    """``z Phi(z)`` (approximate=False, Keras 3's default: the erf form) or
    ``0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))`` (approximate=True)."""
    name = "gelu"
    needs_z = True

    def __init__(self, approximate=False):
        if not isinstance(approximate, (bool, np.bool_)):
            raise ValueError("GELU approximate must be True or False, got %r" % (approximate,))
        self.approximate = bool(approximate)
        self.kernel = "gelu_tanh" if self.approximate else "gelu"

    def get_config(self):
        return {"approximate": self.approximate}


class LeakyReLU(_Kernel):
    """``z > 0 ? z : alpha z``, alpha >= 0.  The default 0.3 is the Keras
    layers' (2.3 and 3); the function ``leaky_relu`` and the name
    'leaky_relu' use Keras 3's 0.2.  ``negative_slope=`` is Keras 3's name."""
    name = kernel = "leaky_relu"

    def __init__(self, alpha=0.3, negative_slope=None):
        if negative_slope is not None:
            alpha = negative_slope
        self.alpha = _number(alpha, "LeakyReLU alpha (negative_slope)", minimum=0.0)

    def _params(self):
        return (self.alpha,)

    def get_config(self):
        return {"alpha": self.alpha}


class Softplus(_Kernel):
    name = kernel = "softplus"


class Softsign(_Kernel):
    name = kernel = "softsign"
    needs_z = True


class SiLU(_Kernel):
    """``z sigmoid(z)`` (Keras 3 'silu', also 'swish')."""
    name = "silu"
    kernel = "swish"
    needs_z = True


Swish = SiLU


class Exponential(_Kernel):
    name = kernel = "exponential"


class HardSigmoid(_Kernel):
    """``clip(slope z + 0.5, 0, 1)``: slope 0.2 as Keras 2.3 (Keras 3: 1/6)."""
    name = kernel = "hard_sigmoid"

    def __init__(self, slope=0.2):
        self.slope = _number(slope, "HardSigmoid slope")

    def _params(self):
        return (self.slope,)

    def get_config(self):
        return {"slope": self.slope}


class Lambda(Activation):
    """A Python function ``f`` as an elementwise activation.

    forward: ``out = f(z)`` on the float32 array (any result dtype is cast to
    float32); ``f`` must return an array of z's shape, else ValueError.
    backward: ``grad * derivative(z)`` with ``derivative`` given here or as
    ``f.derivative``; without one, the central difference
    ``(f(z + h) - f(z - h)) / (2h)`` evaluated in float64 with
    ``h = eps**(1/3) * max(1, |z|)`` (eps = 2**-52: truncation and rounding
    errors both ~1e-11 relative for a smooth f; when f returns float32 from
    float64 input, eps = 2**-23, ~1e-5).  That approximation assumes f is
    elementwise (each output depends on its own input only) and smooth near z;
    it is evaluated without warnings.  ``needs_z`` is True.
    """
    needs_z = True

    def __init__(self, function, derivative=None, name=None):
        if not callable(function):
            raise ValueError("Lambda needs a callable, got %r" % (function,))
        if derivative is not None and not callable(derivative):
            raise ValueError("Lambda derivative must be callable, got %r" % (derivative,))
        self.function = function
        self.derivative = derivative if derivative is not None else \
            getattr(function, "derivative", None)
        self.function_name = name or getattr(function, "__name__", type(function).__name__)
        # never one of the built-in names (the engine fuses 'relu', 'softmax'...)
        self.name = "custom:" + self.function_name

    def _apply(self, fn, z, what):
        try:
            with np.errstate(all="ignore"):
                res = np.asarray(fn(z))
        except Exception as exc:
            raise ValueError("activation function %s failed on an array of shape %s: "
                             "%s: %s" % (self.function_name, z.shape, type(exc).__name__, exc))
        if res.shape != z.shape or not (np.issubdtype(res.dtype, np.number)
                                        or res.dtype == np.bool_):
            raise ValueError(
                "%s %s returned %s for an input of shape %s: a Python function used as "
                "an activation must be elementwise (return a numeric array of the "
                "input's shape)" % (what, self.function_name,
                                    "shape %s" % (res.shape,) if res.dtype != object
                                    else "a non-numeric result", z.shape))
        return res

    def forward(self, K, z, out, nthreads=1):
        res = self._apply(self.function, z, "activation function")
        with np.errstate(all="ignore"):
            out[...] = res
        return out

    def numeric_derivative(self, z):
        """The central difference of the function at z (float64)."""
        z64 = np.asarray(z, np.float64)
        scale = np.maximum(1.0, np.abs(z64))
        with np.errstate(all="ignore"):
            for eps in (2.0 ** -52, 2.0 ** -23):
                h = np.cbrt(eps) * scale
                up, down = z64 + h, z64 - h
                f_up = self._apply(self.function, up, "activation function")
                f_down = self._apply(self.function, down, "activation function")
                if f_up.dtype == np.float64 or eps != 2.0 ** -52:
                    break
            # the steps actually taken (z + h is rounded)
            return (f_up.astype(np.float64) - f_down) / (up - down)

    def backward(self, K, grad, y, out, scratch=None, nthreads=1, z=None):
        if z is None:
            raise ValueError("the backward pass of the activation function %s needs the "
                             "pre-activation z (activation.needs_z is True): keep it and "
                             "pass z=" % self.function_name)
        if self.derivative is not None:
            d = self._apply(self.derivative, z, "the derivative of activation function")
        else:
            d = self.numeric_derivative(z)
        with np.errstate(all="ignore"):
            out[...] = np.asarray(grad, np.float64) * d
        return out

    def __call__(self, z):
        z = np.asarray(z, dtype=_F32)
        return self._apply(self.function, z, "activation function").astype(_F32)

    def __eq__(self, other):
        return (isinstance(other, Lambda) and self.function is other.function
                and self.derivative is other.derivative)

    def __hash__(self):
        return hash((id(self.function), id(self.derivative)))

    def __repr__(self):
        return "activations.Lambda(%s)" % self.function_name


# ---- module-level functions, as keras.activations has --------------------
# NumPy evaluation (float32); passed as an activation they map to the objects.

def _eval(obj, x):
    return obj(np.asarray(x, dtype=_F32))


def linear(x):
    return np.asarray(x, dtype=_F32)


def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """Keras 2.3: x for x >= threshold (capped at max_value), else
    alpha (x - threshold)."""
    if alpha == 0.0 and max_value is None and threshold == 0.0:
        return _eval(ReLU(), x)
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        y = np.where(x >= threshold, x, alpha * (x - threshold))
        if max_value is not None:
            y = np.where(x >= threshold, np.minimum(y, max_value), y)
    return y.astype(_F32)


def sigmoid(x):
    return _eval(Sigmoid(), x)


def tanh(x):
    return _eval(Tanh(), x)


def softmax(x, axis=-1):
    x = np.asarray(x, dtype=_F32)
    if x.ndim < 1:
        raise ValueError("softmax needs at least one axis")
    moved = np.moveaxis(x, axis, -1)
    return np.moveaxis(_eval(Softmax(), moved), -1, axis)


def elu(x, alpha=1.0):
    return _eval(ELU(alpha), x)


def selu(x):
    return _eval(SELU(), x)


def gelu(x, approximate=False):
    return _eval(GELU(approximate), x)


def leaky_relu(x, negative_slope=0.2):
    return _eval(LeakyReLU(negative_slope), x)


def softplus(x):
    return _eval(Softplus(), x)


def softsign(x):
    return _eval(Softsign(), x)


def silu(x):
    return _eval(SiLU(), x)


swish = silu


def exponential(x):
    return _eval(Exponential(), x)


def hard_sigmoid(x):
    return _eval(HardSigmoid(), x)


# ---- lookup ------------------------------------------------------------------

_REGISTRY = {
    "linear": Linear, "relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh,
    "softmax": Softmax, "elu": ELU, "selu": SELU, "gelu": GELU,
    "leaky_relu": lambda: LeakyReLU(0.2), "softplus": Softplus,
    "softsign": Softsign, "silu": SiLU, "swish": SiLU,
    "exponential": Exponential, "hard_sigmoid": HardSigmoid,
}

_FUNCTIONS = {
    linear: Linear, relu: ReLU, sigmoid: Sigmoid, tanh: Tanh, softmax: Softmax,
    elu: ELU, selu: SELU, gelu: GELU, leaky_relu: _REGISTRY["leaky_relu"],
    softplus: Softplus, softsign: Softsign, silu: SiLU,
    exponential: Exponential, hard_sigmoid: HardSigmoid,
}

_CLASSES = {cls.__name__: cls for cls in (
    Linear, ReLU, Sigmoid, Tanh, Softmax, ELU, SELU, GELU, LeakyReLU, Softplus,
    Softsign, SiLU, Exponential, HardSigmoid)}


def _unknown(identifier):
    return ValueError("unknown activation %r: use one of %s (or None for linear), an "
                      "activations object such as activations.LeakyReLU(0.3), or a "
                      "Python function" % (identifier, ", ".join(
                          repr(k) for k in sorted(_REGISTRY))))


def deserialize(config):
    """An Activation from serialize()'s output (a name or a class/config dict)."""
    if isinstance(config, str):
        return get(config)
    if isinstance(config, dict) and config.get("class_name") in _CLASSES:
        try:
            return _CLASSES[config["class_name"]](**dict(config.get("config") or {}))
        except TypeError as exc:
            raise ValueError("bad activation config %r: %s" % (config, exc))
    raise _unknown(config)


def get(identifier):
    """An Activation from a name ('relu', 'gelu', ...; Keras 2.3 and 3
    spellings), None (linear), an instance or class, a config dict, one of the
    module functions (activations.elu, ...), or any elementwise Python
    function (wrapped in Lambda)."""
    if identifier is None:
        return Linear()
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Activation) \
            and identifier not in (Activation, _Kernel, Lambda):
        return identifier()
    if isinstance(identifier, str):
        make = _REGISTRY.get(identifier.lower())
        if make is not None:
            return make()
        raise _unknown(identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        try:
            make = _FUNCTIONS.get(identifier)
        except TypeError:   # unhashable callable
            make = None
        return make() if make is not None else Lambda(identifier)
    raise _unknown(identifier)


def serialize(activation):
    """The name (default parameters) or {'class_name', 'config'}; a Python
    function cannot be saved (ValueError)."""
    activation = get(activation)
    if isinstance(activation, Lambda):
        raise ValueError(
            "cannot serialize the activation function %s: fastdense saves activations "
            "by name, and a Python function has none it could be loaded back from. "
            "Use a built-in activation to save the model, or rebuild the model with "
            "the function and load its weights (Keras needs custom_objects for the "
            "same reason)" % activation.function_name)
    if get(activation.name) == activation:
        return activation.name
    return {"class_name": type(activation).__name__, "config": activation.get_config()}


from ._unsupported import explain_keywords as _explain_keywords  # noqa: E402
_explain_keywords(globals())
