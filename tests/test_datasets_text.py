"""imdb, reuters, boston_housing (Keras 2.3.1 semantics), their location and
verification rules, the unsupported-dataset error, and utils.multi_hot.

No real data here (the machines are offline and ../shared/data holds only
MNIST): every test writes small files in Keras's layout (npz with the same
keys and object-array layout; a JSON word index). The Keras semantics are
checked two ways: against hand-worked examples, and against an oracle below
written from the documented algorithm, over many argument combinations.
Nothing touches the network: the opener refuses every non-file URL.
"""
import hashlib
import io
import json
import os
import pickle
import sys
import tracemalloc
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastdense.datasets as datasets
from fastdense import utils
from fastdense.datasets import DownloadError, _loader, boston_housing, imdb, reuters
from fastdense.utils import MultiHotIndexError, multi_hot

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, strategies as st  # noqa: E402


# ------------------------------------------------------------------ fixtures

@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No network, FASTDENSE_HOME in tmp_path, FASTDENSE_DATA unset."""
    calls = []

    def no_network(url, timeout=None):
        calls.append(url)
        if url.startswith("file:"):
            return urllib.request.urlopen(url, timeout=timeout)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(_loader, "urlopen", no_network)
    monkeypatch.setenv("FASTDENSE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FASTDENSE_DATA", raising=False)
    return calls


def obj(seqs):
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = s
    return out


def random_seqs(rng, n, max_len=12, max_word=30):
    return [rng.integers(1, max_word, rng.integers(0, max_len)).tolist()
            for _ in range(n)]


def imdb_arrays(seed=0, n_train=40, n_test=30):
    rng = np.random.default_rng(seed)
    return {"x_train": obj(random_seqs(rng, n_train)),
            "y_train": rng.integers(0, 2, n_train).astype(np.int64),
            "x_test": obj(random_seqs(rng, n_test)),
            "y_test": rng.integers(0, 2, n_test).astype(np.int64)}


def reuters_arrays(seed=1, n=50):
    rng = np.random.default_rng(seed)
    return {"x": obj(random_seqs(rng, n)),
            "y": rng.integers(0, 46, n).astype(np.int64)}


def boston_arrays(seed=2, n=37):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(n, 13)), "y": rng.uniform(5, 50, n)}


def write_npz(path, arrays, compressed=False):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def write_json(path, obj_):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj_), encoding="utf-8")
    return path


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def publish(monkeypatch, module, path, attr="SPEC", md5_only=False):
    """Make ``path`` the 'published' file of ``module.<attr>``."""
    spec = getattr(module, attr)
    new = _loader.KerasFile(spec.dataset, spec.title, spec.name,
                            None if md5_only else sha256(path), md5(path))
    monkeypatch.setattr(module, attr, new)
    return new


def file_url(folder):
    return Path(folder).resolve().as_uri() + "/"


def lists(x):
    return [list(s) for s in x]


# -------------------------------------------------------------- the oracle
# The documented algorithm, written out per sequence (not Keras's code).

def oracle_words(seqs, num_words, skip_top, start_char, oov_char, index_from):
    out = []
    for s in seqs:
        row = []
        for w in s:
            if skip_top <= w < num_words:
                row.append(w)
            elif oov_char is not None:
                row.append(oov_char)
        out.append(row)
    return out


def oracle_reindex(seq, start_char, index_from):
    head = [] if start_char is None else [start_char]
    return head + [w + index_from for w in seq]


def oracle_imdb(a, num_words=None, skip_top=0, maxlen=None, seed=113,
                start_char=1, oov_char=2, index_from=3):
    rng = np.random.RandomState(seed)
    splits = []
    for x, y in ((a["x_train"], a["y_train"]), (a["x_test"], a["y_test"])):
        order = np.arange(len(x))
        rng.shuffle(order)
        xs = [oracle_reindex(list(x[i]), start_char, index_from) for i in order]
        ys = [int(y[i]) for i in order]
        if maxlen:
            kept = [(s, l) for s, l in zip(xs, ys) if len(s) < maxlen]
            xs, ys = [s for s, _ in kept], [l for _, l in kept]
        splits.append((xs, ys))
    if not num_words:
        num_words = max(w for xs, _ in splits for s in xs for w in s)
    return [(oracle_words(xs, num_words, skip_top, start_char, oov_char,
                          index_from), ys) for xs, ys in splits]


def oracle_reuters(a, num_words=None, skip_top=0, maxlen=None, test_split=0.2,
                   seed=113, start_char=1, oov_char=2, index_from=3):
    rng = np.random.RandomState(seed)
    order = np.arange(len(a["x"]))
    rng.shuffle(order)
    xs = [oracle_reindex(list(a["x"][i]), start_char, index_from) for i in order]
    ys = [int(a["y"][i]) for i in order]
    if maxlen:
        kept = [(s, l) for s, l in zip(xs, ys) if len(s) < maxlen]
        xs, ys = [s for s, _ in kept], [l for _, l in kept]
    if not num_words:
        num_words = max(w for s in xs for w in s)
    xs = oracle_words(xs, num_words, skip_top, start_char, oov_char, index_from)
    cut = int(len(xs) * (1 - test_split))
    return [(xs[:cut], ys[:cut]), (xs[cut:], ys[cut:])]


def check_against(result, expected):
    for (x, y), (ex, ey) in zip(result, expected):
        assert isinstance(x, np.ndarray) and x.dtype == object and x.ndim == 1
        assert all(type(s) is list for s in x)
        assert lists(x) == ex
        assert y.tolist() == ey


# ------------------------------------------------------------------- IMDB

@pytest.fixture(scope="module")
def imdb_file(tmp_path_factory):
    a = imdb_arrays()
    return write_npz(tmp_path_factory.mktemp("imdb") / "imdb.npz", a), a


def test_imdb_hand_worked_example(tmp_path):
    a = {"x_train": obj([[1, 2, 3, 9]]), "y_train": np.array([1]),
         "x_test": obj([[4, 40], []]), "y_test": np.array([0, 1])}
    p = write_npz(tmp_path / "d" / "imdb.npz", a)
    rs = np.random.RandomState(113)            # one generator: train, then test
    rs.shuffle(np.arange(1))
    order = np.arange(2)
    rs.shuffle(order)
    # start_char 1, then w + 3; num_words defaults to the largest index (43)
    # and keeps w < num_words, so 43 itself becomes oov_char: Keras's quirk
    test = [[1, 7, 2], [1]]
    (xtr, ytr), (xte, yte) = imdb.load_data(path=p)
    assert lists(xtr) == [[1, 4, 5, 6, 12]] and ytr.tolist() == [1]
    assert lists(xte) == [test[i] for i in order]
    assert yte.tolist() == [[0, 1][i] for i in order]
    # skip_top=5, num_words=10: 1 (the start char) and 4 are below skip_top,
    # 12 is not below num_words: all three become oov_char 2
    (xtr, _), _ = imdb.load_data(path=p, num_words=10, skip_top=5)
    assert lists(xtr) == [[2, 2, 5, 6, 2]]
    (xtr, _), _ = imdb.load_data(path=p, num_words=10, skip_top=5, oov_char=None)
    assert lists(xtr) == [[5, 6]]
    (xtr, _), _ = imdb.load_data(path=p, num_words=10, oov_char=7)
    assert lists(xtr) == [[1, 4, 5, 6, 7]]
    (xtr, _), _ = imdb.load_data(path=p, start_char=None, index_from=0)
    assert lists(xtr) == [[1, 2, 3, 9]]
    (xtr, _), _ = imdb.load_data(path=p, start_char=None, index_from=1)
    assert lists(xtr) == [[2, 3, 4, 10]]
    (xtr, _), _ = imdb.load_data(path=p, start_char=0, index_from=0)
    assert lists(xtr) == [[0, 1, 2, 3, 9]]
    # maxlen counts the start char and keeps len < maxlen
    (xtr, _), (xte, _) = imdb.load_data(path=p, maxlen=6)
    assert lists(xtr) == [[1, 4, 5, 6, 12]] and len(xte) == 2
    (xtr, _), (xte, _) = imdb.load_data(path=p, maxlen=0)       # 0: no filter
    assert len(xtr) == 1 and len(xte) == 2
    with pytest.raises(ValueError, match="maxlen=5.*training set"):
        imdb.load_data(path=p, maxlen=5)
    # num_words left out (or 0): the largest index over both splits, 43 here
    for nw in (None, 0):
        (xtr, _), (xte, _) = imdb.load_data(path=p, num_words=nw, skip_top=2)
        assert lists(xtr) == [[2, 4, 5, 6, 12]]
        assert sorted(lists(xte)) == [[2], [2, 7, 2]]    # 43 == num_words: oov


def test_imdb_defaults_match_oracle(imdb_file):
    p, a = imdb_file
    check_against(imdb.load_data(path=p), oracle_imdb(a))


IMDB_CASES = [
    {}, {"num_words": 10}, {"num_words": 0}, {"num_words": 20, "skip_top": 6},
    {"skip_top": 4, "oov_char": None}, {"oov_char": None, "num_words": 12},
    {"start_char": None}, {"start_char": None, "index_from": 0},
    {"index_from": 0}, {"index_from": 7, "num_words": 25}, {"start_char": 5},
    {"maxlen": 8}, {"maxlen": 0}, {"maxlen": 12, "num_words": 15, "skip_top": 2},
    {"seed": 0}, {"seed": 2 ** 31}, {"oov_char": 0, "num_words": 9},
    {"start_char": 40, "num_words": 30},
]


@pytest.mark.parametrize("kwargs", IMDB_CASES, ids=lambda k: repr(k) or "defaults")
def test_imdb_arguments_match_oracle(imdb_file, kwargs):
    p, a = imdb_file
    check_against(imdb.load_data(path=p, **kwargs), oracle_imdb(a, **kwargs))


@given(num_words=st.one_of(st.none(), st.integers(0, 40)),
       skip_top=st.integers(0, 10), maxlen=st.one_of(st.none(), st.integers(9, 20)),
       seed=st.integers(0, 2 ** 32 - 1),
       start_char=st.one_of(st.none(), st.integers(0, 5)),
       oov_char=st.one_of(st.none(), st.integers(0, 5)),
       index_from=st.integers(0, 5))
def test_imdb_fuzz_against_oracle(imdb_file, num_words, skip_top, maxlen, seed,
                                  start_char, oov_char, index_from):
    p, a = imdb_file
    kw = dict(num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
              start_char=start_char, oov_char=oov_char, index_from=index_from)
    try:
        expected = oracle_imdb(a, **kw)
    except ValueError:      # the oracle's max() of nothing: all sequences empty
        return
    if maxlen and (not expected[0][0] or not expected[1][0]):
        with pytest.raises(ValueError, match="Increase maxlen"):
            imdb.load_data(path=p, **kw)
        return
    check_against(imdb.load_data(path=p, **kw), expected)


def test_imdb_same_seed_same_result_other_seed_other_order(imdb_file):
    p, _ = imdb_file
    (x1, y1), _ = imdb.load_data(path=p, seed=5)
    (x2, y2), _ = imdb.load_data(path=p, seed=5)
    (x3, _), _ = imdb.load_data(path=p, seed=6)
    assert lists(x1) == lists(x2) and y1.tolist() == y2.tolist()
    assert lists(x1) != lists(x3)
    assert sorted(map(tuple, lists(x1))) == sorted(map(tuple, lists(x3)))


def test_imdb_maxlen_filters_each_split_on_its_own(tmp_path):
    # train labels 0, test labels 1: no test review may reach the train set
    # (Keras 2.3.1 moved some there; see the load_data docstring)
    rng = np.random.default_rng(3)
    a = {"x_train": obj(random_seqs(rng, 30)), "y_train": np.zeros(30, np.int64),
         "x_test": obj(random_seqs(rng, 30)), "y_test": np.ones(30, np.int64)}
    p = write_npz(tmp_path / "f" / "imdb.npz", a)
    (xtr, ytr), (xte, yte) = imdb.load_data(path=p, maxlen=8)
    assert set(ytr.tolist()) == {0} and set(yte.tolist()) == {1}
    assert 0 < len(xtr) < 30 and 0 < len(xte) < 30
    assert all(len(s) < 8 for s in list(xtr) + list(xte))
    with pytest.raises(ValueError, match="no sequence was kept.*Increase maxlen"):
        imdb.load_data(path=p, maxlen=1)


def test_imdb_returns_fresh_object_arrays_even_for_equal_lengths(tmp_path):
    a = {"x_train": obj([[1, 2], [3, 4]]), "y_train": np.array([0, 1]),
         "x_test": obj([[5, 6]]), "y_test": np.array([1])}
    p = write_npz(tmp_path / "e" / "imdb.npz", a)
    (xtr, ytr), (xte, yte) = imdb.load_data(path=p)
    assert xtr.shape == (2,) and xtr.dtype == object and xte.shape == (1,)
    assert ytr.dtype == np.int64
    xtr[0].append(99)
    (xtr2, _), _ = imdb.load_data(path=p)
    assert 99 not in xtr2[0] and 99 not in xtr2[1]


def test_imdb_accepts_file_layout_variants(tmp_path):
    """Tuples, integer arrays as sequences, 2-D integer x, compressed npz."""
    rng = np.random.default_rng(4)
    seqs = random_seqs(rng, 6)
    base = {"x_train": obj(seqs), "y_train": np.arange(6) % 2,
            "x_test": obj(seqs[:3]), "y_test": np.arange(3) % 2}
    want = imdb.load_data(path=write_npz(tmp_path / "a" / "imdb.npz", base))
    variants = [
        dict(base, x_train=obj([tuple(s) for s in seqs])),
        dict(base, x_train=obj([np.array(s, dtype=np.int32) for s in seqs])),
    ]
    for i, v in enumerate(variants):
        got = imdb.load_data(path=write_npz(tmp_path / str(i) / "imdb.npz", v))
        assert lists(got[0][0]) == lists(want[0][0])
    got = imdb.load_data(path=write_npz(tmp_path / "c" / "imdb.npz", base,
                                        compressed=True))
    assert lists(got[0][0]) == lists(want[0][0])
    square = dict(base, x_train=np.arange(12).reshape(6, 2) + 1)
    (xtr, _), _ = imdb.load_data(path=write_npz(tmp_path / "s" / "imdb.npz", square),
                                 seed=0)
    assert xtr.dtype == object and xtr.shape == (6,)
    assert sorted(lists(xtr)) == sorted([1, 2 * i + 4, 2 * i + 5] for i in range(6))


def test_legacy_nb_words_and_unknown_keywords(imdb_file, tmp_path):
    p, a = imdb_file
    with pytest.warns(UserWarning, match="nb_words.*renamed.*num_words"):
        got = imdb.load_data(path=p, num_words=99, nb_words=10)
    check_against(got, oracle_imdb(a, num_words=10))
    with pytest.raises(TypeError, match="Unrecognized keyword arguments.*bogus"):
        imdb.load_data(path=p, bogus=1)
    r = write_npz(tmp_path / "r" / "reuters.npz", reuters_arrays())
    with pytest.warns(UserWarning, match="nb_words"):
        reuters.load_data(path=r, nb_words=10)
    with pytest.raises(TypeError, match="Unrecognized keyword arguments"):
        reuters.load_data(path=r, test_size=0.3)
    with pytest.raises(TypeError):
        boston_housing.load_data(path=r, bogus=1)


@pytest.mark.parametrize("kwargs", [
    {"num_words": -1}, {"num_words": 2.5}, {"skip_top": None}, {"skip_top": -2},
    {"maxlen": "10"}, {"maxlen": -1}, {"start_char": 1.0}, {"oov_char": True},
    {"index_from": None}, {"num_words": True},
])
def test_imdb_bad_arguments_are_valueerrors(imdb_file, kwargs):
    p, _ = imdb_file
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        imdb.load_data(path=p, **kwargs)


# ----------------------------------------------------------------- Reuters

@pytest.fixture(scope="module")
def reuters_file(tmp_path_factory):
    a = reuters_arrays()
    return write_npz(tmp_path_factory.mktemp("reuters") / "reuters.npz", a), a


REUTERS_CASES = [
    {}, {"test_split": 0.0}, {"test_split": 1.0}, {"test_split": 0.5},
    {"test_split": 0.33}, {"num_words": 12, "skip_top": 3}, {"oov_char": None,
                                                            "num_words": 15},
    {"maxlen": 7}, {"maxlen": 7, "test_split": 0.1}, {"start_char": None},
    {"index_from": 0, "start_char": None}, {"seed": 1}, {"maxlen": 0},
]


@pytest.mark.parametrize("kwargs", REUTERS_CASES, ids=lambda k: repr(k) or "defaults")
def test_reuters_arguments_match_oracle(reuters_file, kwargs):
    p, a = reuters_file
    check_against(reuters.load_data(path=p, **kwargs), oracle_reuters(a, **kwargs))


def test_reuters_split_sizes_and_labels(reuters_file):
    p, a = reuters_file
    (xtr, ytr), (xte, yte) = reuters.load_data(path=p)
    assert len(xtr) == int(50 * 0.8) == 40 and len(xte) == 10
    assert sorted(ytr.tolist() + yte.tolist()) == sorted(a["y"].tolist())
    assert ytr.dtype == a["y"].dtype


@pytest.mark.parametrize("test_split", [-0.1, 1.5, "0.2", None, True])
def test_reuters_bad_test_split(reuters_file, test_split):
    p, _ = reuters_file
    with pytest.raises(ValueError, match="test_split"):
        reuters.load_data(path=p, test_split=test_split)


def test_reuters_maxlen_that_keeps_nothing(reuters_file):
    p, _ = reuters_file
    with pytest.raises(ValueError, match="Increase maxlen"):
        reuters.load_data(path=p, maxlen=1)


# ----------------------------------------------------------- Boston housing

def test_boston_matches_keras_split(tmp_path):
    a = boston_arrays()
    p = write_npz(tmp_path / "b" / "boston_housing.npz", a)
    for ts, seed in ((0.2, 113), (0.0, 113), (0.5, 7), (0.99, 1)):
        order = np.arange(37)
        np.random.RandomState(seed).shuffle(order)
        cut = int(37 * (1 - ts))
        (xtr, ytr), (xte, yte) = boston_housing.load_data(path=p, test_split=ts,
                                                          seed=seed)
        np.testing.assert_array_equal(xtr, a["x"][order[:cut]])
        np.testing.assert_array_equal(ytr, a["y"][order[:cut]])
        np.testing.assert_array_equal(xte, a["x"][order[cut:]])
        np.testing.assert_array_equal(yte, a["y"][order[cut:]])
        assert xtr.dtype == np.float64 and xtr.shape == (cut, 13)
        assert xtr.flags.writeable and xtr.flags.c_contiguous


@pytest.mark.parametrize("test_split", [1, 1.0, -0.5, "x", None])
def test_boston_bad_test_split(tmp_path, test_split):
    p = write_npz(tmp_path / "b" / "boston_housing.npz", boston_arrays())
    with pytest.raises(ValueError, match="test_split"):
        boston_housing.load_data(path=p, test_split=test_split)


@pytest.mark.parametrize("arrays, match", [
    ({"x": np.zeros(5), "y": np.zeros(5)}, r"\['x'\].*2-D"),
    ({"x": np.zeros((5, 13)), "y": np.zeros((5, 1))}, r"\['y'\].*1-D"),
    ({"x": np.zeros((5, 13)), "y": np.zeros(4)}, "5 samples.*4 targets"),
    ({"x": obj([[1]] * 5), "y": np.zeros(5)}, "2-D numeric"),
    ({"x": np.zeros((5, 13))}, "no y"),
])
def test_boston_structure_errors(tmp_path, arrays, match):
    p = write_npz(tmp_path / "b" / "boston_housing.npz", arrays)
    with pytest.raises(ValueError, match=match) as exc:
        boston_housing.load_data(path=p)
    assert str(p) in str(exc.value)


# --------------------------------------------------------------- word index

def test_get_word_index_explicit_and_located(tmp_path, monkeypatch):
    index = {"the": 1, "and": 2, "café": 3}
    p = write_json(tmp_path / "mine" / "imdb_word_index.json", index)
    assert imdb.get_word_index(path=p) == index
    assert imdb.get_word_index(path=p.parent) == index       # a folder
    data = tmp_path / "data"
    write_json(data / "imdb" / "imdb_word_index.json", index)
    write_json(data / "reuters" / "reuters_word_index.json", {"said": 1})
    monkeypatch.setenv("FASTDENSE_DATA", str(data))
    with pytest.raises(ValueError, match="imdb_word_index.json.*published"):
        imdb.get_word_index()
    assert imdb.get_word_index(file_hash=md5(p)) == index
    publish(monkeypatch, imdb, p, attr="WORD_INDEX_SPEC", md5_only=True)
    assert imdb.get_word_index() == index
    publish(monkeypatch, reuters, data / "reuters" / "reuters_word_index.json",
            attr="WORD_INDEX_SPEC", md5_only=True)
    assert reuters.get_word_index() == {"said": 1}


@pytest.mark.parametrize("content, match", [
    (b'["the", "and"]', "not the object"),
    (b'{"the": 1.5}', "whole numbers"),
    (b'{"the": -1}', "whole numbers"),
    (b'{"the": true}', "whole numbers"),
    (b'{"the": NaN}', "not a readable JSON"),
    (b'{"the": 1', "not a readable JSON"),
    (b'{"\xff": 1}', "not a readable JSON"),
    (b'', "not a readable JSON"),
])
def test_word_index_structure_errors(tmp_path, content, match):
    p = tmp_path / "w" / "imdb_word_index.json"
    p.parent.mkdir()
    p.write_bytes(content)
    with pytest.raises(ValueError, match=match) as exc:
        imdb.get_word_index(path=p)
    assert str(p) in str(exc.value)


# ------------------------------------------------- where files are found

def test_fastdense_data_needs_the_published_digest(tmp_path, monkeypatch):
    a = imdb_arrays()
    p = write_npz(tmp_path / "data" / "imdb" / "imdb.npz", a)
    monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "data"))
    with pytest.raises(ValueError) as exc:
        imdb.load_data()
    msg = str(exc.value)
    assert str(p) in msg and "published IMDB" in msg
    assert imdb.SPEC.sha256 in msg and sha256(p) in msg
    assert "unset FASTDENSE_DATA" in msg and "path='./imdb.npz'" in msg
    # file_hash pins the file instead (sha256 or md5, any case)
    check_against(imdb.load_data(file_hash=sha256(p)), oracle_imdb(a))
    check_against(imdb.load_data(file_hash=md5(p).upper()), oracle_imdb(a))
    with pytest.raises(ValueError, match="expected sha256 " + "0" * 64):
        imdb.load_data(file_hash="0" * 64)
    # a file that is the published one loads with no file_hash
    publish(monkeypatch, imdb, p)
    check_against(imdb.load_data(num_words=9), oracle_imdb(a, num_words=9))


def test_either_published_digest_suffices(tmp_path, monkeypatch):
    a = imdb_arrays()
    p = write_npz(tmp_path / "data" / "imdb" / "imdb.npz", a)
    monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(imdb, "SPEC", _loader.KerasFile(
        "imdb", "IMDB", "imdb.npz", sha256="f" * 64, md5=md5(p)))
    check_against(imdb.load_data(), oracle_imdb(a))
    monkeypatch.setattr(imdb, "SPEC", _loader.KerasFile(
        "imdb", "IMDB", "imdb.npz", sha256=sha256(p), md5="f" * 32))
    check_against(imdb.load_data(), oracle_imdb(a))


@pytest.mark.parametrize("file_hash", ["abc", "g" * 64, 12, "0" * 40])
def test_bad_file_hash_is_valueerror(imdb_file, file_hash):
    p, _ = imdb_file
    with pytest.raises(ValueError, match="file_hash"):
        imdb.load_data(path=p, file_hash=file_hash)


def test_cache_and_its_advice(tmp_path, monkeypatch):
    a = imdb_arrays()
    cached = write_npz(tmp_path / "home" / "datasets" / "imdb" / "imdb.npz", a)
    with pytest.raises(ValueError, match="imdb.npz.*delete it, and it is downloaded"):
        imdb.load_data()
    publish(monkeypatch, imdb, cached)
    check_against(imdb.load_data(), oracle_imdb(a))
    # FASTDENSE_DATA comes first
    other = imdb_arrays(seed=9)
    write_npz(tmp_path / "data" / "imdb" / "imdb.npz", other)
    monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "data"))
    with pytest.raises(ValueError, match=str(tmp_path / "data")):
        imdb.load_data()
    # a FASTDENSE_DATA without the file falls through to the cache
    monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "empty"))
    check_against(imdb.load_data(), oracle_imdb(a))


def test_other_bare_name_is_the_published_file_under_that_name(tmp_path, monkeypatch):
    a = imdb_arrays()
    p = write_npz(tmp_path / "data" / "imdb" / "copy.npz", a)
    monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "data"))
    with pytest.raises(ValueError, match="copy.npz.*published"):
        imdb.load_data(path="copy.npz")
    publish(monkeypatch, imdb, p)
    check_against(imdb.load_data(path="copy.npz"), oracle_imdb(a))


def test_bare_name_never_reads_the_current_folder(tmp_path, monkeypatch, isolated):
    write_npz(tmp_path / "cwd" / "imdb.npz", imdb_arrays())
    monkeypatch.chdir(tmp_path / "cwd")
    with pytest.raises(DownloadError) as exc:
        imdb.load_data()
    assert "pass './imdb.npz'" in str(exc.value)
    assert len(imdb.load_data(path="./imdb.npz")[0][0]) == 40
    assert len(isolated) == len(imdb.MIRRORS)


def test_explicit_paths(tmp_path, monkeypatch):
    a = imdb_arrays()
    p = write_npz(tmp_path / "mine" / "reviews.npz", a)
    check_against(imdb.load_data(path=p), oracle_imdb(a))           # Path
    check_against(imdb.load_data(path=str(p)), oracle_imdb(a))      # str
    write_npz(tmp_path / "dir" / "imdb.npz", a)
    check_against(imdb.load_data(path=tmp_path / "dir"), oracle_imdb(a))
    monkeypatch.setenv("HOME", str(tmp_path))
    check_against(imdb.load_data(path="~/mine/reviews.npz"), oracle_imdb(a))
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        imdb.load_data(path=tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError, match="imdb.npz"):
        imdb.load_data(path=tmp_path / "mine")          # folder without imdb.npz
    # an explicit file_hash must match
    with pytest.raises(ValueError, match="differs from file_hash"):
        imdb.load_data(path=p, file_hash="1" * 32)
    check_against(imdb.load_data(path=p, file_hash=sha256(p)), oracle_imdb(a))


# ----------------------------------------------------------------- download

def test_download_verifies_then_caches(tmp_path, monkeypatch, isolated):
    a = imdb_arrays()
    served = write_npz(tmp_path / "served" / "imdb.npz", a)
    publish(monkeypatch, imdb, served)
    monkeypatch.setattr(imdb, "MIRRORS", ["http://nope.invalid/", file_url(served.parent)])
    check_against(imdb.load_data(), oracle_imdb(a))
    cached = tmp_path / "home" / "datasets" / "imdb" / "imdb.npz"
    assert cached.read_bytes() == served.read_bytes()
    assert isolated[0] == "http://nope.invalid/imdb.npz"
    n = len(isolated)
    served.unlink()
    check_against(imdb.load_data(), oracle_imdb(a))         # from the cache
    assert len(isolated) == n
    # a bare other name downloads the same file under that name
    write_npz(served, a)
    imdb.load_data(path="second.npz")
    assert (cached.parent / "second.npz").read_bytes() == served.read_bytes()
    assert not [q for q in cached.parent.iterdir() if q.name.startswith(".")]


def test_download_rejects_wrong_and_truncated_content(tmp_path, monkeypatch):
    a = reuters_arrays()
    good = write_npz(tmp_path / "good" / "reuters.npz", a)
    publish(monkeypatch, reuters, good)
    cut = tmp_path / "cut" / "reuters.npz"
    cut.parent.mkdir()
    cut.write_bytes(good.read_bytes()[:-100])
    wrong = write_npz(tmp_path / "wrong" / "reuters.npz", reuters_arrays(seed=8))
    monkeypatch.setattr(reuters, "MIRRORS", [file_url(cut.parent), file_url(wrong.parent)])
    with pytest.raises(DownloadError) as exc:
        reuters.load_data()
    assert str(exc.value).count("rejected: content differs") == 2
    cache = tmp_path / "home" / "datasets" / "reuters"
    assert not any(cache.iterdir())                         # nothing bad kept
    monkeypatch.setattr(reuters, "MIRRORS", [file_url(cut.parent), file_url(good.parent)])
    check_against(reuters.load_data(), oracle_reuters(a))


def test_offline_error_is_clear(tmp_path, monkeypatch, isolated):
    monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "empty"))
    for module, name in ((imdb, "imdb.npz"), (reuters, "reuters.npz"),
                         (boston_housing, "boston_housing.npz")):
        with pytest.raises(DownloadError) as exc:
            module.load_data()
        msg = str(exc.value)
        assert isinstance(exc.value, OSError)
        for url in module.MIRRORS:
            assert url + name in msg
        assert "offline" in msg and "FASTDENSE_DATA" in msg
        assert str(tmp_path / "empty" / module.SPEC.dataset / name) in msg
    with pytest.raises(DownloadError, match="imdb_word_index.json"):
        imdb.get_word_index()
    with pytest.raises(DownloadError, match="reuters_word_index.json"):
        reuters.get_word_index()
    assert all(u.startswith("http") for u in isolated)


def test_published_digests_are_keras_values():
    """The digests Keras's get_file checks (2.3.1 md5 / sha256; Keras 3 sha256)."""
    assert imdb.SPEC.md5 == "599dadb1135973df5b59232a0e9a887c"
    assert imdb.SPEC.sha256 == ("69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada24"
                                "4f7d9544e4676b9f")
    assert imdb.WORD_INDEX_SPEC.md5 == "bfafd718b763782e994055a2d397834f"
    assert reuters.SPEC.md5 == "87aedbeb0cb229e378797a632c1997b6"
    assert reuters.SPEC.sha256 == ("d6586e694ee56d7a4e65172e12b3e987c03096cb01ea"
                                   "b99753921ef915959916")
    assert reuters.WORD_INDEX_SPEC.md5 == "4d44cc38712099c9e383dc6e5f11a921"
    assert boston_housing.SPEC.sha256 == ("f553886a1f8d56431e820c5b82552d9d95cfcb9"
                                          "6d1e678153f8839538947dff5")
    for m in (imdb, reuters, boston_housing):
        assert m.MIRRORS[0] == "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


