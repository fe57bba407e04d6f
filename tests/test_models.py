"""Sequential: fit/evaluate/predict, History, progress output, errors, save/load,
reproducibility, backend agreement and the no-allocation training step."""
import io
import os
import re
import tracemalloc
import zipfile

import numpy as np
import pytest

import fastdense
from fastdense import _config, callbacks, layers, models, optimizers, utils
from fastdense._progress import Progbar

from _model_helpers import (assert_same_snapshot, blobs, need_c, small_model,
                            snapshot)


def onehot(labels, n=3):
    return utils.to_categorical(labels, n)


@pytest.fixture
def data():
    x, labels = blobs(n=200, features=8, classes=3)
    return x, onehot(labels), labels


@pytest.fixture
def trained(data):
    x, y, _ = data
    net = small_model()
    net.fit(x, y, epochs=1, batch_size=32, verbose=0)
    return net


# ---- training and History ----------------------------------------------------

def test_fit_learns_and_history_has_keras_keys(data, any_backend):
    x, y, _ = data
    net = small_model()
    h = net.fit(x, y, epochs=8, batch_size=16, verbose=0, validation_split=0.25)
    assert isinstance(h, callbacks.History) and net.history is h
    assert list(h.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert len(h.history["loss"]) == 8 and h.epoch == list(range(8))
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert h.history["accuracy"][-1] > 0.9
    # Keras 2 spellings answer too, as the same lists
    assert "acc" in h.history and "val_acc" in h.history
    assert h.history["acc"] is h.history["accuracy"]
    assert h.history.get("val_acc") is h.history["val_accuracy"]
    assert "mae" not in h.history


def test_history_keys_follow_the_users_name(data):
    x, y, _ = data
    net = small_model(metrics=["acc"])
    h = net.fit(x, y, epochs=1, verbose=0, validation_data=(x[:20], y[:20]))
    assert list(h.history) == ["loss", "acc", "val_loss", "val_acc"]
    assert "accuracy" in h.history and "val_accuracy" in h.history
    assert h.history["val_accuracy"] == h.history["val_acc"]


def test_epoch_loss_is_the_batch_weighted_mean(data):
    x, y, _ = data
    net = small_model(optimizer=optimizers.SGD(learning_rate=0.0))  # weights frozen
    h = net.fit(x, y, epochs=1, batch_size=64, verbose=0, shuffle=False)   # 64,64,64,8
    loss, acc = net.evaluate(x, y, verbose=0)
    assert h.history["loss"][0] == pytest.approx(loss, rel=1e-5)
    assert h.history["accuracy"][0] == pytest.approx(acc, abs=1e-9)


def test_validation_split_takes_the_last_fraction(data):
    x, y, _ = data
    net = small_model()
    h = net.fit(x, y, epochs=1, batch_size=32, verbose=0, validation_split=0.2)
    loss, acc = net.evaluate(x[160:], y[160:], verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(loss, rel=1e-6)
    assert h.history["val_accuracy"][0] == pytest.approx(acc)


def test_sparse_labels(data):
    x, _, labels = data
    net = small_model(loss="sparse_categorical_crossentropy")
    h = net.fit(x, labels, epochs=5, batch_size=16, verbose=0)
    assert h.history["accuracy"][-1] > 0.9
    loss, acc = net.evaluate(x, labels.reshape(-1, 1), verbose=0)
    assert acc > 0.9 and loss < h.history["loss"][0]


def test_mse_and_binary_paths_train(data):
    x, y, labels = data
    net = small_model(loss="mse", out_activation="sigmoid", metrics=["accuracy", "mae"])
    h = net.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert set(h.history) == {"loss", "accuracy", "mae"}
    net = small_model(loss="binary_crossentropy", out_activation="sigmoid", classes=1,
                      activation="tanh")
    yb = (labels == 0).astype(np.float32)
    h = net.fit(x, yb, epochs=5, batch_size=16, verbose=0)
    assert h.history["accuracy"][-1] > 0.9


def test_evaluate_and_predict(trained, data):
    x, y, _ = data
    result = trained.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    probs = trained.predict(x)
    assert probs.shape == (200, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    acc = float((probs.argmax(1) == y.argmax(1)).mean())
    assert result[1] == pytest.approx(acc)
    np.testing.assert_allclose(trained.predict(x, batch_size=7), probs, rtol=1e-5, atol=1e-7)
    net = small_model(metrics=[])
    assert isinstance(net.evaluate(x, y, verbose=0), float)


def test_shuffle_false_and_big_batches_are_deterministic(data):
    x, y, _ = data
    a, b = small_model(seed=5), small_model(seed=5)
    a.fit(x, y, epochs=2, batch_size=1000, shuffle=False, verbose=0)
    utils.set_random_seed(99)   # shuffling off: the generator must not matter
    b.fit(x, y, epochs=2, batch_size=1000, shuffle=False, verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_epochs_zero_changes_nothing(trained, data):
    x, y, _ = data
    before = snapshot(trained)
    h = trained.fit(x, y, epochs=0, verbose=0)
    assert dict(h.history) == {}
    assert_same_snapshot(before, snapshot(trained))


def test_deferred_build(data):
    x, y, _ = data
    net = models.Sequential([layers.Dense(16, activation="relu"),
                             layers.Dense(3, activation="softmax")])
    assert not net.built
    with pytest.raises(ValueError, match="built"):
        net.summary()
    net.compile("adam", "categorical_crossentropy", ["accuracy"])
    net.fit(x, y, epochs=1, verbose=0)
    assert net.built and net.input_shape == (None, 8)
    assert [w.shape for w in net.get_weights()] == [(8, 16), (16,), (16, 3), (3,)]
    other = models.Sequential([layers.Dense(2)])
    assert other.predict(x).shape == (200, 2) and other.built


def test_summary_is_the_keras_table(capsys):
    net = models.Sequential()
    net.add(layers.Dense(512, activation="relu", input_shape=(784,)))
    net.add(layers.Dense(10, activation="softmax"))
    net.summary()
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith('Model: "sequential_')
    assert re.match(r"Layer \(type\)\s+Output Shape\s+Param #", lines[2])
    assert re.search(r"dense_\d+ \(Dense\)\s+\(None, 512\)\s+401920", out)
    assert re.search(r"dense_\d+ \(Dense\)\s+\(None, 10\)\s+5130", out)
    assert "Total params: 407,050" in out
    assert "Trainable params: 407,050" in out
    assert "Non-trainable params: 0" in out
    assert net.count_params() == 407050


# ---- progress output ------------------------------------------------------------

LINE = re.compile(r"^(\d+)/(\d+) \[=+\] - \d+s \d+(us|ms|s)/step - loss: \d\.\d{4}(e-\d+)? "
                  r"- accuracy: \d\.\d{4}$")


def test_progress_not_a_terminal_is_one_line_per_epoch(data, capsys):
    x, y, _ = data
    net = small_model()
    net.fit(x, y, epochs=3, batch_size=10, verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out and "\b" not in out
    lines = out.splitlines()
    assert len(lines) == 6
    for k in range(3):
        assert lines[2 * k] == "Epoch %d/3" % (k + 1)
        m = LINE.match(lines[2 * k + 1])
        assert m, lines[2 * k + 1]
        assert m.group(1) == m.group(2) == "20"


def test_progress_with_validation_appends_val_metrics(data, capsys):
    x, y, _ = data
    small_model().fit(x, y, epochs=1, batch_size=50, verbose=1, validation_split=0.5)
    line = capsys.readouterr().out.splitlines()[1]
    assert re.search(r"^2/2 \[=+\] .* - loss: \S+ - accuracy: \S+ - val_loss: \S+ "
                     r"- val_accuracy: \S+$", line), line


def test_verbose_2_and_0(data, capsys):
    x, y, _ = data
    net = small_model()
    net.fit(x, y, epochs=2, batch_size=32, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert re.match(r"^ - \d+s - loss: \d\.\d{4} - accuracy: \d\.\d{4}$", lines[1]), lines[1]
    net.fit(x, y, epochs=2, verbose=0)
    net.evaluate(x, y, verbose=0)
    net.predict(x)
    assert capsys.readouterr().out == ""


def test_evaluate_verbose_1_prints_the_final_line(trained, data, capsys):
    x, y, _ = data
    trained.evaluate(x, y, batch_size=32, verbose=1)
    out = capsys.readouterr().out
    assert LINE.match(out.strip()) and out.startswith("7/7 [")


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progbar_on_a_terminal_redraws_in_place_and_is_throttled():
    stream = _Tty()
    bar = Progbar(469, stream=stream, interval=3600)   # throttled: only first + last
    for step in range(1, 469):
        bar.update(step, [("loss", 0.5)])
    bar.update(469, [("loss", 0.25), ("accuracy", 0.9254)])
    out = stream.getvalue()
    assert out.count("\r") == 2 and out.endswith("\n") and out.count("\n") == 1
    assert re.search(r"\r469/469 \[=+\] - \d+s \d+\w+/step - loss: 0.2500 - "
                     r"accuracy: 0.9254\s*\n$", out)
    stream = _Tty()
    bar = Progbar(10, stream=stream, interval=0)
    for step in range(1, 11):
        bar.update(step, [("loss", 1.0)])
    out = stream.getvalue()
    assert out.count("\r") == 10 and " - ETA: " in out
    assert re.search(r"\r 5/10 \[==============>\.+\]", out)


# ---- errors leave the model as it was -----------------------------------------------

def test_fit_and_evaluate_before_compile(data):
    x, y, _ = data
    net = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(8,))])
    before = snapshot(net)
    with pytest.raises(RuntimeError, match="compile"):
        net.fit(x, y, verbose=0)
    with pytest.raises(RuntimeError, match="compile"):
        net.evaluate(x, y, verbose=0)
    assert_same_snapshot(before, snapshot(net))


BAD_FIT = {
    "image shaped x": (lambda x, y: dict(x=x.reshape(200, 2, 4), y=y), r"expected x of shape \(N, 8\), got \(200, 2, 4\): reshape to \(N, 8\)"),
    "wrong feature count": (lambda x, y: dict(x=x[:, :5], y=y), r"\(N, 8\), got \(200, 5\)"),
    "1-D x": (lambda x, y: dict(x=x[0], y=y[:1]), r"\(N, 8\)"),
    "length mismatch": (lambda x, y: dict(x=x, y=y[:-1]), "same number of samples"),
    "label width": (lambda x, y: dict(x=x, y=np.zeros((200, 4), np.float32)), r"\(N, 3\)"),
    "integer labels with CE": (lambda x, y: dict(x=x, y=y.argmax(1)), "to_categorical"),
    "string x": (lambda x, y: dict(x=np.array([["a"] * 8] * 200), y=y), "numeric"),
    "batch_size 0": (lambda x, y: dict(x=x, y=y, batch_size=0), "batch_size"),
    "batch_size float": (lambda x, y: dict(x=x, y=y, batch_size=2.5), "batch_size"),
    "epochs -1": (lambda x, y: dict(x=x, y=y, epochs=-1), "epochs"),
    "verbose 3": (lambda x, y: dict(x=x, y=y, verbose=3), "verbose"),
    "validation_split 1": (lambda x, y: dict(x=x, y=y, validation_split=1.0), "validation_split"),
    "validation_data bad": (lambda x, y: dict(x=x, y=y, validation_data=(x,)), "validation_data"),
    "validation_data shape": (lambda x, y: dict(x=x, y=y, validation_data=(x[:, :4], y)), "validation x"),
    "validation labels": (lambda x, y: dict(x=x, y=y, validation_data=(x, y[:, :2])), "validation y"),
    "callback": (lambda x, y: dict(x=x, y=y, callbacks=[print]), "callbacks"),
}


@pytest.mark.parametrize("case", sorted(BAD_FIT))
def test_bad_fit_raises_and_leaves_model_unchanged(trained, data, case):
    x, y, _ = data
    make, pattern = BAD_FIT[case]
    kwargs = make(x, y)
    kwargs.setdefault("verbose", 0)
    before = snapshot(trained)
    assert before["opt_iterations"] > 0 and before["opt_state"][0].any()
    with pytest.raises(ValueError, match=pattern):
        trained.fit(**kwargs)
    assert_same_snapshot(before, snapshot(trained))


def test_mnist_shaped_message():
    net = models.Sequential([layers.Dense(10, activation="softmax", input_shape=(784,))])
    net.compile("rmsprop", "categorical_crossentropy", ["accuracy"])
    with pytest.raises(ValueError) as info:
        net.evaluate(np.zeros((10000, 28, 28), np.float32), np.zeros((10000, 10)), verbose=0)
    assert "expected x of shape (N, 784), got (10000, 28, 28): reshape to (N, 784)" in str(info.value)


def test_sparse_label_out_of_range_is_checked_before_training(data):
    x, _, labels = data
    net = small_model(loss="sparse_categorical_crossentropy")
    bad = labels.copy()
    bad[-1] = 3                        # the last batch: no step may run before the error
    before = snapshot(net)
    with pytest.raises(ValueError, match="label 3"):
        net.fit(x, bad, batch_size=16, verbose=0, shuffle=False)
    bad[-1] = -1
    with pytest.raises(ValueError, match="label -1"):
        net.fit(x, bad, verbose=0)
    assert_same_snapshot(before, snapshot(net))


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(optimizer="rmsporp", loss="categorical_crossentropy"), "optimizer"),
    (dict(optimizer="sgd", loss="categorical_crossentropie"), "loss"),
    (dict(optimizer="sgd", loss="categorical_crossentropy", metrics=["acuracy"]), "metric"),
    (dict(optimizer="sgd", loss=None), "loss"),
])
def test_bad_compile_leaves_model_unchanged(trained, kwargs, pattern):
    before = snapshot(trained)
    with pytest.raises(ValueError, match=pattern):
        trained.compile(**kwargs)
    assert_same_snapshot(before, snapshot(trained))
    assert isinstance(trained.optimizer, optimizers.RMSprop)


