"""Array generators for the kernel and ops tests (in the style of bottleneck's).

Every kernel must give the reference's answer for every *shape* (empty, one
element, odd sizes, sizes that are not multiples of the SIMD width 8/16, sizes
just around the GEMM blocking parameters MR=6, NR=16/32, KC=256, MC=144, a few
larger) and every *layout* an array can have in NumPy:

=========  ==============================================================
"C"        C-contiguous
"F"        Fortran-contiguous
"T"        the transpose of a C-contiguous (n, m) array (a view)
"strided"  ``base[::2, ::3]`` of a bigger C array: gaps between elements
"neg"      ``base[::-1, ::-1]``: negative strides on both axes
"negrow"   ``base[::-1]``: negative row stride, positive column stride
"rowpad"   ``base[:, 2:n+2]`` of an (m, n+5) array: contiguous rows, padded,
           starting 8 bytes into a row (not SIMD-aligned)
"line"     contiguous rows that each start on a 64-byte cache line (row
           stride rounded up to 16 floats): the only layout whose B the GEMM
           reads in place instead of packing (NumPy's own arrays start 16
           bytes past a line); "lineT" is its transpose (aligned columns)
"bcast"    ``np.broadcast_to(row, (m, n))``: row stride 0 (read-only)
"bcastcol" ``np.broadcast_to(col, (m, n))``: column stride 0 (read-only)
=========  ==============================================================

Every array lives inside a bigger buffer filled with a sentinel (the gaps of
strided views, and GUARD elements before and after), so a kernel that writes
outside an output is caught by :func:`assert_outside_untouched`.
"""
import os
import re

import numpy as np

EPS32 = np.float32(2.0 ** -24)  # unit roundoff of float32 (half an ulp of 1)

# -- shapes -----------------------------------------------------------------


def _par_min_elems():
    """FD_PAR_MIN_ELEMS of src_c/fastdense.h: below it the elementwise, softmax
    and optimizer kernels run on one thread whatever nthreads says."""
    header = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "src_c", "fastdense.h")
    with open(header) as f:
        return int(re.search(r"#define FD_PAR_MIN_ELEMS (\d+)", f.read()).group(1))


PAR_MIN_ELEMS = _par_min_elems()

#: a shape just over the threshold, with odd sides, so that OpenMP really
#: forks and the split falls off every SIMD width and cache line
PAR_SHAPE = (401, 353)
assert PAR_SHAPE[0] * PAR_SHAPE[1] > PAR_MIN_ELEMS, "raise PAR_SHAPE"

#: 2-D shapes for the elementwise / row kernels (PAR_SHAPE: threaded).
SHAPES_2D = [
    (0, 0), (0, 7), (7, 0), (1, 1), (1, 17), (17, 1), (3, 5), (8, 16),
    (9, 15), (6, 33), (31, 33), (16, 32), (65, 129), (128, 10),
    PAR_SHAPE,
]
#: the few shapes every layout is tried on (PAR_SHAPE: threaded strided code)
LAYOUT_SHAPES_2D = [(1, 1), (7, 17), (33, 65), PAR_SHAPE]

#: (m, k, n) for the matrix product: degenerate, tiny (below the direct-loop
#: threshold m*n*k < 4096 and just above), around the micro-tiles (generic
#: 4x8, AVX2 6x16, AVX-512 12x32), around KC = 256 / 384 and MC = 128 / 144,
#: the narrow (n = 1, 3, 10) transposed orientation, the training shapes, and
#: n beyond the generic NC = 2048.
GEMM_SHAPES = [
    (0, 5, 4), (4, 0, 5), (5, 4, 0), (0, 0, 0), (1, 1, 1), (1, 7, 1),
    (3, 5, 7), (5, 7, 15), (4, 8, 8), (6, 16, 16), (7, 17, 17), (6, 8, 32),
    (12, 9, 33), (11, 40, 31), (13, 41, 65), (16, 16, 16), (17, 16, 16),
    (13, 255, 31), (7, 256, 48), (5, 257, 47), (9, 383, 20), (9, 384, 33),
    (9, 385, 32), (3, 769, 17), (127, 20, 9), (129, 21, 8), (143, 20, 15),
    (144, 33, 16), (145, 257, 33), (289, 40, 40), (200, 50, 1), (64, 300, 3),
    (150, 300, 70), (128, 784, 10), (128, 512, 129), (3, 10, 2049),
    (1024, 9, 40), (1025, 20, 33), (1100, 64, 16),
    (64, 7000, 10),   # narrow n, long k: one shared B^T for all threads
]
#: the shapes every layout combination of a, b, c is tried on: one through
#: the packed path, one small enough (m*n*k < 4096) for the direct loop
GEMM_LAYOUT_SHAPES = [(13, 40, 37), (7, 17, 33)]

