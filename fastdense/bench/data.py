"""The bench's data: MNIST as the seed network trains on it, and an IMDB-shaped
bag-of-words set made up on the spot.

MNIST comes from ``fastdense.datasets.mnist`` (``FASTDENSE_DATA``, the cache
or a download), as float32 (N, 784) / 255 with one-hot labels.  A *spec*
names how much of it a section uses: ``None`` for all of it, or ``(n_train,
n_test)`` for the first rows (``--sizes small``).  Specs are plain tuples so
that a worker process loads exactly the rows its parent does.

The IMDB-shaped set stands in for the book's ``imdb.load_data(num_words=10000)``
after ``vectorize_sequences``: 25,000 reviews x 10,000 words, multi-hot (1.0
where the review uses the word).  It is generated, deterministically, so that
the bench needs no download and both contenders (and every process) see the
same bytes:

* review lengths are log-normal, median 175 words, mean about 230 (IMDB's
  reviews: 238 on average, with a long tail);
* words are drawn from a Zipf-Mandelbrot law over an 88,000-word vocabulary,
  p(rank r) ~ 1 / (r + 2.7)^1.1, and only the 10,000 most frequent are kept,
  as ``num_words=10000`` does.  That leaves about 128 distinct words per
  review, 1.3 % of the entries set (IMDB: ~120-140);
* the label follows a hidden linear rule plus noise: half of the words of
  frequency ranks 10-399 (not the 10 most frequent: "the", "and", ...)
  carry a sentiment weight drawn from N(0, 1); a review's score is the sum
  of its words' weights (``x @ w``), plus Gaussian noise of 0.2 times the
  score's spread, and the label is whether the score is above the noiseless
  median (so the classes are balanced).  Knowing the rule gives 93.7 % on
  held-out reviews; the book's 16-16-1 network, trained with NumPy (this
  module's numbers, measured when the constants were chosen), reaches 80 %
  after one epoch and 87 % after four, about as it does on the real IMDB.

The generator returns CSR parts (``indptr``, ``indices``) and labels, in plain
NumPy: ``imdb_dense`` makes the (N, 10000) float32 array the NumPy contender
trains on (1 GB for 25,000 reviews), ``imdb_csr`` the ``scipy.sparse``
matrix fastdense trains on (about 16 MB: one float32 and one int32 per set
entry).
"""
import numpy as np

F32 = np.float32

#: (train rows, test rows) of the IMDB-shaped set at each bench size
IMDB_ROWS = {"full": (25000, 25000), "small": (1024, 1024)}
IMDB_WORDS = 10000
_FULL_VOCAB = 88000
_ZIPF_A, _ZIPF_Q = 1.1, 2.7
_MEDIAN_WORDS, _SIGMA = 175, 0.75
_SENTIMENT_RANKS = (10, 400)
_SENTIMENT_FRACTION = 0.5
_NOISE = 0.2
# the noiseless score's standard deviation and median over the 25,000 training
# reviews (fixed here so that every split and size uses one rule)
_SCORE_SD = 5.430
_THRESHOLD = 5.927
_RULE_SEED = 20141
_SEEDS = {"train": 1, "test": 2}


# ---------------------------------------------------------------------------
# MNIST
# ---------------------------------------------------------------------------

_mnist_cache = {}


def load_mnist(spec=None):
    """(x, y, x_test, y_test): float32 (N, 784) in [0, 1], one-hot float32 labels.

    spec: None (all 60,000 + 10,000 images) or (n_train, n_test): the first
    rows.  Loaded once per process and spec.
    """
    key = None if spec is None else tuple(int(v) for v in spec)
    if key not in _mnist_cache:
        from ..datasets import mnist
        (x, y), (xt, yt) = mnist.load_data()
        if key is not None:
            x, y, xt, yt = x[:key[0]], y[:key[0]], xt[:key[1]], yt[:key[1]]
        x = x.reshape(len(x), -1).astype(F32) / 255
        xt = xt.reshape(len(xt), -1).astype(F32) / 255
        eye = np.eye(10, dtype=F32)
        _mnist_cache.clear()           # one spec at a time: 220 MB each
        _mnist_cache[key] = (x, eye[y], xt, eye[yt])
    return _mnist_cache[key]


