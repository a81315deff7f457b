"""What an operator looks at of a node's channels: the outbox entries still waiting for
their receipt, and the files in ``incoming/`` waiting for their predecessors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from schema.channels import channel_head, outbox
from schema.engine import reading
from sync import changeset
from sync.errors import StorageError, VerificationError
from sync.spool import Spool

__all__ = ["Waiting", "pending_outbox", "waiting"]


@dataclass(frozen=True)
class Waiting:
    """A file in ``incoming/``: addressed here, waiting for its predecessors (or, for
    another node, waiting to be checked for relaying)."""

    filename: str
    origin: str
    kind: str
    seq: int
    expected: int
    recipient: str
    created: datetime
    """When its origin made it (the header's ``created``, UTC)."""


def pending_outbox(engine: Engine, *, include_acknowledged: bool = False) -> list[Any]:
    """Outbox entries (by default only those still waiting for their receipt)."""
    query = sa.select(outbox).order_by(outbox.c.recipient, outbox.c.seq)
    if not include_acknowledged:
        query = query.where(outbox.c.acked_at.is_(None))
    with reading(engine) as conn:
        return list(conn.execute(query).all())


_HEADS = sa.select(channel_head.c.origin, channel_head.c.seq).where(
    channel_head.c.recipient == sa.bindparam("me")
)


def waiting(engine: Engine, spool: Spool, me: str) -> list[Waiting]:
    """Files in ``incoming/`` and the sequence number each channel expects next."""
    found = []
    with reading(engine) as conn:
        heads = {row.origin: row.seq for row in conn.execute(_HEADS, {"me": me})}
    if not spool.incoming.is_dir():
        return []
    for path in sorted(spool.incoming.iterdir()):
        if not path.is_file():  # a pipe would never be read to its end (check names it)
            continue
        try:
            header, _seal = changeset.read_header(path)
        except (VerificationError, StorageError):
            continue  # quarantined, or counted and parked, by the next round
        expected = heads.get(header.origin, 0) + 1
        found.append(
            Waiting(
                path.name,
                header.origin,
                header.kind,
                header.seq,
                expected,
                header.recipient,
                header.created,
            )
        )
    return found
