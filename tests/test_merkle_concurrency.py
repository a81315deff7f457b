"""Digests of one scope changed by transactions that wait on each other's locks, on
PostgreSQL (READ COMMITTED): what each one adds stays added, whatever it waited on.

A bucket changed by a transaction that commits while another waits to lock it must be
found changed by the waiter, not gone: one deleted and inserted again was read as gone,
counted from zero, and what the first transaction had written was lost."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from schema.digests import digest_bucket
from sync import merkle

SCOPE = "410000>410181"
FIRST = {0: 1000, 64: 2000, 128: 3000, 192: 4000}  # one leaf in each of level-1 buckets 0-3


@pytest.fixture
def engine(migrated_engine: sa.Engine, backend: str) -> sa.Engine:
    if backend != "postgresql":
        pytest.skip("SQLite lets one transaction write at a time: none waits on a row")
    return migrated_engine


def changes(deltas: dict[int, int], count: int = 0) -> merkle.Changes:
    """Digest deltas by leaf (records replaced: the counts stay, unless ``count``)."""
    found = merkle.Changes(SCOPE)
    for leaf, delta in deltas.items():
        found.delta[leaf] += delta
        found.count[leaf] += count
    return found


class Waiter:
    """A transaction applying its changes on a thread of its own, committing when told."""

    def __init__(self, engine: sa.Engine, name: str, deltas: dict[int, int]) -> None:
        self.engine, self.name, self.deltas = engine, name, deltas
        self.pid: int | None = None
        self.applied, self.go, self.read_level1 = (threading.Event() for _ in range(3))
        self.before_level1: threading.Event | None = None
        self.error: BaseException | None = None
        self.work = lambda conn: merkle.apply(conn, changes(self.deltas))
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with self.engine.connect() as conn:
            transaction = conn.begin()
            self.pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()

            def level1(params: Any) -> bool:
                return isinstance(params, dict) and params.get("level_1") == 1

            @sa.event.listens_for(conn, "before_cursor_execute")
            def before(_c, _cur, statement, params, _ctx, _many):  # type: ignore[no-untyped-def]
                if self.before_level1 is not None and "FOR UPDATE" in statement and level1(params):
                    self.before_level1.wait(10)

            @sa.event.listens_for(conn, "after_cursor_execute")
            def after(_c, _cur, statement, params, _ctx, _many):  # type: ignore[no-untyped-def]
                if "FOR UPDATE" in statement and level1(params):
                    self.read_level1.set()

            try:
                self.work(conn)
                self.applied.set()
                self.go.wait(30)
                transaction.commit()
            except BaseException as exc:
                self.error = exc
                self.applied.set()

    def waiting_on_a_lock(self, seconds: float = 5) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.pid is not None:
                with self.engine.connect() as conn:
                    wait = conn.exec_driver_sql(
                        f"SELECT wait_event_type FROM pg_stat_activity WHERE pid = {self.pid}"
                    ).scalar()
                if wait == "Lock":
                    return
            time.sleep(0.02)
        raise AssertionError(f"{self.name} never waited on a lock")


def run(engine: sa.Engine, steps: dict[str, dict[int, int]]) -> dict[tuple[int, int], Any]:
    """A applies and holds the root; B (and C) wait on it; A commits; B reads level 1
    before C does, and commits while C waits. The buckets that differ from the sum of
    everything applied, with what they hold."""
    with engine.begin() as conn:
        merkle.apply(conn, changes(FIRST, 1))
    waiters = {name: Waiter(engine, name, deltas) for name, deltas in steps.items()}
    a, b, c = waiters["A"], waiters["B"], waiters.get("C")
    if c is not None:
        c.before_level1 = b.read_level1
    a.thread.start()
    assert a.applied.wait(10)
    for waiter in (b, c):
        if waiter is not None:
            waiter.thread.start()
            waiter.waiting_on_a_lock()
    a.go.set()
    a.thread.join()
    assert b.applied.wait(10)
    if c is not None:
        c.waiting_on_a_lock(3)
    b.go.set()
    b.thread.join()
    if c is not None:
        assert c.applied.wait(10)
        c.go.set()
        c.thread.join()
    assert not [w.error for w in waiters.values() if w.error], [w.error for w in waiters.values()]
    expected: dict[tuple[int, int], int] = {}
    for deltas in (FIRST, *steps.values()):
        for leaf, delta in deltas.items():
            for key in ((2, leaf), (1, leaf // merkle.LEAVES_PER_BUCKET), (0, 0)):
                expected[key] = (expected.get(key, 0) + delta) % 2**256
    with engine.connect() as conn:
        query = sa.select(digest_bucket.c.level, digest_bucket.c.bucket, digest_bucket.c.digest)
        stored = {
            (level, bucket): int(digest, 16)
            for level, bucket, digest in conn.execute(query.where(digest_bucket.c.scope == SCOPE))
        }
    return {key: stored.get(key) for key in expected if stored.get(key) != expected[key]}


def test_a_change_waiting_on_the_root_keeps_what_it_adds(engine: sa.Engine) -> None:
    assert run(engine, {"A": {0: 11}, "B": {0: 22, 128: 33}}) == {}


@pytest.mark.parametrize(
    "third", [{64: 44}, {64: 44, 192: 55}], ids=["inside-a-range", "ranges-overlapping"]
)
def test_a_range_read_loses_nothing_of_a_change_waiting_between(
    engine: sa.Engine, third: dict[int, int]
) -> None:
    """B reads level-1 buckets 0 to 2 as a range (it changes 0 and 2) and locks 1 too;
    C waits to change 1 (and 3: its range 1 to 3 overlaps B's): both keep all they add."""
    assert run(engine, {"A": {0: 11}, "B": {0: 22, 128: 33}, "C": third}) == {}


def test_a_rebuild_waiting_on_a_change_writes_the_scope_as_its_records_make_it(
    engine: sa.Engine,
) -> None:
    """A full reconciliation recomputes a scope from its records while a change of that
    scope (one record more) is open: the rebuild waits for it and the digests are those
    of every record, counted once, at every level."""
    first = {f"410000-2026-{n:06d}": 1000 + n for n in range(50)}
    with engine.begin() as conn:
        merkle.rebuild(conn, SCOPE, first.items())
    everything = {**first, "410000-2026-999999": 777}
    holder = engine.connect()
    transaction = holder.begin()
    one_more = merkle.Changes(SCOPE)
    one_more.add("410000-2026-999999", 777)
    merkle.apply(holder, one_more)
    rebuilder = Waiter(engine, "rebuild", {})
    rebuilder.work = lambda conn: merkle.rebuild(conn, SCOPE, everything.items())
    rebuilder.thread.start()
    rebuilder.waiting_on_a_lock()
    transaction.commit()
    holder.close()
    assert rebuilder.applied.wait(20)
    rebuilder.go.set()
    rebuilder.thread.join()
    assert rebuilder.error is None, rebuilder.error
    with engine.connect() as conn:
        assert merkle.stored(conn, SCOPE) == merkle.tree(everything.items())
