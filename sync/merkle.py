"""Bucket digests over a set of records, kept as the records change, and their comparison.

Two sides that should hold the same records (an issuer and its recipient, say) each keep
a two-level tree of digests over them, so that comparing a million identical records
reads and sends a few kilobytes, and the work grows with the number of differences:

- a record is a key (an id) and a digest, the hash of its canonical content under the
  network's signature suite (:func:`record_digest`, over a list of JSON values in a fixed
  order): SHA-256 in an Ed25519 network, SM3 in an SM2 one;
- the key's CRC-32 places it in one of :data:`LEAVES` leaves, grouped
  :data:`LEAVES_PER_BUCKET` to a level-1 bucket, :data:`LEVEL1` buckets under the root;
- a bucket's digest is the sum of its records' digests modulo 2^256, so a change is an
  update in place (subtract the old digest, add the new one) and the order in which
  records were written does not matter.

:class:`Changes` collects what a transaction changed and :func:`apply` writes it into
``digest_bucket`` in that transaction, bucket rows locked in order. Comparison exchanges
the root, then the level-1 digests, then the leaves of the level-1 buckets that differ,
then the records of the leaves that differ (:func:`differing`). On the wire a bucket
digest travels as its first :data:`WIRE_BYTES` bytes: a difference hides only if two
different sets of records agree on 64 bits.

This module knows nothing of what the records are; the caller builds their content.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schema.bulk import insert_rows, update_rows
from schema.digests import digest_bucket
from sync.changeset.codec import encode_line
from sync.signing import SignatureSuite

__all__ = [
    "LEAVES",
    "LEAVES_PER_BUCKET",
    "LEVEL1",
    "WIRE_BYTES",
    "Changes",
    "RecordDigest",
    "apply",
    "bucket_number",
    "decode_level",
    "decode_level_ids",
    "differing",
    "encode_level",
    "leaf_of",
    "read_level",
    "record_digest",
    "record_digester",
    "lock",
    "rebuild",
    "scopes",
    "short",
    "stored",
    "tree",
]

LEVEL1 = 1024
LEAVES_PER_BUCKET = 64
LEAVES = LEVEL1 * LEAVES_PER_BUCKET
WIRE_BYTES = 8
_MODULUS = 2**256
_ROOT = 0


def leaf_of(key: str) -> int:
    """The leaf (0 … LEAVES-1) that holds the record with ``key``: the low bits of the
    key's CRC-32 (placement only needs to spread keys evenly, and costs ~0.1 µs)."""
    return zlib.crc32(key.encode()) % LEAVES


RecordDigest = Callable[[list[Any]], int]
"""A network's :func:`record_digest`, its suite fixed (:func:`record_digester`)."""


def record_digest(content: list[Any], suite: SignatureSuite | None = None) -> int:
    """The digest of a record's content: the hash of ``suite`` (SHA-256 without one) of
    its compact JSON, as an integer.

    ``content`` is a list of JSON values in an order fixed by the caller (strings,
    integers, None, nested lists); both sides must build it the same way, and encode it
    with the change-set codec's encoder, which writes a value the same way everywhere.
    Both sides hash it under their network's suite, which is the same.
    """
    data = encode_line(content)
    if suite is None:
        return int.from_bytes(hashlib.sha256(data).digest(), "big")
    found = suite.digest_bytes(data)
    if len(found) != 32:
        raise ValueError(f"suite {suite.name}: a record digest must be 32 bytes")
    return int.from_bytes(found, "big")


def record_digester(suite: SignatureSuite) -> RecordDigest:
    """:func:`record_digest` under ``suite``."""
    if suite.hash_name == "sha256":
        return record_digest

    def digest(content: list[Any]) -> int:
        return record_digest(content, suite)

    return digest


