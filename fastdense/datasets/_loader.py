"""Locate, download, verify and load the datasets.

Shared machinery behind ``mnist.load_data`` and ``fashion_mnist.load_data``
(this docstring), and, in the block at the end of the file, behind the Keras
single-file datasets ``imdb``, ``reuters`` and ``boston_housing``.
Nothing here keeps state between calls: the environment variables are read on
every call, and nothing is cached in memory.

Where the data comes from
-------------------------
``load_data(path)`` with a path (explicit):
    * a folder holding the four IDX files under their canonical names
      (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
      ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``; each plain or
      ``.gz``), or
    * a Keras-style ``.npz`` file with arrays ``x_train``, ``y_train``,
      ``x_test``, ``y_test``.
    A relative path that does not exist is also looked for in the cache
    folder (as Keras does with ``path='mnist.npz'``); a path that is found
    nowhere is a ``FileNotFoundError`` listing where it was looked for.

``load_data()`` (canonical locations), first that holds all four files:
    1. ``$FASTDENSE_DATA/<name>/``
    2. the cache ``$FASTDENSE_HOME/datasets/<name>/`` (default ``~/.fastdense``)
    3. a download into the cache, trying each mirror in turn (30 s timeout,
       temporary file then rename); when every mirror fails, a
       :class:`DownloadError` (an ``OSError``) lists what was tried.

How the content is verified
---------------------------
Every file is always parsed strictly: IDX magic, type code, dimensions that
account for exactly the bytes present, the gzip CRC and length trailers, no
trailing garbage; images must be uint8 (N, H, W) and labels uint8 (N,), with
as many labels as images. The sha256 of the decompressed bytes is computed in
the same pass (for a ``.npz``, of the IDX bytes the arrays stand for) and
compared with the published table:

* canonical locations (FASTDENSE_DATA, cache, download): each file must BE the
  published one. A digest that differs is a ``ValueError`` that names the file
  and says to delete or replace it. Where no digest of the decompressed bytes
  is published (Fashion-MNIST publishes only md5s of its original ``.gz``
  files), a ``.gz`` whose md5 matches is accepted as published; otherwise the
  file must pass the strict structure check, have exactly the canonical shape
  and the published per-class label counts.
  Downloads are checked the same way before they are renamed into the cache.
* explicit ``path``: the data may be another dataset of the same layout (your
  own digits, say) and is then loaded after the strict structure check. But if
  some files match the published ones and others do not, the folder is the
  real dataset with damaged files, and that is a ``ValueError`` naming them.

A malformed file is never used: the error (a ``ValueError``) names it and
says what to do.
"""
import errno
import hashlib
import os
import struct
import tempfile
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from .idx import IDXError, read_idx_info

__all__ = ["DatasetSpec", "FileSpec", "DownloadError", "data_home",
           "cache_dir", "load", "download", "TIMEOUT", "ROLES"]

ROLES = ("x_train", "y_train", "x_test", "y_test")
TIMEOUT = 30.0                 # seconds, per connection attempt / read
_MAX_DOWNLOAD = 256 << 20      # refuse a mirror that sends more than this

# Seam for tests and for users behind a proxy: any callable with urlopen's
# (url, timeout=...) signature returning a file-like response.
urlopen = urllib.request.urlopen


class DownloadError(OSError):
    """Every mirror failed (offline, blocked, or serving wrong content)."""


@dataclass(frozen=True)
class FileSpec:
    role: str                       # one of ROLES
    name: str                       # canonical file name, without '.gz'
    shape: Tuple[int, ...]          # shape of the published array
    sha256: Optional[str] = None    # of the decompressed bytes, if published
    gz_md5: Optional[str] = None    # of the original .gz, if published


