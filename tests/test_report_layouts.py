"""Report layouts (报表格式): the title block and table as text, csv, xlsx and HTML, in
Chinese and English, compared with the golden files under ``tests/golden/``.

Text, csv and HTML are compared byte for byte; an xlsx workbook by its cells read back
(value, bold, number format), not its zip bytes. After a deliberate change of layout,
``FISCALSYNC_UPDATE_GOLDEN=1 pytest tests/test_report_layouts.py`` writes them again;
the diff is then reviewed like code.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from nodes.fiscal import reports
from nodes.fiscal.reports import Period, ReportVersion, ReportView
from sync.errors import InputError

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("FISCALSYNC_UPDATE_GOLDEN") == "1"

# (budget, period, month to date, year to date, same period last year), in fen.
LEAVES = {
    ("expenditure", "2050201"): (60_000_000, 30_000, 55_000, 65_000, 52_000),
    ("expenditure", "2050202"): (0, 1_550, 1_550, 1_550, 0),
    ("expenditure", "2010101"): (1_000_000, 0, 8_000, 8_000, 9_000),
    ("revenue", "10101"): (500_000, 0, 100_000, 100_000, 80_000),
    ("revenue", "103"): (0, 5_000, 5_000, 5_000, 0),
    ("revenue", "10302"): (0, 7_000, 7_000, 7_000, 7_000),
}
NAMES = {
    ("expenditure", "201"): "一般公共服务支出",
    ("expenditure", "20101"): "人大事务",
    ("expenditure", "2010101"): "行政运行",
    ("expenditure", "205"): "教育支出",
    ("expenditure", "20502"): "普通教育",
    ("expenditure", "2050201"): "学前教育",
    ("expenditure", "2050202"): "小学教育",
    ("revenue", "101"): "税收收入",
    ("revenue", "10101"): "增值税",
    ("revenue", "103"): "非税收入",
    ("revenue", "10302"): "行政事业性收费收入",
}


def _version(node: str, hour: int) -> ReportVersion:
    return ReportVersion(
        node=node,
        period="2026-10-D2",
        version=1,
        state="received",
        generated_at=datetime(2026, 10, 21, hour, tzinfo=UTC),
        generated_by="tester",
        submitted_at=datetime(2026, 10, 21, 16 + hour, tzinfo=UTC),  # 22 October in Beijing
        received_at=datetime(2026, 10, 21, 17 + hour, tzinfo=UTC),
        changeset_id=None,
    )


def _view(scope: str) -> ReportView:
    lines = reports.build_lines(LEAVES, NAMES)
    return ReportView(
        period=Period.parse("2026-10-D2"),
        region="410100",
        region_name="郑州市",
        scope=scope,
        lines=lines,
        sources=[_version("410100", 1)] + ([_version("410102", 2)] if scope == "all" else []),
        missing=["410122"] if scope == "all" else [],
    )


def _compare(name: str, produced: bytes) -> None:
    golden = GOLDEN / name
    if UPDATE:
        golden.write_bytes(produced)
    assert golden.exists(), f"no golden file {golden}: run with FISCALSYNC_UPDATE_GOLDEN=1"
    assert produced == golden.read_bytes(), f"{name} differs from its golden file"


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("fmt", ["text", "csv", "html"])
def test_text_csv_and_html_match_their_golden_files(tmp_path: Path, fmt: str, lang: str) -> None:
    out = tmp_path / f"report.{fmt}"
    assert reports.write(_view("all"), fmt, out, lang) is None
    _compare(f"report-2026-10-D2-all-{lang}.{'txt' if fmt == 'text' else fmt}", out.read_bytes())


def _cells(path: Path) -> list[list[Any]]:
    book = load_workbook(path)
    sheet = book.worksheets[0]
    rows = [
        [
            [
                str(cell.value) if cell.value is not None else None,
                bool(cell.font.b),
                cell.number_format,
            ]
            for cell in row
        ]
        for row in sheet.iter_rows()
    ]
    return [sheet.title, sheet.freeze_panes, rows]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_xlsx_cells_match_their_golden_file(tmp_path: Path, lang: str) -> None:
    out = tmp_path / "report.xlsx"
    reports.write(_view("own"), "xlsx", out, lang)
    produced = json.dumps(_cells(out), ensure_ascii=False, indent=1) + "\n"
    _compare(f"report-2026-10-D2-own-{lang}.xlsx.json", produced.encode("utf-8"))


def test_the_title_block_opens_every_layout(tmp_path: Path) -> None:
    shape = reports.layout(_view("own"), "zh")
    assert shape.heading == [
        "2026年10月中旬财政收支旬报",
        "编制单位：410100 郑州市（本级）",
        "报送日期：2026-10-22",
        "金额单位：元",
    ]
    english = reports.layout(_view("all"), "en").heading
    assert english[0] == "Revenue and expenditure ten-day report, October 2026, days 11-20"
    assert english[1] == "Prepared by: 410100 郑州市 (Consolidated)"
    text = reports.render_text(_view("own"), "zh")
    assert text.splitlines()[:4] == shape.heading
    page = reports.render_html(_view("own"), "zh")
    assert all(line in page for line in shape.heading)


def test_a_monthly_layout_has_no_month_to_date_and_revenue_without_budget_is_empty() -> None:
    view = _view("own")
    monthly = ReportView(
        Period.parse("2026-10"), view.region, view.region_name, "own", view.lines, [], []
    )
    shape = reports.layout(monthly, "zh")
    keys = [c.key for c in shape.columns]
    assert "month" not in keys and "month" in [c.key for c in reports.layout(view).columns]
    assert shape.heading[2] == "报送日期：未报送"
    budget = keys.index("budget")
    by_code = {(row[0], row[2]): row for row in shape.rows}
    assert by_code[("收入", "103")][budget] is None  # no revenue budget: empty, not 0.00
    assert by_code[("收入", "10101")][budget] == 500_000  # an imported revenue budget shows
    assert by_code[("支出", "2050202")][budget] == 0  # spending without a budget shows 0.00
    change = keys.index("change")
    assert by_code[("支出", "2050201")][change] == "+25.0%"
    assert by_code[("收入", "103")][change] == "—"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(InputError, match="unknown report format"):
        reports.write(_view("own"), "pdf", None)
