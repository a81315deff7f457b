"""Revenue and expenditure reports (旬报 ten-day, 月报 monthly), sent up and consolidated (汇总).

**Periods.** ``2026-10`` is a month; ``2026-10-D1``, ``-D2`` and ``-D3`` are its first
(上旬, days 1–10), middle (中旬, 11–20) and last (下旬, 21 to the month's end) ten days.
A :class:`Period` knows its dates (the end is exclusive) and its deadline: the monthly
report by the ``[reports] monthly_deadline_day`` of the next month, a ten-day report
``tenday_deadline_days`` after its last day. Days are Beijing days (Asia/Shanghai): a
deadline is the local midnight that ends the last day allowed.

**Lines.** A report has two sections, revenue (收入) and expenditure (支出), with three
columns each: budget (预算数, the appropriations of the year this node holds for its own
spending, as they stand when the report is generated: received less broken down to its
children, so that budgets add up without counting a fen twice; revenue has none), the
period (本期数) and the year to date (累计数, from 1 January to the period's end). Lines are kept at four
levels: 3, the leaves, one per classification code booked (a 7-digit 功能分类 项 for
expenditure, a 3- or 5-digit 收入分类 code for revenue); 2 and 1, the subtotals at 款
(5 digits) and 类 (3 digits) of every leaf with a longer code; 0, the section's total
(合计, code ``""``). A leaf booked at a 类 or 款 code sits beside the lines below that
code, under its subtotal, so every subtotal is exactly the sum of the lines under it.

**Checks** (:func:`check_lines`), where a report is generated, before it is submitted and
where it arrives: every code has the shape of its level; every subtotal and total equals
the sum of the leaves under it; revenue has no budget; and unless negative ledger
entries went into the report (a refund can make a period negative), no amount is
negative and no year to date is less than its period. Leaves alone would do on the wire;
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
     "budget": 123456, "period": 1000, "ytd": 5000}

The receiver refuses (a negative receipt) a report whose arithmetic does not hold, a
report of a node other than the change-set's origin, a version no newer than the one it
holds, or a field its database could not store as it is (a name too long for its
column, a number beyond 64 bits); otherwise it keeps it as ``received``, with its own
clock's time of taking it (``received_at``).

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

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nodes.fiscal import appropriations
from nodes.policy import check_send
from nodes.settings import LOCAL_TIME, Settings
from nodes.topology import NodeSpec, Topology
from schema.channels import outbox
from schema.engine import reading
from schema.limits import misfit
from schema.locks import lock_scope
from schema.sums import total
from schema.tables import code_item, ledger_entry, report, report_line
from schema.types import MAX_STORED_FEN, format_yuan, parse_utc, utcnow
from sync.changeset import Verified
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK, Clock
from sync.errors import InputError
from sync.pki import load_signer

if TYPE_CHECKING:
    from nodes.node import Node

__all__ = [
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
    "generate",
    "labels",
    "local_today",
    "submit",
    "submitters",
    "versions",
    "view",
]


KINDS = ("monthly", "tenday")
SECTIONS = ("revenue", "expenditure")
SCOPES = ("own", "all")
STATES = ("on time", "late", "sent", "missing", "not yet due")
SUBTOTAL_DIGITS = {1: 3, 2: 5}
"""Subtotal levels and the length of their codes: 1 类 (3 digits), 2 款 (5 digits)."""
LEAF = 3
TOTAL = 0
LEAF_DIGITS = (3, 5, 7, 9)
"""Lengths of classification codes a leaf may have: 类, 款, 项, 目."""
CODESET = {"expenditure": "func", "revenue": "revenue"}
_PART = {1: (1, 11), 2: (11, 21), 3: (21, None)}
"""Ten-day parts of a month: first day and first day after (None: the next month)."""
_PERIOD_HINT = (
    "write the period as 2026-10 (the month), 2026-10-D1 (days 1-10), "
    "2026-10-D2 (days 11-20) or 2026-10-D3 (day 21 to the month's end)"
)


# --- periods --------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Period:
    """A report period: a month (``part`` 0) or one of its ten-day parts (1, 2, 3)."""

    year: int
    month: int
    part: int = 0

    def __post_init__(self) -> None:
        if not (2000 <= self.year <= 2100 and 1 <= self.month <= 12 and 0 <= self.part <= 3):
            raise InputError(f"no report period {self.year}-{self.month:02d}", hint=_PERIOD_HINT)

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
            raise InputError(f"{text!r} is not a report period", hint=_PERIOD_HINT)
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


# --- lines and their arithmetic -------------------------------------------------------


@dataclass(frozen=True)
class ReportLine:
    """One line of a report: a leaf code (level 3), a 款 or 类 subtotal (2, 1), a total (0)."""

    section: str
    level: int
    code: str
    budget_fen: int
    period_fen: int
    ytd_fen: int
    name: str | None = None

    @property
    def grade(self) -> str:
        """What the line is: ``total``, or the rank of its code: ``class`` (类),
        ``subclass`` (款), ``item`` (项), ``subitem`` (目); a key of :func:`labels`."""
        if self.level == TOTAL:
            return "total"
        return {3: "class", 5: "subclass", 7: "item", 9: "subitem"}.get(len(self.code), "item")

    @property
    def is_subtotal(self) -> bool:
        return self.level in SUBTOTAL_DIGITS

    def describe(self) -> str:
        """How refusals name it, e.g. ``expenditure 款 20502 (subtotal)``."""
        if self.level == TOTAL:
            return f"{self.section} total"
        rank = labels("zh")[self.grade]
        return f"{self.section} {rank} {self.code}" + (" (subtotal)" if self.is_subtotal else "")

    @property
    def amounts(self) -> tuple[int, int, int]:
        return (self.budget_fen, self.period_fen, self.ytd_fen)


_Key = tuple[str, int, str]
"""A line's identity in a report: (section, level, code)."""
_COLUMNS = (("budget", 0), ("period", 1), ("year to date", 2))


