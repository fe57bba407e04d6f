"""Callbacks, the Keras way (Keras 2.3.1 semantics).

History, EarlyStopping, TerminateOnNaN, LambdaCallback, ModelCheckpoint,
ReduceLROnPlateau, LearningRateScheduler, CSVLogger.

A Callback gets ``set_model``/``set_params`` and the usual hooks
(``on_train_begin/end``, ``on_epoch_begin/end``, ``on_batch_begin/end`` and
their ``on_train_batch_*`` twins).  Epoch logs are a ``LogsDict``: the keys are
the names the user gave (``loss``, ``accuracy``, ``val_loss``,
``val_accuracy``) and the Keras 2 spellings ``acc``/``val_acc`` answer too
(and the other way round).  ReduceLROnPlateau and LearningRateScheduler add
``lr`` (the optimizer's learning rate) to the epoch logs, as Keras does, so
callbacks after them (History, CSVLogger) record it.

The learning rate is ``model.optimizer.learning_rate`` (or ``.lr``), a plain
float attribute: callbacks read it and assign to it (Keras 2.3.1's
``K.set_value(model.optimizer.lr, x)``).  An optimizer driven by a schedule
refuses the assignment with a TypeError.

Data-parallel training runs every callback on every rank (so that their
decisions, which depend only on the global logs, agree), but only the main
process writes files or prints: every write and print is behind
``_is_main_process()``.

``mode='auto'`` picks "max" for monitors containing ``acc`` or starting with
``fmeasure`` (Keras 2.3.1's rule) and also for ``auc``, ``precision`` and
``recall`` (their ``val_`` forms too), which Keras 2.3.1 had no built-in
metrics for; everything else is minimised.
"""
import csv
import inspect
import numbers
import os
import warnings

import numpy as np

__all__ = ["Callback", "History", "EarlyStopping", "TerminateOnNaN",
           "LambdaCallback", "LogsDict", "ModelCheckpoint", "ReduceLROnPlateau",
           "LearningRateScheduler", "CSVLogger"]

_ALIASES = {"acc": "accuracy", "accuracy": "acc",
            "val_acc": "val_accuracy", "val_accuracy": "val_acc"}


def _is_main_process():
    """True where files may be written and messages printed: in a
    data-parallel fit only on the main rank (rank 0); True in a single
    process.  [distributed] asks fastdense.distributed."""
    from . import distributed
    return distributed.is_main()


def _say(message):
    if _is_main_process():
        print(message)


def _maximises(monitor):
    """mode='auto': is a larger ``monitor`` better?"""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    return ("acc" in monitor or monitor.startswith("fmeasure")
            or name.startswith(("auc", "precision", "recall")))


