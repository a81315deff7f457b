"""Viewing reports and consolidating a region (汇总): one node's, a city's counties
(市级汇总), the whole province (全省汇总); submitted versions only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.reports.levels import has_children, level_sum
from nodes.fiscal.reports.lines import CODESET, LEAF, ReportLine, add_amounts, build_lines
from nodes.fiscal.reports.periods import Period
from nodes.fiscal.reports.versions import SCOPES, ReportVersion, ReportView, line_of, stored_lines
from nodes.labels import said
from nodes.topology import NodeSpec, Topology
from schema.engine import reading
from schema.tables import code_item, region_report, region_report_line, report
from sync.errors import InputError

if TYPE_CHECKING:
    from nodes.node import Node


def _reporting(topology: Topology) -> list[NodeSpec]:
    return [n for n in topology if n.role != "center"]


def subtree(topology: Topology, code: str) -> list[str]:
    """``code`` and every reporting node below it, in topology order."""
    return [
        n.code for n in _reporting(topology) if n.code == code or topology.is_ancestor(code, n.code)
    ]


def held_here(node: Node) -> list[str]:
    """The nodes whose reports this node holds: all at the center; else itself and its
    children (the reports sent to it)."""
    if node.spec.role == "center":
        return [n.code for n in _reporting(node.topology)]
    me = node.spec.code
    return [n.code for n in _reporting(node.topology) if n.code == me or n.parent == me]


def region_of(node: Node, region: str | None) -> str:
    if region is None:
        return node.topology.province.code if node.spec.role == "center" else node.spec.code
    if region not in node.topology or node.topology.node(region).role == "center":
        raise InputError(
            said("region_not_reporting", region=region, name=node.topology.name),
            hint=said("region_not_reporting_hint"),
        )
    return region


def check_held(node: Node, codes: Iterable[str]) -> None:
    held = set(held_here(node))
    others = [c for c in codes if c not in held]
    if others:
        raise InputError(
            said("reports_not_received", code=node.spec.code, names=", ".join(others)),
            hint=said("reports_not_received_hint"),
        )


SENT = ("submitted", "received")
"""States of a version that went up the tree: this node's submitted ones, others' received."""


def _current(
    conn: Connection, codes: list[str], period: Period, *, sent_only: bool = False
) -> dict[str, Any]:
    """The current (newest) version held of each node's report, by node code; with
    ``sent_only`` the newest that was submitted (a newer draft is left out)."""
    where = [report.c.period == period.label, report.c.node_code.in_(codes)]
    if sent_only:
        where.append(report.c.state.in_(SENT))
    newest = (
        sa.select(report.c.node_code, sa.func.max(report.c.version).label("version"))
        .where(*where)
        .group_by(report.c.node_code)
        .subquery()
    )
    rows = conn.execute(
        sa.select(report)
        .join(
            newest,
            (report.c.node_code == newest.c.node_code) & (report.c.version == newest.c.version),
        )
        .where(report.c.period == period.label)
    ).all()
    return {row.node_code: row for row in rows}


def _names(
    conn: Connection, year: int, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Code names from the code sets of ``year``; a code without one is shown alone."""
    wanted = {key for key in keys if key[1]}
    names = {}
    for section, codeset in CODESET.items():
        codes = sorted(code for s, code in wanted if s == section)
        if not codes:
            continue
        rows = conn.execute(
            sa.select(code_item.c.code, code_item.c.name).where(
                code_item.c.codeset == codeset,
                code_item.c.year == year,
                code_item.c.code.in_(codes),
            )
        )
        names.update({(section, code): name for code, name in rows})
    return names


