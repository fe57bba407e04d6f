"""Loss functions: value and gradient of the *mean* loss over a batch.

A Loss object knows four things:

* ``prepare_targets(y, units, where)``: check the labels once per fit and
  return them as the array the training loop gathers from (float32 (N, units)
  or int64 (N,) class indices) -- bad labels are a ValueError before any
  weight is touched;
* ``forward_backward(y_pred, target, grad, scale)``: the summed loss over the
  batch rows (a float) and, when ``grad`` is given, ``scale * d(sum)/d y_pred``
  (``scale = 1/batch`` makes it the gradient of the mean);
* ``fuses_with(activation_name)``: whether the model may compute it from the
  last layer's pre-activation instead (softmax + cross-entropy, sigmoid +
  binary cross-entropy), which is both faster and exact;
* ``from_logits(...)``: that fused computation.  For softmax it is one kernel
  call (``softmax_xent_f32``) that gives loss, gradient ``(p - y)/N`` and the
  number of correct rows.

The general paths follow Keras 2.3.1: probabilities are normalised and clipped
to [1e-7, 1 - 1e-7] before the log.
"""
import numpy as np

__all__ = ["Loss", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "MeanSquaredError", "BinaryCrossentropy", "get"]

EPSILON = 1e-7
_F32 = np.float32


def _shape_str(shape):
    return "(%s)" % ", ".join("N" if i == 0 else str(d) for i, d in enumerate(shape))


class Loss:
    name = None
    sparse = False

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

    def forward_backward(self, y_pred, target, grad=None, scale=1.0):
        raise NotImplementedError

    def __call__(self, y_true, y_pred):
        """Per-sample losses, as Keras's loss functions return them."""
        y_pred = np.asarray(y_pred, dtype=_F32)
        if y_pred.ndim == 1:
            y_pred = y_pred.reshape(-1, 1)
        target = self.prepare_targets(y_true, y_pred.shape[1])
        return np.array([self.forward_backward(y_pred[i:i + 1], target[i:i + 1])
                         for i in range(len(y_pred))], dtype=_F32)

    def __repr__(self):
        return "losses.get(%r)" % self.name


def _normalised_clipped(y_pred):
    p = y_pred.astype(np.float64)
    s = p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = p / s
    qc = np.clip(q, EPSILON, 1 - EPSILON)
    return s, q, qc


class CategoricalCrossentropy(Loss):
    name = "categorical_crossentropy"

    def fuses_with(self, activation_name):
        return activation_name == "softmax"

    def from_logits(self, K, logits, target, grad=None, probs=None, scale=1.0,
                    nthreads=1):
        return K.softmax_xent_f32(logits, target, probs=probs, grad=grad,
                                  scale=scale, nthreads=nthreads)

    def _onehot(self, target, n):
        return target

    def forward_backward(self, y_pred, target, grad=None, scale=1.0):
        y = self._onehot(target, y_pred.shape[1]).astype(np.float64)
        s, q, qc = _normalised_clipped(y_pred)
        loss_sum = float(-(y * np.log(qc)).sum())
        if grad is not None:
            # d/dq of -sum y log(clip(q)); zero where the clip is active
            inside = (q > EPSILON) & (q < 1 - EPSILON)
            dq = np.where(inside, -y / qc, 0.0)
            # q = p / sum(p): dL/dp_k = (dq_k - sum_j dq_j q_j) / s
            dp = (dq - (dq * q).sum(axis=1, keepdims=True)) / s
            grad[...] = dp * scale
        return loss_sum


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
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


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def forward_backward(self, y_pred, target, grad=None, scale=1.0):
        n = y_pred.shape[1]
        diff = y_pred.astype(np.float64) - target
        loss_sum = float((diff * diff).sum() / n)
        if grad is not None:
            grad[...] = diff * (2.0 * scale / n)
        return loss_sum


class BinaryCrossentropy(Loss):
    name = "binary_crossentropy"

    def fuses_with(self, activation_name):
        return activation_name == "sigmoid"

    def from_logits(self, K, logits, target, grad=None, probs=None, scale=1.0,
                    nthreads=1):
        n = logits.shape[1]
        z = logits.astype(np.float64)
        y = target.astype(np.float64)
        loss_sum = float((np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).sum() / n)
        if grad is not None or probs is not None:
            with np.errstate(over="ignore"):
                p = 1.0 / (1.0 + np.exp(-z))
            if probs is not None:
                probs[...] = p
            if grad is not None:
                grad[...] = (p - y) * (scale / n)
        return loss_sum, None

    def forward_backward(self, y_pred, target, grad=None, scale=1.0):
        n = y_pred.shape[1]
        p = y_pred.astype(np.float64)
        y = target.astype(np.float64)
        pc = np.clip(p, EPSILON, 1 - EPSILON)
        loss_sum = float(-(y * np.log(pc) + (1 - y) * np.log(1 - pc)).sum() / n)
        if grad is not None:
            inside = (p > EPSILON) & (p < 1 - EPSILON)
            d = np.where(inside, -y / pc + (1 - y) / (1 - pc), 0.0)
            grad[...] = d * (scale / n)
        return loss_sum


_REGISTRY = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "binary_crossentropy": BinaryCrossentropy,
}


def get(identifier):
    """A Loss from a name ('categorical_crossentropy', 'mse', ...) or an instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _REGISTRY.get(identifier.lower())
        if cls is not None:
            return cls()
    raise ValueError("unknown loss %r: use one of %s"
                     % (identifier, ", ".join(repr(k) for k in sorted(_REGISTRY))))
