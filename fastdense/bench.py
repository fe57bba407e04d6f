"""``fastdense bench``: fastdense against NumPy, kernel by kernel and epoch by
epoch, measured side by side in one process.

What it measures (``python -m fastdense.bench --help`` for the options):

(a) kernels -- every C kernel against its NumPy twin (``fastdense.reference``,
    the readable truth and the baseline), with the same preallocated
    arguments, at the seed network's shapes (batch 128, 784 -> 512 -> 10) and
    a few sizes around them.  The matrix product is measured through the
    public drop-in, ``ops.dot(a, b, out=c)`` against ``np.dot(a, b, out=c)``,
    for C- and Fortran-ordered inputs and the transposed views of the
    backward pass; the fused and gathered forms the training step uses
    (``sgemm`` + bias + relu, ``a_rows``/``a_cols``) against the NumPy
    expressions they replace.  Reported: NumPy time / fastdense time (> 1:
    fastdense is faster), and for GEMM the GFLOP/s of both, fastdense's
    percentage of NumPy's rate on the same shape and of the BLAS peak (NumPy
    on a large square product, measured in the same run).
(b) training -- seconds per epoch (60,000 MNIST images, batch 128) of
    fastdense's C backend, fastdense's NumPy backend, the idiomatic NumPy
    script ``benchmarks/numpy_mnist.py`` and PyTorch on the CPU when ``import
    torch`` works; the floor (the epoch's matrix products alone through
    NumPy's BLAS); test accuracy after the configured epochs.
(c) predict on the 10,000 test images, the same contenders.
(d) thread scaling -- the six matrix products of one training step at one
    thread and at all cores: fastdense's GEMM called as ``fit`` calls it (the
    C binding, on line-aligned buffers as the model allocates them), NumPy's
    ``np.dot`` on the same arrays; per product and for the step's six
    together (total time at one thread / total time at all cores).

How: contenders are run interleaved (the order rotates every repeat), after a
warm-up, each sample long enough to time (``--min-time``), and the medians
of ``--repeats`` samples are reported; ratios come from one run.  Thread
counts are equal on both sides: ``threadpoolctl.threadpool_limits(n,
'blas')`` for NumPy's OpenBLAS and ``fastdense.set_num_threads(n)``, at one
thread and at all usable cores (``--threads 1,2``).

Spinning worker threads: OpenBLAS's (pthreads) workers busy-wait for a while
after each call (about 2**28 cycles by default, ``OPENBLAS_THREAD_TIMEOUT``)
and libgomp's (fastdense's OpenMP) for a shorter while (``GOMP_SPINCOUNT``,
``OMP_WAIT_POLICY``).  When the two libraries alternate on a 2-core machine,
a spinning pool can take the core the other one needs.  The report measures
this (section "spin": the same product timed right after the other library
ran versus after ``--settle-probe`` seconds of quiet) and says how big it was.
It does not change any of those settings itself; ``--settle S`` (sleep S
seconds before each sample) and running under ``OMP_WAIT_POLICY=passive`` /
``OPENBLAS_THREAD_TIMEOUT=4`` are documented options, and the environment in
force is printed with the machine.

Output: a table on stdout, the same as JSON (``--json``, default
``bench-results/bench.json``) and a PNG chart when matplotlib is importable
(``--chart``).  ``--quick`` is the seconds-long version (fewer repeats,
shorter samples, one epoch); ``--kernels-only --sizes small`` is what the
smoke test runs.
"""
import argparse
import datetime
import importlib.util
import itertools
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

from . import _config, ops, reference
from ._atomic import atomic_file

__all__ = ["main", "machine_info", "kernel_cases", "interleaved"]

F32 = np.float32
SCHEMA = "fastdense-bench/1"
DEFAULT_JSON = os.path.join("bench-results", "bench.json")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUMPY_SCRIPT = os.path.join(REPO, "benchmarks", "numpy_mnist.py")


# ---------------------------------------------------------------------------
# machine
# ---------------------------------------------------------------------------

def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _blas_info():
    info = {}
    try:
        deps = np.show_config(mode="dicts").get("Build Dependencies", {})
        blas = deps.get("blas", {})
        info = {k: blas.get(k) for k in ("name", "version", "openblas configuration")
                if blas.get(k) is not None}
    except Exception as exc:  # pragma: no cover - very old NumPy
        info = {"error": "%s: %s" % (type(exc).__name__, exc)}
    try:
        from threadpoolctl import threadpool_info
        pools = [{k: p.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                         "threading_layer", "architecture", "num_threads")}
                 for p in threadpool_info()]
        info["threadpools"] = pools
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


ENV_VARS = ("FASTDENSE_NUM_THREADS", "FASTDENSE_SIMD", "FASTDENSE_BACKEND", "OMP_NUM_THREADS",
            "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_PROC_BIND", "OPENBLAS_NUM_THREADS",
            "OPENBLAS_THREAD_TIMEOUT")


