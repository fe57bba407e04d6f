"""fastdense.regularizers and the kernel behind it (src_c/regularize.c).

* The module: Keras 2.3.1 names and defaults (l1, l2, l1_l2 -> L1L2 with
  float32 factors), Keras 3's L1 / L2 / L1L2, get / serialize / deserialize
  round trips, and ValueErrors for bad factors and identifiers.
* The kernel l1l2_penalty_grad_f32 (C and twin): the gradient
  g += float32(l1)*sign(w) + float32(2*l2)*w is bit-identical between C and
  the twin over shapes, layouts, thread counts and SIMD levels, and matches
  central finite differences of the float64 penalty; the penalty is within
  the forward error bound of a sum of N non-negative terms in double,
  (N + 2) * 2**-53 * (l1*sum|w| + l2*sum w^2), of the exact (math.fsum)
  value, and the C penalty is the same bits for every thread count, SIMD
  level and layout (its summation order is fixed by the logical shape).
* Zero factors leave their term out (no NaN from 0 * inf), NaN weights give
  NaN, the all-zero regularizer touches nothing.
"""
import math

import numpy as np
import pytest

from arrays import LAYOUT_SHAPES_2D, PAR_SHAPE, SHAPES_2D, inject_nonfinite, layout
from test_kernels import ALL_CORES, PLANS, Plan, levels_up_to, randn, simd_level

from fastdense import regularizers

F32 = np.float32
U64 = 2.0 ** -53

FACTORS = [(0.01, 0.0), (0.0, 0.01), (0.01, 0.01), (0.3, 1.7), (1e-6, 2.5)]


@pytest.fixture(params=["c", "numpy"])
def mod(request, ckernels, reference):
    return ckernels if request.param == "c" else reference


# ---------------------------------------------------------------------------
# the module
# ---------------------------------------------------------------------------

def test_keras_2_3_1_factories():
    r = regularizers.l1()
    assert type(r) is regularizers.L1L2 and r.l1 == float(F32(0.01)) and r.l2 == 0.0
    r = regularizers.l2()
    assert type(r) is regularizers.L1L2 and r.l1 == 0.0 and r.l2 == float(F32(0.01))
    r = regularizers.l1_l2()
    assert r.l1 == float(F32(0.01)) and r.l2 == float(F32(0.01))
    r = regularizers.l1_l2(l1=0.5, l2=0.25)
    assert (r.l1, r.l2) == (0.5, 0.25)
    assert regularizers.l1(0.1).get_config() == {"l1": float(F32(0.1)), "l2": 0.0}
    assert regularizers.l2(l=0.2).l2 == float(F32(0.2))


def test_keras_3_classes():
    assert regularizers.L1().l1 == float(F32(0.01))
    assert regularizers.L1().get_config() == {"l1": float(F32(0.01))}
    assert regularizers.L2(0.5).get_config() == {"l2": 0.5}
    assert regularizers.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.L1(None).l1 == float(F32(0.01))   # Keras 3: None -> default
    assert regularizers.L1L2(None, None).get_config() == {"l1": 0.0, "l2": 0.0}
    assert isinstance(regularizers.L1(), regularizers.Regularizer)
    assert repr(regularizers.L1L2(0.5, 0.25)) == "L1L2(l1=0.5, l2=0.25)"


@pytest.mark.parametrize("name, want", [
    ("l1", (regularizers.L1L2, 0.01, 0.0)), ("l2", (regularizers.L1L2, 0.0, 0.01)),
    ("l1_l2", (regularizers.L1L2, 0.01, 0.01)), ("L1", (regularizers.L1, 0.01, 0.0)),
    ("L2", (regularizers.L2, 0.0, 0.01)), ("L1L2", (regularizers.L1L2, 0.0, 0.0))])
def test_get_by_name(name, want):
    r = regularizers.get(name)
    cls, l1, l2 = want
    assert type(r) is cls
    assert (r.l1, r.l2) == (float(F32(l1)), float(F32(l2)))


def test_get_other_identifiers():
    assert regularizers.get(None) is None
    r = regularizers.L1L2(0.1, 0.2)
    assert regularizers.get(r) is r
    d = regularizers.get({"class_name": "L1L2", "config": {"l1": 0.5, "l2": 0.0}})
    assert type(d) is regularizers.L1L2 and (d.l1, d.l2) == (0.5, 0.0)
    assert type(regularizers.get({"class_name": "Regularizer", "config": {}})) is \
        regularizers.Regularizer


