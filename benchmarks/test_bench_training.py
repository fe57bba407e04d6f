"""The seed network's MNIST training epoch and predict, every contender side by
side (pytest-benchmark).

Contenders (the same as ``fastdense bench``): fastdense's C backend and its
NumPy backend (``models.Sequential.fit``, batch 128, one epoch of 60,000
images per round), the idiomatic NumPy script ``fastdense/bench/numpy_mnist.py``,
PyTorch on the CPU when ``import torch`` works, and the floor: the epoch's
matrix products alone through NumPy's BLAS.  Each contender's model is built
once and trained on for every round (rounds are epochs 1, 2, 3, ...).
Predict: the 10,000 test images through a trained model.

    pytest benchmarks/test_bench_training.py --benchmark-only
"""
import importlib.util

import pytest

from fastdense.bench import contenders as C

from conftest import thread_counts

CONTENDERS = [C.FASTDENSE_C, C.FASTDENSE_NUMPY, C.SCRIPT, C.TORCH, "floor"]
PARAMS = [pytest.param(n, name, id="%dthr-%s" % (n, name))
          for n in thread_counts() for name in CONTENDERS]


def _trainer(name, threads):
    if name == C.FASTDENSE_C:
        from fastdense import _config
        if not _config.c_available():
            pytest.skip("C extension not loaded: %s" % _config.c_error())
    if name == C.TORCH and importlib.util.find_spec("torch") is None:
        pytest.skip("PyTorch not installed (optional)")
    return C.make_trainer(name, 0, threads)


@pytest.mark.parametrize("pinned_threads, name", PARAMS, indirect=["pinned_threads"])
def test_training_epoch(benchmark, mnist_data, pinned_threads, name):
    x, y, xt, yt = mnist_data
    if name == "floor":
        floor = C.Floor(len(x))
        epoch = floor.epoch
    else:
        tr = _trainer(name, pinned_threads)
        tr.epoch(x[:2048], y[:2048])           # warm-up on a slice
        epoch = tr.epoch
    benchmark.group = "training epoch (60000 images, batch 128) | %d thr" % pinned_threads
    benchmark.extra_info.update({"contender": name, "threads": pinned_threads})
    benchmark.pedantic(epoch, args=(x, y), rounds=3, iterations=1, warmup_rounds=0)
    if name != "floor":
        benchmark.extra_info["test_accuracy_after_rounds"] = tr.accuracy(xt, yt)


@pytest.mark.parametrize("pinned_threads, name",
                         [p for p in PARAMS if p.values[1] != "floor"],
                         indirect=["pinned_threads"])
def test_predict_test_set(benchmark, mnist_data, pinned_threads, name):
    x, y, xt, yt = mnist_data
    tr = _trainer(name, pinned_threads)
    tr.epoch(x[:4096], y[:4096])               # some training, so weights are realistic
    benchmark.group = "predict 10000 test images | %d thr" % pinned_threads
    benchmark.extra_info.update({"contender": name, "threads": pinned_threads})
    benchmark.pedantic(tr.predict, args=(xt,), rounds=7, iterations=1, warmup_rounds=1)
