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


# ------------------------------------------------------------ multi_hot
# (datasets family) The book's vectorize_sequences in one call, sparse.

class MultiHotIndexError(ValueError, IndexError):
    """A word index outside ``0 <= w < num_classes``.

    A ValueError (fastdense's bad-input error) that is also an IndexError,
    what the book's ``results[i, sequence] = 1.`` raised.
    """


def _sequence_list(sequences):
    """(list of sequences, or a 2-D integer array) from what users pass."""
    if isinstance(sequences, np.ndarray):
        if sequences.dtype != object:
            if sequences.ndim == 2:
                return sequences
            if sequences.ndim == 1 and sequences.size:
                raise ValueError(
                    "multi_hot: a 1-D array of %s is a single sequence; pass "
                    "[seq] for one row (or seq.reshape(-1, 1) for one index "
                    "per row)" % sequences.dtype)
        if sequences.ndim != 1 and sequences.size:
            raise ValueError("multi_hot expects a sequence of sequences (a list "
                             "of lists, a 1-D object array, or a 2-D integer "
                             "array), got an array of shape %s"
                             % (sequences.shape,))
        return list(sequences.ravel())
    if isinstance(sequences, (str, bytes)):
        raise ValueError("multi_hot expects a sequence of sequences of word "
                         "indices, got a %s" % type(sequences).__name__)
    try:
        return list(sequences)
    except TypeError:
        raise ValueError("multi_hot expects a sequence of sequences of word "
                         "indices, got %s" % type(sequences).__name__) from None


