"""A SQLite node's backup reads its live database file pinned to one read snapshot
(:func:`schema.snapshot.pinned_sqlite`), instead of writing a copy and reading that.

SQLite only: a PostgreSQL snapshot is COPY inside one repeatable-read transaction, which
``tests/test_backup.py`` covers on both databases.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import provinces
import pytest
import sqlalchemy as sa

from nodes import Node
from nodes.backups import take_backup
from nodes.network import Network, sync_network
from nodes.restore import restore
from schema import snapshot
from schema.tables import appropriation

ME = "410100"


@pytest.fixture
def sqlite_province(tmp_path: Path, demo_topology: Path) -> Network:
    network: Network = provinces.make(tmp_path / "province", demo_topology, None)
    return network


def _database(network: Network) -> Path:
    return network.path / ME / "node.db"


def _write(database: Path, rows: int, start: int = 0) -> None:
    """``rows`` more rows of a table of the test's own, of a page each, committed."""
    with closing(sqlite3.connect(database, isolation_level=None)) as conn:
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("CREATE TABLE IF NOT EXISTS filler (n INTEGER PRIMARY KEY, data BLOB)")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO filler VALUES (?, ?)",
            [(n, bytes([n % 251]) * 3000) for n in range(start, start + rows)],
        )
        conn.execute("COMMIT")


def _count(database: Path) -> tuple[int, str]:
    with closing(sqlite3.connect(database)) as conn:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        return conn.execute("SELECT count(*) FROM filler").fetchone()[0], check


def _synced_and_restored(network: Network) -> Any:
    """The backup taken reaches the center, and the node is restored from it beside."""
    sync_network(network.path, until_quiet=True)
    return restore(
        ME,
        network.path / "topology.toml",
        network.path.parent / "restored",
        network.ca_dir / "recovery-kit.pem",
    )


def test_a_pinned_file_holds_its_snapshot_while_writers_commit_and_checkpoint(
    sqlite_province: Network, tmp_path: Path
) -> None:
    """Pinned, the file's first bytes are the snapshot's pages, whatever writers commit
    and checkpoints copy meanwhile: read out afterwards, they are a sound database with
    the rows of the snapshot and none of the later ones."""
    database = _database(sqlite_province)
    _write(database, 200)
    copy = tmp_path / "pinned.db"
    with Node.open(sqlite_province.path / ME) as node:
        with snapshot.pinned_sqlite(node.engine, ME) as pinned:
            assert pinned is not None
            snap, stream, size = pinned
            _write(database, 2000, start=200)  # the file would grow by ~6 MB
            with closing(sqlite3.connect(database)) as other:
                _busy, log, copied = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            assert copied < log  # held back by the pinned reader
            copy.write_bytes(stream.read(size))
        assert snap.form == snapshot.SQLITE_FORM and snap.revision
    assert _count(copy) == (200, "ok")
    assert _count(database) == (2200, "ok")


def test_a_file_an_older_reader_holds_back_is_not_pinned_and_is_copied(
    sqlite_province: Network,
) -> None:
    """A reader that began before the last commits keeps the checkpoint from copying
    them into the file: it cannot be pinned, and the backup copies the database with the
    backup API instead, which restores all the same."""
    database = _database(sqlite_province)
    _write(database, 10)
    with closing(sqlite3.connect(database, isolation_level=None)) as older:
        older.execute("BEGIN")
        older.execute("SELECT count(*) FROM filler").fetchone()
        _write(database, 50, start=10)
        with Node.open(sqlite_province.path / ME) as node:
            with snapshot.pinned_sqlite(node.engine, ME) as pinned:
                assert pinned is None
            taken = take_backup(node)
        older.execute("ROLLBACK")
    restored = _synced_and_restored(sqlite_province)
    assert restored.number == taken.number
    assert _count(restored.home / "node.db") == (60, "ok")


def test_a_sqlite_backup_writes_no_copy_of_the_database(
    sqlite_province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backup seals the live file's pages themselves: no copy is written (and read
    back) first, and what it restores is the node's database, row for row."""

    def no_copy(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the database was copied")

    monkeypatch.setattr(snapshot, "export_sqlite", no_copy)
    database = _database(sqlite_province)
    _write(database, 300)
    with Node.open(sqlite_province.path / ME) as node:
        take_backup(node)
        with node.engine.connect() as conn:
            held = sorted(map(tuple, conn.execute(sa.select(appropriation))))
    restored = _synced_and_restored(sqlite_province)
    assert _count(restored.home / "node.db") == (300, "ok")
    with Node.open(restored.home) as node, node.engine.connect() as conn:
        assert sorted(map(tuple, conn.execute(sa.select(appropriation)))) == held
