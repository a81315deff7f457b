"""Code sets (基础数据规范): classification codes, fund types, transfer types, regions.

A code item is (codeset, year, code) with its name, parent code and level. The national
sets ship under ``config/codesets/<year>/`` and are loaded into every node's database
when it is created (:func:`load_national`). The province imports its extensions
(``codes import``) and they flow down the tree as a signed change-set of kind
``codeset`` to every node. :class:`Known` answers "is this code valid for that year",
where an appropriation or a ledger entry is made and again where one arrives. The
codes that change from a year to the next travel with the year's set
(:mod:`nodes.fiscal.code_changes`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import config
from nodes.fiscal.code_changes import FILE_NAME as CHANGES_FILE
from nodes.fiscal.code_changes import (
    CodeChange,
    check_known,
    check_unchanged,
    parse_change,
    read_changes,
    store_changes,
)
from nodes.fiscal.code_changes import changes as code_changes
from nodes.fiscal.tabular import refuse
from nodes.labels import joined, said
from schema.bulk import insert_rows
from schema.engine import reading
from schema.limits import misfit
from schema.tables import code_item
from schema.types import is_year
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError

if TYPE_CHECKING:
    from nodes.node import Node
    from sync.changeset import Verified

__all__ = [
    "CODESETS",
    "CodeItem",
    "Known",
    "import_codes",
    "items",
    "load_national",
    "national_years",
    "parse_operations",
    "publish_again",
    "read_csv",
    "store",
]

CODESETS = ("func", "econ", "fund", "transfer", "revenue", "region")
COLUMNS = ("codeset", "year", "code", "name", "parent", "level")


@dataclass(frozen=True)
class CodeItem:
    codeset: str
    year: int
    code: str
    name: str
    parent: str | None
    level: int
    extension: bool

    def as_row(self) -> dict[str, Any]:
        """The item as a row of ``code_item``."""
        return {
            "codeset": self.codeset,
            "year": self.year,
            "code": self.code,
            "name": self.name,
            "parent_code": self.parent,
            "level": self.level,
            "is_extension": self.extension,
        }

    def as_operation(self) -> dict[str, Any]:
        return {
            "op": "code",
            "codeset": self.codeset,
            "year": self.year,
            "code": self.code,
            "name": self.name,
            "parent": self.parent,
            "level": self.level,
            "extension": self.extension,
        }


def _checked(raw: dict[str, Any], extension: bool) -> CodeItem | list[str]:
    """The code item of ``raw``, or every problem of it (said by key)."""
    problems: list[str] = []
    codeset = raw.get("codeset")
    if codeset not in CODESETS:
        problems.append(said("rows_codeset_bad", value=codeset, choices=", ".join(CODESETS)))
    year = raw.get("year")
    if isinstance(year, str) and year.strip().isdigit():
        year = int(year)
    if not is_year(year):
        problems.append(said("rows_fiscal_year_bad", value=raw.get("year")))
    code = str(raw.get("code") or "").strip()
    # Transfer types are words (general, special); every other code set is digits.
    wellformed = code.isascii() and (code.isalpha() if codeset == "transfer" else code.isdigit())
    if not wellformed or len(code) > 16:
        problems.append(said("rows_code_not_digits", value=raw.get("code")))
    name = str(raw.get("name") or "").strip()
    if not name:
        problems.append(said("rows_name_empty"))
    parent = str(raw.get("parent") or "").strip() or None
    if parent is not None and not (code.startswith(parent) and len(parent) < len(code)):
        problems.append(said("rows_parent_not_prefix", parent=parent, code=code))
    level = raw.get("level")
    if isinstance(level, str) and level.strip().isdigit():
        level = int(level)
    if not isinstance(level, int) or not 1 <= level <= 5:
        problems.append(said("rows_level_not_1_5", value=raw.get("level")))
    if problems:
        return problems
    assert isinstance(codeset, str) and isinstance(year, int) and isinstance(level, int)
    item = CodeItem(codeset, year, code, name, parent, level, extension)
    problem = misfit(code_item, item.as_row())
    return item if problem is None else [problem]


def _check(raw: dict[str, Any], where: str, extension: bool) -> CodeItem:
    """The code item of ``raw`` (read at ``where``), or an error naming all its problems."""
    found = _checked(raw, extension)
    if isinstance(found, list):
        raise InputError(said("rows_at", where=where, what=joined(found)))
    return found


def read_csv(path: Path, *, extension: bool = True, year: int | None = None) -> list[CodeItem]:
    """Read a code-set CSV (``codeset,year,code,name,parent,level``); every bad row at once.

    With ``year`` (``codes import --year``) the year column may be left out or empty:
    every row is of that year, and a row naming another year is refused."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(said("cannot_read", path=path, error=exc)) from exc
    missing = [c for c in COLUMNS if c not in header and not (c == "year" and year is not None)]
    if not rows or missing:
        raise InputError(
            said("codes_missing_columns", path=path, names=", ".join(missing) or "(no rows)"),
            hint=said("changes_columns_hint", columns=",".join(COLUMNS)),
        )
    items, problems = [], []
    for number, row in enumerate(rows, start=2):
        where = said("rows_file_row", name=path.name, number=number)
        if year is not None:
            given = (row.get("year") or "").strip()
            if given and given != str(year):
                what = said("rows_year_not_given", given=given, year=year)
                problems.append(said("rows_at", where=where, what=what))
                continue
            row["year"] = str(year)
        found = _checked(row, extension)
        if isinstance(found, CodeItem):
            items.append(found)
        else:
            problems.extend(said("rows_at", where=where, what=problem) for problem in found)
    refuse(problems, "imported", hint=said("changes_columns_hint", columns=",".join(COLUMNS)))
    return items


