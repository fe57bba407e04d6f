"""Metrics: state that the training loop updates batch by batch (Keras style).

A metric is stateful, as Keras's are: ``reset_state()`` at the start of an
epoch (or evaluate), ``update_state(y_pred, target, sample_weight=None)`` per
batch, ``result()`` for the logs.  Its whole state is a small float64 vector
of *sums* (``state_vector()`` / ``set_state_vector()``): weighted totals,
confusion counts, threshold histograms.  Data-parallel training adds the
vectors of all ranks with one reduction, and ``result()`` of the sum is the
global figure; equally, two half-batches give the state of the whole batch.

``target`` is what the loss's ``prepare_targets`` returned: float32
(N, units), or int64 (N,) class labels for the sparse loss (the metrics that
need one-hot labels make them); ``y_pred`` float32 (N, units) probabilities.

Means of a per-sample value (``MeanMetric``, Keras's ``MeanMetricWrapper``):
``sum(w_i v_i) / sum(w_i)`` (w = 1 without sample weights), the
batch-size-weighted running mean over an epoch.  ``'accuracy'``/``'acc'`` is
resolved from the loss and the output width as Keras 2.3.1 does: binary
accuracy for one output unit or binary cross-entropy, sparse categorical
accuracy for the sparse loss, categorical accuracy otherwise.  The fused
softmax + cross-entropy kernel counts correct rows itself, so on the hot
path accuracy costs nothing extra (``update_correct``).  Also
``top_k_categorical_accuracy`` (k=5), its sparse form, the cross-entropies,
``mse``/``mae``, and any Python function ``fn(y_true, y_pred)`` returning
per-sample values (named by its ``__name__``).

Confusion metrics, as ``tf.keras.metrics`` defines them (every (sample,
unit) pair is one prediction, ``pred > threshold`` is positive, a label is
positive when it is non-zero, comparisons in float32): ``Precision``,
``Recall`` (``thresholds=0.5``, ``top_k``, ``class_id``) and ``AUC``
(``num_thresholds=200``, ``curve='ROC'|'PR'``,
``summation_method='interpolation'|'minoring'|'majoring'``).  Their counts
come from one ``np.searchsorted`` + ``np.bincount`` per batch: the number of
thresholds below each prediction, histogrammed for positives and negatives.
"""
import math
import numbers

import numpy as np

__all__ = ["Metric", "MeanMetric", "MeanMetricWrapper", "CategoricalAccuracy",
           "SparseCategoricalAccuracy", "BinaryAccuracy", "TopKCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "BinaryCrossentropy", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "MeanSquaredError", "MeanAbsoluteError",
           "Precision", "Recall", "AUC", "get", "resolve", "serialize", "deserialize",
           "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
           "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
           "binary_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy", "mean_squared_error", "mean_absolute_error",
           "mse", "mae"]

EPSILON = 1e-7          # Keras's K.epsilon(): clipping of probabilities
NEG_INF = -1e10         # tf.keras metrics_utils.NEG_INF (top_k's "not chosen")


class Metric:
    """Base class: a named, stateful metric; ``name`` is the key in the logs."""

    #: True when the fused loss kernel's correct-row count *is* this metric
    counts_correct_rows = False

    def __init__(self, name):
        self.name = name
        self.reset_state()

    def reset_state(self):
        raise NotImplementedError

    def update_state(self, y_pred, target, sample_weight=None):
        raise NotImplementedError

    def update_correct(self, n_correct, n_rows):
        raise NotImplementedError("%s does not count correct rows" % type(self).__name__)

    def result(self):
        raise NotImplementedError

    def state_vector(self):
        """The state as a float64 vector of sums (added across ranks)."""
        return self._state.copy()

    def set_state_vector(self, vector):
        vector = np.asarray(vector, np.float64)
        if vector.shape != self._state.shape:
            raise ValueError("%s: a state vector of shape %s, got %s"
                             % (self.name, self._state.shape, vector.shape))
        self._state[...] = vector

    def batch_sum(self, y_pred, target):
        raise NotImplementedError(
            "metric %r keeps a confusion state, not a mean: the training loop must "
            "call update_state() per batch and result() at the end" % self.name)

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return "<%s %r>" % (type(self).__name__, self.name)


