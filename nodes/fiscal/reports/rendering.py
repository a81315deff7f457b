"""A report laid out for people: its title block and its table, as text for the
terminal, csv, xlsx (through :mod:`nodes.fiscal.tabular`) and printable HTML.

The title block, on every layout: the report's title (``2026年10月财政收支月报``), the
unit that prepared it (编制单位: the region's code and name, 本级 or 全辖汇总), the date
it was submitted (报送日期, in the node's time zone; a consolidation's is the latest
of the reports summed) and the unit of amounts (金额单位：元). Chinese by default,
English with ``lang="en"``.

The date is by this node's clock: the day it submitted its own report, and for a
report it received the day it took it, as :func:`submitters` judges lateness by, never
the day the sender's clock put in the change-set (a node whose clock is behind would
print a late report as submitted on time).

The columns: 收支, 科目层次 (files only), 科目编码, 科目名称, 预算数, 本期数, 本月累计
(ten-day reports only: for a month it is the period), 累计数, 完成预算%, 上年同期 and
增减%. A revenue line without a budget shows an empty budget, not 0.00.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from nodes.fiscal import tabular
from nodes.fiscal.appropriations import DirectFund
from nodes.fiscal.reports.lines import TOTAL, ReportLine
from nodes.fiscal.reports.versions import ReportView
from nodes.labels import labels, said
from nodes.settings import LOCAL_TIME
from schema.types import format_yuan
from sync.errors import InputError
from sync.files import atomic_file

__all__ = [
    "FORMATS",
    "Layout",
    "direct_layout",
    "direct_rows",
    "layout",
    "render_html",
    "render_text",
    "write",
]

FORMATS = ("text", "csv", "xlsx", "html", "json")


@dataclass(frozen=True)
class Layout:
    """A report ready to be written: the title block (``heading``, its title first), the
    columns, one row per line, each line's depth (for indenting), and the notes below."""

    heading: list[str]
    columns: list[tabular.Column]
    rows: list[list[Any]]
    depths: list[int]
    notes: list[str]

    @property
    def title(self) -> str:
        return self.heading[0]


def _submitted(view: ReportView) -> datetime | None:
    moments = [s.submitted_here for s in view.sources if s.submitted_here is not None]
    return max(moments) if moments else None


def _heading(view: ReportView, words: dict[str, str], lang: str, zone: tzinfo) -> list[str]:
    colon = "：" if lang == "zh" else ": "
    scope = f"（{words[view.scope]}）" if lang == "zh" else f" ({words[view.scope]})"
    title = words["report_title"].format(
        kind=words[view.period.kind], period=view.period.title(lang)
    )
    submitted = _submitted(view)
    day = submitted.astimezone(zone).date().isoformat() if submitted else words["not_submitted"]
    return [
        title,
        f"{words['prepared_by']}{colon}{view.region} {view.region_name}{scope}",
        f"{words['submitted_on']}{colon}{day}",
        f"{words['amount_unit']}{colon}{words['unit']}",
    ]


def _depth(line: ReportLine) -> int:
    return 0 if line.level == TOTAL else len(line.code) // 2


def layout(view: ReportView, lang: str = "zh", zone: tzinfo = LOCAL_TIME) -> Layout:
    """The title block, columns and rows of ``view`` in ``lang`` (``zh`` or ``en``)."""
    words = labels(lang)
    tenday = view.period.kind == "tenday"
    columns = [
        tabular.Column("section", words["section"]),
        tabular.Column("level", words["level"], "int"),
        tabular.Column("code", words["code"]),
        tabular.Column("name", words["name"]),
        tabular.Column("budget", words["budget"], "money"),
        tabular.Column("period", words["period"], "money"),
        *([tabular.Column("month", words["month"], "money")] if tenday else []),
        tabular.Column("ytd", words["ytd"], "money"),
        tabular.Column("completion", words["completion"]),
        tabular.Column("last_year", words["last_year"], "money"),
        tabular.Column("change", words["change"]),
    ]
    rows = []
    for line in view.lines:
        no_budget = line.section == "revenue" and line.budget_fen == 0
        rows.append(
            [
                words[line.section],
                line.level,
                line.code,
                words["total"] if line.level == TOTAL else (line.name or ""),
                None if no_budget else line.budget_fen,
                line.period_fen,
                *([line.month_fen] if tenday else []),
                line.ytd_fen,
                line.completion,
                line.last_year_fen,
                line.change,
            ]
        )
    notes = []
    if view.scope == "all":
        summed = ", ".join(f"{s.node} v{s.version}" for s in view.sources) or "-"
        notes.append(f"{words['summed']} ({len(view.sources)}): {summed}")
    if view.missing:
        notes.append(f"{words['not_held']}: {', '.join(view.missing)}")
    return Layout(
        _heading(view, words, lang, zone),
        columns,
        rows,
        [_depth(x) for x in view.lines],
        notes,
    )


def render_text(view: ReportView, lang: str = "zh", zone: tzinfo = LOCAL_TIME) -> str:
    """The report for a terminal: the title block, the table with the names indented by
    their rank (no 科目层次 column), then the notes."""
    shape = layout(view, lang, zone)
    columns = [c for c in shape.columns if c.key != "level"]
    rows = []
    for row, depth in zip(shape.rows, shape.depths, strict=True):
        cells = row[:1] + row[2:]
        cells[2] = "  " * max(depth - 1, 0) + cells[2]
        rows.append(cells)
    return "\n".join([*shape.heading, "", tabular.render_text(columns, rows), *shape.notes])


