"""Dense layer: construction, initialisation (Keras 2.3.1), forward on both backends."""
import numpy as np
import pytest

from fastdense import activations, layers, models, utils


def test_glorot_uniform_and_zero_bias():
    utils.set_random_seed(0)
    net = models.Sequential([layers.Dense(300, input_shape=(200,))])
    w, b = net.get_weights()
    limit = np.sqrt(6 / (200 + 300))
    assert w.dtype == np.float32 and w.shape == (200, 300)
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit            # really U(-l, l), not narrower
    assert abs(w.mean()) < 0.01 * limit
    # the variance of U(-l, l) is l^2 / 3
    assert w.var() == pytest.approx(limit ** 2 / 3, rel=0.03)
    assert b.shape == (300,) and not b.any()


def test_other_initializers_and_no_bias():
    net = models.Sequential([layers.Dense(4, input_shape=(3,), use_bias=False,
                                          kernel_initializer="ones")])
    weights = net.get_weights()
    assert len(weights) == 1 and (weights[0] == 1).all()
    net = models.Sequential([layers.Dense(4, input_shape=(3,), bias_initializer="ones")])
    assert (net.get_weights()[1] == 1).all()


@pytest.mark.parametrize("units", [0, -1, 2.5, "10", None, True])
def test_bad_units(units):
    with pytest.raises(ValueError, match="units"):
        layers.Dense(units)


def test_unknown_activation_and_initializer():
    with pytest.raises(ValueError, match="activation"):
        layers.Dense(3, activation="relu6")
    with pytest.raises(ValueError, match="initializer"):
        layers.Dense(3, kernel_initializer="orthogonalish")


def test_bad_input_shape():
    with pytest.raises(ValueError, match="input_shape"):
        layers.Dense(3, input_shape=(28, 28))


def test_names_are_unique_and_keras_like():
    a, b = layers.Dense(2), layers.Dense(2)
    assert a.name.startswith("dense_") and a.name != b.name


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "softmax", "linear", None])
def test_forward_matches_numpy(any_backend, act):
    utils.set_random_seed(1)
    net = models.Sequential([layers.Dense(7, activation=act, input_shape=(5,))])
    w, b = net.get_weights()
    b[:] = np.linspace(-1, 1, 7)
    net.set_weights([w, b])
    x = np.random.default_rng(0).normal(0, 2, (33, 5)).astype(np.float32)
    z = x.astype(np.float64) @ w + b
    want = {
        "relu": lambda z: np.maximum(z, 0), "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "tanh": np.tanh, "linear": lambda z: z, None: lambda z: z,
        "softmax": lambda z: np.exp(z - z.max(1, keepdims=True))
        / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True),
    }[act](z)
    got = net.predict(x)
    assert got.dtype == np.float32 and got.shape == (33, 7)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_activation_objects():
    z = np.array([[-1.0, 0.0, 2.0]], np.float32)
    np.testing.assert_array_equal(activations.get("relu")(z), [[0, 0, 2]])
    assert activations.get(None).name == "linear"
    np.testing.assert_allclose(activations.get("softmax")(z).sum(), 1.0, rtol=1e-6)
    with pytest.raises(ValueError):
        activations.get("nope")


def test_sigmoid_does_not_overflow():
    z = np.array([[-1000.0, 1000.0]], np.float32)
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(activations.get("sigmoid")(z), [[0.0, 1.0]])


def test_layer_set_weights_checks_shapes():
    net = models.Sequential([layers.Dense(4, input_shape=(3,))])
    layer = net.layers[0]
    with pytest.raises(ValueError, match="shape"):
        layer.set_weights([np.zeros((4, 3)), np.zeros(4)])
    layer.set_weights([np.ones((3, 4)), np.full(4, 2.0)])
    w, b = net.get_weights()
    assert (w == 1).all() and (b == 2).all()
