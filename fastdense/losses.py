"""Loss functions: value and gradient of the loss over a batch.

A Loss object knows four things (the engine's protocol):

* ``prepare_targets(y, units, where)``: check the labels once per fit and
  return them as the array the training loop gathers from (float32 (N, units)
  or int64 (N,) class indices) -- bad labels are a ValueError before any
  weight is touched;
* ``forward_backward(y_pred, target, grad=None, scale=1.0, weights=None)``:
  the summed loss over the batch rows, ``sum_i w_i L_i`` (a float), and, when
  ``grad`` is given, ``scale * w_i * dL_i / d y_pred`` (``scale = 1/batch``
  makes it the gradient of the mean); ``weights`` is an optional float32 (m,)
  vector of per-sample weights (sample_weight / class_weight), None = ones;
* ``fuses_with(activation_name)``: whether the model may compute it from the
  last layer's pre-activation instead (softmax + cross-entropy, sigmoid +
  binary cross-entropy; 'linear' when the loss was built with
  ``from_logits=True``), which is both faster and exact;
* ``from_logits(K, logits, target, grad=None, probs=None, scale=1.0,
  nthreads=1, weights=None)``: that fused computation, one kernel call
  (``softmax_xent_f32``, ``sigmoid_bce_f32``) giving ``(loss_sum, n_correct)``;
  n_correct is unweighted: rows whose argmax is right for the softmax, and
  *entries* with round(sigmoid) == y for the sigmoid (divide by the number
  of columns for Keras's binary accuracy; the same as rows for one output).

Keras 2.3.1 semantics (and the Keras 3 names): the per-sample loss is the mean
over the last axis of the element losses (the sum for KL divergence); the
probability paths of the cross-entropies normalise (categorical) and clip to
[1e-7, 1 - 1e-7] before the log; ``label_smoothing`` ls replaces y by
``y (1 - ls) + ls / num_classes`` (categorical; also offered for the sparse
loss, which Keras lacks) or ``y (1 - ls) + 0.5 ls`` (binary).  The
regression losses and the fused paths are C kernels with NumPy twins
(``fastdense.reference``); the probability paths are NumPy (float64).

Calling a Loss object returns Keras's reduced value, ``sum_i w_i L_i / N``;
the module functions (``losses.huber(y_true, y_pred)``, ...) return the
per-sample losses, as keras.losses does.  A Python function
``loss(y_true, y_pred)`` works as a loss too (``LossFunction``): its value
comes from the function; its gradient from ``gradient=`` when given, else from
central differences (see LossFunction).  It cannot be saved by name.
"""
import numpy as np

from . import _config, reference

__all__ = ["Loss", "MeanSquaredError", "MeanAbsoluteError", "Huber", "LogCosh",
           "KLDivergence", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "BinaryCrossentropy", "LossFunction", "get", "serialize", "deserialize",
           "mean_squared_error", "mse", "MSE", "mean_absolute_error", "mae", "MAE",
           "huber", "huber_loss", "log_cosh", "logcosh", "kl_divergence", "kld", "KLD",
           "kullback_leibler_divergence", "categorical_crossentropy",
           "sparse_categorical_crossentropy", "binary_crossentropy"]

EPSILON = 1e-7
_F32 = np.float32


def _kernels(K, nthreads):
    return (_config.kernels() if K is None else K,
            _config.get_num_threads() if nthreads is None else nthreads)


def _row_weights(weights, m):
    """weights as the kernels take them: float32 (m,) (no copy when it is one)."""
    if weights is None:
        return None
    w = np.asarray(weights)
    if w.dtype != _F32:
        w = w.astype(_F32)
    if w.shape != (m,):
        raise ValueError("weights must be one number per sample, shape (%d,), got %s"
                         % (m, w.shape))
    return w


