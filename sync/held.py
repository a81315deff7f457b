"""Held files: change-sets for another node that wait at this one before they go on.

A relay holds a change-set the province sent for a node it does not know yet (one that
joins: its topology is on its way here too), or one whose signer's certificate begins
after this node's clock reads (the clock runs slow). Each held file is recorded with
the time this node first saw it, by **this node's own clock** (never the header's,
which the sender's clock wrote), and the verdict of checking it as a relay can:

- ``verified``: checked once, and not again while its bytes (by SHA-256) and the
  revocation list it was checked under stay the same, however many rounds it waits;
- ``early``: its signer's certificate begins later than this node's clock; checked
  again every round until the clock has caught up, and counted in ``status``.

A file held longer than the age limit (a node retired, or that never came) leaves for
quarantine with a reason (:data:`REASON`); a record whose file is gone is forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from schema.channels import held_file
from schema.engine import reading
from schema.locks import insert_missing
from sync.changeset import Header
from sync.clock import Clock
from sync.quarantine import content_sha256
from sync.said import said
from sync.trust import TrustStore

__all__ = [
    "EARLY",
    "REASON",
    "VERIFIED",
    "Held",
    "forget_absent",
    "hold",
    "held",
    "overdue",
    "verified",
]

VERIFIED = "verified"
EARLY = "early"
REASON = "held"
"""The quarantine reason of a file held longer than the age limit."""


@dataclass(frozen=True)
class Held:
    """A file waiting here for another node."""

    filename: str
    recipient: str
    verdict: str
    first_seen_at: datetime
    """When this node first saw it, by its own clock."""


def _crl_number(trust: TrustStore) -> int | None:
    return None if trust.crl is None else trust.crl.number


_CHECKED = sa.select(held_file.c.sha256, held_file.c.verdict, held_file.c.crl_number).where(
    held_file.c.filename == sa.bindparam("name")
)
_NAMES = sa.select(held_file.c.filename)
"""What every round asks of the files waiting here (built once)."""


def verified(engine: Engine, path: Path, trust: TrustStore) -> bool:
    """Whether the file at ``path`` waits here already, found good as a relay checks it,
    with the same bytes and under the same revocation list (then it is not checked again)."""
    with reading(engine) as conn:
        row = conn.execute(_CHECKED, {"name": path.name}).first()
    if row is None or row.verdict != VERIFIED or row.crl_number != _crl_number(trust):
        return False
    return bool(row.sha256 == content_sha256(path))


def hold(
    engine: Engine, path: Path, header: Header, verdict: str, trust: TrustStore, clock: Clock
) -> Held:
    """Record that the file at ``path`` waits here, checked with ``verdict``. The time it
    was first seen is kept from the first record of its name (its age does not start
    again when its bytes are replaced), created if missing and locked while it is
    changed, so two rounds at once agree on it."""
    now = clock.now()
    digest = content_sha256(path) or ""
    with reading(engine) as conn:  # a file waiting as it waited: nothing to write
        kept = conn.execute(sa.select(held_file).where(held_file.c.filename == path.name)).first()
    if kept is not None and (kept.sha256, kept.verdict, kept.crl_number) == (
        digest,
        verdict,
        _crl_number(trust),
    ):
        return Held(path.name, kept.recipient, verdict, kept.first_seen_at)
    with engine.begin() as conn:
        insert_missing(
            conn,
            held_file,
            {
                "filename": path.name,
                "sha256": digest,
                "recipient": header.recipient,
                "verdict": verdict,
                "crl_number": _crl_number(trust),
                "first_seen_at": now,
            },
        )
        row = conn.execute(
            sa.select(held_file).where(held_file.c.filename == path.name).with_for_update()
        ).one()
        conn.execute(
            held_file.update()
            .where(held_file.c.filename == path.name)
            .values(sha256=digest, verdict=verdict, crl_number=_crl_number(trust))
        )
    return Held(path.name, header.recipient, verdict, row.first_seen_at)


def overdue(waiting: Held, clock: Clock, limit: timedelta, version: int) -> str | None:
    """Why a file for a node not in topology ``version`` here has waited too long (more
    than ``limit`` since this node first saw it, by its clock), or None."""
    age = clock.now() - waiting.first_seen_at
    if age <= limit:
        return None
    return said(
        "held_overdue",
        days=age.days,
        recipient=waiting.recipient,
        version=version,
        limit=limit.days,
    )


def held(engine: Engine) -> list[Held]:
    """Every file recorded as waiting here, the longest waiting first."""
    with reading(engine) as conn:
        rows = conn.execute(
            sa.select(held_file).order_by(held_file.c.first_seen_at, held_file.c.filename)
        ).all()
    return [Held(r.filename, r.recipient, r.verdict, r.first_seen_at) for r in rows]


def forget_absent(engine: Engine, present: set[str]) -> int:
    """Forget the records of files no longer waiting (relayed, quarantined, removed);
    return how many."""
    with engine.begin() as conn:
        names = conn.execute(_NAMES).scalars().all()
        gone = [name for name in names if name not in present]
        if gone:
            conn.execute(held_file.delete().where(held_file.c.filename.in_(gone)))
    return len(gone)
