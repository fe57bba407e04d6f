"""The activation kernels (C and NumPy twin) and fastdense.activations.

Kernels: every ``NAME_f32`` / ``NAME_backward_f32`` pair of
src_c/activations.c is held, on both backends, against a float64 truth
computed here from the same float32 inputs (an independent formulation:
math.erfc for the normal CDF, logaddexp for the logistic), over the shapes,
layouts, thread counts and SIMD levels of tests/arrays.py, with NaN/inf,
aliased outputs and the whole float32 line.

Bounds (u = 2**-24; measured maxima in brackets, over the float32 line and
random inputs, for the C kernels; the twins evaluate in float64 and round
once, <= 0.5 u except gelu's erfc fit, ~2 u):
* forward ``|y - y64| <= k u M + 16 * 2**-149 (1 + min(|z|, 20))`` with
  M = |y64| and k = 4 for elu, selu, softplus, tanh, sigmoid
  [1.9, 2.0, 3.2, 2.8, 3.3], 6 for swish [4.0], 2 for exponential and
  softsign [1.9, 2.0], 0 (exact) for leaky_relu, 12 for gelu [8.7: Phi is
  an erfc fit (1.2e-7) times exp, both in float32; the worst cases are
  where Phi is subnormal].  gelu_tanh: M = |y64| (2 + |t|) with k = 4 --
  its argument t = 2 sqrt(2/pi) (z + 0.044715 z^3) is rounded (~2 u
  relative) and exp amplifies that by |t| [115 ulp at t ~ -60].
  hard_sigmoid: M = |slope z| + 0.5 with k = 2 (slope z + 0.5 cancels).
  The floor covers the subnormal range (gradual underflow rounds to 2**-149).
* backward ``|out - g d64| <= |g| (k u T + floor) + 2**-149`` (the twin
  rounds d to float32 first, as the kernel: 1.5 u; an infinite g times a
  d within that bound of 0 may be +-inf or NaN), T the sum of the
  magnitudes of the terms the derivative adds (y + alpha for elu: cancels
  where y -> -alpha; 1 - y^2 for tanh; s + z s (1 - s) for swish ...),
  k = 8; exact (0) for leaky_relu, exponential and hard_sigmoid (one
  float32 product in both).  Every bound adds the final rounding, u of the
  result (so 'exact' means the correctly rounded value).

Gradient formulas: each backward pass (from y or z) against a central
finite difference of the float64 truth at z.  Keras values: spot checks
against the Keras 2.3 / 3 formulas written out with ``math``.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from arrays import (EPS32, LAYOUT_SHAPES_2D, LAYOUTS, PAR_SHAPE, SHAPES_2D,
                    assert_outside_untouched, assert_within, inject_nonfinite, layout,
                    snapshot_outside)
from test_kernels import (ALL_CORES, PLANS, THREADS, Plan, levels_up_to, nan_out,
                          simd, simd_level)  # noqa: F401 (simd is a fixture)

from fastdense import activations, reference

U = float(EPS32)
TINY = 2.0 ** -149
SELU_A = 1.6732632423543772848170429916717
SELU_S = 1.0507009873554804934193349852946
K2 = 2.0 * math.sqrt(2.0 / math.pi)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

try:   # scipy's is vectorised; math.erfc elementwise is the same function
    from scipy.special import erfc as _erfc
except ImportError:  # pragma: no cover
    _erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _sigmoid(t):
    """1 / (1 + exp(-t)) in float64, without overflow (logaddexp)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(-np.logaddexp(0.0, -t))


def _normal(z):
    with np.errstate(over="ignore", invalid="ignore"):
        cdf = 0.5 * _erfc(-z / math.sqrt(2.0))
        pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return cdf, pdf


def _gelu_t(z):
    with np.errstate(over="ignore", invalid="ignore"):
        return K2 * (z + 0.044715 * z ** 3)


def _no_inf_times_zero(z, s, y):
    """z * s where s == 0 is the limit -0 (z = -inf included)."""
    return np.where(s == 0, -0.0, y)


# ---- truths: forward f(z), derivative from src, and the magnitudes -----------------

def f_elu(z, a):
    return np.where(z > 0, z, a * np.expm1(np.minimum(z, 0)))


def f_selu(z, a):
    return SELU_S * np.where(z > 0, z, SELU_A * np.expm1(np.minimum(z, 0)))


def f_gelu(z, a):
    cdf, _ = _normal(z)
    with np.errstate(invalid="ignore"):
        return _no_inf_times_zero(z, cdf, z * cdf)


def f_gelu_tanh(z, a):
    s = _sigmoid(_gelu_t(z))
    with np.errstate(invalid="ignore"):
        return _no_inf_times_zero(z, s, z * s)


def f_leaky(z, a):
    return np.where(z > 0, z, a * z)


def f_softplus(z, a):
    return np.logaddexp(0.0, z)


def f_swish(z, a):
    s = _sigmoid(z)
    with np.errstate(invalid="ignore"):
        return _no_inf_times_zero(z, s, z * s)


def f_exponential(z, a):
    with np.errstate(over="ignore"):
        return np.exp(z)


def f_hard_sigmoid(z, a):
    return np.clip(a * z + 0.5, 0.0, 1.0)


