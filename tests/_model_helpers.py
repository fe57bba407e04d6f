"""Shared helpers for the model-level tests (small synthetic problems)."""
import os

import numpy as np
import pytest

import fastdense
import fastdense.optimizers
from fastdense import _config, layers, models, utils


def c_required():
    return bool(os.environ.get("CI")) or os.environ.get("FASTDENSE_REQUIRE_C") == "1"


def need_c():
    """Skip when the C backend is missing, except in CI where it must be there."""
    if not _config.c_available():
        if c_required():
            pytest.fail("the C extension is required in CI: %s" % _config.c_error())
        pytest.skip("C extension not built: %s" % _config.c_error())


def blobs(n=256, features=8, classes=3, seed=0):
    """A learnable classification problem: Gaussian blobs."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (classes, features))
    labels = rng.integers(0, classes, n)
    x = (centers[labels] + rng.normal(0, 1, (n, features))).astype(np.float32)
    return x, labels


def small_model(features=8, hidden=16, classes=3, seed=0, optimizer=None,
                loss="categorical_crossentropy", metrics=("accuracy",),
                activation="relu", out_activation="softmax"):
    utils.set_random_seed(seed)
    if optimizer is None:   # a faster rate than Keras's default: small problems, few steps
        optimizer = fastdense.optimizers.RMSprop(learning_rate=0.01)
    net = models.Sequential()
    net.add(layers.Dense(hidden, activation=activation, input_shape=(features,)))
    net.add(layers.Dense(classes, activation=out_activation))
    net.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))
    return net


def snapshot(net):
    """Everything a failed call must leave unchanged."""
    opt = net.optimizer
    state = opt.get_state() if opt is not None else None
    return {
        "weights": [w.copy() for w in net.get_weights()] if net.built else None,
        "opt_iterations": state[0] if state else None,
        "opt_state": state[1] if state else None,
        "opt_config": dict(opt.get_config()) if opt is not None else None,
        "compile": repr(net._compile_config),
        "n_layers": len(net.layers),
        "built": net.built,
    }


def assert_same_snapshot(a, b):
    assert a["built"] == b["built"]
    assert a["n_layers"] == b["n_layers"]
    assert a["compile"] == b["compile"]
    assert a["opt_config"] == b["opt_config"]
    assert a["opt_iterations"] == b["opt_iterations"]
    if a["weights"] is not None:
        assert len(a["weights"]) == len(b["weights"])
        for x, y in zip(a["weights"], b["weights"]):
            np.testing.assert_array_equal(x, y)
    if a["opt_state"] is not None:
        assert len(a["opt_state"]) == len(b["opt_state"])
        for x, y in zip(a["opt_state"], b["opt_state"]):
            np.testing.assert_array_equal(x, y)
