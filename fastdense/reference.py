"""The NumPy twins of the C kernels: same names, same arguments, same results.

This module is three things at once (as bottleneck's ``slow`` module is):
the readable truth that the C kernels are tested against, the baseline the
benchmarks measure them against, and the fallback backend when the compiled
extension is missing.

Every function here mirrors one ``fd_*`` function of ``src_c/fastdense.h`` and
one binding of ``fastdense/_ckernels.pyx``, minus the ``fd_`` prefix:

* arrays are float32 (index arrays int64); matrices are 2-D with any strides,
  vectors 1-D;
* outputs are passed in by the caller, filled in place and returned; an output
  may be the very same array as an input;
* ``nthreads`` is accepted (and ignored: NumPy decides its own threads) so that
  both backends share one signature.

Arguments are trusted: checking them is the job of ``fastdense.ops``.
"""
import numpy as np

__all__ = [
    "sgemm", "add_f32", "relu_f32", "relu_backward_f32", "bias_grad_f32",
    "softmax_f32", "softmax_xent_f32", "rmsprop_update_f32",
    "sgd_update_f32", "adam_update_f32",
]


def sgemm(a, b, c, alpha=1.0, beta=0.0, bias=None, relu=False,
          a_rows=None, a_cols=None, nthreads=1):
    """c = alpha * A @ b + beta * c (+ bias per column) (then max(., 0)).

    A is ``a[a_rows][:, a_cols]`` (either index may be None).  When beta is 0
    the old contents of c are not read.  Returns c.
    """
    if a_rows is not None:
        a = a[a_rows]
    if a_cols is not None:
        a = a[:, a_cols]
    if beta == 0.0:
        np.matmul(a, b, out=c)
        if alpha != 1.0:
            c *= np.float32(alpha)
    else:
        prod = np.matmul(a, b)
        if alpha != 1.0:
            prod *= np.float32(alpha)
        c *= np.float32(beta)
        c += prod
    if bias is not None:
        c += bias
    if relu:
        np.maximum(c, 0, out=c)
    return c


def add_f32(x, y, out, nthreads=1):
    """out = x + y (same shape; broadcasting comes as stride-0 views)."""
    return np.add(x, y, out=out)


def relu_f32(x, out, nthreads=1):
    """out = max(x, 0); NaN stays NaN, as np.maximum."""
    return np.maximum(x, 0, out=out)


def relu_backward_f32(grad, y, out, bias_grad=None, nthreads=1):
    """out = grad where y > 0 else 0 (NaN in grad where y <= 0 gives 0, as a
    select does); bias_grad (optional) = column sums of out."""
    out[...] = np.where(y > 0, grad, np.float32(0))
    if bias_grad is not None:
        np.sum(out, axis=0, out=bias_grad)
    return out


def bias_grad_f32(grad, out, nthreads=1):
    """out[j] = sum_i grad[i, j]."""
    return np.sum(grad, axis=0, out=out)


def softmax_f32(x, out, nthreads=1):
    """Row softmax, max-subtracted so that large inputs never overflow."""
    np.subtract(x, x.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def softmax_xent_f32(logits, target, probs=None, grad=None, scale=1.0,
                     nthreads=1):
    """Softmax + categorical cross-entropy from logits.

    ``target`` is a float32 (m, n) distribution (one-hot) or an int64 (m,)
    vector of class indices.  Fills ``probs`` with the softmax and ``grad``
    with ``(softmax - y) * scale`` when given.  Returns
    ``(loss_sum, n_correct)``: the summed cross-entropy over rows (a Python
    float) and how many rows have argmax(logits) == the target class.
    """
    m, n = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_sum
    p = np.exp(log_p)
    if target.ndim == 1:
        if m and (target.min() < 0 or target.max() >= n):
            raise ValueError("labels must be in [0, %d)" % n)
        rows = np.arange(m)
        loss_sum = -log_p[rows, target].astype(np.float64).sum()
        true_class = target
        y = np.zeros((m, n), np.float32)
        y[rows, target] = 1
    else:
        y = target
        # 0 * log(0) counts as 0, as it does in the C kernel.
        terms = np.where(y != 0, y * log_p, np.float32(0))
        loss_sum = -terms.astype(np.float64).sum()
        true_class = y.argmax(axis=1) if n else np.zeros(m, np.int64)
    n_correct = int((logits.argmax(axis=1) == true_class).sum()) if n else 0
    if probs is not None:
        probs[...] = p
    if grad is not None:
        np.subtract(p, y, out=grad)
        grad *= np.float32(scale)
    return float(loss_sum), n_correct


def rmsprop_update_f32(param, grad, accum, lr, rho, eps, nthreads=1):
    """accum = rho*accum + (1-rho)*grad**2; param -= lr*grad/(sqrt(accum)+eps)."""
    lr, rho, eps = np.float32(lr), np.float32(rho), np.float32(eps)
    accum *= rho
    accum += (np.float32(1) - rho) * np.square(grad)
    param -= lr * grad / (np.sqrt(accum) + eps)
    return param


def sgd_update_f32(param, grad, velocity, lr, momentum, nesterov, nthreads=1):
    """Keras 2.3.1 SGD: v = momentum*v - lr*g; p += nesterov ? momentum*v - lr*g : v."""
    lr, momentum = np.float32(lr), np.float32(momentum)
    if velocity is None:
        param -= lr * grad
        return param
    velocity *= momentum
    velocity -= lr * grad
    if nesterov:
        param += momentum * velocity - lr * grad
    else:
        param += velocity
    return param


def adam_update_f32(param, grad, m, v, lr_t, beta1, beta2, eps, nthreads=1):
    """Keras 2.3.1 Adam step with the bias-corrected rate lr_t."""
    lr_t, beta1, beta2, eps = (np.float32(t) for t in (lr_t, beta1, beta2, eps))
    m *= beta1
    m += (np.float32(1) - beta1) * grad
    v *= beta2
    v += (np.float32(1) - beta2) * np.square(grad)
    param -= lr_t * m / (np.sqrt(v) + eps)
    return param
