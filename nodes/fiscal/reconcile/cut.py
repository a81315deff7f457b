"""One side of an edge at a cut: its channel position, and its digests and records as of
a sequence number of the issuer → recipient channel.

Both sides keep their digests for *now* (:mod:`.records`). To compare them at a cut,
each side takes the few records touched by change-sets carried after the cut, subtracts
their digests as they are now and adds them as they were at the cut: the result is the
side's tree at the cut, exactly, at the cost of what is in flight. Everything a side
reads for one step of a reconciliation is read in one snapshot (``reading(...,
snapshot=True)``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.reconcile.records import ISSUER, RECIPIENT, Record, scope, view
from schema.channels import changeset_log, channel_head, outbox
from schema.sums import total
from schema.tables import appropriation, appropriation_event
from sync import merkle

__all__ = ["Edge", "acknowledged_prefix", "channel_head_seq"]

_MODULUS = 2**256


def channel_head_seq(conn: Connection, origin: str, recipient: str) -> int:
    """The last sequence number of the channel ``origin`` → ``recipient`` held here (sent
    by the origin, or applied by the recipient); 0 when nothing yet."""
    found = conn.execute(
        sa.select(channel_head.c.seq).where(
            channel_head.c.origin == origin, channel_head.c.recipient == recipient
        )
    ).scalar_one_or_none()
    return int(found or 0)


def acknowledged_prefix(conn: Connection, recipient: str) -> int:
    """The highest sequence number up to which every change-set sent to ``recipient`` has
    its receipt back here: the cut an issuer can stand by."""
    waiting = conn.execute(
        sa.select(sa.func.min(outbox.c.seq)).where(
            outbox.c.recipient == recipient, outbox.c.acked_at.is_(None)
        )
    ).scalar_one_or_none()
    if waiting is not None:
        return int(waiting) - 1
    last = conn.execute(
        sa.select(sa.func.max(outbox.c.seq)).where(outbox.c.recipient == recipient)
    ).scalar_one_or_none()
    return int(last or 0)


@dataclass
class Edge:
    """This node's side of the appropriations ``issuer`` → ``recipient``, at ``cut``."""

    conn: Connection
    side: str
    issuer: str
    recipient: str
    cut: int
    _moved: dict[str, tuple[Record | None, Record | None]] | None = field(default=None)

    @property
    def scope(self) -> str:
        return scope(self.issuer, self.recipient)

    def moved(self) -> dict[str, tuple[Record | None, Record | None]]:
        """Records touched by change-sets carried after the cut: (now, at the cut)."""
        if self._moved is None:
            if self.side == ISSUER:
                carrier: Any = outbox
                after = (outbox.c.recipient == self.recipient) & (outbox.c.seq > self.cut)
            else:
                carrier = changeset_log
                after = (
                    (changeset_log.c.origin == self.issuer)
                    & (changeset_log.c.recipient == self.recipient)
                    & (changeset_log.c.seq > self.cut)
                )
            ids = set(
                self.conn.execute(
                    sa.select(appropriation_event.c.appropriation_id)
                    .select_from(
                        appropriation_event.join(
                            carrier, carrier.c.id == appropriation_event.c.changeset_id
                        )
                    )
                    .where(after)
                ).scalars()
            )
            now = view(self.conn, self.side, ids)
            then = view(self.conn, self.side, ids, cut=self.cut)
            self._moved = {i: (now.get(i), then.get(i)) for i in ids}
        return self._moved

    def level(self, level: int, within: Iterable[int] | None = None) -> dict[int, int]:
        """The digests of ``level`` at the cut (the leaves under the level-1 buckets
        ``within``), as integers; empty buckets left out."""
        parents = None if within is None else set(within)
        found = merkle.read_level(self.conn, self.scope, level, parents)
        for ident, (now, then) in self.moved().items():
            leaf = merkle.leaf_of(ident)
            bucket = {0: 0, 1: leaf // merkle.LEAVES_PER_BUCKET, 2: leaf}[level]
            if parents is not None and leaf // merkle.LEAVES_PER_BUCKET not in parents:
                continue
            digest = found.get(bucket, 0)
            digest -= now.digest if now is not None else 0
            digest += then.digest if then is not None else 0
            found[bucket] = digest % _MODULUS
        return {b: d for b, d in found.items() if d}

    def records(self, leaves: Collection[int]) -> dict[str, Record]:
        """Every record held at the cut in the given leaves."""
        ids = set()
        ordered = sorted(set(leaves))
        for start in range(0, len(ordered), 5_000):
            query = sa.select(appropriation.c.id).where(
                appropriation.c.issuer == self.issuer,
                appropriation.c.recipient == self.recipient,
                appropriation.c.leaf.in_(ordered[start : start + 5_000]),
            )
            ids.update(self.conn.execute(query).scalars())
        return view(self.conn, self.side, ids, cut=self.cut)

    def totals(self) -> dict[str, int]:
        """The amount held at the cut per function class (功能分类 类, 3 digits)."""
        if self.side == ISSUER:
            carrier: Any = outbox
            counts = (outbox.c.seq <= self.cut) & (outbox.c.receipt_verdict == "applied")
        else:
            carrier = changeset_log
            counts = (changeset_log.c.seq <= self.cut) & (changeset_log.c.origin == self.issuer)
        klass = sa.func.substr(appropriation.c.func_code, 1, 3)
        query = (
            sa.select(klass, total(appropriation_event.c.amount_fen))
            .select_from(
                appropriation.join(appropriation_event).join(
                    carrier, carrier.c.id == appropriation_event.c.changeset_id
                )
            )
            .where(
                appropriation.c.issuer == self.issuer,
                appropriation.c.recipient == self.recipient,
                counts,
            )
            .group_by(klass)
        )
        return {str(k): int(v) for k, v in self.conn.execute(query)}


def other_side(side: str) -> str:
    return RECIPIENT if side == ISSUER else ISSUER