def test_bad_set_weights_leaves_model_unchanged(trained):
    before = snapshot(trained)
    w = trained.get_weights()
    with pytest.raises(ValueError, match="expects 4"):
        trained.set_weights(w[:3])
    with pytest.raises(ValueError, match="shape"):
        trained.set_weights([np.ones_like(w[0]), np.ones_like(w[1]), np.ones((3, 16)), w[3]])
    assert_same_snapshot(before, snapshot(trained))
    w[0][:] = 0.5
    trained.set_weights(w)
    assert (trained.get_weights()[0] == 0.5).all()


def test_bad_predict_and_evaluate_args(trained, data):
    x, y, _ = data
    before = snapshot(trained)
    with pytest.raises(ValueError, match="batch_size"):
        trained.predict(x, batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        trained.evaluate(x, y, batch_size=-3, verbose=0)
    with pytest.raises(ValueError, match="reshape"):
        trained.predict(x.reshape(200, 4, 2))
    assert_same_snapshot(before, snapshot(trained))


def test_get_weights_returns_copies_in_keras_order(trained):
    w = trained.get_weights()
    assert [a.shape for a in w] == [(8, 16), (16,), (16, 3), (3,)]
    w[0][:] = 123
    assert not (trained.get_weights()[0] == 123).any()
    # each layer's weights are views into that layer's own parameter buffer
    for layer in trained.layers:
        flat = layer.param_buffer
        assert np.shares_memory(layer.kernel, flat) and np.shares_memory(layer.bias, flat)
        assert flat.size == layer.kernel.size + layer.bias.size
    assert not np.shares_memory(trained.layers[0].param_buffer,
                                trained.layers[1].param_buffer)


# ---- callbacks ----------------------------------------------------------------------

def test_nan_inputs_are_allowed_and_terminate_on_nan_stops(data, capsys):
    x, y, _ = data
    x = x.copy()
    x[5, 0] = np.nan
    net = small_model()
    h = net.fit(x, y, epochs=3, batch_size=20, verbose=0, shuffle=False,
                callbacks=[callbacks.TerminateOnNaN()])
    assert "Batch 0: Invalid loss, terminating training" in capsys.readouterr().out
    assert len(h.history["loss"]) == 1


def test_early_stopping_restores_best_weights(data):
    x, y, _ = data
    net = small_model()
    seen = []
    record = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(net.get_weights()))
    # in 'max' mode a falling loss never improves: stop after patience=1 more epoch
    stop = callbacks.EarlyStopping(monitor="loss", mode="max", patience=1,
                                   restore_best_weights=True)
    h = net.fit(x, y, epochs=10, batch_size=16, verbose=0, callbacks=[record, stop])
    assert len(h.history["loss"]) == 2 and stop.stopped_epoch == 1
    for a, b in zip(net.get_weights(), seen[0]):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(seen[0], seen[1]))