def _add(into: dict[Any, list[int]], key: Any, amounts: Iterable[int]) -> None:
    total = into.setdefault(key, [0, 0, 0])
    for i, amount in enumerate(amounts):
        total[i] += amount


def _sums(leaves: Mapping[tuple[str, str], Sequence[int]]) -> dict[_Key, tuple[int, int, int]]:
    """Every subtotal and total of ``leaves`` ((section, code) -> amounts), by line key."""
    sums: dict[_Key, list[int]] = {(section, TOTAL, ""): [0, 0, 0] for section in SECTIONS}
    # A subtotal exists where a leaf has a longer code; a leaf booked at the subtotal's
    # own code (revenue at 类 beside revenue at 款) then counts in it too.
    for section, code in leaves:
        for level, digits in SUBTOTAL_DIGITS.items():
            if len(code) > digits:
                sums.setdefault((section, level, code[:digits]), [0, 0, 0])
    for (section, code), amounts in leaves.items():
        values = list(amounts)
        _add(sums, (section, TOTAL, ""), values)
        for level, digits in SUBTOTAL_DIGITS.items():
            key = (section, level, code[:digits])
            if len(code) >= digits and key in sums:
                _add(sums, key, values)
    return {key: (a[0], a[1], a[2]) for key, a in sums.items()}


def _order(line: ReportLine) -> tuple[int, str, int]:
    # Codes sort with their prefixes first, so the tree comes out in reading order: the
    # total, then each 类 subtotal followed by what is under it.
    return (SECTIONS.index(line.section), line.code, line.level)


def build_lines(
    leaves: Mapping[tuple[str, str], Sequence[int]],
    names: Mapping[tuple[str, str], str] | None = None,
) -> list[ReportLine]:
    """The full report from its leaves ((section, code) -> (budget, period, ytd)):
    the leaves with their 款 and 类 subtotals and each section's total, in reading order."""
    names = names or {}
    keyed = [((section, LEAF, code), list(v)) for (section, code), v in leaves.items()]
    keyed.extend((key, list(v)) for key, v in _sums(leaves).items())
    lines = [
        ReportLine(section, level, code, a[0], a[1], a[2], name=names.get((section, code)))
        for (section, level, code), a in keyed
    ]
    return sorted(lines, key=_order)


def _shape_problem(line: ReportLine) -> str | None:
    if line.section not in SECTIONS:
        return f"section {line.section!r} is neither revenue nor expenditure"
    for column, amount in zip(("budget", "period", "ytd"), line.amounts, strict=True):
        if type(amount) is not int:
            return f"{column} {amount!r} is not a whole number of fen"
    code = line.code
    if line.level == TOTAL:
        return None if code == "" else f"a total line has no code, not {code!r}"
    if not (code.isascii() and code.isdigit()):
        return f"code {code!r} is not a classification code"
    if line.level in SUBTOTAL_DIGITS:
        digits = SUBTOTAL_DIGITS[line.level]
        return None if len(code) == digits else f"a level {line.level} code has {digits} digits"
    if line.level == LEAF:
        return None if len(code) in LEAF_DIGITS else "a classification code has 3, 5, 7 or 9 digits"
    return f"level {line.level!r} is not 0 (total), 1 (类), 2 (款) or 3 (the codes booked)"


