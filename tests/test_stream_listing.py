"""A listing printed to a reader that pauses (``ledger list --format csv | less``) holds no
database transaction while it waits: its rows are read whole first.

The command runs for real, its standard output a pipe of one page that the test does
not read until the command has half filled it (its output is far larger: it blocks on
the pipe). Meanwhile SQLite's WAL can be
checkpointed and truncated (no reader pins it), and PostgreSQL shows no session idle in a
transaction. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import subprocess
import sys
import termios
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from nodes import Node
from nodes.fiscal.appropriations import Allocation, allocate
from nodes.fiscal.ledger import Entry, record
from nodes.network import Network, sync_network
from schema.tables import appropriation

ENTRIES = 5_000  # about 300 kB of csv: far more than the pipe and every buffer hold
PAGE = 4096


def waiting(fd: int, proc: subprocess.Popen[bytes]) -> None:
    """Return once the pipe ``fd`` reads from is at least half full: the listing has
    written to it, and blocks on it before long (its output is far larger)."""
    deadline = time.monotonic() + 120
    while True:
        buffered = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
        if int.from_bytes(buffered, sys.byteorder) >= PAGE // 2:
            return
        assert proc.poll() is None, "the listing ended before filling the pipe"
        assert time.monotonic() < deadline, "the listing never wrote to the pipe"
        time.sleep(0.01)


def no_transaction_open(node: Node) -> None:
    if node.engine.dialect.name == "sqlite":
        path = node.engine.url.database
        assert path is not None
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("UPDATE ledger_entry SET memo = memo || '.' WHERE id = 1")
            busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            other.close()
        assert busy == 0, "a reader pins the WAL"
        return
    with node.engine.connect() as conn:
        idle = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            )
        ).scalar_one()
    assert idle == 0, "a session stays in its transaction while the reader pauses"


def printed_to_a_paused_reader(home: Path, args: list[str]) -> bytes:
    """What ``fiscalsync --home HOME ARGS`` prints into a pipe of one page that nobody
    reads until it is half full; meanwhile no transaction of the command is open."""
    read, write = os.pipe()
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, PAGE)
    command = Path(sys.executable).with_name("fiscalsync")
    with os.fdopen(read, "rb") as out:
        proc = subprocess.Popen(
            [str(command), "--home", str(home), *args], stdout=write, stderr=subprocess.PIPE
        )
        os.close(write)
        try:
            waiting(out.fileno(), proc)
            with Node.open(home) as node:
                no_transaction_open(node)
        finally:
            listed = out.read()
            _, errors = proc.communicate(timeout=120)
    assert proc.returncode == 0, errors.decode()
    return listed


def test_a_paused_reader_of_a_streamed_listing_holds_no_transaction(province: Network) -> None:
    home = province.path / "410000"
    book = (
        Entry(date(2026, 3, 1), "expenditure", "2050201", 100 + n, "50201", memo=f"第{n}笔")
        for n in range(ENTRIES)
    )
    with Node.open(home) as node:
        assert record(node, book, actor="op") == ENTRIES
    listed = printed_to_a_paused_reader(home, ["ledger", "list", "--format", "csv"])
    lines = listed.decode("utf-8").splitlines()
    assert len(lines) == ENTRIES + 1 and lines[1].endswith(",op")


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_a_paused_reader_of_a_statement_holds_no_transaction(province: Network, fmt: str) -> None:
    """``reconcile show --format json|html`` without ``-o`` reads its findings whole first."""
    from nodes.fiscal.reconcile.protocol import start

    count = 80
    lines = [
        Allocation("410100", 1000 + n, "2050201", "50201", "111", f"豫财预〔2026〕{n + 1}号", 2026)
        for n in range(count)
    ]
    with Node.open(province.path / "410000") as node:
        allocate(node, lines, actor="test")
    assert sync_network(province.path, until_quiet=True, max_rounds=20).quiet
    with Node.open(province.path / "410100") as node, node.engine.begin() as conn:
        conn.execute(sa.update(appropriation).values(econ_code="50299"))  # every one differs
    with Node.open(province.path / "410000") as node:
        start(node, "410100", full=True)
    assert sync_network(province.path, until_quiet=True, max_rounds=20).quiet
    home = province.path / "410000"
    shown = printed_to_a_paused_reader(home, ["reconcile", "show", "--format", fmt]).decode()
    if fmt == "json":
        assert len(json.loads(shown)["findings"]) == count
    else:
        assert shown.count("&#x27;50299&#x27; held below") == count
