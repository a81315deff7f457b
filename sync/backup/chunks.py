"""Cutting backup streams into chunks, the unit of deduplication.

A stream whose bytes move when something is inserted (a table exported with COPY, a
file of the spool) is cut by content (FastCDC, from the ``fastcdc`` library, the only
module that imports it): a change shifts the cut points only near it, so a second backup
of a node that changed little ships only the chunks around what changed. A SQLite
database file changes in place, page by page, so it is cut into fixed chunks aligned
to its pages (:func:`fixed_chunks`), and a page that did not change keeps its chunk.

Every function reads its source in bounded memory: at most :data:`WINDOW` plus one
chunk at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import fastcdc

from sync.errors import StorageError
from sync.said import said

__all__ = [
    "AVERAGE",
    "FIXED",
    "ContentCutter",
    "MAXIMUM",
    "MINIMUM",
    "WINDOW",
    "content_chunks",
    "fixed_blocks",
    "fixed_chunks",
]

MINIMUM = 64 * 1024
AVERAGE = 256 * 1024
MAXIMUM = 1024 * 1024
FIXED = 16 * 1024
"""Fixed chunk of a SQLite file: 4 pages of 4 KiB (a multiple of any page size up to
16 KiB). On 1,000,000 events plus 1 %, with the reconciliation leaf index (whose entries
land all over the file), a second backup ships again: 64 KiB chunks 7.9 % of the first,
32 KiB 5.6 %, 16 KiB 3.7 %, 4 KiB 1.7 % (chunks: 4,874, 9,748, 19,497, 77,990). Chunks
travel in packs (:data:`sync.backup.manifest.PACK`), so small ones cost no file each."""
WINDOW = 16 * MAXIMUM


READ = 4 * 1024 * 1024
"""What :func:`fixed_chunks` reads at once (a multiple of any chunk size used)."""


def fixed_blocks(
    stream: BinaryIO, size: int = FIXED, length: int | None = None
) -> Iterator[memoryview]:
    """The stream (its first ``length`` bytes, when given) in blocks of about
    :data:`READ` bytes, each a whole number of pieces of ``size`` bytes but the last, as
    views valid until the next is drawn: :func:`fixed_chunks` cuts them. A stream that
    ends before ``length`` bytes is :class:`StorageError`: what was drawn is not the
    whole of what was meant."""
    block = max(size, READ - READ % size)
    left = -1 if length is None else length
    readinto = getattr(stream, "readinto", None)
    room = memoryview(bytearray(block if readinto is not None else 0))
    while left:
        wanted = block if left < 0 else min(block, left)
        data: bytes | memoryview
        if readinto is not None:  # one buffer for every block: no new pages to fault in
            data = room[: readinto(room[:wanted]) or 0]
        else:
            data = stream.read(wanted)
        if not data:
            if length is not None:
                name = getattr(stream, "name", "a stream")
                raise StorageError(
                    said("bk_stream_short", name=name, read=length - left, length=length),
                    hint=said("bk_stream_short_hint"),
                )
            return
        left -= 0 if left < 0 else len(data)
        with memoryview(data) as view:
            yield view


def fixed_chunks(
    stream: BinaryIO, size: int = FIXED, length: int | None = None
) -> Iterator[memoryview]:
    """The stream (its first ``length`` bytes, when given) in pieces of ``size`` bytes
    (the last may be shorter), as views into a block of :data:`READ` bytes read at once:
    each is valid until the next is drawn. A stream that ends before ``length`` bytes
    is :class:`StorageError`: what was drawn is not the whole of what was meant."""
    for view in fixed_blocks(stream, size, length):
        for start in range(0, len(view), size):
            with view[start : start + size] as piece:
                yield piece


class ContentCutter:
    """Cuts what is written to it by content (FastCDC) and hands each chunk to ``emit``,
    in order; :meth:`close` hands over the rest. For streams that are pushed (COPY)."""

    def __init__(self, emit: Callable[[bytes], object]) -> None:
        self.emit = emit
        self.pending = bytearray()

    def write(self, data: bytes) -> int:
        self.pending += data
        if len(self.pending) >= WINDOW:
            cut = 0
            for offset, length in _cut(self.pending):
                if offset + length == len(self.pending):
                    break  # the last chunk may end only because the window does
                self.emit(bytes(self.pending[offset : offset + length]))
                cut = offset + length
            del self.pending[:cut]
        return len(data)

    def close(self) -> None:
        for offset, length in _cut(self.pending):
            self.emit(bytes(self.pending[offset : offset + length]))
        self.pending = bytearray()


def content_chunks(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """The bytes of ``blocks`` cut by content (FastCDC), in order; nothing for none."""
    out: list[bytes] = []
    cutter = ContentCutter(out.append)
    for block in blocks:
        cutter.write(block)
        yield from out
        out.clear()
    cutter.close()
    yield from out


def _cut(data: bytearray) -> list[tuple[int, int]]:
    """Where FastCDC cuts ``data``: (offset, length) of each chunk. A list, so that no
    view of ``data`` outlives the call (it is resized afterwards)."""
    with memoryview(data) as view:
        return [
            (chunk.offset, chunk.length)
            for chunk in fastcdc.fastcdc(
                view, min_size=MINIMUM, avg_size=AVERAGE, max_size=MAXIMUM, fat=False
            )
        ]
