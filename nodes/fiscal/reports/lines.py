"""The lines of a report and their arithmetic: leaves, subtotals at 类 and 款, totals, and
the checks every report passes where it is made, sent and received."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from nodes.labels import labels, named, said
from schema.types import MAX_STORED_FEN, format_yuan
from sync.errors import InputError

if TYPE_CHECKING:
    pass


SECTIONS = ("revenue", "expenditure")


SUBTOTAL_DIGITS = {1: 3, 2: 5}
"""Subtotal levels and the length of their codes: 1 类 (3 digits), 2 款 (5 digits)."""
LEAF = 3
TOTAL = 0
LEAF_DIGITS = (3, 5, 7, 9)
"""Lengths of classification codes a leaf may have: 类, 款, 项, 目."""
CODESET = {"expenditure": "func", "revenue": "revenue"}

# The rank of a line's code as refusals name it, in Chinese in either language (``款
# 20502``): looked up once, not for each line described.
_RANKS = {grade: labels("zh")[grade] for grade in ("class", "subclass", "item", "subitem")}


@dataclass(frozen=True)
class ReportLine:
    """One line of a report: a leaf code (level 3), a 款 or 类 subtotal (2, 1), a total (0).

    Its columns: the budget (预算数), the period (本期数), the month to date (本月累计; a
    monthly report's is its period), the year to date (累计数) and the year to date of
    the same period last year (上年同期), all in fen.
    """

    section: str
    level: int
    code: str
    budget_fen: int
    period_fen: int
    ytd_fen: int
    name: str | None = None
    month_fen: int = 0
    last_year_fen: int = 0

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
        section = named("direction", self.section)
        if self.level == TOTAL:
            return said("rep_line_total", section=section)
        rank = _RANKS[self.grade]
        key = "rep_line_subtotal" if self.is_subtotal else "rep_line"
        return said(key, section=section, rank=rank, code=self.code)

    @property
    def amounts(self) -> tuple[int, int, int, int, int]:
        """(budget, period, month to date, year to date, last year), the order of
        :data:`COLUMNS`."""
        return (self.budget_fen, self.period_fen, self.month_fen, self.ytd_fen, self.last_year_fen)

    @property
    def change(self) -> str:
        """增减%: the year to date against the same period last year, as a percentage to a
        tenth rounded half up (``+12.5%``, ``-3.0%``); ``—`` where last year is 0."""
        if self.last_year_fen == 0:
            return "—"
        ratio = (Decimal(self.ytd_fen - self.last_year_fen) * 100) / Decimal(self.last_year_fen)
        tenth = ratio.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        return f"{'+' if tenth > 0 else ''}{tenth}%"

    @property
    def completion(self) -> str:
        """完成预算%: the year to date as a percentage of the budget, to a tenth, rounded
        half up (``84.4%``); empty where there is no budget."""
        if self.budget_fen <= 0:
            return ""
        tenths = (self.ytd_fen * 2000 + self.budget_fen) // (2 * self.budget_fen)
        sign = "-" if tenths < 0 else ""
        return f"{sign}{abs(tenths) // 10}.{abs(tenths) % 10}%"


_Key = tuple[str, int, str]
"""A line's identity in a report: (section, level, code)."""
COLUMNS = ("budget", "period", "month to date", "year to date", "last year")
"""The amount columns of a line, in the order of :attr:`ReportLine.amounts`."""
WIDTH = len(COLUMNS)


def zero() -> list[int]:
    return [0] * WIDTH


def add_amounts(into: dict[Any, list[int]], key: Any, amounts: Iterable[int]) -> None:
    budget, period, month, ytd, last_year = amounts
    total = into.get(key)
    if total is None:
        into[key] = [budget, period, month, ytd, last_year]
        return
    total[0] += budget
    total[1] += period
    total[2] += month
    total[3] += ytd
    total[4] += last_year


def _sums(leaves: Mapping[tuple[str, str], Sequence[int]]) -> dict[_Key, tuple[int, ...]]:
    """Every subtotal and total of ``leaves`` ((section, code) -> amounts), by line key."""
    sums: dict[_Key, list[int]] = {(section, TOTAL, ""): zero() for section in SECTIONS}
    # A subtotal exists where a leaf has a longer code; a leaf booked at the subtotal's
    # own code (revenue at 类 beside revenue at 款) then counts in it too.
    for section, code in leaves:
        for level, digits in SUBTOTAL_DIGITS.items():
            if len(code) > digits:
                sums.setdefault((section, level, code[:digits]), zero())
    for (section, code), amounts in leaves.items():
        budget, period, month, ytd, last_year = amounts
        into = [sums[(section, TOTAL, "")]]
        for level, digits in SUBTOTAL_DIGITS.items():
            if (
                len(code) >= digits
                and (found := sums.get((section, level, code[:digits]))) is not None
            ):
                into.append(found)
        for total in into:
            total[0] += budget
            total[1] += period
            total[2] += month
            total[3] += ytd
            total[4] += last_year
    return {key: tuple(a) for key, a in sums.items()}


def line_order(line: ReportLine) -> tuple[int, str, int]:
    # Codes sort with their prefixes first, so the tree comes out in reading order: the
    # total, then each 类 subtotal followed by what is under it.
    return (SECTIONS.index(line.section), line.code, line.level)


def build_lines(
    leaves: Mapping[tuple[str, str], Sequence[int]],
    names: Mapping[tuple[str, str], str] | None = None,
) -> list[ReportLine]:
    """The full report from its leaves ((section, code) -> amounts in the order of
    :data:`COLUMNS`): the leaves with their 款 and 类 subtotals and each section's total,
    in reading order."""
    names = names or {}
    keyed = [((section, LEAF, code), list(v)) for (section, code), v in leaves.items()]
    keyed.extend((key, list(v)) for key, v in _sums(leaves).items())
    lines = [
        of_amounts(section, level, code, a, names.get((section, code)))
        for (section, level, code), a in keyed
    ]
    return sorted(lines, key=line_order)


def of_amounts(
    section: str, level: int, code: str, amounts: Sequence[int], name: str | None = None
) -> ReportLine:
    """The line of ``amounts`` in the order of :data:`COLUMNS`."""
    budget, period, month, ytd, last_year = amounts
    return ReportLine(
        section,
        level,
        code,
        budget,
        period,
        ytd,
        name=name,
        month_fen=month,
        last_year_fen=last_year,
    )


def _shape_problem(line: ReportLine) -> str | None:
    if line.section not in SECTIONS:
        return said("rep_section_bad", section=line.section)
    for column, amount in zip(COLUMNS, line.amounts, strict=True):
        if type(amount) is not int:
            return said("rep_amount_bad", column=named("line_column", column), amount=amount)
    code = line.code
    if line.level == TOTAL:
        return None if code == "" else said("rep_total_code", code=code)
    if not (code.isascii() and code.isdigit()):
        return said("rep_code_bad", code=code)
    if line.level in SUBTOTAL_DIGITS:
        digits = SUBTOTAL_DIGITS[line.level]
        return (
            None
            if len(code) == digits
            else said("rep_level_digits", level=line.level, digits=digits)
        )
    if line.level == LEAF:
        return None if len(code) in LEAF_DIGITS else said("rep_leaf_digits")
    return said("rep_level_bad", level=line.level)


def check_storable(lines: Iterable[ReportLine], hint: str) -> None:
    """Refuse, naming the line (the deepest first: where the amounts pile up), a report
    with an amount larger than a report can hold (:data:`~schema.types.MAX_STORED_FEN`,
    a signed 64-bit column), before anything is recorded; ``hint`` is the key of what to
    do about it, where the sums come from."""
    too_large = [x for x in lines if max(map(abs, x.amounts)) > MAX_STORED_FEN]
    if not too_large:
        return
    x = max(too_large, key=lambda line: line.level)
    section = named("direction", x.section)
    line = (
        said("rep_line_named", section=section, code=x.code)
        if x.code
        else said("rep_line_named_total", section=section)
    )
    largest = format_yuan(MAX_STORED_FEN)
    raise InputError(said("report_line_too_large", line=line, largest=largest), hint=said(hint))


def check_lines(
    lines: Iterable[ReportLine], *, negative_entries: bool, kind: str | None = None
) -> None:
    """Refuse, naming the line, a report whose arithmetic does not hold (see the module).
    A ``monthly`` report's month to date is its period."""
    held: dict[_Key, ReportLine] = {}
    for line in lines:
        problem = _shape_problem(line)
        if problem is not None:
            section = named("direction", line.section)
            named_as = (
                said("rep_line_named", section=section, code=line.code)
                if line.code
                else said("rep_line_named_total", section=section)
            )
            raise InputError(said("rows_at", where=named_as, what=problem))
        key = (line.section, line.level, line.code)
        if key in held:
            raise InputError(said("rep_line_twice", line=line.describe()))
        held[key] = line
        if kind == "monthly" and line.month_fen != line.period_fen:
            raise InputError(
                said(
                    "rep_month_not_period",
                    line=line.describe(),
                    month=format_yuan(line.month_fen),
                    period=format_yuan(line.period_fen),
                )
            )
    leaves = {(s, c): line.amounts for (s, level, c), line in held.items() if level == LEAF}
    expected = _sums(leaves)
    for key, amounts in expected.items():
        found = held.get(key)
        if found is None:
            section = named("direction", key[0])
            if key[1] == TOTAL:
                raise InputError(said("rep_total_missing", section=section))
            raise InputError(said("rep_subtotal_missing", section=section, code=key[2]))
        for index, column in enumerate(COLUMNS):
            if found.amounts[index] != amounts[index]:
                raise InputError(
                    said(
                        "rep_not_sum",
                        line=found.describe(),
                        column=named("line_column", column),
                        amount=format_yuan(found.amounts[index]),
                        sum=format_yuan(amounts[index]),
                    ),
                    hint=said("rep_not_sum_hint"),
                )
    for key, line in held.items():
        if key[1] != LEAF and key not in expected:
            raise InputError(said("rep_subtotal_alone", line=line.describe()))
    if negative_entries:
        return
    # The sums hold, so a subtotal can only break this rule where a leaf under it does.
    for line in sorted((x for x in held.values() if x.level == LEAF), key=line_order):
        if line.period_fen < 0 or line.ytd_fen < line.period_fen:
            raise InputError(
                said(
                    "rep_ytd_below_period",
                    line=line.describe(),
                    ytd=format_yuan(line.ytd_fen),
                    period=format_yuan(line.period_fen),
                )
            )
        if not line.period_fen <= line.month_fen <= line.ytd_fen:
            raise InputError(
                said(
                    "rep_month_outside",
                    line=line.describe(),
                    month=format_yuan(line.month_fen),
                    period=format_yuan(line.period_fen),
                    ytd=format_yuan(line.ytd_fen),
                )
            )