def view(
    node: Node,
    period: Period | str,
    *,
    region: str | None = None,
    scope: str = "own",
) -> ReportView:
    """One node's current report (``own``) or its region's consolidation (``all``).

    ``region`` defaults to this node (at the center: the province). Subtotals and totals
    are recomputed from the leaves of the current version of every report summed. A
    consolidation (全辖) sums only versions that went up the tree (submitted or
    received), never this node's unsubmitted draft, so that a city's 全辖 is the
    center's 市级汇总 of it; ``own`` shows the newest version, draft or not. Away from
    the center, ``all`` is level by level (逐级, :mod:`.levels`): this node's region from
    its own report and what its children sent (a city's own consolidation), or a child's
    as the child sent it.
    Raises :class:`InputError` when this node does not receive the reports asked for,
    or holds no report for ``own``.
    """
    period = Period.of(period)
    if scope not in SCOPES:
        raise InputError(said("scope_unknown", scope=scope), hint=said("scope_unknown_hint"))
    code = region_of(node, region)
    if scope == "all" and node.spec.role != "center":
        return _level_view(node, period, code)
    members = [code] if scope == "own" else subtree(node.topology, code)
    check_held(node, members)
    with reading(node.engine) as conn:
        current = _current(conn, members, period, sent_only=scope == "all")
        if scope == "own" and not current:
            raise InputError(
                said("no_report", period=period, code=code),
                hint=said("no_report_generate_hint", period=period)
                if code == node.spec.code
                else said("no_consolidated_report_hint"),
            )
        leaves: dict[tuple[str, str], list[int]] = {}
        ids = [row.id for row in current.values()]
        for row in stored_lines(conn, ids):
            if row.level == LEAF:
                add_amounts(leaves, (row.section, row.code), line_of(row).amounts)
        lines = _named(conn, period, build_lines(leaves))
    return ReportView(
        period=period,
        region=code,
        region_name=node.topology.node(code).name,
        scope=scope,
        lines=lines,
        sources=[ReportVersion.from_row(current[c]) for c in members if c in current],
        missing=[c for c in members if c not in current],
    )


def reached_lines(
    conn: Connection, topology: Topology, code: str, period: Period
) -> list[ReportLine]:
    """At the center: ``code``'s region as its 全辖 sums it level by level (逐级) when every
    全辖 below it is up to date: a node counts, with what is below it, only once it has
    reported itself, since its 全辖 goes up with its own report; so a city that has not
    reported yet leaves its counties out, as the province's 全辖 does. The consolidation
    (市级汇总, 全省汇总) a node's 全辖 is reconciled with."""
    current = _current(conn, subtree(topology, code), period, sent_only=True)

    def reached(member: str) -> bool:
        chain = [member, *topology.ancestors(member)]
        return all(c in current for c in chain[: chain.index(code) + 1])

    leaves: dict[tuple[str, str], list[int]] = {}
    for row in stored_lines(conn, [row.id for c, row in current.items() if reached(c)]):
        if row.level == LEAF:
            add_amounts(leaves, (row.section, row.code), line_of(row).amounts)
    return build_lines(leaves)


def _named(conn: Connection, period: Period, lines: list[ReportLine]) -> list[ReportLine]:
    names = _names(conn, period.year, ((x.section, x.code) for x in lines))
    return [replace(x, name=names.get((x.section, x.code))) for x in lines]


def _level_view(node: Node, period: Period, code: str) -> ReportView:
    """全辖 level by level (逐级), away from the center: this node's own consolidation
    from its own report and what its children sent; a child's, as the child sent it."""
    topology = node.topology
    me = node.spec.code
    if code != me and topology.node(code).parent != me:
        raise InputError(
            said("consolidation_not_seen", me=me, code=code),
            hint=said("consolidation_not_seen_hint"),
        )
    with reading(node.engine) as conn:
        if code != me and has_children(topology, code):
            row = conn.execute(
                sa.select(region_report)
                .where(region_report.c.node_code == code, region_report.c.period == period.label)
                .order_by(region_report.c.version.desc())
                .limit(1)
            ).first()
            if row is None:
                raise InputError(
                    said("no_consolidated_report", period=period, code=code),
                    hint=said("no_consolidated_report_hint"),
                )
            lines = [
                line_of(x)
                for x in conn.execute(
                    sa.select(region_report_line).where(region_report_line.c.report_id == row.id)
                )
            ]
            lines = build_lines(
                {(x.section, x.code): list(x.amounts) for x in lines if x.level == LEAF}
            )
            sources = [ReportVersion.from_row(row, scope="all")]
            summed = {member.split(":")[0] for member in row.members.split()}
            expected = [code] + [c.code for c in topology.children(code) if c.role != "center"]
            missing = [c for c in expected if c not in summed]
        else:
            lines, sources, missing = level_sum(conn, topology, code, period)
        lines = _named(conn, period, lines)
    return ReportView(
        period=period,
        region=code,
        region_name=topology.node(code).name,
        scope="all",
        lines=lines,
        sources=sources,
        missing=missing,
    )


def versions(node: Node, period: Period | str, code: str | None = None) -> list[ReportVersion]:
    """Every version held of one node's report for ``period`` (default: this node's),
    oldest first: the history that corrections leave."""
    period = Period.of(period)
    code = code or node.spec.code
    with reading(node.engine) as conn:
        rows = conn.execute(
            sa.select(report)
            .where(report.c.node_code == code, report.c.period == period.label)
            .order_by(report.c.version)
        ).all()
    return [ReportVersion.from_row(row) for row in rows]
