"""Rooms: buffers whose first bytes the kernel copies into a file (``sendfile`` from a
file in memory), and the backups whose packs are written from them."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import gc
import mmap
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from test_backup import backup, issue, settle

from nodes import Node, backups
from nodes.backups import last_manifest, take_backup
from nodes.network import Network
from schema.channels import outbox
from sync.errors import StorageError
from sync.files import DIRECT_ALIGN, Room, write_out


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(params=["memfd", "bytearray"])
def room_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Rooms as Linux makes them, and as a system without ``memfd_create`` does."""
    if request.param == "bytearray":
        monkeypatch.delattr(os, "memfd_create")
    elif not hasattr(os, "memfd_create"):
        pytest.skip("this system has no memfd_create")
    return str(request.param)


def test_a_room_writes_exactly_its_filled_bytes_where_the_file_stands(
    tmp_path: Path, room_kind: str
) -> None:
    room = Room(1 << 20)
    assert (room.fd is not None) == (room_kind == "memfd")
    target = tmp_path / "out"
    expected = bytearray(b"head")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"head")
        for turn, length in enumerate((0, 1, 4095, 65537, 1 << 20, 300_001)):
            fill = bytes((turn * 7 + n) % 251 for n in range(length))
            room.view[:length] = fill
            room.view[length : length + 3] = b"\xff" * len(room.view[length : length + 3])
            write_out(fd, room.filled(length))
            expected += fill
        write_out(fd, b"tail")  # bytes as they are, after the room's
        expected += b"tail"
    finally:
        os.close(fd)
        room.close()
    assert target.read_bytes() == bytes(expected)
    with pytest.raises(ValueError, match="holds no"):
        room.filled((1 << 20) + 1)


def test_a_file_that_takes_no_sendfile_is_written_as_bytes(tmp_path: Path) -> None:
    """A file opened to append takes no ``sendfile`` (EINVAL): the room is written by
    ``write`` instead, the same bytes."""
    if not hasattr(os, "memfd_create"):
        pytest.skip("this system has no memfd_create")
    room = Room(200_000)
    room.view[:] = bytes(n % 253 for n in range(200_000))
    target = tmp_path / "appended"
    target.write_bytes(b"before")
    fd = os.open(target, os.O_WRONLY | os.O_APPEND)
    try:
        with pytest.raises(OSError) as refused:
            os.sendfile(fd, room.fd, 0, 10)
        assert refused.value.errno == errno.EINVAL
        room.write_to(fd, 150_000)
    finally:
        os.close(fd)
        room.close()
    assert target.read_bytes() == b"before" + bytes(n % 253 for n in range(150_000))


def test_a_full_disk_is_an_error_of_the_write_and_a_room_lets_go_of_its_file(
    room_kind: str,
) -> None:
    before = _open_fds()
    room = Room(65536)
    room.view[:] = b"x" * 65536
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        told = None
        try:
            room.write_to(fd, 65536)
        except OSError as exc:
            told = exc.errno  # the error, not its frames (which may hold a view of the room)
        assert told == errno.ENOSPC
    finally:
        os.close(fd)
    held = room.view[:10]  # a view still held: the room's memory stays while it does
    room.close()
    room.close()  # twice: nothing more
    assert bytes(held) == b"x" * 10
    del held  # and now its memory goes too
    assert _open_fds() == before


