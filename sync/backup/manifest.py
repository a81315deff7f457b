"""The backup manifest: what a node signs for each backup, and the index it encrypts.

A manifest travels as the operations of a change-set of kind ``backup`` from the node
to the node that keeps its backups (the data center; the province keeps the center's),
so it is signed by the node's certificate, sequenced, acknowledged and relayed like
any change-set. Its operations::

    {"op": "manifest", "format": 2, "node": "410102", "number": 7, "prev": "<id>",
     "taken_at": "...Z", "schema": "0008", "backend": "sqlite",
     "heads": {"in": {"410100": [12, "<id>"]}, "out": {"410100": [3, "<id>"]}},
     "keys": [{"id": "<hex>", "wraps": [{"recipient", "ephemeral", "sealed"}, ...]}],
     "index": {"pieces": 1, "size": 5123}, "objects": 412, "bytes": 40123456,
     "restored_from": null, "hash": "blake3"}
    {"op": "index", "data": "<base64 of a piece of the encrypted index>"}   (pieces)
    {"op": "object", "id": "<hash hex>", "size": 8391012}              (every object)

``prev`` is the id of the node's previous manifest (empty for its first) and
``number`` counts them: manifests form a chain, so the keeper refuses one that does not
follow the latest it holds, and ``restore`` refuses a chain with a link missing or
forged. ``objects`` lists every ciphertext object the backup needs (new or kept from
earlier backups) with its size: enough for the keeper to check, without any key, that
the backup is whole (and, with ``--read-data``, that each object hashes to its name).

``hash`` is the hash that names the chunks and objects (:mod:`sync.backup.hashing`):
BLAKE3, or SHA-256 where the manifest names none (every backup before BLAKE3). A
backup that builds on an earlier one keeps its hash, since it names that one's objects
again; one that builds on none (the first, ``--full``) takes BLAKE3.

The *index* is encrypted like an object: which chunks (plaintext hash, object, key,
and where in the object) make the database snapshot and each file of the home, in
order. Only a key holder can read it; it is also what the node deduplicates against at
its next backup.

**Packs (format 2).** An object is a *pack*: the sealed chunks of a backup laid end to
end until it holds :data:`PACK` bytes, each chunk sealed on its own (so one is opened
without the others, and a later backup reuses it where it lies), the pack named by the
hash of its bytes as before. Small chunks, which a second backup needs to ship little,
then cost neither a file each at the keeper nor a fsync each. Format 1 (one object per
chunk) is still read: its chunks lie whole in their objects.
"""

from __future__ import annotations

import base64
import gc
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sync.backup import hashing
from sync.backup.envelope import (
    AES_GCM,
    CIPHERS,
    BackupDamaged,
    DataKey,
    Wrap,
    decrypt_object,
    encrypt_object,
)
from sync.changeset import Header
from sync.errors import InputError
from sync.said import Said, said

__all__ = [
    "FORMAT",
    "KIND",
    "Chunk",
    "Index",
    "Manifest",
    "PACK",
    "Part",
    "ReadManifest",
    "manifest_operations",
    "read_manifest",
    "seal_index",
]

FORMAT = 2
READABLE = (1, 2, 3)
"""Manifest and index formats this code reads (it writes :data:`FORMAT`). Compressed
chunks changed nothing in either: a compressed chunk says so by its own magic (FSB3,
:mod:`sync.backup.envelope`), which a fiscalsync that predates it refuses as "not a
backup object" when it restores. So the manifest stays format 2, which a keeper of the
release before accepts: the keeper reads the manifest but never a chunk, and a county
upgraded before its data center still gets its backups kept. Format 3 (format 2 under
another number) is read for the backups a build that wrote it took.

A keeper reads only a manifest's public part (:class:`Manifest`: node, number, previous
one, time, heads, index pieces and objects), never its index or a chunk. So it takes and
keeps a manifest of any format, as long as that part reads: a node upgraded before its
data center keeps its backups kept. Only what reads the index (restore, drill, the next
backup) needs a format it reads, and refuses any other as taken by a newer fiscalsync.
A later format must keep the public part as it is."""
KIND = "backup"
PACK = 8 * 1024 * 1024
"""Sealed bytes gathered into one object before it is closed (it may exceed this by
at most one sealed chunk)."""
INDEX_PIECE = 768 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")


