"""Sparse inputs above the kernels: the sparse-input mode (fastdense._config),
the CSR container, conversions, batch workspace and 'auto' rule
(fastdense._sparse), and the drop-in ``ops.sparse_dot`` against scipy's
``a @ b``.

scipy is optional: tests that need it take the ``scipy_sparse`` fixture
(they fail in CI when scipy is missing and skip elsewhere); the behaviour
without scipy is checked in a subprocess that blocks its import.
"""
import json
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

import fastdense
from fastdense import _config, _sparse, ops, reference
from arrays import EPS32, layout
from test_kernels import ALL_CORES

U = float(EPS32)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, env_update=None):
    env = dict(os.environ)
    for key in ("FASTDENSE_BACKEND", "FASTDENSE_SPARSE_INPUTS"):
        env.pop(key, None)
    env.update(env_update or {})
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def sparse_dense(rng, shape, density, dtype=np.float32):
    x = rng.standard_normal(shape)
    x[rng.random(shape) >= density] = 0
    if shape[0] > 3:
        x[1] = 0                 # an empty row
    if shape[1] > 3:
        x[:, 2] = 0              # an empty column
    return x.astype(dtype)


@pytest.fixture
def restore_sparse_mode():
    mode = fastdense.get_sparse_inputs()
    try:
        yield
    finally:
        fastdense.set_sparse_inputs(mode)


# ---------------------------------------------------------------------------
# the sparse-input mode
# ---------------------------------------------------------------------------

def test_mode_api(restore_sparse_mode):
    assert fastdense.get_sparse_inputs() == "auto"
    for name in ("set_sparse_inputs", "get_sparse_inputs", "use_sparse_inputs"):
        assert name in fastdense.__all__ and hasattr(fastdense, name)
    fastdense.set_sparse_inputs("ALWAYS")
    assert fastdense.get_sparse_inputs() == "always"
    with fastdense.use_sparse_inputs("never") as mode:
        assert mode == "never" and fastdense.get_sparse_inputs() == "never"
    assert fastdense.get_sparse_inputs() == "always"
    with pytest.raises(RuntimeError):
        with fastdense.use_sparse_inputs("auto"):
            raise RuntimeError("inside")
    assert fastdense.get_sparse_inputs() == "always"


@pytest.mark.parametrize("bad", ["sometimes", "", None, 1, True])
def test_mode_rejects_unknown(restore_sparse_mode, bad):
    with pytest.raises(ValueError, match="auto.*always.*never"):
        fastdense.set_sparse_inputs(bad)
    with pytest.raises(ValueError):
        with fastdense.use_sparse_inputs(bad):
            pass
    assert fastdense.get_sparse_inputs() == "auto"


def test_mode_from_environment():
    code = "import fastdense; print(fastdense.get_sparse_inputs())"
    for value, want in (("never", "never"), (" Always ", "always"), ("", "auto")):
        proc = run_python(code, {"FASTDENSE_SPARSE_INPUTS": value})
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == want
    proc = run_python("import fastdense", {"FASTDENSE_SPARSE_INPUTS": "often"})
    assert proc.returncode != 0
    assert "ValueError" in proc.stderr and "FASTDENSE_SPARSE_INPUTS" in proc.stderr
    assert "'auto', 'always' or 'never'" in proc.stderr


def test_show_config_has_the_mode(restore_sparse_mode, capsys):
    with fastdense.use_sparse_inputs("never"):
        fastdense.show_config()
    out = capsys.readouterr().out
    assert any(line.startswith("sparse inputs:") and line.split()[-1] == "never"
               for line in out.splitlines()), out


# ---------------------------------------------------------------------------
# CSRMatrix and from_dense (both backends)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("lay", ["C", "F", "strided", "neg"])
@pytest.mark.parametrize("shape, density", [((0, 4), 0.5), ((4, 0), 0.5), ((1, 1), 1.0),
                                            ((40, 30), 0.2), ((128, 784), 0.19)])
