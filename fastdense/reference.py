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
import functools

import numpy as np

__all__ = [
    "sgemm", "add_f32", "relu_f32", "relu_backward_f32", "bias_grad_f32",
    "softmax_f32", "softmax_xent_f32", "rmsprop_update_f32",
    "sgd_update_f32", "adam_update_f32",
    # activations and losses
    "elu_f32", "elu_backward_f32", "selu_f32", "selu_backward_f32",
    "gelu_f32", "gelu_backward_f32", "gelu_tanh_f32", "gelu_tanh_backward_f32",
    "leaky_relu_f32", "leaky_relu_backward_f32", "softplus_f32",
    "softplus_backward_f32", "swish_f32", "swish_backward_f32",
    "exponential_f32", "exponential_backward_f32", "hard_sigmoid_f32",
    "hard_sigmoid_backward_f32", "softsign_f32", "softsign_backward_f32",
    "sigmoid_f32", "sigmoid_backward_f32", "tanh_f32", "tanh_backward_f32",
    "mse_loss_f32", "mae_loss_f32", "huber_loss_f32", "log_cosh_loss_f32",
    "kld_loss_f32", "sigmoid_bce_f32",
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
                     nthreads=1, weights=None, label_smoothing=0.0):
    """Softmax + categorical cross-entropy from logits.

    ``target`` is a float32 (m, n) distribution (one-hot) or an int64 (m,)
    vector of class indices; with ``label_smoothing`` ls the target becomes
    ``t = y * (1 - ls) + ls / n`` (Keras).  ``weights`` (optional, float32
    (m,)) weighs each row.  Fills ``probs`` with the softmax and ``grad``
    with ``(softmax - t) * scale * w`` when given.  Returns
    ``(loss_sum, n_correct)``: the weighted sum of the rows' cross-entropies
    (a Python float) and how many rows have argmax(logits) == the target
    class (unweighted, the unsmoothed target).
    """
    m, n = logits.shape
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError("label_smoothing must be in [0, 1], got %r" % (label_smoothing,))
    if weights is not None and len(weights) != m:
        raise ValueError("%d weights for %d rows" % (len(weights), m))
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_sum
    p = np.exp(log_p)
    if target.ndim == 1:
        if m and (target.min() < 0 or target.max() >= n):
            raise ValueError("labels must be in [0, %d)" % n)
        true_class = target
        y = np.zeros((m, n), np.float32)
        y[np.arange(m), target] = 1
    else:
        y = target
        true_class = y.argmax(axis=1) if n else np.zeros(m, np.int64)
    t = y
    if label_smoothing:  # the kernel's float32 arithmetic
        ls = np.float32(label_smoothing)
        t = y * (np.float32(1) - ls) + ls / np.float32(n)
    # 0 * log(0) counts as 0, as it does in the C kernel.
    terms = np.where(t != 0, t * log_p, np.float32(0))
    rows = -terms.astype(np.float64).sum(axis=1)
    loss_sum = rows.sum() if weights is None else (np.asarray(weights, np.float64) * rows).sum()
    n_correct = int((logits.argmax(axis=1) == true_class).sum()) if n else 0
    if probs is not None:
        probs[...] = p
    if grad is not None:
        np.subtract(p, t, out=grad)
        if weights is None:
            grad *= np.float32(scale)
        else:
            grad *= (np.float32(scale) * np.asarray(weights, np.float32))[:, None]
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


# ---- sparse inputs (CSR x dense): twins of fd_csr_* and fd_csrmm_f32 ------
# CSR arrays: indptr int64 holding absolute offsets (indptr[0] need not be
# 0: rows [r0, r1) of a CSR are indptr[r0:r1+1] with the same indices and
# values), indices int32, values float32.  Pure NumPy (no scipy).  Where the
# C kernel returns FD_EINVAL these raise ValueError, before writing.

__all__ += ["csr_check", "csr_from_dense_f32", "csr_gather", "csr_transpose",
            "csr_transpose_work_size", "csrmm_f32", "csrtmm_f32"]

#: entries x columns of the temporary products csrmm_f32 forms at once
_CSRMM_CHUNK = 1 << 22


def _csr_parts(indptr, indices, values, what):
    """(m, base, end) after the checks the C kernels make."""
    m = len(indptr) - 1
    if m < 0:
        raise ValueError("%s: indptr needs at least one entry (m + 1)" % what)
    base, end = int(indptr[0]), int(indptr[-1])
    if base < 0 or end > len(indices) or (values is not None and end > len(values)):
        raise ValueError("%s: indptr spans [%d, %d) but indices/values hold %d/%d "
                         "entries" % (what, base, end, len(indices),
                                      len(values) if values is not None else -1))
    if m and np.any(np.diff(indptr) < 0):
        raise ValueError("%s: indptr decreases" % what)
    return m, base, end


def csr_transpose_work_size(k, nthreads=1):
    """int64 elements of the workspace ``csr_transpose`` needs."""
    return int(k) * min(max(int(nthreads), 1), 256)


def csr_check(indptr, indices, k, nthreads=1):
    """True when indptr[0] >= 0, indptr is non-decreasing, indptr[-1] <=
    len(indices) and every index of the span is in [0, k)."""
    if len(indptr) < 1 or k < 0 or indptr[0] < 0 or indptr[-1] > len(indices):
        return False
    if np.any(np.diff(indptr) < 0):
        return False
    idx = indices[indptr[0]:indptr[-1]]
    return bool(idx.size == 0 or (idx.min() >= 0 and idx.max() < k))


