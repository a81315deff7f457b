"""Durable files: written whole under a temporary name, fsynced, renamed, folder fsynced.

Every file fiscalsync writes that must survive a crash (keys, certificates, revocation
lists, change-sets, node homes) goes through here, so that the write order is the same
everywhere: data, fsync, rename, then the folder's fsync.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_file", "copy_atomic", "fsync_directory", "fsync_tree", "write_atomic"]


def fsync_directory(directory: Path) -> None:
    """Flush ``directory``'s entries to disk, so a rename inside it survives a crash."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file and folder below ``root`` (a tree built before its final rename)."""
    for folder, _dirs, names in os.walk(root):
        for name in names:
            fd = os.open(Path(folder) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_directory(Path(folder))


@contextlib.contextmanager
def atomic_file(path: Path, mode: int = 0o644, *, exclusive: bool = False) -> Iterator[BinaryIO]:
    """Yield a file that appears at ``path`` complete, or not at all.

    The data goes to a temporary name in the same folder; on a clean exit it is fsynced,
    renamed onto ``path`` and the folder fsynced. On an exception the temporary file is
    removed and ``path`` is untouched. With ``exclusive`` an existing ``path`` is never
    replaced: ``FileExistsError`` is raised instead. ``OSError`` propagates untranslated;
    callers say what they were writing.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        if exclusive:
            os.link(tmp, path)
            tmp.unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def write_atomic(path: Path, data: bytes, mode: int = 0o644, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` atomically and durably (see :func:`atomic_file`)."""
    with atomic_file(path, mode, exclusive=exclusive) as stream:
        stream.write(data)


def copy_atomic(source: Path, path: Path, mode: int = 0o644) -> None:
    """Copy ``source`` to ``path`` atomically and durably (see :func:`atomic_file`)."""
    with source.open("rb") as stream, atomic_file(path, mode) as out:
        shutil.copyfileobj(stream, out)
