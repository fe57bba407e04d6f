"""Data-parallel training over MPI (mpi4py): ``init()``, then the unchanged script.

    import fastdense.distributed as dist
    dist.init()                  # a world of one when not started by mpiexec
    ... build, compile, fit, evaluate exactly as in one process ...
    # mpiexec -n 2 python script.py

Model: synchronous data parallelism (Horovod, ``torch.distributed``).  Every
rank runs the same script on the same arrays.  ``init()`` joins the MPI world
through mpi4py, hands every rank rank 0's random state (so an unseeded script
draws the same numbers everywhere) and gives each rank its share of the
node's cores as its thread count.  ``fit``, ``evaluate`` and
``train_on_batch`` then each run as one collective call:

1. Agreement.  Every rank checks its arguments exactly as one process does;
   then the ranks exchange (one allgather) either the error they hit or a
   small fingerprint of the call: model structure and compile settings,
   trainable flags, per-sample shapes, sample counts and sampled CRCs of the
   data, batch size, epochs, shuffle, validation, the random state (fit), a
   CRC of the weights (evaluate).  An error on any rank, or ranks that
   disagree, raise on EVERY rank before the model changes: nothing hangs,
   and a failed call leaves every rank's model as it was.
2. Fit start: rank 0's weights and optimizer state are broadcast.
3. Each step: the global batch (rows ``start:stop`` of the one permutation
   all ranks draw) is cut into contiguous slices, one per rank, the first
   ``m % size`` ranks taking one row more (a rank may get none: its gradient
   is then zero).  Each rank scales its loss gradient by ``1/m`` of the
   GLOBAL batch, and one in-place ``MPI_Allreduce`` sums the flat gradient
   vector (``GradientStore.flat``: one line-aligned float32 buffer holding
   every trainable gradient; no allocation per step).  Every rank then
   applies the same update to the same summed bits.  Regularization
   penalties add their gradient on rank 0 only (they are not data terms).
   The result is the single-process fit up to float summation order.
4. Epoch end: loss and metric sums are reduced to rank 0 and broadcast (so
   the figures are identical on every rank by construction, whatever order
   MPI sums in); the stop flag (EarlyStopping, TerminateOnNaN) is OR-ed,
   also per batch when batch callbacks run; and a CRC of every rank's
   weights is compared.  Allreduce gives every rank the same bits with the
   MPI libraries tested here, but the MPI standard does not promise it, and
   nodes whose CPUs run different SIMD kernels can round the update
   differently: a divergence is repaired from rank 0 (warning once) and the
   gradient sum switches to Reduce + Bcast (``FASTDENSE_ALLREDUCE=
   reduce_bcast`` chooses that from the start).
5. After the agreement an exception on one rank (a callback that raises,
   KeyboardInterrupt, MemoryError) cannot be reported collectively: the
   other ranks are already waiting inside a collective.  It is printed with
   its traceback and ``MPI_Abort`` ends the whole job with a non-zero exit.
   The same holds for an exception the script does not catch anywhere
   (``init()`` installs a ``sys.excepthook`` for that, as ``python -m
   mpi4py`` does); errors raised on every rank alike (the agreement's) end
   the ranks normally instead.

Rank 0 alone prints progress and writes files (``save``, ``save_weights``,
the callbacks' ``_is_main_process()``); ``predict`` stays local to each rank.

Sharded data (``init(data='sharded')``): each rank passes only its own rows
(``local_slice(n)`` gives rank r its contiguous share).  Each rank then
shuffles its own shard, takes its slice of every global batch from it, and
the step count is the largest any rank needs; the global batch and the
gradient scale still cover all ranks' rows.  The fit is the same algorithm,
not the same batches as one process drawing from all rows.

Communication overlap: splitting the gradient sum into per-layer
non-blocking reductions started during the backward pass was measured
(``benchmarks/distributed_epoch.py``) and does not pay on the seed network:
the big layer's gradient (99.7% of the 1.6 MB) is the LAST one the backward
pass produces, so there is nothing left to overlap it with, and MPICH makes
no progress on a non-blocking collective without a spare core or a call.
``docs/distributed.md`` has the numbers.

mpi4py is optional (``pip install 'fastdense[mpi]'``).  Without it,
``init()`` warns and the process is a world of one; started by a launcher
as one of several processes, it raises ImportError instead (each rank would
otherwise train alone and all would write the same files).  Nothing else in
fastdense imports mpi4py.
"""
import builtins
import functools
import json
import math
import os
import sys
import time
import traceback
import warnings
import zlib