def multi_hot(sequences, num_classes, dtype="float32", sparse="auto"):
    """Multi-hot encode sequences of indices: row i has 1 at each index in
    ``sequences[i]`` (repeats count once), 0 elsewhere.

    The book's ``vectorize_sequences(sequences, dimension)`` in one call,
    without its dense (N, dimension) array: IMDB's 25,000 reviews over
    10,000 words are about 30 MB as CSR instead of 1 GB dense::

        x_train = multi_hot(train_data, 10000)     # scipy.sparse CSR, float32

    sequences: a list (or 1-D object array) of lists / tuples / 1-D integer
        arrays, as ``imdb.load_data`` and ``reuters.load_data`` return, or a
        2-D integer array (one row per sequence). Empty sequences give empty
        rows.
    num_classes: the width (the book's ``dimension``); every index must lie
        in ``0 <= w < num_classes``. An index outside is a
        :class:`MultiHotIndexError`, both a ValueError and the IndexError
        the book's function raised; nothing is dropped silently (load with
        ``num_words=num_classes`` to keep indices below it).
    dtype: of the values (default float32, what the first Dense layer takes).
    sparse: ``'auto'`` (default): a ``scipy.sparse.csr_matrix`` when scipy is
        installed, else a dense ndarray; ``True``: CSR (ImportError without
        scipy); ``False``: the dense ``(len(sequences), num_classes)``
        ndarray, as the book builds it.

    The CSR matrix has sorted column indices without duplicates (canonical
    form), int32 indices and indptr (int64 past 2**31 entries).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError("multi_hot: num_classes must be a whole number >= 1 "
                         "(the book's dimension), got %r" % (num_classes,))
    num_classes = int(num_classes)
    if num_classes < 1:
        raise ValueError("multi_hot: num_classes must be >= 1, got %d" % num_classes)
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError("multi_hot: dtype %r is not a NumPy dtype (%s)"
                         % (dtype, exc)) from None
    if dtype.kind not in "biuf":
        raise ValueError("multi_hot: dtype must be a number or bool type, got %s"
                         % dtype)
    if sparse not in ("auto", True, False):
        raise ValueError("multi_hot: sparse must be 'auto', True or False, got %r"
                         % (sparse,))
    sp = None
    if sparse is not False:
        try:
            import scipy.sparse as sp
        except ImportError as exc:
            if sparse is True:
                raise ImportError(
                    "multi_hot(sparse=True) needs scipy (pip install scipy, or "
                    "pip install fastdense[sparse]); sparse=False gives a dense "
                    "array instead (%s: %s)" % (type(exc).__name__, exc)) from None
            sp = None
    if sp is not None and dtype == np.float16:
        raise ValueError("multi_hot: scipy.sparse has no float16 matrices; use "
                         "dtype='float32', or sparse=False for a dense float16 "
                         "array")

    seqs = _sequence_list(sequences)
    n = len(seqs)
    if isinstance(seqs, np.ndarray):               # 2-D integer array
        lengths = np.full(n, seqs.shape[1], dtype=np.int64)
    else:
        try:
            lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=n)
        except TypeError:
            bad = next(i for i, s in enumerate(seqs) if not hasattr(s, "__len__"))
            raise ValueError("multi_hot: sequences[%d] is a %s, not a sequence "
                             "of indices" % (bad, type(seqs[bad]).__name__)) from None
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    total = int(starts[-1])

    if sp is None:
        out = np.zeros((n, num_classes), dtype=dtype)
        for r0, r1, rows, cols in _multi_hot_chunks(seqs, starts, num_classes):
            out[rows + r0, cols] = 1
        return out

    # Per chunk of rows, one sort of row * num_classes + index puts the
    # entries in CSR order and equal neighbours are the repeats. Chunks keep
    # the temporaries to a few MB whatever the input's size.
    index_dtype = np.int32 if max(total, num_classes, n) < 2 ** 31 else np.int64
    indices = np.empty(total, dtype=index_dtype)
    counts = np.zeros(n, dtype=np.int64)
    nnz = 0
    for r0, r1, rows, cols in _multi_hot_chunks(seqs, starts, num_classes):
        if (r1 - r0) * num_classes < 2 ** 63:
            keys = np.sort(rows * num_classes + cols)
            keep = np.empty(keys.size, dtype=bool)
            keep[:1] = True
            np.not_equal(keys[1:], keys[:-1], out=keep[1:])
            rows, cols = np.divmod(keys[keep], num_classes)
        else:
            order = np.lexsort((cols, rows))
            rows, cols = rows[order], cols[order]
            keep = np.ones(rows.size, dtype=bool)
            keep[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
            rows, cols = rows[keep], cols[keep]
        indices[nnz:nnz + cols.size] = cols
        nnz += cols.size
        counts[r0:r1] = np.bincount(rows, minlength=r1 - r0)
    if nnz < total:
        indices = indices[:nnz].copy()
    indptr = np.zeros(n + 1, dtype=index_dtype)
    np.cumsum(counts, out=indptr[1:])
    m = sp.csr_matrix((np.ones(nnz, dtype=dtype), indices, indptr),
                      shape=(n, num_classes), copy=False)
    m.has_canonical_format = True
    return m


_CHUNK = 1 << 20     # entries per chunk in multi_hot


def _multi_hot_chunks(seqs, starts, num_classes):
    """Yield ``(r0, r1, rows, cols)`` over row blocks of about _CHUNK
    entries: ``rows`` local to the block (int64), ``cols`` checked indices."""
    n = len(seqs)
    r0 = 0
    while r0 < n:
        r1 = int(np.searchsorted(starts, starts[r0] + _CHUNK, side="right")) - 1
        r1 = min(n, max(r1, r0 + 1), r0 + _CHUNK)
        if isinstance(seqs, np.ndarray):
            flat = seqs[r0:r1].ravel()
        else:
            block = [s for s in seqs[r0:r1] if len(s)]
            if block:
                try:
                    flat = np.concatenate(block)
                except (ValueError, TypeError) as exc:
                    raise ValueError("multi_hot: each sequence must be a flat "
                                     "sequence of indices (%s)" % exc) from None
            else:
                flat = np.zeros(0, dtype=np.int64)
        if flat.ndim != 1 or flat.size != starts[r1] - starts[r0]:
            raise ValueError("multi_hot: each sequence must be a flat sequence "
                             "of indices")
        if flat.dtype.kind not in "iu":
            raise ValueError("multi_hot: indices must be integers, got values "
                             "of type %s" % flat.dtype)
        lengths = np.diff(starts[r0:r1 + 1])
        if flat.size:
            lo, hi = flat.min(), flat.max()
            if lo < 0 or hi >= num_classes:
                bad = (flat < 0) | (flat >= num_classes)
                pos = int(np.argmax(bad))
                row = r0 + int(np.searchsorted(np.cumsum(lengths), pos,
                                               side="right"))
                raise MultiHotIndexError(
                    "multi_hot: sequences[%d] holds the index %d, outside 0 <= "
                    "index < num_classes=%d; pass a larger num_classes, or load "
                    "the data with num_words=%d so that rarer words become the "
                    "out-of-vocabulary index" % (row, int(flat[pos]),
                                                 num_classes, num_classes))
        rows = np.repeat(np.arange(r1 - r0, dtype=np.int64), lengths)
        yield r0, r1, rows, flat.astype(np.int64, copy=False)
        r0 = r1

__all__ += ["multi_hot", "MultiHotIndexError"]