# ---------------------------------------------------- corrupt and malformed

def test_truncated_and_flipped_files_are_valueerrors(tmp_path, monkeypatch):
    a = imdb_arrays()
    for compressed in (False, True):
        good = write_npz(tmp_path / str(compressed) / "imdb.npz", a, compressed)
        data = good.read_bytes()
        cases = {"truncated": data[: len(data) // 2], "empty": b"",
                 "tail cut": data[:-5]}
        flipped = bytearray(data)
        flipped[_member_data_offset(data, "x_train.npy") + 60] ^= 0x40
        cases["flipped"] = bytes(flipped)
        for what, content in cases.items():
            p = tmp_path / str(compressed) / what / "imdb.npz"
            p.parent.mkdir()
            p.write_bytes(content)
            with pytest.raises(ValueError) as exc:       # explicit: structure
                imdb.load_data(path=p)
            assert str(p) in str(exc.value), what
            assert "corrupt" in str(exc.value) or "truncated" in str(exc.value)
        # the same damage in FASTDENSE_DATA is a digest error
        publish(monkeypatch, imdb, good)
        data_dir = tmp_path / "data" / str(compressed)
        (data_dir / "imdb").mkdir(parents=True)
        (data_dir / "imdb" / "imdb.npz").write_bytes(bytes(flipped))
        monkeypatch.setenv("FASTDENSE_DATA", str(data_dir))
        with pytest.raises(ValueError, match="content differs from the published"):
            imdb.load_data()


def _member_data_offset(data, member):
    """Where ``member``'s stored bytes start inside the zip ``data``."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    h = info.header_offset
    name_len = int.from_bytes(data[h + 26:h + 28], "little")
    extra_len = int.from_bytes(data[h + 28:h + 30], "little")
    return h + 30 + name_len + extra_len


class _Gadget:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_pickle_gadgets_are_refused_not_run(tmp_path):
    marker = tmp_path / "ran"
    a = imdb_arrays()
    a["x_train"] = obj([[1, 2], _Gadget(str(marker))])
    a["y_train"] = np.array([0, 1])
    p = write_npz(tmp_path / "g" / "imdb.npz", a)
    with pytest.raises(ValueError, match="refused to load the global"):
        imdb.load_data(path=p)
    assert not marker.exists()


def _npz_with_member(path, name, raw):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(name + ".npy", raw)
    return path


def _object_npy(arr, protocol, module=None):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|O", "fortran_order": False, "shape": arr.shape})
    body = pickle.dumps(arr, protocol=protocol)
    if module:
        body = body.replace(b"numpy._core.multiarray", module.encode())
        body = body.replace(b"numpy.core.multiarray", module.encode())
    return buf.getvalue() + body


@pytest.mark.parametrize("module", [None, "numpy.core.multiarray",
                                    "numpy._core.multiarray"])
def test_object_arrays_from_old_pickles_load(tmp_path, module):
    """Protocol 2 (Keras's files come from Python 2) and both NumPy spellings."""
    seqs = [[1, 2, 3], [], [70000, 5]]
    x = obj(seqs)
    p = tmp_path / "o" / "reuters.npz"
    p.parent.mkdir()
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("x.npy", _object_npy(x, 2, module))
        buf = io.BytesIO()
        np.save(buf, np.array([3, 4, 5]))
        z.writestr("y.npy", buf.getvalue())
    (xtr, ytr), (xte, yte) = reuters.load_data(path=p, test_split=0.0,
                                               start_char=None, index_from=0,
                                               num_words=10 ** 6)
    assert sorted(map(tuple, lists(xtr))) == sorted(map(tuple, seqs))


@pytest.mark.parametrize("raw, match", [
    (b"\x93NUMPY\x01\x00", "well-formed"),
    (b"not an npy at all", "well-formed"),
    (None, "bytes after the end"),
    ("badpickle", "well-formed"),
    ("wrongshape", "header announces"),
])
def test_malformed_members_are_valueerrors(tmp_path, raw, match):
    x = obj([[1, 2], [3]])
    if raw is None:
        buf = io.BytesIO()
        np.save(buf, x, allow_pickle=True)
        raw = buf.getvalue() + b"junk"
    elif raw == "badpickle":
        raw = _object_npy(x, 4)[:-3]
    elif raw == "wrongshape":
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf, {"descr": "|O", "fortran_order": False, "shape": (5,)})
        raw = buf.getvalue() + pickle.dumps(x, protocol=4)
    p = _npz_with_member(tmp_path / "m" / "reuters.npz", "x", raw)
    with zipfile.ZipFile(p, "a") as z:
        buf = io.BytesIO()
        np.save(buf, np.array([0, 1]))
        z.writestr("y.npy", buf.getvalue())
    with pytest.raises(ValueError, match=match) as exc:
        reuters.load_data(path=p)
    assert str(p) in str(exc.value)


@pytest.mark.parametrize("change, match", [
    ({"x_train": np.zeros(40)}, r"\['x_train'\].*float64 array of shape \(40,\)"),
    ({"y_train": np.zeros(40)}, r"\['y_train'\].*whole-number labels"),
    ({"y_train": np.zeros((40, 1), np.int64)}, r"\['y_train'\]"),
    ({"y_test": np.zeros(29, np.int64)}, "29 labels.*30 sequences"),
    ({"x_test": obj([[1, -2]] * 30)}, ">= 0, found -2"),
    ({"x_test": obj([[1.5]] * 30)}, "whole numbers"),
    ({"x_test": obj([["a"]] * 30)}, "whole numbers"),
    ({"x_test": obj([[[1, 2]]] * 30)}, "not flat lists|whole numbers"),
    ({"x_test": obj([5] * 30)}, "element 0 is a int"),
    ({"x_test": obj([None] * 30)}, "element 0 is a NoneType"),
])
def test_imdb_structure_errors(tmp_path, change, match):
    a = dict(imdb_arrays(), **change)
    p = write_npz(tmp_path / "s" / "imdb.npz", a)
    with pytest.raises(ValueError, match=match) as exc:
        imdb.load_data(path=p)
    assert str(p) in str(exc.value)


def test_missing_keys_and_not_an_npz(tmp_path):
    p = write_npz(tmp_path / "k" / "imdb.npz", {"x_train": obj([[1]]),
                                                "y_train": np.array([0])})
    with pytest.raises(ValueError, match="no x_test, y_test.*holds x_train, y_train"):
        imdb.load_data(path=p)
    q = tmp_path / "k" / "plain.npy"
    np.save(q, np.arange(3))
    with pytest.raises(ValueError, match="not a readable .npz"):
        imdb.load_data(path=q)
    big = zipfile.ZipInfo("x.npy")
    with zipfile.ZipFile(tmp_path / "k" / "bomb.npz", "w") as z:
        z.writestr(big, b"")
    r = tmp_path / "k" / "bomb.npz"
    orig = __import__("fastdense.datasets._npz", fromlist=["x"])
    old = orig.MAX_MEMBER_BYTES
    try:
        orig.MAX_MEMBER_BYTES = -1
        with zipfile.ZipFile(r, "a") as z:
            z.writestr("y.npy", b"")
        with pytest.raises(ValueError, match="declares"):
            reuters.load_data(path=r)
    finally:
        orig.MAX_MEMBER_BYTES = old


# ------------------------------------------------- the datasets it lacks

@pytest.mark.parametrize("name", ["cifar10", "cifar100", "california_housing"])
def test_unshipped_keras_datasets_say_so(name):
    with pytest.raises(ImportError) as exc:
        exec("from fastdense.datasets import %s" % name, {})
    msg = str(exc.value)
    assert "does not ship" in msg and name in msg
    for have in ("boston_housing", "fashion_mnist", "imdb", "mnist", "reuters"):
        assert have in msg
    with pytest.raises(ImportError, match="does not ship"):
        getattr(datasets, name)


def test_datasets_package_lists_its_modules():
    for name in ("mnist", "fashion_mnist", "imdb", "reuters", "boston_housing"):
        assert name in datasets.__all__ and hasattr(datasets, name)
    assert not hasattr(datasets, "no_such_thing")
    with pytest.raises(AttributeError, match="no_such_thing"):
        datasets.no_such_thing


# ---------------------------------------------------------------- multi_hot

def book_vectorize(sequences, dimension):
    """The book's vectorize_sequences (Deep Learning with Python, 3.4.2)."""
    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.
    return results


def dense(m):
    return m.toarray() if hasattr(m, "toarray") else m


def check_canonical(m, seqs, num_classes):
    assert m.format == "csr" and m.shape == (len(seqs), num_classes)
    for i, s in enumerate(seqs):
        row = m.indices[m.indptr[i]:m.indptr[i + 1]]
        assert row.tolist() == sorted(set(int(w) for w in s))
    assert np.all(m.data == 1)


def test_multi_hot_is_the_books_vectorize(scipy_sparse):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 50, rng.integers(0, 30)).tolist() for _ in range(200)]
    want = book_vectorize(seqs, 50)
    m = multi_hot(seqs, 50)
    assert scipy_sparse.issparse(m) and m.format == "csr"
    assert m.dtype == np.float32 and m.indices.dtype == np.int32
    assert m.indptr.dtype == np.int32
    np.testing.assert_array_equal(m.toarray(), want)
    check_canonical(m, seqs, 50)
    d = multi_hot(seqs, 50, sparse=False)
    assert isinstance(d, np.ndarray) and d.dtype == np.float32
    np.testing.assert_array_equal(d, want)


