"""Metrics: state that the training loop updates batch by batch (Keras style).

A metric is stateful, as Keras's are: ``reset_state()`` at the start of an
epoch (or evaluate), ``update_state(y_pred, target, sample_weight=None)`` per
batch, ``result()`` for the logs.  Its whole state is a small float64 vector
of sums (``state_vector()`` / ``set_state_vector()``), so that data-parallel
training can add the states of all ranks with one reduction and every rank
reports the global figure.

The metrics here are means of a per-sample value, weighted as Keras's
``MeanMetricWrapper``: ``sum(w_i v_i) / sum(w_i)`` (w = 1 without sample
weights), which is Keras's batch-size-weighted running mean over an epoch.
``'accuracy'``/``'acc'`` is resolved from the loss and the output width as
Keras 2.3.1 does: binary accuracy for one output unit or binary
cross-entropy, sparse categorical accuracy for the sparse loss, categorical
accuracy otherwise.  The fused softmax + cross-entropy kernel counts correct
rows itself, so on the hot path accuracy costs nothing extra
(``update_correct``).
"""
import numpy as np

__all__ = ["Metric", "MeanMetric", "get", "resolve"]


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
        raise NotImplementedError

    def set_state_vector(self, vector):
        raise NotImplementedError

    def __repr__(self):
        return "<%s %r>" % (type(self).__name__, self.name)


class MeanMetric(Metric):
    """The weighted mean of a per-sample value ``fn(y_pred, target)``."""

    def __init__(self, name, kind):
        self.kind = kind
        super().__init__(name)

    @property
    def counts_correct_rows(self):
        return self.kind in ("categorical_accuracy", "sparse_categorical_accuracy")

    def reset_state(self):
        self._state = np.zeros(2)          # [sum of w*v, sum of w]

    def per_sample(self, y_pred, target):
        return _KINDS[self.kind](y_pred, target)

    def update_state(self, y_pred, target, sample_weight=None):
        v = self.per_sample(y_pred, target)
        if sample_weight is None:
            self._state[0] += float(v.sum())
            self._state[1] += len(v)
        else:
            w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            self._state[0] += float(np.dot(w, v))
            self._state[1] += float(w.sum())

    def update_correct(self, n_correct, n_rows):
        self._state[0] += n_correct
        self._state[1] += n_rows

    def result(self):
        total, weight = self._state
        return float(total / weight) if weight else 0.0

    def state_vector(self):
        return self._state.copy()

    def set_state_vector(self, vector):
        self._state[...] = vector

    def batch_sum(self, y_pred, target):
        """Sum of the per-sample values over the batch rows (unweighted)."""
        return float(self.per_sample(y_pred, target).sum())


def _categorical_accuracy(y_pred, target):
    return (y_pred.argmax(axis=1) == target.argmax(axis=1)).astype(np.float64)


def _sparse_categorical_accuracy(y_pred, target):
    return (y_pred.argmax(axis=1) == target).astype(np.float64)


def _binary_accuracy(y_pred, target):
    return (np.round(y_pred) == target).mean(axis=1, dtype=np.float64)


def _mse(y_pred, target):
    d = y_pred.astype(np.float64) - target
    return (d * d).mean(axis=1)


def _mae(y_pred, target):
    return np.abs(y_pred.astype(np.float64) - target).mean(axis=1)


_KINDS = {
    "categorical_accuracy": _categorical_accuracy,
    "sparse_categorical_accuracy": _sparse_categorical_accuracy,
    "binary_accuracy": _binary_accuracy,
    "mean_squared_error": _mse,
    "mean_absolute_error": _mae,
}
_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}


def resolve(identifier, loss, units):
    """The Metric for a user-given name, resolved against loss and output width."""
    if isinstance(identifier, Metric):
        return identifier
    if not isinstance(identifier, str):
        raise ValueError("unknown metric %r: use a name such as 'accuracy'" % (identifier,))
    key = identifier.lower()
    if key in ("accuracy", "acc"):
        if units == 1 or loss.name == "binary_crossentropy":
            kind = "binary_accuracy"
        elif loss.sparse:
            kind = "sparse_categorical_accuracy"
        else:
            kind = "categorical_accuracy"
        return MeanMetric(identifier, kind)
    if key == "categorical_accuracy" and loss.sparse:
        raise ValueError("metric 'categorical_accuracy' needs one-hot labels but the loss "
                         "is sparse: use 'sparse_categorical_accuracy' or 'accuracy'")
    if key == "sparse_categorical_accuracy" and not loss.sparse:
        raise ValueError("metric 'sparse_categorical_accuracy' needs integer labels and "
                         "loss='sparse_categorical_crossentropy': use 'accuracy'")
    kind = _ALIASES.get(key, key)
    if kind not in _KINDS:
        raise ValueError("unknown metric %r: use one of %s" % (
            identifier, ", ".join(repr(k) for k in
                                  ["accuracy", "acc"] + sorted(_KINDS) + sorted(_ALIASES))))
    if kind in ("mean_squared_error", "mean_absolute_error") and loss.sparse:
        raise ValueError("metric %r needs dense targets, not sparse labels" % identifier)
    return MeanMetric(identifier, kind)


def get(identifier, loss, units):
    return resolve(identifier, loss, units)
