"""The kernel cases: every C kernel against its NumPy twin, at the seed
network's shapes and sizes around them.

A :class:`Case` is one kernel at one shape: ``setup(rng)`` allocates the
inputs once and returns ``{'fastdense': fn, 'numpy': fn}`` (callables with no
arguments), ``flops`` is set for the GEMMs.  The matrix product is measured
through the public drop-in, ``ops.dot(a, b, out=c)`` against ``np.dot(a, b,
out=c)``, for C- and Fortran-ordered inputs and the transposed views of the
backward pass; the fused and gathered forms the training step uses
(``sgemm`` + bias + relu, ``a_rows``/``a_cols``) against the NumPy
expressions they replace (``fastdense.reference``); the elementwise, softmax,
cross-entropy and optimizer kernels against ``fastdense.reference``.

Every case carries a ``spec``, the constructor's name and arguments, so that a
worker process (NumPy as users have it, ``worker.py``) can build the same
case and run its NumPy side: :func:`numpy_side`.  ``case.blas`` says whether
the NumPy side goes through the BLAS (the GEMMs); only those depend on
OpenBLAS's kernel choice.
"""
import functools

import numpy as np

from .. import _config, ops, reference
from .timing import rand as _rand

F32 = np.float32

_CTORS = {}


def _registered(fn):
    """Record the constructor and its arguments on the case it returns."""
    _CTORS[fn.__name__] = fn

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        case = fn(*args, **kwargs)
        case.spec = (fn.__name__, args, kwargs)
        return case
    return wrapper


def build_case(spec):
    """The case a ``spec`` (``case.spec``) describes."""
    name, args, kwargs = spec
    case = _CTORS[name](*args, **kwargs)
    case.spec = spec
    return case


class Case:
    """One kernel at one shape: how to build its inputs and both sides.

    ``setup(rng)`` allocates the inputs once and returns ``{'fastdense': fn,
    'numpy': fn}`` (callables with no arguments).  ``flops`` is set for GEMMs.
    """

    def __init__(self, kernel, shape, setup, flops=None, layout="C", role=""):
        self.kernel = kernel
        self.shape = shape
        self.setup = setup
        self.flops = flops
        self.layout = layout
        self.role = role
        self.spec = None

    @property
    def blas(self):
        """True when the NumPy side is a matrix product through NumPy's BLAS."""
        return self.flops is not None

    @property
    def name(self):
        return "%s %s%s" % (self.kernel, self.shape,
                            "" if self.layout == "C" else " [%s]" % self.layout)


@_registered
def _dot_case(m, k, n, a_t=False, b_t=False, layout="C", role=""):
    """ops.dot(a, b, out=c) vs np.dot(a, b, out=c) for an m x k @ k x n product.

    a_t / b_t: the operand is the transposed view of a stored (k x m) /
    (n x k) array, as in the backward pass.  layout "F": the operands are
    Fortran-ordered copies.
    """
    def shape_text():
        a = "%dx%d%s" % (m, k, "(T)" if a_t else "")
        b = "%dx%d%s" % (k, n, "(T)" if b_t else "")
        return "%s @ %s" % (a, b)

    def setup(rng):
        a = _rand(rng, k, m).T if a_t else _rand(rng, m, k)
        b = _rand(rng, n, k).T if b_t else _rand(rng, k, n)
        if layout == "F":
            a, b = np.asfortranarray(a), np.asfortranarray(b)
        c = np.empty((m, n), F32)
        return {"fastdense": lambda: ops.dot(a, b, out=c),
                "numpy": lambda: np.dot(a, b, out=c)}
    return Case("dot", shape_text(), setup, flops=2.0 * m * n * k, layout=layout, role=role)


@_registered
def _sgemm_bias_relu_case(m, k, n, role=""):
    def setup(rng):
        a, b, bias = _rand(rng, m, k), _rand(rng, k, n), _rand(rng, n)
        c = np.empty((m, n), F32)
        K = _config._ckernels
        return {"fastdense": lambda: K.sgemm(a, b, c, bias=bias, relu=True,
                                             nthreads=_config.get_num_threads()),
                "numpy": lambda: reference.sgemm(a, b, c, bias=bias, relu=True)}
    return Case("sgemm+bias+relu", "%dx%d @ %dx%d" % (m, k, k, n), setup,
                flops=2.0 * m * n * k, role=role)


