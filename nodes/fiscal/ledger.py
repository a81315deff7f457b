"""Ledger entries: the expenditure payments and revenue receipts recorded at a node.

They stay at the node; reports (:mod:`nodes.fiscal.reports`) carry their sums up. An entry is
classified by a code valid for its year: a functional classification (功能分类) code
for an expenditure, a revenue classification (收入分类) code for a revenue. Spending
against an appropriation may not exceed what is still available of it (指标控制).
Entries are recorded all or nothing: one bad row refuses the whole file, and every bad
row is named.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from nodes import rejoin
from nodes.fiscal.appropriations.closed import closed_here
from nodes.fiscal.appropriations.drawing import Drawn, lock_drawn
from nodes.fiscal.codes import Known
from nodes.fiscal.fields import field_problems, unusable
from nodes.fiscal.scratch import CodesRead, Problems, Spill, Vanished, chunks, spilled, unspilled
from nodes.fiscal.tabular import Row, Table, open_table
from nodes.labels import said
from schema.bulk import insert_rows
from schema.engine import reading
from schema.tables import ledger_entry
from schema.types import MAX_AMOUNT_FEN, format_yuan, parse_yuan
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
    "DIRECTIONS",
    "Entry",
    "EntryFile",
    "Recorded",
    "entries",
    "iter_entries",
    "read_entries",
    "record",
]

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
ID_LIMIT = ledger_entry.c.appropriation_id.type.length
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
        return said("rows_available_hint")
    if any("is not a code of" in p or "code set" in p for p in problems):
        return said("rows_codes_hint")
    if from_file:
        return said("rows_header_hint", header=HEADER)
    return said("rows_recorded_hint")


class EntryFile:
    """The entries of a CSV or XLSX file (:func:`read_entries`), read from the file again
    on each iteration, one row at a time: bounded memory whatever the file's size. Each
    full pass totals what it read: ``spent_fen`` (expenditures) and ``received_fen``."""

    def __init__(self, table: Table) -> None:
        self.path = table.path
        self._table = table
        self.spent_fen = 0
        self.received_fen = 0

    def __iter__(self) -> Iterator[Entry]:
        self.spent_fen = self.received_fen = 0
        for row in self._table:
            entry = _entry(self.path, row)
            if entry.direction == "expenditure":
                self.spent_fen += entry.amount_fen
            elif entry.direction == "revenue":
                self.received_fen += entry.amount_fen
            yield entry


def read_entries(path: Path) -> EntryFile:
    """Open a CSV or XLSX of entries (its header checked at once). What is wrong with a row
    as written goes with its entry (``Entry.problems``), so that :func:`record` names it
    with everything else it finds (codes, balances)."""
    table = open_table(path, COLUMNS, REQUIRED)
    if next(iter(table), None) is None:
        raise InputError(
            said("ledger_no_entries", name=path.name),
            hint=said("budget_no_lines_hint", header=HEADER),
        )
    return EntryFile(table)


def _entry(path: Path, row: Row) -> Entry:
    values = row.values
    found = []
    when = None
    try:
        when = date.fromisoformat(values["date"])
    except ValueError:
        found.append(said("rows_date_bad", value=values["date"]))
    direction = DIRECTIONS.get(values["direction"].lower())
    if direction is None:
        found.append(said("rows_direction_bad", value=values["direction"]))
    amount = 0
    try:
        amount = parse_yuan(values["amount"])
    except ValueError as exc:
        found.append(said("rows_amount", problem=exc.args[0]))
    return Entry(
        entry_date=when or date.min,
        direction=direction or "",
        code=values["code"],
        amount_fen=amount,
        econ=values.get("econ") or None,
        appropriation_id=values.get("appropriation") or None,
        memo=values.get("memo", ""),
        label=said("rows_file_row", name=path.name, number=row.number),
        problems=tuple(found),
    )


CHUNK = 5_000
"""Entries written at a time, once every entry is checked."""
_ENTRIES = "entries"  # the spill of the entries as checked
_COLUMNS = (
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


def record(
    node: Node,
    entries: Iterable[Entry],
    *,
    actor: str,
    clock: Clock = SYSTEM_CLOCK,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Record every entry, all or nothing; return how many.

    ``entries`` is read once, one at a time (a generator or an :class:`EntryFile` will
    do), as ``allocate`` reads its lines (:mod:`nodes.fiscal.scratch`): each entry as
    written, its codes and amount are checked in a first pass, before the write
    transaction begins, and kept in a scratch file; in the transaction the appropriations
    spent against are then locked, and a second pass over the scratch file checks again
    the codes (one that vanished since the first pass refuses its entry) and what the
    appropriations allow, and writes the entries, ``CHUNK`` at a time. Every bad entry is
    named (the first fifty of each kind, all counted).

    The appropriations spent against are locked before their balances are read, so two
    operators (or an operator and the agent applying a recovery) never both take the same
    available balance: the second waits, then sees what the first one left.
    """
    me = node.spec.code
    now = clock.now()
    found = Problems(("as written", "codes", "appropriations"))
    with tempfile.TemporaryDirectory(prefix="fiscalsync-ledger-") as folder:
        spill = Spill(Path(folder))
        try:
            with reading(node.engine) as conn:  # at once, not after a large file is read
                rejoin.require_joined(conn, me)
            # 1. every entry as written, in the spill: no transaction is open meanwhile
            known = CodesRead(node.engine)
            wanted: set[str] = set()
            spent_in: set[int] = set()  # the years of the expenditures
            from_file = False
            count = 0
            for count, entry in enumerate(entries, 1):
                from_file = from_file or entry.label is not None
                readable = _static_problems(entry, count, known, found)
                if readable and entry.direction == "expenditure":
                    spent_in.add(entry.entry_date.year)
                    if entry.appropriation_id:
                        wanted.add(entry.appropriation_id)
                spill.write(_ENTRIES, [*_fields(entry), spilled(entry.label), readable])
            # 2. what may have changed since, and what the locked balances allow
            with node.engine.begin() as conn:
                rejoin.require_joined(conn, node.spec.code)
                vanished = Vanished(known, conn)
                shut = set(closed_here(conn, me, spent_in))  # years first, then the rows
                drawn = lock_drawn(conn, me, wanted)
                left = drawn.left
                number = 0
                for chunk in chunks(spill.read(_ENTRIES), CHUNK):
                    for fields in chunk:
                        number += 1
                        readable = fields[-1]
                        if not readable:
                            continue
                        if vanished:
                            entry = _from_fields(fields[:7])
                            found.add("codes", _at(fields, number, _vanished(entry, vanished)))
                        # an entry's label (or its number) is made only when it is refused
                        ident, direction = fields[5], fields[1]
                        if ident and direction == "expenditure":
                            problems = _spending_problems(fields, drawn, left)
                            if problems:
                                found.add("appropriations", _at(fields, number, problems))
                        elif direction == "expenditure" and (year := int(fields[0][:4])) in shut:
                            closed = said("rows_year_closed", year=year)
                            found.add("appropriations", _at(fields, number, [closed]))
                    if not found.count:
                        rows = [(*fields[:7], now, actor) for fields in chunk]
                        insert_rows(conn, ledger_entry, _COLUMNS, rows)
                if found.count:
                    found.refuse("recorded", _hint(found.listed(), from_file=from_file))
        finally:
            spill.close()
    if progress is not None:
        progress(count)
    return count