@dataclass(frozen=True)
class DatasetSpec:
    name: str                       # folder name: 'mnist', 'fashion_mnist'
    title: str                      # for messages: 'MNIST'
    files: Tuple[FileSpec, ...]
    # per-class label counts (train, test), checked when no digest decides
    label_counts: Optional[Tuple[Tuple[int, ...], Tuple[int, ...]]] = None
    # sha256 of files this dataset is easily confused with -> their name
    foreign: Tuple[Tuple[str, str], ...] = ()

    def file(self, role):
        return next(f for f in self.files if f.role == role)

    @property
    def filenames(self):
        return ", ".join(f.name for f in self.files)


# ---------------------------------------------------------------- locations

def data_home():
    """``$FASTDENSE_HOME`` or ``~/.fastdense`` (read on every call)."""
    return Path(os.environ.get("FASTDENSE_HOME") or "~/.fastdense").expanduser()


def cache_dir(spec):
    """The cache folder of one dataset: ``<data_home>/datasets/<name>``."""
    return data_home() / "datasets" / spec.name


def _find(folder, fname):
    """``folder/fname`` or ``folder/fname.gz``, whichever exists (plain first)."""
    for candidate in (folder / fname, folder / (fname + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _present(spec, folder):
    """{role: path} of the files found in ``folder``."""
    found = {}
    if folder.is_dir():
        for fs in spec.files:
            p = _find(folder, fs.name)
            if p is not None:
                found[fs.role] = p
    return found


# ------------------------------------------------------------ verification

def _status(fs, sha256, container_md5=None):
    """'match', 'mismatch' (a published digest differs) or 'unknown'."""
    if fs.sha256 is not None:
        return "match" if sha256 == fs.sha256 else "mismatch"
    if fs.gz_md5 is not None and container_md5 == fs.gz_md5:
        return "match"
    return "unknown"


def _advice(where):
    if where == "cache":
        return ("delete it and call load_data() again to download it afresh")
    if where == "data":
        return ("replace it with the original file, or unset FASTDENSE_DATA "
                "to use the cache and download")
    if where == "download":
        return "the mirror serves wrong content"
    return "replace it with a good copy of the file"


def _check_structure(spec, arrays, names, exact):
    """Layout checks shared by every source; ``exact``: canonical shapes too."""
    for role, arr in arrays.items():
        want_ndim = 3 if role.startswith("x") else 1
        if arr.dtype != np.uint8 or arr.ndim != want_ndim:
            raise ValueError(
                "%s: expected %s as uint8 with %d dimension(s) (%s), found %s "
                "of shape %s; this is not a %s-style file"
                % (names[role], role, want_ndim,
                   "images, height, width" if want_ndim == 3 else "labels",
                   arr.dtype, arr.shape, spec.title))
        if exact and arr.shape != spec.file(role).shape:
            raise ValueError(
                "%s: shape %s, but the published %s file has shape %s; %s"
                % (names[role], arr.shape, spec.title, spec.file(role).shape,
                   "the file is not the published one"))
    for split in ("train", "test"):
        x, y = arrays["x_" + split], arrays["y_" + split]
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                "%s holds %d images but %s holds %d labels; the two files of "
                "the %s split must have one label per image"
                % (names["x_" + split], x.shape[0], names["y_" + split],
                   y.shape[0], split))
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise ValueError("%s has images of %s pixels but %s has %s; train and "
                         "test images must have one size"
                         % (names["x_train"], arrays["x_train"].shape[1:],
                            names["x_test"], arrays["x_test"].shape[1:]))


def _verify(spec, arrays, names, statuses, digests, where):
    """Apply the policy in the module docstring; raise ValueError or return."""
    for role in ROLES:
        for sha, other in spec.foreign:
            if digests[role] == sha and where != "explicit":
                raise ValueError(
                    "%s: this is the %s file, not %s's; %s"
                    % (names[role], other, spec.title, _advice(where)))
    bad = [r for r in ROLES if statuses[r] == "mismatch"]
    if where == "explicit":
        good = [r for r in ROLES if statuses[r] == "match"]
        if bad and good:
            raise ValueError(
                "%s: content differs from the published %s file (sha256 %s, "
                "expected %s) while %s match the published files: the file is "
                "damaged; %s"
                % (", ".join(str(names[r]) for r in bad), spec.title,
                   digests[bad[0]], spec.file(bad[0]).sha256,
                   ", ".join(str(names[r]) for r in good), _advice(where)))
        _check_structure(spec, arrays, names, exact=False)
        return
    if bad:
        r = bad[0]
        raise ValueError(
            "%s: content differs from the published %s file %s (sha256 of the "
            "decompressed bytes %s, expected %s): the file is corrupt or not "
            "%s; %s. To load a dataset of your own, pass its folder as "
            "load_data(path=...)."
            % (names[r], spec.title, spec.file(r).name, digests[r],
               spec.file(r).sha256, spec.title, _advice(where)))
    _check_structure(spec, arrays, names, exact=True)
    if spec.label_counts and any(statuses[r] == "unknown" for r in ROLES):
        for split, want in zip(("train", "test"), spec.label_counts):
            y = arrays["y_" + split]
            got = np.bincount(y, minlength=len(want))
            if len(got) != len(want) or tuple(int(c) for c in got) != tuple(want):
                raise ValueError(
                    "%s: per-class label counts %s differ from the published "
                    "%s counts %s: the file is corrupt or not %s; %s"
                    % (names["y_" + split], got.tolist(), spec.title,
                       list(want), spec.title, _advice(where)))


# ----------------------------------------------------------------- readers

def _load_folder(spec, folder, where):
    arrays, names, statuses, digests = {}, {}, {}, {}
    for fs in spec.files:
        path = _find(folder, fs.name)
        if path is None:
            raise FileNotFoundError(
                errno.ENOENT, "%s: no %s or %s.gz in this folder (a %s folder "
                "holds %s, each plain or .gz)" % (folder, fs.name, fs.name,
                                                  spec.title, spec.filenames),
                str(folder / fs.name))
        want_md5 = fs.sha256 is None and fs.gz_md5 is not None
        try:
            info = read_idx_info(path, container_hash=want_md5)
        except IDXError as exc:
            raise IDXError("%s; %s" % (exc, _advice(where))) from None
        arrays[fs.role] = info.array
        names[fs.role] = path
        digests[fs.role] = info.sha256
        statuses[fs.role] = _status(fs, info.sha256, info.container_md5)
    _verify(spec, arrays, names, statuses, digests, where)
    return arrays


def _idx_sha256(arr):
    """sha256 of the IDX file a uint8 array would be written as."""
    h = hashlib.sha256(struct.pack(">HBB%dI" % arr.ndim, 0, 0x08, arr.ndim,
                                   *arr.shape))
    h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


def _load_npz(spec, path, where):
    def corrupt(exc):
        return ValueError("%s: not a readable .npz archive, corrupt or truncated "
                          "(%s: %s); %s" % (path, type(exc).__name__, exc,
                                            _advice(where)))
    broken = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)
    try:
        z = np.load(path, allow_pickle=False)
    except broken as exc:
        raise corrupt(exc) from None
    if not hasattr(z, "files"):
        raise ValueError("%s: a single .npy array, not an .npz archive; a "
                         "Keras-style dataset .npz holds x_train, y_train, "
                         "x_test, y_test" % path)
    arrays = {}
    with z:
        missing = [k for k in ROLES if k not in z.files]
        if missing:
            raise ValueError(
                "%s: no %s in this .npz (it holds %s); a Keras-style dataset "
                ".npz holds x_train, y_train, x_test, y_test"
                % (path, ", ".join(missing), ", ".join(z.files) or "nothing"))
        try:
            for k in ROLES:
                arrays[k] = np.require(z[k], requirements=("C", "W", "O"))
        except broken as exc:
            raise corrupt(exc) from None
    names = {k: "%s[%r]" % (path, k) for k in ROLES}
    statuses, digests = {}, {}
    for fs in spec.files:
        arr = arrays[fs.role]
        if arr.dtype == np.uint8:
            digests[fs.role] = _idx_sha256(arr)
        else:
            digests[fs.role] = None
        statuses[fs.role] = _status(fs, digests[fs.role])
    _verify(spec, arrays, names, statuses, digests, where)
    return arrays