def f_softsign(z, a):
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(z), np.sign(z), z / (1 + np.abs(z)))


def f_sigmoid(z, a):
    return _sigmoid(z)


def f_tanh(z, a):
    return np.tanh(z)


def d_elu(s, a):
    return np.where(s > 0, 1.0, s + a), np.abs(s) + a + 1


SELU_SA32 = float(np.float32(SELU_S * SELU_A))   # the kernels' constant


def d_selu(s, a):
    return np.where(s > 0, SELU_S, s + SELU_SA32), np.abs(s) + SELU_SA32 + SELU_S


def d_gelu(z, a):
    cdf, pdf = _normal(z)
    with np.errstate(invalid="ignore"):
        term = np.where(pdf == 0, 0.0, z * pdf)
    return cdf + term, cdf + np.abs(term)


def d_gelu_tanh(z, a):
    t = _gelu_t(z)
    with np.errstate(over="ignore", invalid="ignore"):
        s = _sigmoid(t)
        e = np.exp(-np.abs(t))
        ds = e / (1 + e) ** 2
        du = K2 * (1 + 3 * 0.044715 * z * z)
        term = np.where(ds == 0, 0.0, z * du * ds)
        amp = 2 + np.where(np.isfinite(t), np.abs(t), 0)
    return s + term, s + np.abs(term) * amp


def d_leaky(s, a):
    d = np.where(s > 0, 1.0, a)
    return d, 0 * d


def d_softplus(s, a):
    d = -np.expm1(-s)
    return d, np.abs(d)


def d_swish(z, a):
    with np.errstate(over="ignore", invalid="ignore"):
        s = _sigmoid(z)
        e = np.exp(-np.abs(z))
        ds = e / (1 + e) ** 2
        term = np.where(ds == 0, 0.0, z * ds)
    return s + term, s + np.abs(term)


def d_exponential(s, a):
    return s, 0 * s


def d_hard_sigmoid(s, a):
    d = np.where((s <= 0) | (s >= 1), 0.0, a)
    return d, 0 * d


def d_softsign(z, a):
    d = 1 / (1 + np.abs(z)) ** 2
    return d, d


def d_sigmoid(s, a):
    return s * (1 - s), np.abs(s) * (1 + np.abs(s))


def d_tanh(s, a):
    return 1 - s * s, 1 + s * s


class Act:
    def __init__(self, kernel, src, f, d, k_fwd, params=(None,), fmag=None, k_bwd=8):
        self.kernel, self.src, self.f, self.d = kernel, src, f, d
        self.k_fwd, self.k_bwd, self.params = k_fwd, k_bwd, params
        self.fmag = fmag or (lambda z, y, a: np.abs(y))


def _mag_gelu_tanh(z, y, a):
    t = _gelu_t(z)
    return np.abs(y) * (2 + np.where(np.isfinite(t), np.abs(t), 0))


def _mag_hard_sigmoid(z, y, a):
    return np.where(np.isfinite(z), np.abs(a * z) + 0.5, 0)


ACTS = {a.kernel: a for a in [
    Act("elu", "y", f_elu, d_elu, 4, params=(1.0, 0.3, 0.0, 2.5)),
    Act("selu", "y", f_selu, d_selu, 4),
    Act("gelu", "z", f_gelu, d_gelu, 12),
    Act("gelu_tanh", "z", f_gelu_tanh, d_gelu_tanh, 4, fmag=_mag_gelu_tanh),
    Act("leaky_relu", "y", f_leaky, d_leaky, 0, params=(0.2, 0.3, 0.0, 1.5), k_bwd=0),
    Act("softplus", "y", f_softplus, d_softplus, 4),
    Act("swish", "z", f_swish, d_swish, 6),
    Act("exponential", "y", f_exponential, d_exponential, 2, k_bwd=0),
    Act("hard_sigmoid", "y", f_hard_sigmoid, d_hard_sigmoid, 2, params=(0.2, 1 / 6),
        fmag=_mag_hard_sigmoid, k_bwd=0),
    Act("softsign", "z", f_softsign, d_softsign, 2),
    Act("sigmoid", "y", f_sigmoid, d_sigmoid, 4),
    Act("tanh", "y", f_tanh, d_tanh, 4),
]}
NAMES = list(ACTS)


def _pargs(param):
    return () if param is None else (param,)


def _as_f32_range(v):
    """The float64 value, or +-inf where float32 overflows."""
    with np.errstate(over="ignore"):
        v32 = np.asarray(v).astype(np.float32)
    return np.where(np.isinf(v32) & np.isfinite(v), v32.astype(np.float64), v)


def forward_truth(name, x, param):
    act = ACTS[name]
    z = np.asarray(x, np.float64)
    p = float(np.float32(param)) if param is not None else None
    y = act.f(z, p)
    with np.errstate(invalid="ignore"):
        bound = (act.k_fwd * U * act.fmag(z, y, p) + U * np.abs(y)
                 + 16 * TINY * (1 + np.minimum(np.abs(np.nan_to_num(z)), 20)))
    return _as_f32_range(y), np.where(np.isfinite(bound), bound, 0)


