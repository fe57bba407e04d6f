"""The contenders of the training rows: who trains, on what, and how a worker
process runs the ones that must be measured as users have them.

MNIST (the seed network: Dense 512 relu, Dense 10 softmax, RMSprop, batch 128):

* ``fastdense-c`` / ``fastdense-numpy``: ``models.Sequential.fit``, one
  epoch per call, on the C and on the NumPy backend;
* ``fastdense-c-dense``: the C backend with ``set_sparse_inputs('never')``,
  beside ``fastdense-c`` under ``'auto'`` (only where fastdense has
  ``set_sparse_inputs``): what sparse first-layer kernels give on MNIST;
* ``numpy-script``: the idiomatic NumPy script, ``numpy_mnist.py``;
* ``torch``: the same network and optimizer in PyTorch on the CPU;
* ``floor (BLAS products)``: the epoch's matrix products alone through
  NumPy's BLAS.

The names in :data:`BLAS_CONTENDERS` get their speed from NumPy's BLAS.
Where the environment sets ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``, each
runs twice: in a worker without the variables (the name itself: NumPy as
users have it) and in this process (the name + ``@env``).

IMDB (the book's 16-16-1 network, rmsprop, binary cross-entropy, batch 512,
on ``data.imdb_parts``): ``fastdense-csr`` trains from a
``scipy.sparse.csr_matrix``, ``numpy-imdb`` (``numpy_imdb.py``) from the
dense float32 array.  Each runs in its own worker so that its peak memory is
its own.  fastdense's row is gated by :func:`sparse_fit_support`, a feature
check (a tiny fit from CSR must give the dense fit's weights): it turns on by
itself in a build whose ``fit`` takes scipy.sparse input.
"""
import contextlib
import importlib.util
import os
import time

import numpy as np

from .. import _config
from . import data as _data
from .machine import memory_info
from .timing import LocalSampler, rand

F32 = np.float32

FASTDENSE_C = "fastdense-c"
FASTDENSE_C_DENSE = "fastdense-c-dense"
FASTDENSE_NUMPY = "fastdense-numpy"
SCRIPT = "numpy-script"
TORCH = "torch"
FLOOR = "floor (BLAS products)"
#: suffix of a contender measured with NumPy as the environment sets it
ENV = "@env"
#: contenders whose speed is NumPy's BLAS: measured as users have it
BLAS_CONTENDERS = (FASTDENSE_NUMPY, SCRIPT, FLOOR)

IMDB_FASTDENSE = "fastdense-csr"
IMDB_NUMPY = "numpy-imdb"

SPARSE_FIT_MISSING = "not available in this build: fit does not take scipy.sparse input"
SPARSE_MODES_MISSING = ("not available in this build: fastdense has no set_sparse_inputs "
                        "(sparse first-layer kernels)")


def base_name(name):
    return name[:-len(ENV)] if name.endswith(ENV) else name


# ---------------------------------------------------------------------------
# feature checks
# ---------------------------------------------------------------------------

def sparse_modes_available():
    """True when fastdense has ``set_sparse_inputs`` ('auto'/'always'/'never')."""
    import fastdense
    return hasattr(fastdense, "set_sparse_inputs")


def _set_sparse_mode(mode):
    if mode is not None:
        import fastdense
        fastdense.set_sparse_inputs(mode)


@contextlib.contextmanager
def sparse_mode_restored():
    """Put the sparse-input mode back as it was (or as the environment says)."""
    import fastdense
    getter = getattr(fastdense, "get_sparse_inputs", None)
    before = getter() if getter else os.environ.get("FASTDENSE_SPARSE_INPUTS", "auto")
    try:
        yield
    finally:
        if sparse_modes_available():
            try:
                fastdense.set_sparse_inputs(before)
            except ValueError:
                fastdense.set_sparse_inputs("auto")


