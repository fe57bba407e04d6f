"""Sparse inputs in fit / evaluate / predict (issue 9).

* every scipy.sparse form (CSR, CSC, COO, the *_array classes) trains,
  evaluates and predicts without the dense array ever being made, and gives
  the dense path's answers to float32 rounding;
* the sparse-input mode ('auto' / 'always' / 'never', FASTDENSE_SPARSE_INPUTS)
  decides whether the first layer runs the sparse kernels, and answers agree
  in every mode; seeded fits are bit-reproducible per backend, threads, mode;
* bad sparse input gets the same clear errors as dense input, and changes
  nothing.
"""
import numpy as np
import pytest

import fastdense
from fastdense import _sparse, layers, models, optimizers, utils
from fastdense.engine import data as _data

from _model_helpers import assert_same_snapshot, snapshot


def _problem(n=300, features=40, classes=3, density=0.15, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, features)).astype(np.float32)
    x[rng.random((n, features)) > density] = 0
    w = rng.normal(0, 1, (features, classes))
    labels = (x @ w + rng.normal(0, 0.1, (n, classes))).argmax(1)
    x[:, 7] = 0                       # an empty column
    x[5] = 0                          # an empty row
    return x, np.eye(classes, dtype=np.float32)[labels], labels


def _net(features=40, classes=3, seed=3, first=None, hidden=24):
    utils.set_random_seed(seed)
    head = first if first is not None else []
    net = models.Sequential(head + [
        layers.Dense(hidden, activation="relu", input_shape=(features,)),
        layers.Dense(classes, activation="softmax")])
    net.compile(optimizers.RMSprop(0.01), "categorical_crossentropy", ["accuracy"])
    return net


def _fit(x, y, mode, seed=3, epochs=2, batch_size=32, **kw):
    net = _net(seed=seed)
    with fastdense.use_sparse_inputs(mode):
        utils.set_random_seed(seed + 1)
        hist = net.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, **kw)
    return net, hist


FORMS = ["csr_matrix", "csc_matrix", "coo_matrix", "csr_array", "csc_array", "coo_array"]


