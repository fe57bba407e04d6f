"""The loss kernels (C and NumPy twin) and fastdense.losses.

Kernels: ``mse/mae/huber/log_cosh/kld_loss_f32``, the fused
``sigmoid_bce_f32`` and ``softmax_xent_f32`` with per-row weights and label
smoothing, each held on both backends against a float64 truth written here
(Keras's formulas), over shapes, layouts (weights as strided and negative
vectors too), thread counts, with NaN/inf.

Bounds (u = 2**-24, e = 2**-53):
* loss sums (double): ``4 (m + n + 16) e M``, M the weighted sum of the
  element losses' magnitudes -- the kernels add each row in order and the
  rows in fixed blocks, the twins use NumPy's pairwise sums: both are
  double-precision sums of the same float64 terms;
* gradients and probabilities: the float32 rounding of the double value
  (``2 u |g|`` allows a last-bit difference of the libm functions);
* softmax_xent: the float32 bounds of tests/test_kernels.py, with the
  targets smoothed in float32 as the kernel does and the weights applied.
The regression and BCE losses have the same bits for every thread count.

Losses: every Loss class's gradient (forward_backward / from_logits, both
backends, with weights, from_logits, label_smoothing) against central
differences of the Keras formula in float64; Keras values spot-checked
against the formulas written with ``math``.
"""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from arrays import (EPS32, LAYOUT_SHAPES_2D, PAR_SHAPE, SHAPES_2D, assert_within,
                    inject_nonfinite, layout)
from test_kernels import ALL_CORES, PLANS, THREADS, Plan, nan_out

from fastdense import losses, reference

U = float(EPS32)
E64 = 2.0 ** -53
TINY = 2.0 ** -149
EPS = 1e-7

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


# ---- truths --------------------------------------------------------------------------

def _sign(x):
    return np.sign(x)


def elem_truth(kind, p, t, delta=1.0):
    """(element losses, d loss / d p) in float64 (Keras formulas)."""
    p, t = np.asarray(p, np.float64), np.asarray(t, np.float64)
    with np.errstate(all="ignore"):
        e = p - t
        if kind == "mse":
            return e ** 2, 2 * e
        if kind == "mae":
            return np.abs(e), _sign(e)
        if kind == "huber":
            a = np.abs(e)
            quad = np.minimum(a, delta)
            return 0.5 * quad ** 2 + delta * (a - quad), np.where(a <= delta, e, delta * _sign(e))
        if kind == "log_cosh":
            # Keras: x + softplus(-2x) - log 2 (written stably; the series near 0)
            a = np.abs(e)
            big = a + np.log1p(np.exp(-2 * a)) - math.log(2)
            return np.where(a < 1e-3, e * e / 2 - e ** 4 / 12, big), np.tanh(e)
        if kind == "kld":
            tc, pc = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
            return tc * np.log(tc / pc), np.where((p < EPS) | (p > 1), 0.0, -tc / pc)
    raise AssertionError(kind)


REGRESSION = ["mse", "mae", "huber", "log_cosh", "kld"]
KERNEL_OF = {"mse": "mse_loss_f32", "mae": "mae_loss_f32", "huber": "huber_loss_f32",
             "log_cosh": "log_cosh_loss_f32", "kld": "kld_loss_f32"}


def regression_truth(kind, p, t, w, scale, delta=1.0):
    elem, d = elem_truth(kind, p, t, delta)
    n = p.shape[1]
    per = 1.0 if kind == "kld" else 1.0 / max(n, 1)
    w64 = np.ones(len(p)) if w is None else np.asarray(w, np.float64)
    with np.errstate(all="ignore"):
        loss = float((w64 * elem.sum(axis=1) * per).sum()) if n else 0.0
        mag = float((np.abs(w64) * np.abs(np.nan_to_num(elem)).sum(axis=1) * per).sum())
        grad = float(np.float32(scale)) * w64[:, None] * per * d
    return loss, 4 * (p.size + 16 + n) * E64 * mag, grad


def _data(kind, shape, rng, nonfinite=0.0):
    p = rng.standard_normal(shape).astype(np.float32)
    t = rng.standard_normal(shape).astype(np.float32)
    if kind == "kld":  # distributions, some predictions outside [eps, 1]
        t = np.abs(t) / (1 + np.abs(t))
        p = np.where(rng.random(shape) < 0.9, np.abs(p) / (1 + np.abs(p)), p * 2)
        p, t = p.astype(np.float32), t.astype(np.float32)
    if nonfinite:
        inject_nonfinite(p, rng, nonfinite)
    w = (rng.random(shape[0]) * 2).astype(np.float32)
    w[rng.random(shape[0]) < 0.1] = 0
    return p, t, w


def _loss_bits(v):
    return np.float64(v).tobytes()


