"""Concurrency at the model level: several Python threads fit and predict with
separate models while other threads call ``fastdense.ops``, and every result
is the single-thread answer, bit for bit.

Why bit for bit holds: the kernels keep no global state and split their work
by the thread count only (never by timing); a model keeps all its state in
its own arrays; ``fit`` reads the backend and the thread count once, when it
starts.  The serial answers are computed first, one model after the other,
with ``utils.set_random_seed`` before building each model; the concurrent
models are built from the same initial weights (``get_weights`` /
``set_weights``).  The fits use ``shuffle=False``: shuffling draws from the
one library-wide generator, so concurrent fits would interleave its draws
(as with Keras's global seed) -- that is by design, not a kernel property.

Kernel-level concurrency (the registry, the GIL release) is in
tests/test_threads.py; this file covers models + ops together.
"""
import threading

import numpy as np
import pytest

import fastdense
from fastdense import layers, models, ops, optimizers, utils

THREADS = 2          # fastdense threads per call, the same serially and concurrently
FIT_EPOCHS = 3


def _specs():
    """Different models: optimizers, losses, activations, sizes."""
    return [
        dict(seed=11, hidden=128, act="relu", out_act="softmax", opt="rmsprop",
             loss="categorical_crossentropy", classes=10, features=64, n=512),
        dict(seed=12, hidden=96, act="relu", out_act="softmax", opt="adam",
             loss="sparse_categorical_crossentropy", classes=4, features=48, n=384),
        dict(seed=13, hidden=64, act="tanh", out_act="linear", opt="sgd-momentum",
             loss="mse", classes=3, features=40, n=320),
        dict(seed=14, hidden=160, act="sigmoid", out_act="softmax", opt="rmsprop",
             loss="categorical_crossentropy", classes=10, features=70, n=450),
    ]


def _data(spec):
    rng = np.random.default_rng(spec["seed"] + 1000)
    x = rng.standard_normal((spec["n"], spec["features"])).astype(np.float32)
    labels = rng.integers(0, spec["classes"], spec["n"])
    if spec["loss"] == "sparse_categorical_crossentropy":
        y = labels
    elif spec["loss"] == "mse":
        y = rng.standard_normal((spec["n"], spec["classes"])).astype(np.float32)
    else:
        y = utils.to_categorical(labels, spec["classes"])
    x_test = rng.standard_normal((300, spec["features"])).astype(np.float32)
    return x, y, x_test


def _optimizer(name):
    if name == "sgd-momentum":
        return optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    return name


def _build(spec, weights=None):
    if weights is None:
        utils.set_random_seed(spec["seed"])
    net = models.Sequential()
    net.add(layers.Dense(spec["hidden"], activation=spec["act"],
                         input_shape=(spec["features"],)))
    net.add(layers.Dense(spec["classes"], activation=spec["out_act"]))
    net.compile(optimizer=_optimizer(spec["opt"]), loss=spec["loss"],
                metrics=["accuracy"] if spec["loss"] != "mse" else [])
    if weights is not None:
        net.set_weights(weights)
    return net


def _train_and_use(net, data, epochs=FIT_EPOCHS):
    x, y, x_test = data
    hist = net.fit(x, y, batch_size=64, epochs=epochs, verbose=0, shuffle=False)
    return {"history": {k: list(v) for k, v in hist.history.items()},
            "weights": net.get_weights(),
            "predict": net.predict(x_test),
            "evaluate": net.evaluate(x, y, verbose=0)}


def _op_jobs():
    """(name, call) for ops on inputs big enough to use OpenMP inside the call."""
    rng = np.random.default_rng(5)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    a, b = f(150, 200), f(200, 90)
    x, y, bias = f(200, 300), f(200, 300), f(300)
    lab = rng.integers(0, 10, 500)
    logits = f(500, 10)
    p0, g, acc0 = f(40000), f(40000), np.abs(f(40000))

    def rms():
        p, a_ = p0.copy(), acc0.copy()
        ops.rmsprop_update(p, g, a_, lr=0.01)
        return p, a_

    return [
        ("dot", lambda: ops.dot(a, b)),
        ("dot_T", lambda: ops.dot(b.T, a.T)),
        ("add", lambda: ops.add(x, bias)),
        ("relu", lambda: ops.relu(x[:, ::-1])),
        ("softmax", lambda: ops.softmax(x, axis=0)),
        ("relu_backward", lambda: ops.relu_backward(x, y)),
        ("bias_grad", lambda: ops.bias_grad(x)),
        ("xent", lambda: ops.softmax_cross_entropy(logits, lab)),
        ("rmsprop", rms),
    ]


def _as_list(r):
    if isinstance(r, tuple):
        return [np.asarray(v) for v in r]
    return [np.asarray(r)]


