"""fastdense.ops against the NumPy expressions it stands in for.

Every case is run twice on fresh, identical arguments: once through the NumPy
expression, once through ``fastdense.ops``; then

* if NumPy raised, ops must raise the same class (its nearest built-in
  exception class, and AxisError for AxisError);
* else the results must agree: ndarray vs NumPy scalar, shape, dtype, NaN and
  +-inf positions, values within the op's float32 error bound (exact for
  add/relu/masks); ``out=`` is returned as the very same object;
* every argument is left as NumPy leaves it (inputs unchanged, outputs and
  in-place updates filled alike).

Each test runs under both backends (``any_backend``); the C one is where the
float32 fast paths are exercised.
"""
import numpy as np
import pytest

from arrays import EPS32, assert_same_nonfinite, assert_within, layout

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
import hypothesis.extra.numpy as hnp  # noqa: E402

from fastdense import ops  # noqa: E402

# The backend fixture holds for all the examples of one test: that is intended.
hyp_settings = settings(suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])

pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]

# ---------------------------------------------------------------------------
# the NumPy side
# ---------------------------------------------------------------------------


def np_dot(a, b, out=None):
    return np.dot(a, b) if out is None else np.dot(a, b, out=out)


def np_add(x, y, out=None):
    return np.add(x, y) if out is None else np.add(x, y, out=out)


def np_relu(x, out=None):
    return np.maximum(x, 0) if out is None else np.maximum(x, 0, out=out)


def np_softmax(x, axis=-1, out=None):
    # a list has no .max(): the expression is meant on np.asarray(x), as the
    # issue says lists go to NumPy
    x = np.asarray(x) if isinstance(x, (list, tuple)) else x
    e = np.exp(x - x.max(axis, keepdims=True))
    res = e / e.sum(axis, keepdims=True)
    if out is None:
        return res
    out[...] = res
    return out


def np_relu_backward(grad, y, out=None):
    res = np.where(y > 0, grad, 0)
    if out is None:
        return res
    out[...] = res
    return out


def np_bias_grad(grad, out=None):
    return grad.sum(axis=0) if out is None else np.sum(grad, axis=0, out=out)


# ---------------------------------------------------------------------------
# tolerances: error bounds of a float kernel, doubled (both sides round)
# ---------------------------------------------------------------------------

def _eps(dtype):
    dtype = np.dtype(dtype)
    return float(np.finfo(dtype).eps) / 2 if dtype.kind in "fc" else 0.0


def tol_exact(result, args, kwargs):
    return 0.0


def tol_dot(result, args, kwargs):
    a, b = (np.asarray(v) for v in args[:2])
    if a.ndim == 0 or b.ndim == 0:
        return 4 * _eps(result.dtype) * np.abs(np.asarray(result, np.float64))
    k = a.shape[-1]
    with np.errstate(all="ignore"):
        mag = np.abs(np.dot(np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64))))
    return 4 * (k + 2) * _eps(result.dtype) * np.nan_to_num(mag, posinf=0)


def tol_sum0(result, args, kwargs):
    g = np.asarray(args[0], np.float64)
    m = g.shape[0] if g.ndim else 1
    with np.errstate(all="ignore"):
        mag = np.abs(g).sum(axis=0)
    return 4 * (m + 1) * _eps(result.dtype) * np.nan_to_num(mag, posinf=0)


def tol_softmax(result, args, kwargs):
    x = np.asarray(args[0], np.float64)
    axis = kwargs.get("axis", args[1] if len(args) > 1 else -1)
    with np.errstate(all="ignore"):
        z = x - x.max(axis, keepdims=True)
        n = x.size if axis is None or x.ndim == 0 else x.shape[axis]
        p = np.asarray(result, np.float64)
        z = np.where(np.isfinite(z), z, 0)
    return 2 * _eps(result.dtype) * (np.abs(z) + n + 6) * np.abs(np.nan_to_num(p)) + 1e-43


# ---------------------------------------------------------------------------
# the comparator
# ---------------------------------------------------------------------------

def _builtin_class(exc_type):
    for cls in exc_type.__mro__:
        if cls.__module__ == "builtins":
            return cls
    return Exception


def _expected_class(exc):
    if isinstance(exc, np.exceptions.AxisError):
        return np.exceptions.AxisError
    return _builtin_class(type(exc))


def _run(fn, args, kwargs):
    try:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs), None
    except Exception as exc:  # noqa: BLE001 - the class is what is compared
        return None, exc


def _as_cmp(v):
    return v if isinstance(v, (np.ndarray, np.generic)) else np.asarray(v)


def dot_ieee_disagreement(want, args):
    """Where NumPy's BLAS and IEEE arithmetic disagree on NaN.

    OpenBLAS skips the products with a zero factor in some paths (k == 1,
    a single row: ``np.dot([0.], [[nan, nan]])`` is ``[0., 0.]``), so NaN
    there is BLAS-dependent: at those positions either answer is accepted.
    """
    a, b = (np.asarray(v) for v in args[:2])
    if a.dtype.kind not in "fc" and b.dtype.kind not in "fc":
        return None
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(all="ignore"):
        if a64.ndim == 0 or b64.ndim == 0:
            return None
        exact = np.einsum("...k,k->...", a64, b64, optimize=False) if b64.ndim == 1 else \
            np.einsum("...k,kn->...n", a64, b64, optimize=False) if b64.ndim == 2 else None
    if exact is None:
        return None
    exact = np.asarray(exact)
    if exact.shape != want.shape:
        return None
    return np.isnan(exact) != np.isnan(want)


def assert_like_numpy(make, np_fn, ops_fn, tol=tol_exact, what="", relax=None):
    """``make()`` returns fresh ``(args, kwargs)``; see the module docstring.

    ``relax(want, args)`` may give a mask of result positions where NumPy's own
    answer is platform-dependent; ops may put either NaN or NumPy's value there."""
    args_n, kw_n = make()
    args_o, kw_o = make()
    want, exc_n = _run(np_fn, args_n, kw_n)
    got, exc_o = _run(ops_fn, args_o, kw_o)
    if exc_n is not None:
        expected = _expected_class(exc_n)
        assert exc_o is not None, "%s: NumPy raises %s (%s) but ops returned %r" % (
            what, type(exc_n).__name__, exc_n, got)
        assert isinstance(exc_o, expected), "%s: NumPy raises %s (%s), ops %s (%s)" % (
            what, type(exc_n).__name__, exc_n, type(exc_o).__name__, exc_o)
        return
    if exc_o is not None:
        raise AssertionError("%s: NumPy returns, ops raises %s: %s"
                             % (what, type(exc_o).__name__, exc_o)) from exc_o
    # the result: the same type (ndarray, NumPy scalar, np.matrix...)
    assert type(got) is type(want), \
        "%s: ops returned %s, NumPy %s" % (what, type(got).__name__, type(want).__name__)
    got_a, want_a = _as_cmp(got), _as_cmp(want)
    assert got_a.shape == want_a.shape, "%s: shape %s != NumPy's %s" % (what, got_a.shape, want_a.shape)
    assert got_a.dtype == want_a.dtype, "%s: dtype %s != NumPy's %s" % (what, got_a.dtype, want_a.dtype)
    bound = tol(want_a, args_n, kw_n)
    loose = relax(want_a, args_n) if relax is not None else None
    if loose is not None and loose.any():
        got_a, want_a = np.array(got_a, copy=True), np.array(want_a, copy=True)
        take = loose & np.isnan(got_a)
        got_a[take] = want_a[take]  # NaN where BLAS gave a number: accepted
        take = loose & np.isnan(want_a)
        want_a[take] = got_a[take]  # a number where BLAS gave NaN: accepted
    _assert_values(got_a, want_a, bound, what)
    if kw_n.get("out") is not None and want is kw_n["out"]:
        # (np.dot with a 0-d out returns a scalar, not out: then neither need)
        assert got is kw_o["out"], "%s: out= was not returned as the same object" % what
    # side effects: every array argument ends as NumPy leaves it
    scalar_bound = float(np.max(bound)) if np.size(bound) else 0.0
    out_n = kw_n.get("out")
    for i, (a_n, a_o) in enumerate(zip(list(args_n) + list(kw_n.values()),
                                       list(args_o) + list(kw_o.values()))):
        if not isinstance(a_n, np.ndarray):
            continue
        written = out_n is not None and np.may_share_memory(a_n, out_n)
        _assert_values(a_o, a_n, scalar_bound if written else 0.0,
                       "%s: argument %d after the call" % (what, i))


