"""The same fit with and without ``fastdense.distributed.init()``, as plain python.

python tests/mpi/world_of_one.py OUTDIR init|noinit
Writes OUTDIR/<mode>.npz (weights, predictions) and OUTDIR/<mode>.txt (stdout of
fit and evaluate); without mpiexec the two runs must be the same, bit for bit.
"""
import contextlib
import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

from fastdense import callbacks, utils  # noqa: E402
from _common import dataset, network  # noqa: E402

out_dir, mode = sys.argv[1], sys.argv[2]
if mode == "init":
    import fastdense.distributed as dist
    assert dist.init() == 1 and dist.size() == 1 and dist.rank() == 0 and dist.is_main()
    dist.barrier()
utils.set_random_seed(21)
x, labels = dataset(150)
y = utils.to_categorical(labels, 3)
net = network()
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    h = net.fit(x, y, batch_size=16, epochs=3, validation_split=0.2, verbose=1,
                callbacks=[callbacks.EarlyStopping(monitor="loss", patience=5)])
    ev = net.evaluate(x, y, verbose=1)
    print(h.history)
    print(ev)
net.save(os.path.join(out_dir, mode + ".model"))
np.savez(os.path.join(out_dir, mode + ".npz"), pred=net.predict(x), *net.get_weights())
with open(os.path.join(out_dir, mode + ".txt"), "w") as f:
    f.write(buf.getvalue())
