"""Metrics against hand formulas (confusion counts computed here, element by
element), tf.keras's documented examples, and the additivity of their
state: two half-batches give the state of the whole batch, and the sum of
two ranks' state vectors gives the global result."""
import math

import numpy as np
import pytest

from fastdense import losses, metrics


def data(n=60, units=4, seed=0, sparse=False):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, units)) * 2
    p = np.exp(logits)
    p = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
    labels = rng.integers(0, units, n)
    if sparse:
        return p, labels.astype(np.int64)
    y = np.zeros((n, units), np.float32)
    y[np.arange(n), labels] = 1
    return p, y


def multilabel(n=80, units=3, seed=1):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, units)) < 0.4).astype(np.float32)
    p = np.clip(y * 0.25 + rng.random((n, units)) * 0.75 - 0.05, 0, 1).astype(np.float32)
    return p, y


def hand_counts(p, y, t, w=None):
    """tp, fp, tn, fn at threshold t over every (sample, unit), by loops."""
    tp = fp = tn = fn = 0.0
    for i in range(p.shape[0]):
        wi = 1.0 if w is None else float(w[i])
        for j in range(p.shape[1]):
            pos_pred = float(np.float32(p[i, j])) > float(np.float32(t))
            pos = y[i, j] != 0
            if pos and pos_pred:
                tp += wi
            elif pos:
                fn += wi
            elif pos_pred:
                fp += wi
            else:
                tn += wi
    return tp, fp, tn, fn


def ratio(a, b):
    return a / b if b else 0.0


# ---------------------------------------------------------------------------
# Precision / Recall
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("thresholds", [None, 0.3, [0.9, 0.1, 0.5], [0.5, 0.5]])
def test_precision_recall_match_hand_counts(thresholds, weighted):
    p, y = multilabel()
    w = np.random.default_rng(2).random(len(p)) if weighted else None
    prec = metrics.Precision(thresholds=thresholds)
    rec = metrics.Recall(thresholds=thresholds)
    prec.update_state(p, y, sample_weight=w)
    rec.update_state(p, y, sample_weight=w)
    ts = [0.5] if thresholds is None else (
        [thresholds] if np.isscalar(thresholds) else thresholds)
    want_p, want_r = [], []
    for t in ts:
        tp, fp, _, fn = hand_counts(p, y, t, w)
        want_p.append(ratio(tp, tp + fp))
        want_r.append(ratio(tp, tp + fn))
    got_p, got_r = prec.result(), rec.result()
    if thresholds is None or np.isscalar(thresholds):
        assert isinstance(got_p, float)
        got_p, got_r = [got_p], [got_r]
    assert got_p == pytest.approx(want_p, rel=1e-12)
    assert got_r == pytest.approx(want_r, rel=1e-12)
    assert any(0 < v < 1 for v in want_p) and any(0 < v < 1 for v in want_r)


def test_precision_recall_top_k_and_class_id():
    p, y = data(n=50, units=5, seed=3)
    for k in (1, 2, 3):
        prec = metrics.Precision(top_k=k)
        rec = metrics.Recall(top_k=k)
        prec.update_state(p, y)
        rec.update_state(p, y)
        order = np.argsort(-p, axis=1, kind="stable")[:, :k]
        chosen = np.zeros_like(y, bool)
        chosen[np.arange(len(p))[:, None], order] = True
        tp = (chosen & (y == 1)).sum()
        assert prec.result() == pytest.approx(tp / chosen.sum())
        assert rec.result() == pytest.approx(tp / y.sum())
    for c in range(5):
        prec = metrics.Precision(class_id=c, thresholds=0.2)
        prec.update_state(p, y)
        tp, fp, _, _ = hand_counts(p[:, c:c + 1], y[:, c:c + 1], 0.2)
        assert prec.result() == pytest.approx(ratio(tp, tp + fp))
    both = metrics.Recall(top_k=2, class_id=1)
    both.update_state(p, y)
    in_top = (np.argsort(-p, axis=1, kind="stable")[:, :2] == 1).any(axis=1)
    assert both.result() == pytest.approx(ratio((in_top & (y[:, 1] == 1)).sum(),
                                                (y[:, 1] == 1).sum()))