import numpy as np

__all__ = ["init", "is_initialized", "rank", "size", "is_main", "barrier",
           "local_slice", "data_mode", "shutdown", "DistributedError"]

_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_DATA_MODES = ("replicated", "sharded")
_SUMS = ("allreduce", "reduce_bcast")


class DistributedError(RuntimeError):
    """A collective call failed on another rank (the message says where and why)."""


class _World:
    """The process's view of the MPI world (one per process)."""

    def __init__(self):
        self.MPI = None           # the mpi4py.MPI module, once joined
        self.comm = None          # our duplicate of COMM_WORLD: never mixes with the user's
        self.rank = 0
        self.size = 1
        self.local_size = 1       # ranks on this node
        self.initialized = False
        self.data = "replicated"
        self.gradient_sum = "allreduce"
        self.calls = []           # the collective calls running now (nested: innermost last)
        self.previous_hook = None
        self.warned_divergence = False


_W = _World()


def _launcher_size():
    """World size announced by an MPI launcher in the environment (0: none)."""
    for var in _LAUNCHER_SIZE_VARS:
        raw = os.environ.get(var, "").strip()
        if raw.isdigit():
            return int(raw)
    return 0


def _gradient_sum_from_env():
    name = os.environ.get("FASTDENSE_ALLREDUCE", "").strip().lower() or "allreduce"
    if name not in _SUMS:
        raise ValueError("FASTDENSE_ALLREDUCE=%r: use 'allreduce' or 'reduce_bcast'" % name)
    return name


def init(data="replicated"):
    """Join the MPI world (through mpi4py); a world of one outside ``mpiexec``.

    ``data='replicated'`` (default): every rank passes the same arrays to
    fit/evaluate and each takes its slice of every global batch.
    ``data='sharded'``: each rank passes only its own rows (see
    ``local_slice``).  Calling ``init`` again changes nothing but the data
    mode.  Returns the world size.
    """
    if data not in _DATA_MODES:
        raise ValueError("init(data=%r): use 'replicated' (every rank passes the same "
                         "arrays) or 'sharded' (each rank passes its own rows)" % (data,))
    gradient_sum = _gradient_sum_from_env()
    if _W.initialized:
        _W.data = data
        return _W.size
    try:
        from mpi4py import MPI
    except Exception as exc:     # ImportError, or RuntimeError: no MPI library found
        launched = _launcher_size()
        if launched > 1:
            raise ImportError(
                "fastdense.distributed.init(): this process was started by an MPI "
                "launcher as one of %d processes, but mpi4py cannot be loaded (%s: %s). "
                "Each process would train alone and all would write the same files. "
                "Install it where the script runs: pip install 'fastdense[mpi]' (mpi4py "
                "and the MPICH wheels)" % (launched, type(exc).__name__, exc)) from exc
        warnings.warn("fastdense.distributed.init(): mpi4py is not available (%s: %s), "
                      "so this process trains alone, as a world of one. For data-parallel "
                      "training: pip install 'fastdense[mpi]', then mpiexec -n N python "
                      "script.py" % (type(exc).__name__, exc), RuntimeWarning, stacklevel=2)
        _W.initialized = True
        _W.data = data
        _W.gradient_sum = gradient_sum
        return 1
    comm = MPI.COMM_WORLD.Dup()
    _W.MPI = MPI
    _W.comm = comm
    _W.rank = comm.Get_rank()
    _W.size = comm.Get_size()
    _W.data = data
    _W.gradient_sum = gradient_sum
    _W.initialized = True
    if _W.size > 1:
        local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=_W.rank)
        _W.local_size = local.Get_size()
        local.Free()
        _share_cores(_W.local_size)
        _share_random_state(comm)
        _W.previous_hook = sys.excepthook
        sys.excepthook = _excepthook
    return _W.size


