"""Callbacks, the Keras way: History, EarlyStopping, TerminateOnNaN.

A Callback gets ``set_model``/``set_params`` and the usual hooks
(``on_train_begin/end``, ``on_epoch_begin/end``, ``on_batch_begin/end`` and
their ``on_train_batch_*`` twins).  Epoch logs are a ``LogsDict``: the keys are
the names the user gave (``loss``, ``accuracy``, ``val_loss``,
``val_accuracy``) and the Keras 2 spellings ``acc``/``val_acc`` answer too
(and the other way round).
"""
import numpy as np

__all__ = ["Callback", "History", "EarlyStopping", "TerminateOnNaN",
           "LambdaCallback", "LogsDict"]

_ALIASES = {"acc": "accuracy", "accuracy": "acc",
            "val_acc": "val_accuracy", "val_accuracy": "val_acc"}


def _is_main_process():
    """True where files may be written and messages printed: in a
    data-parallel fit only on the main rank (rank 0); True in a single
    process.  [distributed] asks fastdense.distributed."""
    from . import distributed
    return distributed.is_main()


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
        if mode == "min" or (mode == "auto" and "acc" not in monitor):
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
            import warnings
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
                        print("Restoring model weights from the end of the best epoch")
                    self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print("Epoch %05d: early stopping" % (self.stopped_epoch + 1))


class TerminateOnNaN(Callback):
    """Stop training as soon as the batch loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print("Batch %d: Invalid loss, terminating training" % batch)
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
