"""Callbacks: ModelCheckpoint, ReduceLROnPlateau, LearningRateScheduler,
CSVLogger and EarlyStopping, with Keras 2.3.1 semantics.

Each is driven twice: by hand against a stub model (which records save
calls and has a real optimizer), so every branch of the logic is pinned
down epoch by epoch, and in one small real ``fit`` (the model calls the
hooks with logs that include the ``val_`` keys), where the files written and
the learning rate the optimizer really uses are checked.
"""
import csv
import os

import numpy as np
import pytest

from fastdense import callbacks, models, optimizers, utils
from fastdense.optimizers import schedules

from _model_helpers import blobs, small_model


class StubModel:
    """What the callbacks touch: an optimizer, stop_training, save calls,
    weights."""

    def __init__(self, optimizer=None):
        self.optimizer = optimizer or optimizers.SGD(learning_rate=0.1)
        self.stop_training = False
        self.saved = []
        self.weights = [np.zeros(2, np.float32)]

    def save(self, path):
        self.saved.append(("model", path))

    def save_weights(self, path):
        self.saved.append(("weights", path))

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]


def drive(cb, epochs_logs, model=None, batches=0):
    """Run the hooks of a fit over the given per-epoch logs."""
    model = model or StubModel()
    cb.set_model(model)
    cb.set_params({"epochs": len(epochs_logs), "steps": batches, "verbose": 0})
    cb.on_train_begin({})
    for epoch, logs in enumerate(epochs_logs):
        cb.on_epoch_begin(epoch, {})
        for b in range(batches):
            cb.on_train_batch_begin(b, {"batch": b, "size": 4})
            cb.on_train_batch_end(b, {"batch": b, "size": 4, "loss": 1.0 / (b + 1)})
        logs = callbacks.LogsDict(logs)
        cb.on_epoch_end(epoch, logs)
        epochs_logs[epoch] = logs
        if model.stop_training:
            break
    cb.on_train_end({})
    return model


def val_losses(*values):
    return [{"loss": 2.0 * v, "val_loss": v, "accuracy": 0.5, "val_accuracy": 1 - v / 10}
            for v in values]


def classification_data(n=192, seed=0):
    x, labels = blobs(n=n, seed=seed)
    return x, utils.to_categorical(labels, 3)


# ---------------------------------------------------------------------------
# ModelCheckpoint
# ---------------------------------------------------------------------------

def test_checkpoint_every_epoch_formats_the_path():
    cb = callbacks.ModelCheckpoint("m-{epoch:02d}-{val_loss:.2f}.fdm")
    model = drive(cb, val_losses(1.0, 0.8, 0.9))
    assert model.saved == [("model", "m-01-1.00.fdm"), ("model", "m-02-0.80.fdm"),
                           ("model", "m-03-0.90.fdm")]


def test_checkpoint_save_best_only_writes_exactly_the_improving_epochs():
    cb = callbacks.ModelCheckpoint("best-{epoch}.fdm", save_best_only=True)
    model = drive(cb, val_losses(1.0, 0.8, 0.9, 0.7, 0.7, 0.75, 0.69))
    assert [p for _, p in model.saved] == ["best-1.fdm", "best-2.fdm", "best-4.fdm",
                                           "best-7.fdm"]
    assert cb.best == 0.69


def test_checkpoint_mode_auto_maximises_accuracy_and_aliases_format():
    cb = callbacks.ModelCheckpoint("a{val_acc:.3f}.fdm", monitor="val_acc",
                                   save_best_only=True)
    logs = val_losses(0.5, 0.6, 0.4)      # val_accuracy 0.95, 0.94, 0.96
    model = drive(cb, logs)
    assert [p for _, p in model.saved] == ["a0.950.fdm", "a0.960.fdm"]
    cb = callbacks.ModelCheckpoint("x.fdm", monitor="val_loss", mode="max",
                                   save_best_only=True)
    assert len(drive(cb, val_losses(0.5, 0.6, 0.4)).saved) == 2
    cb = callbacks.ModelCheckpoint("x.fdm", monitor="val_auc", save_best_only=True)
    assert cb.monitor_op is np.greater


