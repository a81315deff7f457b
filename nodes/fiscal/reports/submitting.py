"""Submitting a report: to the parent, and a copy to the central node, as signed
change-sets of kind ``report``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes import rejoin
from nodes.fiscal.reports.generating import generate_in, latest_own, refuse_center, writing
from nodes.fiscal.reports.levels import build_region, has_children, newest_sent, store_region
from nodes.fiscal.reports.lines import ReportLine, check_lines, line_order
from nodes.fiscal.reports.periods import Period
from nodes.fiscal.reports.versions import line_of, stored_lines
from nodes.labels import said
from nodes.policy import check_send
from schema.engine import reading
from schema.tables import report
from schema.types import format_utc
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError
from sync.pki import Signer, load_signer

if TYPE_CHECKING:
    from nodes.node import Node


@dataclass(frozen=True)
class Submission:
    """What :func:`submit` sent: one version, one signed change-set per recipient."""

    node: str
    period: str
    version: int
    recipients: list[str]
    changesets: list[str]
    submitted_at: datetime
    consolidated: int | None = None
    """The version of the 全辖 sent to the parent with it (a node with children)."""


def receivers(node: Node) -> list[str]:
    """Who this node's report goes to: its parent, then the center (the first is the
    receiver whose copy dates the submission)."""
    recipients = []
    if node.spec.parent is not None:
        recipients.append(node.spec.parent)
    center = node.topology.center
    if center is not None and center.code not in recipients:
        recipients.append(center.code)
    if not recipients:
        raise InputError(
            said("no_report_recipient", code=node.spec.code),
            hint=said("no_report_recipient_hint"),
        )
    for code in recipients:
        check_send(node.topology, node.spec.code, code, "report")
    return recipients


def _operations(
    row: Any, lines: list[ReportLine], members: str | None = None
) -> list[dict[str, Any]]:
    """The operations of a report change-set; with ``members``, of a 全辖 (scope all)."""
    scope: dict[str, Any] = {} if members is None else {"scope": "all", "members": members}
    header = {
        **scope,
        "op": "report",
        "node": row.node_code,
        "period": row.period,
        "kind": row.kind,
        "year": row.year,
        "version": row.version,
        "generated_at": format_utc(row.generated_at),
        "generated_by": row.generated_by,
        "negative_entries": bool(row.negative_entries) if members is None else True,
        "lines": len(lines),
    }
    return [header] + [
        {
            "op": "line",
            "section": x.section,
            "level": x.level,
            "code": x.code,
            "budget": x.budget_fen,
            "period": x.period_fen,
            "ytd": x.ytd_fen,
            "month": x.month_fen,
            "last_year": x.last_year_fen,
        }
        for x in lines
    ]


def submit(
    node: Node, period: Period | str, *, actor: str, clock: Clock = SYSTEM_CLOCK
) -> Submission:
    """Send the current version of this node's report to its parent and to the center.

    Generates it first when there is none. One transaction: both signed change-sets are
    queued and the report marked submitted together, or nothing happens. A version
    already submitted is refused: a correction is generated first, then submitted.
    """
    period = Period.of(period)
    recipients = _ready(node, period, clock)
    signer = load_signer(node.home.keys)
    with writing(node) as conn:
        # First, so that what is read below is read after a rejoin's end, never before it.
        rejoin.require_joined(conn, node.spec.code)
        row = latest_own(conn, node.spec.code, period)
        generated = row is None  # its lines checked as they were made, just now
        if generated:
            row = _generated(conn, node, period, actor, clock, row)
        return _send(conn, node, period, row, recipients, signer, actor, clock, checked=generated)


def submit_once(
    node: Node, period: Period | str, *, actor: str, clock: Clock = SYSTEM_CLOCK
) -> Submission | None:
    """The agent's submission of a period just ended: generate this node's report afresh
    and send it as :func:`submit` does, unless a version of the period was submitted
    already (by anyone: then nothing happens and None is returned, for a correction
    stays a deliberate act).

    One transaction, the period's versions locked before it looks: an operator's
    submission of the same period made at the same moment is either seen here (and the
    period left alone) or made after this one (and refused as already submitted), never
    followed by a second version nobody asked for.
    """
    period = Period.of(period)
    me = node.spec.code
    sent = (report.c.node_code == me) & (report.c.period == period.label)
    sent &= report.c.state != "draft"
    with reading(node.engine) as conn:  # a version once sent stays sent: nothing to do
        if conn.execute(sa.select(sa.exists().where(sent))).scalar():
            return None
    recipients = _ready(node, period, clock)
    signer = load_signer(node.home.keys)
    with writing(node) as conn:
        rejoin.require_joined(conn, me)
        latest = latest_own(conn, me, period)
        if conn.execute(sa.select(sa.exists().where(sent))).scalar():  # sent meanwhile
            return None
        row = _generated(conn, node, period, actor, clock, latest)
        return _send(conn, node, period, row, recipients, signer, actor, clock, checked=True)


def _ready(node: Node, period: Period, clock: Clock) -> list[str]:
    """The receivers of this node's report for ``period``, once the period is over."""
    refuse_center(node, "submits")
    recipients = receivers(node)
    if clock.now() < period.ends_at():
        raise InputError(
            said("period_not_over", period=period, end=period.end.isoformat()),
            hint=said("period_not_over_hint"),
        )
    return recipients


