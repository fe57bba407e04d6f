"""Interrupts and failures: what a user sees when training or saving goes wrong.

* KeyboardInterrupt during ``fit`` (raised by a callback, or a real SIGINT
  delivered to the process) leaves a model whose weights are finite and which
  can be saved, loaded (bit-identical predictions) and trained further -- the
  loaded copy trains on exactly as the original does.
* ``save`` into a folder that does not exist, a read-only folder (or, as
  root, a "folder" that is a file), or failing half-way (disk full) raises
  OSError, leaves any earlier file byte for byte intact and no temporary file
  behind.
* ``load_model`` of a truncated file, a file with one byte flipped in the
  data, or a config entry changed to nonsense raises ValueError.
* ``TerminateOnNaN`` stops training at the first batch whose loss is NaN or
  inf (NaN in the inputs, or a learning rate that blows up), says which batch
  on stdout, and no batch runs after it.
"""
import copy
import json
import os
import signal
import threading
import zipfile

import numpy as np
import pytest

import fastdense
from fastdense import callbacks, layers, models, optimizers, utils


@pytest.fixture(autouse=True)
def _c_backend_when_available(restore_fastdense_config):
    """These tests are about the model API: they run on the C backend (which
    must be there in CI, see conftest) and the NumPy one is covered by its
    twin tests; elsewhere they fall back to whatever loads."""
    from conftest import c_required
    if c_required():
        from conftest import require_ckernels
        require_ckernels()
        fastdense.set_backend("c")


