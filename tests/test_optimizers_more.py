"""Adagrad, Adadelta, Adamax, Nadam, AdamW, gradient clipping and schedules.

Kernels (fastdense._ckernels against fastdense.reference): one registry,
``SPECS``, says for each update kernel how to build its arguments and what
the float64 truth is.  The C kernel and its NumPy twin must give the same
*bits* (they run the same float32 operations in the same order), the
same bits at every thread count and SIMD level, never write the gradient or
outside their outputs, and both must be within a few float32 roundings
(u = 2**-24) of the truth computed in float64 from the same float32 inputs:

* every rounding adds at most u times the magnitude of its result, so a
  bound is ``c * u * (sum of the magnitudes of the terms)`` with c the number
  of roundings on the path (kept a little generous: 4-24);
* the gradient transform (clipnorm's scale, clipvalue's bound) is one
  float32 rounding of g*gscale and an exact select, so the truth starts
  from that float32 value.

Optimizers against float64 transcriptions of the Keras 2.3.1 formulas
(Keras 3's for AdamW) over several steps, on both backends; clipnorm /
clipvalue against Keras 2.3.1's get_gradients (the *global* norm over all
gradients); learning-rate schedules against their formulas.
"""
import json
import math
import os

import numpy as np
import pytest

import fastdense
from fastdense import _config, ops, optimizers, reference
from fastdense.optimizers import schedules

from arrays import (EPS32, LAYOUTS, PAR_SHAPE, SHAPES_2D, assert_outside_untouched,
                    assert_within, inject_nonfinite, layout, snapshot_outside)

U = float(EPS32)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _cores():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


ALL_CORES = max(2, _cores())
SIMD_LEVELS = ["generic", "avx2", "avx512"]


class simd_level:
    """FASTDENSE_SIMD=level inside the block (the C code reads it per call)."""

    def __init__(self, level):
        self.level = level

    def __enter__(self):
        self.old = os.environ.get("FASTDENSE_SIMD")
        os.environ["FASTDENSE_SIMD"] = self.level

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop("FASTDENSE_SIMD", None)
        else:
            os.environ["FASTDENSE_SIMD"] = self.old


def levels_up_to(ck):
    return SIMD_LEVELS[:SIMD_LEVELS.index(ck.simd_name()) + 1]


# ---------------------------------------------------------------------------
# the kernel registry
# ---------------------------------------------------------------------------

F = np.float32
B1, B2 = F(0.9), F(0.999)
EPS = F(1e-7)
LR_T = F(0.002 * math.sqrt(1 - 0.999 ** 3) / (1 - 0.9 ** 3))
NADAM = ops.nadam_coefficients(3)       # (kg, km, vs, m_schedule_new) of step 3

#: gradient transforms: (gscale, clip)
TRANSFORMS = [(1.0, np.inf), (0.37, np.inf), (1.0, 0.3), (0.6, 0.25)]


def f64(x):
    return np.asarray(x, np.float64)


def transformed64(g, gscale, clip):
    """The transformed gradient: one float32 rounding of g*gscale, then an
    exact clamp (NaN stays NaN)."""
    g = np.asarray(g, np.float32)
    if gscale != 1.0:
        g = g * F(gscale)
    g = f64(g)
    c = float(F(clip))
    return np.where(g > c, c, np.where(g < -c, -c, g))


class Spec:
    """One update kernel: ``states`` are (name, kind) pairs (kind 'normal',
    'positive' or None for an absent velocity), ``scalars`` its positional
    scalars after the arrays, ``truth(o, s, g)`` -> {output: (value, bound)}
    from the float64 originals ``o``, the scalars ``s`` and the transformed
    gradient ``g``."""

    def __init__(self, name, func, states, scalars, truth):
        self.name, self.func, self.states = name, func, states
        self.scalars, self.truth = scalars, truth

    @property
    def outputs(self):
        return ["param"] + [n for n, kind in self.states if kind is not None]


def truth_adagrad(o, s, g):
    lr, eps = s
    p, a = o["param"], o["accum"]
    a1 = a + g * g
    step = lr * g / (np.sqrt(a1) + eps)
    return {"accum": (a1, 3 * U * a1), "param": (p - step, 8 * U * (abs(p) + abs(step)))}


def truth_adadelta(o, s, g):
    lr, rho, eps = s
    omr = 1.0 - rho                       # exact in float32 (Sterbenz)
    p, a, d = o["param"], o["accum"], o["delta"]
    a1 = rho * a + omr * g * g
    u = g * np.sqrt(d + eps) / np.sqrt(a1 + eps)
    d1 = rho * d + omr * u * u
    return {"accum": (a1, 4 * U * a1),
            "param": (p - lr * u, 4 * U * abs(p) + 12 * U * abs(lr * u)),
            "delta": (d1, 24 * U * d1)}


def _moments(o, s_b1, s_b2, g, second="v"):
    m, v = o["m"], o[second]
    m1 = s_b1 * m + (1.0 - s_b1) * g
    mb = 4 * U * (abs(s_b1 * m) + abs((1.0 - s_b1) * g))
    return m, v, m1, mb


def truth_adamax(o, s, g):
    lr_t, b1, b2, eps = s
    m, u, m1, mb = _moments(o, b1, b2, g, "u")
    u1 = np.maximum(b2 * u, np.abs(g))
    den = u1 + eps
    step = lr_t * m1 / den
    p = o["param"]
    return {"m": (m1, mb), "u": (u1, U * u1),
            "param": (p - step, 4 * U * abs(p) + 8 * U * abs(step) + lr_t * mb / den)}


def truth_nadam(o, s, g):
    lr, b1, b2, kg, km, vs, eps = s
    m, v, m1, mb = _moments(o, b1, b2, g)
    v1 = b2 * v + (1.0 - b2) * g * g
    mbar = kg * g + km * m1
    mbar_b = 3 * U * (abs(kg * g) + abs(km * m1)) + abs(km) * mb
    den = np.sqrt(v1 * vs) + eps
    step = lr * mbar / den
    p = o["param"]
    return {"m": (m1, mb), "v": (v1, 4 * U * v1),
            "param": (p - step, 4 * U * abs(p) + 10 * U * abs(step) + lr * mbar_b / den)}


def truth_adam_like(decay):
    def truth(o, s, g):
        lr_t, b1, b2, eps = s[:4]
        dec = s[4] if decay else 0.0
        m, v, m1, mb = _moments(o, b1, b2, g)
        v1 = b2 * v + (1.0 - b2) * g * g
        den = np.sqrt(v1) + eps
        step = lr_t * m1 / den
        p = o["param"]
        pd = p - p * dec
        return {"m": (m1, mb), "v": (v1, 4 * U * v1),
                "param": (pd - step, 4 * U * (abs(p) + abs(p * dec)) + 8 * U * abs(step)
                          + lr_t * mb / den)}
    return truth


def truth_rmsprop(o, s, g):
    lr, rho, eps = s
    p, a = o["param"], o["accum"]
    a1 = rho * a + (1.0 - rho) * g * g
    step = lr * g / (np.sqrt(a1) + eps)
    return {"accum": (a1, 4 * U * a1), "param": (p - step, 8 * U * (abs(p) + abs(step)))}


