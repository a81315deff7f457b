"""A node's own budget (本级预算): its revenue and expenditure budget lines of a year, by
classification code, imported from a spreadsheet (``budget import``).

They are the budget column (预算数) of its reports: revenue budgets from here alone,
expenditure budgets from here beside the appropriations it holds for its own spending.
An import replaces the year's lines, all or nothing: every bad line of the file is named
at once (a code not of the year's code set, an amount that is not money, a line given
twice), and nothing is written unless all are good.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.codes import Known
from nodes.fiscal.ledger import DIRECTIONS
from nodes.fiscal.scratch import CodesRead, Problems, Vanished, chunks
from nodes.fiscal.tabular import open_table
from nodes.labels import named, said
from schema.engine import reading
from schema.locks import lock_scope
from schema.tables import budget_line
from schema.types import parse_yuan
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = ["BudgetLine", "Imported", "import_budget", "lines", "own_budget"]

COLUMNS = {
    "section": ("section", "direction", "收支", "类型"),
    "code": ("code", "classification", "科目", "科目编码", "功能分类", "收入分类"),
    "amount": ("amount", "budget", "金额", "金额（元）", "金额(元)", "预算数", "预算数（元）"),
}
HEADER = "section,code,amount"
CODESET = {"expenditure": "func", "revenue": "revenue"}
LEAF_DIGITS = (3, 5, 7, 9)
LINES, CODES = "as written", "codes"
"""The kinds of a budget's problems: found reading its file, and codes gone since."""
CHUNK = 5_000
"""Budget lines inserted at once."""


@dataclass(frozen=True)
class BudgetLine:
    """One budget line as held: the year, section, code and amount in fen."""

    year: int
    section: str
    code: str
    amount_fen: int
    imported_at: datetime
    imported_by: str
    source: str


@dataclass(frozen=True)
class Imported:
    """What :func:`import_budget` stored: how many lines, the totals by section, and how
    many lines of the year it replaced."""

    year: int
    lines: int
    revenue_fen: int
    expenditure_fen: int
    replaced: int


def own_budget(conn: Connection, year: int) -> dict[tuple[str, str], int]:
    """(section, code) -> this node's own budget of ``year`` in fen."""
    rows = conn.execute(
        sa.select(budget_line.c.section, budget_line.c.code, budget_line.c.amount_fen).where(
            budget_line.c.year == year
        )
    )
    return {(section, code): int(fen) for section, code, fen in rows}


def _read(path: Path, year: int, known: Known, found: Problems) -> list[tuple[str, str, int, int]]:
    """The lines of ``path``, read one row at a time; every problem of it counted in
    ``found`` (its first ones kept). What is kept is bounded by the code sets, whatever
    the file's size: a line only when its code is valid, and then once (a code given
    again is a problem)."""
    table = open_table(path, COLUMNS, tuple(COLUMNS))
    kept: list[tuple[str, str, int, int]] = []
    """(section, code, amount in fen, row number) of each line kept."""
    seen: dict[tuple[str, str], int] = {}
    rows = 0
    for row in table:
        rows += 1

        def bad(what: str, number: int = row.number) -> None:
            found.add(LINES, [_at(path, number, what)])

        values = row.values
        section = DIRECTIONS.get(values["section"].lower())
        code = values["code"]
        valid = False
        if section is None:
            bad(said("rows_section_bad", value=values["section"]))
        elif not (code.isascii() and code.isdigit() and len(code) in LEAF_DIGITS):
            bad(said("rows_budget_code_bad", code=code))
        elif problem := known.problem(CODESET[section], year, code):
            bad(problem)
        else:
            valid = True
        amount = None
        try:
            amount = parse_yuan(values["amount"])
        except ValueError as exc:
            bad(said("rows_amount", problem=exc.args[0]))
        if amount is not None and amount < 0:
            bad(said("rows_budget_negative"))
            amount = None
        if not valid or section is None or amount is None:
            continue
        first = seen.setdefault((section, code), row.number)
        if first != row.number:
            named_section = named("direction", section)
            bad(said("rows_budget_again", section=named_section, code=code, first=first))
            continue
        kept.append((section, code, amount, row.number))
    if not rows:
        raise InputError(
            said("budget_no_lines", name=path.name),
            hint=said("budget_no_lines_hint", header=HEADER),
        )
    return kept


def import_budget(
    node: Node, path: Path, year: int, *, actor: str, clock: Clock = SYSTEM_CLOCK
) -> Imported:
    """``budget import``: replace this node's budget lines of ``year`` with those of
    ``path`` (a .csv or .xlsx), all or nothing.

    The file is read and checked once, one row at a time, before the write transaction
    begins (no lock held while a large file is read); the transaction checks again the
    codes that may have gone since. Idempotent: importing the same file again leaves the
    same lines. Two imports of the same year at once are serialised (the year's budget
    scope is locked first). Raises :class:`RowsRefused` naming the first bad lines and
    counting all, :class:`InputError` for an unreadable file or a year outside 2000-2100.
    """
    if not 2000 <= year <= 2100:
        raise InputError(said("budget_year_bad", year=year), hint=said("budget_year_bad_hint"))
    if node.spec.role == "center":
        raise InputError(
            said("budget_central", code=node.spec.code),
            hint=said("budget_central_hint"),
        )
    hint = said("rows_header_hint", header=HEADER)
    found = Problems((LINES, CODES))
    known = CodesRead(node.engine)
    kept = _read(path, year, known, found)
    found.refuse("imported", hint)
    now = clock.now()
    with node.engine.begin() as conn:
        lock_scope(conn, "budget", str(year))
        if vanished := Vanished(known, conn):
            found.add(CODES, _vanished(vanished, path, year, kept))
            found.refuse("imported", hint)
        replaced = conn.execute(budget_line.delete().where(budget_line.c.year == year)).rowcount
        for chunk in chunks(kept, CHUNK):
            conn.execute(
                budget_line.insert(),
                [
                    {
                        "year": year,
                        "section": section,
                        "code": code,
                        "amount_fen": amount,
                        "imported_at": now,
                        "imported_by": actor,
                        "source": path.name[:300],
                    }
                    for section, code, amount, _number in chunk
                ],
            )
    sums = {s: sum(a for section, _, a, _n in kept if section == s) for s in CODESET}
    return Imported(year, len(kept), sums["revenue"], sums["expenditure"], int(replaced))


def _vanished(
    vanished: Vanished, path: Path, year: int, kept: list[tuple[str, str, int, int]]
) -> list[str]:
    """Why each line kept uses a code gone since the file was read, at its row."""
    return [
        _at(path, number, problem)
        for section, code, _amount, number in kept
        for problem in vanished.problems(year, [(CODESET[section], code)])
    ]


def _at(path: Path, number: int, what: str) -> str:
    """A problem of the file's row ``number``, named by the file and the row."""
    return said("rows_at", where=said("rows_file_row", name=path.name, number=number), what=what)


def lines(node: Node, year: int) -> list[BudgetLine]:
    """``budget list``: this node's budget lines of ``year``, revenue first, by code."""
    with reading(node.engine) as conn:
        rows = conn.execute(
            sa.select(budget_line)
            .where(budget_line.c.year == year)
            .order_by(budget_line.c.section.desc(), budget_line.c.code)
        ).all()
    return [
        BudgetLine(
            r.year, r.section, r.code, int(r.amount_fen), r.imported_at, r.imported_by, r.source
        )
        for r in rows
    ]