def test_from_dense(any_backend, shape, density, lay):
    x = sparse_dense(np.random.default_rng(1), shape, density)
    csr = _sparse.from_dense(layout(x, lay))
    assert csr.shape == shape and len(csr) == shape[0] and csr.ndim == 2
    assert csr.indptr.dtype == np.int64 and csr.indices.dtype == np.int32
    assert csr.values.dtype == np.float32
    assert csr.nnz == np.count_nonzero(x)
    assert csr.density == (_sparse.density(x) if x.size else 0.0)
    assert np.array_equal(csr.toarray(), x)
    csr.check()


def test_from_dense_converts_and_rejects(any_backend):
    x = np.array([[0, 3, 0], [1, 0, 255]], np.uint8)
    csr = _sparse.from_dense(x)
    assert np.array_equal(csr.toarray(), x.astype(np.float32))
    for bad in (np.zeros(5, np.float32), np.zeros((2, 2, 2), np.float32)):
        with pytest.raises(ValueError, match="2-D"):
            _sparse.from_dense(bad)


def test_csr_rows_are_free_views(any_backend):
    x = sparse_dense(np.random.default_rng(2), (50, 20), 0.3)
    csr = _sparse.from_dense(x)
    for a, b in [(0, 50), (3, 17), (10, 10), (45, 99), (-5, None)]:
        part = csr[a:b]
        assert part.indices is csr.indices and part.values is csr.values
        assert np.shares_memory(part.indptr, csr.indptr)
        assert np.array_equal(part.toarray(), x[a:b])
        assert part.nnz == np.count_nonzero(x[a:b])
    assert np.array_equal(csr.rows(5, 9).toarray(), x[5:9])


def test_csr_fancy_rows_are_copies(any_backend):
    x = sparse_dense(np.random.default_rng(3), (30, 12), 0.4)
    csr = _sparse.from_dense(x)
    for key in ([4, 4, 0, 29], np.array([-1, 2]), slice(None, None, 3),
                slice(20, 5, -2), x[:, 0] != 0, []):
        got = csr[key]
        assert got.indices is not csr.indices
        assert np.array_equal(got.toarray(), x[key]), key
    for key in ([30], [-31], np.zeros((2, 2), int), [0.5], np.ones(5, bool)):
        with pytest.raises(IndexError):
            csr[key]


def test_csr_transpose_and_check(any_backend):
    x = sparse_dense(np.random.default_rng(4), (17, 23), 0.3)
    csr = _sparse.from_dense(x)
    assert np.array_equal(csr.T.toarray(), x.T)
    assert csr.T.shape == (23, 17)
    bad = _sparse.CSRMatrix(csr.indptr, csr.indices.copy(), csr.values, csr.shape)
    bad.indices[3] = 23
    with pytest.raises(ValueError, match="not a valid CSR"):
        bad.check()
    with pytest.raises(ValueError, match="int64 indptr"):
        _sparse.CSRMatrix(csr.indptr.astype(np.int32), csr.indices, csr.values,
                          csr.shape).check()


def test_density():
    x = np.array([[0.0, -0.0, np.nan], [1.0, 0.0, np.inf]], np.float32)
    assert _sparse.density(x) == 3 / 6
    assert _sparse.density(np.zeros((0, 5))) == 0.0
    assert _sparse.density(_sparse.from_dense(x)) == 3 / 6


# ---------------------------------------------------------------------------
# the batch workspace
# ---------------------------------------------------------------------------

def _source(rng, m=1000, k=784, density=0.19):
    x = sparse_dense(rng, (m, k), density)
    return x, _sparse.from_dense(x)


def test_max_batch_nnz(any_backend):
    x, src = _source(np.random.default_rng(5), 300, 40, 0.3)
    lens = np.count_nonzero(x, axis=1)
    assert _sparse.max_batch_nnz(src, 7) == np.sort(lens)[-7:].sum()
    assert _sparse.max_batch_nnz(src, 10 ** 6) == lens.sum()
    assert _sparse.max_batch_nnz(src, 0) == 0