def truth_sgd(o, s, g):
    lr, mom, nesterov = s
    p = o["param"]
    if "velocity" not in o:
        step = lr * g
        return {"param": (p - step, 4 * U * (abs(p) + abs(step)))}
    v = o["velocity"]
    v1 = mom * v - lr * g
    vb = 4 * U * (abs(mom * v) + abs(lr * g))
    if nesterov:
        p1 = p + mom * v1 - lr * g
        pb = 6 * U * (abs(p) + mom * (abs(v1) + vb) + abs(lr * g))
    else:
        p1 = p + v1
        pb = 4 * U * abs(p) + 2 * vb
    return {"velocity": (v1, vb), "param": (p1, pb)}


SPECS = {s.name: s for s in [
    Spec("adagrad", "adagrad_update_f32", [("accum", "positive")],
         (F(0.01), EPS), truth_adagrad),
    Spec("adadelta", "adadelta_update_f32", [("accum", "positive"), ("delta", "positive")],
         (F(1.0), F(0.95), EPS), truth_adadelta),
    Spec("adamax", "adamax_update_f32", [("m", "normal"), ("u", "positive")],
         (F(0.002 / (1 - 0.9 ** 3)), B1, B2, EPS), truth_adamax),
    Spec("nadam", "nadam_update_f32", [("m", "normal"), ("v", "positive")],
         (F(0.002), B1, B2, F(NADAM[0]), F(NADAM[1]), F(NADAM[2]), EPS), truth_nadam),
    Spec("adamw", "adamw_update_f32", [("m", "normal"), ("v", "positive")],
         (LR_T, B1, B2, EPS, F(0.01)), truth_adam_like(True)),
    Spec("rmsprop_clip", "rmsprop_update_clip_f32", [("accum", "positive")],
         (F(0.01), F(0.9), EPS), truth_rmsprop),
    Spec("adam_clip", "adam_update_clip_f32", [("m", "normal"), ("v", "positive")],
         (LR_T, B1, B2, EPS), truth_adam_like(False)),
    Spec("sgd_clip", "sgd_update_clip_f32", [("velocity", None)],
         (F(0.1), F(0.0), False), truth_sgd),
    Spec("sgd_clip[momentum]", "sgd_update_clip_f32", [("velocity", "normal")],
         (F(0.1), F(0.9), False), truth_sgd),
    Spec("sgd_clip[nesterov]", "sgd_update_clip_f32", [("velocity", "normal")],
         (F(0.1), F(0.9), True), truth_sgd),
]}
SPEC_NAMES = list(SPECS)


def plan_layouts(plan, names):
    """The layout of each argument: 'C', one layout for all, 'grad:<lay>'
    (grad in that layout, the rest C), or 'mixed' (a different one each)."""
    if plan == "mixed":
        return {n: LAYOUTS[(3 * i + 1) % len(LAYOUTS)] for i, n in enumerate(names)}
    if plan.startswith("grad:"):
        return {n: plan[5:] if n == "grad" else "C" for n in names}
    return {n: plan for n in names}


def build(spec, shape, plan, seed, nonfinite=0.0):
    """(args dict in order, originals as float64) for one call."""
    rng = np.random.default_rng(seed)
    names = ["param", "grad"] + [n for n, _ in spec.states]
    lays = plan_layouts(plan, names)
    vals = {"param": rng.standard_normal(shape).astype(F),
            "grad": rng.standard_normal(shape).astype(F)}
    for n, kind in spec.states:
        if kind is None:
            vals[n] = None
            continue
        v = (rng.standard_normal(shape) * (0.1 if kind == "normal" else 0.3)).astype(F)
        vals[n] = np.abs(v) if kind == "positive" else v
    if nonfinite:
        inject_nonfinite(vals["grad"], rng, nonfinite)
    args = {}
    for n in names:
        if vals[n] is None:
            args[n] = None
        elif n == "grad" and lays[n] in ("bcast", "bcastcol"):
            args[n] = layout(vals[n], lays[n])
        else:
            args[n] = layout(vals[n], lays[n] if lays[n] not in ("bcast", "bcastcol")
                             else "C")
    orig = {n: f64(a) for n, a in args.items() if a is not None}
    return args, orig


def call(mod, spec, args, transform, nthreads):
    gscale, clip = transform
    return getattr(mod, spec.func)(*args.values(), *spec.scalars, gscale=gscale,
                                   clip=clip, nthreads=nthreads)


def bits(a):
    """The bytes of a with every NaN made one NaN (payloads may differ)."""
    a = np.array(a, np.float32)
    a[np.isnan(a)] = np.nan
    return a.tobytes()


def run_case(ck, spec_name, shape, plan, transform, nthreads, seed=0, nonfinite=0.0):
    spec = SPECS[spec_name]
    what = "%s shape=%s plan=%s transform=%s nthreads=%d" % (
        spec_name, shape, plan, transform, nthreads)
    args_c, orig = build(spec, shape, plan, seed, nonfinite)
    args_r, _ = build(spec, shape, plan, seed, nonfinite)
    around = {n: snapshot_outside(args_c[n]) for n in spec.outputs}
    grad_before = args_c["grad"].copy()
    with np.errstate(all="ignore"):
        ret = call(ck, spec, args_c, transform, nthreads)
        call(reference, spec, args_r, transform, nthreads)
    assert ret is args_c["param"] or ret.base is args_c["param"].base or \
        np.shares_memory(ret, args_c["param"]), what + ": does not return param"
    assert args_c["grad"].tobytes() == grad_before.tobytes(), what + ": grad was written"
    for n in spec.outputs:
        assert_outside_untouched(args_c[n], around[n])
        assert bits(args_c[n]) == bits(args_r[n]), \
            "%s: %s differs between C and the NumPy twin" % (what, n)
    g = transformed64(orig["grad"].astype(F), *transform)
    scal = tuple(float(x) for x in spec.scalars)
    with np.errstate(all="ignore"):
        truth = spec.truth(orig, scal, g)
    for n, (want, bound) in truth.items():
        assert_within(args_c[n], want, bound, "%s %s" % (what, n))
    return args_c


def _transform_for(i):
    return TRANSFORMS[i % len(TRANSFORMS)]


# ---------------------------------------------------------------------------
# kernels: shapes, layouts, threads, non-finite, SIMD levels
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("nthreads", [1, ALL_CORES])
@pytest.mark.parametrize("shape", SHAPES_2D, ids=str)
@pytest.mark.parametrize("name", SPEC_NAMES)
def test_kernel_shapes(ckernels, name, shape, nthreads):
    t = _transform_for(SHAPES_2D.index(shape) + SPEC_NAMES.index(name))
    run_case(ckernels, name, shape, "C", t, nthreads)


@pytest.mark.parametrize("transform", TRANSFORMS, ids=str)
@pytest.mark.parametrize("name", SPEC_NAMES)
def test_kernel_every_transform(ckernels, name, transform):
    run_case(ckernels, name, (37, 129), "C", transform, ALL_CORES, seed=5)


PLANS = ["F", "T", "strided", "neg", "negrow", "rowpad", "line", "mixed",
         "grad:bcast", "grad:bcastcol"]


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("shape", [(1, 1), (7, 17), (33, 65)], ids=str)
@pytest.mark.parametrize("name", SPEC_NAMES)
def test_kernel_layouts(ckernels, name, shape, plan):
    run_case(ckernels, name, shape, plan, (0.6, 0.25), ALL_CORES, seed=1)
    run_case(ckernels, name, shape, plan, (1.0, np.inf), ALL_CORES, seed=1)