class Changes:
    """What one transaction does to the records of one scope, as digest deltas per leaf."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.delta: dict[int, int] = defaultdict(int)
        self.count: dict[int, int] = defaultdict(int)

    def add(self, key: str, digest: int, leaf: int | None = None) -> None:
        """A new record (``leaf``: its leaf, when the caller has it at hand)."""
        if leaf is None:
            leaf = leaf_of(key)
        self.delta[leaf] += digest
        self.count[leaf] += 1

    def remove(self, key: str, digest: int) -> None:
        """A record that goes away (``digest`` as it was)."""
        leaf = leaf_of(key)
        self.delta[leaf] -= digest
        self.count[leaf] -= 1

    def replace(self, key: str, old: int, new: int) -> None:
        """A record whose content changed."""
        if old != new:
            self.delta[leaf_of(key)] += new - old

    def __bool__(self) -> bool:
        return any(self.delta.values()) or any(self.count.values())


def apply(conn: Connection, changes: Changes) -> None:
    """Write ``changes`` into the scope's buckets (leaves, level 1, root) in the caller's
    transaction, every touched row locked first, in (level, bucket) order."""
    if not changes:
        return
    counts = changes.count
    leaves = {leaf: (delta, counts.get(leaf, 0)) for leaf, delta in changes.delta.items()}
    level1: dict[int, tuple[int, int]] = {}
    for leaf, (delta, count) in leaves.items():
        digest, records = level1.get(leaf // LEAVES_PER_BUCKET, (0, 0))
        level1[leaf // LEAVES_PER_BUCKET] = (digest + delta, records + count)
    root = (sum(d for d, _ in level1.values()), sum(c for _, c in level1.values()))
    for level, deltas in enumerate(({_ROOT: root}, level1, leaves)):
        _apply_level(conn, changes.scope, level, deltas)


def _apply_level(
    conn: Connection, scope: str, level: int, deltas: Mapping[int, tuple[int, int]]
) -> None:
    """Each touched bucket of ``level`` read and locked, a block of :data:`BLOCK` at a
    time in bucket order, then written.

    The root and the level-1 buckets (at most 1,025) are changed where they stand. A
    transaction waiting to lock one (PostgreSQL, READ COMMITTED) must find it changed,
    not gone: one deleted and inserted again is read as gone, counted from zero, and what
    the first transaction wrote is lost. Since every change of a scope locks its root
    first, and keeps it until it ends, no two transactions change a scope's leaves at
    once; the leaves (up to 65,536) are replaced a block at a time, one delete and one
    bulk insert, which costs PostgreSQL half of changing them in place.

    A block of buckets close together (:func:`_dense`: a large change-set touches most
    of the leaves) is read, and deleted, by its first and last bucket, a range on the key,
    instead of through thousands of bound values (measured on PostgreSQL, 65,000 leaves:
    0.17 s read by ranges against 0.91 s by lists, and the delete alike); the untouched
    buckets of such a range go back as they were read.
    """
    table = digest_bucket
    where = (table.c.scope == scope) & (table.c.level == level)
    buckets = sorted(deltas)
    blocks = [buckets[start : start + BLOCK] for start in range(0, len(buckets), BLOCK)]
    existing: dict[int, tuple[str, int]] = {}
    for block in blocks:
        query = (
            sa.select(table.c.bucket, table.c.digest, table.c.records)
            .where(where, _within(table.c.bucket, block))
            .order_by(table.c.bucket)
            .with_for_update()
        )
        existing.update((b, (digest, records)) for b, digest, records in conn.execute(query))
    changed, new, emptied = [], [], []
    for bucket in buckets:
        delta, count = deltas[bucket]
        text, records = existing.get(bucket, ("0", 0))
        digest, records = (int(text, 16) + delta) % _MODULUS, records + count
        if records < 0 or (records == 0 and digest):
            raise ValueError(
                f"scope {scope}: bucket {level}/{bucket} would hold {records} records"
                f" with digest {digest:064x}"
            )
        row = (scope, level, bucket, f"{digest:064x}", records)
        if bucket not in existing:
            if records:
                new.append(row)
        elif records:
            changed.append(row)
        else:
            emptied.append(bucket)
    if level < 2:
        _delete(conn, where, emptied)
        update_rows(conn, table, ("scope", "level", "bucket"), ("digest", "records"), changed)
    else:
        for block in blocks:
            if _dense(block):  # the range read above: what it held is deleted, and put back
                first, last = block[0], block[-1]
                held = [b for b in existing if first <= b <= last]
                if held:
                    conn.execute(table.delete().where(where, table.c.bucket.between(first, last)))
                    new.extend((scope, level, b, *existing[b]) for b in held if b not in deltas)
            else:
                _delete(conn, where, [b for b in block if b in existing])
        new.extend(changed)
    insert_rows(conn, table, ("scope", "level", "bucket", "digest", "records"), new)


def _delete(conn: Connection, where: Any, buckets: list[int]) -> None:
    """Delete ``buckets`` of the level ``where`` selects."""
    for start in range(0, len(buckets), BLOCK):
        some = buckets[start : start + BLOCK]
        conn.execute(digest_bucket.delete().where(where, digest_bucket.c.bucket.in_(some)))


BLOCK = 5_000
"""Buckets read, locked and deleted by one statement."""


def _dense(block: list[int]) -> bool:
    """Whether the range from the first to the last of ``block`` (sorted buckets, which
    are integers) holds at most twice as many buckets as ``block`` does."""
    return block[-1] - block[0] + 1 <= 2 * len(block)


def _within(column: Any, block: list[int]) -> Any:
    """``column`` among ``block``: by its range when the block is dense, else by list."""
    if _dense(block):
        return column.between(block[0], block[-1])
    return column.in_(block)


def read_level(
    conn: Connection, scope: str, level: int, within: Iterable[int] | None = None
) -> dict[int, int]:
    """The digests of one level's non-empty buckets (those under the level-1 buckets
    ``within``, for the leaves), as integers.

    The leaves under ``within`` are read by ranges of leaves, parents next to each other
    making one range, :data:`RANGES` ranges a statement: SQLite refuses an expression
    nested deeper than 1,000 (one condition per parent, ORed, failed past about 1,000
    differing buckets)."""
    query = sa.select(digest_bucket.c.bucket, digest_bucket.c.digest).where(
        digest_bucket.c.scope == scope, digest_bucket.c.level == level
    )
    if within is None:
        return {bucket: int(digest, 16) for bucket, digest in conn.execute(query)}
    parents = sorted(set(within))
    found: dict[int, int] = {}
    if level != 2:
        for start in range(0, len(parents), BLOCK):
            some = query.where(digest_bucket.c.bucket.in_(parents[start : start + BLOCK]))
            found.update((bucket, int(digest, 16)) for bucket, digest in conn.execute(some))
        return found
    ranges = _runs(parents)
    for start in range(0, len(ranges), RANGES):
        some = query.where(
            sa.or_(
                *(
                    digest_bucket.c.bucket.between(
                        first * LEAVES_PER_BUCKET, (last + 1) * LEAVES_PER_BUCKET - 1
                    )
                    for first, last in ranges[start : start + RANGES]
                )
            )
        )
        found.update((bucket, int(digest, 16)) for bucket, digest in conn.execute(some))
    return found


RANGES = 200
"""Ranges of leaves :func:`read_level` reads by one statement."""


def _runs(buckets: list[int]) -> list[tuple[int, int]]:
    """Sorted ``buckets`` as (first, last) runs of consecutive numbers."""
    runs: list[tuple[int, int]] = []
    for bucket in buckets:
        if runs and runs[-1][1] + 1 == bucket:
            runs[-1] = (runs[-1][0], bucket)
        else:
            runs.append((bucket, bucket))
    return runs


def tree(records: Iterable[tuple[str, int]]) -> dict[tuple[int, int], tuple[int, int]]:
    """The buckets of a set of (key, digest) records, computed in memory:
    ``{(level, bucket): (digest, records)}`` for every non-empty bucket."""
    found: dict[tuple[int, int], tuple[int, int]] = {}
    for key, digest in records:
        leaf = leaf_of(key)
        for place in ((2, leaf), (1, leaf // LEAVES_PER_BUCKET), (0, _ROOT)):
            total, count = found.get(place, (0, 0))
            found[place] = ((total + digest) % _MODULUS, count + 1)
    return found


def stored(
    conn: Connection, scope: str, *, locked: bool = False
) -> dict[tuple[int, int], tuple[int, int]]:
    """The buckets of ``scope`` as kept in the database, in the shape of :func:`tree`;
    ``locked``: every row locked for the caller's transaction, in (level, bucket) order."""
    query = sa.select(
        digest_bucket.c.level,
        digest_bucket.c.bucket,
        digest_bucket.c.digest,
        digest_bucket.c.records,
    ).where(digest_bucket.c.scope == scope)
    if locked:
        query = query.order_by(digest_bucket.c.level, digest_bucket.c.bucket).with_for_update()
    return {(lvl, b): (int(d, 16), n) for lvl, b, d, n in conn.execute(query)}