def _smoothing(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
            or not 0.0 <= float(value) <= 1.0:
        raise ValueError("label_smoothing must be a number in [0, 1], got %r" % (value,))
    return float(value)


def _flag(value, what):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError("%s must be True or False, got %r" % (what, value))
    return bool(value)


class Loss:
    name = None
    sparse = False

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        if reduction not in ("sum_over_batch_size", "auto", None):
            raise ValueError("reduction %r is not supported: fastdense averages the "
                             "per-sample losses over the batch ('sum_over_batch_size')"
                             % (reduction,))
        if name is not None:
            self.display_name = str(name)

    def get_config(self):
        """The constructor arguments that define the loss."""
        return {}

    def prepare_targets(self, y, units, where="y"):
        """Dense float32 targets of shape (N, units); (N,) accepted when units == 1."""
        try:
            arr = np.asarray(y, dtype=_F32)
        except (TypeError, ValueError) as exc:
            raise ValueError("%s must be a numeric array: %s" % (where, exc))
        if arr.ndim == 1 and units == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape[1] != units:
            hint = ""
            if arr.ndim == 1 and self.name == "categorical_crossentropy":
                hint = (": these look like integer class labels; one-hot encode them "
                        "with fastdense.utils.to_categorical(y, %d) or use "
                        "loss='sparse_categorical_crossentropy'" % units)
            else:
                hint = ": the last layer has %d units" % units
            raise ValueError("%s has shape %s but the model's output is (N, %d) "
                             "with loss %r%s" % (where, tuple(np.shape(y)), units,
                                                 self.name, hint))
        return np.ascontiguousarray(arr)

    def fuses_with(self, activation_name):
        return False

    def from_logits(self, K, logits, target, grad=None, probs=None, scale=1.0,
                    nthreads=1, weights=None):
        raise NotImplementedError("loss %r has no fused path" % self.name)

    def forward_backward(self, y_pred, target, grad=None, scale=1.0, weights=None,
                         K=None, nthreads=None):
        raise NotImplementedError

    def _inputs(self, y_true, y_pred):
        y_pred = np.asarray(y_pred, dtype=_F32)
        if y_pred.ndim == 1:
            y_pred = y_pred.reshape(-1, 1)
        if y_pred.ndim != 2:
            raise ValueError("y_pred must be (N, units), got shape %s" % (y_pred.shape,))
        target = self.prepare_targets(y_true, y_pred.shape[1], "y_true")
        if len(target) != len(y_pred):
            raise ValueError("y_true has %d samples, y_pred %d" % (len(target), len(y_pred)))
        return np.ascontiguousarray(y_pred), target

    def per_sample(self, y_true, y_pred):
        """The per-sample losses L_i (float64 (N,)), computed with NumPy."""
        y_pred, target = self._inputs(y_true, y_pred)
        return self._rows(y_pred, target)

    def _rows(self, y_pred, target):
        # generic: one row at a time through forward_backward on NumPy
        return np.array([self.forward_backward(y_pred[i:i + 1], target[i:i + 1],
                                               K=reference, nthreads=1)
                         for i in range(len(y_pred))], np.float64)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Keras's reduced loss: sum_i w_i L_i / N (a float)."""
        rows = self.per_sample(y_true, y_pred)
        if not len(rows):
            return 0.0
        if sample_weight is not None:
            rows = rows * _row_weights(sample_weight, len(rows))
        return float(rows.sum() / len(rows))

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        if get(self.name) == self:
            return "losses.get(%r)" % self.name
        return "losses.%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % kv for kv in sorted(self.get_config().items())))


# ---- regression losses: C kernels with NumPy twins -----------------------------

class _Regression(Loss):
    kind = None     # reference.loss_rows kind; the kernel is <kind>_loss_f32

    def _params(self):
        return {}

    def forward_backward(self, y_pred, target, grad=None, scale=1.0, weights=None,
                         K=None, nthreads=None):
        K, nthreads = _kernels(K, nthreads)
        w = _row_weights(weights, len(y_pred))
        return getattr(K, self.kind + "_loss_f32")(y_pred, target, grad=grad, scale=scale,
                                                   weights=w, nthreads=nthreads,
                                                   **self._params())

    def _rows(self, y_pred, target):
        return reference.loss_rows(self.kind, y_pred, target, **self._params())[0]


class MeanSquaredError(_Regression):
    """mean((y_pred - y_true)^2) per sample."""
    name = "mean_squared_error"
    kind = "mse"


class MeanAbsoluteError(_Regression):
    """mean(|y_pred - y_true|) per sample (gradient sign, 0 at equality)."""
    name = "mean_absolute_error"
    kind = "mae"


class Huber(_Regression):
    """mean(0.5 q^2 + delta (|e| - q)), q = min(|e|, delta), e = y_pred - y_true."""
    name = "huber"
    kind = "huber"

    def __init__(self, delta=1.0, name=None, reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        if isinstance(delta, (bool, np.bool_)) or not isinstance(delta, (int, float, np.number)) \
                or not (np.isfinite(delta) and delta > 0):
            raise ValueError("Huber delta must be a positive number, got %r" % (delta,))
        self.delta = float(delta)

    def _params(self):
        return {"delta": self.delta}

    def get_config(self):
        return {"delta": self.delta}


class LogCosh(_Regression):
    """mean(log(cosh(y_pred - y_true))) per sample (gradient tanh)."""
    name = "log_cosh"
    kind = "log_cosh"


class KLDivergence(_Regression):
    """sum(t log(t / p)) per sample, t and p clipped to [1e-7, 1]."""
    name = "kl_divergence"
    kind = "kld"


# ---- cross-entropies ------------------------------------------------------------

def _normalised_clipped(y_pred):
    p = y_pred.astype(np.float64)
    s = p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = p / s
    qc = np.clip(q, EPSILON, 1 - EPSILON)
    return s, q, qc


def _finish(rows, grad_elems, grad, scale, weights, m):
    """sum_i w_i rows_i; grad = scale * w_i * grad_elems."""
    w = None if weights is None else _row_weights(weights, m).astype(np.float64)
    if grad is not None:
        gs = scale if w is None else scale * w[:, None]
        with np.errstate(invalid="ignore", over="ignore"):
            grad[...] = grad_elems * gs
    return float(rows.sum() if w is None else (w * rows).sum())


def _log_softmax(logits):
    x = logits.astype(np.float64)
    with np.errstate(invalid="ignore"):
        shifted = x - x.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class CategoricalCrossentropy(Loss):
    """-sum(t log p) per sample; from_logits: the logits' softmax (exact),
    else p normalised and clipped to [1e-7, 1 - 1e-7] (Keras 2.3).
    label_smoothing: t = y (1 - ls) + ls / num_classes."""
    name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, name=None,
                 reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        self.expects_logits = _flag(from_logits, "from_logits")
        self.label_smoothing = _smoothing(label_smoothing)

    def get_config(self):
        return {"from_logits": self.expects_logits, "label_smoothing": self.label_smoothing}

    def fuses_with(self, activation_name):
        return activation_name == ("linear" if self.expects_logits else "softmax")

    def from_logits(self, K, logits, target, grad=None, probs=None, scale=1.0,
                    nthreads=1, weights=None):
        return K.softmax_xent_f32(logits, target, probs=probs, grad=grad, scale=scale,
                                  nthreads=nthreads,
                                  weights=_row_weights(weights, len(logits)),
                                  label_smoothing=self.label_smoothing)

    def _onehot(self, target, n):
        return target

    def _targets(self, target, n):
        y = self._onehot(target, n).astype(np.float64)
        ls = self.label_smoothing
        return y * (1 - ls) + ls / n if ls else y

    def forward_backward(self, y_pred, target, grad=None, scale=1.0, weights=None,
                         K=None, nthreads=None):
        if self.expects_logits:
            K, nthreads = _kernels(K, nthreads)
            return self.from_logits(K, y_pred, target, grad=grad, scale=scale,
                                    nthreads=nthreads, weights=weights)[0]
        m, n = y_pred.shape
        t = self._targets(target, n)
        s, q, qc = _normalised_clipped(y_pred)
        rows = -(t * np.log(qc)).sum(axis=1)
        d = None
        if grad is not None:
            # d/dq of -sum t log(clip(q)); zero where the clip is active
            inside = (q > EPSILON) & (q < 1 - EPSILON)
            with np.errstate(divide="ignore", invalid="ignore"):
                dq = np.where(inside, -t / qc, 0.0)
                # q = p / sum(p): dL/dp_k = (dq_k - sum_j dq_j q_j) / s
                d = (dq - (dq * q).sum(axis=1, keepdims=True)) / s
        return _finish(rows, d, grad, scale, weights, m)

    def _rows(self, y_pred, target):
        n = y_pred.shape[1]
        t = self._targets(target, n)
        if self.expects_logits:
            with np.errstate(invalid="ignore"):
                return -np.where(t != 0, t * _log_softmax(y_pred), 0.0).sum(axis=1)
        return -(t * np.log(_normalised_clipped(y_pred)[2])).sum(axis=1)


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """The categorical cross-entropy with integer class labels (N,) or (N, 1).
    label_smoothing (not in Keras) smooths the one-hot targets the same way."""
    name = "sparse_categorical_crossentropy"
    sparse = True

    def prepare_targets(self, y, units, where="y"):
        arr = np.asarray(y)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise ValueError("%s has shape %s, but loss 'sparse_categorical_crossentropy' "
                             "expects integer class labels of shape (N,) or (N, 1)%s"
                             % (where, tuple(arr.shape),
                                "; for one-hot labels use loss='categorical_crossentropy'"
                                if arr.ndim == 2 and arr.shape[1] == units else ""))
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError("%s must hold integer class labels, got dtype %s"
                             % (where, arr.dtype))
        if np.issubdtype(arr.dtype, np.floating):
            if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr))):
                raise ValueError("%s must hold whole-number class labels" % where)
        labels = np.ascontiguousarray(arr, dtype=np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= units):
            bad = int(labels.min()) if labels.min() < 0 else int(labels.max())
            raise ValueError("%s holds the label %d, outside [0, %d): the last layer "
                             "has %d units" % (where, bad, units, units))
        return labels

    def _onehot(self, target, n):
        y = np.zeros((len(target), n), np.float64)
        y[np.arange(len(target)), target] = 1
        return y