def test_batch_workspace_gather_and_take(any_backend):
    rng = np.random.default_rng(6)
    x, src = _source(rng, 700, 100, 0.2)
    ws = _sparse.BatchWorkspace.for_source(src, 128)
    perm = rng.permutation(700)
    for start in range(0, 700, 128):
        rows = perm[start:start + 128]
        xb = ws.gather(src, rows)
        assert xb.indices is ws.x_indices and xb.shape == (len(rows), 100)
        assert np.array_equal(xb.toarray(), x[rows])
        assert ws.xt.shape == (100, len(rows)) and ws.xt.indices is ws.t_indices
        assert np.array_equal(ws.xt.toarray(), x[rows].T)
        xs = ws.take(src, start, start + 128)
        assert xs.indices is src.indices                 # the slice itself
        assert np.array_equal(xs.toarray(), x[start:start + 128])
        assert np.array_equal(ws.xt.toarray(), x[start:start + 128].T)
    xb = ws.gather(src, perm[:5], transpose=False)
    assert np.array_equal(xb.toarray(), x[perm[:5]])


@pytest.mark.parametrize("units", [1, 16, 32, 33, 100])
def test_batch_workspace_weight_gradient(any_backend, units):
    rng = np.random.default_rng(17)
    x, src = _source(rng, 400, 60, 0.25)
    ws = _sparse.BatchWorkspace.for_source(src, 64)
    dz = rng.standard_normal((64, units)).astype(np.float32)
    with pytest.raises(RuntimeError):
        _sparse.BatchWorkspace(4, 10, 60).weight_gradient(dz[:4], np.empty((60, units),
                                                                            np.float32))
    for transpose in (ws.needs_transpose(units), True, False):
        rows = rng.permutation(400)[:64]
        ws.gather(src, rows, transpose=transpose)
        assert (ws.xt is None) == (not transpose)
        dw = np.full((60, units), np.nan, np.float32)
        assert ws.weight_gradient(dz, dw) is dw
        want = x[rows].T.astype(np.float64) @ dz
        assert np.allclose(dw, want, rtol=1e-4, atol=1e-5)
        ws.take(src, 100, 164, transpose=transpose)
        ws.weight_gradient(dz, dw)
        assert np.allclose(dw, x[100:164].T.astype(np.float64) @ dz, rtol=1e-4, atol=1e-5)
    assert ws.needs_transpose(_sparse.CSRTMM_MAX_UNITS + 1)
    assert not ws.needs_transpose(_sparse.CSRTMM_MAX_UNITS)


def test_batch_workspace_rejects_too_much(any_backend):
    x, src = _source(np.random.default_rng(7), 100, 30, 0.5)
    ws = _sparse.BatchWorkspace(10, 40, 30)
    with pytest.raises(ValueError, match="holds 10 rows"):
        ws.gather(src, np.arange(11))
    with pytest.raises(ValueError, match="capacity"):
        ws.gather(src, np.arange(10))        # ~150 entries > 40
    with pytest.raises(ValueError):
        ws.take(src, 0, 10)
    with pytest.raises(ValueError):
        _sparse.BatchWorkspace(10, 40, 31).gather(src, np.arange(2))


