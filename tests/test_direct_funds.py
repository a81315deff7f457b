"""Transfer types (一般性 / 专项 / 共同财政事权), 直达资金 kept by every breakdown, the
information copy (抄送) a city gets of what the province issues to a county under it, and
``appropriations trace`` at every level.

From the command line on a ``network init`` province, on SQLite and on PostgreSQL; the
receiving side is tried with change-sets crafted to break each rule.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from click.testing import CliRunner
from test_allocate import allocate, listing, run, settle

from cli import cli
from nodes import Node
from nodes.fiscal.appropriations import Allocation
from nodes.fiscal.appropriations import allocate as issue_lines
from nodes.network import Network
from nodes.policy import check_send
from schema.engine import reading
from schema.migrate import MIGRATIONS
from schema.tables import code_item
from schema.types import parse_yuan
from sync.channel import enqueue
from sync.clock import SYSTEM_CLOCK
from sync.errors import NotAuthorized
from sync.pki import load_signer

FIRST = "410000-2026-000001"
ISSUE: dict[str, Any] = {
    "op": "issue",
    "id": "410000-2026-900001",
    "year": 2026,
    "doc": "豫财预〔2026〕9号",
    "title": "",
    "upper_doc": None,
    "parent_id": None,
    "func": "2050202",
    "econ": "50201",
    "fund": "111",
    "type": "general",
    "direct": False,
    "project": None,
    "amount": 100,
    "actor": "x",
    "at": "2026-11-23T08:00:00Z",
}


def as_json(network: Network, code: str, *args: str) -> list[dict[str, Any]]:
    result = run(network, code, *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return list(json.loads(result.output))


def crafted(network: Network, kind: str, recipient: str, operations: list[dict[str, Any]]) -> str:
    """Send ``operations`` from the province as they are, and return the receipt's reason."""
    with Node.open(network.path / "410000") as node, node.engine.begin() as conn:
        written = enqueue(
            conn,
            node.spool,
            load_signer(node.home.keys),
            recipient,
            kind,
            operations,
            SYSTEM_CLOCK,
        )
    settle(network)
    with Node.open(network.path / "410000") as node:
        entry = next(e for e in node.outbox(include_acknowledged=True) if e.id == written.id)
    assert entry.receipt_verdict == "rejected"
    return str(entry.receipt_reason)


@pytest.mark.parametrize("word", ["shared", "共同财政事权"])
def test_shared_responsibility_transfers_are_issued_and_kept(province: Network, word: str) -> None:
    result = allocate(province, "410000", "410100", "500.00", "--type", word)
    assert result.exit_code == 0, result.stderr
    settle(province)
    (got,) = listing(province, "410100", "received")
    assert got["transfer_type"] == "shared"
    shown = run(province, "410100", "appropriations", "show", FIRST)
    assert "转移支付类型        共同财政事权转移支付" in shown.output
    loan = allocate(province, "410000", "410100", "1.00", "--type", "loan")
    assert loan.exit_code == 2 and "loan" in loan.stderr


def test_direct_funds_are_kept_by_every_breakdown(province: Network) -> None:
    assert allocate(province, "410000", "410100", "1000.00", "--direct").exit_code == 0
    settle(province)
    (received,) = listing(province, "410100", "received")
    assert received["direct_label"] == "直达"
    dropped = allocate(province, "410100", "410102", "10.00", "--from", FIRST, "--not-direct")
    assert dropped.exit_code == 3
    assert f"分解须沿用 {FIRST} 的直达资金标志" in dropped.stderr
    assert listing(province, "410100", "issued") == []
    kept = allocate(province, "410100", "410102", "400.00", "--from", FIRST)
    assert kept.exit_code == 0, kept.stderr
    settle(province)
    (down,) = listing(province, "410102", "received")
    assert down["direct_label"] == "直达"
    assert down["upper_doc_no"] == "豫财预〔2026〕1号"

    # and a breakdown cannot make money 直达 that was not
    assert allocate(province, "410000", "410300", "100.00").exit_code == 0
    settle(province)
    made = allocate(
        province, "410300", "410322", "1.00", "--from", "410000-2026-000002", "--direct"
    )
    assert made.exit_code == 3 and "不是直达资金，其分解也不能标为直达" in made.stderr


