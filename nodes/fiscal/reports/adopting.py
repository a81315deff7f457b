"""Taking back this node's own report submissions after it was restored from a backup
that predates them (the rejoin returns them, byte for byte, from their receivers), and
sending one, and its 全辖, again to those of its receivers that did not return it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.reports.generating import store
from nodes.fiscal.reports.levels import has_children, store_region
from nodes.fiscal.reports.line_rows import insert_lines
from nodes.fiscal.reports.lines import ReportLine
from nodes.fiscal.reports.periods import Period
from nodes.fiscal.reports.submitting import receivers, send_region
from schema.locks import lock_scope
from schema.tables import region_report, report, report_line
from schema.types import parse_utc
from sync.changeset import Verified
from sync.channel import enqueue
from sync.clock import Clock
from sync.errors import InputError
from sync.pki import load_signer

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["adopt_submitted", "send_again"]

log = logging.getLogger("fiscalsync.agent")

KIND = "report"
REJOIN_ACTOR = "fiscalsync rejoin"
"""Who generated a 全辖 built anew at the end of a rejoin."""


def adopt_submitted(conn: Connection, verified: Verified, first_receiver: str) -> None:
    """Take back this node's own submission, returned after the node was restored from a
    backup that predates it: the version is stored as submitted with the lines the
    change-set carries (a draft of it in the backup is rebuilt from them), whichever of
    its receivers returned it; by the change-set to its first receiver once that one
    is returned too (the parent, or the center where there is none)."""
    operations = verified.operations()
    head = next(operations)
    node = str(head["node"])
    period = Period.parse(str(head["period"]))
    lines = [
        ReportLine(
            section=op["section"],
            level=op["level"],
            code=op["code"],
            budget_fen=op["budget"],
            period_fen=op["period"],
            ytd_fen=op["ytd"],
            month_fen=op.get("month", op["period"]),
            last_year_fen=op.get("last_year", 0),
        )
        for op in operations
    ]
    if head.get("scope") == "all":  # a consolidation (全辖) sent to the parent
        held = conn.execute(
            sa.select(region_report.c.id).where(
                region_report.c.node_code == node,
                region_report.c.period == period.label,
                region_report.c.version == head["version"],
            )
        ).first()
        if held is None:
            store_region(
                conn,
                {
                    "node_code": node,
                    **period.columns(),
                    "version": head["version"],
                    "state": "submitted",
                    "members": head["members"],
                    "generated_at": parse_utc(str(head["generated_at"])),
                    "generated_by": head["generated_by"],
                    "submitted_at": verified.header.created,
                    "changeset_id": verified.id,
                },
                lines,
            )
        return
    lock_scope(conn, "report", f"{node}/{period.label}")  # as a writer of its versions does
    key = (
        (report.c.node_code == node)
        & (report.c.period == period.label)
        & (report.c.version == head["version"])
    )
    header = {
        "negative_entries": bool(head["negative_entries"]),
        "generated_at": parse_utc(str(head["generated_at"])),
        "generated_by": head["generated_by"],
    }
    sent = {
        "state": "submitted",
        "submitted_at": verified.header.created,
        "changeset_id": verified.id,
    }
    row = conn.execute(sa.select(report).where(key)).first()
    if row is None:
        store(
            conn,
            {"node_code": node, **period.columns(), "version": head["version"], **header, **sent},
            lines,
        )
    elif row.state == "draft":
        # The backup's draft of this version, perhaps generated again since: what was
        # sent is what the change-set carries, line by line.
        conn.execute(report_line.delete().where(report_line.c.report_id == row.id))
        insert_lines(conn, report_line, int(row.id), lines)
        conn.execute(report.update().where(key).values(**header, **sent))
    elif verified.header.recipient == first_receiver:  # the other copy came back first
        conn.execute(report.update().where(key).values(**sent))


def send_again(conn: Connection, node: Node, clock: Clock, taken_back: list[Verified]) -> int:
    """At the end of a rejoin, send each submission of this node taken back in it to those
    of its receivers (the parent, the center) that lack it, and the parent the 全辖 sent
    with it where the parent lacks that too. Return the change-sets queued.

    The backup predates the submission, which queued its copies (and its 全辖) in one
    transaction: the receivers holding an outbox row for the version are those that
    returned their copy (:func:`adopt_submitted` put it back). One that did not never
    took it, or took it in a state it lost since; it is sent the operations of a copy
    returned, so it holds the lines the others hold, to the fen. Only what this rejoin
    took back is looked at: a submission of another period, or one taken back by an
    earlier rejoin, is left as it is. A 全辖 sent again is built anew from the reports
    held (the next version, as ``report submit --scope all`` sends); one that would not
    pass its checks is left to that command, the rejoin ends all the same."""
    me, parent = node.spec.code, node.spec.parent
    copies: dict[tuple[str, int], dict[str, Verified]] = {}
    regions: dict[str, list[Verified]] = {}
    for verified in taken_back:
        if verified.header.kind != KIND or verified.header.origin != me:
            continue
        head = next(verified.operations())
        period = str(head["period"])
        if head.get("scope") == "all":
            regions.setdefault(period, []).append(verified)
        else:
            copies.setdefault((period, int(head["version"])), {})[verified.header.recipient] = (
                verified
            )
    if not copies:
        return 0
    try:
        to = receivers(node)
    except InputError:  # none it may send a report to now: nothing to send again
        return 0
    signer = load_signer(node.home.keys)
    queued = 0
    newest: dict[str, int] = {}
    for (label, version), held in sorted(copies.items()):
        newest[label] = version
        lacking = [code for code in to if code not in held]
        if not lacking:
            continue
        lock_scope(conn, "report", f"{me}/{label}")  # as a writer of its versions does
        operations = list(next(iter(held.values())).operations())
        for code in lacking:
            written = enqueue(conn, node.spool, signer, code, KIND, operations, clock)
            queued += 1
            if code == to[0]:  # the first receiver's copy dates the submission
                conn.execute(
                    report.update()
                    .where(
                        (report.c.node_code == me)
                        & (report.c.period == label)
                        & (report.c.version == version)
                    )
                    .values(submitted_at=written.header.created, changeset_id=written.id)
                )
    if parent is None or not has_children(node.topology, me):
        return queued
    for label, version in sorted(newest.items()):
        if any(
            v.header.recipient == parent and _sums_own(v, me) >= version
            for v in regions.get(label, [])
        ):
            continue  # the parent returned the 全辖 sent with it, or a later one
        lock_scope(conn, "report", f"{me}/{label}")  # what it sums, as submit_region does
        try:
            with conn.begin_nested():
                sent_region = send_region(conn, node, Period.parse(label), REJOIN_ACTOR, clock)
            queued += sent_region is not None
        except InputError as refused:
            log.warning(
                "the 全辖 of %s for %s was not sent again at the rejoin (%s): "
                "send it with `report submit %s --scope all`",
                me,
                label,
                refused,
                label,
            )
    return queued


def _sums_own(verified: Verified, me: str) -> int:
    """The version of this node's own report a 全辖 change-set sums (0: none): what it was
    sent with is named by its members, never judged by the time it was signed."""
    head = next(verified.operations())
    for member in str(head.get("members", "")).split():
        code, _, rest = member.partition(":")
        number, _, scope = rest.partition(":")
        if code == me and scope == "own" and number.isdigit():
            return int(number)
    return 0