@given(st.lists(st.lists(st.integers(0, 19), max_size=25), max_size=30),
       st.integers(20, 40))
def test_multi_hot_fuzz_sparse_equals_dense(scipy_sparse, seqs, num_classes):
    m = multi_hot(seqs, num_classes)
    d = multi_hot(seqs, num_classes, sparse=False)
    assert scipy_sparse.issparse(m)
    np.testing.assert_array_equal(m.toarray(), d)
    np.testing.assert_array_equal(d, book_vectorize(seqs, num_classes))
    check_canonical(m, seqs, num_classes)


def test_multi_hot_duplicates_and_empty_rows(scipy_sparse):
    seqs = [[3, 3, 3, 1], [], [0, 0], [], [4, 2, 4, 2]]
    m = multi_hot(seqs, 5)
    assert m.nnz == 5 and m.indptr.tolist() == [0, 2, 2, 3, 3, 5]
    assert m.indices.tolist() == [1, 3, 0, 2, 4]
    assert m.has_canonical_format
    m.has_canonical_format = False
    m.sum_duplicates()                           # nothing to sum
    assert m.nnz == 5 and np.all(m.data == 1)
    assert multi_hot([[], []], 7).shape == (2, 7)
    assert multi_hot([[], []], 7).nnz == 0
    assert multi_hot([], 7).shape == (0, 7)
    assert multi_hot([], 7, sparse=False).shape == (0, 7)
    assert multi_hot(np.empty(0, dtype=object), 3).shape == (0, 3)