# --------------------------------------------------------------- download

def _fetch(url, dest_folder, fname, opener, timeout):
    """Download ``url`` to a temporary file in ``dest_folder``; return its path."""
    fd, tmp = tempfile.mkstemp(dir=dest_folder, prefix="." + fname + ".",
                               suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            with opener(url, timeout=timeout) as resp:
                expected = None
                headers = getattr(resp, "headers", None)
                if headers is not None and headers.get("Content-Length"):
                    expected = int(headers.get("Content-Length"))
                n = 0
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    n += len(chunk)
                    if n > _MAX_DOWNLOAD:
                        raise OSError("more than %d bytes, not a dataset file"
                                      % _MAX_DOWNLOAD)
                    out.write(chunk)
        if expected is not None and n != expected:
            raise OSError("connection closed after %d of %d bytes" % (n, expected))
        return tmp
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def download(spec, mirrors, dest=None, *, roles=ROLES, opener=None,
             timeout=None):
    """Download the files of ``spec`` (``roles``) into ``dest`` (the cache).

    Each file is tried from each mirror (``mirror + name + '.gz'``) in turn,
    read with a timeout, written to a temporary file, verified (strict IDX
    parse, published digest, canonical shape) and only then renamed into
    place. Returns ``{role: path}``. When a file cannot be had from any
    mirror, raises :class:`DownloadError` listing each URL and its error.
    """
    opener = opener or urlopen
    timeout = TIMEOUT if timeout is None else timeout
    dest = Path(dest) if dest is not None else cache_dir(spec)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            "cannot create the cache folder %s (%s); set FASTDENSE_HOME to a "
            "writable folder, or FASTDENSE_DATA to a folder holding %s/ with "
            "%s" % (dest, exc, spec.name, spec.filenames)) from None
    got = {}
    for role in roles:
        fs = spec.file(role)
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + fs.name + ".gz"
            try:
                tmp = _fetch(url, dest, fs.name, opener, timeout)
            except Exception as exc:   # URLError, HTTPError, timeout, OSError ...
                failures.append("%s: %s: %s" % (url, type(exc).__name__, exc))
                continue
            try:
                info = read_idx_info(tmp, container_hash=True)
                status = _status(fs, info.sha256, info.container_md5)
                if status == "mismatch" or (status == "unknown" and
                                            fs.sha256 is None and fs.gz_md5):
                    raise ValueError("content differs from the published file "
                                     "(sha256 %s, md5 of the download %s)"
                                     % (info.sha256, info.container_md5))
                if info.array.shape != fs.shape or info.array.dtype != np.uint8:
                    raise ValueError("shape %s %s, expected %s uint8"
                                     % (info.array.shape, info.array.dtype, fs.shape))
            except ValueError as exc:
                _unlink(tmp)
                failures.append("%s: downloaded, but rejected: %s" % (url, exc))
                continue
            except BaseException:
                _unlink(tmp)
                raise
            final = dest / (fs.name + (".gz" if info.gzipped else ""))
            os.replace(tmp, final)
            got[role] = final
            break
        else:
            raise DownloadError(
                "could not download the %s file %s.gz into %s; every mirror "
                "failed:\n  %s\nThis machine may be offline. Set FASTDENSE_DATA "
                "to a folder holding %s/ with the files %s (plain or .gz), or "
                "pass load_data(path=<that folder or a .npz>)."
                % (spec.title, fs.name, dest,
                   "\n  ".join(failures) or "(no mirrors configured)",
                   spec.name, spec.filenames))
    return got