def csr_from_dense_f32(x, indptr, indices=None, values=None, nthreads=1):
    """CSR of the float32 matrix x: zeros dropped (-0.0 too), NaN/inf kept.

    Count call (indices and values None): indptr[0] = 0 and the running
    counts of nonzeros.  Fill call: indptr as the count call left it (any
    offset indptr[0] >= 0); the nonzeros of each row, in column order, go to
    indices/values[indptr[i]:indptr[i+1]].  Returns nnz.
    """
    m, n = x.shape
    if len(indptr) != m + 1:
        raise ValueError("csr_from_dense_f32: indptr has %d entries, x has %d rows "
                         "(need m + 1)" % (len(indptr), m))
    if (indices is None) != (values is None):
        raise ValueError("csr_from_dense_f32: pass both indices and values "
                         "(fill) or neither (count)")
    nz = x != 0
    counts = nz.sum(axis=1, dtype=np.int64)
    if indices is None:
        indptr[0] = 0
        np.cumsum(counts, out=indptr[1:])
        return int(indptr[-1])
    cap = min(len(indices), len(values))
    if (indptr[0] < 0 or indptr[-1] > cap
            or not np.array_equal(np.diff(indptr), counts)):
        raise ValueError("csr_from_dense_f32: indptr does not hold the counts of x "
                         "(run the count call first) or exceeds the capacity %d" % cap)
    rows, cols = np.nonzero(nz)          # row-major: column order in a row
    lo, hi = int(indptr[0]), int(indptr[-1])
    indices[lo:hi] = cols
    values[lo:hi] = x[rows, cols]
    return hi - lo


def csr_gather(rows, src_indptr, src_indices, src_values, out_indptr,
               out_indices, out_values, nthreads=1):
    """The rows ``rows`` of the src CSR as a batch CSR (out_indptr from 0);
    returns its nnz.  ValueError when a row is out of range or the rows need
    more than the capacity of out_indices/out_values."""
    src_m, _, _ = _csr_parts(src_indptr, src_indices, src_values, "csr_gather")
    rows = np.asarray(rows, np.int64)
    m = len(rows)
    if len(out_indptr) != m + 1:
        raise ValueError("csr_gather: out_indptr has %d entries for %d rows (need "
                         "m + 1)" % (len(out_indptr), m))
    if m and (rows.min() < 0 or rows.max() >= src_m):
        raise ValueError("csr_gather rows: index out of range [0, %d)" % src_m)
    lo = src_indptr[rows]
    lens = src_indptr[rows + 1] - lo
    out_indptr[0] = 0
    np.cumsum(lens, out=out_indptr[1:])
    total = int(out_indptr[-1])
    cap = min(len(out_indices), len(out_values))
    if total > cap:
        raise ValueError("csr_gather: the rows hold %d entries, more than the "
                         "capacity %d of out_indices/out_values" % (total, cap))
    pos = np.arange(total, dtype=np.int64) + np.repeat(lo - out_indptr[:-1], lens)
    out_indices[:total] = src_indices[pos]
    out_values[:total] = src_values[pos]
    return total


def csr_transpose(indptr, indices, values, k, out_indptr, out_indices, out_values,
                  work=None, nthreads=1):
    """The CSR of A^T (k x m) of the m x k CSR A: within a row of A^T the
    entries in row order of A (a stable counting sort); returns its nnz."""
    m, base, end = _csr_parts(indptr, indices, values, "csr_transpose")
    if len(out_indptr) != k + 1:
        raise ValueError("csr_transpose: out_indptr has %d entries, need k + 1 = %d"
                         % (len(out_indptr), k + 1))
    nnz = end - base
    if len(out_indices) < nnz or len(out_values) < nnz:
        raise ValueError("csr_transpose: out_indices/out_values hold %d/%d entries, "
                         "need nnz = %d" % (len(out_indices), len(out_values), nnz))
    cols = indices[base:end]
    if nnz and (cols.min() < 0 or cols.max() >= k):
        raise ValueError("csr_transpose: an index is outside [0, %d)" % k)
    rows = np.repeat(np.arange(m, dtype=np.int32), np.diff(indptr))
    order = np.argsort(cols, kind="stable")
    out_indptr[0] = 0
    np.cumsum(np.bincount(cols, minlength=k), out=out_indptr[1:])
    out_indices[:nnz] = rows[order]
    out_values[:nnz] = values[base:end][order]
    return nnz


