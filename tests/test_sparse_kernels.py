"""The sparse (CSR) kernels: C (fastdense._ckernels) against their NumPy twins
(fastdense.reference), and both against a float64 truth.

CSR cases come from one generator, :func:`make_csr`, over shapes (0 rows,
0 columns, 1, odd sizes, non-multiples of 8/16, around the block widths
32/64/128 and the L1 switch of the block width at k*nb*4 = 48 KiB, the
training shapes), densities (0, 0.01, 0.2, 0.5, 1) with empty rows *and*
empty columns, duplicate columns, unsorted indices and absolute indptr
offsets (row slices): the arrays hold junk entries outside the span (index
-7 or k + 7, value NaN), so a kernel that reads outside it fails.

Tolerance of csrmm (u = 2**-24): each C[i, j] is a sum over row i's nnz_i
entries, so ``|C - C64| <= 2 (nnz_i + 2) u (sum_e |a_e| |b_(c_e) j| + |bias_j|)``
-- the dot-product bound with the row's length in place of k.  NaN and inf
exactly where the float64 truth has them.  The structural kernels
(check, from_dense, gather, transpose) are exact and equal bit for bit to
their twins.  Outputs sit in guarded buffers (tests/arrays.py) so a write
outside them is caught.
"""
import functools
import json
import subprocess
import sys

import numpy as np
import pytest

from arrays import (EPS32, LAYOUTS, PAR_SHAPE, assert_outside_untouched,
                    assert_within, layout, snapshot_outside)
from test_kernels import ALL_CORES, THREADS, levels_up_to, nan_out, simd, simd_level  # noqa: F401

U = float(EPS32)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

DENSITIES = [0.0, 0.01, 0.2, 0.5, 1.0]
JUNK = 5     # junk entries before and after the span of every generated CSR


# ---------------------------------------------------------------------------
# CSR generator and truths
# ---------------------------------------------------------------------------

class Csr:
    """indptr (absolute), indices, values of an m x k CSR."""

    def __init__(self, indptr, indices, values, m, k):
        self.indptr, self.indices, self.values = indptr, indices, values
        self.m, self.k = m, k

    @property
    def span(self):
        return int(self.indptr[0]), int(self.indptr[-1])

    @property
    def nnz(self):
        lo, hi = self.span
        return hi - lo

    def args(self):
        return self.indptr, self.indices, self.values

    def dense64(self):
        out = np.zeros((self.m, self.k))
        lo, hi = self.span
        rows = np.repeat(np.arange(self.m), np.diff(self.indptr))
        np.add.at(out, (rows, self.indices[lo:hi]), self.values[lo:hi].astype(np.float64))
        return out


def make_csr(rng, m, k, density, dup=0.0, unsorted=False, offset=JUNK,
             nonfinite=0.0, empty=True):
    """A random m x k CSR: row lengths ~ Binomial(k, density), rows 1, 4, 7, ...
    empty and the first and last columns unused (when ``empty`` and there
    is room), ``dup`` of the entries repeated in their row, indices shuffled
    within rows when ``unsorted``; the span starts at ``offset`` and junk
    entries surround it."""
    cols_ok = np.arange(k)
    if empty and k > 3 and density < 1:
        cols_ok = cols_ok[1:-1]
    rows = []
    for i in range(m):
        if empty and m > 3 and i % 3 == 1:
            rows.append(np.zeros(0, np.int64))
            continue
        n_i = rng.binomial(len(cols_ok), density) if len(cols_ok) else 0
        c = np.sort(rng.choice(cols_ok, size=n_i, replace=False))
        if dup and n_i:
            extra = rng.choice(c, size=max(1, int(dup * n_i)))
            c = np.sort(np.concatenate([c, extra]))
        if unsorted:
            c = rng.permutation(c)
        rows.append(c)
    lens = np.array([len(r) for r in rows], np.int64)
    nnz = int(lens.sum())
    indptr = np.empty(m + 1, np.int64)
    indptr[0] = offset
    np.cumsum(lens, out=indptr[1:])
    indptr[1:] += offset
    indices = np.full(offset + nnz + JUNK, -7, np.int32)
    indices[offset + nnz:] = k + 7
    values = np.full(offset + nnz + JUNK, np.nan, np.float32)
    if nnz:
        indices[offset:offset + nnz] = np.concatenate(rows)
        vals = rng.standard_normal(nnz).astype(np.float32)
        if nonfinite:
            count = max(3, int(nonfinite * nnz))
            pos = rng.choice(nnz, size=min(count, nnz), replace=False)
            for t, p in enumerate(pos):
                vals[p] = (np.nan, np.inf, -np.inf)[t % 3]
        values[offset:offset + nnz] = vals
    return Csr(indptr, indices, values, m, k)


def csrmm_truth(csr, b, bias=None, relu=False):
    """Float64 A @ B (+ bias) (relu) over the stored entries, and its bound."""
    b64 = np.asarray(b, np.float64)
    n = b64.shape[1]
    truth = np.zeros((csr.m, n))
    mag = np.zeros((csr.m, n))
    lo, hi = csr.span
    lens = np.diff(csr.indptr)
    finite = np.isfinite(csr.values[lo:hi]).all() and np.isfinite(b64).all()
    if hi > lo and n and finite:
        # no NaN/inf: float64 BLAS on the dense forms (its own rounding is
        # ~1e-16 relative, far inside the float32 bound); duplicates enter
        # the magnitude with their absolute values
        truth = csr.dense64() @ b64
        absval = Csr(csr.indptr, csr.indices, np.abs(csr.values), csr.m, csr.k)
        mag = absval.dense64() @ np.abs(b64)
    elif hi > lo and n:
        v = csr.values[lo:hi].astype(np.float64)[:, None]
        bb = b64[csr.indices[lo:hi]]
        with np.errstate(invalid="ignore", over="ignore"):
            prod = v * bb
            amag = np.abs(prod)
        full = np.flatnonzero(lens)
        starts = csr.indptr[full] - lo
        with np.errstate(invalid="ignore", over="ignore"):
            truth[full] = np.add.reduceat(prod, starts, axis=0)
            mag[full] = np.add.reduceat(amag, starts, axis=0)
    if bias is not None:
        bias64 = np.asarray(bias, np.float64)
        truth = truth + bias64
        mag = mag + np.abs(bias64)
    if relu:
        truth = np.where(np.isnan(truth), truth, np.maximum(truth, 0))
    with np.errstate(invalid="ignore"):
        bound = 2 * (lens[:, None] + 2) * U * mag
    return truth, np.where(np.isfinite(bound), bound, 0)