@pytest.mark.parametrize("plan", ["strided", "mixed", "grad:bcast"])
@pytest.mark.parametrize("name", SPEC_NAMES)
def test_kernel_layouts_threaded(ckernels, name, plan):
    """Over the OpenMP threshold: the strided loops split across threads."""
    run_case(ckernels, name, PAR_SHAPE, plan, (0.6, 0.25), ALL_CORES, seed=1)


@pytest.mark.parametrize("transform", [(1.0, np.inf), (0.37, np.inf), (0.6, 0.25)],
                         ids=str)
@pytest.mark.parametrize("shape", [(1, 1), (13, 33), (3, 8200)], ids=str)
@pytest.mark.parametrize("name", SPEC_NAMES)
def test_kernel_nonfinite(ckernels, name, shape, transform):
    """NaN and +-inf gradients: NaN/inf where the float64 truth has them (a
    finite clip bound turns inf into the bound; NaN stays NaN)."""
    run_case(ckernels, name, shape, "mixed", transform, ALL_CORES, seed=2,
             nonfinite=0.1)


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_kernel_bits_do_not_depend_on_threads(ckernels, name):
    spec = SPECS[name]
    results = []
    for nt in (1, 2, 3, 5):
        args, _ = build(spec, PAR_SHAPE, "C", 3, 0.01)
        with np.errstate(all="ignore"):
            call(ckernels, spec, args, (0.6, 0.25), nt)
        results.append({n: bits(args[n]) for n in spec.outputs})
    assert all(r == results[0] for r in results), name + ": depends on the thread count"


@pytest.mark.parametrize("transform", [(1.0, np.inf), (0.6, 0.25)], ids=str)
@pytest.mark.parametrize("plan", ["C", "mixed"])
@pytest.mark.parametrize("shape", [(1, 15), (3, 70), (37, 517), (1, 407050 // 37)],
                         ids=str)
@pytest.mark.parametrize("name", SPEC_NAMES)
def test_kernel_bits_do_not_depend_on_simd_level(ckernels, name, shape, plan, transform):
    """optim_rows.h is compiled per ISA: each level gives the portable bits
    (vector bodies, tails, the strided loop, the staged transform)."""
    results = {}
    for level in levels_up_to(ckernels):
        args, _ = build(SPECS[name], shape, plan, 21, 0.02)
        with simd_level(level), np.errstate(all="ignore"):
            call(ckernels, SPECS[name], args, transform, ALL_CORES)
        results[level] = {n: bits(args[n]) for n in SPECS[name].outputs}
    for level, res in results.items():
        assert res == results["generic"], "%s %s: %s differs from generic" % (
            name, shape, level)


def test_param_may_be_the_gradient(ckernels):
    """param and grad may be the very same array (each element's g is read
    before its p is written, and the transform stages g first): the result
    is the twin's on a copy of the gradient."""
    p1 = np.linspace(-1, 1, 50, dtype=F).reshape(2, 25)
    a1 = np.full_like(p1, 0.5)
    ckernels.adagrad_update_f32(p1, p1, a1, 0.1, 1e-7, 0.5, 0.3)
    p2 = np.linspace(-1, 1, 50, dtype=F).reshape(2, 25)
    a2 = np.full_like(p2, 0.5)
    reference.adagrad_update_f32(p2, p2.copy(), a2, 0.1, 1e-7, 0.5, 0.3)
    assert bits(p1) == bits(p2) and bits(a1) == bits(a2)


BAD_CALLS = {
    "adagrad accum shape": lambda k: k.adagrad_update_f32(f(3, 4), f(3, 4), f(4, 3), .1, 1e-7),
    "adagrad grad shape": lambda k: k.adagrad_update_f32(f(3, 4), f(3, 5), f(3, 4), .1, 1e-7),
    "adagrad read-only param": lambda k: k.adagrad_update_f32(ro(f(3, 4)), f(3, 4), f(3, 4),
                                                               .1, 1e-7),
    "adadelta delta shape": lambda k: k.adadelta_update_f32(f(3, 4), f(3, 4), f(3, 4),
                                                             f(3, 3), 1., .95, 1e-7),
    "adamax u shape": lambda k: k.adamax_update_f32(f(3, 4), f(3, 4), f(3, 4), f(2, 4),
                                                     .1, .9, .999, 1e-7),
    "nadam v shape": lambda k: k.nadam_update_f32(f(3, 4), f(3, 4), f(3, 4), f(1, 4), .1,
                                                   .9, .999, 1., 1., 1., 1e-7),
    "adamw m shape": lambda k: k.adamw_update_f32(f(3, 4), f(3, 4), f(3, 1), f(3, 4), .1,
                                                   .9, .999, 1e-7, 0.),
    "adam_clip negative clip": lambda k: k.adam_update_clip_f32(
        f(3, 4), f(3, 4), f(3, 4), f(3, 4), .1, .9, .999, 1e-7, 1.0, -1.0),
    "rmsprop_clip nan clip": lambda k: k.rmsprop_update_clip_f32(
        f(3, 4), f(3, 4), f(3, 4), .1, .9, 1e-7, 1.0, float("nan")),
    "sgd_clip momentum without velocity": lambda k: k.sgd_update_clip_f32(
        f(3, 4), f(3, 4), None, .1, .9, False),
    "adagrad float64": lambda k: k.adagrad_update_f32(f(3, 4).astype(np.float64), f(3, 4),
                                                       f(3, 4), .1, 1e-7),
    "sumsq 1-D": lambda k: k.sumsq_f32(np.ones(4, F)),
}


def f(*shape):
    return np.ones(shape, F)


def ro(a):
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_call_is_value_error_and_changes_nothing(ckernels, name):
    with pytest.raises(ValueError):
        BAD_CALLS[name](ckernels)


@pytest.mark.parametrize("name", ["adam_clip negative clip", "rmsprop_clip nan clip"])
def test_twin_rejects_bad_clip_too(name):
    with pytest.raises(ValueError):
        BAD_CALLS[name](reference)


# ---------------------------------------------------------------------------
# the sum of squares (clipnorm's norm)
# ---------------------------------------------------------------------------

def sumsq_truth(x):
    """The exactly rounded sum of the (exact) double squares, and the forward
    error bound of any double summation order: (n-1) u64 sum."""
    sq = f64(x).ravel() ** 2
    return math.fsum(sq), max(sq.size - 1, 0) * 2.0 ** -53 * sq.sum()


@pytest.mark.parametrize("lay", ["C", "F", "strided", "neg", "line", "bcast"])
@pytest.mark.parametrize("shape", [(0, 0), (3, 0), (1, 1), (1, 15), (1, 17), (5, 33),
                                   (2, 8193), (1, 407050), PAR_SHAPE], ids=str)
def test_sumsq(ckernels, shape, lay):
    rng = np.random.default_rng(4)
    x = layout(rng.standard_normal(shape).astype(F) * F(3), lay)
    want, bound = sumsq_truth(x)
    for nt in (1, ALL_CORES, 3):
        got = ckernels.sumsq_f32(x, nthreads=nt)
        assert isinstance(got, float)
        assert abs(got - want) <= bound, (shape, lay, nt, got, want)
    assert abs(reference.sumsq_f32(x) - want) <= bound


def test_sumsq_bits_do_not_depend_on_threads_or_simd_level(ckernels):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3, 70001)) * np.exp(rng.standard_normal((3, 70001)) * 4)
         ).astype(F)
    base = ckernels.sumsq_f32(x, nthreads=1)
    for level in levels_up_to(ckernels):
        with simd_level(level):
            for nt in (1, 2, 3, 7):
                assert ckernels.sumsq_f32(x, nthreads=nt) == base, (level, nt)
    want, bound = sumsq_truth(x)
    assert abs(ckernels.sumsq_f32(x[:, ::-1], nthreads=2) - want) <= bound