def csrmm_f32(indptr, indices, values, b, c, bias=None, relu=False, nthreads=1):
    """c = A @ b (+ bias per column) (then max(c, 0), NaN stays NaN) for the
    m x k CSR A (k = b.shape[0]); an empty row gives zeros (or the bias).
    Only the stored entries are multiplied.  Returns c."""
    m, base, end = _csr_parts(indptr, indices, values, "csrmm_f32")
    k, n = b.shape
    if c.shape != (m, n):
        raise ValueError("csrmm_f32: A is (%d, %d), b is (%d, %d), c is %s"
                         % (m, k, k, n, c.shape))
    cols = indices[base:end]
    if cols.size and (cols.min() < 0 or cols.max() >= k):
        raise ValueError("csrmm_f32: an index is outside [0, %d)" % k)
    out = np.zeros((m, n), np.float32)
    lens = np.diff(indptr)
    r0 = 0
    while r0 < m and n:
        # rows [r0, r1): at most _CSRMM_CHUNK products at once (one row more
        # when a single row is longer than that)
        limit = indptr[r0] + max(_CSRMM_CHUNK // n, 1)
        r1 = max(int(np.searchsorted(indptr, limit, side="right")) - 1, r0 + 1)
        r1 = min(r1, m)
        lo, hi = int(indptr[r0]), int(indptr[r1])
        if hi > lo:
            prod = values[lo:hi, None] * b[indices[lo:hi]]
            full = np.flatnonzero(lens[r0:r1]) + r0
            out[full] = np.add.reduceat(prod, indptr[full] - lo, axis=0)
        r0 = r1
    if bias is not None:
        out += bias
    if relu:
        np.maximum(out, 0, out=out)
    c[...] = out
    return c


def csrtmm_f32(indptr, indices, values, b, c, nthreads=1):
    """c = A^T @ b for the m x k CSR A (m = b.shape[0], k = c.shape[0]): the
    transpose's csrmm (entries summed in row order of A).  Returns c."""
    m, base, end = _csr_parts(indptr, indices, values, "csrtmm_f32")
    k = c.shape[0]
    if b.shape[0] != m or c.shape[1] != b.shape[1]:
        raise ValueError("csrtmm_f32: A is (%d, %d), b is %s, c is %s"
                         % (m, k, b.shape, c.shape))
    nnz = end - base
    t_indptr = np.empty(k + 1, np.int64)
    t_indices = np.empty(nnz, np.int32)
    t_values = np.empty(nnz, np.float32)
    try:
        csr_transpose(indptr, indices, values, k, t_indptr, t_indices, t_values)
    except ValueError:
        raise ValueError("csrtmm_f32: an index is outside [0, %d)" % k) from None
    return csrmm_f32(t_indptr, t_indices, t_values, b, c)


# ---- optimizers beyond RMSprop/SGD/Adam, gradient clipping (optim family) --
# Same operations in the same order as src_c/optim_rows.h, so the results
# are the C kernels' bits.  gscale / clip: the gradient is read as
# min(max(grad*gscale, -clip), clip) (1.0 and inf: as it is), never written.

__all__ += [
    "sumsq_f32", "rmsprop_update_clip_f32", "sgd_update_clip_f32",
    "adam_update_clip_f32", "adagrad_update_f32", "adadelta_update_f32",
    "adamax_update_f32", "nadam_update_f32", "adamw_update_f32",
]


def _transformed_grad(grad, gscale, clip):
    """The gradient the kernels update with: clipnorm's scale, then clipvalue's
    bound, as selects (NaN stays NaN, -0.0 stays -0.0)."""
    gscale, clip = np.float32(gscale), np.float32(clip)
    if not clip >= 0:
        raise ValueError("clip must be >= 0 (inf for no clipping), got %r" % clip)
    if gscale == 1 and clip == np.inf:
        return grad
    g = grad * gscale
    return np.where(g > clip, clip, np.where(g < -clip, -clip, g))


def sumsq_f32(x, nthreads=1):
    """The sum of x**2 in double (a Python float).  The squares are exact in
    double; NumPy's summation order is not the kernel's, so the two sums may
    differ in the last bits of a double."""
    return float(np.square(x, dtype=np.float64).sum())


def rmsprop_update_clip_f32(param, grad, accum, lr, rho, eps, gscale=1.0,
                            clip=np.inf, nthreads=1):
    """rmsprop_update_f32 on the transformed gradient."""
    return rmsprop_update_f32(param, _transformed_grad(grad, gscale, clip), accum,
                              lr, rho, eps)


def sgd_update_clip_f32(param, grad, velocity, lr, momentum, nesterov, gscale=1.0,
                        clip=np.inf, nthreads=1):
    """sgd_update_f32 on the transformed gradient."""
    return sgd_update_f32(param, _transformed_grad(grad, gscale, clip), velocity, lr,
                          momentum, nesterov)


def adam_update_clip_f32(param, grad, m, v, lr_t, beta1, beta2, eps, gscale=1.0,
                         clip=np.inf, nthreads=1):
    """adam_update_f32 on the transformed gradient."""
    return adam_update_f32(param, _transformed_grad(grad, gscale, clip), m, v, lr_t,
                           beta1, beta2, eps)


def adagrad_update_f32(param, grad, accum, lr, eps, gscale=1.0, clip=np.inf,
                       nthreads=1):
    """Keras 2.3.1 Adagrad: accum += g**2; param -= lr*g/(sqrt(accum)+eps)."""
    g = _transformed_grad(grad, gscale, clip)
    lr, eps = np.float32(lr), np.float32(eps)
    accum += np.square(g)
    param -= lr * g / (np.sqrt(accum) + eps)
    return param


def adadelta_update_f32(param, grad, accum, delta, lr, rho, eps, gscale=1.0,
                        clip=np.inf, nthreads=1):
    """Keras 2.3.1 Adadelta: accum = rho*accum + (1-rho)*g**2;
    u = g*sqrt(delta+eps)/sqrt(accum+eps); param -= lr*u;
    delta = rho*delta + (1-rho)*u**2."""
    g = _transformed_grad(grad, gscale, clip)
    lr, rho, eps = np.float32(lr), np.float32(rho), np.float32(eps)
    one_minus_rho = np.float32(1) - rho
    accum *= rho
    accum += one_minus_rho * np.square(g)
    u = g * np.sqrt(delta + eps) / np.sqrt(accum + eps)
    param -= lr * u
    delta *= rho
    delta += one_minus_rho * np.square(u)
    return param


def adamax_update_f32(param, grad, m, u, lr_t, beta1, beta2, eps, gscale=1.0,
                      clip=np.inf, nthreads=1):
    """Keras 2.3.1 Adamax with lr_t = lr/(1-beta1**t): m = b1*m + (1-b1)*g;
    u = max(b2*u, |g|); param -= lr_t*m/(u+eps)."""
    g = _transformed_grad(grad, gscale, clip)
    lr_t, beta1, beta2, eps = (np.float32(t) for t in (lr_t, beta1, beta2, eps))
    m *= beta1
    m += (np.float32(1) - beta1) * g
    u[...] = np.maximum(beta2 * u, np.abs(g))
    param -= lr_t * m / (u + eps)
    return param


def nadam_update_f32(param, grad, m, v, lr, beta1, beta2, kg, km, vs, eps,
                     gscale=1.0, clip=np.inf, nthreads=1):
    """Keras 2.3.1 Nadam with the step's schedule in kg, km, vs:
    m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g**2;
    param -= lr*(kg*g + km*m)/(sqrt(v*vs)+eps)."""
    g = _transformed_grad(grad, gscale, clip)
    lr, beta1, beta2, kg, km, vs, eps = (np.float32(t) for t in
                                         (lr, beta1, beta2, kg, km, vs, eps))
    m *= beta1
    m += (np.float32(1) - beta1) * g
    v *= beta2
    v += (np.float32(1) - beta2) * np.square(g)
    mbar = kg * g + km * m
    param -= lr * mbar / (np.sqrt(v * vs) + eps)
    return param


def adamw_update_f32(param, grad, m, v, lr_t, beta1, beta2, eps, decay, gscale=1.0,
                     clip=np.inf, nthreads=1):
    """AdamW: param -= param*decay (decay = lr*weight_decay), then the Adam
    step with the bias-corrected rate lr_t."""
    g = _transformed_grad(grad, gscale, clip)
    decay = np.float32(decay)
    param -= param * decay
    return adam_update_f32(param, g, m, v, lr_t, beta1, beta2, eps)
# ---- dropout and weight regularizers (src_c/philox.h, dropout.c, regularize.c)

__all__ += ["philox4x32_10", "dropout_mask", "dropout_scale", "dropout_forward_f32",
            "dropout_backward_f32", "relu_dropout_backward_f32",
            "l1l2_penalty_grad_f32"]

import math  # noqa: E402  (this family's block is kept in one piece)
import operator  # noqa: E402

_PHILOX_M0, _PHILOX_M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_PHILOX_W0, _PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
_U32 = 0xFFFFFFFF
_F32_MAX = float(np.finfo(np.float32).max)


def _word(v, bits, name, what):
    """v as a Python int in [0, 2**bits) (the binding's checks, word for word)."""
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError("%s: %s must be an integer, got %r" % (what, name, v)) from None
    if not 0 <= v < (1 << bits):
        raise ValueError("%s: %s must be in [0, 2**%d), got %d" % (what, name, bits, v))
    return v


def _philox_rounds(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10, one block per position: c0..c3 are uint64 arrays that
    hold 32-bit words (updated in place and returned), k0, k1 ints.  uint64
    throughout: a 32x32-bit product is exact, and no word is converted."""
    low, s32 = np.uint64(_U32), np.uint64(32)
    p0, p1 = np.empty_like(c0), np.empty_like(c0)
    for r in range(10):
        if r:
            k0 = (k0 + _PHILOX_W0) & _U32
            k1 = (k1 + _PHILOX_W1) & _U32
        np.multiply(c0, _PHILOX_M0, out=p0)          # (hi0, lo0)
        np.multiply(c2, _PHILOX_M1, out=p1)          # (hi1, lo1)
        np.right_shift(p1, s32, out=c0)              # c0 = hi1 ^ c1 ^ k0
        c0 ^= c1
        c0 ^= np.uint64(k0)
        np.bitwise_and(p1, low, out=c1)              # c1 = lo1
        np.right_shift(p0, s32, out=c2)              # c2 = hi0 ^ c3 ^ k1
        c2 ^= c3
        c2 ^= np.uint64(k1)
        np.bitwise_and(p0, low, out=c3)              # c3 = lo0
    return c0, c1, c2, c3


def philox4x32_10(counter, key):
    """The 4 words (ints) of Philox4x32-10(counter: 4 ints, key: 2 ints)."""
    if len(counter) != 4 or len(key) != 2:
        raise ValueError("philox4x32_10: counter has 4 words and key 2, got %d and %d"
                         % (len(counter), len(key)))
    c = [np.array([_word(v, 32, "a counter word", "philox4x32_10")], np.uint64)
         for v in counter]
    k = [_word(v, 32, "a key word", "philox4x32_10") for v in key]
    return tuple(int(w[0]) for w in _philox_rounds(*c, *k))


def _check_rate(rate, what):
    if not 0.0 <= rate < 1.0:
        raise ValueError("%s: the dropout rate must be in [0, 1), got %r" % (what, rate))


def dropout_scale(rate):
    """The inverted-dropout scale, in float32 as the C kernels (and TF) form
    it: ``1 / (1 - float32(rate))``."""
    with np.errstate(divide="ignore"):   # float32(rate) == 1: inf, as in C
        return np.float32(1) / (np.float32(1) - np.float32(rate))


def dropout_mask(shape, rate, seed, step, first=0):
    """The keep mask (bool, ``shape`` = (m, n)) of the dropout kernels:
    element (i, j) is kept iff word (e % 4) of Philox4x32-10 with counter
    (e // 4 as 64 bits, step as 64 bits) and key (seed as 64 bits), where
    e = first + i*n + j, is >= ceil(rate * 2**32) (src_c/philox.h)."""
    _check_rate(rate, "dropout_mask")
    seed = _word(seed, 64, "seed", "dropout_mask")
    step = _word(step, 64, "step", "dropout_mask")
    first = _word(first, 64, "first", "dropout_mask")
    m, n = shape
    count = m * n
    threshold = math.ceil(rate * 4294967296.0)   # exact: a power-of-two scaling
    if threshold == 0:
        return np.ones(shape, bool)
    lead = first & 3
    b0 = first >> 2
    blocks = np.uint64(b0) + np.arange((lead + count + 3) // 4, dtype=np.uint64)
    words = _philox_rounds(blocks & np.uint64(_U32), blocks >> np.uint64(32),
                           np.full(blocks.shape, step & _U32, np.uint64),
                           np.full(blocks.shape, step >> 32, np.uint64),
                           seed & _U32, seed >> 32)
    u = np.stack(words, axis=1).reshape(-1)[lead:lead + count]   # counter order
    return (u >= np.uint64(threshold)).reshape(shape)   # threshold <= 2**32


def dropout_forward_f32(x, out, rate, seed, step, nthreads=1, first=0):
    """out = x * dropout_scale(rate) where dropout_mask keeps, else 0."""
    _check_rate(rate, "dropout_forward_f32")
    keep = dropout_mask(x.shape, rate, seed, step, first)
    out[...] = np.where(keep, x * dropout_scale(rate), np.float32(0))
    return out


def dropout_backward_f32(grad, out, rate, seed, step, nthreads=1, first=0):
    """out = grad * dropout_scale(rate) where the forward kept, else 0."""
    _check_rate(rate, "dropout_backward_f32")
    keep = dropout_mask(grad.shape, rate, seed, step, first)
    out[...] = np.where(keep, grad * dropout_scale(rate), np.float32(0))
    return out


def relu_dropout_backward_f32(grad, y, out, rate, bias_grad=None, nthreads=1):
    """Dropout after relu, backward: out = grad * scale where the dropout
    output y > 0, else 0; bias_grad (optional) = column sums of out."""
    _check_rate(rate, "relu_dropout_backward_f32")
    out[...] = np.where(y > 0, grad * dropout_scale(rate), np.float32(0))
    if bias_grad is not None:
        np.sum(out, axis=0, out=bias_grad)
    return out


def l1l2_penalty_grad_f32(w, grad, l1, l2, nthreads=1):
    """Returns l1*sum|w| + l2*sum(w**2) (float64 sums; only the terms with a
    nonzero factor); grad (None: penalty only) += float32(l1)*sign(w) +
    float32(2*l2)*w, the same terms, in float32 as the C kernel."""
    if not 0.0 <= l1 <= _F32_MAX:
        raise ValueError("l1l2_penalty_grad_f32: l1 must be finite and >= 0 "
                         "(float32), got %r" % l1)
    if not 0.0 <= l2 <= _F32_MAX / 2:
        raise ValueError("l1l2_penalty_grad_f32: l2 must be finite and >= 0 "
                         "(2*l2 a float32), got %r" % l2)
    has1, has2 = l1 != 0, l2 != 0
    if w.size == 0 or not (has1 or has2):
        return 0.0
    if grad is not None:
        c1, c2 = np.float32(l1), np.float32(2.0 * l2)
        if has1 and has2:
            grad += c1 * np.sign(w) + c2 * w
        elif has1:
            grad += c1 * np.sign(w)
        else:
            grad += c2 * w
    w64 = w.astype(np.float64)
    penalty = 0.0
    if has1:
        penalty += float(l1) * float(np.abs(w64).sum())
    if has2:
        penalty += float(l2) * float(np.square(w64).sum())
    return penalty


# ---- activations and losses (activations.c, losses.c) ----------------------
# Each twin evaluates the formula of fastdense.h in float64 from the float32
# inputs and rounds once into the float32 output: the readable truth the C
# kernels (float32 arithmetic, a few ulps) are held to.  Limits at +-inf are
# the function's (never inf * 0 = NaN), NaN stays NaN.

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
# scale * alpha rounded to float32, as the kernel has it: y + scale*alpha is
# then exactly 0 where y is the kernel's -scale*alpha (z -> -inf)
_SELU_SA32 = float(np.float32(_SELU_SCALE * _SELU_ALPHA))
_GELU_K2 = 2.0 * np.sqrt(2.0 / np.pi)
_GELU_K1 = 0.044715
_LOSS_EPSILON = 1e-7


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _param(value):
    """A parameter as the C kernel sees it: rounded to float32."""
    return float(np.float32(value))


def _store(out, values):
    with np.errstate(over="ignore"):
        out[...] = values
    return out


def _backward(grad, deriv, out):
    # the derivative is a float32 quantity, as in the kernel: one that
    # underflows to 0 makes an infinite gradient NaN there too
    with np.errstate(over="ignore", invalid="ignore"):
        d32 = np.asarray(deriv).astype(np.float32).astype(np.float64)
        return _store(out, _f64(grad) * d32)


# The activation twins run tile by tile (8192 elements): a whole 128 x 512
# batch in float64 makes temporaries of 512 KB, which malloc maps and unmaps
# on every call, and the page faults cost 10x the arithmetic (measured:
# exp(-|z|) 57 us with buffers, 566 us with fresh temporaries).
_TILE = 8192


def _tiled(n_in):
    """Apply an elementwise twin (n_in input arrays, then out) per tile."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            arrays, rest = args[:n_in + 1], args[n_in + 1:]
            out = arrays[-1]
            m, n = out.shape
            if m * n <= _TILE:
                return fn(*args, **kwargs)
            cols = min(n, _TILE)
            rows = max(1, _TILE // cols)
            for r0 in range(0, m, rows):
                for c0 in range(0, n, cols):
                    tile = np.s_[r0:r0 + rows, c0:c0 + cols]
                    fn(*(a[tile] for a in arrays), *rest, **kwargs)
            return out
        return wrapper
    return deco


def _nonneg(value, what):
    if not value >= 0:
        raise ValueError("%s: alpha must be >= 0, got %r (the gradient is computed "
                         "from the output, which needs it)" % (what, value))


def _sigmoid2(t):
    """(s(t), s(t)(1 - s(t))) in float64 without overflow: e = exp(-|t|),
    a = 1/(1 + e), s = a (t >= 0) or e a (t < 0), s(1 - s) = e a^2."""
    e = np.exp(-np.abs(t))
    a = 1.0 / (1.0 + e)
    # (a select by arithmetic: np.where on a random mask mispredicts a branch
    # per element, 5 ns each)
    ea = e * a
    s = ea + (t >= 0) * (a - ea)        # exactly e a for t < 0 (no 1 + (e - 1))
    return s, ea * a


def _limit(values, where, limit):
    """values with ``limit`` at the (rare) positions ``where``."""
    np.copyto(values, limit, where=where)
    return values


def normal_cdf_pdf(x):
    """Phi(x) and phi(x) of the standard normal in float64 (erfc by the
    Chebyshev fit of Numerical Recipes, fractional error < 1.2e-7)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    half_erfc = 0.5 * t * np.exp(-z * z + poly)
    cdf = half_erfc + (x >= 0) * (1.0 - 2.0 * half_erfc)   # 1 - half_erfc for x >= 0
    pdf = np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
    return cdf, pdf


def _times_limit(z, s):
    """z * s, with the limit -0 where s == 0 (z = -inf included)."""
    with np.errstate(invalid="ignore"):
        return _limit(z * s, s == 0, -0.0)


@_tiled(1)
def elu_f32(x, out, alpha=1.0, nthreads=1):
    """out = x > 0 ? x : alpha (exp(x) - 1)."""
    z, alpha = _f64(x), _param(alpha)
    return _store(out, alpha * np.expm1(np.minimum(z, 0)) + np.maximum(z, 0))


@_tiled(2)
def elu_backward_f32(grad, y, out, alpha=1.0, nthreads=1):
    """out = grad * (y > 0 ? 1 : y + alpha), y the elu output (alpha >= 0)."""
    _nonneg(alpha, "elu_backward_f32")
    y = _f64(y)
    return _backward(grad, (y > 0) + (y <= 0) * (np.minimum(y, 0) + _param(alpha)), out)


@_tiled(1)
def selu_f32(x, out, nthreads=1):
    """out = scale * (x > 0 ? x : alpha (exp(x) - 1)), Keras's constants."""
    z = _f64(x)
    return _store(out, _SELU_SCALE * (_SELU_ALPHA * np.expm1(np.minimum(z, 0))
                                      + np.maximum(z, 0)))


@_tiled(2)
def selu_backward_f32(grad, y, out, nthreads=1):
    """out = grad * (y > 0 ? scale : y + scale * alpha), y the selu output."""
    y = _f64(y)
    return _backward(grad, (y > 0) * _SELU_SCALE + (y <= 0) * (np.minimum(y, 0) + _SELU_SA32),
                     out)


@_tiled(1)
def gelu_f32(x, out, nthreads=1):
    """out = x Phi(x) (Keras 3 gelu, approximate=False)."""
    z = _f64(x)
    cdf, _ = normal_cdf_pdf(z)
    return _store(out, _times_limit(z, cdf))


@_tiled(2)
def gelu_backward_f32(grad, z, out, nthreads=1):
    """out = grad * (Phi(z) + z phi(z)), z the pre-activation."""
    z = _f64(z)
    cdf, pdf = normal_cdf_pdf(z)
    with np.errstate(invalid="ignore"):
        term = _limit(z * pdf, pdf == 0, 0.0)
    return _backward(grad, cdf + term, out)


def _gelu_tanh_arg(z):
    with np.errstate(over="ignore", invalid="ignore"):
        return _GELU_K2 * (z + _GELU_K1 * (z * z * z))


@_tiled(1)
def gelu_tanh_f32(x, out, nthreads=1):
    """out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = x s(2u)."""
    z = _f64(x)
    s, _ = _sigmoid2(_gelu_tanh_arg(z))
    return _store(out, _times_limit(z, s))


@_tiled(2)
def gelu_tanh_backward_f32(grad, z, out, nthreads=1):
    """out = grad * (s + z (2u)' s (1 - s)), z the pre-activation."""
    z = _f64(z)
    s, ds = _sigmoid2(_gelu_tanh_arg(z))
    with np.errstate(over="ignore", invalid="ignore"):
        du = _GELU_K2 * (1.0 + 3.0 * _GELU_K1 * z * z)
        term = _limit(z * du * ds, ds == 0, 0.0)
    return _backward(grad, s + term, out)


@_tiled(1)
def leaky_relu_f32(x, out, alpha=0.2, nthreads=1):
    """out = x > 0 ? x : alpha x."""
    z = _f64(x)
    with np.errstate(invalid="ignore"):
        return _store(out, np.maximum(z, 0) + _param(alpha) * np.minimum(z, 0))


@_tiled(2)
def leaky_relu_backward_f32(grad, y, out, alpha=0.2, nthreads=1):
    """out = grad * (y > 0 ? 1 : alpha), y the output (alpha >= 0)."""
    _nonneg(alpha, "leaky_relu_backward_f32")
    alpha = _param(alpha)
    return _backward(grad, alpha + (_f64(y) > 0) * (1.0 - alpha), out)


@_tiled(1)
def softplus_f32(x, out, nthreads=1):
    """out = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))."""
    z = _f64(x)
    return _store(out, np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))))


@_tiled(2)
def softplus_backward_f32(grad, y, out, nthreads=1):
    """out = grad * sigmoid(z) = grad * (1 - exp(-y)), y the softplus output."""
    return _backward(grad, -np.expm1(-_f64(y)), out)


@_tiled(1)
def swish_f32(x, out, nthreads=1):
    """out = x sigmoid(x) (silu)."""
    z = _f64(x)
    s, _ = _sigmoid2(z)
    return _store(out, _times_limit(z, s))


@_tiled(2)
def swish_backward_f32(grad, z, out, nthreads=1):
    """out = grad * (s + z s (1 - s)), z the pre-activation."""
    z = _f64(z)
    s, ds = _sigmoid2(z)
    with np.errstate(invalid="ignore"):
        term = _limit(z * ds, ds == 0, 0.0)
    return _backward(grad, s + term, out)


@_tiled(1)
def exponential_f32(x, out, nthreads=1):
    """out = exp(x)."""
    with np.errstate(over="ignore"):
        return _store(out, np.exp(_f64(x)))


@_tiled(2)
def exponential_backward_f32(grad, y, out, nthreads=1):
    """out = grad * y, y the exponential output."""
    return _backward(grad, _f64(y), out)


@_tiled(1)
def hard_sigmoid_f32(x, out, slope=0.2, nthreads=1):
    """out = clip(slope x + 0.5, 0, 1) (Keras 2.3: slope 0.2; Keras 3: 1/6)."""
    return _store(out, np.clip(_param(slope) * _f64(x) + 0.5, 0.0, 1.0))


@_tiled(2)
def hard_sigmoid_backward_f32(grad, y, out, slope=0.2, nthreads=1):
    """out = grad * (0 < y < 1 ? slope : 0), y the output (NaN: slope)."""
    y = _f64(y)
    return _backward(grad, _param(slope) * ~((y <= 0) | (y >= 1)), out)


@_tiled(1)
def softsign_f32(x, out, nthreads=1):
    """out = x / (1 + |x|)."""
    z = _f64(x)
    inf = np.isinf(z)
    with np.errstate(invalid="ignore"):
        return _store(out, _limit(z / (1.0 + np.abs(z)), inf, np.sign(z)))


@_tiled(2)
def softsign_backward_f32(grad, z, out, nthreads=1):
    """out = grad / (1 + |z|)^2, z the pre-activation."""
    a = 1.0 / (1.0 + np.abs(_f64(z)))
    return _backward(grad, a * a, out)


@_tiled(1)
def sigmoid_f32(x, out, nthreads=1):
    """out = 1 / (1 + exp(-x)), without overflow."""
    s, _ = _sigmoid2(_f64(x))
    return _store(out, s)


@_tiled(2)
def sigmoid_backward_f32(grad, y, out, nthreads=1):
    """out = grad * y (1 - y), y the sigmoid output."""
    y = _f64(y)
    return _backward(grad, y * (1.0 - y), out)


@_tiled(1)
def tanh_f32(x, out, nthreads=1):
    """out = tanh(x)."""
    return _store(out, np.tanh(_f64(x)))


@_tiled(2)
def tanh_backward_f32(grad, y, out, nthreads=1):
    """out = grad * (1 - y^2), y the tanh output."""
    y = _f64(y)
    return _backward(grad, 1.0 - y * y, out)


def _check_weights(weights, m):
    if weights is not None and len(weights) != m:
        raise ValueError("%d weights for %d rows" % (len(weights), m))


def _loss_finish(rows, deriv, grad, scale, weights, per_col):
    """sum_i w_i rows_i, and grad = scale * w_i * per_col * deriv (in the
    kernel's order of operations)."""
    if weights is None:
        total = rows.sum()
        gscale = np.float64(np.float32(scale)) * per_col
    else:
        w = np.asarray(weights, np.float64)
        total = (w * rows).sum()
        gscale = (np.float64(np.float32(scale)) * w * per_col)[:, None]
    if grad is not None:
        with np.errstate(invalid="ignore", over="ignore"):
            grad[...] = gscale * deriv
    return float(total)


def loss_rows(kind, y_pred, target, delta=1.0):
    """Per-sample losses (float64 (m,)) and the element derivatives d loss /
    d y_pred (float64 (m, n), before the 1/n of the means) of a regression
    loss: kind is 'mse', 'mae', 'huber', 'log_cosh' or 'kld'."""
    p, t = _f64(y_pred), _f64(target)
    n = p.shape[1]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        e = p - t
        if kind == "mse":
            elem, d = e * e, 2.0 * e
        elif kind == "mae":
            elem, d = np.abs(e), np.sign(e)
        elif kind == "huber":
            delta = _param(delta)
            a = np.abs(e)
            q = np.minimum(a, delta)
            elem = 0.5 * q * q + delta * (a - q)
            d = np.where(a <= delta, e, delta * np.sign(e))
        elif kind == "log_cosh":
            a = np.abs(e)
            elem = np.where(a < 1e-3, e * e * (0.5 - e * e / 12.0),
                            a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0))
            d = np.tanh(e)
        elif kind == "kld":
            tc = np.clip(t, _LOSS_EPSILON, 1.0)
            pc = np.clip(p, _LOSS_EPSILON, 1.0)
            elem = tc * np.log(tc / pc)
            d = np.where((p < _LOSS_EPSILON) | (p > 1.0), 0.0, -tc / pc)
        else:
            raise ValueError(kind)
        per_col = 1.0 if kind == "kld" else 1.0 / max(n, 1)
        rows = elem.sum(axis=1) * per_col
    return rows, d, per_col


