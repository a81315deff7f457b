"""What a report is, as stored (a version of one node's report) and as viewed (one node's,
or a region's consolidation)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.reports.lines import TOTAL, ReportLine
from nodes.fiscal.reports.periods import Period
from schema.tables import report_line
from schema.types import format_utc, format_yuan

if TYPE_CHECKING:
    pass


SCOPES = ("own", "all")


@dataclass(frozen=True)
class ReportVersion:
    """One stored version of one node's report for one period (without its lines)."""

    node: str
    period: str
    version: int
    state: str
    generated_at: datetime
    generated_by: str
    submitted_at: datetime | None
    """When its sender submitted it, by the sender's clock (the time its change-set
    claims, for a version received here)."""
    received_at: datetime | None
    """When this node took it, by this node's clock (a version received here only)."""
    changeset_id: str | None
    scope: str = "own"
    """``own`` (本级), or ``all`` for a child's consolidation sent level by level (全辖)."""

    @property
    def submitted_here(self) -> datetime | None:
        """When it was submitted, by this node's clock: when this node sent it, or, for a
        version received here, when this node took it (another node's clock is never
        taken for a date that may decide whether a report was late)."""
        return self.received_at if self.state == "received" else self.submitted_at

    @classmethod
    def from_row(cls, row: Any, scope: str = "own") -> ReportVersion:
        return cls(
            scope=scope,
            node=row.node_code,
            period=row.period,
            version=row.version,
            state=row.state,
            generated_at=row.generated_at,
            generated_by=row.generated_by,
            submitted_at=row.submitted_at,
            received_at=row.received_at,
            changeset_id=row.changeset_id,
        )

    def as_dict(self) -> dict[str, Any]:
        def moment(value: datetime | None) -> str | None:
            return format_utc(value) if value is not None else None

        return {
            "node": self.node,
            "period": self.period,
            "version": self.version,
            "state": self.state,
            "generated_at": moment(self.generated_at),
            "generated_by": self.generated_by,
            "submitted_at": moment(self.submitted_at),
            "received_at": moment(self.received_at),
            "changeset": self.changeset_id,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class ReportView:
    """A report as shown: one node's (``own``) or a region's consolidation (``all``).

    ``sources`` are the current versions summed; ``missing`` the nodes of the region of
    which this node holds no report for the period.
    """

    period: Period
    region: str
    region_name: str
    scope: str
    lines: list[ReportLine]
    sources: list[ReportVersion]
    missing: list[str]

    def total(self, section: str) -> ReportLine:
        return next(x for x in self.lines if x.section == section and x.level == TOTAL)

    def line(self, section: str, code: str, level: int | None = None) -> ReportLine | None:
        """The line of ``code`` (its subtotal when it has one, unless ``level`` is given)."""
        found = [x for x in self.lines if x.section == section and x.code == code]
        if level is not None:
            found = [x for x in found if x.level == level]
        return min(found, key=lambda x: x.level) if found else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: amounts in integer fen and as 元 text with two decimals."""
        return {
            "period": self.period.label,
            "kind": self.period.kind,
            "region": self.region,
            "region_name": self.region_name,
            "scope": self.scope,
            "lines": [
                {
                    "section": x.section,
                    "level": x.level,
                    "grade": x.grade,
                    "code": x.code,
                    "name": x.name,
                    "budget_fen": x.budget_fen,
                    "period_fen": x.period_fen,
                    "ytd_fen": x.ytd_fen,
                    "month_fen": x.month_fen,
                    "last_year_fen": x.last_year_fen,
                    "budget": _yuan(x.budget_fen),
                    "period": _yuan(x.period_fen),
                    "ytd": _yuan(x.ytd_fen),
                    "month": _yuan(x.month_fen),
                    "last_year": _yuan(x.last_year_fen),
                    "change": x.change,
                }
                for x in self.lines
            ],
            "sources": [s.as_dict() for s in self.sources],
            "missing": self.missing,
        }


def _yuan(fen: int) -> str:
    return format_yuan(fen).replace(",", "")


STREAM_LINES = 2_000
"""Report lines fetched at a time: a consolidation of every report of a province sums
them as they come (a server-side cursor on PostgreSQL), holding only the sums by code."""


def stored_lines(conn: Connection, report_ids: Iterable[int]) -> Iterator[Any]:
    """The stored lines of the reports ``report_ids``, streamed; read them to the end
    before the next query on ``conn``."""
    query = sa.select(report_line).where(report_line.c.report_id.in_(list(report_ids)))
    streamed = {"stream_results": True, "yield_per": STREAM_LINES}
    return iter(conn.execute(query, execution_options=streamed))


def line_of(row: Any) -> ReportLine:
    return ReportLine(
        row.section,
        row.level,
        row.code,
        int(row.budget_fen),
        int(row.period_fen),
        int(row.ytd_fen),
        month_fen=int(row.month_fen),
        last_year_fen=int(row.last_year_fen),
    )