def test_sumsq_nonfinite(ckernels):
    for vals, want in (([1, np.inf, 2], np.inf), ([1, -np.inf], np.inf),
                       ([np.nan, 1], np.nan), ([np.inf, np.nan], np.nan),
                       ([3e38, 3e38], 1.8e77)):
        x = np.array([vals], F)
        for mod in (ckernels, reference):
            got = mod.sumsq_f32(x)
            if np.isnan(want):
                assert np.isnan(got)
            else:
                assert got == pytest.approx(want, rel=1e-6), (vals, got)


def test_sumsq_many_pieces_allocates(ckernels):
    """More than 64 pieces (here 3000 rows) take the allocated partial sums."""
    x = np.random.default_rng(6).standard_normal((3000, 5)).astype(F)
    want, bound = sumsq_truth(x)
    assert abs(ckernels.sumsq_f32(x, nthreads=ALL_CORES) - want) <= bound
    assert ckernels.sumsq_f32(x, nthreads=1) == ckernels.sumsq_f32(x, nthreads=ALL_CORES)


# ---------------------------------------------------------------------------
# optimizers against the Keras formulas, several steps, both backends
# ---------------------------------------------------------------------------

def _grads(steps, size, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, 1, size) * scale).astype(F) for _ in range(steps)]


def _run(opt, p0, grads, sizes=None):
    """Apply the grads step by step, as one segment or as several."""
    p = p0.copy()
    if sizes is None:
        sizes = [p.size]
    opt.build(p.size)
    bounds = np.cumsum([0] + list(sizes))
    for g in grads:
        g = g.copy()
        segs = [(p[a:b].reshape(1, -1), g[a:b].reshape(1, -1), a)
                for a, b in zip(bounds[:-1], bounds[1:])]
        before = g.copy()
        opt.apply_segments(segs, _config.kernels(), _config.get_num_threads())
        assert g.tobytes() == before.tobytes(), "the optimizer wrote the gradient"
    return p


def keras_clip(g, clipnorm=None, clipvalue=None):
    """Keras 2.3.1 Optimizer.get_gradients on the flat gradient (float64)."""
    g = f64(g)
    if clipnorm:
        n = math.sqrt((g * g).sum())
        if n >= clipnorm:
            g = g * clipnorm / n
    if clipvalue:
        g = np.clip(g, -clipvalue, clipvalue)
    return g


def keras_adagrad(p, grads, lr=0.01, eps=1e-7, decay=0.0, init=0.0, **clip):
    p = f64(p)
    a = np.full_like(p, init)
    for it, g in enumerate(grads):
        g = keras_clip(g, **clip)
        lr_t = lr / (1 + decay * it)
        a = a + g * g
        p = p - lr_t * g / (np.sqrt(a) + eps)
    return p


def keras_adadelta(p, grads, lr=1.0, rho=0.95, eps=1e-7, decay=0.0, **clip):
    p = f64(p)
    a = np.zeros_like(p)
    d = np.zeros_like(p)
    for it, g in enumerate(grads):
        g = keras_clip(g, **clip)
        lr_t = lr / (1 + decay * it)
        a = rho * a + (1 - rho) * g * g
        u = g * np.sqrt(d + eps) / np.sqrt(a + eps)
        p = p - lr_t * u
        d = rho * d + (1 - rho) * u * u
    return p


def keras_adamax(p, grads, lr=0.002, b1=0.9, b2=0.999, eps=1e-7, decay=0.0, **clip):
    p = f64(p)
    m = np.zeros_like(p)
    u = np.zeros_like(p)
    for it, g in enumerate(grads):
        g = keras_clip(g, **clip)
        t = it + 1
        lr_t = lr / (1 + decay * it) / (1 - b1 ** t)
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g))
        p = p - lr_t * m / (u + eps)
    return p


def keras_nadam(p, grads, lr=0.002, b1=0.9, b2=0.999, eps=1e-7, sd=0.004, **clip):
    """Keras 2.3.1 Nadam.get_updates, transcribed."""
    p = f64(p)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    m_schedule = 1.0
    for it, g in enumerate(grads):
        g = keras_clip(g, **clip)
        t = it + 1
        mc_t = b1 * (1.0 - 0.5 * 0.96 ** (t * sd))
        mc_t1 = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * sd))
        m_schedule_new = m_schedule * mc_t
        m_schedule_next = m_schedule * mc_t * mc_t1
        m_schedule = m_schedule_new
        g_prime = g / (1.0 - m_schedule_new)
        m = b1 * m + (1.0 - b1) * g
        m_prime = m / (1.0 - m_schedule_next)
        v = b2 * v + (1.0 - b2) * g * g
        v_prime = v / (1.0 - b2 ** t)
        m_bar = (1.0 - mc_t) * g_prime + mc_t1 * m_prime
        p = p - lr * m_bar / (np.sqrt(v_prime) + eps)
    return p


def keras_adamw(p, grads, lr=0.001, wd=0.004, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False,
                **clip):
    """Keras 3 AdamW: variable -= lr*wd*variable, then the Adam step (2.3.1 form)."""
    p = f64(p)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vhat = np.zeros_like(p)
    for it, g in enumerate(grads):
        g = keras_clip(g, **clip)
        t = it + 1
        p = p - p * wd * lr
        lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if amsgrad:
            vhat = np.maximum(vhat, v)
            p = p - lr_t * m / (np.sqrt(vhat) + eps)
        else:
            p = p - lr_t * m / (np.sqrt(v) + eps)
    return p


def keras_rmsprop(p, grads, lr=0.001, rho=0.9, eps=1e-7, **clip):
    p = f64(p)
    a = np.zeros_like(p)
    for g in grads:
        g = keras_clip(g, **clip)
        a = rho * a + (1 - rho) * g * g
        p = p - lr * g / (np.sqrt(a) + eps)
    return p


def keras_sgd(p, grads, lr=0.01, momentum=0.0, nesterov=False, **clip):
    p = f64(p)
    v = np.zeros_like(p)
    for g in grads:
        g = keras_clip(g, **clip)
        v = momentum * v - lr * g
        p = p + (momentum * v - lr * g if nesterov else v)
    return p


def keras_adam(p, grads, lr=0.001, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, **clip):
    return keras_adamw(p, grads, lr=lr, wd=0.0, b1=b1, b2=b2, eps=eps, amsgrad=amsgrad,
                       **clip)