def _regression_loss(kind, y_pred, target, grad, scale, weights, delta=1.0):
    _check_weights(weights, y_pred.shape[0])
    if y_pred.shape[1] == 0:
        return 0.0
    rows, d, per_col = loss_rows(kind, y_pred, target, delta)
    return _loss_finish(rows, d, grad, scale, weights, per_col)


def mse_loss_f32(y_pred, target, grad=None, scale=1.0, weights=None, nthreads=1):
    """sum_i w_i mean_j (p - t)^2; grad = scale w_i 2 (p - t) / n."""
    return _regression_loss("mse", y_pred, target, grad, scale, weights)


def mae_loss_f32(y_pred, target, grad=None, scale=1.0, weights=None, nthreads=1):
    """sum_i w_i mean_j |p - t|; grad = scale w_i sign(p - t) / n."""
    return _regression_loss("mae", y_pred, target, grad, scale, weights)


def huber_loss_f32(y_pred, target, grad=None, scale=1.0, weights=None, delta=1.0,
                   nthreads=1):
    """sum_i w_i mean_j huber(p - t; delta)."""
    if not (delta > 0 and np.isfinite(delta)):
        raise ValueError("huber_loss_f32: delta must be a positive number, got %r"
                         % (delta,))
    return _regression_loss("huber", y_pred, target, grad, scale, weights, delta)


