"""Drop-in kernels: each function returns what the NumPy expression beside it
returns, for every input NumPy accepts.

=====================================  ==========================================
fastdense.ops                          NumPy
=====================================  ==========================================
``dot(a, b, out=None)``                ``np.dot(a, b, out=out)``
``add(x, y, out=None)``                ``np.add(x, y, out=out)``
``relu(x, out=None)``                  ``np.maximum(x, 0, out=out)``
``softmax(x, axis=-1, out=None)``      ``e = np.exp(x - x.max(axis, keepdims=True))``
                                       ``e / e.sum(axis, keepdims=True)``
``rmsprop_update(p, g, a, lr, rho,     ``a[:] = rho*a + (1-rho)*g**2``
eps)``                                 ``p -= lr*g/(np.sqrt(a)+eps)`` (in place)
``relu_backward(grad, y, out=None)``   ``np.where(y > 0, grad, 0)``
``bias_grad(grad, out=None)``          ``grad.sum(axis=0)``
``softmax_cross_entropy(logits, y)``   ``(mean(-sum(y*log_softmax)), (softmax-y)/N)``
``sgd_update(p, g, v, lr, momentum,    Keras 2.3.1 SGD (in place)
nesterov)``
``adam_update(p, g, m, v, t, ...)``    Keras 2.3.1 Adam (in place)
``adagrad_update(p, g, a, lr, eps)``   ``a += g**2; p -= lr*g/(np.sqrt(a)+eps)``
``adadelta_update(p, g, a, d, ...)``   Keras 2.3.1 Adadelta (in place)
``adamax_update(p, g, m, u, t, ...)``  Keras 2.3.1 Adamax (in place)
``nadam_update(p, g, m, v, t, ...)``   Keras 2.3.1 Nadam (in place)
``adamw_update(p, g, m, v, t, ...)``   ``p -= lr*wd*p``, then Adam (Keras 3 AdamW)
``sparse_dot(a, b, out=None)``         ``a @ b`` for a scipy.sparse ``a``, dense ``b``
=====================================  ==========================================

How a call is served: the arguments are checked here; when the C backend is
on and the data is float32 (any strides: C, Fortran, transposed, sliced,
negative or broadcast strides) the C kernel computes, else the NumPy
expression itself runs -- so the promise holds for float64, integers, lists,
N-D shapes and every other input.  Errors are NumPy's own: inputs NumPy
rejects are handed to NumPy to raise the same exception.  ``out=`` arrays are
filled and returned and may alias an input; an output that partially
overlaps an input is computed as NumPy does, as if the inputs were copied
first.  In-place updates check every argument before writing anything.
"""
import numpy as np

from . import _config, reference

__all__ = ["dot", "add", "relu", "softmax", "rmsprop_update", "relu_backward",
           "bias_grad", "softmax_cross_entropy", "sgd_update", "adam_update",
           "sparse_dot"]

_F32 = np.dtype(np.float32)


# ---- routing helpers ------------------------------------------------------

def _c_kernels():
    """The C kernel module when the C backend is on, else None."""
    return _config._ckernels if _config.backend() == "c" else None


def _is_f32(x):
    """A plain float32 ndarray whose elements the C kernels can address."""
    if type(x) is not np.ndarray or x.dtype != _F32 or not x.flags.aligned:
        return False
    for s in x.strides:   # a loop: half the cost of all(<generator>)
        if s & 3:
            return False
    return True


def _writable_f32(x):
    return _is_f32(x) and x.flags.writeable


def _as_2d(x):
    """A 2-D view of x (no copy) for the row kernels, or None.

    0-D has no rows; 1-D is one row; N-D folds the leading axes when that is
    possible without a copy.
    """
    if x.ndim == 2:
        return x
    if x.ndim == 1:
        return x.reshape(1, x.shape[0])
    if x.ndim > 2:
        rows = int(np.prod(x.shape[:-1]))
        try:
            view = x.view()
            view.shape = (rows, x.shape[-1])   # raises rather than copies
            return view
        except AttributeError:
            return None
    return None