@pytest.mark.parametrize("sparse", [True, False])
def test_multi_hot_out_of_range(sparse, scipy_sparse):
    for seqs, bad, row in (([[1], [2, 10]], 10, 1), ([[0, -1]], -1, 0),
                           ([[], [], [9, 11, 3]], 11, 2)):
        with pytest.raises(MultiHotIndexError) as exc:
            multi_hot(seqs, 10, sparse=sparse)
        assert isinstance(exc.value, ValueError)
        assert isinstance(exc.value, IndexError)   # what the book's function raised
        assert "sequences[%d]" % row in str(exc.value)
        assert "index %d" % bad in str(exc.value)
        assert "num_words=10" in str(exc.value)
    # the book's function raised IndexError for the same input
    with pytest.raises(IndexError):
        book_vectorize([[1], [2, 10]], 10)


@pytest.mark.parametrize("dtype", ["float32", "float64", np.int8, "uint8", bool,
                                   "int64"])
def test_multi_hot_dtypes(dtype, scipy_sparse):
    seqs = [[1, 2, 2], [0]]
    m = multi_hot(seqs, 3, dtype=dtype)
    d = multi_hot(seqs, 3, dtype=dtype, sparse=False)
    assert m.dtype == np.dtype(dtype) and d.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(m.toarray(), d)
    assert d.tolist() == np.array([[0, 1, 1], [1, 0, 0]], dtype=dtype).tolist()


