"""Flushing to disk deferred inside a tree being built under a temporary name.

``network init`` builds every home of a province in one folder that it renames into
place at the end, all of it or nothing: nothing in it needs to reach the disk before
that rename. Inside :func:`flushing_deferred`, files written in that tree
(``sync.files``) and the SQLite databases in it (``schema.engine``: ``synchronous=OFF``)
are not flushed one by one; the builder flushes the whole tree once
(``sync.files.fsync_tree``) before the rename. Anything outside the tree (a database
elsewhere, a server's) is flushed as always.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

__all__ = ["deferred", "flushing_deferred"]

_ROOT: ContextVar[Path | None] = ContextVar("fiscalsync_flushing_deferred", default=None)


@contextmanager
def flushing_deferred(root: Path) -> Iterator[None]:
    """Defer flushing what is written below ``root`` (see the module); the caller flushes
    the tree afterwards, before anything counts on it."""
    token = _ROOT.set(Path(os.path.abspath(root)))
    try:
        yield
    finally:
        _ROOT.reset(token)


def deferred(path: Path | str) -> bool:
    """Whether flushing ``path`` is deferred: it lies in the tree being built."""
    root = _ROOT.get()
    return root is not None and Path(os.path.abspath(path)).is_relative_to(root)
