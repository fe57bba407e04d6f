"""The C kernels (fastdense._ckernels) against their NumPy twins (fastdense.reference).

One registry, ``KERNELS``, says for every kernel (sgemm variants included:
an (m, n) shape becomes (m, k, n)) how to build its arguments (inputs and
preallocated outputs) for a shape, a layout plan and a random generator,
which arguments it writes, and how close its results must be.  The tests
below walk the registry over shapes x layouts x thread counts (sampled, not
the full product: all shapes in C order, all layouts on a few shapes), with
NaN/inf, in place and aliased outputs, and bad calls (in a subprocess, so a
crash is a failed test).  sgemm has extra tests of its own: (m, k, n) around
the blocking parameters under every SIMD level, every a/b/c layout
combination, the epilogue, gathers and odd thread counts.

Tolerances are error bounds, not guesses (u = 2**-24, the float32 unit
roundoff); each result is held against the float64 truth computed from the
same float32 inputs, and the reference is held to the same bound (so the
oracle itself is checked):

* sgemm: ``|C - C64| <= 2 (k+2) u (|alpha| |A|@|B| + |beta||C0| + |bias|)``,
  the classic forward bound for a k-term dot product (+ the epilogue).
* add, relu, relu_backward's mask: exact (one rounding, identical in both).
* bias_grad / column sums: ``2 (m+1) u sum_i |g_ij|`` (a length-m sum).
* softmax: ``u (|z| + n + 6) p`` with z = x - max: the rounding of z
  (amplified by exp), exp and division's few ulps, a length-n sum.
* optimizers: a few ulps of the magnitudes of the terms they add.
"""
import contextlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from arrays import (EPS32, GEMM_LAYOUT_SHAPES, GEMM_SHAPES, LAYOUTS,
                    LAYOUT_SHAPES_2D, PAR_SHAPE, SHAPES_2D, assert_outside_untouched,
                    assert_same_nonfinite, assert_within, inject_nonfinite,
                    layout, snapshot_outside)

U = float(EPS32)

# NaN/inf inputs make NumPy warn while computing the expected values
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _cores():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


ALL_CORES = max(2, _cores())  # at least 2 so the parallel code paths run
THREADS = [1, ALL_CORES]

# The GEMM micro-kernel is chosen at run time; FASTDENSE_SIMD (read by the C
# code on every call) can only lower the level, so every level up to this
# CPU's is tested here.
SIMD_LEVELS = ["generic", "avx2", "avx512"]


def levels_up_to(ckernels):
    """The SIMD levels this CPU can run, lowest first."""
    return SIMD_LEVELS[:SIMD_LEVELS.index(ckernels.simd_name()) + 1]


@contextlib.contextmanager
def simd_level(level):
    """FASTDENSE_SIMD=level inside the block, the previous value after it."""
    old = os.environ.get("FASTDENSE_SIMD")
    os.environ["FASTDENSE_SIMD"] = level
    try:
        yield level
    finally:
        if old is None:
            os.environ.pop("FASTDENSE_SIMD", None)
        else:
            os.environ["FASTDENSE_SIMD"] = old


@pytest.fixture(params=SIMD_LEVELS)
def simd(request, ckernels):
    """Run the test with the GEMM kernels of one SIMD level (skip if the CPU lacks it)."""
    if request.param not in levels_up_to(ckernels):
        pytest.skip("this CPU runs %s at most" % ckernels.simd_name())
    with simd_level(request.param):
        assert ckernels.simd_name() == request.param
        yield request.param

# ---------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------


class Plan:
    """Which layout each argument gets: ``Plan('C')``, ``Plan('in:F')`` (the
    inputs in F, outputs C), ``Plan('out:strided')``, ``Plan('mixed')``."""

    def __init__(self, spec):
        self.spec = spec
        self._i = 0

    def __call__(self, role):
        s = self.spec
        if s == "mixed":
            self._i += 1
            pool = LAYOUTS if role == "out" else LAYOUTS + ["bcast", "bcastcol"]
            return pool[(self._i * 5) % len(pool)]
        if ":" in s:
            which, lay = s.split(":")
            return lay if which == role else "C"
        return s

    def vec(self, role):
        """1-D layouts: C, strided or negative."""
        lay = self(role)
        return {"F": "C", "T": "C", "negrow": "neg", "bcast": "strided",
                "bcastcol": "neg"}.get(lay, lay)  # rowpad: offset 1-D slice

    def __repr__(self):
        return self.spec


PLANS = ["C"] + ["in:" + l for l in LAYOUTS[1:] + ["bcast", "bcastcol"]] + \
        ["out:" + l for l in LAYOUTS[1:]] + ["mixed"]