def run_regression(ck, kind, shape, plan_spec, nthreads, seed=0, nonfinite=0.0,
                   use_weights=True, delta=1.0):
    rng = np.random.default_rng(seed)
    p, t, w = _data(kind, shape, rng, nonfinite)
    plan = Plan(plan_spec)
    pin, tin = layout(p, plan("in")), layout(t, plan("in"))
    p, t = np.array(pin), np.array(tin)
    win = layout(w, plan.vec("in")) if use_weights else None
    scale = np.float32(1.0 / max(shape[0], 1))
    want, lbound, gwant = regression_truth(kind, p, t, win, scale, delta)
    extra = {"delta": delta} if kind == "huber" else {}
    what = "%s shape=%s plan=%s nthreads=%d weights=%s" % (kind, shape, plan_spec, nthreads,
                                                          use_weights)
    for mod in (reference, ck):
        grad = nan_out(shape, plan("out"))
        loss = getattr(mod, KERNEL_OF[kind])(pin, tin, grad=grad, scale=scale, weights=win,
                                             nthreads=nthreads, **extra)
        assert isinstance(loss, float), what
        assert_within(np.float64(loss), np.float64(want), lbound, "%s loss (%s)" % (what, mod.__name__))
        assert_within(grad, gwant, 2 * U * np.abs(np.nan_to_num(gwant)) + TINY,
                      "%s grad (%s)" % (what, mod.__name__))
        loss2 = getattr(mod, KERNEL_OF[kind])(pin, tin, scale=scale, weights=win,
                                              nthreads=nthreads, **extra)
        assert _loss_bits(loss2) == _loss_bits(loss), what + ": grad=None changes the loss"


@pytest.mark.parametrize("nthreads", THREADS)
@pytest.mark.parametrize("shape", SHAPES_2D, ids=str)
@pytest.mark.parametrize("kind", REGRESSION)
def test_regression_loss_shapes(ckernels, kind, shape, nthreads):
    run_regression(ckernels, kind, shape, "C", nthreads)


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("shape", LAYOUT_SHAPES_2D[:3], ids=str)
@pytest.mark.parametrize("kind", REGRESSION)
def test_regression_loss_layouts(ckernels, kind, shape, plan):
    run_regression(ckernels, kind, shape, plan, ALL_CORES, seed=1)


@pytest.mark.parametrize("use_weights", [False, True])
@pytest.mark.parametrize("shape", [(1, 1), (13, 33), PAR_SHAPE], ids=str)
@pytest.mark.parametrize("kind", REGRESSION)
def test_regression_loss_nonfinite_and_weights(ckernels, kind, shape, use_weights):
    run_regression(ckernels, kind, shape, "mixed", ALL_CORES, seed=2, nonfinite=0.05,
                   use_weights=use_weights)


@pytest.mark.parametrize("delta", [0.25, 1.0, 3.0])
def test_huber_deltas(ckernels, delta):
    run_regression(ckernels, "huber", (37, 11), "mixed", ALL_CORES, seed=3, delta=delta)


# ---- the fused sigmoid + binary cross-entropy ---------------------------------------------

def bce_truth(z, y, w, scale, ls):
    z64, y64 = np.asarray(z, np.float64), np.asarray(y, np.float64)
    ls = float(np.float32(ls))
    t = y64 * (1 - ls) + 0.5 * ls
    with np.errstate(all="ignore"):
        p = np.exp(-np.logaddexp(0.0, -z64))          # sigmoid
        # -t log p - (1 - t) log(1 - p), from logits; 0 * inf counts 0
        log_p, log_1p = -np.logaddexp(0.0, -z64), -np.logaddexp(0.0, z64)
        elem = -np.where(t == 0, 0.0, t * log_p) - np.where(t == 1, 0.0, (1 - t) * log_1p)
        n = z64.shape[1]
        w64 = np.ones(len(z64)) if w is None else np.asarray(w, np.float64)
        loss = float((w64 * elem.mean(axis=1)).sum()) if n else 0.0
        mag = float((np.abs(w64) * np.abs(np.nan_to_num(elem)).mean(axis=1)).sum()) if n else 0
        grad = float(np.float32(scale)) * w64[:, None] / max(n, 1) * (p - t)
    hits = int((((y64 == 1) & (z64 > 0)) | ((y64 == 0) & (z64 <= 0))).sum())
    return loss, 4 * (z64.size + 16 + n) * E64 * mag + 1e-300, p, grad, hits


def run_bce(ck, shape, plan_spec, nthreads, seed=0, nonfinite=0.0, ls=0.0, use_weights=True):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(shape) * 4).astype(np.float32)
    y = rng.integers(0, 2, shape).astype(np.float32)
    y[rng.random(shape) < 0.2] = 0.3                   # soft targets too
    if nonfinite:
        inject_nonfinite(z, rng, nonfinite)
    w = (rng.random(shape[0]) * 2).astype(np.float32)
    plan = Plan(plan_spec)
    zin, yin = layout(z, plan("in")), layout(y, plan("in"))
    z, y = np.array(zin), np.array(yin)
    win = layout(w, plan.vec("in")) if use_weights else None
    scale = np.float32(1.0 / max(shape[0], 1))
    want, lbound, pwant, gwant, hwant = bce_truth(z, y, win, scale, ls)
    what = "sigmoid_bce shape=%s plan=%s nthreads=%d ls=%g" % (shape, plan_spec, nthreads, ls)
    for mod in (reference, ck):
        probs, grad = nan_out(shape, plan("out")), nan_out(shape, plan("out"))
        loss, hits = mod.sigmoid_bce_f32(zin, yin, probs=probs, grad=grad, scale=scale,
                                         nthreads=nthreads, weights=win, label_smoothing=ls)
        assert isinstance(loss, float) and isinstance(hits, int)
        assert_within(np.float64(loss), np.float64(want), lbound, what + " loss " + mod.__name__)
        assert hits == hwant, (what, mod.__name__, hits, hwant)
        assert_within(probs, pwant, 2 * U * pwant + TINY, what + " probs " + mod.__name__)
        assert_within(grad, gwant, 2 * U * np.abs(np.nan_to_num(gwant)) + TINY,
                      what + " grad " + mod.__name__)