def test_a_city_gets_a_copy_of_what_the_province_issues_to_its_county(
    province: Network,
) -> None:
    assert allocate(province, "410000", "410100", "1000.00").exit_code == 0
    direct = allocate(province, "410000", "410102", "250.00", "--direct", "--type", "special")
    assert direct.exit_code == 0, direct.stderr
    managed = allocate(province, "410000", "410181", "70.00")  # 省直管县: nobody in between
    assert managed.exit_code == 0
    settle(province)
    # the county received it; the city holds a copy, not an appropriation of its own
    assert [r["id"] for r in listing(province, "410102", "received")] == ["410000-2026-000002"]
    (own,) = listing(province, "410100", "received")
    assert own["available_fen"] == 100_000
    shares = as_json(province, "410100", "appropriations", "jurisdiction")
    assert [(s["id"], s["held"], s["recipient"], s["direct"]) for s in shares] == [
        (FIRST, "received 本级", "410100", ""),
        ("410000-2026-000002", "copy 抄送", "410102", "直达"),
    ]
    assert sum(parse_yuan(s["amount"]) for s in shares) == 125_000
    table = run(province, "410100", "appropriations", "jurisdiction")
    assert "本级 1,000.00 元 · 全辖 1,250.00 元" in table.output
    english = run(province, "410100", "appropriations", "jurisdiction", "--lang", "en")
    assert "own 1,000.00 元 · jurisdiction 1,250.00 元" in english.output
    assert as_json(province, "410300", "appropriations", "jurisdiction") == []

    # an adjustment is copied too; the city's own balance never moves
    adjusted = run(province, "410000", "adjust", "410000-2026-000002", "--delta", "-50.00",
                   "--doc", "豫财预〔2026〕2号")  # fmt: skip
    assert adjusted.exit_code == 0, adjusted.stderr
    settle(province)
    shares = as_json(province, "410100", "appropriations", "jurisdiction")
    assert [parse_yuan(s["amount"]) for s in shares] == [100_000, 20_000]
    assert listing(province, "410100", "received")[0]["available_fen"] == 100_000

    traced = as_json(province, "410100", "appropriations", "trace", "410000-2026-000002")
    assert [(t["role"], t["amount"]) for t in traced] == [("copy 抄送", "200.00")]
    # copies share the province's channel to the city; reconciliation is not misled by them
    result = CliRunner().invoke(cli, ["network", "reconcile", str(province.path)])
    assert result.exit_code == 0, result.output + result.stderr
    assert "，0 条有差异。" in result.output


def test_a_direct_appropriation_is_traced_at_every_level(province: Network) -> None:
    assert allocate(province, "410000", "410100", "1000.00", "--direct").exit_code == 0
    settle(province)
    for county, amount in (("410102", "600.00"), ("410122", "300.00")):
        result = allocate(province, "410100", county, amount, "--from", FIRST)
        assert result.exit_code == 0, result.stderr
    settle(province)
    spend = run(province, "410102", "ledger", "add", "--date", "2026-10-15", "--code",
                "2050202", "--amount", "120.00", "--appropriation", "410100-2026-000001")  # fmt: skip
    assert spend.exit_code == 0, spend.stderr
    settle(province)

    top = as_json(province, "410000", "appropriations", "trace", FIRST)
    assert [(t["id"], t["role"], t["acknowledged"]) for t in top] == [
        (FIRST, "issued 下达", "1000.00")
    ]
    city = as_json(province, "410100", "appropriations", "trace", FIRST)
    assert [(t["id"].strip(), t["route"], t["direct"], t["amount"]) for t in city] == [
        (FIRST, "410000 → 410100", "直达", "1000.00"),
        ("410100-2026-000001", "410100 → 410102", "直达", "600.00"),
        ("410100-2026-000002", "410100 → 410122", "直达", "300.00"),
    ]
    assert city[0]["available"] == "100.00"
    assert [t["acknowledged"] for t in city[1:]] == ["600.00", "300.00"]
    # a breakdown traced at its issuer starts from what it was taken from
    again = as_json(province, "410100", "appropriations", "trace", "410100-2026-000002")
    assert again == city
    county = as_json(province, "410102", "appropriations", "trace", "410100-2026-000001")
    assert [(t["upper_doc"], t["spent"], t["available"]) for t in county] == [
        ("豫财预〔2026〕1号", "120.00", "480.00")
    ]
    table = run(province, "410102", "appropriations", "trace", "410100-2026-000001")
    assert table.exit_code == 0 and "收到" in table.output and "一般性转移支付" in table.output
    missing = run(province, "410102", "appropriations", "trace", "410000-2026-000404")
    assert missing.exit_code == 3
    assert "错误：本节点没有指标 410000-2026-000404，也没有其抄送" in missing.stderr


def _adds_up(province: Network, code: str, ident: str) -> list[Any]:
    """The trace of ``ident`` at ``code``, checked to add up to the fen: what was received
    is what was broken down (as the balance counts it), spent and left."""
    from nodes.fiscal.appropriations import balances
    from nodes.fiscal.appropriations.direct import direct_funds
    from nodes.fiscal.appropriations.tracing import trace

    with Node.open(province.path / code) as node:
        steps = trace(node, ident)
        funds = {f.id: f for f in direct_funds(node)}
        with reading(node.engine) as conn:
            left = balances(conn, [ident])[ident]
    head, below = steps[0], steps[1:]
    broken_down = sum(s.amount_fen for s in below)
    assert broken_down + head.spent_fen + head.available_fen == head.amount_fen, steps
    assert head.available_fen == left
    if ident in funds:  # the 直达资金 report says the same
        assert (funds[ident].allocated_fen, funds[ident].balance_fen) == (broken_down, left)
    return below