def randn(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def nan_out(shape, lay):
    """An output buffer full of NaN (so that unwritten entries are caught)."""
    return layout(np.full(shape, np.nan, np.float32), lay)


class Case:
    """Arguments of one kernel call: ``args`` (an ordered dict of positional
    arguments), ``kwargs``, and the names of the arguments it writes."""

    def __init__(self, args, outputs, kwargs=None):
        self.args = args
        self.outputs = tuple(outputs)
        self.kwargs = kwargs or {}
        self.orig = {k: np.array(v, copy=True) for k, v in args.items()
                     if isinstance(v, np.ndarray)}
        self.orig.update({k: np.array(v, copy=True) for k, v in self.kwargs.items()
                          if isinstance(v, np.ndarray)})
        self.around = {k: snapshot_outside(self.get(k)) for k in self.outputs}

    def get(self, name):
        return self.args[name] if name in self.args else self.kwargs[name]

    def call(self, fn, nthreads):
        return fn(*self.args.values(), nthreads=nthreads, **self.kwargs)

    def check_inputs_untouched(self, what):
        for name, before in self.orig.items():
            if name in self.outputs:
                continue
            now = self.get(name)
            assert np.array_equal(np.ascontiguousarray(now).view(np.uint8),
                                  np.ascontiguousarray(before).view(np.uint8)), \
                "%s: input %r was modified" % (what, name)

    def check_outside_untouched(self):
        for name in self.outputs:
            assert_outside_untouched(self.get(name), self.around[name])


class Kernel:
    """A registry entry: ``build(shape, plan, rng, nonfinite) -> Case`` and
    ``check(case_c, ret_c, case_ref, ret_ref, what)``."""

    def __init__(self, name, func, build, check, shape_ok=None):
        self.name = name
        self.func = func          # attribute name in both modules
        self.build = build
        self.check = check
        self.shape_ok = shape_ok or (lambda shape: True)


def _returns_out(name):
    def check_ret(case, ret, what):
        assert ret is case.get(name), "%s: does not return its output %r" % (what, name)
    return check_ret


# ---------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------

def build_add(shape, plan, rng, nonfinite):
    x, y = randn(rng, shape), randn(rng, shape)
    if nonfinite:
        inject_nonfinite(x, rng, nonfinite)
        inject_nonfinite(y, rng, nonfinite)
    return Case({"x": layout(x, plan("in")), "y": layout(y, plan("in")),
                 "out": nan_out(shape, plan("out"))}, ["out"])


def check_exact(outname):
    def check(cc, rc, cr, rr, what):
        _returns_out(outname)(cc, rc, what)
        got, want = cc.get(outname), cr.get(outname)
        assert_same_nonfinite(got, want, what)
        assert np.array_equal(got, want, equal_nan=True), what
    return check


def build_relu(shape, plan, rng, nonfinite):
    x = randn(rng, shape)
    if nonfinite:
        inject_nonfinite(x, rng, nonfinite)
    return Case({"x": layout(x, plan("in")), "out": nan_out(shape, plan("out"))},
                ["out"])


def build_relu_backward(with_bias_grad):
    def build(shape, plan, rng, nonfinite):
        g = randn(rng, shape)
        y = np.maximum(randn(rng, shape), 0)  # a relu output: zeros and positives
        if nonfinite:
            inject_nonfinite(g, rng, nonfinite)
            inject_nonfinite(y, rng, nonfinite / 2, kinds=(np.nan, np.inf))
        kwargs = {}
        outs = ["out"]
        if with_bias_grad:
            kwargs["bias_grad"] = nan_out((shape[1],), plan.vec("out"))
            outs.append("bias_grad")
        return Case({"grad": layout(g, plan("in")), "y": layout(y, plan("in")),
                     "out": nan_out(shape, plan("out"))}, outs, kwargs)
    return build


def colsum_truth(g):
    g64 = np.asarray(g, np.float64)
    return g64.sum(axis=0), 2 * (g64.shape[0] + 1) * U * np.abs(g64).sum(axis=0)


def check_relu_backward(cc, rc, cr, rr, what):
    check_exact("out")(cc, rc, cr, rr, what)
    if "bias_grad" in cc.outputs:
        truth, bound = colsum_truth(cr.get("out"))
        assert_within(cr.get("bias_grad"), truth, bound, what + " (reference bias_grad)")
        assert_within(cc.get("bias_grad"), truth, bound, what + " bias_grad")


def build_bias_grad(shape, plan, rng, nonfinite):
    g = randn(rng, shape)
    if nonfinite:
        inject_nonfinite(g, rng, nonfinite)
    return Case({"grad": layout(g, plan("in")),
                 "out": nan_out((shape[1],), plan.vec("out"))}, ["out"])


def check_bias_grad(cc, rc, cr, rr, what):
    _returns_out("out")(cc, rc, what)
    truth, bound = colsum_truth(cc.orig["grad"])
    assert_within(cr.get("out"), truth, bound, what + " (reference)")
    assert_within(cc.get("out"), truth, bound, what)


def softmax_truth(x):
    """Float64 softmax of float32 ``x`` and its error bound for a float32 kernel."""
    x64 = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        z = x64 - x64.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        n = x64.shape[1]
        bound = U * (np.abs(np.where(np.isfinite(z), z, 0)) + n + 6) * p + 8 * 2.0 ** -149
    return p, z, bound


def build_softmax(shape, plan, rng, nonfinite):
    x = randn(rng, shape, scale=4.0)
    if nonfinite:
        inject_nonfinite(x, rng, nonfinite)
    return Case({"x": layout(x, plan("in")), "out": nan_out(shape, plan("out"))},
                ["out"])


def check_softmax(cc, rc, cr, rr, what):
    _returns_out("out")(cc, rc, what)
    p, _, bound = softmax_truth(cc.orig["x"])
    assert_within(cr.get("out"), p, bound, what + " (reference)")
    assert_within(cc.get("out"), p, bound, what)


def softmax_rows_ok(shape):
    # zero classes: no max (the NumPy expression raises); see test_softmax_zero_classes
    return shape[1] > 0


XENT_TARGETS = ("onehot", "soft", "labels")


def build_xent(target_kind, outputs=True):
    def build(shape, plan, rng, nonfinite):
        m, n = shape
        logits = randn(rng, shape, scale=3.0)
        if nonfinite:
            inject_nonfinite(logits, rng, nonfinite)
        labels = rng.integers(0, max(n, 1), size=m).astype(np.int64)
        if target_kind == "labels":
            target = labels if n else np.zeros(m, np.int64)
            tgt = layout(target, plan.vec("in"))
        else:
            if target_kind == "onehot":
                t = np.zeros(shape, np.float32)
                t[np.arange(m), labels] = 1
            else:
                t = np.abs(randn(rng, shape)) + np.float32(0.01)
                t /= t.sum(axis=1, keepdims=True)
            tgt = layout(t, plan("in"))
        args = {"logits": layout(logits, plan("in")), "target": tgt}
        kwargs = {"scale": np.float32(1.0 / max(m, 1))}
        outs = []
        if outputs:
            kwargs["probs"] = nan_out(shape, plan("out"))
            kwargs["grad"] = nan_out(shape, plan("out"))
            outs = ["probs", "grad"]
        return Case(args, outs, kwargs)
    return build


def xent_truth(logits, target):
    x64 = np.asarray(logits, np.float64)
    m, n = x64.shape
    if target.ndim == 1:
        y = np.zeros((m, n))
        y[np.arange(m), target] = 1
    else:
        y = np.asarray(target, np.float64)
    p, z, pbound = softmax_truth(logits)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
        logp = z - lse
        terms = np.where(y != 0, y * logp, 0.0)
        loss = -terms.sum()
        mag = np.where(y != 0, np.abs(y) * (np.abs(z) + np.abs(lse) + 1), 0.0)
        lbound = 2 * (n + 4) * U * np.nansum(mag) + 1e-300
    return loss, lbound, p, pbound, y


def check_xent(cc, rc, cr, rr, what):
    logits, target = cc.orig["logits"], cc.orig["target"]
    loss_c, hits_c = rc
    loss_r, hits_r = rr
    assert isinstance(loss_c, float) and isinstance(hits_c, int), what
    loss, lbound, p, pbound, y = xent_truth(logits, target)
    assert_within(np.float64(loss_r), np.float64(loss), lbound, what + " loss (reference)")
    assert_within(np.float64(loss_c), np.float64(loss), lbound, what + " loss")
    if not np.isnan(logits).any():
        assert hits_c == hits_r, "%s: n_correct %d != reference %d" % (what, hits_c, hits_r)
    if "probs" in cc.outputs:
        assert_within(cr.get("probs"), p, pbound, what + " probs (reference)")
        assert_within(cc.get("probs"), p, pbound, what + " probs")
        scale = float(cc.kwargs["scale"])
        with np.errstate(invalid="ignore"):
            g = (p - y) * scale
            gbound = abs(scale) * (pbound + 3 * U * np.abs(p - y))
        assert_within(cr.get("grad"), g, gbound, what + " grad (reference)")
        assert_within(cc.get("grad"), g, gbound, what + " grad")


LR, RHO, EPS = np.float32(0.01), np.float32(0.9), np.float32(1e-7)


def build_rmsprop(shape, plan, rng, nonfinite):
    p, g = randn(rng, shape), randn(rng, shape)
    acc = np.abs(randn(rng, shape)) * np.float32(0.1)
    if nonfinite:
        inject_nonfinite(g, rng, nonfinite)
    return Case({"param": layout(p, plan("out")), "grad": layout(g, plan("in")),
                 "accum": layout(acc, plan("out"))}, ["param", "accum"],
                {"lr": LR, "rho": RHO, "eps": EPS})


def f64(*arrays):
    return [np.asarray(a, np.float64) for a in arrays]


def check_rmsprop(cc, rc, cr, rr, what):
    _returns_out("param")(cc, rc, what)
    p, g, a = f64(cc.orig["param"], cc.orig["grad"], cc.orig["accum"])
    lr, rho, eps = float(LR), float(RHO), float(EPS)
    with np.errstate(invalid="ignore", over="ignore"):
        a1 = rho * a + (1 - rho) * g * g
        step = lr * g / (np.sqrt(a1) + eps)
        p1 = p - step
        abound = 4 * U * a1
        pbound = 8 * U * (np.abs(p) + np.abs(step))
    for case, who in ((cr, " (reference)"), (cc, "")):
        assert_within(case.get("accum"), a1, abound, what + " accum" + who)
        assert_within(case.get("param"), p1, pbound, what + " param" + who)


def build_sgd(momentum, nesterov):
    def build(shape, plan, rng, nonfinite):
        p, g, v = randn(rng, shape), randn(rng, shape), randn(rng, shape, 0.1)
        if nonfinite:
            inject_nonfinite(g, rng, nonfinite)
        vel = layout(v, plan("out")) if momentum else None
        return Case({"param": layout(p, plan("out")), "grad": layout(g, plan("in")),
                     "velocity": vel}, ["param", "velocity"] if momentum else ["param"],
                    {"lr": LR, "momentum": np.float32(momentum), "nesterov": nesterov})
    return build


def check_sgd(cc, rc, cr, rr, what):
    _returns_out("param")(cc, rc, what)
    mom, nest, lr = float(cc.kwargs["momentum"]), cc.kwargs["nesterov"], float(LR)
    p, g = f64(cc.orig["param"], cc.orig["grad"])
    v = np.asarray(cc.orig["velocity"], np.float64) if mom else np.zeros_like(p)
    with np.errstate(invalid="ignore", over="ignore"):
        v1 = mom * v - lr * g
        vbound = 4 * U * (np.abs(mom * v) + np.abs(lr * g))
        if nest:
            p1 = p + mom * v1 - lr * g
            pbound = 6 * U * (np.abs(p) + mom * (np.abs(v1) + vbound) + np.abs(lr * g))
        else:
            p1 = p + v1
            pbound = 4 * U * np.abs(p) + 2 * vbound
    for case, who in ((cr, " (reference)"), (cc, "")):
        if mom:
            assert_within(case.get("velocity"), v1, vbound, what + " velocity" + who)
        assert_within(case.get("param"), p1, pbound, what + " param" + who)


B1, B2 = np.float32(0.9), np.float32(0.999)
LR_T = np.float32(0.001 * np.sqrt(1 - 0.999 ** 3) / (1 - 0.9 ** 3))


def build_adam(shape, plan, rng, nonfinite):
    p, g, m = randn(rng, shape), randn(rng, shape), randn(rng, shape, 0.1)
    v = np.abs(randn(rng, shape, 0.01))
    if nonfinite:
        inject_nonfinite(g, rng, nonfinite)
    return Case({"param": layout(p, plan("out")), "grad": layout(g, plan("in")),
                 "m": layout(m, plan("out")), "v": layout(v, plan("out"))},
                ["param", "m", "v"],
                {"lr_t": LR_T, "beta1": B1, "beta2": B2, "eps": EPS})


def check_adam(cc, rc, cr, rr, what):
    _returns_out("param")(cc, rc, what)
    p, g, m, v = f64(*(cc.orig[k] for k in ("param", "grad", "m", "v")))
    b1, b2, lr_t, eps = float(B1), float(B2), float(LR_T), float(EPS)
    with np.errstate(invalid="ignore", over="ignore"):
        m1 = b1 * m + (1 - b1) * g
        mbound = 4 * U * (np.abs(b1 * m) + np.abs((1 - b1) * g))
        v1 = b2 * v + (1 - b2) * g * g
        vbound = 4 * U * v1
        den = np.sqrt(v1) + eps
        step = lr_t * m1 / den
        p1 = p - step
        pbound = 4 * U * np.abs(p) + 8 * U * np.abs(step) + lr_t * mbound / den
    for case, who in ((cr, " (reference)"), (cc, "")):
        assert_within(case.get("m"), m1, mbound, what + " m" + who)
        assert_within(case.get("v"), v1, vbound, what + " v" + who)
        assert_within(case.get("param"), p1, pbound, what + " param" + who)


KERNELS = {k.name: k for k in [
    Kernel("add_f32", "add_f32", build_add, check_exact("out")),
    Kernel("relu_f32", "relu_f32", build_relu, check_exact("out")),
    Kernel("relu_backward_f32", "relu_backward_f32", build_relu_backward(False),
           check_relu_backward),
    Kernel("relu_backward_f32+bias_grad", "relu_backward_f32",
           build_relu_backward(True), check_relu_backward),
    Kernel("bias_grad_f32", "bias_grad_f32", build_bias_grad, check_bias_grad),
    Kernel("softmax_f32", "softmax_f32", build_softmax, check_softmax,
           softmax_rows_ok),
    Kernel("softmax_xent_f32[onehot]", "softmax_xent_f32", build_xent("onehot"),
           check_xent, softmax_rows_ok),
    Kernel("softmax_xent_f32[soft]", "softmax_xent_f32", build_xent("soft"),
           check_xent, softmax_rows_ok),
    Kernel("softmax_xent_f32[labels]", "softmax_xent_f32", build_xent("labels"),
           check_xent, softmax_rows_ok),
    Kernel("softmax_xent_f32[loss-only]", "softmax_xent_f32",
           build_xent("labels", outputs=False), check_xent, softmax_rows_ok),
    Kernel("rmsprop_update_f32", "rmsprop_update_f32", build_rmsprop, check_rmsprop),
    Kernel("sgd_update_f32", "sgd_update_f32", build_sgd(0.0, False), check_sgd),
    Kernel("sgd_update_f32[momentum]", "sgd_update_f32", build_sgd(0.9, False), check_sgd),
    Kernel("sgd_update_f32[nesterov]", "sgd_update_f32", build_sgd(0.9, True), check_sgd),
    Kernel("adam_update_f32", "adam_update_f32", build_adam, check_adam),
]}


GEMM_VARIANTS = {
    # name: (alpha, beta, bias, relu, gather_rows, gather_cols)
    "plain": (1.0, 0.0, False, False, False, False),
    "alpha": (-0.5, 0.0, False, False, False, False),
    "alpha_beta": (1.5, 0.75, False, False, False, False),
    "beta1": (1.0, 1.0, False, False, False, False),
    "bias_relu": (1.0, 0.0, True, True, False, False),
    "beta_bias_relu": (2.0, -0.5, True, True, False, False),
    "relu": (1.0, 0.0, False, True, False, False),
    "a_rows": (1.0, 0.0, False, False, True, False),
    "a_cols": (1.0, 0.0, False, False, False, True),
    "a_rows_cols_bias": (1.0, 0.5, True, False, True, True),
}


def exact_matmul64(a, b):
    """Float64 A @ B with IEEE semantics for inf/NaN (no BLAS shortcuts)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape[1] == 0:
        return np.zeros((a.shape[0], b.shape[1]))
    return np.einsum("ik,kj->ij", a, b, optimize=False)


def build_gemm(shape, lays, variant, rng, nonfinite=0.0):
    m, k, n = shape
    la, lb, lc, lbias = lays
    alpha, beta, has_bias, relu, rows, cols = GEMM_VARIANTS[variant]
    ma = m + 3 if rows else m
    ka = k + 2 if cols else k
    a = randn(rng, (ma, ka))
    b = randn(rng, (k, n))
    c0 = randn(rng, (m, n)) if beta else np.full((m, n), np.nan, np.float32)
    if nonfinite:
        inject_nonfinite(a, rng, nonfinite)
        inject_nonfinite(b, rng, nonfinite)
        if beta:
            inject_nonfinite(c0, rng, nonfinite)
    kwargs = {"alpha": alpha, "beta": beta, "relu": relu}
    if has_bias:
        kwargs["bias"] = layout(randn(rng, (n,)), lbias)
    if rows:
        kwargs["a_rows"] = rng.integers(0, ma, size=m).astype(np.int64) if ma else \
            np.zeros(0, np.int64)
    if cols:
        kwargs["a_cols"] = rng.permutation(ka)[:k].astype(np.int64)
    return Case({"a": layout(a, la), "b": layout(b, lb), "c": layout(c0, lc)},
                ["c"], kwargs)


def gemm_truth(case):
    a = case.orig["a"]
    if "a_rows" in case.kwargs:
        a = a[case.orig["a_rows"]]
    if "a_cols" in case.kwargs:
        a = a[:, case.orig["a_cols"]]
    b, c0 = case.orig["b"], case.orig["c"]
    alpha, beta = case.kwargs["alpha"], case.kwargs["beta"]
    k = a.shape[1]
    with np.errstate(invalid="ignore", over="ignore"):
        prod = exact_matmul64(a, b)
        mag = exact_matmul64(np.abs(a), np.abs(b))
        truth = alpha * prod
        bound = abs(alpha) * mag
        if beta:
            truth = truth + beta * np.asarray(c0, np.float64)
            bound = bound + abs(beta) * np.abs(np.asarray(c0, np.float64))
        if "bias" in case.kwargs:
            bias = np.asarray(case.orig["bias"], np.float64)
            truth = truth + bias
            bound = bound + np.abs(bias)
        if case.kwargs["relu"]:
            truth = np.where(np.isnan(truth), truth, np.maximum(truth, 0))
        bound = 2 * (k + 2) * U * bound
    return truth, bound


def build_gemm_2d(variant):
    """sgemm in the common registry: an (m, n) shape becomes (m, k, n)."""
    def build(shape, plan, rng, nonfinite):
        m, n = shape
        k = min(n + 5, 300)
        return build_gemm((m, k, n), (plan("in"), plan("in"), plan("out"), plan.vec("in")),
                          variant, rng, nonfinite)
    return build


def check_gemm(cc, rc, cr, rr, what):
    assert rc is cc.get("c"), what + ": sgemm does not return c"
    truth, bound = gemm_truth(cc)
    assert_within(cr.get("c"), truth, bound, what + " (reference)")
    assert_within(cc.get("c"), truth, bound, what)


for _variant in ("plain", "beta_bias_relu", "a_rows_cols_bias"):
    _k = Kernel("sgemm[%s]" % _variant, "sgemm", build_gemm_2d(_variant), check_gemm)
    KERNELS[_k.name] = _k
KERNEL_NAMES = list(KERNELS)


def run_kernel(ck, ref, name, shape, plan_spec, nthreads, seed=0, nonfinite=0.0):
    """Build the same case twice, run C and reference, check everything."""
    kern = KERNELS[name]
    if not kern.shape_ok(shape):
        pytest.skip("shape %s is outside %s's domain" % (shape, name))
    what = "%s shape=%s layout=%s nthreads=%d" % (name, shape, plan_spec, nthreads)
    case_c = kern.build(shape, Plan(plan_spec), np.random.default_rng(seed), nonfinite)
    case_r = kern.build(shape, Plan(plan_spec), np.random.default_rng(seed), nonfinite)
    with np.errstate(all="ignore"):
        ret_r = case_r.call(getattr(ref, kern.func), nthreads)
        ret_c = case_c.call(getattr(ck, kern.func), nthreads)
    case_c.check_inputs_untouched(what)
    case_c.check_outside_untouched()
    kern.check(case_c, ret_c, case_r, ret_r, what)


# ---------------------------------------------------------------------------
# tests: elementwise / row / optimizer kernels
# ---------------------------------------------------------------------------

def _in_domain(shapes):
    return [pytest.param(name, shape, id="%s-%s" % (name, shape))
            for name in KERNEL_NAMES for shape in shapes
            if KERNELS[name].shape_ok(shape)]


@pytest.mark.parametrize("nthreads", THREADS)
@pytest.mark.parametrize("name, shape", _in_domain(SHAPES_2D))
def test_kernel_shapes(ckernels, reference, name, shape, nthreads):
    run_kernel(ckernels, reference, name, shape, "C", nthreads)


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("name, shape", _in_domain(LAYOUT_SHAPES_2D))
def test_kernel_layouts(ckernels, reference, name, shape, plan):
    run_kernel(ckernels, reference, name, shape, plan, ALL_CORES, seed=1)


@pytest.mark.parametrize("plan", ["C", "mixed", "in:neg", "out:strided"])
@pytest.mark.parametrize("nthreads", THREADS)
@pytest.mark.parametrize("name, shape", _in_domain([(1, 1), (5, 7), (13, 33), PAR_SHAPE]))
def test_kernel_nonfinite(ckernels, reference, name, shape, nthreads, plan):
    """NaN and +-inf come out exactly where the reference puts them."""
    run_kernel(ckernels, reference, name, shape, plan, nthreads, seed=2,
               nonfinite=0.1)


def test_relu_backward_nan_grad_where_y_not_positive(ckernels, reference):
    """The contract: np.where(y > 0, grad, 0) -- a NaN grad under a zero mask is 0."""
    grad = np.array([[np.nan, np.nan, np.inf, -np.inf, np.nan, 1.0]], np.float32)
    y = np.array([[0.0, 1.0, 0.0, 0.0, np.nan, -1.0]], np.float32)
    want = np.where(y > 0, grad, np.float32(0))
    for mod in (reference, ckernels):
        out = np.full_like(grad, 7)
        mod.relu_backward_f32(grad, y, out)
        assert np.array_equal(out, want, equal_nan=True), (mod.__name__, out)


def test_softmax_special_rows(ckernels, reference):
    """Large values never overflow; -inf gets 0; rows of NaN/+inf/all -inf give NaN."""
    inf, nan = np.inf, np.nan
    x = np.array([[1e30, 1e30, -1e30, 0],
                  [3e38, -3e38, 0, 1],
                  [-inf, 0, 1, -inf],
                  [-inf, -inf, -inf, -inf],
                  [nan, 0, 1, 2],
                  [inf, 0, 1, 2],
                  [88.0, 89.0, 90.0, -200.0],
                  [-1000, -1001, -1002, -1003]], np.float32)
    with np.errstate(all="ignore"):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        want = e / e.sum(axis=1, keepdims=True)
    assert np.isfinite(want[[0, 1, 2, 6, 7]]).all()
    for mod in (reference, ckernels):
        out = np.empty_like(x)
        with np.errstate(all="ignore"):
            mod.softmax_f32(x, out)
        assert_within(out, want, 8 * U * np.abs(np.nan_to_num(want)) + 1e-44,
                      mod.__name__)
        assert (out[2, [0, 3]] == 0).all()


@pytest.mark.parametrize("shape", [(0, 0), (3, 0)], ids=str)
def test_softmax_zero_classes_no_crash(ckernels, shape):
    """Outside the reference's domain: the C kernels must still not crash."""
    x = np.zeros(shape, np.float32)
    for call in (lambda: ckernels.softmax_f32(x, np.empty_like(x)),
                 lambda: ckernels.softmax_xent_f32(x, np.zeros(shape[0], np.int64)),
                 lambda: ckernels.softmax_xent_f32(x, x, grad=np.empty_like(x))):
        try:
            call()
        except ValueError:
            pass


def test_xent_zero_target_times_minus_inf_logit_is_zero(ckernels, reference):
    """0 * log(0) counts as 0: a -inf logit with a zero target adds nothing."""
    logits = np.array([[-np.inf, 1.0, 2.0], [0.0, -np.inf, 0.0]], np.float32)
    y = np.array([[0, 0, 1], [1, 0, 0]], np.float32)
    labels = np.array([2, 0], np.int64)
    for mod in (reference, ckernels):
        for tgt in (y, labels):
            with np.errstate(all="ignore"):
                loss, hits = mod.softmax_xent_f32(logits, tgt)
            assert np.isfinite(loss), (mod.__name__, tgt)
            assert hits == 2
    # ...but a -inf logit on the true class is an infinite loss
    for mod in (reference, ckernels):
        with np.errstate(all="ignore"):
            loss, _ = mod.softmax_xent_f32(logits, np.array([0, 0], np.int64))
        assert loss == np.inf, mod.__name__


# ---------------------------------------------------------------------------
# tests: aliasing (an output that is exactly an input)
# ---------------------------------------------------------------------------

ALIAS_CASES = {
    "relu(x, out=x)": ("relu_f32", lambda a: ((a["x"], a["x"]), {})),
    "add(x, y, out=x)": ("add_f32", lambda a: ((a["x"], a["y"], a["x"]), {})),
    "add(x, y, out=y)": ("add_f32", lambda a: ((a["x"], a["y"], a["y"]), {})),
    "add(x, x, out=x)": ("add_f32", lambda a: ((a["x"], a["x"], a["x"]), {})),
    "softmax(x, out=x)": ("softmax_f32", lambda a: ((a["x"], a["x"]), {})),
    "relu_backward(g, y, out=g)": ("relu_backward_f32",
                                   lambda a: ((a["g"], a["y"], a["g"]), {})),
    "relu_backward(g, y, out=y)": ("relu_backward_f32",
                                   lambda a: ((a["g"], a["y"], a["y"]), {})),
    "softmax_xent(x, t, grad=x)": ("softmax_xent_f32",
                                   lambda a: ((a["x"], a["t"]), {"grad": a["x"],
                                                                 "scale": 0.25})),
    "softmax_xent(x, t, probs=x)": ("softmax_xent_f32",
                                    lambda a: ((a["x"], a["t"]), {"probs": a["x"]})),
}


@pytest.mark.parametrize("lay", ["C", "F", "strided", "neg"])
@pytest.mark.parametrize("shape", [(5, 7), PAR_SHAPE], ids=str)
@pytest.mark.parametrize("alias", list(ALIAS_CASES))
def test_output_aliases_input(ckernels, reference, alias, shape, lay):
    func, pick = ALIAS_CASES[alias]

    def arrays():
        rng = np.random.default_rng(3)
        x = randn(rng, shape, 3.0)
        x.flat[::7] = np.nan
        return {"x": layout(x, lay), "y": layout(randn(rng, shape), lay),
                "g": layout(randn(rng, shape), lay),
                "t": rng.integers(0, shape[1], shape[0]).astype(np.int64)}

    # the reference on separate (non-aliased) output buffers is the truth
    a_ref = arrays()
    args, kwargs = pick(a_ref)
    args = [np.array(v, copy=True) for v in args]
    kwargs = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v
              for k, v in kwargs.items()}
    a_c = arrays()
    cargs, ckwargs = pick(a_c)
    with np.errstate(all="ignore"):
        rret = getattr(reference, func)(*args, **kwargs)
        cret = getattr(ckernels, func)(*cargs, nthreads=ALL_CORES, **ckwargs)
    if func == "softmax_xent_f32":
        assert cret[1] == rret[1]
        assert_within(np.float64(cret[0]), np.float64(rret[0]),
                      1e-5 * (1 + abs(rret[0])) if np.isfinite(rret[0]) else 0, alias)
        (key,) = [k for k in ("grad", "probs") if k in kwargs]
        got, want = ckwargs[key], kwargs[key]
    else:
        got, want = cargs[-1], args[-1]
        assert cret is got, alias
    tol = 0 if func in ("relu_f32", "add_f32", "relu_backward_f32") else \
        8 * U * np.abs(np.nan_to_num(want)) + 1e-6 * U
    assert_within(got, want, tol, alias)


