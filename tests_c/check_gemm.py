"""Correctness sweep of fd_sgemm against a float64 reference (all SIMD levels).

  python3 tests_c/check_gemm.py          # uses FD_GEMM_LIB or /tmp/libfdgemm.so
"""
import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from gemm_ctypes import LIB, sgemm  # noqa: E402

rng = np.random.default_rng(0)
fails = 0


def layout(x, kind):
    if kind == "C":
        return np.array(x, order="C", copy=True)
    if kind == "F":
        return np.array(x, order="F", copy=True)
    if kind == "T":   # transposed view of a C array
        return np.ascontiguousarray(x.T).T
    if kind == "S":   # strided view
        big = np.zeros((x.shape[0] * 2, x.shape[1] * 3), np.float32)
        v = big[::2, ::3]
        v[...] = x
        return v
    if kind == "N":   # negative strides
        big = np.array(x[::-1, ::-1], order="C", copy=True)
        return big[::-1, ::-1]
    raise ValueError(kind)


def check(m, n, k, la="C", lb="C", lc="C", alpha=1.0, beta=0.0, bias=False,
          relu=False, nt=1, gather=None, special=False, bias_stride=1):
    global fails
    if gather == "rows":
        base = rng.standard_normal((m + 7, k)).astype(np.float32)
        rows = rng.permutation(m + 7)[:m].astype(np.int64)
        cols = None
        A = base[rows]
    elif gather == "cols":
        base = rng.standard_normal((m, k + 5)).astype(np.float32)
        rows = None
        cols = rng.permutation(k + 5)[:k].astype(np.int64)
        A = base[:, cols]
    else:
        base = rng.standard_normal((m, k)).astype(np.float32)
        rows = cols = None
        A = base
    B = rng.standard_normal((k, n)).astype(np.float32)
    if special and m * k and k * n:
        A = A.copy()
        A.flat[rng.integers(0, A.size, 3)] = np.inf
        A.flat[rng.integers(0, A.size, 2)] = 0.0
        B.flat[rng.integers(0, B.size, 3)] = 0.0
        B.flat[rng.integers(0, B.size, 1)] = np.nan
        B.flat[rng.integers(0, B.size, 1)] = -np.inf
        if gather is None:
            base = A
        elif gather == "rows":
            base[rows] = A
        else:
            base[:, cols] = A
    C0 = rng.standard_normal((m, n)).astype(np.float32)
    if beta == 0.0 and m * n:
        C0.flat[0] = np.nan  # must not leak when beta == 0
    bvec = None
    if bias:
        bfull = rng.standard_normal(n * bias_stride).astype(np.float32)
        bvec = bfull[::bias_stride]
    a_arg = layout(base, la)
    b_arg = layout(B, lb)
    c_arg = layout(C0, lc)
    st = sgemm(a_arg, b_arg, c_arg, alpha, beta, bvec, relu, nt, rows, cols)
    ref = alpha * (A.astype(np.float64) @ B.astype(np.float64))
    if beta != 0.0:
        ref = ref + beta * C0.astype(np.float64)
    if bvec is not None:
        ref = ref + bvec.astype(np.float64)
    if relu:
        ref = np.where(ref < 0, 0.0, ref)
    with np.errstate(invalid="ignore"):
        mag = abs(alpha) * (np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64))
        if beta != 0.0:
            mag = mag + abs(beta) * np.abs(C0)
        if bvec is not None:
            mag = mag + np.abs(bvec)
    tol = (k + 4) * 2.0 ** -24 * 2 * np.nan_to_num(mag, nan=0, posinf=0) + 1e-30
    got = c_arg.astype(np.float64)
    ok = st == 0
    ok &= np.array_equal(np.isnan(got), np.isnan(ref))
    fin = np.isfinite(ref)
    ok &= np.array_equal(got[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)])
    ok &= bool(np.all(np.abs(got[fin] - ref[fin]) <= tol[fin]))
    if not ok:
        fails += 1
        if fails < 15:
            err = np.abs(got - ref)
            print("FAIL", dict(m=m, n=n, k=k, la=la, lb=lb, lc=lc, alpha=alpha,
                               beta=beta, bias=bias, relu=relu, nt=nt,
                               gather=gather, special=special), "status", st,
                  "maxerr", np.nanmax(err) if err.size else 0)


shapes = [(0, 5, 3), (5, 0, 3), (4, 5, 0), (1, 1, 1), (3, 5, 7), (13, 33, 17),
          (1, 700, 300), (300, 1, 200), (37, 41, 1), (128, 10, 512),
          (128, 512, 10), (512, 10, 128), (145, 130, 400), (128, 512, 784),
          (784, 512, 128), (200, 4200, 20), (25, 97, 1000)]
levels = ["generic", "avx2", "avx512"]
if __name__ != "__main__":
    levels = []
for lev in levels:
    os.environ["FASTDENSE_SIMD"] = lev
    name = LIB.fd_simd_name().decode()
    print("level", lev, "->", name, flush=True)
    for (m, n, k) in shapes:
        for nt in (1, 2, 3):
            check(m, n, k, nt=nt)
        for la, lb, lc in itertools.product("CFTSN", "CFSN", "CFS"):
            if m * n * k > 2e6 and (la, lb, lc) != ("F", "F", "F"):
                continue
            check(m, n, k, la, lb, lc, nt=2)
        for alpha, beta, bias, relu in [(1.0, 1.0, True, True), (0.5, -2.0, False, True),
                                        (2.0, 0.0, True, False), (1.0, 0.5, True, True)]:
            check(m, n, k, "C", "T", "C", alpha, beta, bias, relu, nt=2, bias_stride=3)
            check(m, n, k, "T", "C", "N", alpha, beta, bias, relu, nt=1)
        for g in ("rows", "cols"):
            for la in "CFT":
                check(m, n, k, la, "C", "C", gather=g, nt=2, bias=True, relu=True)
        check(m, n, k, "C", "C", "C", special=True, nt=2, beta=1.0)
        check(m, n, k, "F", "T", "C", special=True, nt=1, relu=True, bias=True)
print("fails:", fails)
sys.exit(1 if fails else 0)
