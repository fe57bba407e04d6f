"""The dropout kernels (src_c/philox.h, dropout*.c) against their NumPy twins.

* Philox4x32-10 itself: Random123's known-answer vectors (kat_vectors: counter
  and key all zeros, all ones, the digits of pi) through the C binding and the
  twin, and C == twin on random counters and keys.
* The mask definition (philox.h): element e = i*n + j is kept iff word e % 4
  of Philox4x32-10((e//4, step), seed) >= ceil(rate * 2**32), checked element
  by element through the scalar binding, including the exact threshold.
* C == twin bit for bit over the shape and layout registry of
  tests/arrays.py, NaN and inf included, for forward, backward and the fused
  relu + dropout backward; and the same bits for every thread count (1, 2, 3,
  all), SIMD level and memory layout of the same logical matrix.
* Statistics: the keep fraction of 10**6 draws within 5 sigma of 1 - rate,
  for every word of a Philox block, and pairs of masks (steps, seeds, the high
  words of both, neighbouring elements) as independent as they should be.
* Edge rates (0, tiny, the threshold overflowing to "drop all", float32(rate)
  == 1), aliasing, the fused backward equal to the composition of the two
  separate steps (bits), bad calls (ValueError/TypeError, never a crash).
"""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from arrays import (LAYOUT_SHAPES_2D, PAR_SHAPE, SHAPES_2D, assert_outside_untouched,
                    assert_within, inject_nonfinite, layout, snapshot_outside)
from test_kernels import (ALL_CORES, PLANS, Plan, U, levels_up_to, nan_out, randn,
                          simd_level)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# Random123 tests/kat_vectors, the three philox4x32 10 lines: counter, key, result
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
    ((0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff),
     (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
    ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
     (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
]

SEED, STEP = 0x0123456789ABCDEF, 0xFEDCBA9876543210   # both 64-bit words in use
RATES = [0.0, 0.1, 0.5, 0.875, 0.999]


@pytest.fixture(params=["c", "numpy"])
def mod(request, ckernels, reference):
    return ckernels if request.param == "c" else reference


# ---------------------------------------------------------------------------
# Philox itself
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("counter, key, want", KAT, ids=["zeros", "ones", "pi"])
def test_philox_known_answers(mod, counter, key, want):
    assert mod.philox4x32_10(counter, key) == want


def test_philox_c_equals_twin_on_random_words(ckernels, reference):
    rng = np.random.default_rng(40)
    for _ in range(300):
        c = tuple(int(v) for v in rng.integers(0, 2 ** 32, 4))
        k = tuple(int(v) for v in rng.integers(0, 2 ** 32, 2))
        assert ckernels.philox4x32_10(c, k) == reference.philox4x32_10(c, k), (c, k)


@pytest.mark.parametrize("counter, key, exc", [
    ((0, 0, 0), (0, 0), ValueError), ((0, 0, 0, 0), (0,), ValueError),
    ((0, 0, 0, 2 ** 32), (0, 0), ValueError), ((0, 0, 0, 0), (-1, 0), ValueError),
    ((0, 0, 0, 0.5), (0, 0), TypeError), ((0, 0, 0, 0), ("1", 0), TypeError)])
def test_philox_bad_words(mod, counter, key, exc):
    with pytest.raises(exc):
        mod.philox4x32_10(counter, key)


# ---------------------------------------------------------------------------
# the mask definition
# ---------------------------------------------------------------------------

def words_by_definition(ck, m, n, seed, step):
    """u(e) for e < m*n from the scalar Philox binding, by philox.h's text."""
    out = []
    for e in range(m * n):
        b = e // 4
        ctr = (b & 0xFFFFFFFF, b >> 32, step & 0xFFFFFFFF, step >> 32)
        out.append(ck.philox4x32_10(ctr, (seed & 0xFFFFFFFF, seed >> 32))[e % 4])
    return np.array(out, np.uint64).reshape(m, n)


@pytest.mark.parametrize("seed, step", [(0, 0), (SEED, STEP), (2 ** 64 - 1, 2 ** 64 - 1),
                                        (7, 2 ** 32), (2 ** 32, 3)])
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.5, 0.97])
def test_mask_is_the_documented_function(ckernels, mod, seed, step, rate):
    m, n = 5, 11
    u = words_by_definition(ckernels, m, n, seed, step)
    keep = u >= math.ceil(rate * 2 ** 32)
    x = np.full((m, n), 2.0, np.float32)
    out = np.full_like(x, np.nan)
    mod.dropout_forward_f32(x, out, rate, seed, step)
    assert np.array_equal(out != 0, keep)
    assert np.all(out[keep] == np.float32(2) * mod_scale(rate))
    assert np.array_equal(mod_mask((m, n), rate, seed, step), keep)


