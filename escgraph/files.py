"""Writing files so that a reader never sees half of one: :func:`atomic_write`, used by every package that writes
results, reports, skills-bank versions or graphs."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once: files we create get the person's usual permissions, not mkstemp's 0600


def atomic_write(path: Path, text: str | bytes, *, read_only: bool = False) -> None:
    """Write ``text`` (or raw bytes) to a temp file in the same folder (created if missing), fsync, then
    ``os.replace``: readers never see half a file. ``read_only`` leaves it without write bits."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") if isinstance(text, bytes) else \
                os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, (0o444 if read_only else 0o666) & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # the rename itself must reach the disk before the next step relies on it (a version file before the head)
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
