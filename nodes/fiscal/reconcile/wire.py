"""The content of the reconcile steps a peer sends, checked field by field where a step
reads it: a value not of its shape (its type, its range, a code of ASCII digits) refuses
the step with a message naming it (InputError: a negative receipt, and the channel goes
on). Nothing a peer wrote reaches the database, a finding or a statement unchecked, so
that an exception while a step is taken is a failure of this node, never of its content.

An integer is ``type(x) is int`` (JSON's ``true`` is no number), an amount one a money
column holds (±:data:`schema.types.MAX_STORED_FEN`), and text holds no NUL (PostgreSQL
stores none).
"""

from __future__ import annotations

import re
from typing import Any

from nodes.labels import said
from schema.types import MAX_STORED_FEN
from sync import merkle
from sync.errors import InputError

__all__ = ["buckets", "leaf", "record", "reported", "shown", "summary", "text", "totals"]

_HASH = re.compile(r"[0-9a-f]{64}")
_CLASS = re.compile(r"[0-9]{1,3}")
_SHOWN = 40


def shown(value: Any) -> str:
    """``value`` as a message names it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def text(value: Any, longest: int) -> bool:
    """Whether ``value`` is text of at most ``longest`` characters, with no NUL."""
    return isinstance(value, str) and len(value) <= longest and "\x00" not in value


def number(value: Any, lowest: int, highest: int) -> bool:
    """Whether ``value`` is an integer (not a boolean) from ``lowest`` to ``highest``."""
    return type(value) is int and lowest <= value <= highest


def leaf(key: Any, session: str) -> int:
    """A leaf of the tree named by a step of leaves (its number as text)."""
    try:
        return merkle.bucket_number(key, merkle.LEAVES)
    except ValueError:
        cut = key if not isinstance(key, str) or len(key) <= _SHOWN else key[: _SHOWN - 3] + "..."
        raise InputError(said("rc_leaf_bad", session=session, leaf=cut)) from None


def buckets(value: Any, session: str) -> list[int]:
    """The level-1 buckets an answer says differ: a list of bucket numbers, each once."""
    if not isinstance(value, list):
        raise InputError(said("rc_answer_no_buckets", session=session))
    for bucket in value:
        if not number(bucket, 0, merkle.LEVEL1 - 1):
            raise InputError(
                said(
                    "rc_answer_bucket_bad",
                    session=session,
                    bucket=shown(bucket),
                    last=merkle.LEVEL1 - 1,
                )
            )
    if len(set(value)) != len(value):
        raise InputError(said("rc_answer_bucket_twice", session=session))
    return list(value)


def reported(value: Any, session: str) -> dict[str, list[Any]]:
    """The reports an answer says its sender holds: period (with its mark: ``2026-10
    全辖``) → [its version, or "all" for a region's sum; the hash of its lines]."""
    if not isinstance(value, dict):
        raise InputError(said("rc_answer_no_reports", session=session))
    for period, held in value.items():
        fits = (
            text(period, 64)
            and isinstance(held, list)
            and len(held) == 2
            and (number(held[0], 0, 2**31 - 1) or held[0] == "all")
            and isinstance(held[1], str)
            and _HASH.fullmatch(held[1]) is not None
        )
        if not fits:
            raise InputError(
                said(
                    "rc_answer_report_bad", session=session, period=shown(period), value=shown(held)
                )
            )
    return value


_TEXT = 4000
"""The longest text a record's field may hold on the wire: more than any column holds,
so that a field changed by hand behind the product's back is still compared, and
found."""

_RECORD = (
    ("id", lambda v: text(v, 64) and bool(v)),
    ("year", lambda v: number(v, 0, 9999)),
    ("doc", lambda v: text(v, _TEXT)),
    ("upper_doc", lambda v: v is None or text(v, _TEXT)),
    ("title", lambda v: text(v, _TEXT)),
    ("func", lambda v: text(v, _TEXT)),
    ("econ", lambda v: text(v, _TEXT)),
    ("fund", lambda v: text(v, _TEXT)),
    ("type", lambda v: text(v, _TEXT)),
    ("project", lambda v: v is None or text(v, _TEXT)),
)
"""A record's fields before its events (:func:`nodes.fiscal.reconcile.records.content`),
each with what it may hold: its id is the subject of a finding (64 characters)."""


def _event(value: Any) -> bool:
    """Whether ``value`` is an event of a record: [channel seq, kind, amount in fen, 文号,
    time]."""
    return (
        isinstance(value, list)
        and len(value) == 5
        and number(value[0], 0, MAX_STORED_FEN)
        and text(value[1], _TEXT)
        and number(value[2], -MAX_STORED_FEN, MAX_STORED_FEN)
        and (value[3] is None or text(value[3], _TEXT))
        and text(value[4], _TEXT)
    )


def record(content: Any, session: str) -> list[Any]:
    """A record a step of records carries, as :func:`records.content` builds it."""
    if not (isinstance(content, list) and len(content) == len(_RECORD) + 1):
        raise InputError(said("rc_records_bad", session=session))
    ident = shown(content[0])
    for position, (name, fits) in enumerate(_RECORD):
        if not fits(content[position]):
            raise InputError(
                said(
                    "rc_record_field_bad",
                    session=session,
                    ident=ident,
                    field=name,
                    value=shown(content[position]),
                )
            )
    events = content[len(_RECORD)]
    if not isinstance(events, list):
        bad, field = events, "events"
    else:
        bad, field = next(((e, "event") for e in events if not _event(e)), (None, ""))
    if field:
        raise InputError(
            said("rc_record_field_bad", session=session, ident=ident, field=field, value=shown(bad))
        )
    return content


def totals(value: Any, session: str, key: str) -> dict[str, int]:
    """The amounts one side holds per function class (功能分类 类), as a full comparison
    sends them: class (up to 3 ASCII digits) → fen; none when it sends none."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(
            said("rc_totals_bad", session=session, key=key, code=shown(value), value="-")
        )
    for code, fen in value.items():
        if not (
            isinstance(code, str)
            and _CLASS.fullmatch(code)
            and number(fen, -MAX_STORED_FEN, MAX_STORED_FEN)
        ):
            raise InputError(
                said("rc_totals_bad", session=session, key=key, code=shown(code), value=shown(fen))
            )
    return value


def summary(value: Any, session: str) -> dict[str, Any]:
    """The summary of a statement, as its issuer concluded it: both sides' totals, the
    certificate fingerprints that signed (node code → 64 hex digits), the sequence
    numbers compared and whether the comparison was full; none when it has none."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(said("rc_summary_bad", session=session, key="summary", value=shown(value)))
    for key in ("issuer_totals", "recipient_totals"):
        totals(value.get(key), session, key)
    signed = value.get("fingerprints", {})
    fits = {
        "fingerprints": isinstance(signed, dict)
        and all(
            text(code, 16) and text(f, 64) and _HASH.fullmatch(f) for code, f in signed.items()
        ),
        "sent": number(value.get("sent", 0), 0, MAX_STORED_FEN),
        "recipient_head": number(value.get("recipient_head", 0), 0, MAX_STORED_FEN),
        "full": type(value.get("full", False)) is bool,
    }
    for key, fit in fits.items():
        if not fit:
            raise InputError(
                said("rc_summary_bad", session=session, key=key, value=shown(value.get(key)))
            )
    return value