# ---- per-sample values (y_pred, target) -> float64 (N,) ------------------------

def _as_2d(target, units):
    """Dense float targets (N, units): one-hot from int labels."""
    target = np.asarray(target)
    if target.ndim == 1:
        if np.issubdtype(target.dtype, np.integer):
            y = np.zeros((len(target), units), np.float64)
            y[np.arange(len(target)), target] = 1.0
            return y
        return target.reshape(-1, 1).astype(np.float64)
    return target.astype(np.float64, copy=False)


def _labels(target):
    """Class labels from sparse labels or one-hot rows (argmax)."""
    target = np.asarray(target)
    if target.ndim == 1:
        return target.astype(np.int64, copy=False)
    if target.ndim == 2 and target.shape[1] == 1 and np.issubdtype(target.dtype, np.integer):
        return target[:, 0].astype(np.int64)
    return target.argmax(axis=1)


def _categorical_accuracy(y_pred, target):
    return (y_pred.argmax(axis=1) == np.asarray(target).argmax(axis=1)).astype(np.float64)


def _sparse_categorical_accuracy(y_pred, target):
    return (y_pred.argmax(axis=1) == _labels(target)).astype(np.float64)


def _binary_accuracy(y_pred, target, threshold=None):
    target = _as_2d(target, y_pred.shape[1])
    pred = np.round(y_pred) if threshold is None else (y_pred > threshold)
    return (pred == target).mean(axis=1, dtype=np.float64)


def _in_top_k(y_pred, labels, k):
    """tf.nn.in_top_k: the label's prediction is among the k largest, ties at
    the boundary counted in; a non-finite prediction is never in."""
    y = np.asarray(y_pred, np.float64)
    rows = np.arange(len(y))
    target = y[rows, labels]
    larger = (y > target[:, None]).sum(axis=1)
    return ((larger < k) & np.isfinite(target)).astype(np.float64)


def _top_k(k):
    def top_k_categorical_accuracy(y_pred, target):
        return _in_top_k(y_pred, np.asarray(target).argmax(axis=1), k)
    return top_k_categorical_accuracy


def _sparse_top_k(k):
    def sparse_top_k_categorical_accuracy(y_pred, target):
        return _in_top_k(y_pred, _labels(target), k)
    return sparse_top_k_categorical_accuracy


def _mse(y_pred, target):
    d = y_pred.astype(np.float64) - _as_2d(target, y_pred.shape[1])
    return (d * d).mean(axis=1)


def _mae(y_pred, target):
    return np.abs(y_pred.astype(np.float64) - _as_2d(target, y_pred.shape[1])).mean(axis=1)


def _categorical_crossentropy(y_pred, target):
    """Keras 2.3.1 K.categorical_crossentropy on probabilities: normalise the
    rows, clip to [eps, 1 - eps], -sum(y log p)."""
    p = y_pred.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = p / p.sum(axis=1, keepdims=True)
    p = np.clip(p, EPSILON, 1 - EPSILON)
    y = _as_2d(target, p.shape[1])
    return -(np.where(y != 0, y * np.log(p), 0.0)).sum(axis=1)


def _sparse_categorical_crossentropy(y_pred, target):
    """Keras 2.3.1 (TensorFlow backend): clip to [eps, 1 - eps], then the
    softmax cross-entropy of log p, i.e. -log(p_label / sum(p))."""
    p = np.clip(y_pred.astype(np.float64), EPSILON, 1 - EPSILON)
    labels = _labels(target)
    return -np.log(p[np.arange(len(p)), labels] / p.sum(axis=1))


def _binary_crossentropy(y_pred, target):
    """Keras 2.3.1: mean over the units of -(y log p + (1-y) log(1-p)), p
    clipped to [eps, 1 - eps]."""
    p = np.clip(y_pred.astype(np.float64), EPSILON, 1 - EPSILON)
    y = _as_2d(target, p.shape[1])
    return -(y * np.log(p) + (1 - y) * np.log1p(-p)).mean(axis=1)


