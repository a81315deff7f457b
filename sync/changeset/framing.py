"""The two gzip members of a change-set file, read and written in bounded memory.

Each member starts with :data:`MEMBER_PREFIX` and the CRC-32 of its compressed data, so
that every changed byte fails a fixed header, the deflate decoder or a checksum (see the
package's docstring)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sync.changeset.codec import strict_json
from sync.changeset.header import SEAL_KEYS, Header, Seal, b64
from sync.errors import (
    MalformedChangeSet,
    StorageError,
)
from sync.said import said
from sync.signing import canonical_json

COMPRESSION_LEVEL = 3
"""zlib level of both members. Measured on appropriation rows: levels 1–2 compress about
20% faster but write ~13% more bytes; 3 costs ~0.1 µs more per operation (3% of a write)
and decompresses fastest of the three; 6 is 2x slower to write."""

MEMBER_PREFIX = bytes.fromhex("1f8b08040000000000ff080046530400")
"""Gzip header of every member: ID, deflate, FEXTRA; no mtime; XFL 0, OS 255; then an
8-byte extra field, subfield ``FS`` of 4 bytes (the CRC-32 of the deflate data follows)."""
CRC = struct.Struct("<I")
TRAILER = struct.Struct("<II")
_READ_SIZE = 256 * 1024
"""Compressed bytes read at a time."""
_OUT_SIZE = 1024 * 1024
"""Most decompressed bytes produced at a time (bounds memory against zip bombs)."""
WRITE_BUFFER = 1024 * 1024
"""Characters of operation lines gathered before they are hashed and compressed."""
_HEAD_LIMIT = 64 * 1024
"""Largest header member, decompressed: a header and a seal are about 1.5 KiB."""


# --- gzip members -------------------------------------------------------------------------


def gzip_member(data: bytes, level: int = COMPRESSION_LEVEL) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = compressor.compress(data) + compressor.flush()
    return (
        MEMBER_PREFIX
        + CRC.pack(zlib.crc32(deflated))
        + deflated
        + TRAILER.pack(zlib.crc32(data), len(data) & 0xFFFFFFFF)
    )


_WRITTEN: dict[bytes, Header] = {}
"""Headers this process wrote, by their line, until the line is first read back."""
_WRITTEN_LIMIT = 1024


def remember_written(header: Header) -> None:
    """Keep ``header``, just written, so that reading its line back (this process checks
    its own copies before sending them, and a province hosted in one process takes them)
    finds it without parsing: the line is the header's canonical bytes, a header valid
    by construction. Bounded: forgotten, the line is parsed as any other."""
    if len(_WRITTEN) >= _WRITTEN_LIMIT:
        _WRITTEN.clear()
    _WRITTEN[header.canonical()] = header


@functools.lru_cache(maxsize=1024)
def _header(line: bytes) -> Header:
    """The header a header line holds, checked canonical. Kept by the line's exact bytes
    (a file is read several times on its way through a node; parsing and canonicalizing
    are what cost, inflating does not), so a changed byte is a different line, read anew.
    Only a valid line is kept: a failure raises every time."""
    written = _WRITTEN.pop(line, None)
    if written is not None:
        return written  # its line is its canonical bytes (see remember_written)
    header = Header.from_dict(strict_json(line))
    if line != header.canonical():
        raise MalformedChangeSet(said("cs_not_canonical", part=said("cs_part_header")))
    return header


@functools.lru_cache(maxsize=1024)
def _seal(line: bytes) -> Seal:
    """The seal a seal line holds, checked canonical; kept as :func:`_header` is."""
    try:
        data = strict_json(line)
    except MalformedChangeSet as exc:
        raise MalformedChangeSet(said("cs_invalid_seal", problem=exc.message)) from exc
    if not isinstance(data, dict) or set(data) != SEAL_KEYS:
        raise MalformedChangeSet(said("cs_invalid_seal", problem=said("cs_seal_keys")))
    try:
        seal = Seal(b64(data["sig"]), b64(data["cert"]))
    except (TypeError, ValueError) as exc:
        raise MalformedChangeSet(said("cs_invalid_seal", problem=said("cs_seal_base64"))) from exc
    if line != canonical_json(seal.to_dict()):
        raise MalformedChangeSet(said("cs_not_canonical", part=said("cs_part_seal")))
    return seal


class Reader:
    """Reads the two members of one change-set file in bounded memory."""

    def __init__(self, stream: BinaryIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self._pending = b""
        self.digest: hashlib._Hash | None = None
        """The SHA-256 of every byte read from the stream, in order, while it is a hash
        (nothing read is kept: a file of any size costs no more memory)."""
        self.size = 0
        """Bytes read from the stream."""

    def fail(self, problem: str) -> MalformedChangeSet:
        return MalformedChangeSet(said("labelled", label=self.label, what=problem))

    def _read(self, size: int) -> bytes:
        try:
            data = self.stream.read(size)
        except OSError as exc:  # the disk's failure, never a verdict on the content
            raise StorageError.reading(self.label, exc) from exc
        self.size += len(data)
        if self.digest is not None:
            self.digest.update(data)
        return data

    def _take(self, size: int, what: str) -> bytes:
        data = self._pending
        while len(data) < size:
            more = self._read(max(size - len(data), _READ_SIZE))
            if not more:
                raise self.fail(said("cs_truncated", part=what))
            data += more
        self._pending = data[size:]
        return data[:size]

    def member(self, what: str) -> Iterator[bytes]:
        """Yield the decompressed bytes of the next member, then check its gzip trailer."""
        prefix = self._take(len(MEMBER_PREFIX) + CRC.size, what)
        if prefix[: len(MEMBER_PREFIX)] != MEMBER_PREFIX:
            raise self.fail(said("cs_no_gzip_header", part=what))
        (want_deflate_crc,) = CRC.unpack(prefix[len(MEMBER_PREFIX) :])
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        deflate_crc = 0
        crc = 0
        size = 0
        data = self._pending
        self._pending = b""
        while not inflater.eof:
            if not data:
                data = self._read(_READ_SIZE)
            try:
                out = inflater.decompress(data, _OUT_SIZE)
            except zlib.error as exc:
                raise self.fail(said("cs_not_deflate", part=what, error=str(exc))) from exc
            if not data and not out and not inflater.eof:
                raise self.fail(said("cs_truncated", part=what))
            # At the end of the stream the input left over is in unused_data (and
            # unconsumed_tail may still show a stale copy of it); before, in unconsumed_tail.
            tail = b"" if inflater.eof else inflater.unconsumed_tail
            used = len(data) - len(tail) - len(inflater.unused_data)
            deflate_crc = zlib.crc32(memoryview(data)[:used], deflate_crc)
            data = tail
            if out:
                crc = zlib.crc32(out, crc)
                size += len(out)
                yield out
        self._pending = inflater.unused_data
        want_crc, want_size = TRAILER.unpack(self._take(TRAILER.size, what))
        if deflate_crc != want_deflate_crc or want_crc != crc or want_size != size & 0xFFFFFFFF:
            raise self.fail(said("cs_gzip_checksum", part=what))

    def head(self) -> tuple[Header, Seal, bytes]:
        """Read member 1; return the header, the seal and the header line's bytes."""
        parts = []
        size = 0
        for chunk in self.member(said("cs_header_member")):
            size += len(chunk)
            if size > _HEAD_LIMIT:
                raise self.fail(said("cs_head_too_large", limit=_HEAD_LIMIT))
            parts.append(chunk)
        lines = b"".join(parts).split(b"\n")
        if len(lines) != 3 or lines[2] != b"":
            raise self.fail(said("cs_head_lines"))
        header_line, seal_line = lines[0], lines[1]
        try:
            return _header(header_line), _seal(seal_line), header_line
        except MalformedChangeSet as exc:
            raise self.fail(exc.message) from exc

    def body(self) -> Iterator[bytes]:
        """Yield the decompressed body, then require the end of the file."""
        yield from self.member(said("cs_body_member"))
        if self._pending or self._read(1):
            raise self.fail(said("cs_trailing"))


@contextlib.contextmanager
def opened(source: Path | BinaryIO) -> Iterator[tuple[BinaryIO, str, Path | None]]:
    if isinstance(source, Path):
        try:
            stream = source.open("rb", buffering=0)
        except OSError as exc:
            raise StorageError.reading(str(source), exc) from exc
        with stream:
            yield stream, source.name, source
        return
    name = getattr(source, "name", None)
    label = os.path.basename(name) if isinstance(name, str) else "<stream>"
    yield source, label, None
