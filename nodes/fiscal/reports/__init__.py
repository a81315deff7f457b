"""Revenue and expenditure reports (旬报 ten-day, 月报 monthly), sent up and consolidated (汇总).

**Periods.** ``2026-10`` is a month; ``2026-10-D1``, ``-D2`` and ``-D3`` are its first
(上旬, days 1–10), middle (中旬, 11–20) and last (下旬, 21 to the month's end) ten days.
A :class:`Period` knows its dates (the end is exclusive) and its deadline: the monthly
report by the ``[reports] monthly_deadline_day`` of the next month, a ten-day report
``tenday_deadline_days`` after its last day. Days are Beijing days (Asia/Shanghai): a
deadline is the local midnight that ends the last day allowed.

**Lines.** A report has two sections, revenue (收入) and expenditure (支出), with five
columns each: budget (预算数: this node's own budget lines of the year, from ``budget
import``, revenue and expenditure, plus the appropriations it holds for its own
spending, as they stand when the report is generated: received less broken down to its
children, so that budgets add up without counting a fen twice), the period (本期数), the
month to date (本月累计: a monthly report's is its period), the year to date (累计数,
from 1 January to the period's end) and the year to date of the same period last year
(上年同期, from this node's own ledger of the year before; 增减% compares the year to
date with it). Lines are kept at four
levels: 3, the leaves, one per classification code booked (a 7-digit 功能分类 项 for
expenditure, a 3- or 5-digit 收入分类 code for revenue); 2 and 1, the subtotals at 款
(5 digits) and 类 (3 digits) of every leaf with a longer code; 0, the section's total
(合计, code ``""``). A leaf booked at a 类 or 款 code sits beside the lines below that
code, under its subtotal, so every subtotal is exactly the sum of the lines under it.

**Checks** (:func:`check_lines`), where a report is generated, before it is submitted and
where it arrives: every code has the shape of its level; every subtotal and total equals
the sum of the leaves under it, in every column; a monthly report's month to date is its
period; and unless negative ledger entries went into the report (a refund can make a
period negative), no amount is negative and the period, month to date and year to date
never decrease in that order. Leaves alone would do on the wire;
every line is sent, so that the receiver checks the sender's arithmetic instead of
trusting or silently redoing it.

**Versions.** Generating replaces this node's unsubmitted draft; generating after a
submission makes the next version, a correction (更正) that supersedes the earlier one,
which stays in the history. The newest version held is the current one.

**Submitting** sends the current version to the parent and a copy to the central node:
two signed change-sets of kind ``report``, queued in the same transaction that marks the
report submitted (the province has no parent and submits to the center only; the center
submits nothing). Their operations, amounts in integer fen::

    {"op": "report", "node": "410102", "period": "2026-10", "kind": "monthly",
     "year": 2026, "version": 1, "generated_at": "2026-11-01T00:10:00.000000Z",
     "generated_by": "...", "negative_entries": false, "lines": 12}
    {"op": "line", "section": "expenditure", "level": 3, "code": "2050201",
     "budget": 123456, "period": 1000, "month": 3000, "ytd": 5000, "last_year": 4200}

A line without ``month`` (from a fiscalsync before it) is taken with its period there
for a month or first ten days, and refused for the other ten-day periods; one without
``last_year`` has 0 there.

The receiver refuses (a negative receipt) a report whose arithmetic does not hold, a
report of a node other than the change-set's origin, a version no newer than the one it
holds, or a field its database could not store as it is (a name too long for its
column, a number beyond 64 bits); otherwise it keeps it as ``received``, with its own
clock's time of taking it (``received_at``).

**Layouts** (:mod:`.rendering`): the title block and table as text, csv, xlsx and HTML.
**Level by level** (:mod:`.levels`): a node with children also sends its 全辖.

**Consolidation.** :func:`view` sums the current reports of a region: ``own`` is one
node's report, ``all`` its whole subtree (全辖): for a city the city and its counties
(市级汇总), for the province every node once (全省汇总: the province, every city's
consolidation and the counties the province manages directly). The center holds every
report; any other node holds its own and its children's, and is refused a view that
needs others; a consolidation sums submitted versions only, never a draft.
:func:`submitters` lists who reported on time, late or not at all, judged by the time
the first receiver (the parent, or the center) took each node's first report, by the
receiver's clock: a node whose own clock is slow cannot report late and be listed on
time. Where this node is the first receiver, that is its own clock; for its own report,
the time its first receiver put in its signed receipt (a later correction does not make
a report late).
"""

from nodes.fiscal.reports.adopting import adopt_submitted, send_again
from nodes.fiscal.reports.consolidation import versions, view
from nodes.fiscal.reports.generating import generate
from nodes.fiscal.reports.levels import region_outdated
from nodes.fiscal.reports.lines import SECTIONS, ReportLine, build_lines, check_lines
from nodes.fiscal.reports.periods import KINDS, Period, local_today
from nodes.fiscal.reports.receiving import apply_received
from nodes.fiscal.reports.rendering import (
    FORMATS,
    Layout,
    direct_layout,
    direct_rows,
    layout,
    render_html,
    render_text,
    write,
)
from nodes.fiscal.reports.submitters import STATES, Submitter, submitters
from nodes.fiscal.reports.submitting import Submission, submit, submit_once, submit_region
from nodes.fiscal.reports.versions import SCOPES, ReportVersion, ReportView
from nodes.labels import labels
from nodes.settings import LOCAL_TIME

__all__ = [
    "FORMATS",
    "Layout",
    "adopt_submitted",
    "KINDS",
    "LOCAL_TIME",
    "SCOPES",
    "SECTIONS",
    "STATES",
    "Period",
    "ReportLine",
    "ReportVersion",
    "ReportView",
    "Submission",
    "Submitter",
    "apply_received",
    "build_lines",
    "check_lines",
    "direct_layout",
    "direct_rows",
    "generate",
    "labels",
    "layout",
    "render_html",
    "region_outdated",
    "render_text",
    "local_today",
    "send_again",
    "submit",
    "submit_once",
    "submit_region",
    "submitters",
    "versions",
    "view",
    "write",
]