_KINDS = {
    "categorical_accuracy": _categorical_accuracy,
    "sparse_categorical_accuracy": _sparse_categorical_accuracy,
    "binary_accuracy": _binary_accuracy,
    "mean_squared_error": _mse,
    "mean_absolute_error": _mae,
    "top_k_categorical_accuracy": _top_k(5),
    "sparse_top_k_categorical_accuracy": _sparse_top_k(5),
    "categorical_crossentropy": _categorical_crossentropy,
    "sparse_categorical_crossentropy": _sparse_categorical_crossentropy,
    "binary_crossentropy": _binary_crossentropy,
}
_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}


def _weights(sample_weight, n):
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        return np.full(n, float(w))
    w = w.reshape(len(w), -1).mean(axis=1) if w.ndim > 1 else w
    if w.shape != (n,):
        raise ValueError("sample_weight has %d entries for %d samples" % (w.size, n))
    return w


class MeanMetric(Metric):
    """The weighted mean of a per-sample value: ``kind`` names a built-in one
    (``'categorical_accuracy'``, ...) or ``fn(y_pred, target)`` gives it."""

    def __init__(self, name, kind=None, fn=None):
        if fn is None:
            if kind not in _KINDS:
                raise ValueError("unknown metric kind %r" % (kind,))
            fn = _KINDS[kind]
        self.kind = kind
        self._fn = fn
        super().__init__(name)

    @property
    def counts_correct_rows(self):
        return self.kind in ("categorical_accuracy", "sparse_categorical_accuracy")

    def reset_state(self):
        self._state = np.zeros(2)          # [sum of w*v, sum of w]

    def per_sample(self, y_pred, target):
        return self._fn(y_pred, target)

    def update_state(self, y_pred, target, sample_weight=None):
        v = np.asarray(self.per_sample(y_pred, target), np.float64)
        if sample_weight is None:
            self._state[0] += float(v.sum())
            self._state[1] += len(v)
        else:
            w = _weights(sample_weight, len(v))
            self._state[0] += float(np.dot(w, v))
            self._state[1] += float(w.sum())

    def update_correct(self, n_correct, n_rows):
        self._state[0] += n_correct
        self._state[1] += n_rows

    def result(self):
        total, weight = self._state
        return float(total / weight) if weight else 0.0

    def batch_sum(self, y_pred, target):
        """Sum of the per-sample values over the batch rows (unweighted)."""
        return float(np.asarray(self.per_sample(y_pred, target), np.float64).sum())

    def get_config(self):
        return {"name": self.name}


class MeanMetricWrapper(MeanMetric):
    """A Python function ``fn(y_true, y_pred)`` (Keras's argument order)
    returning per-sample values -- shape (N,), (N, ...) (averaged per
    sample) or a scalar (the same value for every sample) -- as a mean metric
    named ``name`` (default: the function's ``__name__``)."""

    def __init__(self, fn, name=None, **kwargs):
        if not callable(fn):
            raise ValueError("MeanMetricWrapper needs a function fn(y_true, y_pred), "
                             "got %r" % (fn,))
        self.user_fn = fn
        self.fn_kwargs = kwargs
        name = name or getattr(fn, "name", None) or getattr(fn, "__name__", None) \
            or type(fn).__name__
        super().__init__(name, fn=self._call)

    def _call(self, y_pred, target):
        v = np.asarray(self.user_fn(target, y_pred, **self.fn_kwargs), np.float64)
        n = len(y_pred)
        if v.ndim == 0:
            return np.full(n, float(v))
        if v.shape[0] != n:
            raise ValueError("metric %r returned %s values for a batch of %d samples: "
                             "return one value per sample" % (self.name, v.shape, n))
        return v.reshape(n, -1).mean(axis=1) if v.ndim > 1 else v