# ------------------------------------------------------------------- entry

def _as_tuple(arrays):
    return ((arrays["x_train"], arrays["y_train"]),
            (arrays["x_test"], arrays["y_test"]))


def _load_explicit(spec, path):
    p = Path(os.fspath(path)).expanduser()
    looked = [p]
    if not p.exists() and not p.is_absolute():
        alt = cache_dir(spec) / p
        looked.append(alt)
        if alt.exists():
            p = alt
    if not p.exists():
        raise FileNotFoundError(
            errno.ENOENT, "no such file or folder (looked for %s); path must be "
            "a folder holding the %s files %s (plain or .gz), or a Keras-style "
            ".npz" % (" and ".join(str(x) for x in looked), spec.title,
                      spec.filenames), str(path))
    if p.is_dir():
        return _load_folder(spec, p, "explicit")
    with open(p, "rb") as f:
        head = f.read(4)
    if head[:2] == b"PK" or p.suffix == ".npz":
        return _load_npz(spec, p, "explicit")
    raise ValueError(
        "%s: a single file that is not an .npz; path must be a folder holding "
        "the %s files %s, or a Keras-style .npz (to read one IDX file, use "
        "fastdense.datasets.read_idx)" % (p, spec.title, spec.filenames))


def load(spec, path=None, *, mirrors=(), opener=None, timeout=None):
    """``(x_train, y_train), (x_test, y_test)`` for ``spec``; see the module doc."""
    if path is not None:
        return _as_tuple(_load_explicit(spec, path))

    notes = []
    env = os.environ.get("FASTDENSE_DATA")
    if env:
        folder = Path(env).expanduser() / spec.name
        found = _present(spec, folder)
        if len(found) == len(spec.files):
            return _as_tuple(_load_folder(spec, folder, "data"))
        notes.append("FASTDENSE_DATA: %s %s" % (
            folder, "has only %s" % ", ".join(p.name for p in found.values())
            if found else "does not exist" if not folder.exists()
            else "holds none of the files"))
    cache = cache_dir(spec)
    found = _present(spec, cache)
    if len(found) < len(spec.files):
        missing = [r for r in ROLES if r not in found]
        try:
            download(spec, mirrors, cache, roles=missing, opener=opener,
                     timeout=timeout)
        except DownloadError as exc:
            if notes:
                raise DownloadError("%s\n(also looked in %s)"
                                    % (exc, "; ".join(notes))) from None
            raise
    return _as_tuple(_load_folder(spec, cache, "cache"))


