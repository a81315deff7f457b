"""Taking a node's backup and shipping it to the node that keeps it.

**What a backup holds.** A snapshot of the node database (:mod:`schema.snapshot`:
SQLite's online backup API, or COPY of every table in one repeatable-read transaction
on PostgreSQL), and the files of the home that the database needs and cannot rebuild:
``node.toml``, ``topology.toml``, ``keys/`` and the spool's journal, every change-set
this node originated (``spool/outbox``, with the receipts that came back), every receipt
it signed (``spool/receipts``) and every change-set it took (``spool/taken``), all of
them signed files that never change.

**How it travels.** Backups go to the data center (the center's own go to the province,
so no node is a single point of loss), and a backup is too big to be one change-set: a
county's snapshot can be tens of MB, and change-sets stay in outboxes and are returned
byte for byte after a restore. So the bulk travels beside the change-sets, as
content-addressed *objects* (encrypted chunks named by their hash, :mod:`sync.backup`)
put straight into the keeper's endpoint (``<node>/backup/objects/``; the province, which
no one below dials, leaves them in its own mailboxes for the center to collect), and
only the *manifest*, a small signed list of those objects, is a change-set of kind
``backup`` on the node's channel to the keeper, with its receipt, retransmission and
exactly-once apply. The manifest is sent only once every object it needs is at the
keeper (the sync round uploads what is still staged, resuming where an unreachable
keeper stopped it), so nothing half-written is ever listed as a backup.

**Incremental.** Each chunk's plaintext hash is in the previous backup's encrypted
index: a chunk seen before is not encrypted or shipped again, its object is named in
the new manifest (with the earlier data key wrapped again), under the hash of the
backup it builds on (:mod:`sync.backup.hashing`). ``--full`` ships everything anew under
the fresh key.

**Which hash.** A backup is named by BLAKE3 only once its keeper says it checks BLAKE3
names: a keeper of the release before checks every new object by SHA-256 and would never
keep it. A chain of SHA-256 then moves to BLAKE3 at its next backup, which ships
everything anew (its packs cannot be named again under another hash), once. The keeper
offers the marker :data:`BLAKE3_OFFERED` where the node puts its objects (in its store
at the keeper, beside ``objects/``, or, for a keeper that collects them, among them);
:func:`upload` notes at each upload, and once the keeper took the backup, whether it is
there (in ``backups/``), and :func:`take_backup` reads that note.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import sqlalchemy as sa

from nodes.labels import said
from nodes.locks import backup_lock
from nodes.topology import Topology
from schema import snapshot
from schema.channels import outbox
from schema.engine import reading
from schema.types import format_utc
from sync import changeset
from sync.backup import chunks, envelope, hashing, keys
from sync.backup.envelope import DataKey
from sync.backup.manifest import (
    KIND,
    PACK,
    Chunk,
    Index,
    Manifest,
    Part,
    ReadManifest,
    manifest_operations,
    read_manifest,
    seal_index,
)
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import ConfigError, KeyMaterialError, StorageError, TransportError
from sync.files import Batch, Filled, Room
from sync.pki import load_signer
from sync.transports.base import Transport

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
    "BACKUPS_DIR",
    "BLAKE3_OFFERED",
    "KIND",
    "LARGEST_OBJECT",
    "PICKUP",
    "OBJECTS",
    "Taken",
    "blake3_offered",
    "keeper_of",
    "last_manifest",
    "object_size",
    "recovery_key",
    "store_folder",
    "take_backup",
    "upload",
]

BACKUPS_DIR = "backups"
OBJECTS = "objects"
MANIFESTS = "manifests"
MANIFEST_NAME = re.compile(r"(?P<number>[0-9]{10})_(?P<id>[0-9a-f]{64})\.fcs")
"""The name of a manifest kept in a store's ``manifests/``: its number and id. Every such
file is a backup to ``restore``, which refuses them all if one does not hold."""
PICKUP = "backup-down"
"""Folder in a node's own mailboxes where objects wait for a keeper that dials it."""
JOURNAL = ("outbox", "receipts", "taken", "quarantine")
SENT = "sent"
"""Where objects at the keeper stay until every manifest has its receipt (in ``backups/``)."""
UPLOAD_BATCH = 256
"""Objects put into the keeper's endpoint at once (made durable there together)."""
HOME_FILES = ("node.toml", "topology.toml")
BLAKE3_OFFERED = "blake3"
"""The keeper's marker that it checks objects named by BLAKE3 (see the module); also the
file in ``backups/`` that notes the node saw it at its last upload."""
COMPRESS_PAGES = False
"""Whether the chunks of a SQLite file are compressed (those cut by content, COPY text
and the home's files, always are). Not, because a second backup would then ship too
large a share of the first: on 1,000,000 events plus 1 %, compressed, the first ships
33 MB instead of 318 MB and the second 2.7 MB instead of 12.9 MB, but that is 8 % of the
first (the target is under 5 %): 1.7 MB of pages that changed, which compress less
than the whole file (its free and sparse pages), and the previous backup's manifest in
the journal (1 MB, mostly its index: 19,400 chunk hashes), which no compression
shrinks. Uncompressed the share is 4 %. CPU is about even: compressing saves at backup
what expanding costs at restore."""