class _Builtin(MeanMetric):
    _kind = None
    _default_name = None

    def __init__(self, name=None):
        super().__init__(name or self._default_name, self._kind)


class CategoricalAccuracy(_Builtin):
    _kind = _default_name = "categorical_accuracy"


class SparseCategoricalAccuracy(_Builtin):
    _kind = _default_name = "sparse_categorical_accuracy"


class BinaryAccuracy(MeanMetric):
    """``pred > threshold`` equals the label, averaged over the units."""

    def __init__(self, name="binary_accuracy", threshold=0.5):
        self.threshold = float(threshold)
        super().__init__(name, "binary_accuracy",
                         fn=lambda p, t: _binary_accuracy(p, t, self.threshold))

    @property
    def counts_correct_rows(self):
        return False

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


class TopKCategoricalAccuracy(MeanMetric):
    """The true class (argmax of one-hot labels) is among the k highest
    predictions (ties at the boundary count, as tf.nn.in_top_k)."""

    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        self.k = _positive_int("k", k)
        super().__init__(name, fn=_top_k(self.k))
        self.kind = "top_k_categorical_accuracy"

    def get_config(self):
        return {"k": self.k, "name": self.name}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """TopKCategoricalAccuracy for integer class labels."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy"):
        self.k = _positive_int("k", k)
        MeanMetric.__init__(self, name, fn=_sparse_top_k(self.k))
        self.kind = "sparse_top_k_categorical_accuracy"


class CategoricalCrossentropy(_Builtin):
    _kind = _default_name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(_Builtin):
    _kind = _default_name = "sparse_categorical_crossentropy"


class BinaryCrossentropy(_Builtin):
    _kind = _default_name = "binary_crossentropy"


class MeanSquaredError(_Builtin):
    _kind = _default_name = "mean_squared_error"


class MeanAbsoluteError(_Builtin):
    _kind = _default_name = "mean_absolute_error"


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError("%s must be a whole number >= 1, got %r" % (name, value))
    return int(value)


# ---- confusion counts -----------------------------------------------------------

def _thresholds(thresholds, default):
    if thresholds is None:
        return np.array([default]), True
    scalar = isinstance(thresholds, numbers.Real) and not isinstance(thresholds, bool)
    values = [thresholds] if scalar else list(thresholds)
    if not values:
        raise ValueError("thresholds must be a number or a non-empty list of numbers")
    out = []
    for t in values:
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t):
            raise ValueError("thresholds must be finite numbers, got %r" % (t,))
        out.append(float(t))
    return np.array(out), scalar


def _bucket_counts(y_pred, label_pos, weights, sorted_thr):
    """Weighted histograms over c = (number of thresholds < pred), 0..T, for
    positive and negative labels (NaN predictions: 0, never above a
    threshold).  Thresholds and predictions compare in float32, as Keras."""
    thr = sorted_thr.astype(np.float32).astype(np.float64)
    pred = y_pred.astype(np.float64).ravel()
    c = np.searchsorted(thr, pred, side="left")
    c[np.isnan(pred)] = 0
    pos = label_pos.ravel()
    w = weights.ravel()
    T = len(thr)
    pos_hist = np.bincount(c[pos], weights=w[pos], minlength=T + 1)
    neg_hist = np.bincount(c[~pos], weights=w[~pos], minlength=T + 1)
    return pos_hist, neg_hist


def _above(hist):
    """out[j] = sum of hist[c] for c > j (the weight predicted positive at the
    j-th sorted threshold), j = 0..T-1."""
    return hist[::-1].cumsum()[::-1][1:]


def _div_no_nan(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def _prepare(y_pred, target, sample_weight):
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 1:
        y_pred = y_pred.reshape(-1, 1)
    y_true = _as_2d(target, y_pred.shape[1])
    if y_true.shape != y_pred.shape:
        raise ValueError("targets of shape %s for predictions of shape %s"
                         % (y_true.shape, y_pred.shape))
    n = y_pred.shape[0]
    w = np.ones(n) if sample_weight is None else _weights(sample_weight, n)
    weights = np.broadcast_to(w[:, None], y_pred.shape)
    return y_pred, y_true, weights


class _Confusion(Metric):
    """Precision / Recall: counts at each threshold after top_k / class_id."""

    _counts = ()            # which of ('tp', 'fp', 'fn') the state keeps

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None):
        self.init_thresholds = thresholds
        self.top_k = None if top_k is None else _positive_int("top_k", top_k)
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(
                class_id, numbers.Integral) or class_id < 0):
            raise ValueError("class_id must be a class index >= 0, got %r" % (class_id,))
        self.class_id = None if class_id is None else int(class_id)
        default = 0.5 if self.top_k is None else NEG_INF
        self.thresholds, self._scalar = _thresholds(thresholds, default)
        self._order = np.argsort(self.thresholds, kind="stable")
        super().__init__(name or self._default_name)

    def reset_state(self):
        self._state = np.zeros(2 * len(self.thresholds))

    def update_state(self, y_pred, target, sample_weight=None):
        y_pred, y_true, weights = _prepare(y_pred, target, sample_weight)
        if self.top_k is not None:
            keep = np.argsort(-y_pred.astype(np.float64), axis=1,
                              kind="stable")[:, :self.top_k]
            filtered = np.full(y_pred.shape, NEG_INF)
            rows = np.arange(len(y_pred))[:, None]
            filtered[rows, keep] = y_pred[rows, keep]
            y_pred = filtered
        if self.class_id is not None:
            if self.class_id >= y_pred.shape[1]:
                raise ValueError("class_id %d is not a class of the %d outputs"
                                 % (self.class_id, y_pred.shape[1]))
            sl = slice(self.class_id, self.class_id + 1)
            y_pred, y_true, weights = y_pred[:, sl], y_true[:, sl], weights[:, sl]
        sorted_thr = self.thresholds[self._order]
        pos_hist, neg_hist = _bucket_counts(y_pred, y_true != 0, weights, sorted_thr)
        tp, fp = _above(pos_hist), _above(neg_hist)
        fn = pos_hist.sum() - tp
        inv = np.empty_like(self._order)
        inv[self._order] = np.arange(len(inv))
        counts = {"tp": tp[inv], "fp": fp[inv], "fn": fn[inv]}
        T = len(self.thresholds)
        for i, key in enumerate(self._counts):
            self._state[i * T:(i + 1) * T] += counts[key]

    def _parts(self):
        T = len(self.thresholds)
        return self._state[:T], self._state[T:]

    def _out(self, values):
        return float(values[0]) if self._scalar else [float(v) for v in values]

    def get_config(self):
        return {"thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id, "name": self.name}


class Precision(_Confusion):
    """tp / (tp + fp) at each threshold (0 when nothing is predicted positive)."""
    _counts = ("tp", "fp")
    _default_name = "precision"

    def result(self):
        tp, fp = self._parts()
        return self._out(_div_no_nan(tp, tp + fp))


class Recall(_Confusion):
    """tp / (tp + fn) at each threshold (0 when there are no positives)."""
    _counts = ("tp", "fn")
    _default_name = "recall"

    def result(self):
        tp, fn = self._parts()
        return self._out(_div_no_nan(tp, tp + fn))


class AUC(Metric):
    """The area under the ROC or precision-recall curve, tf.keras's
    approximation: confusion counts at ``num_thresholds`` thresholds
    (``0 - eps``, ``i/(num_thresholds-1)``, ``1 + eps``; or ``[0 - eps] +
    sorted(thresholds) + [1 + eps]``), then a Riemann sum
    (``'interpolation'``: trapezoids for ROC, Davis & Goadrich's
    interpolation for PR; ``'minoring'`` / ``'majoring'``: the lower / upper
    rectangles).  All (sample, unit) pairs are pooled (``multi_label=False``).
    The state is two histograms (positives and negatives by the number of
    thresholds below the prediction), additive across batches and ranks."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, thresholds=None, multi_label=False):
        if multi_label:
            raise ValueError("AUC(multi_label=True) is not supported: the labels are "
                             "pooled (multi_label=False)")
        curve = str(curve).upper()
        if curve not in ("ROC", "PR"):
            raise ValueError("AUC curve must be 'ROC' or 'PR', got %r" % (curve,))
        method = str(summation_method).lower()
        if method not in ("interpolation", "minoring", "majoring"):
            raise ValueError("AUC summation_method must be 'interpolation', 'minoring' "
                             "or 'majoring', got %r" % (summation_method,))
        self.curve, self.summation_method = curve, method
        self.init_thresholds = thresholds
        if thresholds is not None:
            inner = sorted(_thresholds(thresholds, None)[0].tolist())
            self.num_thresholds = len(inner) + 2
        else:
            if isinstance(num_thresholds, bool) or not isinstance(
                    num_thresholds, numbers.Integral) or num_thresholds <= 1:
                raise ValueError("num_thresholds must be an integer > 1, got %r"
                                 % (num_thresholds,))
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (self.num_thresholds - 1)
                     for i in range(self.num_thresholds - 2)]
        self.thresholds = np.array([0.0 - EPSILON] + inner + [1.0 + EPSILON])
        super().__init__(name or "auc")

    def reset_state(self):
        self._state = np.zeros(2 * (self.num_thresholds + 1))

    def update_state(self, y_pred, target, sample_weight=None):
        y_pred, y_true, weights = _prepare(y_pred, target, sample_weight)
        pos_hist, neg_hist = _bucket_counts(y_pred, y_true != 0, weights,
                                            self.thresholds)
        T1 = self.num_thresholds + 1
        self._state[:T1] += pos_hist
        self._state[T1:] += neg_hist

    def confusion(self):
        """(tp, fp, tn, fn) at each threshold, float64 arrays."""
        T1 = self.num_thresholds + 1
        pos_hist, neg_hist = self._state[:T1], self._state[T1:]
        tp, fp = _above(pos_hist), _above(neg_hist)
        return tp, fp, neg_hist.sum() - fp, pos_hist.sum() - tp

    def _interpolate_pr(self, tp, fp, fn):
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _div_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0),
                         _div_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            inc = _div_no_nan(slope * (dtp + intercept * np.log(ratio)),
                              np.maximum(tp[1:] + fn[1:], 0))
        return float(inc.sum())

    def result(self):
        tp, fp, tn, fn = self.confusion()
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr(tp, fp, fn)
        recall = _div_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _div_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _div_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(((x[:-1] - x[1:]) * heights).sum())

    def get_config(self):
        return {"num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method, "name": self.name,
                "thresholds": self.init_thresholds}