def test_early_stopping_on_val_acc_alias(data):
    x, y, _ = data
    net = small_model()
    stop = callbacks.EarlyStopping(monitor="val_acc", patience=0, min_delta=1.0)
    h = net.fit(x, y, epochs=5, verbose=0, validation_split=0.2, callbacks=[stop])
    assert len(h.history["loss"]) == 2   # never improves by 1.0 -> stops at once


def test_callback_hooks_see_batches_and_epochs(data):
    x, y, _ = data
    events = []

    class Spy(callbacks.Callback):
        def on_train_begin(self, logs=None): events.append("train_begin")
        def on_epoch_begin(self, epoch, logs=None): events.append(("epoch", epoch))
        def on_batch_end(self, batch, logs=None): events.append(("batch", batch, logs["size"], round(logs["loss"], 3) > 0))
        def on_train_end(self, logs=None): events.append("train_end")

    small_model().fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[Spy()])
    assert events == ["train_begin", ("epoch", 0), ("batch", 0, 64, True), ("batch", 1, 64, True),
                      ("batch", 2, 64, True), ("batch", 3, 8, True), "train_end"]


def test_keyboard_interrupt_leaves_finite_weights(data):
    x, y, _ = data
    net = small_model()
    start = net.get_weights()

    class Interrupt(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        net.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[Interrupt()])
    after = net.get_weights()
    assert all(np.isfinite(w).all() for w in after)
    assert not np.array_equal(after[0], start[0])
    assert net.optimizer.iterations == 4