def keeper_of(topology: Topology, code: str) -> str:
    """The node that keeps ``code``'s backups: the data center, or for the center itself
    its parent (the province)."""
    center = topology.center
    if center is None:
        raise ConfigError(said("no_center", topology=topology.name), hint=said("no_center_hint"))
    if code != center.code:
        return center.code
    if center.parent is None:
        raise ConfigError(said("center_no_parent"))
    return center.parent


def store_folder(node: str, what: str | None = OBJECTS) -> str:
    """Where the keeper's endpoint holds ``node``'s backup objects (or manifests; with
    ``what`` None, the store itself, where the keeper's revocation list is offered)."""
    return f"{node}/backup" if what is None else f"{node}/backup/{what}"


def object_size(plain: int) -> int:
    """The size of the object sealing ``plain`` bytes (header, segments and tags)."""
    segments = max(1, -(-plain // envelope.SEGMENT))
    return 36 + plain + 16 * segments


LARGEST_OBJECT = PACK + object_size(chunks.MAXIMUM)
"""No object (a pack) is larger: what is read of one at most."""
IN_FLIGHT = 2
"""Packs named and written by their thread while the next one fills."""
ROOM = PACK + envelope.sealed_size(chunks.MAXIMUM)
"""The room a pack is sealed into: a pack closes once it holds :data:`PACK` bytes, so
the largest chunk cut still fits after it."""


def recovery_key(node: Node) -> Any:
    """The province's recovery public key installed on this node, checked against its
    root certificate (:class:`KeyMaterialError` if there is none)."""
    path = node.home.keys / keys.RECOVERY_CERT
    try:
        data = path.read_bytes()
        root = (node.home.keys / "ca.crt").read_bytes()
    except FileNotFoundError as exc:
        raise KeyMaterialError(
            said("no_recovery_cert", folder=node.home.keys),
            hint=said("no_recovery_cert_hint"),
        ) from exc
    return keys.load_recovery_certificate(data, root, str(path))


@dataclass
class Taken:
    """What ``backup`` did."""

    manifest_id: str
    number: int
    taken_at: datetime
    keeper: str
    objects: int
    new_objects: int
    bytes: int
    new_bytes: int
    seconds: float
    staged: int = 0
    """Objects still to upload (the keeper was unreachable): the sync round resumes."""
    digests: dict[str, str] = field(default_factory=dict)
    in_place: bool = False
    """A SQLite node's pages were read in its live file, not from a copy."""


def last_manifest(node: Node) -> tuple[Any, ReadManifest] | None:
    """This node's latest backup manifest that its keeper did not refuse (its outbox row
    and what it says), or None before the first backup."""
    with reading(node.engine) as conn:
        row = conn.execute(
            sa.select(outbox)
            .where(outbox.c.kind == KIND)
            .where(
                sa.or_(outbox.c.receipt_verdict.is_(None), outbox.c.receipt_verdict != "rejected")
            )
            .order_by(outbox.c.created_at.desc(), outbox.c.seq.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    path = node.spool.outbox / row.filename
    header = changeset.check_stored(path, row.id)
    return row, read_manifest(header, changeset.iter_operations(path, expect_id=row.id))


def _previous_keys(previous: ReadManifest, own: keys.BackupKey) -> dict[bytes, DataKey]:
    return {
        bytes.fromhex(name): envelope.unwrap(
            bytes.fromhex(name), wraps, own, previous.manifest.cipher
        )
        for name, wraps in previous.manifest.keys.items()
    }


class _Objects:
    """Seals new chunks into packs staged as objects; reuses the chunks seen before where
    they lie. :meth:`add` (one chunk) and :meth:`add_pieces` (a block cut into fixed
    chunks) give the chunks' hashes (32 bytes); :meth:`chunk` a chunk's place once
    :meth:`commit` has closed the last pack. A closed pack is named (hashed) and written
    by a thread of its own while the next one fills (both release the GIL for the whole
    pack); :data:`IN_FLIGHT` packs at most are. :meth:`close` waits for them."""

    def __init__(
        self,
        staging: Path,
        key: DataKey,
        known: dict[bytes, Chunk],
        sizes: dict[str, int],
        progress: Callable[[int], None] | None,
        hash_name: str = hashing.CURRENT,
    ) -> None:
        self.staging = staging
        self.key = key
        self.sealer = envelope.ChunkSealer(key)
        self.hash_name = hash_name
        self.digest = hashing.digester(hash_name)
        self.key_name = key.name
        self.known = known
        """Chunks of the backup this one builds on: hash → where it lies."""
        self.sealed: dict[bytes, tuple[int, int, int, int]] = {}
        """Chunks sealed by this backup: hash → (pack number, offset, sealed length, size)."""
        self.names: list[str] = []
        """The name of each pack landed, by number."""
        self.sizes = dict(sizes)
        """Object name → size, of every object a chunk here lies in."""
        self.progress = progress
        self.new = 0
        self.new_bytes = 0
        self.rooms: list[Room] = []
        """Every room made, let go of by :meth:`close`."""
        self.pack = self._new_room(ROOM)
        """The open pack's room: chunks are sealed into it in place, up to :attr:`fill`."""
        self.room = self.pack.view
        self.fill = 0
        self.spare: list[Room] = []
        """Rooms of packs landed, to fill again: a new room of 8 MiB costs the kernel a
        fault for each of its pages, over 0.1 s for a 318 MB database."""
        self.batch = Batch(staging)
        """Packs closed and not yet durable (see :meth:`commit`)."""
        self.closer = ThreadPoolExecutor(1, "backup-pack")
        self.flights: deque[tuple[Future[str], int, Room]] = deque()
        """Packs being named and written, in order (at most :data:`IN_FLIGHT`): each one's
        name to come, its size and its room (not filled again before it landed)."""

    def add(self, data: bytes | memoryview) -> bytes:
        """Seal ``data``, compressed where that pays, unless it is placed already; its hash."""
        digest = self.digest(data)
        if digest not in self.known and digest not in self.sealed:
            start = self._room(envelope.sealed_size(len(data)))
            sealed = envelope.seal_chunk(self.key, data, digest, compress=True)
            self._sealed(digest, start, start + len(sealed), len(data), sealed)
        if self.progress is not None:
            self.progress(len(data))
        return digest

    def add_pieces(self, block: memoryview, size: int) -> list[bytes]:
        """Seal, as they are, the pieces of ``size`` bytes of ``block`` (the last may be
        shorter) that are not placed already; their hashes, in order. One chunk costs a
        hash, a look-up and, when new, its sealing in place: nothing else per chunk."""
        digest, seal = self.digest, self.sealer.seal_into
        known, sealed = self.known, self.sealed
        reserve = envelope.sealed_size(size)
        hashes = []
        for start in range(0, len(block), size):
            piece = block[start : start + size]
            found = digest(piece)
            hashes.append(found)
            if found not in known and found not in sealed:
                at = self._room(reserve)
                self._sealed(found, at, at + seal(piece, found, self.room[at:]), len(piece))
        if self.progress is not None:
            self.progress(len(block))
        return hashes

    def _sealed(
        self, digest: bytes, start: int, end: int, size: int, sealed: bytes | None = None
    ) -> None:
        """Place a chunk sealed at ``start:end`` of the open pack (copied there from
        ``sealed`` when it was sealed elsewhere); close the pack once it is full."""
        if sealed is not None:
            self.room[start:end] = sealed
        self.sealed[digest] = (self.new, start, end - start, size)
        self.fill = end
        self.new_bytes += end - start
        if end >= PACK:
            self._close_pack()

    def _room(self, size: int) -> int:
        """Where a chunk sealed into at most ``size`` bytes goes in the open pack, which
        is closed first if it has not that much room left."""
        if self.fill + size > self.pack.size:
            self._close_pack()
            if size > self.pack.size:
                self.pack = self._new_room(size)
                self.room = self.pack.view
        return self.fill

    def chunk(self, digest: bytes) -> Chunk:
        found = self.sealed.get(digest)
        if found is None:
            return self.known[digest]
        pack, offset, length, size = found
        return Chunk(digest.hex(), self.names[pack], self.key_name, size, offset, length)

    def _close_pack(self) -> None:
        if not self.fill:
            return
        if len(self.flights) >= IN_FLIGHT:
            self._land_one()
        closed = self.pack.filled(self.fill)
        self.flights.append((self.closer.submit(self._write, closed), self.fill, self.pack))
        self.new += 1
        self.pack = self.spare.pop() if self.spare else self._new_room(ROOM)
        self.room = self.pack.view
        self.fill = 0

    def _new_room(self, size: int) -> Room:
        room = Room(size)
        self.rooms.append(room)
        return room

    def _write(self, pack: Filled) -> str:
        name = envelope.object_id(pack.room.view[: pack.length], self.hash_name)
        self.batch.write(name, pack, direct=True)  # not read back here: past the cache
        return name

    def _land_one(self) -> None:
        """Wait for the oldest pack in flight and name it."""
        future, size, room = self.flights.popleft()
        try:
            name = future.result()
        except OSError as exc:
            raise self._failed(exc) from exc
        self.spare.append(room)
        self.names.append(name)
        self.sizes[name] = size

    def _land(self) -> None:
        """Wait for every pack in flight and name them."""
        while self.flights:
            self._land_one()

    def close(self) -> None:
        """Wait for the packs in flight (after a failure too) and remove what was not
        committed."""
        self.closer.shutdown(wait=True)
        self.batch.discard()
        for room in self.rooms:
            room.close()

    def commit(self) -> None:
        """Close the last pack and make the new ones durable together, staged under their
        names."""
        self._close_pack()
        self._land()
        try:
            self.batch.commit()
        except OSError as exc:
            raise self._failed(exc) from exc

    def _failed(self, exc: OSError) -> StorageError:
        return StorageError(
            said("cannot_stage", folder=self.staging, error=exc.strerror or str(exc)),
            hint=said("cannot_stage_hint"),
        )


def _home_files(home: Path) -> Iterator[Path]:
    """The home's files a backup holds. A link in the spool's journal is not followed
    (the node puts none there: one was left by a release that took a child's link in)."""
    for name in HOME_FILES:
        if (home / name).is_file():
            yield home / name
    for path in sorted((home / "keys").rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            yield path
    for folder in JOURNAL:
        root = home / "spool" / folder
        if root.is_dir():
            for path in sorted(root.iterdir()):
                if _regular(path) and not path.name.startswith("."):
                    yield path


def _regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def take_backup(
    node: Node,
    *,
    full: bool = False,
    digests: bool = False,
    clock: Clock = SYSTEM_CLOCK,
    progress: Callable[[int], None] | None = None,
    hash_name: str | None = None,
) -> Taken:
    """Take a backup: snapshot and journal, sealed and staged, and queue its manifest for
    the keeper. Two at once wait for each other (``backup.lock``); a failure of this
    node's (disk full) leaves nothing queued and nothing half-written behind.

    ``digests`` also records each table's digest in the index (``backup drill``).
    ``hash_name`` names chunks and objects (:mod:`sync.backup.hashing`); by default
    BLAKE3 when the keeper offers it (:func:`blake3_offered`), else the previous backup's,
    else SHA-256. A backup under another hash than the previous one's ships everything
    anew, like ``full``: a chain of SHA-256 moves to BLAKE3 so, once.
    """
    started = time.perf_counter()
    home = node.home.path
    me = node.spec.code
    keeper = keeper_of(node.topology, me)
    with backup_lock(home):
        signer = load_signer(node.home.keys)
        own = keys.load_or_create_backup_key(node.home.keys, signer.suite.name)
        recovery = recovery_key(node)
        previous = last_manifest(node)
        key = DataKey.fresh(envelope.cipher_for_suite(signer.suite.name))
        carried: dict[bytes, DataKey] = {}
        known: dict[bytes, Chunk] = {}
        sizes: dict[str, int] = {}
        builds_on = None if previous is None or full else previous[1]
        if hash_name is None:
            if blake3_offered(node):  # a SHA-256 chain too: it ships everything anew, once
                hash_name = hashing.CURRENT
            elif builds_on is not None:
                hash_name = builds_on.manifest.hash
            else:
                hash_name = hashing.SHA256
        if builds_on is not None and builds_on.manifest.hash == hash_name:
            carried = _previous_keys(builds_on, own)
            sizes = builds_on.objects
            for chunk in builds_on.index(carried).chunks():
                if chunk.length is None:  # format 1: the chunk is its whole object
                    chunk = chunk._replace(length=object_size(chunk.size))
                known.setdefault(bytes.fromhex(chunk.digest), chunk)
        root = home / BACKUPS_DIR
        staging = root / "staging"
        work = root / "work"
        shutil.rmtree(work, ignore_errors=True)
        try:
            staging.mkdir(parents=True, exist_ok=True)
            work.mkdir(parents=True)
            for stray in Batch.strays(staging):  # sealed by a backup that did not finish
                stray.unlink()
        except OSError as exc:
            raise StorageError(
                said("cannot_prepare", folder=root, error=exc.strerror or str(exc))
            ) from exc
        objects = _Objects(staging, key, known, sizes, progress, hash_name)
        try:
            taken_at = clock.now()
            database, snap, found = _snapshot(node, work, objects, digests)
            files = []
            for path in _home_files(home):
                with path.open("rb") as stream:
                    hashes = [
                        objects.add(c)
                        for c in chunks.content_chunks(iter(lambda: stream.read(1 << 20), b""))
                    ]
                files.append((path.relative_to(home).as_posix(), path.stat().st_mode, hashes))
            objects.commit()
            for part, hashes in database:
                part.chunks = [objects.chunk(sha) for sha in hashes]
            index = Index(
                snap.form,
                [part for part, _hashes in database],
                [
                    Part(name, [objects.chunk(sha) for sha in hashes], mode & 0o777)
                    for name, mode, hashes in files
                ],
                found,
            )
            used = {c.key for c in index.chunks()}
            all_keys = {key.name: key, **{k.hex(): v for k, v in carried.items()}}
            wraps = {
                name: all_keys[name].wraps([own.public, recovery])
                for name in sorted(used | {key.name})
            }
            sizes = {c.object: objects.sizes[c.object] for c in index.chunks()}
            pieces = seal_index(index, key)
            number = 1 if previous is None else previous[1].manifest.number + 1
            manifest = Manifest(
                node=me,
                number=number,
                prev="" if previous is None else previous[0].id,
                taken_at=format_utc(taken_at),
                schema=snap.revision,
                backend=node.engine.dialect.name,
                heads=snap.heads,
                keys=wraps,
                index_pieces=len(pieces),
                objects=len(sizes),
                size=sum(sizes.values()),
                restored_from=None,
                cipher=key.cipher,
                hash=hash_name,
            )
            with node.engine.begin() as conn:
                written = enqueue(
                    conn,
                    node.spool,
                    signer,
                    keeper,
                    KIND,
                    manifest_operations(manifest, pieces, sizes),
                    clock,
                )
        finally:
            objects.close()
            shutil.rmtree(work, ignore_errors=True)
    return Taken(
        manifest_id=written.id,
        number=number,
        taken_at=taken_at,
        keeper=keeper,
        objects=len(sizes),
        new_objects=objects.new,
        bytes=sum(sizes.values()),
        new_bytes=objects.new_bytes,
        seconds=time.perf_counter() - started,
        staged=len(staged(node)),
        digests=found,
        in_place=snap.in_place,
    )


def _pages(objects: _Objects, stream: BinaryIO, length: int | None = None) -> list[bytes]:
    """The hashes of a SQLite file's chunks (:data:`chunks.FIXED` bytes each), sealed."""
    if COMPRESS_PAGES:
        return [objects.add(c) for c in chunks.fixed_chunks(stream, length=length)]
    hashes: list[bytes] = []
    for block in chunks.fixed_blocks(stream, length=length):
        hashes += objects.add_pieces(block, chunks.FIXED)
    return hashes


def _snapshot(
    node: Node, work: Path, objects: _Objects, digests: bool
) -> tuple[list[tuple[Part, list[bytes]]], snapshot.Snapshot, dict[str, str]]:
    """The database's parts, each with the hashes of its chunks (placed at commit)."""
    me = node.spec.code
    # SQLite: the pages read in place while a read snapshot pins them, else a copy made
    # by the backup API, then read. The live file is never opened outside SQLite here:
    # closing any descriptor of it drops every POSIX lock this process holds on it, and
    # another process could then take the database for unused and remove its
    # write-ahead log under the node's open connections.
    if node.engine.dialect.name == "sqlite":
        with snapshot.pinned_sqlite(node.engine, me) as pinned:
            if pinned is not None:  # read in place, inside its snapshot
                snap, pages, table_digests = pinned
                hashes = _pages(objects, pages, pages.length)
                return [(Part("node.db"), hashes)], snap, table_digests() if digests else {}
    if node.engine.dialect.name == "sqlite":  # a copy, read inside its snapshot
        target = work / "snapshot.db"
        snap = snapshot.export_sqlite(node.engine, target, me)
        found: dict[str, str] = {}
        if digests:
            engine = sa.create_engine(f"sqlite:///{target}")
            try:
                with engine.connect() as conn:
                    found = snapshot.table_digests(conn)
            finally:
                engine.dispose()
        with target.open("rb") as stream:
            hashes = _pages(objects, stream)
        # Gone before the packs are synced: a file system that orders data (ext4) would
        # otherwise write the whole scratch copy out with them.
        target.unlink()
        return [(Part("node.db"), hashes)], snap, found
    parts: list[tuple[Part, list[bytes]]] = []
    cutters: list[chunks.ContentCutter] = []

    def sink(table: str) -> chunks.ContentCutter:
        if cutters:
            cutters[-1].close()
        hashes: list[bytes] = []
        parts.append((Part(table), hashes))
        cutter = chunks.ContentCutter(lambda data: hashes.append(objects.add(data)))
        cutters.append(cutter)
        return cutter

    snap, found = snapshot.export_postgresql(node.engine, me, sink, digests=digests)
    if cutters:
        cutters[-1].close()
    return parts, snap, found


def staged(node: Node) -> list[Path]:
    """Objects sealed here and not yet at the keeper."""
    return _files(node.home.path / BACKUPS_DIR / "staging")


def to_upload(node: Node) -> bool:
    """Whether :func:`upload` has anything to do: objects staged, or sent and kept."""
    root = node.home.path / BACKUPS_DIR
    return bool(staged(node) or _files(root / SENT))


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def blake3_offered(node: Node) -> bool:
    """Whether this node's keeper offered :data:`BLAKE3_OFFERED` at its last upload."""
    return (node.home.path / BACKUPS_DIR / BLAKE3_OFFERED).is_file()


def _note_offer(root: Path, offered: bool) -> None:
    """Note in ``root`` (``backups/``) whether the keeper offers BLAKE3 (a keeper
    downgraded takes it back)."""
    note = root / BLAKE3_OFFERED
    if offered:
        note.touch()
    else:
        note.unlink(missing_ok=True)


def _awaiting_receipt(node: Node) -> bool:
    """Whether a manifest of this node has no receipt from its keeper yet."""
    with reading(node.engine) as conn:
        query = sa.select(outbox.c.id).where(outbox.c.kind == KIND, outbox.c.acked_at.is_(None))
        return conn.execute(query.limit(1)).first() is not None


def upload(
    node: Node, way: tuple[Transport, str] | None, progress: Callable[[int], None] | None = None
) -> tuple[int, str | None]:
    """Put the staged objects into the keeper's endpoint (``way``: transport and folder,
    None when there is no way this round); return (left, why not). Objects already
    there are not sent again, so an upload broken off resumes where it stopped.

    An object sent is kept (in ``sent/``) until every manifest has its keeper's receipt:
    one the keeper found damaged, or lost, and deleted is sent again from there, while
    the manifest that names it waits at the keeper. (Objects left for a keeper that
    collects them are not sent again: what it took cannot be told from what it lost.)
    """
    root = node.home.path / BACKUPS_DIR
    sent = _files(root / SENT)
    received = bool(sent) and not _awaiting_receipt(node)
    if received:  # the keeper took the backup: it is asked once more what it offers
        for path in sent:
            path.unlink(missing_ok=True)
        sent = []
    waiting = staged(node)
    if not waiting and not sent and not received:
        return 0, None
    if way is None:
        return len(waiting), said("keeper_unreachable_round") if waiting else None
    transport, folder = way
    try:
        present = {f.name for f in transport.list(folder)}
        offers = present
        if folder == store_folder(node.spec.code):
            offers = {f.name for f in transport.list(store_folder(node.spec.code, None))}
            lost = [(p.name, p) for p in sent if p.name not in present]
            transport.publish_many(folder, lost)
        _note_offer(root, BLAKE3_OFFERED in offers)
        (root / SENT).mkdir(exist_ok=True)
        for start in range(0, len(waiting), UPLOAD_BATCH):
            batch = waiting[start : start + UPLOAD_BATCH]
            transport.publish_many(folder, [(p.name, p) for p in batch if p.name not in present])
            for path in batch:
                if progress is not None:
                    progress(path.stat().st_size)
                os.replace(path, root / SENT / path.name)
    except TransportError as exc:
        return len(staged(node)), exc.message
    except OSError as exc:
        raise StorageError(
            said("cannot_keep_objects", folder=root, error=exc.strerror or str(exc))
        ) from exc
    return 0, None