# ---------------------------------------------------------------------------
# tests: sgemm
# ---------------------------------------------------------------------------

def run_gemm(ck, ref, shape, lays, variant, nthreads, seed=0, nonfinite=0.0):
    what = "sgemm %s shape(m,k,n)=%s layouts(a,b,c,bias)=%s nthreads=%d" % (
        variant, shape, lays, nthreads)
    case_c = build_gemm(shape, lays, variant, np.random.default_rng(seed), nonfinite)
    case_r = build_gemm(shape, lays, variant, np.random.default_rng(seed), nonfinite)
    with np.errstate(all="ignore"):
        ret_r = case_r.call(ref.sgemm, nthreads)
        ret_c = case_c.call(ck.sgemm, nthreads)
    assert ret_c is case_c.get("c"), what + ": sgemm does not return c"
    case_c.check_inputs_untouched(what)
    case_c.check_outside_untouched()
    truth, bound = gemm_truth(case_c)
    assert_within(ret_r, truth, bound, what + " (reference)")
    assert_within(case_c.get("c"), truth, bound, what)


# "C" arrays start 16 bytes past a cache line, as NumPy's do, so the GEMM
# packs B; "line" B (and "lineT" A, the B of the transposed orientation) is
# read in place by the micro-kernel: every shape runs through both.
@pytest.mark.parametrize("la,lb", [("C", "C"), ("C", "line"), ("lineT", "C")], ids=str)
@pytest.mark.parametrize("nthreads", THREADS)
@pytest.mark.parametrize("shape", GEMM_SHAPES, ids=str)
def test_sgemm_shapes(ckernels, simd, reference, shape, nthreads, la, lb):
    run_gemm(ckernels, reference, shape, (la, lb, "C", "C"), "plain", nthreads)