# ---- save / load --------------------------------------------------------------------

def test_save_load_round_trip_and_continued_training(tmp_path, data):
    x, y, _ = data
    net = small_model(optimizer="adam")
    net.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "model.weights"            # no .npz suffix added
    net.save(path)
    assert os.listdir(tmp_path) == ["model.weights"]
    assert zipfile.is_zipfile(path)
    back = models.load_model(str(path))
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    assert back.optimizer.get_config() == net.optimizer.get_config()
    assert back.optimizer.iterations == net.optimizer.iterations
    assert back.metrics_names == net.metrics_names
    assert [l.name for l in back.layers] == [l.name for l in net.layers]
    for a, b in zip(back.optimizer.get_state()[1], net.optimizer.get_state()[1]):
        np.testing.assert_array_equal(a, b)
    utils.set_random_seed(11)
    net.fit(x, y, epochs=1, batch_size=16, verbose=0)
    utils.set_random_seed(11)
    back.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(back.get_weights(), net.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_uncompiled_and_unbuilt(tmp_path):
    net = models.Sequential([layers.Dense(4, activation="tanh", input_shape=(3,)),
                             layers.Dense(2)])
    net.save(tmp_path / "a")
    back = models.load_model(tmp_path / "a")
    assert back.optimizer is None and back.layers[0].activation.name == "tanh"
    for u, v in zip(back.get_weights(), net.get_weights()):
        np.testing.assert_array_equal(u, v)
    lazy = models.Sequential([layers.Dense(4)])
    lazy.save(tmp_path / "b")
    assert not models.load_model(tmp_path / "b").built


def test_save_is_atomic(tmp_path, trained, monkeypatch):
    path = tmp_path / "m.npz"
    trained.save(path)
    good = path.read_bytes()
    with pytest.raises(OSError):
        trained.save(tmp_path / "missing" / "m.npz")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OSError):
        trained.save(tmp_path / "afile" / "m.npz")

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        trained.save(path)
    assert path.read_bytes() == good                         # earlier file intact
    assert sorted(os.listdir(tmp_path)) == ["afile", "m.npz"]  # no temporary left behind


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_save_into_read_only_folder(tmp_path, trained):
    path = tmp_path / "m"
    trained.save(path)
    good = path.read_bytes()
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(OSError):
            trained.save(path)
    finally:
        tmp_path.chmod(0o700)
    assert path.read_bytes() == good