@pytest.mark.parametrize("bad", ["l3", "L1l2", "", 3, 0.01, [0.01], lambda w: 0.0,
                                 {"config": {}}, {"class_name": "L1", "config": 3},
                                 {"class_name": "L1", "config": {"l2": 0.1}},
                                 {"class_name": "nope", "config": {}}])
def test_get_bad_identifiers(bad):
    with pytest.raises(ValueError):
        regularizers.get(bad)


@pytest.mark.parametrize("reg", [regularizers.l1(0.3), regularizers.l2(0.125),
                                 regularizers.l1_l2(0.1, 0.2), regularizers.L1(0.7),
                                 regularizers.L2(0.01), regularizers.L1L2(),
                                 regularizers.Regularizer()], ids=repr)
def test_serialize_round_trip(reg):
    config = regularizers.serialize(reg)
    assert config == {"class_name": type(reg).__name__, "config": reg.get_config()}
    back = regularizers.deserialize(config)
    assert type(back) is type(reg) and back.get_config() == reg.get_config()
    again = regularizers.get(dict(config, module="keras.regularizers",
                                  registered_name=None))   # Keras 3's extra keys
    assert type(again) is type(reg) and again.get_config() == reg.get_config()
    assert type(reg).from_config(reg.get_config()).get_config() == reg.get_config()


def test_serialize_none_and_custom_objects():
    assert regularizers.serialize(None) is None

    class Mine(regularizers.L1L2):
        pass
    r = regularizers.deserialize({"class_name": "Mine", "config": {"l1": 0.5}},
                                 custom_objects={"Mine": Mine})
    assert type(r) is Mine and r.l1 == 0.5
    with pytest.raises(ValueError):
        regularizers.serialize(lambda w: 0.0)


@pytest.mark.parametrize("value", [-0.01, -1e-300, float("nan"), float("inf"),
                                   -float("inf"), "0.01", True, [0.1], 1e39, complex(1, 0)])
@pytest.mark.parametrize("make", ["l1", "l2", "l1_l2", "L1", "L2", "L1L2"])
def test_bad_factors(make, value):
    fn = getattr(regularizers, make)
    with pytest.raises(ValueError):
        fn(value)
    if make in ("l1_l2", "L1L2"):
        with pytest.raises(ValueError):
            fn(0.01, value)


def test_l2_too_large_for_its_gradient():
    """2*l2 must be a finite float32 (the gradient factor)."""
    regularizers.l2(1.7e38)
    with pytest.raises(ValueError, match="too large"):
        regularizers.l2(1.8e38)


def test_assignment_is_validated():
    r = regularizers.l1_l2(0.1, 0.2)
    with pytest.raises(ValueError):
        r.l1 = -1
    with pytest.raises(ValueError):
        r.l2 = float("nan")
    assert (r.l1, r.l2) == (float(F32(0.1)), float(F32(0.2)))
    r.l2 = 3
    assert r.l2 == 3.0 and isinstance(r.l2, float)
    r.l1 = np.float32(0.5)
    assert r.l1 == 0.5


def test_numpy_scalar_and_int_factors():
    assert regularizers.l1(np.float64(0.5)).l1 == 0.5
    assert regularizers.l2(np.float32(0.25)).l2 == 0.25
    assert regularizers.l1_l2(1, 2).get_config() == {"l1": 1.0, "l2": 2.0}


@pytest.mark.parametrize("l1, l2", FACTORS)
def test_call_is_the_formula(l1, l2):
    w = randn(np.random.default_rng(30), (17, 9), 2.0)
    r = regularizers.l1_l2(l1, l2)
    w64 = w.astype(np.float64)
    want = float(F32(l1)) * np.abs(w64).sum() + float(F32(l2)) * np.square(w64).sum()
    assert r(w) == pytest.approx(want, rel=1e-14)
    assert r(w.tolist()) == pytest.approx(want, rel=1e-14)
    assert r(w[0, 0]) == pytest.approx(float(F32(l1)) * abs(float(w[0, 0])) +
                                       float(F32(l2)) * float(w[0, 0]) ** 2, rel=1e-14)
    assert regularizers.Regularizer()(w) == 0.0


