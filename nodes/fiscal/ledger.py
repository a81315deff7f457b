"""Ledger entries: the expenditure payments and revenue receipts recorded at a node.

They stay at the node; reports (:mod:`nodes.fiscal.reports`) carry their sums up. An entry is
classified by a code valid for its year: a functional classification (功能分类) code
for an expenditure, a revenue classification (收入分类) code for a revenue. Spending
against an appropriation may not exceed what is still available of it (指标控制).
Entries are recorded all or nothing: one bad row refuses the whole file, and every bad
row is named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from nodes import rejoin
from nodes.fiscal.appropriations import balances
from nodes.fiscal.appropriations.closed import closed_ids
from nodes.fiscal.codes import Known
from nodes.fiscal.tabular import read_table, refuse
from nodes.labels import said
from schema.bulk import insert_rows
from schema.engine import reading
from schema.locks import lock_rows
from schema.tables import appropriation, ledger_entry
from schema.types import MAX_AMOUNT_FEN, format_yuan, parse_yuan
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["DIRECTIONS", "Entry", "Recorded", "entries", "iter_entries", "read_entries", "record"]

DIRECTIONS = {
    "expenditure": "expenditure",
    "支出": "expenditure",
    "revenue": "revenue",
    "收入": "revenue",
}
COLUMNS = {
    "date": ("date", "日期"),
    "direction": ("direction", "收支", "类型"),
    "code": ("code", "classification", "科目", "科目编码", "功能分类"),
    "econ": ("econ", "经济分类"),
    "amount": ("amount", "金额", "金额（元）", "金额(元)"),
    "appropriation": ("appropriation", "appropriation id", "指标", "指标编号"),
    "memo": ("memo", "摘要", "备注"),
}
REQUIRED = ("date", "direction", "code", "amount")
CODE_LIMIT = ledger_entry.c.func_code.type.length
MEMO_LIMIT = 2000
HEADER = "date,direction,code,econ,amount,appropriation,memo"


@dataclass(frozen=True)
class Entry:
    """One payment (expenditure) or receipt (revenue), amount in fen (always positive)."""

    entry_date: date
    direction: str
    code: str
    amount_fen: int
    econ: str | None = None
    appropriation_id: str | None = None
    memo: str = ""
    label: str | None = None  # how refusals name it, e.g. "spending.csv row 4"
    problems: tuple[str, ...] = ()  # what is wrong with it as written in its file


def _hint(problems: list[str], *, from_file: bool) -> str:
    """The hint that applies to what was found."""
    if any("still available" in p or "received here" in p for p in problems):
        return "指标控制: see what is available with 'fiscalsync appropriations'"
    if any("is not a code of" in p or "code set" in p for p in problems):
        return "see the codes of the year with 'fiscalsync codes list --codeset func'"
    if from_file:
        return f"the header line is: {HEADER}"
    return "fix what is named; nothing was recorded"


def read_entries(path: Path) -> list[Entry]:
    """Read a CSV or XLSX of entries. What is wrong with a row as written goes with its
    entry (``Entry.problems``), so that :func:`record` names it with everything else it
    finds (codes, balances), in one pass."""
    sheet = read_table(path, COLUMNS, REQUIRED)
    if not sheet.rows:
        raise InputError(
            said("ledger_no_entries", name=path.name),
            hint=said("budget_no_lines_hint", header=HEADER),
        )
    entries = []
    for row in sheet.rows:
        where = f"{path.name} row {row.number}"
        values = row.values
        found = []
        when = None
        try:
            when = date.fromisoformat(values["date"])
        except ValueError:
            found.append(f"date {values['date']!r} is not a date like 2026-10-15")
        direction = DIRECTIONS.get(values["direction"].lower())
        if direction is None:
            found.append(f"direction {values['direction']!r} is not expenditure or revenue")
        amount = 0
        try:
            amount = parse_yuan(values["amount"])
        except ValueError as exc:
            found.append(f"amount: {exc}")
        entries.append(
            Entry(
                entry_date=when or date.min,
                direction=direction or "",
                code=values["code"],
                amount_fen=amount,
                econ=values.get("econ") or None,
                appropriation_id=values.get("appropriation") or None,
                memo=values.get("memo", ""),
                label=where,
                problems=tuple(found),
            )
        )
    return entries


def record(
    node: Node,
    entries: list[Entry],
    *,
    actor: str,
    clock: Clock = SYSTEM_CLOCK,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Record every entry, all or nothing; return how many.

    The appropriations spent against are locked before their balances are read, so two
    operators (or an operator and the agent applying a recovery) never both take the same
    available balance: the second waits, then sees what the first one left.
    """
    me = node.spec.code
    now = clock.now()
    with node.engine.begin() as conn:
        rejoin.require_joined(conn, node.spec.code)
        known = Known(conn)
        wanted = {e.appropriation_id for e in entries if e.appropriation_id}
        held = {r.id: r for r in lock_rows(conn, appropriation.c.id, wanted) if r.recipient == me}
        left = balances(conn, list(held))
        closed = closed_ids(conn, list(held))
        problems = []
        for number, entry in enumerate(entries, 1):
            where = entry.label or f"entry {number}"
            problems.extend(f"{where}: {p}" for p in entry.problems)
            if entry.problems and (not entry.direction or entry.entry_date == date.min):
                continue  # what the rest is checked against is unreadable, and named
            year = entry.entry_date.year
            if entry.problems and entry.amount_fen == 0:
                pass  # its amount is named already
            elif entry.amount_fen <= 0:
                problems.append(f"{where}: amount must be more than zero")
            elif entry.amount_fen > MAX_AMOUNT_FEN:
                problems.append(
                    f"{where}: amount {format_yuan(entry.amount_fen)} 元 is more than the "
                    f"largest amount of one entry, {format_yuan(MAX_AMOUNT_FEN)} 元"
                )
            for what, text, limit in (
                ("memo", entry.memo, MEMO_LIMIT),
                ("code", entry.code, CODE_LIMIT),
                ("econ", entry.econ or "", CODE_LIMIT),
            ):
                if len(text) > limit:
                    problems.append(f"{where}: {what} is longer than {limit} characters")
            if entry.direction not in ("expenditure", "revenue"):
                problems.append(f"{where}: direction must be expenditure or revenue")
                continue
            codeset = "func" if entry.direction == "expenditure" else "revenue"
            if problem := known.problem(codeset, year, entry.code):
                problems.append(f"{where}: {problem}")
            if entry.econ and (problem := known.problem("econ", year, entry.econ)):
                problems.append(f"{where}: {problem}")
            ident = entry.appropriation_id
            if ident is None:
                continue
            if entry.direction == "revenue":
                problems.append(f"{where}: a revenue is not spent against an appropriation")
                continue
            if ident not in held:
                problems.append(f"{where}: {ident} is not an appropriation received here")
                continue
            if held[ident].func_code != entry.code:
                problems.append(
                    f"{where}: {ident} is for {held[ident].func_code}, not for {entry.code}"
                )
            if held[ident].year != year:
                problems.append(f"{where}: {ident} belongs to {held[ident].year}, not {year}")
            if ident in closed:
                problems.append(
                    f"{where}: {ident} is of {closed[ident]}, closed here (已结转): nothing "
                    "more is spent against it"
                )
            left[ident] = left.get(ident, 0) - max(entry.amount_fen, 0)
            if left[ident] < 0:
                problems.append(
                    f"{where}: spending {format_yuan(entry.amount_fen)} 元 exceeds what is "
                    f"still available of {ident}: "
                    f"{format_yuan(left[ident] + entry.amount_fen)} 元"
                )
        if problems:
            refuse(problems, "recorded", _hint(problems, from_file=any(e.label for e in entries)))
        rows = [
            (
                e.entry_date.isoformat(),
                e.direction,
                e.code,
                e.econ,
                e.amount_fen,
                e.appropriation_id,
                e.memo,
                now,
                actor,
            )
            for e in entries
        ]
        columns = (
            "entry_date",
            "direction",
            "func_code",
            "econ_code",
            "amount_fen",
            "appropriation_id",
            "memo",
            "recorded_at",
            "recorded_by",
        )
        insert_rows(conn, ledger_entry, columns, rows)
    if progress is not None:
        progress(len(entries))
    return len(entries)


