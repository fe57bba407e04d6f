# cython: language_level=3
"""Thin Cython bindings of the C kernels (src_c/fastdense.h).

Glue only: each function takes typed memoryviews (any strides), checks that
the shapes agree (so that a wrong call is a ValueError, never a bad memory
access), releases the GIL and calls one ``fd_*`` function.  Choosing between
C and NumPy, dtype promotion and NumPy's exact semantics live in ops.py.
Signatures match fastdense/reference.py name for name.

IN: read-only arrays are declared ``const``.  OUT: outputs are filled in place
and returned.
"""
from libc.stdint cimport int64_t

cdef extern from "fastdense.h" nogil:
    ctypedef Py_ssize_t fd_index
    int FD_OK, FD_EINVAL, FD_ENOMEM
    int fd_simd_level()
    const char *fd_simd_name()
    int fd_openmp_enabled()
    int fd_sgemm(fd_index m, fd_index n, fd_index k, float alpha,
                 const float *a, fd_index rs_a, fd_index cs_a,
                 const int64_t *a_rows, const int64_t *a_cols,
                 const float *b, fd_index rs_b, fd_index cs_b,
                 float beta, float *c, fd_index rs_c, fd_index cs_c,
                 const float *bias, fd_index inc_bias, int relu, int nthreads)
    int fd_add_f32(fd_index m, fd_index n,
                   const float *x, fd_index rs_x, fd_index cs_x,
                   const float *y, fd_index rs_y, fd_index cs_y,
                   float *out, fd_index rs_o, fd_index cs_o, int nthreads)
    int fd_relu_f32(fd_index m, fd_index n,
                    const float *x, fd_index rs_x, fd_index cs_x,
                    float *out, fd_index rs_o, fd_index cs_o, int nthreads)
    int fd_relu_backward_f32(fd_index m, fd_index n,
                             const float *grad, fd_index rs_g, fd_index cs_g,
                             const float *y, fd_index rs_y, fd_index cs_y,
                             float *out, fd_index rs_o, fd_index cs_o,
                             float *bias_grad, fd_index inc_bg, int nthreads)
    int fd_bias_grad_f32(fd_index m, fd_index n,
                         const float *grad, fd_index rs_g, fd_index cs_g,
                         float *out, fd_index inc_o, int nthreads)
    int fd_softmax_f32(fd_index m, fd_index n,
                       const float *x, fd_index rs_x, fd_index cs_x,
                       float *out, fd_index rs_o, fd_index cs_o, int nthreads)
    int fd_softmax_xent_f32(fd_index m, fd_index n,
                            const float *logits, fd_index rs_x, fd_index cs_x,
                            const float *y, fd_index rs_y, fd_index cs_y,
                            const int64_t *labels,
                            float *probs, fd_index rs_p, fd_index cs_p,
                            float *grad, fd_index rs_g, fd_index cs_g,
                            float scale, double *loss_sum, int64_t *n_correct,
                            int nthreads)
    int fd_rmsprop_update_f32(fd_index m, fd_index n,
                              float *param, fd_index rs_p, fd_index cs_p,
                              const float *grad, fd_index rs_g, fd_index cs_g,
                              float *accum, fd_index rs_a, fd_index cs_a,
                              float lr, float rho, float eps, int nthreads)
    int fd_sgd_update_f32(fd_index m, fd_index n,
                          float *param, fd_index rs_p, fd_index cs_p,
                          const float *grad, fd_index rs_g, fd_index cs_g,
                          float *velocity, fd_index rs_v, fd_index cs_v,
                          float lr, float momentum, int nesterov, int nthreads)
    int fd_adam_update_f32(fd_index m, fd_index n,
                           float *param, fd_index rs_p, fd_index cs_p,
                           const float *grad, fd_index rs_g, fd_index cs_g,
                           float *m1, fd_index rs_m, fd_index cs_m,
                           float *v2, fd_index rs_v, fd_index cs_v,
                           float lr_t, float beta1, float beta2, float eps,
                           int nthreads)


