"""Where fiscalsync gets the time of day.

Everything that stamps or judges time (change-set creation, certificate validity,
revocation dates) asks a :class:`Clock` instead of calling ``datetime.now`` itself, so
tests and simulations can run a whole province on a :class:`FixedClock` that moves only
when told to. Every clock returns aware datetimes in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "FixedClock", "NotBefore", "SystemClock", "as_utc"]


class Clock(Protocol):
    """A source of the current time."""

    def now(self) -> datetime:
        """Return the current time as an aware datetime in UTC."""
        ...


def as_utc(moment: datetime) -> datetime:
    """Return ``moment`` converted to UTC; a naive datetime is refused with ``ValueError``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone; use UTC")
    return moment.astimezone(UTC)


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM_CLOCK = SystemClock()


class FixedClock:
    """A clock that stands still until :meth:`advance` or :meth:`set` moves it."""

    def __init__(self, moment: datetime) -> None:
        self._now = as_utc(moment)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock by ``delta`` (which may be negative) and return the new time."""
        self._now = self._now + delta
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (aware)."""
        self._now = as_utc(moment)

    def __repr__(self) -> str:
        return f"FixedClock({self._now.isoformat()})"


class NotBefore:
    """``clock``, never earlier than ``floor``: while ``clock`` reads earlier (set back,
    or a machine that runs behind the one before it), it reads ``floor``.

    What a node signs is stamped through one, with the latest stamp it has already
    signed as the floor (:func:`sync.channel.signing_clock`), so its stamps never go
    back: see :mod:`sync.channel` on why its peers rely on that.
    """

    def __init__(self, clock: Clock, floor: datetime | None) -> None:
        self._clock = clock
        self.floor = None if floor is None else as_utc(floor)

    def now(self) -> datetime:
        moment = self._clock.now()
        if self.floor is not None and moment < self.floor:
            return self.floor
        return moment