def _same_view(a, b):
    """a and b are the very same elements in the same order."""
    return (a.shape == b.shape and a.strides == b.strides and
            a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def _unalias(x, out):
    """x, or a copy of it when writing `out` could change x before it is read."""
    if np.may_share_memory(x, out) and not _same_view(x, out):
        return x.copy()
    return x


def _new_or_out(shape, out):
    return np.empty(shape, _F32) if out is None else out


def _accepts_out(out, shape):
    """out can take a float32 result of `shape` on the C path."""
    return out is None or (_writable_f32(out) and out.shape == shape)


# ---- forward kernels ------------------------------------------------------

def dot(a, b, out=None):
    """``np.dot(a, b, out=out)``; float32 vectors and matrices run in C, or in
    NumPy's BLAS where ``_gemm_route`` says that is faster."""
    # The route first, in one C call (K.dot_route: the operands' dtype,
    # layout and sizes, then fd_sgemm_route): a product handed to NumPy pays
    # ~0.2 us on top of np.dot.  The config is read from _config._state
    # directly, as every Python call here costs ~0.07 us.
    state = _config._state
    K = _config._ckernels if state["backend"] == "c" else None
    nthreads = state["threads"]
    if K is None or not K.dot_route(a, b, nthreads, _HAS_BLAS):
        return np.dot(a, b) if out is None else np.dot(a, b, out=out)
    shape = a.shape[:-1] + b.shape[1:]
    nthreads = _gemm_threads(a.shape[0] if a.ndim == 2 else 1,
                             b.shape[1] if b.ndim == 2 else 1, b.shape[0], nthreads)
    if out is not None and not (_writable_f32(out) and out.shape == shape
                                and out.flags.c_contiguous):
        return np.dot(a, b, out=out)     # NumPy's checks and message
    if not shape:                         # vector . vector: a scalar
        if out is not None:
            return np.dot(a, b, out=out)
        res = np.empty((1, 1), _F32)
        K.sgemm(a.reshape(1, -1), b.reshape(-1, 1), res, nthreads=nthreads)
        return res[0, 0]
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    b2 = b.reshape(-1, 1) if b.ndim == 1 else b
    target = _new_or_out(shape, out)
    if out is not None and (np.may_share_memory(out, a) or
                            np.may_share_memory(out, b)):
        target = np.empty(shape, _F32)    # compute first, then overwrite
    c2 = target if target.ndim == 2 else target.reshape(a2.shape[0], b2.shape[1])
    K.sgemm(a2, b2, c2, nthreads=nthreads)
    if out is not None and target is not out:
        out[...] = target
        return out
    return target


# ---- dot: our GEMM or NumPy's BLAS (issue 9) --------------------------------
#
# ops.dot promises never to be slower than np.dot on ordinary arrays.  Where
# our kernels cannot beat the BLAS NumPy ships with (OpenBLAS, whose
# SkylakeX kernels run ~197 GFLOP/s here against our AVX2 micro-kernel's
# ~121, and whose small-matrix kernels finish a tiny product before our call
# has checked its arguments), the product is handed to np.dot.  The choice is
# a fixed rule of the shape, the SIMD level and the thread count -- never a
# timing taken at run time -- so the same call on the same machine always
# takes the same path and gives the same bits.  Either path gives np.dot's
# result within float32 rounding.  The rule itself is fd_sgemm_route
# (src_c/gemm.c, its measurements in src_c/gemm_config.h), next to the
# kernels whose strengths it encodes; ops.dot reaches it through
# K.dot_route, other callers (the training engine) through _gemm_route.

SIMD_LEVELS = ("generic", "avx2", "avx512")   # fd_simd_name(), lowest first


def _numpy_has_blas():
    """Whether NumPy was built with a BLAS (without one np.dot is a plain loop
    that every level of ours beats).  Unknown counts as yes."""
    try:
        deps = np.__config__.CONFIG["Build Dependencies"]
        return bool(deps["blas"].get("found", True))
    except Exception:   # older NumPy or another layout of the config
        return True


_HAS_BLAS = _numpy_has_blas()


# Products of at most this many flops run on one thread in ops.dot, as
# OpenBLAS 0.3.31 runs them (it keeps m*n*k <= 2**21, e.g. 128x128x128, on
# one thread).  fd_sgemm itself would split from 1 MFLOP (worth ~3 us on an
# idle machine, the training step's setting), but a parallel region waits a
# scheduler tick (4 ms here) whenever another process holds the other core:
# 128x512 @ 512x10 at 2 threads took a median 8 ms against np.dot's 14 us
# on this shared machine, and 12 us on one thread.
_DOT_ONE_THREAD_FLOPS = 2.0 * 2 ** 21


def _gemm_threads(m, n, k, nthreads):
    """The threads ops.dot gives an m x k @ k x n product on the C route."""
    return 1 if 2.0 * m * n * k <= _DOT_ONE_THREAD_FLOPS else nthreads


def _gemm_route(m, n, k, nthreads, simd=None, a_row_major=True):
    """'c' or 'blas': who computes an m x k @ k x n float32 product.

    m, n, k: the product's sizes (a vector operand counts as 1 row or column).
    nthreads: the threads ours would use.  simd: 'generic', 'avx2' or
    'avx512' (default: the level the C kernels use now, FASTDENSE_SIMD as it
    is).  a_row_major: A's rows are contiguous (A[i, p] at i*lda + p), which
    opens the narrow-n dot path.  A pure function of its arguments (and of
    whether NumPy has a BLAS at all): the same product always gets the same
    answer, so a caller such as the training engine can route its own calls
    the way ops.dot does.

    The rule (fd_sgemm_route; measured on Zen 5 against OpenBLAS 0.3.31
    SkylakeX kernels, see src_c/gemm_config.h):

    * NumPy without a BLAS: always ours.  Without the C kernels: 'blas'.
    * generic, avx2: NumPy's BLAS (the portable kernel is ~20x slower than
      any BLAS; our AVX2 6x16 kernel runs 0.5-0.7x OpenBLAS's AVX-512).
    * avx512: NumPy's BLAS for matrix-vector products (m or n == 1), below
      1.2 MFLOP (2*m*n*k), and where our tiles pad or serialise (13 <= n <=
      16, 33 <= n <= 48, 17 <= n <= 24 without contiguous rows of A, and
      below 2 MFLOP outside the narrow-n dot path); ours everywhere else --
      the training products, predict, and narrow n (<= 12) with contiguous
      rows of A, e.g. the logits layer 128x512 @ 512x10.
    """
    if not _HAS_BLAS:
        return "c"
    K = _config._ckernels
    if K is None:
        return "blas"
    level = -1 if simd is None else SIMD_LEVELS.index(simd)
    return "c" if K.sgemm_route(m, n, k, nthreads, level, bool(a_row_major)) else "blas"


def add(x, y, out=None):
    """``np.add(x, y, out=out)``; float32 operands of up to 2-D run in C."""
    K = _c_kernels()
    if K is None or not (_is_f32(x) and _is_f32(y)):
        return np.add(x, y) if out is None else np.add(x, y, out=out)
    try:
        shape = np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        return np.add(x, y) if out is None else np.add(x, y, out=out)
    if len(shape) > 2 or not _accepts_out(out, shape) or not shape:
        return np.add(x, y) if out is None else np.add(x, y, out=out)
    target = _new_or_out(shape, out)
    t2 = _as_2d(target)
    xs = _as_2d(np.broadcast_to(x, shape))
    ys = _as_2d(np.broadcast_to(y, shape))
    xs, ys = _unalias(xs, t2), _unalias(ys, t2)
    K.add_f32(xs, ys, t2, nthreads=_config.get_num_threads())
    return target


def relu(x, out=None):
    """``np.maximum(x, 0, out=out)``; NaN stays NaN."""
    K = _c_kernels()
    x2 = _as_2d(x) if K is not None and _is_f32(x) else None
    if x2 is None or not _accepts_out(out, x.shape):
        return np.maximum(x, 0) if out is None else np.maximum(x, 0, out=out)
    target = _new_or_out(x.shape, out)
    t2 = _as_2d(target)
    if t2 is None:
        return np.maximum(x, 0, out=out)
    K.relu_f32(_unalias(x2, t2), t2, nthreads=_config.get_num_threads())
    return target


def _softmax_numpy(x, axis, out):
    e = np.exp(x - x.max(axis, keepdims=True))
    res = e / e.sum(axis, keepdims=True)
    if out is None:
        return res
    out[...] = res
    return out


def softmax(x, axis=-1, out=None):
    """``e = np.exp(x - x.max(axis, keepdims=True)); e / e.sum(axis, keepdims=True)``.

    Large inputs never overflow; -inf entries get probability 0.  float32
    inputs of 1-D, 2-D (either axis) or C-ordered N-D along the last axis run
    in C; the rest runs the NumPy expression.
    """
    K = _c_kernels()
    if K is None or not _is_f32(x) or x.ndim == 0 or x.size == 0:
        return _softmax_numpy(np.asarray(x) if not hasattr(x, "ndim") else x,
                              axis, out)
    try:
        ax = _normalize_axis(axis, x.ndim)
    except (TypeError, ValueError, np.exceptions.AxisError):
        return _softmax_numpy(x, axis, out)
    if not _accepts_out(out, x.shape):
        return _softmax_numpy(x, axis, out)
    target = _new_or_out(x.shape, out)
    if x.ndim == 2 and ax == 0:
        x2, t2 = x.T, target.T            # columns of x are rows of x.T
    elif ax == x.ndim - 1:
        x2, t2 = _as_2d(x), _as_2d(target)
    else:
        x2 = t2 = None
    if x2 is None or t2 is None:
        return _softmax_numpy(x, axis, out)
    K.softmax_f32(_unalias(x2, t2), t2, nthreads=_config.get_num_threads())
    return target


def _normalize_axis(axis, ndim):
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError("axis must be an integer")
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


# ---- in-place optimizer updates --------------------------------------------

def _check_update(name, param, *others):
    """Every array of an in-place update: same shape, writable where written.

    Raises before anything is modified, so a failed call changes nothing.
    """
    for arr, label, written in others:
        if not isinstance(arr, np.ndarray):
            raise TypeError("%s: %s must be a NumPy array, got %s"
                            % (name, label, type(arr).__name__))
        if arr.shape != param.shape:
            raise ValueError("%s: %s has shape %s but param has shape %s"
                             % (name, label, arr.shape, param.shape))
        if written and not arr.flags.writeable:
            raise ValueError("%s: %s is read-only; the update is in place, "
                             "pass a writable array" % (name, label))


def _update_on_copies(update, param, grad, *state):
    """Run a NumPy update on copies of param and state, then write them back:
    an error half-way (say, float steps into an int param) changes nothing."""
    new_param, new_state = param.copy(), [s.copy() for s in state]
    update(new_param, grad, *new_state)
    for orig, new in zip(state, new_state):
        orig[...] = new
    param[...] = new_param
    return param


def _update_route(param, *arrays):
    """2-D views for the C kernel, or None to use NumPy."""
    K = _c_kernels()
    if K is None or not all(_is_f32(a) for a in (param,) + arrays):
        return None
    views = [_as_2d(a) for a in (param,) + arrays]
    if any(v is None for v in views):
        return None
    return K, views


def rmsprop_update(param, grad, accum, lr=0.001, rho=0.9, epsilon=1e-7):
    """In place: ``accum[:] = rho*accum + (1-rho)*grad**2;
    param -= lr*grad/(np.sqrt(accum)+epsilon)``.  Returns param."""
    if not isinstance(param, np.ndarray):
        raise TypeError("rmsprop_update: param must be a NumPy array (it is "
                        "updated in place), got %s" % type(param).__name__)
    if not param.flags.writeable:
        raise ValueError("rmsprop_update: param is read-only; the update is "
                         "in place, pass a writable array")
    _check_update("rmsprop_update", param, (grad, "grad", False),
                  (accum, "accum", True))
    route = _update_route(param, grad, accum)
    if route is None:
        def update(param, grad, accum):
            accum[:] = rho * accum + (1 - rho) * grad ** 2
            param -= lr * grad / (np.sqrt(accum) + epsilon)
        return _update_on_copies(update, param, grad, accum)
    K, (p2, g2, a2) = route
    K.rmsprop_update_f32(p2, g2, a2, lr, rho, epsilon,
                         nthreads=_config.get_num_threads())
    return param


def sgd_update(param, grad, velocity=None, lr=0.01, momentum=0.0,
               nesterov=False):
    """In place, Keras 2.3.1 SGD: ``v = momentum*v - lr*g``;
    ``param += momentum*v - lr*g`` (Nesterov) or ``param += v``.  Returns param."""
    if not isinstance(param, np.ndarray) or not param.flags.writeable:
        raise ValueError("sgd_update: param must be a writable NumPy array")
    others = [(grad, "grad", False)]
    if momentum != 0 and velocity is None:
        raise ValueError("sgd_update: momentum=%r needs a velocity array "
                         "(np.zeros_like(param))" % momentum)
    if velocity is not None:
        others.append((velocity, "velocity", True))
    _check_update("sgd_update", param, *others)
    arrays = (grad,) if velocity is None else (grad, velocity)
    route = _update_route(param, *arrays)
    if route is None:
        if velocity is None:
            return _update_on_copies(
                lambda p, g: reference.sgd_update_f32(p, g, None, lr, 0.0, False),
                param, grad)
        return _update_on_copies(
            lambda p, g, v: reference.sgd_update_f32(p, g, v, lr, momentum, nesterov),
            param, grad, velocity)
    K, views = route
    v2 = views[2] if velocity is not None else None
    K.sgd_update_f32(views[0], views[1], v2, lr, momentum, bool(nesterov),
                     nthreads=_config.get_num_threads())
    return param


def adam_update(param, grad, m, v, t, lr=0.001, beta1=0.9, beta2=0.999,
                epsilon=1e-7):
    """In place, Keras 2.3.1 Adam at step t (1, 2, ...):
    ``lr_t = lr*sqrt(1-beta2**t)/(1-beta1**t)``, ``m = b1*m + (1-b1)*g``,
    ``v = b2*v + (1-b2)*g**2``, ``param -= lr_t*m/(sqrt(v)+epsilon)``."""
    if not isinstance(param, np.ndarray) or not param.flags.writeable:
        raise ValueError("adam_update: param must be a writable NumPy array")
    if t < 1:
        raise ValueError("adam_update: t is the step number and starts at 1")
    _check_update("adam_update", param, (grad, "grad", False), (m, "m", True),
                  (v, "v", True))
    lr_t = lr * np.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
    route = _update_route(param, grad, m, v)
    if route is None:
        return _update_on_copies(
            lambda p, g, m_, v_: reference.adam_update_f32(
                p, g, m_, v_, lr_t, beta1, beta2, epsilon), param, grad, m, v)
    K, (p2, g2, m2, v2) = route
    K.adam_update_f32(p2, g2, m2, v2, lr_t, beta1, beta2, epsilon,
                      nthreads=_config.get_num_threads())
    return param


# ---- backward kernels ------------------------------------------------------

def relu_backward(grad, y, out=None):
    """``np.where(y > 0, grad, 0)`` in grad's dtype: the relu gradient given
    the relu output y."""
    K = _c_kernels()
    if (K is None or not (_is_f32(grad) and _is_f32(y)) or grad.shape != y.shape
            or _as_2d(grad) is None or not _accepts_out(out, grad.shape)):
        grad_arr = np.asarray(grad)
        res = np.where(np.asarray(y) > 0, grad_arr,
                       np.zeros((), grad_arr.dtype))
        if out is None:
            return res
        out[...] = res
        return out
    target = _new_or_out(grad.shape, out)
    t2 = _as_2d(target)
    if t2 is None:
        out[...] = np.where(y > 0, grad, np.float32(0))
        return out
    g2 = _unalias(_as_2d(grad), t2)
    y2 = _unalias(_as_2d(y), t2)
    K.relu_backward_f32(g2, y2, t2, nthreads=_config.get_num_threads())
    return target


def bias_grad(grad, out=None):
    """``grad.sum(axis=0)``: the bias gradient of a (batch, units) gradient."""
    K = _c_kernels()
    if (K is None or not _is_f32(grad) or grad.ndim != 2
            or not _accepts_out(out, grad.shape[1:])):
        return grad.sum(axis=0) if out is None else np.sum(grad, axis=0, out=out)
    target = _new_or_out(grad.shape[1:], out)
    if np.may_share_memory(target, grad):
        target = np.empty(grad.shape[1:], _F32)
    K.bias_grad_f32(grad, target, nthreads=_config.get_num_threads())
    if out is not None and target is not out:
        out[...] = target
        return out
    return target


def softmax_cross_entropy(logits, target):
    """Softmax + categorical cross-entropy from logits, as Keras computes it
    for a softmax output layer.

    ``target`` is one-hot (or any distribution) of logits' shape, or integer
    class labels of shape (N,).  Returns ``(loss, grad)``: the mean over rows
    of ``-sum(y * log_softmax(logits))`` and ``(softmax(logits) - y) / N``.
    """
    logits = np.asarray(logits)
    target = np.asarray(target)
    if logits.ndim != 2:
        raise ValueError("softmax_cross_entropy: logits must be 2-D (N, classes), "
                         "got shape %s" % (logits.shape,))
    m, n = logits.shape
    sparse = target.ndim == 1
    if sparse:
        if not np.issubdtype(target.dtype, np.integer):
            raise ValueError("softmax_cross_entropy: 1-D targets are class "
                             "labels and must be integers, got %s" % target.dtype)
        if target.shape[0] != m:
            raise ValueError("softmax_cross_entropy: %d labels for %d rows"
                             % (target.shape[0], m))
        if m and (target.min() < 0 or target.max() >= n):
            raise ValueError("softmax_cross_entropy: labels must be in [0, %d)" % n)
        target = target.astype(np.int64, copy=False)
    elif target.shape != logits.shape:
        raise ValueError("softmax_cross_entropy: target shape %s does not match "
                         "logits shape %s" % (target.shape, logits.shape))
    if m == 0:
        raise ValueError("softmax_cross_entropy: the mean over 0 rows is undefined")
    K = _c_kernels()
    use_c = K is not None and logits.dtype == _F32 and (
        sparse or target.dtype == _F32)
    if not use_c:
        dtype = np.result_type(logits.dtype, np.float32)
        x = logits.astype(dtype, copy=False)
        shifted = x - x.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        y = target
        if sparse:
            y = np.zeros((m, n), dtype)
            y[np.arange(m), target] = 1
        terms = np.where(y != 0, y * log_p, 0)
        loss = -terms.sum() / m
        return float(loss), ((np.exp(log_p) - y) / m).astype(dtype, copy=False)
    grad = np.empty((m, n), _F32)
    # misaligned or oddly strided float32 (np.frombuffer views...) is copied:
    # the C kernels read whole, aligned floats
    logits = logits if _is_f32(logits) else np.require(logits, _F32, ["C", "A"])
    if not sparse and not _is_f32(target):
        target = np.require(target, _F32, ["C", "A"])
    loss_sum, _ = K.softmax_xent_f32(logits, target, None, grad, 1.0 / m,
                                     nthreads=_config.get_num_threads())
    return loss_sum / m, grad


# ---- optimizers beyond RMSprop/SGD/Adam (optim family) ----------------------

__all__ += ["adagrad_update", "adadelta_update", "adamax_update", "nadam_update",
            "adamw_update"]


def _check_writable_param(name, param):
    if not isinstance(param, np.ndarray):
        raise TypeError("%s: param must be a NumPy array (it is updated in place), "
                        "got %s" % (name, type(param).__name__))
    if not param.flags.writeable:
        raise ValueError("%s: param is read-only; the update is in place, pass a "
                         "writable array" % name)


def _check_step(name, t):
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
        raise ValueError("%s: t is the step number and starts at 1, got %r" % (name, t))
    return int(t)


def _serve_update(name, param, grad, state, c_call, ref_call):
    """Route one in-place update: the C kernel on float32 arrays, else the
    NumPy twin on copies (so that a failure half-way changes nothing)."""
    route = _update_route(param, grad, *state)
    if route is None:
        return _update_on_copies(ref_call, param, grad, *state)
    K, views = route
    c_call(K, views, _config.get_num_threads())
    return param


def adagrad_update(param, grad, accum, lr=0.01, epsilon=1e-7):
    """In place, Keras 2.3.1 Adagrad: ``accum += grad**2;
    param -= lr*grad/(np.sqrt(accum)+epsilon)``.  Returns param."""
    _check_writable_param("adagrad_update", param)
    _check_update("adagrad_update", param, (grad, "grad", False), (accum, "accum", True))
    return _serve_update(
        "adagrad_update", param, grad, (accum,),
        lambda K, v, nt: K.adagrad_update_f32(*v, lr, epsilon, nthreads=nt),
        _adagrad_numpy(lr, epsilon))


def _adagrad_numpy(lr, epsilon):
    def update(param, grad, accum):
        accum += grad ** 2
        param -= lr * grad / (np.sqrt(accum) + epsilon)
    return update


def adadelta_update(param, grad, accum, delta, lr=1.0, rho=0.95, epsilon=1e-7):
    """In place, Keras 2.3.1 Adadelta: ``accum = rho*accum + (1-rho)*grad**2``,
    ``u = grad*sqrt(delta+epsilon)/sqrt(accum+epsilon)``, ``param -= lr*u``,
    ``delta = rho*delta + (1-rho)*u**2``.  Returns param."""
    _check_writable_param("adadelta_update", param)
    _check_update("adadelta_update", param, (grad, "grad", False),
                  (accum, "accum", True), (delta, "delta", True))
    return _serve_update(
        "adadelta_update", param, grad, (accum, delta),
        lambda K, v, nt: K.adadelta_update_f32(*v, lr, rho, epsilon, nthreads=nt),
        lambda p, g, a, d: reference.adadelta_update_f32(p, g, a, d, lr, rho, epsilon))


def adamax_update(param, grad, m, u, t, lr=0.002, beta1=0.9, beta2=0.999,
                  epsilon=1e-7):
    """In place, Keras 2.3.1 Adamax at step t (1, 2, ...):
    ``lr_t = lr/(1-beta1**t)``, ``m = b1*m + (1-b1)*g``,
    ``u = np.maximum(b2*u, np.abs(g))``, ``param -= lr_t*m/(u+epsilon)``."""
    _check_writable_param("adamax_update", param)
    t = _check_step("adamax_update", t)
    _check_update("adamax_update", param, (grad, "grad", False), (m, "m", True),
                  (u, "u", True))
    lr_t = lr / (1.0 - beta1 ** t)
    return _serve_update(
        "adamax_update", param, grad, (m, u),
        lambda K, v, nt: K.adamax_update_f32(*v, lr_t, beta1, beta2, epsilon,
                                             nthreads=nt),
        lambda p, g, m_, u_: reference.adamax_update_f32(p, g, m_, u_, lr_t, beta1,
                                                         beta2, epsilon))


def nadam_schedule(t, beta1=0.9, schedule_decay=0.004, m_schedule=None):
    """Keras 2.3.1 Nadam's momentum schedule at step t (1, 2, ...).

    Returns ``(mc_t, mc_t1, m_schedule_new, m_schedule_next)``:
    ``mc_t = beta1*(1 - 0.5*0.96**(t*schedule_decay))``, mc_t1 the same at
    t + 1, ``m_schedule_new = m_schedule*mc_t`` and ``m_schedule_next =
    m_schedule_new*mc_t1``, where ``m_schedule`` is the product of the
    mc_s of the steps before (1.0 before the first; computed from t, in
    that order, when not given)."""
    if m_schedule is None:
        m_schedule = 1.0
        for s in range(1, t):
            m_schedule *= beta1 * (1.0 - 0.5 * 0.96 ** (s * schedule_decay))
    mc_t = beta1 * (1.0 - 0.5 * 0.96 ** (t * schedule_decay))
    mc_t1 = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * schedule_decay))
    m_schedule_new = m_schedule * mc_t
    return mc_t, mc_t1, m_schedule_new, m_schedule_new * mc_t1