def test_call_leaves_out_zero_terms():
    w = np.array([1.0, np.inf, -2.0])
    assert regularizers.l1(0.5)(w) == np.inf
    assert regularizers.L1L2(0.0, 0.0)(w) == 0.0   # no 0 * inf
    assert regularizers.l2(0.5)(np.array([3.0, -4.0])) == 12.5


# ---------------------------------------------------------------------------
# the kernel: gradient bits, penalty bound
# ---------------------------------------------------------------------------

def penalty_truth(w, l1, l2):
    """The exact penalty of the float32 weights (fsum) and the error bound."""
    w64 = np.asarray(w, np.float64).reshape(-1)
    n = w64.size
    s1 = math.fsum(np.abs(w64)) if l1 else 0.0
    s2 = math.fsum(w64 * w64) if l2 else 0.0
    truth = l1 * s1 + l2 * s2
    return truth, (n + 2) * U64 * truth + 1e-300


def grad_want(w, g0, l1, l2):
    """The float32 expression of the gradient, written out once more."""
    c1, c2 = F32(l1), F32(2.0 * l2)
    s = np.sign(w)
    if l1 and l2:
        return g0 + (c1 * s + c2 * w)
    if l1:
        return g0 + c1 * s
    if l2:
        return g0 + c2 * w
    return g0.copy()


def run_case(mod, shape, plan, nthreads, l1, l2, seed=0, nonfinite=0.0, grad=True):
    rng = np.random.default_rng(seed)
    w = randn(rng, shape, 1.5)
    w.flat[::11] = 0
    if w.size > 3:
        w.flat[3] = -0.0
    if nonfinite:
        inject_nonfinite(w, rng, nonfinite)
    g0 = randn(rng, shape, 0.1)
    p = Plan(plan)
    wl = layout(w, p("in"))
    w = np.array(wl)   # the logical weights (broadcast layouts repeat a row/column)
    gl = layout(g0, p("out")) if grad else None
    pen = mod.l1l2_penalty_grad_f32(wl, gl, l1, l2, nthreads=nthreads)
    assert isinstance(pen, float)
    assert np.array_equal(np.asarray(wl), w, equal_nan=True), "the weights changed"
    return w, g0, (None if gl is None else np.ascontiguousarray(gl)), pen


def check_case(w, g0, g, pen, l1, l2, what):
    if g is not None:
        want = np.ascontiguousarray(grad_want(w, g0, l1, l2))
        nan = np.isnan(want)
        assert np.array_equal(np.isnan(g), nan), what + ": NaN positions"
        assert g[~nan].tobytes() == want[~nan].tobytes(), what + ": gradient bits"
    truth, bound = penalty_truth(w, l1, l2)
    if math.isnan(truth) or math.isinf(truth):
        assert pen == truth or (math.isnan(pen) and math.isnan(truth)), (what, pen, truth)
    else:
        assert abs(pen - truth) <= bound, "%s: penalty %r, exact %r, bound %.3g" % (
            what, pen, truth, bound)


@pytest.mark.parametrize("l1, l2", FACTORS)
@pytest.mark.parametrize("nthreads", [1, ALL_CORES])
@pytest.mark.parametrize("shape", SHAPES_2D + [(784, 512), (1, 407050)], ids=str)
def test_kernel_shapes(mod, shape, nthreads, l1, l2):
    l1, l2 = float(F32(l1)), float(F32(l2))
    w, g0, g, pen = run_case(mod, shape, "C", nthreads, l1, l2)
    check_case(w, g0, g, pen, l1, l2, "%s %s" % (shape, mod.__name__))


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("shape", LAYOUT_SHAPES_2D, ids=str)
def test_kernel_layouts(mod, shape, plan):
    w, g0, g, pen = run_case(mod, shape, plan, ALL_CORES, 0.25, 0.5, seed=1)
    check_case(w, g0, g, pen, 0.25, 0.5, "%s %s %s" % (shape, plan, mod.__name__))


@pytest.mark.parametrize("l1, l2", FACTORS)
@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (13, 33), PAR_SHAPE], ids=str)
def test_kernel_nonfinite(mod, shape, l1, l2):
    w, g0, g, pen = run_case(mod, shape, "mixed", ALL_CORES, l1, l2, seed=2,
                             nonfinite=0.05)
    check_case(w, g0, g, pen, l1, l2, "%s nonfinite %s" % (shape, mod.__name__))