def test_corrupt_files_are_value_errors_naming_the_file(tmp_path, trained):
    path = tmp_path / "m.npz"
    trained.save(path)
    raw = path.read_bytes()
    cases = {
        "truncated": raw[: len(raw) // 2],
        "empty": b"",
        "garbage": b"not a model at all\n" * 10,
    }
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0xFF                      # inside the weights
    cases["flipped"] = bytes(flipped)
    for name, content in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(ValueError, match=re.escape(str(p))):
            models.load_model(p)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match="other.npz"):
        models.load_model(other)
    # an edited config: a layer claims more units than its weights have
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["config"] = np.array(str(arrays["config"][()]).replace('"units": 3', '"units": 4'))
    edited = tmp_path / "edited.npz"
    np.savez(edited, **arrays)
    with pytest.raises(ValueError, match="edited.npz"):
        models.load_model(edited)
    with pytest.raises(FileNotFoundError):
        models.load_model(tmp_path / "nope.npz")


# ---- reproducibility and backends ------------------------------------------------------

def _seeded_fit(x, y, seed=1234, epochs=2):
    net = small_model(seed=seed)
    net.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    return net.get_weights()


def test_seeded_fits_are_bit_identical(data, any_backend):
    x, y, _ = data
    a = _seeded_fit(x, y)
    b = _seeded_fit(x, y)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    c = _seeded_fit(x, y, seed=4321)
    assert not np.array_equal(a[0], c[0])