def sparse_fit_support():
    """``(True, None)`` when ``fit`` takes a scipy.sparse CSR matrix and gives the
    dense fit's result; else ``(False, why)``.

    The check is a real one, not a version test: the same seeded 2-epoch fit
    of a 6-4-1 network on a 12 x 6 matrix with zeros, from the dense array
    and from its CSR form, then ``evaluate`` from CSR.
    """
    try:
        import scipy.sparse
    except ImportError:
        return False, ("scipy is not installed (pip install 'fastdense[sparse]'); the "
                       "fastdense contender trains from a scipy.sparse matrix")
    from .. import layers, models, utils
    rng = np.random.default_rng(5)
    x = rng.random((12, 6), dtype=F32)
    x[x < 0.6] = 0.0
    y = (rng.random((12, 1)) > 0.5).astype(F32)

    def trained(inp):
        utils.set_random_seed(3)
        net = models.Sequential()
        net.add(layers.Dense(4, activation="relu", input_shape=(6,)))
        net.add(layers.Dense(1, activation="sigmoid"))
        net.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
        net.fit(inp, y, epochs=2, batch_size=4, verbose=0)
        return net

    dense = trained(x)
    try:
        sparse = trained(scipy.sparse.csr_matrix(x))
        sparse.evaluate(scipy.sparse.csr_matrix(x), y, verbose=0)
    except (TypeError, ValueError) as exc:
        return False, "%s (fit: %s: %s)" % (SPARSE_FIT_MISSING, type(exc).__name__, exc)
    for wd, ws in zip(dense.get_weights(), sparse.get_weights()):
        if wd.shape != ws.shape or not np.allclose(wd, ws, rtol=1e-4, atol=1e-5):
            return False, ("fit took scipy.sparse input but its weights differ from the "
                           "dense fit's: the row would not be the same algorithm")
    return True, None


# ---------------------------------------------------------------------------
# MNIST trainers: epoch(x, y), predict(x), accuracy(x, y)
# ---------------------------------------------------------------------------

class FastdenseTrainer:
    def __init__(self, backend, seed, sparse=None):
        from .. import layers, models, utils
        self.backend, self.sparse = backend, sparse
        self.seed, self.epochs_done, self._utils = seed, 0, utils
        with _config.use_backend(backend):
            utils.set_random_seed(seed)
            net = models.Sequential()
            net.add(layers.Dense(512, activation="relu", input_shape=(784,)))
            net.add(layers.Dense(10, activation="softmax"))
            net.compile(optimizer="rmsprop", loss="categorical_crossentropy",
                        metrics=["accuracy"])
        self.net = net

    def epoch(self, x, y):
        # fastdense shuffles with one library-wide generator: reseed per epoch so that
        # both backends see the same batches however the contenders are interleaved
        self._utils.set_random_seed(self.seed * 1000 + self.epochs_done)
        self.epochs_done += 1
        _set_sparse_mode(self.sparse)
        with _config.use_backend(self.backend):
            self.net.fit(x, y, epochs=1, batch_size=128, verbose=0)

    def predict(self, x):
        _set_sparse_mode(self.sparse)
        with _config.use_backend(self.backend):
            return self.net.predict(x, batch_size=128)

    def accuracy(self, x, y):
        _set_sparse_mode(self.sparse)
        with _config.use_backend(self.backend):
            return float(self.net.evaluate(x, y, batch_size=128, verbose=0)[1])


class ScriptTrainer:
    """The idiomatic NumPy script (``numpy_mnist.NumpyMLP``)."""

    def __init__(self, seed):
        from .numpy_mnist import NumpyMLP
        self.net = NumpyMLP(seed=seed)

    def epoch(self, x, y):
        self.net.train_epoch(x, y, 128)

    def predict(self, x):
        return self.net.predict(x)

    def accuracy(self, x, y):
        return self.net.accuracy(x, y)


class TorchTrainer:
    """The same network and optimizer in PyTorch on the CPU (float32)."""

    def __init__(self, torch, seed, threads):
        self.torch = torch
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        nn = torch.nn
        self.net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
        for layer in (self.net[0], self.net[2]):
            nn.init.xavier_uniform_(layer.weight)      # = glorot_uniform
            nn.init.zeros_(layer.bias)
        # torch's RMSprop adds eps outside the root, as Keras does
        self.opt = torch.optim.RMSprop(self.net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
        self.loss = nn.CrossEntropyLoss()
        self._cache = {}

    def _tensors(self, x, y):
        key = (id(x), id(y))
        if key not in self._cache:
            t = self.torch
            self._cache[key] = (t.from_numpy(x), t.from_numpy(y.argmax(axis=1)))
        return self._cache[key]

    def epoch(self, x, y):
        t = self.torch
        X, Y = self._tensors(x, y)
        perm = t.randperm(len(X))
        for start in range(0, len(X), 128):
            idx = perm[start:start + 128]
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.net(X[idx]), Y[idx])
            loss.backward()
            self.opt.step()

    def predict(self, x):
        with self.torch.no_grad():
            return self.torch.softmax(self.net(self.torch.from_numpy(x)), dim=1).numpy()

    def accuracy(self, x, y):
        return float((self.predict(x).argmax(axis=1) == y.argmax(axis=1)).mean())


