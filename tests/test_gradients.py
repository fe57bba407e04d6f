"""Finite-difference checks of every layer activation, loss and the fused paths.

The analytic gradients come from the model's own training step (float32, on
each backend, without the optimizer update); the reference is a float64 NumPy
re-implementation of the forward pass and the Keras 2.3.1 losses, differenced
centrally around the same weights.
"""
import numpy as np
import pytest

from fastdense import layers, models, utils

from _model_helpers import blobs

EPS = 1e-7


def _act(name, z):
    if name in (None, "linear"):
        return z
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise AssertionError(name)


def _loss(name, p, y):
    """Mean Keras 2.3.1 loss in float64 (p: outputs, y: targets)."""
    if name == "categorical_crossentropy":
        q = np.clip(p / p.sum(axis=1, keepdims=True), EPS, 1 - EPS)
        return float(-(y * np.log(q)).sum(axis=1).mean())
    if name == "sparse_categorical_crossentropy":
        onehot = np.eye(p.shape[1])[y]
        return _loss("categorical_crossentropy", p, onehot)
    if name == "mse":
        return float(((p - y) ** 2).mean(axis=1).mean())
    if name == "binary_crossentropy":
        q = np.clip(p, EPS, 1 - EPS)
        return float(-(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=1).mean())
    raise AssertionError(name)


def _forward_loss(weights, acts, loss, x, y):
    a = x.astype(np.float64)
    for i, act in enumerate(acts):
        a = _act(act, a @ weights[2 * i] + weights[2 * i + 1])
    return _loss(loss, a, y)


def _numeric_grads(weights, acts, loss, x, y, h=1e-5):
    weights = [w.astype(np.float64) for w in weights]
    grads = []
    for w in weights:
        g = np.zeros_like(w)
        it = np.nditer(w, flags=["multi_index"])
        for _ in it:
            idx = it.multi_index
            old = w[idx]
            w[idx] = old + h
            up = _forward_loss(weights, acts, loss, x, y)
            w[idx] = old - h
            down = _forward_loss(weights, acts, loss, x, y)
            w[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads.append(g)
    return grads


def _check(acts, loss, targets, x):
    utils.set_random_seed(3)
    net = models.Sequential()
    net.add(layers.Dense(5, activation=acts[0], input_shape=(x.shape[1],)))
    net.add(layers.Dense(4, activation=acts[1]))
    net.compile(optimizer="sgd", loss=loss, metrics=[])
    # non-zero biases so that the bias gradients are exercised everywhere
    w = net.get_weights()
    rng = np.random.default_rng(7)
    w[1] = rng.normal(0, 0.3, w[1].shape).astype(np.float32)
    w[3] = rng.normal(0, 0.3, w[3].shape).astype(np.float32)
    net.set_weights(w)
    before = [a.copy() for a in net.get_weights()]
    loss_value, analytic = net._loss_and_gradients(x, targets)
    # computing gradients does not touch the weights
    for a, b in zip(before, net.get_weights()):
        np.testing.assert_array_equal(a, b)
    ref_loss = _forward_loss([a.astype(np.float64) for a in before], acts, loss, x, targets)
    assert loss_value == pytest.approx(ref_loss, rel=1e-4, abs=1e-6)
    numeric = _numeric_grads(before, acts, loss, x, targets)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        scale = max(np.abs(n).max(), 1e-3)
        err = np.abs(a - n).max() / scale
        assert err < 2e-3, "gradient %d (%s, %s): relative error %.2e" % (i, acts, loss, err)


def _data(loss, n=12, features=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, features)).astype(np.float32)
    labels = rng.integers(0, 4, n)
    if loss == "sparse_categorical_crossentropy":
        return x, labels
    if loss == "categorical_crossentropy":
        return x, np.eye(4, dtype=np.float32)[labels]
    if loss == "binary_crossentropy":
        return x, rng.integers(0, 2, (n, 4)).astype(np.float32)
    return x, rng.normal(0, 1, (n, 4)).astype(np.float32)