def test_c_and_numpy_train_to_the_same_weights(data):
    need_c()
    x, y, _ = data
    with fastdense.use_backend("c"):
        wc = _seeded_fit(x, y, epochs=1)
    with fastdense.use_backend("numpy"):
        wn = _seeded_fit(x, y, epochs=1)
    for u, v in zip(wc, wn):
        np.testing.assert_allclose(u, v, rtol=1e-3, atol=1e-4)


def test_training_step_allocates_nothing(restore_fastdense_config):
    """Over hundreds of steps on the C backend, traced memory does not grow per
    step and the peak stays far below one activation buffer."""
    need_c()
    fastdense.set_backend("c")
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (256 * 40, 64)).astype(np.float32)
    y = utils.to_categorical(rng.integers(0, 10, len(x)), 10)
    utils.set_random_seed(0)
    net = models.Sequential([layers.Dense(512, activation="relu", input_shape=(64,)),
                             layers.Dense(10, activation="softmax")])
    net.compile("rmsprop", "categorical_crossentropy", ["accuracy"])
    activation_bytes = 256 * 512 * 4
    marks = {}

    class Probe(callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            if batch == 5 and "start" not in marks:
                tracemalloc.reset_peak()
                marks["start"] = tracemalloc.get_traced_memory()[0]

        def on_batch_end(self, batch, logs=None):
            if batch == 38:
                marks["end"], marks["peak"] = tracemalloc.get_traced_memory()

    tracemalloc.start()
    try:
        net.fit(x, y, epochs=1, batch_size=256, verbose=0, callbacks=[Probe()])
        marks.setdefault("steps", 34)
        # many more steps in a second epoch, measured the same way
        marks2 = dict(marks)
        marks.clear()
        net.fit(x, y, epochs=1, batch_size=256, verbose=0, callbacks=[Probe()])
    finally:
        tracemalloc.stop()
    for m in (marks2, marks):
        growth = (m["end"] - m["start"]) / 34
        assert growth < 1024, "traced memory grows by %.0f bytes per step" % growth
        assert m["peak"] - m["start"] < activation_bytes / 8, \
            "a step allocated %d bytes" % (m["peak"] - m["start"])