# ---- helpers: element strides and checks --------------------------------

cdef inline fd_index _es(Py_ssize_t byte_stride) except? -1:
    if byte_stride % <Py_ssize_t>sizeof(float):
        raise ValueError("array strides must be whole float32 elements; "
                         "pass np.ascontiguousarray(x)")
    return byte_stride // <Py_ssize_t>sizeof(float)


cdef inline int _check(int status, str what) except -1:
    if status == FD_OK:
        return 0
    if status == FD_ENOMEM:
        raise MemoryError("%s: could not allocate its workspace" % what)
    raise ValueError("%s: invalid argument" % what)


cdef inline int _same_shape(const float[:, :] a, const float[:, :] b,
                            str what) except -1:
    if a.shape[0] != b.shape[0] or a.shape[1] != b.shape[1]:
        raise ValueError("%s: shapes (%d, %d) and (%d, %d) differ"
                         % (what, a.shape[0], a.shape[1], b.shape[0], b.shape[1]))
    return 0


cdef inline const int64_t[:] _unit(const int64_t[:] idx):
    """idx itself when its elements are adjacent, else a compact copy (the C
    kernels read index arrays as plain int64 vectors)."""
    if idx is None or idx.shape[0] < 2 or idx.strides[0] == sizeof(int64_t):
        return idx
    return idx.copy()


cdef inline int _check_index(const int64_t[:] idx, Py_ssize_t bound,
                             str what) except -1:
    cdef Py_ssize_t i
    for i in range(idx.shape[0]):
        if idx[i] < 0 or idx[i] >= bound:
            raise ValueError("%s: index %d out of range [0, %d)"
                             % (what, idx[i], bound))
    return 0


def simd_name():
    """'avx512', 'avx2' or 'generic': the GEMM micro-kernel chosen at run time."""
    return fd_simd_name().decode("ascii")


def openmp_enabled():
    return bool(fd_openmp_enabled())


# ---- kernels -------------------------------------------------------------

def sgemm(const float[:, :] a, const float[:, :] b, float[:, :] c,
          float alpha=1.0, float beta=0.0, const float[:] bias=None,
          bint relu=False, const int64_t[:] a_rows=None,
          const int64_t[:] a_cols=None, int nthreads=1):
    """OUT c = alpha * a[a_rows][:, a_cols] @ b + beta * c (+ bias) (relu)."""
    cdef Py_ssize_t m = a.shape[0] if a_rows is None else a_rows.shape[0]
    cdef Py_ssize_t k = a.shape[1] if a_cols is None else a_cols.shape[0]
    cdef Py_ssize_t n = b.shape[1]
    if b.shape[0] != k or c.shape[0] != m or c.shape[1] != n:
        raise ValueError("sgemm: A is (%d, %d), B is (%d, %d), C is (%d, %d)"
                         % (m, k, b.shape[0], n, c.shape[0], c.shape[1]))
    if bias is not None and bias.shape[0] != n:
        raise ValueError("sgemm: bias has %d entries, C has %d columns"
                         % (bias.shape[0], n))
    if a_rows is not None:
        a_rows = _unit(a_rows)
        _check_index(a_rows, a.shape[0], "sgemm a_rows")
    if a_cols is not None:
        a_cols = _unit(a_cols)
        _check_index(a_cols, a.shape[1], "sgemm a_cols")
    cdef fd_index rs_a = _es(a.strides[0]), cs_a = _es(a.strides[1])
    cdef fd_index rs_b = _es(b.strides[0]), cs_b = _es(b.strides[1])
    cdef fd_index rs_c = _es(c.strides[0]), cs_c = _es(c.strides[1])
    cdef const float *bp = NULL
    cdef fd_index inc_bias = 0
    cdef const int64_t *rp = NULL
    cdef const int64_t *cp = NULL
    if bias is not None:
        bp = &bias[0] if n else NULL
        inc_bias = _es(bias.strides[0])
    if a_rows is not None and m:
        rp = &a_rows[0]
    if a_cols is not None and k:
        cp = &a_cols[0]
    cdef int status
    with nogil:
        status = fd_sgemm(m, n, k, alpha, &a[0, 0], rs_a, cs_a, rp, cp,
                          &b[0, 0], rs_b, cs_b, beta, &c[0, 0], rs_c, cs_c,
                          bp, inc_bias, relu, nthreads)
    _check(status, "sgemm")
    return c.base