CASES = {
    "adagrad": (lambda **c: optimizers.Adagrad(**c), lambda p, g, **c: keras_adagrad(p, g, **c)),
    "adagrad[lr,decay,init]": (
        lambda **c: optimizers.Adagrad(learning_rate=0.05, decay=0.1,
                                       initial_accumulator_value=0.1, **c),
        lambda p, g, **c: keras_adagrad(p, g, 0.05, decay=0.1, init=0.1, **c)),
    "adadelta": (lambda **c: optimizers.Adadelta(**c),
                 lambda p, g, **c: keras_adadelta(p, g, **c)),
    "adadelta[rho,eps,decay]": (
        lambda **c: optimizers.Adadelta(learning_rate=0.5, rho=0.9, epsilon=1e-6, decay=0.05,
                                        **c),
        lambda p, g, **c: keras_adadelta(p, g, 0.5, 0.9, 1e-6, 0.05, **c)),
    "adamax": (lambda **c: optimizers.Adamax(**c), lambda p, g, **c: keras_adamax(p, g, **c)),
    "adamax[betas,decay]": (
        lambda **c: optimizers.Adamax(learning_rate=0.01, beta_1=0.8, beta_2=0.99,
                                      decay=0.1, **c),
        lambda p, g, **c: keras_adamax(p, g, 0.01, 0.8, 0.99, decay=0.1, **c)),
    "nadam": (lambda **c: optimizers.Nadam(**c), lambda p, g, **c: keras_nadam(p, g, **c)),
    "nadam[lr,betas,schedule_decay]": (
        lambda **c: optimizers.Nadam(learning_rate=0.01, beta_1=0.85, beta_2=0.99,
                                     schedule_decay=0.1, **c),
        lambda p, g, **c: keras_nadam(p, g, 0.01, 0.85, 0.99, sd=0.1, **c)),
    "adamw": (lambda **c: optimizers.AdamW(**c), lambda p, g, **c: keras_adamw(p, g, **c)),
    "adamw[wd,lr]": (
        lambda **c: optimizers.AdamW(learning_rate=0.01, weight_decay=0.1, **c),
        lambda p, g, **c: keras_adamw(p, g, 0.01, 0.1, **c)),
    "adamw[amsgrad]": (
        lambda **c: optimizers.AdamW(learning_rate=0.01, weight_decay=0.05, amsgrad=True,
                                     **c),
        lambda p, g, **c: keras_adamw(p, g, 0.01, 0.05, amsgrad=True, **c)),
    "rmsprop": (lambda **c: optimizers.RMSprop(**c),
                lambda p, g, **c: keras_rmsprop(p, g, **c)),
    "sgd": (lambda **c: optimizers.SGD(**c), lambda p, g, **c: keras_sgd(p, g, **c)),
    "sgd[momentum]": (lambda **c: optimizers.SGD(momentum=0.9, **c),
                      lambda p, g, **c: keras_sgd(p, g, momentum=0.9, **c)),
    "sgd[nesterov]": (lambda **c: optimizers.SGD(momentum=0.9, nesterov=True, **c),
                      lambda p, g, **c: keras_sgd(p, g, momentum=0.9, nesterov=True, **c)),
    "adam": (lambda **c: optimizers.Adam(**c), lambda p, g, **c: keras_adam(p, g, **c)),
    "adam[amsgrad]": (lambda **c: optimizers.Adam(amsgrad=True, **c),
                      lambda p, g, **c: keras_adam(p, g, amsgrad=True, **c)),
}

#: the clip settings every case runs with: none, a clipnorm that binds (the
#: gradients' norm is about sqrt(1001) ~ 32), one that does not, clipvalue,
#: and both (the norm first)
CLIPS = {"none": {}, "clipnorm": {"clipnorm": 5.0}, "clipnorm-loose": {"clipnorm": 1e3},
         "clipvalue": {"clipvalue": 0.5}, "both": {"clipnorm": 10.0, "clipvalue": 0.2}}


@pytest.mark.parametrize("clip", list(CLIPS))
@pytest.mark.parametrize("case", list(CASES))
def test_update_matches_keras_formula(any_backend, case, clip):
    make, formula = CASES[case]
    p0 = np.random.default_rng(1).normal(0, 1, 1001).astype(F)
    grads = _grads(7, p0.size)
    opt = make(**CLIPS[clip])
    got = _run(opt, p0, grads)
    want = formula(p0, grads, **CLIPS[clip])
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    assert opt.iterations == 7
    assert np.abs(got - p0).max() > 1e-4      # the parameters moved


@pytest.mark.parametrize("clip", ["none", "clipnorm", "both"])
@pytest.mark.parametrize("case", list(CASES))
def test_segments_equal_one_flat_step(any_backend, case, clip):
    """A step over segments (offsets into the state) is the flat step, bit for
    bit, and clipnorm's norm is over all segments together."""
    make, _ = CASES[case]
    p0 = np.random.default_rng(2).normal(0, 1, 1001).astype(F)
    grads = _grads(5, p0.size, seed=3)
    flat = _run(make(**CLIPS[clip]), p0, grads)
    split = _run(make(**CLIPS[clip]), p0, grads, sizes=[300, 1, 500, 200])
    assert flat.tobytes() == split.tobytes()


def test_clipnorm_is_the_global_norm_not_per_tensor(any_backend):
    """Keras 2.3.1 scales every gradient by clipnorm/||all gradients||: with
    two segments of very different norms the result is the global formula,
    and not what per-tensor clipping (tf.keras / Keras 3 clipnorm) gives."""
    g = np.concatenate([np.full(100, 0.01, F), np.full(100, 1.0, F)])
    p0 = np.zeros(200, F)
    got = _run(optimizers.SGD(learning_rate=1.0, clipnorm=5.0), p0, [g], sizes=[100, 100])
    norm = math.sqrt(float((f64(g) ** 2).sum()))
    np.testing.assert_allclose(got, -f64(g) * 5.0 / norm, rtol=1e-6)
    per_tensor = np.concatenate([-f64(g[:100]), -f64(g[100:]) * 5.0 / 10.0])
    assert not np.allclose(got, per_tensor, rtol=1e-3)
    glob = _run(optimizers.SGD(learning_rate=1.0, global_clipnorm=5.0), p0, [g],
                sizes=[100, 100])
    assert glob.tobytes() == got.tobytes()


def test_clipnorm_order_and_thresholds(any_backend):
    g = np.array([3.0, 4.0], F)                       # norm 5
    p0 = np.zeros(2, F)
    at = _run(optimizers.SGD(learning_rate=1.0, clipnorm=5.0), p0, [g])
    np.testing.assert_allclose(at, [-3.0, -4.0], rtol=1e-7)     # n >= c: scale 1
    below = _run(optimizers.SGD(learning_rate=1.0, clipnorm=5.0001), p0, [g])
    assert below.tobytes() == np.array([-3.0, -4.0], F).tobytes()   # untouched
    half = _run(optimizers.SGD(learning_rate=1.0, clipnorm=2.5), p0, [g])
    np.testing.assert_allclose(half, [-1.5, -2.0], rtol=1e-7)
    # norm first, then value: (1.5, 2.0) -> (1.5, 1.8); the other order gives (1.8*..)
    both = _run(optimizers.SGD(learning_rate=1.0, clipnorm=2.5, clipvalue=1.8), p0, [g])
    np.testing.assert_allclose(both, [-1.5, -1.8], rtol=1e-7)
    off = _run(optimizers.SGD(learning_rate=1.0, clipnorm=0.0, clipvalue=0.0), p0, [g])
    assert off.tobytes() == np.array([-3.0, -4.0], F).tobytes()    # 0 switches off


