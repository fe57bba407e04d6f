"""Every C kernel against its NumPy twin, side by side (pytest-benchmark).

The cases are the registry of ``fastdense.bench.cases.kernel_cases`` (the same ones
``fastdense bench`` reports): the matrix product through ``ops.dot`` against
``np.dot`` at the seed network's shapes (128x784 @ 784x512, the transposed
products of the backward pass, the 10-wide products, predict 10000x784 @
784x512), C- and Fortran-ordered, and at sizes around them; the fused
(bias + relu) and gathered (shuffled rows) GEMMs the training step uses; the
elementwise, softmax, cross-entropy and optimizer kernels against
``fastdense.reference``.  Inputs are allocated once per case and shared by
both sides.

    pytest benchmarks/test_bench_kernels.py --benchmark-only
    pytest benchmarks/ --benchmark-only -k "dot and 784" --benchmark-columns=median,ops
"""
import numpy as np
import pytest

from fastdense.bench.cases import kernel_cases

from conftest import bench_sizes, thread_counts

pytestmark = pytest.mark.benchmark(warmup=True, warmup_iterations=10, min_rounds=7,
                                   max_time=0.5)

CASES = kernel_cases(bench_sizes())
PARAMS = [pytest.param(n, case, side, id="%s-%dthr-%s" % (case.name, n, side))
          for n in thread_counts() for case in CASES for side in ("fastdense", "numpy")]

_inputs = {}


def _fns(case):
    """The case's two callables, inputs allocated once and shared by both sides."""
    if case.name not in _inputs:
        _inputs.clear()          # the previous case is done: free its arrays
        _inputs[case.name] = case.setup(np.random.default_rng(0))
    return _inputs[case.name]


@pytest.mark.parametrize("pinned_threads, case, side", PARAMS, indirect=["pinned_threads"])
def test_kernel(benchmark, ckernels, pinned_threads, case, side):
    fn = _fns(case)[side]
    benchmark.group = "%s | %d thr" % (case.name, pinned_threads)
    benchmark.extra_info.update({"kernel": case.kernel, "shape": case.shape,
                                 "layout": case.layout, "role": case.role,
                                 "side": side, "threads": pinned_threads})
    if case.flops:
        benchmark.extra_info["flops"] = case.flops
    benchmark(fn)
    if case.flops and benchmark.stats is not None:
        median = benchmark.stats.stats.median
        benchmark.extra_info["gflops"] = case.flops / median / 1e9