# ---- Keras's metric functions (y_true, y_pred) -> per-sample values ------------

def binary_accuracy(y_true, y_pred):
    return _binary_accuracy(np.asarray(y_pred), y_true)


def categorical_accuracy(y_true, y_pred):
    return _categorical_accuracy(np.asarray(y_pred), y_true)


def sparse_categorical_accuracy(y_true, y_pred):
    return _sparse_categorical_accuracy(np.asarray(y_pred), y_true)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    return _top_k(k)(np.asarray(y_pred), y_true)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    return _sparse_top_k(k)(np.asarray(y_pred), y_true)


def binary_crossentropy(y_true, y_pred):
    return _binary_crossentropy(np.asarray(y_pred), y_true)


def categorical_crossentropy(y_true, y_pred):
    return _categorical_crossentropy(np.asarray(y_pred), y_true)


def sparse_categorical_crossentropy(y_true, y_pred):
    return _sparse_categorical_crossentropy(np.asarray(y_pred), y_true)


def mean_squared_error(y_true, y_pred):
    return _mse(np.asarray(y_pred), y_true)


def mean_absolute_error(y_true, y_pred):
    return _mae(np.asarray(y_pred), y_true)


mse = mean_squared_error
mae = mean_absolute_error

_FUNCTIONS = {f: f.__name__ for f in (
    binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, binary_crossentropy,
    categorical_crossentropy, sparse_categorical_crossentropy, mean_squared_error,
    mean_absolute_error)}