@pytest.mark.parametrize("nthreads", THREADS)
@pytest.mark.parametrize("shape", SHAPES_2D, ids=str)
def test_sigmoid_bce_shapes(ckernels, shape, nthreads):
    run_bce(ckernels, shape, "C", nthreads)


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("shape", [(1, 1), (7, 17), (512, 1)], ids=str)
def test_sigmoid_bce_layouts(ckernels, shape, plan):
    run_bce(ckernels, shape, plan, ALL_CORES, seed=1, ls=0.1)


@pytest.mark.parametrize("ls", [0.0, 0.2, 1.0])
@pytest.mark.parametrize("shape", [(1, 1), (13, 33), PAR_SHAPE], ids=str)
def test_sigmoid_bce_nonfinite_and_smoothing(ckernels, shape, ls):
    run_bce(ckernels, shape, "mixed", ALL_CORES, seed=2, nonfinite=0.05, ls=ls)


def test_sigmoid_bce_exact_limits(ckernels):
    """Saturated logits: exactly 0 loss when right, the logit itself when
    wrong (never inf - inf); round(sigmoid(0)) = 0; NaN is never correct."""
    z = np.array([[np.inf, -np.inf, np.inf, -np.inf, 1e30, -1e30, 0.0, 0.0, np.nan]],
                 np.float32)
    y = np.array([[1, 0, 0, 1, 1, 0, 0, 1, 1]], np.float32)
    for mod in (reference, ckernels):
        for j, want in enumerate([0.0, 0.0, np.inf, np.inf, 0.0, 0.0, math.log(2),
                                  math.log(2)]):
            loss, hits = mod.sigmoid_bce_f32(z[:, j:j + 1], y[:, j:j + 1])
            assert loss == pytest.approx(want, rel=1e-15), (mod.__name__, j, loss)
        zz = np.array([[1e30, -1e30]], np.float32)
        loss, _ = mod.sigmoid_bce_f32(zz, np.array([[0, 1]], np.float32))
        assert loss == pytest.approx(1e30, rel=1e-6), mod.__name__      # mean of 1e30, 1e30
        probs, grad = np.empty_like(z), np.empty_like(z)
        _, hits = mod.sigmoid_bce_f32(z, y, probs=probs, grad=grad)
        assert hits == 5, mod.__name__              # columns 0, 1, 4, 5, 6
        assert np.array_equal(probs[0, :6], [1, 0, 1, 0, 1, 0]) and probs[0, 6] == 0.5
        assert np.isfinite(grad[0, :8]).all() and np.isnan(grad[0, 8])


def test_sigmoid_bce_probs_or_grad_may_be_the_logits(ckernels):
    rng = np.random.default_rng(4)
    z = (rng.standard_normal((9, 3)) * 3).astype(np.float32)
    y = rng.integers(0, 2, z.shape).astype(np.float32)
    for mod in (reference, ckernels):
        want_p, want_g = np.empty_like(z), np.empty_like(z)
        want = mod.sigmoid_bce_f32(z, y, probs=want_p, grad=want_g, scale=0.5)
        for key, ref in (("probs", want_p), ("grad", want_g)):
            a = z.copy()
            got = mod.sigmoid_bce_f32(a, y, scale=0.5, **{key: a})
            assert got == want and np.array_equal(a, ref), (mod.__name__, key)


# ---- softmax_xent with weights and label smoothing ----------------------------------------

def xent_truth(logits, target, w, scale, ls):
    x = np.asarray(logits, np.float64)
    m, n = x.shape
    if target.ndim == 1:
        y = np.zeros((m, n), np.float32)
        y[np.arange(m), target] = 1
    else:
        y = np.asarray(target, np.float32)
    if ls:   # smoothed in float32, as the kernel does
        lsf = np.float32(ls)
        y = y * (np.float32(1) - lsf) + lsf / np.float32(n)
    t = y.astype(np.float64)
    w64 = np.ones(m) if w is None else np.asarray(w, np.float64)
    with np.errstate(all="ignore"):
        z = x - x.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
        p = np.exp(z - lse)
        terms = np.where(t != 0, t * (z - lse), 0.0)
        loss = float(-(w64 * terms.sum(axis=1)).sum())
        mag = np.where(t != 0, np.abs(t) * (np.abs(z) + np.abs(lse) + 1), 0.0)
        lbound = 2 * (n + 4) * U * float(np.nansum(np.abs(w64)[:, None] * mag)) + 1e-300
        pbound = U * (np.abs(np.where(np.isfinite(z), z, 0)) + n + 6) * p + 8 * TINY
        gs = (np.float32(scale) * np.asarray(w64, np.float32)).astype(np.float64)[:, None]
        g = (p - t) * gs
        gbound = np.abs(gs) * (pbound + 3 * U * np.abs(p - t)) + 8 * TINY
    return loss, lbound, p, pbound, g, gbound


