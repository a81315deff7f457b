"""Bulk inserts at driver speed, for applying large change-sets.

SQLAlchemy's per-row parameter processing costs more than the database's own work when a
change-set carries a million rows, so the apply path hands rows straight to the driver
inside the caller's transaction: ``executemany`` on SQLite, ``COPY FROM STDIN`` on
PostgreSQL. Rows are tuples in column order. Times must be aware datetimes (stored in
UTC exactly as :class:`~schema.types.UTCDateTime` stores them); ``None`` is NULL.

Rows may come from a generator: they are taken as the database takes them, so memory
stays bounded, and on PostgreSQL the generator's work (decoding, checking) runs while the
server is still inserting the rows sent before (COPY streams). An exception raised by the
generator comes out of :func:`insert_rows` unchanged, one of the driver's as SQLAlchemy
would raise it (``sqlalchemy.exc.IntegrityError`` for a broken key, and so on); what was inserted until then stays
in the caller's transaction, for the caller to roll back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import chain, islice, repeat
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, String, Table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

__all__ = ["insert_rows", "update_rows"]

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
_NULL = "\\N"
_STREAM_ROWS = 1_000
"""Rows turned into COPY text per read of the COPY stream (about 200 KB)."""


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Insert ``rows`` into ``table`` within the connection's transaction; return the count."""
    if isinstance(rows, list | tuple) and not rows:
        return 0
    for name in columns:
        table.c[name]  # noqa: B018  (a KeyError here names a column that does not exist)
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return 0
    rows = chain((first,), iterator)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    driver_error = conn.dialect.loaded_dbapi.Error
    try:
        if conn.dialect.name == "sqlite":
            return _sqlite(cursor, table, columns, first, rows)
        return _postgresql(cursor, table, columns, first, rows)
    except driver_error as exc:  # as SQLAlchemy would raise it (IntegrityError, ...)
        raise DBAPIError.instance(
            f"bulk insert into {table.name}", None, exc, driver_error
        ) from exc
    finally:
        cursor.close()