def test_a_trace_adds_up_with_a_decrease_on_its_way_and_after_a_carry_over(
    province: Network, tmp_path: Path
) -> None:
    """A decrease not yet acknowledged takes nothing back yet, in the trace as in the
    balance (the trace showed it taken back while the balance did not: 100.00 gone);
    a carry-over (结转, of the next year) is a breakdown of what it was carried from (the
    trace, listing that year's only, left 350.00 out)."""
    from test_year_close import C1, P1, closed_and_carried, two_levels

    two_levels(province, tmp_path)  # P1 1,000.00: 600.00 to 410102, 100.00 spent
    decreased = run(
        province, "410100", "adjust", C1, "--delta", "-100.00", "--doc", "郑财预〔2026〕9号"
    )
    assert decreased.exit_code == 0, decreased.stderr
    assert [s.amount_fen for s in _adds_up(province, "410100", P1)] == [600_00]
    settle(province)
    assert [s.amount_fen for s in _adds_up(province, "410100", P1)] == [500_00]
    closed_and_carried(province)
    below = _adds_up(province, "410100", P1)
    assert [(s.id, s.amount_fen) for s in below] == [
        (C1, 500_00 - 250_00),
        ("410100-2027-000001", 250_00),
    ]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"type": "loan"}, "type must be one of general, special, shared"),
        ({"direct": "yes"}, "direct (直达资金) must be true or false"),
    ],
)
def test_the_recipient_refuses_a_bad_type_or_direct_flag(
    province: Network, change: dict[str, Any], why: str
) -> None:
    reason = crafted(province, "appropriation", "410100", [{**ISSUE, **change}])
    assert why in reason
    assert listing(province, "410100", "received") == []


@pytest.mark.parametrize(
    ("operations", "why"),
    [
        (
            [{**ISSUE, "to": "410322"}],
            "a copy names a recipient below 410100 in 'to', not '410322'",
        ),
        ([{**ISSUE, "to": "410100"}], "a copy names a recipient below 410100"),
        ([{**ISSUE}], "a copy names a recipient below 410100 in 'to', not None"),
        ([{**ISSUE, "to": "410102", "id": "410100-2026-000001"}], "410000 may issue only ids"),
        (
            [{**ISSUE, "to": "410102"}, {**ISSUE, "to": "410102"}],
            "a copy of 410000-2026-900001 is held already",
        ),
        (
            [
                {
                    "op": "recover",
                    "id": "410000-2026-000404",
                    "amount": 1,
                    "doc": "豫财预〔2026〕3号",
                    "actor": "x",
                    "at": ISSUE["at"],
                    "to": "410102",
                }
            ],
            "no copy from 410000 to 410102 is held",
        ),
        (
            [
                {**ISSUE, "to": "410102"},
                {
                    "op": "decrease",
                    "id": ISSUE["id"],
                    "amount": 101,
                    "doc": "豫财预〔2026〕3号",
                    "actor": "x",
                    "at": ISSUE["at"],
                    "to": "410102",
                },
            ],
            "out of bounds",
        ),
    ],  # fmt: skip
)
def test_the_city_refuses_a_crafted_copy(
    province: Network, operations: list[dict[str, Any]], why: str
) -> None:
    assert why in crafted(province, "copy", "410100", operations)
    assert as_json(province, "410100", "appropriations", "jurisdiction") == []


def test_a_county_takes_no_copies_and_only_an_ancestor_sends_one(province: Network) -> None:
    reason = crafted(province, "copy", "410102", [{**ISSUE, "to": "410102"}])
    assert "a copy names a recipient below 410102" in reason
    with Node.open(province.path / "410100") as node:
        with pytest.raises(NotAuthorized, match="only an ancestor sends copies"):
            check_send(node.topology, "410100", "410000", "copy")


