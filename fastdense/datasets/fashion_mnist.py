"""Fashion-MNIST (Xiao, Rasul, Vollgraf; Zalando Research), the Keras way.

Ten classes of clothing in MNIST's layout: 0 T-shirt/top, 1 Trouser,
2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.

>>> from fastdense.datasets import fashion_mnist
>>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()  # doctest: +SKIP
"""
from . import _loader
from ._loader import FileSpec, DatasetSpec
from . import mnist as _mnist

__all__ = ["load_data", "MIRRORS", "SPEC", "CLASS_NAMES"]

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

MIRRORS = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
]

# Zalando publishes md5 digests of its original .gz files only; no digest of
# the decompressed bytes is published. A .gz whose md5 matches is accepted as
# published; any other copy (plain, or re-compressed) is checked by structure:
# strict IDX parse, gzip CRC, the exact shapes and the published per-class
# counts (6000 per class in training, 1000 in test). Files that are MNIST's
# are recognised and refused.
SPEC = DatasetSpec(
    name="fashion_mnist",
    title="Fashion-MNIST",
    files=(
        FileSpec("x_train", "train-images-idx3-ubyte", (60000, 28, 28),
                 gz_md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        FileSpec("y_train", "train-labels-idx1-ubyte", (60000,),
                 gz_md5="25c81989df183df01b3e8a0aad5dffbe"),
        FileSpec("x_test", "t10k-images-idx3-ubyte", (10000, 28, 28),
                 gz_md5="bef4ecab320f06d8554ea6380940ec79"),
        FileSpec("y_test", "t10k-labels-idx1-ubyte", (10000,),
                 gz_md5="bb300cfdad3c16e7a12a480ee83cd310"),
    ),
    label_counts=((6000,) * 10, (1000,) * 10),
    foreign=tuple((f.sha256, "MNIST") for f in _mnist.SPEC.files),
)


def load_data(path=None):
    """Load Fashion-MNIST: ``(x_train, y_train), (x_test, y_test)``.

    Returns uint8 arrays (C-contiguous, writable) of shapes (60000, 28, 28),
    (60000,), (10000, 28, 28), (10000,), as ``keras.datasets.fashion_mnist``
    does.

    path: ``None`` (look in ``$FASTDENSE_DATA/fashion_mnist/``, then the cache
        ``$FASTDENSE_HOME/datasets/fashion_mnist/``, then download into the
        cache from :data:`MIRRORS`); or a folder holding the four IDX files
        under MNIST's file names (plain or ``.gz``); or a Keras ``.npz``.

    Verification, on every load: each file is parsed strictly (IDX magic,
    dimensions against the exact length, gzip CRC). From FASTDENSE_DATA, the
    cache or a download, a ``.gz`` must match Zalando's published md5, or else
    the file must have the exact published shapes and per-class label counts;
    MNIST's files are refused. Downloads must match the published md5. From an
    explicit ``path`` any dataset of this layout loads after the structure
    checks. Errors as in :func:`fastdense.datasets.mnist.load_data`.
    """
    return _loader.load(SPEC, path, mirrors=MIRRORS)