def log_cosh_loss_f32(y_pred, target, grad=None, scale=1.0, weights=None, nthreads=1):
    """sum_i w_i mean_j log(cosh(p - t)); grad = scale w_i tanh(p - t) / n."""
    return _regression_loss("log_cosh", y_pred, target, grad, scale, weights)


def kld_loss_f32(y_pred, target, grad=None, scale=1.0, weights=None, nthreads=1):
    """sum_i w_i sum_j t log(t / p), t and p clipped to [1e-7, 1]."""
    return _regression_loss("kld", y_pred, target, grad, scale, weights)


def sigmoid_bce_rows(logits, target, label_smoothing=0.0):
    """Per-sample binary cross-entropies from logits (float64 (m,)), the
    probabilities and the smoothed targets (float64 (m, n))."""
    z, y = _f64(logits), _f64(target)
    ls = _param(label_smoothing)
    t = y * (1.0 - ls) + 0.5 * ls
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(-np.abs(z))
        a = np.where(z >= 0, 1.0 - t, -t)
        elem = np.where(a == 0, 0.0, a * z) + np.log1p(e)
        s = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return elem.sum(axis=1) / max(z.shape[1], 1), s, t


def sigmoid_bce_f32(logits, target, probs=None, grad=None, scale=1.0, nthreads=1,
                    weights=None, label_smoothing=0.0):
    """Sigmoid + binary cross-entropy from logits: returns (loss_sum, n_correct).

    t = y (1 - ls) + 0.5 ls; loss_sum = sum_i w_i mean_j (max(z, 0) - z t +
    log1p(exp(-|z|))); probs = sigmoid(z); grad = scale w_i / n (p - t);
    n_correct = the entries with round(p) == y (y == 1 and z > 0, or y == 0
    and z <= 0).
    """
    m, n = logits.shape
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError("label_smoothing must be in [0, 1], got %r" % (label_smoothing,))
    _check_weights(weights, m)
    if n == 0:
        return 0.0, 0
    rows, s, t = sigmoid_bce_rows(logits, target, label_smoothing)
    # before any output is written: probs or grad may be the logits
    y, z = np.asarray(target), np.asarray(logits)
    hits = int(np.count_nonzero(((y == 1) & (z > 0)) | ((y == 0) & (z <= 0))))
    if probs is not None:
        probs[...] = s
    with np.errstate(invalid="ignore"):
        total = _loss_finish(rows, s - t, grad, scale, weights, 1.0 / n)
    return total, hits
