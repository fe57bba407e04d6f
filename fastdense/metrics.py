"""Metrics: per-batch sums that the training loop averages over an epoch.

``Metric.batch_sum(y_pred, target)`` returns the sum over the batch rows of
the per-sample metric; the model divides by the number of samples seen, which
gives Keras's batch-size-weighted running mean.  ``'accuracy'``/``'acc'`` is
resolved from the loss and the output width as Keras 2.3.1 does: binary
accuracy for one output unit or binary cross-entropy, sparse categorical
accuracy for the sparse loss, categorical accuracy otherwise.  The fused
softmax + cross-entropy kernel counts correct rows itself, so on the hot path
accuracy costs nothing extra.
"""
import numpy as np

__all__ = ["Metric", "get", "resolve"]


class Metric:
    """A named metric; ``name`` is the key the user sees in the logs."""

    def __init__(self, name, kind):
        self.name = name
        self.kind = kind

    @property
    def counts_correct_rows(self):
        """True when the fused kernel's correct-row count *is* this metric."""
        return self.kind in ("categorical_accuracy", "sparse_categorical_accuracy")

    def batch_sum(self, y_pred, target):
        fn = _KINDS[self.kind]
        return float(fn(y_pred, target))

    def __repr__(self):
        return "Metric(%r, %r)" % (self.name, self.kind)


def _categorical_accuracy(y_pred, target):
    return np.count_nonzero(y_pred.argmax(axis=1) == target.argmax(axis=1))


def _sparse_categorical_accuracy(y_pred, target):
    return np.count_nonzero(y_pred.argmax(axis=1) == target)


def _binary_accuracy(y_pred, target):
    return (np.round(y_pred) == target).mean(axis=1, dtype=np.float64).sum()


def _mse(y_pred, target):
    d = y_pred.astype(np.float64) - target
    return (d * d).mean(axis=1).sum()


def _mae(y_pred, target):
    return np.abs(y_pred.astype(np.float64) - target).mean(axis=1).sum()


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
        return Metric(identifier, kind)
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
    return Metric(identifier, kind)


def get(identifier, loss, units):
    return resolve(identifier, loss, units)