def check_lines(lines: Iterable[ReportLine], *, negative_entries: bool) -> None:
    """Refuse, naming the line, a report whose arithmetic does not hold (see the module)."""
    held: dict[_Key, ReportLine] = {}
    for line in lines:
        problem = _shape_problem(line)
        if problem is not None:
            raise InputError(f"report line {line.section} {line.code or 'total'}: {problem}")
        key = (line.section, line.level, line.code)
        if key in held:
            raise InputError(f"{line.describe()}: the line appears twice")
        held[key] = line
        if line.level == LEAF and line.section == "revenue" and line.budget_fen != 0:
            raise InputError(f"{line.describe()}: revenue lines have no budget")
    leaves = {(s, c): line.amounts for (s, level, c), line in held.items() if level == LEAF}
    expected = _sums(leaves)
    for key, amounts in expected.items():
        found = held.get(key)
        if found is None:
            what = "total" if key[1] == TOTAL else f"subtotal {key[2]}"
            raise InputError(f"{key[0]}: the {what} line is missing")
        for column, index in _COLUMNS:
            if found.amounts[index] != amounts[index]:
                raise InputError(
                    f"{found.describe()}: {column} {format_yuan(found.amounts[index])} 元 is not "
                    f"the sum of the lines under it, {format_yuan(amounts[index])} 元",
                    hint="the report's arithmetic does not hold; generate it again",
                )
    for key, line in held.items():
        if key[1] != LEAF and key not in expected:
            raise InputError(f"{line.describe()}: a subtotal with no line under it")
    if negative_entries:
        return
    # The sums hold, so a subtotal can only break this rule where a leaf under it does.
    for line in sorted((x for x in held.values() if x.level == LEAF), key=_order):
        if line.period_fen < 0 or line.ytd_fen < line.period_fen:
            raise InputError(
                f"{line.describe()}: the year to date {format_yuan(line.ytd_fen)} 元 is less "
                f"than the period's {format_yuan(line.period_fen)} 元 (or the period is "
                "negative), yet no negative ledger entry went into the report"
            )


# --- what a report is, as stored -------------------------------------------------------


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
    received_at: datetime | None
    changeset_id: str | None

    @classmethod
    def from_row(cls, row: Any) -> ReportVersion:
        return cls(
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
            return _iso(value) if value is not None else None

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
                    "budget": _yuan(x.budget_fen),
                    "period": _yuan(x.period_fen),
                    "ytd": _yuan(x.ytd_fen),
                }
                for x in self.lines
            ],
            "sources": [s.as_dict() for s in self.sources],
            "missing": self.missing,
        }


def _yuan(fen: int) -> str:
    return format_yuan(fen).replace(",", "")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- generating -----------------------------------------------------------------------


def _refuse_center(node: Node, what: str) -> None:
    if node.spec.role == "center":
        raise InputError(
            f"the central node {node.spec.code} {what} no reports of its own",
            hint="run it in the home of the province, a city or a county",
        )


def _ledger_leaves(
    conn: Connection, period: Period
) -> tuple[dict[tuple[str, str], list[int]], bool]:
    """(section, code) -> [0, period, ytd] from this node's ledger, and whether any entry
    that went in is negative."""
    in_period = sa.case(
        (ledger_entry.c.entry_date >= period.start, ledger_entry.c.amount_fen), else_=0
    )
    rows = conn.execute(
        sa.select(
            ledger_entry.c.direction,
            ledger_entry.c.func_code,
            total(in_period),
            total(ledger_entry.c.amount_fen),
            sa.func.min(ledger_entry.c.amount_fen),
        )
        .where(
            ledger_entry.c.entry_date >= period.year_start,
            ledger_entry.c.entry_date < period.end,
        )
        .group_by(ledger_entry.c.direction, ledger_entry.c.func_code)
    ).all()
    leaves: dict[tuple[str, str], list[int]] = {}
    negative = False
    for direction, code, in_period_sum, ytd, smallest in rows:
        if not (code.isascii() and code.isdigit() and len(code) in LEAF_DIGITS):
            raise InputError(
                f"the ledger has {direction} entries under {code!r}, which is not a "
                "classification code of 3, 5, 7 or 9 digits: they cannot be reported",
                hint="correct those ledger entries, then generate the report again",
            )
        leaves[(direction, code)] = [0, in_period_sum, ytd]
        negative = negative or int(smallest) < 0
    return leaves, negative