def _assert_values(got, want, bound, what):
    if want.dtype.kind in "fc":
        assert_within(got, want, bound, what)
    else:
        assert np.array_equal(got, want), "%s: %r != %r" % (what, got, want)


def same_args(*values, **kwvalues):
    """A ``make`` returning fresh copies of the arguments, same strides and
    offsets (and the same aliasing between them)."""
    return _fixed(list(values), kwvalues)


# ---------------------------------------------------------------------------
# explicit cases
# ---------------------------------------------------------------------------

F32 = np.float32
rng0 = np.random.default_rng(0)


def rnd(shape, dtype=F32, lay="C", seed=0, scale=1.0):
    r = np.random.default_rng(seed)
    v = r.standard_normal(shape) * scale
    if np.dtype(dtype).kind in "iu":
        v = np.round(v * 5)
    v = v.astype(dtype)
    return layout(v, lay) if v.ndim in (1, 2) else v


def unaligned(shape, seed=0):
    """A float32 array whose data pointer is not 4-byte aligned."""
    vals = rnd(shape, seed=seed)
    buf = np.zeros(vals.nbytes + 1, np.uint8)
    arr = np.ndarray(shape, F32, buffer=buf, offset=1)
    arr[...] = vals
    assert not arr.flags.aligned
    return arr


def odd_stride(shape, seed=0):
    """A float32 view with a byte stride that is not a multiple of 4."""
    rec = np.zeros(shape, dtype=[("a", "<f4"), ("b", "u1")])
    rec["a"] = rnd(shape, seed=seed)
    return rec["a"]


def exotic(kind, shape, seed=0):
    if kind == "big-endian":
        return rnd(shape, seed=seed).astype(">f4")
    if kind == "unaligned":
        return unaligned(shape, seed)
    if kind == "odd stride":
        return odd_stride(shape, seed)
    if kind == "matrix":
        return np.asmatrix(rnd(shape, seed=seed))
    if kind == "readonly":
        a = rnd(shape, seed=seed)
        a.flags.writeable = False
        return a
    raise ValueError(kind)


EXOTIC = ["big-endian", "unaligned", "odd stride", "matrix", "readonly"]


