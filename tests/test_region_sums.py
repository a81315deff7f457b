"""A 全辖 whose sums a report cannot hold is refused with the line named, before anything
is written, when it is sent with the node's own report and when it is sent again
(``report submit --scope all``), as a generated report is: never a database error
retried at every round. Each report below holds 5,000 entries of the largest amount
(5×10^18 fen, which fits); the city's own and a county's report summed do not (10^19 fen
against 2^63 − 1). A real ``network init`` province, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner
from test_backup import settle

from cli import cli
from nodes import Node
from nodes.fiscal import ledger, reports
from nodes.network import Network
from schema.channels import outbox
from schema.tables import region_report, report
from schema.types import MAX_AMOUNT_FEN, MAX_STORED_FEN, format_yuan
from sync.errors import InputError

CITY = "410100"
COUNTY = "410102"
PERIOD = "2026-10"
ENTRIES = 5_000
LARGEST = format_yuan(MAX_STORED_FEN)


def spend_the_most(network: Network, code: str) -> None:
    """``code`` records :data:`ENTRIES` expenditures of the largest amount on one code."""
    entry = ledger.Entry(date(2026, 10, 25), "expenditure", "2050202", MAX_AMOUNT_FEN)
    with Node.open(network.path / code) as node:
        ledger.record(node, [entry] * ENTRIES, actor="test")


def written(network: Network, code: str) -> tuple[list[Any], int, int]:
    """At ``code``: its own versions (version, state), its 全辖 count, its outbox count."""
    with Node.open(network.path / code) as node, node.engine.connect() as conn:
        own = conn.execute(
            sa.select(report.c.version, report.c.state)
            .where(report.c.node_code == code, report.c.period == PERIOD)
            .order_by(report.c.version)
        ).all()
        mine = region_report.c.node_code == code
        regions = conn.execute(sa.select(sa.func.count()).where(mine)).scalar_one()
        queued = conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()
    return [tuple(r) for r in own], int(regions), int(queued)


def test_a_region_report_too_large_to_hold_is_refused_naming_the_line(province: Network) -> None:
    assert ENTRIES * MAX_AMOUNT_FEN <= MAX_STORED_FEN < 2 * ENTRIES * MAX_AMOUNT_FEN
    spend_the_most(province, CITY)
    with Node.open(province.path / CITY) as node:
        reports.generate(node, PERIOD, actor="test")
        assert reports.submit(node, PERIOD, actor="test").version == 1  # 全辖 v1: its own
    spend_the_most(province, COUNTY)
    with Node.open(province.path / COUNTY) as node:
        reports.generate(node, PERIOD, actor="test")
        reports.submit(node, PERIOD, actor="test")
    settle(province)
    before = written(province, CITY)
    assert before[:2] == ([(1, "submitted")], 1)

    again = CliRunner().invoke(
        cli,
        [
            "--lang",
            "en",
            "--home",
            str(province.path / CITY),
            "report",
            "submit",
            PERIOD,
            "--scope",
            "all",
        ],
    )
    assert again.exit_code != 0
    assert again.exception is None or isinstance(again.exception, SystemExit)
    message = again.stderr.strip().splitlines()
    assert message[0].endswith(
        f"report line expenditure 2050202 adds up to more than a report can hold ({LARGEST} 元)"
    ), again.stderr
    assert "Traceback" not in again.stderr
    assert any("the reports from below add up to more than that" in x for x in message)
    assert written(province, CITY) == before  # no 全辖 v2, nothing queued

    # A correction of the city's own report sends its 全辖 with it: refused whole.
    with Node.open(province.path / CITY) as node:
        entry = ledger.Entry(date(2026, 10, 26), "expenditure", "2050202", 1)
        ledger.record(node, [entry], actor="test")
        reports.generate(node, PERIOD, actor="test")
        drafted = written(province, CITY)
        assert drafted[0] == [(1, "submitted"), (2, "draft")]
        try:
            reports.submit(node, PERIOD, actor="test")
        except InputError as refused:
            assert "adds up to more than a report can hold" in str(refused)
        else:
            raise AssertionError("a 全辖 beyond what a report holds was sent")
    assert written(province, CITY) == drafted  # v2 still a draft, no 全辖, nothing queued


def test_a_report_too_large_to_hold_is_refused_naming_the_line_in_chinese(
    province: Network,
) -> None:
    spend_the_most(province, COUNTY)
    spend_the_most(province, COUNTY)  # 10^19 fen on one code: more than 2^63 - 1
    generated = CliRunner().invoke(
        cli, ["--lang", "zh", "--home", str(province.path / COUNTY), "report", "generate", PERIOD]
    )
    assert generated.exit_code != 0
    assert "Traceback" not in generated.stderr
    assert generated.stderr.splitlines()[:2] == [
        f"错误：报表行 支出 2050202 合计超过报表可容纳的金额（{LARGEST} 元）",
        "提示：检查是否有重复多次录入的收支记录并更正",
    ]
    assert written(province, COUNTY) == ([], 0, 0)