_WIRE_TYPES: dict[str, tuple[type, ...]] = {
    "codeset": (str,),
    "year": (int,),
    "code": (str,),
    "name": (str,),
    "parent": (str, type(None)),
    "level": (int,),
    "extension": (bool,),
}
"""The type of every field of a ``code`` operation: on the wire nothing is converted."""


def parse_operations(operations: Iterable[dict[str, Any]]) -> Iterator[CodeItem | CodeChange]:
    """Code items and changed codes from a ``codeset`` change-set's operations (checked
    again on arrival: exact types, the shape of each code, every field fitting its column)."""
    for index, op in enumerate(operations, start=1):
        if op.get("op") == "change":
            yield parse_change(op, said("rows_operation", number=index))
            continue
        if op.get("op") != "code":
            raise InputError(said("codes_op_not_code", index=index, value=op.get("op")))
        for key, kinds in _WIRE_TYPES.items():
            if type(op.get(key)) not in kinds:
                raise InputError(
                    said("codes_op_wrong_type", index=index, key=key, value=op.get(key))
                )
        yield _check(op, said("rows_operation", number=index), extension=op["extension"])


def store(conn: Connection, items: Iterable[CodeItem | CodeChange]) -> int:
    """Insert or replace code items (and changed codes); return how many."""
    count = 0
    for item in items:
        if isinstance(item, CodeChange):
            count += store_changes(conn, [item])
            continue
        key = (
            (code_item.c.codeset == item.codeset)
            & (code_item.c.year == item.year)
            & (code_item.c.code == item.code)
        )
        row = item.as_row()
        values = {name: row[name] for name in ("name", "parent_code", "level", "is_extension")}
        if conn.execute(sa.select(code_item.c.code).where(key)).first() is None:
            conn.execute(
                code_item.insert().values(
                    codeset=item.codeset, year=item.year, code=item.code, **values
                )
            )
        else:
            conn.execute(code_item.update().where(key).values(**values))
        count += 1
    return count


def import_codes(
    node: Node,
    path: Path,
    year: int | None = None,
    clock: Clock = SYSTEM_CLOCK,
    *,
    changes: Path | None = None,
) -> tuple[int, int]:
    """``codes import``: store the province's extensions and send them to every node.

    With ``year``, every row is of that year (a new year's code set, 新年度科目); with
    ``changes`` too, the mapping of the codes of ``year - 1`` that change in it goes in
    the same change-sets (each old code known the year before, each new one in ``year``
    or in this import). Returns (code items and changes, change-sets). Only the province
    may import code sets.
    """
    if node.spec.role != "province":
        raise InputError(
            said("codes_province_only", role=node.spec.role),
            hint=said("codes_province_only_hint"),
        )
    if year is not None and not 2000 <= year <= 2100:
        raise InputError(said("codes_year_bad", year=year), hint=said("codes_year_bad_hint"))
    if changes is not None and year is None:
        raise InputError(said("changes_need_year"), hint=said("changes_need_year_hint"))
    items: list[CodeItem | CodeChange] = list(read_csv(path, year=year))
    mapping = read_changes(changes, year) if changes is not None and year is not None else []
    coming = {(i.codeset, i.year, i.code) for i in items if isinstance(i, CodeItem)}

    def keep(conn: Connection) -> None:
        check_known(conn, mapping, coming)
        check_unchanged(conn, mapping)
        store(conn, [*items, *mapping])

    written = node.broadcast(
        "codeset", [item.as_operation() for item in [*items, *mapping]], also=keep, clock=clock
    )
    return len(items) + len(mapping), len(written)


