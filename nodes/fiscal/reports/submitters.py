"""Who has reported: on time, late, sent with no receipt yet, missing, by the time the
first receiver took each report, by the receiver's clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from nodes.fiscal.reports.consolidation import SENT, check_held, held_here, region_of, subtree
from nodes.fiscal.reports.periods import Period
from nodes.settings import LOCAL_TIME
from schema.channels import outbox
from schema.engine import reading
from schema.tables import report
from schema.types import format_utc, utcnow

if TYPE_CHECKING:
    from nodes.node import Node


STATES = ("on time", "late", "sent", "missing", "not yet due")


@dataclass(frozen=True)
class Submitter:
    """Whether one node has reported for a period: ``on time``, ``late`` (first taken
    after the deadline), ``sent`` (submitted here, its first receiver's receipt not yet
    back), ``missing`` (nothing by the deadline) or ``not yet due``.

    ``submitted_at`` is when the report counts as submitted: when its first receiver
    took it, by the receiver's clock (this node's, for a report it received; the one in
    the parent's signed receipt, or the center's, for this node's own), never by the
    sender's clock.
    """

    code: str
    name: str
    role: str
    state: str
    deadline: datetime
    submitted_at: datetime | None
    version: int | None

    @property
    def due_date(self) -> date:
        """The last day (in Beijing) on which a submission was on time."""
        return (self.deadline.astimezone(LOCAL_TIME) - timedelta(days=1)).date()

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "role": self.role,
            "state": self.state,
            "due_date": self.due_date.isoformat(),
            "deadline": format_utc(self.deadline),
            "submitted_at": format_utc(self.submitted_at) if self.submitted_at else None,
            "version": self.version,
        }


def submitters(
    node: Node,
    period: Period | str,
    now: datetime | None = None,
    *,
    region: str | None = None,
) -> list[Submitter]:
    """Who has reported for ``period`` as of ``now``, by this node's deadlines.

    Without ``region``: every node whose reports this node receives (at the center,
    every node but itself); with it, the region's subtree. A node is judged by the
    first of its versions taken by a first receiver, at the receiver's clock: a report
    received here by this node's receive time; this node's own report by the time in
    its first receiver's signed receipt (a refused version does not count). A
    correction after the deadline does not make a report late.
    """
    period = Period.of(period)
    now = now or utcnow()
    if region is None:
        codes = held_here(node)
    else:
        codes = subtree(node.topology, region_of(node, region))
        check_held(node, codes)
    deadline = period.deadline(node.settings)
    receipted = sa.case((outbox.c.receipt_verdict == "applied", outbox.c.receipt_taken_at))
    taken = sa.case((report.c.state == "received", report.c.received_at), else_=receipted)
    unanswered = sa.case((outbox.c.acked_at.is_(None) & (report.c.state == "submitted"), 1))
    with reading(node.engine) as conn:
        rows = conn.execute(
            sa.select(
                report.c.node_code,
                sa.func.min(taken).label("first"),
                sa.func.max(report.c.version).label("version"),
                sa.func.count(unanswered).label("unanswered"),
            )
            .select_from(report.outerjoin(outbox, outbox.c.id == report.c.changeset_id))
            .where(
                report.c.period == period.label,
                report.c.node_code.in_(codes),
                report.c.state.in_(SENT),
            )
            .group_by(report.c.node_code)
        ).all()
    held = {row.node_code: row for row in rows}
    found = []
    for code in codes:
        spec = node.topology.node(code)
        row = held.get(code)
        first = row.first if row is not None else None
        if first is not None:
            state = "on time" if first < deadline else "late"
        elif row is not None and row.unanswered:
            state = "sent"
        else:
            state = "missing" if now >= deadline else "not yet due"
        version = row.version if row is not None and state in STATES[:3] else None
        found.append(Submitter(code, spec.name, spec.role, state, deadline, first, version))
    return found
