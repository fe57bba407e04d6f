"""Weight regularizers: Keras 2.3.1's ``l1``, ``l2``, ``l1_l2`` and ``L1L2``
(with Keras 3's ``L1`` and ``L2`` spellings too).

A regularizer adds ``l1 * sum(|w|) + l2 * sum(w**2)`` to the loss of the
weights it is attached to (``kernel_regularizer=`` / ``bias_regularizer=`` of a
layer), and so ``l1 * sign(w) + 2 * l2 * w`` to their gradient.  fastdense has
no autodiff: the training engine calls

* ``reg.penalty_and_grad(K, w, g, nthreads)``: adds the gradient to ``g`` in
  place and returns the penalty, in one pass over the weights (the kernel
  ``l1l2_penalty_grad_f32`` of the module ``K``: ``fastdense._ckernels`` or
  ``fastdense.reference``); ``w`` and ``g`` are 2-D float32 arrays of one
  shape (a bias is a (1, n) view);
* ``reg.penalty(K, w, nthreads)``: the penalty alone (evaluate).

``reg(w)`` gives the same penalty for any array (NumPy, float64 sums), as
calling a Keras regularizer does.

As in Keras, the factors are float32 values (Keras casts them to floatx):
``l1(0.01).l1 == float(np.float32(0.01))``, and ``get_config()`` returns those
floats.  Terms whose factor is 0 are left out (of the penalty and of the
gradient), as Keras's ``L1L2.__call__`` does.  A negative, non-finite or
non-numeric factor, or one too large for float32, is a ValueError.

Identifiers for ``get``: None, a Regularizer, a config dict
(``{'class_name': 'L1L2', 'config': {'l1': 0.0, 'l2': 0.01}}``, as
``serialize`` writes), or a name: 'l1', 'l2', 'l1_l2' (the Keras 2.3.1
functions with their 0.01 defaults) or a class name 'L1', 'L2', 'L1L2'.
"""
import math
import numbers

import numpy as np

__all__ = ["Regularizer", "L1L2", "L1", "L2", "l1", "l2", "l1_l2", "get",
           "serialize", "deserialize"]

_F32_MAX = float(np.finfo(np.float32).max)


def _factor(name, value, default):
    """A regularization factor as a Python float holding a float32 value."""
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError("Invalid value for argument %s: expected a non-negative "
                         "float, got %r" % (name, value))
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError("Invalid value for argument %s: expected a non-negative "
                         "finite float, got %r" % (name, value))
    # the gradient uses float32(l1) and float32(2*l2): both must be finite
    limit = _F32_MAX / 2 if name == "l2" else _F32_MAX
    if value > limit:
        raise ValueError("Invalid value for argument %s: %r is too large for "
                         "float32 weights (at most %.6g)" % (name, value, limit))
    return float(np.float32(value))


