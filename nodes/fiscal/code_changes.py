"""Changed codes (科目变动对照): a classification code of one year that is another code
in the next, shipped with the next year's code set.

A year's code set may renumber codes (a 项 merged into another, a 款 split). The
mapping (old code of ``year - 1`` → new code of ``year``) comes with the code set: a
national one as ``config/codesets/<year>/changes.csv``, the province's beside its
import (``codes import FILE --year 2027 --changes CHANGES.csv``), in the same signed
``codeset`` change-set (operations ``change``), so that every issuer holds it. A
carry-over (结转) into ``year`` of an appropriation whose code changed takes the new
code (:func:`renamed`); ``codes list --year 2027 --changes`` shows the mapping.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.tabular import first_problems, refuse
from nodes.labels import joined, said
from schema.engine import reading
from schema.tables import code_change, code_item
from sync.errors import InputError

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
    "CHANGED",
    "CodeChange",
    "changes",
    "check_known",
    "check_unchanged",
    "listed",
    "parse_change",
    "read_changes",
    "recoded",
    "renamed",
    "store_changes",
]

CHANGED = {"func": "func_code", "econ": "econ_code", "fund": "fund_code"}
"""The code sets whose codes may change from a year to the next, and the column of an
appropriation that holds each."""
COLUMNS = ("codeset", "old", "new")
FILE_NAME = "changes.csv"


@dataclass(frozen=True)
class CodeChange:
    """``old`` (a code of ``year - 1``) is ``new`` in ``year``."""

    codeset: str
    year: int
    old: str
    new: str
    extension: bool

    def as_row(self) -> dict[str, Any]:
        return {
            "codeset": self.codeset,
            "year": self.year,
            "old_code": self.old,
            "new_code": self.new,
            "is_extension": self.extension,
        }

    def as_operation(self) -> dict[str, Any]:
        return {
            "op": "change",
            "codeset": self.codeset,
            "year": self.year,
            "old": self.old,
            "new": self.new,
            "extension": self.extension,
        }


def _problem(raw: Mapping[str, Any]) -> str | None:
    """What is wrong with one change's fields (said by key), or None."""
    codeset, old, new, year = raw.get("codeset"), raw.get("old"), raw.get("new"), raw.get("year")
    if codeset not in CHANGED:
        return said("rows_codeset_bad", value=codeset, choices=", ".join(CHANGED))
    if not isinstance(year, int) or isinstance(year, bool) or not 2001 <= year <= 2100:
        return said("rows_fiscal_year_bad", value=year)
    for what, code in (("old", old), ("new", new)):
        if not isinstance(code, str) or not code.isascii() or not code.isdigit() or len(code) > 16:
            return said(f"rows_{what}_not_digits", value=code)
    if old == new:
        return said("rows_mapped_to_itself", old=old)
    return None