# ---------------------------------------------------------------------------
# csrmm_f32
# ---------------------------------------------------------------------------

#: (m, k, n): degenerate, tiny, odd, around the vector widths and the block
#: widths (16, 32, 64, 128), around k = 96 / 192 (where a k x 128 / k x 64
#: block of B stops fitting 48 KiB and the block halves), the narrow
#: layers, the training shapes (forward 128x784 @ 784x512 and its weight
#: gradient 784x128 @ 128x512; units 16) and a bag-of-words width.
CSRMM_SHAPES = [
    (0, 5, 4), (5, 0, 4), (5, 4, 0), (0, 0, 0), (1, 1, 1), (1, 7, 1), (3, 5, 7),
    (7, 9, 8), (9, 17, 16), (6, 33, 17), (13, 20, 31), (11, 40, 32), (5, 31, 33),
    (17, 30, 63), (9, 23, 64), (9, 70, 65), (7, 95, 127), (8, 96, 128), (6, 97, 129),
    (5, 191, 200), (5, 192, 257), (4, 193, 130), (40, 300, 10), (3, 11, 520),
    (128, 784, 16), (784, 128, 16), (128, 784, 512), (784, 128, 512),
    (64, 3000, 40),
]


def _variant(shape, density):
    """bias/relu on and off across the registry (both ways on each shape)."""
    key = hash((shape, density)) & 3
    return bool(key & 1), bool(key & 2)


@functools.lru_cache(maxsize=None)
def _csrmm_case(shape, density, seed, bias_on, relu, dup=0.0, unsorted=False,
                nonfinite=0.0, b_nonfinite=0.0):
    """(csr, b, bias, truth, bound, reference result): built once, shared by
    every SIMD level and thread count (read only)."""
    m, k, n = shape
    rng = np.random.default_rng(seed)
    csr = make_csr(rng, m, k, density, dup=dup, unsorted=unsorted, nonfinite=nonfinite)
    b = rng.standard_normal((k, n)).astype(np.float32)
    if b_nonfinite and b.size:
        flat = b.reshape(-1)
        pos = rng.choice(flat.size, size=max(3, int(b_nonfinite * flat.size)))
        for t, p in enumerate(pos):
            flat[p] = (np.nan, np.inf, -np.inf)[t % 3]
    bias = rng.standard_normal(n).astype(np.float32) if bias_on else None
    truth, bound = csrmm_truth(csr, b, bias, relu)
    from fastdense import reference
    ref = nan_out((m, n), "C")
    with np.errstate(all="ignore"):
        reference.csrmm_f32(*csr.args(), b, ref, bias=bias, relu=relu)
    assert_within(ref, truth, bound, "reference csrmm_f32 %s density %s" % (shape, density))
    for arr in (csr.indptr, csr.indices, csr.values, b) + ((bias,) if bias_on else ()):
        arr.flags.writeable = False
    return csr, b, bias, truth, bound, ref


def run_csrmm(ck, shape, density, nthreads, seed=0, lb="C", lc="C", lbias="C",
              bias_on=None, relu=None, **kw):
    if bias_on is None:
        bias_on, relu = _variant(shape, density)
    csr, b, bias, truth, bound, ref = _csrmm_case(shape, density, seed, bias_on,
                                                  bool(relu), **kw)
    m, k, n = shape
    what = "csrmm_f32 (m,k,n)=%s density=%s nnz=%d b=%s c=%s bias=%s relu=%s threads=%d %s" % (
        shape, density, csr.nnz, lb, lc, lbias if bias_on else None, relu, nthreads, kw)
    bl = layout(b, lb)
    if lb in ("bcast", "bcastcol"):   # other values: their own truth
        truth, bound = csrmm_truth(csr, np.asarray(bl), bias, bool(relu))
    c = nan_out((m, n), lc)
    around = snapshot_outside(c)
    biasl = layout(bias, lbias) if bias_on else None
    with np.errstate(all="ignore"):
        ret = ck.csrmm_f32(*csr.args(), bl, c, bias=biasl, relu=bool(relu),
                           nthreads=nthreads)
    assert ret is c, what + ": does not return c"
    assert_outside_untouched(c, around)
    assert_within(c, truth, bound, what)
    return c


@pytest.mark.parametrize("nthreads", THREADS)
@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("shape", CSRMM_SHAPES, ids=str)
def test_csrmm_shapes(ckernels, simd, shape, density, nthreads):
    run_csrmm(ckernels, shape, density, nthreads)


# B read in place (few entries per row of B: nnz < 4 k) and B copied per
# block (nnz >= 4 k); the packed path with every layout; a strided B is always
# copied, a strided C goes through a tile.
LAYOUT_SHAPES = [((6, 40, 37), 0.2), ((60, 40, 150), 0.5), ((33, 100, 20), 0.05)]
B_LAYOUTS = LAYOUTS + ["bcast", "bcastcol"]