def test_batch_workspace_allocates_no_arrays(ckernels):
    """A training step's gather + transpose + weight gradient allocates only
    small objects (views, a CSRMatrix; the C kernels' per-call workspaces are
    C allocations, not arrays): far below the batch's own ~150 KiB."""
    rng = np.random.default_rng(8)
    x, src = _source(rng, 2000, 784, 0.19)
    ws = _sparse.BatchWorkspace.for_source(src, 128)
    batches = [rng.permutation(2000)[:128].astype(np.int64) for _ in range(20)]
    dz, dw = np.ones((128, 64), np.float32), np.empty((784, 64), np.float32)
    dz16, dw16 = np.ones((128, 16), np.float32), np.empty((784, 16), np.float32)
    ws.gather(src, batches[0])
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        for rows in batches:
            ws.gather(src, rows)
            ws.weight_gradient(dz, dw)
            ws.take(src, 100, 228, transpose=False)
            ws.weight_gradient(dz16, dw16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < 16384, "gather/take allocated %d bytes" % (peak - base)


# ---------------------------------------------------------------------------
# the 'auto' rule
# ---------------------------------------------------------------------------

def test_crossover_table_and_rule():
    assert set(_sparse.CROSSOVER) == {"avx512", "avx2", "generic"}
    assert set(_sparse.CROSSOVER_TABLE) == set(_sparse.CROSSOVER)
    for level, limit in _sparse.CROSSOVER.items():
        assert 0.0 < limit <= 1.0, (level, limit)
        row = _sparse.CROSSOVER_TABLE[level]
        assert limit == min(min(c) for c in row.values())
        for units in (1, 10, 16, 17, 32, 33, 64, 100, 128, 129, 512, 513, 4096):
            for nthreads in (1, 2, 8):
                cell = _sparse.crossover(level, units, nthreads)
                col = 1 if nthreads >= 2 else 0
                if units in row:
                    assert cell == row[units][col]
                lower = [w for w in row if w <= units]
                upper = [w for w in row if w >= units]
                want = min(row[max(lower)][col] if lower else 1.0,
                           row[min(upper)][col] if upper else 1.0)
                assert cell == want, (level, units, nthreads)
                # under CROSSOVER: sparse for every width and thread count
                assert _sparse.use_sparse(limit, level, units, nthreads)
                assert _sparse.use_sparse(cell, level, units, nthreads)
                assert not _sparse.use_sparse(cell + 0.01, level, units, nthreads)
        # on these 2 cores more threads never made the sparse path relatively better
        for one, many in row.values():
            assert many <= one
    assert _sparse.crossover("none", 512, 1) is None
    assert not _sparse.use_sparse(0.001, "none", 512, 1)   # the NumPy backend
    assert not _sparse.use_sparse(0.001, "sse9", 512, 1)


def test_mnist_density_goes_sparse_on_this_cpu(ckernels):
    """MNIST (density 0.191) takes the sparse path at the seed shape on every
    SIMD level and thread count."""
    for level in _sparse.CROSSOVER:
        for nthreads in (1, 2):
            assert _sparse.use_sparse(0.1912, level, 512, nthreads), (level, nthreads)


# ---------------------------------------------------------------------------
# from_scipy
# ---------------------------------------------------------------------------

FORMATS = ["csr", "csc", "coo"]


def _scipy_variants(sp, dense):
    for fmt in FORMATS:
        yield fmt + "_matrix", getattr(sp, fmt + "_matrix")(dense)
        yield fmt + "_array", getattr(sp, fmt + "_array")(dense)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, bool,
                                   np.int16])
def test_from_scipy_formats(scipy_sparse, any_backend, dtype):
    sp = scipy_sparse
    dense = sparse_dense(np.random.default_rng(9), (37, 29), 0.3, np.float64)
    dense = (dense * 10).astype(dtype)
    for name, a in _scipy_variants(sp, dense):
        x = _sparse.from_scipy(a)
        assert x.shape == (37, 29), name
        assert x.indices.dtype == np.int32 and x.values.dtype == np.float32
        assert np.array_equal(x.toarray(), dense.astype(np.float32)), name
        x.check()


def test_from_scipy_keeps_duplicates_and_drops_zeros(scipy_sparse):
    sp = scipy_sparse
    rows = np.array([0, 0, 1, 2, 2])
    cols = np.array([1, 1, 0, 2, 3])
    data = np.array([1.5, 2.0, 0.0, 3.0, -1.0], np.float32)
    a = sp.coo_array((data, (rows, cols)), shape=(4, 5))
    x = _sparse.from_scipy(a)
    assert x.nnz == 3 or x.nnz == 4            # coo -> csr may sum the duplicate
    assert np.array_equal(x.toarray(), a.toarray())
    assert not np.any(x.values[x.indptr[0]:x.indptr[-1]] == 0)
    csr = sp.csr_matrix((data, cols, np.array([0, 2, 3, 5, 5])), shape=(4, 5))
    x = _sparse.from_scipy(csr)
    assert x.nnz == 4 and np.array_equal(x.toarray(), csr.toarray())