class BinaryCrossentropy(Loss):
    """mean(-(t log p + (1 - t) log(1 - p))) per sample; from_logits: p =
    sigmoid(logits), exact; else p clipped to [1e-7, 1 - 1e-7] (Keras 2.3).
    label_smoothing: t = y (1 - ls) + 0.5 ls."""
    name = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, name=None,
                 reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        self.expects_logits = _flag(from_logits, "from_logits")
        self.label_smoothing = _smoothing(label_smoothing)

    def get_config(self):
        return {"from_logits": self.expects_logits, "label_smoothing": self.label_smoothing}

    def fuses_with(self, activation_name):
        return activation_name == ("linear" if self.expects_logits else "sigmoid")

    def from_logits(self, K, logits, target, grad=None, probs=None, scale=1.0,
                    nthreads=1, weights=None):
        return K.sigmoid_bce_f32(logits, target, probs=probs, grad=grad, scale=scale,
                                 nthreads=nthreads,
                                 weights=_row_weights(weights, len(logits)),
                                 label_smoothing=self.label_smoothing)

    def _targets(self, target):
        ls = self.label_smoothing
        y = target.astype(np.float64)
        return y * (1 - ls) + 0.5 * ls if ls else y

    def forward_backward(self, y_pred, target, grad=None, scale=1.0, weights=None,
                         K=None, nthreads=None):
        if self.expects_logits:
            K, nthreads = _kernels(K, nthreads)
            return self.from_logits(K, y_pred, target, grad=grad, scale=scale,
                                    nthreads=nthreads, weights=weights)[0]
        m, n = y_pred.shape
        p = y_pred.astype(np.float64)
        t = self._targets(target)
        pc = np.clip(p, EPSILON, 1 - EPSILON)
        rows = -(t * np.log(pc) + (1 - t) * np.log(1 - pc)).sum(axis=1) / max(n, 1)
        d = None
        if grad is not None:
            inside = (p > EPSILON) & (p < 1 - EPSILON)
            d = np.where(inside, -t / pc + (1 - t) / (1 - pc), 0.0) / max(n, 1)
        return _finish(rows, d, grad, scale, weights, m)

    def _rows(self, y_pred, target):
        if self.expects_logits:
            return reference.sigmoid_bce_rows(y_pred, target, self.label_smoothing)[0]
        p = np.clip(y_pred.astype(np.float64), EPSILON, 1 - EPSILON)
        t = self._targets(target)
        return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(axis=1)