@_registered
def _sgemm_gather_case(rows, m, k, n, transposed=False, role=""):
    """The shuffled batch gathered inside the GEMM: X[idx] @ W (a_rows), or
    X[idx].T @ dZ (a_cols on the transposed view), from a rows x k dataset."""
    def setup(rng):
        X = _rand(rng, rows, k)
        idx = rng.permutation(rows)[:m].astype(np.int64)
        K = _config._ckernels
        nt = _config.get_num_threads
        if transposed:
            dz = _rand(rng, m, n)
            c = np.empty((k, n), F32)
            return {"fastdense": lambda: K.sgemm(X.T, dz, c, a_cols=idx, nthreads=nt()),
                    "numpy": lambda: reference.sgemm(X.T, dz, c, a_cols=idx)}
        w = _rand(rng, k, n)
        c = np.empty((m, n), F32)
        return {"fastdense": lambda: K.sgemm(X, w, c, a_rows=idx, nthreads=nt()),
                "numpy": lambda: reference.sgemm(X, w, c, a_rows=idx)}
    if transposed:
        text = "X[idx]^T %dx%d @ %dx%d (X %dx%d)" % (k, m, m, n, rows, k)
        flops = 2.0 * k * n * m
    else:
        text = "X[idx] %dx%d @ %dx%d (X %dx%d)" % (m, k, k, n, rows, k)
        flops = 2.0 * m * n * k
    return Case("sgemm gather", text, setup, flops=flops, role=role)


@_registered
def _ew_case(kernel, m, n, role=""):
    """An elementwise/row kernel: _ckernels.<kernel> vs reference.<kernel>,
    same arguments (outputs preallocated)."""
    def setup(rng):
        K = _config._ckernels
        nt = _config.get_num_threads
        ck, rk = getattr(K, kernel), getattr(reference, kernel)
        x = _rand(rng, m, n)
        if kernel == "add_f32":          # rows + bias, bias as a stride-0 view
            bias = np.broadcast_to(_rand(rng, 1, n), (m, n))
            out = np.empty((m, n), F32)
            return {"fastdense": lambda: ck(x, bias, out, nthreads=nt()),
                    "numpy": lambda: rk(x, bias, out)}
        if kernel in ("relu_f32", "softmax_f32"):
            out = np.empty((m, n), F32)
            return {"fastdense": lambda: ck(x, out, nthreads=nt()),
                    "numpy": lambda: rk(x, out)}
        if kernel == "relu_backward_f32":  # with the fused bias gradient, as training
            y = np.maximum(_rand(rng, m, n), 0)
            out, bg = np.empty((m, n), F32), np.empty(n, F32)
            return {"fastdense": lambda: ck(x, y, out, bias_grad=bg, nthreads=nt()),
                    "numpy": lambda: rk(x, y, out, bias_grad=bg)}
        if kernel == "bias_grad_f32":
            out = np.empty(n, F32)
            return {"fastdense": lambda: ck(x, out, nthreads=nt()),
                    "numpy": lambda: rk(x, out)}
        if kernel == "softmax_xent_f32":  # one-hot targets, gradient (p - y)/m
            y = np.eye(n, dtype=F32)[rng.integers(0, n, m)]
            grad = np.empty((m, n), F32)
            return {"fastdense": lambda: ck(x, y, None, grad, 1.0 / m, nthreads=nt()),
                    "numpy": lambda: rk(x, y, None, grad, 1.0 / m)}
        # optimizer updates, in place over (m, n) parameters
        g = _rand(rng, m, n, scale=0.01)
        p = _rand(rng, m, n, scale=0.05)
        if kernel == "rmsprop_update_f32":
            acc = np.zeros((m, n), F32)
            return {"fastdense": lambda: ck(p, g, acc, 1e-3, 0.9, 1e-7, nthreads=nt()),
                    "numpy": lambda: rk(p, g, acc, 1e-3, 0.9, 1e-7)}
        if kernel == "sgd_update_f32":
            v = np.zeros((m, n), F32)
            return {"fastdense": lambda: ck(p, g, v, 0.01, 0.9, False, nthreads=nt()),
                    "numpy": lambda: rk(p, g, v, 0.01, 0.9, False)}
        if kernel == "adam_update_f32":
            m1, v2 = np.zeros((m, n), F32), np.zeros((m, n), F32)
            return {"fastdense": lambda: ck(p, g, m1, v2, 1e-3, 0.9, 0.999, 1e-7, nthreads=nt()),
                    "numpy": lambda: rk(p, g, m1, v2, 1e-3, 0.9, 0.999, 1e-7)}
        raise ValueError("unknown kernel %r" % kernel)
    return Case(kernel, "%dx%d" % (m, n), setup, role=role)


# The seed network: batch 128, 784 -> 512 -> 10; 407,050 parameters.
N_PARAMS = 784 * 512 + 512 + 512 * 10 + 10
#: (m, k, n, a_t, b_t, role) of the six matrix products of one training step
#: of a 784-512-10 network (a_t / b_t: the operand is a transposed view); the
#: seed network's first layer skips the last one
STEP_PRODUCTS = [
    (128, 784, 512, False, False, "forward x@W1"),
    (128, 512, 10, False, False, "forward h@W2"),
    (512, 128, 10, True, False, "grad W2 = H^T dZ2"),
    (128, 10, 512, False, True, "grad h = dZ2 W2^T"),
    (784, 128, 512, True, False, "grad W1 = X^T dZ1"),
    (128, 512, 784, False, True, "grad x = dZ1 W1^T"),
]
#: the same six at toy sizes, for the smoke test
SMALL_STEP_PRODUCTS = [(16, 24, 20, False, False, "forward"),
                       (16, 20, 3, False, False, "forward 2"),
                       (20, 16, 3, True, False, "grad W2"),
                       (16, 3, 20, False, True, "grad h"),
                       (24, 16, 20, True, False, "grad W1"),
                       (16, 20, 24, False, True, "grad x")]