def nadam_coefficients(t, beta1=0.9, beta2=0.999, schedule_decay=0.004,
                       m_schedule=None):
    """The scalars of one Nadam step, ``(kg, km, vs, m_schedule_new)``, with
    which ``param -= lr*(kg*g + km*m)/(sqrt(v*vs) + epsilon)`` is Keras 2.3.1's
    ``param -= lr*m_bar/(sqrt(v/(1-beta2**t)) + epsilon)``."""
    mc_t, mc_t1, sched_new, sched_next = nadam_schedule(t, beta1, schedule_decay,
                                                        m_schedule)
    kg = (1.0 - mc_t) / (1.0 - sched_new)
    km = mc_t1 / (1.0 - sched_next)
    vs = 1.0 / (1.0 - beta2 ** t)
    return kg, km, vs, sched_new


def nadam_update(param, grad, m, v, t, lr=0.002, beta1=0.9, beta2=0.999,
                 epsilon=1e-7, schedule_decay=0.004, m_schedule=None):
    """In place, Keras 2.3.1 Nadam at step t (1, 2, ...): with the momentum
    schedule of ``nadam_schedule``, ``g' = g/(1-m_schedule_new)``,
    ``m = b1*m + (1-b1)*g``, ``m' = m/(1-m_schedule_next)``,
    ``v = b2*v + (1-b2)*g**2``, ``v' = v/(1-b2**t)``,
    ``param -= lr*((1-mc_t)*g' + mc_t1*m')/(sqrt(v')+epsilon)``.
    ``m_schedule``: the product of the steps before (computed from t when
    None, which takes O(t)).  Returns param."""
    _check_writable_param("nadam_update", param)
    t = _check_step("nadam_update", t)
    _check_update("nadam_update", param, (grad, "grad", False), (m, "m", True),
                  (v, "v", True))
    kg, km, vs, _ = nadam_coefficients(t, beta1, beta2, schedule_decay, m_schedule)
    return _serve_update(
        "nadam_update", param, grad, (m, v),
        lambda K, views, nt: K.nadam_update_f32(*views, lr, beta1, beta2, kg, km, vs,
                                                epsilon, nthreads=nt),
        lambda p, g, m_, v_: reference.nadam_update_f32(p, g, m_, v_, lr, beta1, beta2,
                                                        kg, km, vs, epsilon))