def test_precision_recall_keras_examples():
    """The examples of tf.keras.metrics.Precision / Recall."""
    m = metrics.Precision()
    m.update_state(np.array([1, 0, 1, 1], np.float32), np.array([0, 1, 1, 1], np.float32))
    assert m.result() == pytest.approx(2 / 3)
    m.reset_state()
    m.update_state(np.array([1, 0, 1, 1], np.float32), np.array([0, 1, 1, 1], np.float32),
                   sample_weight=[0, 0, 1, 0])
    assert m.result() == 1.0
    for k, want in ((2, 0.0), (4, 0.5)):
        m = metrics.Precision(top_k=k)
        m.update_state(np.array([[1, 1, 1, 1]], np.float32),
                       np.array([[0, 0, 1, 1]], np.float32))
        assert m.result() == want
    r = metrics.Recall()
    r.update_state(np.array([1, 0, 1, 1], np.float32), np.array([0, 1, 1, 1], np.float32))
    assert r.result() == pytest.approx(2 / 3)


def test_precision_sparse_labels_are_one_hot():
    p, labels = data(sparse=True, seed=4)
    y = np.eye(p.shape[1], dtype=np.float32)[labels]
    a, b = metrics.Precision(thresholds=[0.2, 0.6]), metrics.Precision(thresholds=[0.2, 0.6])
    a.update_state(p, labels)
    b.update_state(p, y)
    assert a.result() == b.result()


def test_precision_nan_predictions_are_negative_and_empty_is_zero():
    m = metrics.Precision()
    assert m.result() == 0.0
    m.update_state(np.array([[np.nan], [0.9]], np.float32), np.array([[1.0], [0.0]]))
    tp, fp = m.state_vector()
    assert (tp, fp) == (0.0, 1.0)
    r = metrics.Recall()
    r.update_state(np.array([[np.nan], [0.9]], np.float32), np.array([[1.0], [1.0]]))
    assert r.result() == 0.5


@pytest.mark.parametrize("kwargs", [{"thresholds": []}, {"thresholds": [0.5, "x"]},
                                    {"thresholds": float("nan")}, {"top_k": 0},
                                    {"class_id": -1}, {"class_id": 1.5}])
def test_precision_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        metrics.Precision(**kwargs)


def test_class_id_out_of_range():
    m = metrics.Recall(class_id=7)
    with pytest.raises(ValueError, match="class_id"):
        m.update_state(*data(units=4))


# ---------------------------------------------------------------------------
# AUC
# ---------------------------------------------------------------------------

def keras_thresholds(n):
    return [0 - 1e-7] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + 1e-7]


def hand_auc(p, y, thresholds, curve, method, w=None):
    """tf.keras's AUC.result from counts computed by hand, written out."""
    c = [hand_counts(p, y, t, w) for t in thresholds]
    tp = np.array([x[0] for x in c])
    fp = np.array([x[1] for x in c])
    tn = np.array([x[2] for x in c])
    fn = np.array([x[3] for x in c])
    n = len(thresholds)
    if curve == "PR" and method == "interpolation":
        total = 0.0
        for i in range(n - 1):
            dtp = tp[i] - tp[i + 1]
            pa, pb = tp[i] + fp[i], tp[i + 1] + fp[i + 1]
            slope = ratio(dtp, max(pa - pb, 0))
            intercept = tp[i + 1] - slope * pb
            pr = pa / pb if (pa > 0 and pb > 0) else 1.0
            total += ratio(slope * (dtp + intercept * math.log(pr)),
                           max(tp[i + 1] + fn[i + 1], 0))
        return total
    recall = [ratio(a, a + b) for a, b in zip(tp, fn)]
    if curve == "ROC":
        x = [ratio(a, a + b) for a, b in zip(fp, tn)]
        yv = recall
    else:
        x, yv = recall, [ratio(a, a + b) for a, b in zip(tp, fp)]
    total = 0.0
    for i in range(n - 1):
        h = {"interpolation": (yv[i] + yv[i + 1]) / 2, "minoring": min(yv[i], yv[i + 1]),
             "majoring": max(yv[i], yv[i + 1])}[method]
        total += (x[i] - x[i + 1]) * h
    return total


@pytest.mark.parametrize("method", ["interpolation", "minoring", "majoring"])
@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("num_thresholds", [3, 10, 200])
def test_auc_matches_hand_formula(curve, method, num_thresholds):
    p, y = multilabel(n=70)
    w = np.random.default_rng(5).random(len(p))
    m = metrics.AUC(num_thresholds=num_thresholds, curve=curve, summation_method=method)
    m.update_state(p, y, sample_weight=w)
    want = hand_auc(p, y, keras_thresholds(num_thresholds), curve, method, w)
    assert m.result() == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert 0.05 < want < 1.0


