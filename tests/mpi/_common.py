"""Helpers of the scripts that tests/test_distributed.py runs under mpiexec.

Each script calls ``fastdense.distributed.init()``, so the same script also
runs as a plain ``python`` process (a world of one): that run is the
single-process reference the tests compare against.  Results go to
``OUTDIR/<name>.rank<r>.npz`` (arrays) and ``.json`` (everything else).
"""
import contextlib
import io
import json
import os
import sys
import zlib

import numpy as np

import fastdense.distributed as dist
from fastdense import callbacks, layers, models, optimizers, utils


def outdir():
    return sys.argv[1]


def path(name, ext):
    return os.path.join(outdir(), "%s.rank%d.%s" % (name, dist.rank(), ext))


def write(name, result, arrays=None):
    with open(path(name, "json"), "w") as f:
        json.dump(result, f, sort_keys=True, default=float)
    if arrays is not None:
        np.savez(path(name, "npz"), **{"a%d" % i: a for i, a in enumerate(arrays)})


def dataset(n, features=12, classes=3, seed=0):
    """A learnable synthetic problem: labels from a random linear rule."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    w = rng.standard_normal((features, classes))
    labels = np.argmax(x @ w + 0.5 * rng.standard_normal((n, classes)), axis=1)
    return x, labels


def network(features=12, classes=3, hidden=16, optimizer="rmsprop",
            loss="categorical_crossentropy", regularizer=None):
    net = models.Sequential()
    net.add(layers.Dense(hidden, activation="relu", input_shape=(features,),
                         kernel_regularizer=regularizer))
    net.add(layers.Dense(classes, activation="softmax"))
    net.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return net


def weights_crc(net):
    crc = 0
    for w in net.get_weights():
        crc = zlib.crc32(np.ascontiguousarray(w).tobytes(), crc)
    return crc


class StepCRCs(callbacks.Callback):
    """The CRC of all weights after every step (bit-identity across ranks)."""

    def __init__(self):
        super().__init__()
        self.crcs = []

    def on_train_batch_end(self, batch, logs=None):
        self.crcs.append(weights_crc(self.model))


@contextlib.contextmanager
def captured():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield buf


def history_of(h):
    return {k: [float(v) for v in vals] for k, vals in h.history.items()}