def _compute(conn: Connection, me: str, period: Period) -> tuple[list[ReportLine], bool]:
    leaves, negative = _ledger_leaves(conn, period)
    for code, budget in appropriations.budget_by_func(conn, me, period.year).items():
        if budget != 0:
            leaves.setdefault(("expenditure", code), [0, 0, 0])[0] = budget
    lines = build_lines(leaves)
    check_lines(lines, negative_entries=negative)
    for x in lines:
        if max(abs(x.budget_fen), abs(x.period_fen), abs(x.ytd_fen)) > MAX_STORED_FEN:
            raise InputError(
                f"the {x.section} line {x.code or 'total'} adds up to more than a report can "
                f"hold ({format_yuan(MAX_STORED_FEN)} 元)",
                hint="look for ledger entries recorded many times over, and correct them",
            )
    return lines, negative


def _latest_own(conn: Connection, me: str, period: Period) -> Any:
    """This node's newest version for ``period``, with the period's versions locked against
    a concurrent writer (the first version too: the lock is the period's counter row)."""
    lock_scope(conn, "report", f"{me}/{period.label}")
    query = (
        sa.select(report)
        .where(report.c.node_code == me, report.c.period == period.label)
        .order_by(report.c.version.desc())
        .limit(1)
    )
    return conn.execute(query).one_or_none()


@contextmanager
def _writing(node: Node) -> Iterator[Connection]:
    """A write transaction; two writers racing for the same new version meet here."""
    try:
        with node.engine.begin() as conn:
            yield conn
    except sa.exc.IntegrityError as exc:
        raise InputError(
            "the report was generated or submitted by someone else at the same time",
            hint="look at it with 'fiscalsync report show', then run this again if needed",
        ) from exc


def _store(conn: Connection, header: dict[str, Any], lines: Iterable[ReportLine]) -> int:
    """Insert a report and its lines; return the report's id."""
    key = conn.execute(report.insert().values(**header)).inserted_primary_key
    assert key is not None
    _insert_lines(conn, int(key[0]), lines)
    return int(key[0])


def _line_row(report_id: int, line: ReportLine) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "section": line.section,
        "level": line.level,
        "code": line.code,
        "budget_fen": line.budget_fen,
        "period_fen": line.period_fen,
        "ytd_fen": line.ytd_fen,
    }


def _insert_lines(conn: Connection, report_id: int, lines: Iterable[ReportLine]) -> None:
    conn.execute(report_line.insert(), [_line_row(report_id, x) for x in lines])