def _check_mode(cls, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError("%s mode must be 'auto', 'min' or 'max', got %r" % (cls, mode))
    return mode


def _lr_of(model, cls):
    opt = getattr(model, "optimizer", None)
    if opt is None or not hasattr(opt, "learning_rate"):
        raise ValueError("%s needs a compiled model whose optimizer has a learning "
                         "rate (model.optimizer.learning_rate)" % cls)
    return opt


class LogsDict(dict):
    """A dict where 'acc' and 'accuracy' (and their val_ forms) are one key."""

    def _key(self, key):
        if not dict.__contains__(self, key) and key in _ALIASES \
                and dict.__contains__(self, _ALIASES[key]):
            return _ALIASES[key]
        return key

    def __getitem__(self, key):
        return dict.__getitem__(self, self._key(key))

    def __contains__(self, key):
        return dict.__contains__(self, self._key(key))

    def get(self, key, default=None):
        return dict.get(self, self._key(key), default)

    def __setitem__(self, key, value):
        dict.__setitem__(self, self._key(key), value)

    def __delitem__(self, key):
        dict.__delitem__(self, self._key(key))

    def copy(self):
        return LogsDict(self)


class Callback:
    """Base class: override the hooks you need."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass


class History(Callback):
    """Records the epoch logs: ``history.history['loss']`` etc."""

    def __init__(self):
        super().__init__()
        self.epoch = []
        self.history = LogsDict()

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = LogsDict()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0,
                 mode="auto", baseline=None, restore_best_weights=False):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError("EarlyStopping mode must be 'auto', 'min' or 'max', got %r"
                             % (mode,))
        if patience < 0:
            raise ValueError("EarlyStopping patience must be >= 0, got %r" % (patience,))
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.wait = 0
        self.stopped_epoch = 0
        if mode == "min" or (mode == "auto" and not _maximises(monitor)):
            self.monitor_op = np.less
            self.min_delta *= -1
        else:
            self.monitor_op = np.greater

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        if self.baseline is not None:
            self.best = self.baseline
        else:
            self.best = np.inf if self.monitor_op == np.less else -np.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if isinstance(logs, LogsDict) else LogsDict(logs or {})
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn("Early stopping conditioned on metric `%s` which is not "
                          "available. Available metrics are: %s"
                          % (self.monitor, ",".join(logs)), RuntimeWarning)
            return
        if self.monitor_op(current - self.min_delta, self.best):
            self.best = current
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                if self.restore_best_weights and self.best_weights is not None:
                    if self.verbose > 0:
                        _say("Restoring model weights from the end of the best epoch")
                    self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _say("Epoch %05d: early stopping" % (self.stopped_epoch + 1))


class TerminateOnNaN(Callback):
    """Stop training as soon as the batch loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            _say("Batch %d: Invalid loss, terminating training" % batch)
            self.model.stop_training = True


class LambdaCallback(Callback):
    """Callback from plain functions: on_epoch_end=lambda epoch, logs: ..."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None,
                 on_batch_end=None, on_train_begin=None, on_train_end=None):
        super().__init__()
        noop2 = lambda a, b: None
        noop1 = lambda a: None
        self.on_epoch_begin = on_epoch_begin or noop2
        self.on_epoch_end = on_epoch_end or noop2
        self.on_batch_begin = on_batch_begin or noop2
        self.on_batch_end = on_batch_end or noop2
        self.on_train_begin = on_train_begin or noop1
        self.on_train_end = on_train_end or noop1


def _format_logs(logs):
    """The epoch logs for str.format, every key under both its spellings
    (``{val_acc:.2f}`` works when the metric was named 'accuracy')."""
    out = dict(logs or {})
    for k, alt in _ALIASES.items():
        if k in out and alt not in out:
            out[alt] = out[k]
    return out


class ModelCheckpoint(Callback):
    """Save the model after every epoch (Keras 2.3.1).

    ``filepath`` may hold ``{epoch:02d}`` (1-based, as Keras) and any log key,
    e.g. ``"weights.{epoch:02d}-{val_loss:.2f}.fdm"``.  With
    ``save_best_only`` the file is written only when ``monitor`` improves on
    the best value seen so far (the best carries over to a later fit of the
    same callback, as in Keras).  ``save_weights_only`` calls
    ``model.save_weights(path)``, else ``model.save(path)``.  ``period``:
    every that many epochs; ``save_freq``: ``'epoch'`` or, as tf.keras, an
    int number of batches (the logs are then the batch's).
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", period=1, save_freq="epoch"):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        mode = _check_mode("ModelCheckpoint", mode)
        if isinstance(period, bool) or not isinstance(period, numbers.Integral) \
                or period < 1:
            raise ValueError("ModelCheckpoint period must be a whole number of epochs "
                             ">= 1, got %r" % (period,))
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(
                save_freq, numbers.Integral) or save_freq < 1):
            raise ValueError("ModelCheckpoint save_freq must be 'epoch' or a number of "
                             "batches >= 1, got %r" % (save_freq,))
        self.period = int(period)
        self.save_freq = save_freq
        self.epochs_since_last_save = 0
        self._batches_since_last_save = 0
        self._epoch = 0
        if mode == "max" or (mode == "auto" and _maximises(monitor)):
            self.monitor_op, self.best = np.greater, -np.inf
        else:
            self.monitor_op, self.best = np.less, np.inf

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self.save_freq == "epoch":
            return
        self._batches_since_last_save += 1
        if self._batches_since_last_save >= self.save_freq:
            self._batches_since_last_save = 0
            self._save(self._epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq != "epoch":
            return
        self.epochs_since_last_save += 1
        if self.epochs_since_last_save >= self.period:
            self.epochs_since_last_save = 0
            self._save(epoch, logs)

    def _filepath(self, epoch, logs):
        try:
            return self.filepath.format(epoch=epoch + 1, **_format_logs(logs))
        except (KeyError, IndexError, ValueError) as exc:
            raise KeyError("failed to format the ModelCheckpoint filepath %r: %s: %s "
                           "(the keys available are epoch and %s)"
                           % (self.filepath, type(exc).__name__, exc,
                              ", ".join(sorted(_format_logs(logs))))) from exc

    def _write(self, filepath):
        if not _is_main_process():
            return
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)

    def _save(self, epoch, logs):
        logs = logs if isinstance(logs, LogsDict) else LogsDict(logs or {})
        filepath = self._filepath(epoch, logs)
        if not self.save_best_only:
            if self.verbose > 0:
                _say("\nEpoch %05d: saving model to %s" % (epoch + 1, filepath))
            self._write(filepath)
            return
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn("Can save best model only with %s available, skipping."
                          % self.monitor, RuntimeWarning)
            return
        if self.monitor_op(current, self.best):
            if self.verbose > 0:
                _say("\nEpoch %05d: %s improved from %0.5f to %0.5f, saving model to %s"
                     % (epoch + 1, self.monitor, self.best, current, filepath))
            self.best = current
            self._write(filepath)
        elif self.verbose > 0:
            _say("\nEpoch %05d: %s did not improve from %0.5f"
                 % (epoch + 1, self.monitor, self.best))


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not
    improved by ``min_delta`` for ``patience`` epochs, then wait ``cooldown``
    epochs; never below ``min_lr`` (Keras 2.3.1; ``epsilon=`` is the old name
    of ``min_delta``).  Adds ``lr`` to the epoch logs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0,
                 mode="auto", min_delta=1e-4, cooldown=0, min_lr=0, **kwargs):
        super().__init__()
        if "epsilon" in kwargs:
            min_delta = kwargs.pop("epsilon")
            warnings.warn("ReduceLROnPlateau epsilon is deprecated: use min_delta",
                          DeprecationWarning)
        if kwargs:
            raise TypeError("ReduceLROnPlateau got unexpected arguments %s"
                            % ", ".join(sorted(kwargs)))
        if not factor < 1.0:
            raise ValueError("ReduceLROnPlateau does not support a factor >= 1.0")
        if patience < 0 or cooldown < 0 or min_lr < 0:
            raise ValueError("ReduceLROnPlateau patience, cooldown and min_lr must be "
                             ">= 0")
        self.monitor = monitor
        self.factor = float(factor)
        self.min_lr = float(min_lr)
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.mode = _check_mode("ReduceLROnPlateau", mode)
        self.cooldown_counter = 0
        self.wait = 0
        self._reset()

    def _reset(self):
        if self.mode == "min" or (self.mode == "auto" and not _maximises(self.monitor)):
            self.monitor_op = lambda a, b: np.less(a, b - self.min_delta)
            self.best = np.inf
        else:
            self.monitor_op = lambda a, b: np.greater(a, b + self.min_delta)
            self.best = -np.inf
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            logs = LogsDict()
        opt = _lr_of(self.model, "ReduceLROnPlateau")
        logs["lr"] = float(opt.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn("Reduce LR on plateau conditioned on metric `%s` which is not "
                          "available. Available metrics are: %s"
                          % (self.monitor, ",".join(logs)), RuntimeWarning)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(opt.learning_rate)
                if old_lr > self.min_lr:
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    opt.learning_rate = new_lr
                    if self.verbose > 0:
                        _say("\nEpoch %05d: ReduceLROnPlateau reducing learning rate "
                             "to %s." % (epoch + 1, new_lr))
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


def _takes_lr(schedule):
    """Does ``schedule`` take (epoch, lr) rather than (epoch)?"""
    try:
        params = inspect.signature(schedule).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                  p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


class LearningRateScheduler(Callback):
    """At the start of each epoch set the learning rate to ``schedule(epoch,
    lr)`` (or ``schedule(epoch)``), epoch counted from 0, lr the current rate
    (Keras 2.3.1).  Adds ``lr`` to the epoch logs."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise ValueError("LearningRateScheduler needs a function schedule(epoch, lr) "
                             "or schedule(epoch), got %r" % (schedule,))
        self.schedule = schedule
        self.verbose = verbose
        self._two_args = _takes_lr(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        opt = _lr_of(self.model, "LearningRateScheduler")
        lr = float(opt.learning_rate)
        lr = self.schedule(epoch, lr) if self._two_args else self.schedule(epoch)
        if isinstance(lr, bool) or not isinstance(lr, (numbers.Real, np.floating)):
            raise ValueError('The output of the "schedule" function should be a float, '
                             "got %r" % (lr,))
        opt.learning_rate = float(lr)
        if self.verbose > 0:
            _say("\nEpoch %05d: LearningRateScheduler setting learning rate to %s."
                 % (epoch + 1, float(lr)))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """One CSV row per epoch: ``epoch`` (from 0, as Keras writes it), then the
    epoch log keys in sorted order (``val_`` columns included, ``lr`` when a
    callback before this one adds it), fixed by the first epoch; a key
    missing later is written ``NA``.  ``append=True`` continues an existing
    file (no second header).

    The file is appended to and closed at every epoch rather than rewritten
    atomically: a log that grows by one row per epoch is an append (an atomic
    rewrite per epoch costs O(epochs^2) and hides the file from ``tail -f``),
    every finished epoch is on disk even if training dies later, and no file
    handle stays open when ``fit`` raises."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = bool(append)
        self.keys = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        self.keys = None
        self.append_header = True
        if not _is_main_process():
            return
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r", newline="") as f:
                    self.append_header = not bool(len(f.readline()))
        else:
            with open(self.filename, "w", newline=""):
                pass

    @staticmethod
    def _value(v):
        if isinstance(v, str):
            return v
        if isinstance(v, np.ndarray) and v.ndim == 0:
            return v.item()
        if isinstance(v, (list, tuple, np.ndarray)):
            return "[%s]" % ", ".join(map(str, np.asarray(v).ravel().tolist()))
        return v

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if isinstance(logs, LogsDict) else LogsDict(logs or {})
        if self.keys is None:
            self.keys = sorted(logs.keys())
        if not _is_main_process():
            return
        row = {"epoch": epoch}
        row.update((k, self._value(logs[k]) if k in logs else "NA") for k in self.keys)

        class Dialect(csv.excel):
            delimiter = self.sep

        with open(self.filename, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["epoch"] + self.keys, dialect=Dialect,
                                    extrasaction="ignore")
            if self.append_header:
                writer.writeheader()
                self.append_header = False
            writer.writerow(row)


from ._unsupported import explain_keywords as _explain_keywords  # noqa: E402
_explain_keywords(globals())
