"""ops.dot's route: our GEMM or NumPy's BLAS (fastdense.ops._gemm_route,
fd_sgemm_route in C, reached by ops.dot through _ckernels.dot_route).

* the rule is a pure function: the same product gets the same answer every
  time, whatever was called before, and ops.dot's fast entry (dot_route, on
  arrays) agrees with _gemm_route (on sizes) for every shape and layout;
* both routes are taken (counted by wrapping the C sgemm binding), by shape
  at AVX-512 and always NumPy at the AVX2 and portable levels;
* both give np.dot's result within the float32 bound, and ops.dot's own glue
  (vectors, out=, aliasing, views) stays right when the route is forced to C
  for the small shapes that normally go to NumPy.
"""
import os

import numpy as np
import pytest

from arrays import assert_within
from conftest import require_ckernels

import fastdense
from fastdense import ops

F32 = np.float32
LEVELS = ops.SIMD_LEVELS

# (m, n, k, a_row_major) -> route at AVX-512, from the rule in gemm_config.h
AVX512_EXPECTED = {
    (128, 512, 784, True): "c",      # x @ W1
    (784, 512, 128, False): "c",     # X^T @ dZ1
    (128, 784, 512, True): "c",      # dZ1 @ W1^T
    (128, 10, 512, True): "c",       # h @ W2: the dot path
    (128, 10, 512, False): "blas",   # from F-order h
    (512, 10, 128, False): "blas",   # H^T @ dZ2 (H in C order)
    (512, 10, 128, True): "c",
    (128, 512, 10, True): "blas",    # dZ2 @ W2^T: 1.3 MFLOP of tiles
    (10000, 512, 784, True): "c",    # predict
    (1, 512, 784, True): "blas",     # vector @ matrix
    (512, 1, 784, True): "blas",     # matrix @ vector
    (16, 16, 16, True): "blas",      # small
    (1000, 16, 512, True): "blas",   # n 13..16
    (1000, 40, 512, True): "blas",   # n 33..48
    (1000, 20, 512, False): "blas",  # n 17..24 without row-major A
    (1000, 20, 512, True): "c",
    (1000, 10, 512, False): "c",     # narrow n, large m
}


@pytest.fixture
def K():
    return require_ckernels()


def _levels(K):
    return LEVELS[:LEVELS.index(K.simd_name()) + 1]


@pytest.fixture
def simd_env():
    """Set FASTDENSE_SIMD inside the test; restored afterwards."""
    old = os.environ.get("FASTDENSE_SIMD")

    def set_level(level):
        os.environ["FASTDENSE_SIMD"] = level
    yield set_level
    if old is None:
        os.environ.pop("FASTDENSE_SIMD", None)
    else:
        os.environ["FASTDENSE_SIMD"] = old


@pytest.fixture
def count_sgemm(K, monkeypatch):
    """Wraps K.sgemm: the returned list grows by one per C product."""
    calls = []
    real = K.sgemm

    def sgemm(*args, **kwargs):
        calls.append((args[0].shape, kwargs.get("nthreads", 1)))
        return real(*args, **kwargs)
    monkeypatch.setattr(K, "sgemm", sgemm)
    return calls


@pytest.fixture
def with_blas(monkeypatch):
    """Run as if NumPy had a BLAS (the rule is only interesting then)."""
    monkeypatch.setattr(ops, "_HAS_BLAS", True)


def _operands(m, n, k, a_row_major, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k), dtype=F32)
    b = rng.standard_normal((k, n), dtype=F32)
    if not a_row_major:
        a = np.asfortranarray(a)
    return a, b


def _bound(a, b):
    mag = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    return 4 * (a.shape[1] + 2) * np.finfo(F32).eps * mag


# ---- the rule --------------------------------------------------------------

@pytest.mark.parametrize("key", list(AVX512_EXPECTED))
def test_route_at_avx512(K, with_blas, key):
    if "avx512" not in _levels(K):
        pytest.skip("this CPU runs %s at most" % K.simd_name())
    m, n, k, rows = key
    for nt in (1, 2):
        assert ops._gemm_route(m, n, k, nt, "avx512", rows) == AVX512_EXPECTED[key], (key, nt)


@pytest.mark.parametrize("level", ["generic", "avx2"])
def test_lower_levels_hand_every_product_to_blas(K, with_blas, level):
    for key in AVX512_EXPECTED:
        assert ops._gemm_route(*key[:3], 1, level, key[3]) == "blas", (level, key)


def test_without_a_numpy_blas_ours_serves(K, monkeypatch):
    monkeypatch.setattr(ops, "_HAS_BLAS", False)
    for level in LEVELS:
        assert ops._gemm_route(16, 16, 16, 1, level) == "c"
    a, b = _operands(4, 4, 4, True)
    assert K.dot_route(a, b, 1, False)


