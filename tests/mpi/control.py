"""Collective errors, mismatches and stop flags at 2 ranks (see _common).

mpiexec -n 2 python tests/mpi/control.py OUTDIR: every scenario records what
each rank saw (exception type and message, history, weights CRC) in
OUTDIR/control.rank<r>.json; none may hang or end the job.
"""
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import fastdense.distributed as dist  # noqa: E402
from fastdense import callbacks, utils  # noqa: E402
from _common import dataset, history_of, network, weights_crc, write  # noqa: E402

dist.init()
R = dist.rank()
results = {"size": dist.size(), "rank": R, "local_slice": [dist.local_slice(7).start,
                                                          dist.local_slice(7).stop],
           "is_main_process": callbacks._is_main_process()}
dist.barrier()
x, labels = dataset(96)
y = utils.to_categorical(labels, 3)


def attempt(name, fn):
    """Run fn(); record the exception it raised (or None) and the model's state."""
    utils.set_random_seed(11)
    net = network()
    before = weights_crc(net)
    try:
        fn(net)
        error = None
    except Exception as exc:        # noqa: BLE001 - recorded for the test
        error = [type(exc).__name__, str(exc)]
    results[name] = {"error": error, "unchanged": weights_crc(net) == before,
                     "iterations": net.optimizer.iterations}


# --- the agreement: errors and mismatches raise on every rank, the model unchanged
attempt("mismatch_batch", lambda net: net.fit(x, y, batch_size=32 if R == 0 else 16,
                                              verbose=0))
attempt("mismatch_epochs", lambda net: net.fit(x, y, epochs=2 + R, verbose=0))


def seeds(net):
    utils.set_random_seed(1 + R)
    net.fit(x, y, verbose=0)


attempt("mismatch_seed", seeds)
attempt("mismatch_data", lambda net: net.fit(dataset(96, seed=R)[0], y, verbose=0))


def model_differs(net):
    other = network(hidden=16 + R)
    other.fit(x, y, verbose=0)


attempt("mismatch_model", model_differs)
attempt("bad_input_one_rank", lambda net: net.fit(x if R == 0 else x[:, :11], y, verbose=0))
attempt("bad_batch_one_rank", lambda net: net.fit(x, y, batch_size=0 if R == 1 else 8,
                                                  verbose=0))
attempt("bad_y_one_rank", lambda net: net.fit(x, y if R == 0 else y[:50], verbose=0))


def evaluate_weights_differ(net):
    if R == 1:
        net.layers[0].kernel[0, 0] += 1.0
    net.evaluate(x, y, verbose=0)


attempt("evaluate_weights_differ", evaluate_weights_differ)
attempt("evaluate_bad_input_one_rank",
        lambda net: net.evaluate(x, y if R == 0 else y[:, :2], verbose=0))


# --- after all that, the world still works
def normal(net):
    h = net.fit(x, y, batch_size=16, epochs=2, verbose=0)
    results["normal_history"] = history_of(h)
    results["normal_crc"] = weights_crc(net)


attempt("normal", normal)


# --- stopping: a flag raised on one rank stops every rank at the same point
class StopAt(callbacks.Callback):
    def __init__(self, epoch=None, batch=None):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.stop_training = True

    def on_batch_end(self, batch, logs=None):
        if self.current == 0 and batch == self.batch:
            self.model.stop_training = True


def stop_epoch(net):
    # only rank 1 has a callback (so only it asks for batch hooks): agreed by OR
    cbs = [StopAt(epoch=1)] if R == 1 else []
    h = net.fit(x, y, batch_size=16, epochs=5, callbacks=cbs, verbose=0)
    results["stop_epoch_history"] = history_of(h)
    results["stop_epoch_crc"] = weights_crc(net)


attempt("stop_epoch", stop_epoch)


def stop_batch(net):
    cbs = [StopAt(batch=3)] if R == 1 else [callbacks.Callback()]
    net.fit(x, y, batch_size=16, epochs=5, callbacks=cbs, verbose=0)
    results["stop_batch_crc"] = weights_crc(net)


attempt("stop_batch", stop_batch)