def test_multi_hot_float16_is_dense_only(scipy_sparse):
    d = multi_hot([[1]], 3, dtype=np.float16, sparse=False)
    assert d.dtype == np.float16 and d.tolist() == [[0, 1, 0]]
    with pytest.raises(ValueError, match="no float16"):
        multi_hot([[1]], 3, dtype=np.float16)


def test_multi_hot_input_forms(scipy_sparse, tmp_path):
    want = book_vectorize([[1, 2], [0], [2, 2, 2]], 4)
    forms = [
        [[1, 2], [0], [2, 2, 2]],
        ((1, 2), (0,), (2, 2, 2)),
        obj([[1, 2], [0], [2, 2, 2]]),
        [np.array([1, 2], np.int32), np.array([0], np.uint8), np.array([2, 2, 2])],
        (s for s in [[1, 2], [0], [2, 2, 2]]),
        [[np.int64(1), 2], [0], [2, 2, 2]],
    ]
    for f in forms:
        np.testing.assert_array_equal(dense(multi_hot(f, 4)), want)
    grid = np.array([[1, 2, 2], [0, 0, 3]], dtype=np.uint16)
    np.testing.assert_array_equal(multi_hot(grid, 4).toarray(),
                                  book_vectorize(grid.astype(np.int64), 4))
    # straight from imdb.load_data
    p = write_npz(tmp_path / "i" / "imdb.npz", imdb_arrays())
    (x, _), _ = imdb.load_data(path=p, num_words=20)
    np.testing.assert_array_equal(multi_hot(x, 20).toarray(),
                                  book_vectorize(list(x), 20))


