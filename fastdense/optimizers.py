"""Optimizers (Keras 2.3.1 semantics): one kernel call per parameter segment.

Each layer keeps its weights in one contiguous float32 buffer (kernel, then
bias); the training engine keeps every trainable gradient in one flat vector.
An optimizer keeps its state (accumulators, moments) flat, one vector per
state name over all trainable parameters, created by ``build(P)`` (zeros, as
in Keras; Adagrad's ``initial_accumulator_value`` if set), and counts its
steps in ``iterations``.

A step is ``apply_segments(segments)``: ``segments`` is a list of
``(param2d, grad2d, offset)`` -- (1, size) float32 views of a layer's
parameter buffer and of its gradient, and where that layer's slice starts in
the state vectors -- and the optimizer runs its kernel once per segment
(``_update(K, param2d, grad2d, state_views, nthreads)``).  ``apply(params,
grads)`` is the one-segment form.

Every optimizer takes, as Keras 2.3.1's do:

* ``learning_rate`` (also ``lr``): a float, or a schedule from
  ``fastdense.optimizers.schedules`` evaluated at ``iterations`` each step.
  ``optimizer.learning_rate`` / ``optimizer.lr`` read the current rate and,
  for a float rate, are plain settable attributes (callbacks set them); an
  optimizer driven by a schedule raises TypeError on such an assignment, as
  Keras does.
* ``decay``: ``lr / (1 + decay * iterations)`` (not Nadam, as in Keras).
* ``clipnorm``: Keras 2.3.1 scales *all* gradients by ``clipnorm / ||g||``
  when the global norm ``||g||`` over every gradient reaches ``clipnorm``
  (its ``get_gradients``); ``global_clipnorm`` is the Keras 3 spelling of
  that same global clipping (Keras 3's own ``clipnorm`` is per tensor).
  ``clipvalue``: then each gradient element is clipped to
  ``[-clipvalue, clipvalue]``.  The norm is one kernel pass over the
  gradients (a double sum in a fixed order); the scale and the bound are
  applied inside the update kernels, and the gradient is not modified.
"""
import math
import sys

import numpy as np

from . import _config, _memory, ops
from . import schedules
from .reference import _transformed_grad

sys.modules.setdefault(__name__ + ".schedules", schedules)

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "Adagrad", "Adadelta", "Adamax",
           "Nadam", "AdamW", "schedules", "get", "serialize", "deserialize"]

_F32 = np.float32
_INF = float("inf")


def _number(name, value, minimum=0.0, strict=False, maximum=None):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError("%s must be a number, got %r" % (name, value))
    value = float(value)
    if not math.isfinite(value) or value < minimum or (strict and value == minimum) \
            or (maximum is not None and value > maximum):
        raise ValueError("%s=%r is out of range" % (name, value))
    return value


def _optional(name, value):
    """None, or a number >= 0 (0 switches the clipping off, as in Keras 2.3.1)."""
    return None if value is None else _number(name, value)


