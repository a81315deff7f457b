"""Taking back this node's own report submissions after it was restored from a backup
that predates them (the rejoin returns them, byte for byte, from their receivers)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.reports.generating import store
from nodes.fiscal.reports.levels import store_region
from nodes.fiscal.reports.lines import ReportLine
from nodes.fiscal.reports.periods import Period
from schema.tables import region_report, report
from schema.types import parse_utc
from sync.changeset import Verified

__all__ = ["adopt_submitted"]


def adopt_submitted(conn: Connection, verified: Verified, first_receiver: str) -> None:
    """Take back this node's own submission, returned after the node was restored from a
    backup that predates it: the version is stored (or its draft marked) as submitted,
    by the change-set to its first receiver."""
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
    key = (
        (report.c.node_code == node)
        & (report.c.period == period.label)
        & (report.c.version == head["version"])
    )
    row = conn.execute(sa.select(report).where(key)).first()
    if row is None:
        store(
            conn,
            {
                "node_code": node,
                **period.columns(),
                "version": head["version"],
                "state": "draft",
                "negative_entries": bool(head["negative_entries"]),
                "generated_at": parse_utc(str(head["generated_at"])),
                "generated_by": head["generated_by"],
            },
            lines,
        )
    if verified.header.recipient == first_receiver:
        conn.execute(
            report.update()
            .where(key)
            .values(
                state="submitted",
                submitted_at=verified.header.created,
                changeset_id=verified.id,
            )
        )
