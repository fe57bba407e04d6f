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
                            const float *weights, fd_index inc_w,
                            float label_smoothing,
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
    # ---- activations and losses (activations.c, losses.c) ----
    int fd_elu_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                   float *, fd_index, fd_index, float, int)
    int fd_elu_backward_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                            const float *, fd_index, fd_index, float *, fd_index,
                            fd_index, float, int)
    int fd_leaky_relu_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                          float *, fd_index, fd_index, float, int)
    int fd_leaky_relu_backward_f32(fd_index, fd_index, const float *, fd_index,
                                   fd_index, const float *, fd_index, fd_index,
                                   float *, fd_index, fd_index, float, int)
    int fd_hard_sigmoid_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                            float *, fd_index, fd_index, float, int)
    int fd_hard_sigmoid_backward_f32(fd_index, fd_index, const float *, fd_index,
                                     fd_index, const float *, fd_index, fd_index,
                                     float *, fd_index, fd_index, float, int)
    int fd_selu_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                    float *, fd_index, fd_index, int)
    int fd_selu_backward_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                             const float *, fd_index, fd_index, float *, fd_index,
                             fd_index, int)
    int fd_gelu_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                    float *, fd_index, fd_index, int)
    int fd_gelu_backward_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                             const float *, fd_index, fd_index, float *, fd_index,
                             fd_index, int)
    int fd_gelu_tanh_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                         float *, fd_index, fd_index, int)
    int fd_gelu_tanh_backward_f32(fd_index, fd_index, const float *, fd_index,
                                  fd_index, const float *, fd_index, fd_index,
                                  float *, fd_index, fd_index, int)
    int fd_softplus_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                        float *, fd_index, fd_index, int)
    int fd_softplus_backward_f32(fd_index, fd_index, const float *, fd_index,
                                 fd_index, const float *, fd_index, fd_index,
                                 float *, fd_index, fd_index, int)
    int fd_swish_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                     float *, fd_index, fd_index, int)
    int fd_swish_backward_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                              const float *, fd_index, fd_index, float *, fd_index,
                              fd_index, int)
    int fd_exponential_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                           float *, fd_index, fd_index, int)
    int fd_exponential_backward_f32(fd_index, fd_index, const float *, fd_index,
                                    fd_index, const float *, fd_index, fd_index,
                                    float *, fd_index, fd_index, int)
    int fd_softsign_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                        float *, fd_index, fd_index, int)
    int fd_softsign_backward_f32(fd_index, fd_index, const float *, fd_index,
                                 fd_index, const float *, fd_index, fd_index,
                                 float *, fd_index, fd_index, int)
    int fd_sigmoid_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                       float *, fd_index, fd_index, int)
    int fd_sigmoid_backward_f32(fd_index, fd_index, const float *, fd_index,
                                fd_index, const float *, fd_index, fd_index,
                                float *, fd_index, fd_index, int)
    int fd_tanh_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                    float *, fd_index, fd_index, int)
    int fd_tanh_backward_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                             const float *, fd_index, fd_index, float *, fd_index,
                             fd_index, int)
    int fd_mse_loss_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                        const float *, fd_index, fd_index, const float *, fd_index,
                        float *, fd_index, fd_index, float, double *, int)
    int fd_mae_loss_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                        const float *, fd_index, fd_index, const float *, fd_index,
                        float *, fd_index, fd_index, float, double *, int)
    int fd_log_cosh_loss_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                             const float *, fd_index, fd_index, const float *,
                             fd_index, float *, fd_index, fd_index, float, double *,
                             int)
    int fd_kld_loss_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                        const float *, fd_index, fd_index, const float *, fd_index,
                        float *, fd_index, fd_index, float, double *, int)
    int fd_huber_loss_f32(fd_index, fd_index, const float *, fd_index, fd_index,
                          const float *, fd_index, fd_index, const float *, fd_index,
                          float *, fd_index, fd_index, float, float, double *, int)
    int fd_sigmoid_bce_f32(fd_index m, fd_index n,
                           const float *logits, fd_index rs_x, fd_index cs_x,
                           const float *y, fd_index rs_y, fd_index cs_y,
                           const float *weights, fd_index inc_w,
                           float label_smoothing,
                           float *probs, fd_index rs_p, fd_index cs_p,
                           float *grad, fd_index rs_g, fd_index cs_g,
                           float scale, double *loss_sum, int64_t *n_correct,
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


cdef inline const float *_row_weights(const float[:] weights, Py_ssize_t m,
                                     str what) except? NULL:
    """The pointer of a per-row weight vector of length m (NULL when m == 0)."""
    if weights.shape[0] != m:
        raise ValueError("%s: %d weights for %d rows" % (what, weights.shape[0], m))
    if m == 0:
        return NULL
    return &weights[0]


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
                     float[:, :] grad=None, float scale=1.0, int nthreads=1,
                     const float[:] weights=None, float label_smoothing=0.0):
    """Softmax + cross-entropy; returns (loss_sum, n_correct).

    IN target: float32 (m, n) distribution or int64 (m,) class labels.
    IN weights (optional): float32 (m,) per-row weights.
    OUT probs, grad (optional): softmax and (softmax - t) * scale * w, with
    t the target after label smoothing.
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
    cdef const float *wp = NULL
    cdef fd_index inc_w = 0
    if weights is not None:
        wp = _row_weights(weights, m, "softmax_xent_f32")
        inc_w = _es(weights.strides[0])
    if not (0.0 <= label_smoothing <= 1.0):
        raise ValueError("softmax_xent_f32: label_smoothing must be in [0, 1], got %r"
                         % label_smoothing)
    cdef fd_index rx = _es(logits.strides[0]), cx = _es(logits.strides[1])
    cdef double loss = 0.0
    cdef int64_t hits = 0
    cdef int status
    with nogil:
        status = fd_softmax_xent_f32(m, n, &logits[0, 0], rx, cx, yp, ry, cy,
                                     lp, wp, inc_w, label_smoothing,
                                     pp, rp, cp, gp, rg, cg, scale,
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


# ---- optimizers beyond RMSprop/SGD/Adam, gradient clipping (optim family) --
# gscale / clip: each kernel reads the gradient as
# min(max(grad * gscale, -clip), clip) (1.0 and inf: as it is).

cdef extern from "fastdense.h" nogil:
    int fd_sumsq_f32(fd_index m, fd_index n, const float *x, fd_index rs_x,
                     fd_index cs_x, double *out, int nthreads)
    int fd_rmsprop_update_clip_f32(fd_index m, fd_index n,
                                   float *param, fd_index rs_p, fd_index cs_p,
                                   const float *grad, fd_index rs_g, fd_index cs_g,
                                   float *accum, fd_index rs_a, fd_index cs_a,
                                   float lr, float rho, float eps, float gscale,
                                   float clip, int nthreads)
    int fd_sgd_update_clip_f32(fd_index m, fd_index n,
                               float *param, fd_index rs_p, fd_index cs_p,
                               const float *grad, fd_index rs_g, fd_index cs_g,
                               float *velocity, fd_index rs_v, fd_index cs_v,
                               float lr, float momentum, int nesterov,
                               float gscale, float clip, int nthreads)
    int fd_adam_update_clip_f32(fd_index m, fd_index n,
                                float *param, fd_index rs_p, fd_index cs_p,
                                const float *grad, fd_index rs_g, fd_index cs_g,
                                float *m1, fd_index rs_m, fd_index cs_m,
                                float *v2, fd_index rs_v, fd_index cs_v,
                                float lr_t, float beta1, float beta2, float eps,
                                float gscale, float clip, int nthreads)
    int fd_adagrad_update_f32(fd_index m, fd_index n,
                              float *param, fd_index rs_p, fd_index cs_p,
                              const float *grad, fd_index rs_g, fd_index cs_g,
                              float *accum, fd_index rs_a, fd_index cs_a,
                              float lr, float eps, float gscale, float clip,
                              int nthreads)
    int fd_adadelta_update_f32(fd_index m, fd_index n,
                               float *param, fd_index rs_p, fd_index cs_p,
                               const float *grad, fd_index rs_g, fd_index cs_g,
                               float *accum, fd_index rs_a, fd_index cs_a,
                               float *delta, fd_index rs_d, fd_index cs_d,
                               float lr, float rho, float eps, float gscale,
                               float clip, int nthreads)
    int fd_adamax_update_f32(fd_index m, fd_index n,
                             float *param, fd_index rs_p, fd_index cs_p,
                             const float *grad, fd_index rs_g, fd_index cs_g,
                             float *m1, fd_index rs_m, fd_index cs_m,
                             float *u, fd_index rs_u, fd_index cs_u,
                             float lr_t, float beta1, float beta2, float eps,
                             float gscale, float clip, int nthreads)
    int fd_nadam_update_f32(fd_index m, fd_index n,
                            float *param, fd_index rs_p, fd_index cs_p,
                            const float *grad, fd_index rs_g, fd_index cs_g,
                            float *m1, fd_index rs_m, fd_index cs_m,
                            float *v2, fd_index rs_v, fd_index cs_v,
                            float lr, float beta1, float beta2, float kg,
                            float km, float vs, float eps, float gscale,
                            float clip, int nthreads)
    int fd_adamw_update_f32(fd_index m, fd_index n,
                            float *param, fd_index rs_p, fd_index cs_p,
                            const float *grad, fd_index rs_g, fd_index cs_g,
                            float *m1, fd_index rs_m, fd_index cs_m,
                            float *v2, fd_index rs_v, fd_index cs_v,
                            float lr_t, float beta1, float beta2, float eps,
                            float decay, float gscale, float clip, int nthreads)


cdef inline int _check_clip(float clip, str what) except -1:
    if not clip >= 0:
        raise ValueError("%s: clip must be >= 0 (inf for no clipping), got %r"
                         % (what, clip))
    return 0


def sumsq_f32(const float[:, :] x, int nthreads=1):
    """The sum of x**2 in double (a Python float), in a fixed order."""
    cdef fd_index rx = _es(x.strides[0]), cx = _es(x.strides[1])
    cdef double out = 0.0
    cdef int status
    with nogil:
        status = fd_sumsq_f32(x.shape[0], x.shape[1], &x[0, 0], rx, cx, &out,
                              nthreads)
    _check(status, "sumsq_f32")
    return float(out)


def rmsprop_update_clip_f32(float[:, :] param, const float[:, :] grad,
                            float[:, :] accum, float lr, float rho, float eps,
                            float gscale=1.0, float clip=float("inf"),
                            int nthreads=1):
    """OUT param, accum: rmsprop_update_f32 on the transformed gradient."""
    _same_shape(param, grad, "rmsprop_update_clip_f32")
    _same_shape(param, accum, "rmsprop_update_clip_f32")
    _check_clip(clip, "rmsprop_update_clip_f32")
    cdef fd_index rp = _es(param.strides[0]), cp = _es(param.strides[1])
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index ra = _es(accum.strides[0]), ca = _es(accum.strides[1])
    cdef int status
    with nogil:
        status = fd_rmsprop_update_clip_f32(param.shape[0], param.shape[1],
                                            &param[0, 0], rp, cp, &grad[0, 0], rg, cg,
                                            &accum[0, 0], ra, ca, lr, rho, eps,
                                            gscale, clip, nthreads)
    _check(status, "rmsprop_update_clip_f32")
    return param.base


def sgd_update_clip_f32(float[:, :] param, const float[:, :] grad,
                        float[:, :] velocity, float lr, float momentum,
                        bint nesterov, float gscale=1.0, float clip=float("inf"),
                        int nthreads=1):
    """OUT param (and velocity): sgd_update_f32 on the transformed gradient."""
    _same_shape(param, grad, "sgd_update_clip_f32")
    _check_clip(clip, "sgd_update_clip_f32")
    cdef float *vp = NULL
    cdef fd_index rv = 0, cv = 0
    if velocity is not None:
        _same_shape(param, velocity, "sgd_update_clip_f32")
        vp = &velocity[0, 0]
        rv = _es(velocity.strides[0])
        cv = _es(velocity.strides[1])
    elif momentum != 0:
        raise ValueError("sgd_update_clip_f32: momentum needs a velocity array")
    cdef fd_index rp = _es(param.strides[0]), cp = _es(param.strides[1])
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef int status
    with nogil:
        status = fd_sgd_update_clip_f32(param.shape[0], param.shape[1],
                                        &param[0, 0], rp, cp, &grad[0, 0], rg, cg,
                                        vp, rv, cv, lr, momentum, nesterov,
                                        gscale, clip, nthreads)
    _check(status, "sgd_update_clip_f32")
    return param.base


def adam_update_clip_f32(float[:, :] param, const float[:, :] grad,
                         float[:, :] m, float[:, :] v, float lr_t, float beta1,
                         float beta2, float eps, float gscale=1.0,
                         float clip=float("inf"), int nthreads=1):
    """OUT param, m, v: adam_update_f32 on the transformed gradient."""
    _same_shape(param, grad, "adam_update_clip_f32")
    _same_shape(param, m, "adam_update_clip_f32")
    _same_shape(param, v, "adam_update_clip_f32")
    _check_clip(clip, "adam_update_clip_f32")
    cdef fd_index rp = _es(param.strides[0]), cp = _es(param.strides[1])
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index rm = _es(m.strides[0]), cm = _es(m.strides[1])
    cdef fd_index rv = _es(v.strides[0]), cv = _es(v.strides[1])
    cdef int status
    with nogil:
        status = fd_adam_update_clip_f32(param.shape[0], param.shape[1],
                                         &param[0, 0], rp, cp, &grad[0, 0], rg, cg,
                                         &m[0, 0], rm, cm, &v[0, 0], rv, cv,
                                         lr_t, beta1, beta2, eps, gscale, clip,
                                         nthreads)
    _check(status, "adam_update_clip_f32")
    return param.base


def adagrad_update_f32(float[:, :] param, const float[:, :] grad,
                       float[:, :] accum, float lr, float eps,
                       float gscale=1.0, float clip=float("inf"), int nthreads=1):
    """OUT param, accum updated in place (Keras 2.3.1 Adagrad)."""
    _same_shape(param, grad, "adagrad_update_f32")
    _same_shape(param, accum, "adagrad_update_f32")
    _check_clip(clip, "adagrad_update_f32")
    cdef fd_index rp = _es(param.strides[0]), cp = _es(param.strides[1])
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index ra = _es(accum.strides[0]), ca = _es(accum.strides[1])
    cdef int status
    with nogil:
        status = fd_adagrad_update_f32(param.shape[0], param.shape[1],
                                       &param[0, 0], rp, cp, &grad[0, 0], rg, cg,
                                       &accum[0, 0], ra, ca, lr, eps, gscale, clip,
                                       nthreads)
    _check(status, "adagrad_update_f32")
    return param.base


def adadelta_update_f32(float[:, :] param, const float[:, :] grad,
                        float[:, :] accum, float[:, :] delta, float lr, float rho,
                        float eps, float gscale=1.0, float clip=float("inf"),
                        int nthreads=1):
    """OUT param, accum, delta updated in place (Keras 2.3.1 Adadelta)."""
    _same_shape(param, grad, "adadelta_update_f32")
    _same_shape(param, accum, "adadelta_update_f32")
    _same_shape(param, delta, "adadelta_update_f32")
    _check_clip(clip, "adadelta_update_f32")
    cdef fd_index rp = _es(param.strides[0]), cp = _es(param.strides[1])
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index ra = _es(accum.strides[0]), ca = _es(accum.strides[1])
    cdef fd_index rd = _es(delta.strides[0]), cd = _es(delta.strides[1])
    cdef int status
    with nogil:
        status = fd_adadelta_update_f32(param.shape[0], param.shape[1],
                                        &param[0, 0], rp, cp, &grad[0, 0], rg, cg,
                                        &accum[0, 0], ra, ca, &delta[0, 0], rd, cd,
                                        lr, rho, eps, gscale, clip, nthreads)
    _check(status, "adadelta_update_f32")
    return param.base


def adamax_update_f32(float[:, :] param, const float[:, :] grad,
                      float[:, :] m, float[:, :] u, float lr_t, float beta1,
                      float beta2, float eps, float gscale=1.0,
                      float clip=float("inf"), int nthreads=1):
    """OUT param, m, u updated in place (Keras 2.3.1 Adamax, rate lr_t)."""
    _same_shape(param, grad, "adamax_update_f32")
    _same_shape(param, m, "adamax_update_f32")
    _same_shape(param, u, "adamax_update_f32")
    _check_clip(clip, "adamax_update_f32")
    cdef fd_index rp = _es(param.strides[0]), cp = _es(param.strides[1])
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index rm = _es(m.strides[0]), cm = _es(m.strides[1])
    cdef fd_index ru = _es(u.strides[0]), cu = _es(u.strides[1])
    cdef int status
    with nogil:
        status = fd_adamax_update_f32(param.shape[0], param.shape[1],
                                      &param[0, 0], rp, cp, &grad[0, 0], rg, cg,
                                      &m[0, 0], rm, cm, &u[0, 0], ru, cu,
                                      lr_t, beta1, beta2, eps, gscale, clip,
                                      nthreads)
    _check(status, "adamax_update_f32")
    return param.base


def nadam_update_f32(float[:, :] param, const float[:, :] grad,
                     float[:, :] m, float[:, :] v, float lr, float beta1,
                     float beta2, float kg, float km, float vs, float eps,
                     float gscale=1.0, float clip=float("inf"), int nthreads=1):
    """OUT param, m, v updated in place (Keras 2.3.1 Nadam; kg, km, vs: the
    step's schedule coefficients)."""
    _same_shape(param, grad, "nadam_update_f32")
    _same_shape(param, m, "nadam_update_f32")
    _same_shape(param, v, "nadam_update_f32")
    _check_clip(clip, "nadam_update_f32")
    cdef fd_index rp = _es(param.strides[0]), cp = _es(param.strides[1])
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index rm = _es(m.strides[0]), cm = _es(m.strides[1])
    cdef fd_index rv = _es(v.strides[0]), cv = _es(v.strides[1])
    cdef int status
    with nogil:
        status = fd_nadam_update_f32(param.shape[0], param.shape[1],
                                     &param[0, 0], rp, cp, &grad[0, 0], rg, cg,
                                     &m[0, 0], rm, cm, &v[0, 0], rv, cv,
                                     lr, beta1, beta2, kg, km, vs, eps,
                                     gscale, clip, nthreads)
    _check(status, "nadam_update_f32")
    return param.base


def adamw_update_f32(float[:, :] param, const float[:, :] grad,
                     float[:, :] m, float[:, :] v, float lr_t, float beta1,
                     float beta2, float eps, float decay, float gscale=1.0,
                     float clip=float("inf"), int nthreads=1):
    """OUT param, m, v updated in place (AdamW: param -= decay*param, then Adam
    with the bias-corrected rate lr_t)."""
    _same_shape(param, grad, "adamw_update_f32")
    _same_shape(param, m, "adamw_update_f32")
    _same_shape(param, v, "adamw_update_f32")
    _check_clip(clip, "adamw_update_f32")
    cdef fd_index rp = _es(param.strides[0]), cp = _es(param.strides[1])
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index rm = _es(m.strides[0]), cm = _es(m.strides[1])
    cdef fd_index rv = _es(v.strides[0]), cv = _es(v.strides[1])
    cdef int status
    with nogil:
        status = fd_adamw_update_f32(param.shape[0], param.shape[1],
                                     &param[0, 0], rp, cp, &grad[0, 0], rg, cg,
                                     &m[0, 0], rm, cm, &v[0, 0], rv, cv,
                                     lr_t, beta1, beta2, eps, decay, gscale, clip,
                                     nthreads)
    _check(status, "adamw_update_f32")
    return param.base
# ---- dropout and weight regularizers (philox.h, dropout.c, regularize.c) ----

from libc.stdint cimport uint32_t, uint64_t
from operator import index as _index

cdef extern from "fastdense.h" nogil:
    int fd_philox4x32_10(const uint32_t *ctr, const uint32_t *key, uint32_t *out)
    int fd_dropout_forward_f32(fd_index m, fd_index n,
                               const float *x, fd_index rs_x, fd_index cs_x,
                               float *out, fd_index rs_o, fd_index cs_o,
                               double rate, uint64_t seed, uint64_t step,
                               uint64_t first, int nthreads)
    int fd_dropout_backward_f32(fd_index m, fd_index n,
                                const float *grad, fd_index rs_g, fd_index cs_g,
                                float *out, fd_index rs_o, fd_index cs_o,
                                double rate, uint64_t seed, uint64_t step,
                                uint64_t first, int nthreads)
    int fd_relu_dropout_backward_f32(fd_index m, fd_index n,
                                     const float *grad, fd_index rs_g, fd_index cs_g,
                                     const float *y, fd_index rs_y, fd_index cs_y,
                                     float *out, fd_index rs_o, fd_index cs_o,
                                     double rate, float *bias_grad, fd_index inc_bg,
                                     int nthreads)
    int fd_l1l2_penalty_grad_f32(fd_index m, fd_index n,
                                 const float *w, fd_index rs_w, fd_index cs_w,
                                 float *grad, fd_index rs_g, fd_index cs_g,
                                 double l1, double l2, double *penalty,
                                 int nthreads)


cdef inline int _check_rate(double rate, str what) except -1:
    if not (0.0 <= rate < 1.0):
        raise ValueError("%s: the dropout rate must be in [0, 1), got %r"
                         % (what, rate))
    return 0


cdef inline object _word(object v, object bits, str name, str what):
    """v as a Python int in [0, 2**bits): TypeError for non-integers,
    ValueError out of range."""
    try:
        v = _index(v)
    except TypeError:
        raise TypeError("%s: %s must be an integer, got %r" % (what, name, v)) from None
    if not 0 <= v < (1 << bits):
        raise ValueError("%s: %s must be in [0, 2**%d), got %d" % (what, name, bits, v))
    return v


cdef inline uint64_t _u64(object v, str name, str what) except? 0:
    return <uint64_t>_word(v, 64, name, what)


def philox4x32_10(counter, key):
    """The 4 words (ints) of Philox4x32-10(counter: 4 ints, key: 2 ints)."""
    cdef uint32_t c[4]
    cdef uint32_t k[2]
    cdef uint32_t o[4]
    cdef int i
    if len(counter) != 4 or len(key) != 2:
        raise ValueError("philox4x32_10: counter has 4 words and key 2, got %d and %d"
                         % (len(counter), len(key)))
    for i in range(4):
        c[i] = <uint32_t>_word(counter[i], 32, "a counter word", "philox4x32_10")
    for i in range(2):
        k[i] = <uint32_t>_word(key[i], 32, "a key word", "philox4x32_10")
    fd_philox4x32_10(c, k, o)
    return (int(o[0]), int(o[1]), int(o[2]), int(o[3]))


def dropout_forward_f32(const float[:, :] x, float[:, :] out, double rate, seed,
                        step, int nthreads=1, first=0):
    """OUT out = kept ? x / (1 - rate) : 0, the mask from (seed, step) (philox.h);
    element (i, j) is mask element first + i*n + j."""
    _same_shape(x, out, "dropout_forward_f32")
    _check_rate(rate, "dropout_forward_f32")
    cdef uint64_t s = _u64(seed, "seed", "dropout_forward_f32")
    cdef uint64_t t = _u64(step, "step", "dropout_forward_f32")
    cdef uint64_t e0 = _u64(first, "first", "dropout_forward_f32")
    cdef fd_index rx = _es(x.strides[0]), cx = _es(x.strides[1])
    cdef fd_index ro = _es(out.strides[0]), co = _es(out.strides[1])
    cdef int status
    with nogil:
        status = fd_dropout_forward_f32(x.shape[0], x.shape[1], &x[0, 0], rx, cx,
                                        &out[0, 0], ro, co, rate, s, t, e0, nthreads)
    _check(status, "dropout_forward_f32")
    return out.base


def dropout_backward_f32(const float[:, :] grad, float[:, :] out, double rate, seed,
                         step, int nthreads=1, first=0):
    """OUT out = kept ? grad / (1 - rate) : 0, the forward's mask regenerated."""
    _same_shape(grad, out, "dropout_backward_f32")
    _check_rate(rate, "dropout_backward_f32")
    cdef uint64_t s = _u64(seed, "seed", "dropout_backward_f32")
    cdef uint64_t t = _u64(step, "step", "dropout_backward_f32")
    cdef uint64_t e0 = _u64(first, "first", "dropout_backward_f32")
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index ro = _es(out.strides[0]), co = _es(out.strides[1])
    cdef int status
    with nogil:
        status = fd_dropout_backward_f32(grad.shape[0], grad.shape[1], &grad[0, 0],
                                         rg, cg, &out[0, 0], ro, co, rate, s, t,
                                         e0, nthreads)
    _check(status, "dropout_backward_f32")
    return out.base


def relu_dropout_backward_f32(const float[:, :] grad, const float[:, :] y,
                              float[:, :] out, double rate, float[:] bias_grad=None,
                              int nthreads=1):
    """OUT out = y > 0 ? grad / (1 - rate) : 0 (y: the dropout output after a
    relu); OUT bias_grad (optional) = column sums of out."""
    _same_shape(grad, y, "relu_dropout_backward_f32")
    _same_shape(grad, out, "relu_dropout_backward_f32")
    _check_rate(rate, "relu_dropout_backward_f32")
    cdef float *bg = NULL
    cdef fd_index inc = 0
    if bias_grad is not None:
        if bias_grad.shape[0] != grad.shape[1]:
            raise ValueError("relu_dropout_backward_f32: bias_grad has %d entries, "
                             "grad has %d columns"
                             % (bias_grad.shape[0], grad.shape[1]))
        bg = &bias_grad[0]
        inc = _es(bias_grad.strides[0])
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index ry = _es(y.strides[0]), cy = _es(y.strides[1])
    cdef fd_index ro = _es(out.strides[0]), co = _es(out.strides[1])
    cdef int status
    with nogil:
        status = fd_relu_dropout_backward_f32(grad.shape[0], grad.shape[1],
                                              &grad[0, 0], rg, cg, &y[0, 0], ry, cy,
                                              &out[0, 0], ro, co, rate, bg, inc,
                                              nthreads)
    _check(status, "relu_dropout_backward_f32")
    return out.base


def l1l2_penalty_grad_f32(const float[:, :] w, float[:, :] grad, double l1,
                          double l2, int nthreads=1):
    """Returns l1*sum|w| + l2*sum(w**2) (float); OUT grad (optional, None for
    the penalty only) += l1*sign(w) + 2*l2*w (the terms with nonzero factors)."""
    if not (0.0 <= l1 <= 3.4028234663852886e38):
        raise ValueError("l1l2_penalty_grad_f32: l1 must be finite and >= 0 "
                         "(float32), got %r" % l1)
    if not (0.0 <= l2 <= 1.7014117331926443e38):
        raise ValueError("l1l2_penalty_grad_f32: l2 must be finite and >= 0 "
                         "(2*l2 a float32), got %r" % l2)
    cdef float *gp = NULL
    cdef fd_index rg = 0, cg = 0
    if grad is not None:
        _same_shape(w, grad, "l1l2_penalty_grad_f32")
        gp = &grad[0, 0]
        rg = _es(grad.strides[0])
        cg = _es(grad.strides[1])
    cdef fd_index rw = _es(w.strides[0]), cw = _es(w.strides[1])
    cdef double penalty = 0.0
    cdef int status
    with nogil:
        status = fd_l1l2_penalty_grad_f32(w.shape[0], w.shape[1], &w[0, 0], rw, cw,
                                          gp, rg, cg, l1, l2, &penalty, nthreads)
    _check(status, "l1l2_penalty_grad_f32")
    return float(penalty)


# ---- activations and losses (activations.c, losses.c) --------------------
# One pair of bindings per activation: NAME_f32(x, out[, param]) and
# NAME_backward_f32(grad, src, out[, param]) with src = y (the output) or z
# (the pre-activation), as fastdense.h says.  Losses return loss_sum (and
# n_correct for the fused sigmoid + binary cross-entropy).

ctypedef int (*_fwd0_t)(fd_index, fd_index, const float *, fd_index, fd_index,
                        float *, fd_index, fd_index, int) noexcept nogil
ctypedef int (*_fwd1_t)(fd_index, fd_index, const float *, fd_index, fd_index,
                        float *, fd_index, fd_index, float, int) noexcept nogil
ctypedef int (*_bwd0_t)(fd_index, fd_index, const float *, fd_index, fd_index,
                        const float *, fd_index, fd_index, float *, fd_index,
                        fd_index, int) noexcept nogil
ctypedef int (*_bwd1_t)(fd_index, fd_index, const float *, fd_index, fd_index,
                        const float *, fd_index, fd_index, float *, fd_index,
                        fd_index, float, int) noexcept nogil
ctypedef int (*_loss_t)(fd_index, fd_index, const float *, fd_index, fd_index,
                        const float *, fd_index, fd_index, const float *, fd_index,
                        float *, fd_index, fd_index, float, double *, int) noexcept nogil


cdef int _act_forward(_fwd0_t f0, _fwd1_t f1, float param, const float[:, :] x,
                      float[:, :] out, int nthreads, str what) except -1:
    _same_shape(x, out, what)
    cdef fd_index rx = _es(x.strides[0]), cx = _es(x.strides[1])
    cdef fd_index ro = _es(out.strides[0]), co = _es(out.strides[1])
    cdef int status
    with nogil:
        if f0 != NULL:
            status = f0(x.shape[0], x.shape[1], &x[0, 0], rx, cx, &out[0, 0], ro, co,
                        nthreads)
        else:
            status = f1(x.shape[0], x.shape[1], &x[0, 0], rx, cx, &out[0, 0], ro, co,
                        param, nthreads)
    return _check(status, what)


cdef int _act_backward(_bwd0_t f0, _bwd1_t f1, float param, const float[:, :] grad,
                       const float[:, :] src, float[:, :] out, int nthreads,
                       str what) except -1:
    _same_shape(grad, src, what)
    _same_shape(grad, out, what)
    cdef fd_index rg = _es(grad.strides[0]), cg = _es(grad.strides[1])
    cdef fd_index rs = _es(src.strides[0]), cs = _es(src.strides[1])
    cdef fd_index ro = _es(out.strides[0]), co = _es(out.strides[1])
    cdef int status
    with nogil:
        if f0 != NULL:
            status = f0(grad.shape[0], grad.shape[1], &grad[0, 0], rg, cg,
                        &src[0, 0], rs, cs, &out[0, 0], ro, co, nthreads)
        else:
            status = f1(grad.shape[0], grad.shape[1], &grad[0, 0], rg, cg,
                        &src[0, 0], rs, cs, &out[0, 0], ro, co, param, nthreads)
    return _check(status, what)


cdef inline int _nonneg(float value, str what, str name) except -1:
    if not value >= 0:
        raise ValueError("%s: %s must be >= 0, got %r (the gradient is computed "
                         "from the output, which needs it)" % (what, name, value))
    return 0


def elu_f32(const float[:, :] x, float[:, :] out, float alpha=1.0, int nthreads=1):
    """OUT out = x > 0 ? x : alpha (exp(x) - 1)."""
    _act_forward(NULL, fd_elu_f32, alpha, x, out, nthreads, "elu_f32")
    return out.base


def elu_backward_f32(const float[:, :] grad, const float[:, :] y, float[:, :] out,
                     float alpha=1.0, int nthreads=1):
    """OUT out = grad * (y > 0 ? 1 : y + alpha); IN y: the elu output."""
    _nonneg(alpha, "elu_backward_f32", "alpha")
    _act_backward(NULL, fd_elu_backward_f32, alpha, grad, y, out, nthreads,
                  "elu_backward_f32")
    return out.base


def selu_f32(const float[:, :] x, float[:, :] out, int nthreads=1):
    """OUT out = scale * elu(x, alpha) with Keras's SELU constants."""
    _act_forward(fd_selu_f32, NULL, 0, x, out, nthreads, "selu_f32")
    return out.base


def selu_backward_f32(const float[:, :] grad, const float[:, :] y, float[:, :] out,
                      int nthreads=1):
    """OUT out = grad * (y > 0 ? scale : y + scale alpha); IN y: the selu output."""
    _act_backward(fd_selu_backward_f32, NULL, 0, grad, y, out, nthreads,
                  "selu_backward_f32")
    return out.base


def gelu_f32(const float[:, :] x, float[:, :] out, int nthreads=1):
    """OUT out = x Phi(x) (the erf form)."""
    _act_forward(fd_gelu_f32, NULL, 0, x, out, nthreads, "gelu_f32")
    return out.base


def gelu_backward_f32(const float[:, :] grad, const float[:, :] z, float[:, :] out,
                      int nthreads=1):
    """OUT out = grad * (Phi(z) + z phi(z)); IN z: the pre-activation."""
    _act_backward(fd_gelu_backward_f32, NULL, 0, grad, z, out, nthreads,
                  "gelu_backward_f32")
    return out.base


def gelu_tanh_f32(const float[:, :] x, float[:, :] out, int nthreads=1):
    """OUT out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    _act_forward(fd_gelu_tanh_f32, NULL, 0, x, out, nthreads, "gelu_tanh_f32")
    return out.base


def gelu_tanh_backward_f32(const float[:, :] grad, const float[:, :] z,
                           float[:, :] out, int nthreads=1):
    """OUT out = grad * d gelu_tanh / dz; IN z: the pre-activation."""
    _act_backward(fd_gelu_tanh_backward_f32, NULL, 0, grad, z, out, nthreads,
                  "gelu_tanh_backward_f32")
    return out.base


def leaky_relu_f32(const float[:, :] x, float[:, :] out, float alpha=0.2,
                   int nthreads=1):
    """OUT out = x > 0 ? x : alpha x."""
    _act_forward(NULL, fd_leaky_relu_f32, alpha, x, out, nthreads, "leaky_relu_f32")
    return out.base


def leaky_relu_backward_f32(const float[:, :] grad, const float[:, :] y,
                            float[:, :] out, float alpha=0.2, int nthreads=1):
    """OUT out = grad * (y > 0 ? 1 : alpha); IN y: the leaky_relu output."""
    _nonneg(alpha, "leaky_relu_backward_f32", "alpha")
    _act_backward(NULL, fd_leaky_relu_backward_f32, alpha, grad, y, out, nthreads,
                  "leaky_relu_backward_f32")
    return out.base


def softplus_f32(const float[:, :] x, float[:, :] out, int nthreads=1):
    """OUT out = log(1 + exp(x))."""
    _act_forward(fd_softplus_f32, NULL, 0, x, out, nthreads, "softplus_f32")
    return out.base


def softplus_backward_f32(const float[:, :] grad, const float[:, :] y,
                          float[:, :] out, int nthreads=1):
    """OUT out = grad * (1 - exp(-y)); IN y: the softplus output."""
    _act_backward(fd_softplus_backward_f32, NULL, 0, grad, y, out, nthreads,
                  "softplus_backward_f32")
    return out.base


def swish_f32(const float[:, :] x, float[:, :] out, int nthreads=1):
    """OUT out = x sigmoid(x) (silu)."""
    _act_forward(fd_swish_f32, NULL, 0, x, out, nthreads, "swish_f32")
    return out.base


def swish_backward_f32(const float[:, :] grad, const float[:, :] z, float[:, :] out,
                       int nthreads=1):
    """OUT out = grad * (s + z s (1 - s)); IN z: the pre-activation."""
    _act_backward(fd_swish_backward_f32, NULL, 0, grad, z, out, nthreads,
                  "swish_backward_f32")
    return out.base


def exponential_f32(const float[:, :] x, float[:, :] out, int nthreads=1):
    """OUT out = exp(x)."""
    _act_forward(fd_exponential_f32, NULL, 0, x, out, nthreads, "exponential_f32")
    return out.base


def exponential_backward_f32(const float[:, :] grad, const float[:, :] y,
                             float[:, :] out, int nthreads=1):
    """OUT out = grad * y; IN y: the exponential output."""
    _act_backward(fd_exponential_backward_f32, NULL, 0, grad, y, out, nthreads,
                  "exponential_backward_f32")
    return out.base


def hard_sigmoid_f32(const float[:, :] x, float[:, :] out, float slope=0.2,
                     int nthreads=1):
    """OUT out = clip(slope x + 0.5, 0, 1)."""
    _act_forward(NULL, fd_hard_sigmoid_f32, slope, x, out, nthreads,
                 "hard_sigmoid_f32")
    return out.base


def hard_sigmoid_backward_f32(const float[:, :] grad, const float[:, :] y,
                              float[:, :] out, float slope=0.2, int nthreads=1):
    """OUT out = grad * (0 < y < 1 ? slope : 0); IN y: the hard_sigmoid output."""
    _act_backward(NULL, fd_hard_sigmoid_backward_f32, slope, grad, y, out, nthreads,
                  "hard_sigmoid_backward_f32")
    return out.base


def softsign_f32(const float[:, :] x, float[:, :] out, int nthreads=1):
    """OUT out = x / (1 + |x|)."""
    _act_forward(fd_softsign_f32, NULL, 0, x, out, nthreads, "softsign_f32")
    return out.base


def softsign_backward_f32(const float[:, :] grad, const float[:, :] z,
                          float[:, :] out, int nthreads=1):
    """OUT out = grad / (1 + |z|)^2; IN z: the pre-activation."""
    _act_backward(fd_softsign_backward_f32, NULL, 0, grad, z, out, nthreads,
                  "softsign_backward_f32")
    return out.base


def sigmoid_f32(const float[:, :] x, float[:, :] out, int nthreads=1):
    """OUT out = 1 / (1 + exp(-x))."""
    _act_forward(fd_sigmoid_f32, NULL, 0, x, out, nthreads, "sigmoid_f32")
    return out.base


def sigmoid_backward_f32(const float[:, :] grad, const float[:, :] y,
                         float[:, :] out, int nthreads=1):
    """OUT out = grad * y (1 - y); IN y: the sigmoid output."""
    _act_backward(fd_sigmoid_backward_f32, NULL, 0, grad, y, out, nthreads,
                  "sigmoid_backward_f32")
    return out.base


def tanh_f32(const float[:, :] x, float[:, :] out, int nthreads=1):
    """OUT out = tanh(x)."""
    _act_forward(fd_tanh_f32, NULL, 0, x, out, nthreads, "tanh_f32")
    return out.base


def tanh_backward_f32(const float[:, :] grad, const float[:, :] y, float[:, :] out,
                      int nthreads=1):
    """OUT out = grad * (1 - y^2); IN y: the tanh output."""
    _act_backward(fd_tanh_backward_f32, NULL, 0, grad, y, out, nthreads,
                  "tanh_backward_f32")
    return out.base


cdef double _loss(_loss_t fn, int huber, float delta, const float[:, :] y_pred,
                  const float[:, :] target, float[:, :] grad, float scale,
                  const float[:] weights, int nthreads, str what) except? -1.0:
    _same_shape(y_pred, target, what)
    cdef Py_ssize_t m = y_pred.shape[0]
    cdef float *gp = NULL
    cdef fd_index rg = 0, cg = 0
    if grad is not None:
        _same_shape(y_pred, grad, what)
        gp = &grad[0, 0]
        rg = _es(grad.strides[0])
        cg = _es(grad.strides[1])
    cdef const float *wp = NULL
    cdef fd_index inc_w = 0
    if weights is not None:
        wp = _row_weights(weights, m, what)
        inc_w = _es(weights.strides[0])
    cdef fd_index rp = _es(y_pred.strides[0]), cp = _es(y_pred.strides[1])
    cdef fd_index rt = _es(target.strides[0]), ct = _es(target.strides[1])
    cdef double loss = 0.0
    cdef int status
    with nogil:
        if huber:
            status = fd_huber_loss_f32(m, y_pred.shape[1], &y_pred[0, 0], rp, cp,
                                       &target[0, 0], rt, ct, wp, inc_w, gp, rg, cg,
                                       delta, scale, &loss, nthreads)
        else:
            status = fn(m, y_pred.shape[1], &y_pred[0, 0], rp, cp, &target[0, 0],
                        rt, ct, wp, inc_w, gp, rg, cg, scale, &loss, nthreads)
    _check(status, what)
    return loss


def mse_loss_f32(const float[:, :] y_pred, const float[:, :] target,
                 float[:, :] grad=None, float scale=1.0, const float[:] weights=None,
                 int nthreads=1):
    """Returns sum_i w_i mean_j (p - t)^2; OUT grad = scale w_i dL_i/dp."""
    return _loss(fd_mse_loss_f32, 0, 0, y_pred, target, grad, scale, weights,
                 nthreads, "mse_loss_f32")


def mae_loss_f32(const float[:, :] y_pred, const float[:, :] target,
                 float[:, :] grad=None, float scale=1.0, const float[:] weights=None,
                 int nthreads=1):
    """Returns sum_i w_i mean_j |p - t|; OUT grad = scale w_i dL_i/dp."""
    return _loss(fd_mae_loss_f32, 0, 0, y_pred, target, grad, scale, weights,
                 nthreads, "mae_loss_f32")


def huber_loss_f32(const float[:, :] y_pred, const float[:, :] target,
                   float[:, :] grad=None, float scale=1.0, const float[:] weights=None,
                   float delta=1.0, int nthreads=1):
    """Returns sum_i w_i mean_j huber(p - t; delta); OUT grad = scale w_i dL_i/dp."""
    if not (delta > 0 and delta != float("inf")):
        raise ValueError("huber_loss_f32: delta must be a positive number, got %r"
                         % delta)
    return _loss(NULL, 1, delta, y_pred, target, grad, scale, weights, nthreads,
                 "huber_loss_f32")


def log_cosh_loss_f32(const float[:, :] y_pred, const float[:, :] target,
                      float[:, :] grad=None, float scale=1.0,
                      const float[:] weights=None, int nthreads=1):
    """Returns sum_i w_i mean_j log(cosh(p - t)); OUT grad = scale w_i tanh(p - t) / n."""
    return _loss(fd_log_cosh_loss_f32, 0, 0, y_pred, target, grad, scale, weights,
                 nthreads, "log_cosh_loss_f32")


def kld_loss_f32(const float[:, :] y_pred, const float[:, :] target,
                 float[:, :] grad=None, float scale=1.0, const float[:] weights=None,
                 int nthreads=1):
    """Returns sum_i w_i sum_j t log(t / p) (both clipped to [1e-7, 1])."""
    return _loss(fd_kld_loss_f32, 0, 0, y_pred, target, grad, scale, weights,
                 nthreads, "kld_loss_f32")


def sigmoid_bce_f32(const float[:, :] logits, const float[:, :] target,
                    float[:, :] probs=None, float[:, :] grad=None, float scale=1.0,
                    int nthreads=1, const float[:] weights=None,
                    float label_smoothing=0.0):
    """Sigmoid + binary cross-entropy from logits; returns (loss_sum, n_correct).

    OUT probs = sigmoid(logits), grad = scale w_i / n (p - t) (optional);
    n_correct counts the entries where round(p) == target.
    """
    _same_shape(logits, target, "sigmoid_bce_f32")
    cdef Py_ssize_t m = logits.shape[0]
    cdef float *pp = NULL
    cdef float *gp = NULL
    cdef fd_index rp = 0, cp = 0, rg = 0, cg = 0
    if probs is not None:
        _same_shape(logits, probs, "sigmoid_bce_f32")
        pp = &probs[0, 0]
        rp = _es(probs.strides[0])
        cp = _es(probs.strides[1])
    if grad is not None:
        _same_shape(logits, grad, "sigmoid_bce_f32")
        gp = &grad[0, 0]
        rg = _es(grad.strides[0])
        cg = _es(grad.strides[1])
    cdef const float *wp = NULL
    cdef fd_index inc_w = 0
    if weights is not None:
        wp = _row_weights(weights, m, "sigmoid_bce_f32")
        inc_w = _es(weights.strides[0])
    if not (0.0 <= label_smoothing <= 1.0):
        raise ValueError("sigmoid_bce_f32: label_smoothing must be in [0, 1], got %r"
                         % label_smoothing)
    cdef fd_index rx = _es(logits.strides[0]), cx = _es(logits.strides[1])
    cdef fd_index ry = _es(target.strides[0]), cy = _es(target.strides[1])
    cdef double loss = 0.0
    cdef int64_t hits = 0
    cdef int status
    with nogil:
        status = fd_sigmoid_bce_f32(m, logits.shape[1], &logits[0, 0], rx, cx,
                                    &target[0, 0], ry, cy, wp, inc_w,
                                    label_smoothing, pp, rp, cp, gp, rg, cg, scale,
                                    &loss, &hits, nthreads)
    _check(status, "sigmoid_bce_f32")
    return float(loss), int(hits)


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
