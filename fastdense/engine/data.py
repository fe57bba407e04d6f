"""Where each step's input comes from: dense rows, or compressed (sparse) rows.

A source hands the first computing layer its batch:

* ``DenseSource``: the checked float32 (N, features) array.  When the first
  layer gathers rows itself (Dense: inside the GEMM's packing), a shuffled
  batch costs no copy; otherwise the rows are taken into a workspace buffer.
* ``SparseSource``: the compressed rows of the whole training set, built once
  per fit (from a scipy.sparse input, or from a dense input sparse enough
  for the sparse kernels to win); each step gathers its batch rows, and the
  compressed rows of the batch's transpose for the weight gradient, into
  buffers sized once (``fastdense._sparse.BatchWorkspace``).
* ``DensifiedSource``: compressed rows fed to a first layer that takes only
  dense input (or with sparse inputs turned off): each batch is expanded
  into a dense workspace buffer, never the whole set.
"""
import numpy as np

__all__ = ["DenseSource", "SparseSource", "DensifiedSource", "make_source"]


class DenseSource:
    sparse = False

    def __init__(self, x, gathers):
        self.x = x
        self.n = len(x)
        self.gathers = gathers
        self.needs_buffer = not gathers

    def batch(self, rows, start, stop, buf):
        """(input, rows argument for the first layer)."""
        if rows is None:
            return self.x[start:stop], None
        if self.gathers:
            return self.x, rows
        np.take(self.x, rows, axis=0, out=buf, mode="clip")
        return buf, None

    def chunk(self, start, stop, buf):
        return self.x[start:stop]


class SparseBatch:
    """One step's compressed batch, as the first Dense layer takes it: the
    CSR arrays for the forward product and ``weight_gradient(dz, out)`` for
    dW = x_batch^T dz (from the transposed batch, or straight from the
    batch's rows for a narrow layer: ``_sparse.BatchWorkspace``)."""
    __slots__ = ("indptr", "indices", "values", "shape", "work")

    def __init__(self, csr, work):
        self.indptr, self.indices, self.values = csr.indptr, csr.indices, csr.values
        self.shape = csr.shape
        self.work = work

    def weight_gradient(self, dz, out):
        return self.work.weight_gradient(dz, out)


class SparseSource:
    """Compressed rows; ``transpose``: also build the batch's x^T (weight gradient)."""
    sparse = True
    needs_buffer = False

    def __init__(self, csr, batch_rows, transpose):
        from .. import _sparse
        self.csr = csr
        self.n = csr.shape[0]
        self.work = _sparse.BatchWorkspace.for_source(csr, batch_rows)
        self.transpose = transpose

    def batch(self, rows, start, stop, buf):
        if rows is None:
            xb = self.work.take(self.csr, start, stop, transpose=self.transpose)
        else:
            xb = self.work.gather(self.csr, rows, transpose=self.transpose)
        return SparseBatch(xb, self.work), None

    def chunk(self, start, stop, buf):
        return self.csr[start:stop]


def _densify(csr, out):
    """out = the dense rows of csr (duplicates summed)."""
    out[...] = 0
    lo = int(csr.indptr[0])
    hi = int(csr.indptr[-1])
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    np.add.at(out, (rows, csr.indices[lo:hi]), csr.values[lo:hi])
    return out


class DensifiedSource:
    """Compressed rows expanded batch by batch into a dense buffer (the
    sparse kernels are off, or the first layer takes dense input only): the
    whole dense array is never made."""
    sparse = False
    needs_buffer = True

    def __init__(self, csr):
        self.csr = csr
        self.n = csr.shape[0]

    def batch(self, rows, start, stop, buf):
        part = self.csr[start:stop] if rows is None else self.csr.take(rows)
        return _densify(part, buf), None

    def chunk(self, start, stop, buf):
        return _densify(self.csr[start:stop], buf)


def make_source(x, plan, batch_rows, training, sparse_kernels):
    """The source for checked input ``x`` (array or compressed rows) and ``plan``."""
    from .inputs import is_compressed
    first = plan.first
    if not is_compressed(x):
        return DenseSource(x, gathers=first is not None and first.gathers)
    if sparse_kernels and first is not None and first.layer.takes_sparse:
        from .._sparse import BatchWorkspace
        units = getattr(first.layer, "units", 0)
        return SparseSource(x, batch_rows, transpose=training and first.trainable
                            and BatchWorkspace.needs_transpose(units))
    return DensifiedSource(x)