def adamw_update(param, grad, m, v, t, lr=0.001, beta1=0.9, beta2=0.999,
                 epsilon=1e-7, weight_decay=0.004):
    """In place, AdamW (Keras 3's decoupled weight decay) at step t (1, 2, ...):
    ``param -= lr*weight_decay*param``, then the Adam step of ``adam_update``
    (``lr_t = lr*sqrt(1-beta2**t)/(1-beta1**t)``).  Returns param."""
    _check_writable_param("adamw_update", param)
    t = _check_step("adamw_update", t)
    _check_update("adamw_update", param, (grad, "grad", False), (m, "m", True),
                  (v, "v", True))
    lr_t = lr * np.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
    decay = lr * weight_decay
    return _serve_update(
        "adamw_update", param, grad, (m, v),
        lambda K, views, nt: K.adamw_update_f32(*views, lr_t, beta1, beta2, epsilon,
                                                decay, nthreads=nt),
        lambda p, g, m_, v_: reference.adamw_update_f32(p, g, m_, v_, lr_t, beta1,
                                                        beta2, epsilon, decay))


# ---- sparse x dense (scipy.sparse drop-in) ----------------------------------

_DOT_OUT_MESSAGE = ("output array is not acceptable (must have the right datatype, "
                    "number of dimensions, and be a C-Array)")