@pytest.mark.parametrize("hidden", ["relu", "sigmoid", "tanh", "linear", "softmax"])
@pytest.mark.parametrize("loss,out", [
    ("categorical_crossentropy", "softmax"),          # fused softmax + CE (kernel)
    ("sparse_categorical_crossentropy", "softmax"),   # fused, int labels
    ("mse", "linear"),
    ("mse", "softmax"),                                # softmax backward, general path
    ("mse", "sigmoid"),
    ("mse", "tanh"),
    ("mse", "relu"),
    ("categorical_crossentropy", "sigmoid"),          # normalised + clipped CE path
    ("binary_crossentropy", "sigmoid"),                # fused from logits
    ("binary_crossentropy", "softmax"),               # clipped BCE path
])
def test_gradients_match_finite_differences(any_backend, hidden, loss, out):
    x, y = _data(loss)
    _check((hidden, out), loss, y, x)


def test_gradient_of_a_partial_batch_view(any_backend):
    """The last, partial batch uses leading-row views of the workspaces."""
    x, labels = blobs(n=10, features=6, classes=4, seed=1)
    y = np.eye(4, dtype=np.float32)[labels]
    _check(("relu", "softmax"), "categorical_crossentropy", y, x)


# ---------------------------------------------------------------------------
# activations and losses of issue 11 (fastdense.activations / fastdense.losses):
# the model's gradients through the new objects against central differences
# of Keras 2.3 formulas in float64.  The activations here are those whose
# backward pass works from the output (needs_z False): the ones that need z
# (gelu, silu, softsign, Python functions) wait for the engine to keep z;
# tests/test_activations.py checks their derivatives directly.
# ---------------------------------------------------------------------------

SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _act_new(act, z):
    """Keras formulas of the activation objects, float64."""
    from fastdense import activations
    a = activations.get(act)
    if a.name in ("linear", "relu", "sigmoid", "tanh", "softmax"):
        return _act(a.name, z)
    if a.name == "elu":
        return np.where(z > 0, z, a.alpha * (np.exp(np.minimum(z, 0)) - 1))
    if a.name == "selu":
        return SELU_S * np.where(z > 0, z, SELU_A * (np.exp(np.minimum(z, 0)) - 1))
    if a.name == "leaky_relu":
        return np.where(z > 0, z, a.alpha * z)
    if a.name == "softplus":
        return np.log(np.exp(z) + 1)
    if a.name == "exponential":
        return np.exp(z)
    if a.name == "hard_sigmoid":
        return np.clip(a.slope * z + 0.5, 0, 1)
    raise AssertionError(act)


def _loss_new(loss, p, y):
    """Mean Keras loss in float64 for the losses objects (p: model outputs;
    logits when the loss was made with from_logits=True)."""
    name = loss.name
    ls = getattr(loss, "label_smoothing", 0.0)
    logits = getattr(loss, "expects_logits", False)
    e = p - y if name not in ("sparse_categorical_crossentropy",) else None
    if name == "mean_squared_error":
        return float((e * e).mean(axis=1).mean())
    if name == "mean_absolute_error":
        return float(np.abs(e).mean(axis=1).mean())
    if name == "huber":
        a = np.abs(e)
        q = np.minimum(a, loss.delta)
        return float((0.5 * q ** 2 + loss.delta * (a - q)).mean(axis=1).mean())
    if name == "log_cosh":
        return float((e + np.log(np.exp(-2 * e) + 1) - np.log(2)).mean(axis=1).mean())
    if name == "kl_divergence":
        t, q = np.clip(y, EPS, 1), np.clip(p, EPS, 1)
        return float((t * np.log(t / q)).sum(axis=1).mean())
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        n = p.shape[1]
        t = np.eye(n)[y] if loss.sparse else y
        t = t * (1 - ls) + ls / n
        if logits:
            z = p - p.max(axis=1, keepdims=True)
            logq = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        else:
            logq = np.log(np.clip(p / p.sum(axis=1, keepdims=True), EPS, 1 - EPS))
        return float(-(t * logq).sum(axis=1).mean())
    if name == "binary_crossentropy":
        t = y * (1 - ls) + 0.5 * ls
        q = 1 / (1 + np.exp(-p)) if logits else np.clip(p, EPS, 1 - EPS)
        return float(-(t * np.log(q) + (1 - t) * np.log(1 - q)).mean(axis=1).mean())
    raise AssertionError(name)


