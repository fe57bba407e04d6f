"""How the bench times: interleaved samples, calibration, equal thread counts,
and the probe of spinning worker threads.

A *sampler* is anything with three methods: ``warmup(calls, min_seconds)``,
``calibrate(min_time) -> calls per sample`` and ``sample(calls) -> seconds per
call``.  :class:`LocalSampler` wraps a callable of this process;
``worker.RemoteSampler`` runs the same three in a worker process (NumPy as
users have it) and returns the measured seconds over the pipe, so the pipe's
own latency is never part of a sample.  :func:`interleaved` takes callables
and samplers alike and rotates through them, one sample each per round.
"""
import itertools
import math
import statistics
import time

import numpy as np

from .. import _config, ops

F32 = np.float32


class LocalSampler:
    """Times a callable of this process."""

    def __init__(self, fn):
        self.fn = fn

    def warmup(self, calls, min_seconds=0.1):
        """At least ``calls`` calls and (when calls > 0) ``min_seconds``: page
        faults, thread pools and clocks settle first."""
        fn = self.fn
        t0 = time.perf_counter()
        for i in itertools.count():
            if i >= calls and (not calls or time.perf_counter() - t0 > min_seconds):
                break
            fn()

    def calibrate(self, min_time, max_number=100000):
        return calibrate(self.fn, min_time, max_number)

    def sample(self, number):
        fn = self.fn
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number


def as_sampler(obj):
    if hasattr(obj, "sample") and hasattr(obj, "calibrate"):
        return obj
    if callable(obj):
        return LocalSampler(obj)
    raise TypeError("expected a callable or a sampler, got %r" % (obj,))


def calibrate(fn, min_time, max_number=100000):
    """How many calls make one sample last at least min_time seconds."""
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    if dt >= min_time:
        return 1
    # refine on a few more calls: the first may include a cold cache
    n = max(1, min(max_number, int(0.25 * min_time / max(dt, 1e-7))))
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    dt = (time.perf_counter() - t0) / n
    return max(1, min(max_number, int(math.ceil(min_time / max(dt, 1e-9)))))


def interleaved(fns, repeats=7, min_time=0.05, warmup=2, settle=0.0, number=None):
    """Time several callables (or samplers) side by side.

    ``fns`` maps a name to a callable taking no argument, or to a sampler
    (for instance a worker's).  Each is warmed up, its calls per sample are
    calibrated, then ``repeats`` rounds run every one once per round, the
    order rotating each round so that no side always follows the same other
    side.  ``settle`` seconds of sleep precede each sample.  Returns ``{name:
    [seconds per call, one per round]}``.
    """
    names = list(fns)
    samplers = {name: as_sampler(fns[name]) for name in names}
    for name in names:
        samplers[name].warmup(warmup, 0.1)
    numbers = {}
    for name in names:
        if settle:
            time.sleep(settle)
        numbers[name] = number or samplers[name].calibrate(min_time)
    samples = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            if settle:
                time.sleep(settle)
            samples[name].append(samplers[name].sample(numbers[name]))
    return samples


def median(xs):
    return statistics.median(xs) if xs else float("nan")


class Threads:
    """Same thread count on every side: fastdense's kernels, NumPy's BLAS in
    this process (threadpoolctl) and in the worker processes given."""

    def __init__(self, n, workers=()):
        self.n = n
        self.workers = [w for w in workers if w is not None]
        self._limits = None
        self._prev = None

    def __enter__(self):
        self._prev = _config.get_num_threads()
        _config.set_num_threads(self.n)
        try:
            from threadpoolctl import threadpool_limits
            self._limits = threadpool_limits(self.n, user_api="blas")
        except ImportError:
            self._limits = None
        for w in self.workers:
            w.set_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self._limits is not None:
            self._limits.restore_original_limits()
        _config.set_num_threads(self._prev)
        return False


def rand(rng, *shape, scale=1.0):
    return rng.standard_normal(shape, dtype=F32) * F32(scale)


def spin_probe(threads, quiet=0.3, calls=20):
    """How much does the other library's spinning pool cost right after a switch?

    For the 128x784 @ 784x512 product: each side is timed (median per call
    over ``calls`` calls) right after a burst of the other side, and after the
    same burst followed by ``quiet`` seconds of sleep.  Both sides run in
    this process (the spinning pools are this process's).
    """
    rng = np.random.default_rng(2)
    a, b = rand(rng, 128, 784), rand(rng, 784, 512)
    c = np.empty((128, 512), F32)
    sides = {"fastdense": lambda: ops.dot(a, b, out=c), "numpy": lambda: np.dot(a, b, out=c)}
    for f in sides.values():
        for _ in range(20):
            f()

    def timed(f):
        ts = []
        for _ in range(calls):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    out = {"threads": threads, "shape": "128x784 @ 784x512", "quiet_s": quiet}
    for me, other in (("fastdense", "numpy"), ("numpy", "fastdense")):
        after, settled = [], []
        for _ in range(3):
            for _ in range(50):
                sides[other]()
            after.append(timed(sides[me]))
            for _ in range(50):
                sides[other]()
            time.sleep(quiet)
            settled.append(timed(sides[me]))
        a_s, s_s = statistics.median(after), statistics.median(settled)
        out[me] = {"after_other_s": a_s, "after_quiet_s": s_s, "slowdown": a_s / s_s}
    return out