class Optimizer:
    """Base class: holds hyper-parameters, flat state and the step counter."""
    _state_names = ()

    def __init__(self, learning_rate, lr=None, decay=0.0, clipnorm=None,
                 clipvalue=None, global_clipnorm=None):
        if lr is not None:
            learning_rate = lr
        self._learning_rate = None
        self.learning_rate = learning_rate
        self.decay = _number("decay", decay)
        self.clipnorm = _optional("clipnorm", clipnorm)
        self.global_clipnorm = _optional("global_clipnorm", global_clipnorm)
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError("clipnorm and global_clipnorm are the same global-norm "
                             "clipping here (Keras 2.3.1's clipnorm): set only one")
        self.clipvalue = _optional("clipvalue", clipvalue)
        self.iterations = 0
        self._state = None          # list of flat float32 arrays, or None
        self._size = None           # number of parameters the state is for
        self._gscale, self._gclip = 1.0, _INF   # this step's gradient transform

    # -- learning rate -----------------------------------------------------------
    @property
    def learning_rate(self):
        """The learning rate: the float given, or the schedule's value now."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            return self._scheduled_lr()
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, schedules.LearningRateSchedule):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError(
                "this optimizer was created with a learning rate schedule (%r), so "
                "its learning rate is not settable (a callback such as "
                "ReduceLROnPlateau or LearningRateScheduler sets it): create the "
                "optimizer with a float learning_rate to set it, or drop the "
                "callback" % (self._learning_rate,))
        if callable(value) and not isinstance(value, (int, float, np.number)):
            raise ValueError("learning_rate must be a number or a schedule from "
                             "fastdense.optimizers.schedules (subclass "
                             "LearningRateSchedule for your own), got %r" % (value,))
        self._learning_rate = _number("learning_rate", value)

    # Keras 2.3.1 exposed both names
    @property
    def lr(self):
        return self.learning_rate

    @lr.setter
    def lr(self, value):
        self.learning_rate = value

    @property
    def learning_rate_schedule(self):
        """The schedule behind the learning rate, or None for a float rate."""
        lr = self._learning_rate
        return lr if isinstance(lr, schedules.LearningRateSchedule) else None

    def _scheduled_lr(self):
        value = self._learning_rate(self.iterations)
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = float("nan")
        if not (math.isfinite(value) and value >= 0):
            raise ValueError("learning rate schedule %r gave %r at step %d: a "
                             "learning rate must be a finite number >= 0"
                             % (self._learning_rate, value, self.iterations))
        return value

    def _current_lr(self):
        lr = self.learning_rate
        if self.decay > 0:
            return lr / (1.0 + self.decay * self.iterations)
        return lr

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
        self._gscale, self._gclip = self._gradient_transform(segments, K, nthreads)
        cache = self._view_cache
        try:
            for param, grad, offset in segments:
                key = (offset, param.shape)
                views = cache.get(key)
                if views is None:
                    views = cache[key] = self._views(param.shape, offset)
                self._update(K, param, grad, views, nthreads)
        finally:
            self._gscale, self._gclip = 1.0, _INF
        self.iterations += 1
        self._end_step()

    def _gradient_transform(self, segments, K, nthreads):
        """(gscale, clip) of this step: Keras 2.3.1's get_gradients."""
        gscale, clip = 1.0, _INF
        limit = self.clipnorm if self.clipnorm is not None else self.global_clipnorm
        if limit:
            total = 0.0
            for _, grad, _ in segments:
                total += K.sumsq_f32(grad, nthreads=nthreads)
            norm = math.sqrt(total)
            if norm >= limit:          # NaN norm: no scaling, as K.switch(n >= c)
                gscale = limit / norm
        if self.clipvalue:
            clip = self.clipvalue
        return gscale, clip

    @property
    def _clipping(self):
        return self._gscale != 1.0 or self._gclip != _INF

    def _grad(self, grads):
        """The transformed gradient for NumPy code paths (a new array)."""
        return _transformed_grad(grads, self._gscale, self._gclip)

    def _end_step(self):
        """Called after ``iterations`` moved on (per-step bookkeeping)."""

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
    def _base_config(self):
        """learning_rate (a float or a serialized schedule) and the clip options
        that are set (Keras 2.3.1 lists clipnorm/clipvalue only when given)."""
        lr = self._learning_rate
        config = {"learning_rate": schedules.serialize(lr)
                  if isinstance(lr, schedules.LearningRateSchedule) else lr}
        for key in ("clipnorm", "global_clipnorm", "clipvalue"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("learning_rate", "lr"):
            if isinstance(config.get(key), dict):
                config[key] = schedules.deserialize(config[key], custom_objects)
        return cls(**config)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % kv for kv in self.get_config().items()))


