"""A report's lines as the rows of a table (``report_line``, ``region_report_line``):
their columns, their values in that order, and their insert in bulk."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal.reports.lines import ReportLine
from schema.bulk import insert_rows

LINE_COLUMNS = (
    "section",
    "level",
    "code",
    "budget_fen",
    "period_fen",
    "ytd_fen",
    "month_fen",
    "last_year_fen",
)
"""The columns of a report line after its report's id, in the order of :func:`line_values`."""


def line_values(line: ReportLine) -> tuple[Any, ...]:
    """A line's values in the order of :data:`LINE_COLUMNS`."""
    return (
        line.section,
        line.level,
        line.code,
        line.budget_fen,
        line.period_fen,
        line.ytd_fen,
        line.month_fen,
        line.last_year_fen,
    )


def insert_lines(
    conn: Connection, table: sa.Table, report_id: int, lines: Iterable[ReportLine]
) -> None:
    """The lines of report ``report_id`` into ``table`` (``report_line`` or
    ``region_report_line``), in bulk."""
    rows = [(report_id, *line_values(x)) for x in lines]
    insert_rows(conn, table, ("report_id", *LINE_COLUMNS), rows)
