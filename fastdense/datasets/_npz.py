"""Read Keras's dataset files (``.npz`` with object arrays, ``.json``) safely.

The IMDB and Reuters archives store ragged sequences as object arrays, which
NumPy can only save as a pickle stream; ``np.load(allow_pickle=True)`` (what
Keras does) would run whatever a tampered file's pickle asks for. Here object
arrays are rebuilt by an unpickler that resolves only the globals an object
array needs (``numpy.ndarray``, ``numpy.dtype``, the array and scalar
reconstructors, and the latin-1 bytes helper of protocol-2 pickles) and
refuses every other one; numeric arrays are read with pickling off.

Everything is read from bytes already in memory (the caller hashed the same
bytes), and every failure is a ``ValueError`` that names the file: a zip that
does not open, a member whose CRC-32 does not match (zip checks it on every
read), a truncated ``.npy`` header or body, trailing bytes, a refused global.
"""
import io
import json
import pickle
import zipfile

import numpy as np

__all__ = ["read_npz", "read_json_index", "MAX_MEMBER_BYTES"]

# A member that declares more than this when decompressed is refused (the
# published files are tens of MB).
MAX_MEMBER_BYTES = 1 << 30

# The callables an object-array pickle uses, looked up from live objects so
# that files written under NumPy 1 (numpy.core) and 2 (numpy._core) both map
# to this NumPy's functions without importing the deprecated module names.
_RECONSTRUCT = np.empty(0, dtype=object).__reduce__()[0]
_SCALAR = np.int64(0).__reduce__()[0]


def _latin1_bytes(text, encoding="utf-8"):
    # Python 3 pickles bytes for protocols < 3 as _codecs.encode(text,
    # 'latin1'); only that use is allowed.
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError("refused _codecs.encode(..., %r)"
                                     % (encoding,))
    return text.encode("latin1")


_ALLOWED = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                "refused to load the global %s.%s: a dataset's object array "
                "needs only numpy.ndarray and numpy.dtype" % (module, name)) from None


def _read_npy(raw):
    """One ``.npy`` stream (bytes) -> ndarray; raises on anything malformed."""
    f = io.BytesIO(raw)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError("unsupported .npy format version %d.%d" % version)
    if dtype.hasobject:
        # np.load's own settings for pickles written by Python 2 (Keras's files)
        arr = _ArrayUnpickler(f, encoding="ASCII", fix_imports=True).load()
        if (not isinstance(arr, np.ndarray) or arr.dtype != dtype
                or arr.shape != tuple(shape)):
            raise ValueError("the pickled object is not the %s array of shape "
                             "%s the header announces" % (dtype, tuple(shape)))
    else:
        f.seek(0)
        arr = np.lib.format.read_array(f, allow_pickle=False)
    if f.tell() != len(raw):
        raise ValueError("%d bytes after the end of the array"
                         % (len(raw) - f.tell()))
    return arr


def _corrupt(name, what, exc, advice):
    return ValueError("%s: %s (%s: %s): the file is corrupt or truncated; %s"
                      % (name, what, type(exc).__name__, exc, advice))


def read_npz(data, name, keys, advice):
    """``{key: ndarray}`` for ``keys`` from the ``.npz`` bytes ``data``.

    ``name`` names the file in messages; ``advice`` says what to do about a
    bad one. Members other than ``keys`` are ignored (not even decompressed).
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:   # BadZipFile, OSError, ValueError, EOFError ...
        raise _corrupt(name, "not a readable .npz (zip) archive", exc,
                       advice) from None
    with zf:
        members = {}
        for info in zf.infolist():
            if info.filename.endswith(".npy"):
                members[info.filename[:-4]] = info
        missing = [k for k in keys if k not in members]
        if missing:
            raise ValueError(
                "%s: no %s in this .npz (it holds %s); a Keras-style file of "
                "this dataset holds %s" % (
                    name, ", ".join(missing),
                    ", ".join(sorted(members)) or "no arrays", ", ".join(keys)))
        out = {}
        for key in keys:
            info = members[key]
            if info.file_size > MAX_MEMBER_BYTES:
                raise ValueError("%s: the member %s declares %d bytes, more "
                                 "than a dataset file holds; refused"
                                 % (name, info.filename, info.file_size))
            try:
                raw = zf.read(info)       # checks the CRC-32
            except Exception as exc:
                raise _corrupt(name, "cannot read %s" % info.filename, exc,
                               advice) from None
            try:
                out[key] = _read_npy(raw)
            except Exception as exc:  # ValueError, EOFError, UnpicklingError ...
                raise _corrupt(name, "%s is not a well-formed .npy array"
                               % info.filename, exc, advice) from None
    return out


def _no_constants(token):
    raise ValueError("%s is not a word index" % token)


def read_json_index(data, name, advice):
    """A word index ``{word: index}`` from the ``.json`` bytes ``data``.

    Strict: UTF-8, one JSON object, string keys, whole-number values >= 0
    (Keras's files number words from 1 by frequency).
    """
    try:
        text = data.decode("utf-8")
        index = json.loads(text, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _corrupt(name, "not a readable JSON word index", exc,
                       advice) from None
    if not isinstance(index, dict):
        raise ValueError("%s: holds a JSON %s, not the object {word: index} a "
                         "word index is" % (name, type(index).__name__))
    for word, i in index.items():
        if type(i) is not int or i < 0:
            raise ValueError("%s: the word %r maps to %r; a word index maps "
                             "words to whole numbers >= 0" % (name, word, i))
    return index
