"""Reports sent up, as the sender and as its parent (or the center) hold them: for each
period the newest version and the hash of its lines (under the network's suite: SHA-256,
or SM3 in an SM2 network), compared by a reconciliation of the ``report`` dataset
(报表对账)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.reconcile.findings import Finding
from nodes.identity import network_suite
from nodes.topology import Topology
from schema.channels import outbox
from schema.tables import region_report, region_report_line, report, report_line
from sync.changeset.codec import encode_line
from sync.signing import SignatureSuite

__all__ = ["CITY_WIDE", "PROVINCE_WIDE", "REGION", "compare", "held", "in_flight", "region_wide"]


REGION = "全辖"
"""The mark of a consolidated (全辖) report's period among those compared: 2026-10 全辖."""
PROVINCE_WIDE = "全省"
"""The mark of the province's 全辖 against the center's 全省汇总: 2026-10 全省."""
CITY_WIDE = "市级"
"""The mark of a city's 全辖 against the center's 市级汇总 of it: 2026-10 市级."""


_LINES = {
    lines_of.name: sa.select(lines_of).where(lines_of.c.report_id == sa.bindparam("report"))
    for lines_of in (report_line, region_report_line)
}
_VERSIONS = {
    table.name: sa.select(table.c.id, table.c.period, table.c.version)
    .where(table.c.node_code == sa.bindparam("sender"), table.c.state == sa.bindparam("state"))
    .order_by(table.c.period, table.c.version)
    for table in (report, region_report)
}
"""The queries of :func:`held`, by table, built once (every reconciliation of reports
runs them, at both ends)."""


def _hash(
    conn: Connection, report_id: int, suite: SignatureSuite, lines_of: sa.Table = report_line
) -> str:
    lines = sorted(
        [
            r.section,
            r.level,
            r.code,
            int(r.budget_fen),
            int(r.period_fen),
            int(r.ytd_fen),
            int(r.month_fen),
            int(r.last_year_fen),
        ]
        for r in conn.execute(_LINES[lines_of.name], {"report": report_id})
    )
    return suite.digest(encode_line(lines))


def held(conn: Connection, sender: str, *, own: bool, region: bool = False) -> dict[str, list[Any]]:
    """Period → [version, hash of lines] of the newest version of ``sender``'s report held
    here: submitted ones when it is this node's own (``own``), received ones otherwise;
    with ``region`` (between a node and its parent, which its 全辖 goes to) also its
    consolidated reports, as ``PERIOD 全辖``."""
    state = "submitted" if own else "received"
    suite = network_suite(conn)
    found: dict[str, list[Any]] = {}
    for table, lines_of, mark in (
        (report, report_line, ""),
        *([(region_report, region_report_line, f" {REGION}")] if region else []),
    ):
        rows = conn.execute(_VERSIONS[table.name], {"sender": sender, "state": state}).all()
        newest = {row.period: row for row in rows}
        for period, row in newest.items():
            found[period + mark] = [row.version, _hash(conn, row.id, suite, lines_of)]
    return found


def region_wide(
    conn: Connection, topology: Topology, code: str, *, at_center: bool
) -> dict[str, list[Any]]:
    """``PERIOD 全省`` (the province) or ``PERIOD 市级`` (a node with a parent and nodes
    below it: a city) → ["all", hash of its leaf lines] for every period of ``code``'s own
    reports held here; empty for any other node. At the node its 全辖: the province's
    level by level from what reached it (its own report, each city's 全辖, the counties
    it manages), a city's as it last sent it up. At the center the consolidation of that
    region (全省汇总, 市级汇总) as those 全辖 would sum it (:func:`reached_lines`). Equal
    when every 全辖 in the region is up to date and both hold the same reports."""
    # the reports package imports appropriations, which import this one's package
    from nodes.fiscal.reports.consolidation import reached_lines
    from nodes.fiscal.reports.levels import has_children, level_sum, sent_region
    from nodes.fiscal.reports.lines import LEAF
    from nodes.fiscal.reports.periods import Period

    spec = topology.node(code)
    if spec.role == "province":
        mark = PROVINCE_WIDE
    elif spec.parent is not None and has_children(topology, code):
        mark = CITY_WIDE
    else:
        return {}
    state = "received" if at_center else "submitted"
    periods = sorted(
        set(
            conn.execute(
                sa.select(report.c.period).where(
                    report.c.node_code == code, report.c.state == state
                )
            ).scalars()
        )
    )
    suite = network_suite(conn)
    found: dict[str, list[Any]] = {}
    for label in periods:
        period = Period.of(label)
        if at_center:
            lines = reached_lines(conn, topology, code, period)
        elif mark == PROVINCE_WIDE:
            lines, _sources, _missing = level_sum(conn, topology, code, period)
        else:
            lines = sent_region(conn, code, period)
        leaves = sorted([x.section, x.code, *x.amounts] for x in lines if x.level == LEAF)
        found[f"{label} {mark}"] = ["all", suite.digest(encode_line(leaves))]
    return found


def in_flight(conn: Connection, peer: str) -> int:
    """How many report change-sets this node sent ``peer`` still wait for their receipt."""
    return int(conn.execute(_IN_FLIGHT, {"peer": peer}).scalar_one())


_IN_FLIGHT = sa.select(sa.func.count()).where(
    outbox.c.recipient == sa.bindparam("peer"),
    outbox.c.kind == "report",
    outbox.c.acked_at.is_(None),
)


_WIDE = {
    PROVINCE_WIDE: (
        "the province's 全辖 of {period} is not the center's 全省汇总 of it: a 全辖 below is "
        "out of date (report submit PERIOD --scope all), or one side lacks a report",
        "province_wide",
    ),
    CITY_WIDE: (
        "the 全辖 of {period} this node sent up is not the center's 市级汇总 of it: send it "
        "again (report submit PERIOD --scope all), or one side lacks a report",
        "city_wide",
    ),
}
"""A region's mark → the detail of its mismatch, and its words' key (f.KEY)."""


def compare(
    ours: Mapping[str, list[Any]], theirs: Mapping[str, list[Any]], peer: str
) -> list[Finding]:
    """Every period the receiver holds another version (or none, or other lines) than the
    sender's newest submitted one."""
    found = []
    for period in sorted(set(ours) | set(theirs)):
        mine, other = ours.get(period), theirs.get(period)
        if mine == other:
            continue
        label, _, mark = period.partition(" ")
        if mark in _WIDE:
            message, key = _WIDE[mark]
            found.append(
                Finding(
                    "report_mismatch",
                    period,
                    message.format(period=label),
                    ours=mine,
                    theirs=other,
                    params={"m": key, "period": label},
                )
            )
            continue
        if other is None:
            detail = f"version {mine[0] if mine else '?'} was submitted; {peer} holds none"
            params = {"m": "report_unheld", "mine": mine[0] if mine else "?", "peer": peer}
        elif mine is None:
            detail = f"{peer} holds version {other[0]}, which this node never submitted"
            params = {"m": "report_unsent", "theirs": other[0], "peer": peer}
        elif mine[0] != other[0]:
            detail = f"version {mine[0]} submitted; {peer} holds version {other[0]}: submit again"
            params = {"m": "report_version", "mine": mine[0], "theirs": other[0], "peer": peer}
        else:
            detail = f"version {mine[0]}: {peer} holds other lines than were submitted"
            params = {"m": "report_lines", "mine": mine[0], "peer": peer}
        found.append(
            Finding(
                "report_mismatch",
                period,
                detail,
                field="version" if mine and other and mine[0] != other[0] else None,
                ours=mine,
                theirs=other,
                params=params,
            )
        )
    return found
