"""A worker process the bench drives over a pipe, sample by sample.

Why: OpenBLAS reads ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` once, when
NumPy loads it, and picks its kernels from them for the life of the process.
Where the environment sets them (this workspace sets ``Haswell``: the AVX2
kernels, on a CPU where users get the AVX-512 "SkylakeX" ones), NumPy in the
bench's own process is not NumPy as users have it.  So the bench starts a
worker with those variables removed, and has it run the NumPy contenders
(the NumPy side of the GEMM rows, the BLAS peak, the NumPy script's epochs
and predict, the floor), while fastdense runs in the parent.

How the samples stay interleaved: the parent owns the schedule.  It times
one fastdense sample itself, then sends the worker a request for one NumPy
sample (``("sample", key, method, calls)``); the worker runs the calls between
two ``perf_counter()`` reads and sends back the seconds per call, and only
then does the parent go on to its next sample.  At any moment exactly one
side is computing; the other is blocked on the pipe (not spinning), and the
pipe's latency is outside every timed region.

Protocol: the parent writes pickled ``(op, args)`` requests to the worker's
stdin and reads pickled ``(status, value)`` replies from the worker's
original stdout (the worker points its fd 1 at stderr, so that a stray print
cannot corrupt the stream).  The first message is the parent's ``sys.path``,
so that the worker imports the same fastdense and NumPy as the parent.  Jobs
are built in the worker from small picklable specs (``make``) by a fixed
table of factories (:data:`FACTORIES`) and addressed by a number; big arrays
never cross the pipe.  Errors in the worker come back as
:class:`WorkerError` carrying the worker's traceback.  Closing stdin ends the
worker.

The IMDB rows use the same machinery for another reason: each contender runs
in its own worker so that its peak memory (``ru_maxrss``) is its own.
"""
import importlib
import os
import pickle
import subprocess
import sys
import traceback

from .machine import OPENBLAS_LOAD_VARS

#: what a worker can build: kind -> (module, callable), called with the
#: spec's arguments; the result is a callable or an object with methods
FACTORIES = {
    "case": ("fastdense.bench.cases", "numpy_side"),
    "peak": ("fastdense.bench.cases", "peak_side"),
    "scaling": ("fastdense.bench.cases", "scaling_side"),
    "mnist": ("fastdense.bench.contenders", "MnistSlot"),
    "imdb": ("fastdense.bench.contenders", "ImdbSlot"),
}

_BOOT = ("import pickle, sys\n"
         "sys.path[:] = pickle.load(sys.stdin.buffer)\n"
         "from fastdense.bench.worker import serve\n"
         "serve()\n")


class WorkerError(RuntimeError):
    """A request failed in the worker (the message holds its traceback), or the
    worker died."""


