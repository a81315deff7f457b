"""The issuer's rules, from the command line: no line twice, no amount beyond the bound,
a breakdown true to what it is taken from, and sums that cannot overflow.

Each refusal is one clear error naming the line, a non-zero exit, and nothing changed.
On a ``network init`` province, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from test_allocate import BATCH_HEADER, allocate, listing, run, settle

from nodes import Node
from nodes.fiscal.appropriations import duplicates
from nodes.fiscal.ledger import Entry, record
from nodes.network import Network
from schema.types import MAX_AMOUNT_FEN

PARENT = "410000-2026-000001"


def test_the_same_line_twice_is_refused_naming_the_earlier_one(province: Network) -> None:
    assert allocate(province, "410000", "410100", "100.00").exit_code == 0
    again = allocate(province, "410000", "410100", "100.00")
    assert again.exit_code == 3
    assert f"已下达为 {PARENT}" in again.stderr
    assert "--allow-duplicate" in again.stderr
    assert len(listing(province, "410000", "issued")) == 1
    on_purpose = allocate(province, "410000", "410100", "100.00", "--allow-duplicate")
    assert on_purpose.exit_code == 0, on_purpose.stderr
    assert len(listing(province, "410000", "issued")) == 2
    # another amount, recipient or document is another line
    assert allocate(province, "410000", "410100", "100.01").exit_code == 0
    assert allocate(province, "410000", "410300", "100.00").exit_code == 0


@pytest.mark.parametrize("kept", [0, 50_000])
def test_importing_a_spreadsheet_twice_issues_nothing_twice(
    province: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: int
) -> None:
    """Whether the batch's 文号 are few enough to be looked up at once before its lines
    are read again (``DOCS_KEPT``), or looked up chunk by chunk as they are."""
    monkeypatch.setattr(duplicates, "DOCS_KEPT", kept)
    batch = tmp_path / "batch.csv"
    rows = [
        "410100,1000.00,2050201,51301,111,豫财教〔2026〕1号,学前教育,general",
        "410300,2000.50,2050202,51301,111,豫财教〔2026〕1号,小学教育,special",
    ]
    batch.write_text("\n".join([BATCH_HEADER, *rows, rows[0]]) + "\n", encoding="utf-8")
    within = run(province, "410000", "allocate", "--file", str(batch), "--year", "2026")
    assert within.exit_code == 3
    assert "batch.csv 第 4 行：与 batch.csv 第 2 行 重复" in within.stderr
    assert listing(province, "410000", "issued") == []

    batch.write_text("\n".join([BATCH_HEADER, *rows]) + "\n", encoding="utf-8")
    first = run(province, "410000", "allocate", "--file", str(batch), "--year", "2026")
    assert first.exit_code == 0, first.stderr
    second = run(province, "410000", "allocate", "--file", str(batch), "--year", "2026")
    assert second.exit_code == 3
    assert "batch.csv 第 2 行：已下达为 410000-2026-000001" in second.stderr
    assert "batch.csv 第 3 行：已下达为 410000-2026-000002" in second.stderr
    assert len(listing(province, "410000", "issued")) == 2


def test_amounts_beyond_the_bound_are_refused_at_every_entry_point(
    province: Network, tmp_path: Path
) -> None:
    for amount in ("10000000000000.01", "92233720368547758.08", "1" + "0" * 40):
        result = allocate(province, "410000", "410100", amount)
        assert result.exit_code == 3, result.output
        assert "元超过单行最大金额 10,000,000,000,000.00 元" in result.stderr
        assert "Traceback" not in result.output + result.stderr
    batch = tmp_path / "batch.csv"
    batch.write_text(
        BATCH_HEADER + "\n410100,10000000000000.01,2050201,51301,111,豫财教〔2026〕1号,x,general\n",
        encoding="utf-8",
    )
    result = run(
        province, "410000", "allocate", "--file", str(batch), "--year", "2026", "--lang", "en"
    )
    assert result.exit_code == 3
    assert "batch.csv row 2: amount" in result.stderr
    assert listing(province, "410000", "issued") == []

    assert allocate(province, "410000", "410181", "10000000000000.00").exit_code == 0
    settle(province)
    more = run(
        province, "410000", "adjust", PARENT, "--delta", "0.01", "--doc", "豫财预〔2026〕2号"
    )
    assert more.exit_code == 3
    assert "超过单笔指标最大金额" in more.stderr
    spend = run(
        province, "410181", "ledger", "add", "--date", "2026-10-15", "--code", "2050202",
        "--amount", "10000000000000.01", "--appropriation", PARENT,
    )  # fmt: skip
    assert spend.exit_code == 3 and "元超过单行最大金额" in spend.stderr
    listed = run(province, "410181", "appropriations")
    assert listed.exit_code == 0 and "10,000,000,000,000.00" in listed.output


def test_a_breakdown_keeps_the_classification_it_is_taken_from(province: Network) -> None:
    assert allocate(province, "410000", "410100", "1000.00").exit_code == 0
    settle(province)
    for change, why in (
        (["--fund", "112"], "分解须沿用 410000-2026-000001 的资金性质 111，不能是 112"),
        (["--type", "special"], "分解须沿用 410000-2026-000001 的转移支付类型 general"),
        (["--func", "2100101"], "2100101 不是 2050202 或其下级"),
    ):
        line = ["--func", "2050202", "--econ", "50201", "--fund", "111"]
        for option, value in zip(change[::2], change[1::2], strict=True):
            if option in line:
                line[line.index(option) + 1] = value
            else:
                line += [option, value]
        result = run(
            province, "410100", "allocate", "--to", "410102", "--amount", "1.00", *line,
            "--doc", "郑财预〔2026〕1号", "--year", "2026", "--from", PARENT,
        )  # fmt: skip
        assert result.exit_code == 3, result.output
        assert why in result.stderr
    assert listing(province, "410100", "issued") == []


def test_totals_past_64_bits_are_refused_cleanly_not_crashed(province: Network) -> None:
    """9,300 receipts of the largest amount add up past 2^63 fen: the sums are exact on
    both databases, and the report that cannot hold them is refused with a clear error."""
    entries = [Entry(date(2026, 10, 15), "revenue", "10101", MAX_AMOUNT_FEN) for _ in range(9_300)]
    with Node.open(province.path / "410181") as node:
        record(node, entries, actor="test")
    report = run(province, "410181", "report", "generate", "--period", "2026-10")
    assert report.exit_code == 3, report.output + report.stderr
    assert "合计超过报表可容纳的金额" in report.stderr
    assert run(province, "410181", "appropriations").exit_code == 0


@pytest.mark.parametrize("kept", [0, 50_000])
def test_two_operators_issuing_the_same_lines_at_once_issue_them_once(
    province: Network, monkeypatch: pytest.MonkeyPatch, kept: int
) -> None:
    """Two operators at one node issue the same batch at the same moment: the second waits
    for the first's counter, then finds its lines already issued (looked up at once, or
    chunk by chunk), and is refused; every line is issued once."""
    import threading

    from nodes.fiscal.appropriations import Allocation
    from nodes.fiscal.appropriations import allocate as issue
    from sync.errors import RowsRefused

    monkeypatch.setattr(duplicates, "DOCS_KEPT", kept)
    batch = [
        Allocation("410100", 100 + n, "2050202", "50201", "111", "豫财预〔2026〕7号", 2026)
        for n in range(300)
    ]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def operator() -> None:
        with Node.open(province.path / "410000") as node:
            start.wait()
            try:
                issue(node, batch, actor="test")
                outcomes.append("issued")
            except RowsRefused as exc:
                named = [p for p in exc.problems if not p.startswith("... and")]
                assert all("already issued as 410000-2026-" in p for p in named), named[:2]
                outcomes.append("refused")

    threads = [threading.Thread(target=operator) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["issued", "refused"]
    assert len(listing(province, "410000", "issued")) == len(batch)