def _share_cores(local_size):
    """Each rank takes its share of the node's cores, unless threads were chosen."""
    from . import _config
    if os.environ.get("FASTDENSE_NUM_THREADS", "").strip() \
            or os.environ.get("OMP_NUM_THREADS", "").strip():
        return
    cores = _config._usable_cores()
    if _config.get_num_threads() == cores:          # still the default
        _config.set_num_threads(max(1, cores // local_size))


def _share_random_state(comm):
    """Every rank takes rank 0's random state (fastdense's, NumPy's, Python's)."""
    import random
    from . import utils
    rng = utils.get_rng()
    mine = (rng.bit_generator.state, np.random.get_state(), random.getstate())
    ours, legacy, python = comm.bcast(mine if comm.Get_rank() == 0 else None, root=0)
    bit_generator = getattr(np.random, ours["bit_generator"])()
    bit_generator.state = ours
    utils._RNG[0] = np.random.Generator(bit_generator)
    np.random.set_state(legacy)
    random.setstate(python)


def is_initialized():
    """True once ``init()`` ran."""
    return _W.initialized


def rank():
    """This process's rank (0 without MPI)."""
    return _W.rank


def size():
    """The number of ranks (1 without MPI)."""
    return _W.size


def is_main():
    """True on rank 0, where files are written and progress printed."""
    return _W.rank == 0


def data_mode():
    """'replicated' or 'sharded' (see ``init``)."""
    return _W.data


def barrier():
    """Wait until every rank got here (nothing to wait for in a world of one)."""
    if _W.size > 1:
        _W.comm.Barrier()


def local_slice(n):
    """This rank's contiguous share of ``n`` rows, as a slice (for sharded data).

    The first ``n % size`` ranks take one row more: ``x[local_slice(len(x))]``.
    """
    n = int(n)
    if n < 0:
        raise ValueError("local_slice(n) needs n >= 0, got %d" % n)
    lo, hi = _split(n, _W.size, _W.rank)
    return slice(lo, hi)


def shutdown():
    """Leave the world: free fastdense's communicator, become a world of one.

    MPI itself is finalized by mpi4py when the interpreter exits, so scripts
    need not call this; it is for code that wants the single-process
    behaviour back (and tests)."""
    if _W.calls:
        raise RuntimeError("shutdown() inside a running fit/evaluate")
    if _W.comm is not None:
        _W.comm.Free()
    if sys.excepthook is _excepthook:
        sys.excepthook = _W.previous_hook or sys.__excepthook__
    _W.__init__()


def _split(m, parts, index):
    """Rows [lo, hi) of part ``index`` when m rows are cut into ``parts`` pieces."""
    base, extra = divmod(m, parts)
    lo = index * base + min(index, extra)
    return lo, lo + base + (1 if index < extra else 0)


# ---- errors ----------------------------------------------------------------------

def _mark(exc):
    """Flag an exception raised alike on every rank (no abort needed)."""
    try:
        exc._fastdense_collective = True
    except AttributeError:
        pass
    return exc


def _collective(exc):
    return bool(getattr(exc, "_fastdense_collective", False))


def _excepthook(etype, value, tb):
    previous = _W.previous_hook or sys.__excepthook__
    if _W.size <= 1 or issubclass(etype, SystemExit):
        return previous(etype, value, tb)
    if _collective(value):
        # every rank raised this same error: rank 0 tells it, all exit normally
        if _W.rank == 0:
            previous(etype, value, tb)
        return None
    previous(etype, value, tb)
    _abort_job("the script raised %s and did not catch it" % etype.__name__,
               130 if issubclass(etype, KeyboardInterrupt) else 1, printed=True)


_ABORT_DRAIN_SECONDS = 0.25


def _abort_job(reason, code, exc=None, printed=False):
    out = sys.stderr
    try:
        sys.stdout.flush()
        out.write("fastdense.distributed: rank %d of %d: %s; ending every rank with "
                  "MPI_Abort (the other ranks are waiting in a collective call and "
                  "would hang)\n" % (_W.rank, _W.size, reason))
        if exc is not None and not printed:
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=out)
        out.flush()
        # The launcher forwards each rank's stderr through a pipe and stops
        # reading it once MPI_Abort reaches it: without a moment for the pipe
        # to drain, the message above was lost on a loaded machine (seen with
        # MPICH's hydra).  The job is ending anyway.
        time.sleep(_ABORT_DRAIN_SECONDS)
    finally:
        _W.MPI.COMM_WORLD.Abort(code)


def _describe(exc):
    text = str(exc)
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


def _error_from(what, errors):
    """The exception a rank raises when other ranks failed the agreement."""
    r, tname, message = errors[0]
    text = "%s failed on rank %d of %d: %s: %s" % (what, r, _W.size, tname, message)
    if len(errors) > 1:
        text += " (it failed on ranks %s)" % ", ".join(str(e[0]) for e in errors)
    text += "; every rank stops this call"
    cls = getattr(builtins, tname, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)) \
            or issubclass(cls, (SystemExit, GeneratorExit)):
        cls = DistributedError
    try:
        exc = cls(text)
    except Exception:
        exc = DistributedError(text)
    return _mark(exc)


