"""Optimizers (Keras 2.3.1 semantics): one kernel call per parameter segment.

Each layer keeps its weights in one contiguous float32 buffer (kernel, then
bias); the training engine keeps every trainable gradient in one flat vector.
An optimizer keeps its state (accumulators, moments) flat, one vector per
state name over all trainable parameters, created by ``build(P)`` (zeros, as
in Keras), and counts its steps in ``iterations``.

A step is ``apply_segments(segments)``: ``segments`` is a list of
``(param2d, grad2d, offset)`` -- (1, size) float32 views of a layer's
parameter buffer and of its gradient, and where that layer's slice starts in
the state vectors -- and the optimizer runs its kernel once per segment
(``_update(K, param2d, grad2d, state_views, nthreads)``).  ``apply(params,
grads)`` is the one-segment form.

``learning_rate`` is also accepted as ``lr`` (Keras 2.3.1 did), and ``decay``
applies ``lr / (1 + decay * iterations)`` as in Keras 2.3.1.
"""
import math

import numpy as np

from . import _config, _memory

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "get", "serialize", "deserialize"]

_F32 = np.float32


def _number(name, value, minimum=0.0, strict=False, maximum=None):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError("%s must be a number, got %r" % (name, value))
    value = float(value)
    if not math.isfinite(value) or value < minimum or (strict and value == minimum) \
            or (maximum is not None and value > maximum):
        raise ValueError("%s=%r is out of range" % (name, value))
    return value


class Optimizer:
    """Base class: holds hyper-parameters, flat state and the step counter."""
    _state_names = ()

    def __init__(self, learning_rate, lr=None, decay=0.0):
        if lr is not None:
            learning_rate = lr
        self.learning_rate = _number("learning_rate", learning_rate)
        self.decay = _number("decay", decay)
        self.iterations = 0
        self._state = None          # list of flat float32 arrays, or None
        self._size = None           # number of parameters the state is for

    # Keras 2.3.1 exposed both names
    @property
    def lr(self):
        return self.learning_rate

    @lr.setter
    def lr(self, value):
        self.learning_rate = _number("learning_rate", value)

    def _current_lr(self):
        if self.decay > 0:
            return self.learning_rate / (1.0 + self.decay * self.iterations)
        return self.learning_rate

    # -- state -------------------------------------------------------------
    def _n_state(self):
        return len(self._state_names)

    def build(self, n_params):
        """Zero state for ``n_params`` parameters (kept if already that size)."""
        if self._state is not None and self._size == n_params:
            return
        self._state = [_memory.zeros(n_params) for _ in range(self._n_state())]
        self._size = n_params
        self.iterations = 0

    def get_state(self):
        """(iterations, [copies of the flat state arrays])."""
        return self.iterations, [s.copy() for s in (self._state or [])]

    def set_state(self, iterations, arrays, n_params=None):
        arrays = [np.array(a, dtype=_F32).ravel() for a in arrays]
        if len(arrays) != self._n_state():
            raise ValueError("%s expects %d state arrays, got %d"
                             % (type(self).__name__, self._n_state(), len(arrays)))
        if len({a.shape for a in arrays}) > 1:
            raise ValueError("optimizer state arrays differ in size")
        if arrays:
            n_params = arrays[0].size
        self._state = arrays if n_params is not None else None
        self._size = n_params
        self.iterations = int(iterations)

    # -- step ----------------------------------------------------------------
    def apply(self, params, grads, K=None, nthreads=None):
        """One update of ``params`` (2-D (1, P) view) by ``grads``, in place."""
        self.build(params.size)
        self.apply_segments([(params, grads, 0)], K, nthreads)

    def apply_segments(self, segments, K=None, nthreads=None):
        """One step over ``[(param2d, grad2d, offset), ...]`` (state built first)."""
        if K is None:
            K = _config.kernels()
        if nthreads is None:
            nthreads = _config.get_num_threads()
        if self._n_state() and self._state is None:
            raise RuntimeError("optimizer state is not built: call build(n_params)")
        cache = self._view_cache
        for param, grad, offset in segments:
            key = (offset, param.shape)
            views = cache.get(key)
            if views is None:
                views = cache[key] = self._views(param.shape, offset)
            self._update(K, param, grad, views, nthreads)
        self.iterations += 1

    @property
    def _state(self):
        return self.__state

    @_state.setter
    def _state(self, value):      # new state arrays: forget the cached views of the old
        self.__state = value
        self._view_cache = {}

    def _views(self, shape, offset=0):
        size = int(np.prod(shape))
        return [s[offset:offset + size].reshape(shape) for s in (self._state or [])]

    def _update(self, K, params, grads, state, nthreads):
        """Update one segment in place; ``state`` are its views of the state vectors."""
        raise NotImplementedError

    # -- config ----------------------------------------------------------------
    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % kv for kv in self.get_config().items()))


