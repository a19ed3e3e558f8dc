"""Reading and writing files safely.

Reading (:func:`open_regular`): only regular files are opened, so a device such as
``/dev/zero``, a FIFO or a socket is refused at once instead of being read forever.

Writing (:func:`write_atomically`): the content goes to a new temporary file in the target's folder, created exclusively
(``O_EXCL``, a fresh name: never an existing file, never through a symbolic link), and
is renamed over the target only once complete; on any failure the temporary file is
removed and the target is as it was.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import HmmrecError

__all__ = ["write_atomically", "open_regular", "check_writable"]


def open_regular(path, error=HmmrecError, what: str = "a file") -> BinaryIO:
    """Open ``path`` for reading in binary mode if it is a regular file (links followed).

    Raises ``error`` with one line naming the file: missing, a directory, not a regular
    file (device, FIFO, socket), permission denied, or any other OS error. The file is
    opened without blocking, so a FIFO swapped in after the check cannot hang the caller.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot open ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise error(f"{path}: is a directory, not {what}")
        if not stat.S_ISREG(mode):
            kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                    else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
            raise error(f"{path}: is {kind}, not {what}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_target(p: Path, overwrite: bool) -> None:
    """Refuse a target that is a directory, a device, FIFO or socket (or a link to one:
    renaming over it would replace the node itself), or that exists without ``overwrite``."""
    try:
        mode = p.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise HmmrecError(f"{p}: is a directory")
    if mode is not None and not stat.S_ISREG(mode):
        raise HmmrecError(f"{p}: is not a regular file (a device, FIFO or socket); not replacing it")
    if (p.exists() or p.is_symlink()) and not overwrite:
        raise HmmrecError(f"{p}: already exists; not overwriting (choose another name or remove it)")


def check_writable(path, overwrite: bool = False) -> None:
    """Raise HmmrecError now if :func:`write_atomically` could not write ``path`` later:
    the folder is missing or not writable, or ``path`` is a directory, or exists and
    ``overwrite`` is false. Checked by creating (and removing) a temporary file beside it,
    so that a long job fails before it starts rather than after."""
    p = Path(path)
    _check_target(p, overwrite)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise HmmrecError(f"{p}: cannot write (folder {folder} does not exist)")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise HmmrecError(f"{p}: cannot write ({exc.strerror or exc})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def write_atomically(path, write: Callable[[BinaryIO], None], overwrite: bool = False) -> Path:
    """Call ``write(fh)`` on a new temporary file, then move it to ``path``.

    Raises
    ------
    HmmrecError
        If ``path`` exists and ``overwrite`` is false, is a directory, or cannot be written
        (the message says why: no such folder, permission denied, disk full...).
    """
    p = Path(path)
    _check_target(p, overwrite)
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
