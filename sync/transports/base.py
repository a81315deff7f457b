"""The transport contract: how change-set files reach a mailbox tree and come back.

A transport reaches one endpoint, a folder tree (a parent's mailboxes). Folders are
relative POSIX paths below the endpoint's root, such as ``"410102/up"``; ``""`` is the
root itself. Files are immutable and named by their content: once published, a name's
bytes never change, which is what makes every operation safe to repeat and every
download safe to resume.

Naming conventions, shared by every transport so that all of them agree on what a
reader may see:

- a file being published is written as ``.tmp-<random>-<name>`` in its folder and
  renamed into place; names starting with ``.tmp-`` are never listed;
- a file being fetched is written next to its destination as ``<dest>.partial`` and
  renamed into place; names ending in ``.partial`` are never listed either, and a
  later fetch to the same destination continues from the partial file's size.

Every method raises the :class:`~sync.errors.TransportError` family: ``TransportUnreachable``
(endpoint down, login refused), ``HostKeyRejected`` (not the pinned server), ``TransferFailed``
(broke off or stalled; retrying may succeed) and ``RemoteFileMissing``. A transport is
used by one thread at a time.
"""

from __future__ import annotations

import builtins
import secrets
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Self

from sync.errors import TransferFailed
from sync.said import said

__all__ = [
    "PARTIAL_SUFFIX",
    "TEMP_PREFIX",
    "Progress",
    "RemoteFile",
    "Transport",
    "check_folder",
    "check_name",
    "is_temporary",
    "partial_path",
    "temp_name",
]

TEMP_PREFIX = ".tmp-"
PARTIAL_SUFFIX = ".partial"

Progress = Callable[[int], None]
"""Called after each chunk of a download with the number of bytes it carried; the sum
over one call is what that call transferred (less than the size when it resumed)."""


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a file still being written, which no listing may show."""
    return name.startswith(TEMP_PREFIX) or name.endswith(PARTIAL_SUFFIX)


def temp_name(name: str) -> str:
    """A fresh temporary name for publishing ``name``; unique, so writers never collide."""
    return f"{TEMP_PREFIX}{secrets.token_hex(8)}-{name}"


def partial_path(dest: Path) -> Path:
    """Where a download to ``dest`` accumulates until it is complete."""
    return dest.with_name(dest.name + PARTIAL_SUFFIX)


def check_folder(folder: str) -> str:
    """Return ``folder`` normalised, or raise ValueError if it leaves the endpoint's tree."""
    parts = PurePosixPath(folder).parts if folder else ()
    if folder.startswith("/") or any(p in ("..", ".") or "\x00" in p for p in parts):
        raise ValueError(f"folder must be a relative path inside the endpoint: {folder!r}")
    return "/".join(parts)


def check_name(name: str) -> str:
    """Return ``name``, or raise ValueError if it is not a plain, publishable file name."""
    if not name or name in (".", "..") or "/" in name or "\x00" in name or is_temporary(name):
        raise ValueError(f"not a publishable file name: {name!r}")
    return name


@dataclass(frozen=True)
class RemoteFile:
    """A complete file in a mailbox folder."""

    name: str
    size: int


class Transport(ABC):
    """One endpoint's folder tree, reached locally or over the network."""

    @abstractmethod
    def publish(self, folder: str, name: str, source: Path) -> None:
        """Put the file ``source`` into ``folder`` under ``name``.

        Atomic: readers see the whole file under ``name`` or nothing (it is written
        under a temporary name, then renamed). Creates ``folder`` if missing.
        Idempotent: publishing an existing name again replaces it with the same bytes.
        A ``source`` that cannot be opened raises its OSError unchanged: it is the
        caller's file, and nothing is sent.
        """

    @abstractmethod
    def list(self, folder: str) -> builtins.list[RemoteFile]:
        """The complete files in ``folder``, sorted by name.

        Temporary and partial files never appear; subfolders are not listed; a missing
        folder is an empty list.
        """

    @abstractmethod
    def fetch(self, folder: str, name: str, dest: Path, progress: Progress | None = None) -> None:
        """Download ``folder/name`` to ``dest``.

        Atomic: ``dest`` appears whole or not at all (the bytes gather in
        ``partial_path(dest)``, which is fsynced and renamed). Resumable: an existing
        partial file is continued from its size. Raises ``RemoteFileMissing`` if the
        file is not there, ``TransferFailed`` if the transfer breaks off or stalls (the
        partial file stays, for the next attempt).
        """

    def publish_many(self, folder: str, files: Sequence[tuple[str, Path]]) -> None:
        """Put many files (``(name, source)`` pairs) into ``folder``, each as
        :meth:`publish` does: atomic and idempotent one by one, not as a whole (after an
        error some may be there; publishing them again is harmless). A transport may make
        them durable together (a local folder fsyncs them at once), and may link a source
        rather than copy it: a source must never change afterwards. This default
        publishes them one by one.
        """
        for name, source in files:
            self.publish(folder, name, source)

    def read(self, folder: str, name: str, limit: int) -> bytes:
        """The bytes of ``folder/name``, a file of at most ``limit`` bytes, without
        writing it to disk. Raises ``RemoteFileMissing`` if it is not there,
        ``TransferFailed`` if it is larger than ``limit`` or the transfer breaks off.
        This default fetches it into a temporary file.
        """
        with tempfile.TemporaryDirectory(prefix="fiscalsync-read-") as scratch:
            target = Path(scratch) / check_name(name)
            self.fetch(folder, name, target)
            if target.stat().st_size > limit:
                raise TransferFailed(said("file_too_large", path=f"{folder}/{name}", limit=limit))
            return target.read_bytes()

    @abstractmethod
    def remove(self, folder: str, name: str) -> None:
        """Delete ``folder/name``. Idempotent: removing a missing file is not an error."""

    def remove_many(self, folder: str, names: Sequence[str]) -> None:
        """Delete every ``folder/name`` of ``names``, as :meth:`remove` does (a transport
        may make the removals durable together). This default removes them one by one."""
        for name in names:
            self.remove(folder, name)

    @abstractmethod
    def close(self) -> None:
        """Release connections; the transport reconnects if it is used again."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
