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

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import provinces
import pytest
import sqlalchemy as sa

from nodes import Node
from nodes.backups import take_backup
from nodes.network import Network
from schema import snapshot
from schema.engine import open_engine
from schema.errors import DatabaseError
from sync.backup import chunks
from sync.errors import StorageError

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


def _locks_held(database: Path) -> int:
    """POSIX locks this process holds on the file ``database``."""
    inode = database.stat().st_ino
    mine = f" {os.getpid()} "
    with open("/proc/locks", encoding="ascii") as locks:
        return sum(1 for line in locks if mine in line and f":{inode} " in line)


_CHECKPOINT_ELSEWHERE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA busy_timeout=0")
for n in range(int(sys.argv[2]), int(sys.argv[2]) + 50):
    conn.execute("INSERT INTO filler VALUES (?)", (n,))
print(*conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
conn.close()
"""


def test_a_backup_reads_the_live_pages_in_place_and_keeps_the_process_locks(
    sqlite_province: Network,
) -> None:
    database = sqlite_province.path / ME / "node.db"
    with Node.open(sqlite_province.path / ME) as node:
        with node.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))  # a pooled connection, holding its lock
        held = _locks_held(database)
        assert held > 0
        taken = take_backup(node)
        assert taken.in_place
        assert _locks_held(database) == held


def test_every_backup_of_a_node_kept_open_reads_in_place(sqlite_province: Network) -> None:
    """A process that keeps its node open (the agent) takes one backup after another:
    SQLite keeps the descriptor of the first pin's closed connection (the node's pooled
    connection holds a lock on the file) and gives it to the next pin, which opens none
    of its own; the pages are still read in place, through a descriptor of the file."""
    database = sqlite_province.path / ME / "node.db"
    with Node.open(sqlite_province.path / ME) as node:
        held = 0
        for _ in range(3):
            with node.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            held = held or _locks_held(database)
            taken = take_backup(node)
            assert taken.in_place
            assert _locks_held(database) == held


def test_pages_read_in_place_stay_the_snapshot_while_another_process_writes(
    sqlite_province: Network, tmp_path: Path
) -> None:
    """Half the pages are read, another process writes 50 rows and asks for a
    checkpoint; the rest is read. The pages form the database as it was when the read
    began, and the checkpoint could not write into the file meanwhile."""
    database = sqlite_province.path / ME / "node.db"
    subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(database), "1"], check=True)
    copy = tmp_path / "pages.db"
    with Node.open(sqlite_province.path / ME) as node:
        with snapshot.pinned_sqlite(node.engine, ME) as pinned:
            assert pinned is not None
            snap, pages, _digests = pinned
            assert snap.in_place and snap.revision
            with copy.open("wb") as out:
                out.write(pages.read(pages.length // 2))
                checkpoint = subprocess.run(
                    [sys.executable, "-c", _CHECKPOINT_ELSEWHERE, str(database), "100"],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                busy, _log, backfilled = (int(n) for n in checkpoint.stdout.split())
                assert busy == 1 or backfilled == 0
                out.write(pages.read())
            assert copy.stat().st_size == pages.length
        assert _count_elsewhere(database) == 51
        with closing(sqlite3.connect(database, isolation_level=None)) as conn:
            assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    with closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM filler").fetchone()[0] == 1


_READER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN")
conn.execute("SELECT count(*) FROM filler").fetchone()
print("reading", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


@contextmanager
def _another_process(script: str, database: Path) -> Iterator[None]:
    """``script`` running in another process on ``database`` until the block ends, once
    it has said it holds what it takes (its first line)."""
    with subprocess.Popen(
        [sys.executable, "-c", script, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as other:
        assert other.stdin is not None and other.stdout is not None
        try:
            assert other.stdout.readline() in ("reading\n", "holding\n")
            yield
        finally:
            other.stdin.write("\n")
            other.stdin.flush()
            other.wait(timeout=30)


def test_a_backup_copies_when_a_reader_keeps_the_log_from_emptying(
    sqlite_province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process reads an older snapshot while the log holds newer pages: the log
    cannot be emptied, so the pages cannot be read in place; the backup copies them."""
    monkeypatch.setattr(snapshot, "PIN_WAIT_MS", 50)
    database = sqlite_province.path / ME / "node.db"
    subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(database), "1"], check=True)
    with _another_process(_READER, database):
        subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(database), "2"], check=True)
        with Node.open(sqlite_province.path / ME) as node:
            with snapshot.pinned_sqlite(node.engine, ME) as pinned:
                assert pinned is None
            taken = take_backup(node)
            assert not taken.in_place