class Worker:
    """A worker process started with ``remove`` taken out of the environment.

    ``label`` names it in messages.  Use as a context manager, or call
    :meth:`close`.
    """

    def __init__(self, label="numpy", remove=OPENBLAS_LOAD_VARS):
        self.label = label
        self.removed = [k for k in remove if k in os.environ]
        env = {k: v for k, v in os.environ.items() if k not in remove}
        self._proc = subprocess.Popen([sys.executable, "-c", _BOOT], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, env=env)
        self._send(list(sys.path))
        self.info = self.request("info")

    # -- plumbing -----------------------------------------------------------
    def _send(self, obj):
        try:
            pickle.dump(obj, self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerError(self._died("while sending a request (%s)" % exc)) from None

    def _died(self, when):
        code = self._proc.poll()
        return ("the %s worker process (pid %d) exited%s %s; its error output is above"
                % (self.label, self._proc.pid,
                   "" if code is None else " with status %s" % code, when))

    def request(self, op, *args):
        """Send one request and return its reply's value."""
        if self._proc.stdin is None or self._proc.stdin.closed:
            raise WorkerError("the %s worker is closed" % self.label)
        self._send((op, args))
        try:
            status, value = pickle.load(self._proc.stdout)
        except EOFError:
            raise WorkerError(self._died("before replying to %r" % (op,))) from None
        if status != "ok":
            raise WorkerError("%s worker, %s%r failed:\n%s" % (self.label, op, args, value))
        return value

    # -- the operations -----------------------------------------------------
    def make(self, kind, *args):
        """Build a job in the worker; returns its key."""
        return self.request("make", kind, args)

    def drop(self, key):
        self.request("drop", key)

    def call(self, key, method, *args):
        return self.request("call", key, method, args)

    def sampler(self, key, method=None):
        return RemoteSampler(self, key, method)

    def set_threads(self, n):
        self.request("threads", n)

    def memory(self):
        return self.request("memory")

    def close(self):
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()

    @property
    def returncode(self):
        return self._proc.poll()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class RemoteSampler:
    """The sampler interface of ``timing`` for a job in a worker: the calls
    and their timing happen in the worker; only numbers cross the pipe."""

    def __init__(self, worker, key, method=None):
        self.worker, self.key, self.method = worker, key, method

    def warmup(self, calls, min_seconds=0.1):
        self.worker.request("warmup", self.key, self.method, calls, min_seconds)

    def calibrate(self, min_time, max_number=100000):
        return self.worker.request("calibrate", self.key, self.method, min_time, max_number)

    def sample(self, number):
        return self.worker.request("sample", self.key, self.method, number)


# ---------------------------------------------------------------------------
# the worker's side
# ---------------------------------------------------------------------------

class _Server:
    def __init__(self):
        self.jobs = {}
        self.next_key = 0
        self.limits = None

    def op_info(self):
        from .. import __file__ as fd_file
        from .machine import blas_info, openblas_env
        import numpy as np
        return {"pid": os.getpid(), "executable": sys.executable,
                "fastdense": os.path.dirname(os.path.abspath(fd_file)),
                "numpy": np.__version__, "openblas_env": openblas_env(),
                "blas": blas_info()}

    def op_threads(self, n):
        from .. import _config
        _config.set_num_threads(n)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return False
        if self.limits is not None:
            self.limits.restore_original_limits()
        self.limits = threadpool_limits(n, user_api="blas")
        return True

    def op_make(self, kind, args):
        module, name = FACTORIES[kind]
        job = getattr(importlib.import_module(module), name)(*args)
        self.next_key += 1
        self.jobs[self.next_key] = job
        return self.next_key

    def op_drop(self, key):
        self.jobs.pop(key, None)

    def _fn(self, key, method):
        job = self.jobs[key]
        return job if method is None else getattr(job, method)

    def op_warmup(self, key, method, calls, min_seconds):
        from .timing import LocalSampler
        LocalSampler(self._fn(key, method)).warmup(calls, min_seconds)

    def op_calibrate(self, key, method, min_time, max_number):
        from .timing import calibrate
        return calibrate(self._fn(key, method), min_time, max_number)

    def op_sample(self, key, method, number):
        from .timing import LocalSampler
        return LocalSampler(self._fn(key, method)).sample(number)

    def op_call(self, key, method, args):
        return self._fn(key, method)(*args)

    def op_memory(self):
        from .machine import memory_info
        return memory_info()


def serve(inp=None, out=None):
    """The worker's loop: read requests until the parent closes the pipe."""
    if inp is None:
        inp = sys.stdin.buffer
    if out is None:
        out = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)               # stray prints go to stderr, not into the replies
        sys.stdout = sys.stderr
    import numpy  # noqa: F401  (OpenBLAS loads now, with this process's environment)
    server = _Server()
    while True:
        try:
            op, args = pickle.load(inp)
        except EOFError:
            break
        try:
            reply = pickle.dumps(("ok", getattr(server, "op_" + op)(*args)),
                                 protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:              # everything goes back to the parent
            reply = pickle.dumps(("error", traceback.format_exc()),
                                 protocol=pickle.HIGHEST_PROTOCOL)
        out.write(reply)
        out.flush()
    if server.limits is not None:
        server.limits.restore_original_limits()
