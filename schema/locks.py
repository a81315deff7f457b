"""Row locks for every check-then-write: what a check reasons about is locked first.

A balance, a next number or a channel head read by one transaction must not change
before that transaction writes what it decided. On PostgreSQL (READ COMMITTED) the rows
are taken with ``SELECT … FOR UPDATE``, always in sorted key order so that two
transactions locking overlapping sets cannot deadlock; a statement that runs after the
lock is granted sees every commit made before it. On SQLite every writing transaction
already holds the database's write lock from its first statement (``BEGIN IMMEDIATE``,
:mod:`schema.engine`), and the same calls run there, so both databases take one code path.

Lock order across the product, to keep it free of deadlocks: the year-end close of a
year (at a node, then its edges, each a :func:`lock_scope`), then appropriation rows (by
id), then counters, then outbound channel heads (by recipient). Applying a change-set takes
its inbound channel head first and appropriation rows after it; that cannot close a cycle,
because nothing else ever takes an inbound head.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from schema.tables import counter

__all__ = ["insert_missing", "lock_rows", "lock_scope", "take_numbers"]

_LOCK_BATCH = 5_000


def insert_missing(conn: Connection, table: sa.Table, values: Mapping[str, Any]) -> bool:
    """Insert one row unless its primary key is already there; True when inserted.

    ``INSERT … ON CONFLICT DO NOTHING``: two transactions creating the same row at once
    never fail with a unique violation; the second waits for the first and then finds it.
    """
    key = (conn.dialect.name, table, tuple(values))
    statement = _INSERT_MISSING.get(key)
    if statement is None:
        unknown = sorted(set(values) - set(table.c.keys()))
        if unknown:  # a value for no column would otherwise be dropped without a word
            raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).on_conflict_do_nothing()
        _INSERT_MISSING[key] = statement
    return bool(conn.execute(statement, dict(values)).rowcount)


_INSERT_MISSING: dict[tuple[str, sa.Table, tuple[str, ...]], Any] = {}
"""The statement of :func:`insert_missing`, built once per database kind, table and
columns given (building it costs several times what the database takes to run it)."""


def lock_rows(conn: Connection, column: sa.Column[Any], keys: Collection[Any]) -> list[Any]:
    """Lock the rows of ``column``'s table whose ``column`` is in ``keys``, in key order;
    return them (rows that do not exist are simply not returned)."""
    query = _LOCKING.get(column)
    if query is None:
        query = _LOCKING[column] = (
            sa.select(column.table)
            .where(column.in_(sa.bindparam("keys", expanding=True)))
            .order_by(column)
            .with_for_update()
        )
    found: list[Any] = []
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), _LOCK_BATCH):
        found.extend(conn.execute(query, {"keys": ordered[start : start + _LOCK_BATCH]}).all())
    return found


_LOCKING: dict[sa.Column[Any], sa.Select[Any]] = {}
"""The statement locking rows by each column, built once (lock_rows runs for every
change-set taken and every operator's write)."""


_THIS_COUNTER = (counter.c.name == sa.bindparam("counter")) & (
    counter.c.scope == sa.bindparam("in_scope")
)
_COUNTER = sa.select(counter.c.last).where(_THIS_COUNTER).with_for_update()
_COUNTED = counter.update().where(_THIS_COUNTER).values(last=sa.bindparam("new_last"))
"""The statements of a counter, built once (every number taken runs them)."""


def lock_scope(conn: Connection, name: str, scope: str) -> int:
    """Lock counter ``name`` in ``scope`` (created at 0 if missing) until the transaction
    ends; return its value. Also a mutex for what has no row to lock yet (the first
    version of a report, say)."""
    insert_missing(conn, counter, {"name": name, "scope": scope, "last": 0})
    return int(conn.execute(_COUNTER, {"counter": name, "in_scope": scope}).scalar_one())


def take_numbers(conn: Connection, name: str, scope: str, count: int) -> range:
    """Take the next ``count`` numbers of counter ``name`` in ``scope`` (1, 2, … at first).

    The counter row is created if missing and locked until the transaction ends: numbers
    are never handed out twice, and a rolled-back transaction gives its numbers back.
    """
    if count <= 0:
        return range(0)
    last = lock_scope(conn, name, scope)
    conn.execute(_COUNTED, {"counter": name, "in_scope": scope, "new_last": last + count})
    return range(last + 1, last + count + 1)