def add_f32(const float[:, :] x, const float[:, :] y, float[:, :] out,
            int nthreads=1):
    """OUT out = x + y (broadcasts come as stride-0 views)."""
    _same_shape(x, y, "add_f32")
    _same_shape(x, out, "add_f32")
    cdef fd_index rx = _es(x.strides[0]), cx = _es(x.strides[1])
    cdef fd_index ry = _es(y.strides[0]), cy = _es(y.strides[1])
    cdef fd_index ro = _es(out.strides[0]), co = _es(out.strides[1])
    cdef int status
    with nogil:
        status = fd_add_f32(x.shape[0], x.shape[1], &x[0, 0], rx, cx,
                            &y[0, 0], ry, cy, &out[0, 0], ro, co, nthreads)
    _check(status, "add_f32")
    return out.base


def relu_f32(const float[:, :] x, float[:, :] out, int nthreads=1):
    """OUT out = max(x, 0), NaN stays NaN."""
    _same_shape(x, out, "relu_f32")
    cdef fd_index rx = _es(x.strides[0]), cx = _es(x.strides[1])
    cdef fd_index ro = _es(out.strides[0]), co = _es(out.strides[1])
    cdef int status
    with nogil:
        status = fd_relu_f32(x.shape[0], x.shape[1], &x[0, 0], rx, cx,
                             &out[0, 0], ro, co, nthreads)
    _check(status, "relu_f32")
    return out.base


def relu_backward_f32(const float[:, :] grad, const float[:, :] y,
                      float[:, :] out, float[:] bias_grad=None, int nthreads=1):
    """OUT out = grad where y > 0 else 0; OUT bias_grad = column sums of out."""
    _same_shape(grad, y, "relu_backward_f32")
    _same_shape(grad, out, "relu_backward_f32")
    cdef float *bg = NULL
    cdef fd_index inc = 0
    if bias_grad is not None:
        if bias_grad.shape[0] != grad.shape[1]:
            raise ValueError("relu_backward_f32: bias_grad has %d entries, "
                             "grad has %d columns"
                             % (bias_grad.shape[0], grad.shape[1]))
        bg = &bias_grad[0]
        inc = _es(bias_grad.strides[0])
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index ry = _es(y.strides[0]), cy = _es(y.strides[1])
    cdef fd_index ro = _es(out.strides[0]), co = _es(out.strides[1])
    cdef int status
    with nogil:
        status = fd_relu_backward_f32(grad.shape[0], grad.shape[1],
                                      &grad[0, 0], rg, cg, &y[0, 0], ry, cy,
                                      &out[0, 0], ro, co, bg, inc, nthreads)
    _check(status, "relu_backward_f32")
    return out.base


def bias_grad_f32(const float[:, :] grad, float[:] out, int nthreads=1):
    """OUT out[j] = sum_i grad[i, j]."""
    if out.shape[0] != grad.shape[1]:
        raise ValueError("bias_grad_f32: out has %d entries, grad has %d columns"
                         % (out.shape[0], grad.shape[1]))
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index inc = _es(out.strides[0])
    cdef int status
    with nogil:
        status = fd_bias_grad_f32(grad.shape[0], grad.shape[1], &grad[0, 0],
                                  rg, cg, &out[0], inc, nthreads)
    _check(status, "bias_grad_f32")
    return out.base