def mod_scale(rate):
    return np.float32(1) / (np.float32(1) - np.float32(rate))


def mod_mask(shape, rate, seed, step):
    from fastdense import reference
    return reference.dropout_mask(shape, rate, seed, step)


def test_threshold_is_exact(ckernels, mod):
    """rate = u/2**32 keeps the element whose word is u; (u+1)/2**32 drops it."""
    m, n = 3, 9
    u = words_by_definition(ckernels, m, n, SEED, STEP)
    x = np.ones((m, n), np.float32)
    for (i, j) in [(0, 0), (1, 4), (2, 8)]:
        w = int(u[i, j])
        for rate, kept in ((w / 2 ** 32, True), ((w + 1) / 2 ** 32, False)):
            if not 0 <= rate < 1:
                continue
            out = np.empty_like(x)
            mod.dropout_forward_f32(x, out, rate, SEED, STEP)
            assert (out[i, j] != 0) == kept, (i, j, w, rate)
            # and every other element follows the same rule
            assert np.array_equal(out != 0, u >= math.ceil(rate * 2 ** 32))


def test_scale_is_float32_arithmetic(mod):
    for rate in [0.1, 0.2, 1 / 3, 0.5, 0.7, 0.9, 0.99]:
        x = np.array([[1.0, 3.0, -7.25, 1e-30, 3e38]], np.float32)
        out = np.empty_like(x)
        mod.dropout_forward_f32(x, out, rate, 1, 2)
        scale = np.float32(1) / (np.float32(1) - np.float32(rate))
        want = np.where(mod_mask(x.shape, rate, 1, 2), x * scale, np.float32(0))
        assert out.tobytes() == want.tobytes(), rate


# ---------------------------------------------------------------------------
# C against the twin over the registry
# ---------------------------------------------------------------------------

def build(kind, shape, plan, rng, nonfinite=0.0, rate=0.4, bias=False):
    """Inputs and NaN-filled outputs of one call: (args, kwargs, outputs)."""
    g = randn(rng, shape)
    if nonfinite:
        inject_nonfinite(g, rng, nonfinite)
    if kind == "relu_dropout":
        z = randn(rng, shape)
        if nonfinite:
            inject_nonfinite(z, rng, nonfinite / 2, kinds=(np.nan, np.inf))
        y = np.maximum(z, 0)
        from fastdense import reference
        y = reference.dropout_forward_f32(y, np.empty_like(y), rate, SEED, STEP)
        args = [layout(g, plan("in")), layout(y, plan("in")), nan_out(shape, plan("out")),
                rate]
        kwargs = {"bias_grad": nan_out((shape[1],), plan.vec("out"))} if bias else {}
        return args, kwargs, [2] + (["bias_grad"] if bias else [])
    args = [layout(g, plan("in")), nan_out(shape, plan("out")), rate, SEED, STEP]
    return args, {}, [1]


FUNCS = {"forward": "dropout_forward_f32", "backward": "dropout_backward_f32",
         "relu_dropout": "relu_dropout_backward_f32"}
KINDS = [("forward", False), ("backward", False), ("relu_dropout", False),
         ("relu_dropout", True)]


