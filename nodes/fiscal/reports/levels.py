"""Reports level by level (逐级): a node with children sends its parent, beside its own
report (本级), the consolidation of its whole subtree (全辖), and sees the 全辖 of its
own region from what reached it.

A node's 全辖 for a period sums its own newest submitted version and, for each child,
the child's newest 全辖 when the child has children of its own, else the child's own
report: so the province's 全辖 is its own report, every city's consolidation and the
counties it manages directly, each counted once, without the province holding a single
county report of a city. What was summed is named (``members``: ``code:version:scope``),
and what was not there yet is listed as missing.

On the wire a 全辖 is a ``report`` change-set whose head says ``"scope": "all"`` and
names its ``members``; its lines are those of an own report. The receiver checks the
arithmetic, that it comes from a node with children, and that it is newer than the one
held; a later 全辖 (``report submit PERIOD --scope all``, after a child's correction)
supersedes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.reports.line_rows import insert_lines
from nodes.fiscal.reports.lines import (
    LEAF,
    ReportLine,
    add_amounts,
    build_lines,
    check_lines,
    check_storable,
)
from nodes.fiscal.reports.periods import Period
from nodes.fiscal.reports.versions import ReportVersion, line_of
from nodes.topology import Topology
from schema.engine import reading
from schema.locks import lock_scope
from schema.tables import region_report, region_report_line, report, report_line

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
    "build_region",
    "has_children",
    "level_sum",
    "newest_sent",
    "region_outdated",
    "sent_region",
    "store_region",
]

SENT = ("submitted", "received")


def has_children(topology: Topology, code: str) -> bool:
    """Whether ``code`` has reporting nodes below it (it sends a 全辖 report)."""
    return any(n.role != "center" for n in topology.children(code))


def newest_sent(conn: Connection, table: sa.Table, code: str, period: Period) -> Any:
    """The newest version of ``code``'s report (in ``table``) for ``period`` that was sent."""
    query = sa.select(table).where(table.c.node_code == code, table.c.period == period.label)
    if table is report:
        query = query.where(report.c.state.in_(SENT))
    return conn.execute(query.order_by(table.c.version.desc()).limit(1)).first()


def _lines(conn: Connection, table: sa.Table, report_id: int) -> list[ReportLine]:
    rows = conn.execute(sa.select(table).where(table.c.report_id == report_id))
    return [line_of(row) for row in rows]


def level_sum(
    conn: Connection, topology: Topology, me: str, period: Period
) -> tuple[list[ReportLine], list[ReportVersion], list[str]]:
    """This node's 全辖 from what is here: (lines, the versions summed, the nodes missing).
    ``sources`` name a child's consolidation with scope ``all``."""
    leaves: dict[tuple[str, str], list[int]] = {}
    sources: list[ReportVersion] = []
    missing: list[str] = []
    members = [(me, report)] + [
        (c.code, region_report if has_children(topology, c.code) else report)
        for c in topology.children(me)
        if c.role != "center"
    ]
    for code, table in members:
        row = newest_sent(conn, table, code, period)
        if row is None:
            missing.append(code)
            continue
        sources.append(
            ReportVersion.from_row(row, scope="all" if table is region_report else "own")
        )
        for line in _lines(
            conn, region_report_line if table is region_report else report_line, row.id
        ):
            if line.level == LEAF:
                add_amounts(leaves, (line.section, line.code), line.amounts)
    return build_lines(leaves), sources, missing


def sent_region(conn: Connection, code: str, period: Period) -> list[ReportLine]:
    """The lines of the newest 全辖 ``code`` sent up for ``period`` (none: no lines)."""
    row = newest_sent(conn, region_report, code, period)
    return [] if row is None else _lines(conn, region_report_line, row.id)


def members_text(sources: Iterable[ReportVersion]) -> str:
    return " ".join(f"{s.node}:{s.version}:{s.scope}" for s in sources)


def store_region(
    conn: Connection,
    header: Mapping[str, Any],
    lines: Sequence[ReportLine],
) -> int:
    """Insert a 全辖 report and its lines; return its id."""
    key = conn.execute(region_report.insert().values(**header)).inserted_primary_key
    assert key is not None
    insert_lines(conn, region_report_line, int(key[0]), lines)
    return int(key[0])


def next_region_version(conn: Connection, code: str, period: Period) -> int:
    """The next version of ``code``'s 全辖 for ``period``, with the period locked."""
    lock_scope(conn, "region_report", f"{code}/{period.label}")
    held = conn.execute(
        sa.select(sa.func.max(region_report.c.version)).where(
            region_report.c.node_code == code, region_report.c.period == period.label
        )
    ).scalar_one_or_none()
    return 1 if held is None else int(held) + 1


def build_region(
    conn: Connection, node: Node, period: Period, actor: str, now: datetime
) -> tuple[dict[str, Any], list[ReportLine]]:
    """The header and lines of this node's next 全辖, stored as ``submitted``."""
    me = node.spec.code
    lines, sources, _missing = level_sum(conn, node.topology, me, period)
    check_lines(lines, negative_entries=True, kind=period.kind)
    check_storable(lines, "region_line_too_large_hint")
    header = {
        "node_code": me,
        **period.columns(),
        "version": next_region_version(conn, me, period),
        "state": "submitted",
        "members": members_text(sources),
        "generated_at": now,
        "generated_by": actor,
    }
    return header, lines


def region_outdated(node: Node, period: Period | str) -> bool:
    """Whether this node would send a different 全辖 for ``period`` than the last one it
    sent: its own report is submitted, and what it would sum differs from what it summed
    (a child's report, or a newer version of one, arrived since). False for a node that
    sends none."""
    period = Period.of(period)
    me = node.spec.code
    if node.spec.parent is None or not has_children(node.topology, me):
        return False
    with reading(node.engine) as conn:
        _lines_, sources, _missing = level_sum(conn, node.topology, me, period)
        if not any(s.node == me for s in sources):
            return False
        last = conn.execute(
            sa.select(region_report.c.members)
            .where(region_report.c.node_code == me, region_report.c.period == period.label)
            .order_by(region_report.c.version.desc())
            .limit(1)
        ).scalar_one_or_none()
    return last != members_text(sources)