@pytest.mark.parametrize("ls", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("target_kind", ["onehot", "soft", "labels"])
@pytest.mark.parametrize("plan", ["C", "mixed", "in:F", "out:strided"])
@pytest.mark.parametrize("shape", [(1, 1), (9, 10), (128, 10), (3, 257), PAR_SHAPE], ids=str)
def test_softmax_xent_weights_and_label_smoothing(ckernels, shape, plan, target_kind, ls):
    rng = np.random.default_rng(5)
    m, n = shape
    logits = (rng.standard_normal(shape) * 3).astype(np.float32)
    labels = rng.integers(0, n, m).astype(np.int64)
    if target_kind == "labels":
        target = labels
    elif target_kind == "onehot":
        target = np.eye(n, dtype=np.float32)[labels]
    else:
        target = np.abs(rng.standard_normal(shape)).astype(np.float32) + np.float32(0.01)
        target /= target.sum(axis=1, keepdims=True)
    w = (rng.random(m) * 2).astype(np.float32)
    w[::7] = 0
    pl = Plan(plan)
    lin = layout(logits, pl("in"))
    tin = target if target.ndim == 1 else layout(target, pl("in"))
    win = layout(w, pl.vec("in"))
    scale = np.float32(1.0 / m)
    loss_w, lb, p, pb, g, gb = xent_truth(np.array(lin), np.array(tin), np.array(win), scale, ls)
    for mod in (reference, ckernels):
        probs, grad = nan_out(shape, pl("out")), nan_out(shape, pl("out"))
        loss, hits = mod.softmax_xent_f32(lin, tin, probs=probs, grad=grad, scale=scale,
                                          nthreads=ALL_CORES, weights=win,
                                          label_smoothing=ls)
        what = "%s %s %s ls=%g (%s)" % (shape, plan, target_kind, ls, mod.__name__)
        assert_within(np.float64(loss), np.float64(loss_w), lb, what + " loss")
        assert_within(probs, p, pb, what + " probs")
        assert_within(grad, g, gb, what + " grad")
        # the hits are unweighted and compare with the unsmoothed target
        _, hits0 = mod.softmax_xent_f32(lin, tin)
        assert hits == hits0, what


def test_softmax_xent_unweighted_unsmoothed_is_unchanged(ckernels):
    """weights=None and label_smoothing=0 give exactly the old results."""
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((40, 10)) * 3).astype(np.float32)
    lab = rng.integers(0, 10, 40)
    for mod in (reference, ckernels):
        g1, g2 = np.empty_like(x), np.empty_like(x)
        a = mod.softmax_xent_f32(x, lab, None, g1, 0.025)
        b = mod.softmax_xent_f32(x, lab, None, g2, 0.025, weights=np.ones(40, np.float32),
                                 label_smoothing=0.0)
        assert a == b and np.array_equal(g1, g2), mod.__name__


def test_smoothing_makes_a_minus_inf_logit_an_infinite_loss(ckernels):
    x = np.array([[-np.inf, 1.0, 2.0]], np.float32)
    for mod in (reference, ckernels):
        assert np.isfinite(mod.softmax_xent_f32(x, np.array([2]))[0])
        assert mod.softmax_xent_f32(x, np.array([2]), label_smoothing=0.1)[0] == np.inf


@pytest.mark.parametrize("kernel", ["mse", "mae", "huber", "log_cosh", "kld", "bce"])
def test_loss_bits_do_not_depend_on_threads_or_layout(ckernels, kernel):
    rng = np.random.default_rng(7)
    shape = (1500, 97)
    p = rng.random(shape).astype(np.float32)
    t = rng.random(shape).astype(np.float32)
    w = rng.random(shape[0]).astype(np.float32)
    bits = set()
    for nt in (1, 2, 3, ALL_CORES):
        for lay in ("C", "F", "strided"):
            pin, tin = layout(p, lay), layout(t, lay)
            if kernel == "bce":
                loss = ckernels.sigmoid_bce_f32(pin, tin, nthreads=nt, weights=w)[0]
            else:
                loss = getattr(ckernels, KERNEL_OF[kernel])(pin, tin, weights=w, nthreads=nt)
            bits.add(_loss_bits(loss))
    assert len(bits) == 1, kernel


def test_regression_edge_values(ckernels):
    for mod in (reference, ckernels):
        z = np.zeros((1, 1), np.float32)
        g = np.empty_like(z)
        mod.mae_loss_f32(z, z, grad=g)
        assert g[0, 0] == 0                                   # sign(0) = 0, as TF
        p = np.array([[1.0, -1.0, 3.0]], np.float32)
        mod.huber_loss_f32(p, np.zeros_like(p), grad=(g := np.empty_like(p)), delta=1.0)
        assert np.array_equal(g, np.float32([[1, -1, 1]]) / 3)  # |e| == delta: delta sign(e)
        big = np.array([[1e30]], np.float32)
        assert mod.log_cosh_loss_f32(big, np.zeros_like(big)) == pytest.approx(1e30 - math.log(2))
        tiny = np.array([[1e-4]], np.float32)
        assert mod.log_cosh_loss_f32(tiny, np.zeros_like(tiny)) == pytest.approx(
            math.log(math.cosh(float(tiny[0, 0]))), rel=1e-12)
        # KL: p = 0 is clipped to eps (finite loss, zero gradient); p > 1 likewise
        p = np.array([[0.0, 1.5, 0.5]], np.float32)
        t = np.array([[0.5, 0.25, 0.25]], np.float32)
        g = np.empty_like(p)
        loss = mod.kld_loss_f32(p, t, grad=g)
        want = 0.5 * math.log(0.5 / 1e-7) + 0.25 * math.log(0.25 / 1.0) + 0.25 * math.log(0.5)
        assert loss == pytest.approx(want, rel=1e-6) and g[0, 0] == 0 and g[0, 1] == 0
        assert g[0, 2] == np.float32(-0.25 / 0.5)


