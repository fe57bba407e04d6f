"""Reuters newswires, labelled over 46 topics, the Keras way.

11,228 newswires, each a list of word indices (words numbered by frequency:
1 is the most frequent), split 80/20 into training and test after shuffling.

>>> from fastdense.datasets import reuters
>>> (x_train, y_train), (x_test, y_test) = reuters.load_data(num_words=10000)  # doctest: +SKIP
"""
import numbers

import numpy as np

from . import _loader, _npz, _text
from ._loader import KerasFile

__all__ = ["load_data", "get_word_index", "MIRRORS", "SPEC", "WORD_INDEX_SPEC"]

# Tried in order; each serves <mirror>/<file name>. The first is Keras's
# current origin, the second Keras 2.3.1's.
MIRRORS = [
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "https://s3.amazonaws.com/text-datasets/",
]

# Digests of the file bytes: sha256 from Keras 3 (keras/src/datasets/
# reuters.py), md5 from Keras 2.3.1 (keras/datasets/reuters.py).
SPEC = KerasFile(
    dataset="reuters", title="Reuters", name="reuters.npz",
    sha256="d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
    md5="87aedbeb0cb229e378797a632c1997b6")

# Keras (2.3.1 and 3) publishes only an md5 of the word index.
WORD_INDEX_SPEC = KerasFile(
    dataset="reuters", title="Reuters word index",
    name="reuters_word_index.json", md5="4d44cc38712099c9e383dc6e5f11a921")


def _read(path, file_hash):
    data, name, where = _loader.locate_file(SPEC, path, MIRRORS,
                                            file_hash=file_hash)
    arrays = _npz.read_npz(data, name, ("x", "y"), _loader.file_advice(where))
    xname, yname = "%s['x']" % name, "%s['y']" % name
    seqs = _text.check_sequences(arrays["x"], xname)
    labels = _text.check_labels(arrays["y"], len(seqs), yname, xname)
    return _text.object_array(seqs), labels


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None,
              test_split=0.2, seed=113, start_char=1, oov_char=2,
              index_from=3, *, file_hash=None, **kwargs):
    """Load Reuters: ``(x_train, y_train), (x_test, y_test)``, as Keras 2.3.1.

    x arrays are 1-D object arrays of lists of word indices; y arrays the
    file's integer topic labels (0..45).

    All newswires are shuffled with ``np.random.RandomState(seed)`` and
    re-indexed as in :func:`fastdense.datasets.imdb.load_data`
    (``start_char``, ``index_from``, ``maxlen``, ``num_words``, ``skip_top``,
    ``oov_char``; ``nb_words=`` the old name of ``num_words``, other keywords
    a TypeError); then the first ``int(n * (1 - test_split))`` of the ``n``
    kept are the training set, the rest the test set. ``test_split`` must lie
    in [0, 1]; ``maxlen`` that keeps nothing is a ValueError.

    path, file_hash: as in :func:`fastdense.datasets.imdb.load_data`; the bare
    name looks in ``$FASTDENSE_DATA/reuters/``, the cache, then downloads;
    your own file (a path with a folder part) holds ``x`` (1-D object array
    of lists of word indices >= 0) and ``y`` (whole-number labels).
    """
    num_words = _text.legacy_kwargs(kwargs, num_words)
    num_words, skip_top, maxlen, start_char, oov_char, index_from = \
        _text.check_args(num_words, skip_top, maxlen, start_char, oov_char,
                         index_from)
    if (isinstance(test_split, bool) or not isinstance(test_split, numbers.Real)
            or not 0 <= test_split <= 1):
        raise ValueError("test_split must be a fraction in [0, 1], got %r"
                         % (test_split,))
    xs, labels = _read(path, file_hash)

    rng = np.random.RandomState(seed)
    indices = np.arange(len(xs))
    rng.shuffle(indices)
    xs, labels = xs[indices], labels[indices]

    xs = _text.encode(xs, start_char, index_from)
    if maxlen:
        xs, labels = _text.remove_long(maxlen, xs, labels)
        if not xs:
            raise _text.NoSequenceKept(
                "After filtering for sequences shorter than maxlen=%d, no "
                "sequence was kept. Increase maxlen." % maxlen)
    if not num_words:
        num_words = _text.max_index(xs)
    xs = _text.limit_vocab(xs, num_words, skip_top, oov_char)

    idx = int(len(xs) * (1 - test_split))
    return ((_text.object_array(xs[:idx]), np.array(labels[:idx])),
            (_text.object_array(xs[idx:]), np.array(labels[idx:])))


def get_word_index(path="reuters_word_index.json", *, file_hash=None):
    """The dict ``{word: index}`` behind the newswires' indices (Keras's).

    Indices count from 1 (the most frequent word); in ``load_data``'s output
    a word ``w`` appears as ``w + index_from``. ``path`` and ``file_hash``
    work as in :func:`load_data`.
    """
    data, name, where = _loader.locate_file(WORD_INDEX_SPEC, path, MIRRORS,
                                            file_hash=file_hash)
    return _npz.read_json_index(data, name, _loader.file_advice(where))