@pytest.mark.parametrize("seqs, match", [
    (np.array([1, 2, 3]), "single sequence"),
    ([[1.0, 2.0]], "must be integers"),
    ([[True, False]], "must be integers"),
    ([["a"]], "must be integers"),
    ([[1, None]], "must be integers"),
    ([[[1, 2]]], "flat sequence"),
    ([1, 2], "sequences\\[0\\] is a int"),
    ("abc", "got a str"),
    (5, "got int"),
    (np.zeros((2, 2, 2), np.int64), "shape"),
    (np.zeros((2, 2)), "must be integers"),
])
def test_multi_hot_bad_sequences(seqs, match):
    with pytest.raises(ValueError, match=match):
        multi_hot(seqs, 10, sparse=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_classes": 0}, ">= 1"), ({"num_classes": -3}, ">= 1"),
    ({"num_classes": 2.0}, "whole number"), ({"num_classes": True}, "whole number"),
    ({"num_classes": None}, "whole number"), ({"dtype": "str"}, "number or bool"),
    ({"dtype": "nonsense"}, "not a NumPy dtype"), ({"dtype": object}, "number or bool"),
    ({"sparse": "yes"}, "sparse must be"), ({"sparse": 1.5}, "sparse must be"),
])
def test_multi_hot_bad_arguments(kwargs, match):
    args = dict({"num_classes": 5}, **kwargs)
    with pytest.raises(ValueError, match=match):
        multi_hot([[1]], **args)


