"""Compressed (CSR) inputs for the first layer: the container, conversions,
the per-step batch workspace and the 'auto' rule.

Inputs with many zeros (MNIST: 81%, bag-of-words: 98%) make the first
layer's two products, ``x @ W`` and ``x.T @ dZ``, mostly multiplications by
zero.  The engine compresses the training set once per fit
(:func:`from_dense` or :func:`from_scipy`), then for every step draws the
shuffled mini-batch into a preallocated :class:`BatchWorkspace` (rows
gathered, and transposed for the weight gradient: no allocation per step)
and runs ``csrmm_f32`` for both products.  :func:`use_sparse` is the
'auto' rule: the measured density against :data:`CROSSOVER`.

Everything here works on the kernels of the current backend
(``_config.kernels()``: C or the NumPy twins); only :func:`from_scipy`
needs scipy, and says so when it is missing.
"""
import numpy as np

from . import _config

__all__ = ["CSRMatrix", "from_dense", "from_scipy", "is_sparse_input",
           "BatchWorkspace", "max_batch_nnz", "density", "CROSSOVER",
           "use_sparse", "crossover", "CROSSOVER_TABLE", "CSRTMM_MAX_UNITS"]

_I32_MAX = 2 ** 31 - 1


class CSRMatrix:
    """An m x k float32 matrix in compressed rows.

    ``indptr`` (int64, m + 1) holds *absolute* offsets into ``indices``
    (int32 column ids) and ``values`` (float32): row i is
    ``indices[indptr[i]:indptr[i+1]]``.  So ``x[a:b]`` (or ``x.rows(a, b)``)
    is free: the same arrays with ``indptr[a:b+1]``.  Duplicate columns in
    a row are summed; indices need not be sorted.  The arrays are trusted
    (build it with :func:`from_dense` / :func:`from_scipy`, or check it with
    :meth:`check`).
    """

    __slots__ = ("indptr", "indices", "values", "shape")
    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, indptr, indices, values, shape):
        self.indptr = indptr
        self.indices = indices
        self.values = values
        self.shape = (int(shape[0]), int(shape[1]))

    @property
    def nnz(self):
        """Stored entries."""
        return int(self.indptr[-1] - self.indptr[0])

    @property
    def density(self):
        """nnz / (m * k); 0.0 for an empty matrix."""
        size = self.shape[0] * self.shape[1]
        return self.nnz / size if size else 0.0

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return "<CSRMatrix %dx%d, %d stored (density %.3g)>" % (
            self.shape[0], self.shape[1], self.nnz, self.density)

    def row_lengths(self):
        """Entries per row (int64, m)."""
        return np.diff(self.indptr)

    def rows(self, start, stop):
        """Rows [start, stop) (clipped as a slice is): a view, no copy."""
        start, stop, _ = slice(start, stop).indices(self.shape[0])
        stop = max(stop, start)
        return CSRMatrix(self.indptr[start:stop + 1], self.indices, self.values,
                         (stop - start, self.shape[1]))

    def __getitem__(self, key):
        """``x[a:b]``: a view.  Other slices and integer arrays: a gathered
        copy (``rows[i]`` of self)."""
        if isinstance(key, slice) and key.step in (None, 1):
            return self.rows(key.start, key.stop)
        if isinstance(key, slice):
            rows = np.arange(self.shape[0])[key]
        else:
            rows = np.asarray(key)
            if rows.dtype == bool:
                if rows.shape != (self.shape[0],):
                    raise IndexError("boolean index of shape %s for %d rows"
                                     % (rows.shape, self.shape[0]))
                rows = np.flatnonzero(rows)
            if rows.ndim != 1 or not (rows.size == 0 or
                                      np.issubdtype(rows.dtype, np.integer)):
                raise IndexError("CSRMatrix rows are selected by a slice or a "
                                 "1-D integer array, got %r" % (key,))
            rows = np.where(rows < 0, rows + self.shape[0], rows)
            if rows.size and (rows.min() < 0 or rows.max() >= self.shape[0]):
                raise IndexError("row index out of range for %d rows" % self.shape[0])
        return self.take(rows)

    def take(self, rows):
        """The rows ``rows`` (in that order, repeats allowed) as a new CSR."""
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        lens = self.indptr[rows + 1] - self.indptr[rows]
        total = int(lens.sum())
        indptr = np.empty(len(rows) + 1, np.int64)
        indices = np.empty(total, np.int32)
        values = np.empty(total, np.float32)
        _config.kernels().csr_gather(rows, self.indptr, self.indices, self.values,
                                     indptr, indices, values,
                                     nthreads=_config.get_num_threads())
        return CSRMatrix(indptr, indices, values, (len(rows), self.shape[1]))

    def check(self):
        """Raise ValueError unless the arrays describe a valid CSR."""
        _check_csr(self, "CSRMatrix")
        return self

    def toarray(self):
        """The dense float32 matrix (duplicates summed)."""
        out = np.zeros(self.shape, np.float32)
        lo, hi = int(self.indptr[0]), int(self.indptr[-1])
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        np.add.at(out, (rows, self.indices[lo:hi]), self.values[lo:hi])
        return out

    def transpose(self):
        """The CSR of the transpose (k x m), a new matrix."""
        m, k = self.shape
        indptr = np.empty(k + 1, np.int64)
        indices = np.empty(self.nnz, np.int32)
        values = np.empty(self.nnz, np.float32)
        K = _config.kernels()
        nt = _config.get_num_threads()
        K.csr_transpose(self.indptr, self.indices, self.values, k, indptr,
                        indices, values, np.empty(max(
                            K.csr_transpose_work_size(k, nt), 1), np.int64),
                        nthreads=nt)
        return CSRMatrix(indptr, indices, values, (k, m))

    T = property(transpose)


