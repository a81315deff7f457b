"""Quarantine: refused and parked files, one entry per content, kept for the operator.

A file that fails verification, that a relay must not forward, or that failed too many
rounds (parked, :mod:`sync.attempts`) is moved to ``spool/quarantine/`` and recorded
with the reason; nothing of it is applied. Entries are keyed by the SHA-256 of the
file: a copy that arrives again (a retransmission of a bad copy) bumps the entry's
``seen_count`` and ``last_seen_at`` and is deleted, so one bad file is one entry and one
file however often it comes. A released entry whose file comes back is opened again;
a copy of a dropped file is counted and deleted.

The operator lists, shows, releases (back to ``incoming/``, verified afresh) or drops
(deleted for good) entries; closed entries are purged after the node's retention time.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from schema.channels import quarantine
from schema.engine import reading
from schema.locks import insert_missing
from schema.said import kept as kept_by_key
from schema.types import storable
from sync import changeset
from sync.clock import Clock
from sync.errors import InputError, VerificationError
from sync.said import said
from sync.spool import Spool

__all__ = [
    "Quarantined",
    "content_sha256",
    "drop",
    "entries",
    "entry",
    "original_name",
    "purge",
    "quarantine_file",
    "release",
]

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Quarantined:
    """What :func:`quarantine_file` did: the entry, and whether it is new."""

    entry_id: int
    count: int
    new: bool
    origin: str | None
    changeset_id: str | None


def content_sha256(path: Path) -> str | None:
    """The file's content hash; None when it cannot be read (it is then kept as it is,
    under an entry of its own)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def original_name(filename: str) -> str:
    """The name a quarantined file had before (its quarantine name is time-stamped)."""
    return filename.split("-", 1)[-1]


def quarantine_file(
    engine: Engine, spool: Spool, path: Path, reason: str, detail: str, clock: Clock
) -> Quarantined:
    """Quarantine ``path`` with ``reason`` (a word) and ``detail`` (a sentence, kept in
    English and, when said by key, by key beside it).

    The entry is written (or, for content already held, counted) and committed first;
    then the file is moved into ``quarantine/`` or, when the entry already holds it,
    deleted. A crash in between leaves the file where it was, to be quarantined again
    (and counted) by the next round.
    """
    origin = recipient = changeset_id = None
    try:
        name = changeset.parse_filename(path.name)
        origin, recipient, changeset_id = name.origin, name.recipient, name.id
    except VerificationError:
        pass
    digest = content_sha256(path)
    now = clock.now()
    values = {
        "filename": f"{now:%Y%m%dT%H%M%S%f}-{path.name}"[:200],
        "changeset_id": changeset_id,
        "origin": origin,
        "recipient": recipient,
        "reason": reason,
        "detail": storable(str(detail)),
        "detail_said": kept_by_key(detail),
        "received_at": now,
        "last_seen_at": now,
        "sha256": digest,
        "seen_count": 1,
    }
    with engine.begin() as conn:
        if digest is None:  # unreadable: an entry of its own
            new = True
            inserted = quarantine.insert().values(**values).returning(quarantine.c.id)
            found = quarantine.c.id == conn.execute(inserted).scalar_one()
        else:
            new = insert_missing(conn, quarantine, values)
            found = quarantine.c.sha256 == digest
        row = conn.execute(sa.select(quarantine).where(found).with_for_update()).one()
        count = row.seen_count
        if not new:
            count += 1
            conn.execute(
                quarantine.update()
                .where(quarantine.c.id == row.id)
                .values(
                    seen_count=count,
                    last_seen_at=now,
                    reason=reason,
                    detail=str(detail),
                    detail_said=kept_by_key(detail),
                    released_at=None,
                )
            )
    kept = spool.quarantine / row.filename
    if row.dropped_at is not None or kept.exists():
        path.unlink(missing_ok=True)
    else:
        spool.quarantine.mkdir(parents=True, exist_ok=True)
        os.replace(path, kept)
    return Quarantined(row.id, count, new, origin, changeset_id)


def entries(engine: Engine, *, include_closed: bool = False) -> list[Any]:
    """Quarantine entries, oldest first (by default those neither released nor dropped)."""
    query = sa.select(quarantine).order_by(quarantine.c.id)
    if not include_closed:
        query = query.where(quarantine.c.released_at.is_(None), quarantine.c.dropped_at.is_(None))
    with reading(engine) as conn:
        return list(conn.execute(query).all())


def entry(engine: Engine, entry_id: int) -> Any:
    """One quarantine entry; :class:`InputError` if there is none with that id."""
    with reading(engine) as conn:
        row = conn.execute(sa.select(quarantine).where(quarantine.c.id == entry_id)).one_or_none()
    if row is None:
        raise InputError(said("q_no_entry", id=entry_id), hint=said("q_no_entry_hint"))
    return row


def release(engine: Engine, spool: Spool, entry_id: int, clock: Clock) -> Path:
    """Put a quarantined file back in ``incoming/`` to be taken again (verified afresh)."""
    row = entry(engine, entry_id)
    if row.released_at is not None or row.dropped_at is not None:
        raise InputError(said("q_closed", id=entry_id))
    source = spool.quarantine / row.filename
    target = spool.incoming / original_name(row.filename)
    with engine.begin() as conn:
        conn.execute(
            quarantine.update().where(quarantine.c.id == entry_id).values(released_at=clock.now())
        )
        os.replace(source, target)
    return target


def drop(engine: Engine, spool: Spool, entry_id: int, clock: Clock) -> None:
    """Delete a quarantined file for good; its entry stays, marked dropped."""
    row = entry(engine, entry_id)
    if row.dropped_at is not None:
        raise InputError(said("q_dropped", id=entry_id))
    with engine.begin() as conn:
        conn.execute(
            quarantine.update().where(quarantine.c.id == entry_id).values(dropped_at=clock.now())
        )
        (spool.quarantine / row.filename).unlink(missing_ok=True)


_CLOSED_AT = sa.func.coalesce(quarantine.c.dropped_at, quarantine.c.released_at)
_CLOSED_BEFORE = (
    sa.select(quarantine.c.id, quarantine.c.filename)
    .where(_CLOSED_AT.is_not(None), _CLOSED_AT < sa.bindparam("cutoff"))
    .with_for_update()
)


def purge(engine: Engine, spool: Spool, retention: timedelta, clock: Clock) -> int:
    """Delete entries closed (released or dropped) longer than ``retention`` ago, and any
    file of theirs left; return how many. Open entries are never purged."""
    cutoff = clock.now() - retention
    with engine.begin() as conn:
        old = conn.execute(_CLOSED_BEFORE, {"cutoff": cutoff}).all()
        if old:
            conn.execute(quarantine.delete().where(quarantine.c.id.in_([r.id for r in old])))
    for row in old:
        (spool.quarantine / row.filename).unlink(missing_ok=True)
    return len(old)