def read_changes(path: Path, year: int, *, extension: bool = True) -> list[CodeChange]:
    """Read a mapping file (``codeset,old,new``: a code of ``year - 1`` and what it is in
    ``year``); every bad row at once, nothing read unless all are good."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
            header = list(rows[0].keys()) if rows else []
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(said("cannot_read", path=path, error=exc)) from exc
    missing = [c for c in COLUMNS if c not in header]
    hint = said("changes_columns_hint", columns=",".join(COLUMNS))
    if not rows or missing:
        raise InputError(
            said("codes_missing_columns", path=path, names=", ".join(missing) or "(no rows)"),
            hint=hint,
        )
    found, problems, seen = [], [], set()
    for number, row in enumerate(rows, start=2):
        raw = {
            "codeset": (row.get("codeset") or "").strip(),
            "year": year,
            "old": (row.get("old") or "").strip(),
            "new": (row.get("new") or "").strip(),
        }
        problem = _problem(raw)
        if problem is None and (raw["codeset"], raw["old"]) in seen:
            problem = said("rows_mapped_twice", codeset=raw["codeset"], old=raw["old"])
        if problem is not None:
            where = said("rows_file_row", name=path.name, number=number)
            problems.append(said("rows_at", where=where, what=problem))
            continue
        seen.add((raw["codeset"], raw["old"]))
        found.append(CodeChange(raw["codeset"], year, raw["old"], raw["new"], extension))
    refuse(problems, "imported", hint=hint)
    return found


def check_known(
    conn: Connection, found: Iterable[CodeChange], coming: set[tuple[str, int, str]]
) -> None:
    """Every old code is a code of the year before, every new one a code of its year
    (held here, or ``coming`` in the same import); all problems at once."""
    problems = []
    for change in found:
        for code, year in ((change.old, change.year - 1), (change.new, change.year)):
            if (change.codeset, year, code) in coming:
                continue
            held = conn.execute(
                sa.select(code_item.c.code).where(
                    code_item.c.codeset == change.codeset,
                    code_item.c.year == year,
                    code_item.c.code == code,
                )
            ).first()
            if held is None:
                problems.append(said("rows_change_unknown", codeset=change.codeset, code=code,
                                     year=year))  # fmt: skip
    if problems:
        raise InputError(
            said(
                "changes_unknown_codes",
                count=len(problems),
                problems=joined(first_problems(problems)),
            ),
            hint=said("changes_unknown_codes_hint"),
        )


def check_unchanged(conn: Connection, found: Iterable[CodeChange]) -> None:
    """No change held here is mapped anew, the province's or a national one (``changes.csv``
    of a shipped year): once sent, a carry-over may already have taken an old code's new
    one anywhere in the province, and one made after a remapping would take another. The
    same mapping again is no change; every conflict named at once, of every year."""
    problems, years = [], set()
    for change in found:
        held = conn.execute(
            sa.select(code_change.c.new_code).where(
                code_change.c.codeset == change.codeset,
                code_change.c.year == change.year,
                code_change.c.old_code == change.old,
            )
        ).scalar_one_or_none()
        if held is not None and held != change.new:
            problems.append(f"{change.codeset} {change.old} → {held} ≠ {change.new}")
            years.add(str(change.year))
    if problems:
        raise InputError(
            said("changes_remapped", count=len(problems), year=", ".join(sorted(years)),
                 problems=joined(first_problems(problems))),
            hint=said("changes_remapped_hint"),
        )  # fmt: skip


def parse_change(op: Mapping[str, Any], where: str) -> CodeChange:
    """A ``change`` operation of a ``codeset`` change-set, checked again on arrival."""
    problem = _problem(op)
    if problem is None and type(op.get("extension")) is not bool:
        problem = said("rows_extension_bad")
    if problem is not None:
        raise InputError(said("rows_at", where=where, what=problem))
    return CodeChange(op["codeset"], op["year"], op["old"], op["new"], op["extension"])


def store_changes(conn: Connection, found: Iterable[CodeChange]) -> int:
    """Insert or replace changes (one held with the same new code is left as it is);
    return how many were given."""
    count = 0
    for change in found:
        key = (
            (code_change.c.codeset == change.codeset)
            & (code_change.c.year == change.year)
            & (code_change.c.old_code == change.old)
        )
        values = {"new_code": change.new, "is_extension": change.extension}
        held = conn.execute(sa.select(code_change.c.new_code).where(key)).first()
        if held is None:
            conn.execute(code_change.insert().values(**change.as_row()))
        elif held.new_code != change.new:
            conn.execute(code_change.update().where(key).values(**values))
        count += 1
    return count


def changes(conn: Connection, year: int | None = None) -> list[CodeChange]:
    """The changes held here (into ``year``, or every year), by code set and old code."""
    query = sa.select(code_change)
    if year is not None:
        query = query.where(code_change.c.year == year)
    rows = conn.execute(
        query.order_by(code_change.c.year, code_change.c.codeset, code_change.c.old_code)
    ).all()
    return [
        CodeChange(r.codeset, r.year, r.old_code, r.new_code, bool(r.is_extension)) for r in rows
    ]


@dataclass(frozen=True)
class Listed:
    """A changed code for people: its old and new names."""

    year: int
    codeset: str
    old: str
    old_name: str
    new: str
    new_name: str
    extension: bool


def listed(node: Node, year: int | None = None) -> list[Listed]:
    """``codes list --changes``: the changes into ``year`` (or every year) held here,
    each with the name of its old code (the year before) and of its new one."""
    with reading(node.engine) as conn:
        found = changes(conn, year)
        names = {
            (r.codeset, r.year, r.code): r.name
            for r in conn.execute(
                sa.select(code_item.c.codeset, code_item.c.year, code_item.c.code, code_item.c.name)
                .where(code_item.c.codeset.in_(list(CHANGED)))
                .where(code_item.c.year.in_({c.year for c in found} | {c.year - 1 for c in found}))
            )
        }
    return [
        Listed(
            c.year,
            c.codeset,
            c.old,
            names.get((c.codeset, c.year - 1, c.old), ""),
            c.new,
            names.get((c.codeset, c.year, c.new), ""),
            c.extension,
        )
        for c in found
    ]


def renamed(conn: Connection, year: int) -> dict[tuple[str, str], str]:
    """(code set, old code of ``year - 1``) → its code in ``year``."""
    return {(c.codeset, c.old): c.new for c in changes(conn, year)}


def recoded(row: Any, renames: Mapping[tuple[str, str], str]) -> Any:
    """``row`` (an appropriation) with each code that changed in the next year replaced
    by its new code; the row itself when none did."""
    new = {
        column: renames[(codeset, getattr(row, column))]
        for codeset, column in CHANGED.items()
        if (codeset, getattr(row, column)) in renames
    }
    return SimpleNamespace(**{**row._asdict(), **new}) if new else row