# ---- a Python function as a loss ---------------------------------------------------

class LossFunction(Loss):
    """A Python function ``fn(y_true, y_pred)`` as a loss.

    ``fn`` gets float64 arrays, y_true as prepare_targets made it (float32
    (N, units) by default) and y_pred (N, units), and returns one loss per
    sample, shape (N,) or (N, 1), or one per element, (N, units), which is
    averaged over the row (Keras's reduction); any other shape is a
    ValueError.  The gradient comes from ``gradient(y_true, y_pred)`` (the
    (N, units) derivative of the per-sample losses) when given, else from
    central differences, column by column over the whole batch:
    ``(L(p + h e_j) - L(p - h e_j)) / 2h`` with ``h = eps**(1/3) max(1, |p|)``
    (eps = 2**-52; 2**-23 when fn returns float32).  That approximation
    assumes each sample's loss depends on its own row only and is smooth
    there (about 1e-10 relative error in float64); it costs 2 * units extra
    calls of fn per batch, without warnings.
    """

    def __init__(self, fn, gradient=None, name=None):
        if not callable(fn):
            raise ValueError("a loss must be a name, a Loss object or a callable, "
                             "got %r" % (fn,))
        if gradient is not None and not callable(gradient):
            raise ValueError("the loss gradient must be callable, got %r" % (gradient,))
        self.fn = fn
        self.gradient = gradient if gradient is not None else getattr(fn, "gradient", None)
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def _call(self, fn, target, y_pred, what):
        m, n = y_pred.shape
        try:
            with np.errstate(all="ignore"):
                res = np.asarray(fn(target, y_pred))
        except Exception as exc:
            raise ValueError("the %s %s failed on y_pred of shape %s: %s: %s"
                             % (what, self.name, y_pred.shape, type(exc).__name__, exc))
        if res.dtype == object or not np.issubdtype(res.dtype, np.number):
            raise ValueError("the %s %s must return numbers, got dtype %s"
                             % (what, self.name, res.dtype))
        return res

    def _values(self, target, y_pred):
        """Per-sample losses, float64 (m,), and whether fn computed in float32."""
        m, n = y_pred.shape
        res = self._call(self.fn, target, y_pred, "loss function")
        low = res.dtype != np.float64
        if res.shape in ((m,), (m, 1)):
            return res.reshape(m).astype(np.float64), low
        if res.shape == (m, n):
            return res.astype(np.float64).mean(axis=1), low
        raise ValueError("the loss function %s returned shape %s for a batch of %d "
                         "samples with %d outputs: it must return one loss per sample, "
                         "shape (%d,), or one per element, shape (%d, %d)"
                         % (self.name, res.shape, m, n, m, m, n))

    def numeric_gradient(self, target, y_pred):
        """d L_i / d y_pred (float64 (m, n)) by central differences."""
        p = np.array(y_pred, np.float64)
        m, n = p.shape
        low = self._values(target, p)[1]
        h = np.cbrt(2.0 ** -23 if low else 2.0 ** -52) * np.maximum(1.0, np.abs(p))
        d = np.empty_like(p)
        with np.errstate(all="ignore"):
            for j in range(n):
                old = p[:, j].copy()
                up, down = old + h[:, j], old - h[:, j]
                p[:, j] = up
                f_up = self._values(target, p)[0]
                p[:, j] = down
                f_down = self._values(target, p)[0]
                p[:, j] = old
                d[:, j] = (f_up - f_down) / (up - down)
        return d

    def forward_backward(self, y_pred, target, grad=None, scale=1.0, weights=None,
                         K=None, nthreads=None):
        m, n = y_pred.shape
        p = np.asarray(y_pred, np.float64)
        t = np.asarray(target, np.float64) if np.issubdtype(np.asarray(target).dtype,
                                                            np.floating) else target
        rows = self._values(t, p)[0]
        d = None
        if grad is not None:
            if self.gradient is not None:
                d = self._call(self.gradient, t, p, "gradient of the loss function")
                if d.shape != (m, n):
                    raise ValueError("the gradient of the loss function %s returned shape "
                                     "%s: it must be d(per-sample loss)/d y_pred, shape "
                                     "(%d, %d)" % (self.name, d.shape, m, n))
                d = d.astype(np.float64)
            else:
                d = self.numeric_gradient(t, p)
        return _finish(rows, d, grad, scale, weights, m)

    def _rows(self, y_pred, target):
        return self._values(np.asarray(target, np.float64), y_pred.astype(np.float64))[0]

    def __eq__(self, other):
        return isinstance(other, LossFunction) and self.fn is other.fn \
            and self.gradient is other.gradient

    def __hash__(self):
        return hash((id(self.fn), id(self.gradient)))

    def __repr__(self):
        return "losses.LossFunction(%s)" % self.name


