"""Leaks: memory and reference counts stay steady over many calls.

* Every ``fastdense.ops`` function is called 100,000 times on small arrays on
  the C backend.  The resident set size may not grow by more than a generous
  margin (a per-call leak of even a small result array, or of a GEMM packing
  buffer -- the dot case is just big enough to take the packed path -- would
  exceed it), and ``sys.getrefcount`` of every input and ``out=`` array is
  the same afterwards (a binding that forgets a DECREF shows up here at once).
* The same loop, shorter, on the NumPy backend: the reference counts (the
  NumPy fallbacks of ``ops`` must not hold on to their arguments either).
* 20 fits of a small model (built, compiled, fitted for two epochs, used to
  predict and evaluate, dropped): RSS steady once warm, inputs' reference
  counts unchanged.

RSS comes from /proc/self/statm (Linux); elsewhere from getrusage's peak,
which can only grow, so the bound still holds.  Run under tools/sanitize.sh
these checks are skipped there (ASan's quarantine makes RSS meaningless);
the sanitizer's own leak checker covers the C code instead.
"""
import gc
import os
import sys

import numpy as np
import pytest

import fastdense
from fastdense import ops

CALLS = 100_000
NUMPY_CALLS = 10_000
WARMUP = 2_000
RSS_MARGIN = 20 * 2 ** 20        # bytes: generous, the warm loop needs ~0


def rss_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _cases():
    """name -> (inputs dict, call(inputs), check(result, inputs))."""
    rng = np.random.default_rng(7)
    cases = {}

    # 17x33 @ 33x9: m*n*k = 5049 > 4096, the packed GEMM path (malloc/free)
    d = {"a": _f32(rng, 17, 33), "b": _f32(rng, 33, 9).T.copy().T,
         "out": np.empty((17, 9), np.float32)}
    cases["dot"] = (d, lambda d: ops.dot(d["a"], d["b"], out=d["out"]),
                    lambda r, d: np.testing.assert_allclose(
                        r, np.dot(d["a"], d["b"]), rtol=1e-5, atol=1e-5))
    d = {"x": _f32(rng, 8, 10), "bias": _f32(rng, 10)}
    cases["add"] = (d, lambda d: ops.add(d["x"], d["bias"]),
                    lambda r, d: np.testing.assert_array_equal(r, d["x"] + d["bias"]))
    d = {"x": _f32(rng, 8, 10)[:, ::2], "out": np.empty((8, 5), np.float32)}
    cases["relu"] = (d, lambda d: ops.relu(d["x"], out=d["out"]),
                     lambda r, d: np.testing.assert_array_equal(r, np.maximum(d["x"], 0)))
    d = {"x": _f32(rng, 8, 10)}
    cases["softmax"] = (d, lambda d: ops.softmax(d["x"], axis=0),
                        lambda r, d: np.testing.assert_allclose(
                            r.sum(axis=0), np.ones(10), rtol=1e-5))
    d = {"p": _f32(rng, 64), "g": _f32(rng, 64) * 1e-3,
         "a": np.abs(_f32(rng, 64))}
    cases["rmsprop_update"] = (
        d, lambda d: ops.rmsprop_update(d["p"], d["g"], d["a"], lr=1e-6),
        lambda r, d: np.testing.assert_equal(np.isfinite(r).all(), True))
    d = {"grad": _f32(rng, 8, 10), "y": _f32(rng, 8, 10)}
    cases["relu_backward"] = (
        d, lambda d: ops.relu_backward(d["grad"], d["y"]),
        lambda r, d: np.testing.assert_array_equal(r, np.where(d["y"] > 0, d["grad"], 0)))
    d = {"grad": _f32(rng, 8, 10), "out": np.empty(10, np.float32)}
    cases["bias_grad"] = (
        d, lambda d: ops.bias_grad(d["grad"], out=d["out"]),
        lambda r, d: np.testing.assert_allclose(r, d["grad"].sum(axis=0), rtol=1e-5,
                                                atol=1e-6))
    d = {"logits": _f32(rng, 8, 10), "labels": np.arange(8, dtype=np.int64) % 10}
    cases["softmax_cross_entropy"] = (
        d, lambda d: ops.softmax_cross_entropy(d["logits"], d["labels"]),
        lambda r, d: np.testing.assert_equal(np.isfinite(r[0]) and r[1].shape == (8, 10),
                                             True))
    d = {"p": _f32(rng, 64), "g": _f32(rng, 64) * 1e-3, "v": np.zeros(64, np.float32)}
    cases["sgd_update"] = (
        d, lambda d: ops.sgd_update(d["p"], d["g"], d["v"], lr=1e-6, momentum=0.9,
                                    nesterov=True),
        lambda r, d: np.testing.assert_equal(np.isfinite(r).all(), True))
    d = {"p": _f32(rng, 64), "g": _f32(rng, 64) * 1e-3, "m": np.zeros(64, np.float32),
         "v": np.zeros(64, np.float32)}
    cases["adam_update"] = (
        d, lambda d: ops.adam_update(d["p"], d["g"], d["m"], d["v"], 10, lr=1e-6),
        lambda r, d: np.testing.assert_equal(np.isfinite(r).all(), True))

    # sparse x dense (issue 9): 17x33 CSR @ 33x9, out= given; without scipy
    # the call skips (the optional extra; CI installs it)
    try:
        import scipy.sparse as sp
        a = sp.csr_matrix(np.where(rng.random((17, 33)) < 0.3,
                                   _f32(rng, 17, 33), np.float32(0)))
    except ImportError:
        a = None

    def _sparse_dot(d):
        if d["a"] is None:
            pytest.skip("scipy is not installed (the 'sparse' extra)")
        return ops.sparse_dot(d["a"], d["b"], out=d["out"])
    d = {"a": a, "b": _f32(rng, 33, 9), "out": np.empty((17, 9), np.float32)}
    cases["sparse_dot"] = (d, _sparse_dot,
                           lambda r, d: np.testing.assert_allclose(
                               r, d["a"] @ d["b"], rtol=1e-5, atol=1e-5))
    # ---- optimizer family drop-ins (optim branch) ----
    finite = lambda r, d: np.testing.assert_equal(np.isfinite(r).all(), True)  # noqa: E731
    d = {"p": _f32(rng, 64), "g": _f32(rng, 64) * 1e-3, "a": np.abs(_f32(rng, 64))}
    cases["adagrad_update"] = (
        d, lambda d: ops.adagrad_update(d["p"], d["g"], d["a"], lr=1e-6), finite)
    d = {"p": _f32(rng, 64), "g": _f32(rng, 64) * 1e-3, "a": np.abs(_f32(rng, 64)),
         "d": np.abs(_f32(rng, 64))}
    cases["adadelta_update"] = (
        d, lambda d: ops.adadelta_update(d["p"], d["g"], d["a"], d["d"], lr=1e-6), finite)
    for name in ("adamax_update", "nadam_update", "adamw_update"):
        d = {"p": _f32(rng, 64), "g": _f32(rng, 64) * 1e-3,
             "m": np.zeros(64, np.float32), "v": np.zeros(64, np.float32)}
        fn = getattr(ops, name)
        cases[name] = (d, lambda d, fn=fn: fn(d["p"], d["g"], d["m"], d["v"], 10, lr=1e-6),
                       finite)
    return cases