def softmax_f32(const float[:, :] x, float[:, :] out, int nthreads=1):
    """OUT out = row softmax of x (max-subtracted)."""
    _same_shape(x, out, "softmax_f32")
    cdef fd_index rx = _es(x.strides[0]), cx = _es(x.strides[1])
    cdef fd_index ro = _es(out.strides[0]), co = _es(out.strides[1])
    cdef int status
    with nogil:
        status = fd_softmax_f32(x.shape[0], x.shape[1], &x[0, 0], rx, cx,
                                &out[0, 0], ro, co, nthreads)
    _check(status, "softmax_f32")
    return out.base


def softmax_xent_f32(const float[:, :] logits, target, float[:, :] probs=None,
                     float[:, :] grad=None, float scale=1.0, int nthreads=1):
    """Softmax + cross-entropy; returns (loss_sum, n_correct).

    IN target: float32 (m, n) distribution or int64 (m,) class labels.
    OUT probs, grad (optional): softmax and (softmax - y) * scale.
    """
    cdef Py_ssize_t m = logits.shape[0], n = logits.shape[1]
    cdef const float[:, :] y = None
    cdef const int64_t[:] labels = None
    cdef const float *yp = NULL
    cdef const int64_t *lp = NULL
    cdef fd_index ry = 0, cy = 0
    if getattr(target, "ndim", 0) == 1:
        labels = _unit(target)
        if labels.shape[0] != m:
            raise ValueError("softmax_xent_f32: %d labels for %d rows"
                             % (labels.shape[0], m))
        if m:
            lp = &labels[0]
    else:
        y = target
        _same_shape(logits, y, "softmax_xent_f32")
        yp = &y[0, 0]
        ry = _es(y.strides[0])
        cy = _es(y.strides[1])
    cdef float *pp = NULL
    cdef float *gp = NULL
    cdef fd_index rp = 0, cp = 0, rg = 0, cg = 0
    if probs is not None:
        _same_shape(logits, probs, "softmax_xent_f32")
        pp = &probs[0, 0]
        rp = _es(probs.strides[0])
        cp = _es(probs.strides[1])
    if grad is not None:
        _same_shape(logits, grad, "softmax_xent_f32")
        gp = &grad[0, 0]
        rg = _es(grad.strides[0])
        cg = _es(grad.strides[1])
    cdef fd_index rx = _es(logits.strides[0]), cx = _es(logits.strides[1])
    cdef double loss = 0.0
    cdef int64_t hits = 0
    cdef int status
    with nogil:
        status = fd_softmax_xent_f32(m, n, &logits[0, 0], rx, cx, yp, ry, cy,
                                     lp, pp, rp, cp, gp, rg, cg, scale,
                                     &loss, &hits, nthreads)
    if status == FD_EINVAL and lp != NULL:
        raise ValueError("softmax_xent_f32: labels must be in [0, %d)" % n)
    _check(status, "softmax_xent_f32")
    return float(loss), int(hits)


def rmsprop_update_f32(float[:, :] param, const float[:, :] grad,
                       float[:, :] accum, float lr, float rho, float eps,
                       int nthreads=1):
    """OUT param, accum updated in place (RMSprop, eps outside the root)."""
    _same_shape(param, grad, "rmsprop_update_f32")
    _same_shape(param, accum, "rmsprop_update_f32")
    cdef fd_index rp = _es(param.strides[0]), cp = _es(param.strides[1])
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index ra = _es(accum.strides[0]), ca = _es(accum.strides[1])
    cdef int status
    with nogil:
        status = fd_rmsprop_update_f32(param.shape[0], param.shape[1],
                                       &param[0, 0], rp, cp, &grad[0, 0], rg, cg,
                                       &accum[0, 0], ra, ca, lr, rho, eps,
                                       nthreads)
    _check(status, "rmsprop_update_f32")
    return param.base