def machine_info():
    """CPU, cores, SIMD level, OpenMP, NumPy and its BLAS, the relevant env."""
    from . import __version__
    try:
        load = os.getloadavg()
    except (AttributeError, OSError):
        load = None
    return {
        "cpu": _cpu_model(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "usable_cores": _config._usable_cores(),
        "logical_cpus": os.cpu_count(),
        "simd": _config.simd_level(),
        "openmp": _config.openmp_enabled(),
        "c_extension": _config.c_available(),
        "c_error": _config.c_error(),
        "fastdense": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": _blas_info(),
        "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ},
        "loadavg_at_start": list(load) if load else None,
    }


# ---------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------

def _calibrate(fn, min_time, max_number=100000):
    """How many calls make one sample last at least min_time seconds."""
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    if dt >= min_time:
        return 1
    # refine on a few more calls: the first may include a cold cache
    n = max(1, min(max_number, int(0.25 * min_time / max(dt, 1e-7))))
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    dt = (time.perf_counter() - t0) / n
    return max(1, min(max_number, int(math.ceil(min_time / max(dt, 1e-9)))))


def interleaved(fns, repeats=7, min_time=0.05, warmup=2, settle=0.0, number=None):
    """Time several callables side by side.

    ``fns`` maps a name to a callable taking no argument.  Each is warmed up,
    its calls per sample are calibrated, then ``repeats`` rounds run every
    callable once per round, the order rotating each round so that no side
    always follows the same other side.  Returns ``{name: [seconds per call,
    one per round]}``.
    """
    names = list(fns)
    for name in names:  # at least `warmup` calls and 0.1 s: page faults, thread
        t0 = time.perf_counter()          # pools and clocks settle first
        for i in itertools.count():
            if i >= warmup and (not warmup or time.perf_counter() - t0 > 0.1):
                break
            fns[name]()
    numbers = {}
    for name in names:
        if settle:
            time.sleep(settle)
        numbers[name] = number or _calibrate(fns[name], min_time)
    samples = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            fn, n = fns[name], numbers[name]
            if settle:
                time.sleep(settle)
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return samples


def _median(xs):
    return statistics.median(xs) if xs else float("nan")


class _Threads:
    """Same thread count on both sides: NumPy's BLAS and fastdense's kernels."""

    def __init__(self, n):
        self.n = n
        self._limits = None
        self._prev = None

    def __enter__(self):
        self._prev = _config.get_num_threads()
        _config.set_num_threads(self.n)
        try:
            from threadpoolctl import threadpool_limits
            self._limits = threadpool_limits(self.n, user_api="blas")
        except ImportError:
            self._limits = None
        return self

    def __exit__(self, *exc):
        if self._limits is not None:
            self._limits.restore_original_limits()
        _config.set_num_threads(self._prev)
        return False


def _load1():
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _have_threadpoolctl():
    return importlib.util.find_spec("threadpoolctl") is not None


# ---------------------------------------------------------------------------
# kernel cases
# ---------------------------------------------------------------------------

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

    @property
    def name(self):
        return "%s %s%s" % (self.kernel, self.shape,
                            "" if self.layout == "C" else " [%s]" % self.layout)


def _rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape, dtype=F32) * F32(scale))


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


def _blas_peak(threads, size):
    """NumPy's GFLOP/s on a large square product: the BLAS rate to compare with."""
    n = size
    rng = np.random.default_rng(1)
    a, b = _rand(rng, n, n), _rand(rng, n, n)
    c = np.empty((n, n), F32)
    s = interleaved({"numpy": lambda: np.dot(a, b, out=c)}, repeats=3 if n <= 1024 else 5,
                    min_time=0.05, warmup=1)
    t = min(s["numpy"])
    return {"threads": threads, "shape": "%dx%d @ %dx%d" % (n, n, n, n),
            "gflops": 2.0 * n ** 3 / t / 1e9}


def run_kernels(cases, threads, repeats, min_time, settle, peak, log):
    results = []
    rng = np.random.default_rng(0)
    for case in cases:
        fns = case.setup(rng)
        s = interleaved(fns, repeats=repeats, min_time=min_time, settle=settle)
        fd, nps = _median(s["fastdense"]), _median(s["numpy"])
        rec = {"kernel": case.kernel, "shape": case.shape, "layout": case.layout,
               "role": case.role, "name": case.name, "threads": threads,
               "fastdense_s": fd, "numpy_s": nps, "ratio": nps / fd,
               "fastdense_min_s": min(s["fastdense"]), "numpy_min_s": min(s["numpy"]),
               "ratio_of_mins": min(s["numpy"]) / min(s["fastdense"]),
               "repeats": repeats, "samples": s}
        if case.flops:
            rec["fastdense_gflops"] = case.flops / fd / 1e9
            rec["numpy_gflops"] = case.flops / nps / 1e9
            rec["pct_of_blas"] = 100.0 * rec["fastdense_gflops"] / rec["numpy_gflops"]
            if peak:
                rec["pct_of_blas_peak"] = 100.0 * rec["fastdense_gflops"] / peak
        results.append(rec)
        log("  %-58s %s" % (case.name, _fmt_ratio(rec["ratio"])))
    return results


def spin_probe(threads, quiet=0.3, calls=20):
    """How much does the other library's spinning pool cost right after a switch?

    For the 128x784 @ 784x512 product: each side is timed (median per call
    over ``calls`` calls) right after a burst of the other side, and after the
    same burst followed by ``quiet`` seconds of sleep.
    """
    rng = np.random.default_rng(2)
    a, b = _rand(rng, 128, 784), _rand(rng, 784, 512)
    c = np.empty((128, 512), F32)
    sides = {"fastdense": lambda: ops.dot(a, b, out=c), "numpy": lambda: np.dot(a, b, out=c)}
    for f in sides.values():
        for _ in range(20):
            f()

    def timed(f):
        ts = []
        for _ in range(calls):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    out = {"threads": threads, "shape": "128x784 @ 784x512", "quiet_s": quiet}
    for me, other in (("fastdense", "numpy"), ("numpy", "fastdense")):
        after, settled = [], []
        for _ in range(3):
            for _ in range(50):
                sides[other]()
            after.append(timed(sides[me]))
            for _ in range(50):
                sides[other]()
            time.sleep(quiet)
            settled.append(timed(sides[me]))
        a_s, s_s = statistics.median(after), statistics.median(settled)
        out[me] = {"after_other_s": a_s, "after_quiet_s": s_s, "slowdown": a_s / s_s}
    return out


