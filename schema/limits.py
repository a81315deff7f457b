"""What a column can hold, checked before a row received from another node is stored.

SQLite stores a 150-character string in a ``String(100)`` column, a bool in an integer
column and so on; PostgreSQL refuses them, and a psycopg2 error halfway through an apply
tells the sender nothing. An applier checks every row it is about to store with
:func:`misfit`, against the table's own declaration, and refuses the change-set (a
negative receipt) with the reason, the same way on both databases.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from schema.said import Said, said

__all__ = ["misfit", "misfit_many"]

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
    checks = _checks(table)
    for name, value in row.items():
        if value is None:
            if checks[name][0]:
                continue
            return said("fit_missing", column=name)
        problem = checks[name][1](value)
        if problem is not None:
            key, values = problem
            return said(key, column=name, **values)
    return None


def misfit_many(
    table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[int, Said] | None:
    """The first of ``rows`` (tuples of the values of ``columns``) that :func:`misfit`
    finds cannot be stored in ``table``, by its index, with the reason; None when all can.

    The same checks as :func:`misfit` row by row, made a column at a time by loops in C
    (the types of a column's values, their least and greatest integer, their longest
    text, one UTF-8 encoding of all its text), which costs a fraction of a check of each
    value; only a column that fails them is looked at row by row, so that the row and
    the reason named are the ones :func:`misfit` names.
    """
    checks = _checks(table)
    for name, values in zip(columns, zip(*rows, strict=True), strict=False):
        if not _all_fit(table.c[name], checks[name][0], list(values)):
            return _first_misfit(table, columns, rows)
    return None


def _all_fit(column: sa.Column[Any], nullable: bool, values: list[Any]) -> bool:
    """Whether every one of ``values`` fits ``column``, tested as a whole; False when any
    might not (the caller then looks at each)."""
    kinds = set(map(type, values))
    if type(None) in kinds:
        if not nullable:
            return False
        kinds.discard(type(None))
        values = [v for v in values if v is not None]
    if not values:
        return True
    kind = _declared(column)
    if isinstance(kind, sa.String):
        if kinds != {str}:
            return False
        text = "".join(values)
        if "\x00" in text or (kind.length is not None and max(map(len, values)) > kind.length):
            return False
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(kind, sa.Boolean):
        return kinds == {bool}
    if isinstance(kind, sa.Integer):
        bits = _bits(kind)
        return (
            kinds == {int} and -(2 ** (bits - 1)) <= min(values) and max(values) < 2 ** (bits - 1)
        )
    return False  # times and dates: checked one by one


def _first_misfit(
    table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[int, Said] | None:
    for index, row in enumerate(rows):
        problem = misfit(table, dict(zip(columns, row, strict=True)))
        if problem is not None:
            return index, problem
    return None


_Problem = tuple[str, dict[str, Any]]
_Check = Callable[[Any], "_Problem | None"]


@functools.cache
def _checks(table: sa.Table) -> dict[str, tuple[bool, _Check]]:
    """Each column's (nullable, check of a value that is not None), read from its
    declaration once: an applier checks every row of a change-set against it."""
    return {key: (bool(column.nullable), _check(column)) for key, column in table.c.items()}


def _declared(column: sa.Column[Any]) -> Any:
    """The type ``column`` is stored as (a decorated type's underlying one)."""
    kind = column.type
    return kind.impl_instance if isinstance(kind, sa.types.TypeDecorator) else kind


def _bits(kind: sa.Integer) -> int:
    """How many bits an integer column of type ``kind`` holds."""
    return next(b for t, b in _INTEGER_BITS if isinstance(kind, t))


def _check(column: sa.Column[Any]) -> _Check:
    kind = _declared(column)
    if isinstance(kind, sa.String):
        length = kind.length
        return lambda value: _text_misfit(value, length)
    if isinstance(kind, sa.Boolean):
        return lambda value: None if type(value) is bool else ("fit_not_bool", {"value": value})
    if isinstance(kind, sa.Integer):
        return functools.partial(_integer_misfit, bits=_bits(kind))
    if isinstance(kind, sa.DateTime):
        return _time_misfit
    if isinstance(kind, sa.Date):
        return _date_misfit

    def unknown(value: Any) -> _Problem | None:
        raise TypeError(f"no limits known for column {column} of type {kind!r}")

    return unknown


def _integer_misfit(value: Any, bits: int) -> _Problem | None:
    if type(value) is not int:
        return "fit_not_whole", {"value": value}
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        return "fit_too_many_bits", {"value": value, "bits": bits}
    return None


def _time_misfit(value: Any) -> _Problem | None:
    aware = isinstance(value, datetime) and value.utcoffset() is not None
    return None if aware else ("fit_not_time", {"value": value})


def _date_misfit(value: Any) -> _Problem | None:
    plain = isinstance(value, date) and not isinstance(value, datetime)
    return None if plain else ("fit_not_date", {"value": value})


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
