"""Generating this node's report for a period from its ledger and the budget it holds
(a draft, or a correction after a submission)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal import appropriations
from nodes.fiscal.budget import own_budget
from nodes.fiscal.reports.consolidation import view
from nodes.fiscal.reports.line_rows import insert_lines
from nodes.fiscal.reports.lines import (
    LEAF_DIGITS,
    ReportLine,
    build_lines,
    check_lines,
    check_storable,
    zero,
)
from nodes.fiscal.reports.periods import Period, local_today
from nodes.fiscal.reports.versions import ReportView
from nodes.labels import said
from schema.limits import misfit
from schema.locks import lock_scope
from schema.sums import total
from schema.tables import ledger_entry, report, report_line
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError

if TYPE_CHECKING:
    from nodes.node import Node


def refuse_center(node: Node, what: str) -> None:
    if node.spec.role == "center":
        raise InputError(
            said("central_no_reports", code=node.spec.code, what=what),
            hint=said("budget_central_hint"),
        )


def _ledger_leaves(
    conn: Connection, period: Period
) -> tuple[dict[tuple[str, str], list[int]], bool]:
    """(section, code) -> amounts (budget 0, period, month, year to date, last year) from
    this node's ledger, and whether any entry that went into this year's figures is
    negative."""
    day = ledger_entry.c.entry_date
    amount = ledger_entry.c.amount_fen
    this_year = day >= period.year_start

    def between(condition: Any) -> Any:
        return total(sa.case((condition, amount), else_=0))

    rows = conn.execute(
        sa.select(
            ledger_entry.c.direction,
            ledger_entry.c.func_code,
            between(day >= period.start),
            between(day >= period.month_start),
            between(this_year),
            between(day < period.last_year_end),
            sa.func.min(sa.case((this_year, amount), else_=None)),
        )
        .where(
            ((day >= period.last_year_start) & (day < period.last_year_end))
            | (this_year & (day < period.end))
        )
        .group_by(ledger_entry.c.direction, ledger_entry.c.func_code)
    ).all()
    leaves: dict[tuple[str, str], list[int]] = {}
    negative = False
    for direction, code, in_period, in_month, ytd, last_year, smallest in rows:
        if not (code.isascii() and code.isdigit() and len(code) in LEAF_DIGITS):
            raise InputError(
                said("ledger_code_unreportable", direction=direction, code=code),
                hint=said("ledger_code_unreportable_hint"),
            )
        leaves[(direction, code)] = [0, in_period, in_month, ytd, last_year]
        negative = negative or (smallest is not None and int(smallest) < 0)
    return leaves, negative


def _compute(conn: Connection, me: str, period: Period) -> tuple[list[ReportLine], bool]:
    leaves, negative = _ledger_leaves(conn, period)
    budgets = own_budget(conn, period.year)
    for code, fen in appropriations.budget_by_func(conn, me, period.year).items():
        budgets[("expenditure", code)] = budgets.get(("expenditure", code), 0) + fen
    for key, budget in budgets.items():
        if budget != 0:
            leaves.setdefault(key, zero())[0] = budget
    lines = build_lines(leaves)
    check_lines(lines, negative_entries=negative, kind=period.kind)
    check_storable(lines, "report_line_too_large_hint")
    return lines, negative


def latest_own(conn: Connection, me: str, period: Period) -> Any:
    """This node's newest version for ``period``, with the period's versions locked against
    a concurrent writer (the first version too: the lock is the period's counter row)."""
    lock_scope(conn, "report", f"{me}/{period.label}")
    query = (
        sa.select(report)
        .where(report.c.node_code == me, report.c.period == period.label)
        .order_by(report.c.version.desc())
        .limit(1)
    )
    return conn.execute(query).one_or_none()


@contextmanager
def writing(node: Node) -> Iterator[Connection]:
    """A write transaction; two writers racing for the same new version meet here."""
    try:
        with node.engine.begin() as conn:
            yield conn
    except sa.exc.IntegrityError as exc:
        raise InputError(
            said("report_raced"),
            hint=said("report_raced_hint"),
        ) from exc


def store(conn: Connection, header: dict[str, Any], lines: Iterable[ReportLine]) -> int:
    """Insert a report and its lines; return the report's id."""
    key = conn.execute(report.insert().values(**header)).inserted_primary_key
    assert key is not None
    insert_lines(conn, report_line, int(key[0]), lines)
    return int(key[0])


def fitting(table: sa.Table, where: Where, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` if every value fits its column of ``table``; else InputError naming it."""
    problem = misfit(table, row)
    if problem is not None:
        raise InputError(said("row_misfit", where=placed(where), problem=problem))
    return row


# Where a value was read, for a refusal to name: the message, or (read once per line of
# a report, where a message built for each line would cost more than the checking) what
# says it when a refusal is made.
Where = str | Callable[[], str]


def placed(where: Where) -> str:
    """The message naming ``where``."""
    return where if isinstance(where, str) else where()


_UNREAD = object()


def generate_in(
    conn: Connection,
    node: Node,
    period: Period,
    actor: str,
    clock: Clock,
    *,
    latest: Any = _UNREAD,
) -> int:
    """Generate this node's report in the caller's transaction; return its row id.
    ``latest`` is the row :func:`latest_own` gave the caller in this transaction (the
    period's versions locked since), when it has it."""
    me = node.spec.code
    if period.start > local_today(clock):
        raise InputError(
            said("period_not_begun", period=period),
            hint=said("period_not_begun_hint"),
        )
    lines, negative = _compute(conn, me, period)
    values = {
        "negative_entries": negative,
        "generated_at": clock.now(),
        "generated_by": actor,
    }
    if latest is _UNREAD:
        latest = latest_own(conn, me, period)
    if latest is not None and latest.state == "draft":
        conn.execute(report_line.delete().where(report_line.c.report_id == latest.id))
        conn.execute(report.update().where(report.c.id == latest.id).values(**values))
        insert_lines(conn, report_line, latest.id, lines)
        return int(latest.id)
    return store(
        conn,
        {
            "node_code": me,
            **period.columns(),
            "version": 1 if latest is None else latest.version + 1,
            "state": "draft",
            **values,
        },
        lines,
    )


def generate(
    node: Node, period: Period | str, *, actor: str, clock: Clock = SYSTEM_CLOCK
) -> ReportView:
    """Generate this node's report for ``period`` from its ledger and budget; return it.

    Replaces an unsubmitted draft; after a submission it is the next version (a
    correction), a draft until submitted. All or nothing; a failed check raises
    :class:`InputError` naming the line.
    """
    period = Period.of(period)
    refuse_center(node, "generates")
    with writing(node) as conn:
        generate_in(conn, node, period, actor, clock)
    return view(node, period, scope="own")
