"""The local transport: a mailbox tree in a folder of this machine.

Used for demos, tests, and nodes hosted together at a city data center (地市级集中管理).
Durability follows one order everywhere: write a temporary file, fsync it, rename it
into place, fsync the folder; the temporary file is removed if anything fails.

The download side of that discipline, :func:`receive`, is shared by every transport:
whatever the endpoint, a fetched file lands on the local disk.
"""

from __future__ import annotations

import builtins
import errno
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from sync.errors import RemoteFileMissing, TransferFailed, TransportError, TransportUnreachable
from sync.files import fsync_all, fsync_directory
from sync.said import said
from sync.transports.base import (
    Progress,
    RemoteFile,
    Transport,
    check_folder,
    check_name,
    is_temporary,
    partial_path,
    temp_name,
)

__all__ = ["LocalTransport", "disk_error", "fsync_folder", "receive"]

CHUNK = 1024 * 1024


def disk_error(exc: OSError, path: Path, doing: str = "write") -> TransportError:
    """Translate an error of the local disk into our tree, naming ``path``."""
    reason = exc.strerror or str(exc)
    done = said(f"doing_{doing.replace(' ', '_')}")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return TransferFailed(
            said("disk_full_cannot", doing=done, path=path), hint=said("disk_full_hint")
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return TransportError(
            said("cannot_do", doing=done, path=path, error=reason),
            hint=said("mailbox_rights_hint"),
        )
    return TransferFailed(said("cannot_do", doing=done, path=path, error=reason))


def fsync_folder(folder: Path) -> None:
    """Make the entries of ``folder`` (created, renamed, removed files) durable."""
    try:
        fsync_directory(folder)
    except OSError as exc:
        raise disk_error(exc, folder, "sync") from exc


def receive(
    dest: Path,
    size: int,
    chunks_from: Callable[[int], Iterable[bytes]],
    progress: Progress | None = None,
) -> None:
    """Write a file of ``size`` bytes to ``dest`` atomically, resuming a partial download.

    The bytes gather in ``partial_path(dest)``; ``chunks_from(offset)`` yields the
    source from ``offset`` on, where ``offset`` is what the partial file already holds.
    Errors raised by ``chunks_from`` propagate unchanged (the caller translates its own
    side); local disk errors become ``TransportError`` subclasses naming the path. The
    partial file is kept on failure so that the next attempt continues it.
    """
    partial = partial_path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        out = open(partial, "ab")  # closed by the with-block below
    except OSError as exc:
        raise disk_error(exc, partial) from exc
    with out:
        try:
            offset = os.fstat(out.fileno()).st_size
            if offset > size:  # not a prefix of this file: start again
                out.truncate(0)
                offset = 0
        except OSError as exc:
            raise disk_error(exc, partial) from exc
        received = offset
        for chunk in chunks_from(offset):
            try:
                out.write(chunk)
            except OSError as exc:
                raise disk_error(exc, partial) from exc
            received += len(chunk)
            if progress is not None:
                progress(len(chunk))
        if received != size:
            raise TransferFailed(said("download_short", dest=dest, received=received, size=size))
        try:
            out.flush()
            os.fsync(out.fileno())
        except OSError as exc:
            raise disk_error(exc, partial) from exc
    try:
        os.replace(partial, dest)
    except OSError as exc:
        raise disk_error(exc, dest) from exc
    fsync_folder(dest.parent)


def _discard(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # the original error matters more; a stray temp file is never listed


class LocalTransport(Transport):
    """A mailbox tree under ``root``, a folder that must exist (a missing one, such as
    an unmounted share, makes the transport unreachable)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._paths: dict[str, Path] = {}
        """Each folder's path, by the name asked for (checked once: a round asks often)."""

    def __repr__(self) -> str:
        return f"LocalTransport({str(self.root)!r})"

    def _folder(self, folder: str) -> Path:
        path = self._paths.get(folder)
        if path is None:
            path = self._paths[folder] = self.root / check_folder(folder)
        if not self.root.is_dir():
            raise TransportUnreachable(said("mailbox_missing", root=self.root))
        return path

    def _make_folders(self, folder: Path) -> None:
        """mkdir -p below the root, each new entry made durable in its parent."""
        missing = []
        for path in (folder, *folder.parents):
            if path == self.root or path.is_dir():
                break
            missing.append(path)
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError as exc:
                if not path.is_dir():
                    raise TransportError(said("folder_is_file", path=path)) from exc
                continue  # made meanwhile by another writer
            except OSError as exc:
                raise disk_error(exc, path, "create folder") from exc
            fsync_folder(path.parent)

    def publish(self, folder: str, name: str, source: Path) -> None:
        target = self._folder(folder)
        final = target / check_name(name)
        with open(source, "rb") as src:
            self._make_folders(target)
            tmp = target / temp_name(name)
            try:
                with open(tmp, "xb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, final)
            except OSError as exc:
                _discard(tmp)
                raise disk_error(exc, final) from exc
            except BaseException:
                _discard(tmp)
                raise
        fsync_folder(target)

    def publish_many(self, folder: str, files: Sequence[tuple[str, Path]]) -> None:
        """Each file linked (on the same file system; else copied) under a temporary
        name, all fsynced at once, all renamed into place, the folder fsynced once: the
        order of :meth:`publish`, as a batch. A linked file shares the source's bytes,
        which never change (files are named by their content)."""
        target = self._folder(folder)
        self._make_folders(target)
        written: builtins.list[tuple[Path, Path]] = []
        try:
            for name, source in files:
                final = target / check_name(name)
                tmp = target / temp_name(name)
                written.append((tmp, final))
                try:
                    os.link(source, tmp)
                    continue
                except FileNotFoundError:
                    raise
                except OSError:
                    pass  # another file system, or links not allowed: copy
                with open(source, "rb") as src:
                    try:
                        with open(tmp, "xb") as out:
                            shutil.copyfileobj(src, out, CHUNK)
                    except OSError as exc:
                        raise disk_error(exc, final) from exc
            try:
                fsync_all(tmp for tmp, _final in written)
                for tmp, final in written:
                    os.replace(tmp, final)
            except OSError as exc:
                raise disk_error(exc, target) from exc
        finally:
            for tmp, _final in written:
                if tmp.exists():
                    _discard(tmp)
        fsync_folder(target)

    def read(self, folder: str, name: str, limit: int) -> bytes:
        path = self._folder(folder) / check_name(name)
        try:
            with open(path, "rb") as src:
                data = src.read(limit + 1)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise RemoteFileMissing(said("remote_no_file", path=path)) from exc
        except OSError as exc:
            raise disk_error(exc, path, "read") from exc
        if len(data) > limit:
            raise TransferFailed(said("file_too_large", path=path, limit=limit))
        return data

    def list(self, folder: str) -> builtins.list[RemoteFile]:
        path = self._folder(folder)
        try:
            entries = builtins.list(os.scandir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise disk_error(exc, path, "list") from exc
        files = []
        for entry in entries:
            if is_temporary(entry.name):
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    size = entry.stat(follow_symlinks=False).st_size
                    files.append(RemoteFile(entry.name, size))
            except FileNotFoundError:
                continue  # removed while we looked
        return sorted(files, key=lambda f: f.name)

    def fetch(self, folder: str, name: str, dest: Path, progress: Progress | None = None) -> None:
        path = self._folder(folder) / check_name(name)
        try:
            src = open(path, "rb")  # closed by the with-block below
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise RemoteFileMissing(said("remote_no_file", path=path)) from exc
        except OSError as exc:
            raise disk_error(exc, path, "read") from exc

        def chunks_from(offset: int) -> Iterator[bytes]:
            try:
                src.seek(offset)
                while block := src.read(CHUNK):
                    yield block
            except OSError as exc:
                raise disk_error(exc, path, "read") from exc

        with src:
            receive(dest, os.fstat(src.fileno()).st_size, chunks_from, progress)

    def remove(self, folder: str, name: str) -> None:
        self.remove_many(folder, [name])

    def remove_many(self, folder: str, names: Sequence[str]) -> None:
        target = self._folder(folder)
        for name in names:
            path = target / check_name(name)
            try:
                path.unlink()
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                raise disk_error(exc, path, "remove") from exc
        if names and target.is_dir():
            fsync_folder(target)

    def close(self) -> None:
        pass  # nothing held between calls
