"""Benchmark: the cost of a short SQLite transaction, as a sync round runs a dozen of them.

Run by hand (pytest never collects it)::

    .venv/bin/python tests/bench/bench_begin.py
    .venv/bin/python tests/bench/bench_begin.py --transactions 20000 --repeat 5

An engine from :func:`schema.engine.open_engine` (transactions begun by its dialect)
against a baseline made in the same run the way ``open_engine`` made it before: the
same pragmas, with ``BEGIN`` / ``BEGIN IMMEDIATE`` issued from a ``begin`` event
listener. Each does the same work on the same database, alternately: a read-only
transaction (:func:`schema.engine.reading`) with one indexed SELECT, then a writing one
(``engine.begin()``) with one UPDATE that changes no row, as a round's probes do.
Printed: CPU seconds (this process's) and wall seconds per 1,000 pairs, best of the
repeats, side by side.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from schema.engine import BUSY_TIMEOUT_MS, READ_ONLY, open_engine, reading, sqlite_url

ITEMS = sa.table("item", sa.column("id"), sa.column("state"))
PROBE = sa.select(ITEMS.c.id).where(ITEMS.c.state == sa.bindparam("state"))
TOUCH = ITEMS.update().where(ITEMS.c.id == -1).values(state="never")


def baseline_engine(url: str) -> sa.Engine:
    """An engine as ``open_engine`` made one before: BEGIN from a ``begin`` event."""
    engine = sa.create_engine(url, connect_args={"isolation_level": None})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        statement = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            driver.execute(statement)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc

    return engine


def work(engine: sa.Engine, pairs: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(pairs):
        with reading(engine) as conn:
            conn.execute(PROBE, {"state": "open"}).all()
        with engine.begin() as conn:
            conn.execute(TOUCH)
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=10_000, help="pairs per repeat")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = sqlite_url(Path(folder) / "bench.db")
        ours = open_engine(url)
        with ours.begin() as conn:
            conn.execute(sa.text("CREATE TABLE item (id INTEGER PRIMARY KEY, state TEXT)"))
            conn.execute(sa.text("CREATE INDEX item_state ON item (state)"))
            conn.execute(ITEMS.insert(), [{"id": i, "state": "closed"} for i in range(1, 1_001)])
        before = baseline_engine(url)
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.repeat):
            for name, engine in (("before (begin event)", before), ("now (dialect)", ours)):
                cpu, wall = work(engine, args.transactions)
                kept = best.get(name)
                if kept is None or cpu < kept[0]:
                    best[name] = (cpu, wall)
        ours.dispose()
        before.dispose()
    per = 1_000 / args.transactions
    print(f"{args.transactions:,} read + write transaction pairs, best of {args.repeat}:")
    for name, (cpu, wall) in best.items():
        print(
            f"  {name:<22} cpu {cpu * per * 1000:6.1f} ms  wall {wall * per * 1000:6.1f} ms"
            "  per 1,000 pairs"
        )
    old, new = best["before (begin event)"][0], best["now (dialect)"][0]
    print(f"  CPU saved: {100 * (old - new) / old:.0f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