# ---- the Loss objects: gradients against finite differences of Keras's formulas ---------------

def keras_value(name, p, y, n_classes=None, ls=0.0, delta=1.0, logits=False):
    """Per-sample Keras 2.3 losses in float64 (p: predictions or logits)."""
    p = np.asarray(p, np.float64)
    if name in REGRESSION:
        elem, _ = elem_truth(name, p, y, delta)
        return elem.sum(axis=1) if name == "kld" else elem.mean(axis=1)
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        n = p.shape[1]
        t = np.eye(n)[y] if name.startswith("sparse") else np.asarray(y, np.float64)
        t = t * (1 - ls) + ls / n
        if logits:
            z = p - p.max(axis=1, keepdims=True)
            logq = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        else:
            logq = np.log(np.clip(p / p.sum(axis=1, keepdims=True), EPS, 1 - EPS))
        return -(t * logq).sum(axis=1)
    if name == "binary_crossentropy":
        t = np.asarray(y, np.float64) * (1 - ls) + 0.5 * ls
        q = 1 / (1 + np.exp(-p)) if logits else np.clip(p, EPS, 1 - EPS)
        return -(t * np.log(q) + (1 - t) * np.log(1 - q)).mean(axis=1)
    raise AssertionError(name)


LOSS_CASES = {
    # id: (loss object, Keras name, kwargs for keras_value, fused activation or None)
    "mse": (losses.MeanSquaredError(), "mse", {}, None),
    "mae": (losses.MeanAbsoluteError(), "mae", {}, None),
    "huber": (losses.Huber(), "huber", {}, None),
    "huber(0.3)": (losses.Huber(delta=0.3), "huber", {"delta": 0.3}, None),
    "log_cosh": (losses.LogCosh(), "log_cosh", {}, None),
    "kld": (losses.KLDivergence(), "kld", {}, None),
    "cce": (losses.CategoricalCrossentropy(), "categorical_crossentropy", {}, None),
    "cce ls": (losses.CategoricalCrossentropy(label_smoothing=0.2),
               "categorical_crossentropy", {"ls": 0.2}, None),
    "cce logits": (losses.CategoricalCrossentropy(from_logits=True),
                   "categorical_crossentropy", {"logits": True}, "linear"),
    "cce logits ls": (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
                      "categorical_crossentropy", {"logits": True, "ls": 0.1}, "linear"),
    "cce softmax ls": (losses.CategoricalCrossentropy(label_smoothing=0.1),
                       "categorical_crossentropy", {"logits": True, "ls": 0.1}, "softmax"),
    "scce": (losses.SparseCategoricalCrossentropy(), "sparse_categorical_crossentropy", {},
             None),
    "scce logits ls": (losses.SparseCategoricalCrossentropy(from_logits=True,
                                                            label_smoothing=0.3),
                       "sparse_categorical_crossentropy", {"logits": True, "ls": 0.3},
                       "linear"),
    "bce": (losses.BinaryCrossentropy(), "binary_crossentropy", {}, None),
    "bce ls": (losses.BinaryCrossentropy(label_smoothing=0.2), "binary_crossentropy",
               {"ls": 0.2}, None),
    "bce logits": (losses.BinaryCrossentropy(from_logits=True), "binary_crossentropy",
                   {"logits": True}, "linear"),
    "bce sigmoid ls": (losses.BinaryCrossentropy(label_smoothing=0.1), "binary_crossentropy",
                       {"logits": True, "ls": 0.1}, "sigmoid"),
}


def _case_data(name, kw, rng, m=6, n=4):
    if name in ("kld",) or (name.endswith("crossentropy") and not kw.get("logits")):
        p = rng.random((m, n)) * 0.8 + 0.1      # probabilities away from the clip
    else:
        p = rng.standard_normal((m, n))
    if name == "sparse_categorical_crossentropy":
        y = rng.integers(0, n, m)
    elif name == "binary_crossentropy":
        y = rng.integers(0, 2, (m, n)).astype(np.float32)
    elif name in ("categorical_crossentropy", "kld"):
        y = np.eye(n, dtype=np.float32)[rng.integers(0, n, m)]
        if name == "kld":
            y = (y * 0.7 + 0.075).astype(np.float32)
    else:
        y = rng.standard_normal((m, n)).astype(np.float32)
    return p.astype(np.float32), y


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", list(LOSS_CASES))
def test_loss_gradient_matches_finite_differences(any_backend, case, weighted):
    import fastdense
    loss, name, kw, fused = LOSS_CASES[case]
    rng = np.random.default_rng(8)
    p, y = _case_data(name, kw, rng)
    m, n = p.shape
    target = loss.prepare_targets(y, n)
    w = (rng.random(m) * 2).astype(np.float32) if weighted else None
    grad = np.full_like(p, np.nan)
    scale = 1.0 / m
    K = fastdense._config.kernels()
    if fused is not None:
        assert loss.fuses_with(fused)
        total, _ = loss.from_logits(K, p, target, grad=grad, scale=scale,
                                    nthreads=fastdense.get_num_threads(), weights=w)
    else:
        total = loss.forward_backward(p, target, grad=grad, scale=scale, weights=w)
    ww = np.ones(m) if w is None else w.astype(np.float64)

    def mean_loss(pp):
        return float((ww * keras_value(name, pp, y, **kw)).sum() / m)

    assert total / m == pytest.approx(mean_loss(p), rel=2e-6, abs=1e-7)
    p64 = p.astype(np.float64)
    fd = np.zeros_like(p64)
    h = 1e-6
    for idx in np.ndindex(p.shape):
        up, down = p64.copy(), p64.copy()
        up[idx] += h
        down[idx] -= h
        fd[idx] = (mean_loss(up) - mean_loss(down)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-6, err_msg=case)