def _generated(
    conn: Connection, node: Node, period: Period, actor: str, clock: Clock, latest: Any
) -> Any:
    """The row of this node's report for ``period`` generated now in the caller's
    transaction (``latest``: what :func:`latest_own` gave it)."""
    made = generate_in(conn, node, period, actor, clock, latest=latest)
    return conn.execute(sa.select(report).where(report.c.id == made)).one()


def _send(
    conn: Connection,
    node: Node,
    period: Period,
    row: Any,
    recipients: list[str],
    signer: Signer,
    actor: str,
    clock: Clock,
    *,
    checked: bool,
) -> Submission:
    """Send the draft ``row`` in the caller's transaction, the period's versions locked;
    ``checked``: its lines were checked as they were generated, in this transaction."""
    if row.state != "draft":
        raise InputError(
            said(
                "report_already_submitted",
                version=row.version,
                period=period,
                submitted_at=format_utc(row.submitted_at),
            ),
            hint=said("report_already_submitted_hint", period=period),
        )
    lines = sorted((line_of(r) for r in stored_lines(conn, [row.id])), key=line_order)
    if not checked:  # a draft of an earlier command: checked again before it goes
        check_lines(lines, negative_entries=bool(row.negative_entries), kind=period.kind)
    operations = _operations(row, lines)
    written = [
        enqueue(conn, node.spool, signer, code, "report", operations, clock) for code in recipients
    ]
    submitted_at = written[0].header.created
    conn.execute(
        report.update()
        .where(report.c.id == row.id)
        .values(state="submitted", submitted_at=submitted_at, changeset_id=written[0].id)
    )
    consolidated = send_region(conn, node, period, actor, clock)
    return Submission(
        node.spec.code,
        period.label,
        int(row.version),
        recipients,
        [w.id for w in written],
        submitted_at,
        consolidated,
    )


def send_region(
    conn: Connection, node: Node, period: Period, actor: str, clock: Clock
) -> int | None:
    """Send the parent this node's 全辖 (逐级) in the caller's transaction; its version,
    or None where there is no parent or nothing below."""
    parent = node.spec.parent
    if parent is None or not has_children(node.topology, node.spec.code):
        return None
    header, lines = build_region(conn, node, period, actor, clock.now())
    signer = load_signer(node.home.keys)
    row = SimpleNamespace(negative_entries=True, **header)
    written = enqueue(
        conn,
        node.spool,
        signer,
        parent,
        "report",
        _operations(row, lines, header["members"]),
        clock,
    )
    store_region(
        conn,
        {**header, "submitted_at": written.header.created, "changeset_id": written.id},
        lines,
    )
    return int(header["version"])


def submit_region(
    node: Node, period: Period | str, *, actor: str, clock: Clock = SYSTEM_CLOCK
) -> int:
    """``report submit PERIOD --scope all``: send the parent this node's 全辖 again (the
    next version), after a report below it changed; its own report must have been
    submitted (a newer draft of it, being corrected, does not stop it: the 全辖 sums the
    version its parent holds, as :func:`region_outdated` judges it)."""
    period = Period.of(period)
    refuse_center(node, "submits")
    if node.spec.parent is None or not has_children(node.topology, node.spec.code):
        raise InputError(
            said("no_consolidated_sender", code=node.spec.code),
            hint=said("no_consolidated_sender_hint"),
        )
    with writing(node) as conn:
        rejoin.require_joined(conn, node.spec.code)
        latest_own(conn, node.spec.code, period)  # the period's versions locked
        if newest_sent(conn, report, node.spec.code, period) is None:
            raise InputError(
                said("own_report_unsubmitted", period=period, code=node.spec.code),
                hint=said("own_report_unsubmitted_hint", period=period),
            )
        version = send_region(conn, node, period, actor, clock)
    assert version is not None
    return version
