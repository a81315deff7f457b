"""What the fiscal domain shows on the data wall (金财数据墙), from the serving node's
own database, registered as :data:`nodes.capabilities.WALL_FIGURES` and
:data:`~nodes.capabilities.WALL_TOTALS`.

Per node: the money in its channel lag (appropriation events sent to it and not yet
acknowledged), its report submission for the last two monthly periods that are over
(on time / late / sent / missing, by this node's deadlines, as ``report show``'s
submitters judge them; only for the nodes whose reports this node receives), and the
newest reconciliation of its edge with this node (state, discrepancies, in transit).

Totals, per level (province, city, county) and per function class (功能分类 类, the
first three digits): issued (下达) by the nodes of a level, received by them, broken
down (分解) by them from what they received, as far as appropriations are held here
(counted as :func:`~nodes.fiscal.appropriations.balances.counted` counts them), and
spent: the year to date of the newest report held of each node for the last month
that is over, plus this node's own ledger where it has no report yet (its entries of the
year up to that month's end, what its report would say). A report's spending per 类 is
the sum of its leaves under that 类: every leaf once, a leaf booked at the 类 code
itself (``205``, with nothing under it, has no 类 subtotal) as well, so the classes add
up to the report's expenditure total.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.appropriations.balances import counted, issued_events
from nodes.fiscal.reconcile import statement
from nodes.fiscal.reports.consolidation import SENT, held_here
from nodes.fiscal.reports.lines import LEAF
from nodes.fiscal.reports.periods import Period
from nodes.fiscal.reports.submitters import submitters
from nodes.settings import LOCAL_TIME
from schema.channels import outbox
from schema.engine import reading
from schema.sums import total
from schema.tables import appropriation, appropriation_event, ledger_entry, report, report_line
from schema.types import format_utc

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["node_figures", "totals"]

LEVELS = ("province", "city", "county")


def _periods(now: datetime) -> tuple[Period, Period]:
    current = Period.last_ended("monthly", now.astimezone(LOCAL_TIME).date())
    before = Period.last_ended("monthly", current.start)
    return current, before


def node_figures(node: Node, now: datetime) -> dict[str, dict[str, Any]]:
    """Node code → the fiscal fields of its row on the wall."""
    found: dict[str, dict[str, Any]] = {}
    with reading(node.engine) as conn:
        in_lag = conn.execute(
            sa.select(outbox.c.recipient, total(appropriation_event.c.amount_fen))
            .select_from(
                appropriation_event.join(outbox, outbox.c.id == appropriation_event.c.changeset_id)
            )
            .where(outbox.c.acked_at.is_(None))
            .group_by(outbox.c.recipient)
        ).all()
    for code, fen in in_lag:
        found.setdefault(code, {})["lag"] = {"amount_fen": int(fen)}
    current, before = _periods(now)
    for key, period in (("current", current), ("last", before)):
        for who in submitters(node, period, now):
            entry = found.setdefault(who.code, {}).setdefault("reports", {})
            entry[key] = {"period": period.label, **who.as_dict()}
    me = node.spec.code
    newest: dict[str, Any] = {}
    for session in statement.sessions(node):  # newest first
        other = session.recipient if session.origin == me else session.origin
        newest.setdefault(other, session)
    for other, session in newest.items():
        found.setdefault(other, {})["reconcile"] = {
            "id": session.id,
            "dataset": session.dataset,
            "state": session.state,
            "agree": session.agree,
            "discrepancies": session.discrepancies,
            "in_transit": session.in_transit,
            "at": format_utc(session.concluded_at or session.updated_at),
        }
    return found


def _reported_spending(conn: Connection, node: Node, period: Period) -> dict[str, dict[str, int]]:
    """Node code → 类 → the year to date spent, from the newest report held here of each
    node for ``period``; a node with no such report is absent.

    The leaves are summed, not the 类 subtotals: a leaf booked at a 类 code with nothing
    under it has no subtotal above it, and a subtotal beside its leaves would count them
    twice."""
    newest = (
        sa.select(report.c.node_code, sa.func.max(report.c.version).label("version"))
        .where(
            report.c.period == period.label,
            report.c.state.in_(SENT),
            report.c.node_code.in_(held_here(node)),
        )
        .group_by(report.c.node_code)
        .subquery()
    )
    spent: dict[str, dict[str, int]] = {
        code: {} for code in conn.execute(sa.select(newest.c.node_code)).scalars()
    }
    klass = sa.func.substr(report_line.c.code, 1, 3)
    rows = conn.execute(
        sa.select(report.c.node_code, klass, total(report_line.c.ytd_fen))
        .select_from(
            report.join(
                newest,
                (report.c.node_code == newest.c.node_code) & (report.c.version == newest.c.version),
            ).join(report_line)
        )
        .where(
            report.c.period == period.label,
            report_line.c.section == "expenditure",
            report_line.c.level == LEAF,
        )
        .group_by(report.c.node_code, klass)
    ).all()
    for code, klass_code, fen in rows:
        spent[code][klass_code] = int(fen)
    return spent


def _ledger_spending(conn: Connection, period: Period) -> dict[str, int]:
    """类 → the year to date spent by this node's ledger up to the end of ``period``: what
    its report for ``period`` would say."""
    day = ledger_entry.c.entry_date
    klass = sa.func.substr(ledger_entry.c.func_code, 1, 3)
    rows = conn.execute(
        sa.select(klass, total(ledger_entry.c.amount_fen))
        .where(
            ledger_entry.c.direction == "expenditure",
            day >= period.year_start,
            day < period.end,
        )
        .group_by(klass)
    ).all()
    return {klass_code: int(fen) for klass_code, fen in rows}


def totals(node: Node, now: datetime) -> dict[str, Any]:
    """Money totals (fen) per level and per function class, as held at this node."""
    role = {spec.code: spec.role for spec in node.topology}
    period, _ = _periods(now)
    figures: dict[str, dict[str, dict[str, int]]] = {
        what: {} for what in ("issued", "received", "broken_down", "spent")
    }

    def add(what: str, level: str, klass: str, fen: int) -> None:
        if level not in LEVELS or not fen:
            return
        by_class = figures[what].setdefault(level, {})
        by_class[klass] = by_class.get(klass, 0) + int(fen)

    klass = sa.func.substr(appropriation.c.func_code, 1, 3)
    with reading(node.engine) as conn:
        rows = conn.execute(
            sa.select(
                appropriation.c.issuer,
                appropriation.c.recipient,
                appropriation.c.parent_id.is_not(None).label("breakdown"),
                klass.label("klass"),
                total(appropriation_event.c.amount_fen).label("fen"),
            )
            .select_from(issued_events())
            .where(counted())
            .group_by(
                appropriation.c.issuer,
                appropriation.c.recipient,
                appropriation.c.parent_id.is_not(None),
                klass,
            )
        ).all()
        spent = _reported_spending(conn, node, period)
        if node.spec.code not in spent:
            spent[node.spec.code] = _ledger_spending(conn, period)
    for row in rows:
        add("issued", role.get(row.issuer, ""), row.klass, row.fen)
        add("received", role.get(row.recipient, ""), row.klass, row.fen)
        if row.breakdown:
            add("broken_down", role.get(row.issuer, ""), row.klass, row.fen)
    for code, by_class in spent.items():
        for klass_code, fen in by_class.items():
            add("spent", role.get(code, ""), klass_code, fen)
    return {"money": {"period": period.label, "unit": "fen", **figures}}