class SGD(Optimizer):
    """v = momentum*v - lr*g; p += nesterov ? momentum*v - lr*g : v."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, decay=0.0,
                 lr=None):
        super().__init__(learning_rate, lr, decay)
        self.momentum = _number("momentum", momentum)
        self.nesterov = bool(nesterov)

    def _n_state(self):
        return 1 if self.momentum != 0.0 else 0

    def _update(self, K, params, grads, state, nthreads):
        velocity = state[0] if state else None
        K.sgd_update_f32(params, grads, velocity, self._current_lr(), self.momentum,
                         self.nesterov, nthreads=nthreads)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "momentum": self.momentum,
                "decay": self.decay, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """a = rho*a + (1-rho)*g^2; p -= lr*g/(sqrt(a)+eps), accumulators from 0."""
    _state_names = ("accumulators",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, decay=0.0, lr=None):
        super().__init__(learning_rate, lr, decay)
        self.rho = _number("rho", rho, maximum=1.0)
        self.epsilon = _number("epsilon", 1e-7 if epsilon is None else epsilon)

    def _update(self, K, params, grads, state, nthreads):
        accum, = state
        K.rmsprop_update_f32(params, grads, accum, self._current_lr(), self.rho,
                             self.epsilon, nthreads=nthreads)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "rho": self.rho,
                "decay": self.decay, "epsilon": self.epsilon}


class Adam(Optimizer):
    """Keras 2.3.1 Adam: lr_t = lr*sqrt(1-b2^t)/(1-b1^t), t = iterations + 1.

    amsgrad=True keeps the running maximum of v (NumPy path, no kernel)."""
    _state_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 decay=0.0, amsgrad=False, lr=None):
        super().__init__(learning_rate, lr, decay)
        self.beta_1 = _number("beta_1", beta_1, maximum=1.0)
        self.beta_2 = _number("beta_2", beta_2, maximum=1.0)
        self.epsilon = _number("epsilon", 1e-7 if epsilon is None else epsilon)
        self.amsgrad = bool(amsgrad)

    def _n_state(self):
        return 3 if self.amsgrad else 2

    def _update(self, K, params, grads, state, nthreads):
        t = self.iterations + 1
        lr_t = self._current_lr() * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        views = state
        if not self.amsgrad:
            K.adam_update_f32(params, grads, views[0], views[1], lr_t, self.beta_1,
                              self.beta_2, self.epsilon, nthreads=nthreads)
            return
        m, v, vhat = views
        b1, b2 = _F32(self.beta_1), _F32(self.beta_2)
        m *= b1
        m += (_F32(1) - b1) * grads
        v *= b2
        v += (_F32(1) - b2) * np.square(grads)
        np.maximum(vhat, v, out=vhat)
        params -= _F32(lr_t) * m / (np.sqrt(vhat) + _F32(self.epsilon))

    def get_config(self):
        return {"learning_rate": self.learning_rate, "beta_1": self.beta_1,
                "beta_2": self.beta_2, "decay": self.decay, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


_REGISTRY = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("an optimizer config is a dict with 'class_name' and 'config'")
    cls = _REGISTRY.get(str(config["class_name"]).lower())
    if cls is None:
        raise ValueError("unknown optimizer %r" % (config["class_name"],))
    return cls.from_config(dict(config.get("config", {})))


def get(identifier):
    """An Optimizer from a name ('rmsprop', 'sgd', 'adam'), a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _REGISTRY.get(identifier.lower())
        if cls is not None:
            return cls()
    raise ValueError("unknown optimizer %r: use one of 'rmsprop', 'sgd', 'adam' or an "
                     "instance such as fastdense.optimizers.RMSprop(learning_rate=0.001)"
                     % (identifier,))