def test_clipnorm_with_nonfinite_gradients(any_backend):
    """An infinite norm scales by 0 (inf * 0 = NaN, as Keras); a NaN norm
    fails n >= c, so nothing is scaled (Keras's K.switch)."""
    p0 = np.zeros(3, F)
    inf = _run(optimizers.SGD(learning_rate=1.0, clipnorm=1.0), p0,
               [np.array([1.0, np.inf, 2.0], F)])
    assert np.isnan(inf[1]) and inf[0] == 0 and inf[2] == 0
    nan = _run(optimizers.SGD(learning_rate=1.0, clipnorm=1.0), p0,
               [np.array([1.0, np.nan, 2.0], F)])
    assert np.isnan(nan[1]) and nan[0] == -1.0 and nan[2] == -2.0
    val = _run(optimizers.SGD(learning_rate=1.0, clipvalue=1.5), p0,
               [np.array([-np.inf, np.nan, 2.0], F)])
    assert val[0] == 1.5 and np.isnan(val[1]) and val[2] == -1.5


def test_clip_backends_agree_bit_for_bit(ckernels, restore_fastdense_config):
    """The transform is the same float32 arithmetic on both backends."""
    p0 = np.random.default_rng(7).normal(0, 1, 5000).astype(F)
    grads = _grads(4, p0.size, seed=8, scale=3.0)
    results = {}
    for backend in ("c", "numpy"):
        fastdense.set_backend(backend)
        for name in ("adagrad", "adadelta", "adamax", "nadam", "adamw", "rmsprop", "sgd",
                     "adam"):
            opt = CASES[name][0](clipvalue=0.7)
            results[backend, name] = _run(opt, p0, grads).tobytes()
    for name in ("adagrad", "adadelta", "adamax", "nadam", "adamw", "rmsprop", "sgd",
                 "adam"):
        assert results["c", name] == results["numpy", name], name


def test_clip_options_validated():
    for kwargs in ({"clipnorm": -1}, {"clipvalue": float("nan")}, {"clipnorm": "big"},
                   {"global_clipnorm": -0.5}, {"clipnorm": 1.0, "global_clipnorm": 1.0}):
        with pytest.raises(ValueError):
            optimizers.Adam(**kwargs)


# ---------------------------------------------------------------------------
# Nadam's schedule state, Adagrad's initial accumulator
# ---------------------------------------------------------------------------

def test_nadam_m_schedule_is_the_running_product_and_survives_set_state(any_backend):
    p0 = np.random.default_rng(9).normal(0, 1, 300).astype(F)
    grads = _grads(8, p0.size, seed=10)
    straight = optimizers.Nadam()
    p_straight = _run(straight, p0, grads)
    prod = 1.0
    for t in range(1, 9):
        prod *= 0.9 * (1 - 0.5 * 0.96 ** (t * 0.004))
    assert straight.m_schedule == pytest.approx(prod, rel=1e-15)

    first = optimizers.Nadam()
    p_half = _run(first, p0, grads[:5])
    it, state = first.get_state()
    again = optimizers.Nadam()
    again.set_state(it, state)
    p = p_half.copy().reshape(1, -1)
    for g in grads[5:]:
        again.apply(p, g.reshape(1, -1))
    assert p.tobytes() == p_straight.tobytes()
    assert again.m_schedule == straight.m_schedule


def test_nadam_has_no_decay_as_in_keras():
    with pytest.raises(TypeError):
        optimizers.Nadam(decay=0.1)


def test_adagrad_initial_accumulator_value():
    opt = optimizers.Adagrad(initial_accumulator_value=0.1)
    opt.build(4)
    assert np.all(opt.get_state()[1][0] == F(0.1))
    opt.build(4)                                   # same size: kept
    opt._state[0][0] = 7
    opt.build(4)
    assert opt.get_state()[1][0][0] == 7
    assert not optimizers.Adagrad().get_state()[1]   # not built


def test_adamw_decays_toward_zero_without_gradient(any_backend):
    p0 = np.ones(10, F)
    got = _run(optimizers.AdamW(learning_rate=0.1, weight_decay=0.5), p0,
               [np.zeros(10, F)] * 3)
    np.testing.assert_allclose(got, (1 - 0.05) ** 3, rtol=1e-6)


# ---------------------------------------------------------------------------
# names, defaults, configs
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name,cls", [
    ("adagrad", optimizers.Adagrad), ("Adagrad", optimizers.Adagrad),
    ("adadelta", optimizers.Adadelta), ("adamax", optimizers.Adamax),
    ("nadam", optimizers.Nadam), ("Nadam", optimizers.Nadam),
    ("adamw", optimizers.AdamW), ("AdamW", optimizers.AdamW)])
def test_get_by_name(name, cls):
    assert type(optimizers.get(name)) is cls


def test_defaults_are_keras():
    """Keras 2.3.1 defaults (Adagrad 0.01, Adadelta 1.0 / 0.95, Adamax and
    Nadam 0.002, schedule_decay 0.004); AdamW: Keras 3's."""
    assert optimizers.Adagrad().get_config() == {
        "learning_rate": 0.01, "decay": 0.0, "epsilon": 1e-7,
        "initial_accumulator_value": 0.0}
    assert optimizers.Adadelta().get_config() == {
        "learning_rate": 1.0, "rho": 0.95, "decay": 0.0, "epsilon": 1e-7}
    assert optimizers.Adamax().get_config() == {
        "learning_rate": 0.002, "beta_1": 0.9, "beta_2": 0.999, "decay": 0.0,
        "epsilon": 1e-7}
    assert optimizers.Nadam().get_config() == {
        "learning_rate": 0.002, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
        "schedule_decay": 0.004}
    assert optimizers.AdamW().get_config() == {
        "learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999,
        "epsilon": 1e-7, "amsgrad": False, "decay": 0.0}


ALL_OPTIMIZERS = [
    optimizers.SGD(learning_rate=0.03, momentum=0.5, nesterov=True, clipnorm=2.0),
    optimizers.RMSprop(rho=0.8, clipvalue=0.1),
    optimizers.Adam(amsgrad=True, global_clipnorm=3.0),
    optimizers.Adagrad(learning_rate=0.2, initial_accumulator_value=0.1, decay=0.01),
    optimizers.Adadelta(rho=0.9, clipnorm=1.0, clipvalue=0.5),
    optimizers.Adamax(beta_1=0.8),
    optimizers.Nadam(schedule_decay=0.01, epsilon=1e-6),
    optimizers.AdamW(weight_decay=0.01, learning_rate=schedules.CosineDecay(0.01, 100)),
    optimizers.SGD(learning_rate=schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.05,
                                                                          0.01])),
]


@pytest.mark.parametrize("opt", ALL_OPTIMIZERS, ids=lambda o: type(o).__name__)
def test_config_round_trip_through_json(opt):
    config = json.loads(json.dumps(optimizers.serialize(opt)))
    again = optimizers.deserialize(config)
    assert type(again) is type(opt)
    assert again.get_config() == opt.get_config()
    assert repr(again) == repr(opt)


def test_deserialize_errors_are_value_errors():
    with pytest.raises(ValueError, match="unknown optimizer"):
        optimizers.deserialize({"class_name": "Adamm", "config": {}})
    with pytest.raises(ValueError, match="bad Nadam config"):
        optimizers.deserialize({"class_name": "Nadam", "config": {"momentum": 0.9}})
    with pytest.raises(ValueError, match="unknown learning rate schedule"):
        optimizers.deserialize({"class_name": "SGD", "config": {
            "learning_rate": {"class_name": "MySchedule", "config": {}}}})