# ---------------------------------------------------------------------------
# IMDB-shaped bag of words
# ---------------------------------------------------------------------------

def _word_cdf():
    ranks = np.arange(_FULL_VOCAB, dtype=np.float64)
    p = 1.0 / (ranks + _ZIPF_Q) ** _ZIPF_A
    cdf = np.cumsum(p)
    return cdf / cdf[-1]


def _sentiment_weights(words):
    """The hidden rule: one weight per kept word, zero for the neutral ones."""
    rng = np.random.default_rng(_RULE_SEED)
    w = rng.standard_normal(words)
    w[rng.random(words) >= _SENTIMENT_FRACTION] = 0.0
    w[:_SENTIMENT_RANKS[0]] = 0.0
    w[_SENTIMENT_RANKS[1]:] = 0.0
    return w


def imdb_parts(split, rows=None, words=IMDB_WORDS):
    """One split ('train' or 'test') of the IMDB-shaped set.

    Returns ``(indptr, indices, labels)``: int64 (rows + 1,), int32 (nnz,)
    sorted within each row, float32 (rows, 1) of 0/1.  The same arguments give
    the same arrays on every run and in every process.
    """
    if split not in _SEEDS:
        raise ValueError("split must be 'train' or 'test', got %r" % (split,))
    n = IMDB_ROWS["full"][0] if rows is None else int(rows)
    rng = np.random.default_rng(_SEEDS[split])
    lengths = np.clip(rng.lognormal(np.log(_MEDIAN_WORDS), _SIGMA, n), 10, 2500)
    lengths = lengths.astype(np.int64)
    tokens = np.searchsorted(_word_cdf(), rng.random(int(lengths.sum())), side="right")
    row_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
    keep = tokens < words
    keys = np.sort(row_of[keep] * words + tokens[keep])
    first = np.empty(len(keys), bool)
    first[:1] = True
    first[1:] = keys[1:] != keys[:-1]
    keys = keys[first]                       # distinct words of each review
    del row_of, tokens, keep, first
    row = keys // words
    indices = (keys - row * words).astype(np.int32)
    counts = np.bincount(row, minlength=n)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    # the label: hidden linear rule over the review's words, plus noise
    w = _sentiment_weights(words)
    score = np.add.reduceat(w[indices], indptr[:-1]) if len(indices) else np.zeros(n)
    score[counts == 0] = 0.0
    score = score + _NOISE * _SCORE_SD * rng.standard_normal(n)
    labels = (score > _THRESHOLD).astype(F32).reshape(n, 1)
    return indptr, indices, labels


def imdb_dense(indptr, indices, words=IMDB_WORDS):
    """The multi-hot float32 (rows, words) array, as ``vectorize_sequences`` makes it."""
    n = len(indptr) - 1
    x = np.zeros((n, words), F32)
    x[np.repeat(np.arange(n), np.diff(indptr)), indices] = 1.0
    return x


def imdb_csr(indptr, indices, words=IMDB_WORDS):
    """The same as a ``scipy.sparse.csr_matrix`` of float32 (needs scipy)."""
    import scipy.sparse
    n = len(indptr) - 1
    return scipy.sparse.csr_matrix((np.ones(len(indices), F32), indices, indptr),
                                   shape=(n, words))


def imdb_summary(indptr, indices, words=IMDB_WORDS):
    """Rows, density, words per review and the bytes of each form of the input."""
    n = len(indptr) - 1
    nnz = len(indices)
    return {"rows": n, "words": words, "nnz": nnz,
            "density": nnz / float(max(1, n * words)),
            "mean_words_per_review": nnz / float(max(1, n)),
            "dense_float32_bytes": 4 * n * words,
            # data (float32) + indices (int32) + indptr (int64, as built here;
            # scipy keeps int32 when it fits)
            "csr_bytes": 4 * nnz + 4 * nnz + 8 * (n + 1)}