def with_specials(a):
    a = np.array(a, copy=True)
    flat = a.reshape(-1)
    for i, s in zip(range(0, flat.size, max(1, flat.size // 5)), [np.nan, np.inf, -np.inf, np.nan, 0]):
        flat[i] = s
    return a


DOT_CASES = {
    "2d@2d": lambda: (rnd((5, 7)), rnd((7, 3), seed=1)),
    "2d@2d F": lambda: (rnd((5, 7), lay="F"), rnd((7, 3), lay="F", seed=1)),
    "2d@2d T,strided": lambda: (rnd((5, 7), lay="T"), rnd((7, 3), lay="strided", seed=1)),
    "2d@2d neg,negrow": lambda: (rnd((13, 17), lay="neg"), rnd((17, 33), lay="negrow", seed=1)),
    "blocking sizes": lambda: (rnd((145, 257)), rnd((257, 33), seed=1)),
    "training shape": lambda: (rnd((128, 784)), rnd((784, 10), seed=1)),
    "k=0": lambda: (rnd((4, 0)), rnd((0, 3))),
    "m=0": lambda: (rnd((0, 4)), rnd((4, 3))),
    "n=0": lambda: (rnd((3, 4)), rnd((4, 0))),
    "1d.1d": lambda: (rnd(7), rnd(7, seed=1)),
    "1d.1d empty": lambda: (rnd(0), rnd(0)),
    "2d.1d": lambda: (rnd((5, 7)), rnd(7, seed=1)),
    "1d.2d": lambda: (rnd(7), rnd((7, 4), seed=1)),
    "1d neg.2d T": lambda: (rnd(7, lay="neg"), rnd((7, 4), lay="T", seed=1)),
    "0-d * 2d": lambda: (np.float32(2.5), rnd((3, 4))),
    "0-d array * 1d": lambda: (np.array(2.5, F32), rnd(4)),
    "3d@2d": lambda: (rnd((2, 3, 4)), rnd((4, 5), seed=1)),
    "2d@3d": lambda: (rnd((3, 4)), rnd((2, 4, 5), seed=1)),
    "f64": lambda: (rnd((5, 7), np.float64), rnd((7, 3), np.float64, seed=1)),
    "f32@f64": lambda: (rnd((5, 7)), rnd((7, 3), np.float64, seed=1)),
    "int": lambda: (rnd((5, 7), np.int64), rnd((7, 3), np.int32, seed=1)),
    "f16": lambda: (rnd((5, 7), np.float16), rnd((7, 3), np.float16, seed=1)),
    "lists": lambda: ([[1.0, 2.0], [3.0, 4.0]], [[1.0], [2.0]]),
    "f32@list": lambda: (rnd((2, 2)), [[1.0], [2.0]]),
    "nan/inf": lambda: (with_specials(rnd((6, 5))), rnd((5, 4), seed=1)),
    "bad shapes": lambda: (rnd((5, 7)), rnd((6, 3))),
    "bad 1d": lambda: (rnd(5), rnd(6)),
    **{"exotic " + k: (lambda k=k: (exotic(k, (5, 7)), exotic(k, (7, 3), seed=1))) for k in EXOTIC},
    **{"f32 @ exotic " + k: (lambda k=k: (rnd((5, 7)), exotic(k, (7, 3), seed=1))) for k in EXOTIC},
    "bad 2d.1d": lambda: (rnd((3, 5)), rnd(6)),
}


@pytest.mark.parametrize("case", list(DOT_CASES))
def test_dot(any_backend, case):
    a, b = DOT_CASES[case]()
    assert_like_numpy(same_args(a, b), np_dot, ops.dot, tol_dot, "dot " + case)


DOT_OUT_CASES = {
    "C out": lambda a, b: np.empty((a.shape[0], b.shape[1]), F32),
    "F out": lambda a, b: np.empty((a.shape[0], b.shape[1]), F32, order="F"),
    "strided out": lambda a, b: np.empty((2 * a.shape[0], b.shape[1]), F32)[::2],
    "f64 out": lambda a, b: np.empty((a.shape[0], b.shape[1])),
    "wrong shape out": lambda a, b: np.empty((a.shape[0], b.shape[1] + 1), F32),
    "read-only out": lambda a, b: _readonly(np.empty((a.shape[0], b.shape[1]), F32)),
    "list out": lambda a, b: [[0.0] * b.shape[1]] * a.shape[0],
    "int out": lambda a, b: np.empty((a.shape[0], b.shape[1]), np.int32),
}


def test_dot_0d_out(any_backend):
    v = rnd(7)
    assert_like_numpy(same_args(v, rnd(7, seed=1), out=np.empty((), F32)), np_dot, ops.dot,
                      tol_dot, "dot 1d.1d out=0-d")


def _readonly(a):
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("case", list(DOT_OUT_CASES))
def test_dot_out(any_backend, case):
    a, b = rnd((6, 5)), rnd((5, 4), seed=1)
    out = DOT_OUT_CASES[case](a, b)
    assert_like_numpy(same_args(a, b, out=out), np_dot, ops.dot, tol_dot, "dot out " + case)


def test_dot_out_readonly_is_value_error(any_backend):
    a, b = rnd((6, 5)), rnd((5, 4), seed=1)
    with pytest.raises(ValueError):
        ops.dot(a, b, out=_readonly(np.empty((6, 4), F32)))


@pytest.mark.parametrize("which", ["a", "b"])
def test_dot_out_aliases_input(any_backend, which):
    def make():
        a, b = rnd((5, 5)), rnd((5, 5), seed=1)
        return [a, b], {"out": a if which == "a" else b}
    assert_like_numpy(make, np_dot, ops.dot, tol_dot, "dot(a, b, out=%s)" % which)


ADD_CASES = {
    "same": lambda: (rnd((5, 7)), rnd((5, 7), seed=1)),
    "rows + bias": lambda: (rnd((128, 512)), rnd(512, seed=1)),
    "large strided + neg bias": lambda: (rnd((211, 301), lay="strided"), rnd(301, lay="neg", seed=1)),
    "large col + row": lambda: (rnd((211, 1)), rnd((1, 301), seed=1)),
    "bias + rows": lambda: (rnd(17), rnd((9, 17), seed=1)),
    "col + row": lambda: (rnd((5, 1)), rnd((1, 7), seed=1)),
    "F + neg": lambda: (rnd((13, 17), lay="F"), rnd((13, 17), lay="neg", seed=1)),
    "strided + T": lambda: (rnd((13, 17), lay="strided"), rnd((13, 17), lay="T", seed=1)),
    "bcast view": lambda: (rnd((6, 9)), np.broadcast_to(rnd(9, seed=1), (6, 9))),
    "empty": lambda: (rnd((0, 7)), rnd(7)),
    "1d": lambda: (rnd(33), rnd(33, seed=1)),
    "3d + 1d": lambda: (rnd((2, 3, 4)), rnd(4, seed=1)),
    "0-d": lambda: (np.array(1.5, F32), np.array(2.0, F32)),
    "np scalars": lambda: (np.float32(1.5), np.float32(2.0)),
    "f32 + python float": lambda: (rnd((3, 4)), 2.5),
    "f32 + np.float64": lambda: (rnd((3, 4)), np.float64(2.5)),
    "f32 + f64": lambda: (rnd((3, 4)), rnd((3, 4), np.float64)),
    "int + f32": lambda: (rnd((3, 4), np.int64), rnd((3, 4))),
    "ints": lambda: (rnd((3, 4), np.int32), rnd(4, np.int32)),
    "lists": lambda: ([1.0, 2.0], [[3.0, 4.0]]),
    "nan/inf": lambda: (with_specials(rnd((7, 9))), with_specials(rnd((7, 9), seed=1))[::-1]),
    "inf - inf": lambda: (np.array([np.inf, -np.inf, 1], F32), np.array([-np.inf, np.inf, np.inf], F32)),
    "overflow": lambda: (np.full(4, 3e38, F32), np.full(4, 3e38, F32)),
    "bad shapes": lambda: (rnd((3, 4)), rnd((3, 5))),
    **{"exotic " + k: (lambda k=k: (exotic(k, (5, 7)), exotic(k, (5, 7), seed=1))) for k in EXOTIC},
    **{"f32 + exotic " + k: (lambda k=k: (rnd((5, 7)), exotic(k, (1, 7), seed=1))) for k in EXOTIC},
}


@pytest.mark.parametrize("case", list(ADD_CASES))
def test_add(any_backend, case):
    x, y = ADD_CASES[case]()
    assert_like_numpy(same_args(x, y), np_add, ops.add, tol_exact, "add " + case)


OUT_CASES = {
    "C": lambda s: np.empty(s, F32),
    "F": lambda s: np.empty(s, F32, order="F"),
    "strided": lambda s: np.empty((2 * s[0], 3 * s[1]), F32)[::2, ::3],
    "neg": lambda s: np.empty(s, F32)[::-1, ::-1],
    "f64": lambda s: np.empty(s),
    "int32": lambda s: np.empty(s, np.int32),
    "wrong shape": lambda s: np.empty((s[0] + 1, s[1]), F32),
    "broadcastable smaller": lambda s: np.empty((1, s[1]), F32),
    "read-only": lambda s: _readonly(np.empty(s, F32)),
    "list": lambda s: [[0.0] * s[1]] * s[0],
    "tuple of arrays": lambda s: (np.empty(s, F32),),
    "extra axis": lambda s: np.empty(s + (1,), F32),
}


@pytest.mark.parametrize("case", list(OUT_CASES))
def test_add_out(any_backend, case):
    x, y = rnd((5, 7)), rnd(7, seed=1)
    out = OUT_CASES[case]((5, 7))
    assert_like_numpy(same_args(x, y, out=out), np_add, ops.add, tol_exact, "add out " + case)


ALIAS_MAKERS = {
    "out=x": lambda x, y: ([x, y], {"out": x}),
    "out=y": lambda x, y: ([x, y], {"out": y}),
    "out=x[::-1] (overlap)": lambda x, y: ([x, y], {"out": x[::-1]}),
    "out=x.T (overlap)": lambda x, y: ([x, y], {"out": x.T}),
    "x, x, out=x": lambda x, y: ([x, x], {"out": x}),
    "out=x[:, ::-1]": lambda x, y: ([x, y], {"out": x[:, ::-1]}),
}


@pytest.mark.parametrize("shape", [(6, 6), (64, 64), (200, 200)], ids=str)
@pytest.mark.parametrize("alias", list(ALIAS_MAKERS))
def test_add_aliasing(any_backend, alias, shape):
    def make():
        return ALIAS_MAKERS[alias](rnd(shape), rnd(shape, seed=1))
    assert_like_numpy(make, np_add, ops.add, tol_exact, "add " + alias)


RELU_CASES = {
    "2d": lambda: rnd((5, 7)),
    "F": lambda: rnd((13, 17), lay="F"),
    "strided": lambda: rnd((13, 17), lay="strided"),
    "neg": lambda: rnd((13, 17), lay="neg"),
    "T": lambda: rnd((13, 17), lay="T"),
    "large": lambda: rnd((200, 300)),
    "large neg": lambda: with_specials(rnd((211, 301), lay="neg")),
    "1d": lambda: rnd(33),
    "3d": lambda: rnd((2, 3, 4)),
    "3d non-contiguous": lambda: rnd((4, 6, 8))[:, ::2, 1:],
    "empty": lambda: rnd((0, 7)),
    "0-d": lambda: np.array(-1.5, F32),
    "scalar": lambda: np.float32(-1.5),
    "f64": lambda: rnd((5, 7), np.float64),
    "f16": lambda: rnd((5, 7), np.float16),
    "int": lambda: rnd((5, 7), np.int32),
    "bool": lambda: np.array([True, False]),
    "list": lambda: [-1.0, 0.0, 2.0],
    "nan/inf": lambda: with_specials(rnd((7, 9))),
    "signed zero": lambda: np.array([-0.0, 0.0, -1e-45], F32),
    "bcast view": lambda: np.broadcast_to(rnd(9), (6, 9)),
    **{"exotic " + k: (lambda k=k: exotic(k, (5, 7))) for k in EXOTIC},
}


@pytest.mark.parametrize("case", list(RELU_CASES))
def test_relu(any_backend, case):
    x = RELU_CASES[case]()
    assert_like_numpy(same_args(x), np_relu, ops.relu, tol_exact, "relu " + case)


@pytest.mark.parametrize("case", list(OUT_CASES))
def test_relu_out(any_backend, case):
    x = with_specials(rnd((5, 7)))
    out = OUT_CASES[case]((5, 7))
    assert_like_numpy(same_args(x, out=out), np_relu, ops.relu, tol_exact, "relu out " + case)


@pytest.mark.parametrize("alias", ["out=x", "out=x[::-1]", "out=x.T", "out=x[:, ::-1]"])
@pytest.mark.parametrize("shape", [(6, 6), (200, 200)], ids=str)
def test_relu_aliasing(any_backend, alias, shape):
    def make():
        x = with_specials(rnd(shape))
        out = {"out=x": x, "out=x[::-1]": x[::-1], "out=x.T": x.T,
               "out=x[:, ::-1]": x[:, ::-1]}[alias]
        return [x], {"out": out}
    assert_like_numpy(make, np_relu, ops.relu, tol_exact, "relu " + alias)


def test_relu_keeps_nan(any_backend):
    out = ops.relu(np.array([np.nan, -np.nan, -1, 1], F32))
    assert np.isnan(out[:2]).all() and list(out[2:]) == [0, 1]


SOFTMAX_CASES = {
    "2d": lambda: (rnd((5, 7), scale=3), {}),
    "axis=0": lambda: (rnd((5, 7), scale=3), {"axis": 0}),
    "axis=1": lambda: (rnd((5, 7), scale=3), {"axis": 1}),
    "axis=-2": lambda: (rnd((5, 7), scale=3), {"axis": -2}),
    "axis=None": lambda: (rnd((5, 7), scale=3), {"axis": None}),
    "F": lambda: (rnd((13, 17), lay="F", scale=3), {}),
    "strided": lambda: (rnd((13, 17), lay="strided", scale=3), {}),
    "neg axis 0": lambda: (rnd((13, 17), lay="neg", scale=3), {"axis": 0}),
    "T": lambda: (rnd((13, 17), lay="T", scale=3), {}),
    "wide": lambda: (rnd((4, 1000), scale=10), {}),
    "large axis=0 F": lambda: (rnd((300, 211), lay="F", scale=5), {"axis": 0}),
    "large strided": lambda: (rnd((300, 211), lay="strided", scale=5), {}),
    "training": lambda: (rnd((128, 10), scale=5), {}),
    "1d": lambda: (rnd(10), {}),
    "3d": lambda: (rnd((2, 3, 4)), {}),
    "3d axis=1": lambda: (rnd((2, 3, 4)), {"axis": 1}),
    "3d non-contiguous": lambda: (rnd((4, 6, 8))[:, ::2, 1:], {}),
    "(0, 5)": lambda: (rnd((0, 5)), {}),
    "(5, 0)": lambda: (rnd((5, 0)), {}),
    "0-d": lambda: (np.array(3.0, F32), {}),
    "f64": lambda: (rnd((5, 7), np.float64), {}),
    "int": lambda: (rnd((5, 7), np.int64), {}),
    "list": lambda: ([[1.0, 2.0, 3.0]], {}),
    "huge": lambda: (np.array([[1e30, 1e30, -1e30], [3e38, -3e38, 0]], F32), {}),
    "-inf entries": lambda: (np.array([[-np.inf, 0, 1], [2, -np.inf, -np.inf]], F32), {}),
    "all -inf row": lambda: (np.array([[-np.inf, -np.inf], [0, 1]], F32), {}),
    "nan/inf": lambda: (with_specials(rnd((7, 9))), {}),
    "bad axis": lambda: (rnd((3, 4)), {"axis": 2}),
    "float axis": lambda: (rnd((3, 4)), {"axis": 1.0}),
    **{"exotic " + k: (lambda k=k: (exotic(k, (5, 7)), {})) for k in EXOTIC if k != "matrix"},
}


@pytest.mark.parametrize("case", list(SOFTMAX_CASES))
def test_softmax(any_backend, case):
    x, kw = SOFTMAX_CASES[case]()
    assert_like_numpy(same_args(x, **kw), np_softmax, ops.softmax, tol_softmax,
                      "softmax " + case)


@pytest.mark.parametrize("case", ["C", "F", "strided", "neg", "wrong shape", "read-only"])
def test_softmax_out(any_backend, case):
    x = rnd((5, 7), scale=3)
    out = OUT_CASES[case]((5, 7))
    if case == "read-only":
        with pytest.raises(ValueError):
            ops.softmax(x, out=out)
        return
    assert_like_numpy(same_args(x, out=out), np_softmax, ops.softmax, tol_softmax,
                      "softmax out " + case)


@pytest.mark.parametrize("alias", ["out=x", "out=x[::-1]", "out=x.T"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_aliasing(any_backend, alias, axis):
    def make():
        x = rnd((9, 9), scale=3)
        out = {"out=x": x, "out=x[::-1]": x[::-1], "out=x.T": x.T}[alias]
        return [x], {"axis": axis, "out": out}
    assert_like_numpy(make, np_softmax, ops.softmax, tol_softmax, "softmax " + alias)


def test_softmax_never_overflows(any_backend):
    x = np.array([[1e4, 1e4 + 1, -1e4], [88.0, 89.0, 200.0]], F32)
    p = ops.softmax(x)
    assert np.isfinite(p).all()
    assert np.allclose(p.sum(axis=1), 1, rtol=1e-6)


RELU_BACKWARD_CASES = {
    "2d": lambda: (rnd((5, 7)), np.maximum(rnd((5, 7), seed=1), 0)),
    "layouts": lambda: (rnd((13, 17), lay="F"), np.maximum(rnd((13, 17), lay="neg", seed=1), 0)),
    "strided": lambda: (rnd((13, 17), lay="strided"), rnd((13, 17), lay="T", seed=1)),
    "nan grad under mask": lambda: (np.array([[np.nan, np.nan, np.inf]], F32),
                                    np.array([[0, 1, -1]], F32)),
    "nan y": lambda: (rnd((1, 3)), np.array([[np.nan, 1, 0]], F32)),
    "1d": lambda: (rnd(9), rnd(9, seed=1)),
    "3d": lambda: (rnd((2, 3, 4)), rnd((2, 3, 4), seed=1)),
    "broadcast y": lambda: (rnd((5, 7)), rnd(7, seed=1)),
    "f64": lambda: (rnd((5, 7), np.float64), rnd((5, 7), np.float64, seed=1)),
    "int grad": lambda: (rnd((5, 7), np.int32), rnd((5, 7), seed=1)),
    "empty": lambda: (rnd((0, 7)), rnd((0, 7))),
    "bad shapes": lambda: (rnd((5, 7)), rnd((5, 6))),
}


@pytest.mark.parametrize("case", list(RELU_BACKWARD_CASES))
def test_relu_backward(any_backend, case):
    g, y = RELU_BACKWARD_CASES[case]()
    assert_like_numpy(same_args(g, y), np_relu_backward, ops.relu_backward, tol_exact,
                      "relu_backward " + case)


@pytest.mark.parametrize("case", ["C", "strided", "neg", "aliases grad", "aliases y"])
def test_relu_backward_out(any_backend, case):
    def make():
        g, y = with_specials(rnd((6, 8))), rnd((6, 8), seed=1)
        out = g if case == "aliases grad" else y if case == "aliases y" else \
            OUT_CASES[case]((6, 8))
        return [g, y], {"out": out}
    assert_like_numpy(make, np_relu_backward, ops.relu_backward, tol_exact,
                      "relu_backward out " + case)


BIAS_GRAD_CASES = {
    "2d": lambda: rnd((128, 512)),
    "F": lambda: rnd((13, 17), lay="F"),
    "strided": lambda: rnd((13, 17), lay="strided"),
    "neg": lambda: rnd((13, 17), lay="neg"),
    "m=0": lambda: rnd((0, 7)),
    "n=0": lambda: rnd((7, 0)),
    "1d": lambda: rnd(9),
    "3d": lambda: rnd((2, 3, 4)),
    "f64": lambda: rnd((5, 7), np.float64),
    "int": lambda: rnd((5, 7), np.int32),
    "nan/inf": lambda: with_specials(rnd((7, 9))),
    "tall": lambda: rnd((5000, 3)),
}


@pytest.mark.parametrize("case", list(BIAS_GRAD_CASES))
def test_bias_grad(any_backend, case):
    g = BIAS_GRAD_CASES[case]()
    assert_like_numpy(same_args(g), np_bias_grad, ops.bias_grad, tol_sum0, "bias_grad " + case)


@pytest.mark.parametrize("case", ["C", "strided", "neg", "f64", "wrong shape", "read-only"])
def test_bias_grad_out(any_backend, case):
    g = rnd((6, 8))
    out = {"C": np.empty(8, F32), "strided": np.empty(16, F32)[::2],
           "neg": np.empty(8, F32)[::-1], "f64": np.empty(8),
           "wrong shape": np.empty(9, F32), "read-only": _readonly(np.empty(8, F32))}[case]
    assert_like_numpy(same_args(g, out=out), np_bias_grad, ops.bias_grad, tol_sum0,
                      "bias_grad out " + case)


# ---------------------------------------------------------------------------
# softmax cross-entropy and the in-place optimizer updates
# ---------------------------------------------------------------------------

def xent_expected(logits, target):
    x = np.asarray(logits, np.float64)
    m, n = x.shape
    if np.asarray(target).ndim == 1:
        y = np.zeros((m, n))
        y[np.arange(m), target] = 1
    else:
        y = np.asarray(target, np.float64)
    z = x - x.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = np.mean(-np.sum(np.where(y != 0, y * logp, 0), axis=1))
    return loss, (np.exp(logp) - y) / m


@pytest.mark.parametrize("target", ["onehot", "labels", "labels int32", "soft"])
@pytest.mark.parametrize("lay", ["C", "F", "strided", "neg"])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (128, 10), (33, 200)], ids=str)
def test_softmax_cross_entropy(any_backend, shape, lay, target):
    m, n = shape
    r = np.random.default_rng(11)
    logits = layout((r.standard_normal(shape) * 4).astype(F32), lay)
    labels = r.integers(0, n, m)
    if target == "onehot":
        t = np.eye(n, dtype=F32)[labels]
    elif target == "soft":
        t = r.random(shape).astype(F32) + F32(0.01)
        t /= t.sum(axis=1, keepdims=True)
    else:
        t = labels.astype(np.int32 if "int32" in target else np.int64)
    before = (logits.copy(), np.array(t, copy=True))
    loss, grad = ops.softmax_cross_entropy(logits, t)
    want_loss, want_grad = xent_expected(logits, t)
    assert np.ndim(loss) == 0
    assert abs(float(loss) - want_loss) <= 4 * (n + 4) * float(EPS32) * (abs(want_loss) + 10)
    assert grad.shape == shape and grad.dtype == F32
    assert_within(grad, want_grad, 4 * (n + 8) * float(EPS32) * (np.abs(want_grad) + 1.0 / m) / 1)
    assert np.array_equal(logits, before[0]) and np.array_equal(t, before[1])


def test_softmax_cross_entropy_f64_stays_f64(any_backend):
    logits = rnd((5, 4), np.float64, scale=3)
    loss, grad = ops.softmax_cross_entropy(logits, np.eye(4)[[0, 1, 2, 3, 0]])
    assert grad.dtype == np.float64
    want_loss, want_grad = xent_expected(logits, np.eye(4)[[0, 1, 2, 3, 0]])
    assert abs(loss - want_loss) < 1e-12 and np.allclose(grad, want_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("labels", [[0, 3], [-1, 0], [0, 2**40]])
def test_softmax_cross_entropy_bad_labels(any_backend, labels):
    with pytest.raises((ValueError, IndexError)):
        ops.softmax_cross_entropy(rnd((2, 3)), np.array(labels))


def test_softmax_cross_entropy_bad_target_shape(any_backend):
    with pytest.raises(ValueError):
        ops.softmax_cross_entropy(rnd((2, 3)), rnd((2, 4)))


def _opt_layouts(shape, lay, seed, n, positive=()):
    r = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = r.standard_normal(shape).astype(F32)
        if i in positive:
            v = np.abs(v) * F32(0.1)
        out.append(layout(v, lay) if len(shape) in (1, 2) else v)
    return out


OPT_SHAPES = [(1, 1), (7, 9), (128, 10), (200, 300), (13,), (512,), (0, 5), (2, 3, 4)]
OPT_LAYOUTS = ["C", "F", "strided", "neg"]


def _const_err(beta):
    """Relative error of (1 - beta) when beta is rounded to float32 first."""
    exact = 1.0 - beta
    return abs((1.0 - float(np.float32(beta))) - exact) / exact + 2 * float(EPS32)


def _close_update(got, want, mag, what, ulps=16):
    assert_within(got, want, ulps * float(EPS32) * mag, what)


@pytest.mark.parametrize("lay", OPT_LAYOUTS)
@pytest.mark.parametrize("shape", OPT_SHAPES, ids=str)
def test_rmsprop_update(any_backend, shape, lay):
    p, g, a = _opt_layouts(shape, lay, 12, 3, positive=(2,))
    g = with_specials(g) if len(shape) == 2 and g.size > 20 else g
    pn, gn, an = p.copy(), g.copy(), a.copy()
    lr, rho, eps = 0.01, 0.9, 1e-7
    with np.errstate(all="ignore"):
        an[:] = rho * an + (1 - rho) * gn ** 2
        step = lr * gn / (np.sqrt(an) + eps)
        pn -= step
        res = ops.rmsprop_update(p, g, a, lr=lr, rho=rho, epsilon=eps)
    assert res is p
    _close_update(a, an, np.abs(an), "accum")
    _close_update(p, pn, np.abs(pn) + np.abs(step), "param")
    assert np.array_equal(g, gn, equal_nan=True), "grad was modified"


def test_rmsprop_update_f64_and_defaults(any_backend):
    p, g, a = (rnd((4, 5), np.float64, seed=s) for s in (1, 2, 3))
    a = np.abs(a)
    pn, an = p.copy(), a.copy()
    an[:] = 0.9 * an + (1 - 0.9) * g ** 2
    pn -= 0.001 * g / (np.sqrt(an) + 1e-7)
    assert ops.rmsprop_update(p, g, a) is p
    assert p.dtype == np.float64
    assert np.allclose(p, pn, rtol=1e-14, atol=0) and np.allclose(a, an, rtol=1e-14, atol=0)


@pytest.mark.parametrize("case", ["grad shape", "accum shape", "read-only param",
                                  "read-only accum", "int param"])
def test_rmsprop_update_bad_calls_change_nothing(any_backend, case):
    p, g, a = rnd((4, 5)), rnd((4, 5), seed=1), np.abs(rnd((4, 5), seed=2))
    if case == "grad shape":
        g = rnd((4, 6))
    elif case == "accum shape":
        a = np.abs(rnd((5, 4)))
    elif case == "read-only param":
        p.flags.writeable = False
    elif case == "read-only accum":
        a.flags.writeable = False
    elif case == "int param":
        p = rnd((4, 5), np.int64)
    p0, a0 = p.copy(), a.copy()
    # what NumPy does with the same statement decides the exception class
    try:
        with np.errstate(all="ignore"):
            pn, an = p.copy(), a.copy()
            an.flags.writeable = a.flags.writeable
            pn.flags.writeable = p.flags.writeable
            an[:] = 0.9 * an + (1 - 0.9) * g ** 2
            pn -= 0.001 * g / (np.sqrt(an) + 1e-7)
        np_exc = None
    except Exception as exc:  # noqa: BLE001
        np_exc = exc
    assert np_exc is not None, "the case is meant to be an error"
    with pytest.raises(_expected_class(np_exc)):
        ops.rmsprop_update(p, g, a)
    assert np.array_equal(p, p0) and np.array_equal(a, a0), "a failed call changed its arrays"


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize("lay", OPT_LAYOUTS)
@pytest.mark.parametrize("shape", OPT_SHAPES, ids=str)
def test_sgd_update(any_backend, shape, lay, momentum, nesterov):
    p, g, v = _opt_layouts(shape, lay, 13, 3)
    pn, gn, vn = p.copy(), g.copy(), v.copy()
    lr = 0.05
    vn[...] = momentum * vn - lr * gn
    upd = momentum * vn - lr * gn if nesterov else vn
    pn += upd
    velocity = v if momentum else None
    res = ops.sgd_update(p, g, velocity, lr=lr, momentum=momentum, nesterov=nesterov)
    assert res is p
    if momentum:
        _close_update(v, vn, np.abs(momentum * v) + np.abs(lr * gn) + np.abs(vn), "velocity")
    _close_update(p, pn, np.abs(pn) + np.abs(upd) + np.abs(vn) + np.abs(lr * gn), "param")
    assert np.array_equal(g, gn)


@pytest.mark.parametrize("t", [1, 2, 10])
@pytest.mark.parametrize("lay", OPT_LAYOUTS)
@pytest.mark.parametrize("shape", OPT_SHAPES, ids=str)
def test_adam_update(any_backend, shape, lay, t):
    p, g, m, v = _opt_layouts(shape, lay, 14, 4, positive=(3,))
    pn, gn, mn, vn = p.copy(), g.copy(), m.copy(), v.copy()
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    mn[...] = b1 * mn + (1 - b1) * gn
    vn[...] = b2 * vn + (1 - b2) * gn ** 2
    step = lr_t * mn / (np.sqrt(vn) + eps)
    pn -= step
    res = ops.adam_update(p, g, m, v, t, lr=lr, beta1=b1, beta2=b2, epsilon=eps)
    assert res is p
    # The C path takes the hyper-parameters as float32 (as Keras' float32 graph
    # does), so 1 - beta2 is 1 - float32(0.999) = 0.00099998713: allow for the
    # rounding of each constant, ``const_err`` relative to the term it scales.
    cm = _const_err(b1)
    cv = _const_err(b2)
    _close_update(m, mn, np.abs(b1 * m) + np.abs(gn) + np.abs(mn), "m")
    assert_within(v, vn, 16 * float(EPS32) * np.abs(vn) + cv * (1 - b2) * gn.astype(np.float64) ** 2, "v")
    den = np.sqrt(np.abs(vn)) + eps
    # the param step inherits v's constant error through sqrt (half of it)
    assert_within(p, pn, 16 * float(EPS32) * (np.abs(pn) + np.abs(step) + lr_t * (
        np.abs(b1 * m) + np.abs(gn)) / den) + (cv + _const_err(b1)) * np.abs(step), "param")


# ---------------------------------------------------------------------------
# hypothesis: random shapes, dtypes, layouts, NaN/inf, overlapping out=
# ---------------------------------------------------------------------------

FLOAT_DTYPES = [np.float32, np.float32, np.float32, np.float64]
ALL_DTYPES = FLOAT_DTYPES + [np.float16, np.int32, np.int64]
VIEWS = ["C", "F", "T", "neg", "step", "offset", "negstep", "unaligned"]
SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0]


def _elements(dtype, bound):
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        return st.integers(-50, 50)
    width = dtype.itemsize * 8
    finite = st.floats(-bound, bound, width=width) if bound else \
        st.floats(width=width, allow_nan=False, allow_infinity=False)
    return st.one_of(finite, finite, finite, st.sampled_from(SPECIALS))


def _view(base_values, view):
    """A view of a fresh buffer holding ``base_values`` with the given layout."""
    v = base_values
    nd = v.ndim
    if view == "C" or nd == 0:
        return v.copy()
    if view == "F":
        return np.asfortranarray(v)
    if view == "T":
        return np.ascontiguousarray(v.T).T
    if view == "neg":
        buf = np.ascontiguousarray(v[(slice(None, None, -1),) * nd])
        return buf[(slice(None, None, -1),) * nd]
    if view in ("step", "negstep"):
        buf = np.zeros(tuple(2 * s for s in v.shape), v.dtype)
        step = -2 if view == "negstep" else 2
        sl = (slice(None, None, step),) * nd
        buf[sl] = v
        return buf[sl]
    if view == "unaligned":
        buf = np.zeros(v.nbytes + 1, np.uint8)
        out = np.ndarray(v.shape, v.dtype, buffer=buf, offset=1)
        out[...] = v
        return out
    if view == "offset":
        buf = np.zeros(tuple(s + 1 for s in v.shape), v.dtype)
        sl = (slice(1, None),) * nd
        buf[sl] = v
        return buf[sl]
    raise ValueError(view)


@st.composite
def arrays(draw, shape=None, dtype=None, bound=1e3, min_dims=1, max_dims=2,
           dtypes=ALL_DTYPES):
    dtype = draw(st.sampled_from(dtypes)) if dtype is None else dtype
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims,
                                      min_side=0, max_side=9))
    values = draw(hnp.arrays(dtype, shape, elements=_elements(dtype, bound)))
    return _view(values, draw(st.sampled_from(VIEWS)))


def _out_for(draw, shape, x=None, allow_bad=True):
    """None, a fresh out in some layout, or a view overlapping x."""
    kinds = ["none", "fresh", "fresh"]
    if x is not None and x.shape == shape:
        kinds += ["x", "x-reversed"]
    if allow_bad:
        kinds += ["readonly"]
    draw = draw.draw if hasattr(draw, "draw") else draw
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind == "x":
        return x
    if kind == "x-reversed":
        return x[(slice(None, None, -1),) * x.ndim]
    out = _view(np.zeros(shape, np.float32), draw(st.sampled_from(VIEWS)))
    if kind == "readonly":
        out.flags.writeable = False
    return out


def _fixed(args, kwargs):
    """A ``make`` that rebuilds the same arguments, keeping aliasing between them."""
    def make():
        memo = {}
        roots = []

        def clone(v):
            if not isinstance(v, np.ndarray):
                return v
            if v.size == 0:   # nothing to alias; keep the layout flags roughly
                c = np.empty(v.shape, v.dtype, order="F" if v.flags.f_contiguous and
                             not v.flags.c_contiguous else "C")
                c.flags.writeable = v.flags.writeable
                return c
            root = v
            while isinstance(root.base, np.ndarray):
                root = root.base
            key = id(root)
            if key not in memo:
                memo[key] = root.copy(order="K")
                roots.append(root)
            new_root = memo[key]
            off = v.__array_interface__["data"][0] - root.__array_interface__["data"][0]
            c = np.ndarray(v.shape, v.dtype, buffer=new_root, offset=off, strides=v.strides)
            c.flags.writeable = v.flags.writeable
            return c
        return [clone(a) for a in args], {k: clone(v) for k, v in kwargs.items()}
    return make


@hyp_settings
@given(data=st.data())
def test_hyp_dot(any_backend, data):
    dt = data.draw(st.sampled_from(ALL_DTYPES))
    m, k, n = (data.draw(st.integers(0, 9)) for _ in range(3))
    form = data.draw(st.sampled_from(["2x2", "2x1", "1x2", "1x1", "mismatch"]))
    sa = {"2x2": (m, k), "2x1": (m, k), "1x2": (k,), "1x1": (k,), "mismatch": (m, k)}[form]
    sb = {"2x2": (k, n), "2x1": (k,), "1x2": (k, n), "1x1": (k,), "mismatch": (k + 1, n)}[form]
    a = data.draw(arrays(sa, dt))
    b = data.draw(arrays(sb, data.draw(st.sampled_from([dt, dt, np.float64]))))
    out = None
    if form in ("2x2",) and data.draw(st.booleans()):
        kind = data.draw(st.sampled_from(["fresh", "alias-a", "alias-b"]))
        res_dtype = np.result_type(a, b)
        if kind == "alias-a" and a.shape == (m, n) and a.dtype == res_dtype:
            out = a
        elif kind == "alias-b" and b.shape == (m, n) and b.dtype == res_dtype:
            out = b
        else:
            out = np.zeros((m, n), res_dtype)
    kw = {} if out is None else {"out": out}
    assert_like_numpy(_fixed([a, b], kw), np_dot, ops.dot, tol_dot, "dot %s %s" % (form, dt),
                      relax=dot_ieee_disagreement)


@hyp_settings
@given(data=st.data())
def test_hyp_add(any_backend, data):
    x = data.draw(arrays(bound=None))
    yshape = data.draw(st.sampled_from([x.shape, x.shape[-1:], (1,) + x.shape[1:], ()]))
    y = data.draw(arrays(yshape, data.draw(st.sampled_from(ALL_DTYPES)), bound=None,
                         min_dims=0))
    if data.draw(st.booleans()) and y.ndim:
        y = np.broadcast_to(y, np.broadcast_shapes(x.shape, y.shape))
    shape = np.broadcast_shapes(x.shape, y.shape)
    out = _out_for(data, shape, x)
    kw = {} if out is None else {"out": out}
    assert_like_numpy(_fixed([x, y], kw), np_add, ops.add, tol_exact, "add")


@hyp_settings
@given(data=st.data())
def test_hyp_relu(any_backend, data):
    x = data.draw(arrays(bound=None, max_dims=3))
    out = _out_for(data, x.shape, x)
    kw = {} if out is None else {"out": out}
    assert_like_numpy(_fixed([x], kw), np_relu, ops.relu, tol_exact, "relu")


@hyp_settings
@given(data=st.data())
def test_hyp_softmax(any_backend, data):
    x = data.draw(arrays(bound=None, max_dims=3, dtypes=FLOAT_DTYPES + [np.int32]))
    axis = data.draw(st.sampled_from([-1, -1, 0, None] + list(range(x.ndim))))
    out = _out_for(data, x.shape, x, allow_bad=False) if x.dtype == np.float32 else None
    kw = {"axis": axis}
    if out is not None:
        kw["out"] = out
    assert_like_numpy(_fixed([x], kw), np_softmax, ops.softmax, tol_softmax, "softmax")


@hyp_settings
@given(data=st.data())
def test_hyp_relu_backward(any_backend, data):
    g = data.draw(arrays(bound=None, dtypes=FLOAT_DTYPES))
    y = data.draw(arrays(g.shape, data.draw(st.sampled_from(FLOAT_DTYPES)), bound=None))
    out = _out_for(data, g.shape, g, allow_bad=False) if g.dtype == np.float32 else None
    kw = {} if out is None else {"out": out}
    assert_like_numpy(_fixed([g, y], kw), np_relu_backward, ops.relu_backward, tol_exact,
                      "relu_backward")


@hyp_settings
@given(data=st.data())
def test_hyp_bias_grad(any_backend, data):
    g = data.draw(arrays(dtypes=FLOAT_DTYPES))
    out = None
    if g.ndim == 2 and g.dtype == np.float32 and data.draw(st.booleans()):
        out = _view(np.zeros(g.shape[1:], np.float32), data.draw(st.sampled_from(VIEWS)))
    kw = {} if out is None else {"out": out}
    assert_like_numpy(_fixed([g], kw), np_bias_grad, ops.bias_grad, tol_sum0, "bias_grad")


@hyp_settings
@given(data=st.data())
def test_hyp_rmsprop_update(any_backend, data):
    dt = data.draw(st.sampled_from(FLOAT_DTYPES))
    p = data.draw(arrays(dtype=dt, dtypes=FLOAT_DTYPES))
    g = data.draw(arrays(p.shape, dt))
    a = np.abs(data.draw(arrays(p.shape, dt, bound=10.0)))
    a = _view(np.nan_to_num(a, posinf=1.0), data.draw(st.sampled_from(VIEWS)))

    def np_rmsprop(p, g, a):
        a[:] = 0.9 * a + (1 - 0.9) * g ** 2
        p -= 0.001 * g / (np.sqrt(a) + 1e-7)
        return p

    def tol(want, args, kwargs):
        pp, gg, aa = (np.asarray(v, np.float64) for v in args)
        with np.errstate(all="ignore"):
            aa = 0.9 * aa + 0.1 * gg ** 2
            step = np.abs(0.001 * gg / (np.sqrt(aa) + 1e-7))
        return 16 * _eps(want.dtype) * np.nan_to_num(np.abs(pp) + step, posinf=0)

    # accum's rounding differs by a few ulps of its own size: compare it separately
    make = _fixed([p, g, a], {})
    args_n, _ = make()
    args_o, _ = make()
    with np.errstate(all="ignore"):
        want = np_rmsprop(*args_n)
        got = ops.rmsprop_update(*args_o)
    assert got is args_o[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    assert_within(args_o[2], args_n[2], 8 * _eps(dt) * np.abs(np.nan_to_num(
        np.asarray(args_n[2], np.float64), posinf=0)), "accum")
    assert_within(got, want, tol(want, make()[0], {}), "param")
    assert np.array_equal(args_o[1], args_n[1], equal_nan=True), "grad modified"


@hyp_settings
@given(data=st.data())
def test_hyp_softmax_cross_entropy(any_backend, data):
    dt = data.draw(st.sampled_from(FLOAT_DTYPES))
    m, n = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9))
    logits = data.draw(arrays((m, n), dt, bound=30.0))
    logits = _view(np.nan_to_num(logits, nan=1.0, posinf=30.0, neginf=-30.0),
                   data.draw(st.sampled_from(VIEWS)))
    labels = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)))
    if data.draw(st.booleans()):
        target = labels.astype(data.draw(st.sampled_from([np.int64, np.int32])))
    else:
        target = _view(np.eye(n, dtype=dt)[labels], data.draw(st.sampled_from(VIEWS)))
    before = (np.array(logits, copy=True), np.array(target, copy=True))
    with np.errstate(all="ignore"):
        loss, grad = ops.softmax_cross_entropy(logits, target)
    want_loss, want_grad = xent_expected(logits, np.asarray(target) if target.ndim == 1 else target)
    e = _eps(dt)
    assert np.ndim(loss) == 0 and np.isfinite(loss)
    assert abs(float(loss) - want_loss) <= 8 * (n + 4) * e * (abs(want_loss) + 64), (loss, want_loss)
    assert grad.shape == (m, n) and grad.dtype == dt
    assert_within(grad, want_grad, 8 * (n + 8) * e * (np.abs(want_grad) + 1.0 / m), "xent grad")
    assert np.array_equal(logits, before[0]) and np.array_equal(target, before[1])