def test_fuses_with_table():
    assert losses.get("categorical_crossentropy").fuses_with("softmax")
    assert not losses.CategoricalCrossentropy(from_logits=True).fuses_with("softmax")
    assert losses.CategoricalCrossentropy(from_logits=True).fuses_with("linear")
    assert losses.BinaryCrossentropy().fuses_with("sigmoid")
    assert losses.BinaryCrossentropy(from_logits=True).fuses_with("linear")
    assert not losses.BinaryCrossentropy(from_logits=True).fuses_with("sigmoid")
    for name in ("mse", "mae", "huber", "log_cosh", "kld"):
        assert not any(losses.get(name).fuses_with(a) for a in ("linear", "softmax", "sigmoid"))


@pytest.mark.parametrize("case", ["cce logits", "bce logits", "scce logits ls"])
def test_from_logits_loss_on_a_non_linear_output_uses_its_input_as_logits(any_backend, case):
    """from_logits=True with another activation (not fused): forward_backward
    treats y_pred as the logits, as Keras does."""
    loss, name, kw, _ = LOSS_CASES[case]
    p, y = _case_data(name, kw, np.random.default_rng(9))
    target = loss.prepare_targets(y, p.shape[1])
    want = keras_value(name, p, y, **kw).sum()
    assert loss.forward_backward(p, target) == pytest.approx(want, rel=1e-6)


# ---- Keras values --------------------------------------------------------------------

def test_keras_values_of_the_module_functions():
    """Per-sample losses of losses.<fn>(y_true, y_pred) against Keras 2.3's
    formulas, written out element by element."""
    log, exp = math.log, math.exp
    yt = np.array([[0.0, 1.0], [0.5, -1.0]], np.float32)
    yp = np.array([[0.5, 0.25], [2.0, -0.5]], np.float32)
    e = (yp - yt).astype(np.float64)
    close = lambda got, want: np.testing.assert_allclose(got, want, rtol=1e-6)
    close(losses.mse(yt, yp), [(0.25 + 0.5625) / 2, (2.25 + 0.25) / 2])
    close(losses.mae(yt, yp), [(0.5 + 0.75) / 2, (1.5 + 0.5) / 2])
    # huber, delta 1: 0.5 e^2 inside, 0.5 + (|e| - 1) outside
    close(losses.huber(yt, yp), [(0.5 * 0.25 + 0.5 * 0.5625) / 2, (0.5 + 0.5 + 0.5 * 0.25) / 2])
    close(losses.huber_loss(yt, yp, delta=0.5),
          [(0.125 + 0.125 + 0.5 * 0.25) / 2, (0.125 + 0.5 * 1.0 + 0.125) / 2])
    # logcosh: x + softplus(-2x) - log 2
    lc = lambda x: x + log(exp(-2 * x) + 1) - log(2)
    close(losses.logcosh(yt, yp), [(lc(e[0, 0]) + lc(e[0, 1])) / 2,
                                   (lc(e[1, 0]) + lc(e[1, 1])) / 2])
    # KL: sum t log(t / p) with both clipped to [1e-7, 1]
    t = np.array([[0.25, 0.75]], np.float32)
    q = np.array([[0.5, 0.5]], np.float32)
    close(losses.kld(t, q), [0.25 * log(0.5) + 0.75 * log(1.5)])
    close(losses.kullback_leibler_divergence(np.array([[0.0, 1.0]]), q),
          [1e-7 * log(1e-7 / 0.5) + 1.0 * log(2)])
    # categorical: normalise, clip, -sum t log p; smoothing t (1 - ls) + ls / 2
    y1 = np.array([[0.0, 1.0]], np.float32)
    p1 = np.array([[0.25, 0.5]], np.float32)          # normalised: 1/3, 2/3
    close(losses.categorical_crossentropy(y1, p1), [-log(2 / 3)])
    close(losses.categorical_crossentropy(y1, p1, label_smoothing=0.2),
          [-(0.1 * log(1 / 3) + 0.9 * log(2 / 3))])
    z = np.array([[1.0, 3.0]], np.float32)
    lse = log(exp(1) + exp(3))
    close(losses.categorical_crossentropy(y1, z, from_logits=True), [lse - 3])
    close(losses.sparse_categorical_crossentropy([1], z, from_logits=True), [lse - 3])
    close(losses.sparse_categorical_crossentropy([0], p1), [-log(1 / 3)])
    # binary: mean of -(t log p + (1 - t) log(1 - p)); smoothing t (1 - ls) + ls / 2
    yb = np.array([[1.0, 0.0]], np.float32)
    pb = np.array([[0.75, 0.25]], np.float32)
    close(losses.binary_crossentropy(yb, pb), [-log(0.75)])
    close(losses.binary_crossentropy(yb, pb, label_smoothing=0.2),
          [-(0.9 * log(0.75) + 0.1 * log(0.25))])
    s = lambda v: 1 / (1 + exp(-v))
    close(losses.binary_crossentropy(yb, z, from_logits=True),
          [(-log(s(1.0)) - log(1 - s(3.0))) / 2])