@pytest.mark.parametrize("lc", LAYOUTS)
@pytest.mark.parametrize("lb", B_LAYOUTS)
@pytest.mark.parametrize("shape, density", LAYOUT_SHAPES, ids=str)
def test_csrmm_layouts_same_bits(ckernels, shape, density, lb, lc):
    """Every B/C layout gives the C-ordered call's bits (the same arithmetic:
    strided B is copied to the same contiguous block, strided C is written
    from a tile), at the widest SIMD level and on all cores."""
    base = run_csrmm(ckernels, shape, density, ALL_CORES, bias_on=True, relu=True)
    got = run_csrmm(ckernels, shape, density, ALL_CORES, lb=lb, lc=lc,
                    lbias={"F": "strided", "T": "neg"}.get(lc, "C"),
                    bias_on=True, relu=True)
    if lb not in ("bcast", "bcastcol"):
        assert np.array_equal(base, got, equal_nan=True), (shape, lb, lc)


@pytest.mark.parametrize("lbias", ["C", "strided", "neg"])
@pytest.mark.parametrize("relu", [False, True])
def test_csrmm_bias_layouts(ckernels, simd, lbias, relu):
    run_csrmm(ckernels, (20, 50, 70), 0.3, ALL_CORES, lbias=lbias, bias_on=True,
              relu=relu)


CSR_FORMS = {
    "duplicates": dict(dup=0.5),
    "unsorted": dict(unsorted=True),
    "dup_unsorted": dict(dup=0.3, unsorted=True),
    "nan_inf_values": dict(nonfinite=0.05),
    "nan_inf_b": dict(b_nonfinite=0.02),
}


@pytest.mark.parametrize("nthreads", THREADS)
@pytest.mark.parametrize("form", list(CSR_FORMS))
@pytest.mark.parametrize("shape, density", [((1, 5, 3), 1.0), ((9, 33, 17), 0.3),
                                            ((40, 200, 70), 0.2),
                                            ((128, 784, 512), 0.19)], ids=str)
def test_csrmm_csr_forms(ckernels, simd, shape, density, form, nthreads):
    """Duplicates are summed, order does not matter, NaN/inf in A or B come
    out where the float64 sum over the *stored* entries puts them."""
    run_csrmm(ckernels, shape, density, nthreads, **CSR_FORMS[form])


def test_csrmm_row_slices_share_arrays(ckernels, reference):
    """Rows [a, b) of a CSR are indptr[a:b+1] over the same arrays."""
    rng = np.random.default_rng(3)
    csr = make_csr(rng, 50, 60, 0.3, dup=0.2, unsorted=True)
    b = rng.standard_normal((60, 45)).astype(np.float32)
    full = np.empty((50, 45), np.float32)
    ckernels.csrmm_f32(*csr.args(), b, full)
    for a_, b_ in [(0, 50), (0, 1), (7, 8), (13, 41), (49, 50), (20, 20)]:
        for mod in (ckernels, reference):
            part = nan_out((b_ - a_, 45), "C")
            mod.csrmm_f32(csr.indptr[a_:b_ + 1], csr.indices, csr.values, b, part)
            if mod is ckernels:
                assert np.array_equal(part, full[a_:b_]), (a_, b_)
            else:
                assert np.allclose(part, full[a_:b_], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, density", [((128, 784, 512), 0.19), ((784, 128, 512), 0.19),
                                            ((128, 784, 16), 0.19), ((784, 128, 16), 0.02),
                                            ((300, 80, 100), 0.5)], ids=str)
def test_csrmm_bits_do_not_depend_on_threads(ckernels, simd, shape, density):
    """Each output row is one thread's, summed in stored order: any thread
    count (and so any split, rows or columns) gives the same bits."""
    results = [run_csrmm(ckernels, shape, density, nt) for nt in (1, 2, 3, 5, 8)]
    for nt, r in zip((2, 3, 5, 8), results[1:]):
        assert np.array_equal(results[0], r, equal_nan=True), "%s threads differ" % nt


def test_csrmm_empty_rows_exact(ckernels, reference, simd):
    """Empty rows give exact +0 (or the bias, relu'd) in every column."""
    rng = np.random.default_rng(5)
    for m, k, n in [(7, 9, 3), (10, 200, 150), (6, 30, 600)]:
        csr = make_csr(rng, m, k, 0.4)
        empty = np.diff(csr.indptr) == 0
        assert empty.any()
        b = rng.standard_normal((k, n)).astype(np.float32)
        bias = rng.standard_normal(n).astype(np.float32)
        bias[::3] = -0.0
        for mod in (ckernels, reference):
            c = nan_out((m, n), "C")
            mod.csrmm_f32(*csr.args(), b, c)
            assert np.all(c[empty] == 0) and not np.signbit(c[empty]).any()
            mod.csrmm_f32(*csr.args(), b, c, bias=bias)
            assert np.array_equal(c[empty], np.broadcast_to(bias + np.float32(0),
                                                            c[empty].shape))
            mod.csrmm_f32(*csr.args(), b, c, bias=bias, relu=True)
            assert np.array_equal(c[empty], np.broadcast_to(
                np.maximum(bias, 0) + np.float32(0), c[empty].shape))


def test_csrmm_relu_keeps_nan(ckernels, reference, simd):
    indptr = np.array([0, 1, 2, 3], np.int64)
    indices = np.array([0, 1, 2], np.int32)
    values = np.array([np.nan, -1.0, 1.0], np.float32)
    b = np.array([[1.0, 2.0], [3.0, 4.0], [-5.0, np.inf]], np.float32)
    want = np.array([[np.nan, np.nan], [0.0, 0.0], [0.0, np.inf]], np.float32)
    for mod in (ckernels, reference):
        c = np.full((3, 2), 7.0, np.float32)
        mod.csrmm_f32(indptr, indices, values, b, c, relu=True)
        assert np.array_equal(c, want, equal_nan=True), (mod.__name__, c)