# ---------------------------------------------------------------------------
# thread scaling of the training step's products
# ---------------------------------------------------------------------------

def _step_operands(rng, m, k, n, a_t, b_t):
    """a, b, c as the model holds them: line-aligned (fastdense._memory)
    storage, the transposed operands as views of the stored arrays."""
    from . import _memory

    def stored(*shape):
        x = _memory.empty(shape)
        x[...] = _rand(rng, *shape)
        return x
    a = stored(k, m).T if a_t else stored(m, k)
    b = stored(n, k).T if b_t else stored(k, n)
    return a, b, _memory.empty((m, n))


def run_scaling(nmax, repeats, min_time, settle, log, products=STEP_PRODUCTS):
    """2-thread (nmax) against 1-thread time of each step product, both sides.

    fastdense: ``_ckernels.sgemm`` with ``nthreads`` 1 and nmax, interleaved.
    NumPy: ``np.dot`` under ``threadpool_limits(1)`` and ``(nmax)``, the two
    alternating every round.  Medians of ``repeats`` samples.
    """
    K = _config._ckernels
    rng = np.random.default_rng(3)
    have_tpc = _have_threadpoolctl()
    rows = []
    for m, k, n, a_t, b_t, role in products:
        a, b, c = _step_operands(rng, m, k, n, a_t, b_t)
        fd = interleaved({1: lambda: K.sgemm(a, b, c, nthreads=1),
                          nmax: lambda: K.sgemm(a, b, c, nthreads=nmax)},
                         repeats=repeats, min_time=min_time, settle=settle)
        npy = {1: [], nmax: []}
        if have_tpc:
            from threadpoolctl import threadpool_limits
            for r in range(repeats):
                for nt in ((1, nmax) if r % 2 == 0 else (nmax, 1)):
                    with threadpool_limits(nt, user_api="blas"):
                        s = interleaved({nt: lambda: np.dot(a, b, out=c)}, repeats=1,
                                        min_time=min_time, settle=settle)
                    npy[nt] += s[nt]
        shape = "%dx%d%s @ %dx%d%s" % (m, k, "(T)" if a_t else "", k, n, "(T)" if b_t else "")
        rec = {"shape": shape, "role": role, "flops": 2.0 * m * n * k,
               "fastdense_1_s": _median(fd[1]), "fastdense_n_s": _median(fd[nmax]),
               "numpy_1_s": _median(npy[1]), "numpy_n_s": _median(npy[nmax])}
        rec["fastdense_scaling"] = rec["fastdense_1_s"] / rec["fastdense_n_s"]
        rec["numpy_scaling"] = (rec["numpy_1_s"] / rec["numpy_n_s"]) if have_tpc else None
        # from each side's fastest samples: less sensitive to other load
        rec["fastdense_scaling_best"] = min(fd[1]) / min(fd[nmax])
        rec["numpy_scaling_best"] = (min(npy[1]) / min(npy[nmax])) if have_tpc else None
        rows.append(rec)
        log("  scaling %-32s fastdense %.2fx" % (shape, rec["fastdense_scaling"]))
    # the step's GEMM work: all six products, and the five of the seed
    # network (its first layer computes no grad x)
    def total(key, part):
        return sum(r[key] for r in rows[:part])
    step = {}
    for name, part in (("all six products", 6), ("the seed step's five", 5)):
        fd1, fdn = total("fastdense_1_s", part), total("fastdense_n_s", part)
        step[name] = {"fastdense_1_s": fd1, "fastdense_n_s": fdn, "fastdense_scaling": fd1 / fdn}
        if have_tpc:
            n1, nn = total("numpy_1_s", part), total("numpy_n_s", part)
            step[name].update({"numpy_1_s": n1, "numpy_n_s": nn, "numpy_scaling": n1 / nn})
    return {"threads": nmax, "products": rows, "step": step,
            "numpy_pinned": have_tpc}


# ---------------------------------------------------------------------------
# training and predict
# ---------------------------------------------------------------------------

