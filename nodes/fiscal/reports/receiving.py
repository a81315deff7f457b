"""Taking a report that arrives: checked again, refused (negative receipt) when it does
not hold, kept as ``received`` with this node's own time of taking it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.reports.generating import Where, fitting, placed, store
from nodes.fiscal.reports.levels import has_children, store_region
from nodes.fiscal.reports.line_rows import LINE_COLUMNS, line_values
from nodes.fiscal.reports.lines import ReportLine, check_lines
from nodes.fiscal.reports.periods import Period
from nodes.labels import named, said
from nodes.topology import Topology
from schema.limits import misfit_many
from schema.tables import region_report, report, report_line
from schema.types import parse_utc
from sync.changeset import Verified
from sync.errors import InputError

if TYPE_CHECKING:
    pass


def _field(op: Mapping[str, Any], key: str, kind: type, where: Where) -> Any:
    value = op.get(key)
    if type(value) is not kind:
        raise InputError(
            said(
                "rep_field_kind",
                where=placed(where),
                key=key,
                kind=named("field_type", kind.__name__),
                value=value,
            )
        )
    return value


def _received_time(text: str, where: Where) -> datetime:
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise InputError(
            said("rep_time_bad", where=placed(where), text=text, error=str(exc))
        ) from exc


def _month(op: Mapping[str, Any], period: Period, where: Where) -> int:
    """The month to date of a line; a report from a fiscalsync that did not send it has
    its period there when that is the month to date (a month, its first ten days)."""
    if "month" in op or period.part > 1:
        return int(_field(op, "month", int, where))
    return int(_field(op, "period", int, where))


def _refuse_stale(
    conn: Connection, table: sa.Table, node: str, period: Period, version: int, what: str
) -> None:
    """Refuse a version no newer than the one of ``table`` held here."""
    held = conn.execute(
        sa.select(sa.func.max(table.c.version)).where(
            table.c.node_code == node, table.c.period == period.label
        )
    ).scalar_one_or_none()
    if held is not None and version <= held:
        raise InputError(
            said(
                "rep_not_newer",
                version=version,
                period=str(period),
                what=said(what),
                node=node,
                held=held,
            )
        )


def _keep_region(
    conn: Connection,
    verified: Verified,
    topology: Topology,
    head: Mapping[str, Any],
    period: Period,
    lines: list[ReportLine],
    taken_at: datetime,
) -> None:
    """Keep a consolidated report (全辖) sent level by level, after its own checks."""
    where = said("rep_report_op")
    node = str(head["node"])
    if not has_children(topology, node):
        raise InputError(said("rep_no_children", node=node))
    members = _field(head, "members", str, where)
    for member in members.split():
        code, _, rest = member.partition(":")
        version, _, scope = rest.partition(":")
        ok = (code == node or topology.is_ancestor(node, code)) and version.isdigit()
        if not ok or scope not in ("own", "all"):
            raise InputError(said("rep_member_bad", where=where, member=member, node=node))
    version = int(head["version"])
    _refuse_stale(conn, region_report, node, period, version, "rep_consolidated")
    store_region(
        conn,
        fitting(
            region_report,
            where,
            {
                "node_code": node,
                **period.columns(),
                "version": version,
                "state": "received",
                "members": members,
                "generated_at": _received_time(str(head["generated_at"]), where),
                "generated_by": str(head["generated_by"]),
                "submitted_at": verified.header.created,
                "changeset_id": verified.id,
                "received_at": taken_at,
            },
        ),
        lines,
    )


def apply_received(
    conn: Connection, verified: Verified, topology: Topology, *, taken_at: datetime
) -> None:
    """Keep a report that arrived in a ``report`` change-set, after checking it whole.

    ``taken_at`` is this node's clock now: the report's receive time, by which it is
    judged on time or late here (the sender's ``created`` is kept as ``submitted_at``,
    for the record only). Every field is checked against the table's declaration, so a
    value PostgreSQL would refuse is refused the same way on SQLite. Runs in the
    channel's transaction; :class:`InputError` refuses the change-set.
    """
    origin = verified.header.origin
    operations = verified.operations()
    head = next(operations, None)
    if head is None or head.get("op") != "report":
        raise InputError(said("rep_no_head"))
    where = said("rep_report_op")
    node = _field(head, "node", str, where)
    if node not in topology or topology.node(node).role == "center":
        raise InputError(said("rep_not_reporting", node=node))
    if node != origin:
        raise InputError(said("rep_not_own", node=node, origin=origin))
    period = Period.parse(_field(head, "period", str, where))
    if _field(head, "kind", str, where) != period.kind or head.get("year") != period.year:
        raise InputError(said("rep_period_mismatch", where=where, period=str(period)))
    version = _field(head, "version", int, where)
    if version < 1:
        raise InputError(said("rep_version_bad", where=where, version=version))
    generated_at = _received_time(_field(head, "generated_at", str, where), where)
    generated_by = _field(head, "generated_by", str, where)
    negative = _field(head, "negative_entries", bool, where)
    count = _field(head, "lines", int, where)
    lines = []
    for number, op in enumerate(operations, start=1):
        at = partial(said, "rep_line_op", number=number)  # said only when refused
        if op.get("op") != "line":
            raise InputError(said("rep_not_line", where=at(), op=op.get("op")))
        lines.append(
            ReportLine(
                section=_field(op, "section", str, at),
                level=_field(op, "level", int, at),
                code=_field(op, "code", str, at),
                budget_fen=_field(op, "budget", int, at),
                period_fen=_field(op, "period", int, at),
                ytd_fen=_field(op, "ytd", int, at),
                month_fen=_month(op, period, at),
                last_year_fen=_field(op, "last_year", int, at) if "last_year" in op else 0,
            )
        )
    if len(lines) != count:
        raise InputError(said("rep_line_count", count=count, carried=len(lines)))
    check_lines(lines, negative_entries=negative, kind=period.kind)
    misfit = misfit_many(report_line, LINE_COLUMNS, [line_values(line) for line in lines])
    if misfit is not None:
        index, problem = misfit
        raise InputError(said("row_misfit", where=lines[index].describe(), problem=problem))
    scope = head.get("scope", "own")
    if scope == "all":
        _keep_region(conn, verified, topology, head, period, lines, taken_at)
        return
    if scope != "own":
        raise InputError(said("rep_scope_bad", where=where, scope=scope))
    _refuse_stale(conn, report, node, period, version, "rep_own")
    store(
        conn,
        fitting(
            report,
            where,
            {
                "node_code": node,
                **period.columns(),
                "version": version,
                "state": "received",
                "negative_entries": negative,
                "generated_at": generated_at,
                "generated_by": generated_by,
                "submitted_at": verified.header.created,
                "changeset_id": verified.id,
                "received_at": taken_at,
            },
        ),
        lines,
    )
