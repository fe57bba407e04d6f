"""Shared test set-up for fastdense.

* ``FASTDENSE_DATA``: when unset, points at ``<repo>/../shared/data`` (where
  the machines here keep MNIST) if that folder exists.
* The C extension rule: tests that need ``fastdense._ckernels`` *fail* when
  the environment says the extension must be there (``CI`` set, as CI does,
  or ``FASTDENSE_REQUIRE_C=1``), showing the import error; elsewhere they
  skip with the reason.  Use the ``ckernels`` fixture or ``require_ckernels()``.
* Optional extras (scipy for sparse inputs, mpi4py for distributed
  training): ``require_module("scipy")`` returns the module; like the C
  extension, a missing extra *fails* in CI (which installs every extra the
  tests use) and skips elsewhere.
* Hypothesis: a deterministic, bounded profile ("fastdense-ci") is loaded by
  default; ``FASTDENSE_HYPOTHESIS_PROFILE=thorough`` runs many more examples.
"""
import importlib
import os
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS_DIR)

if TESTS_DIR not in sys.path:  # so test files can `import arrays`
    sys.path.insert(0, TESTS_DIR)

_shared_data = os.path.join(os.path.dirname(REPO), "shared", "data")
if not os.environ.get("FASTDENSE_DATA") and os.path.isdir(_shared_data):
    os.environ["FASTDENSE_DATA"] = _shared_data

try:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "fastdense-ci", max_examples=40, deadline=None, derandomize=True,
        database=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    settings.register_profile(
        "thorough", max_examples=1000, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    settings.load_profile(os.environ.get("FASTDENSE_HYPOTHESIS_PROFILE", "fastdense-ci"))
except ImportError:  # hypothesis is a test dependency; test files importorskip it
    pass


def c_required():
    """True when a missing C extension must be a failure, not a skip."""
    return bool(os.environ.get("CI")) or os.environ.get("FASTDENSE_REQUIRE_C") == "1"


def require_ckernels():
    """Return ``fastdense._ckernels``; fail (CI) or skip (elsewhere) if absent."""
    try:
        return importlib.import_module("fastdense._ckernels")
    except ImportError as exc:
        reason = "the C extension fastdense._ckernels is not importable: %s: %s" % (
            type(exc).__name__, exc)
        if c_required():
            pytest.fail(reason + " (CI/FASTDENSE_REQUIRE_C: the C extension must build)",
                        pytrace=False)
        pytest.skip(reason)


def require_module(name):
    """Import and return the optional module ``name``; fail (CI) or skip if absent."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        reason = "the optional module %s is not importable: %s: %s" % (
            name, type(exc).__name__, exc)
        if c_required():
            pytest.fail(reason + " (CI installs every optional extra the tests use)",
                        pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def scipy_sparse():
    """``scipy.sparse`` (see ``require_module``)."""
    require_module("scipy")
    return importlib.import_module("scipy.sparse")


@pytest.fixture(scope="session")
def ckernels():
    """The compiled kernel module (see ``require_ckernels``)."""
    return require_ckernels()


@pytest.fixture(scope="session")
def reference():
    """The NumPy twins of the kernels (always available)."""
    return importlib.import_module("fastdense.reference")


@pytest.fixture(params=["c", "numpy"])
def any_backend(request):
    """Run the test once per backend, restoring the previous one afterwards."""
    import fastdense
    if request.param == "c":
        require_ckernels()
    with fastdense.use_backend(request.param):
        yield request.param


@pytest.fixture
def restore_fastdense_config():
    """Undo any set_backend / set_num_threads a test makes."""
    import fastdense
    backend, threads = fastdense.backend(), fastdense.get_num_threads()
    try:
        yield
    finally:
        fastdense.set_backend(backend)
        fastdense.set_num_threads(threads)