@pytest.mark.parametrize("variant", list(GEMM_VARIANTS))
@pytest.mark.parametrize("shape", [(0, 3, 4), (3, 0, 4), (4, 3, 0), (1, 1, 1), (7, 17, 33),
                                   (13, 257, 31), (145, 40, 35)], ids=str)
def test_sgemm_variants(ckernels, simd, reference, shape, variant):
    run_gemm(ckernels, reference, shape, ("C", "C", "C", "C"), variant, ALL_CORES, seed=4)


@pytest.mark.parametrize("lc", ["C", "F", "strided", "neg", "rowpad"])
@pytest.mark.parametrize("lb", LAYOUTS + ["bcast"])
@pytest.mark.parametrize("la", LAYOUTS + ["bcastcol"])
@pytest.mark.parametrize("shape", GEMM_LAYOUT_SHAPES, ids=str)
def test_sgemm_layouts(ckernels, simd, reference, shape, la, lb, lc):
    run_gemm(ckernels, reference, shape, (la, lb, lc, "C"), "plain", ALL_CORES, seed=5)


@pytest.mark.parametrize("lays", [("F", "T", "strided", "neg"), ("neg", "strided", "F", "strided"),
                                  ("strided", "neg", "neg", "C"), ("T", "F", "T", "neg"),
                                  ("bcastcol", "bcast", "F", "C")],
                         ids=str)