def test_checkpoint_weights_only_period_and_save_freq():
    cb = callbacks.ModelCheckpoint("w{epoch}.fdw", save_weights_only=True, period=2)
    model = drive(cb, val_losses(1, 1, 1, 1, 1))
    assert model.saved == [("weights", "w2.fdw"), ("weights", "w4.fdw")]
    cb = callbacks.ModelCheckpoint("b{epoch}-{loss:.2f}.fdm", save_freq=3)
    model = drive(cb, val_losses(1, 1), batches=4)
    # batches 3 of epoch 1, then 2 of epoch 2 (6 batches in): the batch's logs
    assert model.saved == [("model", "b1-0.33.fdm"), ("model", "b2-0.50.fdm")]


def test_checkpoint_missing_monitor_warns_and_skips():
    cb = callbacks.ModelCheckpoint("x.fdm", monitor="val_precision", save_best_only=True)
    with pytest.warns(RuntimeWarning, match="val_precision"):
        model = drive(cb, val_losses(1.0))
    assert model.saved == []


def test_checkpoint_bad_path_key_is_a_clear_error():
    cb = callbacks.ModelCheckpoint("m-{val_los:.2f}.fdm")
    with pytest.raises(KeyError, match="val_los"):
        drive(cb, val_losses(1.0))


@pytest.mark.parametrize("kwargs", [{"mode": "best"}, {"period": 0}, {"save_freq": 0},
                                    {"save_freq": "batch"}, {"period": 1.5}])
def test_checkpoint_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        callbacks.ModelCheckpoint("x.fdm", **kwargs)


def test_checkpoint_verbose_messages(capsys):
    cb = callbacks.ModelCheckpoint("x{epoch}.fdm", save_best_only=True, verbose=1)
    drive(cb, val_losses(1.0, 2.0))
    out = capsys.readouterr().out
    assert "Epoch 00001: val_loss improved from inf to 1.00000, saving model to x1.fdm" in out
    assert "Epoch 00002: val_loss did not improve from 1.00000" in out