def _get(args, kwargs, key):
    return args[key] if isinstance(key, int) else kwargs[key]


def run_pair(ck, ref, kind, bias, shape, plan, nthreads, seed=0, nonfinite=0.0,
             rate=0.4):
    what = "%s%s %s %s nthreads=%d rate=%r" % (kind, "+bias" if bias else "", shape,
                                                 plan, nthreads, rate)
    res = {}
    for name, mod in (("c", ck), ("numpy", ref)):
        args, kwargs, outs = build(kind, shape, Plan(plan), np.random.default_rng(seed),
                                   nonfinite, rate, bias)
        ins = [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and i not in outs]
        before = {i: np.array(args[i], copy=True) for i in ins}
        around = [snapshot_outside(_get(args, kwargs, k)) for k in outs]
        ret = getattr(mod, FUNCS[kind])(*args, nthreads=nthreads, **kwargs)
        assert ret is _get(args, kwargs, outs[0]), what + ": does not return its output"
        for k, snap in zip(outs, around):
            assert_outside_untouched(_get(args, kwargs, k), snap)
        for i in ins:
            assert np.array_equal(args[i], before[i], equal_nan=True), \
                what + ": input %d changed" % i
        res[name] = [np.ascontiguousarray(_get(args, kwargs, k)) for k in outs]
    got, want = res["c"], res["numpy"]
    assert got[0].tobytes() == want[0].tobytes(), what + ": output bits differ from the twin"
    if bias:
        out = want[0].astype(np.float64)
        bound = 2 * (shape[0] + 1) * U * np.abs(np.nan_to_num(out)).sum(axis=0)
        assert_within(got[1], np.sum(out, axis=0), bound, what + " bias_grad")
        assert_within(want[1], np.sum(out, axis=0), bound, what + " bias_grad (twin)")
    return got


@pytest.mark.parametrize("nthreads", [1, ALL_CORES])
@pytest.mark.parametrize("shape", SHAPES_2D + [(128, 512), (1, 70001)], ids=str)
@pytest.mark.parametrize("kind, bias", KINDS, ids=lambda v: str(v))
def test_c_equals_twin_shapes(ckernels, reference, kind, bias, shape, nthreads):
    run_pair(ckernels, reference, kind, bias, shape, "C", nthreads)


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("shape", LAYOUT_SHAPES_2D, ids=str)
@pytest.mark.parametrize("kind, bias", KINDS, ids=lambda v: str(v))
def test_c_equals_twin_layouts(ckernels, reference, kind, bias, shape, plan):
    run_pair(ckernels, reference, kind, bias, shape, plan, ALL_CORES, seed=1)


@pytest.mark.parametrize("rate", RATES + [1 - 2 ** -30, 1 - 2 ** -33])
@pytest.mark.parametrize("plan", ["C", "mixed", "in:neg", "out:strided"])
@pytest.mark.parametrize("kind, bias", KINDS, ids=lambda v: str(v))
def test_c_equals_twin_nonfinite_and_rates(ckernels, reference, kind, bias, plan, rate):
    """NaN/inf: kept -> NaN/inf * scale, dropped -> 0; every rate, the edges
    included (1 - 2**-30: float32(rate) == 1, scale = inf; 1 - 2**-33: the
    threshold is 2**32, nothing is kept)."""
    for shape in [(5, 7), (13, 33), PAR_SHAPE]:
        run_pair(ckernels, reference, kind, bias, shape, plan, ALL_CORES, seed=2,
                 nonfinite=0.1, rate=rate)


# ---------------------------------------------------------------------------
# the same bits for every thread count, SIMD level and layout
# ---------------------------------------------------------------------------

SPLIT_SHAPES = [(3, 8193), (128, 512), PAR_SHAPE, (1, 200003), (70001, 2)]


