"""What ``imdb`` and ``reuters`` share: Keras 2.3.1's sequence handling.

Each sequence is a list of word indices (1 = the most frequent word in the
published files). In Keras's order:

1. ``start_char`` not None: ``[start_char] + [w + index_from for w in x]``;
   else, if ``index_from``: ``[w + index_from for w in x]``; else unchanged.
2. ``maxlen`` (if truthy): keep only sequences with ``len(x) < maxlen``
   (the length counts the start character).
3. ``num_words`` falsy: the largest index left, over train and test.
4. every index ``w`` outside ``skip_top <= w < num_words`` (the start
   character included, as in Keras) becomes ``oov_char``, or is dropped when
   ``oov_char`` is None.

The sequences are Python lists (of Python ints, as in Keras's files),
returned in 1-D object arrays.
"""
import numbers

import numpy as np

__all__ = ["check_args", "check_sequences", "check_labels", "encode",
           "remove_long", "limit_vocab", "max_index", "object_array",
           "legacy_kwargs", "NoSequenceKept"]


class NoSequenceKept(ValueError):
    """``maxlen`` so low that a split is left without any sequence."""


def legacy_kwargs(kwargs, num_words):
    """Keras 2.3.1: ``nb_words`` is the old name of ``num_words`` (with a
    warning); any other keyword is a TypeError."""
    if "nb_words" in kwargs:
        import warnings
        warnings.warn("The `nb_words` argument in `load_data` has been "
                      "renamed `num_words`.", stacklevel=3)
        num_words = kwargs.pop("nb_words")
    if kwargs:
        raise TypeError("Unrecognized keyword arguments: " + str(kwargs))
    return num_words


def _whole(name, value, allow_none, minimum=None):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError("%s must be a whole number%s, got %r"
                         % (name, " or None" if allow_none else "", value))
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError("%s must be >= %d, got %d" % (name, minimum, value))
    return value


def check_args(num_words, skip_top, maxlen, start_char, oov_char, index_from):
    """The arguments as ints (or None), or a ValueError saying which is wrong."""
    return (_whole("num_words", num_words, True, 0),
            _whole("skip_top", skip_top, False, 0),
            _whole("maxlen", maxlen, True, 0),
            _whole("start_char", start_char, True),
            _whole("oov_char", oov_char, True),
            _whole("index_from", index_from, False))


def check_sequences(x, name):
    """``x`` (an array read from a file) as a list of lists of word indices.

    Accepted: a 1-D object array of lists / tuples / 1-D integer arrays (what
    Keras's files hold), or a 2-D integer array (sequences of one length).
    Indices must be whole numbers >= 0.
    """
    if x.dtype == object and x.ndim == 1:
        seqs = []
        for i, s in enumerate(x):
            if isinstance(s, list):
                seqs.append(s)
                continue
            if isinstance(s, np.ndarray) and s.ndim == 1:
                seqs.append(s.tolist())
                continue
            if isinstance(s, tuple):
                seqs.append(list(s))
                continue
            raise ValueError("%s: element %d is a %s, not a sequence of word "
                             "indices" % (name, i, type(s).__name__))
    elif x.ndim == 2 and x.dtype.kind in "iu":
        seqs = x.tolist()
    else:
        raise ValueError("%s: %s array of shape %s; expected a 1-D object array "
                         "of sequences of word indices (or a 2-D integer array)"
                         % (name, x.dtype, x.shape))
    nonempty = [s for s in seqs if len(s)]
    if nonempty:
        try:
            flat = np.concatenate(nonempty)
        except (ValueError, TypeError) as exc:
            raise ValueError("%s: the sequences are not flat lists of word "
                             "indices (%s)" % (name, exc)) from None
        if flat.ndim != 1 or flat.size != sum(map(len, nonempty)):
            raise ValueError("%s: the sequences are not flat lists of word "
                             "indices" % name)
        if flat.dtype.kind not in "iu":
            raise ValueError("%s: word indices must be whole numbers, found "
                             "values of type %s" % (name, flat.dtype))
        if flat.size and flat.min() < 0:
            raise ValueError("%s: word indices must be >= 0, found %d"
                             % (name, int(flat.min())))
    return seqs


def check_labels(y, n, name, xname):
    """``y`` must be 1-D whole numbers, one per sequence."""
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError("%s: %s labels of shape %s; expected a 1-D array of "
                         "whole-number labels" % (name, y.dtype, y.shape))
    if y.shape[0] != n:
        raise ValueError("%s holds %d labels but %s holds %d sequences; there "
                         "must be one label per sequence"
                         % (name, y.shape[0], xname, n))
    return y


def encode(seqs, start_char, index_from):
    """Step 1 (see the module docstring)."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in seqs]
    if index_from:
        return [[w + index_from for w in x] for x in seqs]
    return [list(x) for x in seqs]


def remove_long(maxlen, seqs, labels):
    """Step 2: keep ``len(x) < maxlen``; labels follow (a NumPy array)."""
    keep = [len(x) < maxlen for x in seqs]
    return ([x for x, k in zip(seqs, keep) if k],
            labels[np.asarray(keep, dtype=bool)] if len(seqs) else labels[:0])


def max_index(*splits):
    """Step 3: the largest index in any sequence (0 when there is none)."""
    return max((max(x) for seqs in splits for x in seqs if x), default=0)


def limit_vocab(seqs, num_words, skip_top, oov_char):
    """Step 4."""
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x]
                for x in seqs]
    return [[w for w in x if skip_top <= w < num_words] for x in seqs]


def object_array(seqs):
    """A 1-D object array holding the lists themselves (never a 2-D array)."""
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = s
    return out
