"""Spreadsheet files in and out: real CSV and XLSX files, no float anywhere."""

from __future__ import annotations

import io
import json
import random
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from nodes.fiscal.tabular import (
    Column,
    Sheet,
    read_table,
    render_text,
    text_file,
    write_table,
    write_text,
)
from schema.types import format_yuan, parse_yuan
from sync.errors import InputError, StorageError

BATCH = {
    "recipient": ("recipient", "to", "下达对象"),
    "amount": ("amount", "金额", "金额（元）"),
    "memo": ("memo", "备注"),
}
REPORT = [
    Column("recipient", "下达对象"),
    Column("amount", "金额（元）", "money"),
    Column("count", "笔数", "int"),
]
REPORT_HEADERS = {column.key: (column.label,) for column in REPORT}


def values(sheet: Sheet) -> list[tuple[int, dict[str, str]]]:
    return [(row.number, row.values) for row in sheet.rows]


def assert_all_text(sheet: Sheet) -> None:
    for row in sheet.rows:
        for value in row.values.values():
            assert type(value) is str


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


# Reading CSV


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_csv_in_utf8_with_or_without_bom(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "batch.csv"
    text = "Recipient , AMOUNT,ignored\n410100, 1234.56 ,x\n\n410200,0.05,\n,,\n"
    path.write_bytes(text.encode(encoding))

    sheet = read_table(path, BATCH, required=("recipient", "amount"))

    assert sheet.path == path
    assert sheet.columns == ("recipient", "amount")
    # Row numbers as the spreadsheet shows them: the blank line is row 3.
    assert values(sheet) == [
        (2, {"recipient": "410100", "amount": "1234.56", "memo": ""}),
        (4, {"recipient": "410200", "amount": "0.05", "memo": ""}),
    ]


def test_csv_saved_by_chinese_excel_in_gb18030_with_chinese_headers(tmp_path: Path) -> None:
    path = tmp_path / "下达.csv"
    text = "备注,金额 (元),下达对象\r\n第一批,100,郑州市财政局\r\n"
    path.write_bytes(text.encode("gb18030"))

    sheet = read_table(path, BATCH, required=("recipient", "amount"))

    assert sheet.columns == ("memo", "amount", "recipient")
    assert values(sheet) == [(2, {"recipient": "郑州市财政局", "amount": "100", "memo": "第一批"})]


def test_full_width_brackets_and_spaces_match_the_header(tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text("下达对象,\u3000金额（元）\u3000\n410100,5\n", encoding="utf-8")
    assert read_table(path, BATCH, required=("amount",)).columns == ("recipient", "amount")


def test_csv_in_neither_utf8_nor_gb18030_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_bytes(b"recipient,amount\n\xff\xff,1\n")
    with pytest.raises(InputError, match="batch.csv") as caught:
        read_table(path, BATCH, required=())
    assert "UTF-8" in caught.value.hint


def test_empty_file_and_header_only_give_no_rows(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    header_only = tmp_path / "header.csv"
    header_only.write_text("recipient,amount\n\n", encoding="utf-8")

    assert read_table(empty, BATCH, required=("amount",)).rows == []
    sheet = read_table(header_only, BATCH, required=("amount",))
    assert sheet.rows == [] and sheet.columns == ("recipient", "amount")


# Reading XLSX


def test_xlsx_cells_become_exact_text_with_excel_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "batch.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["A2"] = "2024年第一批转移支付下达表"  # a title above the header, row 1 empty
    sheet.append(["下达对象", "金额", "备注", "date", "flag"])  # row 3
    sheet.append(["  郑州市 ", 1234.56, 7, date(2024, 3, 1), True])  # row 4
    sheet.append([None, None, None, None, None])  # row 5: empty, skipped
    sheet.append(["开封市", Decimal("0.10"), 100.0, datetime(2024, 3, 1), False])  # row 6
    sheet.append(["洛阳市", 1e-05, "", datetime(2024, 3, 1, 8, 30), None])  # row 7
    book.save(path)
    columns = {**BATCH, "date": ("date",), "flag": ("flag",)}

    sheet_read = read_table(path, columns, required=("recipient", "amount"))

    assert sheet_read.columns == ("recipient", "amount", "memo", "date", "flag")
    assert values(sheet_read) == [
        (4, {"recipient": "郑州市", "amount": "1234.56", "memo": "7", "date": "2024-03-01", "flag": "true"}),
        (6, {"recipient": "开封市", "amount": "0.1", "memo": "100", "date": "2024-03-01", "flag": "false"}),
        (7, {"recipient": "洛阳市", "amount": "0.00001", "memo": "", "date": "2024-03-01T08:30:00", "flag": ""}),
    ]  # fmt: skip
    assert_all_text(sheet_read)


def test_xlsx_header_is_the_first_non_empty_row(tmp_path: Path) -> None:
    path = tmp_path / "batch.xlsx"
    book = openpyxl.Workbook()
    book.active["B3"] = "amount"
    book.active["B4"] = 5
    book.save(path)

    sheet = read_table(path, BATCH, required=("amount",))

    assert values(sheet) == [(4, {"recipient": "", "amount": "5", "memo": ""})]


@pytest.mark.parametrize(
    "content",
    [random.Random(7).randbytes(4096), b"", b"PK\x03\x04 not really a zip"],
    ids=["random", "empty", "truncated-zip"],
)
def test_damaged_xlsx_is_an_input_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "batch.xlsx"
    path.write_bytes(content)
    with pytest.raises(InputError, match="batch.xlsx") as caught:
        read_table(path, BATCH, required=("amount",))
    assert "\n" not in caught.value.message and caught.value.hint


# Reading: refusals


def test_missing_required_columns_are_all_named(tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text("名称,备注\n郑州市,x\n", encoding="utf-8")

    with pytest.raises(InputError) as caught:
        read_table(path, BATCH, required=("recipient", "amount"))

    message = caught.value.message
    assert "batch.csv" in message and "recipient" in message and "amount" in message
    assert "memo" not in message
    assert "recipient,amount,memo" in caught.value.hint


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_missing_file_is_an_input_error(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_table(tmp_path / f"absent{suffix}", BATCH, required=())


@pytest.mark.parametrize("name", ["batch.xls", "batch.ods", "batch"])
def test_unknown_suffix_is_refused_with_a_hint(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"recipient,amount\n")
    with pytest.raises(InputError, match=name) as caught:
        read_table(path, BATCH, required=())
    assert ".csv" in caught.value.hint and ".xlsx" in caught.value.hint


def test_two_columns_for_one_key_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text("金额,recipient,amount\n1,2,3\n", encoding="utf-8")
    with pytest.raises(InputError, match="columns A and C both give amount"):
        read_table(path, BATCH, required=())


# Writing

ROWS = [
    ["郑州市财政局", 123456, 3],
    ["开封市", -5, 0],
    ["=SUM(A1:A2)", 123456789012, None],
    ["", None, 12],
]
ROWS_AS_TEXT = [
    {"recipient": "郑州市财政局", "amount": "1234.56", "count": "3"},
    {"recipient": "开封市", "amount": "-0.05", "count": "0"},
    {"recipient": "=SUM(A1:A2)", "amount": "1234567890.12", "count": ""},
    {"recipient": "", "amount": "", "count": "12"},
]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_written_table_reads_back_equal(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"report.{fmt}"
    write_table(REPORT, ROWS, fmt, path, title="2024年第一批")

    sheet = read_table(path, REPORT_HEADERS, required=("recipient", "amount", "count"))

    assert [row.values for row in sheet.rows] == ROWS_AS_TEXT
    assert [row.number for row in sheet.rows] == [2, 3, 4, 5]
    assert_all_text(sheet)


def test_csv_is_written_with_a_bom_and_plain_yuan(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    write_table(REPORT, ROWS[:2], "csv", path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").splitlines() == [
        "下达对象,金额（元）,笔数",
        "郑州市财政局,1234.56,3",
        "开封市,-0.05,0",
    ]


def test_xlsx_money_is_a_decimal_number_with_a_money_format(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    write_table(REPORT, ROWS, "xlsx", path, title="[2024]: 第一批/下达*?" + "x" * 40)

    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    assert len(sheet.title) <= 31 and not set("[]:*?/\\") & set(sheet.title)
    assert [cell.value for cell in sheet[1]] == ["下达对象", "金额（元）", "笔数"]
    assert sheet["A1"].font.bold
    money = sheet["B2"]
    assert money.data_type == "n" and money.number_format == "#,##0.00"
    assert Decimal(repr(money.value)) == Decimal("1234.56")
    assert Decimal(repr(sheet["B4"].value)) == Decimal("1234567890.12")
    assert sheet["B5"].value is None
    assert sheet["A4"].data_type == "s"  # text that looks like a formula stays text
    assert sheet["C2"].value == 3
    book.close()


def test_json_output_keeps_money_as_a_string(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_table(REPORT, ROWS, "json", path)

    records = json.loads(path.read_text(encoding="utf-8"))

    assert records[0] == {"recipient": "郑州市财政局", "amount": "1234.56", "count": 3}
    assert records[2] == {"recipient": "=SUM(A1:A2)", "amount": "1234567890.12", "count": None}
    assert records[3]["amount"] is None


def test_csv_and_json_go_to_stdout_without_a_path(capsys: pytest.CaptureFixture[str]) -> None:
    write_table(REPORT, ROWS[:1], "csv", None)
    assert capsys.readouterr().out == "下达对象,金额（元）,笔数\n郑州市财政局,1234.56,3\n"
    write_table(REPORT, ROWS[:1], "json", None)
    assert json.loads(capsys.readouterr().out)[0]["amount"] == "1234.56"


def test_xlsx_needs_a_path_and_formats_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        write_table(REPORT, ROWS, "xlsx", None)
    assert caught.value.hint == "--output FILE.xlsx"
    with pytest.raises(InputError, match="'ods'"):
        write_table(REPORT, ROWS, "ods", tmp_path / "report.ods")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_a_missing_folder_is_a_clear_error_and_leaves_no_file(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "absent" / f"report.{fmt}"
    with pytest.raises(StorageError, match="cannot write .*absent") as caught:
        write_table(REPORT, ROWS, fmt, path)
    assert "folder" in caught.value.hint
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json", "text"])
def test_a_file_that_cannot_be_written_is_a_storage_failure(tmp_path: Path, fmt: str) -> None:
    """A path under a file (ENOTDIR) fails the write for real: this node's storage failed
    (exit 74), not the operator's input (exit 3), and the message says which file."""
    (tmp_path / "plain").write_text("a file, not a folder", encoding="utf-8")
    path = tmp_path / "plain" / f"listing.{fmt}"
    with pytest.raises(StorageError) as caught:
        if fmt == "text":
            with text_file(path) as stream:
                stream.write("never written")
        else:
            write_table(REPORT, ROWS, fmt, path)
    assert not isinstance(caught.value, InputError)
    assert caught.value.exit_code == 74
    assert caught.value.message == f"cannot write {path}: Not a directory"
    assert caught.value.hint == "check that the folder exists and is writable"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_float_money_is_refused_and_no_partial_file_is_left(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"report.{fmt}"
    path.write_bytes(b"the previous report")
    rows = [*ROWS, ["周口市", 12.5, 1]]

    with pytest.raises(TypeError, match="needs an int"):
        write_table(REPORT, rows, fmt, path)

    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert path.read_bytes() == b"the previous report"


# Terminal


def test_render_text_aligns_cjk_and_right_aligns_money() -> None:
    text = render_text(REPORT, ROWS)

    lines = text.splitlines()
    assert lines[0].startswith("下达对象")
    assert set(lines[1]) == {"-", " "}
    widths = {display_width(line) for line in lines[:2]}
    assert len(widths) == 1, text  # header and rule equally wide
    # Every row's amount ends at the same display column as the amount's header.
    amount_end = display_width(lines[0][: lines[0].index("金额（元）") + len("金额（元）")])
    for line, amount in zip(lines[2:], ["1,234.56", "-0.05", "1,234,567,890.12"], strict=False):
        assert display_width(line[: line.index(amount) + len(amount)]) == amount_end
    assert lines[2].startswith("郑州市财政局  ")
    assert display_width(lines[3].split("-0.05")[0]) == amount_end - len("-0.05")


def test_render_text_of_no_rows_is_header_and_rule() -> None:
    assert render_text(REPORT, []).splitlines() == [
        "下达对象  金额（元）  笔数",
        "--------  ----------  ----",
    ]


def test_parse_yuan_reads_what_is_written(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    write_table(REPORT, [["x", 10000, 1]], "xlsx", path)
    amount = read_table(path, REPORT_HEADERS, required=()).rows[0].values["amount"]
    assert amount == "100" and parse_yuan(amount) == 10000


def test_a_streamed_table_and_json_are_the_text_of_the_whole(tmp_path: Path) -> None:
    """Rows given as a function (read once, kept aside while the widths are measured) give
    the same table as rows in memory; json written row by row is the array json.dumps makes of them all."""
    columns = [Column("code", "编码"), Column("amount", "金额", "money"), Column("n", "n", "int")]
    rows = [["410100", 123_456, 7], ["410102 郑州\n中原区", None, None], ["x", -5, 12_345]]
    out = io.StringIO()
    assert write_text(out, columns, lambda: iter(rows)) == len(rows)
    assert out.getvalue() == render_text(columns, rows) + "\n"
    assert write_text(io.StringIO(), columns, lambda: iter([])) == 0
    for given in (rows, []):
        target = tmp_path / f"rows{len(given)}.json"
        write_table(columns, iter(given), "json", target)
        expected = [
            {"code": r[0], "amount": None if r[1] is None else format_yuan(r[1]).replace(",", ""),
             "n": r[2]}
            for r in given
        ]  # fmt: skip
        assert target.read_text(encoding="utf-8") == (
            json.dumps(expected, ensure_ascii=False, indent=2) + "\n"
        )


def test_a_streamed_table_is_read_once_so_its_total_goes_with_its_rows() -> None:
    """A listing read from the database twice could see a row added between the reads and
    print it in place of its total: the rows are read once, in one snapshot."""
    columns = [Column("code", "编码"), Column("amount", "金额", "money")]
    reads = []

    def rows() -> Iterator[list[object]]:
        reads.append(1)
        funds = [["410102", 10_000], ["410122", 20_000]] + [["410181", 30_000]] * (len(reads) - 1)
        return iter([*funds, ["合计", sum(int(f[1]) for f in funds)]])

    out = io.StringIO()
    assert write_text(out, columns, rows) == 3
    assert reads == [1]
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("合计") and lines[-1].endswith("300.00") and len(lines) == 5


def test_a_streamed_file_that_fails_half_way_leaves_the_one_before(tmp_path: Path) -> None:
    """``-o FILE`` of a streamed listing appears complete or not at all."""
    target = tmp_path / "list.txt"
    target.write_text("the good one\n", encoding="utf-8")

    def failing() -> Iterator[str]:
        yield "a line\n"
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError), text_file(target) as stream:
        stream.writelines(failing())
    assert target.read_text(encoding="utf-8") == "the good one\n"
    assert [p.name for p in tmp_path.iterdir()] == ["list.txt"]
    with text_file(target) as stream:
        stream.write("中文\n")
    assert target.read_text(encoding="utf-8") == "中文\n"


@pytest.mark.parametrize(
    "command",
    [
        ["codes", "list", "--codeset", "fund"],  # a table written whole
        ["codes", "list", "--codeset", "fund", "--format", "csv"],
        ["ledger", "list"],  # a table streamed from the database
        ["ledger", "list", "--format", "xlsx"],
    ],
)
def test_an_output_file_that_cannot_be_written_exits_74_in_both_languages(
    node_home: Path, tmp_path: Path, command: list[str]
) -> None:
    from click.testing import CliRunner

    from cli import cli

    (tmp_path / "plain").write_text("a file, not a folder", encoding="utf-8")
    out = tmp_path / "plain" / "listing"
    said = {
        "en": (f"Error: cannot write {out}: Not a directory", "check that the folder exists"),
        "zh": (f"错误：无法写入 {out}：Not a directory", "请确认文件夹存在且可写"),
    }
    for lang, (error, hint) in said.items():
        args = ["--home", str(node_home), *command, "-o", str(out), "--lang", lang]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 74, result.output
        lines = result.stderr.splitlines()
        assert lines[0] == error and hint in lines[1], result.stderr
        assert "Traceback" not in result.output