@pytest.mark.parametrize("shape", SPLIT_SHAPES, ids=str)
@pytest.mark.parametrize("kind, bias", KINDS, ids=lambda v: str(v))
def test_bits_independent_of_threads_and_simd(ckernels, kind, bias, shape):
    results = {}
    for level in levels_up_to(ckernels):
        for nthreads in (1, 2, 3, ALL_CORES):
            args, kwargs, outs = build(kind, shape, Plan("C"), np.random.default_rng(5),
                                       0.01, 0.3, bias)
            with simd_level(level):
                getattr(ckernels, FUNCS[kind])(*args, nthreads=nthreads, **kwargs)
            results[level, nthreads] = [np.array(_get(args, kwargs, k)) for k in outs]
    first = results["generic", 1]
    for key, val in results.items():
        what = "%s%s %s: %s differs from generic on one thread" % (
            kind, "+bias" if bias else "", shape, key)
        assert val[0].tobytes() == first[0].tobytes(), what
        for got, want in zip(val[1:], first[1:]):   # column sums: which NaN is free
            assert_same_bits_or_nan(got, want, what + " (bias_grad)")


@pytest.mark.parametrize("shape", [(7, 17), (33, 65), PAR_SHAPE], ids=str)
@pytest.mark.parametrize("func", ["dropout_forward_f32", "dropout_backward_f32"])
def test_bits_independent_of_layout(ckernels, func, shape):
    """The mask follows the logical index i*n + j, not the memory order: the
    same logical input in any layout, into an output of any layout, gives
    the same values."""
    x = randn(np.random.default_rng(6), shape)
    want = None
    for lin, lout in [("C", "C"), ("F", "C"), ("T", "F"), ("strided", "neg"),
                      ("neg", "strided"), ("negrow", "rowpad"), ("rowpad", "line"),
                      ("line", "negrow"), ("bcast", "C"), ("bcastcol", "F")]:
        xin = layout(x, lin)
        out = nan_out(shape, lout)
        getattr(ckernels, func)(xin, out, 0.35, SEED, STEP, nthreads=ALL_CORES)
        ref = np.ascontiguousarray(xin)   # what the broadcast layouts hold
        mask = np.asarray(out) != 0
        if want is None:
            want = mask
        assert np.array_equal(mask | (ref == 0), want | (ref == 0)), (lin, lout)
        assert np.ascontiguousarray(out).tobytes() == np.where(
            want, ref * mod_scale(0.35), np.float32(0)).tobytes(), (lin, lout)


def test_backward_mask_is_forward_mask(mod):
    x = randn(np.random.default_rng(7), (64, 129))
    y = np.empty_like(x)
    g = randn(np.random.default_rng(8), (64, 129))
    dx = np.empty_like(g)
    mod.dropout_forward_f32(x, y, 0.45, 99, 12)
    mod.dropout_backward_f32(g, dx, 0.45, 99, 12)
    assert np.array_equal(y != 0, dx != 0)
    scale = mod_scale(0.45)
    assert dx.tobytes() == np.where(y != 0, g * scale, np.float32(0)).tobytes()


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------

def masks(ck, shape, rate, seed, step):
    x = np.ones(shape, np.float32)
    out = np.empty_like(x)
    ck.dropout_forward_f32(x, out, rate, seed, step, nthreads=ALL_CORES)
    return out != 0


def within_sigmas(count, trials, p, what, sigmas=5.0):
    mean = trials * p
    sd = math.sqrt(trials * p * (1 - p))
    assert abs(count - mean) <= sigmas * sd, (
        "%s: %d of %d, expected %.1f +- %.1f (5 sigma)" % (what, count, trials, mean,
                                                          sigmas * sd))


