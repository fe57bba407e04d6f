"""Data-parallel fits against the same script as one process (see _common).

python tests/mpi/fit_cases.py OUTDIR            # the single-process reference
mpiexec -n 2 python tests/mpi/fit_cases.py OUTDIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import fastdense.distributed as dist  # noqa: E402
from fastdense import optimizers, utils  # noqa: E402
from _common import (StepCRCs, captured, dataset, history_of, network, path,  # noqa: E402
                     write)

dist.init()
x_test, l_test = dataset(101, seed=7)
y_test = utils.to_categorical(l_test, 3)


def case(name, n, batch_size, epochs=2, shuffle=True, step_crcs=False, optimizer="rmsprop",
         loss="categorical_crossentropy", validation_split=0.0, validation_data=False,
         sample_weight=False, regularizer=None, verbose=0):
    utils.set_random_seed(1234)
    x, labels = dataset(n)
    sparse = loss.startswith("sparse")
    y = labels if sparse else utils.to_categorical(labels, 3)
    yt = l_test if sparse else y_test
    net = network(optimizer=optimizer, loss=loss, regularizer=regularizer)
    cbs = [StepCRCs()] if step_crcs else []
    kw = {}
    if validation_data:
        kw["validation_data"] = (x_test[:50], yt[:50])
    if sample_weight:
        kw["sample_weight"] = np.linspace(0.5, 2.0, n).astype(np.float32)
    with captured() as out:
        h = net.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=shuffle,
                    validation_split=validation_split, callbacks=cbs, verbose=verbose, **kw)
    with captured() as out_eval:
        ev = net.evaluate(x_test, yt, batch_size=17, verbose=1 if verbose else 0)
    write(name, {"history": history_of(h), "evaluate": [float(v) for v in ev],
                 "crcs": cbs[0].crcs if step_crcs else None, "stdout": out.getvalue(),
                 "stdout_evaluate": out_eval.getvalue(),
                 "iterations": net.optimizer.iterations, "size": dist.size()},
          net.get_weights())
    return net


case("even", 256, 32, step_crcs=True, verbose=2)
case("odd", 203, 31, step_crcs=True)
case("last_row", 21, 5, epochs=3)             # the last batch has one row: rank 1 gets none
case("batch1", 9, 1)                          # rank 1 never gets a row
case("noshuffle_split", 200, 40, shuffle=False, validation_split=0.2)
case("sgd_momentum_sparse_val", 150, 50, optimizer=optimizers.SGD(0.05, momentum=0.9),
     loss="sparse_categorical_crossentropy", validation_data=True)
case("adam_mse", 120, 24, optimizer="adam", loss="mse")
case("sgd_long", 300, 30, epochs=4, optimizer="sgd")
try:
    from fastdense import regularizers
except ImportError:
    pass
else:
    case("l2", 160, 32, regularizer=regularizers.l2(0.01))

# Dropout: masks are counted by (step, element of the GLOBAL batch), so each
# rank's slice draws the masks one process would: the single-process fit
utils.set_random_seed(8)
x, labels = dataset(128)
from fastdense import layers, models  # noqa: E402
net = models.Sequential([layers.Dense(16, activation="relu", input_shape=(12,)),
                         layers.Dropout(0.3), layers.Dense(3, activation="softmax")])
net.compile("rmsprop", "categorical_crossentropy", ["accuracy"])
h = net.fit(x, utils.to_categorical(labels, 3), batch_size=32, epochs=2, verbose=0)
ev = net.evaluate(x_test, y_test, verbose=0)
write("dropout", {"history": history_of(h), "evaluate": [float(v) for v in ev],
                  "size": dist.size(), "iterations": net.optimizer.iterations},
      net.get_weights())

# train_on_batch: the same batch on every rank, split across them
utils.set_random_seed(99)
x, labels = dataset(33)
net = network()
results = [net.train_on_batch(x, utils.to_categorical(labels, 3)) for _ in range(3)]
write("train_on_batch", {"results": [[float(v) for v in r] for r in results],
                         "size": dist.size()}, net.get_weights())

# sharded data: rank r holds rows such that its slices of the (unshuffled) global
# batches are the rows one process takes: the same fit to float rounding
utils.set_random_seed(5)
n, batch = 240, 40
x, labels = dataset(n)
y = utils.to_categorical(labels, 3)
if dist.size() > 1:
    dist.init(data="sharded")
    half = batch // dist.size()
    rows = np.concatenate([np.arange(s, s + batch)[dist.rank() * half:(dist.rank() + 1) * half]
                           for s in range(0, n, batch)])
    x, y = x[rows], y[rows]
net = network()
h = net.fit(x, y, batch_size=batch, epochs=2, shuffle=False, verbose=0)
ev = net.evaluate(x_test, y_test, verbose=0)   # sharded evaluate: each rank its own rows
write("sharded", {"history": history_of(h), "evaluate": [float(v) for v in ev],
                  "size": dist.size()}, net.get_weights())
# sharded train_on_batch: each rank passes its part of the batch
xb, yb = x_test[:40], y_test[:40]
if dist.size() > 1:
    part = dist.local_slice(40)
    xb, yb = xb[part], yb[part]
results = [net.train_on_batch(xb, yb) for _ in range(2)]
dist.init(data="replicated")
write("sharded_train_on_batch", {"results": [[float(v) for v in r] for r in results],
                                 "size": dist.size()}, net.get_weights())

# files: rank 0 alone writes them
net.save(path("saved_model", "npz"))
net.save_weights(path("saved_weights", "npz"))
print("DONE rank %d of %d" % (dist.rank(), dist.size()), flush=True)
