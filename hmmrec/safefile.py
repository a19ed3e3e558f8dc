"""Writing a file without ever writing through someone else's.

The content goes to a new temporary file in the target's folder, created exclusively
(``O_EXCL``, a fresh name: never an existing file, never through a symbolic link), and
is renamed over the target only once complete; on any failure the temporary file is
removed and the target is as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import HmmrecError

__all__ = ["write_atomically"]


def write_atomically(path, write: Callable[[BinaryIO], None], overwrite: bool = False) -> Path:
    """Call ``write(fh)`` on a new temporary file, then move it to ``path``.

    Raises
    ------
    HmmrecError
        If ``path`` exists and ``overwrite`` is false, is a directory, or cannot be written
        (the message says why: no such folder, permission denied, disk full...).
    """
    p = Path(path)
    if p.is_dir():
        raise HmmrecError(f"{p}: is a directory")
    if (p.exists() or p.is_symlink()) and not overwrite:
        raise HmmrecError(f"{p}: already exists; not overwriting (choose another name or remove it)")
    folder = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise HmmrecError(f"{p}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, p)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise HmmrecError(f"{p}: cannot write ({exc.strerror or exc})") from None
        raise
    return p
