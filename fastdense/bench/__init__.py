"""``fastdense bench``: fastdense against NumPy, kernel by kernel and epoch by
epoch, measured side by side in one run.

What it measures (``fastdense bench --help`` for the options):

(a) kernels -- every C kernel against its NumPy twin at the seed network's
    shapes (batch 128, 784 -> 512 -> 10) and sizes around them: ``ops.dot``
    against ``np.dot`` (C and Fortran order, the transposed views of the
    backward pass), the fused and gathered GEMMs, the elementwise, softmax
    and optimizer kernels against ``fastdense.reference``; GFLOP/s of both
    sides and the BLAS peak for the GEMMs (``cases.py``);
(b) training -- seconds per epoch (60,000 MNIST images, batch 128) of
    fastdense's C backend (and, where fastdense has ``set_sparse_inputs``,
    the C backend with sparse inputs 'never' beside 'auto'), its NumPy
    backend, the idiomatic NumPy script (``numpy_mnist.py``, inside this
    package so that an installed wheel runs it too), PyTorch on the CPU when
    ``import torch`` works, and the floor (the epoch's matrix products alone
    through NumPy's BLAS); test accuracy; predict on the 10,000 test images
    (``contenders.py``);
(c) IMDB -- the book's 16-16-1 network on IMDB-shaped bag-of-words data
    (25,000 x 10,000, generated: ``data.py``), fastdense from a scipy.sparse
    CSR matrix against the idiomatic NumPy step on the dense array
    (``numpy_imdb.py``), with each contender's peak memory;
(d) thread scaling -- the step's six products at one thread and at all.

How (``timing.py``): contenders run interleaved (the order rotates every
round), after a warm-up, each sample long enough to time, medians of many
samples, ratios from one run, equal thread counts on both sides
(threadpoolctl for NumPy's BLAS).  The report names the CPU, the BLAS and its
kernel family (``machine.py``).  Where the environment sets
OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE (read by OpenBLAS when NumPy loads),
NumPy is also measured as users have it, in a worker process started
without them and driven sample by sample over a pipe (``worker.py``), and
ratios use that figure.  Output: a table, JSON and a PNG chart
(``report.py``); the command line is ``cli.py``.
"""
from .cases import STEP_PRODUCTS, SMALL_STEP_PRODUCTS, Case, build_case  # noqa: F401
from .cases import kernel_cases  # noqa: F401
from .cli import SCHEMA, DEFAULT_JSON, build_parser, main, run  # noqa: F401
from .machine import machine_info  # noqa: F401
from .report import format_report, write_chart  # noqa: F401
from .timing import Threads, interleaved  # noqa: F401

__all__ = ["main", "run", "build_parser", "machine_info", "kernel_cases", "interleaved",
           "format_report", "write_chart", "Threads", "SCHEMA"]