_CLASSES = {c.__name__: c for c in (
    CategoricalAccuracy, SparseCategoricalAccuracy, BinaryAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, BinaryCrossentropy, MeanSquaredError,
    MeanAbsoluteError, Precision, Recall, AUC)}

_NAMED = {"precision": Precision, "recall": Recall, "auc": AUC}
_DENSE_ONLY = {"categorical_accuracy": "sparse_categorical_accuracy",
               "top_k_categorical_accuracy": "sparse_top_k_categorical_accuracy"}
_SPARSE_ONLY = {"sparse_categorical_accuracy": "accuracy",
                "sparse_top_k_categorical_accuracy": "top_k_categorical_accuracy",
                "sparse_categorical_crossentropy": "categorical_crossentropy"}


def serialize(metric):
    """``{"class_name", "config"}`` of a metric class instance (function
    metrics cannot be serialised: store their name and pass the function)."""
    if type(metric).__name__ not in _CLASSES or type(metric) is not _CLASSES[
            type(metric).__name__]:
        raise ValueError("metric %r cannot be serialised (only the built-in metric "
                         "classes can)" % (metric,))
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config):
    if not isinstance(config, dict) or config.get("class_name") not in _CLASSES:
        raise ValueError("unknown metric config %r: class_name must be one of %s"
                         % (config, ", ".join(sorted(_CLASSES))))
    return _CLASSES[config["class_name"]].from_config(dict(config.get("config", {})))