def test_loss_objects_return_the_keras_reduction():
    yt = np.array([[0.0], [1.0], [2.0]], np.float32)
    yp = np.array([[1.0], [1.0], [4.0]], np.float32)
    mse = losses.MeanSquaredError()
    assert mse(yt, yp) == pytest.approx((1 + 0 + 4) / 3)
    assert mse(yt, yp, sample_weight=[1.0, 5.0, 0.5]) == pytest.approx((1 + 0 + 2) / 3)
    assert losses.mse(yt, yp).shape == (3,) and losses.mse(yt, yp).dtype == np.float32


# ---- the API ---------------------------------------------------------------------------

NAMES = {
    "categorical_crossentropy": losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
    "binary_crossentropy": losses.BinaryCrossentropy,
    "mean_squared_error": losses.MeanSquaredError, "mse": losses.MeanSquaredError,
    "MSE": losses.MeanSquaredError,
    "mean_absolute_error": losses.MeanAbsoluteError, "mae": losses.MeanAbsoluteError,
    "huber": losses.Huber, "huber_loss": losses.Huber,
    "log_cosh": losses.LogCosh, "logcosh": losses.LogCosh,
    "kl_divergence": losses.KLDivergence, "kld": losses.KLDivergence,
    "KLD": losses.KLDivergence, "kullback_leibler_divergence": losses.KLDivergence,
}


@pytest.mark.parametrize("name", list(NAMES))
def test_get_names(name):
    obj = losses.get(name)
    assert type(obj) is NAMES[name]
    assert losses.get(losses.serialize(obj)) == obj


FUNCTIONS = ["mean_squared_error", "mse", "MSE", "mean_absolute_error", "mae", "MAE",
             "huber", "huber_loss", "log_cosh", "logcosh", "kl_divergence", "kld", "KLD",
             "kullback_leibler_divergence", "categorical_crossentropy",
             "sparse_categorical_crossentropy", "binary_crossentropy"]


@pytest.mark.parametrize("fname", FUNCTIONS)
def test_module_functions_map_to_the_loss_classes(fname):
    obj = losses.get(getattr(losses, fname))
    assert not isinstance(obj, losses.LossFunction)
    assert obj == losses.get(fname)      # the string of the same name (any case)


def test_parametrised_losses_serialize_as_configs():
    h = losses.Huber(delta=2.0)
    cfg = losses.serialize(h)
    assert cfg == {"class_name": "Huber", "config": {"delta": 2.0}}
    assert losses.get(cfg) == h and losses.deserialize(cfg) == h
    c = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    assert losses.deserialize(losses.serialize(c)) == c
    assert losses.serialize(losses.BinaryCrossentropy()) == "binary_crossentropy"
    assert losses.get(losses.Huber) == losses.Huber()


@pytest.mark.parametrize("bad", ["nonsense", 7, {"class_name": "Nope"}])
def test_unknown_loss_lists_the_supported_names(bad):
    with pytest.raises(ValueError) as info:
        losses.get(bad)
    for name in ("'huber'", "'mae'", "'kld'", "'log_cosh'", "'categorical_crossentropy'"):
        assert name in str(info.value)


@pytest.mark.parametrize("make", [
    lambda: losses.Huber(0.0), lambda: losses.Huber(-1), lambda: losses.Huber(float("inf")),
    lambda: losses.CategoricalCrossentropy(label_smoothing=1.5),
    lambda: losses.BinaryCrossentropy(label_smoothing=-0.1),
    lambda: losses.BinaryCrossentropy(from_logits="yes"),
    lambda: losses.MeanSquaredError(reduction="sum"),
])
def test_bad_loss_parameters_are_value_errors(make):
    with pytest.raises(ValueError):
        make()


def test_weights_must_have_one_entry_per_row(any_backend):
    p = np.ones((3, 2), np.float32)
    for loss in (losses.MeanSquaredError(), losses.BinaryCrossentropy(),
                 losses.CategoricalCrossentropy()):
        with pytest.raises(ValueError, match="weights"):
            loss.forward_backward(p, loss.prepare_targets(p, 2), weights=np.ones(4))
    # float64 weights are converted
    mse = losses.MeanSquaredError()
    a = mse.forward_backward(p, np.zeros_like(p), weights=np.array([1.0, 2.0, 3.0]))
    assert a == pytest.approx(6.0)


def _my_mse(y_true, y_pred):
    return ((y_pred - y_true) ** 2).mean(axis=1)