@hyp_settings
@given(data=st.data())
def test_hyp_sgd_update(any_backend, data):
    dt = data.draw(st.sampled_from(FLOAT_DTYPES))
    p = data.draw(arrays(dtype=dt, max_dims=3, bound=100.0))
    g = data.draw(arrays(p.shape, dt, bound=100.0))
    momentum = data.draw(st.sampled_from([0.0, 0.5, 0.9]))
    nesterov = data.draw(st.booleans())
    v = data.draw(arrays(p.shape, dt, bound=10.0)) if momentum or data.draw(st.booleans()) else None
    if v is not None:  # a velocity is a past update: finite
        v = _view(np.nan_to_num(v, posinf=1.0, neginf=-1.0), data.draw(st.sampled_from(VIEWS)))
    lr = data.draw(st.sampled_from([0.01, 0.1]))
    p64, g64 = p.astype(np.float64), g.astype(np.float64)
    v64 = v.astype(np.float64) if v is not None else np.zeros_like(p64)
    g_before = np.array(g, copy=True)
    with np.errstate(all="ignore"):
        v1 = momentum * v64 - lr * g64
        # the Keras formula literally (0 * inf = NaN included) when there is a
        # velocity; without one (momentum 0) it is plain SGD, p -= lr * g
        upd = momentum * v1 - lr * g64 if nesterov and v is not None else v1
        p1 = p64 + upd
        res = ops.sgd_update(p, g, v, lr=lr, momentum=momentum, nesterov=nesterov)
        e = _eps(dt)
        # the hyper-parameters may be rounded to float32 even for float64 data
        # (the contract: values within float32 rounding)
        c = 2 * (_const_err(momentum) if momentum else 0) + 4 * float(EPS32)
        vmag = np.abs(momentum * v64) + np.abs(lr * g64)
        pmag = np.abs(p64) + np.abs(upd) + vmag * (1 + momentum) + np.abs(lr * g64)
    assert res is p
    tiny = 4 * float(np.finfo(dt).smallest_subnormal)
    if v is not None and momentum:
        assert_within(v, v1, 8 * e * vmag + c * vmag + tiny, "velocity")
    assert_within(p, p1, 8 * e * pmag + c * pmag + tiny, "param")
    assert np.array_equal(g, g_before, equal_nan=True)


