"""Value types of the node database: money in fen, region codes, digests, UTC time.

Money is an exact integer number of fen (分). Amounts typed by people are parsed with
:func:`parse_yuan` (at most two decimals, never through ``float``) and shown with
:func:`format_yuan`.

One amount (a line of a batch, an event of an appropriation, a ledger entry, the standing
amount of an appropriation) is at most :data:`MAX_AMOUNT_FEN`, 10^15 fen (10 万亿元,
some ten times a large province's whole annual budget): far beyond any real amount, and
small enough that nine thousand of them still fit a signed 64-bit column. Sums over
many rows are taken with :func:`schema.sums.total`, which cannot overflow.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from schema.said import said

__all__ = [
    "storable",
    "format_utc",
    "parse_utc",
    "DIGEST_LENGTH",
    "MAX_AMOUNT_FEN",
    "MAX_STORED_FEN",
    "NODE_CODE_LENGTH",
    "Fen",
    "UTCDateTime",
    "format_yuan",
    "is_node_code",
    "is_region_code",
    "parse_yuan",
    "utcnow",
]

NODE_CODE_LENGTH = 16
DIGEST_LENGTH = 64

_REGION_CODE = re.compile(r"^[1-9][0-9]{5}\Z")  # \Z: no newline after it; ASCII digits
_NODE_CODE = re.compile(r"^[1-9][0-9]{5}(-[a-z][a-z0-9]{0,8})?\Z")
_YUAN = re.compile(r"^[+-]?\d+(\.\d{1,2})?$")

FIRST_YEAR, LAST_YEAR = 2000, 2100
"""The fiscal years the product takes (a command's, a line's, an operation's, a code
set's): a year past any a database column holds raised a raw OverflowError on SQLite."""

MAX_AMOUNT_FEN = 10**15
"""The largest amount of one line, event, entry or appropriation, in fen."""
MAX_STORED_FEN = 2**63 - 1
"""The largest amount a money column holds (a signed 64-bit integer), e.g. a report total."""

Fen = BigInteger
"""Column type of every amount: a signed 64-bit integer number of fen."""


def storable(text: str) -> str:
    """``text`` as a text column holds it on every backend: a NUL, which PostgreSQL's text
    cannot hold (a row naming one would fail to be written, round after round), as U+FFFD.
    For what another node wrote: a receipt's reason, a notice's detail."""
    return text.replace("\x00", "\ufffd")


def is_year(value: object) -> bool:
    """True for a fiscal year the product takes: an ``int`` (not ``True``) from
    :data:`FIRST_YEAR` to :data:`LAST_YEAR`."""
    return type(value) is int and FIRST_YEAR <= value <= LAST_YEAR


def is_region_code(code: str) -> bool:
    """True for a six-digit GB/T 2260 administrative division code such as ``410102``."""
    return bool(_REGION_CODE.match(code))


def is_node_code(code: str) -> bool:
    """True for a node code: a region code, optionally with a suffix (``410000-dc``)."""
    return bool(_NODE_CODE.match(code))


def parse_yuan(text: str) -> int:
    """Parse an amount in 元 with at most two decimals into integer fen.

    Amounts beyond ±:data:`MAX_AMOUNT_FEN` are refused.

    >>> parse_yuan("1234.56")
    123456
    """
    cleaned = text.strip().replace(",", "")
    if not _YUAN.match(cleaned):
        raise ValueError(said("amount_not_yuan", text=text))
    try:
        fen = Decimal(cleaned) * 100
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise ValueError(said("amount_not_yuan", text=text)) from exc
    if abs(fen) > MAX_AMOUNT_FEN:
        largest = format_yuan(MAX_AMOUNT_FEN)
        raise ValueError(said("amount_too_large", text=text.strip(), largest=largest))
    return int(fen)


def format_yuan(fen: int) -> str:
    """Render integer fen as 元 with two decimals and thousands separators."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time with its zone (``Z`` allowed), as an aware UTC datetime.

    Raises ValueError for text that is not a time or has no zone.
    """
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(said("time_no_zone", text=text))
    return moment.astimezone(UTC)


def format_utc(moment: datetime) -> str:
    """An aware time as it is written on the wire: ``2026-11-05T01:30:00.000000Z`` (UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned as an aware UTC datetime.

    Naive datetimes are refused: a time without a zone is a bug waiting to happen.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"naive or non-datetime value for a UTC column: {value!r}")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def code_column_type() -> String:
    """Column type of node and region codes."""
    return String(NODE_CODE_LENGTH)