def _forward_loss_new(weights, acts, loss, x, y):
    a = x.astype(np.float64)
    for i, act in enumerate(acts):
        a = _act_new(act, a @ weights[2 * i] + weights[2 * i + 1])
    return _loss_new(loss, a, y)


def _check_new(acts, loss, y, x, h=1e-5):
    utils.set_random_seed(3)
    net = models.Sequential()
    net.add(layers.Dense(5, activation=acts[0], input_shape=(x.shape[1],)))
    net.add(layers.Dense(4, activation=acts[1]))
    net.compile(optimizer="sgd", loss=loss, metrics=[])
    w = net.get_weights()
    rng = np.random.default_rng(7)
    w[1] = rng.normal(0, 0.3, w[1].shape).astype(np.float32)
    w[3] = rng.normal(0, 0.3, w[3].shape).astype(np.float32)
    net.set_weights(w)
    before = [a.astype(np.float64) for a in net.get_weights()]
    loss_value, analytic = net._loss_and_gradients(x, y)
    assert loss_value == pytest.approx(_forward_loss_new(before, acts, loss, x, y),
                                       rel=1e-4, abs=1e-6)
    for i, wi in enumerate(before):
        num = np.zeros_like(wi)
        for idx in np.ndindex(wi.shape):
            old = wi[idx]
            wi[idx] = old + h
            up = _forward_loss_new(before, acts, loss, x, y)
            wi[idx] = old - h
            down = _forward_loss_new(before, acts, loss, x, y)
            wi[idx] = old
            num[idx] = (up - down) / (2 * h)
        scale = max(np.abs(num).max(), 1e-3)
        err = np.abs(analytic[i] - num).max() / scale
        assert err < 2e-3, "gradient %d (%s, %s): relative error %.2e" % (i, acts, loss, err)


def _new_hidden():
    from fastdense import activations
    return ["elu", "selu", "leaky_relu", "softplus", "exponential", "hard_sigmoid",
            activations.ELU(0.5), activations.LeakyReLU(0.3)]


@pytest.mark.parametrize("hidden", range(8))
def test_new_hidden_activations_match_finite_differences(any_backend, hidden):
    from fastdense import losses
    x, y = _data("mse")
    x = x * np.float32(0.5)               # exponential: keep the outputs moderate
    _check_new((_new_hidden()[hidden], "linear"), losses.MeanSquaredError(), y, x)


def _new_losses():
    from fastdense import losses
    return [
        (losses.MeanAbsoluteError(), "linear", "mse"),
        (losses.Huber(), "linear", "mse"),
        (losses.Huber(delta=0.4), "tanh", "mse"),
        (losses.LogCosh(), "linear", "mse"),
        (losses.KLDivergence(), "softmax", "kld"),
        (losses.CategoricalCrossentropy(from_logits=True), "linear",
         "categorical_crossentropy"),                                   # fused, linear
        (losses.CategoricalCrossentropy(label_smoothing=0.1), "softmax",
         "categorical_crossentropy"),                                   # fused, smoothed
        (losses.CategoricalCrossentropy(label_smoothing=0.2), "sigmoid",
         "categorical_crossentropy"),                                   # clipped path
        (losses.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
         "linear", "sparse_categorical_crossentropy"),
        (losses.BinaryCrossentropy(from_logits=True), "linear", "binary_crossentropy"),
        (losses.BinaryCrossentropy(label_smoothing=0.1), "sigmoid", "binary_crossentropy"),
        (losses.BinaryCrossentropy(label_smoothing=0.1), "softmax", "binary_crossentropy"),
    ]


@pytest.mark.parametrize("case", range(12))
def test_new_losses_match_finite_differences(any_backend, case):
    loss, out, data = _new_losses()[case]
    if data == "kld":
        x, labels = _data("categorical_crossentropy")
        y = (labels * 0.7 + 0.075).astype(np.float32)
    else:
        x, y = _data(data)
    _check_new(("relu", out), loss, y, x)