def test_csrmm_weight_gradient_is_xT_dz(ckernels, reference, simd):
    """dW = X^T dZ through the transposed CSR; all-zero input columns give
    exact zero rows."""
    rng = np.random.default_rng(6)
    x = make_csr(rng, 128, 784, 0.19)
    dz = rng.standard_normal((128, 512)).astype(np.float32)
    t_indptr = np.empty(785, np.int64)
    t_indices = np.empty(x.nnz, np.int32)
    t_values = np.empty(x.nnz, np.float32)
    ckernels.csr_transpose(*x.args(), 784, t_indptr, t_indices, t_values,
                           nthreads=ALL_CORES)
    xt = Csr(t_indptr, t_indices, t_values, 784, 128)
    truth = x.dense64().T @ dz.astype(np.float64)
    dw = nan_out((784, 512), "C")
    ckernels.csrmm_f32(*xt.args(), dz, dw, nthreads=ALL_CORES)
    lens = np.diff(t_indptr)
    mag = np.abs(x.dense64().T) @ np.abs(dz.astype(np.float64))
    assert_within(dw, truth, 2 * (lens[:, None] + 2) * U * mag, "dW")
    assert np.all(dw[lens == 0] == 0) and (lens == 0).sum() >= 2


# ---------------------------------------------------------------------------
# csrtmm_f32: C = A^T @ B from the CSR of A
# ---------------------------------------------------------------------------

def csrtmm_truth(csr, b):
    """Float64 A^T @ B over the stored entries, and its bound (row c of the
    result sums the entries of column c of A)."""
    b64 = np.asarray(b, np.float64)
    lo, hi = csr.span
    n = b64.shape[1]
    truth = np.zeros((csr.k, n))
    mag = np.zeros((csr.k, n))
    if hi > lo and n:
        rows = np.repeat(np.arange(csr.m), np.diff(csr.indptr))
        cols = csr.indices[lo:hi]
        with np.errstate(invalid="ignore", over="ignore"):
            prod = csr.values[lo:hi].astype(np.float64)[:, None] * b64[rows]
            np.add.at(truth, cols, prod)
            np.add.at(mag, cols, np.abs(prod))
    lens = np.bincount(csr.indices[lo:hi], minlength=csr.k)[:csr.k] if hi > lo \
        else np.zeros(csr.k, np.int64)
    with np.errstate(invalid="ignore"):
        bound = 2 * (lens[:, None] + 2) * U * mag
    return truth, np.where(np.isfinite(bound), bound, 0), lens


#: (m, k, n): the narrow weight gradients it is for (128 x 784 batches, 10,
#: 16 and 32 units), around its 64-float column blocks and vector widths,
#: degenerate sizes, and a wide one (correct for any n).
CSRTMM_SHAPES = [(0, 5, 4), (5, 0, 4), (5, 4, 0), (1, 1, 1), (3, 5, 7), (9, 17, 16),
                 (6, 33, 17), (13, 20, 31), (11, 40, 32), (5, 31, 33), (17, 30, 63),
                 (9, 23, 64), (9, 70, 65), (7, 95, 129), (128, 784, 10),
                 (128, 784, 16), (128, 784, 32), (60, 300, 520)]


def run_csrtmm(ck, shape, density, nthreads, seed=0, lb="C", lc="C", **kw):
    m, k, n = shape
    rng = np.random.default_rng(seed)
    csr = make_csr(rng, m, k, density, **kw)
    b = layout(rng.standard_normal((m, n)).astype(np.float32), lb)
    truth, bound, lens = csrtmm_truth(csr, np.asarray(b))
    what = "csrtmm_f32 (m,k,n)=%s density=%s b=%s c=%s threads=%d %s" % (
        shape, density, lb, lc, nthreads, kw)
    c = nan_out((k, n), lc)
    around = snapshot_outside(c)
    with np.errstate(all="ignore"):
        assert ck.csrtmm_f32(*csr.args(), b, c, nthreads=nthreads) is c, what
    assert_outside_untouched(c, around)
    assert_within(c, truth, bound, what)
    assert np.all(c[lens == 0] == 0), what + ": columns without entries"
    return c


@pytest.mark.parametrize("nthreads", THREADS)
@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("shape", CSRTMM_SHAPES, ids=str)
def test_csrtmm_shapes(ckernels, reference, simd, shape, density, nthreads):
    run_csrtmm(ckernels, shape, density, nthreads)
    if simd == "generic" and nthreads == 1:
        run_csrtmm(reference, shape, density, 1)


@pytest.mark.parametrize("form", list(CSR_FORMS)[:4])
def test_csrtmm_csr_forms(ckernels, reference, simd, form):
    kw = {k: v for k, v in CSR_FORMS[form].items() if k != "b_nonfinite"}
    for mod in (ckernels, reference):
        run_csrtmm(mod, (128, 784, 16), 0.19, ALL_CORES, **kw)
        run_csrtmm(mod, (40, 60, 70), 0.3, ALL_CORES, **kw)


@pytest.mark.parametrize("lc", LAYOUTS)
@pytest.mark.parametrize("lb", B_LAYOUTS)
def test_csrtmm_layouts_same_bits(ckernels, lb, lc):
    base = run_csrtmm(ckernels, (50, 60, 40), 0.3, ALL_CORES)
    got = run_csrtmm(ckernels, (50, 60, 40), 0.3, ALL_CORES, lb=lb, lc=lc)
    if lb not in ("bcast", "bcastcol"):
        assert np.array_equal(base, got, equal_nan=True), (lb, lc)


@pytest.mark.parametrize("shape", [(128, 784, 16), (128, 784, 200), (300, 80, 129)],
                         ids=str)
def test_csrtmm_bits_do_not_depend_on_threads(ckernels, simd, shape):
    results = [run_csrtmm(ckernels, shape, 0.2, nt) for nt in (1, 2, 3, 5)]
    for r in results[1:]:
        assert np.array_equal(results[0], r, equal_nan=True)


