"""Concurrency: the C kernels release the GIL and keep no global state, so
many Python threads may call them at once; thread counts change how work is
split, never (beyond rounding of reductions) the answer."""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastdense
from fastdense import ops

from test_kernels import (ALL_CORES, KERNELS, Plan, build_gemm, gemm_truth,
                          U)
from arrays import PAR_SHAPE, assert_within

WORKERS = 8
# big enough that the elementwise kernels fork OpenMP threads (FD_PAR_MIN_ELEMS)
SHAPE = PAR_SHAPE
GEMM_SHAPE = (150, 300, 70)
ELEMENTWISE = {"add_f32", "relu_f32", "relu_backward_f32", "rmsprop_update_f32",
               "sgd_update_f32", "sgd_update_f32[momentum]", "sgd_update_f32[nesterov]",
               "adam_update_f32"}


class Job:
    """One kernel call on its own arrays; ``run`` returns everything it produced."""

    def __init__(self, ck, name, seed, plan):
        self.name = name
        if name == "sgemm":
            self.case = build_gemm(GEMM_SHAPE, (Plan(plan)("in"), "C", "C", "C"), "beta_bias_relu",
                                   np.random.default_rng(seed))
            self.fn = ck.sgemm
        else:
            kern = KERNELS[name]
            self.case = kern.build(SHAPE, Plan(plan), np.random.default_rng(seed), 0.0)
            self.fn = getattr(ck, kern.func)

    def run(self, nthreads):
        ret = self.case.call(self.fn, nthreads)
        outs = {k: np.array(self.case.get(k), copy=True) for k in self.case.outputs}
        if isinstance(ret, tuple):
            outs["return"] = np.array(ret, dtype=np.float64)
        return outs


def _jobs(ck, copies):
    names = ["sgemm"] + list(KERNELS)
    plans = ["C", "F", "mixed", "in:strided"]
    return [Job(ck, name, seed=100 + i, plan=plans[i % len(plans)])
            for i in range(copies) for name in names]


def _bit_equal(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and np.array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("nthreads", sorted({1, ALL_CORES}))
def test_concurrent_calls_match_serial_bit_for_bit(ckernels, nthreads):
    serial = [job.run(nthreads) for job in _jobs(ckernels, 3)]
    jobs = _jobs(ckernels, 3)
    with ThreadPoolExecutor(WORKERS) as pool:
        # every job twice, interleaved, so that the same kernel runs in parallel
        # with itself as well as with the others
        futures = [pool.submit(job.run, nthreads) for job in jobs]
        concurrent = [f.result() for f in futures]
    for job, want, got in zip(jobs, serial, concurrent):
        for key in want:
            assert _bit_equal(got[key], want[key]), \
                "%s (%s): %r differs when run concurrently" % (job.name, nthreads, key)


def test_many_threads_same_kernel_same_inputs(ckernels):
    """Shared read-only inputs, private outputs: every thread gets the same answer."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((128, 784)).astype(np.float32)
    b = rng.standard_normal((784, 64)).astype(np.float32)
    a.flags.writeable = False
    b.flags.writeable = False

    def work(_):
        c = np.empty((128, 64), np.float32)
        ckernels.sgemm(a, b, c, nthreads=ALL_CORES)
        s = np.empty_like(c)
        ckernels.softmax_f32(c, s, nthreads=ALL_CORES)
        return c, s

    first = work(0)
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(work, range(32)))
    for c, s in results:
        assert _bit_equal(c, first[0]) and _bit_equal(s, first[1])


def test_kernels_release_the_gil(ckernels):
    """A long sgemm in one thread lets another Python thread run meanwhile."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal((1000, 1000)).astype(np.float32)
    c = np.empty((1000, 1000), np.float32)
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        while not ticks:
            pass
        during = 0
        for _ in range(3):   # each call takes tens of ms, the GIL released inside
            before = len(ticks)
            ckernels.sgemm(a, a, c, nthreads=1)
            during = max(during, len(ticks) - before)
    finally:
        stop.set()
        t.join()
    assert during > 0, "no Python code ran in another thread during an sgemm call"


def test_set_num_threads_while_calls_are_in_flight(ckernels, restore_fastdense_config):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((150, 300)).astype(np.float32)
    b = rng.standard_normal((300, 70)).astype(np.float32)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    with fastdense.use_backend("c"):
        fastdense.set_num_threads(1)
        want_dot, want_relu, want_sm = ops.dot(a, b), ops.relu(x), ops.softmax(x)
        stop = threading.Event()
        errors = []

        def toggler():
            n = 0
            while not stop.is_set():
                n += 1
                fastdense.set_num_threads(1 + n % max(2, ALL_CORES))

        def worker(_):
            try:
                for _ in range(10):
                    d, r, s = ops.dot(a, b), ops.relu(x), ops.softmax(x)
                    bound = 2 * (300 + 2) * U * (np.abs(a) @ np.abs(b))
                    assert_within(d, want_dot, bound, "dot")
                    assert _bit_equal(r, want_relu), "relu"
                    assert_within(s, want_sm, 8 * U * want_sm, "softmax")
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        t = threading.Thread(target=toggler)
        t.start()
        try:
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(worker, range(8)))
        finally:
            stop.set()
            t.join()
    assert not errors, errors[0]


@pytest.mark.parametrize("name", ["sgemm"] + list(KERNELS))
def test_one_thread_vs_all_cores(ckernels, name):
    """Bitwise for elementwise kernels; within the error bound for reductions."""
    one = Job(ckernels, name, 11, "F").run(1)
    job = Job(ckernels, name, 11, "F")
    many = job.run(max(2, ALL_CORES))
    for key in one:
        if name in ELEMENTWISE:
            assert _bit_equal(many[key], one[key]), "%s %s" % (name, key)
        elif name == "sgemm":
            _, bound = gemm_truth(job.case)
            assert_within(many[key], one[key], 2 * bound, "%s %s" % (name, key))
        else:
            w = one[key].astype(np.float64)
            m = SHAPE[0] if key != "return" else 1
            n = SHAPE[1]
            # relative to the largest value of the output: sums may cancel
            # (test_kernels holds each thread count to tight bounds already)
            bound = np.full(w.shape, 4 * (m + n + 8) * U * np.nanmax(np.abs(w)) if w.size else 0.0)
            if key == "return":
                bound = 4 * (m + n + 8) * U * np.abs(w)
                bound[1] = 0  # n_correct is exact
            assert_within(many[key], one[key], bound, "%s %s" % (name, key))