def test_only_the_main_process_writes_and_prints(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(callbacks, "_is_main_process", lambda: False)
    ck = callbacks.ModelCheckpoint("x{epoch}.fdm", verbose=1)
    log = callbacks.CSVLogger(tmp_path / "log.csv")
    rl = callbacks.ReduceLROnPlateau(monitor="val_loss", patience=0, verbose=1)
    model = StubModel()
    for cb in (ck, log, rl):
        drive(cb, val_losses(1.0, 2.0, 3.0), model=model)
    assert model.saved == []
    assert not (tmp_path / "log.csv").exists()
    assert capsys.readouterr().out == ""
    # the decisions are still taken on every rank
    assert ck.epochs_since_last_save == 0 and rl.wait == 0
    assert model.optimizer.learning_rate == pytest.approx(0.1 * 0.1 ** 2)


def noisy_data(n=256, seed=0):
    """A problem with label noise: a fast learner overfits, so the validation
    loss goes up and down."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    labels = (x[:, 0] + rng.standard_normal(n) * 1.5 > 0).astype(int) + (x[:, 1] > 1)
    return x, utils.to_categorical(labels, 3)


def test_checkpoint_in_a_real_fit_writes_the_best_epochs(tmp_path, any_backend):
    x, y = noisy_data()
    xv, yv = x[192:], y[192:]
    x, y = x[:192], y[:192]
    net = small_model(optimizer=optimizers.RMSprop(learning_rate=0.03))
    weights_at = {}
    keep = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: weights_at.__setitem__(epoch + 1, net.get_weights()))
    path = str(tmp_path / "m-{epoch:02d}-{val_loss:.3f}.fdm")
    ck = callbacks.ModelCheckpoint(path, save_best_only=True)
    hist = net.fit(x, y, epochs=8, batch_size=16, verbose=0, validation_data=(xv, yv),
                   callbacks=[ck, keep])
    best, want = np.inf, []
    for epoch, v in enumerate(hist.history["val_loss"], 1):
        if v < best:
            best = v
            want.append("m-%02d-%.3f.fdm" % (epoch, v))
    assert sorted(os.listdir(tmp_path)) == sorted(want)
    assert 2 <= len(want) < 8       # some epochs improved, some did not
    for name in want:
        back = models.load_model(str(tmp_path / name))
        epoch = int(name[2:4])
        for a, b in zip(back.get_weights(), weights_at[epoch]):
            assert np.array_equal(a, b)


# ---------------------------------------------------------------------------
# ReduceLROnPlateau
# ---------------------------------------------------------------------------

def test_reduce_lr_patience_cooldown_min_lr():
    cb = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2,
                                     cooldown=1, min_lr=0.02, min_delta=0.01)
    model = StubModel(optimizers.SGD(learning_rate=0.1))
    lrs = []
    losses = [1.0, 0.995, 0.99, 0.999, 0.98, 0.985, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99]
    logs = val_losses(*losses)
    cb.set_model(model)
    cb.on_train_begin()
    for epoch, lg in enumerate(logs):
        lg = callbacks.LogsDict(lg)
        cb.on_epoch_end(epoch, lg)
        lrs.append((lg["lr"], model.optimizer.learning_rate))
    # epoch 0 improves; 1, 2 do not (by 0.01): reduce at 2 -> 0.05, cooldown 1;
    # 3: the cooldown ends (counter 1 -> 0) and, as in Keras 2.3.1, the epoch
    # already counts (wait 1); 4 improves (0.98 < 0.99); 5, 6: reduce at 6 ->
    # 0.025; 7 (cooldown ends, wait 1), 8: reduce -> 0.0125, held at min_lr
    # 0.02; then lr == min_lr: never reduced again
    got = [after for _, after in lrs]
    assert got == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.02,
                                 0.02, 0.02, 0.02])
    logged = [before for before, _ in lrs]
    assert logged == pytest.approx([0.1] * 3 + [0.05] * 4 + [0.025] * 2 + [0.02] * 3)


def test_reduce_lr_mode_and_arguments():
    cb = callbacks.ReduceLROnPlateau(monitor="val_accuracy", patience=0, factor=0.5)
    model = drive(cb, val_losses(0.5, 0.4, 0.6))   # val_accuracy 0.95, 0.96, 0.94
    assert model.optimizer.learning_rate == pytest.approx(0.05)
    with pytest.raises(ValueError, match="factor"):
        callbacks.ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError):
        callbacks.ReduceLROnPlateau(mode="up")
    with pytest.warns(DeprecationWarning):
        assert callbacks.ReduceLROnPlateau(epsilon=0.3).min_delta == 0.3
    with pytest.warns(RuntimeWarning, match="not available"):
        drive(callbacks.ReduceLROnPlateau(monitor="val_auc"), val_losses(1.0))


def test_reduce_lr_on_a_schedule_driven_optimizer_is_a_type_error():
    opt = optimizers.Adam(learning_rate=schedules.ExponentialDecay(0.1, 10, 0.5))
    cb = callbacks.ReduceLROnPlateau(patience=0)
    with pytest.raises(TypeError, match="not settable"):
        drive(cb, val_losses(1.0, 2.0), model=StubModel(opt))


def update_norms(net, x, y, cbs, epochs):
    """Per-epoch parameter change of a full-batch fit (one step per epoch)."""
    snaps = [np.concatenate([w.ravel() for w in net.get_weights()])]
    keep = callbacks.LambdaCallback(on_epoch_end=lambda e, l: snaps.append(
        np.concatenate([w.ravel() for w in net.get_weights()])))
    hist = net.fit(x, y, epochs=epochs, batch_size=len(x), shuffle=False, verbose=0,
                   callbacks=cbs + [keep])
    return [float(np.linalg.norm(b - a)) for a, b in zip(snaps, snaps[1:])], hist


def test_reduce_lr_changes_the_rate_the_optimizer_uses(any_backend):
    """One SGD step per epoch with a small rate: the gradient barely changes
    from step to step, so the step length follows the learning rate."""
    x, y = classification_data()
    net = small_model(optimizer=optimizers.SGD(learning_rate=1e-3))
    cb = callbacks.ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, min_delta=10)
    norms, hist = update_norms(net, x, y, [cb], 5)
    # epoch 0 "improves" (on inf); each later epoch misses by min_delta: the
    # rate halves at the end of epochs 1, 2, 3
    assert hist.history["lr"] == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4, 1.25e-4])
    assert net.optimizer.learning_rate == pytest.approx(6.25e-5)
    ratios = [b / a for a, b in zip(norms, norms[1:])]
    assert ratios[0] == pytest.approx(1.0, rel=0.05)
    for r in ratios[1:]:
        assert r == pytest.approx(0.5, rel=0.05)


# ---------------------------------------------------------------------------
# LearningRateScheduler
# ---------------------------------------------------------------------------

def test_scheduler_one_and_two_argument_forms(capsys):
    model = StubModel(optimizers.SGD(learning_rate=0.1))
    cb = callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1), verbose=1)
    logs = val_losses(1, 1, 1)
    drive(cb, logs, model=model)
    assert [lg["lr"] for lg in logs] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert "Epoch 00002: LearningRateScheduler setting learning rate to 0.05." in \
        capsys.readouterr().out

    def halve_after_first(epoch, lr):
        return lr if epoch == 0 else lr * 0.5

    model = StubModel(optimizers.Adam(learning_rate=0.2))
    drive(callbacks.LearningRateScheduler(halve_after_first), val_losses(1, 1, 1, 1),
          model=model)
    assert model.optimizer.learning_rate == pytest.approx(0.025)
    assert model.optimizer.lr == model.optimizer.learning_rate


def test_scheduler_bad_schedules():
    with pytest.raises(ValueError, match="float"):
        drive(callbacks.LearningRateScheduler(lambda epoch: "fast"), val_losses(1))
    with pytest.raises(ValueError):
        callbacks.LearningRateScheduler(0.1)
    opt = optimizers.SGD(learning_rate=schedules.CosineDecay(0.1, 100))
    with pytest.raises(TypeError, match="not settable"):
        drive(callbacks.LearningRateScheduler(lambda e: 0.1), val_losses(1),
              model=StubModel(opt))


def test_scheduler_changes_the_rate_the_optimizer_uses(any_backend):
    x, y = classification_data()
    net = small_model(optimizer=optimizers.SGD(learning_rate=0.5))
    cb = callbacks.LearningRateScheduler(lambda epoch: 1e-3 * 0.5 ** epoch)
    norms, hist = update_norms(net, x, y, [cb], 4)
    assert hist.history["lr"] == pytest.approx([1e-3, 5e-4, 2.5e-4, 1.25e-4])
    for a, b in zip(norms, norms[1:]):
        assert b / a == pytest.approx(0.5, rel=0.05)


# ---------------------------------------------------------------------------
# CSVLogger
# ---------------------------------------------------------------------------

def read_csv(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_rows_and_columns(tmp_path):
    path = tmp_path / "log.csv"
    logs = val_losses(1.0, 0.5, 0.25)
    drive(callbacks.CSVLogger(path), logs)
    rows = read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(rows) == 4
    for epoch, (row, lg) in enumerate(zip(rows[1:], logs)):
        assert row[0] == str(epoch)
        assert [float(v) for v in row[1:]] == [lg[k] for k in rows[0][1:]]


def test_csv_logger_append_separator_na_and_lists(tmp_path):
    path = tmp_path / "log.csv"
    drive(callbacks.CSVLogger(path, separator=";"), val_losses(1.0))
    drive(callbacks.CSVLogger(path, separator=";", append=True), val_losses(0.5, 0.4))
    rows = read_csv(path, ";")
    assert rows[0][0] == "epoch" and len(rows) == 4 and [r[0] for r in rows[1:]] == \
        ["0", "0", "1"]
    # not append: the file starts again
    drive(callbacks.CSVLogger(path, separator=";"), val_losses(0.3))
    assert len(read_csv(path, ";")) == 2

    cb = callbacks.CSVLogger(path)
    model = StubModel()
    cb.set_model(model)
    cb.on_train_begin()
    cb.on_epoch_end(0, callbacks.LogsDict({"loss": 1.0, "precision": [0.5, 0.25]}))
    model.stop_training = True
    cb.on_epoch_end(1, callbacks.LogsDict({"loss": 0.5}))
    rows = read_csv(path)
    assert rows == [["epoch", "loss", "precision"], ["0", "1.0", "[0.5, 0.25]"],
                    ["1", "0.5", "NA"]]


def test_csv_logger_in_a_real_fit_matches_history(tmp_path, any_backend):
    x, y = classification_data()
    net = small_model()
    path = tmp_path / "train.csv"
    hist = net.fit(x, y, epochs=3, batch_size=32, verbose=0, validation_split=0.25,
                   callbacks=[callbacks.ReduceLROnPlateau(patience=5),
                              callbacks.CSVLogger(path)])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "lr", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    for col, key in enumerate(rows[0][1:], 1):
        assert [float(r[col]) for r in rows[1:]] == hist.history[key]


# ---------------------------------------------------------------------------
# EarlyStopping (Keras 2.3.1 semantics)
# ---------------------------------------------------------------------------

def test_early_stopping_patience_and_min_delta(capsys):
    cb = callbacks.EarlyStopping(patience=2, min_delta=0.05, verbose=1)
    logs = val_losses(1.0, 0.9, 0.88, 0.87, 0.5, 0.4)
    model = drive(cb, logs)
    # 0.88 and 0.87 do not beat 0.9 by 0.05: stops at epoch index 3
    assert model.stop_training and cb.stopped_epoch == 3 and cb.best == 0.9
    assert "Epoch 00004: early stopping" in capsys.readouterr().out


def test_early_stopping_baseline_and_restore_best_weights():
    model = StubModel()
    cb = callbacks.EarlyStopping(monitor="val_accuracy", patience=1,
                                 restore_best_weights=True)
    cb.set_model(model)
    cb.on_train_begin()
    for epoch, acc in enumerate([0.5, 0.7, 0.6]):
        model.weights = [np.full(2, epoch, np.float32)]
        cb.on_epoch_end(epoch, {"val_accuracy": acc})
    assert model.stop_training and np.all(model.weights[0] == 1)
    # a baseline never beaten: stops after patience epochs, nothing to restore
    model = StubModel()
    cb = callbacks.EarlyStopping(monitor="val_loss", baseline=0.1, patience=2,
                                 restore_best_weights=True)
    drive(cb, val_losses(0.5, 0.4, 0.3), model=model)
    assert model.stop_training and cb.stopped_epoch == 1 and cb.best_weights is None


def test_early_stopping_in_a_real_fit(any_backend):
    x, y = classification_data()
    net = small_model(optimizer=optimizers.SGD(learning_rate=0.0))   # never improves
    cb = callbacks.EarlyStopping(monitor="loss", patience=2)
    hist = net.fit(x, y, epochs=10, batch_size=64, verbose=0, shuffle=False,
                   callbacks=[cb])
    assert len(hist.history["loss"]) == 3 and cb.stopped_epoch == 2