@pytest.mark.parametrize("variant", ["beta_bias_relu", "a_rows_cols_bias"])
@pytest.mark.parametrize("shape", [(7, 17, 33), (145, 257, 33), (25, 400, 65)], ids=str)
def test_sgemm_layouts_with_epilogue(ckernels, simd, reference, shape, variant, lays):
    run_gemm(ckernels, reference, shape, lays, variant, ALL_CORES, seed=6)


@pytest.mark.parametrize("variant", ["plain", "alpha_beta", "bias_relu", "a_rows_cols_bias"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 7, 9), (33, 40, 47)], ids=str)
def test_sgemm_nonfinite(ckernels, simd, reference, shape, variant):
    run_gemm(ckernels, reference, shape, ("C", "F", "C", "C"), variant, ALL_CORES,
             seed=7, nonfinite=0.05)


@pytest.mark.parametrize("nthreads", THREADS)
def test_sgemm_beta0_ignores_nan_in_c(ckernels, reference, nthreads):
    a = np.ones((4, 3), np.float32)
    b = np.ones((3, 5), np.float32)
    for mod in (reference, ckernels):
        c = np.full((4, 5), np.nan, np.float32)
        mod.sgemm(a, b, c, beta=0.0, nthreads=nthreads)
        assert np.array_equal(c, np.full((4, 5), 3, np.float32)), mod.__name__
        c = np.full((4, 5), np.nan, np.float32)   # k == 0: C = 0 (+ bias)
        mod.sgemm(a[:, :0], b[:0], c, beta=0.0, bias=np.arange(5, dtype=np.float32),
                  nthreads=nthreads)
        assert np.array_equal(c, np.tile(np.arange(5, dtype=np.float32), (4, 1))), mod.__name__


