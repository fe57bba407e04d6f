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