def test_unknown_name_lists_the_optimizers():
    with pytest.raises(ValueError, match="'nadam'"):
        optimizers.get("nadm")


# ---------------------------------------------------------------------------
# the learning rate: settable, and schedules
# ---------------------------------------------------------------------------

def test_learning_rate_is_settable_and_used():
    opt = optimizers.SGD(learning_rate=0.1)
    p = np.zeros((1, 3), F)
    g = np.ones((1, 3), F)
    opt.apply(p, g)
    opt.learning_rate = 0.5
    assert opt.lr == 0.5
    opt.apply(p, g)
    opt.lr = np.float32(0.25)                       # numpy scalars are numbers too
    opt.apply(p, g)
    np.testing.assert_allclose(p, -(0.1 + 0.5 + 0.25), rtol=1e-6)
    with pytest.raises(ValueError):
        opt.learning_rate = -1.0
    with pytest.raises(ValueError, match="schedule"):
        opt.learning_rate = lambda step: 0.1


def test_schedule_driven_optimizer_uses_the_schedule_and_refuses_floats(any_backend):
    sched = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    opt = optimizers.SGD(learning_rate=sched)
    assert opt.learning_rate == 0.1 and opt.learning_rate_schedule is sched
    p = np.zeros((1, 4), F)
    g = np.ones((1, 4), F)
    for _ in range(5):
        opt.apply(p, g)
    want = -sum(0.1 * 0.5 ** (k / 2) for k in range(5))
    np.testing.assert_allclose(p, want, rtol=1e-6)
    assert opt.lr == pytest.approx(0.1 * 0.5 ** 2.5)
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.01
    with pytest.raises(TypeError, match="not settable"):
        opt.lr = 0.01
    opt.learning_rate = schedules.InverseTimeDecay(1.0, 1, 1.0)    # a schedule may replace it
    assert opt.learning_rate == pytest.approx(1.0 / 6)


def test_schedule_with_decay_applies_both():
    opt = optimizers.SGD(learning_rate=schedules.PiecewiseConstantDecay([0], [1.0, 0.5]),
                         decay=1.0)
    p = np.zeros((1, 1), F)
    g = np.ones((1, 1), F)
    opt.apply(p, g)      # step 0: 1.0 / 1
    opt.apply(p, g)      # step 1: 0.5 / 2
    np.testing.assert_allclose(p, -1.25, rtol=1e-7)


def test_bad_schedule_value_is_a_clear_error():
    class Bad(schedules.LearningRateSchedule):
        def __call__(self, step):
            return float("nan") if step >= 1 else 0.1

    opt = optimizers.SGD(learning_rate=Bad())
    p, g = np.zeros((1, 2), F), np.ones((1, 2), F)
    opt.apply(p, g)
    with pytest.raises(ValueError, match="gave nan at step 1"):
        opt.apply(p, g)
    with pytest.raises(NotImplementedError, match="get_config"):
        opt.get_config()


def test_custom_schedule_round_trip_with_custom_objects():
    class Halving(schedules.LearningRateSchedule):
        def __init__(self, lr):
            self.lr = lr

        def __call__(self, step):
            return self.lr / 2 ** step

        def get_config(self):
            return {"lr": self.lr}

    opt = optimizers.Adam(learning_rate=Halving(0.4))
    again = optimizers.deserialize(optimizers.serialize(opt), custom_objects={"Halving": Halving})
    assert isinstance(again.learning_rate_schedule, Halving)
    assert again.learning_rate == 0.4


STEPS = [0, 1, 2, 5, 9, 10, 11, 99, 100, 101, 250, 1000, 10 ** 6]