def test_sgemm_relu_keeps_nan(ckernels):
    a = np.array([[np.nan], [1], [-1]], np.float32)
    b = np.array([[1, 2]], np.float32)
    c = np.empty((3, 2), np.float32)
    ckernels.sgemm(a, b, c, relu=True)
    assert np.isnan(c[0]).all()
    assert np.array_equal(c[1:], [[1, 2], [0, 0]])


# ---------------------------------------------------------------------------
# tests: read-only inputs are accepted
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_readonly_inputs_accepted(ckernels, reference, name):
    kern = KERNELS[name]
    case_c = kern.build((5, 7), Plan("C"), np.random.default_rng(8), 0.0)
    case_r = kern.build((5, 7), Plan("C"), np.random.default_rng(8), 0.0)
    for key, arr in list(case_c.args.items()) + list(case_c.kwargs.items()):
        if isinstance(arr, np.ndarray) and key not in case_c.outputs:
            arr.flags.writeable = False
    ret_r = case_r.call(getattr(reference, kern.func), 1)
    ret_c = case_c.call(getattr(ckernels, kern.func), 1)
    kern.check(case_c, ret_c, case_r, ret_r, name + " (read-only inputs)")


# ---------------------------------------------------------------------------
# tests: bad calls are ValueErrors, never crashes (run in a subprocess so that
# a crash is a failing test, not a dead test run)
# ---------------------------------------------------------------------------

BAD_CALLS = {
    "add: y shape": "k.add_f32(f(3, 4), f(3, 5), f(3, 4))",
    "add: out shape": "k.add_f32(f(3, 4), f(3, 4), f(4, 3))",
    "add: x float64": "k.add_f32(f(3, 4).astype(np.float64), f(3, 4), f(3, 4))",
    "add: out float64": "k.add_f32(f(3, 4), f(3, 4), np.zeros((3, 4)))",
    "add: x 1-D": "k.add_f32(f(4), f(3, 4), f(3, 4))",
    "add: x 3-D": "k.add_f32(f(2, 3, 4), f(3, 4), f(3, 4))",
    "add: read-only out": "k.add_f32(f(3, 4), f(3, 4), ro(f(3, 4)))",
    "add: out byte-strided": "k.add_f32(f(3, 4), f(3, 4), np.zeros((3, 17), np.uint8)[:, 1:].view(np.float32))",
    "relu: int32 x": "k.relu_f32(np.zeros((3, 4), np.int32), f(3, 4))",
    "relu: out shape": "k.relu_f32(f(3, 4), f(3, 5))",
    "relu_backward: y shape": "k.relu_backward_f32(f(3, 4), f(4, 3), f(3, 4))",
    "relu_backward: bias_grad length": "k.relu_backward_f32(f(3, 4), f(3, 4), f(3, 4), bias_grad=f(5))",
    "bias_grad: out length": "k.bias_grad_f32(f(3, 4), f(3))",
    "bias_grad: out 2-D": "k.bias_grad_f32(f(3, 4), f(1, 4))",
    "softmax: out shape": "k.softmax_f32(f(3, 4), f(3, 3))",
    "softmax_xent: label == n": "k.softmax_xent_f32(f(3, 4), np.array([0, 4, 1]), grad=f(3, 4))",
    "softmax_xent: label < 0": "k.softmax_xent_f32(f(3, 4), np.array([0, -1, 1]), probs=f(3, 4))",
    "softmax_xent: huge label": "k.softmax_xent_f32(f(3, 4), np.array([2**62, 0, 1]))",
    "softmax_xent: labels length": "k.softmax_xent_f32(f(3, 4), np.array([0, 1, 1, 2]))",
    "softmax_xent: target shape": "k.softmax_xent_f32(f(3, 4), f(3, 5))",
    "softmax_xent: grad shape": "k.softmax_xent_f32(f(3, 4), f(3, 4), grad=f(4, 4))",
    "softmax_xent: target float64": "k.softmax_xent_f32(f(3, 4), np.zeros((3, 4)))",
    "softmax_xent: labels int32": "k.softmax_xent_f32(f(3, 4), np.array([0, 1, 2], np.int32))",
    "softmax_xent: labels float": "k.softmax_xent_f32(f(3, 4), np.array([0.0, 1.0, 2.0], np.float32))",
    "softmax_xent: target 2-D int": "k.softmax_xent_f32(f(3, 4), np.zeros((3, 4), np.int64))",
    "softmax_xent: target 3-D": "k.softmax_xent_f32(f(3, 4), f(3, 4, 1))",
    "sgemm: a_rows int32": "k.sgemm(f(3, 4), f(4, 6), f(2, 6), a_rows=np.array([0, 1], np.int32))",
    "sgemm: a_rows 2-D": "k.sgemm(f(3, 4), f(4, 6), f(2, 6), a_rows=np.array([[0, 1]]))",
    "sgemm: bias 2-D": "k.sgemm(f(3, 4), f(4, 6), f(3, 6), bias=f(1, 6))",
    "sgemm: bias float64": "k.sgemm(f(3, 4), f(4, 6), f(3, 6), bias=np.zeros(6))",
    "sgemm: k mismatch": "k.sgemm(f(3, 4), f(5, 6), f(3, 6))",
    "sgemm: c shape": "k.sgemm(f(3, 4), f(4, 6), f(3, 7))",
    "sgemm: c transposed shape": "k.sgemm(f(3, 4), f(4, 6), f(6, 3))",
    "sgemm: bias length": "k.sgemm(f(3, 4), f(4, 6), f(3, 6), bias=f(5))",
    "sgemm: a_rows out of range": "k.sgemm(f(3, 4), f(4, 6), f(2, 6), a_rows=np.array([0, 3]))",
    "sgemm: a_rows negative": "k.sgemm(f(3, 4), f(4, 6), f(2, 6), a_rows=np.array([-1, 0]))",
    "sgemm: a_rows huge": "k.sgemm(f(3, 4), f(4, 6), f(2, 6), a_rows=np.array([2**40, 0]))",
    "sgemm: a_cols out of range": "k.sgemm(f(3, 4), f(2, 6), f(3, 6), a_cols=np.array([1, 4]))",
    "sgemm: a_cols length": "k.sgemm(f(3, 4), f(4, 6), f(3, 6), a_cols=np.array([0, 1]))",
    "sgemm: a_rows wrong c rows": "k.sgemm(f(3, 4), f(4, 6), f(3, 6), a_rows=np.array([0, 1]))",
    "sgemm: a float64": "k.sgemm(f(3, 4).astype(np.float64), f(4, 6), f(3, 6))",
    "sgemm: read-only c": "k.sgemm(f(3, 4), f(4, 6), ro(f(3, 6)))",
    "rmsprop: accum shape": "k.rmsprop_update_f32(f(3, 4), f(3, 4), f(4, 3), 0.1, 0.9, 1e-7)",
    "rmsprop: grad shape": "k.rmsprop_update_f32(f(3, 4), f(3, 5), f(3, 4), 0.1, 0.9, 1e-7)",
    "rmsprop: read-only param": "k.rmsprop_update_f32(ro(f(3, 4)), f(3, 4), f(3, 4), 0.1, 0.9, 1e-7)",
    "sgd: velocity shape": "k.sgd_update_f32(f(3, 4), f(3, 4), f(3, 5), 0.1, 0.9, False)",
    "sgd: grad shape": "k.sgd_update_f32(f(3, 4), f(2, 4), None, 0.1, 0.0, False)",
    "adam: v shape": "k.adam_update_f32(f(3, 4), f(3, 4), f(3, 4), f(4, 4), 0.1, 0.9, 0.999, 1e-7)",
    "adam: m shape": "k.adam_update_f32(f(3, 4), f(3, 4), f(3, 1), f(3, 4), 0.1, 0.9, 0.999, 1e-7)",
}