def test_short_sendfile_counts_still_write_the_right_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal cuts a ``sendfile`` short (the kernel says what it copied): each call
    after sends from where the one before ended, no more than is left."""
    if not hasattr(os, "memfd_create"):
        pytest.skip("this system has no memfd_create")
    size = 64 << 20
    room = Room(size + 4096)  # bytes past what is written, which must not be
    for at in range(0, size + 4096, 1 << 20):
        room.view[at : at + (1 << 20)] = bytes([(at >> 20) % 251 + 1]) * len(
            room.view[at : at + (1 << 20)]
        )
    counts: list[int] = []
    sendfile = os.sendfile

    def counted(*args: Any) -> int:
        done = sendfile(*args)
        counts.append(done)
        return done

    monkeypatch.setattr(os, "sendfile", counted)
    before = signal.signal(signal.SIGALRM, lambda *_args: None)
    signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        room.write_to(fd, size - 5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
        os.close(fd)
    assert len(counts) > 1  # the sends were cut short
    assert (tmp_path / "out").read_bytes() == bytes(room.view[: size - 5])
    room.close()


def _cached_pages(path: Path) -> int:
    """Pages of the file at ``path`` the page cache holds (``mincore`` of a mapping of
    it, which touches none)."""
    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    libc = ctypes.CDLL(None, use_errno=True)
    with path.open("rb") as stream, mmap.mmap(stream.fileno(), size, access=mmap.ACCESS_COPY) as m:
        address = ctypes.addressof(ctypes.c_char.from_buffer(m))
        vector = (ctypes.c_ubyte * pages)()
        try:
            if libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vector):
                raise OSError(ctypes.get_errno(), "mincore")
        finally:
            del address
        return sum(byte & 1 for byte in vector)


def _direct(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)


def _refuses_unaligned_direct(folder: Path) -> bool:
    """Whether the file system of ``folder`` writes past its cache (a disk's, where an
    aligned write bypassing it is taken and an unaligned one refused), not in memory
    alone (tmpfs takes any) nor refusing every such write (an overlay of one that takes
    none)."""
    probe = folder / "probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
            with mmap.mmap(-1, DIRECT_ALIGN) as aligned:
                os.write(fd, aligned)
        except OSError:
            return False
        try:
            os.write(fd, b"x")
        except OSError as exc:
            return exc.errno == errno.EINVAL and _direct(fd)
        return False
    finally:
        with contextlib.suppress(OSError):  # some refuse to close a file with it set
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)
        os.close(fd)
        probe.unlink()


def _written_past_the_cache(room: Room, target: Path, fill: bytes) -> bytes:
    """Write into ``target``, past the cache where asked, what of ``fill`` (the room's
    bytes) is aligned and what is not, and bytes from elsewhere; what the file should
    hold. The descriptor never keeps ``O_DIRECT`` between writes."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        room.write_to(fd, 8 << 20, direct=True)  # aligned, whole
        assert not _direct(fd)
        room.write_to(fd, 3 * DIRECT_ALIGN + 5, direct=True)  # aligned, and a tail of 5
        write_out(fd, b"bytes")  # from elsewhere, at an unaligned place
        room.write_to(fd, DIRECT_ALIGN - 10, direct=True)  # and back to an aligned place
        write_out(fd, room.filled(2 * DIRECT_ALIGN), direct=True)
        assert not _direct(fd)
        os.fsync(fd)
    finally:
        os.close(fd)
    expected = fill + fill[: 3 * DIRECT_ALIGN + 5] + b"bytes" + fill[: DIRECT_ALIGN - 10]
    return expected + fill[: 2 * DIRECT_ALIGN]