def _fields(entry: Entry) -> list[Any]:
    """An entry as it is kept in the scratch file, in the order of the table's columns."""
    return [
        entry.entry_date.isoformat(),
        entry.direction,
        entry.code,
        entry.econ,
        entry.amount_fen,
        entry.appropriation_id,
        entry.memo,
    ]


def _from_fields(values: list[Any]) -> Entry:
    when, direction, code, econ, amount, ident, memo = values
    return Entry(date.fromisoformat(when), direction, code, amount, econ, ident, memo)


def _at(fields: list[Any], number: int, problems: list[str]) -> list[str]:
    """``problems`` of the spilled entry ``fields`` (the ``number``-th), each named with
    the entry's label, or its number when it has none of its own."""
    if not problems:
        return []
    where = unspilled(fields[7]) or said("rows_entry", number=number)
    return [said("rows_at", where=where, what=p) for p in problems]


def _vanished(entry: Entry, vanished: Vanished) -> list[str]:
    """The codes of ``entry`` that were valid when it was read and are no longer."""
    codeset = "func" if entry.direction == "expenditure" else "revenue"
    codes = [(codeset, entry.code), ("econ", entry.econ)]
    return vanished.problems(entry.entry_date.year, codes)


def _static_problems(entry: Entry, number: int, known: Known, found: Problems) -> bool:
    """Add what is wrong with ``entry`` (the ``number``-th) itself (as written, its codes
    and amount) to ``found``; tell whether what the rest is checked against (its date and
    direction) is readable. Its label (or its number) is made only when it is refused."""
    problems = list(entry.problems)
    readable = not (entry.problems and (not entry.direction or entry.entry_date == date.min))
    if readable:
        problems += _checked(entry, known)  # names an appropriation no query can hold
        readable = not unusable(entry.appropriation_id)  # so it is not looked up
    if problems:
        where = entry.label or said("rows_entry", number=number)
        found.add("as written", [said("rows_at", where=where, what=p) for p in problems])
    return readable