def _html_cell(column: tabular.Column, value: Any) -> str:
    if value is None:
        return "<td></td>"
    if column.kind == "money":
        return f"<td class=n>{format_yuan(value)}</td>"
    text = html.escape(str(value))
    return f"<td class=n>{text}</td>" if column.kind == "int" else f"<td>{text}</td>"


def render_html(view: ReportView, lang: str = "zh", zone: tzinfo = LOCAL_TIME) -> str:
    """A printable page: the title block, then the table, subtotals and totals in bold."""
    shape = layout(view, lang, zone)
    e = html.escape
    head = "".join(f"<th>{e(c.label)}</th>" for c in shape.columns)
    body = []
    for row, line in zip(shape.rows, view.lines, strict=True):
        rank = "total" if line.level == TOTAL else "sub" if line.is_subtotal else "leaf"
        cells = "".join(_html_cell(c, v) for c, v in zip(shape.columns, row, strict=True))
        body.append(f"<tr class={rank}>{cells}</tr>")
    block = "".join(f"<p>{e(line)}</p>" for line in shape.heading[1:])
    notes = "".join(f"<p class=note>{e(line)}</p>" for line in shape.notes)
    return f"""<!doctype html>
<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8"><title>{e(shape.title)}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 2em; }}
h1 {{ text-align: center; font-size: 1.4em; }}
.block {{ display: flex; justify-content: space-between; }}
.block p {{ margin: 0.2em 0; }}
table {{ border-collapse: collapse; width: 100%; margin: 1em 0; }}
th, td {{ border: 1px solid #999; padding: 0.3em 0.6em; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.total td, tr.sub td {{ font-weight: bold; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body>
<h1>{e(shape.title)}</h1>
<div class=block>{block}</div>
<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table>
{notes}
</body></html>
"""


def write(
    view: ReportView,
    fmt: str,
    out: Path | None,
    lang: str = "zh",
    zone: tzinfo = LOCAL_TIME,
    extra: dict[str, Any] | None = None,
) -> str | None:
    """Write ``view`` as ``fmt`` to ``out``; with no file, return the text to print
    (xlsx needs a file). ``extra`` goes into the json document beside the report (who
    reported, at the center). A file appears complete or not at all."""
    if fmt not in FORMATS:
        raise InputError(
            said("report_format_unknown", fmt=fmt),
            hint=said("report_format_unknown_hint", names=", ".join(FORMATS)),
        )
    if fmt in ("csv", "xlsx"):
        shape = layout(view, lang, zone)
        title = f"{view.region} {view.period.label}"
        tabular.write_table(shape.columns, shape.rows, fmt, out, title=title, heading=shape.heading)
        return None
    if fmt == "json":
        document = {**view.as_dict(), **(extra or {})}
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "html":
        text = render_html(view, lang, zone)
    else:
        text = render_text(view, lang, zone) + "\n"
    if out is None:
        return text
    _write_text(out, text)
    return None


def _write_text(out: Path, text: str) -> None:
    try:
        with atomic_file(out) as stream:
            stream.write(text.encode("utf-8"))
    except OSError as exc:
        raise tabular.unwritable(out, exc) from exc


def direct_rows(funds: Iterable[DirectFund], lang: str = "zh") -> Iterator[list[Any]]:
    """The rows of the 直达资金 report as ``funds`` come (one per appropriation), then the
    total (none without a fund): in bounded memory whatever their number."""
    sums = [0] * 5
    any_fund = False
    for f in funds:
        any_fund = True
        amounts = [f.issued_fen, f.received_fen, f.allocated_fen, f.spent_fen, f.balance_fen]
        sums = [a + b for a, b in zip(sums, amounts, strict=True)]
        yield [f.id, f.year, f.doc_no, f.func_code, f.issuer, f.recipient, *amounts]
    if any_fund:
        yield [labels(lang)["total"], None, "", "", "", "", *sums]


def direct_layout(node: str, funds: Iterable[DirectFund], lang: str = "zh") -> Layout:
    """The 直达资金 report as a table: one row per appropriation, then the total (its
    columns and heading alone with no ``funds``; :func:`direct_rows` streams the rows)."""
    words = labels(lang)
    columns = [
        tabular.Column("id", words["appropriation"]),
        tabular.Column("year", words["year"], "int"),
        tabular.Column("doc_no", words["doc_no"]),
        tabular.Column("func", words["code"]),
        tabular.Column("issuer", words["issuer"]),
        tabular.Column("recipient", words["recipient"]),
        tabular.Column("issued", words["issued"], "money"),
        tabular.Column("received", words["received_fen"], "money"),
        tabular.Column("allocated", words["allocated"], "money"),
        tabular.Column("spent", words["spent"], "money"),
        tabular.Column("balance", words["balance"], "money"),
    ]
    rows = list(direct_rows(funds, lang))
    colon = "：" if lang == "zh" else ": "
    heading = [
        words["direct_title"].format(node=node),
        f"{words['amount_unit']}{colon}{words['unit']}",
    ]
    return Layout(heading, columns, rows, [0] * len(rows), [])
