"""What a reconciliation finds: the differences between the two sides' records, and what
each side notices on its own (duplicates, receipts missing or late, late breakdowns).

Every finding names its kind, its subject (an appropriation id, a change-set), the field
concerned and both sides' values, so that the statement can be read without either
database. ``discrepancy`` is False for what is only to be known (在途, in transit).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.reconcile.wire import shown
from schema.backups import rejoin_fence
from schema.channels import changeset_log, outbox
from schema.tables import appropriation, appropriation_event, reconciliation
from schema.types import format_utc, format_yuan

__all__ = [
    "KINDS",
    "Finding",
    "compare",
    "describe",
    "duplicates",
    "in_transit",
    "late_breakdowns",
    "receipts",
    "restored_behind",
]

KINDS = {
    "missing_below": "下级缺失 missing below",
    "unknown_above": "上级未知 unknown above",
    "amount": "金额不符 amount mismatch",
    "classification": "科目不符 classification mismatch",
    "doc": "文号不符 document number mismatch",
    "history": "事件不符 event history mismatch",
    "other": "其他不符 other field mismatch",
    "duplicate": "重复下达 duplicate",
    "unacknowledged": "未回执 unacknowledged",
    "late_receipt": "回执迟到 late receipt",
    "late_breakdown": "超时下达 late breakdown",
    "report_mismatch": "报表不符 report mismatch",
    "behind": "下级落后 recipient behind",
    "ahead": "上级落后 issuer behind",
    "in_transit": "在途 in transit",
}
"""Every kind of finding, with its label (Chinese first, as the statement prints it)."""

# Positions in a record's content (see records.content).
_FIELDS = {
    1: ("year", "other"),
    2: ("doc", "doc"),
    3: ("upper_doc", "doc"),
    4: ("title", "other"),
    5: ("func", "classification"),
    6: ("econ", "classification"),
    7: ("fund", "classification"),
    8: ("type", "classification"),
    9: ("project", "classification"),
}


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    detail: str
    field: str | None = None
    ours: Any = None
    theirs: Any = None
    discrepancy: bool = True
    params: dict[str, Any] | None = None
    """What ``detail`` says, for other languages: ``m``, the message (labels ``f.<m>``),
    and the values it names. ``detail`` is the English text, kept for scripts."""

    def as_op(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_op(cls, op: Any) -> Finding:
        """A finding as a step carries it (:meth:`as_op`); raises ValueError naming what
        is not of its shape."""
        if not isinstance(op, Mapping):
            raise ValueError(f"a finding must be an object, not {shown(op)}")
        kind = op.get("kind")
        if not (isinstance(kind, str) and kind in KINDS):
            raise ValueError(f"{shown(kind)} is not a kind of finding")
        detail = op.get("detail")
        field = op.get("field")
        for name, value in (("subject", op.get("subject")), ("detail", detail), ("field", field)):
            if (value is not None or name == "subject") and not (
                isinstance(value, str) and "\x00" not in value
            ):
                raise ValueError(f"a finding's {name} must be text, not {shown(value)}")
        return cls(
            kind=str(kind),
            subject=str(op["subject"])[:64],
            detail=str(detail) if detail is not None else "",
            field=str(field)[:32] if field is not None else None,
            ours=op.get("ours"),
            theirs=op.get("theirs"),
            discrepancy=bool(op.get("discrepancy", True)),
            params=op["params"] if isinstance(op.get("params"), dict) else None,
        )

    def row(self, session: str, number: int) -> dict[str, Any]:
        return {
            "reconciliation_id": session,
            "number": number,
            "kind": self.kind,
            "subject": self.subject,
            "field": self.field,
            "ours": None if self.ours is None else json.dumps(self.ours, ensure_ascii=False),
            "theirs": None if self.theirs is None else json.dumps(self.theirs, ensure_ascii=False),
            "detail": self.detail,
            "discrepancy": self.discrepancy,
            "params": None if self.params is None else json.dumps(self.params, ensure_ascii=False),
        }


def describe(detail: str, params: dict[str, Any] | str | None, words: Mapping[str, str]) -> str:
    """A finding's detail in the language of ``words``: its message (``params``, as a
    finding holds them or as JSON text) in those words, or ``detail`` as it was written
    when it names none that they have (a finding from before, or from a newer node)."""
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return detail
    if not isinstance(params, dict):
        return detail
    try:
        return words[f"f.{params['m']}"].format(**params)
    except (KeyError, IndexError, ValueError, TypeError):
        return detail


def _amount(content: list[Any]) -> int:
    return sum(int(event[2]) for event in content[10])


def compare(ours: Mapping[str, list[Any]], theirs: Mapping[str, list[Any]]) -> list[Finding]:
    """Every difference between the issuer's records (``ours``) and the recipient's
    (``theirs``), given as record contents by id; no finding where they agree."""
    found = []
    for ident in sorted(set(ours) | set(theirs)):
        mine, other = ours.get(ident), theirs.get(ident)
        if mine == other:
            continue
        if other is None:
            assert mine is not None
            found.append(
                Finding(
                    "missing_below",
                    ident,
                    f"issued {format_yuan(_amount(mine))} 元 under {mine[2]}; the recipient "
                    "does not hold it: retransmit, or restore the recipient",
                    ours=_amount(mine),
                    params={
                        "m": "missing_below",
                        "amount": format_yuan(_amount(mine)),
                        "doc": mine[2],
                    },
                )
            )
            continue
        if mine is None:
            found.append(
                Finding(
                    "unknown_above",
                    ident,
                    f"the recipient holds {format_yuan(_amount(other))} 元 under {other[2]} "
                    "that the issuer does not: restore the issuer, or recover it",
                    theirs=_amount(other),
                    params={
                        "m": "unknown_above",
                        "amount": format_yuan(_amount(other)),
                        "doc": other[2],
                    },
                )
            )
            continue
        if _amount(mine) != _amount(other):
            found.append(
                Finding(
                    "amount",
                    ident,
                    f"{format_yuan(_amount(mine))} 元 issued, {format_yuan(_amount(other))} 元 "
                    "held below: an adjustment by the issuer corrects it",
                    field="amount",
                    ours=_amount(mine),
                    theirs=_amount(other),
                    params={
                        "m": "amount",
                        "ours": format_yuan(_amount(mine)),
                        "theirs": format_yuan(_amount(other)),
                    },
                )
            )
        for position, (name, kind) in _FIELDS.items():
            if mine[position] != other[position]:
                found.append(
                    Finding(
                        kind,
                        ident,
                        f"{name}: {mine[position]!r} issued, {other[position]!r} held below",
                        field=name,
                        ours=mine[position],
                        theirs=other[position],
                        params={
                            "m": "field",
                            "name": name,
                            "ours": repr(mine[position]),
                            "theirs": repr(other[position]),
                        },
                    )
                )
        if mine[10] != other[10] and _amount(mine) == _amount(other):
            found.append(
                Finding(
                    "history",
                    ident,
                    "the same amount through different events",
                    field="events",
                    ours=mine[10],
                    theirs=other[10],
                    params={"m": "history"},
                )
            )
    return found


def in_transit(conn: Connection, recipient: str, cut: int) -> list[Finding]:
    """The issuer's appropriation change-sets to ``recipient`` carried after the cut (在途):
    not discrepancies, listed so the statement says what it does not cover yet."""
    rows = conn.execute(
        sa.select(outbox.c.id, outbox.c.seq, outbox.c.kind, outbox.c.created_at, outbox.c.acked_at)
        .where(
            outbox.c.recipient == recipient,
            outbox.c.seq > cut,
            outbox.c.kind == "appropriation",
        )
        .order_by(outbox.c.seq)
    ).all()
    found = []
    for row in rows:
        count = conn.execute(
            sa.select(sa.func.count()).where(appropriation_event.c.changeset_id == row.id)
        ).scalar_one()
        state = "receipt back, after the cut" if row.acked_at else "no receipt yet"
        found.append(
            Finding(
                "in_transit",
                f"seq {row.seq}",
                f"{row.kind} change-set {row.id[:12]} sent {format_utc(row.created_at)} "
                f"({count} appropriation event(s)): {state}",
                discrepancy=False,
                params={
                    "m": "in_transit_acked" if row.acked_at else "in_transit_waiting",
                    "id": row.id[:12],
                    "sent": format_utc(row.created_at),
                    "count": count,
                },
            )
        )
    return found


def restored_behind(conn: Connection, issuer: str, recipient: str, cut: int) -> list[Finding]:
    """The recipient restored from an older copy (下级落后), as this issuer learned when it
    answered its rejoin request (the fence it keeps, :mod:`nodes.rejoin`): it held the
    channel only up to a seq before the cut, and what came after was sent back to it as
    it rejoined. Not a discrepancy: it takes this reconciliation's request in channel
    order, so it holds the whole cut again by then, and the comparison shows whether
    anything was lost. Told once: in the first statement of the edge after the restore."""
    fence = conn.execute(sa.select(rejoin_fence).where(rejoin_fence.c.node == recipient)).first()
    if fence is None or fence.in_seq >= cut:
        return []
    since = conn.execute(
        sa.select(sa.func.max(reconciliation.c.concluded_at)).where(
            reconciliation.c.role == "initiator",
            reconciliation.c.origin == issuer,
            reconciliation.c.recipient == recipient,
            reconciliation.c.dataset == "appropriation",
        )
    ).scalar_one_or_none()
    if since is not None and since >= fence.answered_at:
        return []
    return [
        Finding(
            "behind",
            recipient,
            f"{recipient} was restored from an older copy holding this channel up to seq "
            f"{fence.in_seq}, not up to the cut {cut}; seq {fence.in_seq + 1} to {cut} were sent "
            f"back to it when it rejoined ({format_utc(fence.answered_at)}), and compared here",
            ours=cut,
            theirs=int(fence.in_seq),
            discrepancy=False,
            params={
                "m": "behind",
                "recipient": recipient,
                "held": int(fence.in_seq),
                "next": int(fence.in_seq) + 1,
                "cut": cut,
                "at": format_utc(fence.answered_at),
            },
        )
    ]


def duplicates(conn: Connection, issuer: str, recipient: str) -> list[Finding]:
    """Appropriations issued twice to ``recipient`` under the same 文号, function and
    amount (not refused by the recipient)."""
    standing = sa.or_(outbox.c.receipt_verdict.is_(None), outbox.c.receipt_verdict != "rejected")
    key = (
        appropriation.c.doc_no,
        appropriation.c.func_code,
        appropriation_event.c.amount_fen,
    )
    query = (
        sa.select(
            *key, sa.func.count(), sa.func.min(appropriation.c.id), sa.func.max(appropriation.c.id)
        )
        .select_from(
            appropriation.join(appropriation_event).outerjoin(
                outbox, outbox.c.id == appropriation_event.c.changeset_id
            )
        )
        .where(
            appropriation.c.issuer == issuer,
            appropriation.c.recipient == recipient,
            appropriation_event.c.kind == "issue",
            standing,
        )
        .group_by(*key)
        .having(sa.func.count() > 1)
    )
    return [
        Finding(
            "duplicate",
            first,
            f"{count} appropriations under {doc}, {func}, {format_yuan(amount)} 元 "
            f"({first} … {last}): recover the one issued by mistake",
            ours=count,
            params={
                "m": "duplicate",
                "count": count,
                "doc": doc,
                "func": func,
                "amount": format_yuan(amount),
                "first": first,
                "last": last,
            },
        )
        for doc, func, amount, count, first, last in conn.execute(query)
    ]


def receipts(
    conn: Connection, recipient: str, now: datetime, unacknowledged: timedelta, late: timedelta
) -> list[Finding]:
    """The issuer's change-sets to ``recipient`` with no receipt after ``unacknowledged``,
    and those whose receipt came back later than ``late`` (both by the issuer's clock)."""
    found = []
    rows = conn.execute(
        sa.select(outbox.c.id, outbox.c.seq, outbox.c.kind, outbox.c.created_at, outbox.c.acked_at)
        .where(outbox.c.recipient == recipient, outbox.c.kind == "appropriation")
        .order_by(outbox.c.seq)
    ).all()
    for row in rows:
        if row.acked_at is None and now - row.created_at > unacknowledged:
            found.append(
                Finding(
                    "unacknowledged",
                    f"seq {row.seq}",
                    f"{row.kind} change-set {row.id[:12]} sent {format_utc(row.created_at)}, no "
                    f"receipt after {(now - row.created_at).days} day(s): sync the recipient",
                    ours=format_utc(row.created_at),
                    params={
                        "m": "unacknowledged",
                        "id": row.id[:12],
                        "sent": format_utc(row.created_at),
                        "days": (now - row.created_at).days,
                    },
                )
            )
        elif row.acked_at is not None and row.acked_at - row.created_at > late:
            found.append(
                Finding(
                    "late_receipt",
                    f"seq {row.seq}",
                    f"{row.kind} change-set {row.id[:12]}: receipt {(row.acked_at - row.created_at).days} "
                    "day(s) after it was sent",
                    ours=format_utc(row.created_at),
                    theirs=format_utc(row.acked_at),
                    discrepancy=False,
                    params={
                        "m": "late_receipt",
                        "id": row.id[:12],
                        "days": (row.acked_at - row.created_at).days,
                    },
                )
            )
    return found


def late_breakdowns(conn: Connection, issuer: str, me: str, limit: timedelta) -> list[Finding]:
    """At the recipient: its breakdowns (分解) of appropriations received from ``issuer``
    made more than ``limit`` after the appropriation arrived (超时下达; the Budget Law gives
    30 days), by this node's clock."""
    parent = appropriation.alias("parent")
    issued = appropriation_event.alias("issued")
    query = (
        sa.select(
            appropriation.c.id, parent.c.id, changeset_log.c.applied_at, appropriation.c.created_at
        )
        .select_from(
            appropriation.join(parent, parent.c.id == appropriation.c.parent_id)
            .join(issued, (issued.c.appropriation_id == parent.c.id) & (issued.c.kind == "issue"))
            .join(changeset_log, changeset_log.c.id == issued.c.changeset_id)
        )
        .where(parent.c.issuer == issuer, parent.c.recipient == me, appropriation.c.issuer == me)
    )
    found = []
    for child, received, arrived, made in conn.execute(query):
        if made - arrived > limit:
            found.append(
                Finding(
                    "late_breakdown",
                    child,
                    f"broken down from {received} {(made - arrived).days} day(s) after it "
                    f"arrived (the limit is {limit.days})",
                    ours=format_utc(arrived),
                    theirs=format_utc(made),
                    params={
                        "m": "late_breakdown",
                        "parent": received,
                        "days": (made - arrived).days,
                        "limit": limit.days,
                    },
                )
            )
    return found


def labelled(findings: Iterable[Finding]) -> list[tuple[str, Finding]]:
    return [(KINDS[f.kind], f) for f in findings]
