"""What a column can hold, checked before a row received from another node is stored.

SQLite stores a 150-character string in a ``String(100)`` column, a bool in an integer
column and so on; PostgreSQL refuses them, and a psycopg2 error halfway through an apply
tells the sender nothing. An applier checks every row it is about to store with
:func:`misfit`, against the table's own declaration, and refuses the change-set (a
negative receipt) with the reason, the same way on both databases.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from schema.said import Said, said

__all__ = ["misfit"]

_INTEGER_BITS = ((sa.SmallInteger, 16), (sa.BigInteger, 64), (sa.Integer, 32))


def misfit(table: sa.Table, row: Mapping[str, Any]) -> Said | None:
    """Why ``row`` cannot be stored in ``table`` as it is (naming the column), or None.

    Checks each value against its column's declared type: strings within their length
    (in characters, as PostgreSQL counts them), without NUL and encodable as UTF-8;
    integers within the column's bits and never a bool; booleans; dates; aware times;
    NULL only where the column allows it. Check constraints are the applier's own job.
    The reason is said by key (:class:`schema.said.Said`); its English text is what a
    receipt carries.
    """
    for name, value in row.items():
        problem = _column_misfit(table.c[name], value)
        if problem is not None:
            key, values = problem
            return said(key, column=name, **values)
    return None


_Problem = tuple[str, dict[str, Any]]


def _column_misfit(column: sa.Column[Any], value: Any) -> _Problem | None:
    if value is None:
        return None if column.nullable else ("fit_missing", {})
    kind = column.type
    if isinstance(kind, sa.types.TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, sa.String):
        return _text_misfit(value, kind.length)
    if isinstance(kind, sa.Boolean):
        return None if type(value) is bool else ("fit_not_bool", {"value": value})
    if isinstance(kind, sa.Integer):
        bits = next(b for t, b in _INTEGER_BITS if isinstance(kind, t))
        if type(value) is not int:
            return "fit_not_whole", {"value": value}
        if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            return "fit_too_many_bits", {"value": value, "bits": bits}
        return None
    if isinstance(kind, sa.DateTime):
        aware = isinstance(value, datetime) and value.utcoffset() is not None
        return None if aware else ("fit_not_time", {"value": value})
    if isinstance(kind, sa.Date):
        plain = isinstance(value, date) and not isinstance(value, datetime)
        return None if plain else ("fit_not_date", {"value": value})
    raise TypeError(f"no limits known for column {column} of type {kind!r}")


def _text_misfit(value: Any, length: int | None) -> _Problem | None:
    if not isinstance(value, str):
        return "fit_not_text", {"value": value}
    if length is not None and len(value) > length:
        return "fit_too_long", {"length": len(value), "most": length}
    if "\x00" in value:
        return "fit_nul", {}
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "fit_surrogate", {}
    return None