class Floor:
    """The epoch's matrix products alone, through NumPy's BLAS (outputs preallocated)."""

    def __init__(self, n=60000, batch=128):
        rng = np.random.default_rng(3)
        self.n, self.batch = n, batch
        self.W1, self.W2 = rand(rng, 784, 512), rand(rng, 512, 10)
        self.h, self.dh = np.empty((batch, 512), F32), np.empty((batch, 512), F32)
        self.logits, self.dz2 = np.empty((batch, 10), F32), rand(rng, batch, 10)
        self.dW1, self.dW2 = np.empty((784, 512), F32), np.empty((512, 10), F32)

    def epoch(self, x, y):
        mm = np.matmul
        for start in range(0, min(self.n, len(x)), self.batch):
            xb = x[start:start + self.batch]
            m = len(xb)
            h, dh, lg, dz2 = self.h[:m], self.dh[:m], self.logits[:m], self.dz2[:m]
            mm(xb, self.W1, out=h)
            mm(h, self.W2, out=lg)
            mm(h.T, dz2, out=self.dW2)
            mm(dz2, self.W2.T, out=dh)
            mm(xb.T, dh, out=self.dW1)


def torch_module(enabled):
    """(torch, None) or (None, why it is left out)."""
    if not enabled:
        return None, "disabled (--no-torch)"
    if importlib.util.find_spec("torch") is None:
        return None, "not installed (optional)"
    try:
        import torch
        return torch, None
    except Exception as exc:  # a broken install must not stop the benchmark
        return None, "import failed: %s: %s" % (type(exc).__name__, exc)


def make_trainer(name, seed, threads=1, n_train=60000):
    """A fresh trainer for the contender ``name`` (``@env`` ignored)."""
    base = base_name(name)
    if base == FASTDENSE_C:
        return FastdenseTrainer("c", seed, "auto" if sparse_modes_available() else None)
    if base == FASTDENSE_C_DENSE:
        return FastdenseTrainer("c", seed, "never")
    if base == FASTDENSE_NUMPY:
        return FastdenseTrainer("numpy", seed)
    if base == SCRIPT:
        return ScriptTrainer(seed)
    if base == TORCH:
        torch, why = torch_module(True)
        if torch is None:
            raise RuntimeError("PyTorch: %s" % why)
        return TorchTrainer(torch, seed, threads)
    if base == FLOOR:
        return Floor(n_train)
    raise ValueError("unknown contender %r" % (name,))


class MnistSlot:
    """One MNIST contender with its data: ``warm``, ``timed_epoch``,
    ``predict_test``, ``accuracy``.  The parent makes these for the contenders
    it runs itself; a worker makes them for the parent (factory ``"mnist"``),
    loading the same rows (``mnist_spec``) in its own process."""

    def __init__(self, name, seed, threads=1, mnist_spec=None, data=None):
        self.name, self.seed, self.threads = name, seed, threads
        self.data = data if data is not None else _data.load_mnist(mnist_spec)
        self.trainer = make_trainer(name, seed, threads, len(self.data[0]))

    @property
    def has_predict(self):
        return hasattr(self.trainer, "predict")

    def warm(self, n=2048):
        """A short fit of a throwaway trainer of the same kind."""
        x, y = self.data[0], self.data[1]
        make_trainer(self.name, self.seed, self.threads, n).epoch(x[:n], y[:n])

    def timed_epoch(self):
        x, y = self.data[0], self.data[1]
        t0 = time.perf_counter()
        self.trainer.epoch(x, y)
        return time.perf_counter() - t0

    def predict_test(self):
        self.trainer.predict(self.data[2])     # the result stays here

    def accuracy(self):
        return self.trainer.accuracy(self.data[2], self.data[3])

    def predict_sampler(self):
        return LocalSampler(self.predict_test)

    def close(self):
        pass


