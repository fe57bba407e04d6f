"""The Layer base class: what every layer declares, and nothing else.

A layer knows four things (Keras 2.3's split between ``layers/`` and
``engine/``):

* **shapes**: ``compute_output_shape(input_shape)`` (per-sample shapes, no
  batch axis);
* **parameters**: ``param_shapes()`` after ``build(input_shape, rng)``, which
  creates the initial values in ONE line-aligned float32 buffer that the
  layer owns (``kernel`` then ``bias`` for Dense, as views of it).  A layer
  that two models share is therefore the same weights in both;
* **workspace**: ``workspace_shapes(rows, training)``, the per-call buffers it
  needs beyond its output and its gradient (a pre-activation, a scratch);
* **compute**: ``forward(ctx, x, out, ...)`` and ``backward(ctx, x, y, dy, dx,
  grads, ...)`` as kernel calls on ``ctx.K`` (the C kernels or their NumPy
  twins), writing into buffers the engine allocated once per call of fit,
  evaluate or predict.

Everything else -- the parameter gradients' flat vector, the optimizer,
losses, metrics, batching, callbacks, saving -- is the engine's
(``fastdense/engine/``).  Inside the engine every array is 2-D: samples x
features, where the features of a per-sample shape ``(28, 28)`` are its 784
values in C order; so ``Flatten`` and ``InputLayer`` compute nothing
(``computes(training)`` is False) and a layer that does compute sees
``(rows, prod(input_shape))``.
"""
import itertools

import numpy as np

from .. import _memory
from .. import utils as _utils

__all__ = ["Layer", "shape_tuple", "unique_name"]

_F32 = np.float32
_COUNTERS = {}


def unique_name(prefix):
    counter = _COUNTERS.setdefault(prefix, itertools.count(1))
    return "%s_%d" % (prefix, next(counter))