def test_auc_explicit_thresholds():
    p, y = multilabel(n=40)
    m = metrics.AUC(thresholds=[0.7, 0.2, 0.5])
    m.update_state(p, y)
    assert m.num_thresholds == 5
    want = hand_auc(p, y, [-1e-7, 0.2, 0.5, 0.7, 1 + 1e-7], "ROC", "interpolation")
    assert m.result() == pytest.approx(want, rel=1e-12)


def test_auc_keras_example():
    m = metrics.AUC(num_thresholds=3)
    y_pred = np.array([0, 0.5, 0.3, 0.9], np.float32)
    m.update_state(y_pred, np.array([0, 0, 1, 1], np.float32))
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state(y_pred, np.array([0, 0, 1, 1], np.float32), sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(1.0)


def test_auc_roc_approaches_the_rank_statistic():
    """With many thresholds, ROC AUC is the probability that a random positive
    scores above a random negative (ties half), computed by pairs."""
    rng = np.random.default_rng(6)
    y = (rng.random(400) < 0.3).astype(np.float32)
    p = np.clip(0.35 * y + 0.65 * rng.random(400), 0, 1).astype(np.float32)
    m = metrics.AUC(num_thresholds=2000)
    m.update_state(p, y)
    pos, neg = p[y == 1], p[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert m.result() == pytest.approx(pairs, abs=2e-3)
    assert 0.6 < pairs < 0.99


def test_auc_extremes():
    y = np.array([[0], [0], [1], [1]], np.float32)
    good, bad = metrics.AUC(), metrics.AUC()
    good.update_state(np.array([[0.1], [0.2], [0.8], [0.9]], np.float32), y)
    bad.update_state(np.array([[0.9], [0.8], [0.2], [0.1]], np.float32), y)
    assert good.result() == pytest.approx(1.0) and bad.result() == pytest.approx(0.0)
    assert metrics.AUC().result() == 0.0                # no data: no NaN
    pr = metrics.AUC(curve="PR")
    pr.update_state(np.array([[0.1], [0.2], [0.8], [0.9]], np.float32), y)
    assert pr.result() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("kwargs", [{"curve": "PRGAIN"}, {"summation_method": "simpson"},
                                    {"num_thresholds": 1}, {"multi_label": True},
                                    {"thresholds": ["a"]}])
def test_auc_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        metrics.AUC(**kwargs)


# ---------------------------------------------------------------------------
# mean metrics
# ---------------------------------------------------------------------------

def in_top_k_by_hand(p, label, k):
    row = [float(v) for v in p]
    if not math.isfinite(row[label]):
        return 0.0
    return 1.0 if sum(v > row[label] for v in row) < k else 0.0


@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_categorical_accuracy(k):
    p, y = data(n=40, units=6, seed=7)
    p[3] = np.array([0.2, 0.2, 0.2, 0.2, 0.1, 0.1], np.float32)   # ties at the boundary
    y[3] = np.eye(6)[3]
    labels = y.argmax(axis=1)
    want = np.mean([in_top_k_by_hand(p[i], labels[i], k) for i in range(len(p))])
    dense = metrics.TopKCategoricalAccuracy(k=k)
    dense.update_state(p, y)
    sparse = metrics.SparseTopKCategoricalAccuracy(k=k)
    sparse.update_state(p, labels.astype(np.int64))
    assert dense.result() == pytest.approx(want) == sparse.result()
    assert metrics.top_k_categorical_accuracy(y, p, k=k).mean() == pytest.approx(want)
    if k == 1:
        acc = metrics.CategoricalAccuracy()
        acc.update_state(p[np.arange(40) != 3], y[np.arange(40) != 3])
        t1 = metrics.TopKCategoricalAccuracy(k=1)
        t1.update_state(p[np.arange(40) != 3], y[np.arange(40) != 3])
        assert acc.result() == t1.result()


def test_top_k_default_is_5_and_nan_is_never_in():
    p = np.array([[np.nan, 0.1, 0.2]], np.float32)
    m = metrics.resolve("sparse_top_k_categorical_accuracy", losses.get(
        "sparse_categorical_crossentropy"), 3)
    m.update_state(p, np.array([0]))
    assert m.result() == 0.0
    assert metrics.TopKCategoricalAccuracy().k == 5


def test_crossentropy_metrics_match_hand_formulas():
    p, y = data(n=30, units=5, seed=8)
    p[0] = np.array([1.0, 0, 0, 0, 0], np.float32)                # clipped at 1 - eps
    eps = 1e-7
    p64 = p.astype(np.float64)
    q = np.clip(p64 / p64.sum(axis=1, keepdims=True), eps, 1 - eps)
    want = np.mean([-sum(float(y[i, j]) * math.log(q[i, j]) for j in range(5) if y[i, j])
                    for i in range(30)])
    m = metrics.CategoricalCrossentropy()
    m.update_state(p, y)
    assert m.result() == pytest.approx(want, rel=1e-12)
    labels = y.argmax(axis=1)
    m2 = metrics.CategoricalCrossentropy()
    m2.update_state(p, labels.astype(np.int64))
    assert m2.result() == pytest.approx(want, rel=1e-12)
    pc = np.clip(p64, eps, 1 - eps)
    want_s = np.mean([-math.log(pc[i, labels[i]] / pc[i].sum()) for i in range(30)])
    s = metrics.SparseCategoricalCrossentropy()
    s.update_state(p, labels.astype(np.int64))
    assert s.result() == pytest.approx(want_s, rel=1e-12)
    pb, yb = multilabel(n=20)
    pb[0, 0] = 0.0
    b = metrics.BinaryCrossentropy()
    b.update_state(pb, yb)
    pbc = np.clip(pb.astype(np.float64), eps, 1 - eps)
    want_b = np.mean([np.mean([-(float(yb[i, j]) * math.log(pbc[i, j]) +
                                 (1 - float(yb[i, j])) * math.log(1 - pbc[i, j]))
                               for j in range(3)]) for i in range(20)])
    assert b.result() == pytest.approx(want_b, rel=1e-12)


def test_function_metrics():
    p, y = data(n=20, seed=9)

    def max_prob(y_true, y_pred):
        assert y_true is y          # Keras's argument order
        return y_pred.max(axis=1)

    m = metrics.resolve(max_prob, losses.get("categorical_crossentropy"), 4)
    assert m.name == "max_prob" and isinstance(m, metrics.MeanMetric)
    m.update_state(p, y)
    assert m.result() == pytest.approx(float(p.max(axis=1).astype(np.float64).mean()))
    per_unit = metrics.MeanMetricWrapper(lambda t, q: q * 2, name="twice")
    per_unit.update_state(p, y)
    assert per_unit.result() == pytest.approx(0.5)       # rows sum to 1: mean 2/4
    scalar = metrics.MeanMetricWrapper(lambda t, q: 3.0)
    scalar.update_state(p, y, sample_weight=np.arange(20))
    assert scalar.result() == 3.0 and scalar.name == "<lambda>"
    bad = metrics.MeanMetricWrapper(lambda t, q: q[:3, 0], name="bad")
    with pytest.raises(ValueError, match="one value per sample"):
        bad.update_state(p, y)
    loss_metric = metrics.resolve(losses.get("mse"), losses.get("categorical_crossentropy"), 4)
    assert loss_metric.name == "mean_squared_error"
    loss_metric.update_state(p, y)
    builtin = metrics.MeanSquaredError()
    builtin.update_state(p, y)
    assert loss_metric.result() == pytest.approx(builtin.result(), rel=1e-6)
    # a Keras metric function of this module resolves to the built-in metric
    k = metrics.resolve(metrics.categorical_accuracy, losses.get("categorical_crossentropy"), 4)
    assert k.counts_correct_rows and k.name == "categorical_accuracy"


def test_weighted_mean():
    m = metrics.MeanAbsoluteError()
    p = np.array([[0.0], [1.0], [2.0]], np.float32)
    m.update_state(p, np.zeros((3, 1), np.float32), sample_weight=[1, 0, 3])
    assert m.result() == pytest.approx(6 / 4)
    with pytest.raises(ValueError, match="sample_weight"):
        m.update_state(p, np.zeros((3, 1), np.float32), sample_weight=[1, 2])


# ---------------------------------------------------------------------------
# additivity of the state
# ---------------------------------------------------------------------------

def all_metrics(units):
    return [metrics.Precision(), metrics.Precision(thresholds=[0.1, 0.6], top_k=2),
            metrics.Recall(class_id=1), metrics.Recall(thresholds=[0.3, 0.2]),
            metrics.AUC(), metrics.AUC(curve="PR", num_thresholds=50),
            metrics.AUC(summation_method="minoring"),
            metrics.TopKCategoricalAccuracy(k=2), metrics.CategoricalAccuracy(),
            metrics.CategoricalCrossentropy(), metrics.BinaryCrossentropy(),
            metrics.BinaryAccuracy(threshold=0.3), metrics.MeanSquaredError(),
            metrics.MeanMetricWrapper(lambda t, q: q[:, 0])]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("index", range(len(all_metrics(4))))
def test_state_is_additive(index, weighted):
    p, y = data(n=64, units=4, seed=10)
    w = np.random.default_rng(11).integers(0, 4, 64).astype(np.float64) if weighted else None
    halves = [slice(0, 27), slice(27, 64)]

    def make():
        return all_metrics(4)[index]

    whole = make()
    whole.update_state(p, y, sample_weight=w)
    split = make()
    ranks = [make(), make()]
    for part, rank in zip(halves, ranks):
        ws = None if w is None else w[part]
        split.update_state(p[part], y[part], sample_weight=ws)
        rank.update_state(p[part], y[part], sample_weight=ws)
    np.testing.assert_allclose(split.state_vector(), whole.state_vector(), rtol=1e-12)
    summed = make()
    summed.set_state_vector(ranks[0].state_vector() + ranks[1].state_vector())
    assert np.asarray(summed.result()) == pytest.approx(np.asarray(whole.result()),
                                                        rel=1e-12, abs=1e-15)
    assert np.asarray(whole.result()) != pytest.approx(np.asarray(ranks[0].result()),
                                                       rel=1e-9)
    whole.reset_state()
    assert not whole.state_vector().any()
    vec = summed.state_vector()
    assert vec.dtype == np.float64 and vec.ndim == 1
    vec[:] = 0
    assert summed.state_vector().any()              # a copy, not the state itself
    with pytest.raises(ValueError):
        summed.set_state_vector(np.zeros(vec.size + 1))


# ---------------------------------------------------------------------------
# names and resolution
# ---------------------------------------------------------------------------

CCE = losses.get("categorical_crossentropy")
SCCE = losses.get("sparse_categorical_crossentropy")
BCE = losses.get("binary_crossentropy")


@pytest.mark.parametrize("name,loss,cls", [
    ("precision", CCE, metrics.Precision), ("recall", BCE, metrics.Recall),
    ("auc", BCE, metrics.AUC), ("AUC", CCE, metrics.AUC),
    ("top_k_categorical_accuracy", CCE, metrics.MeanMetric),
    ("sparse_top_k_categorical_accuracy", SCCE, metrics.MeanMetric),
    ("categorical_crossentropy", CCE, metrics.MeanMetric),
    ("categorical_crossentropy", SCCE, metrics.MeanMetric),
    ("sparse_categorical_crossentropy", SCCE, metrics.MeanMetric),
    ("binary_crossentropy", BCE, metrics.MeanMetric)])
def test_resolve_names(name, loss, cls):
    m = metrics.resolve(name, loss, 1 if loss is BCE else 4)
    assert isinstance(m, cls) and m.name == name


@pytest.mark.parametrize("name,loss", [
    ("top_k_categorical_accuracy", SCCE), ("sparse_top_k_categorical_accuracy", CCE),
    ("sparse_categorical_crossentropy", CCE), ("precison", CCE), ("", CCE), (3, CCE),
    (metrics.Precision, CCE)])
def test_resolve_errors(name, loss):
    with pytest.raises(ValueError):
        metrics.resolve(name, loss, 4)


def test_accuracy_resolution_unchanged():
    assert metrics.resolve("accuracy", CCE, 4).kind == "categorical_accuracy"
    assert metrics.resolve("acc", SCCE, 4).kind == "sparse_categorical_accuracy"
    assert metrics.resolve("accuracy", BCE, 1).kind == "binary_accuracy"
    assert metrics.resolve("accuracy", CCE, 4).counts_correct_rows


@pytest.mark.parametrize("metric", [
    metrics.Precision(thresholds=[0.2, 0.7], top_k=3, class_id=1, name="p"),
    metrics.Recall(), metrics.AUC(num_thresholds=17, curve="PR", name="prauc"),
    metrics.AUC(thresholds=[0.3, 0.6]), metrics.TopKCategoricalAccuracy(k=3),
    metrics.SparseTopKCategoricalAccuracy(k=2), metrics.BinaryAccuracy(threshold=0.7),
    metrics.CategoricalCrossentropy(name="cce")], ids=repr)
def test_serialize_round_trip(metric):
    again = metrics.resolve(metrics.serialize(metric), CCE, 4)
    assert type(again) is type(metric) and again.get_config() == metric.get_config()
    p, y = data(units=4)
    metric.reset_state()
    metric.update_state(p, y)
    again.update_state(p, y)
    assert again.result() == metric.result()


def test_function_metrics_cannot_be_serialized():
    with pytest.raises(ValueError):
        metrics.serialize(metrics.MeanMetricWrapper(lambda t, q: q))
    with pytest.raises(ValueError):
        metrics.deserialize({"class_name": "Mystery"})


def test_confusion_metrics_are_not_batch_means():
    with pytest.raises(NotImplementedError, match="update_state"):
        metrics.Precision().batch_sum(*data())