def _check_csr(x, where):
    """ValueError unless x's arrays are a valid CSR of its shape."""
    m, k = x.shape
    if (x.indptr.dtype != np.int64 or x.indices.dtype != np.int32
            or x.values.dtype != np.float32):
        raise ValueError("%s: a CSR needs int64 indptr, int32 indices and float32 "
                         "values, got %s, %s, %s" % (where, x.indptr.dtype,
                                                     x.indices.dtype, x.values.dtype))
    if x.indptr.shape != (m + 1,) or x.indices.ndim != 1 or x.values.ndim != 1 \
            or len(x.indices) != len(x.values):
        raise ValueError("%s: the CSR arrays do not fit its shape %s (indptr %s, "
                         "indices %s, values %s)" % (where, x.shape, x.indptr.shape,
                                                     x.indices.shape, x.values.shape))
    if not _config.kernels().csr_check(x.indptr, x.indices, k,
                                       nthreads=_config.get_num_threads()):
        raise ValueError("%s: not a valid CSR matrix (indptr decreases or leaves "
                         "the %d stored entries, or a column index is outside "
                         "[0, %d))" % (where, len(x.indices), k))


# ---- conversions ------------------------------------------------------------

def from_dense(x, nthreads=None):
    """The CSR of a dense 2-D array (any strides; converted to float32 if it
    is not).  Zeros are dropped, -0.0 too (it multiplies like +0.0 unless the
    weights hold inf or NaN); NaN and inf are kept."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError("from_dense expects a 2-D array (samples, features), "
                         "got shape %s" % (x.shape,))
    if x.dtype != np.float32 or not x.flags.aligned or any(s % 4 for s in x.strides):
        x = np.ascontiguousarray(x, dtype=np.float32)
    K = _config.kernels()
    nt = _config.get_num_threads() if nthreads is None else nthreads
    m, k = x.shape
    indptr = np.empty(m + 1, np.int64)
    nnz = K.csr_from_dense_f32(x, indptr, nthreads=nt)
    indices = np.empty(nnz, np.int32)
    values = np.empty(nnz, np.float32)
    K.csr_from_dense_f32(x, indptr, indices, values, nthreads=nt)
    return CSRMatrix(indptr, indices, values, (m, k))


def _scipy_sparse():
    try:
        import scipy.sparse as sp
    except ImportError as exc:
        raise ImportError("scipy.sparse inputs need scipy, which is not installed: "
                          "pip install 'fastdense[sparse]' (or pip install scipy)"
                          ) from exc
    return sp


def _is_scipy_sparse(a):
    """A scipy.sparse matrix or array, recognised without importing scipy."""
    return any(c.__module__.startswith("scipy.sparse") for c in type(a).__mro__)


def is_sparse_input(x):
    """True for a CSRMatrix, a scipy.sparse matrix/array or anything else
    with ``tocsr`` (what :func:`from_scipy` takes)."""
    return (isinstance(x, CSRMatrix) or _is_scipy_sparse(x)
            or (not isinstance(x, np.ndarray) and hasattr(x, "tocsr")))


def _index_array(arr, limit, what):
    """arr as contiguous int32 (or int64 for indptr: limit None)."""
    arr = np.asarray(arr)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError("%s has %s entries; sparse index arrays must be integers"
                         % (what, arr.dtype))
    if limit is None:
        if arr.dtype.kind == "u" and arr.size and arr.max() > 2 ** 63 - 1:
            raise ValueError("%s has offsets beyond int64" % what)
        return np.ascontiguousarray(arr, dtype=np.int64)
    if arr.dtype != np.int32 and arr.size:
        lo, hi = arr.min(), arr.max()
        if hi > limit or lo < -2 ** 31:
            raise ValueError("%s holds indices up to %d, beyond the int32 range the "
                             "sparse kernels take (at most %d columns)"
                             % (what, hi, limit + 1))
    return np.ascontiguousarray(arr, dtype=np.int32)


def from_scipy(a, where="x"):
    """A :class:`CSRMatrix` from a scipy.sparse matrix or array (CSR, CSC,
    COO, the ``*_array`` classes) or anything with ``tocsr()``, never
    densified.  Values become float32 (explicit zeros dropped), indices
    int32.  ValueError, naming ``where``, for: not 2-D, non-numeric or
    complex data, NaN/inf (as float32), indices beyond int32, and a
    malformed structure.  A CSRMatrix is returned as it is."""
    if isinstance(a, CSRMatrix):
        return a
    if not is_sparse_input(a):
        raise TypeError("%s: expected a scipy.sparse matrix or array, got %s"
                        % (where, type(a).__name__))
    if _is_scipy_sparse(a):
        _scipy_sparse()   # scipy's own objects: scipy is there; others need it
    shape = getattr(a, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError("%s must be 2-D (samples, features), got a sparse input "
                         "of shape %s" % (where, shape))
    m, k = int(shape[0]), int(shape[1])
    if k > _I32_MAX + 1:
        raise ValueError("%s has %d columns; the sparse kernels take at most 2**31 "
                         "(int32 column indices)" % (where, k))
    data = np.asarray(getattr(a, "data", np.zeros(0, np.float32)))
    _check_data_dtype(data.dtype, where)
    fmt = getattr(a, "format", None)
    if fmt == "csc":
        # the CSC of A is the CSR of A^T: one transpose kernel, no scipy copy
        t = CSRMatrix(_index_array(a.indptr, None, where + " indptr"),
                      _index_array(a.indices, _I32_MAX, where + " row indices"),
                      _as_values(a.data, where), (k, m))
        if m > _I32_MAX:
            raise ValueError("%s has %d rows; at most 2**31 - 1" % (where, m))
        _check_csr(t, where)
        x = t.transpose()
    else:
        try:
            csr = a if fmt == "csr" else a.tocsr()
        except ImportError as exc:
            raise ImportError("%s: converting a %s with tocsr() failed: %s (scipy is "
                              "needed: pip install 'fastdense[sparse]')"
                              % (where, type(a).__name__, exc)) from exc
        _check_data_dtype(np.asarray(csr.data).dtype, where)
        x = CSRMatrix(_index_array(csr.indptr, None, where + " indptr"),
                      _index_array(csr.indices, _I32_MAX, where + " column indices"),
                      _as_values(csr.data, where), (m, k))
        _check_csr(x, where)
    lo, hi = int(x.indptr[0]), int(x.indptr[-1])
    vals = x.values[lo:hi]
    if not np.isfinite(vals).all():
        raise ValueError("%s contains NaN or inf (as float32); remove or impute "
                         "them before training" % where)
    if (vals == 0).any():
        x = _drop_zeros(x)
    return x


def _check_data_dtype(dtype, where):
    if dtype != bool and not np.issubdtype(dtype, np.number):
        raise ValueError("%s has non-numeric %s data; sparse inputs must hold "
                         "numbers" % (where, dtype))
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError("%s has complex %s data; fastdense trains on real numbers"
                         % (where, dtype))


def _as_values(data, where):
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ascontiguousarray(data, dtype=np.float32)


def _drop_zeros(x):
    """x without its explicit zeros (so that density counts real entries)."""
    lo, hi = int(x.indptr[0]), int(x.indptr[-1])
    keep = x.values[lo:hi] != 0
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    indptr = np.zeros(x.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=x.shape[0]), out=indptr[1:])
    return CSRMatrix(indptr, np.ascontiguousarray(x.indices[lo:hi][keep]),
                     np.ascontiguousarray(x.values[lo:hi][keep]), x.shape)


# ---- the per-step workspace ---------------------------------------------------

def max_batch_nnz(x, batch_size):
    """The most entries any batch of ``batch_size`` distinct rows of the CSR
    x can hold: the sum of its ``batch_size`` longest rows."""
    lens = x.row_lengths()
    b = min(int(batch_size), len(lens))
    if b <= 0:
        return 0
    return int(np.partition(lens, len(lens) - b)[len(lens) - b:].sum())


#: Units up to which the weight gradient X^T dZ runs as csrtmm_f32 straight
#: from the batch's CSR (no transpose): at a 128 x 784 MNIST batch it took
#: 21 us against 46 us for csr_transpose + csrmm_f32 at 16 units (AVX-512;
#: AVX2 21 / 48, generic 68 / 101), 31 / 53 at 32, a tie at 64 and lost
#: beyond (117 / 86 at 128): see the design note of src_c/sparse.c.
CSRTMM_MAX_UNITS = 32


class BatchWorkspace:
    """Preallocated buffers for one mini-batch: its CSR (``capacity_rows``
    rows, ``max_nnz`` entries) and the CSR of its transpose (k rows), plus
    the transpose's workspace.  :meth:`gather` and :meth:`take` fill them
    with no allocation of arrays (only small views and CSRMatrix objects).

    A training step of the first layer (units wide)::

        xb = ws.gather(src, rows, transpose=ws.needs_transpose(units))
        K.csrmm_f32(xb.indptr, xb.indices, xb.values, W, z, bias=b, relu=True)
        ...
        ws.weight_gradient(dz, dW)              # dW = xb^T dz
    """

    def __init__(self, capacity_rows, max_nnz, k, nthreads=None):
        if capacity_rows < 0 or max_nnz < 0 or k < 0:
            raise ValueError("BatchWorkspace: sizes must be >= 0")
        self.capacity_rows = int(capacity_rows)
        self.max_nnz = int(max_nnz)
        self.k = int(k)
        self.nthreads = int(_config.get_num_threads() if nthreads is None else nthreads)
        self.x_indptr = np.zeros(self.capacity_rows + 1, np.int64)
        self.x_indices = np.zeros(self.max_nnz, np.int32)
        self.x_values = np.zeros(self.max_nnz, np.float32)
        self.t_indptr = np.zeros(self.k + 1, np.int64)
        self.t_indices = np.zeros(self.max_nnz, np.int32)
        self.t_values = np.zeros(self.max_nnz, np.float32)
        # the twins ignore it; size it for the C kernel in any case
        from . import reference
        self.work = np.zeros(max(reference.csr_transpose_work_size(
            self.k, self.nthreads), 1), np.int64)
        self.xb = None
        self.xt = None

    @staticmethod
    def needs_transpose(units):
        """Whether :meth:`weight_gradient` of a layer this wide reads the
        transposed batch (pass it as ``gather(..., transpose=)``)."""
        return units > CSRTMM_MAX_UNITS

    def weight_gradient(self, dz, out):
        """out = X_batch^T @ dz for the batch of the last gather/take:
        csrmm_f32 on its transpose when there is one and the layer is wider
        than CSRTMM_MAX_UNITS, else csrtmm_f32 on the batch itself.  out is
        written (never read); rows for all-zero input columns are zeros."""
        if self.xb is None:
            raise RuntimeError("BatchWorkspace.weight_gradient before gather/take")
        K = _config.kernels()
        nt = self._threads()
        if self.xt is not None and dz.shape[1] > CSRTMM_MAX_UNITS:
            xt = self.xt
            K.csrmm_f32(xt.indptr, xt.indices, xt.values, dz, out, nthreads=nt)
        else:
            xb = self.xb
            K.csrtmm_f32(xb.indptr, xb.indices, xb.values, dz, out, nthreads=nt)
        return out

    @classmethod
    def for_source(cls, x, batch_size, nthreads=None):
        """A workspace for batches of ``batch_size`` distinct rows of x."""
        return cls(batch_size, max_batch_nnz(x, batch_size), x.shape[1], nthreads)

    def _threads(self):
        return max(1, min(_config.get_num_threads(), self.nthreads))

    def _transpose(self, K, xb, nt):
        m = xb.shape[0]
        K.csr_transpose(xb.indptr, xb.indices, xb.values, self.k, self.t_indptr,
                        self.t_indices, self.t_values, self.work, nthreads=nt)
        self.xt = CSRMatrix(self.t_indptr, self.t_indices, self.t_values, (self.k, m))
        return self.xt

    def gather(self, src, rows, transpose=True):
        """The rows ``rows`` (int64, at most capacity_rows, entries within
        max_nnz) of the CSR src into the batch buffers; with ``transpose``
        also the CSR of the batch's transpose into ``self.xt``.  Returns the
        batch (a CSRMatrix on the workspace's buffers)."""
        m = len(rows)
        if m > self.capacity_rows or src.shape[1] != self.k:
            raise ValueError("BatchWorkspace.gather: %d rows of %d columns, the "
                             "workspace holds %d rows of %d" % (
                                 m, src.shape[1], self.capacity_rows, self.k))
        K = _config.kernels()
        nt = self._threads()
        indptr = self.x_indptr[:m + 1]
        K.csr_gather(rows, src.indptr, src.indices, src.values, indptr,
                     self.x_indices, self.x_values, nthreads=nt)
        xb = CSRMatrix(indptr, self.x_indices, self.x_values, (m, self.k))
        self.xb = xb
        self.xt = self._transpose(K, xb, nt) if transpose else None
        return xb

    def take(self, src, start, stop, transpose=True):
        """Rows [start, stop) of src: the free slice itself (nothing copied);
        with ``transpose`` the CSR of its transpose goes to ``self.xt``."""
        xb = src.rows(start, stop)
        if xb.shape[0] > self.capacity_rows or xb.nnz > self.max_nnz:
            raise ValueError("BatchWorkspace.take: %d rows with %d entries, the "
                             "workspace holds %d rows and %d entries" % (
                                 xb.shape[0], xb.nnz, self.capacity_rows,
                                 self.max_nnz))
        self.xb = xb
        self.xt = self._transpose(_config.kernels(), xb, self._threads()) \
            if transpose else None
        return xb


# ---- density and the 'auto' rule ----------------------------------------------

def density(x):
    """Fraction of entries that are not zero (NaN counts as nonzero, -0.0 as
    zero): count_nonzero for dense arrays, nnz for sparse inputs."""
    if isinstance(x, CSRMatrix):
        return x.density
    if is_sparse_input(x):
        size = int(np.prod(x.shape))
        return x.nnz / size if size else 0.0
    x = np.asarray(x)
    return np.count_nonzero(x) / x.size if x.size else 0.0


#: The densities at or under which the sparse first layer of a training step
#: (gather [+ transpose] + forward csrmm + weight gradient) beats the dense
#: one (two fd_sgemm with the row gathers), per SIMD level and measured
#: layer width, as (1 thread, 2 or more threads): the highest density of the
#: grid (0.05 .. 1) at which, and at every grid density below which, the
#: sparse step took at most 0.85 of the dense one -- a margin to the sparse
#: side of break-even -- in each of two runs of
#: benchmarks/sparse_crossover.py (batch 128, 784 inputs, random positions,
#: ratio of the minima of 101 interleaved samples, stalled cells measured
#: again; Zen 5, 2 cores).  The numbers are in the design note of
#: src_c/sparse.c.  1.0: the portable sparse kernels beat the portable GEMM
#: even on dense inputs.
CROSSOVER_TABLE = {
    "avx512": {16: (0.35, 0.20), 64: (0.30, 0.20), 128: (0.25, 0.15), 512: (0.25, 0.25)},
    "avx2": {16: (0.60, 0.35), 64: (0.40, 0.35), 128: (0.40, 0.35), 512: (0.40, 0.40)},
    "generic": {16: (0.60, 0.35), 64: (1.00, 0.80), 128: (1.00, 1.00), 512: (1.00, 1.00)},
}

#: Per SIMD level, the density at or under which the sparse path is the
#: faster one for every width and thread count measured (the smallest entry
#: of CROSSOVER_TABLE); use_sparse refines it by width and threads.
CROSSOVER = {level: min(min(cell) for cell in row.values())
             for level, row in CROSSOVER_TABLE.items()}


def crossover(simd_level, units, nthreads):
    """The CROSSOVER_TABLE density for a layer of ``units`` on ``nthreads``
    threads: a width between two measured ones takes the lower of their two
    values, one outside the measured range the nearest one's; None for an
    unknown level."""
    row = CROSSOVER_TABLE.get(simd_level)
    if row is None:
        return None
    col = 1 if nthreads >= 2 else 0
    widths = sorted(row)
    if units <= widths[0]:
        return row[widths[0]][col]
    if units >= widths[-1]:
        return row[widths[-1]][col]
    for lo, hi in zip(widths, widths[1:]):
        if units == hi:
            return row[hi][col]
        if lo < units < hi:
            return min(row[lo][col], row[hi][col])
    return row[widths[-1]][col]


def use_sparse(density, simd_level, units, nthreads):
    """'auto': True when a first layer of ``units`` on inputs of this
    density runs faster sparse than dense with these kernels and threads
    (at or under :func:`crossover`).  ``simd_level`` is
    ``_config.simd_level()``; 'none' (the NumPy backend, where the BLAS
    product wins) and unknown levels give False."""
    limit = crossover(simd_level, units, nthreads)
    return limit is not None and density <= limit