class BatchLogs(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs = []

    def on_batch_end(self, batch, logs=None):
        self.logs.append([float(logs["loss"]), float(logs["accuracy"]), int(logs["size"])])


def nan_stop(net):
    bad = x.copy()
    bad[37] = np.nan             # global batch 2 (rows 32:48); row 37 is in rank 0's slice
    logs = BatchLogs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()) as out:
            net.fit(bad, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                    callbacks=[callbacks.TerminateOnNaN(), logs])
    results["nan_batch_logs"] = logs.logs
    results["nan_printed"] = out.getvalue()


attempt("nan_stop", nan_stop)


def early_stopping(net):
    es = callbacks.EarlyStopping(monitor="val_loss", min_delta=0.02, patience=1,
                                 restore_best_weights=True)
    h = net.fit(x, y, batch_size=8, epochs=30, validation_split=0.25, callbacks=[es],
                verbose=0)
    results["early_history"] = history_of(h)
    results["early_crc"] = weights_crc(net)


attempt("early_stopping", early_stopping)


def nested_evaluate(net):
    seen = []
    cb = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(net.evaluate(x, y, verbose=0)))
    net.fit(x, y, batch_size=16, epochs=2, callbacks=[cb], verbose=0)
    results["nested_evaluate"] = [[float(v) for v in r] for r in seen]


attempt("nested", nested_evaluate)


# --- the callbacks that write files (ModelCheckpoint, CSVLogger) write on rank 0 only,
# and ReduceLROnPlateau changes the learning rate alike on every rank
def file_callbacks(net):
    base = os.path.join(sys.argv[1], "cb")
    cbs = [callbacks.ModelCheckpoint(base + ".ckpt.rank%d.npz" % R, monitor="loss",
                                     save_best_only=True, verbose=1),
           callbacks.CSVLogger(base + ".log.rank%d.csv" % R),
           callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0,
                                       min_delta=10.0, verbose=1)]
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()) as out:
        h = net.fit(x, y, batch_size=16, epochs=3, callbacks=cbs, verbose=0)
    results["file_callbacks_files"] = sorted(f for f in os.listdir(sys.argv[1])
                                             if f.startswith("cb."))
    results["file_callbacks_printed"] = out.getvalue()
    results["file_callbacks_lr"] = [float(v) for v in h.history["lr"]]
    results["file_callbacks_crc"] = weights_crc(net)


attempt("file_callbacks", file_callbacks)


# --- no allocation per step: the gradient sum works in place on the flat vector
def step_allocations(net):
    import tracemalloc
    from fastdense import layers, models
    big = models.Sequential([layers.Dense(256, activation="relu", input_shape=(200,)),
                             layers.Dense(3, activation="softmax")])
    big.compile("rmsprop", "categorical_crossentropy", ["accuracy"])
    xb = np.random.default_rng(0).standard_normal((640, 200)).astype(np.float32)
    yb = utils.to_categorical(np.arange(640) % 3, 3)
    seen = {}

    class Peak(callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 2:
                tracemalloc.reset_peak()
                seen["base"] = tracemalloc.get_traced_memory()[0]

        def on_train_batch_end(self, batch, logs=None):
            if batch == 8:
                seen["peak"] = tracemalloc.get_traced_memory()[1]

    tracemalloc.start()
    try:
        big.fit(xb, yb, batch_size=64, epochs=1, callbacks=[Peak()], verbose=0)
    finally:
        tracemalloc.stop()
    results["step_peak_bytes"] = seen["peak"] - seen["base"]
    results["flat_bytes"] = 4 * (200 * 256 + 256 + 256 * 3 + 3)


attempt("step_allocations", step_allocations)


# --- divergence: weights that drift apart are repaired from rank 0 (last: it switches
# the gradient sum to Reduce + Bcast for the rest of the process)
class Perturb(callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1 and R == 1:
            self.model.layers[0].kernel[0, 0] += 1e-3


def diverge(net):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = net.fit(x, y, batch_size=16, epochs=3, callbacks=[Perturb()], verbose=0)
    results["diverge_warnings"] = [str(w.message) for w in caught]
    results["diverge_crc"] = weights_crc(net)
    results["diverge_history"] = history_of(h)
    results["gradient_sum_after"] = dist._W.gradient_sum


attempt("diverge", diverge)
write("control", results)
print("DONE rank %d" % R, flush=True)
