"""IMDB movie reviews, labelled by sentiment (Maas et al. 2011), the Keras way.

25,000 training and 25,000 test reviews, each a list of word indices (words
numbered by frequency: 1 is the most frequent), labels 0 (negative) and 1
(positive).

>>> from fastdense.datasets import imdb
>>> (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=10000)  # doctest: +SKIP
>>> from fastdense.utils import multi_hot
>>> x = multi_hot(x_train, 10000)       # the book's vectorize_sequences  # doctest: +SKIP
"""
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

# Digests of the file bytes: sha256 from Keras 3 (keras/src/datasets/imdb.py,
# get_file(file_hash=...)), md5 from Keras 2.3.1 (keras/datasets/imdb.py).
SPEC = KerasFile(
    dataset="imdb", title="IMDB", name="imdb.npz",
    sha256="69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
    md5="599dadb1135973df5b59232a0e9a887c")

# Keras (2.3.1 and 3) publishes only an md5 of the word index.
WORD_INDEX_SPEC = KerasFile(
    dataset="imdb", title="IMDB word index", name="imdb_word_index.json",
    md5="bfafd718b763782e994055a2d397834f")

_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _read(path, file_hash):
    data, name, where = _loader.locate_file(SPEC, path, MIRRORS,
                                            file_hash=file_hash)
    arrays = _npz.read_npz(data, name, _KEYS, _loader.file_advice(where))
    out = {}
    for split in ("train", "test"):
        xk, yk = "x_" + split, "y_" + split
        xname, yname = "%s[%r]" % (name, xk), "%s[%r]" % (name, yk)
        seqs = _text.check_sequences(arrays[xk], xname)
        labels = _text.check_labels(arrays[yk], len(seqs), yname, xname)
        out[xk], out[yk] = _text.object_array(seqs), labels
    return out


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None,
              seed=113, start_char=1, oov_char=2, index_from=3, *,
              file_hash=None, **kwargs):
    """Load IMDB: ``(x_train, y_train), (x_test, y_test)``, as Keras 2.3.1.

    x arrays are 1-D object arrays of lists of word indices; y arrays are the
    file's integer labels (0/1).

    The training and the test set are each shuffled with
    ``np.random.RandomState(seed)`` (one generator, training first), then
    every review is re-indexed: ``start_char`` (default 1) first, each word
    ``w`` as ``w + index_from`` (default 3; 0 is left for padding and 2 for
    ``oov_char``). ``maxlen``: reviews of ``maxlen`` indices or more
    (the start character counted) are dropped. ``num_words``: only indices
    ``skip_top <= w < num_words`` are kept, the others become ``oov_char``
    (or are dropped when ``oov_char`` is None); the start character is
    subject to this too, as in Keras. ``nb_words=`` is the old name of
    ``num_words`` (a warning); other keywords are a TypeError.

    One deliberate difference from Keras 2.3.1: with ``maxlen``, each split
    is filtered on its own (as later Keras does). Keras 2.3.1 filtered the
    joined list and then took the first 25,000 for training, which moves
    test reviews into the training set whenever a training review is dropped.
    A split left empty is a ValueError (increase ``maxlen``).

    path: Keras's bare file name (default ``'imdb.npz'``): look in
        ``$FASTDENSE_DATA/imdb/<name>``, then the cache
        ``$FASTDENSE_HOME/datasets/imdb/<name>`` (default ``~/.fastdense``),
        then download the published file into the cache from
        :data:`MIRRORS`; the file must match the published digest. A path
        with a folder part (``'./imdb.npz'``, ``'/data/imdb.npz'``, or a
        folder holding ``imdb.npz``) loads that file: the published one, or
        your own in the same layout (keys ``x_train``, ``y_train``,
        ``x_test``, ``y_test``; x a 1-D object array of lists of word
        indices >= 0, y whole-number labels), after strict structure checks.
    file_hash: sha256 (64 hex digits) or md5 (32) the file must match,
        in place of the published digests (Keras's ``get_file`` argument).

    Raises: ``ValueError`` (a corrupt, truncated or wrong file, named in the
    message; bad arguments), ``TypeError`` (unknown keywords),
    ``FileNotFoundError`` (an explicit path that does not exist),
    :class:`~fastdense.datasets.DownloadError` (an ``OSError``: nothing
    local and every mirror failed, e.g. offline; set FASTDENSE_DATA).
    """
    num_words = _text.legacy_kwargs(kwargs, num_words)
    num_words, skip_top, maxlen, start_char, oov_char, index_from = \
        _text.check_args(num_words, skip_top, maxlen, start_char, oov_char,
                         index_from)
    f = _read(path, file_hash)
    x_train, labels_train = f["x_train"], f["y_train"]
    x_test, labels_test = f["x_test"], f["y_test"]

    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]

    x_train = _text.encode(x_train, start_char, index_from)
    x_test = _text.encode(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = _text.remove_long(maxlen, x_train, labels_train)
        x_test, labels_test = _text.remove_long(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise _text.NoSequenceKept(
                "After filtering for sequences shorter than maxlen=%d, no "
                "sequence was kept in the %s set. Increase maxlen."
                % (maxlen, "training" if not x_train else "test"))
    if not num_words:
        num_words = _text.max_index(x_train, x_test)
    x_train = _text.limit_vocab(x_train, num_words, skip_top, oov_char)
    x_test = _text.limit_vocab(x_test, num_words, skip_top, oov_char)
    return ((_text.object_array(x_train), np.array(labels_train)),
            (_text.object_array(x_test), np.array(labels_test)))


def get_word_index(path="imdb_word_index.json", *, file_hash=None):
    """The dict ``{word: index}`` behind the reviews' indices (Keras's).

    Indices count from 1 (the most frequent word); in ``load_data``'s output
    a word ``w`` appears as ``w + index_from``. ``path`` and ``file_hash``
    work as in :func:`load_data` (``$FASTDENSE_DATA/imdb/``, the cache, a
    download; the file must match the published md5 unless given by a path
    with a folder part).
    """
    data, name, where = _loader.locate_file(WORD_INDEX_SPEC, path, MIRRORS,
                                            file_hash=file_hash)
    return _npz.read_json_index(data, name, _loader.file_advice(where))