@pytest.mark.parametrize("rate", [0.001, 0.1, 0.25, 0.5, 0.8, 0.99])
def test_keep_fraction(ckernels, rate):
    keep = masks(ckernels, (1000, 1000), rate, 2024, 1)
    p = 1 - math.ceil(rate * 2 ** 32) / 2 ** 32
    within_sigmas(int(keep.sum()), keep.size, p, "kept at rate %g" % rate)
    flat = keep.reshape(-1)
    for w in range(4):   # each word of a Philox block on its own
        part = flat[w::4]
        within_sigmas(int(part.sum()), part.size, p, "word %d at rate %g" % (w, rate))
    for axis in (0, 1):   # no row or column is special: a few extreme ones only
        counts = keep.sum(axis=axis)
        sd = math.sqrt(1000 * p * (1 - p))
        assert np.abs(counts - 1000 * p).max() <= 6 * sd, (rate, axis)


@pytest.mark.parametrize("other", ["next step", "next seed", "seed high word",
                                   "step high word", "neighbour"])
def test_masks_independent(ckernels, other):
    """P(both kept) = p**2 within 5 sigma for two masks that must be unrelated."""
    rate = 0.5
    a = masks(ckernels, (1000, 1000), rate, SEED, STEP)
    if other == "next step":
        b = masks(ckernels, (1000, 1000), rate, SEED, STEP + 1)
    elif other == "next seed":
        b = masks(ckernels, (1000, 1000), rate, SEED + 1, STEP)
    elif other == "seed high word":
        b = masks(ckernels, (1000, 1000), rate, SEED ^ (1 << 40), STEP)
    elif other == "step high word":
        b = masks(ckernels, (1000, 1000), rate, SEED, STEP ^ (1 << 40))
    else:  # element e against e + 1 (within and across Philox blocks)
        flat = a.reshape(-1)
        a, b = flat[:-1], flat[1:]
    p = 0.5
    both = int(np.logical_and(a, b).sum())
    within_sigmas(both, a.size, p * p, "both kept (%s)" % other)
    assert not np.array_equal(a, b)


# ---------------------------------------------------------------------------
# edge rates, aliasing, the fused backward
# ---------------------------------------------------------------------------

def test_rate_zero_is_identity(mod):
    x = randn(np.random.default_rng(9), (37, 53))
    inject_nonfinite(x, np.random.default_rng(10), 0.05)
    for func in ("dropout_forward_f32", "dropout_backward_f32"):
        out = np.full_like(x, 7)
        getattr(mod, func)(x, out, 0.0, SEED, STEP)
        assert np.array_equal(out, x, equal_nan=True)
        assert np.array_equal(np.signbit(out), np.signbit(x))


@pytest.mark.parametrize("rate", [1 - 2 ** -33, 1 - 2 ** -53])
def test_rate_rounding_to_drop_all(mod, rate):
    """ceil(rate * 2**32) == 2**32: no word reaches it, everything is dropped
    (to +0.0, NaN and inf inputs included)."""
    x = randn(np.random.default_rng(11), (50, 60))
    inject_nonfinite(x, np.random.default_rng(12), 0.05)
    out = np.full_like(x, 7)
    mod.dropout_forward_f32(x, out, rate, 1, 1)
    assert out.tobytes() == np.zeros_like(x).tobytes()


def test_tiny_rate_keeps_almost_all(mod):
    """rate = 1e-12: the threshold is 1, only a word of 0 drops."""
    x = randn(np.random.default_rng(13), (100, 100))
    out = np.empty_like(x)
    mod.dropout_forward_f32(x, out, 1e-12, 5, 6)
    assert np.array_equal(out, x)    # scale = 1/(1 - float32(1e-12)) = 1


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), float("inf"), -0.0 - 1e-300])
@pytest.mark.parametrize("func", ["dropout_forward_f32", "dropout_backward_f32"])
def test_bad_rates(mod, func, rate):
    x = np.ones((3, 4), np.float32)
    out = np.full_like(x, 5)
    with pytest.raises(ValueError, match="rate"):
        getattr(mod, func)(x, out, rate, 1, 1)
    assert np.all(out == 5), "a rejected call wrote its output"


@pytest.mark.parametrize("rate", [-0.5, 1.0, float("nan")])
def test_bad_rates_fused(mod, rate):
    g = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="rate"):
        mod.relu_dropout_backward_f32(g, g, np.empty_like(g), rate)


