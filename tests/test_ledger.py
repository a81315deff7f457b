"""Ledger entries (payments and receipts): recorded all or nothing, spending under control.

Through the command, on a ``network init`` province, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import provinces
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from cli import cli
from nodes import Node
from nodes.network import Network, sync_network
from schema.tables import ledger_entry

APPROPRIATION = "410000-2026-000001"


@pytest.fixture
def county(tmp_path: Path, db_url_template: str | None, demo_topology: Path) -> Network:
    """A province whose direct county 410181 received 1000.00 元 for 2050202."""
    network = provinces.make(tmp_path / "province", demo_topology, db_url_template)
    issued = run(
        network,
        "410000",
        "allocate",
        "--to",
        "410181",
        "--amount",
        "1000.00",
        "--func",
        "2050202",
        "--econ",
        "51301",
        "--fund",
        "111",
        "--doc",
        "豫财预〔2026〕1号",
        "--year",
        "2026",
    )
    assert issued.exit_code == 0, issued.stderr
    assert sync_network(network.path, until_quiet=True).quiet
    return network


def run(network: Network, code: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(network.path / code), *args])


def entries(network: Network) -> list[tuple[object, ...]]:
    with Node.open(network.path / "410181") as node, node.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                ledger_entry.c.entry_date,
                ledger_entry.c.direction,
                ledger_entry.c.func_code,
                ledger_entry.c.amount_fen,
                ledger_entry.c.appropriation_id,
            ).order_by(ledger_entry.c.id)
        )
        return [tuple(r) for r in rows]


def available(network: Network) -> str:
    result = run(network, "410181", "appropriations", "--format", "csv")
    return result.output.strip().splitlines()[1].rsplit(",", 1)[1]


def test_spending_is_recorded_up_to_the_available_balance(county: Network) -> None:
    spend = ["ledger", "add", "--date", "2026-10-15", "--code", "2050202", "--econ", "50201"]
    first = run(county, "410181", *spend, "--amount", "600.00", "--appropriation", APPROPRIATION)
    assert first.exit_code == 0, first.stderr
    assert available(county) == "400.00"
    beyond = run(county, "410181", *spend, "--amount", "400.01", "--appropriation", APPROPRIATION,
                 "--lang", "en")  # fmt: skip
    assert beyond.exit_code == 3
    assert "exceeds what is still available of 410000-2026-000001: 400.00 元" in beyond.stderr
    assert available(county) == "400.00"
    other = run(
        county, "410181", *spend[:5], "2050203", "--amount", "1", "--appropriation", APPROPRIATION,
        "--lang", "en",
    )  # fmt: skip
    assert other.exit_code == 3 and "is for 2050202, not for 2050203" in other.stderr
    assert len(entries(county)) == 1


def test_a_file_is_imported_all_or_nothing_with_every_bad_row_named(
    county: Network, tmp_path: Path
) -> None:
    bad = tmp_path / "payments.csv"
    bad.write_text(
        "date,direction,code,econ,amount,appropriation,memo\n"
        f"2026-10-01,expenditure,2050202,50201,100.00,{APPROPRIATION},教材\n"  # row 2 fine
        "2026-13-01,expenditure,2050202,,1,,\n"  # row 3 bad date
        "2026-10-02,支出,2050202,,12.345,,\n"  # row 4 three decimals
        "2026-10-03,transfer,2050202,,1,,\n"  # row 5 bad direction
        "2026-10-04,收入,10101,,abc,,\n"  # row 6 text amount
        "2026-10-05,expenditure,2050202,,1,,办公\x00用品\n"  # row 7 a NUL no database stores
        f"2026-10-06,expenditure,2050202,,1,{APPROPRIATION}\x00,\n",  # row 8 nor looks up
        encoding="utf-8",
    )
    result = run(county, "410181", "ledger", "import", str(bad), "--lang", "en")
    assert result.exit_code == 3, result.stderr
    assert "payments.csv row 7: memo holds a NUL character" in result.stderr
    assert "payments.csv row 8: appropriation holds a NUL character" in result.stderr
    for text in ("row 3: date", "row 4: amount", "row 5: direction", "row 6: amount"):
        assert f"payments.csv {text}" in result.stderr
    assert "row 2" not in result.stderr
    assert entries(county) == []
    codes = tmp_path / "codes.csv"
    codes.write_text(
        "date,direction,code,amount,appropriation\n"
        f"2026-10-01,expenditure,2050202,900.00,{APPROPRIATION}\n"
        "2026-10-02,revenue,10199,50.00,\n"
        "2026-10-03,revenue,99999,1.00,\n"  # row 4 unknown revenue code
        f"2026-10-04,expenditure,2050202,100.01,{APPROPRIATION}\n",  # row 5 beyond balance
        encoding="utf-8",
    )
    second = run(county, "410181", "ledger", "import", str(codes), "--lang", "en")
    assert second.exit_code == 3
    assert (
        "codes.csv row 4: revenue classification (收入分类) '99999' is not a code of 2026"
        in second.stderr
    )
    assert "codes.csv row 5: spending 100.01 元 exceeds" in second.stderr
    assert entries(county) == []


def test_an_xlsx_with_chinese_headers_is_imported(county: Network, tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.append(["日期", "收支", "科目编码", "金额", "指标编号", "摘要"])
    book.active.append(["2026-10-05", "支出", "2050202", 250.25, APPROPRIATION, "校舍维修"])
    book.active.append(["2026-10-06", "收入", "10101", 1000, None, "增值税"])
    path = tmp_path / "2026-10.xlsx"
    book.save(path)
    result = run(county, "410181", "ledger", "import", str(path))
    assert result.exit_code == 0, result.stderr
    assert "支出 250.25 元，收入 1,000.00 元" in result.output
    assert [(e[1], e[2], e[3]) for e in entries(county)] == [
        ("expenditure", "2050202", 25_025),
        ("revenue", "10101", 100_000),
    ]
    assert available(county) == "749.75"


def test_missing_columns_are_named(county: Network, tmp_path: Path) -> None:
    path = tmp_path / "payments.csv"
    path.write_text("date,amount\n2026-10-01,1\n", encoding="utf-8")
    result = run(county, "410181", "ledger", "import", str(path))
    assert result.exit_code == 3
    assert "direction" in result.stderr and "code" in result.stderr
    assert entries(county) == []