def sgd_update_f32(float[:, :] param, const float[:, :] grad,
                   float[:, :] velocity, float lr, float momentum,
                   bint nesterov, int nthreads=1):
    """OUT param (and velocity) updated in place (Keras 2.3.1 SGD)."""
    _same_shape(param, grad, "sgd_update_f32")
    cdef float *vp = NULL
    cdef fd_index rv = 0, cv = 0
    if velocity is not None:
        _same_shape(param, velocity, "sgd_update_f32")
        vp = &velocity[0, 0]
        rv = _es(velocity.strides[0])
        cv = _es(velocity.strides[1])
    elif momentum != 0:
        raise ValueError("sgd_update_f32: momentum needs a velocity array")
    cdef fd_index rp = _es(param.strides[0]), cp = _es(param.strides[1])
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef int status
    with nogil:
        status = fd_sgd_update_f32(param.shape[0], param.shape[1], &param[0, 0],
                                   rp, cp, &grad[0, 0], rg, cg, vp, rv, cv,
                                   lr, momentum, nesterov, nthreads)
    _check(status, "sgd_update_f32")
    return param.base


def adam_update_f32(float[:, :] param, const float[:, :] grad, float[:, :] m,
                    float[:, :] v, float lr_t, float beta1, float beta2,
                    float eps, int nthreads=1):
    """OUT param, m, v updated in place (Adam with bias-corrected lr_t)."""
    _same_shape(param, grad, "adam_update_f32")
    _same_shape(param, m, "adam_update_f32")
    _same_shape(param, v, "adam_update_f32")
    cdef fd_index rp = _es(param.strides[0]), cp = _es(param.strides[1])
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index rm = _es(m.strides[0]), cm = _es(m.strides[1])
    cdef fd_index rv = _es(v.strides[0]), cv = _es(v.strides[1])
    cdef int status
    with nogil:
        status = fd_adam_update_f32(param.shape[0], param.shape[1], &param[0, 0],
                                    rp, cp, &grad[0, 0], rg, cg, &m[0, 0], rm, cm,
                                    &v[0, 0], rv, cv, lr_t, beta1, beta2, eps,
                                    nthreads)
    _check(status, "adam_update_f32")
    return param.base


# ---- sparse inputs (CSR x dense): fd_csr_* and fd_csrmm_f32 ----------------
# CSR arrays: indptr int64 (absolute offsets), indices int32, values float32,
# all 1-D and contiguous.  Each binding checks that [indptr[0], indptr[-1])
# lies inside indices/values (the C kernels check the rest: a decreasing
# indptr or an index out of range is FD_EINVAL, a ValueError here).

from libc.stdint cimport int32_t

cdef extern from "fastdense.h" nogil:
    int fd_csr_check(fd_index m, fd_index k, const int64_t *indptr,
                     const int32_t *indices, int nthreads)
    int fd_csr_from_dense_f32(fd_index m, fd_index n, const float *x,
                              fd_index rs_x, fd_index cs_x, int64_t *indptr,
                              int32_t *indices, float *values, int64_t capacity,
                              int nthreads)
    int fd_csr_gather(fd_index m, const int64_t *rows, fd_index src_m,
                      const int64_t *src_indptr, const int32_t *src_indices,
                      const float *src_values, int64_t *out_indptr,
                      int32_t *out_indices, float *out_values, int64_t capacity,
                      int nthreads)
    fd_index FD_CSR_TRANSPOSE_WORK(fd_index k, int nthreads)
    int fd_csr_transpose(fd_index m, fd_index k, const int64_t *indptr,
                         const int32_t *indices, const float *values,
                         int64_t *out_indptr, int32_t *out_indices,
                         float *out_values, int64_t *work, int nthreads)
    int fd_csrmm_f32(fd_index m, fd_index n, fd_index k, const int64_t *indptr,
                     const int32_t *indices, const float *values, const float *b,
                     fd_index rs_b, fd_index cs_b, float *c, fd_index rs_c,
                     fd_index cs_c, const float *bias, fd_index inc_bias,
                     int relu, int nthreads)
    int fd_csrtmm_f32(fd_index m, fd_index n, fd_index k, const int64_t *indptr,
                      const int32_t *indices, const float *values, const float *b,
                      fd_index rs_b, fd_index cs_b, float *c, fd_index rs_c,
                      fd_index cs_c, int nthreads)


