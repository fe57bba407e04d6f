"""MNIST handwritten digits (LeCun, Cortes, Burges), the Keras way.

>>> from fastdense.datasets import mnist
>>> (x_train, y_train), (x_test, y_test) = mnist.load_data()   # doctest: +SKIP
>>> x_train.shape, x_train.dtype, y_test[:5]                    # doctest: +SKIP
((60000, 28, 28), dtype('uint8'), array([7, 2, 1, 0, 4], dtype=uint8))
"""
from . import _loader
from ._loader import FileSpec, DatasetSpec

__all__ = ["load_data", "MIRRORS", "SPEC"]

# Tried in order; each serves <mirror>/<file>.gz. Module-level so that it can
# be changed (or monkeypatched in tests) without touching the loader.
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

# sha256 of the decompressed files, the originals byte for byte.
SPEC = DatasetSpec(
    name="mnist",
    title="MNIST",
    files=(
        FileSpec("x_train", "train-images-idx3-ubyte", (60000, 28, 28),
                 "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        FileSpec("y_train", "train-labels-idx1-ubyte", (60000,),
                 "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        FileSpec("x_test", "t10k-images-idx3-ubyte", (10000, 28, 28),
                 "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        FileSpec("y_test", "t10k-labels-idx1-ubyte", (10000,),
                 "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ),
)


def load_data(path=None):
    """Load MNIST: ``(x_train, y_train), (x_test, y_test)``.

    Returns uint8 arrays (C-contiguous, writable) of shapes (60000, 28, 28),
    (60000,), (10000, 28, 28), (10000,), as ``keras.datasets.mnist`` does.

    path: ``None`` (look in ``$FASTDENSE_DATA/mnist/``, then the cache
        ``$FASTDENSE_HOME/datasets/mnist/``, default ``~/.fastdense``, then
        download into the cache from :data:`MIRRORS`); or a folder holding
        ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each plain or
        ``.gz``); or a Keras ``.npz`` (x_train, y_train, x_test, y_test). A
        relative path that does not exist is also looked for in the cache.

    Verification, on every load: each file is parsed strictly (IDX magic,
    dimensions against the exact length, gzip CRC) and the sha256 of its
    decompressed bytes is compared with the published digest. From
    FASTDENSE_DATA, the cache or a download, a file that differs is a
    ``ValueError`` naming it. From an explicit ``path``, a folder whose files
    all differ is taken to be another dataset of the same layout and is
    loaded after the structure checks; one where some files match and some do
    not is damaged, and a ``ValueError``.

    Raises: ``ValueError`` (corrupt, truncated or wrong file: the message names
    it and says what to do), ``FileNotFoundError`` (``path`` not found),
    :class:`~fastdense.datasets.DownloadError` (an ``OSError``: nothing local
    and every mirror failed, e.g. offline; set FASTDENSE_DATA).
    """
    return _loader.load(SPEC, path, mirrors=MIRRORS)
