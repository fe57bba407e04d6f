"""fastdense.datasets: the IDX reader/writer, MNIST/Fashion-MNIST loading,
verification, the cache and the (fake) download.

Real-data tests read MNIST from ``$FASTDENSE_DATA/mnist`` or, when that is
unset, from ``<repo>/../shared/data/mnist``. Without the data they skip, except
under CI (``CI`` set), where missing data is a failure. Nothing here touches
the network: every test runs with an opener that refuses non-file URLs.
"""
import gzip
import hashlib
import os
import shutil
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from fastdense.datasets import (DownloadError, IDXError, fashion_mnist, mnist,
                                read_idx, read_idx_info, write_idx)
from fastdense.datasets import _loader

REPO = Path(__file__).resolve().parents[1]
NAMES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
         "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
MNIST_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


# ------------------------------------------------------------------ fixtures

def _real_mnist_dir():
    root = os.environ.get("FASTDENSE_DATA") or str(REPO.parent / "shared" / "data")
    return Path(root) / "mnist"


REAL = _real_mnist_dir()


@pytest.fixture
def real_dir():
    """The folder with the real MNIST .gz files (skip/fail when absent)."""
    if not all((REAL / (n + ".gz")).is_file() or (REAL / n).is_file()
               for n in NAMES.values()):
        msg = ("real MNIST not found in %s; set FASTDENSE_DATA to a folder "
               "holding mnist/" % REAL)
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return REAL


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No network, no real home: FASTDENSE_HOME in tmp_path, FASTDENSE_DATA
    kept only for tests that ask for it via ``data_env``."""
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


@pytest.fixture
def data_env(monkeypatch, real_dir):
    monkeypatch.setenv("FASTDENSE_DATA", str(real_dir.parent))
    return real_dir


def write_dataset(folder, arrays, gz=False):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for role, name in NAMES.items():
        write_idx(folder / (name + (".gz" if gz else "")), arrays[role])
    return folder


def synthetic(n_train=120, n_test=30, seed=0, side=28):
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
            "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
            "x_test": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
            "y_test": rng.integers(0, 10, n_test, dtype=np.uint8)}


def as_dict(result):
    (xtr, ytr), (xte, yte) = result
    return {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte}


def assert_same(result, arrays):
    got = as_dict(result)
    for k in NAMES:
        np.testing.assert_array_equal(got[k], arrays[k])
        assert got[k].dtype == arrays[k].dtype


def copy_real(real_dir, dest, plain=False):
    dest.mkdir(parents=True, exist_ok=True)
    for name in NAMES.values():
        src = real_dir / (name + ".gz")
        if plain:
            (dest / name).write_bytes(gzip.decompress(src.read_bytes()))
        else:
            shutil.copyfile(src, dest / (name + ".gz"))   # no read-only bits
    return dest


def flip_label_byte(folder, gz=True):
    """Change one label of the real test labels, keeping the file well formed."""
    name = NAMES["y_test"]
    path = folder / (name + ".gz")
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[8 + 5] = (data[8 + 5] + 1) % 10
    path.unlink()
    if gz:
        path.write_bytes(gzip.compress(bytes(data)))
        return path
    (folder / name).write_bytes(bytes(data))
    return folder / name


# ------------------------------------------------------------ the real MNIST

def check_mnist_facts(result):
    (x_train, y_train), (x_test, y_test) = result
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8
        assert a.flags.c_contiguous and a.flags.writeable
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(y_train).tolist() == MNIST_COUNTS
    assert round(float(x_train.mean()), 4) == 33.3184


def test_mnist_via_fastdense_data(data_env):
    check_mnist_facts(mnist.load_data())


def test_mnist_via_explicit_folder(real_dir):
    res = mnist.load_data(path=str(real_dir))
    check_mnist_facts(res)
    assert_same(mnist.load_data(path=real_dir), as_dict(res))


def test_mnist_plain_files(real_dir, tmp_path, monkeypatch):
    copy_real(real_dir, tmp_path / "data" / "mnist", plain=True)
    check_mnist_facts(mnist.load_data(path=tmp_path / "data" / "mnist"))
    monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "data"))
    check_mnist_facts(mnist.load_data())


def test_mnist_npz_explicit_and_relative_to_cache(real_dir, tmp_path, monkeypatch):
    ref = as_dict(mnist.load_data(path=real_dir))
    np.savez(tmp_path / "mine.npz", **ref)
    assert_same(mnist.load_data(path=tmp_path / "mine.npz"), ref)
    # Keras style: a bare file name is looked up in the cache
    cache = tmp_path / "home" / "datasets" / "mnist"
    cache.mkdir(parents=True)
    np.savez_compressed(cache / "mnist.npz", **ref)
    monkeypatch.chdir(tmp_path)
    res = mnist.load_data(path="mnist.npz")
    check_mnist_facts(res)


def test_results_are_fresh_arrays(real_dir):
    (a, _), _ = mnist.load_data(path=real_dir)
    a[:] = 0
    (b, _), _ = mnist.load_data(path=real_dir)
    assert b.mean() > 30          # no shared or cached array across calls


# ---------------------------------------------------- digests of real files

def test_edited_byte_in_fastdense_data_is_valueerror(real_dir, tmp_path, monkeypatch):
    copy_real(real_dir, tmp_path / "data" / "mnist")
    bad = flip_label_byte(tmp_path / "data" / "mnist")
    monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "data"))
    with pytest.raises(ValueError, match="sha256") as exc:
        mnist.load_data()
    assert str(bad) in str(exc.value)
    assert "FASTDENSE_DATA" in str(exc.value) or "replace" in str(exc.value)


def test_edited_plain_byte_in_cache_says_delete(real_dir, tmp_path):
    cache = copy_real(real_dir, tmp_path / "home" / "datasets" / "mnist")
    bad = flip_label_byte(cache, gz=False)
    with pytest.raises(ValueError, match="delete it") as exc:
        mnist.load_data()
    assert str(bad) in str(exc.value)


def test_edited_byte_in_explicit_real_folder_is_valueerror(real_dir, tmp_path):
    folder = copy_real(real_dir, tmp_path / "copy")
    bad = flip_label_byte(folder)
    with pytest.raises(ValueError, match="damaged") as exc:
        mnist.load_data(path=folder)
    assert str(bad) in str(exc.value)


def test_edited_npz_of_real_data_is_valueerror(real_dir, tmp_path):
    ref = as_dict(mnist.load_data(path=real_dir))
    ref["x_test"][3, 14, 14] ^= 0xFF
    np.savez(tmp_path / "m.npz", **ref)
    with pytest.raises(ValueError, match="x_test"):
        mnist.load_data(path=tmp_path / "m.npz")


def test_flipped_byte_in_gzip_container_is_valueerror(real_dir, tmp_path, monkeypatch):
    folder = copy_real(real_dir, tmp_path / "data" / "mnist")
    path = folder / (NAMES["x_test"] + ".gz")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x55
    path.write_bytes(bytes(raw))
    monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "data"))
    with pytest.raises(ValueError) as exc:
        mnist.load_data()
    assert str(path) in str(exc.value)


def test_fashion_refuses_mnist_files(real_dir, tmp_path, monkeypatch):
    copy_real(real_dir, tmp_path / "data" / "fashion_mnist")
    monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "data"))
    with pytest.raises(ValueError, match="MNIST file, not Fashion-MNIST"):
        fashion_mnist.load_data()


# ------------------------------------------------- other datasets via path

def test_other_dataset_of_mnist_shapes_loads_via_path(tmp_path):
    arrays = synthetic(60000, 10000, seed=1)
    write_dataset(tmp_path / "digits", arrays)
    res = mnist.load_data(path=tmp_path / "digits")
    assert_same(res, arrays)
    for a in as_dict(res).values():
        assert a.flags.c_contiguous and a.flags.writeable


@pytest.mark.parametrize("gz", [False, True])
def test_small_other_dataset_loads_via_path(tmp_path, gz):
    arrays = synthetic()
    write_dataset(tmp_path / "d", arrays, gz=gz)
    assert_same(mnist.load_data(path=str(tmp_path / "d")), arrays)
    assert_same(fashion_mnist.load_data(path=tmp_path / "d"), arrays)


def test_other_dataset_npz_loads_via_path(tmp_path):
    arrays = synthetic()
    np.savez_compressed(tmp_path / "d.npz", **arrays)
    assert_same(mnist.load_data(path=tmp_path / "d.npz"), arrays)


def test_other_dataset_is_refused_in_canonical_location(tmp_path, monkeypatch):
    arrays = synthetic()
    write_dataset(tmp_path / "data" / "mnist", arrays, gz=True)
    monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "data"))
    with pytest.raises(ValueError, match="differs from the published MNIST"):
        mnist.load_data()


# ---------------------------------------------------- malformed IDX files

def _bad_files():
    good = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = struct.pack(">HBB3I", 0, 8, 3, 2, 3, 4)
    data = header + good.tobytes()
    gz = gzip.compress(data, mtime=0)
    cases = {
        "truncated": (data[:-5], "truncated"),
        "too_long": (data + b"\x00", "too long"),
        "short_header": (data[:10], "truncated"),
        "tiny": (b"\x00\x00", "truncated"),
        "empty": (b"", "truncated"),
        "wrong_magic": (b"\x00\x01\x08\x03" + data[4:], "magic"),
        "bad_type_code": (b"\x00\x00\x07\x03" + data[4:], "magic"),
        "dims_mismatch": (struct.pack(">HBB3I", 0, 8, 3, 2, 3, 5) + good.tobytes(),
                          "header says"),
        "gz_truncated": (gz[:-12], "truncated gzip"),
        "gz_bad_crc": (gz[:-8] + bytes([gz[-8] ^ 1]) + gz[-7:], "corrupt gzip"),
        "gz_bad_size": (gz[:-4] + struct.pack("<I", len(data) + 1), "corrupt gzip"),
        "gz_corrupt_stream": (gz[:12] + bytes([gz[12] ^ 0xFF]) + gz[13:], "gzip"),
        "gz_trailing_garbage": (gz + b"garbage!", "garbage"),
        "gz_of_truncated_idx": (gzip.compress(data[:-1]), "truncated"),
    }
    return cases


@pytest.mark.parametrize("case", sorted(_bad_files()))
def test_read_idx_rejects_malformed(tmp_path, case):
    content, words = _bad_files()[case]
    path = tmp_path / ("bad-%s" % case)
    path.write_bytes(content)
    with pytest.raises(IDXError) as exc:
        read_idx(path)
    assert isinstance(exc.value, ValueError)
    assert str(path) in str(exc.value)
    assert words in str(exc.value)


@pytest.mark.parametrize("case", ["truncated", "wrong_magic", "dims_mismatch",
                                  "gz_truncated", "gz_bad_crc",
                                  "gz_corrupt_stream"])
@pytest.mark.parametrize("where", ["explicit", "data", "cache"])
def test_malformed_file_in_dataset_is_valueerror(tmp_path, monkeypatch, case, where):
    folders = {"explicit": tmp_path / "ds", "data": tmp_path / "data" / "mnist",
               "cache": tmp_path / "home" / "datasets" / "mnist"}
    folder = write_dataset(folders[where], synthetic())
    bad = folder / NAMES["y_train"]
    bad.unlink()
    bad.write_bytes(_bad_files()[case][0])
    if where == "data":
        monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "data"))
    with pytest.raises(ValueError) as exc:
        mnist.load_data(path=folder if where == "explicit" else None)
    assert str(bad) in str(exc.value)
    assert "delete" in str(exc.value) or "replace" in str(exc.value)


def test_structure_checks_for_explicit_folders(tmp_path):
    arrays = synthetic()
    arrays["y_train"] = arrays["y_train"][:-1]
    write_dataset(tmp_path / "a", arrays)
    with pytest.raises(ValueError, match="one label per image"):
        mnist.load_data(path=tmp_path / "a")

    arrays = synthetic()
    arrays["x_test"] = arrays["x_test"].astype(np.float32)
    write_dataset(tmp_path / "b", arrays)
    with pytest.raises(ValueError, match="t10k-images.*uint8"):
        mnist.load_data(path=tmp_path / "b")

    arrays = synthetic()
    arrays["y_train"] = arrays["y_train"].reshape(-1, 1)
    write_dataset(tmp_path / "c", arrays)
    with pytest.raises(ValueError, match="train-labels"):
        mnist.load_data(path=tmp_path / "c")

    arrays = synthetic()
    arrays["x_test"] = arrays["x_test"][:, :20, :20].copy()
    write_dataset(tmp_path / "d", arrays)
    with pytest.raises(ValueError, match="one size"):
        mnist.load_data(path=tmp_path / "d")


def test_missing_and_nonexistent_paths(tmp_path):
    write_dataset(tmp_path / "partial", synthetic())
    (tmp_path / "partial" / NAMES["x_test"]).unlink()
    with pytest.raises(FileNotFoundError, match=NAMES["x_test"]):
        mnist.load_data(path=tmp_path / "partial")
    with pytest.raises(FileNotFoundError, match="nowhere-here"):
        mnist.load_data(path=tmp_path / "nowhere-here")
    with pytest.raises(FileNotFoundError, match="looked for .*relative.npz.* and "):
        mnist.load_data(path="relative.npz")


def test_npz_errors_name_the_file(tmp_path):
    arrays = synthetic()
    np.savez(tmp_path / "partial.npz", x_train=arrays["x_train"])
    with pytest.raises(ValueError, match="partial.npz.*y_train"):
        mnist.load_data(path=tmp_path / "partial.npz")
    np.savez(tmp_path / "full.npz", **arrays)
    raw = (tmp_path / "full.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="cut.npz"):
        mnist.load_data(path=tmp_path / "cut.npz")
    (tmp_path / "single.npy").write_bytes(b"")
    np.save(tmp_path / "single.npy", arrays["x_train"])
    with pytest.raises(ValueError, match="single.npy"):
        mnist.load_data(path=tmp_path / "single.npy")


# ------------------------------------------------------ the IDX reader/writer

@pytest.mark.parametrize("dtype", ["u1", "i1", "<i2", ">i2", "<i4", ">i4",
                                   "<f4", ">f4", "<f8", ">f8"])
@pytest.mark.parametrize("shape", [(0,), (7,), (3, 5), (2, 3, 4), (2, 1, 3, 2)])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip(tmp_path, dtype, shape, gz):
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        a = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    else:
        a = (rng.standard_normal(shape) * 1e3).astype(dtype)
    path = tmp_path / ("a.idx" + (".gz" if gz else ""))
    write_idx(path, a)
    b = read_idx(path)
    assert b.shape == a.shape and b.dtype == a.dtype.newbyteorder("=")
    assert b.flags.c_contiguous and b.flags.writeable and b.flags.aligned
    np.testing.assert_array_equal(a, b)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz


def test_idx_bytes_are_big_endian_and_spec_conformant(tmp_path):
    a = np.array([[1, -2], [0x01020304, 5]], dtype=np.int32)
    write_idx(tmp_path / "x", a)
    raw = (tmp_path / "x").read_bytes()
    assert raw[:4] == b"\x00\x00\x0c\x02"
    assert raw[4:12] == b"\x00\x00\x00\x02\x00\x00\x00\x02"
    assert raw[12:16] == b"\x00\x00\x00\x01" and raw[16:20] == b"\xff\xff\xff\xfe"
    assert raw[20:24] == b"\x01\x02\x03\x04"
    assert len(raw) == 12 + 16
    f = np.array([1.5], dtype=np.float64)
    write_idx(tmp_path / "f", f)
    assert (tmp_path / "f").read_bytes() == b"\x00\x00\x0e\x01\x00\x00\x00\x01" + \
        struct.pack(">d", 1.5)


def test_gzip_detected_by_magic_not_name(tmp_path):
    a = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    write_idx(tmp_path / "plain.gz", a, compress=False)
    write_idx(tmp_path / "packed", a, compress=True)
    assert (tmp_path / "packed").read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "packed"), a)


def test_read_idx_file_objects_and_info(tmp_path):
    import io
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    buf = io.BytesIO()
    write_idx(buf, a)
    plain = buf.getvalue()
    np.testing.assert_array_equal(read_idx(io.BytesIO(plain)), a)
    packed = gzip.compress(plain)
    info = read_idx_info(io.BytesIO(packed), container_hash=True)
    np.testing.assert_array_equal(info.array, a)
    assert info.gzipped and info.nbytes == len(plain)
    assert info.sha256 == hashlib.sha256(plain).hexdigest()
    assert info.container_md5 == hashlib.md5(packed).hexdigest()
    # a multi-member gzip (as `cat a.gz b.gz` makes) is one stream of bytes
    two = gzip.compress(plain[:10]) + gzip.compress(plain[10:])
    np.testing.assert_array_equal(read_idx(io.BytesIO(two)), a)
    # the writer is deterministic: no time stamp in the gzip header
    write_idx(tmp_path / "1.gz", a)
    write_idx(tmp_path / "2.gz", a)
    assert (tmp_path / "1.gz").read_bytes() == (tmp_path / "2.gz").read_bytes()


def test_write_idx_rejects_what_idx_cannot_hold(tmp_path):
    for bad in (np.zeros(3, np.int64), np.zeros(3, np.uint16), np.zeros(3, bool),
                np.zeros(3, np.complex64), np.array(["a"])):
        with pytest.raises(ValueError, match="dtype"):
            write_idx(tmp_path / "x", bad)
    assert not any(tmp_path.iterdir())          # nothing half-written left


# ---------------------------------------------------- cache and download

def file_url(folder):
    return Path(folder).resolve().as_uri() + "/"


def test_download_into_cache_then_cache_hit(real_dir, tmp_path, monkeypatch,
                                            isolated):
    monkeypatch.setattr(mnist, "MIRRORS", ["https://unreachable.invalid/mnist/",
                                           file_url(real_dir)])
    check_mnist_facts(mnist.load_data())
    cache = tmp_path / "home" / "datasets" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        n + ".gz" for n in NAMES.values())          # no temporary files left
    assert len(isolated) == 8                       # 4 files x (fail, succeed)
    isolated.clear()
    check_mnist_facts(mnist.load_data())
    assert isolated == []                           # the cache answered


def test_partial_cache_downloads_only_what_is_missing(real_dir, tmp_path,
                                                      monkeypatch, isolated):
    cache = copy_real(real_dir, tmp_path / "home" / "datasets" / "mnist")
    (cache / (NAMES["y_test"] + ".gz")).unlink()
    monkeypatch.setattr(mnist, "MIRRORS", [file_url(real_dir)])
    check_mnist_facts(mnist.load_data())
    assert isolated == [file_url(real_dir) + NAMES["y_test"] + ".gz"]


def test_fastdense_data_wins_over_cache(real_dir, tmp_path, monkeypatch):
    write_dataset(tmp_path / "home" / "datasets" / "mnist", synthetic(), gz=True)
    monkeypatch.setenv("FASTDENSE_DATA", str(real_dir.parent))
    check_mnist_facts(mnist.load_data())        # the bad cache is not looked at


def test_offline_error_is_clear(tmp_path, monkeypatch, isolated):
    monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "empty"))
    with pytest.raises(DownloadError) as exc:
        mnist.load_data()
    msg = str(exc.value)
    assert isinstance(exc.value, OSError)
    for url in mnist.MIRRORS:
        assert url + NAMES["x_train"] + ".gz" in msg
    assert "FASTDENSE_DATA" in msg and "offline" in msg
    assert str(tmp_path / "empty" / "mnist") in msg      # where it looked first
    assert len(isolated) == len(mnist.MIRRORS)
    cache = tmp_path / "home" / "datasets" / "mnist"
    assert not cache.exists() or not any(cache.iterdir())
    with pytest.raises(DownloadError, match="fashion-mnist"):
        fashion_mnist.load_data()


def test_mirror_with_wrong_content_is_rejected(tmp_path, monkeypatch):
    wrong = write_dataset(tmp_path / "wrong", synthetic(), gz=True)
    monkeypatch.setattr(mnist, "MIRRORS", [file_url(wrong)])
    with pytest.raises(DownloadError, match="rejected"):
        mnist.load_data()
    cache = tmp_path / "home" / "datasets" / "mnist"
    assert not any(cache.iterdir())              # nothing bad kept


def test_mirror_with_truncated_file_is_rejected(real_dir, tmp_path, monkeypatch):
    cut = tmp_path / "cut"
    copy_real(real_dir, cut)
    p = cut / (NAMES["x_train"] + ".gz")
    p.write_bytes(p.read_bytes()[:1000])
    monkeypatch.setattr(mnist, "MIRRORS", [file_url(cut), file_url(real_dir)])
    check_mnist_facts(mnist.load_data())         # second mirror used


def test_download_machinery_with_synthetic_spec(tmp_path, isolated):
    """The whole locate/download/verify path, without the real data."""
    arrays = synthetic(50, 20)
    served = write_dataset(tmp_path / "served", arrays, gz=True)
    files = tuple(
        _loader.FileSpec(role, NAMES[role], arrays[role].shape,
                         read_idx_info(served / (NAMES[role] + ".gz")).sha256)
        for role in _loader.ROLES)
    spec = _loader.DatasetSpec("toy", "Toy", files)
    res = _loader.load(spec, mirrors=["http://nope.invalid/", file_url(served)])
    assert_same(res, arrays)
    assert (tmp_path / "home" / "datasets" / "toy" / (NAMES["x_train"] + ".gz")).is_file()
    # a fake opener that serves bytes, with a timeout handed through
    seen = []

    class Resp:
        def __init__(self, data):
            self.data, self.headers = data, {"Content-Length": str(len(data))}
        def read(self, n=-1):
            out, self.data = self.data[:n], self.data[n:]
            return out
        def __enter__(self):
            return self
        def __exit__(self, *a):
            return False

    def opener(url, timeout=None):
        seen.append(timeout)
        return Resp((served / url.rsplit("/", 1)[1]).read_bytes())

    got = _loader.download(spec, ["http://fake/"], tmp_path / "other",
                           opener=opener)
    assert sorted(got) == sorted(_loader.ROLES)
    assert seen == [_loader.TIMEOUT] * 4


# ------------------------------------------------------------ Fashion-MNIST

def fashion_like(seed=5):
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8),
            "y_train": rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), 6000)),
            "x_test": rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8),
            "y_test": rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), 1000))}


def test_fashion_from_fastdense_data_checks_structure_and_counts(tmp_path, monkeypatch):
    arrays = fashion_like()
    folder = write_dataset(tmp_path / "data" / "fashion_mnist", arrays)
    monkeypatch.setenv("FASTDENSE_DATA", str(tmp_path / "data"))
    assert_same(fashion_mnist.load_data(), arrays)
    arrays["y_test"][0] = (arrays["y_test"][0] + 1) % 10
    write_idx(folder / NAMES["y_test"], arrays["y_test"])
    with pytest.raises(ValueError, match="t10k-labels.*label counts"):
        fashion_mnist.load_data()


def test_fashion_wrong_shape_in_cache_is_valueerror(tmp_path):
    write_dataset(tmp_path / "home" / "datasets" / "fashion_mnist", synthetic())
    with pytest.raises(ValueError, match="shape"):
        fashion_mnist.load_data()


def test_fashion_download_must_match_published_md5(tmp_path, monkeypatch):
    served = write_dataset(tmp_path / "served", synthetic(), gz=True)
    monkeypatch.setattr(fashion_mnist, "MIRRORS", [file_url(served)])
    with pytest.raises(DownloadError, match="rejected: content differs"):
        fashion_mnist.load_data()
    assert not any((tmp_path / "home" / "datasets" / "fashion_mnist").iterdir())