def test_csrtmm_agrees_with_transpose_then_csrmm(ckernels, simd):
    """The two routes to X^T dZ give the same values to rounding."""
    rng = np.random.default_rng(16)
    x = make_csr(rng, 128, 784, 0.19, dup=0.1)
    dz = rng.standard_normal((128, 16)).astype(np.float32)
    t = _transpose(ckernels, x, ALL_CORES)
    a = np.empty((784, 16), np.float32)
    b = np.empty((784, 16), np.float32)
    ckernels.csrmm_f32(*t.args(), dz, a)
    ckernels.csrtmm_f32(*x.args(), dz, b)
    assert np.allclose(a, b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# csr_check
# ---------------------------------------------------------------------------

def _corruptions(csr):
    """(name, indptr, indices) variants that must fail the check."""
    lo, hi = csr.span
    out = []
    ip = csr.indptr.copy()
    ip[2] = ip[3] + 1
    out.append(("indptr decreases", ip, csr.indices))
    ip = csr.indptr.copy()
    ip[0] = -1
    out.append(("indptr[0] < 0", ip, csr.indices))
    ip = csr.indptr.copy()
    ip[-1] = len(csr.indices) + 1
    out.append(("indptr beyond indices", ip, csr.indices))
    for name, bad in (("index -1", -1), ("index k", csr.k), ("index 2**31-1", 2 ** 31 - 1)):
        ix = csr.indices.copy()
        ix[lo + (hi - lo) // 2] = bad
        out.append((name, csr.indptr, ix))
    return out


@pytest.mark.parametrize("nthreads", THREADS)
@pytest.mark.parametrize("m, k, density", [(6, 9, 0.5), (40, 50, 0.3), (3000, 150, 0.4)])
def test_csr_check(ckernels, reference, m, k, density, nthreads):
    csr = make_csr(np.random.default_rng(7), m, k, density, dup=0.1, unsorted=True)
    for mod in (ckernels, reference):
        # the junk outside the span (indices -7, k + 7) is not looked at
        assert mod.csr_check(*csr.args()[:2], k, nthreads=nthreads) is True
        for name, ip, ix in _corruptions(csr):
            assert mod.csr_check(ip, ix, k, nthreads=nthreads) is False, \
                (mod.__name__, name)
        assert mod.csr_check(csr.indptr, csr.indices, k - 1, nthreads=nthreads) in (
            True, False)


def test_csr_check_degenerate(ckernels, reference):
    for mod in (ckernels, reference):
        assert mod.csr_check(np.zeros(1, np.int64), np.zeros(0, np.int32), 0)
        assert mod.csr_check(np.array([3, 3, 3], np.int64), np.full(3, -1, np.int32), 0)
        assert not mod.csr_check(np.zeros(0, np.int64), np.zeros(0, np.int32), 4)
        assert not mod.csr_check(np.array([0, 1], np.int64), np.zeros(1, np.int32), 0)


# ---------------------------------------------------------------------------
# csr_from_dense_f32
# ---------------------------------------------------------------------------

def _dense_input(rng, shape, density, specials):
    x = rng.standard_normal(shape).astype(np.float32)
    x[rng.random(shape) >= density] = 0
    if specials and x.size:
        flat = x.reshape(-1)
        pos = rng.choice(flat.size, size=min(flat.size, 8), replace=False)
        for t, p in enumerate(pos):
            flat[p] = (np.nan, np.inf, -np.inf, -0.0)[t % 4]
    return x


def _from_dense(mod, x, nthreads, offset=0):
    m = x.shape[0]
    indptr = np.full(m + 1, -99, np.int64)
    nnz = mod.csr_from_dense_f32(x, indptr, nthreads=nthreads)
    assert nnz == indptr[-1] and indptr[0] == 0
    indptr += offset
    cap = offset + nnz
    indices = np.full(cap + JUNK, -5, np.int32)
    values = np.full(cap + JUNK, -12345.0, np.float32)
    assert mod.csr_from_dense_f32(x, indptr, indices[:cap], values[:cap],
                                  nthreads=nthreads) == nnz
    assert np.all(indices[:offset] == -5) and np.all(indices[cap:] == -5)
    assert np.all(values[cap:] == -12345.0)
    return indptr, indices, values


FROM_DENSE_SHAPES = [(0, 0), (0, 7), (7, 0), (1, 1), (1, 17), (17, 1), (5, 33), (33, 65),
                     (128, 784), PAR_SHAPE]


@pytest.mark.parametrize("lay", ["C", "F", "strided", "neg", "rowpad", "T"])
@pytest.mark.parametrize("nthreads", THREADS)
@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("shape", FROM_DENSE_SHAPES, ids=str)
def test_csr_from_dense(ckernels, reference, shape, density, nthreads, lay):
    rng = np.random.default_rng(8)
    x0 = _dense_input(rng, shape, density, specials=density > 0)
    x = layout(x0, lay)
    m, n = shape
    rows, cols = np.nonzero(x0 != 0)          # NaN kept, -0.0 dropped
    got = {}
    for mod in (ckernels, reference):
        indptr, indices, values = _from_dense(mod, x, nthreads, offset=3)
        assert np.array_equal(np.diff(indptr), np.bincount(rows, minlength=m))
        assert np.array_equal(indices[3:3 + len(cols)], cols)
        assert np.array_equal(values[3:3 + len(cols)], x0[rows, cols], equal_nan=True)
        got[mod] = (indptr, indices, values)
    for a, b in zip(got[ckernels], got[reference]):
        assert a.tobytes() == b.tobytes()


def test_csr_from_dense_negative_zero_dropped(ckernels, reference):
    x = np.array([[-0.0, 0.0, 1.0, np.nan], [np.inf, -0.0, 0.0, -np.inf]], np.float32)
    for mod in (ckernels, reference):
        indptr, indices, values = _from_dense(mod, x, 1)
        assert indptr.tolist() == [0, 2, 4]
        assert indices[:4].tolist() == [2, 3, 0, 3]


@pytest.mark.parametrize("bad", ["short_row", "long_row", "capacity", "decreasing",
                                 "negative"])
def test_csr_from_dense_fill_rejects_wrong_indptr(ckernels, reference, bad):
    x = _dense_input(np.random.default_rng(9), (20, 30), 0.3, False)
    for mod in (ckernels, reference):
        indptr = np.empty(21, np.int64)
        nnz = mod.csr_from_dense_f32(x, indptr)
        indices = np.full(nnz + 10, -5, np.int32)
        values = np.full(nnz + 10, -1.0, np.float32)
        cap = nnz
        if bad == "short_row":
            indptr[5:] -= 1
        elif bad == "long_row":
            indptr[5:] += 1
            cap = nnz + 1
        elif bad == "capacity":
            cap = nnz - 1
        elif bad == "decreasing":
            indptr[3] = indptr[4] + 1
        else:
            indptr[0] = -1
        with pytest.raises(ValueError):
            mod.csr_from_dense_f32(x, indptr, indices[:cap], values[:cap])
        assert np.all(indices[cap:] == -5) and np.all(values[cap:] == -1.0)


# ---------------------------------------------------------------------------
# csr_gather
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("nthreads", THREADS)
@pytest.mark.parametrize("m_src, k, density, m", [(10, 7, 0.5, 0), (10, 7, 0.5, 1),
                                                 (30, 40, 0.3, 17), (200, 784, 0.19, 128),
                                                 (3000, 100, 0.5, 2500), (20, 5, 0.0, 9)])
def test_csr_gather(ckernels, reference, m_src, k, density, m, nthreads):
    rng = np.random.default_rng(10)
    src = make_csr(rng, m_src, k, density, dup=0.1, unsorted=True)
    rows = rng.integers(0, m_src, size=m).astype(np.int64)   # repeats allowed
    if m > 2:
        rows[:2] = [m_src - 1, 0]
    want = src.dense64()[rows]
    got = {}
    for mod in (ckernels, reference):
        cap = int((np.diff(src.indptr)[rows]).sum())
        out_indptr = np.full(m + 1, -3, np.int64)
        out_indices = np.full(cap + JUNK, -5, np.int32)
        out_values = np.full(cap + JUNK, -1.0, np.float32)
        nnz = mod.csr_gather(rows, *src.args(), out_indptr, out_indices[:cap],
                             out_values[:cap], nthreads=nthreads)
        assert nnz == cap and out_indptr[0] == 0 and out_indptr[-1] == cap
        assert np.all(out_indices[cap:] == -5) and np.all(out_values[cap:] == -1.0)
        batch = Csr(out_indptr, out_indices, out_values, m, k)
        assert np.array_equal(batch.dense64(), want)
        got[mod] = (out_indptr, out_indices, out_values)
    for a, b in zip(got[ckernels], got[reference]):
        assert a.tobytes() == b.tobytes()


def test_csr_gather_rejects(ckernels, reference):
    src = make_csr(np.random.default_rng(11), 10, 8, 0.5, empty=False)
    lens = np.diff(src.indptr)
    for mod in (ckernels, reference):
        for rows in ([0, 10], [-1], [2 ** 40]):
            with pytest.raises(ValueError):
                mod.csr_gather(np.array(rows, np.int64), *src.args(),
                               np.empty(len(rows) + 1, np.int64),
                               np.empty(100, np.int32), np.empty(100, np.float32))
        rows = np.array([3, 4, 5], np.int64)
        need = int(lens[rows].sum())
        out_indices = np.full(need - 1, -5, np.int32)
        out_values = np.full(need - 1, -1.0, np.float32)
        with pytest.raises(ValueError, match="capacity"):
            mod.csr_gather(rows, *src.args(), np.empty(4, np.int64), out_indices,
                           out_values)
        assert np.all(out_indices == -5) and np.all(out_values == -1.0)
        with pytest.raises(ValueError):   # out_indptr of the wrong length
            mod.csr_gather(rows, *src.args(), np.empty(3, np.int64),
                           np.empty(100, np.int32), np.empty(100, np.float32))


# ---------------------------------------------------------------------------
# csr_transpose
# ---------------------------------------------------------------------------

def _transpose(mod, csr, nthreads, work=True):
    nnz = csr.nnz
    out_indptr = np.full(csr.k + 1, -3, np.int64)
    out_indices = np.full(nnz + JUNK, -5, np.int32)
    out_values = np.full(nnz + JUNK, -1.0, np.float32)
    w = None
    if work:
        w = np.full(mod.csr_transpose_work_size(csr.k, nthreads), -9, np.int64)
    assert mod.csr_transpose(*csr.args(), csr.k, out_indptr, out_indices[:nnz],
                             out_values[:nnz], w, nthreads=nthreads) == nnz
    assert np.all(out_indices[nnz:] == -5) and np.all(out_values[nnz:] == -1.0)
    return Csr(out_indptr, out_indices, out_values, csr.k, csr.m)


@pytest.mark.parametrize("nthreads", THREADS + [3])
@pytest.mark.parametrize("form", ["plain", "dup_unsorted"])
@pytest.mark.parametrize("m, k, density", [(0, 5, 0.5), (5, 0, 0.5), (1, 1, 1.0), (7, 13, 0.3),
                                           (128, 784, 0.19), (128, 784, 0.0),
                                           (1000, 784, 0.2), (40, 10000, 0.02),
                                           (3, 64, 1.0)])
def test_csr_transpose(ckernels, reference, m, k, density, form, nthreads):
    rng = np.random.default_rng(12)
    kw = dict(dup=0.3, unsorted=True) if form == "dup_unsorted" else {}
    csr = make_csr(rng, m, k, density, **kw)
    t_c = _transpose(ckernels, csr, nthreads)
    t_r = _transpose(reference, csr, nthreads, work=False)
    for a, b in zip(t_c.args(), t_r.args()):
        assert a.tobytes() == b.tobytes(), "C and NumPy transposes differ"
    assert t_c.indptr[0] == 0
    assert np.array_equal(t_c.dense64(), csr.dense64().T)
    # rows of A^T list the rows of A in order (a stable counting sort)
    for c in range(k):
        ids = t_c.indices[t_c.indptr[c]:t_c.indptr[c + 1]]
        assert np.all(np.diff(ids) >= 0)
    # and transposing back gives A with sorted rows
    back = _transpose(ckernels, t_c, nthreads)
    assert np.array_equal(back.dense64(), csr.dense64())


def test_csr_transpose_same_for_every_thread_count(ckernels):
    csr = make_csr(np.random.default_rng(13), 2000, 300, 0.2, dup=0.2, unsorted=True)
    base = _transpose(ckernels, csr, 1)
    for nt in (2, 3, 5, 8):
        t = _transpose(ckernels, csr, nt)
        for a, b in zip(base.args(), t.args()):
            assert a.tobytes() == b.tobytes(), nt


def test_csr_transpose_rejects(ckernels, reference):
    csr = make_csr(np.random.default_rng(14), 20, 10, 0.5, empty=False)
    nnz = csr.nnz
    for mod in (ckernels, reference):
        for name, ip, ix in _corruptions(csr):
            if name.startswith("indptr beyond"):
                continue
            with pytest.raises(ValueError):
                mod.csr_transpose(ip, ix, csr.values, 10, np.empty(11, np.int64),
                                  np.empty(nnz + 2, np.int32), np.empty(nnz + 2, np.float32),
                                  np.empty(100, np.int64))
        with pytest.raises(ValueError):   # outputs too small
            mod.csr_transpose(*csr.args(), 10, np.empty(11, np.int64),
                              np.empty(nnz - 1, np.int32), np.empty(nnz, np.float32))
        with pytest.raises(ValueError):   # out_indptr of the wrong length
            mod.csr_transpose(*csr.args(), 10, np.empty(10, np.int64),
                              np.empty(nnz, np.int32), np.empty(nnz, np.float32))
    with pytest.raises(ValueError, match="work"):
        ckernels.csr_transpose(*csr.args(), 10, np.empty(11, np.int64),
                               np.empty(nnz, np.int32), np.empty(nnz, np.float32),
                               np.empty(10 * 2 - 1, np.int64), nthreads=2)


# ---------------------------------------------------------------------------
# bad calls: ValueError, never a crash (in a subprocess)
# ---------------------------------------------------------------------------

BAD_CALLS = {
    "csrmm: c rows": "k.csrmm_f32(ip, ix, vx, f(6, 4), f(4, 4))",
    "csrmm: c cols": "k.csrmm_f32(ip, ix, vx, f(6, 4), f(3, 5))",
    "csrmm: bias length": "k.csrmm_f32(ip, ix, vx, f(6, 4), f(3, 4), bias=f(5)[0])",
    "csrmm: index >= k": "k.csrmm_f32(ip, ix, vx, f(2, 4), f(3, 4))",
    "csrmm: negative index": "k.csrmm_f32(ip, neg, vx, f(6, 4), f(3, 4))",
    "csrmm: indptr past indices": "k.csrmm_f32(np.array([0, 2, 99]), ix, vx, f(6, 4), f(2, 4))",
    "csrmm: indptr negative": "k.csrmm_f32(np.array([-4, 2, 5]), ix, vx, f(6, 4), f(2, 4))",
    "csrmm: indptr decreasing": "k.csrmm_f32(np.array([0, 5, 2, 6]), ix, vx, f(6, 4), f(3, 4))",
    "csrmm: indptr hides a wrap": "k.csrmm_f32(np.array([0, 6, 0, 6]), ix, vx, f(6, 4), f(3, 4))",
    "csrmm: empty indptr": "k.csrmm_f32(np.zeros(0, np.int64), ix, vx, f(6, 4), f(0, 4))",
    "csrmm: int64 indices": "k.csrmm_f32(ip, ix.astype(np.int64), vx, f(6, 4), f(3, 4))",
    "csrmm: float64 values": "k.csrmm_f32(ip, ix, vx.astype(np.float64), f(6, 4), f(3, 4))",
    "csrmm: values shorter": "k.csrmm_f32(ip, ix, vx[:3], f(6, 4), f(3, 4))",
    "csrmm: read-only c": "k.csrmm_f32(ip, ix, vx, f(6, 4), ro(f(3, 4)))",
    "csrmm: strided indices": "k.csrmm_f32(ip, np.repeat(ix, 2)[::2], vx, f(6, 4), f(3, 4))",
    "csrtmm: b rows": "k.csrtmm_f32(ip, ix, vx, f(4, 4), f(6, 4))",
    "csrtmm: c cols": "k.csrtmm_f32(ip, ix, vx, f(3, 4), f(6, 5))",
    "csrtmm: index >= k": "k.csrtmm_f32(ip, ix, vx, f(3, 4), f(2, 4))",
    "csrtmm: negative index": "k.csrtmm_f32(ip, neg, vx, f(3, 4), f(6, 4))",
    "csrtmm: indptr past indices": "k.csrtmm_f32(np.array([0, 2, 99]), ix, vx, f(2, 4), f(6, 4))",
    "csrtmm: indptr decreasing": "k.csrtmm_f32(np.array([0, 5, 2, 6]), ix, vx, f(3, 4), f(6, 4))",
    "csrtmm: read-only c": "k.csrtmm_f32(ip, ix, vx, f(3, 4), ro(f(6, 4)))",
    "gather: out_indptr length": "k.csr_gather(np.array([0, 1]), ip, ix, vx, np.empty(2, np.int64), np.empty(9, np.int32), np.empty(9, np.float32))",
    "gather: capacity": "k.csr_gather(np.array([0, 1, 2]), ip, ix, vx, np.empty(4, np.int64), np.empty(5, np.int32), np.empty(9, np.float32))",
    "gather: row out of range": "k.csr_gather(np.array([3]), ip, ix, vx, np.empty(2, np.int64), np.empty(9, np.int32), np.empty(9, np.float32))",
    "gather: src indptr past": "k.csr_gather(np.array([0]), np.array([0, 50]), ix, vx, np.empty(2, np.int64), np.empty(99, np.int32), np.empty(99, np.float32))",
    "transpose: out_indptr": "k.csr_transpose(ip, ix, vx, 6, np.empty(6, np.int64), np.empty(6, np.int32), np.empty(6, np.float32))",
    "transpose: out short": "k.csr_transpose(ip, ix, vx, 6, np.empty(7, np.int64), np.empty(5, np.int32), np.empty(6, np.float32))",
    "transpose: index >= k": "k.csr_transpose(ip, ix, vx, 2, np.empty(3, np.int64), np.empty(6, np.int32), np.empty(6, np.float32))",
    "transpose: work short": "k.csr_transpose(ip, ix, vx, 6, np.empty(7, np.int64), np.empty(6, np.int32), np.empty(6, np.float32), np.empty(5, np.int64))",
    "transpose: k < 0": "k.csr_transpose(ip, ix, vx, -1, np.empty(0, np.int64), np.empty(6, np.int32), np.empty(6, np.float32))",
    "from_dense: indptr length": "k.csr_from_dense_f32(f(3, 4), np.empty(3, np.int64))",
    "from_dense: only indices": "k.csr_from_dense_f32(f(3, 4), np.zeros(4, np.int64), np.empty(12, np.int32))",
    "from_dense: stale indptr": "k.csr_from_dense_f32(f(3, 4), np.zeros(4, np.int64), np.empty(12, np.int32), np.empty(12, np.float32))",
    "from_dense: capacity": "k.csr_from_dense_f32(f(3, 4), np.array([0, 4, 8, 12]), np.empty(11, np.int32), np.empty(12, np.float32))",
    "from_dense: float64 x": "k.csr_from_dense_f32(f(3, 4).astype(np.float64), np.empty(4, np.int64))",
}

_BAD_CALL_SCRIPT = r"""
import json, sys
import numpy as np
import fastdense._ckernels as k
def f(*shape): return np.ones(shape, np.float32)
def ro(a):
    a.flags.writeable = False
    return a
ip = np.array([0, 2, 3, 6], np.int64)
ix = np.array([0, 5, 2, 1, 3, 4], np.int32)
neg = np.array([0, -5, 2, 1, 3, 4], np.int32)
vx = np.arange(6, dtype=np.float32)
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
        pytest.fail("%s: the process died (exit %s) in %r: %s\n%s"
                    % (name, proc.returncode, crashed_in, BAD_CALLS.get(crashed_in),
                       proc.stderr[-2000:]))
    assert results[name].startswith("ValueError"), \
        "%s: %s gave %s" % (name, BAD_CALLS[name], results[name])


def test_reference_rejects_the_same_csrs(reference):
    """The twins raise ValueError on the structures the C kernels reject."""
    ip = np.array([0, 2, 3, 6], np.int64)
    ix = np.array([0, 5, 2, 1, 3, 4], np.int32)
    vx = np.arange(6, dtype=np.float32)
    f = np.ones((2, 4), np.float32)
    for call in (lambda: reference.csrmm_f32(ip, ix, vx, f, np.empty((3, 4), np.float32)),
                 lambda: reference.csrmm_f32(np.array([0, 5, 2, 6]), ix, vx,
                                             np.ones((6, 4), np.float32),
                                             np.empty((3, 4), np.float32)),
                 lambda: reference.csrmm_f32(np.array([0, 2, 99]), ix, vx,
                                             np.ones((6, 4), np.float32),
                                             np.empty((2, 4), np.float32))):
        with pytest.raises(ValueError):
            call()


# ---------------------------------------------------------------------------
# reference counts
# ---------------------------------------------------------------------------

def test_reference_counts_unchanged(ckernels):
    rng = np.random.default_rng(15)
    csr = make_csr(rng, 30, 40, 0.3)
    b = rng.standard_normal((40, 20)).astype(np.float32)
    c = np.empty((30, 20), np.float32)
    bias = np.ones(20, np.float32)
    t = [np.empty(41, np.int64), np.empty(csr.nnz, np.int32), np.empty(csr.nnz, np.float32)]
    g = [np.empty(4, np.int64), np.empty(csr.nnz, np.int32), np.empty(csr.nnz, np.float32)]
    rows = np.array([1, 2, 3], np.int64)
    x = np.ones((5, 6), np.float32)
    xp = np.empty(6, np.int64)
    objs = [csr.indptr, csr.indices, csr.values, b, c, bias, rows, x, xp] + t + g

    dz = rng.standard_normal((30, 9)).astype(np.float32)
    dw = np.empty((40, 9), np.float32)
    objs += [dz, dw]

    def calls():
        ckernels.csrmm_f32(*csr.args(), b, c, bias=bias, relu=True)
        ckernels.csrtmm_f32(*csr.args(), dz, dw)
        ckernels.csr_transpose(*csr.args(), 40, *t)
        ckernels.csr_gather(rows, *csr.args(), *g)
        ckernels.csr_check(csr.indptr, csr.indices, 40)
        ckernels.csr_from_dense_f32(x, xp)
    calls()
    before = [sys.getrefcount(o) for o in objs]
    for _ in range(200):
        calls()
    assert [sys.getrefcount(o) for o in objs] == before