# =================================================== Keras single-file datasets
# imdb, reuters, boston_housing (and their word indexes): one file each, as
# Keras ships them (.npz or .json), verified by the digest of the file bytes.
#
# Where a file comes from, for ``path`` as the caller gives it:
#   * a bare file name (no folder part: Keras's default ``'imdb.npz'``, or any
#     other name, which Keras takes as the name to cache the same file under):
#     ``$FASTDENSE_DATA/<dataset>/<name>``, then the cache
#     ``<data_home>/datasets/<dataset>/<name>``, then a download of the
#     published file into the cache under that name. Never the current folder.
#   * anything with a folder part (``'./imdb.npz'``, ``'/data/imdb.npz'``,
#     ``'~/x.npz'``): that file; a folder means ``<folder>/<canonical name>``.
#
# How it is verified (sha256 and md5 of the bytes, computed in one pass over
# the bytes that are then parsed, so what is checked is what is used):
#   * bare names (FASTDENSE_DATA, cache, download): the file must BE the
#     published one: one of its published digests (the sha256 Keras 3 checks,
#     the md5 Keras 2.3.1 checks) must match. Anything else is a ValueError
#     naming the file, never used; a download is verified before it is
#     renamed into the cache.
#   * an explicit path: a file whose digest matches is the published file; one
#     whose digest does not may be the caller's own data in the same layout
#     and is loaded after the strict structure checks (zip CRCs, every .npy
#     header and length, keys, dtypes, shapes, the values' types).
#   * ``file_hash=`` (Keras's get_file argument: 64 hex digits sha256, 32 md5)
#     replaces the published digests and is required to match, wherever the
#     file comes from: the way to pin your own copy or serve a variant.