_I32_MAX = 2 ** 31 - 1


def _sparse_csr_parts(a):
    """(indptr int64, indices int32, values float32) of the float32 scipy
    CSR/CSC/COO ``a`` as a CSR, or None when the C path cannot take it."""
    fmt = getattr(a, "format", None)
    if fmt == "coo":
        a = a.tocsr()        # scipy's O(nnz) conversion (duplicates summed)
        fmt = "csr"
    if fmt not in ("csr", "csc"):
        return None
    indices, indptr = a.indices, a.indptr
    if indices.dtype != np.int32:
        if not np.issubdtype(indices.dtype, np.integer) or (
                indices.size and (indices.max() > _I32_MAX or indices.min() < 0)):
            return None
        indices = indices.astype(np.int32)
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices)
    data = np.ascontiguousarray(a.data)
    if data.dtype != _F32:
        return None
    if fmt == "csr":
        return indptr, indices, data
    # the CSC of A is the CSR of A^T: transpose it back with the C kernel
    m, k = a.shape
    if m > _I32_MAX:
        return None
    K = _config._ckernels
    nt = _config.get_num_threads()
    nnz = int(indptr[-1] - indptr[0]) if len(indptr) else 0
    out_indptr = np.empty(m + 1, np.int64)
    out_indices = np.empty(nnz, np.int32)
    out_values = np.empty(nnz, _F32)
    work = np.empty(max(K.csr_transpose_work_size(m, nt), 1), np.int64)
    try:
        K.csr_transpose(indptr, indices, data, m, out_indptr, out_indices,
                        out_values, work, nthreads=nt)
    except ValueError:
        raise ValueError("sparse_dot: a is not a valid CSC matrix (indptr "
                         "decreases or a row index is out of range)") from None
    return out_indptr, out_indices, out_values