def test_python_function_loss_value_and_numeric_gradient(any_backend):
    loss = losses.get(_my_mse)
    assert isinstance(loss, losses.LossFunction) and loss.name == "_my_mse"
    assert not loss.fuses_with("linear")
    rng = np.random.default_rng(10)
    p = rng.standard_normal((5, 3)).astype(np.float32)
    y = rng.standard_normal((5, 3)).astype(np.float32)
    w = rng.random(5).astype(np.float32)
    g, g_ref = np.empty_like(p), np.empty_like(p)
    total = loss.forward_backward(p, y, grad=g, scale=0.2, weights=w)
    ref = losses.MeanSquaredError().forward_backward(p, y, grad=g_ref, scale=0.2, weights=w)
    assert total == pytest.approx(ref, rel=1e-12)
    # central differences on a quadratic: exact up to rounding (~1e-10 relative)
    np.testing.assert_allclose(g, g_ref, rtol=1e-6, atol=1e-9)


def test_python_function_loss_gradient_argument_and_elementwise_output():
    calls = []

    def elementwise(y_true, y_pred):
        return np.abs(y_pred - y_true)            # (N, units): averaged per row

    def grad_fn(y_true, y_pred):
        calls.append(1)
        return np.sign(y_pred - y_true) / y_pred.shape[1]

    loss = losses.LossFunction(elementwise, gradient=grad_fn)
    p = np.array([[1.0, -2.0], [0.5, 0.5]], np.float32)
    y = np.zeros_like(p)
    g = np.empty_like(p)
    assert loss.forward_backward(p, y, grad=g) == pytest.approx(1.5 + 0.5)
    assert calls and np.array_equal(g, [[0.5, -0.5], [0.5, 0.5]])
    assert loss(y, p) == pytest.approx(1.0)       # Keras reduction


@pytest.mark.parametrize("bad", [lambda t, p: p.sum(), lambda t, p: p[:, :1].T,
                                 lambda t, p: np.ones((len(p), p.shape[1] + 1)),
                                 lambda t, p: np.array(["x"] * len(p))])
def test_python_function_loss_with_the_wrong_shape_is_a_value_error(bad):
    loss = losses.LossFunction(bad)
    p = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="must return"):
        loss.forward_backward(p, p, grad=np.empty_like(p))


def test_python_function_loss_cannot_be_serialized():
    with pytest.raises(ValueError, match="custom_objects"):
        losses.serialize(_my_mse)


# ---- bad kernel calls: ValueErrors in a subprocess, never crashes -------------------------

BAD_CALLS = {
    "mse: target shape": "k.mse_loss_f32(f(3, 4), f(3, 5))",
    "mae: grad shape": "k.mae_loss_f32(f(3, 4), f(3, 4), grad=f(4, 4))",
    "huber: delta 0": "k.huber_loss_f32(f(3, 4), f(3, 4), delta=0.0)",
    "huber: delta nan": "k.huber_loss_f32(f(3, 4), f(3, 4), delta=float('nan'))",
    "log_cosh: weights length": "k.log_cosh_loss_f32(f(3, 4), f(3, 4), weights=f(4))",
    "kld: float64": "k.kld_loss_f32(np.ones((3, 4)), f(3, 4))",
    "bce: ls > 1": "k.sigmoid_bce_f32(f(3, 4), f(3, 4), label_smoothing=1.5)",
    "bce: weights 2-D": "k.sigmoid_bce_f32(f(3, 4), f(3, 4), weights=f(3, 1))",
    "bce: probs shape": "k.sigmoid_bce_f32(f(3, 4), f(3, 4), probs=f(3, 3))",
    "xent: weights length": "k.softmax_xent_f32(f(3, 4), np.array([0, 1, 2]), weights=f(2))",
    "xent: ls < 0": "k.softmax_xent_f32(f(3, 4), f(3, 4), label_smoothing=-0.5)",
    "xent: weights float64": "k.softmax_xent_f32(f(3, 4), f(3, 4), weights=np.ones(3))",
}

_SCRIPT = r"""
import json, sys
import numpy as np
import fastdense._ckernels as k
def f(*shape): return np.ones(shape, np.float32)
for name, code in json.loads(sys.argv[1]).items():
    try:
        eval(code)
        res = "returned"
    except BaseException as e:
        res = type(e).__name__
    print("RESULT " + json.dumps([name, res]), flush=True)
"""


def test_bad_kernel_calls_are_value_errors(ckernels):
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(BAD_CALLS)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = dict(json.loads(l[7:]) for l in proc.stdout.splitlines()
                   if l.startswith("RESULT "))
    for name in BAD_CALLS:
        assert results.get(name) == "ValueError", (name, results.get(name))
    # the twins refuse the same arguments
    f = lambda *s: np.ones(s, np.float32)
    for call in (lambda: reference.huber_loss_f32(f(3, 4), f(3, 4), delta=0.0),
                 lambda: reference.sigmoid_bce_f32(f(3, 4), f(3, 4), label_smoothing=1.5),
                 lambda: reference.mse_loss_f32(f(3, 4), f(3, 4), weights=f(4)),
                 lambda: reference.softmax_xent_f32(f(3, 4), f(3, 4), weights=f(2))):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize("name", ["mse_loss_f32", "huber_loss_f32", "sigmoid_bce_f32"])
def test_reference_counts_unchanged(ckernels, name):
    p = np.ones((4, 5), np.float32)
    g = np.empty_like(p)
    w = np.ones(4, np.float32)
    fn = getattr(ckernels, name)
    fn(p, p, grad=g, weights=w)
    before = [sys.getrefcount(a) for a in (p, g, w)]
    for _ in range(200):
        fn(p, p, grad=g, weights=w)
    assert [sys.getrefcount(a) for a in (p, g, w)] == before