def test_a_database_named_through_a_link_is_pinned_by_the_log_beside_its_real_file(
    sqlite_province: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite keeps the log beside the file a link names, not beside the link: the log
    that a reader keeps from emptying is found there, and nothing is read in place."""
    monkeypatch.setattr(snapshot, "PIN_WAIT_MS", 50)
    database = sqlite_province.path / ME / "node.db"
    link = tmp_path / "linked.db"
    link.symlink_to(database)
    subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(database), "1"], check=True)
    with _another_process(_READER, database):
        subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(database), "2"], check=True)
        engine = open_engine(f"sqlite:///{link}")
        try:
            with snapshot.pinned_sqlite(engine, ME) as pinned:
                assert pinned is None
        finally:
            engine.dispose()


_EXCLUSIVE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA locking_mode=EXCLUSIVE")  # in WAL mode, readers wait too
conn.execute("BEGIN EXCLUSIVE")
conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
print("holding", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def test_a_busy_database_is_not_pinned_but_copied(
    sqlite_province: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot, "PIN_WAIT_MS", 50)
    database = sqlite_province.path / ME / "node.db"
    with _another_process(_EXCLUSIVE, database):
        engine = sa.create_engine(f"sqlite:///{database}")  # only its file is read
        with snapshot.pinned_sqlite(engine, ME) as pinned:
            assert pinned is None
        engine.dispose()


def test_pages_are_read_only_from_the_file_pinned_and_only_while_it_is(
    sqlite_province: Network, tmp_path: Path
) -> None:
    database = sqlite_province.path / ME / "node.db"
    other = tmp_path / "other.bin"
    other.write_bytes(b"not a database" * 1000)
    fd = os.open(other, os.O_RDONLY)
    try:
        seen = os.stat(database)
        replaced = snapshot.Pages(fd, 4096, str(database), (seen.st_dev, seen.st_ino))
        with pytest.raises(DatabaseError, match="replaced"):
            replaced.read(4096)
        mine = os.stat(other)
        foreign = snapshot.Pages(fd, 4096, str(other), (mine.st_dev, mine.st_ino))
        with pytest.raises(DatabaseError, match="not a SQLite file"):
            foreign.read(4096)
        foreign = snapshot.Pages(fd, 4096, str(other), (mine.st_dev, mine.st_ino))
        with pytest.raises(DatabaseError, match="not a SQLite file"):  # as a backup reads
            next(chunks.fixed_blocks(foreign, length=4096))
    finally:
        os.close(fd)
    with Node.open(sqlite_province.path / ME) as node:
        with snapshot.pinned_sqlite(node.engine, ME) as pinned:
            assert pinned is not None
            _snap, pages, _digests = pinned
            assert pages.read(100).startswith(b"SQLite format 3\x00")
            pages.offset = 0
            # In blocks of 16 KiB pieces through one buffer, as a backup reads: the file.
            read = b"".join(bytes(b) for b in chunks.fixed_blocks(pages, 16_384, pages.length))
            assert read == database.read_bytes()[: pages.length] and len(read) > 4 * 16_384
            short = snapshot.Pages(pages.fd, pages.length + 4096, pages.name, pages.identity)
            with pytest.raises(StorageError, match="ends after"):
                for _block in chunks.fixed_blocks(short, length=short.length):
                    pass
        with pytest.raises(DatabaseError):
            pages.read(100)


def test_a_drill_reads_in_place_and_its_digests_are_those_of_the_pages(
    sqlite_province: Network,
) -> None:
    with Node.open(sqlite_province.path / ME) as node:
        with node.engine.connect() as conn:
            before = snapshot.table_digests(conn)  # the backup's own manifest comes after
        taken = take_backup(node, digests=True)
        assert taken.in_place
        assert taken.digests == before and len(before) > 10