def update_rows(
    conn: Connection,
    table: Table,
    keys: Sequence[str],
    values: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Set the ``values`` columns of the rows of ``table`` whose ``keys`` columns are the
    first of each of ``rows`` (tuples: the keys, then the values), within the caller's
    transaction; a key no row has changes nothing. Columns of text and integers only.

    Each row is changed where it stands (never deleted and inserted again), so that a
    transaction of PostgreSQL waiting to lock it reads it as changed, not as gone. On
    SQLite one ``executemany``; on PostgreSQL one ``UPDATE … FROM unnest(…)`` for each
    :data:`_UPDATE_ROWS` rows, the rows sent as arrays.
    """
    if not rows:
        return
    for name in (*keys, *values):
        kind = table.c[name].type
        if not isinstance(getattr(kind, "impl_instance", kind), String | Integer):
            raise TypeError(f"update_rows: column {name} of {table.name} is not text or integer")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    driver_error = conn.dialect.loaded_dbapi.Error
    names = [*keys, *values]
    try:
        if conn.dialect.name == "sqlite":
            settings = ", ".join(f'"{v}" = ?' for v in values)
            match = " AND ".join(f'"{k}" = ?' for k in keys)
            cursor.executemany(
                f'UPDATE "{table.name}" SET {settings} WHERE {match}',
                ((*row[len(keys) :], *row[: len(keys)]) for row in rows),
            )
            return
        arrays = ", ".join(f"%s::{table.c[n].type.compile(dialect=conn.dialect)}[]" for n in names)
        settings = ", ".join(f'"{v}" = u."{v}"' for v in values)
        match = " AND ".join(f'"{table.name}"."{k}" = u."{k}"' for k in keys)
        statement = (
            f'UPDATE "{table.name}" SET {settings} '
            f"FROM unnest({arrays}) AS u({_names(names)}) WHERE {match}"
        )
        for start in range(0, len(rows), _UPDATE_ROWS):
            cursor.execute(
                statement, [list(c) for c in zip(*rows[start : start + _UPDATE_ROWS], strict=True)]
            )
    except driver_error as exc:  # as SQLAlchemy would raise it
        raise DBAPIError.instance(f"bulk update of {table.name}", None, exc, driver_error) from exc
    finally:
        cursor.close()


_UPDATE_ROWS = 10_000
"""Rows of :func:`update_rows` sent in one statement on PostgreSQL."""


def _sqlite(
    cursor: Any,
    table: Table,
    columns: Sequence[str],
    first: Sequence[Any],
    rows: Iterator[Sequence[Any]],
) -> int:
    special = _special(table, columns, first, (DateTime,), datetime, _sqlite_time)
    marks = ", ".join("?" for _ in columns)
    cursor.executemany(
        f'INSERT INTO "{table.name}" ({_names(columns)}) VALUES ({marks})',
        _converted(rows, special, len(columns)) if special else rows,
    )
    return int(cursor.rowcount)


def _sqlite_time(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime for a UTC column: {value!r}")
        return value.astimezone(UTC).replace(tzinfo=None).strftime(_SQLITE_TIME)
    return value


def _postgresql(
    cursor: Any,
    table: Table,
    columns: Sequence[str],
    first: Sequence[Any],
    rows: Iterator[Sequence[Any]],
) -> int:
    special = _special(table, columns, first, (DateTime, Boolean), (datetime, bool), _pg_text)
    stream = _CopyStream(rows, len(columns), dict(special))
    try:
        cursor.copy_expert(f'COPY "{table.name}" ({_names(columns)}) FROM STDIN', stream)
    except Exception as exc:
        if stream.error is not None:  # psycopg2 reports it as a cancelled COPY
            raise stream.error from exc
        raise
    return stream.count


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class _CopyStream:
    """What COPY FROM STDIN reads: the rows in COPY's text format, a slice at a time.

    A slice is turned into columns (:func:`_columns`), each column made text at once:
    a column of text is taken as it is, one of integers by one ``map(str)``, a "special"
    one (``special``: its index → its memo) converted through its memo first; the
    columns are then zipped back into lines. The slice is then checked: every tab,
    newline and backslash in it must be one the joining put there. Only a slice with a
    value holding one of them (or a carriage return) is escaped value by value.
    """

    def __init__(
        self, rows: Iterator[Sequence[Any]], width: int, special: dict[int, _Memo]
    ) -> None:
        self.rows = rows
        self.width = width
        self.special = special
        self.count = 0
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> str:
        """The next slice as text; whatever goes wrong making it (a bad row, a failing
        source) is kept in ``error`` for the caller to raise in place of COPY's own."""
        try:
            return self._next_slice()
        except BaseException as exc:
            self.error = exc
            raise

    def _next_slice(self) -> str:
        rows = list(islice(self.rows, _STREAM_ROWS))
        if not rows:
            return ""
        self.count += len(rows)
        values = _columns(rows, self.width)
        for i, memo in self.special.items():
            values[i] = list(map(memo.__getitem__, values[i]))
        nulls = 0
        texts: list[Iterable[str]] = []
        for column in values:
            kinds = set(map(type, column))
            if kinds == _TEXT:
                texts.append(column)
            elif kinds == _INTEGER:
                texts.append(map(str, column))
            else:
                found = column.count(None)
                nulls += found
                if found == len(column):
                    texts.append(repeat(_NULL, found))
                else:
                    texts.append(
                        [_NULL if v is None else v if type(v) is str else str(v) for v in column]
                    )
        text = "\n".join(map("\t".join, zip(*texts, strict=True))) + "\n"
        if (
            text.count("\t") != len(rows) * (self.width - 1)
            or text.count("\n") != len(rows)
            or text.count("\\") != nulls
            or "\r" in text
        ):
            text = "".join(_escaped(row) for row in zip(*values, strict=True))
        return text


_TEXT = {str}
_INTEGER = {int}


def _columns(rows: list[Sequence[Any]], width: int) -> list[Any]:
    """``rows`` (all of ``width`` values) as a list of columns, each a tuple of values."""
    try:
        columns = list(zip(*rows, strict=True))
    except ValueError:
        columns = []
    if len(columns) != width:
        widths = sorted({len(row) for row in rows})
        raise ValueError(f"bulk insert: rows of {widths} values for {width} columns")
    return columns


def _escaped(row: Sequence[Any]) -> str:
    return (
        "\t".join(
            _NULL if v is None else (v if type(v) is str else str(v)).translate(_ESCAPES)
            for v in row
        )
        + "\n"
    )


def _pg_text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime for a UTC column: {value!r}")
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    return value


# Rows are handed over with only their "special" columns converted: those declared as a
# time (or boolean) and those holding one in the first row. Each distinct value is
# converted once per call (a change-set's rows mostly share their time), through a dict
# whose misses do the work, so a row costs one lookup per special column.


class _Memo(dict[Any, Any]):
    def __init__(self, convert: Callable[[Any], Any]) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, value: Any) -> Any:
        converted = self[value] = self.convert(value)
        return converted


def _special(
    table: Table,
    columns: Sequence[str],
    first: Sequence[Any],
    declared: tuple[type[TypeEngine[Any]], ...],
    held: type | tuple[type, ...],
    convert: Callable[[Any], Any],
) -> list[tuple[int, _Memo]]:
    special = []
    for i, name in enumerate(columns):
        column_type = table.c[name].type
        impl = getattr(column_type, "impl", column_type)
        if isinstance(column_type, declared) or isinstance(impl, declared):
            special.append((i, _Memo(convert)))
        elif isinstance(first[i], held):
            special.append((i, _Memo(convert)))
    return special


def _converted(
    rows: Iterator[Sequence[Any]], special: list[tuple[int, _Memo]], width: int
) -> Iterator[tuple[Any, ...]]:
    """``rows`` with their special columns converted: a slice at a time is turned into
    columns, each special column mapped through its memo, and zipped back, so that the
    driver pulls the rows through C iterators, not a Python frame per row."""
    return chain.from_iterable(_converted_slices(rows, special, width))


def _converted_slices(
    rows: Iterator[Sequence[Any]], special: list[tuple[int, _Memo]], width: int
) -> Iterator[Iterator[tuple[Any, ...]]]:
    while some := list(islice(rows, _STREAM_ROWS)):
        columns = _columns(some, width)
        for i, memo in special:
            columns[i] = map(memo.__getitem__, columns[i])
        yield zip(*columns, strict=True)


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)