def _bit_equal(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and \
        np.array_equal(a.view(np.uint8), b.view(np.uint8))


def _assert_same_run(got, want, what):
    assert got["history"] == want["history"], what + ": history differs"
    for i, (g, w) in enumerate(zip(got["weights"], want["weights"])):
        assert _bit_equal(g, w), "%s: weight %d differs" % (what, i)
    assert _bit_equal(got["predict"], want["predict"]), what + ": predict differs"
    assert got["evaluate"] == want["evaluate"], what + ": evaluate differs"


def _run_threads(targets):
    """Start every target at once (barrier); re-raise the first error."""
    barrier = threading.Barrier(len(targets))
    errors = []

    def wrap(fn):
        def run():
            try:
                barrier.wait(timeout=60)
                fn()
            except BaseException as exc:  # noqa: B902 - reported below
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    if errors:
        raise errors[0]


@pytest.fixture
def c_two_threads(ckernels, restore_fastdense_config):
    fastdense.set_backend("c")
    fastdense.set_num_threads(THREADS)


def test_concurrent_fits_and_ops_match_serial_bit_for_bit(c_two_threads):
    specs = _specs()
    datas = [_data(s) for s in specs]
    # serial answers, one model after the other
    initial, serial = [], []
    for spec, data in zip(specs, datas):
        net = _build(spec)
        initial.append(net.get_weights())
        serial.append(_train_and_use(net, data))
    jobs = _op_jobs()
    op_serial = {name: _as_list(call()) for name, call in jobs}
    # the serial answer is itself repeatable
    again = _build(specs[0], initial[0])
    _assert_same_run(_train_and_use(again, datas[0]), serial[0], "serial repeat")

    # concurrently: two copies of every model + threads calling ops
    results = {}
    op_mismatch = []
    op_calls = [0]

    def fit_job(i, copy):
        def run():
            net = _build(specs[i], initial[i])
            results[(i, copy)] = _train_and_use(net, datas[i])
        return run

    def ops_job(offset):
        def run():
            for rep in range(6):
                for name, call in jobs[offset:] + jobs[:offset]:
                    got = _as_list(call())
                    op_calls[0] += 1
                    if not all(_bit_equal(g, w) for g, w in zip(got, op_serial[name])):
                        op_mismatch.append(name)
        return run

    targets = [fit_job(i, c) for i in range(len(specs)) for c in range(2)]
    targets += [ops_job(k) for k in range(3)]
    _run_threads(targets)

    assert op_calls[0] == 3 * 6 * len(jobs)
    assert not op_mismatch, "ops results differ from the serial ones: %s" % sorted(
        set(op_mismatch))
    for i in range(len(specs)):
        for c in range(2):
            _assert_same_run(results[(i, c)], serial[i], "model %d copy %d" % (i, c))


def test_concurrent_predict_matches_serial(c_two_threads):
    spec = _specs()[0]
    x, y, x_test = _data(spec)
    net = _build(spec)
    net.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
    want = net.predict(x_test)
    got = [None] * 6

    def job(k):
        def run():
            for _ in range(5):
                got[k] = net.predict(x_test, batch_size=[32, 300, 1000][k % 3])
        return run

    _run_threads([job(k) for k in range(6)])      # one shared model, read-only
    for g in got:
        assert _bit_equal(g, want)


def test_set_num_threads_while_fitting(c_two_threads):
    specs = _specs()
    spec = specs[0]
    data = _data(spec)
    net0 = _build(spec)
    initial = net0.get_weights()
    want = _train_and_use(net0, data, epochs=6)
    jobs = _op_jobs()
    op_want = {name: _as_list(call()) for name, call in jobs}

    stop = threading.Event()
    toggles = [0]
    got = {}
    op_results = []

    def toggler():
        while not stop.is_set() and toggles[0] < 20000:
            fastdense.set_num_threads(1 + toggles[0] % 3)
            toggles[0] += 1

    def fitter():
        try:
            for rep in range(2):
                net = _build(spec, initial)
                got[rep] = _train_and_use(net, data, epochs=6)
        finally:
            stop.set()

    def op_caller():
        while not stop.is_set():
            for name, call in jobs:
                op_results.append((name, _as_list(call())))

    _run_threads([toggler, fitter, op_caller])
    fastdense.set_num_threads(THREADS)

    assert toggles[0] > 0 and op_results
    for rep in range(2):
        run = got[rep]
        assert run["history"].keys() == want["history"].keys()
        np.testing.assert_allclose(run["history"]["loss"], want["history"]["loss"],
                                   rtol=1e-4)
        for g, w in zip(run["weights"], want["weights"]):
            assert np.isfinite(g).all()
            np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(run["predict"], want["predict"], rtol=1e-3, atol=1e-4)
    for name, res in op_results:
        for g, w in zip(res, op_want[name]):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5, err_msg=name)