def publish_again(conn: Connection, node: Node, clock: Clock, taken_back: list[Verified]) -> int:
    """Once the province has rejoined after a restore, send every extension it holds to
    every node again; return the change-sets queued. A code set it imported and sent
    before it was lost reached some nodes and not others (the copies still in its
    mailboxes were lost with it); those that took it gave it back, so the province holds
    it again, and storing codes is idempotent where they were taken. Every extension it holds,
    whatever ``taken_back`` carries."""
    if node.spec.role != "province":
        return 0
    rows = conn.execute(
        sa.select(code_item)
        .where(code_item.c.is_extension.is_(True))
        .order_by(code_item.c.codeset, code_item.c.year, code_item.c.code)
    ).all()
    operations = [
        CodeItem(r.codeset, r.year, r.code, r.name, r.parent_code, r.level, True).as_operation()
        for r in rows
    ] + [c.as_operation() for c in code_changes(conn) if c.extension]
    if not operations:
        return 0
    return len(node.broadcast_in(conn, "codeset", operations, clock=clock))


def items(node: Node, codeset: str, year: int | None = None) -> list[CodeItem]:
    """``codes list``: the codes of ``codeset`` known here (national and extensions), of
    ``year`` or of every year, in code order."""
    if codeset not in CODESETS:
        raise InputError(
            said("codeset_unknown", codeset=codeset),
            hint=said("codeset_unknown_hint", names=", ".join(CODESETS)),
        )
    query = sa.select(code_item).where(code_item.c.codeset == codeset)
    if year is not None:
        query = query.where(code_item.c.year == year)
    with reading(node.engine) as conn:
        rows = conn.execute(query.order_by(code_item.c.year, code_item.c.code)).all()
    return [
        CodeItem(r.codeset, r.year, r.code, r.name, r.parent_code, r.level, bool(r.is_extension))
        for r in rows
    ]


def national_years(directory: Path = config.CODESETS) -> list[int]:
    """The fiscal years for which national code sets ship."""
    return sorted(int(p.name) for p in directory.iterdir() if p.is_dir() and p.name.isdigit())


def load_national(conn: Connection, directory: Path = config.CODESETS) -> int:
    """Load every shipped national code set into a new node's database; return the count.

    A year's ``changes.csv`` (its changed codes) maps no code held here anew, as an
    import may not (:func:`check_unchanged`): refused whole, every conflict named."""
    shipped = [
        change
        for year in national_years(directory)
        if (directory / str(year) / CHANGES_FILE).is_file()
        for change in read_changes(directory / str(year) / CHANGES_FILE, year, extension=False)
    ]
    check_unchanged(conn, shipped)
    files = []
    for year in national_years(directory):
        for path in sorted((directory / str(year)).glob("*.csv")):
            if path.name == CHANGES_FILE:
                continue  # the year's changed codes, read below
            stat = path.stat()
            files.append((path, stat.st_size, stat.st_mtime_ns))
    items = _national_items(tuple(files))
    rows = ((i.codeset, i.year, i.code, i.name, i.parent, i.level, i.extension) for i in items)
    columns = ("codeset", "year", "code", "name", "parent_code", "level", "is_extension")
    insert_rows(conn, code_item, columns, rows)
    store_changes(conn, shipped)
    return len(items) + len(shipped)


@cache
def _national_items(files: tuple[tuple[Path, int, int], ...]) -> tuple[CodeItem, ...]:
    """The checked items of the shipped files, read once per process (``network init``
    makes many nodes): a file is read again if its size or time has changed."""
    return tuple(item for path, _size, _mtime in files for item in read_csv(path, extension=False))


def load_transfer_types(conn: Connection, _me: str = "", directory: Path = config.CODESETS) -> int:
    """Bring the shipped transfer types (转移支付类型) into a database made before one was
    added (共同财政事权); return how many were stored."""
    items = [
        item
        for year in national_years(directory)
        for item in read_csv(directory / str(year) / "transfer.csv", extension=False)
    ]
    return store(conn, items)


_CODES = sa.select(code_item.c.code).where(
    code_item.c.codeset == sa.bindparam("codeset"), code_item.c.year == sa.bindparam("year")
)
"""The codes of one code set and year (built once: every line checked asks)."""


class Known:
    """The codes valid at this node, by code set and year, read once per set and year."""

    NAMES = {
        "func": "functional classification (功能分类)",
        "econ": "economic classification (经济分类)",
        "fund": "fund type (资金性质)",
        "transfer": "transfer type",
        "revenue": "revenue classification (收入分类)",
    }

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sets: dict[tuple[str, int], frozenset[str]] = {}

    def codes(self, codeset: str, year: int) -> frozenset[str]:
        key = (codeset, year)
        if key not in self.sets:
            self.sets[key] = frozenset(
                self.conn.execute(_CODES, {"codeset": codeset, "year": year}).scalars()
            )
        return self.sets[key]

    def problem(self, codeset: str, year: int, code: str) -> str | None:
        """Why ``code`` is not valid in ``codeset`` for ``year``, or None when it is."""
        if code in self.codes(codeset, year):
            return None
        what: str = said(f"rows_codeset_{codeset}") if codeset in self.NAMES else codeset
        if not self.codes(codeset, year):
            return said("rows_no_codeset", what=what, year=year)
        return said("rows_not_a_code", what=what, code=code, year=year)
