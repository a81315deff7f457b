"""Taking back this node's own report submissions after it was restored from a backup
that predates them (the rejoin returns them, byte for byte, from their receivers), and
sending the parent again one that only the center returned."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.reports.generating import line_row, store
from nodes.fiscal.reports.levels import store_region
from nodes.fiscal.reports.lines import ReportLine
from nodes.fiscal.reports.periods import Period
from schema.channels import outbox
from schema.locks import lock_scope
from schema.tables import region_report, report, report_line
from schema.types import parse_utc
from sync import changeset
from sync.changeset import Verified
from sync.channel import enqueue
from sync.clock import Clock
from sync.pki import load_signer

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["adopt_submitted", "send_again"]

KIND = "report"


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
        conn.execute(report_line.insert(), [line_row(int(row.id), x) for x in lines])
        conn.execute(report.update().where(key).values(**header, **sent))
    elif verified.header.recipient == first_receiver:  # the other copy came back first
        conn.execute(report.update().where(key).values(**sent))


def send_again(conn: Connection, node: Node, clock: Clock) -> int:
    """At the end of a rejoin, send the parent again each submission of this node taken
    back from the center only (:func:`adopt_submitted`): the parent never took it, or
    took it in a state it lost since. The operations are the returned change-set's, so
    the parent holds the lines the center holds. Return the change-sets queued."""
    me, parent = node.spec.code, node.spec.parent
    center = node.topology.center
    if parent is None or center is None or parent == center.code:
        return 0
    found = conn.execute(
        sa.select(report.c.id, outbox.c.filename, outbox.c.id.label("sent"))
        .join(outbox, outbox.c.id == report.c.changeset_id)
        .where(report.c.node_code == me, report.c.state == "submitted")
        .where(outbox.c.recipient != parent)
        .order_by(report.c.period, report.c.version)
    ).all()
    if not found:
        return 0
    signer = load_signer(node.home.keys)
    for row in found:
        path = node.spool.outbox / row.filename
        operations = list(changeset.iter_operations(path, expect_id=row.sent))
        written = enqueue(conn, node.spool, signer, parent, KIND, operations, clock)
        conn.execute(
            report.update()
            .where(report.c.id == row.id)
            .values(submitted_at=written.header.created, changeset_id=written.id)
        )
    return len(found)
