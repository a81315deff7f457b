"""A batch file is read before its write transaction begins.

``ledger import`` and ``allocate --file`` read and check their file in a first pass that
holds no lock: while it runs, another connection writes to the node's database at once
(on SQLite a writer waiting for the lock would wait, and here it is not even let wait).
What could change meanwhile is checked again under the lock: a code gone between the two
passes refuses its line, and nothing is written. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa

from nodes import Node
from nodes.fiscal.appropriations import allocate, read_allocations
from nodes.fiscal.ledger import read_entries, record
from nodes.network import Network
from schema.engine import reading
from schema.tables import appropriation, code_item, ledger_entry
from sync.errors import RowsRefused

T = TypeVar("T")
PROVINCE, YEAR = "410000", 2026
GONE = "2050202"  # the functional classification code removed between the passes


def remove_code_elsewhere(node: Node, codeset: str, code: str) -> None:
    """Remove a code through a connection of its own, committed at once; on SQLite one
    that does not wait for the write lock (``timeout=0``), so a lock held elsewhere fails
    it at once."""
    where = "codeset = ? AND year = ? AND code = ?"
    if node.engine.dialect.name == "sqlite":
        path = node.engine.url.database
        assert path is not None
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # the write lock, or "database is locked"
            deleted = other.execute(f"DELETE FROM code_item WHERE {where}", (codeset, YEAR, code))
            assert deleted.rowcount == 1
            other.execute("COMMIT")
        finally:
            other.close()
        return
    url = node.engine.url.render_as_string(hide_password=False)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            deleted = conn.execute(
                code_item.delete().where(
                    code_item.c.codeset == codeset,
                    code_item.c.year == YEAR,
                    code_item.c.code == code,
                )
            )
            assert deleted.rowcount == 1
    finally:
        engine.dispose()


def meanwhile(lines: Iterable[T], node: Node, code: str = GONE) -> Iterator[T]:
    """``lines`` as the batch reads them, the functional classification ``code`` removed
    elsewhere once the first line is checked (its code sets read), before the second is
    read."""
    for number, line in enumerate(lines, 1):
        if number == 2:
            remove_code_elsewhere(node, "func", code)
        yield line


def count(node: Node, table: sa.Table) -> int:
    with reading(node.engine) as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


PAYMENTS = (
    "date,direction,code,econ,amount,appropriation,memo\n"
    "2026-03-01,expenditure,2050201,50201,10.00,,学前\n"
    "2026-03-02,expenditure,2050202,50201,20.00,,小学\n"
    "2026-03-03,expenditure,2050201,50201,30.00,,学前\n"
)
BATCH = (
    "recipient,amount,func,econ,fund,doc,title,type\n"
    "410100,1000.00,2050201,51301,111,豫财教〔2026〕1号,学前教育,general\n"
    "410300,2000.50,2050202,51301,111,豫财教〔2026〕1号,小学教育,special\n"
    "410181,300,2050203,51301,111,豫财教〔2026〕1号,初中教育,special\n"
)


def written(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def refusal(node: Node, table: sa.Table, batch: Callable[[], object]) -> list[str]:
    """The problems ``batch`` is refused for, having written nothing to ``table``."""
    before = count(node, table)
    with pytest.raises(RowsRefused) as refused:
        batch()
    assert count(node, table) == before  # all or nothing
    return [str(p) for p in refused.value.problems]


@pytest.mark.parametrize("command", ["ledger import", "allocate --file"])
def test_a_file_is_read_while_others_write_and_a_vanished_code_refuses_it(
    province: Network, tmp_path: Path, command: str
) -> None:
    with Node.open(province.path / PROVINCE) as node:
        if command == "ledger import":
            name, table = "payments.csv", ledger_entry
            entries = meanwhile(read_entries(written(tmp_path, name, PAYMENTS)), node)
            problems = refusal(node, table, lambda: record(node, entries, actor="op"))
        else:
            name, table = "batch.csv", appropriation
            lines = meanwhile(read_allocations(written(tmp_path, name, BATCH), YEAR), node)
            problems = refusal(node, table, lambda: allocate(node, lines, actor="op"))
    assert problems == [
        f"{name} row 3: functional classification (功能分类) '{GONE}' is not a code of 2026"
    ]


def test_a_code_the_file_does_not_use_removed_meanwhile_changes_nothing(
    province: Network, tmp_path: Path
) -> None:
    book = written(tmp_path, "payments.csv", PAYMENTS)
    with Node.open(province.path / PROVINCE) as node:
        before = count(node, ledger_entry)
        assert record(node, meanwhile(read_entries(book), node, "2050203"), actor="op") == 3
        assert count(node, ledger_entry) == before + 3