class RemoteMnistSlot:
    """A :class:`MnistSlot` in a worker, with the same methods."""

    def __init__(self, worker, name, seed, threads, mnist_spec):
        self.worker, self.name = worker, name
        self.key = worker.make("mnist", name, seed, threads, mnist_spec)
        self.has_predict = base_name(name) != FLOOR

    def warm(self, n=2048):
        self.worker.call(self.key, "warm", n)

    def timed_epoch(self):
        return self.worker.call(self.key, "timed_epoch")

    def accuracy(self):
        return self.worker.call(self.key, "accuracy")

    def predict_sampler(self):
        return self.worker.sampler(self.key, "predict_test")

    def close(self):
        self.worker.drop(self.key)


# ---------------------------------------------------------------------------
# IMDB
# ---------------------------------------------------------------------------

def imdb_network(seed, words=_data.IMDB_WORDS):
    """The book's network, compiled as the book compiles it."""
    from .. import layers, models, utils
    utils.set_random_seed(seed)
    net = models.Sequential()
    net.add(layers.Dense(16, activation="relu", input_shape=(words,)))
    net.add(layers.Dense(16, activation="relu"))
    net.add(layers.Dense(1, activation="sigmoid"))
    net.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return net


class _FastdenseImdb:
    def __init__(self, seed):
        from .. import utils
        self.seed, self.epochs_done, self._utils = seed, 0, utils
        self.net = imdb_network(seed)

    def epoch(self, x, y):
        self._utils.set_random_seed(self.seed * 1000 + self.epochs_done)
        self.epochs_done += 1
        _set_sparse_mode("auto" if sparse_modes_available() else None)
        self.net.fit(x, y, epochs=1, batch_size=512, verbose=0)

    def accuracy(self, x, y):
        return float(self.net.evaluate(x, y, batch_size=512, verbose=0)[1])


class _NumpyImdb:
    def __init__(self, seed):
        from .numpy_imdb import NumpyIMDB
        self.net = NumpyIMDB(seed=seed)

    def epoch(self, x, y):
        self.net.train_epoch(x, y, 512)

    def accuracy(self, x, y):
        return self.net.accuracy(x, y)


class ImdbSlot:
    """One IMDB contender in its own worker (factory ``"imdb"``): the data in
    the contender's form (CSR for fastdense, dense float32 for NumPy), a fresh
    model per :meth:`reset`, and the process's memory."""

    def __init__(self, name, seed=0, rows=None):
        if name not in (IMDB_FASTDENSE, IMDB_NUMPY):
            raise ValueError("unknown IMDB contender %r" % (name,))
        self.name, self.seed = name, seed
        self.baseline = memory_info()          # the process after its imports
        train = _data.imdb_parts("train", rows)
        test = _data.imdb_parts("test", rows)
        self.summary = _data.imdb_summary(train[0], train[1])
        make = _data.imdb_csr if name == IMDB_FASTDENSE else _data.imdb_dense
        self.x, self.y = make(train[0], train[1]), train[2]
        self.xt, self.yt = make(test[0], test[1]), test[2]
        del train, test
        self.input_bytes = sum(_nbytes(a) for a in (self.x, self.xt))
        self.after_data = memory_info()
        self.model = None

    def _new(self, seed):
        return (_FastdenseImdb if self.name == IMDB_FASTDENSE else _NumpyImdb)(seed)

    def reset(self, seed=None):
        self.model = self._new(self.seed if seed is None else seed)

    def warm(self, n=2048):
        self._new(self.seed).epoch(self.x[:n], self.y[:n])

    def timed_epoch(self):
        if self.model is None:
            self.reset()
        t0 = time.perf_counter()
        self.model.epoch(self.x, self.y)
        return time.perf_counter() - t0

    def accuracy(self):
        return self.model.accuracy(self.xt, self.yt)

    def report(self):
        """What the parent prints: the data, the inputs' bytes, the memory."""
        return {"data": self.summary, "input_bytes": self.input_bytes,
                "baseline": self.baseline, "after_data": self.after_data,
                "now": memory_info()}


def _nbytes(a):
    if hasattr(a, "indptr"):                                         # scipy.sparse
        return int(a.data.nbytes + a.indices.nbytes + a.indptr.nbytes)
    return int(a.nbytes)