def test_from_scipy_never_densifies(scipy_sparse):
    """10^6 x 10^6 would be 4 TB dense."""
    sp = scipy_sparse
    n = 10 ** 6
    rng = np.random.default_rng(1)
    coo = sp.coo_array((rng.standard_normal(20).astype(np.float32),
                        (rng.integers(0, n, 20), rng.integers(0, n, 20))), shape=(n, n))
    for fmt in FORMATS:
        a = coo.asformat(fmt)
        x = _sparse.from_scipy(a)
        assert x.shape == (n, n) and x.nnz == a.nnz
        lo, hi = x.indptr[0], x.indptr[-1]
        assert abs(x.values[lo:hi].sum() - a.data.sum()) < 1e-3


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])
def test_from_scipy_rejects_nonfinite(scipy_sparse, bad):
    sp = scipy_sparse
    for fmt in FORMATS:
        a = sp.random(5, 6, density=0.5, format=fmt, dtype=np.float64, random_state=2)
        a.data[1] = bad
        with pytest.raises(ValueError, match="x_train contains NaN or inf"):
            _sparse.from_scipy(a, where="x_train")


def test_from_scipy_rejects_bad_inputs(scipy_sparse):
    sp = scipy_sparse
    a = sp.csr_matrix(np.eye(3, dtype=np.complex64))
    with pytest.raises(ValueError, match="complex"):
        _sparse.from_scipy(a)
    obj = sp.csr_matrix(np.eye(3))
    obj.data = obj.data.astype(object)
    with pytest.raises(ValueError, match="non-numeric"):
        _sparse.from_scipy(obj)
    if hasattr(sp, "coo_array"):
        try:
            one_d = sp.coo_array(np.array([0.0, 1.0, 0.0]))
        except (TypeError, ValueError):
            one_d = None
        if one_d is not None and len(one_d.shape) == 1:
            with pytest.raises(ValueError, match="2-D"):
                _sparse.from_scipy(one_d)
    with pytest.raises(TypeError):
        _sparse.from_scipy(np.eye(3))
    broken = sp.csr_matrix(np.eye(4, dtype=np.float32))
    broken.indices[2] = 7
    with pytest.raises(ValueError, match="not a valid CSR"):
        _sparse.from_scipy(broken)


def test_from_scipy_int64_indices(scipy_sparse):
    sp = scipy_sparse
    dense = sparse_dense(np.random.default_rng(10), (6, 9), 0.4)
    a = sp.csr_matrix(dense)
    a.indices = a.indices.astype(np.int64)
    a.indptr = a.indptr.astype(np.int64)
    assert np.array_equal(_sparse.from_scipy(a).toarray(), dense)
    wide = sp.csr_matrix((np.ones(1, np.float32), np.array([2 ** 31 + 1], np.int64),
                          np.array([0, 1], np.int64)), shape=(1, 2 ** 31 + 5))
    with pytest.raises(ValueError, match="int32"):
        _sparse.from_scipy(wide)
    big = sp.csr_matrix((np.ones(1, np.float32), np.array([5], np.int64),
                         np.array([0, 1], np.int64)), shape=(1, 9))
    big.indices = np.array([2 ** 33], np.int64)
    with pytest.raises(ValueError, match="int32"):
        _sparse.from_scipy(big)


def test_from_scipy_duck_typed(scipy_sparse):
    sp = scipy_sparse
    dense = sparse_dense(np.random.default_rng(11), (5, 7), 0.5)

    class Duck:
        shape = dense.shape

        def tocsr(self):
            return sp.csr_matrix(dense)
    assert _sparse.is_sparse_input(Duck())
    assert np.array_equal(_sparse.from_scipy(Duck()).toarray(), dense)
    csr = _sparse.from_dense(dense)
    assert _sparse.from_scipy(csr) is csr


# ---------------------------------------------------------------------------
# ops.sparse_dot against scipy's a @ b
# ---------------------------------------------------------------------------

