"""Relays: change-sets forwarded for other nodes, each checked and along one path only.

A node forwards a change-set for another node byte for byte, and only one that it has
checked (:func:`verify_for_relay`): its file name agrees with its header, its signature
verifies, and the signer's certificate is valid under this node's trust store and
belongs to the origin. The recipient's own rules (what the origin may send it, what the
content says) are the recipient's to judge, with a receipt; a relay cannot judge them.

Which neighbour a change-set goes to next is the caller's routing (along the tree toward
the signed recipient, never back the way it came). This module keeps the record of
what was relayed (:func:`admit`): a retransmission comes the same way again and is
forwarded again; a copy coming from another neighbour than the first one is going
round in a loop and must not be forwarded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from schema.channels import relay_log
from schema.locks import insert_missing
from sync import changeset
from sync.changeset import Header, Verified
from sync.clock import Clock
from sync.trust import TrustStore

__all__ = ["Admission", "admit", "purge", "verify_for_relay"]


def verify_for_relay(path: Path, trust: TrustStore) -> Verified:
    """Verify a change-set addressed to another node, as far as a relay can.

    Everything :func:`sync.changeset.verify` checks but the recipient and its policy:
    framing, name against header, signature, certificate (valid, unrevoked, its code the
    origin), body hash and count. Raises the :class:`VerificationError` family.
    """
    header, _seal = changeset.read_header(path)
    return changeset.verify(path, trust, recipient=header.recipient)


@dataclass(frozen=True)
class Admission:
    """Whether a change-set may be relayed to the neighbour chosen for it."""

    first: bool
    """Relayed here for the first time (else a retransmission, coming the same way)."""
    problem: str | None = None
    """Why it may not: it came from another neighbour before."""


_RELAYED = sa.select(relay_log).where(relay_log.c.id == sa.bindparam("relay")).with_for_update()
_RELAYED_AGAIN = (
    relay_log.update()
    .where(relay_log.c.id == sa.bindparam("relay"))
    .values(
        times=sa.bindparam("seen"),
        last_at=sa.bindparam("at"),
        target=sa.bindparam("going_to"),
        source=sa.bindparam("came_from"),
    )
)
"""A relay's record, locked, and counted once more (built once: every file relayed)."""


def admit(
    engine: Engine, header: Header, source: str | None, target: str, clock: Clock
) -> Admission:
    """Record that change-set ``header`` goes from neighbour ``source`` (None: not known)
    to ``target``, unless it came from another neighbour before.

    The record is created if missing and locked while it is compared, so two processes
    relaying one change-set at once agree on its first source.
    """
    now = clock.now()
    with engine.begin() as conn:
        first = insert_missing(
            conn,
            relay_log,
            {
                "id": header.id,
                "origin": header.origin,
                "recipient": header.recipient,
                "source": source,
                "target": target,
                "times": 0,
                "first_at": now,
                "last_at": now,
            },
        )
        row = conn.execute(_RELAYED, {"relay": header.id}).one()
        if source is not None and row.source is not None and row.source != source:
            return Admission(
                first=False,
                problem=(
                    f"{header.filename}: relayed from {row.source} to {row.target} "
                    f"before, and now it came back from {source}: a loop"
                ),
            )
        conn.execute(
            _RELAYED_AGAIN,
            {
                "relay": header.id,
                "seen": row.times + 1,
                "at": now,
                "going_to": target,
                "came_from": row.source or source,
            },
        )
    return Admission(first=first)


_SEEN_BEFORE = relay_log.delete().where(relay_log.c.last_at < sa.bindparam("cutoff"))


def purge(engine: Engine, retention: timedelta, clock: Clock) -> int:
    """Forget relays last seen longer than ``retention`` ago; return how many."""
    with engine.begin() as conn:
        result = conn.execute(_SEEN_BEFORE, {"cutoff": clock.now() - retention})
    return int(result.rowcount)
