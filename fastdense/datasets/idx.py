"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by the raw array, row-major::

    magic   uint32   0x0000TTNN   TT = element type code, NN = number of dims
    dims    uint32 x NN
    data    prod(dims) elements of type TT, big-endian

Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
0x0E float64.

Files may be gzip-compressed; that is detected from the gzip magic bytes
(``1f 8b``), never from the file name. The reader is strict: a wrong magic,
an unknown type code, a length that is not exactly what the header promises,
a truncated or corrupt gzip stream (bad CRC or length trailer, trailing
garbage) are all :class:`IDXError`, a ``ValueError`` whose message names the
file. The bytes are read once; the decompressed bytes are hashed (sha256) in
the same pass, so callers can verify content without reading the file twice
(see :func:`read_idx_info`).
"""
import gzip
import hashlib
import math
import os
import struct
import zlib
from typing import NamedTuple, Optional

import numpy as np

from .._atomic import atomic_file

__all__ = ["IDXError", "IDXData", "read_idx", "read_idx_info", "write_idx",
           "IDX_TYPES"]

# type code -> big-endian on-disk dtype
IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


class IDXError(ValueError):
    """A file that is not a well-formed IDX file (or not a sound gzip of one)."""


class IDXData(NamedTuple):
    """What :func:`read_idx_info` returns."""
    array: np.ndarray        # native byte order, C-contiguous, writable
    sha256: str              # hex digest of the decompressed bytes
    nbytes: int              # length of the decompressed bytes
    gzipped: bool            # whether the file was a gzip stream
    container_md5: Optional[str]  # md5 of the bytes as stored (if asked for)


def _name_of(source):
    if isinstance(source, (str, bytes, os.PathLike)):
        return os.fsdecode(source)
    return str(getattr(source, "name", "<file object>"))


def _read_raw(source):
    """All bytes of a path or binary file object, as a bytearray."""
    if isinstance(source, (str, bytes, os.PathLike)):
        with open(source, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            buf = bytearray(size)
            got = f.readinto(buf)
            if got != size:  # file changed under us; take what is there
                del buf[got:]
                buf += f.read()
            return buf
    data = source.read()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("read_idx needs a binary file object, got one whose "
                        "read() returns %s" % type(data).__name__)
    return bytearray(data)


def _gunzip(raw, name, hasher):
    """Decompress every gzip member of ``raw``; check CRC and size trailers."""
    out = bytearray()
    view = memoryview(raw)
    pos = 0
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            # feed in slices so the output is produced (and hashed) chunkwise
            while pos < len(view) and not d.eof:
                piece = d.decompress(view[pos:pos + _CHUNK])
                pos += min(_CHUNK, len(view) - pos)
                if piece:
                    hasher.update(piece)
                    out += piece
            tail = d.flush()
        except zlib.error as exc:
            raise IDXError("%s: corrupt gzip stream (%s); the file is damaged" % (name, exc)) from None
        if tail:
            hasher.update(tail)
            out += tail
        if not d.eof:
            raise IDXError("%s: truncated gzip stream (it ends before its "
                           "end-of-stream marker); the file is incomplete" % name)
        pos -= len(d.unused_data)        # where this member really ended
        if pos == len(view):
            break
        rest = bytes(view[pos:pos + 2])
        if rest == _GZIP_MAGIC:          # another gzip member follows
            continue
        if not bytes(view[pos:]).strip(b"\x00"):
            break                        # zero padding, as gzip(1) tolerates
        raise IDXError("%s: %d bytes of garbage after the gzip stream; the file "
                       "is damaged"
                       % (name, len(view) - pos))
    return out


def _parse(buf, name):
    """Header check and zero-copy view of the data in ``buf`` (a bytearray)."""
    n = len(buf)
    if n < 4:
        raise IDXError("%s: truncated: %d bytes, shorter than an IDX header"
                       % (name, n))
    zero, code, ndim = struct.unpack_from(">HBB", buf, 0)
    if zero != 0 or code not in IDX_TYPES:
        raise IDXError("%s: not an IDX file: magic number 0x%08X (expected "
                       "0x0000TTNN with type code TT in %s)"
                       % (name, struct.unpack_from(">I", buf, 0)[0],
                          ", ".join("0x%02X" % c for c in IDX_TYPES)))
    header = 4 + 4 * ndim
    if n < header:
        raise IDXError("%s: truncated: the header announces %d dimensions "
                       "(%d header bytes) but the file has %d bytes"
                       % (name, ndim, header, n))
    dims = struct.unpack_from(">%dI" % ndim, buf, 4)
    dtype = IDX_TYPES[code]
    expected = header + math.prod(dims) * dtype.itemsize
    if n != expected:
        what = "truncated" if n < expected else "too long"
        raise IDXError("%s: %s: header says shape %s of %s = %d bytes in all, "
                       "the data holds %d bytes; the file is damaged or its "
                       "header is wrong"
                       % (name, what, tuple(dims), dtype.name, expected, n))
    arr = np.frombuffer(buf, dtype=dtype, offset=header).reshape(dims)
    if dtype.itemsize > 1:
        arr = arr.astype(dtype.newbyteorder("="))   # native order, aligned copy
    return arr


def read_idx_info(source, *, container_hash=False):
    """Read an IDX file (plain or gzipped) and report what was read.

    ``source`` is a path or a binary file object. Returns :class:`IDXData`:
    the array (native byte order, C-contiguous, writable), the sha256 of the
    decompressed bytes, their length, whether the file was gzipped, and, when
    ``container_hash`` is true, the md5 of the bytes as stored on disk (the
    digest published for some datasets' ``.gz`` files).
    """
    name = _name_of(source)
    raw = _read_raw(source)
    cmd5 = hashlib.md5(raw, usedforsecurity=False).hexdigest() if container_hash else None
    hasher = hashlib.sha256()
    gzipped = raw[:2] == _GZIP_MAGIC
    if gzipped:
        buf = _gunzip(raw, name, hasher)
        del raw
    else:
        buf = raw
        hasher.update(buf)
    arr = _parse(buf, name)
    return IDXData(arr, hasher.hexdigest(), len(buf), gzipped, cmd5)


def read_idx(source):
    """Read an IDX file, plain or gzipped, into a NumPy array.

    ``source`` is a path or a binary file object. The array has the file's
    shape and element type (native byte order), is C-contiguous and writable.
    A malformed file is an :class:`IDXError` (a ``ValueError``) naming it.

    >>> x = read_idx('train-images-idx3-ubyte.gz')    # doctest: +SKIP
    >>> x.shape, x.dtype
    ((60000, 28, 28), dtype('uint8'))
    """
    return read_idx_info(source).array


def write_idx(dest, array, *, compress=None):
    """Write ``array`` as an IDX file; return the path (or file object).

    ``dest`` is a path or a binary file object. ``compress``: gzip the output;
    by default, when the path ends in ``.gz`` (never for file objects). Element
    types: uint8, int8, int16, int32, float32, float64 (any byte order); the
    data is written big-endian as the format requires. A path is written
    atomically (temporary file in the same folder, then rename), so readers
    never see half a file. The gzip header carries no time stamp, so the same
    array always gives the same bytes.
    """
    arr = np.asarray(array)
    code = _CODE_OF.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None or arr.dtype.kind not in "uif":
        raise ValueError("write_idx: IDX has no element type for dtype %s; use "
                         "uint8, int8, int16, int32, float32 or float64"
                         % arr.dtype)
    if arr.ndim > 255:
        raise ValueError("write_idx: at most 255 dimensions, got %d" % arr.ndim)
    if any(d > 0xFFFFFFFF for d in arr.shape):
        raise ValueError("write_idx: dimension too large for IDX: %s" % (arr.shape,))
    header = struct.pack(">HBB%dI" % arr.ndim, 0, code, arr.ndim, *arr.shape)
    data = np.ascontiguousarray(arr, dtype=IDX_TYPES[code]).tobytes()

    is_path = isinstance(dest, (str, bytes, os.PathLike))
    if compress is None:
        compress = is_path and os.fsdecode(dest).endswith(".gz")

    def emit(f):
        if compress:
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as g:
                g.write(header)
                g.write(data)
        else:
            f.write(header)
            f.write(data)

    if not is_path:
        emit(dest)
        return dest
    dest = os.fspath(dest)
    with atomic_file(dest, durable=False) as f:
        emit(f)
    return dest