@pytest.mark.parametrize("form", FORMS)
def test_every_scipy_form_gives_the_dense_answers(scipy_sparse, any_backend, form):
    x, y, _ = _problem()
    if not hasattr(scipy_sparse, form):
        pytest.skip("this scipy has no %s" % form)
    xs = getattr(scipy_sparse, form)(x)
    dense, hd = _fit(x, y, "never")
    sparse, hs = _fit(xs, y, "always")
    np.testing.assert_allclose(hs.history["loss"], hd.history["loss"], rtol=2e-5)
    for a, b in zip(sparse.get_weights(), dense.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    with fastdense.use_sparse_inputs("always"):
        p = sparse.predict(xs)
        ev = sparse.evaluate(xs, y, verbose=0)
    np.testing.assert_allclose(p, sparse.predict(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ev, sparse.evaluate(x, y, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("mode", ["auto", "always", "never"])
def test_modes_agree_and_each_is_bit_reproducible(scipy_sparse, any_backend, mode):
    x, y, _ = _problem()
    a, _ = _fit(scipy_sparse.csr_matrix(x), y, mode)
    b, _ = _fit(scipy_sparse.csr_matrix(x), y, mode)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    ref, _ = _fit(x, y, "never")
    for wa, wr in zip(a.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(wa, wr, rtol=1e-4, atol=1e-5)


def test_dense_input_runs_the_sparse_kernels_when_the_mode_says_so(monkeypatch, ckernels):
    """'always' and a sparse-enough 'auto' take the SparseSource; 'never' and a
    dense-enough 'auto' keep the DenseSource: checked on the source the trainer
    built, not on timings."""
    seen = []
    init = _data.SparseSource.__init__

    def spy(self, *args, **kwargs):
        seen.append(self)
        init(self, *args, **kwargs)
    monkeypatch.setattr(_data.SparseSource, "__init__", spy)
    x, y, _ = _problem(density=0.05)
    with fastdense.use_backend("c"):
        for mode, dense_x, want in [("never", x, 0), ("always", x, 1), ("auto", x, 1),
                                    ("auto", np.where(x == 0, 1.0, x).astype(np.float32),
                                     0)]:
            seen.clear()
            _fit(dense_x, y, mode, epochs=1)
            assert len(seen) == want, (mode, len(seen))


def test_auto_is_dense_on_the_numpy_backend(monkeypatch):
    x, y, _ = _problem(density=0.05)
    called = []
    monkeypatch.setattr(_data, "SparseSource", lambda *a, **k: called.append(1))
    with fastdense.use_backend("numpy"):
        _fit(x, y, "auto", epochs=1)
    assert not called


def test_sparse_validation_data_and_split(scipy_sparse, any_backend):
    x, y, _ = _problem(n=400)
    xs = scipy_sparse.csr_matrix(x)
    _, h1 = _fit(xs[:300], y[:300], "always", validation_data=(xs[300:], y[300:]))
    _, h2 = _fit(x[:300], y[:300], "never", validation_data=(x[300:], y[300:]))
    np.testing.assert_allclose(h1.history["val_loss"], h2.history["val_loss"], rtol=2e-5)
    _, h3 = _fit(xs, y, "always", validation_split=0.25)
    np.testing.assert_allclose(h3.history["val_loss"], h2.history["val_loss"], rtol=2e-5)


def test_first_layer_without_sparse_kernels_gets_dense_batches(scipy_sparse, any_backend):
    """Dropout first: the compressed rows are expanded batch by batch."""
    x, y, _ = _problem()
    a = _net(first=[layers.Dropout(0.0, seed=1, input_shape=(40,))])
    b = _net(first=[layers.Dropout(0.0, seed=1, input_shape=(40,))])
    utils.set_random_seed(9)
    a.fit(scipy_sparse.csr_matrix(x), y, epochs=1, verbose=0)
    utils.set_random_seed(9)
    b.fit(x, y, epochs=1, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_duplicates_and_unsorted_indices_are_summed(scipy_sparse, any_backend):
    x, y, _ = _problem(n=64, features=12)
    coo = scipy_sparse.coo_matrix(x)
    # split every entry into two halves stored as duplicates, in reverse order
    data = np.concatenate([coo.data * 0.5, coo.data * 0.5])[::-1]
    row = np.concatenate([coo.row, coo.row])[::-1]
    col = np.concatenate([coo.col, coo.col])[::-1]
    dup = scipy_sparse.csr_matrix((data, (row, col)), shape=x.shape)
    dup.has_canonical_format = False
    net = _net(features=12)
    with fastdense.use_sparse_inputs("always"):
        np.testing.assert_allclose(net.predict(dup), net.predict(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["columns", "nan", "inf", "complex", "index dtype",
                                  "1 column short", "object"])
def test_bad_sparse_input_is_a_clear_error_and_changes_nothing(scipy_sparse, case):
    x, y, _ = _problem()
    net = _net()
    net.fit(x, y, epochs=1, verbose=0)
    before = snapshot(net)
    xs = scipy_sparse.csr_matrix(x)
    pattern = {"columns": r"\(N, 40\).*41", "nan": "NaN|finite", "inf": "NaN|finite|inf",
               "complex": "complex|real|dtype", "index dtype": "ind", "1 column short":
               r"\(N, 40\)", "object": "dtype|numeric"}[case]
    if case == "columns":
        xs = scipy_sparse.csr_matrix(np.hstack([x, np.zeros((len(x), 1), np.float32)]))
    elif case == "1 column short":
        xs = scipy_sparse.csr_matrix(x[:, :39])
    elif case == "nan":
        xs.data[3] = np.nan
    elif case == "inf":
        xs.data[4] = np.inf
    elif case == "complex":
        xs = xs.astype(np.complex64)
    elif case == "index dtype":
        xs.indices = xs.indices.astype(np.float64)
    elif case == "object":
        xs = scipy_sparse.csr_matrix((xs.data.astype(object), xs.indices, xs.indptr),
                                     shape=xs.shape)
    with pytest.raises(ValueError, match=pattern):
        net.fit(xs, y, epochs=1, verbose=0)
    assert_same_snapshot(before, snapshot(net))


def test_sparse_fit_allocates_no_arrays_per_step(ckernels):
    """A fit twice as long allocates no more (tracemalloc), on the sparse path."""
    import tracemalloc
    x, y, _ = _problem(n=2048, density=0.1)
    net = _net()
    csr = _sparse.from_dense(x)

    def peak(epochs):
        with fastdense.use_sparse_inputs("always"):
            net.fit(csr.toarray(), y, epochs=1, batch_size=32, verbose=0)   # warm
            tracemalloc.start()
            snap0 = tracemalloc.take_snapshot()
            net.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
            snap1 = tracemalloc.take_snapshot()
            tracemalloc.stop()
        return sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))

    one, four = peak(1), peak(4)
    # 64 steps per epoch: even 100 bytes per step would add 19 kB over 3 epochs
    assert four - one < 16000, (one, four)


def test_sparse_modes_config(monkeypatch):
    assert fastdense.get_sparse_inputs() in ("auto", "always", "never")
    with pytest.raises(ValueError, match="auto"):
        fastdense.set_sparse_inputs("sometimes")
    with fastdense.use_sparse_inputs("never"):
        assert fastdense.get_sparse_inputs() == "never"
    import io
    out = io.StringIO()
    fastdense.show_config(file=out)
    assert "sparse inputs" in out.getvalue()
