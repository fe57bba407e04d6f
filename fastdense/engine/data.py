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


class SparseSource:
    """Compressed rows; ``transpose``: also build the batch's x^T (weight gradient)."""
    sparse = True
    needs_buffer = False

    def __init__(self, csr, batch_rows, transpose, nthreads):
        from .. import _sparse
        self.csr = csr
        self.n = csr.shape[0]
        self.work = _sparse.BatchWorkspace.for_batches(csr, batch_rows, transpose=transpose)
        self.transpose = transpose

    def batch(self, rows, start, stop, buf):
        if rows is None:
            return self.work.take(start, stop), None
        return self.work.gather(rows), None

    def chunk(self, start, stop, buf):
        return self.csr.rows(start, stop)


class DensifiedSource:
    """Compressed rows expanded batch by batch into a dense buffer."""
    sparse = False
    needs_buffer = True

    def __init__(self, csr):
        self.csr = csr
        self.n = csr.shape[0]

    def batch(self, rows, start, stop, buf):
        if rows is None:
            self.csr.rows(start, stop).to_dense(out=buf)
        else:
            self.csr.take(rows).to_dense(out=buf)
        return buf, None

    def chunk(self, start, stop, buf):
        self.csr.rows(start, stop).to_dense(out=buf)
        return buf


def make_source(x, plan, batch_rows, training, nthreads):
    """The source for checked input ``x`` (array or compressed rows) and ``plan``."""
    first = plan.first
    if not getattr(x, "is_compressed", False):
        return DenseSource(x, gathers=first is not None and first.gathers)
    if first is not None and first.layer.takes_sparse:
        return SparseSource(x, batch_rows, transpose=training and first.trainable,
                            nthreads=nthreads)
    return DensifiedSource(x)
