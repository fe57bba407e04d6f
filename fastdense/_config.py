"""Which kernels run (C or NumPy) and on how many threads.

The state here is Python-level and process-wide, like threadpoolctl's: the C
kernels themselves keep none, they are handed the thread count on every call.
Code that computes reads ``kernels()`` and ``get_num_threads()`` once per
call, so a ``set_num_threads`` from another thread never changes a call that
is already running.
"""
import contextlib
import os

from . import reference

_VALID = ("c", "numpy")

def _load_ckernels():
    """(module, None) or (None, why it could not be loaded)."""
    import importlib
    import importlib.util
    try:
        return importlib.import_module(__package__ + "._ckernels"), None
    except ImportError as exc:
        try:
            missing = importlib.util.find_spec(__package__ + "._ckernels") is None
        except (ImportError, ValueError):
            missing = False
        if missing:
            return None, ("the compiled module fastdense._ckernels is not "
                          "installed (the build found no working C compiler "
                          "or no Cython)")
        return None, "%s: %s" % (type(exc).__name__, exc)


# the compiled extension is optional: NumPy is always there
_ckernels, _C_ERROR = _load_ckernels()


def _usable_cores():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _threads_from_env():
    for var in ("FASTDENSE_NUM_THREADS", "OMP_NUM_THREADS"):
        raw = os.environ.get(var, "").strip()
        if not raw:
            continue
        # OMP_NUM_THREADS may be a list ("4,2") for nested levels: take the first.
        try:
            n = int(raw.split(",")[0])
        except ValueError:
            raise ValueError("%s=%r is not a whole number of threads" % (var, raw))
        if n < 1:
            raise ValueError("%s=%r: the number of threads must be >= 1" % (var, raw))
        return n
    return _usable_cores()


def _backend_from_env():
    name = os.environ.get("FASTDENSE_BACKEND", "").strip().lower()
    if not name:
        return "c" if _ckernels is not None else "numpy"
    if name not in _VALID:
        raise ValueError("FASTDENSE_BACKEND=%r: use 'c' or 'numpy'" % name)
    if name == "c" and _ckernels is None:
        raise RuntimeError("FASTDENSE_BACKEND=c but the C extension cannot be "
                           "loaded (%s); reinstall with a C compiler, or unset "
                           "FASTDENSE_BACKEND to use NumPy" % _C_ERROR)
    return name


_state = {"backend": _backend_from_env(), "threads": _threads_from_env()}


def c_available():
    """True when the compiled kernels loaded."""
    return _ckernels is not None


def c_error():
    """Why the compiled kernels did not load (None when they did)."""
    return _C_ERROR


def backend():
    """The kernels in use now: 'c' or 'numpy'."""
    return _state["backend"]


def set_backend(name):
    """Use the 'c' or the 'numpy' kernels from now on (process-wide)."""
    if not isinstance(name, str) or name.lower() not in _VALID:
        raise ValueError("unknown backend %r: use 'c' or 'numpy'" % (name,))
    name = name.lower()
    if name == "c" and _ckernels is None:
        raise RuntimeError("the C backend is not available: the compiled "
                           "extension failed to load (%s). Reinstall fastdense "
                           "where a C compiler works (pip install --force-"
                           "reinstall --no-cache-dir .) or use 'numpy'."
                           % _C_ERROR)
    _state["backend"] = name


@contextlib.contextmanager
def use_backend(name):
    """``with use_backend('numpy'): ...`` runs the block on that backend."""
    previous = _state["backend"]
    set_backend(name)
    try:
        yield name
    finally:
        _state["backend"] = previous


def kernels():
    """The module whose functions compute now: ``_ckernels`` or ``reference``."""
    return _ckernels if _state["backend"] == "c" else reference


def get_num_threads():
    """Threads the C kernels use per call."""
    return _state["threads"]


def set_num_threads(n):
    """Set the threads the C kernels use per call (n >= 1)."""
    if isinstance(n, bool) or not isinstance(n, int) and not hasattr(n, "__index__"):
        raise ValueError("set_num_threads expects a whole number >= 1, got %r" % (n,))
    n = int(n.__index__())
    if n < 1:
        raise ValueError("set_num_threads expects a whole number >= 1, got %d" % n)
    _state["threads"] = n


def simd_level():
    """'avx512', 'avx2' or 'generic' (what the C kernels use on this CPU)."""
    return _ckernels.simd_name() if _ckernels is not None else "none"


def openmp_enabled():
    return bool(_ckernels is not None and _ckernels.openmp_enabled())


def show_config(file=None):
    """Print version, backend, OpenMP, threads and SIMD level."""
    import sys
    import numpy
    from . import __version__
    out = file if file is not None else sys.stdout
    lines = [
        ("fastdense", __version__),
        ("backend", backend()),
        ("C extension", "loaded" if _ckernels is not None else "not loaded (%s)" % _C_ERROR),
        ("OpenMP", "on" if openmp_enabled() else "off"),
        ("threads", str(get_num_threads())),
        ("usable cores", str(_usable_cores())),
        ("SIMD", simd_level()),
        ("numpy", numpy.__version__),
    ]
    lines.append(("sparse inputs", get_sparse_inputs()))
    for key, value in lines:
        print("%-14s %s" % (key + ":", value), file=out)


# ---- sparse-input mode (issue 9) ---------------------------------------------
# Whether fit/evaluate/predict run the first layer's products on a
# compressed (CSR) form of the input: 'auto' decides by measured density
# against a crossover measured per ISA (fastdense._sparse.use_sparse),
# 'always' and 'never' force it.  Process-wide, like the backend.

_SPARSE_MODES = ("auto", "always", "never")


def _sparse_mode_from_env():
    raw = os.environ.get("FASTDENSE_SPARSE_INPUTS", "").strip().lower()
    if not raw:
        return "auto"
    if raw not in _SPARSE_MODES:
        raise ValueError("FASTDENSE_SPARSE_INPUTS=%r: use 'auto', 'always' or "
                         "'never'" % raw)
    return raw


_state["sparse_inputs"] = _sparse_mode_from_env()


def get_sparse_inputs():
    """The sparse-input mode: 'auto', 'always' or 'never'."""
    return _state["sparse_inputs"]


def set_sparse_inputs(mode):
    """Run the first layer on compressed inputs 'auto' (by measured density),
    'always' or 'never' (process-wide)."""
    if not isinstance(mode, str) or mode.lower() not in _SPARSE_MODES:
        raise ValueError("unknown sparse-input mode %r: use 'auto', 'always' or "
                         "'never'" % (mode,))
    _state["sparse_inputs"] = mode.lower()


@contextlib.contextmanager
def use_sparse_inputs(mode):
    """``with use_sparse_inputs('never'): ...`` runs the block in that mode."""
    previous = _state["sparse_inputs"]
    set_sparse_inputs(mode)
    try:
        yield _state["sparse_inputs"]
    finally:
        _state["sparse_inputs"] = previous
