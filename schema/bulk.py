"""Bulk inserts at driver speed, for applying large change-sets.

SQLAlchemy's per-row parameter processing costs more than the database's own work when a
change-set carries a million rows, so the apply path hands rows straight to the driver
inside the caller's transaction: ``executemany`` on SQLite, ``COPY FROM STDIN`` on
PostgreSQL. Rows are tuples in column order. Times must be aware datetimes (stored in
UTC exactly as :class:`~schema.types.UTCDateTime` stores them); ``None`` is NULL.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection

__all__ = ["insert_rows"]

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> int:
    """Insert ``rows`` into ``table`` within the connection's transaction; return the count."""
    if not rows:
        return 0
    for name in columns:
        table.c[name]  # noqa: B018  (a KeyError here names a column that does not exist)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.name == "sqlite":
            _sqlite(cursor, table, columns, rows)
        else:
            _postgresql(cursor, table, columns, rows)
    finally:
        cursor.close()
    return len(rows)


def _sqlite(cursor: Any, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    times = [i for i, row_value in enumerate(rows[0]) if isinstance(row_value, datetime)]
    if times:
        rows = [_sqlite_times(row, times) for row in rows]
    marks = ", ".join("?" for _ in columns)
    cursor.executemany(f'INSERT INTO "{table.name}" ({_names(columns)}) VALUES ({marks})', rows)


def _sqlite_times(row: tuple[Any, ...], times: list[int]) -> tuple[Any, ...]:
    values = list(row)
    for i in times:
        moment = values[i]
        if moment is not None:
            if moment.tzinfo is None:
                raise ValueError(f"naive datetime for a UTC column: {moment!r}")
            values[i] = moment.astimezone(UTC).replace(tzinfo=None).strftime(_SQLITE_TIME)
    return tuple(values)


def _postgresql(
    cursor: Any, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(["\\N" if v is None else _pg_text(v) for v in row])
    buffer.seek(0)
    cursor.copy_expert(
        f"COPY \"{table.name}\" ({_names(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
        buffer,
    )


def _pg_text(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime for a UTC column: {value!r}")
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    return value


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)