def _config_with(opt, **kwargs):
    """Keras order: learning_rate first, then the optimizer's own keys, then
    the clip options."""
    base = opt._base_config()
    config = {"learning_rate": base.pop("learning_rate")}
    config.update(kwargs)
    config.update(base)
    return config


class SGD(Optimizer):
    """v = momentum*v - lr*g; p += nesterov ? momentum*v - lr*g : v."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, decay=0.0,
                 lr=None, clipnorm=None, clipvalue=None, global_clipnorm=None):
        super().__init__(learning_rate, lr, decay, clipnorm, clipvalue, global_clipnorm)
        self.momentum = _number("momentum", momentum)
        self.nesterov = bool(nesterov)

    def _n_state(self):
        return 1 if self.momentum != 0.0 else 0

    def _update(self, K, params, grads, state, nthreads):
        velocity = state[0] if state else None
        if self._clipping:
            K.sgd_update_clip_f32(params, grads, velocity, self._current_lr(),
                                  self.momentum, self.nesterov, self._gscale,
                                  self._gclip, nthreads=nthreads)
            return
        K.sgd_update_f32(params, grads, velocity, self._current_lr(), self.momentum,
                         self.nesterov, nthreads=nthreads)

    def get_config(self):
        return _config_with(self, momentum=self.momentum, decay=self.decay,
                            nesterov=self.nesterov)


class RMSprop(Optimizer):
    """a = rho*a + (1-rho)*g^2; p -= lr*g/(sqrt(a)+eps), accumulators from 0."""
    _state_names = ("accumulators",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, decay=0.0, lr=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None):
        super().__init__(learning_rate, lr, decay, clipnorm, clipvalue, global_clipnorm)
        self.rho = _number("rho", rho, maximum=1.0)
        self.epsilon = _number("epsilon", 1e-7 if epsilon is None else epsilon)

    def _update(self, K, params, grads, state, nthreads):
        accum, = state
        if self._clipping:
            K.rmsprop_update_clip_f32(params, grads, accum, self._current_lr(), self.rho,
                                      self.epsilon, self._gscale, self._gclip,
                                      nthreads=nthreads)
            return
        K.rmsprop_update_f32(params, grads, accum, self._current_lr(), self.rho,
                             self.epsilon, nthreads=nthreads)

    def get_config(self):
        return _config_with(self, rho=self.rho, decay=self.decay, epsilon=self.epsilon)


class Adam(Optimizer):
    """Keras 2.3.1 Adam: lr_t = lr*sqrt(1-b2^t)/(1-b1^t), t = iterations + 1.

    amsgrad=True keeps the running maximum of v (NumPy path, no kernel)."""
    _state_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 decay=0.0, amsgrad=False, lr=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        super().__init__(learning_rate, lr, decay, clipnorm, clipvalue, global_clipnorm)
        self.beta_1 = _number("beta_1", beta_1, maximum=1.0)
        self.beta_2 = _number("beta_2", beta_2, maximum=1.0)
        self.epsilon = _number("epsilon", 1e-7 if epsilon is None else epsilon)
        self.amsgrad = bool(amsgrad)

    def _n_state(self):
        return 3 if self.amsgrad else 2

    def _lr_t(self):
        t = self.iterations + 1
        return self._current_lr() * math.sqrt(1.0 - self.beta_2 ** t) / \
            (1.0 - self.beta_1 ** t)

    def _update(self, K, params, grads, state, nthreads):
        lr_t = self._lr_t()
        if not self.amsgrad:
            m, v = state
            if self._clipping:
                K.adam_update_clip_f32(params, grads, m, v, lr_t, self.beta_1,
                                       self.beta_2, self.epsilon, self._gscale,
                                       self._gclip, nthreads=nthreads)
            else:
                K.adam_update_f32(params, grads, m, v, lr_t, self.beta_1, self.beta_2,
                                  self.epsilon, nthreads=nthreads)
            return
        _amsgrad_step(params, self._grad(grads), state, lr_t, self.beta_1,
                      self.beta_2, self.epsilon)

    def get_config(self):
        return _config_with(self, beta_1=self.beta_1, beta_2=self.beta_2,
                            decay=self.decay, epsilon=self.epsilon,
                            amsgrad=self.amsgrad)


def _amsgrad_step(params, grads, state, lr_t, beta_1, beta_2, epsilon):
    """Keras 2.3.1 AMSGrad in NumPy: vhat = max(vhat, v); p -= lr_t*m/(sqrt(vhat)+eps)."""
    m, v, vhat = state
    b1, b2 = _F32(beta_1), _F32(beta_2)
    m *= b1
    m += (_F32(1) - b1) * grads
    v *= b2
    v += (_F32(1) - b2) * np.square(grads)
    np.maximum(vhat, v, out=vhat)
    params -= _F32(lr_t) * m / (np.sqrt(vhat) + _F32(epsilon))


class Adagrad(Optimizer):
    """Keras 2.3.1 Adagrad: a += g^2; p -= lr*g/(sqrt(a)+eps).

    The accumulators start at ``initial_accumulator_value``: 0.0 as in Keras
    2.3.1 (tf.keras and Keras 3 use 0.1; pass it to train as they do)."""
    _state_names = ("accumulators",)

    def __init__(self, learning_rate=0.01, initial_accumulator_value=0.0, epsilon=1e-7,
                 decay=0.0, lr=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        super().__init__(learning_rate, lr, decay, clipnorm, clipvalue, global_clipnorm)
        self.initial_accumulator_value = _number("initial_accumulator_value",
                                                 initial_accumulator_value)
        self.epsilon = _number("epsilon", 1e-7 if epsilon is None else epsilon)

    def build(self, n_params):
        fresh = self._state is None or self._size != n_params
        super().build(n_params)
        if fresh and self.initial_accumulator_value:
            self._state[0].fill(self.initial_accumulator_value)

    def _update(self, K, params, grads, state, nthreads):
        accum, = state
        K.adagrad_update_f32(params, grads, accum, self._current_lr(), self.epsilon,
                             self._gscale, self._gclip, nthreads=nthreads)

    def get_config(self):
        return _config_with(self, decay=self.decay, epsilon=self.epsilon,
                            initial_accumulator_value=self.initial_accumulator_value)


class Adadelta(Optimizer):
    """Keras 2.3.1 Adadelta: a = rho*a + (1-rho)*g^2;
    u = g*sqrt(d+eps)/sqrt(a+eps); p -= lr*u; d = rho*d + (1-rho)*u^2."""
    _state_names = ("accumulators", "delta_accumulators")

    def __init__(self, learning_rate=1.0, rho=0.95, epsilon=1e-7, decay=0.0, lr=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None):
        super().__init__(learning_rate, lr, decay, clipnorm, clipvalue, global_clipnorm)
        self.rho = _number("rho", rho, maximum=1.0)
        self.epsilon = _number("epsilon", 1e-7 if epsilon is None else epsilon)

    def _update(self, K, params, grads, state, nthreads):
        accum, delta = state
        K.adadelta_update_f32(params, grads, accum, delta, self._current_lr(), self.rho,
                              self.epsilon, self._gscale, self._gclip,
                              nthreads=nthreads)

    def get_config(self):
        return _config_with(self, rho=self.rho, decay=self.decay, epsilon=self.epsilon)


class Adamax(Optimizer):
    """Keras 2.3.1 Adamax: lr_t = lr/(1-b1^t); m = b1*m + (1-b1)*g;
    u = max(b2*u, |g|); p -= lr_t*m/(u+eps)."""
    _state_names = ("m", "u")

    def __init__(self, learning_rate=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 decay=0.0, lr=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        super().__init__(learning_rate, lr, decay, clipnorm, clipvalue, global_clipnorm)
        self.beta_1 = _number("beta_1", beta_1, maximum=1.0)
        self.beta_2 = _number("beta_2", beta_2, maximum=1.0)
        self.epsilon = _number("epsilon", 1e-7 if epsilon is None else epsilon)

    def _update(self, K, params, grads, state, nthreads):
        m, u = state
        lr_t = self._current_lr() / (1.0 - self.beta_1 ** (self.iterations + 1))
        K.adamax_update_f32(params, grads, m, u, lr_t, self.beta_1, self.beta_2,
                            self.epsilon, self._gscale, self._gclip, nthreads=nthreads)

    def get_config(self):
        return _config_with(self, beta_1=self.beta_1, beta_2=self.beta_2,
                            decay=self.decay, epsilon=self.epsilon)


class Nadam(Optimizer):
    """Keras 2.3.1 Nadam (Adam with Nesterov momentum and Dozat's warming
    momentum schedule), t = iterations + 1:

        mc_t = b1*(1 - 0.5*0.96**(t*schedule_decay));   mc_t1 the same at t+1
        m_schedule_new = m_schedule*mc_t;  m_schedule_next = m_schedule_new*mc_t1
        m = b1*m + (1-b1)*g;   v = b2*v + (1-b2)*g^2
        p -= lr*((1-mc_t)*g/(1-m_schedule_new) + mc_t1*m/(1-m_schedule_next))
              / (sqrt(v/(1-b2^t)) + eps)

    ``m_schedule`` (the product of the mc of past steps, 1.0 at the start) is
    a function of ``iterations`` alone, so it is not part of the saved state:
    it is carried from step to step and recomputed (in the same order, to
    the same bits) after ``set_state``.  No ``decay`` (Keras 2.3.1 has none
    for Nadam); ``schedule_decay`` as in Keras."""
    _state_names = ("m", "v")

    def __init__(self, learning_rate=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 schedule_decay=0.004, lr=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        super().__init__(learning_rate, lr, 0.0, clipnorm, clipvalue, global_clipnorm)
        self.beta_1 = _number("beta_1", beta_1, maximum=1.0)
        self.beta_2 = _number("beta_2", beta_2, maximum=1.0)
        self.epsilon = _number("epsilon", 1e-7 if epsilon is None else epsilon)
        self.schedule_decay = _number("schedule_decay", schedule_decay)
        self._m_schedule = (0, 1.0)      # (iterations it is for, product)
        self._step_coefficients = None   # (iterations, (kg, km, vs, m_schedule_new))

    @property
    def m_schedule(self):
        """The momentum schedule product of the steps taken so far."""
        at, value = self._m_schedule
        if at != self.iterations:
            value = 1.0
            for s in range(1, self.iterations + 1):
                value *= self.beta_1 * (1.0 - 0.5 * 0.96 ** (s * self.schedule_decay))
            self._m_schedule = (self.iterations, value)
        return value

    def _coefficients(self):
        cached = self._step_coefficients
        if cached is None or cached[0] != self.iterations:
            cached = (self.iterations, ops.nadam_coefficients(
                self.iterations + 1, self.beta_1, self.beta_2, self.schedule_decay,
                self.m_schedule))
            self._step_coefficients = cached
        return cached[1]

    def _update(self, K, params, grads, state, nthreads):
        m, v = state
        kg, km, vs, _ = self._coefficients()
        K.nadam_update_f32(params, grads, m, v, self._current_lr(), self.beta_1,
                           self.beta_2, kg, km, vs, self.epsilon, self._gscale,
                           self._gclip, nthreads=nthreads)

    def _end_step(self):
        # the product after the step just taken (iterations - 1) carries on
        done = self.iterations - 1
        cached = self._step_coefficients
        if cached is None or cached[0] != done:      # a step without segments
            self.iterations = done
            try:
                cached = (done, self._coefficients())
            finally:
                self.iterations = done + 1
        self._m_schedule = (self.iterations, cached[1][3])

    def build(self, n_params):
        super().build(n_params)
        if self.iterations == 0:
            self._m_schedule = (0, 1.0)

    def get_config(self):
        return _config_with(self, beta_1=self.beta_1, beta_2=self.beta_2,
                            epsilon=self.epsilon, schedule_decay=self.schedule_decay)


class AdamW(Optimizer):
    """AdamW, decoupled weight decay as Keras 3 (and PyTorch) define it: each
    step first ``p -= lr * weight_decay * p`` (lr the current rate, schedules
    and ``decay`` included), then the Keras 2.3.1 Adam step of ``Adam``.
    Keras 3's defaults (weight_decay=0.004); every parameter is decayed,
    biases included, as in Keras 3 without ``exclude_from_weight_decay``.

    amsgrad=True keeps the running maximum of v (NumPy path, no kernel)."""
    _state_names = ("m", "v")

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-7, amsgrad=False, decay=0.0, lr=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None):
        super().__init__(learning_rate, lr, decay, clipnorm, clipvalue, global_clipnorm)
        self.weight_decay = _number("weight_decay", weight_decay)
        self.beta_1 = _number("beta_1", beta_1, maximum=1.0)
        self.beta_2 = _number("beta_2", beta_2, maximum=1.0)
        self.epsilon = _number("epsilon", 1e-7 if epsilon is None else epsilon)
        self.amsgrad = bool(amsgrad)

    def _n_state(self):
        return 3 if self.amsgrad else 2

    def _update(self, K, params, grads, state, nthreads):
        lr = self._current_lr()
        t = self.iterations + 1
        lr_t = lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        decay = lr * self.weight_decay
        if not self.amsgrad:
            m, v = state
            K.adamw_update_f32(params, grads, m, v, lr_t, self.beta_1, self.beta_2,
                               self.epsilon, decay, self._gscale, self._gclip,
                               nthreads=nthreads)
            return
        g = self._grad(grads)
        params -= params * _F32(decay)
        _amsgrad_step(params, g, state, lr_t, self.beta_1, self.beta_2, self.epsilon)

    def get_config(self):
        return _config_with(self, weight_decay=self.weight_decay, beta_1=self.beta_1,
                            beta_2=self.beta_2, epsilon=self.epsilon,
                            amsgrad=self.amsgrad, decay=self.decay)


_REGISTRY = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adagrad": Adagrad,
             "adadelta": Adadelta, "adamax": Adamax, "nadam": Nadam, "adamw": AdamW}


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config, custom_objects=None):
    """The optimizer a ``serialize`` dict describes (schedules included;
    ``custom_objects`` maps names of your own schedule classes to them)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("an optimizer config is a dict with 'class_name' and 'config'")
    cls = _REGISTRY.get(str(config["class_name"]).lower())
    if cls is None:
        raise ValueError("unknown optimizer %r: use one of %s"
                         % (config["class_name"], ", ".join(
                             c.__name__ for c in _REGISTRY.values())))
    try:
        return cls.from_config(dict(config.get("config", {})), custom_objects)
    except TypeError as exc:
        raise ValueError("bad %s config %r: %s" % (cls.__name__, config.get("config"),
                                                   exc)) from exc


def get(identifier):
    """An Optimizer from a name ('rmsprop', 'sgd', 'adam', 'adagrad', 'adadelta',
    'adamax', 'nadam', 'adamw'), a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _REGISTRY.get(identifier.lower())
        if cls is not None:
            return cls()
    raise ValueError("unknown optimizer %r: use one of %s or an instance such as "
                     "fastdense.optimizers.RMSprop(learning_rate=0.001)"
                     % (identifier, ", ".join(repr(k) for k in _REGISTRY)))


from ._unsupported import explain_keywords as _explain_keywords  # noqa: E402
_explain_keywords(globals())
