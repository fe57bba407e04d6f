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


# ---- gemm: ours or a BLAS (issue 9) -------------------------------------------
# ops.dot asks dot_route first: one call that reads both arrays through the
# NumPy C API (~0.1 us; the same checks in Python took ~0.5 us, 7% of a
# 128x512 @ 512x10 product that goes to np.dot).

cimport numpy as cnp

cnp.import_array()

cdef extern from "fastdense.h" nogil:
    int FD_ROUTE_OURS
    int fd_sgemm_route(fd_index m, fd_index n, fd_index k, int a_rows_contiguous,
                       int nthreads, int level)


def sgemm_route(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, int nthreads=1,
                int level=-1, bint a_rows_contiguous=True):
    """1 when fd_sgemm should compute an m x k @ k x n product, 0 when a BLAS
    should (fd_sgemm_route; level -1: the level in use now)."""
    return fd_sgemm_route(m, n, k, a_rows_contiguous, nthreads, level)


cdef inline bint _sgemm_operand(object x):
    """x is an ndarray sgemm can address: exactly ndarray, native float32,
    aligned, 1-D or 2-D, every stride a multiple of 4 bytes."""
    cdef cnp.ndarray arr
    cdef cnp.npy_intp *st
    cdef int nd, i
    if type(x) is not cnp.ndarray:
        return False
    arr = <cnp.ndarray>x
    if (cnp.PyArray_TYPE(arr) != cnp.NPY_FLOAT32 or not cnp.PyArray_ISNOTSWAPPED(arr)
            or not cnp.PyArray_ISALIGNED(arr)):
        return False
    nd = cnp.PyArray_NDIM(arr)
    if nd < 1 or nd > 2:
        return False
    st = cnp.PyArray_STRIDES(arr)
    for i in range(nd):
        if st[i] & 3:
            return False
    return True


def dot_route(a, b, int nthreads, bint has_blas=True):
    """True when ops.dot computes a @ b (np.dot semantics) with sgemm: both
    are arrays sgemm can address, their sizes agree, and fd_sgemm_route says
    ours (or there is no BLAS beside NumPy).  False: np.dot serves it."""
    cdef cnp.ndarray x, y
    cdef Py_ssize_t m, n, k
    cdef int rows
    if not (_sgemm_operand(a) and _sgemm_operand(b)):
        return False
    x = <cnp.ndarray>a
    y = <cnp.ndarray>b
    k = cnp.PyArray_DIM(x, cnp.PyArray_NDIM(x) - 1)
    if cnp.PyArray_DIM(y, 0) != k:
        return False
    if not has_blas:
        return True
    m = cnp.PyArray_DIM(x, 0) if cnp.PyArray_NDIM(x) == 2 else 1
    n = cnp.PyArray_DIM(y, 1) if cnp.PyArray_NDIM(y) == 2 else 1
    rows = cnp.PyArray_NDIM(x) == 1 or cnp.PyArray_STRIDE(x, 1) == 4
    return fd_sgemm_route(m, n, k, rows, nthreads, -1) == FD_ROUTE_OURS