@dataclass(frozen=True)
class KerasFile:
    dataset: str                    # folder name: 'imdb'
    title: str                      # for messages: 'IMDB'
    name: str                       # canonical file name: 'imdb.npz'
    sha256: Optional[str] = None    # of the file bytes, where published
    md5: Optional[str] = None       # Keras 2.3.1's file_hash


def _hash_kind(file_hash):
    """'sha256' or 'md5' for a Keras-style ``file_hash`` string."""
    if not isinstance(file_hash, str):
        raise ValueError("file_hash must be a hex string (64 digits: sha256, "
                         "32: md5), got %r" % (file_hash,))
    h = file_hash.strip().lower()
    kinds = {64: "sha256", 32: "md5"}
    if len(h) not in kinds or any(c not in "0123456789abcdef" for c in h):
        raise ValueError("file_hash must be a hex string of 64 digits (sha256) "
                         "or 32 (md5), got %r" % (file_hash,))
    return kinds[len(h)], h


def _expected(spec, file_hash):
    """[(algorithm, hex)] any one of which the file must match."""
    if file_hash is not None:
        return [_hash_kind(file_hash)]
    return [(k, v) for k, v in (("sha256", spec.sha256), ("md5", spec.md5)) if v]


def _digests(data):
    return {"sha256": hashlib.sha256(data).hexdigest(),
            "md5": hashlib.md5(data).hexdigest()}


def _matches(digests, expected):
    return any(digests[k] == v for k, v in expected)


def _describe(expected):
    return " or ".join("%s %s" % (k, v) for k, v in expected)


def _read_bytes(path):
    with open(path, "rb") as f:
        data = f.read(_MAX_DOWNLOAD + 1)
    if len(data) > _MAX_DOWNLOAD:
        raise ValueError("%s: larger than %d bytes, not a dataset file"
                         % (path, _MAX_DOWNLOAD))
    return data


def file_advice(where):
    """What to do about a bad file found at ``where`` (see locate_file)."""
    if where == "cache":
        return "delete it, and it is downloaded afresh on the next call"
    return _advice(where)


def _is_bare(path):
    s = os.fspath(path)
    if isinstance(s, bytes):
        s = os.fsdecode(s)
    return (s != "" and os.path.dirname(s) == "" and not s.startswith("~")
            and s not in (".", ".."))


def download_file(spec, dest, mirrors, *, expected=None, opener=None,
                  timeout=None):
    """Download ``spec.name`` from each mirror in turn into the path ``dest``.

    Each attempt is read with a timeout into a temporary file beside ``dest``,
    its digest checked against ``expected`` (default: the published digests),
    and only then renamed to ``dest``. Returns ``dest``; raises
    :class:`DownloadError` listing every URL and its error when all fail.
    """
    opener = opener or urlopen
    timeout = TIMEOUT if timeout is None else timeout
    dest = Path(dest)
    expected = _expected(spec, None) if expected is None else expected
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            "cannot create the cache folder %s (%s); set FASTDENSE_HOME to a "
            "writable folder, or FASTDENSE_DATA to a folder holding %s/%s"
            % (dest.parent, exc, spec.dataset, spec.name)) from None
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + spec.name
        try:
            tmp = _fetch(url, dest.parent, dest.name, opener, timeout)
        except Exception as exc:   # URLError, HTTPError, timeout, OSError ...
            failures.append("%s: %s: %s" % (url, type(exc).__name__, exc))
            continue
        try:
            got = _digests(_read_bytes(tmp))
            if not _matches(got, expected):
                raise ValueError("content differs from the published file "
                                 "(sha256 %s, md5 %s; expected %s)"
                                 % (got["sha256"], got["md5"],
                                    _describe(expected)))
        except ValueError as exc:
            _unlink(tmp)
            failures.append("%s: downloaded, but rejected: %s" % (url, exc))
            continue
        except BaseException:
            _unlink(tmp)
            raise
        os.replace(tmp, dest)
        return dest
    raise DownloadError(
        "could not download the %s file %s into %s; every mirror failed:\n  %s\n"
        "This machine may be offline. Set FASTDENSE_DATA to a folder holding "
        "%s/%s, or pass path=<the file> (a path with its folder part)."
        % (spec.title, spec.name, dest,
           "\n  ".join(failures) or "(no mirrors configured)",
           spec.dataset, spec.name))