class Chunk(NamedTuple):
    """One chunk of a part: its plaintext hash (hex, under the manifest's hash) and size,
    the object holding it, and where in the object its sealed bytes lie (``length``
    None: the whole object, format 1). A tuple: a backup's index holds one per chunk of
    its database, tens of thousands, made and read in a loop."""

    digest: str
    object: str
    key: str
    size: int
    offset: int = 0
    length: int | None = None


@dataclass
class Part:
    """A file of the home, the database snapshot or one table of it: its chunks in order."""

    name: str
    chunks: list[Chunk] = field(default_factory=list)
    mode: int = 0o644
    rows: int | None = None

    @property
    def size(self) -> int:
        return sum(c.size for c in self.chunks)

    def as_dict(self, objects: dict[str, int], keys: dict[str, int]) -> dict[str, Any]:
        """The part for the index, naming objects and keys by their numbers there."""
        found: dict[str, Any] = {
            "name": self.name,
            "mode": self.mode,
            "chunks": [
                [
                    c.digest,
                    objects.setdefault(c.object, len(objects)),
                    keys.setdefault(c.key, len(keys)),
                    c.size,
                    c.offset,
                    c.length,
                ]
                for c in self.chunks
            ],
        }
        if self.rows is not None:
            found["rows"] = self.rows
        return found


@dataclass
class Index:
    """What a backup holds, readable by key holders only."""

    database_form: str
    """``sqlite-file`` (the file, page by page) or ``pg-copy`` (each table as COPY text)."""
    database: list[Part]
    files: list[Part]
    digests: dict[str, str] = field(default_factory=dict)
    """Table name → SHA-256 of its rows at the snapshot, when taken (``backup drill``)."""

    def chunks(self) -> Iterator[Chunk]:
        for part in (*self.database, *self.files):
            yield from part.chunks

    def to_bytes(self) -> bytes:
        with _collector_paused():
            return self._to_bytes()

    def _to_bytes(self) -> bytes:
        objects: dict[str, int] = {}
        keys: dict[str, int] = {}
        database = [p.as_dict(objects, keys) for p in self.database]
        files = [p.as_dict(objects, keys) for p in self.files]
        document = {
            "format": FORMAT,
            "database_form": self.database_form,
            "objects": list(objects),
            "keys": list(keys),
            "database": database,
            "files": files,
            "digests": self.digests,
        }
        # Level 1: the hashes, most of it, do not compress at any level.
        return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 1)

    @classmethod
    def from_bytes(cls, data: bytes) -> Index:
        with _collector_paused():
            return cls._from_bytes(data)

    @classmethod
    def _from_bytes(cls, data: bytes) -> Index:
        try:
            document = json.loads(zlib.decompress(data))
            form = document.get("format")
            if form not in READABLE:
                raise ValueError(f"format {form!r}")
            objects = [str(o) for o in document.get("objects", ())]
            keys = [str(k) for k in document.get("keys", ())]

            def chunk(entry: list[Any]) -> Chunk:
                if form == 1:
                    sha, name, key, size = entry
                    return Chunk(str(sha), str(name), str(key), int(size))
                sha, name, key, size, offset, length = entry
                if type(offset) is not int or type(length) is not int or offset < 0 or length < 1:
                    raise ValueError(f"chunk {str(sha)[:16]}… lies at {offset!r}+{length!r}")
                return Chunk(
                    str(sha), _nth(objects, name), _nth(keys, key), int(size), offset, length
                )

            def chunks(entries: Any) -> list[Chunk]:
                if form == 1:
                    return [chunk(entry) for entry in entries]
                found = []
                at, held = len(objects), len(keys)
                for entry in entries:  # one check of each entry, as chunk() makes
                    sha, name, key, size, offset, length = entry
                    if (
                        type(name) is int
                        and type(key) is int
                        and type(offset) is int
                        and type(length) is int
                        and 0 <= name < at
                        and 0 <= key < held
                        and offset >= 0
                        and length >= 1
                    ):
                        found.append(
                            Chunk(str(sha), objects[name], keys[key], int(size), offset, length)
                        )
                    else:
                        found.append(chunk(entry))  # says what is wrong
                return found

            def parts(items: Any) -> list[Part]:
                return [
                    Part(
                        str(p["name"]),
                        chunks(p["chunks"]),
                        int(p.get("mode", 0o644)),
                        p.get("rows"),
                    )
                    for p in items
                ]

            return cls(
                str(document["database_form"]),
                parts(document["database"]),
                parts(document["files"]),
                {str(k): str(v) for k, v in document.get("digests", {}).items()},
            )
        except (ValueError, KeyError, TypeError, IndexError, zlib.error) as exc:
            raise BackupDamaged(said("bk_index_unreadable", error=str(exc))) from exc


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while an index's entries are made, read or
    written (a list and a chunk for each of tens of thousands, none of them garbage): the
    collections their making set off walk every object the process holds, and took
    0.05 s of the 0.08 s that reading an index of 19,400 chunks took in a restore (and
    0.08 s of 0.11 s writing one, in a process holding 300,000 objects). Reference
    counting frees as ever meanwhile; a collector paused already (by another thread
    too) is left so."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _nth(names: list[str], number: Any) -> str:
    """The name an index entry gives by its number (a negative or foreign one is damage)."""
    if type(number) is not int or not 0 <= number < len(names):
        raise ValueError(f"no object or key number {number!r}")
    return names[number]


