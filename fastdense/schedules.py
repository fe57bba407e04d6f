"""Learning-rate schedules, as ``keras.optimizers.schedules`` (Keras 3 / tf.keras).

A schedule is a callable ``schedule(step) -> learning rate`` that an optimizer
accepts as its ``learning_rate``; the optimizer calls it once per training
step with its ``iterations`` (the number of steps already taken: 0 for the
first step), exactly as Keras does.  The formulas are Keras's, evaluated in
double precision (Keras evaluates them in float32; the kernels receive the
rate rounded to float32 either way).

Every schedule has ``get_config()`` / ``from_config()``, and
``serialize`` / ``deserialize`` turn one into the ``{"class_name", "config"}``
dict that optimizer configs (and so model files) store.  Also reachable as
``fastdense.optimizers.schedules``.
"""
import math
import numbers

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay",
           "PolynomialDecay", "InverseTimeDecay", "CosineDecay", "serialize",
           "deserialize"]


def _real(name, value, positive=False, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError("%s must be a number, got %r" % (name, value))
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError("%s must be %sfinite, got %r"
                         % (name, "> 0 and " if positive else "", value))
    return value


def _int_or_real(value):
    """A step count for get_config: an int when it is whole (JSON-friendly)."""
    return int(value) if float(value).is_integer() else float(value)


def _step(step):
    if isinstance(step, bool) or not isinstance(step, numbers.Real) or step != step:
        raise ValueError("a schedule's step is the optimizer's iteration count "
                         "(a number >= 0), got %r" % (step,))
    return float(step)


class LearningRateSchedule:
    """Base class: override ``__call__(step)`` and ``get_config()``."""

    def __call__(self, step):
        raise NotImplementedError("learning rate schedule %r must override "
                                  "__call__(self, step)" % type(self).__name__)

    def get_config(self):
        raise NotImplementedError("learning rate schedule %r must override "
                                  "get_config() to be saved" % type(self).__name__)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        try:
            cfg = self.get_config()
        except NotImplementedError:
            return "<%s>" % type(self).__name__
        return "%s(%s)" % (type(self).__name__,
                           ", ".join("%s=%r" % kv for kv in cfg.items()))


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``
    (the exponent floored when ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate,
                 staircase=False, name="ExponentialDecay"):
        self.initial_learning_rate = _real("initial_learning_rate",
                                           initial_learning_rate)
        self.decay_steps = _real("decay_steps", decay_steps, positive=True)
        self.decay_rate = _real("decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": _int_or_real(self.decay_steps),
                "decay_rate": self.decay_rate, "staircase": self.staircase,
                "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the last
    boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError("PiecewiseConstantDecay needs one more value than "
                             "boundaries, got %d boundaries and %d values"
                             % (len(boundaries), len(values)))
        b = [_real("boundaries[%d]" % i, v) for i, v in enumerate(boundaries)]
        if any(b1 <= b0 for b0, b1 in zip(b, b[1:])):
            raise ValueError("PiecewiseConstantDecay boundaries must be strictly "
                             "increasing, got %r" % (boundaries,))
        self.boundaries = [_int_or_real(v) for v in b]
        self.values = [_real("values[%d]" % i, v) for i, v in enumerate(values)]
        self.name = name

    def __call__(self, step):
        s = _step(step)
        for bound, value in zip(self.boundaries, self.values):
            if s <= bound:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values),
                "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step/decay_steps) ** power + end``, the step
    held at ``decay_steps``; with ``cycle`` the horizon is instead the first
    multiple of ``decay_steps`` that is >= step (``decay_steps`` at step 0)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001,
                 power=1.0, cycle=False, name="PolynomialDecay"):
        self.initial_learning_rate = _real("initial_learning_rate",
                                           initial_learning_rate)
        self.decay_steps = _real("decay_steps", decay_steps, positive=True)
        self.end_learning_rate = _real("end_learning_rate", end_learning_rate)
        self.power = _real("power", power)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        s = _step(step)
        horizon = self.decay_steps
        if self.cycle:
            horizon = self.decay_steps * (1.0 if s == 0 else
                                          math.ceil(s / self.decay_steps))
        else:
            s = min(s, self.decay_steps)
        return ((self.initial_learning_rate - self.end_learning_rate) *
                (1.0 - s / horizon) ** self.power + self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": _int_or_real(self.decay_steps),
                "end_learning_rate": self.end_learning_rate, "power": self.power,
                "cycle": self.cycle, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``
    (``step / decay_steps`` floored when ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate,
                 staircase=False, name="InverseTimeDecay"):
        self.initial_learning_rate = _real("initial_learning_rate",
                                           initial_learning_rate)
        self.decay_steps = _real("decay_steps", decay_steps, positive=True)
        self.decay_rate = _real("decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1.0 + self.decay_rate * p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": _int_or_real(self.decay_steps),
                "decay_rate": self.decay_rate, "staircase": self.staircase,
                "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay with an optional linear warmup (Keras 3).

    Without ``warmup_target``: ``initial * ((1 - alpha) * c + alpha)`` with
    ``c = 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps))``.
    With it: a linear ramp from ``initial_learning_rate`` to
    ``warmup_target`` over ``warmup_steps`` steps, then the cosine decay from
    ``warmup_target`` over the next ``decay_steps`` steps.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0,
                 name="CosineDecay", warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = _real("initial_learning_rate",
                                           initial_learning_rate)
        self.decay_steps = _real("decay_steps", decay_steps, positive=True)
        self.alpha = _real("alpha", alpha)
        self.name = name
        self.warmup_target = _real("warmup_target", warmup_target, allow_none=True)
        self.warmup_steps = _real("warmup_steps", warmup_steps)
        if self.warmup_steps < 0:
            raise ValueError("warmup_steps must be >= 0, got %r" % (warmup_steps,))

    def _decay(self, s, start):
        cosine = 0.5 * (1.0 + math.cos(math.pi * s / self.decay_steps))
        return start * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        s = _step(step)
        if self.warmup_target is None:
            return self._decay(min(s, self.decay_steps), self.initial_learning_rate)
        s = min(s, self.decay_steps + self.warmup_steps)
        if s < self.warmup_steps:
            return ((self.warmup_target - self.initial_learning_rate) *
                    (s / self.warmup_steps) + self.initial_learning_rate)
        return self._decay(s - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": _int_or_real(self.decay_steps), "alpha": self.alpha,
                "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": _int_or_real(self.warmup_steps)}


_REGISTRY = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay,
                                           PolynomialDecay, InverseTimeDecay,
                                           CosineDecay)}


def serialize(schedule):
    """``{"class_name": ..., "config": schedule.get_config()}``."""
    if not isinstance(schedule, LearningRateSchedule):
        raise ValueError("serialize expects a LearningRateSchedule, got %r" % (schedule,))
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config, custom_objects=None):
    """The schedule a ``serialize`` dict describes; ``custom_objects`` maps the
    class names of your own LearningRateSchedule subclasses to the classes."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("a learning rate schedule config is a dict with "
                         "'class_name' and 'config', got %r" % (config,))
    name = config["class_name"]
    cls = dict(custom_objects or {}).get(name) or _REGISTRY.get(name)
    if cls is None:
        raise ValueError("unknown learning rate schedule %r: use one of %s, or pass "
                         "custom_objects={%r: YourSchedule}"
                         % (name, ", ".join(sorted(_REGISTRY)), name))
    return cls.from_config(dict(config.get("config", {})))


from ._unsupported import explain_keywords as _explain_keywords  # noqa: E402
_explain_keywords(globals())
