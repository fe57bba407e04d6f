"""Boston housing prices (Harrison and Rubinfeld 1978; StatLib), the Keras way.

506 suburbs, 13 features each (crime rate, rooms per dwelling, ...), target
the median home value in k$. As Keras's documentation warns, one feature
("B") encodes a racial statistic; the dataset is kept for the book's
regression example and for discussing exactly such problems.

>>> from fastdense.datasets import boston_housing
>>> (x_train, y_train), (x_test, y_test) = boston_housing.load_data()  # doctest: +SKIP
>>> x_train.shape, x_test.shape                                      # doctest: +SKIP
((404, 13), (102, 13))
"""
import numbers

import numpy as np

from . import _loader, _npz
from ._loader import KerasFile

__all__ = ["load_data", "MIRRORS", "SPEC"]

# Tried in order; each serves <mirror>/boston_housing.npz. The first is
# Keras's current origin, the second Keras 2.3.1's.
MIRRORS = [
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "https://s3.amazonaws.com/keras-datasets/",
]

# sha256 of the file bytes, the same in Keras 2.3.1 and Keras 3
# (keras/datasets/boston_housing.py, get_file(file_hash=...)).
SPEC = KerasFile(
    dataset="boston_housing", title="Boston housing", name="boston_housing.npz",
    sha256="f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5")


def _read(path, file_hash):
    data, name, where = _loader.locate_file(SPEC, path, MIRRORS,
                                            file_hash=file_hash)
    arrays = _npz.read_npz(data, name, ("x", "y"), _loader.file_advice(where))
    x, y = arrays["x"], arrays["y"]
    if x.ndim != 2 or x.dtype.kind not in "fiu":
        raise ValueError("%s['x']: %s array of shape %s; expected a 2-D numeric "
                         "array (samples, features)" % (name, x.dtype, x.shape))
    if y.ndim != 1 or y.dtype.kind not in "fiu":
        raise ValueError("%s['y']: %s array of shape %s; expected a 1-D numeric "
                         "array of targets" % (name, y.dtype, y.shape))
    if x.shape[0] != y.shape[0]:
        raise ValueError("%s holds %d samples in 'x' but %d targets in 'y'; "
                         "there must be one target per sample"
                         % (name, x.shape[0], y.shape[0]))
    return x, y


def load_data(path="boston_housing.npz", test_split=0.2, seed=113, *,
              file_hash=None):
    """Load Boston housing: ``(x_train, y_train), (x_test, y_test)``.

    As Keras 2.3.1: the 506 samples (float64, 13 features; targets float64)
    are shuffled with ``np.random.RandomState(seed)``, and the first
    ``int(506 * (1 - test_split))`` are the training set (404 by default).
    ``test_split`` must lie in [0, 1) (a ValueError where Keras asserts).

    path, file_hash: as in :func:`fastdense.datasets.imdb.load_data`; the bare
    name looks in ``$FASTDENSE_DATA/boston_housing/``, the cache, then
    downloads (the file must match the published sha256); your own file (a
    path with a folder part) holds ``x`` (2-D numeric) and ``y`` (1-D).
    """
    if (isinstance(test_split, bool) or not isinstance(test_split, numbers.Real)
            or not 0 <= test_split < 1):
        raise ValueError("test_split must be a fraction in [0, 1), got %r"
                         % (test_split,))
    x, y = _read(path, file_hash)
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x))
    rng.shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))