def test_a_room_written_past_the_cache_writes_the_same_bytes_and_leaves_them_out_of_it(
    tmp_path: Path,
) -> None:
    """A room written past the page cache: its aligned bytes go to the disk past it,
    what is not aligned (a room's tail, bytes from elsewhere, a write at an unaligned
    place) through it, and the file holds exactly what was written, in order. On a
    disk's file system the cache then holds none of what went past it."""
    if not hasattr(os, "memfd_create"):
        pytest.skip("this system has no memfd_create")
    room = Room(8 << 20)
    fill = bytes(range(256)) * (len(room.view) // 256)
    room.view[:] = fill
    target = tmp_path / "past-the-cache"
    try:
        expected = _written_past_the_cache(room, target, fill)
        assert target.read_bytes() == expected
        if not _refuses_unaligned_direct(tmp_path):
            pytest.skip(f"{tmp_path} is not on a disk's file system: its files are the cache")
        fd = os.open(target, os.O_WRONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # what reading it back cached
            assert _cached_pages(target) == 0
            room.write_to(fd, 8 << 20, direct=True)
        finally:
            os.close(fd)
        assert _cached_pages(target) == 0
        assert target.read_bytes() == expected
    finally:
        room.close()


def test_a_file_system_that_takes_the_flag_but_not_the_write_is_written_through_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some file systems (an overlay on one without direct writes) take ``O_DIRECT`` and
    refuse every write made with it, and its close too: each write goes through the
    cache instead, the same bytes, and the descriptor is closed without it."""
    if not hasattr(os, "memfd_create"):
        pytest.skip("this system has no memfd_create")
    write, close = os.write, os.close
    refused: list[int] = []

    def no_direct_write(fd: int, data: Any) -> int:
        if _direct(fd):
            refused.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return write(fd, data)

    def no_direct_close(fd: int) -> None:
        if _direct(fd):
            raise OSError(errno.EINVAL, "Invalid argument")
        close(fd)

    room = Room(8 << 20)
    fill = bytes(range(256)) * (len(room.view) // 256)
    room.view[:] = fill
    monkeypatch.setattr(os, "write", no_direct_write)
    monkeypatch.setattr(os, "close", no_direct_close)
    try:
        expected = _written_past_the_cache(room, tmp_path / "through-the-cache", fill)
    finally:
        monkeypatch.undo()
        room.close()
    assert len(refused) == 3  # each write at an aligned place tried once
    assert (tmp_path / "through-the-cache").read_bytes() == expected


def _room_files() -> list[str]:
    """The rooms' files this process holds (their memfds, and their mappings' copies)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if "fiscalsync-room" in os.readlink(f"/proc/self/fd/{fd}"):
                found.append(fd)
    return found


@pytest.mark.parametrize("failing", ["sendfile", "writev", "write"])
def test_a_backup_whose_disk_fills_lets_go_of_every_room_once_its_error_goes(
    province: Network, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """The disk fills at the second pack, sent by ``sendfile``, (a file system that
    takes none) written by ``writev``, or (past the page cache) by ``write``: a storage
    error, and no room's memory or file kept once the error is let go of."""
    if not hasattr(os, "memfd_create"):
        pytest.skip("this system has no memfd_create")
    monkeypatch.setattr(backups, "PACK", 4096)
    issue(province, "410000", "410100", 900_00, "豫财预〔2026〕1号")
    settle(province)
    calls: list[int] = []
    real = getattr(os, failing)

    def filling(*args: Any) -> int:
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return int(real(*args))

    def no_sendfile(*_args: Any) -> int:
        raise OSError(errno.EINVAL, "Invalid argument")

    assert not _room_files()
    with Node.open(province.path / "410102") as node:
        monkeypatch.setattr(os, failing, filling)
        if failing == "writev":
            monkeypatch.setattr(os, "sendfile", no_sendfile)
        with pytest.raises(StorageError, match="No space left on device"):
            take_backup(node)
        monkeypatch.undo()
    assert len(calls) >= 2  # packs in flight after the one that failed may have tried too
    gc.collect()  # the error's frames and what they hold
    assert not _room_files()


def test_a_backup_whose_disk_fills_while_packs_are_written_leaves_nothing(
    province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second pack cannot be written (the disk is full): the backup is a storage
    error of this node's, nothing is staged or queued, every room is let go of; the next
    backup, with room on the disk, is whole."""
    monkeypatch.setattr(backups, "PACK", 4096)  # the county's backup in many packs
    issue(province, "410000", "410100", 900_00, "豫财预〔2026〕1号")
    settle(province)
    home = province.path / "410102"
    written: list[int] = []
    write = Room.write_to

    def filling(room: Room, fd: int, length: int, **how: Any) -> None:
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(length)
        write(room, fd, length, **how)

    def queued(node: Node) -> list[Any]:
        with node.engine.connect() as conn:
            return list(conn.execute(outbox.select()).all())

    before = _open_fds()
    with Node.open(home) as node:
        sent, last = queued(node), last_manifest(node)
        monkeypatch.setattr(Room, "write_to", filling)
        with pytest.raises(StorageError, match="No space left on device"):
            take_backup(node)
        monkeypatch.setattr(Room, "write_to", write)
        assert queued(node) == sent
        assert last_manifest(node) == last
    assert written  # the first pack was written, the second was not
    assert not [p.name for p in (home / backups.BACKUPS_DIR / "staging").iterdir()]
    assert _open_fds() == before
    taken = backup(province, "410102")
    assert taken.objects > 2
    assert taken.number == (1 if last is None else last[1].manifest.number + 1)
    settle(province)