# ---- the collective call guard ------------------------------------------------------

def call_comm():
    """The communicator of the innermost running collective call (None: none)."""
    return _W.calls[-1] if _W.calls else None


def collective(what):
    """Decorator for a model method that runs as one collective call (fit, ...).

    In a world of one it calls the method as it is.  Otherwise it opens a
    ``CallComm`` for the call (``model._comm()`` returns it), and turns an
    exception into: the agreement's collective error before the agreement,
    MPI_Abort after it."""
    def decorate(method):
        @functools.wraps(method)
        def call(model, *args, **kwargs):
            if _W.size <= 1:
                return method(model, *args, **kwargs)
            comm = CallComm(what)
            _W.calls.append(comm)
            try:
                result = method(model, *args, **kwargs)
                if not comm.agreed:             # a path that never reached its agreement
                    comm.agree(model, returned_early=True)
                return result
            except BaseException as exc:
                comm.failed(exc)
                raise
            finally:
                _W.calls.pop()
        return call
    return decorate


# ---- fingerprints ------------------------------------------------------------------------

def _crc(data):
    return "%08x" % zlib.crc32(memoryview(np.ascontiguousarray(data)).cast("B"))


def _sampled_crc(a):
    """CRC of up to 65 rows spread over ``a`` (cheap: catches different arrays)."""
    if not isinstance(a, np.ndarray):
        return None                # compressed rows: shape only
    n = len(a)
    if n == 0:
        return "empty"
    rows = np.unique(np.linspace(0, n - 1, num=min(n, 65)).astype(np.int64))
    return _crc(a[rows])


def _array_fields(a, sharded):
    shape = tuple(int(d) for d in getattr(a, "shape", ()))
    if sharded:
        return {"per-sample shape": shape[1:], "dtype": str(getattr(a, "dtype", ""))}
    return {"shape": shape, "dtype": str(getattr(a, "dtype", "")), "crc": _sampled_crc(a)}


def _strip_names(obj):
    if isinstance(obj, dict):
        return {k: _strip_names(v) for k, v in obj.items() if k != "name"}
    if isinstance(obj, list):
        return [_strip_names(v) for v in obj]
    return obj


def _model_fields(model):
    from . import __version__
    layers = model.layers
    config = json.dumps(_strip_names(model.get_config()), sort_keys=True, default=str)
    return {
        "fastdense version": __version__,
        "model layers": ", ".join("%s%s" % (type(l).__name__, tuple(
            tuple(s) for s in l.param_shapes()) if l.built else "") for l in layers),
        "model config": "crc %s" % _crc(np.frombuffer(config.encode(), np.uint8)),
        "input shape": (None if model._input_shape() is None
                        else tuple(model._input_shape())),
        "compile": json.dumps(model._compile_config, sort_keys=True, default=str),
        "trainable": tuple(id(l) in model._trainable_snapshot() for l in layers),
    }


def _random_state_crc():
    from . import utils
    state = json.dumps(utils.get_rng().bit_generator.state, sort_keys=True, default=str)
    return "crc %s" % _crc(np.frombuffer(state.encode(), np.uint8))


def _weights_crc(model):
    crcs = [_crc(l.param_buffer) for l in model.layers
            if l.built and l.param_buffer is not None and l.param_buffer.size]
    return ",".join(crcs)