def test_a_network_from_before_upgrades_with_db_upgrade(province: Network) -> None:
    assert allocate(province, "410000", "410100", "10.00").exit_code == 0
    settle(province)
    for code in ("410000", "410100"):
        with Node.open(province.path / code) as node:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            with node.engine.connect() as conn:
                if node.engine.dialect.name == "sqlite":  # batch mode rebuilds tables
                    conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
                with conn.begin():
                    config.attributes["connection"] = conn
                    command.downgrade(config, "0009")
                    conn.execute(code_item.delete().where(code_item.c.code == "shared"))
        result = CliRunner().invoke(cli, ["--home", str(province.path / code), "db", "upgrade"])
        assert result.exit_code == 0, result.output + result.stderr
        with Node.open(province.path / code) as node, reading(node.engine) as conn:
            names = conn.execute(
                sa.select(code_item.c.name).where(
                    code_item.c.codeset == "transfer", code_item.c.code == "shared"
                )
            ).scalars()
            assert list(names) == ["共同财政事权转移支付"]
    (kept,) = listing(province, "410100", "received")
    assert (kept["id"], kept["direct_label"], kept["amount_fen"]) == (FIRST, "", 1_000)
    assert (kept["indicator_label"], kept["source_label"]) == ("年初预算", "本级安排")
    shown = run(province, "410100", "appropriations", "show", FIRST)
    assert "预算级次            市级" in shown.output  # from the recipient's role
    assert allocate(province, "410000", "410100", "5.00", "--type", "shared").exit_code == 0
    settle(province)
    assert [r["transfer_type"] for r in listing(province, "410100", "received")] == [
        "general",
        "shared",
    ]


def test_two_operators_issuing_over_the_citys_head_at_once(province: Network) -> None:
    """Each issue to a county under a city writes the county's change-set and the city's
    copy in one transaction, their channel heads locked in one order: two operators at
    once neither deadlock nor lose a copy, and every id is handed out once."""
    barrier = threading.Barrier(2)
    failures: list[str] = []
    rounds = 6

    def operator(lines: list[Allocation]) -> list[str]:
        made: list[str] = []
        with Node.open(province.path / "410000") as node:
            for number in range(rounds):
                barrier.wait()
                try:
                    batch = [replace(line, doc=f"豫财预〔2026〕{number + 1}号") for line in lines]
                    made += issue_lines(node, batch, actor="op")
                except Exception as exc:  # noqa: BLE001  (any failure is what is looked for)
                    failures.append(f"{type(exc).__name__}: {exc}")
        return made

    to_county = [Allocation("410102", 100, "2050202", "50201", "111", "", 2026)]
    to_both = [
        Allocation("410100", 200, "2050202", "50201", "111", "", 2026),
        Allocation("410122", 300, "2050202", "50201", "111", "", 2026),
    ]
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(operator, [to_county, to_both])
    assert failures == []
    ids = first + second
    assert len(ids) == len(set(ids)) == 3 * rounds
    settle(province)
    shares = as_json(province, "410100", "appropriations", "jurisdiction")
    copies = sorted(s["id"] for s in shares if s["held"] == "copy 抄送")
    expected = sorted(i for i in ids if i not in second[0::2])  # all but those to the city
    assert copies == expected
    assert sum(parse_yuan(s["amount"]) for s in shares) == rounds * 600


def test_the_direct_funds_report_at_every_level(province: Network) -> None:
    assert allocate(province, "410000", "410100", "1000.00", "--direct").exit_code == 0
    assert allocate(province, "410000", "410181", "77.00").exit_code == 0  # not 直达
    settle(province)
    for county, amount in (("410102", "600.00"), ("410122", "300.00")):
        result = allocate(province, "410100", county, amount, "--from", FIRST)
        assert result.exit_code == 0, result.stderr
    for code, ident, amount in (("410100", FIRST, "50.00"),
                                ("410102", "410100-2026-000001", "120.00")):  # fmt: skip
        settle(province)
        spend = run(province, code, "ledger", "add", "--date", "2026-10-15", "--code",
                    "2050202", "--amount", amount, "--appropriation", ident)  # fmt: skip
        assert spend.exit_code == 0, spend.stderr

    def rows(code: str) -> list[tuple[str, ...]]:
        found = as_json(province, code, "report", "direct", "--year", "2026", "--lang", "zh")
        keys = ("id", "issued", "received", "allocated", "spent", "balance")
        return [tuple(r[k] for k in keys) for r in found]

    assert rows("410000") == [  # json is for programs: its words are English in any language
        (FIRST, "1000.00", "0.00", "0.00", "0.00", "0.00"),
        ("Total", "1000.00", "0.00", "0.00", "0.00", "0.00"),
    ]
    assert rows("410100") == [
        (FIRST, "0.00", "1000.00", "900.00", "50.00", "50.00"),
        ("Total", "0.00", "1000.00", "900.00", "50.00", "50.00"),
    ]
    assert rows("410102")[0] == ("410100-2026-000001", "0.00", "600.00", "0.00", "120.00", "480.00")
    assert rows("410181") == []  # what it holds is not 直达资金
    table = run(province, "410100", "report", "direct", "--lang", "zh")
    assert table.exit_code == 0, table.stderr
    assert table.output.startswith("410100 郑州市直达资金情况表\n金额单位：元\n")
    assert "分配下级" in table.output
    none = run(province, "410181", "report", "direct", "--lang", "en")
    assert none.output == "No direct funds.\n"