def test_route_is_a_pure_function(K, with_blas, simd_env):
    """The same arguments give the same answer whatever ran in between, and
    the default level is the one in use now."""
    keys = list(AVX512_EXPECTED)
    first = [[ops._gemm_route(*key[:3], nt, lvl, key[3]) for key in keys]
             for lvl in _levels(K) for nt in (1, 2, 7)]
    rng = np.random.default_rng(1)
    for _ in range(3):
        ops.dot(rng.standard_normal((300, 200), dtype=F32),
                rng.standard_normal((200, 100), dtype=F32))
        again = [[ops._gemm_route(*key[:3], nt, lvl, key[3]) for key in keys]
                 for lvl in _levels(K) for nt in (1, 2, 7)]
        assert again == first
    for lvl in _levels(K):
        simd_env(lvl)
        assert [ops._gemm_route(*key[:3], 1, None, key[3]) for key in keys] == \
            [ops._gemm_route(*key[:3], 1, lvl, key[3]) for key in keys]


SHAPES = [(1, 7, 5), (7, 1, 5), (5, 7, 1), (128, 10, 512), (512, 10, 128),
          (128, 512, 10), (60, 40, 500), (1000, 20, 100), (40, 300, 200)]


@pytest.mark.parametrize("m,n,k", SHAPES)
def test_dot_route_agrees_with_gemm_route(K, with_blas, simd_env, m, n, k):
    """ops.dot's fast entry (arrays) and _gemm_route (sizes) are one rule."""
    rng = np.random.default_rng(2)
    for level in _levels(K):
        simd_env(level)
        for la in "CF":
            for lb in "CF":
                a = rng.standard_normal((m, k), dtype=F32)
                b = rng.standard_normal((k, n), dtype=F32)
                if la == "F":
                    a = np.asfortranarray(a)
                if lb == "F":
                    b = np.asfortranarray(b)
                for nt in (1, 2):
                    want = ops._gemm_route(m, n, k, nt, level, a.strides[1] == 4 or m == 1)
                    assert K.dot_route(a, b, nt, True) == (want == "c"), (level, la, lb, nt)
    # vectors count as one row / one column
    v, mat = rng.standard_normal(300, dtype=F32), rng.standard_normal((300, 200), dtype=F32)
    assert K.dot_route(v, mat, 1, True) == (ops._gemm_route(1, 200, 300, 1) == "c")
    assert K.dot_route(mat.T, v, 1, True) == (ops._gemm_route(200, 1, 300, 1) == "c")


@pytest.mark.parametrize("make", [
    lambda r: (r.standard_normal((40, 30)), r.standard_normal((30, 20))),       # float64
    lambda r: (r.standard_normal((40, 30), dtype=F32).astype(">f4"),
               r.standard_normal((30, 20), dtype=F32)),                       # byte-swapped
    lambda r: (np.zeros(4 * 40 * 30 + 1, np.uint8)[1:].view(F32).reshape(40, 30),
               r.standard_normal((30, 20), dtype=F32)),                       # unaligned
    lambda r: (r.standard_normal((2, 40, 30), dtype=F32),
               r.standard_normal((30, 20), dtype=F32)),                       # 3-D
    lambda r: (np.float32(2.0), r.standard_normal((30, 20), dtype=F32)),       # scalar
    lambda r: (r.standard_normal((40, 30), dtype=F32),
               r.standard_normal((31, 20), dtype=F32)),                       # k mismatch
    lambda r: ([[1.0, 2.0]], r.standard_normal((2, 20), dtype=F32)),           # list
    lambda r: (np.asmatrix(r.standard_normal((40, 30), dtype=F32)),
               r.standard_normal((30, 20), dtype=F32)),                       # subclass
])
def test_dot_route_refuses_what_sgemm_cannot_take(K, make):
    a, b = make(np.random.default_rng(3))
    assert not K.dot_route(a, b, 1, False)


# ---- both routes, through ops.dot ----------------------------------------------

def test_both_routes_are_taken_and_agree(K, with_blas, count_sgemm, simd_env):
    if "avx512" not in _levels(K):
        pytest.skip("this CPU runs %s at most" % K.simd_name())
    simd_env("avx512")
    seen = set()
    with fastdense.use_backend("c"):
        for key, route in AVX512_EXPECTED.items():
            m, n, k, rows = key
            if m * n * k > 2e7:
                continue
            a, b = _operands(m, n, k, rows)
            before = len(count_sgemm)
            got = ops.dot(a, b)
            assert len(count_sgemm) - before == (route == "c"), key
            seen.add(route)
            assert got.dtype == F32 and got.shape == (m, n)
            assert_within(got, np.dot(a, b), _bound(a, b), "ops.dot %s via %s" % (key, route))
    assert seen == {"c", "blas"}