cdef inline const int64_t *_p64(const int64_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] else NULL

cdef inline const int32_t *_p32(const int32_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] else NULL

cdef inline const float *_pf(const float[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] else NULL


cdef inline int _csr_span(const int64_t[::1] indptr, Py_ssize_t n_indices,
                          Py_ssize_t n_values, str what) except -1:
    """indptr is non-empty and [indptr[0], indptr[-1]) lies in both arrays."""
    if indptr.shape[0] < 1:
        raise ValueError("%s: indptr needs at least one entry (m + 1)" % what)
    cdef int64_t lo = indptr[0], hi = indptr[indptr.shape[0] - 1]
    if lo < 0 or hi > n_indices or hi > n_values:
        raise ValueError("%s: indptr spans [%d, %d) but indices/values hold %d/%d "
                         "entries" % (what, lo, hi, n_indices, n_values))
    return 0


def csr_transpose_work_size(Py_ssize_t k, int nthreads=1):
    """int64 elements of the workspace csr_transpose needs (FD_CSR_TRANSPOSE_WORK)."""
    return FD_CSR_TRANSPOSE_WORK(k, nthreads)


def csr_check(const int64_t[::1] indptr not None,
              const int32_t[::1] indices not None, Py_ssize_t k, int nthreads=1):
    """True when indptr[0] >= 0, indptr is non-decreasing, indptr[-1] <=
    len(indices) and every index of the span is in [0, k)."""
    if indptr.shape[0] < 1 or k < 0:
        return False
    if indptr[0] < 0 or indptr[indptr.shape[0] - 1] > indices.shape[0]:
        return False
    cdef int status
    with nogil:
        status = fd_csr_check(indptr.shape[0] - 1, k, &indptr[0], _p32(indices),
                              nthreads)
    return status == FD_OK


def csr_from_dense_f32(const float[:, :] x not None,
                       int64_t[::1] indptr not None, int32_t[::1] indices=None,
                       float[::1] values=None, int nthreads=1):
    """CSR of x (zeros dropped, -0.0 too; NaN/inf kept); returns nnz.

    OUT indptr (m + 1): with indices and values None, the counts (indptr[0]
    = 0, indptr[m] = nnz).  OUT indices, values: given, indptr must be what
    the count call left; the nonzeros of each row in column order.
    """
    cdef Py_ssize_t m = x.shape[0], n = x.shape[1]
    if indptr.shape[0] != m + 1:
        raise ValueError("csr_from_dense_f32: indptr has %d entries, x has %d rows "
                         "(need m + 1)" % (indptr.shape[0], m))
    if (indices is None) != (values is None):
        raise ValueError("csr_from_dense_f32: pass both indices and values "
                         "(fill) or neither (count)")
    cdef fd_index rs = _es(x.strides[0]), cs = _es(x.strides[1])
    cdef int32_t *ip = NULL
    cdef float *vp = NULL
    cdef int64_t cap = 0
    if indices is not None:
        cap = min(indices.shape[0], values.shape[0])
        if indices.shape[0]:
            ip = &indices[0]
        if values.shape[0]:
            vp = &values[0]
        if ip == NULL or vp == NULL:   # zero capacity: any non-NULL marker
            ip = <int32_t *>&indptr[0]
            vp = <float *>&indptr[0]
    cdef int status
    with nogil:
        status = fd_csr_from_dense_f32(m, n, &x[0, 0] if m and n else NULL, rs, cs,
                                       &indptr[0], ip, vp, cap, nthreads)
    if status != FD_OK:
        if n > 2147483648:
            raise ValueError("csr_from_dense_f32: %d columns do not fit int32 "
                             "indices" % n)
        raise ValueError("csr_from_dense_f32: indptr does not hold the counts of x "
                         "(run the count call first) or exceeds the capacity %d"
                         % cap)
    return int(indptr[m] - indptr[0])


def csr_gather(const int64_t[::1] rows not None,
               const int64_t[::1] src_indptr not None,
               const int32_t[::1] src_indices not None,
               const float[::1] src_values not None,
               int64_t[::1] out_indptr not None,
               int32_t[::1] out_indices not None,
               float[::1] out_values not None, int nthreads=1):
    """OUT the rows `rows` of the src CSR as a batch CSR (out_indptr from 0);
    returns its nnz.  ValueError when a row is out of range or the rows
    need more than the capacity of out_indices/out_values."""
    _csr_span(src_indptr, src_indices.shape[0], src_values.shape[0], "csr_gather")
    cdef Py_ssize_t m = rows.shape[0], src_m = src_indptr.shape[0] - 1
    if out_indptr.shape[0] != m + 1:
        raise ValueError("csr_gather: out_indptr has %d entries for %d rows (need "
                         "m + 1)" % (out_indptr.shape[0], m))
    cdef int64_t cap = min(out_indices.shape[0], out_values.shape[0])
    cdef int32_t *oi = <int32_t *>_p32(out_indices)
    cdef float *ov = <float *>_pf(out_values)
    cdef int status
    with nogil:
        status = fd_csr_gather(m, _p64(rows), src_m, &src_indptr[0],
                               _p32(src_indices), _pf(src_values), &out_indptr[0],
                               oi, ov, cap, nthreads)
    if status != FD_OK:
        _check_index(rows, src_m, "csr_gather rows")
        raise ValueError("csr_gather: the rows hold %d entries, more than the "
                         "capacity %d of out_indices/out_values (or src_indptr "
                         "decreases)" % (out_indptr[m], cap))
    return int(out_indptr[m])


def csr_transpose(const int64_t[::1] indptr not None,
                  const int32_t[::1] indices not None,
                  const float[::1] values not None, Py_ssize_t k,
                  int64_t[::1] out_indptr not None,
                  int32_t[::1] out_indices not None,
                  float[::1] out_values not None,
                  int64_t[::1] work=None, int nthreads=1):
    """OUT the CSR of A^T (k x m) of the m x k CSR A; returns its nnz.
    work: csr_transpose_work_size(k, nthreads) int64 (None: allocated here)."""
    _csr_span(indptr, indices.shape[0], values.shape[0], "csr_transpose")
    cdef Py_ssize_t m = indptr.shape[0] - 1
    cdef int64_t nnz = indptr[m] - indptr[0]
    if k < 0:
        raise ValueError("csr_transpose: k must be >= 0")
    if m > 2147483647:
        raise ValueError("csr_transpose: %d rows do not fit int32 row ids" % m)
    if out_indptr.shape[0] != k + 1:
        raise ValueError("csr_transpose: out_indptr has %d entries, need k + 1 = %d"
                         % (out_indptr.shape[0], k + 1))
    if out_indices.shape[0] < nnz or out_values.shape[0] < nnz:
        raise ValueError("csr_transpose: out_indices/out_values hold %d/%d entries, "
                         "need nnz = %d" % (out_indices.shape[0],
                                            out_values.shape[0], nnz))
    cdef fd_index need = FD_CSR_TRANSPOSE_WORK(k, nthreads)
    if work is None:
        import numpy
        work = numpy.empty(max(need, 1), numpy.int64)
    elif work.shape[0] < need:
        raise ValueError("csr_transpose: work holds %d int64, need %d (k * "
                         "nthreads)" % (work.shape[0], need))
    cdef int status
    with nogil:
        status = fd_csr_transpose(m, k, &indptr[0], _p32(indices), _pf(values),
                                  &out_indptr[0], <int32_t *>_p32(out_indices),
                                  <float *>_pf(out_values),
                                  <int64_t *>_p64(work), nthreads)
    if status != FD_OK:
        raise ValueError("csr_transpose: indptr decreases or an index is outside "
                         "[0, %d)" % k)
    return int(nnz)


def csrmm_f32(const int64_t[::1] indptr not None,
              const int32_t[::1] indices not None,
              const float[::1] values not None, const float[:, :] b not None,
              float[:, :] c not None,
              const float[:] bias=None, bint relu=False, int nthreads=1):
    """OUT c = A @ b (+ bias) (relu), A the CSR (m = len(indptr) - 1 rows,
    k = b.shape[0] columns); c is written, never read."""
    _csr_span(indptr, indices.shape[0], values.shape[0], "csrmm_f32")
    cdef Py_ssize_t m = indptr.shape[0] - 1, k = b.shape[0], n = b.shape[1]
    if c.shape[0] != m or c.shape[1] != n:
        raise ValueError("csrmm_f32: A is (%d, %d), b is (%d, %d), c is (%d, %d)"
                         % (m, k, k, n, c.shape[0], c.shape[1]))
    if bias is not None and bias.shape[0] != n:
        raise ValueError("csrmm_f32: bias has %d entries, c has %d columns"
                         % (bias.shape[0], n))
    cdef fd_index rs_b = _es(b.strides[0]), cs_b = _es(b.strides[1])
    cdef fd_index rs_c = _es(c.strides[0]), cs_c = _es(c.strides[1])
    cdef const float *bp = NULL
    cdef fd_index inc_bias = 0
    if bias is not None:
        bp = &bias[0] if n else NULL
        inc_bias = _es(bias.strides[0])
    cdef int status
    with nogil:
        status = fd_csrmm_f32(m, n, k, &indptr[0], _p32(indices), _pf(values),
                              &b[0, 0] if k and n else NULL, rs_b, cs_b,
                              &c[0, 0] if m and n else NULL, rs_c, cs_c,
                              bp, inc_bias, relu, nthreads)
    if status == FD_ENOMEM:
        raise MemoryError("csrmm_f32: could not allocate its workspace")
    if status != FD_OK:
        raise ValueError("csrmm_f32: indptr decreases or an index is outside "
                         "[0, %d)" % k)
    return c.base


def csrtmm_f32(const int64_t[::1] indptr not None,
               const int32_t[::1] indices not None,
               const float[::1] values not None, const float[:, :] b not None,
               float[:, :] c not None, int nthreads=1):
    """OUT c = A^T @ b straight from the CSR of A (m = len(indptr) - 1 rows,
    k = c.shape[0] columns); c is written, never read."""
    _csr_span(indptr, indices.shape[0], values.shape[0], "csrtmm_f32")
    cdef Py_ssize_t m = indptr.shape[0] - 1, k = c.shape[0], n = b.shape[1]
    if b.shape[0] != m or c.shape[1] != n:
        raise ValueError("csrtmm_f32: A is (%d, %d), b is (%d, %d), c is (%d, %d)"
                         % (m, k, b.shape[0], n, c.shape[0], c.shape[1]))
    cdef fd_index rs_b = _es(b.strides[0]), cs_b = _es(b.strides[1])
    cdef fd_index rs_c = _es(c.strides[0]), cs_c = _es(c.strides[1])
    cdef int status
    with nogil:
        status = fd_csrtmm_f32(m, n, k, &indptr[0], _p32(indices), _pf(values),
                               &b[0, 0] if m and n else NULL, rs_b, cs_b,
                               &c[0, 0] if k and n else NULL, rs_c, cs_c, nthreads)
    if status == FD_ENOMEM:
        raise MemoryError("csrtmm_f32: could not allocate its accumulators")
    if status != FD_OK:
        raise ValueError("csrtmm_f32: indptr decreases or an index is outside "
                         "[0, %d)" % k)
    return c.base