CASES = _cases()


def test_every_op_is_covered():
    assert set(CASES) == set(ops.__all__)


def _refcounts(d):
    return {k: sys.getrefcount(v) for k, v in d.items()}


def _loop(name, calls):
    inputs, call, check = CASES[name]
    before = _refcounts(inputs)
    for _ in range(WARMUP):
        call(inputs)
    gc.collect()
    rss0 = rss_bytes()
    for _ in range(calls):
        call(inputs)
    result = call(inputs)
    check(result, inputs)
    del result
    gc.collect()
    grown = rss_bytes() - rss0
    assert _refcounts(inputs) == before, "reference counts of the inputs changed"
    return grown


def _under_asan():
    return "asan" in os.environ.get("LD_PRELOAD", "")


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_memory_and_refcounts_steady_c(ckernels, restore_fastdense_config, name):
    fastdense.set_backend("c")
    fastdense.set_num_threads(1)
    grown = _loop(name, CALLS)
    if not _under_asan():
        assert grown < RSS_MARGIN, "%s: RSS grew by %.1f MiB over %d calls" % (
            name, grown / 2 ** 20, CALLS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_refcounts_steady_numpy(restore_fastdense_config, name):
    fastdense.set_backend("numpy")
    grown = _loop(name, NUMPY_CALLS)
    if not _under_asan():
        assert grown < RSS_MARGIN


def _one_fit(x, y, x_test):
    from fastdense import layers, models
    net = models.Sequential()
    net.add(layers.Dense(128, activation="relu", input_shape=(x.shape[1],)))
    net.add(layers.Dense(10, activation="softmax"))
    net.compile(optimizer="rmsprop", loss="categorical_crossentropy",
                metrics=["accuracy"])
    hist = net.fit(x, y, batch_size=128, epochs=2, verbose=0)
    probs = net.predict(x_test)
    loss, acc = net.evaluate(x_test, y[:len(x_test)], verbose=0)
    assert np.isfinite(hist.history["loss"]).all() and np.isfinite(loss)
    assert probs.shape == (len(x_test), 10)


def test_repeated_fits_memory_steady(ckernels, restore_fastdense_config):
    from fastdense import utils
    fastdense.set_backend("c")
    utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1024, 64)).astype(np.float32)
    y = utils.to_categorical(rng.integers(0, 10, 1024), 10)
    x_test = x[:256].copy()
    counts = [sys.getrefcount(a) for a in (x, y, x_test)]
    for _ in range(5):                         # warm: caches, allocator pools
        _one_fit(x, y, x_test)
    gc.collect()
    rss0 = rss_bytes()
    for _ in range(15):                        # 20 fits in all
        _one_fit(x, y, x_test)
    gc.collect()
    grown = rss_bytes() - rss0
    assert [sys.getrefcount(a) for a in (x, y, x_test)] == counts
    if not _under_asan():
        assert grown < RSS_MARGIN, "RSS grew by %.1f MiB over 15 fits" % (grown / 2 ** 20)
