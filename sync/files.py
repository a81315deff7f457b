"""Durable files: written whole under a temporary name, fsynced, renamed, folder fsynced.

Every file fiscalsync writes that must survive a crash (keys, certificates, revocation
lists, change-sets, node homes) goes through here, so that the write order is the same
everywhere: data, fsync, rename, then the folder's fsync.

Many files written together (the objects of a backup) keep that order as a batch: all
written under temporary names, all fsynced at once (:func:`fsync_all`: in parallel, so
that the file system commits them together instead of one journal commit each), all
renamed, then each folder fsynced once.

A tree built under a temporary name and renamed into place whole (``network init``) is
flushed once, by :func:`fsync_tree` just before the rename: inside
:func:`schema.deferred.flushing_deferred`, what is written in that tree is not flushed
file by file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from schema.deferred import deferred

__all__ = [
    "FSYNC_WORKERS",
    "Batch",
    "Filled",
    "Room",
    "atomic_file",
    "copy_atomic",
    "fsync_all",
    "fsync_directory",
    "fsync_tree",
    "start_writeback",
    "write_atomic",
    "write_gathered",
    "write_out",
]

FSYNC_WORKERS = 32
"""Files flushed at once by :func:`fsync_all`: measured on ext4, 500 files of 64 KiB take
1.3 s one after the other and 0.07 s 32 at a time (the journal commits them together)."""


PIECE = 64 * 1024
"""The largest piece :func:`write_gathered` hands the kernel. What a write costs goes
with the bytes of its call, not of its pieces: measured on a virtual machine, 320 MB in
8 MiB calls took 0.4–0.7 s of CPU, gathered from 64 KiB pieces too, and 0.1 s in calls
of 64 KiB (the kernel's page cache taking new memory from its host either way). A large
buffer written often is a :class:`Room`, which the kernel copies in small pieces itself."""


DIRECT_ALIGN = 4096
"""What the offset, length and memory of a write that bypasses the page cache are a
multiple of: any logical block size of a disk (512 or 4096 bytes) divides it."""

_O_DIRECT: int = getattr(os, "O_DIRECT", 0)


def _set_direct(fd: int, on: bool) -> bool:
    """Set or clear ``O_DIRECT`` on ``fd``; whether it is set now."""
    if not _O_DIRECT:
        return False
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    wanted = flags | _O_DIRECT if on else flags & ~_O_DIRECT
    if wanted != flags:
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, wanted)
        except OSError:
            if on:
                return False  # the file system takes no O_DIRECT
            raise
    return on


def _iov_max() -> int:
    """Pieces one ``writev`` takes: the system's IOV_MAX, at most 1024; 1024 where it
    sets no limit (``sysconf`` says -1), 16 (the least POSIX allows) where it cannot
    say."""
    try:
        limit = os.sysconf("SC_IOV_MAX")
    except (AttributeError, ValueError, OSError):
        return 16
    return 1024 if limit < 0 else max(1, min(1024, limit))


_IOV_MAX = _iov_max()


def write_gathered(fd: int, pieces: Sequence[bytes | bytearray | memoryview]) -> None:
    """Write ``pieces`` in order to the file descriptor ``fd``, in pieces of at most
    :data:`PIECE` bytes gathered into as few system calls as the kernel takes
    (``writev``). Many MB then cost one call, which a thread makes without handing the
    interpreter lock back and forth with a busy thread (a write each for 64 KiB would),
    but as much as one write of them all (see :data:`PIECE`)."""
    views: list[memoryview] = []
    for piece in pieces:
        view = memoryview(piece).cast("B")
        views.extend(view[start : start + PIECE] for start in range(0, len(view), PIECE))
    at = 0
    while at < len(views):
        written = os.writev(fd, views[at : at + _IOV_MAX])
        if not written:
            left = sum(len(v) for v in views[at:])
            raise OSError(f"writev wrote nothing of the {left} bytes left to write")
        while written:  # drop what was written, the last view perhaps in part
            if written >= len(views[at]):
                written -= len(views[at])
                at += 1
            else:
                views[at] = views[at][written:]
                written = 0


class Room:
    """A buffer of ``size`` bytes, filled through :attr:`view`, whose first bytes the
    kernel copies into a file itself (:meth:`write_to`). On Linux its memory is a file
    in memory (``memfd_create``), mapped, and ``sendfile`` copies it out 64 KiB at a time
    within one call: the cost of small writes (:data:`PIECE`) without a system call, and
    a hand-back of the interpreter lock, for each. Measured on a virtual machine, forty
    8 MiB rooms written out in 0.09–0.10 s of CPU where one ``writev`` each took
    0.4–0.7 s (and 256 KiB writes 0.07 s alone but 6.8 s beside a busy thread, waiting
    for the lock). Elsewhere it is a ``bytearray`` written by :func:`write_gathered`.
    Reused for many writes; :meth:`close` lets go of it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.fd: int | None = None
        memory: mmap.mmap | bytearray
        try:
            self.fd = os.memfd_create("fiscalsync-room", os.MFD_CLOEXEC)
            os.ftruncate(self.fd, size)
            memory = mmap.mmap(self.fd, size)
        except (AttributeError, OSError):
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
            memory = bytearray(size)
        self.memory = memory
        """What :attr:`view` shows: a block drawn from a room is ``view[:n]``, whose ``obj``
        is this."""
        self.view = memoryview(memory)
        self._closed = weakref.finalize(self, _close_quietly, self.fd)

    def filled(self, length: int) -> Filled:
        """The room's first ``length`` bytes, as :func:`write_out` writes them."""
        if not 0 <= length <= self.size:
            raise ValueError(f"a room of {self.size} bytes holds no {length}")
        return Filled(self, length)

    def write_to(self, fd: int, length: int, *, direct: bool = False) -> None:
        """Write the room's first ``length`` bytes at ``fd``'s position; ``direct``: what
        of them is aligned (:data:`DIRECT_ALIGN`) past the page cache, where the file
        system takes it (``O_DIRECT``, set for this write alone: the descriptor is left
        as it was given, without it), the rest through the cache. For large files
        written once and not read back soon (the packs of a backup, a restored
        database): their bytes then take no memory of the page cache, which on a
        virtual machine is new memory the host has to give (measured: 320 MB in 8 MiB
        writes, each file flushed, 0.74-0.91 s through the cache, 0.18-0.20 s past it).
        Past the cache is not durable either: the file is flushed as any other."""
        if self.fd is None:
            write_gathered(fd, [self.view[:length]])
            return
        sent = self._write_direct(fd, length) if direct else 0
        self._send(fd, sent, length)

    def _send(self, fd: int, start: int, length: int) -> None:
        """Have the kernel copy the room's bytes ``start:length`` to ``fd``."""
        assert self.fd is not None
        sent = start
        while sent < length:
            try:
                done = os.sendfile(fd, self.fd, sent, length - sent)
            except OSError as exc:  # a file system that takes no sendfile: written as bytes
                if sent > start or exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                write_gathered(fd, [self.view[start:length]])
                return
            if not done:
                raise OSError(errno.EIO, f"sendfile wrote nothing of {length - sent} bytes")
            sent += done

    def _write_direct(self, fd: int, length: int) -> int:
        """Write what is aligned of the room's first ``length`` bytes past the page cache,
        as far as the file system takes it; how many bytes were written (none where it
        takes no such write: some accept the flag and refuse the write)."""
        if os.lseek(fd, 0, os.SEEK_CUR) % DIRECT_ALIGN:
            return 0
        aligned = length - length % DIRECT_ALIGN
        if not aligned or not _set_direct(fd, True):
            return 0
        sent = 0
        try:
            while sent < aligned:
                try:
                    done = os.write(fd, self.view[sent:aligned])
                except OSError as exc:  # a file system that takes no such write
                    if exc.errno != errno.EINVAL:
                        raise
                    break
                if not done:
                    raise OSError(errno.EIO, f"wrote nothing of {aligned - sent} bytes")
                sent += done
                if done % DIRECT_ALIGN:
                    break  # short of a block: the rest goes through the cache
        finally:
            _set_direct(fd, False)  # never left set: some file systems refuse its close
        return sent

    def close(self) -> None:
        """Let go of the room's file, and of its memory: at once, or, while a view of it is
        still held (the frames of an error being told may hold one), when the last one
        goes. The room is not to be used after."""
        self._closed()
        self.fd = None  # never sent from after: its number may be another file's by then
        memory, view = self.__dict__.pop("memory", None), self.__dict__.pop("view", None)
        # A view or slice still held keeps the memory, which then goes with the last one.
        with contextlib.suppress(BufferError):
            if view is not None:
                view.release()
            if isinstance(memory, mmap.mmap):
                memory.close()  # and the mapping's own copy of the file's descriptor


def _close_quietly(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


@dataclass(frozen=True)
class Filled:
    """The first ``length`` bytes of ``room`` (:meth:`Room.filled`)."""

    room: Room
    length: int


def write_out(
    fd: int, data: bytes | bytearray | memoryview | Filled, *, direct: bool = False
) -> None:
    """Write ``data`` at ``fd``'s position: the filled part of a :class:`Room` by the
    kernel's copy (``direct``: what is aligned past the page cache, see
    :meth:`Room.write_to`), other bytes by :func:`write_gathered`."""
    if isinstance(data, Filled):
        data.room.write_to(fd, data.length, direct=direct)
    else:
        write_gathered(fd, [data])  # bytes anywhere in memory: never past the cache


def fsync_directory(directory: Path) -> None:
    """Flush ``directory``'s entries to disk, so a rename inside it survives a crash."""
    if deferred(directory):
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_all(paths: Iterable[Path]) -> None:
    """Flush every file of ``paths`` to disk, many at once; the first OSError goes up
    once all are done. Their folders are the caller's to flush, after renaming them."""
    paths = [path for path in paths if not deferred(path)]
    if not paths:
        return
    with ThreadPoolExecutor(max_workers=FSYNC_WORKERS) as pool:
        for _done in pool.map(_fsync_file, paths):
            pass


def fsync_tree(root: Path) -> None:
    """Flush every file and folder below ``root`` (a tree built before its final rename)."""
    folders: list[Path] = []
    files: list[Path] = []
    for top, _dirs, names in os.walk(root):
        folders.append(Path(top))
        files.extend(Path(top) / name for name in names)
    fsync_all(files)
    for folder in reversed(folders):
        fsync_directory(folder)


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
            if not deferred(path):
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


def start_writeback(fd: int, offset: int = 0, length: int = 0) -> None:
    """Have the kernel start writing ``length`` bytes of ``fd`` from ``offset`` (0: to the
    end) to disk at once, without waiting: a hint, so that a flush later finds little left
    to do. Linux starts the writeback of dirty pages (and drops none not yet written) for
    DONTNEED; elsewhere it may do nothing, and its failure is ignored."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


class Batch:
    """Many files written into ``folder`` as one durable batch (see the module): each
    under a temporary name, then :meth:`commit` flushes them all at once, renames them
    into place and fsyncs the folder once; :meth:`discard` (or an error) removes what was
    not committed. ``OSError`` propagates untranslated; callers say what they wrote."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pending: list[tuple[Path, Path]] = []

    def write(
        self,
        name: str,
        data: bytes | bytearray | memoryview | Filled,
        *,
        start: bool = False,
        direct: bool = False,
    ) -> None:
        """Write a file of the batch (:func:`write_out`); ``start``: and have the kernel
        start writing it to disk at once, without waiting (a hint: :meth:`commit` still
        flushes it), so that the flush at commit finds little left to do; ``direct``: a
        room's bytes past the page cache (:meth:`Room.write_to`), for a file not read
        back soon."""
        unsynced = self.folder / f".{name}.batch"
        self.pending.append((unsynced, self.folder / name))
        fd = os.open(unsynced, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            write_out(fd, data, direct=direct)
            if start:
                start_writeback(fd)
        finally:
            os.close(fd)

    def commit(self) -> None:
        try:
            fsync_all(unsynced for unsynced, _final in self.pending)
            for unsynced, final in self.pending:
                os.replace(unsynced, final)
        except BaseException:
            self.discard()
            raise
        self.pending.clear()
        fsync_directory(self.folder)

    def discard(self) -> None:
        for unsynced, _final in self.pending:
            unsynced.unlink(missing_ok=True)
        self.pending.clear()

    @staticmethod
    def strays(folder: Path) -> list[Path]:
        """Files a batch left in ``folder`` uncommitted (its writer died): safe to delete."""
        return sorted(folder.glob(".*.batch")) if folder.is_dir() else []