def _checked(entry: Entry, known: Known) -> list[str]:
    problems = []
    year = entry.entry_date.year
    if entry.problems and entry.amount_fen == 0:
        pass  # its amount is named already
    elif entry.amount_fen <= 0:
        problems.append(said("rows_amount_not_positive"))
    elif entry.amount_fen > MAX_AMOUNT_FEN:
        amount, largest = format_yuan(entry.amount_fen), format_yuan(MAX_AMOUNT_FEN)
        problems.append(said("rows_amount_too_large_entry", amount=amount, largest=largest))
    for what, text, limit in (
        ("memo", entry.memo, MEMO_LIMIT),
        ("code", entry.code, CODE_LIMIT),
        ("econ", entry.econ or "", CODE_LIMIT),
        ("appropriation", entry.appropriation_id or "", ID_LIMIT),
    ):
        problems.extend(field_problems(what, text, limit))
    if entry.direction not in ("expenditure", "revenue"):
        problems.append(said("rows_direction_must"))
        return problems
    codeset = "func" if entry.direction == "expenditure" else "revenue"
    if problem := known.problem(codeset, year, entry.code):
        problems.append(problem)
    if entry.econ and (problem := known.problem("econ", year, entry.econ)):
        problems.append(problem)
    if entry.appropriation_id is not None and entry.direction == "revenue":
        problems.append(said("rows_revenue_spent"))
    return problems


def _spending_problems(fields: list[Any], drawn: Drawn, left: dict[str, int]) -> list[str]:
    """What the appropriation a spilled expenditure (``fields``) is spent against allows
    (its row locked), ``left`` taking the spending off its balance."""
    when, _direction, code, _econ, amount, ident, *_ = fields
    row = drawn.rows.get(ident)
    if row is None:
        return [said("rows_not_received", ident=ident)]
    problems = []
    year = int(when[:4])  # an ISO date, as spilled
    if row.func_code != code:
        problems.append(said("rows_other_code", ident=ident, code=row.func_code, given=code))
    if row.year != year:
        problems.append(said("rows_other_year", ident=ident, year=row.year, given=year))
    if ident in drawn.closed:
        problems.append(said("rows_closed", ident=ident, year=drawn.closed[ident]))
    left[ident] = left.get(ident, 0) - max(amount, 0)
    if left[ident] < 0:
        still = format_yuan(left[ident] + amount)
        problems.append(said("rows_exceeds", amount=format_yuan(amount), ident=ident, left=still))
    return problems


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