_BAD_CALL_SCRIPT = r"""
import json, sys
import numpy as np
import fastdense._ckernels as k
def f(*shape): return np.ones(shape, np.float32)
def ro(a):
    a.flags.writeable = False
    return a
cases = json.loads(sys.argv[1])
for name, code in cases.items():
    print("START " + json.dumps(name), flush=True)
    try:
        eval(code)
        res = "returned"
    except BaseException as e:
        res = type(e).__name__ + ": " + str(e)
    print("RESULT " + json.dumps([name, res]), flush=True)
"""


@pytest.fixture(scope="module")
def bad_call_results(ckernels):
    proc = subprocess.run([sys.executable, "-c", _BAD_CALL_SCRIPT, json.dumps(BAD_CALLS)],
                          capture_output=True, text=True, timeout=120)
    results, started = {}, None
    for line in proc.stdout.splitlines():
        if line.startswith("START "):
            started = json.loads(line[6:])
        elif line.startswith("RESULT "):
            name, res = json.loads(line[7:])
            results[name] = res
            started = None
    return results, started, proc


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_call_is_value_error(bad_call_results, name):
    results, crashed_in, proc = bad_call_results
    if name not in results:
        if name == crashed_in:
            pytest.fail("%s: the process died (exit %s) in this call: %s\n%s"
                        % (name, proc.returncode, BAD_CALLS[name], proc.stderr[-2000:]))
        pytest.fail("%s: not run: the process died earlier (in %r, exit %s)"
                    % (name, crashed_in, proc.returncode))
    assert results[name].startswith("ValueError"), \
        "%s: %s gave %s" % (name, BAD_CALLS[name], results[name])


# ---------------------------------------------------------------------------
# tests: index arrays (labels, a_rows, a_cols) with strides
# ---------------------------------------------------------------------------
# The gaps of the strided views hold *valid* indices, so a kernel that reads
# the index array as if it were contiguous computes a wrong answer (caught)
# instead of reading out of bounds.

def _strided_indices(values, rng, high):
    base = rng.integers(0, high, size=2 * len(values)).astype(np.int64)
    base[::2] = values
    view = base[::2]
    assert not view.flags.c_contiguous or len(values) <= 1
    return view