@pytest.mark.parametrize("level", ["generic", "avx2"])
def test_lower_levels_run_numpy(K, with_blas, count_sgemm, simd_env, level):
    if level not in _levels(K):
        pytest.skip("this CPU runs %s at most" % K.simd_name())
    simd_env(level)
    a, b = _operands(128, 512, 784, True)
    with fastdense.use_backend("c"):
        got = ops.dot(a, b)
    assert count_sgemm == []
    assert_within(got, np.dot(a, b), _bound(a, b), "ops.dot at %s" % level)


def test_routes_give_the_same_answer_to_float32_rounding(K, monkeypatch, count_sgemm):
    """One product both ways: forced through our GEMM, then through NumPy."""
    a, b = _operands(128, 10, 512, False)
    with fastdense.use_backend("c"):
        monkeypatch.setattr(ops, "_HAS_BLAS", False)     # dot_route: ours
        ours = ops.dot(a, b)
        assert len(count_sgemm) == 1
        monkeypatch.setattr(K, "dot_route", lambda *args: False)
        blas = ops.dot(a, b)
        assert len(count_sgemm) == 1
    assert_within(ours, blas, 2 * _bound(a, b), "ours vs NumPy's BLAS")
    assert np.array_equal(blas, np.dot(a, b))


def test_small_products_run_on_one_thread(K, monkeypatch, count_sgemm,
                                          restore_fastdense_config):
    """Up to 2**22 flops (OpenBLAS's own limit) ops.dot asks for one thread."""
    monkeypatch.setattr(ops, "_HAS_BLAS", False)        # always our GEMM
    fastdense.set_num_threads(2)
    with fastdense.use_backend("c"):
        for (m, n, k), want in [((128, 10, 512), 1), ((128, 128, 128), 1),
                                ((128, 129, 128), 2), ((128, 512, 784), 2)]:
            a, b = _operands(m, n, k, True)
            got = ops.dot(a, b)
            assert count_sgemm[-1][1] == want, (m, n, k)
            assert ops._gemm_threads(m, n, k, 2) == want
            assert_within(got, np.dot(a, b), _bound(a, b), "ops.dot %dx%dx%d" % (m, n, k))
    assert ops._gemm_threads(128, 512, 784, 5) == 5


def test_a_route_gives_the_same_bits_every_time(K, with_blas):
    with fastdense.use_backend("c"):
        for key in [(128, 10, 512, True), (128, 512, 10, True), (300, 200, 100, True)]:
            a, b = _operands(*key)
            first = ops.dot(a, b)
            for _ in range(3):
                assert np.array_equal(ops.dot(a, b), first), key


# ---- ops.dot's glue on the C route, for the shapes that usually go to NumPy ---

test_ops = pytest.importorskip("test_ops")   # its cases and checks (needs hypothesis)


@pytest.fixture
def forced_c(K, monkeypatch):
    """ops.dot computes with sgemm whenever the operands allow it."""
    real = K.dot_route
    monkeypatch.setattr(K, "dot_route", lambda a, b, nt, has_blas: real(a, b, nt, False))
    with fastdense.use_backend("c"):
        yield


@pytest.mark.parametrize("case", list(test_ops.DOT_CASES))
def test_dot_cases_on_the_c_route(forced_c, case):
    a, b = test_ops.DOT_CASES[case]()
    test_ops.assert_like_numpy(test_ops.same_args(a, b), test_ops.np_dot, ops.dot,
                               test_ops.tol_dot, "forced C: dot " + case)


@pytest.mark.parametrize("case", list(test_ops.DOT_OUT_CASES))
def test_dot_out_cases_on_the_c_route(forced_c, case):
    a, b = test_ops.rnd((6, 5)), test_ops.rnd((5, 4), seed=1)
    out = test_ops.DOT_OUT_CASES[case](a, b)
    test_ops.assert_like_numpy(test_ops.same_args(a, b, out=out), test_ops.np_dot, ops.dot,
                               test_ops.tol_dot, "forced C: dot out " + case)


@pytest.mark.parametrize("which", ["a", "b"])
def test_dot_out_aliasing_on_the_c_route(forced_c, count_sgemm, which):
    def make():
        a, b = test_ops.rnd((5, 5)), test_ops.rnd((5, 5), seed=1)
        return [a, b], {"out": a if which == "a" else b}
    test_ops.assert_like_numpy(make, test_ops.np_dot, ops.dot, test_ops.tol_dot,
                               "forced C: dot(a, b, out=%s)" % which)
    assert count_sgemm, "the forced route did not reach sgemm"