@pytest.mark.parametrize("shape", [(5, 7), (784, 512)], ids=str)
def test_penalty_only(mod, shape):
    w, g0, g, pen = run_case(mod, shape, "C", ALL_CORES, 0.01, 0.02, grad=False)
    check_case(w, g0, None, pen, 0.01, 0.02, "penalty only")
    _, _, _, pen2 = run_case(mod, shape, "C", ALL_CORES, 0.01, 0.02, grad=True)
    assert pen2 == pen


def test_c_gradient_equals_twin(ckernels, reference):
    for shape, plan in [((31, 33), "mixed"), (PAR_SHAPE, "in:F"), ((1, 100003), "C")]:
        for l1, l2 in FACTORS:
            w, _, gc, pc = run_case(ckernels, shape, plan, ALL_CORES, l1, l2, seed=3)
            _, _, gr, pr = run_case(reference, shape, plan, 1, l1, l2, seed=3)
            assert gc.tobytes() == gr.tobytes(), (shape, plan, l1, l2)
            _, bound = penalty_truth(w, l1, l2)
            assert abs(pc - pr) <= 2 * bound, (shape, plan, l1, l2, pc, pr)


@pytest.mark.parametrize("shape", [(784, 512), (1, 407050), (512, 10), PAR_SHAPE, (3, 20000)],
                         ids=str)
def test_c_penalty_bits_independent_of_threads_simd_layout(ckernels, shape):
    pens, grads = set(), set()
    for level in levels_up_to(ckernels):
        for nthreads in (1, 2, 3, ALL_CORES):
            for plan in ("C", "in:F", "in:strided", "mixed"):
                with simd_level(level):
                    _, _, g, pen = run_case(ckernels, shape, plan, nthreads, 0.01, 0.02,
                                            seed=4)
                pens.add(pen.hex())
                grads.add(g.tobytes())
    assert len(pens) == 1, "penalty bits vary: %s" % sorted(pens)
    assert len(grads) == 1


@pytest.mark.parametrize("l1, l2", FACTORS)
def test_gradient_matches_finite_differences(mod, l1, l2):
    """(P(w + h e_k) - P(w - h e_k)) / 2h of the float64 penalty, at weights
    away from 0 (where |w| is smooth): exact for these piecewise quadratics,
    up to float64 rounding; the kernel's increment is float32."""
    l1, l2 = float(F32(l1)), float(F32(l2))
    rng = np.random.default_rng(5)
    w = randn(rng, (6, 7), 1.0)
    w[np.abs(w) < 0.05] = 0.5
    g = np.zeros_like(w)
    mod.l1l2_penalty_grad_f32(w, g, l1, l2)
    w64, h = w.astype(np.float64), 1e-3

    def P(v):
        return l1 * np.abs(v).sum() + l2 * np.square(v).sum()
    for k in range(w.size):
        e = np.zeros_like(w64)
        e.flat[k] = h
        fd = (P(w64 + e) - P(w64 - e)) / (2 * h)
        scale = l1 + 2 * l2 * abs(w64.flat[k])
        assert abs(g.flat[k] - fd) <= 4 * 2.0 ** -24 * scale + 1e-9 * (1 + scale), (k, g.flat[k], fd)


def test_zero_factor_leaves_its_term_out(mod):
    """l2 = 0: an inf weight gets l1*sign(inf) = l1, not l1 + 0*inf = NaN; and
    a NaN weight gives NaN through sign(NaN), as K.sign in Keras."""
    w = np.array([[np.inf, -np.inf, np.nan, 0.0, -0.0, 2.0]], np.float32)
    g = np.zeros_like(w)
    pen = mod.l1l2_penalty_grad_f32(w, g, 0.5, 0.0)
    assert math.isnan(pen)
    assert g[0, [0, 1, 3, 4, 5]].tolist() == [0.5, -0.5, 0.0, 0.0, 0.5]
    assert math.isnan(g[0, 2])
    g = np.zeros_like(w[:, [0, 1, 3, 5]])
    assert mod.l1l2_penalty_grad_f32(w[:, [0, 1, 3, 5]], g, 0.5, 0.0) == np.inf
    g = np.ones((1, 3), np.float32)
    assert mod.l1l2_penalty_grad_f32(np.array([[1.0, -3.0, 0.0]], np.float32), g, 0.0,
                                     0.5) == 5.0
    assert g.tolist() == [[2.0, -2.0, 1.0]]