def scopes(conn: Connection, prefix: str = "") -> list[str]:
    """The scopes that have buckets, those starting with ``prefix``."""
    query = (
        sa.select(digest_bucket.c.scope)
        .where(digest_bucket.c.level == 0, digest_bucket.c.scope.startswith(prefix))
        .order_by(digest_bucket.c.scope)
    )
    return list(conn.execute(query).scalars())


def lock(conn: Connection, scope: str) -> None:
    """Lock the root of ``scope`` (when it has one) for the caller's transaction.

    Every change of a scope's buckets takes its root first and keeps it until its
    transaction ends (:func:`apply` reads level 0 first, :func:`rebuild` calls this), so
    no two transactions change a scope at once: a caller about to read the records it
    will digest locks the scope first, so that none is committed between its reading and
    its writing. A scope with no root yet locks nothing; two first writers of one then
    meet on its key (one fails, to be tried again), never silently."""
    conn.execute(
        sa.select(digest_bucket.c.bucket)
        .where(
            digest_bucket.c.scope == scope,
            digest_bucket.c.level == 0,
            digest_bucket.c.bucket == _ROOT,
        )
        .with_for_update()
    ).all()


def rebuild(conn: Connection, scope: str, records: Iterable[tuple[str, int]]) -> None:
    """Recompute the scope's buckets from every (key, digest) it holds, and write where
    they differ from what is kept: changed where they stand, inserted, or deleted (never
    the whole scope deleted and written again: a transaction waiting on its root would
    find it gone). The scope is locked first (:func:`lock`); a caller that reads the
    records from the database locks it before reading them."""
    lock(conn, scope)
    fresh = tree(records)
    kept = stored(conn, scope, locked=True)
    columns = ("scope", "level", "bucket", "digest", "records")
    changed: list[tuple[Any, ...]] = []
    new: list[tuple[Any, ...]] = []
    for place, (digest, count) in sorted(fresh.items()):
        if kept.get(place) != (digest, count):
            (changed if place in kept else new).append((scope, *place, f"{digest:064x}", count))
    for level in (0, 1, 2):
        gone = sorted(b for lvl, b in kept if lvl == level and (lvl, b) not in fresh)
        where = (digest_bucket.c.scope == scope) & (digest_bucket.c.level == level)
        _delete(conn, where, gone)
    update_rows(conn, digest_bucket, columns[:3], columns[3:], changed)
    insert_rows(conn, digest_bucket, columns, new)


