"""Writing result files so that a failure never leaves a partial one behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from gateway.errors import InputError

__all__ = ["write_atomic", "write_atomic_chunks"]


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` all at once: a temp file in the same directory, then rename.

    Readers see either the old file or the complete new one; a crash or error leaves no
    half-written output (and no stray temp file).
    """
    write_atomic_chunks(path, (data,), mode=mode)


def write_atomic_chunks(path: Path, chunks: Iterable[bytes | str], *, mode: int = 0o644) -> None:
    """Like :func:`write_atomic` for output produced piece by piece (text is UTF-8 encoded);
    an error while producing it leaves the old file, or none."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"output directory {directory} does not exist", file=str(path))
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"cannot write output: {exc.strerror}", file=str(path)) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise InputError(f"cannot write output: {exc.strerror}", file=str(path)) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