def _close(got, want, a, b):
    """got within the csrmm bound of scipy's want (both computed in the
    precision of the result type)."""
    want = np.asarray(want)
    assert type(got) is type(a @ b), (type(got), type(a @ b))
    assert got.shape == want.shape and got.dtype == want.dtype
    a64 = abs(a).astype(np.float64)
    b64 = np.abs(np.asarray(b, np.float64))
    mag = np.asarray(a64 @ b64)
    lens = np.diff(a.tocsr().indptr).reshape((-1,) + (1,) * (want.ndim - 1))
    eps = np.finfo(want.dtype).eps if want.dtype.kind == "f" else 0.0
    assert np.all(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))
                  <= 2 * (lens + 2) * eps * mag + 1e-30)


@pytest.mark.parametrize("nthreads", [1, ALL_CORES])
@pytest.mark.parametrize("shape", [(0, 5, 3), (4, 0, 3), (5, 4, 0), (1, 1, 1),
                                   (37, 29, 17), (128, 784, 512)], ids=str)
def test_sparse_dot_float32_matches_scipy(scipy_sparse, restore_fastdense_config,
                                          shape, nthreads):
    sp = scipy_sparse
    m, k, n = shape
    rng = np.random.default_rng(12)
    dense = sparse_dense(rng, (m, k), 0.19)
    b = rng.standard_normal((k, n)).astype(np.float32)
    fastdense.set_num_threads(nthreads)
    for name, a in _scipy_variants(sp, dense):
        for bb in (b, np.asfortranarray(b), b[:, ::-1]) + ((b[:, 0],) if n else ()):
            want = a @ bb
            got = ops.sparse_dot(a, bb)
            _close(got, want, a, bb)


@pytest.mark.parametrize("dtypes", [(np.float64, np.float32), (np.float32, np.float64),
                                    (np.int64, np.float32), (np.float32, np.int32),
                                    (np.int32, np.int32), (np.complex64, np.float32)],
                         ids=str)
def test_sparse_dot_other_dtypes_are_scipy(scipy_sparse, dtypes):
    sp = scipy_sparse
    rng = np.random.default_rng(13)
    dense = (sparse_dense(rng, (9, 8), 0.4, np.float64) * 5).astype(dtypes[0])
    b = (rng.standard_normal((8, 6)) * 5).astype(dtypes[1])
    for name, a in _scipy_variants(sp, dense):
        want = a @ b
        got = ops.sparse_dot(a, b)
        assert type(got) is type(want) and got.dtype == want.dtype, name
        assert np.array_equal(got, want), name


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_sparse_dot_hands_other_b_to_scipy(scipy_sparse):
    sp = scipy_sparse
    rng = np.random.default_rng(14)
    a = sp.csr_matrix(sparse_dense(rng, (6, 5), 0.5))
    bm = np.matrix(rng.standard_normal((5, 3)).astype(np.float32))
    got = ops.sparse_dot(a, bm)
    assert type(got) is type(a @ bm) and np.array_equal(got, a @ bm)
    bs = sp.csr_matrix(rng.standard_normal((5, 3)).astype(np.float32))
    got = ops.sparse_dot(a, bs)
    assert type(got) is type(a @ bs) and np.array_equal(got.toarray(), (a @ bs).toarray())
    bl = [[1.0, 2.0]] * 5
    assert np.array_equal(ops.sparse_dot(a, bl), a @ bl)
    dense_a = a.toarray()
    b = rng.standard_normal((5, 3)).astype(np.float32)
    assert np.array_equal(ops.sparse_dot(dense_a, b), dense_a @ b)


def test_sparse_dot_errors_are_scipys(scipy_sparse):
    sp = scipy_sparse
    a = sp.csr_matrix(np.eye(4, dtype=np.float32))
    for b in (np.ones((5, 2), np.float32), np.ones(3, np.float32),
              np.ones((2, 4, 3), np.float32)):
        try:
            a @ b
            want = None
        except Exception as exc:
            want = type(exc)
        if want is None:
            continue
        with pytest.raises(want):
            ops.sparse_dot(a, b)