@dataclass(frozen=True)
class Recorded:
    """An entry as the ledger holds it, with who recorded it and when (UTC)."""

    id: int
    entry_date: date
    direction: str
    code: str
    econ: str | None
    amount_fen: int
    appropriation_id: str | None
    memo: str
    recorded_at: datetime
    recorded_by: str


def entries(
    node: Node,
    *,
    start: date | None = None,
    end: date | None = None,
    appropriation_id: str | None = None,
) -> list[Recorded]:
    """``ledger list``: the entries recorded here, by date (between ``start`` and ``end``,
    both included), or those spent against one appropriation."""
    return list(iter_entries(node, start=start, end=end, appropriation_id=appropriation_id))


STREAM_ROWS = 2_000
"""Entries fetched from the database at a time by :func:`iter_entries`."""


def iter_entries(
    node: Node,
    *,
    start: date | None = None,
    end: date | None = None,
    appropriation_id: str | None = None,
) -> Iterator[Recorded]:
    """:func:`entries` one at a time, in bounded memory whatever their number (a
    server-side cursor on PostgreSQL); the connection stays open until the iterator is
    exhausted or closed."""
    query = sa.select(ledger_entry).order_by(ledger_entry.c.entry_date, ledger_entry.c.id)
    if start is not None:
        query = query.where(ledger_entry.c.entry_date >= start)
    if end is not None:
        query = query.where(ledger_entry.c.entry_date <= end)
    if appropriation_id is not None:
        query = query.where(ledger_entry.c.appropriation_id == appropriation_id)
    with reading(node.engine) as conn:
        streamed = {"stream_results": True, "yield_per": STREAM_ROWS}
        rows = conn.execute(query, execution_options=streamed)
        for r in rows:
            yield Recorded(
                r.id,
                r.entry_date,
                r.direction,
                r.func_code,
                r.econ_code,
                int(r.amount_fen),
                r.appropriation_id,
                r.memo,
                r.recorded_at,
                r.recorded_by,
            )  # fmt: skip
