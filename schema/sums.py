"""Sums of money that cannot overflow, on either database.

PostgreSQL sums a ``bigint`` column as ``numeric``, which never overflows. SQLite sums
integers in 64 bits and fails with "integer overflow" past 2^63 fen, so there
:func:`total` sums the high and the low 32 bits of each amount apart, each far from
overflowing (up to 2^32 rows), and the two partial sums are joined in Python, whose
integers are unbounded. Both databases use the same truncating division and remainder,
so ``x == (x / 2^32) * 2^32 + x % 2^32`` holds for negative amounts too.

``total(column)`` is an ordinary SQL expression: it groups, filters and labels like
``func.sum``; an empty group totals 0.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

__all__ = ["total"]

_SPLIT = 2**32


class _Total(TypeDecorator[int]):
    """A total as the database returns it (a number, or SQLite's ``"high:low"``), as int."""

    impl = sa.String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> int:
        if value is None:
            return 0
        if isinstance(value, str):
            high, _, low = value.partition(":")
            return int(high) * _SPLIT + int(low)
        if isinstance(value, Decimal | int):
            return int(value)
        raise TypeError(f"unexpected total {value!r}")


class total(FunctionElement[int]):  # noqa: N801  (an SQL function, named like func.sum)
    """The sum of an integer amount expression over a group, exact and without overflow."""

    type = _Total()
    inherit_cache = True
    name = "total"


@compiles(total)
def _total(element: total, compiler: SQLCompiler, **kw: Any) -> str:
    return f"COALESCE(SUM({compiler.process(element.clauses, **kw)}), 0)"


@compiles(total, "sqlite")
def _total_sqlite(element: total, compiler: SQLCompiler, **kw: Any) -> str:
    amount = compiler.process(element.clauses, **kw)
    return f"printf('%d:%d', SUM(({amount}) / {_SPLIT}), SUM(({amount}) % {_SPLIT}))"