def _close(a, b):
    assert a == pytest.approx(b, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    s = schedules.ExponentialDecay(0.1, 10, 0.9, staircase=staircase)
    for k in STEPS:
        e = math.floor(k / 10) if staircase else k / 10
        _close(s(k), 0.1 * 0.9 ** e)


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay(staircase):
    s = schedules.InverseTimeDecay(0.5, 7, 0.3, staircase=staircase)
    for k in STEPS:
        e = math.floor(k / 7) if staircase else k / 7
        _close(s(k), 0.5 / (1 + 0.3 * e))


def test_piecewise_constant_decay():
    s = schedules.PiecewiseConstantDecay([10, 100], [1.0, 0.5, 0.1])
    want = {0: 1.0, 1: 1.0, 9: 1.0, 10: 1.0, 11: 0.5, 99: 0.5, 100: 0.5, 101: 0.1,
            10 ** 6: 0.1}
    for k, v in want.items():
        assert s(k) == v, k
    with pytest.raises(ValueError, match="one more value"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="increasing"):
        schedules.PiecewiseConstantDecay([5, 5], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("cycle", [False, True])
@pytest.mark.parametrize("power", [1.0, 0.5, 2.0])
def test_polynomial_decay(power, cycle):
    s = schedules.PolynomialDecay(0.1, 100, end_learning_rate=0.01, power=power,
                                  cycle=cycle)
    for k in STEPS:
        if cycle:
            horizon = 100 * (1 if k == 0 else math.ceil(k / 100))
            step = k
        else:
            horizon, step = 100, min(k, 100)
        _close(s(k), (0.1 - 0.01) * (1 - step / horizon) ** power + 0.01)


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_cosine_decay(alpha):
    s = schedules.CosineDecay(0.2, 100, alpha=alpha)
    for k in STEPS:
        c = 0.5 * (1 + math.cos(math.pi * min(k, 100) / 100))
        _close(s(k), 0.2 * ((1 - alpha) * c + alpha))


def test_cosine_decay_with_warmup():
    s = schedules.CosineDecay(0.0, 100, alpha=0.1, warmup_target=0.5, warmup_steps=10)
    for k in STEPS:
        if k < 10:
            want = 0.5 * k / 10
        else:
            c = 0.5 * (1 + math.cos(math.pi * min(k - 10, 100) / 100))
            want = 0.5 * (0.9 * c + 0.1)
        _close(s(k), want)


SCHEDULES = [schedules.ExponentialDecay(0.1, 10, 0.9, staircase=True),
             schedules.PiecewiseConstantDecay([10, 100], [1.0, 0.5, 0.1]),
             schedules.PolynomialDecay(0.1, 100, 0.001, power=0.5, cycle=True),
             schedules.InverseTimeDecay(0.5, 7, 0.3),
             schedules.CosineDecay(0.0, 100, alpha=0.1, warmup_target=0.5, warmup_steps=10)]


@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: type(s).__name__)
def test_schedule_config_round_trip(sched):
    again = schedules.deserialize(json.loads(json.dumps(schedules.serialize(sched))))
    assert type(again) is type(sched) and again.get_config() == sched.get_config()
    again2 = type(sched).from_config(sched.get_config())
    for k in STEPS:
        assert again(k) == sched(k) == again2(k)


@pytest.mark.parametrize("bad", [
    lambda: schedules.ExponentialDecay(0.1, 0, 0.9),
    lambda: schedules.InverseTimeDecay(0.1, -5, 0.9),
    lambda: schedules.PolynomialDecay(0.1, 0),
    lambda: schedules.CosineDecay(0.1, 0),
    lambda: schedules.CosineDecay(0.1, 10, warmup_steps=-1),
    lambda: schedules.ExponentialDecay("0.1", 10, 0.9),
    lambda: schedules.ExponentialDecay(float("inf"), 10, 0.9),
    lambda: schedules.ExponentialDecay(0.1, 10, 0.9)(float("nan")),
    lambda: schedules.deserialize({"config": {}}),
])
def test_schedule_bad_arguments(bad):
    with pytest.raises(ValueError):
        bad()


def test_schedules_module_is_importable_as_keras_spells_it():
    from fastdense.optimizers.schedules import CosineDecay
    assert CosineDecay is schedules.CosineDecay
    assert optimizers.schedules is fastdense.schedules


# ---------------------------------------------------------------------------
# the drop-ins
# ---------------------------------------------------------------------------

def _state_like(p, kind):
    rng = np.random.default_rng(11)
    v = rng.standard_normal(p.shape).astype(p.dtype)
    return np.abs(v) * 0.3 if kind == "positive" else v * 0.1


DROPINS = {
    "adagrad_update": (lambda p, g, s: ops.adagrad_update(p, g, *s, lr=0.05),
                       ["positive"],
                       lambda p, g, s: reference.adagrad_update_f32(p, g, *s, 0.05, 1e-7)),
    "adadelta_update": (lambda p, g, s: ops.adadelta_update(p, g, *s, rho=0.9),
                        ["positive", "positive"],
                        lambda p, g, s: reference.adadelta_update_f32(p, g, *s, 1.0, 0.9,
                                                                      1e-7)),
    "adamax_update": (lambda p, g, s: ops.adamax_update(p, g, *s, t=4),
                      ["normal", "positive"],
                      lambda p, g, s: reference.adamax_update_f32(
                          p, g, *s, 0.002 / (1 - 0.9 ** 4), 0.9, 0.999, 1e-7)),
    "nadam_update": (lambda p, g, s: ops.nadam_update(p, g, *s, t=4),
                     ["normal", "positive"],
                     lambda p, g, s: reference.nadam_update_f32(
                         p, g, *s, 0.002, 0.9, 0.999, *ops.nadam_coefficients(4)[:3], 1e-7)),
    "adamw_update": (lambda p, g, s: ops.adamw_update(p, g, *s, t=2, weight_decay=0.1),
                     ["normal", "positive"],
                     lambda p, g, s: reference.adamw_update_f32(
                         p, g, *s, 0.001 * math.sqrt(1 - 0.999 ** 2) / (1 - 0.9 ** 2), 0.9,
                         0.999, 1e-7, 0.001 * 0.1)),
}


@pytest.mark.parametrize("lay", ["C", "F", "strided", "neg"])
@pytest.mark.parametrize("name", list(DROPINS))
def test_dropin_c_path_is_the_twin(any_backend, name, lay):
    fn, kinds, twin = DROPINS[name]
    rng = np.random.default_rng(12)
    p0 = rng.standard_normal((33, 70)).astype(F)
    g = rng.standard_normal((33, 70)).astype(F)
    s0 = [_state_like(p0, k) for k in kinds]
    p, s = layout(p0, lay), [layout(x, lay) for x in s0]
    ret = fn(p, layout(g, lay), s)
    assert ret is p
    pw, sw = p0.copy(), [x.copy() for x in s0]
    twin(pw, g, sw)
    assert p.tobytes() == np.ascontiguousarray(pw).tobytes() or bits(p) == bits(pw)
    for a, b in zip(s, sw):
        assert bits(a) == bits(b)


@pytest.mark.parametrize("name", list(DROPINS))
def test_dropin_float64_and_1d(name):
    fn, kinds, twin = DROPINS[name]
    rng = np.random.default_rng(13)
    p0 = rng.standard_normal(50)
    g = rng.standard_normal(50)
    s0 = [_state_like(p0, k) for k in kinds]
    p, s = p0.copy(), [x.copy() for x in s0]
    assert fn(p, g, s) is p and p.dtype == np.float64
    p32, s32 = p0.astype(F), [x.astype(F) for x in s0]
    fn(p32, g.astype(F), s32)
    np.testing.assert_allclose(p, p32, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(DROPINS))
def test_dropin_bad_input_changes_nothing(name):
    fn, kinds, _ = DROPINS[name]
    p = np.ones((3, 4), F)
    s = [np.ones((3, 4), F) for _ in kinds]
    with pytest.raises(ValueError):
        fn(p, np.ones((3, 5), F), s)
    with pytest.raises(ValueError):
        fn(p, np.ones((3, 4), F), [np.ones((4, 3), F)] + s[1:])
    with pytest.raises(ValueError):
        fn(ro(np.ones((3, 4), F)), np.ones((3, 4), F), s)
    with pytest.raises(TypeError):
        fn([1.0, 2.0], np.ones(2, F), [np.ones(2, F) for _ in kinds])
    assert np.all(p == 1) and all(np.all(x == 1) for x in s)
    # an int param fails half-way in NumPy: nothing is written
    pi = np.ones((3, 4), np.int64)
    si = [np.ones((3, 4)) for _ in kinds]
    with pytest.raises(Exception):
        fn(pi, np.ones((3, 4)), si)
    assert np.all(pi == 1) and all(np.all(x == 1) for x in si)


@pytest.mark.parametrize("fn", [ops.adamax_update, ops.nadam_update, ops.adamw_update])
def test_dropin_step_number(fn):
    p = np.ones(3, F)
    for t in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="t is the step"):
            fn(p, p.copy(), p.copy(), p.copy(), t)


def test_nadam_schedule_helper():
    mc1, mc2, s1, s2 = ops.nadam_schedule(1)
    assert mc1 == 0.9 * (1 - 0.5 * 0.96 ** 0.004) and s1 == mc1 and s2 == mc1 * mc2
    # from t, or from the running product: the same bits
    prod = 1.0
    for t in range(1, 30):
        new = ops.nadam_schedule(t, m_schedule=prod)[2]
        assert new == ops.nadam_schedule(t)[2]
        prod = new


# ---------------------------------------------------------------------------
# in a model
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["adagrad", "adadelta", "adamax", "nadam", "adamw"])
def test_models_train_with_every_optimizer(any_backend, name):
    from _model_helpers import blobs, small_model
    x, labels = blobs(n=256)
    y = fastdense.utils.to_categorical(labels, 3)
    opt = optimizers.get(name)
    if name == "adadelta":
        opt = optimizers.Adadelta(learning_rate=1.0)
    else:
        opt.learning_rate = 0.05
    net = small_model(optimizer=opt)
    hist = net.fit(x, y, epochs=4, batch_size=32, verbose=0)
    loss = hist.history["loss"]
    assert loss[-1] < loss[0], (name, loss)


def test_model_with_schedule_and_clipping_saves_and_loads(tmp_path, any_backend):
    from _model_helpers import blobs, small_model
    x, labels = blobs(n=128)
    y = fastdense.utils.to_categorical(labels, 3)
    opt = optimizers.Nadam(learning_rate=schedules.ExponentialDecay(0.01, 10, 0.5),
                           clipnorm=1.0, clipvalue=0.5)
    net = small_model(optimizer=opt)
    net.fit(x, y, epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "m.fdm"
    net.save(str(path))
    back = fastdense.models.load_model(str(path))
    assert back.optimizer.get_config() == opt.get_config()
    assert back.optimizer.iterations == opt.iterations
    net.fit(x, y, epochs=1, batch_size=32, verbose=0, shuffle=False)
    back.fit(x, y, epochs=1, batch_size=32, verbose=0, shuffle=False)
    assert np.array_equal(back.predict(x), net.predict(x))
