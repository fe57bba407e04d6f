"""Small helpers the Keras way: ``to_categorical`` and ``set_random_seed``.

fastdense draws every random number (weight initialisation, shuffling) from
one library-owned ``numpy.random.Generator``; ``set_random_seed`` reseeds it
(and, as Keras's does, Python's and NumPy's global generators for user code).
"""
import random as _pyrandom

import numpy as np

__all__ = ["to_categorical", "set_random_seed", "get_rng"]

_RNG = [np.random.default_rng()]


def get_rng():
    """The generator fastdense uses for initialisation and shuffling."""
    return _RNG[0]


def set_random_seed(seed):
    """Make initialisation and shuffling (so a whole fit) repeatable.

    Two runs that call ``set_random_seed(n)`` with the same ``n`` before
    building and fitting give bit-identical weights for a given backend and
    thread count.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError("set_random_seed expects a whole number >= 0, got %r" % (seed,))
    seed = int(seed)
    if seed < 0:
        raise ValueError("set_random_seed expects a whole number >= 0, got %d" % seed)
    _RNG[0] = np.random.default_rng(seed)
    np.random.seed(seed % 2 ** 32)
    _pyrandom.seed(seed)


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels (Keras's ``to_categorical``).

    ``y`` holds class indices 0..num_classes-1 (a trailing axis of length 1 is
    dropped, as in Keras).  Negative labels, labels >= ``num_classes`` and
    non-integral values are ValueErrors.
    """
    arr = np.asarray(y)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.integer)
                                   or np.issubdtype(arr.dtype, np.floating)
                                   or arr.dtype == np.bool_):
        raise ValueError("to_categorical expects integer class labels, got an "
                         "array of dtype %s" % arr.dtype)
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr))):
            raise ValueError("to_categorical expects whole-number class labels; "
                             "got non-integral or non-finite values")
    labels = arr.astype(np.int64)
    input_shape = labels.shape
    if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
        input_shape = input_shape[:-1]
    labels = labels.ravel()
    if labels.size and labels.min() < 0:
        raise ValueError("to_categorical: labels must be >= 0, got %d"
                         % int(labels.min()))
    if num_classes is None:
        if not labels.size:
            raise ValueError("to_categorical: cannot infer num_classes from "
                             "empty labels; pass num_classes")
        num_classes = int(labels.max()) + 1
    else:
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
            raise ValueError("num_classes must be a whole number >= 1, got %r"
                             % (num_classes,))
        num_classes = int(num_classes)
        if num_classes < 1:
            raise ValueError("num_classes must be >= 1, got %d" % num_classes)
        if labels.size and labels.max() >= num_classes:
            raise ValueError("to_categorical: label %d is out of range for "
                             "num_classes=%d (labels must be < num_classes)"
                             % (int(labels.max()), num_classes))
    out = np.zeros((labels.size, num_classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out.reshape(input_shape + (num_classes,))