def _show(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


_ADVICE = {
    "random state": " (call utils.set_random_seed with the same seed on every rank, "
                    "or none at all: init() gives every rank rank 0's random state)",
    "weights": " (the ranks hold different weights: load or set them on every rank, "
               "or fit first: fit starts every rank from rank 0's weights)",
    "batch hooks": "",
}


class CallComm:
    """The engine's communicator for one collective call (see the module notes).

    Implements the hooks of ``engine.training.LocalComm`` over MPI."""

    def __init__(self, what):
        self.what = what
        self.MPI = _W.MPI
        self.comm = _W.comm
        self.rank = _W.rank
        self.size = _W.size
        self.is_main = _W.rank == 0
        self.sharded = _W.data == "sharded"
        self.agreed = False
        self._exchanging = False
        self._global_m = 1
        self._counts = None       # sharded: every rank's sample count
        self._parts = None        # sharded: every rank's rows per global batch
        self._flag = np.zeros(1, np.int32)
        self._gbuf = None

    # -- agreement -------------------------------------------------------------
    def _exchange(self, payload):
        self._exchanging = True
        got = self.comm.allgather(payload)
        self._exchanging = False
        return got

    def agree(self, model, **fields):
        """The agreement point: every argument checked on this rank; compare them."""
        mine = _model_fields(model)
        mine["data mode"] = _W.data
        info = {}
        for key, value in fields.items():
            if key in ("x", "y", "validation x", "validation y", "sample weights",
                       "validation sample weights"):
                if value is None:
                    mine[key] = None
                else:
                    mine[key] = _array_fields(value, self.sharded)
                    if key == "x":
                        info["n"] = int(value.shape[0])
            else:
                mine[key] = value
        if self.what == "fit":
            mine["random state"] = _random_state_crc()
        if self.what == "evaluate":
            mine["weights"] = _weights_crc(model)
        got = self._exchange(("ok", mine, info))
        errors = [(r, p[1], p[2]) for r, p in enumerate(got) if p[0] == "error"]
        if errors:
            raise _error_from(self.what, errors)
        keys = []
        for _, theirs, _ in got:
            keys += [k for k in theirs if k not in keys]
        differ = [k for k in keys if any(p[1].get(k) != got[0][1].get(k) for p in got)]
        if differ:
            lines = ["%s: %s" % (k, "; ".join("rank %d: %s" % (r, _show(p[1].get(k)))
                                              for r, p in enumerate(got)))
                     + _ADVICE.get(k, "") for k in differ]
            data = any(k.endswith(("x", "y", "weights")) for k in differ if k != "weights")
            raise _mark(ValueError(
                "the ranks disagree on %s in %s; every rank must run the same script on "
                "the same arrays%s:\n  %s"
                % (", ".join(differ), self.what,
                   " (with init(data='sharded') each rank passes its own rows)" if data
                   else "", "\n  ".join(lines))))
        if self.sharded and "n" in info:
            self._counts = [p[2]["n"] for p in got]
            batch = fields.get("batch_size")
            if batch is not None and self.what == "fit" and batch < self.size:
                raise _mark(ValueError(
                    "fit with sharded data needs batch_size >= the number of ranks "
                    "(%d), got %d: each rank takes its share of every batch"
                    % (self.size, batch)))
        self.agreed = True

    def failed(self, exc):
        """An exception on this rank: collective error, or abort (see module notes)."""
        if _collective(exc):
            return                          # raised alike on every rank
        if self.agreed or self._exchanging:
            _abort_job("%s raised %s" % (self.what, _describe(exc)),
                       130 if isinstance(exc, KeyboardInterrupt) else 1, exc=exc)
        message = str(exc)
        got = self._exchange(("error", type(exc).__name__, message))
        _mark(exc)
        others = [r for r, p in enumerate(got) if p[0] == "error" and r != self.rank]
        if others and hasattr(exc, "add_note"):
            exc.add_note("fastdense.distributed: %s also failed on rank(s) %s"
                         % (self.what, ", ".join(map(str, others))))

    # -- the schedule ------------------------------------------------------------
    def schedule(self, n, batch_size):
        """(global samples, steps per epoch) for ``n`` rows on this rank."""
        if not self.sharded or self._counts is None:
            return n, int(math.ceil(n / batch_size))
        self._parts = [_split(batch_size, self.size, r) for r in range(self.size)]
        self._parts = [hi - lo for lo, hi in self._parts]
        steps = max(int(math.ceil(c / p)) if p else 0
                    for c, p in zip(self._counts, self._parts))
        return int(sum(self._counts)), steps

    def local_rows(self, step, start, stop):
        """This rank's rows [lo, hi) of global batch ``step`` (rows start:stop).

        Also sets ``batch_row``: where those rows start in the global batch
        (the ranks' shares in rank order), which the Dropout masks count from."""
        if self.sharded and self._counts is not None and self._parts is None:
            # one batch made of every rank's rows (train_on_batch)
            self._global_m = int(sum(self._counts))
            self.batch_row = int(sum(self._counts[:self.rank]))
            return start, stop
        if self._parts is None:
            m = stop - start
            self._global_m = m
            lo, hi = _split(m, self.size, self.rank)
            self.batch_row = lo
            return start + lo, start + hi
        total = 0
        below = 0
        for r, (c, p) in enumerate(zip(self._counts, self._parts)):
            share = max(0, min(p, c - step * p))
            total += share
            if r < self.rank:
                below += share
        self._global_m = total
        self.batch_row = below
        p, c = self._parts[self.rank], self._counts[self.rank]
        lo = min(step * p, c)
        return lo, min(lo + p, c)

    def global_batch(self, m):
        return self._global_m

    def eval_rows(self, n):
        """This rank's rows of an n-row evaluation."""
        if self.sharded:
            return 0, n
        return _split(n, self.size, self.rank)

    # -- reductions ------------------------------------------------------------------
    def reduce_gradients(self, flat):
        """Sum the flat float32 gradient over the ranks, in place (one call)."""
        MPI = self.MPI
        buf = self._gbuf
        if buf is None or buf[0] is not flat:
            if flat.dtype != np.float32 or not flat.flags.c_contiguous:
                raise TypeError("the gradient vector must be contiguous float32")
            buf = self._gbuf = [flat, MPI.FLOAT]
        if _W.gradient_sum == "allreduce":
            self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        else:
            if self.is_main:
                self.comm.Reduce(MPI.IN_PLACE, buf, op=MPI.SUM, root=0)
            else:
                self.comm.Reduce(buf, None, op=MPI.SUM, root=0)
            self.comm.Bcast(buf, root=0)

    def reduce_sums(self, vector):
        """Sums over the ranks of a small float64 vector, the same bits everywhere."""
        v = np.ascontiguousarray(vector, dtype=np.float64)
        out = np.empty_like(v)
        MPI = self.MPI
        if self.is_main:
            self.comm.Reduce(v, out, op=MPI.SUM, root=0)
        else:
            self.comm.Reduce(v, None, op=MPI.SUM, root=0)
        self.comm.Bcast(out, root=0)
        return out

    def any(self, flag):
        """True on every rank when ``flag`` is true on any."""
        self._flag[0] = 1 if flag else 0
        self.comm.Allreduce(self.MPI.IN_PLACE, self._flag, op=self.MPI.MAX)
        return bool(self._flag[0])

    # -- fit start and epoch end ----------------------------------------------------
    def _broadcast_state(self, model, n_params):
        MPI = self.MPI
        for layer in model.layers:
            buf = layer.param_buffer if layer.built else None
            if buf is not None and buf.size:
                self.comm.Bcast([buf, MPI.FLOAT], root=0)
        opt = model.optimizer
        iterations, state = opt.get_state()
        iterations = self.comm.bcast(iterations, root=0)
        for s in state:
            self.comm.Bcast([s, MPI.FLOAT], root=0)
        if not self.is_main:
            opt.set_state(iterations, state, n_params=n_params)

    def begin_fit(self, model, trainer, callbacks):
        """Rank 0's weights and optimizer state everywhere; batch hooks agreed."""
        self._broadcast_state(model, trainer.store.n_params)
        callbacks.batch_hooks = self.any(callbacks.batch_hooks)

    def end_epoch(self, model, trainer):
        """Check that the ranks still hold the same weights; repair if not."""
        crcs = self.comm.allgather(_weights_crc(model))
        if all(c == crcs[0] for c in crcs):
            return
        if self.is_main and not _W.warned_divergence:
            warnings.warn("fastdense.distributed: the ranks' weights diverged in %s (CRCs "
                          "%s): rank 0's weights and optimizer state were copied to every "
                          "rank and the gradient sum now uses Reduce + Bcast. Different "
                          "kernels on different nodes cause this: give every node the "
                          "same FASTDENSE_SIMD level and backend." % (self.what, crcs),
                          RuntimeWarning)
        _W.warned_divergence = True
        _W.gradient_sum = "reduce_bcast"
        self._broadcast_state(model, trainer.store.n_params)