def backward_truth(name, grad, src, param):
    """(want, bound, ambiguous): where the gradient is infinite and the
    derivative is within its own error bound of 0, a float32 evaluation may
    give 0 (then inf * 0 = NaN) or not: those entries are NaN in want and
    the callers set the result to NaN there too."""
    act = ACTS[name]
    p = float(np.float32(param)) if param is not None else None
    s64 = np.asarray(src, np.float64)
    d, terms = act.d(s64, p)
    g = np.asarray(grad, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        want = g * d
        s = np.abs(np.nan_to_num(s64))
        dtol = (act.k_bwd * U * np.where(np.isfinite(terms), terms, np.abs(np.nan_to_num(d)))
                + 16 * TINY * (1 + np.minimum(s, 20)) + U * np.abs(np.nan_to_num(d)))
        ambiguous = np.isinf(g) & (np.abs(d) <= dtol)
        want = np.where(ambiguous, np.nan, want)
        bound = np.abs(g) * dtol + TINY
    return _as_f32_range(want), np.where(np.isfinite(bound), bound, 0), ambiguous


# ---- running one case on a module -------------------------------------------------

def _inputs(name, shape, rng, nonfinite=0.0, scale=5.0):
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    if nonfinite:
        inject_nonfinite(x, rng, nonfinite)
        inject_nonfinite(g, rng, nonfinite / 2)
    return x, g


def _source(name, x, param):
    """The backward pass's second input: z itself, or y = f(z) (the twin's)."""
    if ACTS[name].src == "z":
        return x
    y = np.empty_like(x)
    with np.errstate(all="ignore"):
        getattr(reference, name + "_f32")(x, y, *_pargs(param))
    return y


def run_forward(mod, name, x, param, plan, nthreads):
    xin = layout(x, plan("in"))
    out = nan_out(x.shape, plan("out"))
    around = snapshot_outside(out)
    before = np.array(xin, copy=True)
    with np.errstate(all="ignore"):
        ret = getattr(mod, name + "_f32")(xin, out, *_pargs(param), nthreads=nthreads)
    assert ret is out, "%s_f32 does not return its output" % name
    assert np.array_equal(np.asarray(xin), before, equal_nan=True), "input modified"
    assert_outside_untouched(out, around)
    return np.array(out)


def run_backward(mod, name, g, src, param, plan, nthreads):
    gin = layout(g, plan("in"))
    sin = layout(src, plan("in"))
    out = nan_out(g.shape, plan("out"))
    around = snapshot_outside(out)
    with np.errstate(all="ignore"):
        ret = getattr(mod, name + "_backward_f32")(gin, sin, out, *_pargs(param),
                                                   nthreads=nthreads)
    assert ret is out
    assert_outside_untouched(out, around)
    return np.array(out)


def check_case(ck, name, shape, plan_spec, nthreads, seed=0, nonfinite=0.0, param=None):
    """Both modules on the same laid-out inputs (a broadcast layout changes
    the values: the truth is computed from what the kernels see)."""
    rng = np.random.default_rng(seed)
    act = ACTS[name]
    param = act.params[0] if param is None else param
    x, g = _inputs(name, shape, rng, nonfinite)
    plan = Plan(plan_spec)
    xin = layout(x, plan("in"))
    x = np.array(xin)
    src = _source(name, x, param)
    gin, sin = layout(g, plan("in")), layout(src, plan("in"))
    g, src = np.array(gin), np.array(sin)
    out_lays = plan("out"), plan("out")
    want_y, fbound = forward_truth(name, x, param)
    want_d, bbound, amb = backward_truth(name, g, src, param)
    what = "%s%s shape=%s plan=%s nthreads=%d" % (
        name, "" if param is None else "(%g)" % param, shape, plan_spec, nthreads)
    for mod in (reference, ck):
        y = _call_forward(mod, name, xin, param, out_lays[0], nthreads)
        assert_within(y, want_y, fbound, "%s forward (%s)" % (what, mod.__name__))
        d = _call_backward(mod, name, gin, sin, param, out_lays[1], nthreads)
        d[amb] = np.nan
        assert_within(d, want_d, bbound, "%s backward (%s)" % (what, mod.__name__))
    # the inputs are read only
    assert np.array_equal(np.asarray(xin), x, equal_nan=True)
    assert np.array_equal(np.asarray(gin), g, equal_nan=True)


def _call_forward(mod, name, xin, param, out_layout, nthreads):
    out = nan_out(xin.shape, out_layout)
    around = snapshot_outside(out)
    with np.errstate(all="ignore"):
        ret = getattr(mod, name + "_f32")(xin, out, *_pargs(param), nthreads=nthreads)
    assert ret is out, "%s_f32 does not return its output" % name
    assert_outside_untouched(out, around)
    return np.array(out)


def _call_backward(mod, name, gin, sin, param, out_layout, nthreads):
    out = nan_out(gin.shape, out_layout)
    around = snapshot_outside(out)
    with np.errstate(all="ignore"):
        ret = getattr(mod, name + "_backward_f32")(gin, sin, out, *_pargs(param),
                                                   nthreads=nthreads)
    assert ret is out
    assert_outside_untouched(out, around)
    return np.array(out)


# ---- kernels: shapes, layouts, threads, NaN/inf --------------------------------------

@pytest.mark.parametrize("nthreads", THREADS)
@pytest.mark.parametrize("shape", SHAPES_2D, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_activation_shapes(ckernels, name, shape, nthreads):
    check_case(ckernels, name, shape, "C", nthreads)


# every plan on the small shapes; the threaded PAR_SHAPE with a few plans
# (the bits test below runs it strided and mixed at every SIMD level too)
LAYOUT_CASES = [(shape, plan) for shape in LAYOUT_SHAPES_2D for plan in PLANS
                if shape != PAR_SHAPE or plan in ("C", "mixed", "in:T", "out:neg")]


@pytest.mark.parametrize("shape, plan", LAYOUT_CASES, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_activation_layouts(ckernels, name, shape, plan):
    check_case(ckernels, name, shape, plan, ALL_CORES, seed=1)


@pytest.mark.parametrize("nthreads", THREADS)
@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (13, 33), PAR_SHAPE], ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_activation_nonfinite(ckernels, name, shape, nthreads):
    check_case(ckernels, name, shape, "mixed", nthreads, seed=2, nonfinite=0.1)


@pytest.mark.parametrize("name, param", [(n, p) for n in NAMES for p in ACTS[n].params
                                         if p is not None])
def test_activation_parameters(ckernels, name, param):
    check_case(ckernels, name, (31, 33), "mixed", ALL_CORES, seed=3, param=param,
               nonfinite=0.05)


@pytest.mark.parametrize("name", NAMES)
def test_activation_bits_do_not_depend_on_simd_level_layout_or_threads(ckernels, name):
    """One vectorised source per ISA: every level, layout and thread count
    gives the bits of the portable build on contiguous input."""
    rng = np.random.default_rng(4)
    x, g = _inputs(name, PAR_SHAPE, rng, nonfinite=0.02)
    param = ACTS[name].params[0]
    src = _source(name, x, param)
    base = None
    for level in levels_up_to(ckernels):
        for plan, nt in (("C", 1), ("mixed", ALL_CORES), ("in:strided", 3)):
            with simd_level(level):
                y = run_forward(ckernels, name, x, param, Plan(plan), nt)
                d = run_backward(ckernels, name, g, src, param, Plan(plan), nt)
            bits = (np.where(np.isnan(y), np.nan, y).tobytes(),
                    np.where(np.isnan(d), np.nan, d).tobytes())
            if base is None:
                base = bits
            assert bits == base, "%s: %s / %s / %d threads differ from generic" % (
                name, level, plan, nt)


def _float32_line():
    """Every 2**-12-th float32 bit pattern (all exponents, both signs)."""
    bits = np.arange(0, 2 ** 32, 2 ** 12, dtype=np.uint64).astype(np.uint32)
    return bits.view(np.float32).reshape(1, -1)


@pytest.mark.parametrize("name", NAMES)
def test_activation_whole_float32_line(ckernels, simd, name):
    """Forward and backward over the whole float32 line (subnormals, the
    overflow and underflow thresholds, +-inf, NaN), at every SIMD level."""
    x = _float32_line()
    g = np.ones_like(x)
    for param in ACTS[name].params:
        src = _source(name, x, param)
        want_y, fbound = forward_truth(name, x, param)
        want_d, bbound, _ = backward_truth(name, g, src, param)
        for mod in (reference, ckernels):
            y = run_forward(mod, name, x, param, Plan("C"), ALL_CORES)
            assert_within(y, want_y, fbound, "%s forward (%s, %s)" % (name, mod.__name__, simd))
            d = run_backward(mod, name, g, src, param, Plan("C"), ALL_CORES)
            assert_within(d, want_d, bbound, "%s backward (%s, %s)" % (name, mod.__name__, simd))


ALIASES = ["forward out=x", "backward out=grad", "backward out=src"]


@pytest.mark.parametrize("lay", ["C", "F", "strided", "neg"])
@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("name", NAMES)
def test_activation_output_aliases_input(ckernels, name, alias, lay):
    rng = np.random.default_rng(5)
    x, g = _inputs(name, (37, 41), rng, nonfinite=0.03)
    param = ACTS[name].params[0]
    src = _source(name, x, param)
    for mod in (reference, ckernels):
        if alias == "forward out=x":
            want = run_forward(mod, name, x, param, Plan("C"), 1)
            a = layout(x, lay)
            with np.errstate(all="ignore"):
                ret = getattr(mod, name + "_f32")(a, a, *_pargs(param), nthreads=ALL_CORES)
        else:
            want = run_backward(mod, name, g, src, param, Plan("C"), 1)
            ga, sa = layout(g, lay), layout(src, lay)
            a = ga if alias == "backward out=grad" else sa
            with np.errstate(all="ignore"):
                ret = getattr(mod, name + "_backward_f32")(ga, sa, a, *_pargs(param),
                                                           nthreads=ALL_CORES)
        assert ret is a
        assert_within(a, want, 0, "%s %s (%s)" % (name, alias, mod.__name__))


@pytest.mark.parametrize("name", NAMES)
def test_activation_readonly_and_broadcast_inputs(ckernels, name):
    x = np.broadcast_to(np.linspace(-6, 6, 9, dtype=np.float32), (5, 9))
    param = ACTS[name].params[0]
    want, bound = forward_truth(name, x, param)
    for mod in (reference, ckernels):
        out = np.empty((5, 9), np.float32)
        getattr(mod, name + "_f32")(x, out, *_pargs(param))
        assert_within(out, want, bound, name)


# ---- exact limits and extreme inputs ------------------------------------------------------

INF, NAN = np.inf, np.nan
# name: [(z, y, dy/dz)] exactly (y and the derivative at the limit)
LIMITS = {
    "elu": [(INF, INF, 1.0), (-INF, -1.0, 0.0), (-200.0, -1.0, 0.0), (1e38, 1e38, 1.0)],
    "selu": [(INF, INF, SELU_S), (-INF, -SELU_S * SELU_A, 0.0)],
    "gelu": [(INF, INF, 1.0), (-INF, 0.0, 0.0), (-40.0, 0.0, 0.0), (1e30, 1e30, 1.0),
             (-1e30, 0.0, 0.0), (40.0, 40.0, 1.0)],
    "gelu_tanh": [(INF, INF, 1.0), (-INF, 0.0, 0.0), (-1e30, 0.0, 0.0), (1e30, 1e30, 1.0),
                  (-40.0, 0.0, 0.0), (40.0, 40.0, 1.0)],
    "leaky_relu": [(INF, INF, 1.0), (-INF, -INF, 0.2)],
    "softplus": [(INF, INF, 1.0), (-INF, 0.0, 0.0), (1e30, 1e30, 1.0), (200.0, 200.0, 1.0),
                 (-200.0, 0.0, 0.0)],
    "swish": [(INF, INF, 1.0), (-INF, 0.0, 0.0), (-1e30, 0.0, 0.0), (1e30, 1e30, 1.0),
              (-200.0, 0.0, 0.0)],
    "exponential": [(INF, INF, INF), (-INF, 0.0, 0.0), (89.0, INF, INF), (-200.0, 0.0, 0.0),
                    (0.0, 1.0, 1.0)],
    "hard_sigmoid": [(INF, 1.0, 0.0), (-INF, 0.0, 0.0), (0.0, 0.5, 0.2)],
    "softsign": [(INF, 1.0, 0.0), (-INF, -1.0, 0.0), (0.0, 0.0, 1.0)],
    "sigmoid": [(INF, 1.0, 0.0), (-INF, 0.0, 0.0), (200.0, 1.0, 0.0), (-200.0, 0.0, 0.0),
                (0.0, 0.5, 0.25)],
    "tanh": [(INF, 1.0, 0.0), (-INF, -1.0, 0.0), (30.0, 1.0, 0.0), (-30.0, -1.0, 0.0),
             (0.0, 0.0, 1.0)],
}


@pytest.mark.parametrize("name", NAMES)
def test_activation_exact_limits(ckernels, simd, name):
    """+-inf and huge |z| give the limits exactly (never inf * 0 = NaN, never
    overflow garbage); NaN stays NaN in the output."""
    zs = np.array([[z for z, _, _ in LIMITS[name]] + [NAN]], np.float32)
    param = ACTS[name].params[0]
    for mod in (reference, ckernels):
        y = np.empty_like(zs)
        getattr(mod, name + "_f32")(zs, y, *_pargs(param))
        want = [v for _, v, _ in LIMITS[name]]
        assert np.array_equal(y[0, :-1], np.array(want, np.float32)), (mod.__name__, y)
        assert np.isnan(y[0, -1]), mod.__name__
        src = zs if ACTS[name].src == "z" else y
        d = np.empty_like(zs)
        getattr(mod, name + "_backward_f32")(np.ones_like(zs), src, d, *_pargs(param))
        want = [v for _, _, v in LIMITS[name]]
        assert np.array_equal(d[0, :-1], np.array(want, np.float32)), (mod.__name__, d)


def test_exponential_overflow_threshold(ckernels, simd):
    """exp overflows to inf exactly where float32 does (ln FLT_MAX = 88.7228)."""
    top = np.float32(np.log(np.float64(np.finfo(np.float32).max)))
    z = np.array([[np.nextafter(top, np.float32(0)), top, np.nextafter(top, np.float32(100))]],
                 np.float32)
    want = np.exp(z.astype(np.float64)).astype(np.float32)
    out = np.empty_like(z)
    ckernels.exponential_f32(z, out)
    assert np.array_equal(np.isinf(out), np.isinf(want)), (out, want)


def test_softplus_and_sigmoid_keep_relative_accuracy_far_left(ckernels, simd):
    """log1p(exp(z)) ~ exp(z) and sigmoid(z) ~ exp(z) for z << 0: relative
    accuracy down to the subnormals (no log(1 + tiny) = 0)."""
    z = np.linspace(-87, -20, 1001, dtype=np.float32).reshape(1, -1)
    want = np.exp(z.astype(np.float64))
    for name in ("softplus", "sigmoid"):
        out = np.empty_like(z)
        getattr(ckernels, name + "_f32")(z, out)
        assert_within(out, want, 4 * U * want, name)


# ---- gradient formulas against finite differences ------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_finite_differences(any_backend, name):
    """dL/dz of each activation object (from y or z as it declares) against a
    central difference of the float64 truth at z (away from kinks)."""
    import fastdense
    K = fastdense._config.kernels()
    rng = np.random.default_rng(6)
    z = (rng.standard_normal((7, 45)) * 3).astype(np.float32)
    z[np.abs(z) < 1e-2] = 0.5                           # relu-like kinks at 0
    for param in ACTS[name].params:
        p = None if param is None else float(np.float32(param))
        if name == "hard_sigmoid":                      # kinks at the clip edges
            z = np.where(np.abs(np.abs(z) - 0.5 / p) < 0.05, 0.1, z).astype(np.float32)
        g = rng.standard_normal(z.shape).astype(np.float32)
        y = np.empty_like(z)
        getattr(K, name + "_f32")(z, y, *_pargs(param))
        src = z if ACTS[name].src == "z" else y
        out = np.empty_like(z)
        getattr(K, name + "_backward_f32")(g, src, out, *_pargs(param))
        z64 = z.astype(np.float64)
        h = 1e-5 * np.maximum(1.0, np.abs(z64))
        fd = (ACTS[name].f(z64 + h, p) - ACTS[name].f(z64 - h, p)) / (2 * h)
        # y is float32: the derivative from y is off by |f''| ulp(y)
        np.testing.assert_allclose(out, g * fd, rtol=2e-5, atol=2e-5 * np.abs(g).max(),
                                   err_msg="%s(%s)" % (name, param))


# ---- Keras values -------------------------------------------------------------------------

def _keras_cases():
    e, t, s = math.exp, math.tanh, math.sqrt
    return [
        # (activation, z exactly representable, Keras 2.3 / 3 formula)
        ("elu", -1.5, 1.0 * (e(-1.5) - 1)),                 # K.elu: alpha*(exp(x)-1), x<0
        ("elu", 2.0, 2.0),
        (activations.ELU(0.5), -0.75, 0.5 * (e(-0.75) - 1)),
        ("selu", -1.0, 1.0507009873554805 * 1.6732632423543772 * (e(-1.0) - 1)),
        ("selu", 2.0, 1.0507009873554805 * 2.0),
        ("gelu", 0.75, 0.5 * 0.75 * (1 + math.erf(0.75 / s(2)))),       # Keras 3, exact
        ("gelu", -1.25, 0.5 * -1.25 * (1 + math.erf(-1.25 / s(2)))),
        (activations.GELU(approximate=True), 0.75,
         0.5 * 0.75 * (1 + t(s(2 / math.pi) * (0.75 + 0.044715 * 0.75 ** 3)))),
        ("leaky_relu", -2.0, 0.2 * -2.0),                  # Keras 3 default slope
        (activations.LeakyReLU(), -2.0, 0.3 * -2.0),       # the Keras layers' 0.3
        ("softplus", 0.375, math.log(e(0.375) + 1)),
        ("softsign", -3.0, -3.0 / (abs(-3.0) + 1)),
        ("silu", 1.125, 1.125 / (1 + e(-1.125))),
        ("swish", -0.375, -0.375 / (1 + e(0.375))),
        ("exponential", 1.75, e(1.75)),
        ("hard_sigmoid", 1.25, max(0.0, min(1.0, 0.2 * 1.25 + 0.5))),   # Keras 2.3
        ("hard_sigmoid", 3.0, 1.0),
        (activations.HardSigmoid(1 / 6), 1.25, max(0.0, min(1.0, 1.25 / 6 + 0.5))),  # Keras 3
        ("sigmoid", -0.875, 1 / (1 + e(0.875))),
        ("tanh", 0.625, t(0.625)),
        ("relu", -0.5, 0.0),
    ]


@pytest.mark.parametrize("case", range(len(_keras_cases())))
def test_keras_values(any_backend, case):
    import fastdense
    ident, z, want = _keras_cases()[case]
    act = activations.get(ident)
    z32 = np.array([[z]], np.float32)
    out = np.empty_like(z32)
    act.forward(fastdense._config.kernels(), z32, out)
    # the formula (at a float32-exact z) to a few float32 ulps
    assert abs(float(out[0, 0]) - want) <= 8 * U * abs(want) + 1e-30, \
        (ident, z, float(out[0, 0]), want)


# ---- the Python objects ---------------------------------------------------------------------

NAME_CASES = {
    # identifier: (class, params)
    "elu": (activations.ELU, {"alpha": 1.0}), "ELU": (activations.ELU, {"alpha": 1.0}),
    "selu": (activations.SELU, {}), "gelu": (activations.GELU, {"approximate": False}),
    "leaky_relu": (activations.LeakyReLU, {"alpha": 0.2}),
    "softplus": (activations.Softplus, {}), "softsign": (activations.Softsign, {}),
    "silu": (activations.SiLU, {}), "swish": (activations.SiLU, {}),
    "exponential": (activations.Exponential, {}),
    "hard_sigmoid": (activations.HardSigmoid, {"slope": 0.2}),
    "relu": (activations.ReLU, {}), "sigmoid": (activations.Sigmoid, {}),
    "tanh": (activations.Tanh, {}), "softmax": (activations.Softmax, {}),
    "linear": (activations.Linear, {}), None: (activations.Linear, {}),
}


@pytest.mark.parametrize("ident", list(NAME_CASES), ids=str)
def test_get_names_and_aliases(ident):
    cls, config = NAME_CASES[ident]
    act = activations.get(ident)
    assert type(act) is cls and act.get_config() == config
    # round trip through serialize / get
    assert activations.get(activations.serialize(act)) == act


FUNCTIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "gelu",
             "leaky_relu", "softplus", "softsign", "silu", "swish", "exponential",
             "hard_sigmoid"]


@pytest.mark.parametrize("fname", FUNCTIONS)
def test_module_functions_map_to_the_fast_objects(fname):
    fn = getattr(activations, fname)
    act = activations.get(fn)
    assert not isinstance(act, activations.Lambda)
    assert act == activations.get(fname)
    z = np.linspace(-4, 4, 24, dtype=np.float32).reshape(3, 8)
    np.testing.assert_array_equal(fn(z), act(z))
    assert fn(z).dtype == np.float32 and fn(z).shape == z.shape


def test_relu_function_takes_keras_arguments():
    x = np.array([-2.0, -0.5, 0.5, 1.0, 3.0], np.float32)
    np.testing.assert_allclose(activations.relu(x, alpha=0.1), [-0.2, -0.05, 0.5, 1, 3],
                               rtol=1e-6)
    np.testing.assert_allclose(activations.relu(x, max_value=1.5), [0, 0, 0.5, 1, 1.5])
    np.testing.assert_allclose(activations.relu(x, threshold=1.0), [0, 0, 0, 1, 3])


def test_instances_classes_and_configs():
    e = activations.ELU(alpha=0.5)
    assert activations.get(e) is e
    assert isinstance(activations.get(activations.SELU), activations.SELU)
    cfg = activations.serialize(e)
    assert cfg == {"class_name": "ELU", "config": {"alpha": 0.5}}
    assert activations.get(cfg) == e and activations.deserialize(cfg) == e
    assert activations.serialize(activations.LeakyReLU(negative_slope=0.2)) == "leaky_relu"
    assert activations.serialize(activations.LeakyReLU()) == {
        "class_name": "LeakyReLU", "config": {"alpha": 0.3}}
    assert activations.serialize(activations.GELU(True)) == {
        "class_name": "GELU", "config": {"approximate": True}}
    assert activations.serialize("gelu") == "gelu"
    assert activations.get("gelu").kernel == "gelu"
    assert activations.GELU(approximate=True).kernel == "gelu_tanh"


@pytest.mark.parametrize("bad", ["nope", "Swishy", 3, [1], {"class_name": "Nope"}])
def test_unknown_activation_lists_the_supported_names(bad):
    with pytest.raises(ValueError) as info:
        activations.get(bad)
    for name in ("'elu'", "'gelu'", "'silu'", "'leaky_relu'", "'relu'"):
        assert name in str(info.value)


@pytest.mark.parametrize("make", [lambda: activations.ELU(-0.1),
                                  lambda: activations.LeakyReLU(-1),
                                  lambda: activations.LeakyReLU(float("nan")),
                                  lambda: activations.ELU("big"),
                                  lambda: activations.HardSigmoid(float("inf")),
                                  lambda: activations.GELU(approximate="yes")])
def test_bad_parameters_are_value_errors(make):
    with pytest.raises(ValueError):
        make()


def test_needs_z_flags():
    needs = {n: activations.get(n).needs_z for n in FUNCTIONS}
    assert {n for n, v in needs.items() if v} == {"gelu", "silu", "swish", "softsign"}
    assert activations.GELU(True).needs_z and activations.Lambda(np.sin).needs_z
    assert not activations.get("sigmoid").needs_scratch   # one kernel pass now
    assert activations.get("softmax").needs_scratch


@pytest.mark.parametrize("name", ["gelu", "silu", "softsign"])
def test_backward_without_z_is_a_clear_error(any_backend, name):
    import fastdense
    act = activations.get(name)
    a = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="needs the pre-activation z"):
        act.backward(fastdense._config.kernels(), a, a, np.empty_like(a))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_objects_forward_and_backward_in_place_agree_across_backends(ckernels, name):
    act = activations.get(name)
    rng = np.random.default_rng(8)
    z = (rng.standard_normal((9, 20)) * 3).astype(np.float32)
    g = rng.standard_normal(z.shape).astype(np.float32)
    res = {}
    for K in (reference, ckernels):
        y = z.copy()
        act.forward(K, y, y)                    # out is z, as the Dense layer calls it
        d = g.copy()
        act.backward(K, d, y, d, scratch=np.empty_like(z), z=z)   # out is grad
        res[K.__name__] = (y, d)
    (yr, dr), (yc, dc) = res.values()
    np.testing.assert_allclose(yc, yr, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(dc, dr, rtol=2e-5, atol=1e-6)


# ---- Python functions as activations ------------------------------------------------------

def _cube(x):
    return x ** 3


def test_lambda_forward_and_exact_derivative(any_backend):
    import fastdense
    K = fastdense._config.kernels()
    act = activations.get(_cube)
    assert isinstance(act, activations.Lambda) and act.needs_z
    assert act.name == "custom:_cube"          # never a built-in name
    z = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    y = np.empty_like(z)
    act.forward(K, z, y)
    np.testing.assert_allclose(y, z.astype(np.float64) ** 3, rtol=1e-6)
    g = np.ones_like(z)
    out = np.empty_like(z)
    act.backward(K, g, y, out, z=z)
    # central differences on a cubic are exact up to h^2 f'''/6 = h^2
    # (out is float32: its rounding, 6e-8, dominates)
    np.testing.assert_allclose(out, 3 * z.astype(np.float64) ** 2, rtol=1.2e-7, atol=1e-9)
    with_d = activations.Lambda(_cube, derivative=lambda x: 3 * x ** 2)
    with_d.backward(K, g, y, out, z=z)
    np.testing.assert_allclose(out, 3 * z.astype(np.float64) ** 2, rtol=1e-6)


def test_lambda_uses_the_derivative_attribute():
    calls = []

    def f(x):
        return np.sin(x)

    def df(x):
        calls.append(1)
        return np.cos(x)

    f.derivative = df
    act = activations.get(f)
    z = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    out = np.empty_like(z)
    act.backward(reference, np.ones_like(z), z, out, z=z)
    assert calls and np.allclose(out, np.cos(z), rtol=1e-6)


def test_lambda_numeric_derivative_accuracy_and_no_warnings():
    """float64 central differences: ~1e-10 relative for a smooth function;
    a float32-returning function gets the larger step (~1e-5)."""
    import warnings
    z = np.linspace(-30, 30, 301, dtype=np.float32).reshape(7, 43)
    z3 = z / 10                 # float32 results: h ~ 5e-3 max(1, |z|), so |z| <~ 3
    for fn, dfn, tol, zz in [(np.tanh, lambda x: 1 - np.tanh(x) ** 2, 1e-9, z),
                             (lambda x: np.exp(-x * x), lambda x: -2 * x * np.exp(-x * x),
                              1e-9, z),
                             (lambda x: np.sin(x).astype(np.float32), np.cos, 1e-4, z3)]:
        act = activations.Lambda(fn)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            d = act.numeric_derivative(zz)
        np.testing.assert_allclose(d, dfn(zz.astype(np.float64)), rtol=tol, atol=tol)


@pytest.mark.parametrize("bad", [lambda x: x.sum(), lambda x: x[:, :1], lambda x: x.T,
                                 lambda x: np.array([["a"] * x.shape[1]] * x.shape[0])])
def test_lambda_that_is_not_elementwise_is_a_value_error(bad):
    act = activations.Lambda(bad)
    z = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="elementwise"):
        act.forward(reference, z, np.empty_like(z))


