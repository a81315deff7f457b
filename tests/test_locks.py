"""Locks: rows a check reasons about, channel heads, SQLite readers, and the home's locks.

Each test runs the two sides at once, for real: two threads with their own connections
on SQLite and on PostgreSQL, or two processes on one home.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import cli
from nodes import Node
from nodes.locks import home_lock, sync_lock
from nodes.network import Network
from schema.channels import channel_head, outbox
from schema.engine import database_failure, open_engine, reading
from schema.errors import DatabaseBusy
from schema.locks import insert_missing, take_numbers
from schema.migrate import upgrade
from schema.tables import counter
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK
from sync.errors import HomeError
from sync.pki import load_signer


def test_two_writers_on_a_new_channel_queue_instead_of_racing(province: Network) -> None:
    """The first change-set of a channel, enqueued twice at once: seq 1 and 2, no error."""
    home = province.path / "410000"
    nodes = [Node.open(home) for _ in range(2)]
    signer = load_signer(nodes[0].home.keys)
    barrier = threading.Barrier(2, timeout=30)

    def write(node: Node) -> int:
        barrier.wait()
        with node.engine.begin() as conn:
            written = enqueue(
                conn, node.spool, signer, "410100", "codeset", [{"op": "x"}], SYSTEM_CLOCK
            )
            time.sleep(0.2)  # hold the head while the other one wants it
            return written.header.seq

    try:
        with ThreadPoolExecutor(2) as pool:
            seqs = sorted(pool.map(write, nodes))
        assert seqs == [1, 2]
        with reading(nodes[0].engine) as conn:
            head = conn.execute(
                sa.select(channel_head).where(channel_head.c.recipient == "410100")
            ).one()
            sent = conn.execute(
                sa.select(outbox.c.seq).where(outbox.c.recipient == "410100")
            ).scalars()
            assert head.seq == 2 and sorted(sent) == [1, 2]
    finally:
        for node in nodes:
            node.close()


def test_numbers_are_never_handed_out_twice(db_url: str) -> None:
    engine = open_engine(db_url)
    upgrade(engine)
    barrier = threading.Barrier(4, timeout=30)

    def take(_: int) -> list[int]:
        taken: list[int] = []
        barrier.wait()
        for _round in range(20):
            with engine.begin() as conn:
                taken.extend(take_numbers(conn, "appropriation", "410000-2026", 3))
        return taken

    try:
        with ThreadPoolExecutor(4) as pool:
            every = [n for numbers in pool.map(take, range(4)) for n in numbers]
        assert sorted(every) == list(range(1, 241))
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT 1"))
            assert list(take_numbers(conn, "appropriation", "410000-2026", 2)) == [241, 242]
            conn.rollback()
        with reading(engine) as conn:  # a rolled-back transaction gave its numbers back
            assert conn.execute(sa.select(counter.c.last)).scalar_one() == 240
    finally:
        engine.dispose()


def test_insert_missing_refuses_a_value_for_no_column(db_url: str) -> None:
    """The statement is built once per set of columns given; a misspelt column is an
    error, never a value dropped without a word (a NULL or a default written instead)."""
    engine = open_engine(db_url)
    upgrade(engine)
    row = {"scope": "x", "name": "y", "last": 1}
    try:
        with engine.begin() as conn:
            assert insert_missing(conn, counter, row)
            assert not insert_missing(conn, counter, row)
            with pytest.raises(ValueError, match="no column lsat"):
                insert_missing(conn, counter, {"scope": "x", "name": "z", "lsat": 1})
    finally:
        engine.dispose()


def test_sqlite_readers_do_not_wait_behind_a_long_write(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    started = threading.Event()
    release = threading.Event()

    def long_write() -> None:
        with engine.begin() as conn:
            conn.execute(counter.insert().values(name="x", scope="y", last=1))
            started.set()
            release.wait(20)

    writer = threading.Thread(target=long_write)
    writer.start()
    try:
        assert started.wait(10)
        began = time.monotonic()
        with reading(engine) as conn:
            seen = conn.execute(sa.select(sa.func.count()).select_from(counter)).scalar_one()
        assert seen == 0  # the snapshot before the uncommitted write
        assert time.monotonic() - began < 2, "a reader waited for the writer"
    finally:
        release.set()
        writer.join()
        engine.dispose()


def test_a_locked_database_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'n.db'}")
    upgrade(engine)
    other = sa.create_engine(
        f"sqlite:///{tmp_path / 'n.db'}", connect_args={"timeout": 0.1, "isolation_level": None}
    )
    try:
        with engine.begin() as conn:
            conn.execute(counter.insert().values(name="x", scope="y", last=1))
            with pytest.raises(sa.exc.OperationalError) as raised, other.connect() as second:
                second.exec_driver_sql("BEGIN IMMEDIATE")
        failure = database_failure(raised.value)
        assert isinstance(failure, DatabaseBusy) and failure.exit_code == 5
        assert "busy" in failure.message and failure.hint
        assert database_failure(ValueError("not ours")) is None
    finally:
        other.dispose()
        engine.dispose()


def test_a_writer_that_cannot_begin_on_sqlite_is_told_the_database_is_busy(
    tmp_path: Path,
) -> None:
    path = tmp_path / "n.db"
    engine = open_engine(f"sqlite:///{path}", check=False)
    sa.event.listen(
        engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA busy_timeout=100")
    )
    upgrade(engine)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with reading(engine) as conn:  # a reader does not wait for it
            assert conn.execute(sa.select(sa.func.count()).select_from(counter)).scalar_one() == 0
        with pytest.raises(sa.exc.OperationalError) as raised, engine.begin() as conn:
            conn.execute(counter.insert().values(name="x", scope="y", last=1))
        failure = database_failure(raised.value)
        assert isinstance(failure, DatabaseBusy) and "BEGIN IMMEDIATE" in str(raised.value)
        other.execute("ROLLBACK")
        with engine.begin() as conn:  # the lock let go, the same engine writes
            conn.execute(counter.insert().values(name="x", scope="y", last=1))
        with reading(engine) as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(counter)).scalar_one() == 1
    finally:
        other.close()
        engine.dispose()


def test_one_sync_round_at_a_time_on_a_home(province: Network) -> None:
    home = province.path / "410100"
    with sync_lock(home):
        with pytest.raises(HomeError, match="a sync round is already running"):
            with sync_lock(home, wait=0.2):
                pass
    with sync_lock(home, wait=0.2):  # released
        pass


def test_writers_share_the_home_lock_and_maintenance_is_alone(province: Network) -> None:
    home = province.path / "410000"
    with home_lock(home), home_lock(home, wait=0.1):  # two writers at once
        with pytest.raises(HomeError, match="in use by another command"):
            with home_lock(home, exclusive=True, wait=0.1):
                pass
    with home_lock(home, exclusive=True):
        result = CliRunner().invoke(
            cli,
            ["--home", str(home), "codes", "import", str(home / "missing.csv")],
            env={"FISCALSYNC_LOCK_WAIT": "0.1"},
        )
    assert result.exit_code == 4, result.output + result.stderr
    assert f"节点目录 {home} 正在维护中" in result.stderr, result.stderr