@pytest.mark.parametrize("seed, step, exc", [(-1, 0, ValueError), (2 ** 64, 0, ValueError),
                                             (0, -5, ValueError), (0, 2 ** 64, ValueError),
                                             (1.5, 0, TypeError), (0, "1", TypeError),
                                             (None, 0, TypeError)])
def test_bad_seed_or_step(mod, seed, step, exc):
    x = np.ones((2, 3), np.float32)
    with pytest.raises(exc):
        mod.dropout_forward_f32(x, np.empty_like(x), 0.5, seed, step)


def test_numpy_integer_seeds(mod):
    x = np.ones((4, 9), np.float32)
    a, b = np.empty_like(x), np.empty_like(x)
    mod.dropout_forward_f32(x, a, 0.5, np.uint64(2 ** 63 + 5), np.int64(3))
    mod.dropout_forward_f32(x, b, 0.5, 2 ** 63 + 5, 3)
    assert a.tobytes() == b.tobytes()


ALIASES = {
    "forward(x, out=x)": ("dropout_forward_f32", lambda a: ((a["x"], a["x"], 0.3, 3, 4), {})),
    "backward(g, out=g)": ("dropout_backward_f32", lambda a: ((a["g"], a["g"], 0.3, 3, 4), {})),
    "relu_dropout(g, y, out=g)": ("relu_dropout_backward_f32",
                                  lambda a: ((a["g"], a["y"], a["g"], 0.3),
                                             {"bias_grad": a["b"]})),
    "relu_dropout(g, y, out=y)": ("relu_dropout_backward_f32",
                                  lambda a: ((a["g"], a["y"], a["y"], 0.3), {})),
}


@pytest.mark.parametrize("lay", ["C", "F", "strided", "neg"])
@pytest.mark.parametrize("shape", [(5, 7), PAR_SHAPE], ids=str)
@pytest.mark.parametrize("alias", list(ALIASES))
def test_output_aliases_input(ckernels, reference, alias, shape, lay):
    func, pick = ALIASES[alias]

    def arrays():
        rng = np.random.default_rng(14)
        x = randn(rng, shape, 3.0)
        x.flat[::7] = np.nan
        y = np.maximum(randn(rng, shape), 0)
        return {"x": layout(x, lay), "g": layout(randn(rng, shape), lay),
                "y": layout(y, lay), "b": np.full(shape[1], np.nan, np.float32)}

    # the twin on separate copies is the truth
    a = arrays()
    args, kwargs = pick(a)
    args = [np.array(v, copy=True) if isinstance(v, np.ndarray) else v for v in args]
    kwargs = {k: np.array(v, copy=True) for k, v in kwargs.items()}
    getattr(reference, func)(*args, **kwargs)
    out_index = 2 if func == "relu_dropout_backward_f32" else 1
    for mod in (ckernels, reference):
        a = arrays()
        margs, mkwargs = pick(a)
        getattr(mod, func)(*margs, nthreads=ALL_CORES, **mkwargs)
        what = "%s %s (%s)" % (alias, lay, mod.__name__)
        assert np.ascontiguousarray(margs[out_index]).tobytes() == \
            np.ascontiguousarray(args[out_index]).tobytes(), what
        if "bias_grad" in mkwargs:
            out64 = np.asarray(args[out_index], np.float64)
            assert_within(mkwargs["bias_grad"], out64.sum(axis=0),
                          2 * (shape[0] + 1) * U * np.abs(out64).sum(axis=0), what)


def assert_same_bits_or_nan(got, want, what):
    """Equal bits, NaN where NaN.  (Which NaN a sum ends with is not part of
    any contract: when inf + -inf (x86's default NaN, sign set) meets a NaN
    input (sign clear), the operand order the compiler chose for that add
    decides, and it differs between two loops that add in the same order.)"""
    got, want = np.ascontiguousarray(got), np.ascontiguousarray(want)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), what + ": NaN positions differ"
    assert got[~nan].tobytes() == want[~nan].tobytes(), what + ": bits differ"