def short(digest: int) -> int:
    """A digest as it is compared on the wire: its first :data:`WIRE_BYTES` bytes."""
    return (digest >> (256 - 8 * WIRE_BYTES)) & ((1 << (8 * WIRE_BYTES)) - 1)


def differing(mine: Mapping[int, int], theirs: Mapping[int, int]) -> list[int]:
    """The buckets whose digests differ (compared on their wire bytes); absent is zero."""
    return sorted(
        b for b in set(mine) | set(theirs) if short(mine.get(b, 0)) != short(theirs.get(b, 0))
    )


def encode_level(digests: Mapping[int, int]) -> dict[str, str]:
    """Bucket digests for the wire: ``{"bucket": hex of its first WIRE_BYTES bytes}``."""
    shift = 256 - 8 * WIRE_BYTES
    return {str(b): f"{d >> shift:0{2 * WIRE_BYTES}x}" for b, d in sorted(digests.items())}


def decode_level_ids(encoded: object) -> dict[str, int]:
    """Record digests on the wire, ``{"id": hex of its first WIRE_BYTES bytes}``, as
    :func:`short` values; raises ValueError for anything malformed."""
    if not isinstance(encoded, dict):
        raise ValueError("record digests must be an object")
    found = {}
    for key, value in encoded.items():
        if not (isinstance(key, str) and 0 < len(key) <= 64):
            raise ValueError(f"{key!r} is not a record id")
        if not (isinstance(value, str) and len(value) == 2 * WIRE_BYTES):
            raise ValueError(f"{key}: {value!r} is not a {WIRE_BYTES}-byte hex digest")
        found[key] = int(value, 16)
    return found


def decode_level(encoded: object, buckets: int) -> dict[int, int]:
    """The inverse of :func:`encode_level`; raises ValueError for anything malformed."""
    if not isinstance(encoded, dict):
        raise ValueError("bucket digests must be an object")
    shift = 256 - 8 * WIRE_BYTES
    found = {}
    for key, value in encoded.items():
        bucket = bucket_number(key, buckets)
        if not (isinstance(value, str) and len(value) == 2 * WIRE_BYTES):
            raise ValueError(f"bucket {key}: {value!r} is not a {WIRE_BYTES}-byte hex digest")
        found[bucket] = int(value, 16) << shift
    return found


_NUMBER = re.compile(r"[0-9]{1,6}")


def bucket_number(key: object, buckets: int) -> int:
    """A bucket's number as the wire writes it, a string of ASCII digits, of one of
    ``buckets`` buckets (0 … buckets-1); raises ValueError for anything else ("²" and
    "٣" are digits to ``str.isdigit``, and ``int`` refuses numbers of thousands of
    digits)."""
    if isinstance(key, str) and _NUMBER.fullmatch(key) and int(key) < buckets:
        return int(key)
    shown = repr(key) if len(repr(key)) <= 40 else repr(key)[:37] + "..."
    raise ValueError(f"bucket {shown} is not one of 0…{buckets - 1}")
