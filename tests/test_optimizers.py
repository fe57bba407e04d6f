"""Optimizer updates against hand-written Keras 2.3.1 formulas, several steps."""
import math

import numpy as np
import pytest

from fastdense import _config, optimizers


def _grads(steps, size, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 1, size).astype(np.float32) for _ in range(steps)]


def _run(opt, p0, grads):
    p = p0.copy().reshape(1, -1)
    for g in grads:
        opt.apply(p, g.reshape(1, -1), _config.kernels(), _config.get_num_threads())
    return p.ravel()


def _keras_rmsprop(p, grads, lr=0.001, rho=0.9, eps=1e-7, decay=0.0):
    p = p.astype(np.float64)
    a = np.zeros_like(p)
    for it, g in enumerate(grads):
        lr_t = lr / (1 + decay * it)
        a = rho * a + (1 - rho) * g.astype(np.float64) ** 2
        p = p - lr_t * g / (np.sqrt(a) + eps)
    return p


def _keras_sgd(p, grads, lr=0.01, momentum=0.0, nesterov=False):
    p = p.astype(np.float64)
    v = np.zeros_like(p)
    for g in grads:
        v = momentum * v - lr * g
        p = p + (momentum * v - lr * g if nesterov else v)
    return p


def _keras_adam(p, grads, lr=0.001, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False):
    p = p.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vhat = np.zeros_like(p)
    for i, g in enumerate(grads):
        t = i + 1
        lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g.astype(np.float64) ** 2
        if amsgrad:
            vhat = np.maximum(vhat, v)
            p = p - lr_t * m / (np.sqrt(vhat) + eps)
        else:
            p = p - lr_t * m / (np.sqrt(v) + eps)
    return p


CASES = [
    (lambda: optimizers.RMSprop(), lambda p, g: _keras_rmsprop(p, g)),
    (lambda: optimizers.RMSprop(learning_rate=0.01, rho=0.8, epsilon=1e-4),
     lambda p, g: _keras_rmsprop(p, g, 0.01, 0.8, 1e-4)),
    (lambda: optimizers.RMSprop(lr=0.005, decay=0.1),
     lambda p, g: _keras_rmsprop(p, g, 0.005, decay=0.1)),
    (lambda: optimizers.SGD(), lambda p, g: _keras_sgd(p, g)),
    (lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9),
     lambda p, g: _keras_sgd(p, g, 0.05, 0.9)),
    (lambda: optimizers.SGD(lr=0.05, momentum=0.9, nesterov=True),
     lambda p, g: _keras_sgd(p, g, 0.05, 0.9, True)),
    (lambda: optimizers.Adam(), lambda p, g: _keras_adam(p, g)),
    (lambda: optimizers.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99),
     lambda p, g: _keras_adam(p, g, 0.01, 0.8, 0.99)),
    (lambda: optimizers.Adam(amsgrad=True), lambda p, g: _keras_adam(p, g, amsgrad=True)),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_update_matches_keras_formula(any_backend, case):
    make, formula = CASES[case]
    p0 = np.random.default_rng(1).normal(0, 1, 1001).astype(np.float32)
    grads = _grads(7, p0.size)
    opt = make()
    got = _run(opt, p0, grads)
    want = formula(p0, grads)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    assert opt.iterations == 7
    # the parameters moved (so the check above is not vacuous)
    assert np.abs(got - p0).max() > 1e-4


def test_state_starts_at_zero_and_is_flat():
    opt = optimizers.RMSprop()
    opt.build(10)
    it, state = opt.get_state()
    assert it == 0 and len(state) == 1
    assert state[0].shape == (10,) and not state[0].any()
    assert len(optimizers.Adam().get_state()[1]) == 0   # not built yet
    a = optimizers.Adam()
    a.build(5)
    assert len(a.get_state()[1]) == 2


def test_defaults_are_keras_2_3_1():
    assert optimizers.RMSprop().get_config() == {
        "learning_rate": 0.001, "rho": 0.9, "decay": 0.0, "epsilon": 1e-7}
    assert optimizers.SGD().get_config() == {
        "learning_rate": 0.01, "momentum": 0.0, "decay": 0.0, "nesterov": False}
    assert optimizers.Adam().get_config() == {
        "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "decay": 0.0,
        "epsilon": 1e-7, "amsgrad": False}


def test_lr_alias():
    opt = optimizers.RMSprop(lr=0.02)
    assert opt.learning_rate == 0.02 and opt.lr == 0.02
    opt.lr = 0.5
    assert opt.learning_rate == 0.5


@pytest.mark.parametrize("name,cls", [("rmsprop", optimizers.RMSprop),
                                      ("RMSprop", optimizers.RMSprop),
                                      ("sgd", optimizers.SGD), ("adam", optimizers.Adam)])
def test_get_by_name(name, cls):
    assert isinstance(optimizers.get(name), cls)


@pytest.mark.parametrize("bad", ["rmsporp", "", 3, None])
def test_unknown_optimizer_is_value_error(bad):
    with pytest.raises(ValueError, match="optimizer"):
        optimizers.get(bad)


@pytest.mark.parametrize("kwargs", [{"learning_rate": -1}, {"learning_rate": float("nan")},
                                    {"rho": 2.0}, {"learning_rate": "fast"}])
def test_bad_hyperparameters(kwargs):
    with pytest.raises(ValueError):
        optimizers.RMSprop(**kwargs)


def test_serialize_round_trip():
    opt = optimizers.Adam(learning_rate=0.003, amsgrad=True)
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is optimizers.Adam and again.get_config() == opt.get_config()