@dataclass(frozen=True)
class Manifest:
    """The public part of a backup manifest (first operation), checked on reading."""

    node: str
    number: int
    prev: str
    taken_at: str
    schema: str
    backend: str
    heads: dict[str, dict[str, list[Any]]]
    keys: dict[str, list[Wrap]]
    index_pieces: int
    objects: int
    size: int
    restored_from: str | None = None
    cipher: str = AES_GCM
    """The cipher of its data keys; written only when not AES-256-GCM."""
    format: int = FORMAT
    """The format of the manifest and its index; a keeper takes any (see :data:`READABLE`)."""
    hash: str = hashing.SHA256
    """The hash naming its chunks and objects; written only when not SHA-256."""

    def as_operation(self) -> dict[str, Any]:
        cipher = {} if self.cipher == AES_GCM else {"cipher": self.cipher}
        named = {} if self.hash == hashing.SHA256 else {"hash": self.hash}
        return (
            cipher
            | {
                "op": "manifest",
                "format": self.format,
                "node": self.node,
                "number": self.number,
                "prev": self.prev,
                "taken_at": self.taken_at,
                "schema": self.schema,
                "backend": self.backend,
                "heads": self.heads,
                "keys": [
                    {"id": name, "wraps": [w.as_dict() for w in wraps]}
                    for name, wraps in sorted(self.keys.items())
                ],
                "index": {"pieces": self.index_pieces},
                "objects": self.objects,
                "bytes": self.size,
                "restored_from": self.restored_from,
            }
            | named
        )

    @classmethod
    def from_operation(cls, op: Any, where: str) -> Manifest:
        try:
            form = op.get("format")
            if op.get("op") != "manifest" or type(form) is not int or form < 1:
                raise ValueError("the first operation is not a manifest with a format")
            number = op["number"]
            prev = op["prev"]
            if type(number) is not int or number < 1:
                raise ValueError(f"number {number!r}")
            if not isinstance(prev, str) or (prev and not _HEX64.fullmatch(prev)):
                raise ValueError(f"prev {prev!r}")
            if (number == 1) != (prev == ""):
                raise ValueError("only the first manifest names no previous one")
            keys = {}
            for item in op["keys"]:
                name = str(item["id"])
                if not _HEX32.fullmatch(name):
                    raise ValueError(f"key id {name!r}")
                keys[name] = [Wrap.from_dict(w) for w in item["wraps"]]
            heads = op["heads"]
            if not isinstance(heads, dict) or set(heads) != {"in", "out"}:
                raise ValueError("heads")
            cipher = op.get("cipher", AES_GCM)
            if cipher not in CIPHERS:
                raise ValueError(f"cipher {cipher!r}")
            hash_name = op.get("hash", hashing.SHA256)
            if hash_name not in hashing.HASHES:
                raise ValueError(f"hash {hash_name!r}")
            datetime.fromisoformat(str(op["taken_at"]).replace("Z", "+00:00"))
            return cls(
                node=str(op["node"]),
                number=number,
                prev=prev,
                taken_at=str(op["taken_at"]),
                schema=str(op["schema"]),
                backend=str(op["backend"]),
                heads=heads,
                keys=keys,
                index_pieces=int(op["index"]["pieces"]),
                objects=int(op["objects"]),
                size=int(op["bytes"]),
                restored_from=op.get("restored_from"),
                cipher=cipher,
                format=form,
                hash=hash_name,
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise BackupDamaged(_on(where, said("bk_manifest_malformed", error=str(exc)))) from exc


def _on(where: str, what: str) -> Said:
    return said("labelled", label=where, what=what)


def seal_index(index: Index, key: DataKey) -> list[bytes]:
    """The index encrypted like an object, in the pieces the manifest carries it in."""
    sealed = encrypt_object(key, index.to_bytes())
    return [sealed[i : i + INDEX_PIECE] for i in range(0, len(sealed), INDEX_PIECE)]


def manifest_operations(
    manifest: Manifest, pieces: list[bytes], objects: dict[str, int]
) -> Iterator[dict[str, Any]]:
    """The operations of a manifest's change-set: the manifest, the sealed index in
    pieces and every object, by name."""
    if len(pieces) != manifest.index_pieces or len(objects) != manifest.objects:
        raise ValueError("the manifest must count the index pieces and objects it carries")
    yield manifest.as_operation()
    for piece in pieces:
        yield {"op": "index", "data": base64.b64encode(piece).decode("ascii")}
    for name in sorted(objects):
        yield {"op": "object", "id": name, "size": objects[name]}


class BackupTooNew(InputError):
    """A backup whose manifest is of a format this fiscalsync does not read: taken by a
    newer one. Nothing is wrong with it; a newer fiscalsync restores it."""

    exit_code = 11


@dataclass(frozen=True)
class ReadManifest:
    """A manifest as read from its change-set: public part, sealed index, objects."""

    header: Header
    manifest: Manifest
    sealed_index: bytes
    objects: dict[str, int]

    def index(self, keys: dict[bytes, DataKey]) -> Index:
        """Decrypt the index with the manifest's data keys; :class:`BackupTooNew` if this
        code does not read the manifest's format."""
        if self.manifest.format not in READABLE:
            raise BackupTooNew(
                said(
                    "bk_format_newer",
                    name=self.header.filename,
                    format=self.manifest.format,
                    known=max(READABLE),
                ),
                hint=said("bk_format_newer_hint"),
            )
        return Index.from_bytes(decrypt_object(keys, self.sealed_index, "index"))


def read_manifest(header: Header, operations: Iterable[dict[str, Any]]) -> ReadManifest:
    """Parse a ``backup`` change-set's operations; :class:`BackupDamaged` if malformed.

    The manifest must be the origin's own (``node`` is the header's origin).
    """
    where = header.filename
    ops = iter(operations)
    manifest = Manifest.from_operation(next(ops, None) or {}, where)
    if manifest.node != header.origin:
        raise BackupDamaged(
            _on(where, said("bk_manifest_other", node=manifest.node, origin=header.origin))
        )
    sealed = bytearray()
    objects: dict[str, int] = {}
    pieces = 0
    for op in ops:
        kind = op.get("op")
        if kind == "index" and not objects:
            try:
                sealed += base64.b64decode(str(op["data"]), validate=True)
            except ValueError as exc:
                raise BackupDamaged(_on(where, said("bk_piece_base64"))) from exc
            pieces += 1
        elif kind == "object":
            name, size = op.get("id"), op.get("size")
            if not isinstance(name, str) or not _HEX64.fullmatch(name) or type(size) is not int:
                raise BackupDamaged(_on(where, said("bk_entry_malformed", entry=f"{op!r:.80}")))
            if name in objects:
                raise BackupDamaged(_on(where, said("bk_listed_twice", name=name[:16])))
            objects[name] = size
        else:
            raise BackupDamaged(_on(where, said("bk_unexpected_op", kind=repr(kind))))
    if pieces != manifest.index_pieces or len(objects) != manifest.objects:
        raise BackupDamaged(_on(where, said("bk_counts")))
    return ReadManifest(header, manifest, bytes(sealed), objects)
