"""What makes two lines of a batch the same issue, and how a batch finds them: among its
own lines (a filter of their keys, then the lines themselves) and among what its issuer
issued before (by their 文号, through the index on (issuer, year, 文号)).

:func:`key` is a line's year, 文号, recipient, function and amount. A batch records each
line's key in a :class:`Seen` as it reads it; :func:`repeats` names the lines whose key
came back. Before its lines are read again, :func:`none_earlier` tells whether anything
issued here before can be one of them at all; when it can, :func:`earlier` looks the
lines up a chunk at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.appropriations.balances import issued_events
from nodes.labels import said
from schema.channels import outbox
from schema.tables import appropriation, appropriation_event

if TYPE_CHECKING:
    from nodes.fiscal.appropriations.issuing import Allocation

__all__ = ["DOCS_KEPT", "Seen", "earlier", "issued_with", "key", "none_earlier", "repeats"]

DOCS_PER_QUERY = 5_000
"""文号 looked up by one query."""

DOCS_KEPT = 100_000
"""Most distinct 文号 a batch's first pass keeps for :func:`none_earlier` (each at most
a 文号's length: 15 MB for 100,000 of a usual length, 52 MB at the worst; let go once
looked up); a batch of more is looked up chunk by chunk in the second pass."""


def key(line: Allocation) -> tuple[Any, ...]:
    """What makes two lines the same issue: 文号, recipient, function and amount, in a year."""
    return (line.year, line.doc.strip(), line.recipient, line.func, line.amount_fen)


def _row_key(row: Any) -> tuple[Any, ...]:
    """:func:`key` of an appropriation issued here (a row of :func:`issued_with`)."""
    return (row.year, row.doc_no, row.recipient, row.func_code, row.amount_fen)


class Seen:
    """The hashes of the keys a batch has shown, in fixed memory whatever its length (a
    Bloom filter of 4 MB): "not seen" is certain; "seen" may be wrong (about one line in
    1,500 of a million-line batch), which is why :func:`repeats` compares the lines
    themselves before it names a repeat."""

    BITS = 1 << 25

    def __init__(self) -> None:
        self._bits = bytearray(self.BITS >> 3)

    def add(self, digest: int) -> bool:
        """Record ``digest``; tell whether it may have been recorded before."""
        bits = self._bits
        seen = True
        for shift in (0, 20, 39):
            position = (digest >> shift) & (self.BITS - 1)
            byte, bit = position >> 3, 1 << (position & 7)
            if not bits[byte] & bit:
                seen = False
                bits[byte] |= bit
        return seen

    def __contains__(self, digest: int) -> bool:
        """Whether ``digest`` may have been recorded ("no" is certain)."""
        bits = self._bits
        for shift in (0, 20, 39):
            position = (digest >> shift) & (self.BITS - 1)
            if not bits[position >> 3] & 1 << (position & 7):
                return False
        return True


def repeats(
    lines: Iterable[Allocation],
    again: list[tuple[int, int]],
    where: Callable[[Allocation, int], str],
) -> Iterator[str]:
    """Lines that repeat an earlier line of the batch (``lines``, each named by
    ``where``), named with it: ``again`` holds the lines whose key's hash was seen before
    (a hash may collide: keys are compared here)."""
    later = {number for number, _ in again}
    hashes = {digest for _, digest in again}
    first: dict[tuple[Any, ...], str] = {}
    for number, line in enumerate(lines, 1):
        k = key(line)
        if hash(k) not in hashes:
            continue
        named = where(line, number)
        if k not in first:
            first[k] = named
        elif number in later:
            yield said("rows_at", where=named, what=said("rows_repeats", first=first[k]))


def earlier(conn: Connection, me: str, lines: list[Allocation]) -> dict[tuple[Any, ...], str]:
    """Of the keys of ``lines``, those issued here already (and not refused by the
    recipient), with the id that has each. The caller holds the issuer's counter for
    every year of the batch, so two batches checked at once cannot both miss each other.
    """
    found: dict[tuple[Any, ...], str] = {}
    docs = {line.doc.strip() for line in lines}
    for row in _issued(conn, me, {line.year for line in lines}, docs):
        found.setdefault(_row_key(row), row.id)
    return found


def none_earlier(
    conn: Connection, me: str, years: Iterable[int], docs: set[str], seen: Seen
) -> bool:
    """Whether no line of a batch (its 文号 ``docs``, its keys' hashes in ``seen``) can
    repeat anything issued here before: no appropriation of those 文号 has a key the
    batch may hold ("may" is the filter's: a yes is checked line by line, by
    :func:`earlier`, in the second pass)."""
    return not any(hash(_row_key(row)) in seen for row in _issued(conn, me, years, docs))


def _issued(conn: Connection, me: str, years: Iterable[int], docs: set[str]) -> Iterator[Any]:
    """The rows of :func:`issued_with` for ``docs``, :data:`DOCS_PER_QUERY` at a time."""
    ordered, in_years = sorted(docs), sorted(years)
    for start in range(0, len(ordered), DOCS_PER_QUERY):
        yield from conn.execute(issued_with(me, in_years, ordered[start : start + DOCS_PER_QUERY]))


def issued_with(me: str, years: list[int], docs: list[str]) -> sa.Select[Any]:
    """The issue events of the appropriations ``me`` issued in ``years`` under the 文号
    ``docs`` (not refused by their recipient): looked up by the index on (issuer, year,
    文号), so the cost goes with the lines found, not with all that ``me`` issued."""
    return (
        sa.select(
            appropriation.c.id,
            appropriation.c.year,
            appropriation.c.doc_no,
            appropriation.c.recipient,
            appropriation.c.func_code,
            appropriation_event.c.amount_fen,
        )
        .select_from(issued_events())
        .where(
            appropriation.c.issuer == me,
            appropriation.c.year.in_(years),
            appropriation.c.doc_no.in_(docs),
            appropriation_event.c.kind == "issue",
            sa.or_(outbox.c.receipt_verdict.is_(None), outbox.c.receipt_verdict != "rejected"),
        )
    )