# ---- module-level functions: per-sample losses, as keras.losses has --------------

def _per_sample(loss, y_true, y_pred):
    return loss.per_sample(y_true, y_pred).astype(_F32)


def mean_squared_error(y_true, y_pred):
    return _per_sample(MeanSquaredError(), y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    return _per_sample(MeanAbsoluteError(), y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    return _per_sample(Huber(delta), y_true, y_pred)


def log_cosh(y_true, y_pred):
    return _per_sample(LogCosh(), y_true, y_pred)


def kl_divergence(y_true, y_pred):
    return _per_sample(KLDivergence(), y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    return _per_sample(CategoricalCrossentropy(from_logits, label_smoothing),
                       y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    return _per_sample(SparseCategoricalCrossentropy(from_logits), y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    return _per_sample(BinaryCrossentropy(from_logits, label_smoothing), y_true, y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
huber_loss = huber
logcosh = log_cosh
kld = KLD = kullback_leibler_divergence = kl_divergence


# ---- lookup -------------------------------------------------------------------------

_REGISTRY = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "log_cosh": LogCosh, "logcosh": LogCosh,
    "kl_divergence": KLDivergence, "kld": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
}

_FUNCTIONS = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
    huber: Huber, log_cosh: LogCosh, kl_divergence: KLDivergence,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
}

_CLASSES = {cls.__name__: cls for cls in (
    MeanSquaredError, MeanAbsoluteError, Huber, LogCosh, KLDivergence,
    CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy)}


def _unknown(identifier):
    return ValueError("unknown loss %r: use one of %s, a losses object such as "
                      "losses.Huber(delta=2.0), or a Python function loss(y_true, y_pred)"
                      % (identifier, ", ".join(repr(k) for k in sorted(_REGISTRY))))


def deserialize(config):
    """A Loss from serialize()'s output (a name or a class/config dict)."""
    if isinstance(config, str):
        return get(config)
    if isinstance(config, dict) and config.get("class_name") in _CLASSES:
        try:
            return _CLASSES[config["class_name"]](**dict(config.get("config") or {}))
        except TypeError as exc:
            raise ValueError("bad loss config %r: %s" % (config, exc))
    raise _unknown(config)


def get(identifier):
    """A Loss from a name (Keras 2.3 and 3 spellings, any case), an instance or
    class, a config dict, one of the module functions, or a Python function
    loss(y_true, y_pred) (wrapped in LossFunction)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss) \
            and identifier in _CLASSES.values():
        return identifier()
    if isinstance(identifier, str):
        cls = _REGISTRY.get(identifier.lower())
        if cls is not None:
            return cls()
        raise _unknown(identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        try:
            cls = _FUNCTIONS.get(identifier)
        except TypeError:
            cls = None
        return cls() if cls is not None else LossFunction(identifier)
    raise _unknown(identifier)


def serialize(loss):
    """The name (default parameters) or {'class_name', 'config'}; a Python
    function cannot be saved (ValueError)."""
    loss = get(loss)
    if isinstance(loss, LossFunction):
        raise ValueError(
            "cannot serialize the loss function %s: fastdense saves losses by name, and "
            "a Python function has none it could be loaded back from. Compile with a "
            "built-in loss to save the model, or compile the loaded model again with "
            "the function (Keras needs custom_objects for the same reason)" % loss.name)
    if get(loss.name) == loss:
        return loss.name
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


from ._unsupported import explain_keywords as _explain_keywords  # noqa: E402
_explain_keywords(globals())