def _load_numpy_script():
    """benchmarks/numpy_mnist.py from the source tree (not shipped in wheels)."""
    if not os.path.exists(NUMPY_SCRIPT):
        return None, ("%s not found: the idiomatic NumPy script lives in the source "
                      "tree (run from a checkout)" % NUMPY_SCRIPT)
    spec = importlib.util.spec_from_file_location("_fastdense_numpy_mnist", NUMPY_SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, None


def _load_data():
    from .datasets import mnist
    (x, y), (xt, yt) = mnist.load_data()
    x = x.reshape(len(x), -1).astype(F32) / 255
    xt = xt.reshape(len(xt), -1).astype(F32) / 255
    eye = np.eye(10, dtype=F32)
    return x, eye[y], xt, eye[yt]


class _FastdenseTrainer:
    def __init__(self, backend, seed):
        from . import layers, models, utils
        self.backend = backend
        self.seed, self.epochs_done, self._utils = seed, 0, utils
        with _config.use_backend(backend):
            utils.set_random_seed(seed)
            net = models.Sequential()
            net.add(layers.Dense(512, activation="relu", input_shape=(784,)))
            net.add(layers.Dense(10, activation="softmax"))
            net.compile(optimizer="rmsprop", loss="categorical_crossentropy",
                        metrics=["accuracy"])
        self.net = net

    def epoch(self, x, y):
        # fastdense shuffles with one library-wide generator: reseed per epoch so that
        # both backends see the same batches however the contenders are interleaved
        self._utils.set_random_seed(self.seed * 1000 + self.epochs_done)
        self.epochs_done += 1
        with _config.use_backend(self.backend):
            self.net.fit(x, y, epochs=1, batch_size=128, verbose=0)

    def predict(self, x):
        with _config.use_backend(self.backend):
            return self.net.predict(x, batch_size=128)

    def accuracy(self, x, y):
        with _config.use_backend(self.backend):
            return float(self.net.evaluate(x, y, batch_size=128, verbose=0)[1])


class _ScriptTrainer:
    def __init__(self, mod, seed):
        self.net = mod.NumpyMLP(seed=seed)

    def epoch(self, x, y):
        self.net.train_epoch(x, y, 128)

    def predict(self, x):
        return self.net.predict(x)

    def accuracy(self, x, y):
        return self.net.accuracy(x, y)


class _TorchTrainer:
    """The same network and optimizer in PyTorch on the CPU (float32)."""

    def __init__(self, torch, seed, threads):
        self.torch = torch
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        nn = torch.nn
        self.net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
        for layer in (self.net[0], self.net[2]):
            nn.init.xavier_uniform_(layer.weight)      # = glorot_uniform
            nn.init.zeros_(layer.bias)
        # torch's RMSprop adds eps outside the root, as Keras does
        self.opt = torch.optim.RMSprop(self.net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
        self.loss = nn.CrossEntropyLoss()
        self._cache = {}

    def _tensors(self, x, y):
        key = (id(x), id(y))
        if key not in self._cache:
            t = self.torch
            self._cache[key] = (t.from_numpy(x), t.from_numpy(y.argmax(axis=1)))
        return self._cache[key]

    def epoch(self, x, y):
        t = self.torch
        X, Y = self._tensors(x, y)
        perm = t.randperm(len(X))
        for start in range(0, len(X), 128):
            idx = perm[start:start + 128]
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.net(X[idx]), Y[idx])
            loss.backward()
            self.opt.step()

    def predict(self, x):
        with self.torch.no_grad():
            return self.torch.softmax(self.net(self.torch.from_numpy(x)), dim=1).numpy()

    def accuracy(self, x, y):
        return float((self.predict(x).argmax(axis=1) == y.argmax(axis=1)).mean())


class _Floor:
    """The epoch's matrix products alone, through NumPy's BLAS (outputs preallocated)."""

    def __init__(self, n=60000, batch=128):
        rng = np.random.default_rng(3)
        self.n, self.batch = n, batch
        self.W1, self.W2 = _rand(rng, 784, 512), _rand(rng, 512, 10)
        self.h, self.dh = np.empty((batch, 512), F32), np.empty((batch, 512), F32)
        self.logits, self.dz2 = np.empty((batch, 10), F32), _rand(rng, batch, 10)
        self.dW1, self.dW2 = np.empty((784, 512), F32), np.empty((512, 10), F32)

    def epoch(self, x, y):
        mm = np.matmul
        for start in range(0, self.n, self.batch):
            xb = x[start:start + self.batch]
            m = len(xb)
            h, dh, lg, dz2 = self.h[:m], self.dh[:m], self.logits[:m], self.dz2[:m]
            mm(xb, self.W1, out=h)
            mm(h, self.W2, out=lg)
            mm(h.T, dz2, out=self.dW2)
            mm(dz2, self.W2.T, out=dh)
            mm(xb.T, dh, out=self.dW1)


def _torch_module(enabled):
    if not enabled:
        return None, "disabled (--no-torch)"
    if importlib.util.find_spec("torch") is None:
        return None, "not installed (optional)"
    try:
        import torch
        return torch, None
    except Exception as exc:  # a broken install must not stop the benchmark
        return None, "import failed: %s: %s" % (type(exc).__name__, exc)


def run_training(threads, epochs, train_repeats, seed, data, use_torch, predict_repeats,
                 min_time, log, settle=0.0):
    """Interleaved epochs of every contender; then predict on the test set."""
    x, y, xt, yt = data
    script, script_err = _load_numpy_script()
    torch, torch_err = _torch_module(use_torch)
    skipped = {}
    if script is None:
        skipped["numpy-script"] = script_err
    if torch is None:
        skipped["torch"] = torch_err
    if not _config.c_available():
        skipped["fastdense-c"] = "C extension not loaded: %s" % _config.c_error()

    def make():
        t = {}
        if "fastdense-c" not in skipped:
            t["fastdense-c"] = _FastdenseTrainer("c", seed)
        t["fastdense-numpy"] = _FastdenseTrainer("numpy", seed)
        if script is not None:
            t["numpy-script"] = _ScriptTrainer(script, seed)
        if torch is not None:
            t["torch"] = _TorchTrainer(torch, seed, threads)
        return t

    # warm-up: a short fit of each contender on 2,048 images
    for tr in make().values():
        tr.epoch(x[:2048], y[:2048])
    floor = _Floor(len(x))
    floor.epoch(x, y)
    times = {name: [] for name in list(make()) + ["floor (BLAS products)"]}
    trainers = None
    for rep in range(train_repeats):
        trainers = make()
        order = list(trainers) + ["floor (BLAS products)"]
        for e in range(epochs):
            k = (rep * epochs + e) % len(order)
            for name in order[k:] + order[:k]:
                if settle:      # the previous contender's pools go idle first
                    time.sleep(settle)
                t0 = time.perf_counter()
                if name.startswith("floor"):
                    floor.epoch(x, y)
                else:
                    trainers[name].epoch(x, y)
                times[name].append(time.perf_counter() - t0)
        log("  training repeat %d/%d: %s" % (rep + 1, train_repeats, ", ".join(
            "%s %.2fs" % (n, ts[-1]) for n, ts in times.items())))
    contenders = {}
    for name, ts in times.items():
        rec = {"seconds_per_epoch": _median(ts), "epoch_times": ts}
        if name in trainers:
            rec["test_accuracy"] = trainers[name].accuracy(xt, yt)
        contenders[name] = rec
    base = contenders.get("fastdense-c", {}).get("seconds_per_epoch")
    for name, rec in contenders.items():
        if base:
            rec["vs_fastdense_c"] = rec["seconds_per_epoch"] / base
    training = {"threads": threads, "epochs": epochs, "repeats": train_repeats,
                "samples": len(x), "batch_size": 128, "contenders": contenders,
                "skipped": skipped}

    # predict on the test set with the trained models, interleaved
    fns = {name: (lambda tr=tr: tr.predict(xt)) for name, tr in trainers.items()}
    s = interleaved(fns, repeats=predict_repeats, min_time=min_time, warmup=1,
                    settle=settle)   # as for the epochs: the other pools go idle
    pred = {name: {"seconds": _median(v), "samples": v} for name, v in s.items()}
    if "fastdense-c" in pred:
        for name, rec in pred.items():
            rec["vs_fastdense_c"] = rec["seconds"] / pred["fastdense-c"]["seconds"]
    predict = {"threads": threads, "rows": len(xt), "contenders": pred}
    return training, predict


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def _fmt_time(s):
    if s is None or not math.isfinite(s):
        return "-"
    if s < 1e-3:
        return "%.1f us" % (s * 1e6)
    if s < 1:
        return "%.2f ms" % (s * 1e3)
    return "%.3f s" % s


def _fmt_ratio(r):
    return "%.2fx" % r if r is not None and math.isfinite(r) else "-"


def format_report(res):
    lines = []
    m = res["machine"]
    blas = m["blas"]
    pools = blas.get("threadpools")
    layer = ""
    if isinstance(pools, list):
        layer = ", ".join(" ".join(str(p[k]) for k in ("internal_api", "version") if p.get(k))
                          + "".join(" (%s)" % p[k] for k in ("threading_layer", "architecture")
                                    if p.get(k))
                          for p in pools)
    lines.append("fastdense bench  %s" % res["created"])
    lines.append("machine: %s, %s usable cores, SIMD %s, OpenMP %s, fastdense %s, NumPy %s, "
                 "BLAS %s %s%s" % (m["cpu"], m["usable_cores"], m["simd"],
                                   "on" if m["openmp"] else "off", m["fastdense"],
                                   m["numpy"], blas.get("name", "?"), blas.get("version", ""),
                                   (" [%s]" % layer) if layer else ""))
    if m.get("env"):
        lines.append("environment: " + " ".join("%s=%s" % kv for kv in m["env"].items()))
    if m.get("loadavg_at_start"):
        end = m.get("loadavg_at_end")
        # only the start counts: by the end the bench's own threads have
        # raised the 1-minute average (2 threads running -> about 1 or more)
        busy = m["loadavg_at_start"][0] > 0.5 * m["usable_cores"]
        lines.append("load average (1 min) at start %.2f%s, %d cores%s" % (
            m["loadavg_at_start"][0],
            (", at end %.2f (the bench's own threads count)" % end[0]) if end else "",
            m["usable_cores"],
            "  -- BUSY MACHINE: other processes shared the cores, timings are noisy"
            if busy else ""))
    loads = [l for l in res.get("loadavg", []) if l.get("load1") is not None]
    if loads:
        lines.append("load average when each thread count started: " + ", ".join(
            "%d thr: %.2f" % (l["threads"], l["load1"]) for l in loads))
    st = res["settings"]
    lines.append("settings: threads %s, repeats %d, min sample %.3f s, settle %.3f s "
                 "(1 thread: %.3f s), sizes %s"
                 % (",".join(map(str, st["threads"])), st["repeats"], st["min_time"],
                    st["settle"], st.get("settle_1thread", st["settle"]), st["sizes"]))
    for note in res.get("notes", []):
        lines.append("note: " + note)
    if res.get("kernels"):
        lines.append("")
        lines.append("Kernels: median time per call; ratio = NumPy time / fastdense time "
                     "(> 1: fastdense faster)")
        lines.append("(best = the same ratio from each side's fastest sample: less "
                     "sensitive to other processes' load)")
        hdr = "%3s  %-18s %-40s %10s %10s %7s %6s %8s %8s %6s %6s" % (
            "thr", "kernel", "shape", "fastdense", "numpy", "ratio", "best", "fd GF/s",
            "np GF/s", "%BLAS", "%peak")
        lines.append(hdr)
        lines.append("-" * len(hdr))
        for r in res["kernels"]:
            shape = r["shape"] + ("" if r["layout"] == "C" else " [F]")
            g = lambda k, f="%.1f": (f % r[k]) if k in r else ""
            lines.append("%3d  %-18s %-40s %10s %10s %7s %6s %8s %8s %6s %6s" % (
                r["threads"], r["kernel"], shape[:40], _fmt_time(r["fastdense_s"]),
                _fmt_time(r["numpy_s"]), _fmt_ratio(r["ratio"]),
                _fmt_ratio(r.get("ratio_of_mins")), g("fastdense_gflops"),
                g("numpy_gflops"), g("pct_of_blas", "%.0f"), g("pct_of_blas_peak", "%.0f")))
        for p in res.get("blas_peak", []):
            lines.append("BLAS peak (%d thread%s): NumPy %s at %.1f GFLOP/s" % (
                p["threads"], "" if p["threads"] == 1 else "s", p["shape"], p["gflops"]))
    for sp in res.get("spin", []):
        lines.append("spin (%d threads, %s): fastdense right after NumPy %s vs after %.1f s "
                     "quiet %s (%.2fx); NumPy right after fastdense %s vs %s (%.2fx)" % (
                         sp["threads"], sp["shape"],
                         _fmt_time(sp["fastdense"]["after_other_s"]), sp["quiet_s"],
                         _fmt_time(sp["fastdense"]["after_quiet_s"]),
                         sp["fastdense"]["slowdown"],
                         _fmt_time(sp["numpy"]["after_other_s"]),
                         _fmt_time(sp["numpy"]["after_quiet_s"]), sp["numpy"]["slowdown"]))
    sc = res.get("scaling")
    if sc:
        n = sc["threads"]
        lines.append("")
        lines.append("Thread scaling of the training step's products: time at 1 thread / time "
                     "at %d (fastdense as fit calls it; NumPy's np.dot%s)" % (
                         n, "" if sc["numpy_pinned"] else ", BLAS threads not pinned"))
        lines.append("(best = the same ratio from each side's fastest samples)")
        hdr = "  %-24s %-26s %10s %10s %6s %6s %10s %10s %6s %6s" % (
            "product", "shape", "fd 1 thr", "fd %d thr" % n, "ratio", "best", "np 1 thr",
            "np %d thr" % n, "ratio", "best")
        lines.append(hdr)
        ratio = lambda x: "" if x is None else "%.2fx" % x
        for r in sc["products"]:
            lines.append("  %-24s %-26s %10s %10s %6s %6s %10s %10s %6s %6s" % (
                r["role"][:24], r["shape"], _fmt_time(r["fastdense_1_s"]),
                _fmt_time(r["fastdense_n_s"]), ratio(r["fastdense_scaling"]),
                ratio(r.get("fastdense_scaling_best")),
                _fmt_time(r["numpy_1_s"]), _fmt_time(r["numpy_n_s"]),
                ratio(r["numpy_scaling"]), ratio(r.get("numpy_scaling_best"))))
        for name, t in sc["step"].items():
            lines.append("  %-51s %10s %10s %6s %6s %10s %10s %6s" % (
                name + " together", _fmt_time(t["fastdense_1_s"]), _fmt_time(t["fastdense_n_s"]),
                ratio(t["fastdense_scaling"]), "", _fmt_time(t.get("numpy_1_s", float("nan"))),
                _fmt_time(t.get("numpy_n_s", float("nan"))), ratio(t.get("numpy_scaling"))))
        lines.append("  (the same six products timed in C, without Python's call: "
                     "tests_c/gemm_scaling.c)")
    for tr in res.get("training", []):
        lines.append("")
        lines.append("Training, %d thread%s: seconds per epoch (median of %d epoch(s); %d "
                     "images, batch %d), test accuracy after %d epoch%s" % (
                         tr["threads"], "" if tr["threads"] == 1 else "s",
                         len(next(iter(tr["contenders"].values()))["epoch_times"]),
                         tr["samples"], tr["batch_size"], tr["epochs"],
                         "" if tr["epochs"] == 1 else "s"))
        for name, c in tr["contenders"].items():
            lines.append("  %-24s %8.3f s/epoch  %6s  %s" % (
                name, c["seconds_per_epoch"],
                ("%.2fx" % c["vs_fastdense_c"]) if "vs_fastdense_c" in c else "",
                ("test accuracy %.4f" % c["test_accuracy"]) if "test_accuracy" in c else ""))
        for name, why in tr["skipped"].items():
            lines.append("  %-24s skipped: %s" % (name, why))
    for pr in res.get("predict", []):
        lines.append("Predict %d test images, %d thread%s:" % (
            pr["rows"], pr["threads"], "" if pr["threads"] == 1 else "s"))
        for name, c in pr["contenders"].items():
            lines.append("  %-24s %10s  %s" % (name, _fmt_time(c["seconds"]), (
                "%.2fx" % c["vs_fastdense_c"]) if "vs_fastdense_c" in c else ""))
    for t in res.get("skipped_sections", []):
        lines.append("skipped: " + t)
    slower = res.get("slower_than_numpy", [])
    lines.append("")
    if slower:
        lines.append("fastdense slower than NumPy (ratio < 1): " + "; ".join(slower))
    elif res.get("kernels") or res.get("training"):
        lines.append("fastdense slower than NumPy: nowhere in this run")
    return "\n".join(lines)


def _slower(res):
    out = []
    for r in res.get("kernels", []):
        if r["ratio"] < 1.0:
            out.append("%s (%d thr) %.2fx" % (r["name"], r["threads"], r["ratio"]))
    for tr in res.get("training", []):
        c = tr["contenders"]
        if "fastdense-c" in c:
            fd = c["fastdense-c"]["seconds_per_epoch"]
            for other in ("fastdense-numpy", "numpy-script", "torch"):
                if other in c and c[other]["seconds_per_epoch"] < fd:
                    out.append("training epoch vs %s (%d thr) %.2fx" % (
                        other, tr["threads"], c[other]["seconds_per_epoch"] / fd))
    for pr in res.get("predict", []):
        c = pr["contenders"]
        if "fastdense-c" in c:
            for other in ("fastdense-numpy", "numpy-script", "torch"):
                if other in c and c[other]["vs_fastdense_c"] < 1.0:
                    out.append("predict vs %s (%d thr) %.2fx" % (
                        other, pr["threads"], c[other]["vs_fastdense_c"]))
    return out


def write_chart(res, path):
    """A PNG: kernel ratios per thread count, and seconds per epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    kern = res.get("kernels", [])
    train = res.get("training", [])
    threads = sorted({r["threads"] for r in kern} | {t["threads"] for t in train})
    names = list(dict.fromkeys(r["name"] for r in kern))
    nplots = (1 if kern else 0) + (1 if train else 0)
    if not nplots:
        return False
    heights = ([max(3, 0.25 * len(names))] if kern else []) + ([3] if train else [])
    fig, axes = plt.subplots(nplots, 1, figsize=(11, sum(heights) + 1),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    ax_i = 0
    if kern:
        ax = axes[ax_i][0]
        ax_i += 1
        width = 0.8 / max(1, len(threads))
        for j, t in enumerate(threads):
            by = {r["name"]: r["ratio"] for r in kern if r["threads"] == t}
            ys = [i + j * width for i in range(len(names))]
            ax.barh(ys, [by.get(n, 0) for n in names], height=width,
                    label="%d thread%s" % (t, "" if t == 1 else "s"))
        ax.axvline(1.0, color="k", lw=1)
        ax.set_xscale("log")
        ax.set_yticks([i + 0.4 - width / 2 for i in range(len(names))])
        ax.set_yticklabels(names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("NumPy time / fastdense time (> 1: fastdense faster)")
        ax.legend(fontsize=8)
        ax.set_title("fastdense kernels vs NumPy -- %s, %s" % (
            res["machine"]["cpu"], res["machine"]["simd"]), fontsize=9)
    if train:
        ax = axes[ax_i][0]
        cnames = list(dict.fromkeys(n for t in train for n in t["contenders"]))
        width = 0.8 / max(1, len(train))
        for j, t in enumerate(train):
            xs = [i + j * width for i in range(len(cnames))]
            ax.bar(xs, [t["contenders"].get(n, {}).get("seconds_per_epoch", 0)
                        for n in cnames], width=width,
                   label="%d thread%s" % (t["threads"], "" if t["threads"] == 1 else "s"))
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(cnames))])
        ax.set_xticklabels(cnames, fontsize=8)
        ax.set_ylabel("seconds per epoch")
        ax.legend(fontsize=8)
        ax.set_title("MNIST training epoch (60,000 images, batch 128)", fontsize=9)
    fig.tight_layout()
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _parse_threads(text):
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("--threads takes whole numbers like 1,2")
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError("--threads takes whole numbers >= 1 like 1,2")
    return list(dict.fromkeys(vals))


def build_parser():
    ap = argparse.ArgumentParser(
        prog="fastdense bench",
        description="fastdense against NumPy, kernel by kernel and epoch by epoch, "
                    "interleaved in one process at equal thread counts.",
        epilog="Spinning threads: OpenBLAS's and libgomp's workers busy-wait after each "
               "call; the 'spin' line measures what that costs the other library. To "
               "change it, use --settle S, or run under OMP_WAIT_POLICY=passive (fastdense's "
               "OpenMP threads sleep at once) and/or OPENBLAS_THREAD_TIMEOUT=4 (OpenBLAS's "
               "workers sleep sooner); the environment in force is printed with the machine.")
    cores = _config._usable_cores()
    ap.add_argument("--threads", type=_parse_threads, default=None,
                    help="thread counts to run at, e.g. 1,2 (default: 1 and all %d usable "
                         "cores)" % cores)
    ap.add_argument("--quick", action="store_true",
                    help="seconds-long run: 3 repeats, short samples, seed shapes, 1 epoch")
    ap.add_argument("--full", action="store_true",
                    help="train 5 epochs (the accuracy target: >= 0.976)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per contender (default 1)")
    ap.add_argument("--train-repeats", type=int, default=None,
                    help="fresh trainings per contender (default 3, 1 with --quick/--full)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="samples per kernel and side (default 7, 3 with --quick)")
    ap.add_argument("--min-time", type=float, default=None,
                    help="seconds per sample (default 0.05, 0.01 with --quick)")
    ap.add_argument("--sizes", choices=("small", "seed", "all"), default=None,
                    help="kernel shapes: small (smoke test), seed (the network's), all "
                         "(seed + sizes around; default, seed with --quick)")
    ap.add_argument("--kernels-only", action="store_true", help="skip training and predict")
    ap.add_argument("--no-kernels", action="store_true", help="skip the kernel table")
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    ap.add_argument("--no-scaling", action="store_true",
                    help="skip the thread-scaling table of the step's products")
    ap.add_argument("--settle", type=float, default=None,
                    help="sleep this long before each sample so the other library's "
                         "spinning threads go idle (default 0.15 s at more than one "
                         "thread, 0 at one thread and with --quick: OpenBLAS's "
                         "workers spin ~0.1 s after a call and would steal the cores "
                         "from the sample that follows)")
    ap.add_argument("--settle-probe", type=float, default=0.3,
                    help="quiet time for the spin probe (default 0.3 s)")
    ap.add_argument("--no-spin-probe", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=DEFAULT_JSON, help="JSON output (default %(default)s)")
    ap.add_argument("--chart", default=None,
                    help="PNG chart (default: the JSON path with .png; needs matplotlib)")
    ap.add_argument("--no-chart", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    return ap


def _settle(args, nthreads):
    """Seconds of quiet before each sample: --settle, else 0.15 s when more
    than one thread runs (and not --quick), else 0."""
    if args.settle is not None:
        return args.settle
    return 0.15 if nthreads > 1 and not args.quick else 0.0


def run(args, log=print):
    """Run the benchmark for parsed args; returns the result dict."""
    cores = _config._usable_cores()
    threads = args.threads or list(dict.fromkeys([1, cores]))
    repeats = args.repeats or (3 if args.quick else 7)
    min_time = args.min_time if args.min_time is not None else (0.01 if args.quick else 0.05)
    sizes = args.sizes or ("seed" if args.quick else "all")
    epochs = args.epochs or (5 if args.full else 1)
    train_repeats = args.train_repeats or (1 if (args.quick or args.full) else 3)
    res = {"schema": SCHEMA,
           "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "command": ["fastdense", "bench"] + list(getattr(args, "_argv", [])),
           "machine": machine_info(),
           "settings": {"threads": threads, "repeats": repeats, "min_time": min_time,
                        "settle": _settle(args, 2), "settle_1thread": _settle(args, 1),
                        "sizes": sizes, "epochs": epochs,
                        "train_repeats": train_repeats, "quick": bool(args.quick)},
           "notes": [], "kernels": [], "blas_peak": [], "spin": [], "training": [],
           "predict": [], "scaling": None, "skipped_sections": []}
    notes = res["notes"]
    if not _have_threadpoolctl():
        notes.append("threadpoolctl is not installed: NumPy's BLAS threads cannot be "
                     "pinned, so NumPy runs on its own thread count at every setting "
                     "(pip install threadpoolctl)")
    if max(threads) > cores:
        notes.append("more threads (%d) than usable cores (%d)" % (max(threads), cores))
    c_ok = _config.c_available()
    if not c_ok:
        notes.append("the C extension is not loaded (%s): fastdense runs on NumPy, so the "
                     "kernel table is skipped" % _config.c_error())
    data = None
    if not args.kernels_only:
        try:
            data = _load_data()
        except Exception as exc:
            res["skipped_sections"].append(
                "training and predict: MNIST could not be loaded (%s: %s); set "
                "FASTDENSE_DATA to a folder holding mnist/" % (type(exc).__name__, exc))
        else:
            try:
                from . import models  # noqa: F401
            except Exception as exc:
                res["skipped_sections"].append("training: fastdense.models unavailable "
                                                "(%s: %s)" % (type(exc).__name__, exc))
                data = None
    cases = kernel_cases(sizes) if (c_ok and not args.no_kernels) else []
    res["loadavg"] = []
    for n in threads:
        res["loadavg"].append({"threads": n, "load1": _load1()})
        with _Threads(n):
            if cases:
                log("kernels at %d thread%s (%d cases)" % (n, "" if n == 1 else "s",
                                                           len(cases)))
                peak = _blas_peak(n, 256 if sizes == "small" else
                                  1024 if args.quick else 2048)
                res["blas_peak"].append(peak)
                res["kernels"] += run_kernels(cases, n, repeats, min_time, _settle(args, n),
                                              peak["gflops"], log)
                if n > 1 and not (args.no_spin_probe or sizes == "small"):
                    res["spin"].append(spin_probe(n, quiet=args.settle_probe))
            if data is not None:
                log("training at %d thread%s: %d epoch%s x %d repeat%s" % (
                    n, "" if n == 1 else "s", epochs, "" if epochs == 1 else "s",
                    train_repeats, "" if train_repeats == 1 else "s"))
                tr, pr = run_training(n, epochs, train_repeats, args.seed, data,
                                      not args.no_torch, repeats, min_time, log,
                                      settle=_settle(args, n))
                res["training"].append(tr)
                res["predict"].append(pr)
    if cases and max(threads) > 1 and not args.no_scaling:
        nmax = max(threads)
        log("thread scaling: the step's products at 1 and %d threads" % nmax)
        res["scaling"] = run_scaling(nmax, repeats, min_time, _settle(args, nmax), log,
                                     SMALL_STEP_PRODUCTS if sizes == "small" else STEP_PRODUCTS)
    try:
        res["machine"]["loadavg_at_end"] = list(os.getloadavg())
    except (AttributeError, OSError):
        pass
    for sp in res["spin"]:
        worst = max(sp["fastdense"]["slowdown"], sp["numpy"]["slowdown"])
        if worst > 1.1:
            notes.append("spinning threads: at %d threads a library called right after "
                         "the other ran up to %.2fx slower than after %.1f s quiet (see "
                         "'spin'); --settle S or OMP_WAIT_POLICY=passive / "
                         "OPENBLAS_THREAD_TIMEOUT=4 in the environment change this"
                         % (sp["threads"], worst, sp["quiet_s"]))
    res["slower_than_numpy"] = _slower(res)
    return res


def main(argv=None):
    """Entry point of ``fastdense bench`` (argv: the arguments after 'bench')."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = build_parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:          # --help or a usage error
        return int(exc.code or 0)
    args._argv = argv
    log = (lambda *a, **k: None) if args.quiet else (
        lambda *a, **k: print(*a, file=sys.stderr, flush=True, **k))
    res = run(args, log)
    print(format_report(res))
    if args.json:
        d = os.path.dirname(args.json)
        if d:
            os.makedirs(d, exist_ok=True)
        with atomic_file(args.json, "w", durable=False) as f:
            json.dump(res, f, indent=1, allow_nan=True)
        print("JSON written to %s" % args.json)
    if not args.no_chart:
        chart = args.chart or (os.path.splitext(args.json)[0] + ".png" if args.json else None)
        if chart:
            if importlib.util.find_spec("matplotlib") is None:
                print("matplotlib is not installed: no chart (pip install matplotlib)")
            else:
                try:
                    if write_chart(res, chart):
                        print("chart written to %s" % chart)
                except Exception as exc:
                    print("chart not written: %s: %s" % (type(exc).__name__, exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
