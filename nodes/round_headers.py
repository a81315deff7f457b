"""The change-set headers one sync round has read, so that it parses each file's header
once on the file's way through the round (arrived, screened, taken, relayed).

A header read is kept with the file's identity and state (its inode, size, and times
of modification and of status change) and served again only while the file is still
that file, untouched: a rewrite changes them, and the status change time cannot be set
back by whoever owns the file (a child that delivered it, say), as the modification
time can; a file moved is read again. The round starts with none. What is applied is still verified
from its bytes (:func:`sync.changeset.verify`): this only spares reading the header
again to decide where a file goes."""

from __future__ import annotations

import os
from pathlib import Path

from sync import changeset
from sync.changeset import Header

__all__ = ["RoundHeaders"]


class RoundHeaders:
    """The headers read in the round running, by file name."""

    def __init__(self) -> None:
        self._read: dict[str, tuple[tuple[int, int, int, int, int], Header]] = {}

    def clear(self) -> None:
        """A new round: every file is read anew."""
        self._read.clear()

    def header(self, path: Path) -> Header:
        """The header of the file at ``path``, read once while the file stays the same.
        Raises as :func:`sync.changeset.read_header` does."""
        try:
            st = os.stat(path)
        except OSError:
            return changeset.read_header(path)[0]  # its own error, as ever
        state = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        kept = self._read.get(path.name)
        if kept is not None and kept[0] == state:
            return kept[1]
        header = changeset.read_header(path)[0]
        self._read[path.name] = (state, header)
        return header