def _data(n=256, features=20, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = utils.to_categorical(rng.integers(0, classes, n), classes)
    return x, y


def _model(features=20, classes=4, seed=0, optimizer="rmsprop"):
    utils.set_random_seed(seed)
    net = models.Sequential()
    net.add(layers.Dense(32, activation="relu", input_shape=(features,)))
    net.add(layers.Dense(classes, activation="softmax"))
    net.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return net


def _bit_equal(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and np.array_equal(a.view(np.uint8), b.view(np.uint8))


class Recorder(callbacks.Callback):
    """Remembers every (epoch, batch, loss) it sees."""

    def __init__(self):
        super().__init__()
        self.epoch = None
        self.batches = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        self.batches.append((self.epoch, batch, (logs or {}).get("loss")))


class InterruptAt(callbacks.Callback):
    """Raises KeyboardInterrupt from the given hook at (epoch, batch)."""

    def __init__(self, hook, epoch, batch, how="raise"):
        super().__init__()
        self.hook, self.at, self.how = hook, (epoch, batch), how
        self.epoch = None
        setattr(self, hook, self._fire)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def _fire(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            if self.how == "raise":
                raise KeyboardInterrupt
            signal.raise_signal(signal.SIGINT)     # the handler raises it


def _check_usable_after_interrupt(net, x, y, tmp_path):
    """Finite weights; save/load round trip; both copies train on identically."""
    for w in net.get_weights():
        assert np.isfinite(w).all()
    probs = net.predict(x)
    assert np.isfinite(probs).all()
    path = tmp_path / "interrupted.npz"
    net.save(path)
    loaded = models.load_model(path)
    assert _bit_equal(loaded.predict(x), probs)
    h1 = net.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
    h2 = loaded.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
    assert np.isfinite(h1.history["loss"]).all()
    assert h1.history["loss"] == h2.history["loss"]
    for a, b in zip(net.get_weights(), loaded.get_weights()):
        assert _bit_equal(a, b)


@pytest.mark.parametrize("hook", ["on_batch_end", "on_train_batch_end", "on_batch_begin"])
def test_keyboard_interrupt_from_callback(tmp_path, hook):
    x, y = _data()
    net = _model()
    rec = Recorder()
    with pytest.raises(KeyboardInterrupt):
        net.fit(x, y, batch_size=32, epochs=5, verbose=0,
                callbacks=[rec, InterruptAt(hook, 1, 3)])
    assert rec.batches[-1][:2] == ((1, 3) if hook != "on_batch_begin" else (1, 2))
    _check_usable_after_interrupt(net, x, y, tmp_path)


def _needs_default_sigint():
    """Python's own SIGINT handler for the test (CI and nohup start processes
    with SIGINT ignored); pytest restores nothing for us, so the caller's
    fixture below puts the old handler back."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _restore_sigint():
    old = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, old)


def test_sigint_raised_during_fit(tmp_path):
    _needs_default_sigint()
    x, y = _data()
    net = _model()
    with pytest.raises(KeyboardInterrupt):
        net.fit(x, y, batch_size=32, epochs=5, verbose=0,
                callbacks=[InterruptAt("on_batch_end", 2, 5, how="signal")])
    _check_usable_after_interrupt(net, x, y, tmp_path)


def test_sigint_from_another_thread_during_fit(tmp_path):
    """A real, asynchronous SIGINT (as from Ctrl-C) while fit is running: it
    lands wherever the main thread is, kernels included."""
    _needs_default_sigint()
    x, y = _data(n=2048, features=64)
    net = _model(features=64)
    fired = threading.Event()

    class SendOnce(callbacks.Callback):
        """Sends SIGINT from a helper thread once fit is surely running; stops
        training cleanly if it never arrives, so the test cannot hang."""
        seen = 0

        def on_batch_end(self, batch, logs=None):
            SendOnce.seen += 1
            if SendOnce.seen == 3:
                threading.Thread(target=lambda: (os.kill(os.getpid(), signal.SIGINT),
                                                 fired.set())).start()
            if SendOnce.seen > 50000:
                self.model.stop_training = True

    with pytest.raises(KeyboardInterrupt):
        net.fit(x, y, batch_size=32, epochs=100000, verbose=0, callbacks=[SendOnce()])
    assert fired.wait(10)
    _check_usable_after_interrupt(net, x[:256], y[:256], tmp_path)


# ---- saving failures --------------------------------------------------------

def _trained(tmp_path):
    x, y = _data()
    net = _model()
    net.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return net, x, y


def _no_temp_files(folder, keep):
    left = sorted(p.name for p in folder.iterdir() if p.name not in keep)
    assert not left, "files left behind by a failed save: %s" % left


def test_save_into_missing_folder_raises_oserror(tmp_path):
    net, x, y = _trained(tmp_path)
    target = tmp_path / "no" / "such" / "folder" / "model.npz"
    with pytest.raises(OSError):
        net.save(target)
    assert not target.exists() and not (tmp_path / "no").exists()


def test_save_into_read_only_folder_keeps_earlier_file(tmp_path):
    net, x, y = _trained(tmp_path)
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "model.npz"
    net.save(path)
    before = path.read_bytes()
    net.fit(x, y, batch_size=32, epochs=1, verbose=0)       # weights change
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("permissions are not enforced here (root): see "
                        "test_save_under_a_file_raises_oserror")
        with pytest.raises(OSError):
            net.save(path)
    finally:
        folder.chmod(0o755)
    assert path.read_bytes() == before
    _no_temp_files(folder, {"model.npz"})


def test_save_under_a_file_raises_oserror(tmp_path):
    """The root-proof way to make a folder unwritable: a path under a file."""
    net, x, y = _trained(tmp_path)
    blocker = tmp_path / "some_file"
    blocker.write_bytes(b"not a folder")
    with pytest.raises(OSError):
        net.save(blocker / "model.npz")
    assert blocker.read_bytes() == b"not a folder"
    _no_temp_files(tmp_path, {"some_file"})


def test_save_onto_a_folder_raises_oserror(tmp_path):
    net, x, y = _trained(tmp_path)
    target = tmp_path / "model.npz"
    target.mkdir()
    (target / "inside").write_bytes(b"keep")
    with pytest.raises(OSError):
        net.save(target)
    assert (target / "inside").read_bytes() == b"keep"
    _no_temp_files(tmp_path, {"model.npz"})


def test_save_failing_halfway_keeps_earlier_file(tmp_path, monkeypatch):
    net, x, y = _trained(tmp_path)
    path = tmp_path / "model.npz"
    net.save(path)
    before = path.read_bytes()
    want = net.predict(x[:5])
    net.fit(x, y, batch_size=32, epochs=1, verbose=0)

    def disk_full(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError):
        net.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    _no_temp_files(tmp_path, {"model.npz"})
    assert _bit_equal(models.load_model(path).predict(x[:5]), want)


# ---- loading damaged files ----------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    net, x, y = _trained(tmp_path)
    path = tmp_path / "model.npz"
    net.save(path)
    return path, path.read_bytes()


@pytest.mark.parametrize("keep", [0, 1, 22, 100, 0.25, 0.5, 0.9, -1])
def test_load_truncated_file_raises_valueerror(saved, tmp_path, keep):
    path, raw = saved
    n = keep if isinstance(keep, int) and keep >= 0 else (
        len(raw) - 1 if keep == -1 else int(len(raw) * keep))
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(raw[:n])
    with pytest.raises(ValueError):
        models.load_model(bad)


def _member_spans(path):
    """(name, first data byte, size) of every array stored in the file."""
    spans = []
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            off = info.header_offset
            name_len = int.from_bytes(raw[off + 26:off + 28], "little")
            extra_len = int.from_bytes(raw[off + 28:off + 30], "little")
            spans.append((info.filename, off + 30 + name_len + extra_len,
                          info.compress_size))
    return spans


def test_load_file_with_a_flipped_byte_raises_valueerror(saved, tmp_path):
    path, raw = saved
    # the middle of the file, and the middle of every stored array
    positions = [len(raw) // 2] + [start + size // 2 for _, start, size in _member_spans(path)]
    assert len(positions) >= 5
    for pos in positions:
        bad = bytearray(raw)
        bad[pos] ^= 0x10
        edited = tmp_path / "flipped.npz"
        edited.write_bytes(bytes(bad))
        with pytest.raises(ValueError):
            models.load_model(edited)


def _rewrite(path, out, edit_config=None, edit_arrays=None):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    if edit_config is not None:
        cfg = json.loads(str(arrays["config"][()]))
        edit_config(cfg)
        arrays["config"] = np.array(json.dumps(cfg))
    if edit_arrays is not None:
        edit_arrays(arrays)
    with open(out, "wb") as f:
        np.savez(f, **arrays)
    return out


def _layer(cfg, i):
    return cfg["config"]["layers"][i]["config"]


CONFIG_EDITS = {
    "units not a number": lambda c: _layer(c, 0).update(units="abc"),
    "units negative": lambda c: _layer(c, 0).update(units=-5),
    "units fractional": lambda c: _layer(c, 0).update(units=8.5),
    "unknown activation": lambda c: _layer(c, 1).update(activation="nope"),
    "unknown initializer": lambda c: _layer(c, 1).update(kernel_initializer="bogus"),
    "unknown layer class": lambda c: c["config"]["layers"][0].update(class_name="Conv2D"),
    "layers not a list": lambda c: c["config"].update(layers="nonsense"),
    "unknown layer argument": lambda c: _layer(c, 1).update(bogus_arg=1),
    "use_bias changed": lambda c: _layer(c, 1).update(use_bias=False),
    "batch_input_shape contradicts the weights":
        lambda c: _layer(c, 0).update(batch_input_shape=[None, 7]),
    "n_weights too many": lambda c: c.update(n_weights=10),
    "n_weights too few": lambda c: c.update(n_weights=2),
    "unknown loss": lambda c: c["compile"].update(loss="nonsense"),
    "unknown metric": lambda c: c["compile"].update(metrics=["nonsense"]),
    "unknown optimizer": lambda c: c["compile"]["optimizer"].update(class_name="Nonsense"),
    "learning rate not a number": lambda c: c["compile"]["optimizer"]["config"].update(
        learning_rate="fast"),
    "iterations negative": lambda c: c["optimizer_state"].update(iterations=-3),
    "iterations not a number": lambda c: c["optimizer_state"].update(iterations="many"),
    "optimizer arrays missing": lambda c: c["optimizer_state"].update(n_arrays=5),
    "format version": lambda c: c.update(format_version=99),
    "format tag": lambda c: c.update(format="other"),
    "duplicate layer names": lambda c: _layer(c, 1).update(name=_layer(c, 0)["name"]),
}

ARRAY_EDITS = {
    "config not JSON": lambda a: a.update(config=np.array("nonsense")),
    "config a JSON list": lambda a: a.update(config=np.array("[]")),
    "config a number": lambda a: a.update(config=np.array(5.0)),
    "config missing": lambda a: a.pop("config"),
    "weight float64": lambda a: a.update(weight_0=a["weight_0"].astype(np.float64)),
    "weight wrong shape": lambda a: a.update(weight_0=a["weight_0"][:2]),
    "weight missing": lambda a: a.pop("weight_0"),
    "optimizer state wrong size": lambda a: a.update(
        optimizer_state_0=a["optimizer_state_0"][:5]),
}

# Edits that load today although the file no longer agrees with itself
# (found by this suite; fastdense/models.py, layers.py):
CONFIG_GAPS_FIXED = {
    # once accepted silently, now ValueErrors: kept as their own cases
    "input_shape wrong": lambda c: c.update(input_shape=[999]),
    "input_shape not a number": lambda c: c.update(input_shape=["x"]),
    "input_shape not a list": lambda c: c.update(input_shape=7),
    "use_bias not a boolean": lambda c: _layer(c, 1).update(use_bias="maybe"),
}


@pytest.mark.parametrize("edit", sorted(CONFIG_EDITS))
def test_load_edited_config_raises_valueerror(saved, tmp_path, edit):
    path, _ = saved
    bad = _rewrite(path, tmp_path / "edited.npz", edit_config=CONFIG_EDITS[edit])
    with pytest.raises(ValueError):
        models.load_model(bad)


@pytest.mark.parametrize("edit", sorted(ARRAY_EDITS))
def test_load_edited_arrays_raises_valueerror(saved, tmp_path, edit):
    path, _ = saved
    bad = _rewrite(path, tmp_path / "edited.npz", edit_arrays=ARRAY_EDITS[edit])
    with pytest.raises(ValueError):
        models.load_model(bad)


@pytest.mark.parametrize("edit", sorted(CONFIG_GAPS_FIXED))
def test_load_config_with_bad_input_dim_or_use_bias(saved, tmp_path, edit):
    path, _ = saved
    bad = _rewrite(path, tmp_path / "edited.npz", edit_config=CONFIG_GAPS_FIXED[edit])
    with pytest.raises(ValueError):
        models.load_model(bad)


def test_unedited_rewrite_still_loads(saved, tmp_path):
    """The control for the edit tests: rewriting without an edit is fine."""
    path, _ = saved
    same = _rewrite(path, tmp_path / "same.npz", edit_config=lambda c: None)
    x, _ = _data()
    assert _bit_equal(models.load_model(same).predict(x), models.load_model(path).predict(x))


# ---- TerminateOnNaN ------------------------------------------------------------

def _terminate_run(net, x, y, capsys, batch_size=32, epochs=5):
    rec = Recorder()
    hist = net.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=False,
                   callbacks=[rec, callbacks.TerminateOnNaN()])
    out = capsys.readouterr().out
    return hist, rec, out


def test_terminate_on_nan_from_nan_inputs(capsys):
    x, y = _data()
    x[5 * 32 + 7, 3] = np.nan                    # batch 5 of the first epoch
    net = _model()
    hist, rec, out = _terminate_run(net, x, y, capsys)
    assert "Batch 5: Invalid loss, terminating training" in out
    assert rec.batches[-1][:2] == (0, 5)         # nothing ran after the bad batch
    assert all(np.isfinite(l) for _, _, l in rec.batches[:-1])
    assert not np.isfinite(rec.batches[-1][2])
    assert net.stop_training
    assert len(hist.history["loss"]) == 1        # the epoch loop stopped too


def test_terminate_on_nan_from_exploding_learning_rate(capsys):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((512, 20)).astype(np.float32) * 10
    y = rng.standard_normal((512, 3)).astype(np.float32)
    utils.set_random_seed(1)
    net = models.Sequential()
    net.add(layers.Dense(32, activation="relu", input_shape=(20,)))
    net.add(layers.Dense(3))
    net.compile(optimizer=optimizers.SGD(learning_rate=1e6), loss="mse")
    hist, rec, out = _terminate_run(net, x, y, capsys, epochs=50)
    bad = [(e, b) for e, b, l in rec.batches if not np.isfinite(l)]
    assert bad, "the loss never became NaN/inf: the test lost its point"
    first = bad[0]
    assert rec.batches[-1][:2] == first          # stopped at the first bad batch
    assert "Batch %d: Invalid loss, terminating training" % first[1] in out
    assert out.count("Invalid loss") == 1
    assert len(hist.history["loss"]) == first[0] + 1
