"""Writing a file so that a crash or an error never leaves a half-written one.

Used wherever fastdense writes a file a user keeps: saved models, IDX files,
benchmark results.
"""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_file(path, mode="wb", durable=True):
    """Yield a file opened in a temporary file beside ``path``.

    When the block ends without an error, the data is flushed (and with
    ``durable``, fsync'ed), given the permissions a new file would get, and
    renamed over ``path`` in one step; on any error the temporary file is
    removed and ``path`` is left exactly as it was.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part",
                               prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:  # make the rename itself durable (best effort)
        with contextlib.suppress(OSError):
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
