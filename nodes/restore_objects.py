"""Reading a backup's objects back: each object (a pack) fetched once, checked against
its name or opened chunk by chunk as the index names them (:class:`Fetcher`), and what
they hold written out: a file of the home (:func:`write_part`), or the database, a SQLite
file block by block or a PostgreSQL database by COPY (:func:`load_database`).
Used by a restore (:mod:`nodes.restore`) and a drill (:mod:`nodes.drill`)."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from nodes.backups import LARGEST_OBJECT, OBJECTS, store_folder
from nodes.labels import said
from schema import snapshot
from schema.deferred import deferred
from schema.engine import open_engine, parse_url
from sync.backup import envelope, hashing
from sync.backup.envelope import BackupDamaged, DataKey
from sync.backup.manifest import Index, Part, ReadManifest
from sync.errors import HomeError, RemoteFileMissing
from sync.files import Filled, Room, start_writeback, write_out
from sync.transports.base import Transport

__all__ = ["WRITE", "Fetcher", "load_database", "object_hashes", "unload_database", "write_part"]

WRITE = 4 * 1024 * 1024
"""A restored SQLite file is written in pieces of about this size."""


class Fetcher:
    """Fetches, checks and opens the chunks of a part, in order. An object (a pack of
    many chunks) is fetched and checked once and kept while its chunks are read: the
    last :data:`KEPT` objects are, which holds a part whose chunks are in few packs.

    :meth:`blocks` fetches the next object of its part while the chunks of the current
    one are opened (over SFTP a fetch is mostly waiting for the network). The transport
    is then used by one thread of the fetcher's own alone, every fetch of the fetcher
    going through it, until :meth:`finish` or :meth:`close`, after which the caller may
    use the transport again. Use it as a context manager, or call :meth:`close`."""

    KEPT = 4

    def __init__(
        self,
        transport: Transport,
        owner: str,
        keys: dict[bytes, DataKey],
        work: Path,
        progress: Callable[[int], None] | None,
        *,
        also: tuple[Transport, str] | None = None,
        hashes: dict[str, str] | None = None,
    ) -> None:
        self.transport = transport
        self.hashes = hashes or {}
        """Object name → the hash that names it (:func:`object_hashes`); SHA-256 if none."""
        self.folder = store_folder(owner, OBJECTS)
        self.also = also
        self.keys = keys
        self.work = work
        self.progress = progress
        self.bytes = 0
        self.kept: OrderedDict[str, bytes] = OrderedDict()
        self.named: set[str] = set()
        """Objects whose bytes were checked against their name."""
        self.opened: dict[str, dict[int, int]] = {}
        """Of each object kept, where format-2 chunks were opened: offset → length."""
        self.reader: ThreadPoolExecutor | None = None
        """The thread every fetch goes through once one was made ahead of its use."""
        self.ahead: dict[str, Future[bytes]] = {}
        """Objects being fetched before they are asked for: name → its bytes to come."""

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, failure: type[BaseException] | None, *_exc: object) -> None:
        self.close(wait=failure is None)

    def close(self, *, wait: bool = True) -> None:
        """Drop the fetches made ahead and wait for the one under way: the transport is
        the caller's again. Nothing is settled (see :meth:`finish`). Without ``wait`` (the
        ``with`` block left by an error, an interrupt too) the fetch under way is not
        waited for, which over SFTP may take its whole timeout: the caller is to close
        the transport, which cuts it off."""
        for future in self.ahead.values():
            future.cancel()
        self.ahead.clear()
        if self.reader is not None:
            self.reader.shutdown(wait=wait, cancel_futures=True)
            self.reader = None

    def _fetch(self, name: str) -> bytes:
        try:
            return self.transport.read(self.folder, name, LARGEST_OBJECT)
        except RemoteFileMissing:
            if self.also is None:
                raise
            return self.also[0].read(self.also[1], name, LARGEST_OBJECT)

    def _fetch_ahead(self, name: str) -> None:
        """Have ``name`` fetched while the chunks before it are opened (what :meth:`blocks`
        asks for next); nothing when it is kept, or on its way."""
        if name in self.kept or name in self.ahead:
            return
        if self.reader is None:
            self.reader = ThreadPoolExecutor(1, "restore-fetch")
        self.ahead[name] = self.reader.submit(self._fetch, name)

    def _object(self, name: str) -> bytes:
        data = self.kept.get(name)
        if data is not None:
            self.kept.move_to_end(name)
            return data
        future = self.ahead.pop(name, None)
        if future is None and self.reader is not None:  # the transport is its thread's
            future = self.reader.submit(self._fetch, name)
        data = self._fetch(name) if future is None else future.result()
        self.bytes += len(data)
        self.kept[name] = data
        self.opened[name] = {}
        if len(self.kept) > self.KEPT:
            self._settle(*self.kept.popitem(last=False))
        return data

    def _check_name(self, name: str, data: bytes) -> None:
        if name not in self.named:
            if envelope.object_id(data, self.hashes.get(name, hashing.SHA256)) != name:
                raise BackupDamaged(said("object_hash_not_name", name=name[:16]))
            self.named.add(name)

    def _settle(self, name: str, data: bytes) -> None:
        """An object is done with: every byte of it was opened by the AEAD as the chunk
        the index names there, or it is hashed against its name. So a byte altered
        anywhere in an object fetched is refused, as if the name had been checked at
        once, without hashing what the AEAD already checked (the bulk of a restore)."""
        spans = self.opened.pop(name, {})
        if name in self.named or sum(spans.values()) == len(data):
            return
        self._check_name(name, data)

    def finish(self) -> None:
        """Settle every object still kept (see :meth:`_settle`); call after the last
        chunk, before anything restored counts. The fetcher is closed (:meth:`close`)."""
        self.close()
        while self.kept:
            self._settle(*self.kept.popitem(last=False))

    def chunks(self, part: Part) -> Iterator[bytes]:
        for chunk in part.chunks:
            data = self._object(chunk.object)
            sealed: bytes | memoryview = data
            if chunk.length is not None:
                if chunk.offset + chunk.length > len(data):
                    raise BackupDamaged(said("object_shorter", name=chunk.object[:16]))
                sealed = memoryview(data)[chunk.offset : chunk.offset + chunk.length]
            # A format-2 chunk opens only as the chunk whose hash the sealed index names
            # (the AEAD binds it); the rest of its object is hashed when it is settled.
            # A format-1 chunk is bound by its object's name, hashed at once.
            bound = chunk.length is not None and envelope.is_bound(sealed)
            if not bound:
                self._check_name(chunk.object, data)
            plain = envelope.open_chunk(
                self.keys, sealed, chunk.object, bytes.fromhex(chunk.digest), chunk.size
            )
            if bound and chunk.object in self.opened:
                self.opened[chunk.object][chunk.offset] = len(sealed)
            if len(plain) != chunk.size:
                raise BackupDamaged(said("object_not_chunk", name=chunk.object[:16]))
            if self.progress is not None:
                self.progress(len(plain))
            yield plain

    def blocks(
        self, part: Part, size: int = WRITE, rooms: Sequence[Room] = ()
    ) -> Iterator[memoryview]:
        """The plaintext of ``part``, opened and checked as :meth:`chunks` does, in blocks
        of about ``size`` bytes. A chunk sealed as it is in one segment (every page of a
        SQLite file) is opened straight into its place in the block, with nothing made
        for it; any other is opened by :meth:`chunks` and copied in. Two buffers take
        turns: a block is valid until the next-but-one is drawn. They are the two
        ``rooms`` given, of ``size`` bytes at least, if any: a block is then the start of
        a room (its ``obj`` is the room's memory) unless a chunk larger than a room made
        another buffer."""
        opener = envelope.ChunkOpener(self.keys)
        buffers: list[memoryview | bytearray] = (
            [room.view for room in rooms] if rooms else [bytearray(size), bytearray(size)]
        )
        turn = 0
        out = memoryview(buffers[0])
        fill = 0
        current = None
        data = b""
        view = memoryview(data)
        spans: dict[int, int] | None = None
        following = _following(part)
        for position, chunk in enumerate(part.chunks):
            length, plain = chunk.length, chunk.size
            if fill + plain > len(out):
                if fill:
                    yield out[:fill]
                    turn ^= 1
                if plain > len(buffers[turn]):
                    buffers[turn] = bytearray(plain)
                out, fill = memoryview(buffers[turn]), 0
            if chunk.object != current:
                data = self._object(chunk.object)
                view, current = memoryview(data), chunk.object
                spans = self.opened.get(current)
                if (after := following.get(position)) is not None:
                    self._fetch_ahead(after)
            offset = chunk.offset
            if (
                length is not None
                and offset + length <= len(data)
                and opener.open_into(
                    data,
                    view,
                    offset,
                    length,
                    bytes.fromhex(chunk.digest),
                    out[fill : fill + plain],
                    chunk.object,
                )
            ):
                if spans is not None:
                    spans[offset] = length
                if self.progress is not None:
                    self.progress(plain)
            else:
                for piece in self.chunks(Part(part.name, [chunk])):
                    out[fill : fill + plain] = piece
            fill += plain
        if fill:
            yield out[:fill]


def _following(part: Part) -> dict[int, str]:
    """Where a run of ``part``'s chunks in one object begins → the object of the run after
    it: what is fetched ahead once that run is begun, so that an object the part comes
    back to after others is fetched ahead only when it is next."""
    following: dict[int, str] = {}
    begun = 0
    for position in range(1, len(part.chunks)):
        if (next_object := part.chunks[position].object) != part.chunks[position - 1].object:
            following[begun] = next_object
            begun = position
    return following


def object_hashes(*manifests: ReadManifest | None) -> dict[str, str]:
    """Object name → the hash its manifest names it by, for the objects of ``manifests``
    (a restore may read a later manifest's journal, under another hash)."""
    return {
        name: read.manifest.hash for read in manifests if read is not None for name in read.objects
    }


def unload_database(url: str) -> None:
    """Empty the PostgreSQL database at ``url`` that :func:`load_database` loaded (it had
    no table before): a restore that failed after the load leaves it as it found it."""
    engine = open_engine(url)
    try:
        snapshot.empty_postgresql(engine)
    finally:
        engine.dispose()


def load_database(backend: str, schema: str, index: Index, fetcher: Fetcher, url: str) -> None:
    """Load the snapshot of ``index`` into the new database at ``url`` (PostgreSQL: one
    with no table; :func:`unload_database` empties it again)."""
    if backend == "postgresql":
        engine = open_engine(url)
        try:
            snapshot.load_postgresql(
                engine, schema, ((p.name, fetcher.chunks(p)) for p in index.database)
            )
        finally:
            engine.dispose()
        return
    target = Path(parse_url(url).database or "")
    if target.exists():
        raise HomeError(said("home_exists", target=target), hint=said("restore_new_file_hint"))
    # Written by a thread of its own while the next block is fetched and opened (a
    # write releases the GIL): a block a room's send; one block at most waits, so the
    # fetcher's two rooms are enough (the next-but-one is drawn only once it is written).
    rooms = (Room(WRITE), Room(WRITE))
    try:
        with target.open("xb") as out, ThreadPoolExecutor(1, "restore-write") as writer:
            fd = out.fileno()
            behind: Future[None] | None = None
            at = 0
            for block in fetcher.blocks(index.database[0], WRITE, rooms):
                if behind is not None:
                    behind.result()
                room = next((r for r in rooms if block.obj is r.memory), None)
                data = block if room is None else room.filled(len(block))
                behind = writer.submit(_write_block, fd, data, at, len(block))
                at += len(block)
            if behind is not None:
                behind.result()
            if not deferred(target):  # else flushed with the rest of the new home
                os.fsync(fd)
    finally:
        for room in rooms:
            room.close()


def _write_block(fd: int, block: memoryview | Filled, at: int, length: int) -> None:
    """Write ``block`` (the file's ``length`` bytes from ``at`` on) and have the kernel
    start writing it to disk at once, without waiting: the file is flushed with the rest
    of the new home, which then finds little left to write, the disk having worked while
    the next blocks were opened."""
    write_out(fd, block, direct=True)  # a file this large is not all read back soon
    start_writeback(fd, at, length)


def write_part(root: Path, part: Part, fetcher: Fetcher) -> None:
    target = (root / part.name).resolve()
    if root.resolve() not in target.parents:
        raise BackupDamaged(said("backup_outside_home", name=repr(part.name)))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("xb") as out:
        for piece in fetcher.chunks(part):
            out.write(piece)
    os.chmod(target, part.mode & 0o777)
