"""An appropriation as each side of an edge holds it, and the digests kept over them.

The issuer and the recipient of appropriations each keep bucket digests
(:mod:`sync.merkle`) over the appropriations between them, in the same transaction as
every change, so that reconciling a million identical records reads a few rows.

A record is what both sides must agree on: the id, year, 文号 and 上级文号, title,
classification (function, economic, fund type, transfer type, project) and every event
that counts (kind, amount, 文号, time), each with the sequence number of the change-set
that carried it on the issuer → recipient channel. What counts differs by side:

- at the issuer, every event not refused by the recipient (its receipt's verdict is
  ``applied``, or not back yet);
- at the recipient, every event it applied.

The two agree once every receipt is back. At a *cut* (a sequence number of the channel
both sides have reached, with every receipt up to it back at the issuer) they agree
exactly: the issuer counts the events carried up to the cut and applied, the recipient
those carried up to the cut. Digests are kept for the current state; :func:`view` reads
records at a cut, so the few records that changed past it can be set aside.

A record's digest is the hash of the network's suite over its content (SHA-256 in an
Ed25519 network, SM3 in an SM2 one: :func:`digester`), which both sides share.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.identity import network_suite
from schema.channels import changeset_log, outbox
from schema.tables import appropriation, appropriation_event
from sync import merkle
from sync.merkle import RecordDigest

__all__ = [
    "ISSUER",
    "RECIPIENT",
    "Record",
    "content",
    "digester",
    "edge_ids",
    "edges",
    "new_digest",
    "rebuild",
    "rebuild_edge",
    "receipt_taken",
    "record",
    "refresh",
    "scope",
    "stale",
    "view",
    "wire_time",
]

ISSUER = "issuer"
RECIPIENT = "recipient"
_BATCH = 5_000


def scope(issuer: str, recipient: str) -> str:
    """The name of the digests over the appropriations ``issuer`` issued ``recipient``."""
    return f"appropriation:{issuer}:{recipient}"


def wire_time(moment: datetime) -> str:
    """A time as records hold it (UTC, microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content(row: Any, events: Iterable[tuple[int, str, int, str, datetime]]) -> list[Any]:
    """The record both sides must agree on: ``row`` an appropriation (mapping or row) and
    ``events`` its (channel seq, kind, amount, 文号, time) that count."""
    return [
        row.id,
        row.year,
        row.doc_no,
        row.upper_doc_no,
        row.title,
        row.func_code,
        row.econ_code,
        row.fund_code,
        row.transfer_type,
        row.project_code,
        sorted([seq, kind, amount, doc, wire_time(at)] for seq, kind, amount, doc, at in events),
    ]


@dataclass(frozen=True)
class Record:
    """One appropriation as one side holds it (at a cut, or now)."""

    content: list[Any]
    digest: int

    @property
    def id(self) -> str:
        return str(self.content[0])

    @property
    def amount_fen(self) -> int:
        return sum(event[2] for event in self.content[10])


def digester(conn: Connection) -> RecordDigest:
    """How this node digests a record: under its network's suite (SHA-256, SM3)."""
    return merkle.record_digester(network_suite(conn))


def record(
    row: Any, events: list[tuple[int, str, int, str, datetime]], digest: RecordDigest
) -> Record:
    """The record of ``row`` with the events that count, digested by ``digest``."""
    found = content(row, events)
    return Record(found, digest(found))


def new_digest(row: tuple[Any, ...], seq: int, amount: int, at: str, digest: RecordDigest) -> int:
    """The digest of the record of an appropriation just issued, built as :func:`content`
    builds it: ``row`` a tuple in the order of ``APPROPRIATION_COLUMNS``, its one ``issue``
    event of ``amount`` carried at ``seq``, at ``at`` (as :func:`wire_time` writes it);
    ``digest`` the node's :func:`digester`. (Only the digest: no :class:`Record` is made
    for each of a million rows.)"""
    return digest(
        [
            row[0],
            row[1],
            row[4],
            row[6],
            row[5],
            row[8],
            row[9],
            row[10],
            row[11],
            row[12],
            [[seq, "issue", amount, row[4], at]],
        ]
    )


def view(
    conn: Connection,
    side: str,
    ids: Collection[str],
    *,
    cut: int | None = None,
    pending: Mapping[str, int] | None = None,
    excluding: Collection[str] = (),
    counting: Collection[str] = (),
    kinds: Collection[str] | None = None,
) -> dict[str, Record]:
    """The records ``ids`` as this node holds them on ``side`` of their edge.

    ``cut``: only events carried up to that sequence number (and, at the issuer, applied
    by the recipient); None: now. ``pending`` gives the sequence number of change-sets
    being applied and not logged yet (recipient); events of the change-sets in
    ``excluding`` are left out, those in ``counting`` counted whatever their receipt said;
    ``kinds`` keeps only events of those kinds. An id with no event that counts has no
    record.
    """
    found: dict[str, Record] = {}
    ordered = sorted(set(ids))
    if not ordered:
        return found
    digest = digester(conn)
    pending = pending or {}
    for start in range(0, len(ordered), _BATCH):
        some = ordered[start : start + _BATCH]
        if side == ISSUER:
            carrier = outbox
            extra = [outbox.c.seq, outbox.c.receipt_verdict.label("verdict")]
        else:
            carrier = changeset_log
            extra = [changeset_log.c.seq, sa.literal(None).label("verdict")]
        query = (
            sa.select(
                appropriation,
                appropriation_event.c.kind,
                appropriation_event.c.amount_fen,
                appropriation_event.c.doc_no.label("event_doc"),
                appropriation_event.c.at,
                appropriation_event.c.changeset_id,
                *extra,
            )
            .select_from(
                appropriation.join(appropriation_event).outerjoin(
                    carrier, carrier.c.id == appropriation_event.c.changeset_id
                )
            )
            .where(appropriation.c.id.in_(some))
            .order_by(appropriation.c.id)
        )
        rows: dict[str, Any] = {}
        events: dict[str, list[tuple[int, str, int, str, datetime]]] = {}
        for r in conn.execute(query):
            rows[r.id] = r
            carried = r.changeset_id
            seq = r.seq if r.seq is not None else pending.get(carried)
            if carried in excluding or seq is None or (kinds is not None and r.kind not in kinds):
                continue
            if side == ISSUER and carried not in counting:
                if cut is not None and r.verdict != "applied":
                    continue
                if r.verdict == "rejected":
                    continue
            if cut is not None and seq > cut:
                continue
            events.setdefault(r.id, []).append(
                (int(seq), r.kind, int(r.amount_fen), r.event_doc, r.at)
            )
        for ident, counted in events.items():
            found[ident] = record(rows[ident], counted, digest)
    return found


def refresh(
    conn: Connection,
    edge: str,
    before: Mapping[str, Record],
    after: Mapping[str, Record],
) -> None:
    """Bring the digests of ``edge`` (a :func:`scope`) from ``before`` to ``after``: the
    records of the same ids as they were and as they are now."""
    changes = merkle.Changes(edge)
    for ident in set(before) | set(after):
        old, new = before.get(ident), after.get(ident)
        if old is None and new is not None:
            changes.add(ident, new.digest)
        elif old is not None and new is None:
            changes.remove(ident, old.digest)
        elif old is not None and new is not None:
            changes.replace(ident, old.digest, new.digest)
    merkle.apply(conn, changes)


def receipt_taken(conn: Connection, me: str, entry: Any, verdict: str) -> None:
    """The issuer's digests after the receipt of one of its change-sets (``entry``, its
    outbox row): a refusal takes that change-set's events out of what counts."""
    if verdict != "rejected":
        return
    ids = set(
        conn.execute(
            sa.select(appropriation_event.c.appropriation_id).where(
                appropriation_event.c.changeset_id == entry.id
            )
        ).scalars()
    )
    if ids:
        before = view(conn, ISSUER, ids, counting={entry.id})
        refresh(conn, scope(me, entry.recipient), before, view(conn, ISSUER, ids))


def edge_ids(conn: Connection, issuer: str, recipient: str) -> Iterator[str]:
    """Every appropriation id between ``issuer`` and ``recipient``, in order."""
    query = (
        sa.select(appropriation.c.id)
        .where(appropriation.c.issuer == issuer, appropriation.c.recipient == recipient)
        .order_by(appropriation.c.id)
    )
    yield from conn.execute(query).scalars()


def edges(conn: Connection) -> list[tuple[str, str]]:
    """Every (issuer, recipient) pair with appropriations in this database."""
    query = sa.select(appropriation.c.issuer, appropriation.c.recipient).distinct()
    return sorted((issuer, recipient) for issuer, recipient in conn.execute(query))


def stale(conn: Connection, me: str) -> list[str]:
    """The edges whose kept digests differ from a recomputation from their records (a
    healthy node has none)."""
    found = []
    kept = set(merkle.scopes(conn, "appropriation:"))
    for issuer, recipient in edges(conn):
        edge = scope(issuer, recipient)
        kept.discard(edge)
        side = ISSUER if issuer == me else RECIPIENT
        held = view(conn, side, list(edge_ids(conn, issuer, recipient)))
        if merkle.tree((i, r.digest) for i, r in held.items()) != merkle.stored(conn, edge):
            found.append(edge)
    return sorted(found + [edge for edge in kept if merkle.stored(conn, edge)])


def rebuild(conn: Connection, me: str) -> None:
    """Recompute the digests of every edge this node is on, from its records."""
    for issuer, recipient in edges(conn):
        rebuild_edge(conn, ISSUER if issuer == me else RECIPIENT, issuer, recipient)


def rebuild_edge(conn: Connection, side: str, issuer: str, recipient: str) -> None:
    """Recompute the digests of one edge from its records (every one of them is read,
    once the edge's digests are locked: none is committed between the reading and the
    writing)."""
    edge = scope(issuer, recipient)
    merkle.lock(conn, edge)
    held = view(conn, side, list(edge_ids(conn, issuer, recipient)))
    merkle.rebuild(conn, edge, ((i, r.digest) for i, r in held.items()))