@hyp_settings
@given(data=st.data())
def test_hyp_adam_update(any_backend, data):
    dt = data.draw(st.sampled_from(FLOAT_DTYPES))
    p = data.draw(arrays(dtype=dt, max_dims=3, bound=100.0))
    g = data.draw(arrays(p.shape, dt, bound=100.0))
    m = data.draw(arrays(p.shape, dt, bound=10.0))
    v = np.abs(data.draw(arrays(p.shape, dt, bound=10.0)))
    v = _view(np.nan_to_num(v, posinf=1.0), data.draw(st.sampled_from(VIEWS)))
    t = data.draw(st.integers(1, 1000))
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
    p64, g64, m64, v64 = (a.astype(np.float64) for a in (p, g, m, v))
    g_before = np.array(g, copy=True)
    with np.errstate(all="ignore"):
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m1 = b1 * m64 + (1 - b1) * g64
        v1 = b2 * v64 + (1 - b2) * g64 ** 2
        den = np.sqrt(v1) + eps
        step = lr_t * m1 / den
        p1 = p64 - step
        res = ops.adam_update(p, g, m, v, t, lr=lr, beta1=b1, beta2=b2, epsilon=eps)
        e = _eps(dt)
        # hyper-parameters may be rounded to float32 even for float64 data
        cm, cv = _const_err(b1) + 4 * float(EPS32), _const_err(b2) + 4 * float(EPS32)
        mmag = np.abs(b1 * m64) + np.abs((1 - b1) * g64)
        vmag = np.abs(b2 * v64) + np.abs((1 - b2) * g64 ** 2)
        pbound = 16 * e * (np.abs(p64) + np.abs(step)) + lr_t * (8 * e + cm) * mmag / den \
            + (cv + 8 * e + 4 * float(EPS32)) * np.abs(step)
        # underflow: products like lr_t*m may land among the subnormals
        tiny = 4 * float(np.finfo(dt).smallest_subnormal)
        pbound = pbound + tiny * (1 + 1 / den)
    assert res is p
    assert_within(m, m1, (8 * e + cm) * mmag + tiny, "m")
    assert_within(v, v1, (8 * e + cv) * vmag + tiny, "v")
    assert_within(p, p1, pbound, "param")
    assert np.array_equal(g, g_before, equal_nan=True)


