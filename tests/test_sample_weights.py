"""sample_weight and class_weight, as Keras 2.3.1 computes them.

Keras 2.3.1 reduces a weighted loss as SUM_OVER_BATCH_SIZE: sum(w_i l_i) / N
(keras/utils/losses_utils.py), averages the batches' losses by batch size,
and its metrics are weighted means sum(w_i v_i) / sum(w_i) (MeanMetricWrapper).
class_weight turns into per-sample weights w_i = class_weight[class of y_i],
multiplied with sample_weight when both are given.
"""
import numpy as np
import pytest

from fastdense import layers, models, optimizers, utils

from _model_helpers import assert_same_snapshot, blobs, snapshot


def _data(n=90):
    x, labels = blobs(n=n, features=6, classes=3, seed=2)
    return x, np.eye(3, dtype=np.float32)[labels], labels


def _net(loss="categorical_crossentropy", out="softmax", seed=1):
    utils.set_random_seed(seed)
    net = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(6,)),
                             layers.Dense(3, activation=out)])
    net.compile(optimizers.SGD(0.1), loss, ["accuracy"])
    return net


def _per_sample_ce(p, y):
    q = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return -(y * np.log(q)).sum(axis=1)


@pytest.mark.parametrize("batch_size", [7, 32, 90])
def test_evaluate_with_sample_weight_is_keras_weighted_mean(any_backend, batch_size):
    x, y, labels = _data()
    net = _net()
    w = np.random.default_rng(0).uniform(0, 3, len(x)).astype(np.float32)
    w[::9] = 0
    loss, acc = net.evaluate(x, y, sample_weight=w, batch_size=batch_size, verbose=0)
    p = net.predict(x)
    l = _per_sample_ce(p, y)
    assert loss == pytest.approx(float((w * l).sum() / len(x)), rel=2e-5)
    hits = (p.argmax(1) == labels).astype(np.float64)
    w64 = w.astype(np.float64)
    assert acc == pytest.approx(float((w64 * hits).sum() / w64.sum()), rel=1e-12)
    d = net.evaluate(x, y, sample_weight=w, batch_size=batch_size, verbose=0,
                     return_dict=True)
    assert d == {"loss": loss, "accuracy": acc}


def test_weighted_gradient_is_the_weighted_sum_of_per_sample_gradients(any_backend):
    x, y, _ = _data(n=12)
    net = _net()
    w = np.linspace(0.0, 2.0, len(x)).astype(np.float32)
    _, g = net._loss_and_gradients(x, y, sample_weight=w)
    want = [np.zeros_like(a, dtype=np.float64) for a in g]
    for i in range(len(x)):
        _, gi = net._loss_and_gradients(x[i:i + 1], y[i:i + 1])
        for acc, a in zip(want, gi):
            acc += w[i] * a / len(x)
    for a, b in zip(g, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss,out,targets", [
    ("categorical_crossentropy", "softmax", "onehot"),
    ("sparse_categorical_crossentropy", "softmax", "labels"),
    ("mse", "linear", "onehot")])
def test_class_weight_is_sample_weight_by_class(any_backend, loss, out, targets):
    x, y, labels = _data()
    t = labels if targets == "labels" else y
    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    a, b = _net(loss, out), _net(loss, out)
    utils.set_random_seed(4)
    ha = a.fit(x, t, epochs=2, batch_size=16, class_weight=cw, verbose=0)
    utils.set_random_seed(4)
    hb = b.fit(x, t, epochs=2, batch_size=16, verbose=0,
               sample_weight=np.array([cw[c] for c in labels], np.float32))
    assert ha.history == hb.history
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    # and it changes the training: not the unweighted fit
    c = _net(loss, out)
    utils.set_random_seed(4)
    c.fit(x, t, epochs=2, batch_size=16, verbose=0)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_class_weight_and_sample_weight_multiply(any_backend):
    x, y, labels = _data()
    cw = {0: 2.0, 1: 1.0, 2: 0.25}
    sw = np.linspace(0.5, 1.5, len(x)).astype(np.float32)
    a, b = _net(), _net()
    utils.set_random_seed(4)
    a.fit(x, y, epochs=1, batch_size=16, class_weight=cw, sample_weight=sw, verbose=0)
    utils.set_random_seed(4)
    b.fit(x, y, epochs=1, batch_size=16, verbose=0,
          sample_weight=(sw * np.array([cw[c] for c in labels], np.float32)))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_binary_class_weight(any_backend):
    x, _, labels = _data()
    yb = (labels == 1).astype(np.float32)
    utils.set_random_seed(1)
    a = models.Sequential([layers.Dense(1, activation="sigmoid", input_shape=(6,))])
    a.compile(optimizers.SGD(0.1), "binary_crossentropy", ["accuracy"])
    b = models.Sequential([layers.Dense(1, activation="sigmoid", input_shape=(6,))])
    b.set_weights(a.get_weights())
    b.compile(optimizers.SGD(0.1), "binary_crossentropy", ["accuracy"])
    utils.set_random_seed(2)
    a.fit(x, yb, epochs=1, class_weight={0: 1.0, 1: 4.0}, verbose=0)
    utils.set_random_seed(2)
    b.fit(x, yb, epochs=1, sample_weight=np.where(yb > 0.5, 4.0, 1.0), verbose=0)
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(sample_weight=np.ones(5)), "one weight per sample"),
    (dict(sample_weight=-np.ones(90)), ">= 0"),
    (dict(sample_weight=np.full(90, np.nan)), "finite"),
    (dict(class_weight=[1, 2, 3]), "dict"),
    (dict(class_weight={7: 1.0}), "class index"),
    (dict(class_weight={0: "a"}), "number"),
])
def test_bad_weights_raise_before_anything_changes(kwargs, pattern):
    x, y, _ = _data()
    net = _net()
    net.fit(x, y, epochs=1, verbose=0)
    before = snapshot(net)
    with pytest.raises(ValueError, match=pattern):
        net.fit(x, y, epochs=1, verbose=0, **kwargs)
    assert_same_snapshot(before, snapshot(net))