class Regularizer:
    """Base class: a regularizer that adds nothing.

    Subclasses that change ``__call__`` must also provide ``penalty`` and
    ``penalty_and_grad`` (fastdense computes gradients without autodiff).
    """

    def __call__(self, x):
        return 0.0

    def _no_gradient(self):
        if type(self).__call__ is not Regularizer.__call__:
            raise NotImplementedError(
                "%s defines __call__ but not penalty_and_grad(K, w, g, nthreads): "
                "fastdense has no autodiff, so a custom regularizer must add its "
                "gradient to g itself (or use L1L2)" % type(self).__name__)

    def penalty(self, K, w, nthreads=1):
        """The penalty of the 2-D float32 weights ``w`` (K: a kernel module)."""
        self._no_gradient()
        return 0.0

    def penalty_and_grad(self, K, w, g, nthreads=1):
        """Adds the penalty's gradient to ``g`` in place; returns the penalty."""
        self._no_gradient()
        return 0.0

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join("%s=%r" % kv for kv in self.get_config().items())
        return "%s(%s)" % (type(self).__name__, args)


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)`` (Keras ``L1L2(l1=0.0, l2=0.0)``)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = l1
        self.l2 = l2

    # validated on every assignment, so a bad factor never reaches a kernel
    @property
    def l1(self):
        return self._l1

    @l1.setter
    def l1(self, value):
        self._l1 = _factor("l1", value, 0.0)

    @property
    def l2(self):
        return self._l2

    @l2.setter
    def l2(self, value):
        self._l2 = _factor("l2", value, 0.0)

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(np.abs(x).sum())
        if self.l2:
            penalty += self.l2 * float(np.square(x).sum())
        return penalty

    def penalty(self, K, w, nthreads=1):
        return K.l1l2_penalty_grad_f32(w, None, self.l1, self.l2, nthreads=nthreads)

    def penalty_and_grad(self, K, w, g, nthreads=1):
        return K.l1l2_penalty_grad_f32(w, g, self.l1, self.l2, nthreads=nthreads)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|w|)`` (Keras 3 ``L1(l1=0.01)``)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=_factor("l1", l1, 0.01), l2=0.0)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w**2)`` (Keras 3 ``L2(l2=0.01)``)."""

    def __init__(self, l2=0.01):
        super().__init__(l1=0.0, l2=_factor("l2", l2, 0.01))

    def get_config(self):
        return {"l2": self.l2}


def l1(l=0.01):  # noqa: E741  (Keras 2.3.1's argument name)
    """L1 regularization (Keras 2.3.1): ``L1L2(l1=l)``."""
    return L1L2(l1=l)


def l2(l=0.01):  # noqa: E741
    """L2 regularization (Keras 2.3.1): ``L1L2(l2=l)``."""
    return L1L2(l2=l)


def l1_l2(l1=0.01, l2=0.01):  # noqa: F811  (the arguments shadow the functions)
    """L1 and L2 regularization (Keras 2.3.1): ``L1L2(l1=l1, l2=l2)``."""
    return L1L2(l1=l1, l2=l2)


_CLASSES = {"Regularizer": Regularizer, "L1L2": L1L2, "L1": L1, "L2": L2}
_FUNCTIONS = {"l1": l1, "l2": l2, "l1_l2": l1_l2}


def serialize(regularizer):
    """``{'class_name': ..., 'config': ...}`` (None for None), as Keras writes it."""
    if regularizer is None:
        return None
    if not isinstance(regularizer, Regularizer):
        raise ValueError("cannot serialize %r: not a fastdense Regularizer" % (regularizer,))
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def deserialize(config, custom_objects=None):
    """A Regularizer from ``serialize``'s dict (extra keys such as Keras 3's
    'module' are ignored); ``custom_objects`` maps more names to classes."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("a regularizer config is a dict with 'class_name' and "
                         "'config', got %r" % (config,))
    name = config["class_name"]
    kwargs = config.get("config") or {}
    if not isinstance(kwargs, dict):
        raise ValueError("the 'config' of a regularizer is a dict, got %r" % (kwargs,))
    found = (custom_objects or {}).get(name) or _CLASSES.get(name) or _FUNCTIONS.get(name)
    if found is None:
        raise ValueError("Unknown regularizer: %r (use one of %s)"
                         % (name, ", ".join(repr(k) for k in
                                            sorted(_FUNCTIONS) + sorted(_CLASSES))))
    try:
        if isinstance(found, type) and hasattr(found, "from_config"):
            reg = found.from_config(dict(kwargs))
        else:
            reg = found(**kwargs)
    except TypeError as exc:
        raise ValueError("bad config for regularizer %r: %s" % (name, exc)) from None
    if not isinstance(reg, Regularizer):
        raise ValueError("%r did not make a Regularizer (got %r)" % (name, reg))
    return reg


def get(identifier):
    """A Regularizer (or None) from None, a name, a config dict or an instance."""
    if identifier is None:
        return None
    if isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    if callable(identifier):
        raise ValueError(
            "Could not use %r as a regularizer: fastdense needs a "
            "fastdense.regularizers.Regularizer, which also gives the gradient "
            "(there is no autodiff); use l1/l2/l1_l2 or subclass Regularizer"
            % (identifier,))
    raise ValueError("Could not interpret regularizer identifier: %r" % (identifier,))


from ._unsupported import explain_keywords as _explain_keywords  # noqa: E402
_explain_keywords(globals())