def locate_file(spec, path, mirrors, *, file_hash=None, opener=None,
                timeout=None):
    """``(bytes, name, where)`` of the verified file for ``path``.

    ``where`` is 'explicit' (a path with a folder part), 'data'
    (FASTDENSE_DATA), 'cache' or 'download'; see the block comment above for
    the rules. The bytes returned are the ones whose digests were checked.
    """
    expected = _expected(spec, file_hash)   # validates file_hash first
    if path is None:
        path = spec.name
    if not _is_bare(path):
        p = Path(os.fsdecode(os.fspath(path))).expanduser()
        if p.is_dir():
            p = p / spec.name
        if not p.is_file():
            raise FileNotFoundError(
                errno.ENOENT, "no such file (looked for %s); path must be a "
                "%s file like Keras's %s, or a folder holding one"
                % (p, spec.title, spec.name), str(p))
        data = _read_bytes(p)
        if file_hash is not None and not _matches(_digests(data), expected):
            got = _digests(data)
            raise ValueError(
                "%s: content differs from file_hash (sha256 %s, md5 %s; "
                "expected %s): the file is corrupt, truncated or another file"
                % (p, got["sha256"], got["md5"], _describe(expected)))
        return data, p, "explicit"

    fname = os.fsdecode(os.fspath(path))
    looked = []
    candidates = []
    env = os.environ.get("FASTDENSE_DATA")
    if env:
        candidates.append((Path(env).expanduser() / spec.dataset / fname, "data"))
    cache = data_home() / "datasets" / spec.dataset / fname
    candidates.append((cache, "cache"))
    for p, where in candidates:
        looked.append(str(p))
        if not p.is_file():
            continue
        data = _read_bytes(p)
        got = _digests(data)
        if not _matches(got, expected):
            raise ValueError(
                "%s: content differs from the %s file %s (sha256 %s, md5 %s; "
                "expected %s): the file is corrupt, truncated or not the "
                "published one; %s. To load a file of your own, pass a path "
                "with its folder, e.g. path='./%s'%s."
                % (p, "expected" if file_hash is not None else "published " + spec.title,
                   spec.name, got["sha256"], got["md5"], _describe(expected),
                   file_advice(where), fname,
                   "" if file_hash is not None else " (optionally with file_hash=)"))
        return data, p, where
    if not expected:
        raise ValueError("%s: no published digest to verify a download "
                         "against; pass file_hash=" % spec.name)
    try:
        download_file(spec, cache, mirrors, expected=expected, opener=opener,
                      timeout=timeout)
    except DownloadError as exc:
        notes = "(looked first in %s)" % " and ".join(looked)
        if Path(fname).is_file():
            notes += ("; a file %s exists in the current folder, but a bare "
                      "name never means the current folder: pass './%s' to "
                      "load it" % (fname, fname))
        raise DownloadError("%s\n%s" % (exc, notes)) from None
    data = _read_bytes(cache)
    if not _matches(_digests(data), expected):   # changed since the rename
        raise ValueError("%s: content changed after the download was verified"
                         % cache)
    return data, cache, "download"


__all__ += ["KerasFile", "locate_file", "download_file", "file_advice"]