def test_multi_hot_without_scipy(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    d = multi_hot([[1, 1], []], 3)                    # 'auto': dense
    assert isinstance(d, np.ndarray)
    assert d.tolist() == [[0, 1, 0], [0, 0, 0]]
    with pytest.raises(ImportError, match="needs scipy.*sparse=False"):
        multi_hot([[1]], 3, sparse=True)
    assert isinstance(multi_hot([[1]], 3, sparse=False), np.ndarray)


def test_multi_hot_sparse_false_with_scipy(scipy_sparse):
    assert isinstance(multi_hot([[1]], 3, sparse=False), np.ndarray)


def test_multi_hot_chunks_agree(monkeypatch, scipy_sparse):
    rng = np.random.default_rng(1)
    seqs = [rng.integers(0, 40, rng.integers(0, 20)).tolist() for _ in range(300)]
    seqs[5] = list(range(40)) * 3                    # a row longer than a chunk
    seqs[100:150] = [[]] * 50                        # a run of empty rows
    whole = multi_hot(seqs, 40)
    monkeypatch.setattr(utils, "_CHUNK", 7)
    small = multi_hot(seqs, 40)
    for a, b in ((whole.indptr, small.indptr), (whole.indices, small.indices)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(multi_hot(seqs, 40, sparse=False), whole.toarray())
    with pytest.raises(MultiHotIndexError, match=r"sequences\[299\]"):
        multi_hot(seqs[:299] + [[41]], 40)


def test_multi_hot_wide_rows_use_int64_and_lexsort(scipy_sparse):
    m = multi_hot([[0, 2 ** 31 + 5, 0], [7]], 2 ** 31 + 6)
    assert m.indices.dtype == np.int64 and m.indices.tolist() == [0, 2 ** 31 + 5, 7]
    wide = 2 ** 62
    m = multi_hot([[wide - 1, 3, wide - 1], [], [1]], wide)   # keys overflow: lexsort
    assert m.indices.tolist() == [3, wide - 1, 1]
    assert m.indptr.tolist() == [0, 2, 2, 3]


def test_multi_hot_imdb_scale_stays_tens_of_mb(scipy_sparse):
    """25,000 reviews x 10,000 words: the book's dense float32 array is 1 GB."""
    rng = np.random.default_rng(2)
    grid = rng.integers(0, 10000, (25000, 240), dtype=np.int32)
    tracemalloc.start()
    try:
        m = multi_hot(grid, 10000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = m.data.nbytes + m.indices.nbytes + m.indptr.nbytes
    assert size < 50e6 and peak < 100e6, (size, peak)
    assert m.shape == (25000, 10000)
    ordered = np.sort(grid, axis=1)
    distinct = 1 + np.count_nonzero(ordered[:, 1:] != ordered[:, :-1], axis=1)
    np.testing.assert_array_equal(np.diff(m.indptr), distinct)
    np.testing.assert_array_equal(m[:50].toarray(), book_vectorize(grid[:50], 10000))