def shape_tuple(shape, what):
    """A per-sample shape as a tuple of ints (an int means a 1-tuple)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        shape = tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError("%s must be a tuple of whole numbers, got %r" % (what, shape))
    return shape


def _features(shape):
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def check_bool(value, what):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError("%s must be True or False, got %r" % (what, value))
    return bool(value)


class Layer:
    """Base class.  Subclasses define shapes, parameters and forward/backward."""

    #: the layer passes its (2-D) input through unchanged, in every mode
    passthrough = False
    #: forward/backward accept ``rows=`` (gather the first layer's batch)
    gathers_rows = False
    #: forward accepts compressed-row (sparse) input
    takes_sparse = False

    def __init__(self, name=None, input_shape=None, input_dim=None, batch_input_shape=None,
                 trainable=True, dtype=None, batch_size=None, **kwargs):
        if kwargs:
            raise TypeError(_unexpected(type(self).__name__, kwargs, self._arg_names()))
        if name is not None and not isinstance(name, str):
            raise ValueError("layer name must be a string, got %r" % (name,))
        if dtype not in (None, "float32", np.float32) and np.dtype(dtype) != np.float32:
            raise ValueError("fastdense layers compute in float32; dtype=%r is not "
                             "supported" % (dtype,))
        self.name = name or unique_name(self._name_prefix())
        if batch_input_shape is not None:
            input_shape = shape_tuple(batch_input_shape, "batch_input_shape")[1:]
        if input_dim is not None:
            input_shape = (input_dim,)
        if input_shape is not None:
            input_shape = shape_tuple(input_shape, "input_shape")
            if any(d is None or d < 1 for d in input_shape):
                raise ValueError("input_shape must give every per-sample dimension as a "
                                 "whole number >= 1, e.g. input_shape=(784,), got %r"
                                 % (input_shape,))
            self._check_input_shape(input_shape)
        self.input_shape = input_shape        # declared by the user (or None)
        self.trainable = check_bool(trainable, "trainable")
        self.built = False
        self.built_input_shape = None
        self._buffer = None                   # the parameters, one aligned vector
        self._weights = []                    # views of _buffer, Keras order

    @classmethod
    def _name_prefix(cls):
        name = cls.__name__
        out = name[0].lower()
        for prev, ch in zip(name, name[1:]):
            out += ("_" + ch.lower()) if ch.isupper() and prev.islower() else ch.lower()
        return out

    @classmethod
    def _arg_names(cls):
        import inspect
        names = set()
        for klass in cls.__mro__:
            if "__init__" in vars(klass):
                sig = inspect.signature(klass.__init__)
                names.update(p for p in sig.parameters if p not in ("self", "kwargs"))
        return sorted(names)

    # ---- trainable ----------------------------------------------------------
    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = check_bool(value, "trainable")

    # ---- shapes ---------------------------------------------------------------
    def _check_input_shape(self, input_shape):
        """Raise ValueError when this layer cannot take per-sample ``input_shape``."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def computes(self, training):
        """False when this layer is the identity on the engine's 2-D data."""
        return not self.passthrough

    # ---- parameters ------------------------------------------------------------
    def param_shapes(self):
        """Shapes of the parameters, Keras order (after build)."""
        return []

    def _initial_values(self, rng):
        """Initial parameter values, one array per param_shapes() entry."""
        return []

    def build(self, input_shape, rng=None):
        """Create the parameters for per-sample ``input_shape`` (once)."""
        input_shape = tuple(input_shape)
        if self.built:
            if input_shape != self.built_input_shape:
                raise ValueError(
                    "layer %s was built for inputs of shape %s and cannot take %s: a "
                    "layer shared by two models keeps one set of weights, so both must "
                    "feed it the same shape" % (self.name, _fmt(self.built_input_shape),
                                                _fmt(input_shape)))
            return
        self._check_input_shape(input_shape)
        self.built_input_shape = input_shape
        try:
            shapes = self.param_shapes()
            values = self._initial_values(rng if rng is not None else _utils.get_rng())
        except Exception:
            self.built_input_shape = None
            raise
        sizes = [_features(s) for s in shapes]
        buf = _memory.empty(int(sum(sizes)))
        views, offset = [], 0
        for s, size, v in zip(shapes, sizes, values):
            view = buf[offset:offset + size].reshape(s)
            view[...] = v
            views.append(view)
            offset += size
        self._buffer, self._weights = buf, views
        self._bind(views)
        self.built = True

    def _bind(self, views):
        """Name the parameter views (kernel, bias...)."""

    @property
    def param_buffer(self):
        """All parameters as one flat float32 vector (None before build)."""
        return self._buffer

    def count_params(self):
        return int(sum(_features(s) for s in self.param_shapes())) if self.built else 0

    @property
    def weights(self):
        """The parameter arrays (views: writing them changes the layer)."""
        return list(self._weights)

    @property
    def trainable_weights(self):
        return self.weights if self.trainable else []

    @property
    def non_trainable_weights(self):
        return [] if self.trainable else self.weights

    def get_weights(self):
        return [w.copy() for w in self._weights]

    def set_weights(self, weights):
        """Copy ``weights`` in, after checking every shape (nothing changes on error)."""
        weights = list(weights)
        shapes = self.param_shapes() if self.built else []
        if len(weights) != len(shapes):
            raise ValueError("layer %s expects %d weight arrays, got %d"
                             % (self.name, len(shapes), len(weights)))
        arrays = [np.asarray(w) for w in weights]
        for w, s in zip(arrays, shapes):
            if w.shape != tuple(s):
                raise ValueError("layer %s: weight of shape %s does not match the "
                                 "expected %s" % (self.name, w.shape, tuple(s)))
            if not np.issubdtype(w.dtype, np.number) and w.dtype != np.bool_:
                raise ValueError("layer %s: weights must be numeric, got dtype %s"
                                 % (self.name, w.dtype))
        for view, w in zip(self._weights, arrays):
            view[...] = w

    # ---- per-call buffers and compute -------------------------------------------
    def workspace_shapes(self, rows, training):
        """{name: shape} of extra buffers a forward/backward call needs."""
        return {}

    def forward(self, ctx, x, out, **options):
        raise NotImplementedError

    def backward(self, ctx, x, y, dy, dx, grads, **options):
        raise NotImplementedError

    # ---- config ------------------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        if self.input_shape is not None:
            config["batch_input_shape"] = [None] + list(self.input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, self.name)


def _fmt(shape):
    return "(None, %s)" % ", ".join(str(d) for d in shape) if shape else "(None,)"


def _unexpected(cls_name, kwargs, supported):
    return ("%s got unexpected keyword argument%s %s; the supported ones are: %s"
            % (cls_name, "s" if len(kwargs) > 1 else "", ", ".join(sorted(kwargs)),
               ", ".join(supported)))
