"""Ledger entries: the expenditure payments and revenue receipts recorded at a node.

They stay at the node; reports (:mod:`nodes.fiscal.reports`) carry their sums up. An entry is
classified by a code valid for its year: a functional classification (功能分类) code
for an expenditure, a revenue classification (收入分类) code for a revenue. Spending
against an appropriation may not exceed what is still available of it (指标控制).
Entries are recorded all or nothing: one bad row refuses the whole file, and every bad
row is named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from nodes import rejoin
from nodes.fiscal.appropriations import balances
from nodes.fiscal.codes import Known
from nodes.fiscal.tabular import read_table, refuse
from schema.bulk import insert_rows
from schema.locks import lock_rows
from schema.tables import appropriation, ledger_entry
from schema.types import MAX_AMOUNT_FEN, format_yuan, parse_yuan
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["DIRECTIONS", "Entry", "read_entries", "record"]

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


def read_entries(path: Path) -> list[Entry]:
    """Read a CSV or XLSX of entries; every bad row and field is named at once."""
    sheet = read_table(path, COLUMNS, REQUIRED)
    if not sheet.rows:
        raise InputError(f"{path.name} has no entries", hint=f"the header line is: {HEADER}")
    entries, problems = [], []
    for row in sheet.rows:
        where = f"{path.name} row {row.number}"
        values = row.values
        found = []
        try:
            when = date.fromisoformat(values["date"])
        except ValueError:
            found.append(f"date {values['date']!r} is not a date like 2026-10-15")
        direction = DIRECTIONS.get(values["direction"].lower())
        if direction is None:
            found.append(f"direction {values['direction']!r} is not expenditure or revenue")
        try:
            amount = parse_yuan(values["amount"])
        except ValueError as exc:
            found.append(f"amount: {exc}")
        if found:
            problems.extend(f"{where}: {p}" for p in found)
            continue
        assert direction is not None
        entries.append(
            Entry(
                entry_date=when,
                direction=direction,
                code=values["code"],
                amount_fen=amount,
                econ=values.get("econ") or None,
                appropriation_id=values.get("appropriation") or None,
                memo=values.get("memo", ""),
                label=where,
            )
        )
    if problems:
        refuse(problems, "recorded", f"the header line is: {HEADER}")
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
        problems = []
        for number, entry in enumerate(entries, 1):
            where = entry.label or f"entry {number}"
            year = entry.entry_date.year
            if entry.amount_fen <= 0:
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
            left[ident] = left.get(ident, 0) - max(entry.amount_fen, 0)
            if left[ident] < 0:
                problems.append(
                    f"{where}: spending {format_yuan(entry.amount_fen)} 元 exceeds what is "
                    f"still available of {ident}: "
                    f"{format_yuan(left[ident] + entry.amount_fen)} 元"
                )
        if problems:
            refuse(problems, "recorded", f"the header line is: {HEADER}")
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
