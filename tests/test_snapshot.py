"""A SQLite node's backup never opens the live database file outside SQLite.

On POSIX, closing any descriptor of a file drops every lock the process holds on it,
SQLite's own included. A backup that read the live ``node.db`` with ``open()`` left the
node's connections without their shared lock: another process closing its last
connection then took the database for unused, checkpointed it and removed its
write-ahead log, and what the node committed next went into a deleted file, seen by the
node and by nobody else. The backup copies the database through SQLite instead.

SQLite only: a PostgreSQL snapshot is COPY inside one repeatable-read transaction, which
``tests/test_backup.py`` covers on both databases.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import provinces
import pytest
import sqlalchemy as sa

from nodes import Node
from nodes.backups import take_backup
from nodes.network import Network

ME = "410100"

_OTHER_PROCESS = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA busy_timeout=30000")
conn.execute("CREATE TABLE IF NOT EXISTS filler (n INTEGER PRIMARY KEY)")
conn.execute("INSERT INTO filler VALUES (?)", (int(sys.argv[2]),))
conn.close()
"""


@pytest.fixture
def sqlite_province(tmp_path: Path, demo_topology: Path) -> Network:
    network: Network = provinces.make(tmp_path / "province", demo_topology, None)
    return network


def _count_elsewhere(database: Path) -> int:
    """How many filler rows another process sees."""
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; print(sqlite3.connect(sys.argv[1])"
            ".execute('SELECT count(*) FROM filler').fetchone()[0])",
            str(database),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(found.stdout)


def test_what_the_node_commits_after_a_backup_is_seen_by_every_process(
    sqlite_province: Network,
) -> None:
    """The node's connections stay open (pooled) through a backup; another process
    then writes and closes its last connection; what the node commits next is in the
    database that every process sees, and the write-ahead log is still there."""
    database = sqlite_province.path / ME / "node.db"
    subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(database), "1"], check=True)
    with Node.open(sqlite_province.path / ME) as node:
        take_backup(node)
        subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(database), "2"], check=True)
        assert database.with_name("node.db-wal").exists()
        with node.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO filler VALUES (3)"))
        with node.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM filler")).scalar_one() == 3
        assert _count_elsewhere(database) == 3
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM filler").fetchone()[0] == 3