def test_lambda_cannot_be_serialized():
    with pytest.raises(ValueError, match="custom_objects"):
        activations.serialize(_cube)
    with pytest.raises(ValueError, match="cannot serialize"):
        activations.serialize(activations.Lambda(np.sin))


# ---- bad calls: ValueErrors, never crashes (in a subprocess) -----------------------------------

BAD_CALLS = {
    "elu: out shape": "k.elu_f32(f(3, 4), f(4, 3))",
    "elu_backward: negative alpha": "k.elu_backward_f32(f(3, 4), f(3, 4), f(3, 4), -1.0)",
    "leaky_backward: NaN alpha": "k.leaky_relu_backward_f32(f(3, 4), f(3, 4), f(3, 4), float('nan'))",
    "gelu: float64": "k.gelu_f32(np.zeros((3, 4)), f(3, 4))",
    "swish: 1-D": "k.swish_f32(f(4), f(4))",
    "tanh: read-only out": "k.tanh_f32(f(3, 4), ro(f(3, 4)))",
    "softplus_backward: src shape": "k.softplus_backward_f32(f(3, 4), f(3, 5), f(3, 4))",
    "gelu_tanh_backward: out shape": "k.gelu_tanh_backward_f32(f(3, 4), f(3, 4), f(2, 4))",
    "hard_sigmoid: int": "k.hard_sigmoid_f32(np.zeros((3, 4), np.int32), f(3, 4))",
    "selu: byte strides": "k.selu_f32(f(3, 4), np.zeros((3, 17), np.uint8)[:, 1:].view(np.float32))",
}

_SCRIPT = r"""
import json, sys
import numpy as np
import fastdense._ckernels as k
def f(*shape): return np.ones(shape, np.float32)
def ro(a):
    a.flags.writeable = False
    return a
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
    results = dict(json.loads(l[7:]) for l in proc.stdout.splitlines()
                   if l.startswith("RESULT "))
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in BAD_CALLS:
        assert results.get(name) == "ValueError", (name, results.get(name))


@pytest.mark.parametrize("name", ["elu", "gelu", "softplus"])
def test_reference_counts_unchanged(ckernels, name):
    x = np.ones((4, 5), np.float32)
    out = np.empty_like(x)
    fn = getattr(ckernels, name + "_f32")
    fn(x, out)
    before = sys.getrefcount(x), sys.getrefcount(out)
    for _ in range(200):
        fn(x, out)
    assert (sys.getrefcount(x), sys.getrefcount(out)) == before
