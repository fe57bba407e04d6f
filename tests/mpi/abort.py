"""An error on one rank after the agreement ends every rank (MPI_Abort), never a hang.

mpiexec -n 2 python tests/mpi/abort.py MODE
  callback_raises      rank 1's callback raises RuntimeError in epoch 2
  keyboard_interrupt   rank 1 gets SIGINT (Ctrl-C) in the middle of an epoch
  uncaught_before_fit  rank 1's script raises before fit; rank 0 waits in fit
  evaluate_raises      rank 1 raises inside evaluate, after its agreement
  uncaught_mismatch    the ranks disagree on batch_size and nobody catches the
                       ValueError: every rank exits with it (no abort needed)
Each rank prints "DONE" only if it got through: the test expects a non-zero
exit, the message on stderr, and no DONE.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastdense.distributed as dist  # noqa: E402
from fastdense import callbacks, utils  # noqa: E402
from _common import dataset, network  # noqa: E402

mode = sys.argv[1]
dist.init()
R = dist.rank()
utils.set_random_seed(3)
x, labels = dataset(400)
y = utils.to_categorical(labels, 3)
net = network()


class Fail(callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if mode == "callback_raises" and R == 1 and epoch == 1:
            raise RuntimeError("boom from a callback on rank 1")

    def on_batch_end(self, batch, logs=None):
        if mode == "keyboard_interrupt" and R == 1 and batch == 3:
            os.kill(os.getpid(), signal.SIGINT)


if mode == "uncaught_before_fit" and R == 1:
    raise FileNotFoundError("rank 1 could not read its data file")
if mode == "evaluate_raises":
    from fastdense.engine import training

    original = training.batch_sums

    def failing(*args, **kwargs):
        if R == 1 and kwargs.get("grad") is None:      # evaluate, not a step
            raise MemoryError("rank 1 ran out of memory in evaluate")
        return original(*args, **kwargs)

    training.batch_sums = failing
    net.evaluate(x, y, verbose=0)
if mode == "uncaught_mismatch":
    net.fit(x, y, batch_size=8 + R, verbose=0)
net.fit(x, y, batch_size=8, epochs=50, callbacks=[Fail()], verbose=0)
print("DONE rank %d" % R, flush=True)