# ---------------------------------------------------------------------------
# reference counts: the drop-ins keep no references to their arguments
# ---------------------------------------------------------------------------

def _ref_calls():
    a, b, x = rnd((9, 17)), rnd((17, 5), seed=1), rnd((9, 17), seed=2)
    out = np.empty((9, 5), F32)
    bias, o2 = rnd(17, seed=3), np.empty((9, 17), F32)
    p, g, acc, m, v = (rnd((9, 17), seed=s) for s in range(4, 9))
    acc, v = np.abs(acc), np.abs(v)
    labels = np.arange(9) % 17
    return [
        (ops.dot, (a, b), {"out": out}),
        (ops.add, (x, bias), {"out": o2}),
        (ops.relu, (x,), {"out": o2}),
        (ops.softmax, (x,), {"out": o2}),
        (ops.relu_backward, (x, a), {"out": o2}),
        (ops.bias_grad, (x,), {}),
        (ops.softmax_cross_entropy, (x, labels), {}),
        (ops.rmsprop_update, (p, g, acc), {}),
        (ops.sgd_update, (p, g, m), {"momentum": 0.9}),
        (ops.adam_update, (p, g, m, v, 3), {}),
    ]


@pytest.mark.parametrize("i", range(10))
def test_reference_counts_unchanged(any_backend, i):
    import sys
    fn, args, kwargs = _ref_calls()[i]
    objs = [o for o in list(args) + list(kwargs.values()) if isinstance(o, np.ndarray)]
    fn(*args, **kwargs)
    before = [sys.getrefcount(o) for o in objs]
    for _ in range(200):
        res = fn(*args, **kwargs)
    del res
    assert [sys.getrefcount(o) for o in objs] == before, fn.__name__