@pytest.mark.parametrize("m, n", [(4, 3), (37, 10)])
def test_xent_strided_labels(ckernels, reference, m, n):
    rng = np.random.default_rng(9)
    logits = randn(rng, (m, n), 3.0)
    labels = _strided_indices(rng.integers(0, n, m), rng, n)
    grad_c, grad_r = np.empty_like(logits), np.empty_like(logits)
    loss_c, hits_c = ckernels.softmax_xent_f32(logits, labels, grad=grad_c, scale=1.0 / m)
    loss_r, hits_r = reference.softmax_xent_f32(logits, labels, grad=grad_r, scale=1.0 / m)
    assert hits_c == hits_r
    assert abs(loss_c - loss_r) <= 1e-5 * (1 + abs(loss_r))
    assert np.allclose(grad_c, grad_r, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("which", ["a_rows", "a_cols"])
def test_sgemm_strided_index_arrays(ckernels, reference, which):
    rng = np.random.default_rng(10)
    a = randn(rng, (9, 8))
    idx = _strided_indices(rng.integers(0, a.shape[0 if which == "a_rows" else 1], 6),
                           rng, min(a.shape))
    b = randn(rng, (6 if which == "a_cols" else 8, 5))
    m = 6 if which == "a_rows" else 9
    c_c, c_r = np.empty((m, 5), np.float32), np.empty((m, 5), np.float32)
    ckernels.sgemm(a, b, c_c, **{which: idx})
    reference.sgemm(a, b, c_r, **{which: idx})
    assert np.allclose(c_c, c_r, rtol=1e-5, atol=1e-5), which


@pytest.mark.parametrize("nthreads", [3, 5, 8])
@pytest.mark.parametrize("shape", [(150, 300, 70), (128, 784, 10), (289, 40, 40),
                                   (128, 512, 129), (12, 2000, 64)], ids=str)
def test_sgemm_odd_thread_counts(ckernels, reference, shape, nthreads):
    """Thread grids that do not divide the tiles evenly (more threads than cores is fine)."""
    run_gemm(ckernels, reference, shape, ("T", "C", "C", "C"), "beta_bias_relu", nthreads, seed=12)


SOFTMAX_KERNELS = [n for n in KERNEL_NAMES if n.startswith("softmax")]


@pytest.mark.parametrize("plan", ["C", "mixed"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (5, 8), (4, 17), (128, 10), (3, 255),
                                   (2, 256), (3, 257), (2, 700)], ids=str)
@pytest.mark.parametrize("name", SOFTMAX_KERNELS)
def test_softmax_every_simd_level(ckernels, reference, simd, name, shape, plan):
    """The exp step is vector Cephes expf on AVX-512 / AVX2 and the C library's
    expf otherwise: each is held to the bound, around the vector widths and
    the 256-float chunk, with NaN and inf in the rows."""
    run_kernel(ckernels, reference, name, shape, plan, ALL_CORES, seed=22, nonfinite=0.03)


def test_softmax_exp_over_its_whole_range(ckernels, simd):
    """Rows [0, z] for z from -120 (exp underflows to 0) to 0 in 2e5 steps, the
    denormal range and the exact points: p = exp(z) / (1 + exp(z))."""
    z = np.concatenate([np.linspace(-120, 0, 200001), -np.logspace(-8, 2, 1001),
                        [-87.33655, -87.3366, -103.27893, -103.9, -104.0, -104.1,
                         -np.inf, -0.0, 0.0]]).astype(np.float32)
    x = np.stack([np.zeros_like(z), z], axis=1)
    out = np.full_like(x, np.nan)
    ckernels.softmax_f32(x, out, nthreads=1)
    p, _, bound = softmax_truth(x)
    assert_within(out, p, bound, "softmax of [0, z] at %s" % simd)
    assert np.all(out[z == -np.inf, 1] == 0) and np.all(out[z == -np.inf, 0] == 1)


@pytest.mark.parametrize("eps", [float(EPS), 0.0, 1e-30])
@pytest.mark.parametrize("n", [1, 7, 8, 16, 17, 40, 1000])
def test_rmsprop_subnormal_accumulators_exact_at_every_level(ckernels, reference, n, eps):
    """Accumulators decay through the subnormal range during training; every
    SIMD level must give NumPy's bits there: accumulators spread over the
    subnormal range, the smallest normals, both zeros, NaN and inf, with
    zero, tiny (~1e-20: their square is subnormal and lr*g/sqrt(acc) is of
    order 1, so the sqrt shows) and ordinary gradients, and with an epsilon
    small enough not to hide the sqrt.  (A wrong rescaling of subnormal sqrt
    operands, tried as a speed-up, fails 10 of these cases.)"""
    rng = np.random.default_rng(31)
    tiny = np.float32(2.0 ** -126)
    pool = np.concatenate([
        (rng.integers(1, 2 ** 23, 64) * np.float32(2.0 ** -149)).astype(np.float32),
        np.array([2.0 ** -149, tiny, tiny * 1.5, np.nextafter(tiny, 0), 0.0, -0.0,
                  np.nan, np.inf, 1e-3, 4.0], np.float32)])
    a0 = rng.choice(pool, size=(1, n)).astype(np.float32)
    kind = rng.random((1, n))
    g0 = np.where(kind < 0.3, 0.0, np.where(kind < 0.8, rng.standard_normal((1, n)) * 1e-20,
                                            rng.standard_normal((1, n)) * 1e-3))
    g0 = g0.astype(np.float32)
    eps = np.float32(eps)
    p0 = rng.standard_normal((1, n)).astype(np.float32)
    want_p, want_a = p0.copy(), a0.copy()
    with np.errstate(all="ignore"):
        reference.rmsprop_update_f32(want_p, g0, want_a, LR, RHO, eps)
    for level in levels_up_to(ckernels):
        p, a = p0.copy(), a0.copy()
        with simd_level(level), np.errstate(all="ignore"):
            ckernels.rmsprop_update_f32(p, g0, a, LR, RHO, eps, nthreads=1)
        assert a.tobytes() == want_a.tobytes(), "%s: accumulators differ" % level
        assert p.tobytes() == want_p.tobytes(), "%s: parameters differ" % level


# the kernels whose loops are src_c/rows.h, compiled once per ISA
ROWS_KERNELS = [n for n in KERNEL_NAMES if "_update_" in n or n.split("+")[0] in (
    "add_f32", "relu_f32", "relu_backward_f32", "bias_grad_f32")]


@pytest.mark.parametrize("plan", ["C", "mixed"])
@pytest.mark.parametrize("shape", [(1, 1), (1, 15), (1, 33), (3, 70), (37, 517),
                                   (1, 407050 // 37)], ids=str)
@pytest.mark.parametrize("name", ROWS_KERNELS)
def test_row_kernel_bits_do_not_depend_on_simd_level(ckernels, name, shape, plan):
    """rows.h is compiled per ISA (rows.c, rows_avx2.c, rows_avx512.c); each
    level must give the portable build's bits, NaN/inf included (the vector
    body, its tails and the strided loop)."""
    levels = levels_up_to(ckernels)
    kern = KERNELS[name]
    results = {}
    for level in levels:
        case = kern.build(shape, Plan(plan), np.random.default_rng(21), 0.02)
        with simd_level(level), np.errstate(all="ignore"):
            case.call(getattr(ckernels, kern.func), ALL_CORES)
        results[level] = {k: case.get(k).copy() for k in case.outputs}
    base = results["generic"]
    for level in levels[1:]:
        for key, arr in base.items():
            assert arr.tobytes() == results[level][key].tobytes(), (
                "%s %s %s: %s differs between generic and %s" % (name, shape, plan, key,
                                                                 level))


@pytest.mark.parametrize("nthreads", [3, 5])
@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_kernel_odd_thread_counts(ckernels, reference, name, nthreads):
    run_kernel(ckernels, reference, name, PAR_SHAPE, "C", nthreads, seed=13)


# ---------------------------------------------------------------------------
# tests: odd nthreads values, reference counts
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("nthreads", [0, -1, 1000])
@pytest.mark.parametrize("name", ["add_f32", "softmax_f32", "bias_grad_f32", "adam_update_f32"])
def test_nonpositive_or_huge_nthreads(ckernels, reference, name, nthreads):
    """Not part of the contract, but must not crash: a ValueError, or the right answer."""
    try:
        run_kernel(ckernels, reference, name, PAR_SHAPE, "C", nthreads, seed=14)
    except ValueError:
        pass


def test_sgemm_nonpositive_nthreads(ckernels, reference):
    for nthreads in (0, -3):
        try:
            run_gemm(ckernels, reference, (150, 300, 70), ("C",) * 4, "plain", nthreads)
        except ValueError:
            pass


@pytest.mark.parametrize("name", ["sgemm"] + KERNEL_NAMES)
def test_reference_counts_unchanged(ckernels, name):
    """No reference leaks (or over-releases) of the arguments or the results."""
    if name == "sgemm":
        case = build_gemm((9, 17, 33), ("C", "F", "C", "C"), "a_rows_cols_bias",
                          np.random.default_rng(15))
        fn = ckernels.sgemm
    else:
        case = KERNELS[name].build((9, 17), Plan("mixed"), np.random.default_rng(15), 0.0)
        fn = getattr(ckernels, KERNELS[name].func)
    objs = [v for v in list(case.args.values()) + list(case.kwargs.values())
            if isinstance(v, np.ndarray)]
    with np.errstate(all="ignore"):
        case.call(fn, 1)  # warm-up (caches, interned objects)
        before = [sys.getrefcount(o) for o in objs]
        for _ in range(200):
            ret = case.call(fn, 1)
        del ret
    after = [sys.getrefcount(o) for o in objs]
    assert after == before, "%s: reference counts %s -> %s" % (name, before, after)


def test_bad_calls_do_not_leak_references(ckernels):
    x = np.ones((3, 4), np.float32)
    bad = np.ones((3, 5), np.float32)
    before = sys.getrefcount(x), sys.getrefcount(bad)
    for _ in range(200):
        with pytest.raises(ValueError):
            ckernels.add_f32(x, bad, x)
        with pytest.raises(ValueError):
            ckernels.sgemm(x, bad, x)
    assert (sys.getrefcount(x), sys.getrefcount(bad)) == before


# ---------------------------------------------------------------------------
# tests: accuracy on wide rows (no systematic drift in the row sums)
# ---------------------------------------------------------------------------
# The worst-case bounds above grow with n; NumPy's expression (pairwise sums)
# stays within a few ulps on average however wide the row.  A kernel that adds
# a long row in one float accumulator drifts by O(n) ulps, all in the same
# direction: the median and mean relative errors catch that.

@pytest.mark.parametrize("shape", [(5, 1000), (16, 3000), (2, 20000)], ids=str)
def test_softmax_wide_rows_no_drift(ckernels, reference, shape):
    x = randn(np.random.default_rng(16), shape, 4.0)
    # the truth from the float32 z = x - max that every kernel computes first
    # (its rounding, amplified by exp, is the same in all of them)
    z32 = (x - x.max(axis=1, keepdims=True)).astype(np.float64)
    p64 = np.exp(z32) / np.exp(z32).sum(axis=1, keepdims=True)
    for mod in (reference, ckernels):
        out = np.empty_like(x)
        mod.softmax_f32(x, out)
        rel = (out.astype(np.float64) - p64) / p64 / U
        med, mean = np.median(np.abs(rel)), rel.mean()
        assert med <= 4 and abs(mean) <= 2, (
            "%s.softmax_f32 %s: relative error vs float64: median %.1f ulps, mean %+.1f "
            "ulps (a float32 running sum of the row?)" % (mod.__name__, shape, med, mean))


@pytest.mark.parametrize("shape", [(5, 1000), (16, 3000), (2, 20000)], ids=str)
def test_xent_loss_wide_rows_no_drift(ckernels, reference, shape):
    x = randn(np.random.default_rng(17), shape, 4.0)
    labels = np.random.default_rng(18).integers(0, shape[1], shape[0])
    loss64, _, _, _, _ = xent_truth(x, labels)
    for mod in (reference, ckernels):
        loss, _ = mod.softmax_xent_f32(x, labels)
        # log(sum) with a relative error r in the sum moves each row's loss by r
        err = abs(loss - loss64) / U
        assert err <= 4 * (shape[0] + abs(loss64)), (
            "%s: loss %r vs float64 %r: %.0f ulps of 1 off (bound %.0f)"
            % (mod.__name__, loss, loss64, err, 4 * (shape[0] + abs(loss64))))