def test_zero_regularizer_touches_nothing(mod):
    w = np.array([[np.nan, np.inf, 1.0]], np.float32)
    g = np.array([[-0.0, np.nan, 3.0]], np.float32)
    before = g.tobytes()
    assert mod.l1l2_penalty_grad_f32(w, g, 0.0, 0.0) == 0.0
    assert g.tobytes() == before


def test_sign_of_zero(mod):
    """sign(+-0) = +0: the l1 term adds nothing, and -0.0 + (+0.0) = +0.0."""
    w = np.array([[0.0, -0.0, 0.0]], np.float32)
    g = np.array([[-0.0, -0.0, 1.0]], np.float32)
    mod.l1l2_penalty_grad_f32(w, g, 0.5, 0.0)
    assert g.tobytes() == np.array([[0.0, 0.0, 1.0]], np.float32).tobytes()


@pytest.mark.parametrize("l1, l2", [(-0.1, 0.0), (0.0, -1.0), (float("nan"), 0.0),
                                    (0.0, float("inf")), (3.5e38, 0.0), (0.0, 1.8e38)])
def test_kernel_bad_factors(mod, l1, l2):
    w = np.ones((2, 3), np.float32)
    g = np.zeros_like(w)
    with pytest.raises(ValueError):
        mod.l1l2_penalty_grad_f32(w, g, l1, l2)
    assert np.all(g == 0)


def test_kernel_bad_shapes(ckernels):
    with pytest.raises(ValueError):
        ckernels.l1l2_penalty_grad_f32(np.ones((2, 3), np.float32),
                                       np.ones((3, 2), np.float32), 0.1, 0.1)
    with pytest.raises(ValueError):
        ckernels.l1l2_penalty_grad_f32(np.ones((2, 3)), None, 0.1, 0.1)
    ro = np.ones((2, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        ckernels.l1l2_penalty_grad_f32(np.ones((2, 3), np.float32), ro, 0.1, 0.1)


@pytest.mark.parametrize("shape", [(0, 0), (0, 4), (4, 0)], ids=str)
def test_kernel_empty(mod, shape):
    w = np.zeros(shape, np.float32)
    assert mod.l1l2_penalty_grad_f32(w, np.zeros_like(w), 0.1, 0.1) == 0.0


# ---------------------------------------------------------------------------
# the regularizer object on the kernels
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("reg", [regularizers.l1(0.3), regularizers.l2(0.125),
                                 regularizers.l1_l2(0.1, 0.2), regularizers.L1(),
                                 regularizers.L2(), regularizers.L1L2()], ids=repr)
def test_penalty_and_grad_methods(mod, reg):
    w = randn(np.random.default_rng(6), (20, 30))
    g = randn(np.random.default_rng(7), (20, 30), 0.1)
    g0 = g.copy()
    pen = reg.penalty_and_grad(mod, w, g, nthreads=ALL_CORES)
    assert pen == pytest.approx(reg(w), rel=1e-12, abs=0)
    assert g.tobytes() == grad_want(w, g0, reg.l1, reg.l2).tobytes()
    assert reg.penalty(mod, w, nthreads=1) == pytest.approx(reg(w), rel=1e-12, abs=0)
    # a bias is a (1, n) view of a 1-D vector
    b = randn(np.random.default_rng(8), (30,))
    gb = np.zeros_like(b)
    reg.penalty_and_grad(mod, b.reshape(1, -1), gb.reshape(1, -1))
    assert gb.tobytes() == grad_want(b, np.zeros_like(b), reg.l1, reg.l2).tobytes()


def test_base_and_custom_regularizers(mod):
    w = np.ones((2, 2), np.float32)
    g = np.zeros_like(w)
    base = regularizers.Regularizer()
    assert base.penalty_and_grad(mod, w, g) == 0.0 and base.penalty(mod, w) == 0.0
    assert np.all(g == 0)

    class Custom(regularizers.Regularizer):
        def __call__(self, x):
            return 1.0
    with pytest.raises(NotImplementedError, match="penalty_and_grad"):
        Custom().penalty_and_grad(mod, w, g)
    with pytest.raises(NotImplementedError):
        Custom().penalty(mod, w)