COMPOSE_RATES = [0.0, 0.2, 0.5, 0.9, 1 - 2 ** -30, 1 - 2 ** -33]


@pytest.mark.parametrize("rate", COMPOSE_RATES)
@pytest.mark.parametrize("nthreads", [1, 3, ALL_CORES])
@pytest.mark.parametrize("shape", [(1, 1), (7, 19), (128, 512), PAR_SHAPE], ids=str)
@pytest.mark.parametrize("plan", ["C", "mixed"])
def test_fused_backward_is_the_composition(ckernels, reference, shape, nthreads, rate, plan):
    """relu_dropout_backward(g, dropout(relu(z))) == relu_backward(
    dropout_backward(g), relu(z)), output and bias gradient, bit for bit, in C
    and in the twin, with zeros, NaN and inf in z and g."""
    rng = np.random.default_rng(15)
    z = randn(rng, shape)
    z.flat[::5] = 0
    g = randn(rng, shape)
    inject_nonfinite(z, rng, 0.03)
    inject_nonfinite(g, rng, 0.03)
    p = Plan(plan)
    for mod in (ckernels, reference):
        y_relu = mod.relu_f32(z, np.empty_like(z), nthreads=nthreads)
        y_drop = mod.dropout_forward_f32(y_relu, np.empty_like(z), rate, SEED, STEP,
                                         nthreads=nthreads)
        tmp = mod.dropout_backward_f32(layout(g, p("in")), np.empty_like(g), rate, SEED,
                                       STEP, nthreads=nthreads)
        want, want_b = nan_out(shape, p("out")), nan_out((shape[1],), p.vec("out"))
        mod.relu_backward_f32(tmp, layout(y_relu, p("in")), want, bias_grad=want_b,
                              nthreads=nthreads)
        got, got_b = nan_out(shape, p("out")), nan_out((shape[1],), p.vec("out"))
        mod.relu_dropout_backward_f32(layout(g, p("in")), layout(y_drop, p("in")), got,
                                      rate, bias_grad=got_b, nthreads=nthreads)
        what = "%s %s %s rate=%r" % (mod.__name__, shape, plan, rate)
        assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes(), what
        # the same summation order (C), the same NumPy call (twin): the same
        # bits, NaN in the same places
        assert_same_bits_or_nan(got_b, want_b, what + " bias_grad")


# ---------------------------------------------------------------------------
# bad calls (in a subprocess: a crash is a failed test)
# ---------------------------------------------------------------------------

BAD_CALLS = {
    "forward: out shape": "k.dropout_forward_f32(f(3, 4), f(4, 3), 0.5, 1, 2)",
    "forward: read-only out": "k.dropout_forward_f32(f(3, 4), ro(f(3, 4)), 0.5, 1, 2)",
    "forward: float64": "k.dropout_forward_f32(f(3, 4).astype(np.float64), f(3, 4), 0.5, 1, 2)",
    "forward: 1-D": "k.dropout_forward_f32(f(4), f(4), 0.5, 1, 2)",
    "forward: rate 1": "k.dropout_forward_f32(f(3, 4), f(3, 4), 1.0, 1, 2)",
    "forward: seed -1": "k.dropout_forward_f32(f(3, 4), f(3, 4), 0.5, -1, 2)",
    "forward: step 2**64": "k.dropout_forward_f32(f(3, 4), f(3, 4), 0.5, 1, 2**64)",
    "backward: out shape": "k.dropout_backward_f32(f(3, 4), f(3, 5), 0.5, 1, 2)",
    "backward: rate nan": "k.dropout_backward_f32(f(3, 4), f(3, 4), float('nan'), 1, 2)",
    "fused: y shape": "k.relu_dropout_backward_f32(f(3, 4), f(2, 4), f(3, 4), 0.5)",
    "fused: out shape": "k.relu_dropout_backward_f32(f(3, 4), f(3, 4), f(4, 4), 0.5)",
    "fused: bias_grad length": "k.relu_dropout_backward_f32(f(3, 4), f(3, 4), f(3, 4), 0.5, "
                               "bias_grad=f(3))",
    "fused: rate -1": "k.relu_dropout_backward_f32(f(3, 4), f(3, 4), f(3, 4), -1.0)",
    "philox: short counter": "k.philox4x32_10((1, 2, 3), (1, 2))",
    "philox: big key": "k.philox4x32_10((1, 2, 3, 4), (1, 2**32))",
}