LAYOUTS = ["C", "F", "T", "strided", "neg", "negrow", "rowpad", "line"]
READONLY_LAYOUTS = ["bcast", "bcastcol"]
ALL_LAYOUTS = LAYOUTS + READONLY_LAYOUTS

SENTINEL = np.float32(-12345.0)


# -- layouts ----------------------------------------------------------------

GUARD = 16  # elements of SENTINEL before and after every buffer (64 bytes)


def _guarded(shape, dtype):
    """A C-contiguous array of ``shape`` inside a bigger SENTINEL-filled buffer,
    so that writes just before or after it are caught too."""
    size = int(np.prod(shape))
    buf = np.full(size + 2 * GUARD, SENTINEL, dtype)
    return buf[GUARD:GUARD + size].reshape(shape)


def _line_aligned(m, n, dtype):
    """(m, n) with every row starting on a 64-byte line, in a guarded buffer."""
    per = 64 // np.dtype(dtype).itemsize
    ld = -(-max(n, 1) // per) * per
    size = m * ld
    buf = np.full(size + 2 * GUARD + per, SENTINEL, dtype)
    start = GUARD + (-(buf.ctypes.data + GUARD * buf.itemsize) % 64) // buf.itemsize
    return buf[start:start + size].reshape(m, ld)[:, :n]


def _empty_like_layout(shape, layout, dtype):
    """A writable array of ``shape`` in ``layout`` (its buffer filled with SENTINEL)."""
    shape = tuple(shape)
    if layout == "C":
        return _guarded(shape, dtype)
    if layout == "F":
        return _guarded(shape[::-1], dtype).T
    if len(shape) == 1:
        (n,) = shape
        if layout == "T":
            return _guarded((n,), dtype)
        if layout == "strided":
            return _guarded((3 * n,), dtype)[::3]
        if layout in ("neg", "negrow"):
            return _guarded((n,), dtype)[::-1]
        if layout == "rowpad":
            return _guarded((n + 5,), dtype)[2:n + 2]
        if layout == "line":
            return _line_aligned(1, n, dtype)[0]
        raise ValueError(layout)
    m, n = shape
    if layout == "T":
        return _guarded((n, m), dtype).T
    if layout == "strided":
        return _guarded((2 * m, 3 * n), dtype)[::2, ::3]
    if layout == "neg":
        return _guarded((m, n), dtype)[::-1, ::-1]
    if layout == "negrow":
        return _guarded((m, n), dtype)[::-1]
    if layout == "rowpad":
        return _guarded((m, n + 5), dtype)[:, 2:n + 2]
    if layout == "line":
        return _line_aligned(m, n, dtype)
    if layout == "lineT":   # the transpose of a "line" array: aligned columns
        return _line_aligned(n, m, dtype).T
    raise ValueError("unknown layout %r" % (layout,))


def layout(values, layout_name):
    """``values`` copied into a fresh array of the given layout."""
    values = np.asarray(values)
    if layout_name in ("bcast", "bcastcol"):
        if values.ndim != 2:
            raise ValueError("broadcast layouts are 2-D")
        m, n = values.shape
        if layout_name == "bcast":
            src = values[0].copy() if m else np.zeros(n, values.dtype)
            return np.broadcast_to(src, (m, n))
        src = values[:, :1].copy() if n else np.zeros((m, 1), values.dtype)
        return np.broadcast_to(src, (m, n))
    out = _empty_like_layout(values.shape, layout_name, values.dtype)
    out[...] = values
    return out


def make(shape, layout_name="C", rng=None, dtype=np.float32, scale=1.0,
         nonfinite=0.0, positive=False):
    """Random normal values of ``shape`` in ``layout_name``.

    ``nonfinite`` is the fraction of entries replaced by NaN, +inf or -inf
    (at least one of each when the array is big enough and nonfinite > 0).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    vals = (rng.standard_normal(shape) * scale).astype(dtype)
    if positive:
        vals = np.abs(vals)
    if nonfinite:
        inject_nonfinite(vals, rng, nonfinite)
    return layout(vals, layout_name)


def inject_nonfinite(values, rng, fraction=0.05, kinds=(np.nan, np.inf, -np.inf)):
    """Put NaN/+inf/-inf at random positions of ``values`` (in place)."""
    flat = values.reshape(-1)  # values is a fresh contiguous array here
    if flat.size == 0:
        return values
    count = max(len(kinds), int(round(fraction * flat.size)))
    count = min(count, flat.size)
    pos = rng.choice(flat.size, size=count, replace=False)
    for i, p in enumerate(pos):
        flat[p] = kinds[i % len(kinds)]
    return values


# -- checks -------------------------------------------------------------------

def _same_view_on(view, other_base):
    """The view of ``other_base`` that ``view`` is of its own base."""
    base = view.base
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    offset = (view.__array_interface__["data"][0]
              - base.__array_interface__["data"][0])
    return np.ndarray(view.shape, view.dtype, buffer=other_base, offset=offset,
                      strides=view.strides)


def root_base(arr):
    base = arr
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return base


def snapshot_outside(view):
    """A copy of the memory around ``view`` (or None for a plain array)."""
    base = root_base(view)
    if base is view or not isinstance(base, np.ndarray):
        return None
    return base.copy()


def assert_outside_untouched(view, before):
    """Nothing outside ``view`` in its base changed since ``snapshot_outside``."""
    if before is None:
        return
    base = root_base(view)
    after = base.copy()
    # Put the old contents back inside the view: what is left must be equal.
    _same_view_on(view, after)[...] = _same_view_on(view, before)
    if not np.array_equal(after.view(np.uint8), before.view(np.uint8)):
        raise AssertionError("a kernel wrote outside its output view "
                             "(shape %s, strides %s)" % (view.shape, view.strides))


def nonfinite_pattern(a):
    """(isnan, isposinf, isneginf) masks of ``a``."""
    a = np.asarray(a)
    return np.isnan(a), np.isposinf(a), np.isneginf(a)


def assert_same_nonfinite(got, want, what=""):
    """NaN, +inf and -inf exactly where ``want`` has them."""
    for kind, g, w in zip(("NaN", "+inf", "-inf"),
                          nonfinite_pattern(got), nonfinite_pattern(want)):
        if not np.array_equal(g, w):
            idx = np.argwhere(g != w)[:5]
            raise AssertionError(
                "%s: %s positions differ at %s: got %s, want %s"
                % (what, kind, idx.tolist(),
                   [np.asarray(got)[tuple(i)] for i in idx],
                   [np.asarray(want)[tuple(i)] for i in idx]))


def assert_within(got, want, bound, what=""):
    """``|got - want| <= bound`` elementwise where ``want`` is finite, and the
    same NaN/inf positions.  ``bound`` broadcasts against ``want``."""
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, "%s: shape %s != %s" % (what, got.shape, want.shape)
    assert_same_nonfinite(got, want, what)
    fin = np.isfinite(want)
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    bound = np.broadcast_to(np.asarray(bound, np.float64), want.shape)
    err = np.where(fin, np.abs(g - w), 0.0)
    bad = fin & ~(err <= bound)
    if bad.any():
        idx = np.argwhere(bad)[:5]
        ratio = np.max(np.where(bad, err / np.maximum(bound, 1e-300), 0))
        raise AssertionError(
            "%s: %d of %d values outside the bound (worst err/bound %.3g); "
            "first at %s: got %s want %s bound %s"
            % (what, bad.sum(), bad.size, ratio, idx.tolist(),
               [g[tuple(i)] for i in idx], [w[tuple(i)] for i in idx],
               [bound[tuple(i)] for i in idx]))