def _names():
    return ", ".join(repr(k) for k in ["accuracy", "acc"] + sorted(_KINDS) +
                     sorted(_ALIASES) + sorted(_NAMED))


def resolve(identifier, loss, units):
    """The Metric for what the user gave -- a name, a Metric instance, a
    serialized metric dict, a Keras metric function of this module, any
    function ``fn(y_true, y_pred)`` or a Loss -- resolved against the loss
    (sparse labels or not) and the output width."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type):
        raise ValueError("metric %r is a class: pass an instance, e.g. %s()"
                         % (identifier.__name__, identifier.__name__))
    try:
        known = not isinstance(identifier, str) and identifier in _FUNCTIONS
    except TypeError:                     # unhashable
        known = False
    if known:
        identifier = _FUNCTIONS[identifier]
    elif not isinstance(identifier, str):
        if callable(identifier):
            return MeanMetricWrapper(identifier)
        raise ValueError("unknown metric %r: use a name such as 'accuracy', a metric "
                         "such as fastdense.metrics.Precision() or a function "
                         "fn(y_true, y_pred)" % (identifier,))
    key = identifier.lower()
    if key in ("accuracy", "acc"):
        if units == 1 or loss.name == "binary_crossentropy":
            kind = "binary_accuracy"
        elif loss.sparse:
            kind = "sparse_categorical_accuracy"
        else:
            kind = "categorical_accuracy"
        return MeanMetric(identifier, kind)
    if key in _NAMED:
        return _NAMED[key](name=identifier)
    if key in _DENSE_ONLY and loss.sparse:
        raise ValueError("metric %r needs one-hot labels but the loss is sparse: use "
                         "%r" % (identifier, _DENSE_ONLY[key]))
    if key in _SPARSE_ONLY and loss.sparse is False:
        raise ValueError("metric %r needs integer labels and loss="
                         "'sparse_categorical_crossentropy': use %r"
                         % (identifier, _SPARSE_ONLY[key]))
    kind = _ALIASES.get(key, key)
    if kind not in _KINDS:
        raise ValueError("unknown metric %r: use one of %s" % (identifier, _names()))
    if kind in ("mean_squared_error", "mean_absolute_error") and loss.sparse:
        raise ValueError("metric %r needs dense targets, not sparse labels" % identifier)
    return MeanMetric(identifier, kind)


def get(identifier, loss, units):
    return resolve(identifier, loss, units)


from ._unsupported import explain_keywords as _explain_keywords  # noqa: E402
_explain_keywords(globals())