_BAD_CALL_SCRIPT = r"""
import json, sys
import numpy as np
import fastdense._ckernels as k
def f(*shape): return np.ones(shape, np.float32)
def ro(a):
    a.flags.writeable = False
    return a
for name, code in json.loads(sys.argv[1]).items():
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
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            name, res = json.loads(line[7:])
            results[name] = res
    return results, proc


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_call_is_value_error(bad_call_results, name):
    results, proc = bad_call_results
    assert name in results, "%s: the process died (exit %s): %s" % (
        name, proc.returncode, proc.stderr[-2000:])
    assert results[name].startswith("ValueError"), "%s gave %s" % (name, results[name])


@pytest.mark.parametrize("func", ["dropout_forward_f32", "dropout_backward_f32",
                                  "relu_dropout_backward_f32"])
def test_reference_counts_unchanged(ckernels, func):
    x = randn(np.random.default_rng(16), (9, 17))
    out = np.empty_like(x)
    bias = np.empty(17, np.float32)
    if func == "relu_dropout_backward_f32":
        def call():
            return ckernels.relu_dropout_backward_f32(x, x, out, 0.5, bias_grad=bias)
    else:
        def call():
            return getattr(ckernels, func)(x, out, 0.5, 1, 2)
    call()
    before = [sys.getrefcount(o) for o in (x, out, bias)]
    for _ in range(200):
        ret = call()
    del ret
    assert [sys.getrefcount(o) for o in (x, out, bias)] == before


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0)], ids=str)
def test_empty(mod, shape):
    x = np.zeros(shape, np.float32)
    assert mod.dropout_forward_f32(x, np.empty_like(x), 0.5, 1, 2).shape == shape
    assert mod.dropout_backward_f32(x, np.empty_like(x), 0.5, 1, 2).shape == shape
    b = np.full(shape[1], np.nan, np.float32)
    mod.relu_dropout_backward_f32(x, x, np.empty_like(x), 0.5, bias_grad=b)
    assert np.all(b == 0)


# ---- a slice of a bigger batch: the `first` element offset ---------------------

@pytest.mark.parametrize("r0,r1", [(0, 5), (1, 9), (3, 4), (7, 13)])
@pytest.mark.parametrize("backward", [False, True])
def test_rows_of_a_batch_get_the_whole_batch_mask(ckernels, reference, r0, r1, backward):
    """Rows r0:r1 computed alone with first = r0*n give those rows of the
    whole batch's result, in C and in the twin (distributed training splits
    each global batch this way)."""
    m, n, rate, seed, step = 13, 7, 0.4, 99, 5
    x = np.random.default_rng(0).normal(size=(m, n)).astype(np.float32)
    name = "dropout_backward_f32" if backward else "dropout_forward_f32"
    for K in (ckernels, reference):
        whole = getattr(K, name)(x, np.empty_like(x), rate, seed, step)
        part = getattr(K, name)(x[r0:r1], np.empty((r1 - r0, n), np.float32), rate, seed,
                                step, first=r0 * n)
        np.testing.assert_array_equal(part, whole[r0:r1])
    np.testing.assert_array_equal(
        reference.dropout_mask((r1 - r0, n), rate, seed, step, first=r0 * n),
        reference.dropout_mask((m, n), rate, seed, step)[r0:r1])
