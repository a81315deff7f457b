"""Report periods: months (月报) and their ten-day parts (旬报), in Beijing days, with their
deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal

from nodes.labels import said
from nodes.settings import LOCAL_TIME, Settings
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError

if TYPE_CHECKING:
    pass


KINDS = ("monthly", "tenday")


_PART = {1: (1, 11), 2: (11, 21), 3: (21, None)}
"""Ten-day parts of a month: first day and first day after (None: the next month)."""
_PERIOD_HINT = "period_hint"


@dataclass(frozen=True, order=True)
class Period:
    """A report period: a month (``part`` 0) or one of its ten-day parts (1, 2, 3)."""

    year: int
    month: int
    part: int = 0

    def __post_init__(self) -> None:
        if not (2000 <= self.year <= 2100 and 1 <= self.month <= 12 and 0 <= self.part <= 3):
            raise InputError(
                said("period_none", period=f"{self.year}-{self.month:02d}"), hint=said(_PERIOD_HINT)
            )

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2026-10`` (monthly), ``2026-10-D1`` / ``D2`` / ``D3`` (ten-day)."""
        parts = text.strip().upper().split("-")
        shape_ok = (
            len(parts) in (2, 3)
            and len(parts[0]) == 4
            and parts[0].isdigit()
            and len(parts[1]) == 2
            and parts[1].isdigit()
            and (len(parts) == 2 or parts[2] in ("D1", "D2", "D3"))
        )
        if not shape_ok or not 1 <= int(parts[1]) <= 12:
            raise InputError(said("period_bad", text=text), hint=said(_PERIOD_HINT))
        part = int(parts[2][1]) if len(parts) == 3 else 0
        return cls(int(parts[0]), int(parts[1]), part)

    @classmethod
    def of(cls, value: Period | str) -> Period:
        return value if isinstance(value, Period) else cls.parse(value)

    @classmethod
    def last_ended(cls, kind: str, today: date) -> Period:
        """The latest period of ``kind`` that is over on ``today`` (a local date)."""
        if kind == "monthly":
            first = today.replace(day=1) - timedelta(days=1)
            return cls(first.year, first.month)
        if today.day >= 21:
            return cls(today.year, today.month, 2)
        if today.day >= 11:
            return cls(today.year, today.month, 1)
        previous = today.replace(day=1) - timedelta(days=1)
        return cls(previous.year, previous.month, 3)

    @property
    def kind(self) -> Literal["monthly", "tenday"]:
        return "monthly" if self.part == 0 else "tenday"

    @property
    def label(self) -> str:
        """The period as it is written, stored and sent: ``2026-10`` or ``2026-10-D1``."""
        month = f"{self.year}-{self.month:02d}"
        return month if self.part == 0 else f"{month}-D{self.part}"

    def __str__(self) -> str:
        return self.label

    def columns(self) -> dict[str, str | int]:
        """The period's columns of a stored report: ``period``, ``kind`` and ``year``."""
        return {"period": self.label, "kind": self.kind, "year": self.year}

    def title(self, lang: str = "en") -> str:
        """A heading: ``2026年10月上旬`` or ``October 2026, days 1-10``."""
        if lang == "zh":
            return f"{self.year}年{self.month}月" + ("", "上旬", "中旬", "下旬")[self.part]
        month = date(self.year, self.month, 1).strftime("%B %Y")
        if self.part == 0:
            return month
        last = (self.end - timedelta(days=1)).day
        return f"{month}, days {self.start.day}-{last}"

    @property
    def start(self) -> date:
        return date(self.year, self.month, _PART[self.part][0] if self.part else 1)

    @property
    def end(self) -> date:
        """The first day after the period."""
        after = _PART[self.part][1] if self.part else None
        if after is not None:
            return date(self.year, self.month, after)
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def year_start(self) -> date:
        return date(self.year, 1, 1)

    @property
    def month_start(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_year_start(self) -> date:
        """The first day of the year before (上年同期 runs from it)."""
        return date(self.year - 1, 1, 1)

    @property
    def last_year_end(self) -> date:
        """The first day after the same period last year (a period ends on the 1st, 11th
        or 21st, which every month has)."""
        return self.end.replace(year=self.end.year - 1)

    def ends_at(self) -> datetime:
        """The moment the period is over (local midnight), in UTC."""
        return _local_midnight(self.end)

    def due_date(self, settings: Settings) -> date:
        """The last day on which the report is on time."""
        if self.part == 0:
            return self.end.replace(day=settings.monthly_deadline_day)
        return self.end + timedelta(days=settings.tenday_deadline_days - 1)

    def deadline(self, settings: Settings) -> datetime:
        """The moment a submission becomes late (the local midnight ending the due date), UTC."""
        return _local_midnight(self.due_date(settings) + timedelta(days=1))


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), LOCAL_TIME).astimezone(UTC)


def local_today(clock: Clock = SYSTEM_CLOCK) -> date:
    """Today's date in Beijing."""
    return clock.now().astimezone(LOCAL_TIME).date()