ELEMENTWISE = ("add_f32", "relu_f32", "relu_backward_f32", "bias_grad_f32",
               "softmax_f32", "softmax_xent_f32")
UPDATES = ("rmsprop_update_f32", "sgd_update_f32", "adam_update_f32")


def kernel_cases(sizes="all"):
    """The registry of kernel cases.

    sizes: "small" (tiny shapes, for the smoke test), "seed" (the seed
    network's shapes), "all" (seed + sizes around them).
    """
    if sizes == "small":
        cases = [_dot_case(16, 24, 20, role="small"),
                 _dot_case(24, 16, 20, a_t=True, role="small"),
                 _dot_case(16, 24, 20, layout="F", role="small"),
                 _sgemm_bias_relu_case(16, 24, 20, role="small"),
                 _sgemm_gather_case(64, 16, 24, 20, role="small"),
                 _sgemm_gather_case(64, 16, 24, 20, transposed=True, role="small")]
        cases += [_ew_case(k, 16, 10, role="small") for k in ELEMENTWISE + UPDATES]
        return cases
    if sizes not in ("seed", "all"):
        raise ValueError("sizes must be 'small', 'seed' or 'all', got %r" % (sizes,))
    seed_dots = STEP_PRODUCTS + [(10000, 784, 512, False, False, "predict x@W1")]
    cases = []
    for layout in ("C", "F"):
        for m, k, n, a_t, b_t, role in seed_dots:
            cases.append(_dot_case(m, k, n, a_t, b_t, layout=layout, role=role))
    cases.append(_sgemm_bias_relu_case(128, 784, 512, role="fused layer-1 forward"))
    cases.append(_sgemm_gather_case(60000, 128, 784, 512, role="gathered layer-1 forward"))
    cases.append(_sgemm_gather_case(60000, 128, 784, 512, transposed=True,
                                    role="gathered grad W1"))
    ew = [("add_f32", 128, 512), ("relu_f32", 128, 512), ("relu_backward_f32", 128, 512),
          ("bias_grad_f32", 128, 512), ("bias_grad_f32", 128, 10),
          ("softmax_f32", 128, 10), ("softmax_f32", 10000, 10),
          ("softmax_xent_f32", 128, 10)]
    cases += [_ew_case(k, m, n, role="seed") for k, m, n in ew]
    cases += [_ew_case(k, 1, N_PARAMS, role="all parameters") for k in UPDATES]
    if sizes == "all":
        around = [(32, 784, 512), (64, 784, 512), (256, 784, 512), (1024, 784, 512),
                  (128, 784, 256), (128, 784, 1024), (127, 783, 511), (128, 1024, 1024)]
        cases += [_dot_case(m, k, n, role="around") for m, k, n in around]
        cases += [_dot_case(1024, 512, 10, role="around"),
                  _dot_case(784, 1024, 512, a_t=True, role="around")]
        cases += [_ew_case(k, m, 512, role="around") for k in ELEMENTWISE[:4]
                  for m in (32, 1024)]
        cases += [_ew_case(k, 1024, 10, role="around") for k in ("softmax_f32",
                                                                 "softmax_xent_f32")]
        cases += [_ew_case("rmsprop_update_f32", 784, 512, role="around"),
                  _ew_case("rmsprop_update_f32", 1, 5130, role="around")]
    return cases



def numpy_side(spec, seed):
    """Worker factory: the NumPy side of the case ``spec``, inputs from rng(seed)."""
    return build_case(spec).setup(np.random.default_rng(seed))["numpy"]


# ---------------------------------------------------------------------------
# the BLAS peak and the step's products as the model holds them
# ---------------------------------------------------------------------------

def peak_side(n):
    """NumPy's n x n @ n x n product (the BLAS rate to compare with)."""
    rng = np.random.default_rng(1)
    a, b = _rand(rng, n, n), _rand(rng, n, n)
    c = np.empty((n, n), F32)
    return lambda: np.dot(a, b, out=c)


def step_operands(rng, m, k, n, a_t, b_t):
    """a, b, c as the model holds them: line-aligned (fastdense._memory)
    storage, the transposed operands as views of the stored arrays."""
    from .. import _memory

    def stored(*shape):
        x = _memory.empty(shape)
        x[...] = _rand(rng, *shape)
        return x
    a = stored(k, m).T if a_t else stored(m, k)
    b = stored(n, k).T if b_t else stored(k, n)
    return a, b, _memory.empty((m, n))


def scaling_side(m, k, n, a_t, b_t, seed):
    """Worker factory: NumPy's ``np.dot`` on one step product's operands."""
    a, b, c = step_operands(np.random.default_rng(seed), m, k, n, a_t, b_t)
    return lambda: np.dot(a, b, out=c)
