"""Set-up of the pytest-benchmark suites (``pytest benchmarks/ --benchmark-only``).

These suites are not part of the CI test run (``testpaths = tests``); they
time, they never assert speed.  Every C/NumPy pair is one pytest-benchmark
*group* (``"<kernel> <shape> | <n> thr"``), so the two sides sit next to each
other in the table, at one thread and at all usable cores.  Thread counts are
the same on both sides: ``threadpoolctl.threadpool_limits(n, 'blas')`` for
NumPy's OpenBLAS, ``fastdense.set_num_threads(n)`` for the C kernels.

pytest-benchmark runs one side after the other, not interleaved; for the
interleaved, one-process comparison (medians of alternating runs) use
``fastdense bench`` (the package fastdense/bench/), which shares this suite's cases
(``fastdense.bench.cases``) and contenders (``fastdense.bench.contenders``).

NumPy here is NumPy as this process has it: where the environment sets
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, run the suites under ``env -u
OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` to time NumPy as users have it
(``fastdense bench`` does that by itself, in a worker process).

Options (environment): ``FASTDENSE_BENCH_THREADS=1,2`` (default: 1 and all
usable cores), ``FASTDENSE_BENCH_SIZES=seed|all|small`` (default all),
``FASTDENSE_DATA`` (MNIST; default ``../shared/data`` next to the repo).
"""
import importlib
import os
import sys

import pytest

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)

try:  # a source checkout with the extension built in place: import it from here
    import fastdense  # noqa: F401
except ImportError:
    sys.path.insert(0, REPO)

_shared_data = os.path.join(os.path.dirname(REPO), "shared", "data")
if not os.environ.get("FASTDENSE_DATA") and os.path.isdir(_shared_data):
    os.environ["FASTDENSE_DATA"] = _shared_data


def thread_counts():
    from fastdense import _config
    raw = os.environ.get("FASTDENSE_BENCH_THREADS", "").strip()
    if raw:
        return list(dict.fromkeys(int(t) for t in raw.split(",") if t.strip()))
    return list(dict.fromkeys([1, _config._usable_cores()]))


def bench_sizes():
    return os.environ.get("FASTDENSE_BENCH_SIZES", "all").strip() or "all"


@pytest.fixture(scope="session")
def ckernels():
    """The compiled kernels; the C side of a pair is skipped without them."""
    try:
        return importlib.import_module("fastdense._ckernels")
    except ImportError as exc:
        pytest.skip("fastdense._ckernels is not importable: %s" % exc)


@pytest.fixture
def pinned_threads(request):
    """Run the test with ``request.param`` threads on both sides."""
    from fastdense.bench.timing import Threads
    n = request.param
    with Threads(n):
        yield n


@pytest.fixture(scope="session")
def mnist_data():
    """MNIST as float32 (N, 784) / 255 with one-hot labels, loaded once."""
    from fastdense.bench import data
    try:
        return data.load_mnist()
    except Exception as exc:
        pytest.skip("MNIST not available (%s: %s); set FASTDENSE_DATA to a folder "
                    "holding mnist/" % (type(exc).__name__, exc))