def sparse_dot(a, b, out=None):
    """``a @ b`` for a scipy.sparse matrix or array ``a`` and a dense ``b``
    (2-D, or 1-D: a vector): an ndarray of the shape and dtype scipy gives.

    float32 ``a`` (CSR, CSC or COO) and float32 ``b`` (any strides) run the
    C kernel; everything else (other dtypes, sparse ``b``, np.matrix, lists,
    the NumPy backend) is handed to scipy itself, so results and exception
    classes are scipy's.  ``out``: filled and returned; it must be a
    C-contiguous array of the result's shape and dtype, else ValueError (as
    np.dot says).  Needs scipy (ImportError otherwise).
    """
    from . import _sparse
    sp = _sparse._scipy_sparse()
    K = _c_kernels()
    parts = None
    if (K is not None and sp.issparse(a) and len(a.shape) == 2
            and a.dtype == _F32 and _is_f32(b) and 1 <= b.ndim <= 2
            and b.shape[0] == a.shape[1]
            # scipy's coo_array @ vector has its own rules (a 1-row product
            # is a scalar): leave vectors of COO arrays to scipy
            and not (b.ndim == 1 and a.format == "coo" and not sp.isspmatrix(a))):
        parts = _sparse_csr_parts(a)
    if parts is None:
        res = a @ b
        if out is None:
            return res
        if not (type(out) is np.ndarray and type(res) is np.ndarray
                and out.dtype == res.dtype and out.shape == res.shape
                and out.flags.c_contiguous and out.flags.writeable):
            raise ValueError(_DOT_OUT_MESSAGE)
        out[...] = res
        return out
    indptr, indices, values = parts
    m = a.shape[0]
    shape = (m,) + b.shape[1:]
    if out is not None and not (_writable_f32(out) and out.shape == shape
                                and out.flags.c_contiguous):
        raise ValueError(_DOT_OUT_MESSAGE)
    target = np.empty(shape, _F32) if out is None else out
    if out is not None and np.may_share_memory(out, b):
        target = np.empty(shape, _F32)    # compute first, then overwrite
    b2 = b.reshape(b.shape[0], 1) if b.ndim == 1 else b
    c2 = target.reshape(m, 1) if b.ndim == 1 else target
    try:
        K.csrmm_f32(indptr, indices, values, b2, c2,
                    nthreads=_config.get_num_threads())
    except ValueError:
        raise ValueError("sparse_dot: a is not a valid sparse matrix (indptr "
                         "decreases or an index is out of range)") from None
    if target is not out and out is not None:
        out[...] = target
        return out
    return target