def test_sparse_dot_numpy_backend_is_scipy(scipy_sparse):
    sp = scipy_sparse
    rng = np.random.default_rng(15)
    a = sp.csr_matrix(sparse_dense(rng, (20, 30), 0.2))
    b = rng.standard_normal((30, 7)).astype(np.float32)
    with fastdense.use_backend("numpy"):
        assert np.array_equal(ops.sparse_dot(a, b), a @ b)


def test_sparse_dot_out(scipy_sparse):
    sp = scipy_sparse
    rng = np.random.default_rng(16)
    a = sp.csr_matrix(sparse_dense(rng, (12, 10), 0.3))
    b = rng.standard_normal((10, 6)).astype(np.float32)
    out = np.full((12, 6), np.nan, np.float32)
    assert ops.sparse_dot(a, b, out=out) is out
    _close(out, a @ b, a, b)
    v = b[:, 1].copy()
    out1 = np.empty(12, np.float32)
    assert ops.sparse_dot(a, v, out=out1) is out1
    _close(out1, a @ v, a, v)
    for bad in (np.empty((12, 6), np.float64), np.empty((12, 5), np.float32),
                np.empty((6, 12), np.float32).T, np.empty((12, 12), np.float32)[:, ::2],
                np.empty(72, np.float32), [[0.0] * 6] * 12):
        with pytest.raises(ValueError):
            ops.sparse_dot(a, b, out=bad)
    # the scipy path checks out= as np.dot does
    a64 = a.astype(np.float64)
    out64 = np.empty((12, 6), np.float64)
    assert ops.sparse_dot(a64, b, out=out64) is out64
    assert np.array_equal(out64, a64 @ b)
    with pytest.raises(ValueError):
        ops.sparse_dot(a64, b, out=np.empty((12, 6), np.float32))
    # out may be b itself (square case): computed first, then written
    sq = sp.csr_matrix(sparse_dense(rng, (6, 6), 0.5))
    bsq = rng.standard_normal((6, 6)).astype(np.float32)
    want = sq @ bsq
    assert ops.sparse_dot(sq, bsq, out=bsq) is bsq
    _close(bsq, want, sq, want)


def test_sparse_dot_in_ops_table():
    assert "sparse_dot" in ops.__all__
    assert "sparse_dot(a, b, out=None)" in ops.__doc__


# ---------------------------------------------------------------------------
# without scipy
# ---------------------------------------------------------------------------

def test_without_scipy():
    code = """
    import sys, json
    sys.modules["scipy"] = None          # import scipy -> ImportError
    sys.modules["scipy.sparse"] = None
    import numpy as np
    import fastdense
    from fastdense import _sparse, ops
    x = np.array([[0, 1.5, 0], [2, 0, 0]], np.float32)
    csr = _sparse.from_dense(x)
    ws = _sparse.BatchWorkspace.for_source(csr, 2)
    ws.gather(csr, np.array([1, 0]))
    res = {"dense_ok": bool(np.array_equal(ws.xt.toarray(), x[[1, 0]].T))}
    for name, call in (("from_scipy", lambda: _sparse.from_scipy(x)),
                       ("sparse_dot", lambda: ops.sparse_dot(x, x.T))):
        try:
            call()
            res[name] = "returned"
        except ImportError as e:
            res[name] = "ImportError: " + str(e)
        except Exception as e:
            res[name] = type(e).__name__ + ": " + str(e)
    print(json.dumps(res))
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["dense_ok"]
    assert res["sparse_dot"].startswith("ImportError") and "scipy" in res["sparse_dot"]
    assert "pip install" in res["sparse_dot"]
    # from_scipy of a non-sparse input says what it wants; of a scipy object
    # it cannot be called without scipy
    assert res["from_scipy"].startswith(("TypeError", "ImportError"))


def test_without_scipy_from_scipy_of_a_duck():
    code = """
    import sys
    sys.modules["scipy"] = None
    sys.modules["scipy.sparse"] = None
    from fastdense import _sparse
    class Duck:
        shape = (2, 2)
        def tocsr(self):
            import scipy.sparse
    try:
        _sparse.from_scipy(Duck())
    except ImportError as e:
        print("ImportError", e)
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ImportError")