def _fitting(table: sa.Table, where: str, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` if every value fits its column of ``table``; else InputError naming it."""
    problem = misfit(table, row)
    if problem is not None:
        raise InputError(f"{where}: {problem}")
    return row


def _generate(conn: Connection, node: Node, period: Period, actor: str, clock: Clock) -> int:
    """Generate this node's report in the caller's transaction; return its row id."""
    me = node.spec.code
    if period.start > local_today(clock):
        raise InputError(
            f"period {period} has not begun",
            hint="a report covers a period that has begun, usually one that has ended",
        )
    lines, negative = _compute(conn, me, period)
    values = {
        "negative_entries": negative,
        "generated_at": clock.now(),
        "generated_by": actor,
    }
    latest = _latest_own(conn, me, period)
    if latest is not None and latest.state == "draft":
        conn.execute(report_line.delete().where(report_line.c.report_id == latest.id))
        conn.execute(report.update().where(report.c.id == latest.id).values(**values))
        _insert_lines(conn, latest.id, lines)
        return int(latest.id)
    return _store(
        conn,
        {
            "node_code": me,
            "period": period.label,
            "kind": period.kind,
            "year": period.year,
            "version": 1 if latest is None else latest.version + 1,
            "state": "draft",
            **values,
        },
        lines,
    )


def generate(
    node: Node, period: Period | str, *, actor: str, clock: Clock = SYSTEM_CLOCK
) -> ReportView:
    """Generate this node's report for ``period`` from its ledger and budget; return it.

    Replaces an unsubmitted draft; after a submission it is the next version (a
    correction), a draft until submitted. All or nothing; a failed check raises
    :class:`InputError` naming the line.
    """
    period = Period.of(period)
    _refuse_center(node, "generates")
    with _writing(node) as conn:
        _generate(conn, node, period, actor, clock)
    return view(node, period, scope="own")


# --- submitting -----------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """What :func:`submit` sent: one version, one signed change-set per recipient."""

    node: str
    period: str
    version: int
    recipients: list[str]
    changesets: list[str]
    submitted_at: datetime


def _recipients(node: Node) -> list[str]:
    recipients = []
    if node.spec.parent is not None:
        recipients.append(node.spec.parent)
    center = node.topology.center
    if center is not None and center.code not in recipients:
        recipients.append(center.code)
    if not recipients:
        raise InputError(
            f"{node.spec.code} has neither a parent nor a central node to report to",
            hint="add the central node to the topology",
        )
    for code in recipients:
        check_send(node.topology, node.spec.code, code, "report")
    return recipients


def _stored_lines(conn: Connection, report_ids: Iterable[int]) -> Iterator[Any]:
    return iter(
        conn.execute(sa.select(report_line).where(report_line.c.report_id.in_(list(report_ids))))
    )


def _line_of(row: Any) -> ReportLine:
    return ReportLine(
        row.section, row.level, row.code, int(row.budget_fen), int(row.period_fen), int(row.ytd_fen)
    )


def _operations(row: Any, lines: list[ReportLine]) -> list[dict[str, Any]]:
    header = {
        "op": "report",
        "node": row.node_code,
        "period": row.period,
        "kind": row.kind,
        "year": row.year,
        "version": row.version,
        "generated_at": _iso(row.generated_at),
        "generated_by": row.generated_by,
        "negative_entries": bool(row.negative_entries),
        "lines": len(lines),
    }
    return [header] + [
        {
            "op": "line",
            "section": x.section,
            "level": x.level,
            "code": x.code,
            "budget": x.budget_fen,
            "period": x.period_fen,
            "ytd": x.ytd_fen,
        }
        for x in lines
    ]


def submit(
    node: Node, period: Period | str, *, actor: str, clock: Clock = SYSTEM_CLOCK
) -> Submission:
    """Send the current version of this node's report to its parent and to the center.

    Generates it first when there is none. One transaction: both signed change-sets are
    queued and the report marked submitted together, or nothing happens. A version
    already submitted is refused: a correction is generated first, then submitted.
    """
    period = Period.of(period)
    _refuse_center(node, "submits")
    recipients = _recipients(node)
    if clock.now() < period.ends_at():
        raise InputError(
            f"period {period} is not over until {period.end.isoformat()}",
            hint="a report is submitted once its period has ended",
        )
    me = node.spec.code
    signer = load_signer(node.home.keys)
    spool = node.spool
    with _writing(node) as conn:
        row = _latest_own(conn, me, period)
        if row is None:
            _generate(conn, node, period, actor, clock)
            row = _latest_own(conn, me, period)
        if row.state != "draft":
            raise InputError(
                f"version {row.version} of the {period} report was already submitted "
                f"({_iso(row.submitted_at)})",
                hint=f"to correct it, run 'fiscalsync report generate {period}' and submit "
                "the new version",
            )
        lines = sorted((_line_of(r) for r in _stored_lines(conn, [row.id])), key=_order)
        check_lines(lines, negative_entries=bool(row.negative_entries))
        operations = _operations(row, lines)
        written = [
            enqueue(conn, spool, signer, code, "report", operations, clock) for code in recipients
        ]
        submitted_at = written[0].header.created
        conn.execute(
            report.update()
            .where(report.c.id == row.id)
            .values(state="submitted", submitted_at=submitted_at, changeset_id=written[0].id)
        )
    return Submission(
        me, period.label, int(row.version), recipients, [w.id for w in written], submitted_at
    )


# --- receiving ------------------------------------------------------------------------


def _field(op: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = op.get(key)
    if type(value) is not kind:
        raise InputError(f"{where}: {key!r} must be a {kind.__name__}, not {value!r}")
    return value


def _received_time(text: str, where: str) -> datetime:
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise InputError(f"{where}: {text!r} is not a UTC time: {exc}") from exc


def apply_received(
    conn: Connection, verified: Verified, topology: Topology, *, taken_at: datetime
) -> None:
    """Keep a report that arrived in a ``report`` change-set, after checking it whole.

    ``taken_at`` is this node's clock now: the report's receive time, by which it is
    judged on time or late here (the sender's ``created`` is kept as ``submitted_at``,
    for the record only). Every field is checked against the table's declaration, so a
    value PostgreSQL would refuse is refused the same way on SQLite. Runs in the
    channel's transaction; :class:`InputError` refuses the change-set.
    """
    origin = verified.header.origin
    operations = verified.operations()
    head = next(operations, None)
    if head is None or head.get("op") != "report":
        raise InputError("a report change-set starts with its 'report' operation")
    where = "report operation"
    node = _field(head, "node", str, where)
    if node not in topology or topology.node(node).role == "center":
        raise InputError(f"a report of {node!r}, which is not a reporting node of the topology")
    if node != origin:
        raise InputError(f"the report of {node} came from {origin}: a node sends only its own")
    period = Period.parse(_field(head, "period", str, where))
    if _field(head, "kind", str, where) != period.kind or head.get("year") != period.year:
        raise InputError(f"{where}: kind and year do not match period {period}")
    version = _field(head, "version", int, where)
    if version < 1:
        raise InputError(f"{where}: version {version} is not a version number")
    generated_at = _received_time(_field(head, "generated_at", str, where), where)
    generated_by = _field(head, "generated_by", str, where)
    negative = _field(head, "negative_entries", bool, where)
    count = _field(head, "lines", int, where)
    lines = []
    for number, op in enumerate(operations, start=1):
        at = f"line operation {number}"
        if op.get("op") != "line":
            raise InputError(f"{at}: {op.get('op')!r} is not a 'line' operation")
        lines.append(
            ReportLine(
                section=_field(op, "section", str, at),
                level=_field(op, "level", int, at),
                code=_field(op, "code", str, at),
                budget_fen=_field(op, "budget", int, at),
                period_fen=_field(op, "period", int, at),
                ytd_fen=_field(op, "ytd", int, at),
            )
        )
    if len(lines) != count:
        raise InputError(f"the report announces {count} lines but carries {len(lines)}")
    check_lines(lines, negative_entries=negative)
    for line in lines:
        _fitting(report_line, line.describe(), _line_row(0, line))
    held = conn.execute(
        sa.select(sa.func.max(report.c.version)).where(
            report.c.node_code == node, report.c.period == period.label
        )
    ).scalar_one_or_none()
    if held is not None and version <= held:
        raise InputError(
            f"version {version} of the {period} report of {node} is not newer than "
            f"version {held}, held here"
        )
    _store(
        conn,
        _fitting(
            report,
            where,
            {
                "node_code": node,
                "period": period.label,
                "kind": period.kind,
                "year": period.year,
                "version": version,
                "state": "received",
                "negative_entries": negative,
                "generated_at": generated_at,
                "generated_by": generated_by,
                "submitted_at": verified.header.created,
                "changeset_id": verified.id,
                "received_at": taken_at,
            },
        ),
        lines,
    )


# --- viewing and consolidating --------------------------------------------------------


def _reporting(topology: Topology) -> list[NodeSpec]:
    return [n for n in topology if n.role != "center"]


def _subtree(topology: Topology, code: str) -> list[str]:
    """``code`` and every reporting node below it, in topology order."""
    return [
        n.code for n in _reporting(topology) if n.code == code or topology.is_ancestor(code, n.code)
    ]


def _held_here(node: Node) -> list[str]:
    """The nodes whose reports this node holds: all at the center; else itself and its
    children (the reports sent to it)."""
    if node.spec.role == "center":
        return [n.code for n in _reporting(node.topology)]
    me = node.spec.code
    return [n.code for n in _reporting(node.topology) if n.code == me or n.parent == me]


def _region(node: Node, region: str | None) -> str:
    if region is None:
        return node.topology.province.code if node.spec.role == "center" else node.spec.code
    if region not in node.topology or node.topology.node(region).role == "center":
        raise InputError(
            f"region {region!r} is not a reporting node of topology {node.topology.name!r}",
            hint="give the code of the province, a city or a county",
        )
    return region


def _check_held(node: Node, codes: Iterable[str]) -> None:
    held = set(_held_here(node))
    others = [c for c in codes if c not in held]
    if others:
        raise InputError(
            f"{node.spec.code} does not receive the reports of {', '.join(others)}",
            hint="reports go to the parent and the central node: ask the center (数据中心), "
            "which holds every report",
        )


SENT = ("submitted", "received")
"""States of a version that went up the tree: this node's submitted ones, others' received."""


def _current(
    conn: Connection, codes: list[str], period: Period, *, sent_only: bool = False
) -> dict[str, Any]:
    """The current (newest) version held of each node's report, by node code; with
    ``sent_only`` the newest that was submitted (a newer draft is left out)."""
    where = [report.c.period == period.label, report.c.node_code.in_(codes)]
    if sent_only:
        where.append(report.c.state.in_(SENT))
    newest = (
        sa.select(report.c.node_code, sa.func.max(report.c.version).label("version"))
        .where(*where)
        .group_by(report.c.node_code)
        .subquery()
    )
    rows = conn.execute(
        sa.select(report)
        .join(
            newest,
            (report.c.node_code == newest.c.node_code) & (report.c.version == newest.c.version),
        )
        .where(report.c.period == period.label)
    ).all()
    return {row.node_code: row for row in rows}


def _names(
    conn: Connection, year: int, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Code names from the code sets of ``year``; a code without one is shown alone."""
    wanted = {key for key in keys if key[1]}
    names = {}
    for section, codeset in CODESET.items():
        codes = sorted(code for s, code in wanted if s == section)
        if not codes:
            continue
        rows = conn.execute(
            sa.select(code_item.c.code, code_item.c.name).where(
                code_item.c.codeset == codeset,
                code_item.c.year == year,
                code_item.c.code.in_(codes),
            )
        )
        names.update({(section, code): name for code, name in rows})
    return names


def view(
    node: Node,
    period: Period | str,
    *,
    region: str | None = None,
    scope: str = "own",
) -> ReportView:
    """One node's current report (``own``) or its region's consolidation (``all``).

    ``region`` defaults to this node (at the center: the province). Subtotals and totals
    are recomputed from the leaves of the current version of every report summed. A
    consolidation (全辖) sums only versions that went up the tree (submitted or
    received), never this node's unsubmitted draft, so that a city's 全辖 is the
    center's 市级汇总 of it; ``own`` shows the newest version, draft or not.
    Raises :class:`InputError` when this node does not receive the reports asked for,
    or holds no report for ``own``.
    """
    period = Period.of(period)
    if scope not in SCOPES:
        raise InputError(f"scope {scope!r} is neither own nor all", hint="use --scope own|all")
    code = _region(node, region)
    members = [code] if scope == "own" else _subtree(node.topology, code)
    _check_held(node, members)
    with reading(node.engine) as conn:
        current = _current(conn, members, period, sent_only=scope == "all")
        if scope == "own" and not current:
            raise InputError(
                f"no {period} report of {code} here",
                hint=f"generate it with 'fiscalsync report generate {period}'"
                if code == node.spec.code
                else "it has not been received (yet)",
            )
        leaves: dict[tuple[str, str], list[int]] = {}
        ids = [row.id for row in current.values()]
        for row in _stored_lines(conn, ids):
            if row.level == LEAF:
                _add(leaves, (row.section, row.code), _line_of(row).amounts)
        lines = build_lines(leaves)
        names = _names(conn, period.year, ((x.section, x.code) for x in lines))
    lines = [replace(x, name=names.get((x.section, x.code))) for x in lines]
    return ReportView(
        period=period,
        region=code,
        region_name=node.topology.node(code).name,
        scope=scope,
        lines=lines,
        sources=[ReportVersion.from_row(current[c]) for c in members if c in current],
        missing=[c for c in members if c not in current],
    )


def versions(node: Node, period: Period | str, code: str | None = None) -> list[ReportVersion]:
    """Every version held of one node's report for ``period`` (default: this node's),
    oldest first: the history that corrections leave."""
    period = Period.of(period)
    code = code or node.spec.code
    with reading(node.engine) as conn:
        rows = conn.execute(
            sa.select(report)
            .where(report.c.node_code == code, report.c.period == period.label)
            .order_by(report.c.version)
        ).all()
    return [ReportVersion.from_row(row) for row in rows]


# --- who has reported -----------------------------------------------------------------


@dataclass(frozen=True)
class Submitter:
    """Whether one node has reported for a period: ``on time``, ``late`` (first taken
    after the deadline), ``sent`` (submitted here, its first receiver's receipt not yet
    back), ``missing`` (nothing by the deadline) or ``not yet due``.

    ``submitted_at`` is when the report counts as submitted: when its first receiver
    took it, by the receiver's clock (this node's, for a report it received; the one in
    the parent's signed receipt, or the center's, for this node's own), never by the
    sender's clock.
    """

    code: str
    name: str
    role: str
    state: str
    deadline: datetime
    submitted_at: datetime | None
    version: int | None

    @property
    def due_date(self) -> date:
        """The last day (in Beijing) on which a submission was on time."""
        return (self.deadline.astimezone(LOCAL_TIME) - timedelta(days=1)).date()

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "role": self.role,
            "state": self.state,
            "due_date": self.due_date.isoformat(),
            "deadline": _iso(self.deadline),
            "submitted_at": _iso(self.submitted_at) if self.submitted_at else None,
            "version": self.version,
        }


def submitters(
    node: Node,
    period: Period | str,
    now: datetime | None = None,
    *,
    region: str | None = None,
) -> list[Submitter]:
    """Who has reported for ``period`` as of ``now``, by this node's deadlines.

    Without ``region``: every node whose reports this node receives (at the center,
    every node but itself); with it, the region's subtree. A node is judged by the
    first of its versions taken by a first receiver, at the receiver's clock: a report
    received here by this node's receive time; this node's own report by the time in
    its first receiver's signed receipt (a refused version does not count). A
    correction after the deadline does not make a report late.
    """
    period = Period.of(period)
    now = now or utcnow()
    if region is None:
        codes = _held_here(node)
    else:
        codes = _subtree(node.topology, _region(node, region))
        _check_held(node, codes)
    deadline = period.deadline(node.settings)
    receipted = sa.case((outbox.c.receipt_verdict == "applied", outbox.c.receipt_taken_at))
    taken = sa.case((report.c.state == "received", report.c.received_at), else_=receipted)
    unanswered = sa.case((outbox.c.acked_at.is_(None) & (report.c.state == "submitted"), 1))
    with reading(node.engine) as conn:
        rows = conn.execute(
            sa.select(
                report.c.node_code,
                sa.func.min(taken).label("first"),
                sa.func.max(report.c.version).label("version"),
                sa.func.count(unanswered).label("unanswered"),
            )
            .select_from(report.outerjoin(outbox, outbox.c.id == report.c.changeset_id))
            .where(
                report.c.period == period.label,
                report.c.node_code.in_(codes),
                report.c.state.in_(SENT),
            )
            .group_by(report.c.node_code)
        ).all()
    held = {row.node_code: row for row in rows}
    found = []
    for code in codes:
        spec = node.topology.node(code)
        row = held.get(code)
        first = row.first if row is not None else None
        if first is not None:
            state = "on time" if first < deadline else "late"
        elif row is not None and row.unanswered:
            state = "sent"
        else:
            state = "missing" if now >= deadline else "not yet due"
        version = row.version if row is not None and state in STATES[:3] else None
        found.append(Submitter(code, spec.name, spec.role, state, deadline, first, version))
    return found


# --- labels ---------------------------------------------------------------------------

_LABELS = {
    "en": {
        "revenue": "Revenue",
        "expenditure": "Expenditure",
        "section": "Section",
        "code": "Code",
        "name": "Name",
        "level": "Level",
        "budget": "Budget",
        "period": "Period",
        "ytd": "Year to date",
        "total": "Total",
        "class": "Class",
        "subclass": "Subclass",
        "item": "Item",
        "subitem": "Subitem",
        "monthly": "Monthly report",
        "tenday": "Ten-day report",
        "own": "Own",
        "all": "Consolidated",
        "region": "Region",
        "node": "Node",
        "version": "Version",
        "state": "State",
        "submitted_at": "Submitted",
        "deadline": "Deadline",
        "draft": "draft",
        "submitted": "submitted",
        "received": "received",
        "on time": "on time",
        "late": "late",
        "sent": "sent, no receipt yet",
        "missing": "missing",
        "not yet due": "not yet due",
        "unit": "yuan",
    },
    "zh": {
        "revenue": "收入",
        "expenditure": "支出",
        "section": "收支",
        "code": "科目编码",
        "name": "科目名称",
        "level": "级次",
        "budget": "预算数",
        "period": "本期数",
        "ytd": "累计数",
        "total": "合计",
        "class": "类",
        "subclass": "款",
        "item": "项",
        "subitem": "目",
        "monthly": "月报",
        "tenday": "旬报",
        "own": "本级",
        "all": "全辖汇总",
        "region": "地区",
        "node": "单位",
        "version": "版本",
        "state": "状态",
        "submitted_at": "报送时间",
        "deadline": "截止时间",
        "draft": "草稿",
        "submitted": "已报送",
        "received": "已接收",
        "on time": "按时",
        "late": "逾期",
        "sent": "已发送待回执",
        "missing": "未报",
        "not yet due": "未到期",
        "unit": "元",
    },
}


def labels(lang: str = "en") -> dict[str, str]:
    """Labels of sections, columns, levels and states, in English (``en``) or Chinese (``zh``)."""
    try:
        return dict(_LABELS[lang])
    except KeyError:
        raise InputError(f"no labels in {lang!r}", hint="use --lang en or --lang zh") from None
