"""Reports (旬报 / 月报): generated from the ledger and budget, sent up, consolidated (汇总).

Through real change-sets on a ``network init`` province, on SQLite and on PostgreSQL.
One province per backend is built for the module (budgets issued and broken down, ledger
entries recorded, reports submitted on fixed clocks, synced until quiet); each test
asserts one thing about it, and a test that adds data uses a period no other test reads.
"""

from __future__ import annotations

import json
import threading
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import DEMO_TOPOLOGY, PG_SERVER, _fresh_pg_name, _postgres_problem, unavailable
from openpyxl import Workbook

import config
from nodes import Node, init_network
from nodes.fiscal import budget, ledger, reports
from nodes.fiscal.appropriations import Allocation, allocate, holdings
from nodes.fiscal.budget import import_budget
from nodes.fiscal.budget import lines as budget_lines
from nodes.fiscal.codes import import_codes
from nodes.fiscal.reports import Period, ReportLine, ReportView, check_lines
from nodes.fiscal.reports.lines import of_amounts
from nodes.network import Network, database_url_for, sync_network
from nodes.settings import Settings, load_settings, render_settings
from schema.channels import changeset_log, outbox
from schema.engine import drop_database
from schema.tables import code_item, report, report_line
from schema.types import parse_yuan
from sync.channel import enqueue, latest_stamp
from sync.clock import SYSTEM_CLOCK, Clock, FixedClock
from sync.errors import ConfigError, InputError, RowsRefused
from sync.pki import load_signer

CENTER = "410000-dc"
ACTOR = "tester"

# (date, direction, code, yuan) recorded at each node; 410300 records nothing.
LEDGER = {
    "410000": [("2026-10-03", "revenue", "10101", "9999.99")],
    "410100": [
        ("2026-10-02", "expenditure", "2050201", "40.00"),
        ("2026-10-12", "expenditure", "2050202", "15.50"),
    ],
    "410102": [
        ("2026-09-15", "expenditure", "2050201", "100.00"),
        ("2026-10-05", "expenditure", "2050201", "250.00"),
        ("2026-10-15", "expenditure", "2050201", "300.00"),
        ("2026-10-08", "revenue", "10101", "1000.00"),
        ("2026-10-20", "revenue", "103", "50.00"),  # booked at 类, beside a 款 of it
        ("2026-10-21", "revenue", "10302", "70.00"),
    ],
    "410122": [
        ("2026-10-09", "expenditure", "2010101", "80.00"),
        ("2026-10-30", "revenue", "10101", "500.00"),
    ],
    "410322": [("2026-10-03", "expenditure", "2050202", "10.00")],
    "410181": [
        ("2026-08-01", "revenue", "10101", "12.34"),
        ("2026-10-10", "expenditure", "2050202", "20.00"),
    ],
}
LAST_YEAR = {  # 上年同期: in and out of the same period of 2025
    "410102": [
        ("2025-03-01", "expenditure", "2050201", "400.00"),
        ("2025-10-31", "expenditure", "2050201", "120.00"),
        ("2025-11-01", "expenditure", "2050201", "999.00"),  # after the period
        ("2025-10-08", "revenue", "10101", "800.00"),
    ],
}
ON_TIME = ("410000", "410100", "410102", "410122", "410181")
LATE = "410300"
MISSING = "410322"  # generates a draft of 2026-10 but never submits it


def beijing(day: str, hour: int = 9) -> FixedClock:
    moment = datetime.fromisoformat(f"{day}T{hour:02d}:00:00+08:00")
    return FixedClock(moment)


def at(network: Network, code: str) -> Node:
    return Node.open(network.path / code)


def record(network: Network, code: str, rows: list[tuple[str, str, str, str]]) -> None:
    entries = [
        ledger.Entry(date.fromisoformat(day), direction, code_, parse_yuan(yuan))
        for day, direction, code_, yuan in rows
    ]
    with at(network, code) as node:
        ledger.record(node, entries, actor=ACTOR)


def settle(network: Network, clock: Clock = SYSTEM_CLOCK) -> None:
    """Sync until quiet; ``clock`` is every receiver's, which judges lateness."""
    assert sync_network(network.path, until_quiet=True, max_rounds=20, clock=clock).quiet


KEYS_ISSUED = datetime.fromisoformat("2026-09-01T00:00:00+08:00")
"""When the province's certificates are issued: before anything in it is signed."""


def build_province(network: Network) -> None:
    """October as it happened, every node's clock going forward: a node never stamps what
    it signs earlier than what it signed before."""
    with at(network, "410000") as node:
        allocate(
            node,
            [
                Allocation(
                    "410100", 100_000_000, "2050201", "50201", "111", "豫财预〔2026〕1号", 2026
                ),
                Allocation(
                    "410181", 20_000_000, "2050202", "50201", "111", "豫财预〔2026〕2号", 2026
                ),
            ],
            actor=ACTOR,
            clock=beijing("2026-10-08"),
        )
    settle(network, beijing("2026-10-08"))
    with at(network, "410100") as node:
        (received,) = [h.id for h in holdings(node, issued=False)]
        allocate(
            node,
            [
                Allocation(
                    "410102",
                    60_000_000,
                    "2050201",
                    "50201",
                    "111",
                    "郑财预〔2026〕1号",
                    2026,
                    parent_id=received,
                )
            ],
            actor=ACTOR,
            clock=beijing("2026-10-08", 10),
        )
    settle(network, beijing("2026-10-08", 10))
    last_year = network.path.parent / "codes-2025.csv"  # the 2025 code sets, imported
    with last_year.open("w", encoding="utf-8") as out:
        out.write("codeset,code,name,parent,level\n")
        for name in ("func", "revenue"):
            for line in (
                (config.CODESETS / "2026" / f"{name}.csv").read_text("utf-8").splitlines()[1:]
            ):
                codeset, _, rest = line.split(",", 2)
                out.write(f"{codeset},{rest}\n")
    with at(network, "410000") as node:
        import_codes(node, last_year, year=2025, clock=beijing("2026-10-09"))
    settle(network, beijing("2026-10-09"))
    for code, rows in LAST_YEAR.items():
        record(network, code, rows)
    for code, rows in LEDGER.items():
        record(network, code, rows)
    # 旬报 of the first ten days: one on time (due 13 October), one late.
    for code, day in (("410102", "2026-10-12"), ("410122", "2026-10-15")):
        with at(network, code) as node:
            reports.submit(node, "2026-10-D1", actor=ACTOR, clock=beijing(day))
        settle(network, beijing(day))
    for code in ON_TIME:
        with at(network, code) as node:
            reports.submit(node, "2026-10", actor=ACTOR, clock=beijing("2026-11-03"))
    settle(network, beijing("2026-11-03"))
    with at(network, LATE) as node:
        reports.submit(node, "2026-10", actor=ACTOR, clock=beijing("2026-11-09"))
    settle(network, beijing("2026-11-09"))
    with at(network, MISSING) as node:
        reports.generate(node, "2026-10", actor=ACTOR, clock=beijing("2026-11-03"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def province(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Network]:
    template = None
    if request.param == "postgresql":
        problem = _postgres_problem()
        if problem:
            unavailable("postgres", problem)
        template = f"{PG_SERVER}/{_fresh_pg_name()}_{{code}}"
    network = None
    try:
        network = init_network(
            tmp_path_factory.mktemp("reports") / "province",
            DEMO_TOPOLOGY,
            template,
            clock=FixedClock(KEYS_ISSUED),
        )
        build_province(network)
        yield network
    finally:
        if template is not None:
            for spec in network.topology if network else []:
                url = database_url_for(template, spec.code)
                assert url is not None
                drop_database(url)


def amounts(view: ReportView) -> dict[tuple[str, int, str], tuple[int, ...]]:
    return {(x.section, x.level, x.code): x.amounts for x in view.lines}


def summed(views: list[ReportView]) -> dict[tuple[str, int, str], tuple[int, ...]]:
    """Line by line: each line's amounts added over the views that have it."""
    total: dict[tuple[str, int, str], list[int]] = {}
    for v in views:
        for key, values in amounts(v).items():
            line = total.setdefault(key, [0] * len(values))
            for i, value in enumerate(values):
                line[i] += value
    return {key: tuple(a) for key, a in total.items()}


def own(node: Node, code: str, period: str = "2026-10") -> ReportView:
    return reports.view(node, period, region=code, scope="own")


def leaf(view: ReportView, section: str, code: str) -> ReportLine:
    found = view.line(section, code, level=3)
    assert found is not None, (section, code)
    return found


def children(view: ReportView, parent: ReportLine) -> list[ReportLine]:
    below = [
        x
        for x in view.lines
        if x.section == parent.section and x.level > parent.level and x.code.startswith(parent.code)
    ]
    return [
        x
        for x in below
        if not any(parent.level < y.level < x.level and x.code.startswith(y.code) for y in below)
    ]


# --- through the province -------------------------------------------------------------


def test_a_county_report_has_budget_period_and_year_to_date(province: Network) -> None:
    with at(province, "410102") as node:
        month = reports.view(node, "2026-10")
        first = reports.view(node, "2026-10-D1")
    item = leaf(month, "expenditure", "2050201")
    assert item.name == "学前教育"
    # budget as broken down to it, period, month, year to date, same period of 2025
    assert item.amounts == (60_000_000, 55_000, 55_000, 65_000, 52_000)
    assert month.line("expenditure", "205") == ReportLine(
        "expenditure", 1, "205", 60_000_000, 55_000, 65_000, "教育支出", 55_000, 52_000
    )
    assert leaf(first, "expenditure", "2050201").amounts == (
        60_000_000,
        25_000,
        25_000,
        35_000,
        40_000,
    )
    non_tax = month.line("revenue", "103")
    assert non_tax is not None
    assert (non_tax.level, non_tax.amounts) == (1, (0, 12_000, 12_000, 12_000, 0))
    assert month.total("revenue").amounts == (0, 112_000, 112_000, 112_000, 80_000)
    assert (item.change, non_tax.change, month.total("revenue").change) == ("+25.0%", "—", "+40.0%")
    assert [s.state for s in month.sources] == ["submitted"]


def test_a_ten_day_report_carries_its_month_to_date(province: Network) -> None:
    with at(province, "410102") as node:
        reports.submit(node, "2026-10-D3", actor=ACTOR, clock=beijing("2026-11-02"))
    settle(province, beijing("2026-11-02"))
    with at(province, "410100") as city:
        last = own(city, "410102", "2026-10-D3")  # as the city received it
    item = leaf(last, "expenditure", "2050201")
    assert (item.period_fen, item.month_fen, item.ytd_fen) == (0, 55_000, 65_000)
    assert leaf(last, "revenue", "103").amounts == (0, 0, 5_000, 5_000, 0)
    assert leaf(last, "revenue", "10302").amounts == (0, 7_000, 7_000, 7_000, 0)


def test_each_city_consolidation_is_the_sum_of_its_parts(province: Network) -> None:
    with at(province, CENTER) as center:
        for city in ("410100", "410300"):
            consolidated = reports.view(center, "2026-10", region=city, scope="all")
            parts = [c for c in (city, *_counties(province, city)) if c != MISSING]
            assert amounts(consolidated) == summed([own(center, c) for c in parts])
            assert [s.node for s in consolidated.sources] == parts
        assert consolidated.missing == [MISSING]


def _counties(network: Network, city: str) -> list[str]:
    return [n.code for n in network.topology.children(city)]


def test_the_province_consolidation_is_every_node_once(province: Network) -> None:
    with at(province, CENTER) as center:
        whole = reports.view(center, "2026-10", scope="all")
        every_node = summed([own(center, c) for c in (*ON_TIME, LATE)])
        by_level = summed(
            [
                own(center, "410000"),
                reports.view(center, "2026-10", region="410100", scope="all"),
                reports.view(center, "2026-10", region="410300", scope="all"),
                own(center, "410181"),
            ]
        )
    assert whole.region == "410000" and whole.scope == "all"
    assert amounts(whole) == every_node == by_level
    assert whole.missing == [MISSING]
    revenue = whole.total("revenue").period_fen
    assert revenue == 999_999 + 100_000 + 5_000 + 7_000 + 50_000  # every revenue entry of October


def test_budgets_are_conserved_through_the_breakdown(province: Network) -> None:
    with at(province, CENTER) as center:
        city_own = leaf(own(center, "410100"), "expenditure", "2050201")
        city_all = reports.view(center, "2026-10", region="410100", scope="all")
        whole = reports.view(center, "2026-10", scope="all")
        province_own = own(center, "410000")
    assert city_own.budget_fen == 40_000_000
    assert leaf(city_all, "expenditure", "2050201").budget_fen == 100_000_000
    assert whole.total("expenditure").budget_fen == 120_000_000  # everything the province issued
    assert province_own.total("expenditure").budget_fen == 0
    assert all(x.budget_fen == 0 for x in whole.lines if x.section == "revenue")  # none imported


def test_subtotals_equal_the_sum_of_their_children(province: Network) -> None:
    with at(province, CENTER) as center:
        whole = reports.view(center, "2026-10", scope="all")
    parents = [x for x in whole.lines if x.level < 3]
    assert {(x.section, x.code) for x in parents} >= {("revenue", "103"), ("expenditure", "20502")}
    for parent in parents:
        below = children(whole, parent)
        assert below, parent
        for i in range(len(parent.amounts)):
            assert parent.amounts[i] == sum(x.amounts[i] for x in below), parent
    for section in reports.SECTIONS:
        leaves = [x for x in whole.lines if x.section == section and x.level == 3]
        assert whole.total(section).ytd_fen == sum(x.ytd_fen for x in leaves)
    check_lines(whole.lines, negative_entries=False)


def test_a_city_consolidates_its_counties_and_sends_it_up_level_by_level(
    province: Network,
) -> None:
    with at(province, "410100") as city, at(province, CENTER) as center:
        mine = reports.view(city, "2026-10", scope="all")
        assert amounts(mine) == amounts(
            reports.view(center, "2026-10", region="410100", scope="all")
        )
        assert [(s.node, s.state) for s in mine.sources] == [
            ("410100", "submitted"),
            ("410102", "received"),
            ("410122", "received"),
        ]
        whole = reports.view(center, "2026-10", scope="all")
    with at(province, "410000") as node:
        # the city submitted before its counties: the 全辖 it sent then was its own alone
        first = reports.view(node, "2026-10", region="410100", scope="all")
        assert ([s.version for s in first.sources], first.missing) == ([1], ["410102", "410122"])
        with pytest.raises(InputError, match="not of 410102"):
            reports.view(node, "2026-10", region="410102", scope="all")
        assert [s.node for s in reports.view(node, "2026-10", region="410181").sources] == [
            "410181"
        ]
    with at(province, "410100") as city:
        assert reports.region_outdated(city, "2026-10")
        # its own report being corrected (a draft of version 2) does not hold its 全辖
        # back: it sums version 1, which its parent holds
        reports.generate(city, "2026-10", actor=ACTOR)
        assert [v.state for v in reports.versions(city, "2026-10")] == ["submitted", "draft"]
    again = cli_run(province, "410100", "report", "submit", "2026-10", "--scope", "all")
    assert again.exit_code == 0, again.stderr
    assert "已报送 2026-10 全辖汇总报表第 2 版" in again.output
    with at(province, "410100") as city:
        assert not reports.region_outdated(city, "2026-10")
    settle(province, beijing("2026-11-10"))
    with at(province, "410000") as node:
        second = reports.view(node, "2026-10", region="410100", scope="all")
        level_by_level = reports.view(node, "2026-10", scope="all")
    assert amounts(second) == amounts(mine) and second.missing == []
    # the province's 全辖 from what its children sent is the center's 全省汇总
    assert amounts(level_by_level) == amounts(whole)
    assert [(s.node, s.scope) for s in level_by_level.sources] == [
        ("410000", "own"), ("410100", "all"), ("410300", "all"), ("410181", "own"),
    ]  # fmt: skip
    county = cli_run(province, "410102", "report", "submit", "2026-10", "--scope", "all")
    assert county.exit_code == 3 and "不报送全辖汇总报表" in county.stderr


def test_late_and_missing_submitters_are_listed(province: Network) -> None:
    after = beijing("2026-11-10").now()
    with at(province, CENTER) as center:
        month = {s.code: s.state for s in reports.submitters(center, "2026-10", after)}
        early = {
            s.code: s.state
            for s in reports.submitters(center, "2026-10", beijing("2026-11-04").now())
        }
        tenday = {s.code: s.state for s in reports.submitters(center, "2026-10-D1", after)}
        (late,) = [s for s in reports.submitters(center, "2026-10", after) if s.state == "late"]
    assert month == {**dict.fromkeys(ON_TIME, "on time"), LATE: "late", MISSING: "missing"}
    assert early[MISSING] == "not yet due"
    assert (tenday["410102"], tenday["410122"], tenday["410000"]) == ("on time", "late", "missing")
    assert late.code == LATE and late.deadline == datetime.fromisoformat("2026-11-06T00:00+08:00")
    assert late.due_date == date(2026, 11, 5)
    with at(province, "410100") as city:
        assert [s.code for s in reports.submitters(city, "2026-10", after)] == [
            "410100",
            "410102",
            "410122",
        ]


def test_a_correction_supersedes_and_the_old_version_stays(province: Network) -> None:
    period = "2026-10-D2"  # read by no other test
    county = "410122"
    with at(province, county) as node:
        with node.engine.connect() as conn:
            floor = latest_stamp(conn)
        first = reports.submit(node, period, actor=ACTOR, clock=beijing("2026-10-22"))
    # its clock reads the 22nd, but it signed the month's report later: stamps never go back
    submitted = max(beijing("2026-10-22").now(), floor or beijing("2026-10-22").now())
    record(province, county, [("2026-10-18", "expenditure", "2010101", "33.00")])
    with at(province, county) as node:
        with pytest.raises(InputError, match="already submitted"):
            reports.submit(node, period, actor=ACTOR, clock=beijing("2026-10-23"))
        draft = reports.generate(node, period, actor=ACTOR, clock=beijing("2026-10-23"))
        assert [(v.version, v.state) for v in draft.sources] == [(2, "draft")]
        second = reports.submit(node, period, actor=ACTOR, clock=beijing("2026-10-23"))
    assert (first.version, second.version) == (1, 2)
    settle(province, beijing("2026-10-23"))
    for holder in (CENTER, "410100"):
        with at(province, holder) as node:
            history = reports.versions(node, period, county)
            current = own(node, county, period)
        assert [(v.version, v.state) for v in history] == [(1, "received"), (2, "received")]
        assert history[0].submitted_at == submitted
        assert [s.version for s in current.sources] == [2]
        assert current.total("expenditure").period_fen == 3_300
    with at(province, CENTER) as center:
        (state,) = [s for s in reports.submitters(center, period) if s.code == county]
    assert (state.state, state.version) == ("on time", 2)  # judged by its first submission


def test_the_receiver_refuses_inconsistent_foreign_and_stale_reports(province: Network) -> None:
    county = "410181"

    def line(section: str, level: int, code: str, ytd: int) -> dict[str, Any]:
        amounts = {"budget": 0, "period": 0, "ytd": ytd}
        return {"op": "line", "section": section, "level": level, "code": code, **amounts}

    lines = [
        line("revenue", 0, "", 1234),
        line("revenue", 1, "101", 1234),
        line("revenue", 3, "10101", 1234),
        line("expenditure", 0, "", 0),
    ]

    def head(period: str, node: str = county, version: int = 1) -> dict[str, Any]:
        return {
            "op": "report",
            "node": node,
            "period": period,
            "kind": Period.parse(period).kind,
            "year": 2026,
            "version": version,
            "generated_at": "2026-10-01T00:00:00.000000Z",
            "generated_by": ACTOR,
            "negative_entries": False,
            "lines": len(lines),
        }

    tampered = [dict(x) for x in lines]
    tampered[1]["ytd"] = 1000  # the 类 subtotal no longer adds up
    crafted = {
        "2026-08": [head("2026-08"), *tampered],
        "2026-07": [head("2026-07", node="410102"), *lines],
        "2026-10": [head("2026-10", version=1), *lines],  # the center holds version 1
    }
    with at(province, county) as node:
        signer = load_signer(node.home.keys)
        with node.engine.begin() as conn:
            sent = {
                period: enqueue(conn, node.spool, signer, CENTER, "report", ops, SYSTEM_CLOCK).id
                for period, ops in crafted.items()
            }
    settle(province)
    with at(province, CENTER) as center:
        with center.engine.connect() as conn:
            logged = {
                row.id: (row.verdict, row.reason)
                for row in conn.execute(
                    sa.select(changeset_log).where(changeset_log.c.id.in_(sent.values()))
                )
            }
        assert reports.versions(center, "2026-08", county) == []
        assert reports.versions(center, "2026-07", "410102") == []
        assert len(reports.versions(center, "2026-10", county)) == 1
    verdicts = {period: logged[ident] for period, ident in sent.items()}
    assert verdicts["2026-08"] == (
        "rejected",
        "revenue 类 101 (subtotal): year to date 10.00 元 is not the sum of the lines under it, 12.34 元",
    )
    assert verdicts["2026-07"] == (
        "rejected",
        "the report of 410102 came from 410181: a node sends only its own",
    )
    assert verdicts["2026-10"][0] == "rejected"
    assert "is not newer than version 1" in str(verdicts["2026-10"][1])
    with at(province, county) as node, node.engine.connect() as conn:
        receipts = (
            conn.execute(sa.select(outbox.c.receipt_verdict).where(outbox.c.id.in_(sent.values())))
            .scalars()
            .all()
        )
    assert receipts == ["rejected"] * 3


def test_a_draft_changed_since_it_was_generated_is_refused_at_submit(
    province: Network,
) -> None:
    # submit checks the lines of a draft an earlier command made (what it generates
    # itself was checked as it was made): one changed in the database since is refused
    with at(province, "410102") as node:
        reports.generate(node, "2026-09-D2", actor=ACTOR)
        outbox_before = len(node.outbox())
        with node.engine.begin() as conn:
            (draft,) = conn.execute(
                sa.select(report.c.id).where(
                    report.c.node_code == "410102", report.c.period == "2026-09-D2"
                )
            ).scalars()
            changed = conn.execute(
                report_line.update()
                .where(
                    report_line.c.report_id == draft,
                    report_line.c.level == 1,
                    report_line.c.section == "expenditure",
                )
                .values(ytd_fen=report_line.c.ytd_fen + 1)
            ).rowcount
        assert changed == 1
        with pytest.raises(InputError, match="is not the sum of the lines under it"):
            reports.submit(node, "2026-09-D2", actor=ACTOR)
        assert [v.state for v in reports.versions(node, "2026-09-D2")] == ["draft"]
        assert len(node.outbox()) == outbox_before
        reports.generate(node, "2026-09-D2", actor=ACTOR)  # made again: it goes
        sent = reports.submit(node, "2026-09-D2", actor=ACTOR)
    assert sent.version == 1 and len(sent.changesets) == 2


def test_regenerating_a_draft_replaces_it(province: Network) -> None:
    with at(province, "410322") as node:
        first = reports.generate(node, "2026-09", actor="a")
        second = reports.generate(node, "2026-09", actor="b")
        history = reports.versions(node, "2026-09")
    assert [(v.version, v.state, v.generated_by) for v in history] == [(1, "draft", "b")]
    assert first.sources[0].version == second.sources[0].version == 1


def test_what_cannot_be_generated_or_submitted(province: Network) -> None:
    with at(province, MISSING) as node:
        with pytest.raises(InputError, match="not over until 2026-11-01"):
            reports.submit(node, "2026-10", actor=ACTOR, clock=beijing("2026-10-31", 23))
        with pytest.raises(InputError, match="has not begun"):
            reports.generate(node, "2026-12", actor=ACTOR, clock=beijing("2026-11-30"))
        assert [v.state for v in reports.versions(node, "2026-10")] == ["draft"]
        assert node.outbox() == []
    with at(province, CENTER) as center:
        with pytest.raises(InputError, match="central node 410000-dc generates no reports"):
            reports.generate(center, "2026-10", actor=ACTOR)
        with pytest.raises(InputError, match="no 2026-09 report of 410102 here"):
            own(center, "410102", "2026-09")


# --- periods, deadlines, arithmetic ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "start", "end"),
    [
        ("2026-10", "monthly", date(2026, 10, 1), date(2026, 11, 1)),
        ("2026-12", "monthly", date(2026, 12, 1), date(2027, 1, 1)),
        ("2026-10-D1", "tenday", date(2026, 10, 1), date(2026, 10, 11)),
        ("2026-10-d2", "tenday", date(2026, 10, 11), date(2026, 10, 21)),
        ("2026-02-D3", "tenday", date(2026, 2, 21), date(2026, 3, 1)),
    ],
)
def test_periods_parse(text: str, kind: str, start: date, end: date) -> None:
    period = Period.parse(text)
    assert (period.kind, period.start, period.end, period.year) == (kind, start, end, start.year)
    assert Period.parse(period.label) == period


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-1", "26-10", "2026-10-D4", "2026-10-D", "2026/10", "", "2026-10-M1"]
)
def test_bad_periods_are_refused_with_the_three_forms(text: str) -> None:
    with pytest.raises(InputError) as caught:
        Period.parse(text)
    assert "2026-10-D1" in str(caught.value.hint)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("monthly_deadline_day = 31", "monthly_deadline_day must be a day from 1 to 28"),
        ("tenday_deadline_days = 0", "tenday_deadline_days must be from 1 to 10"),
        ('tenday_deadline_days = "3"', "tenday_deadline_days must be a int"),
    ],
)
def test_deadline_settings_are_rendered_and_checked(
    tmp_path: Path, setting: str, message: str
) -> None:
    text = render_settings("410102", None, 300)
    assert "[reports]" in text and "monthly_deadline_day = 5" in text
    (tmp_path / "node.toml").write_text(text, encoding="utf-8")
    settings = load_settings(tmp_path, environ={})
    assert (settings.monthly_deadline_day, settings.tenday_deadline_days) == (5, 3)
    key = setting.split(" = ")[0]
    (tmp_path / "node.toml").write_text(
        "\n".join(setting if line.startswith(key) else line for line in text.splitlines()),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path, environ={})


def test_deadlines_follow_the_settings_in_beijing_time(tmp_path: Path) -> None:
    settings = Settings(tmp_path, "410102", tmp_path / "t.toml", "sqlite://", 300, 5, 3)
    assert Period.parse("2026-10").due_date(settings) == date(2026, 11, 5)
    assert Period.parse("2026-10").deadline(settings) == datetime.fromisoformat(
        "2026-11-06T00:00+08:00"
    )
    assert Period.parse("2026-10-D1").due_date(settings) == date(2026, 10, 13)
    assert Period.parse("2026-10-D3").due_date(settings) == date(2026, 11, 3)
    assert Period.parse("2026-10-D2").title("zh") == "2026年10月中旬"


@pytest.mark.parametrize(
    ("today", "tenday", "monthly"),
    [
        ("2026-11-01", "2026-10-D3", "2026-10"),
        ("2026-11-11", "2026-11-D1", "2026-10"),
        ("2026-11-21", "2026-11-D2", "2026-10"),
        ("2026-01-05", "2025-12-D3", "2025-12"),
    ],
)
def test_the_periods_just_ended(today: str, tenday: str, monthly: str) -> None:
    day = date.fromisoformat(today)
    assert Period.last_ended("tenday", day).label == tenday
    assert Period.last_ended("monthly", day).label == monthly


def _leaves() -> dict[tuple[str, str], tuple[int, ...]]:
    """(budget, period, month to date, year to date, last year) of a ten-day report."""
    return {
        ("expenditure", "2050201"): (500, 100, 200, 300, 250),
        ("expenditure", "2050202"): (0, 10, 10, 20, 0),
        ("revenue", "103"): (0, 5, 5, 5, 4),
        ("revenue", "10302"): (0, 7, 8, 9, 0),
    }


def test_generated_lines_pass_their_checks() -> None:
    lines = reports.build_lines(_leaves())
    check_lines(lines, negative_entries=False)
    assert [(x.level, x.code) for x in lines] == [
        (0, ""), (1, "103"), (3, "103"), (3, "10302"),
        (0, ""), (1, "205"), (2, "20502"), (3, "2050201"), (3, "2050202"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("expenditure", 2, "20502", 1, 111), "expenditure 款 20502 (subtotal): period 1.11 元"),
        (("expenditure", 0, "", 3, 0), "expenditure total: year to date 0.00 元 is not the sum"),
        (("expenditure", 1, "205", 4, 1), "expenditure 类 205 (subtotal): last year 0.01 元"),
        (("expenditure", 3, "2050202", 3, 5), "year to date 0.05 元 is less than the period's"),
        (("revenue", 3, "10302", 2, 10), "month to date 0.10 元 is not between the period's"),
    ],
)
def test_lines_that_do_not_add_up_are_refused(change: tuple[Any, ...], message: str) -> None:
    section, level, code, column, value = change
    lines = []
    for x in reports.build_lines(_leaves()):
        if (x.section, x.level, x.code) == (section, level, code):
            values = list(x.amounts)
            values[column] = value
            x = of_amounts(section, level, code, values)
        lines.append(x)
    if level == 3:  # keep the sums right, so that only the line's own fault is left
        leaves = {(x.section, x.code): x.amounts for x in lines if x.level == 3}
        lines = reports.build_lines(leaves)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_lines(lines, negative_entries=False)


def test_a_monthly_report_s_month_to_date_is_its_period() -> None:
    lines = reports.build_lines({("revenue", "10101"): (0, 500, 600, 900, 0)})
    check_lines(lines, negative_entries=False, kind="tenday")
    with pytest.raises(InputError, match="month to date 6.00 元 of a monthly report"):
        check_lines(lines, negative_entries=False, kind="monthly")


def test_revenue_budgets_are_allowed_and_the_change_is_exact() -> None:
    lines = reports.build_lines({("revenue", "101"): (1_000, 300, 300, 300, 900)})
    check_lines(lines, negative_entries=False, kind="monthly")
    total, leaf_line = lines[:2]
    assert (total.budget_fen, total.completion) == (1_000, "30.0%")
    assert leaf_line.change == "-66.7%"  # (300 - 900) / 900, rounded half up
    assert replace(leaf_line, ytd_fen=901, last_year_fen=600).change == "+50.2%"  # 50.1666..
    assert replace(leaf_line, last_year_fen=0).change == "—"


def test_negative_entries_lift_the_period_check_only() -> None:
    leaves = {("revenue", "10101"): (0, 500, 500, -200, 0)}  # a refund earlier in the year
    check_lines(reports.build_lines(leaves), negative_entries=True)
    with pytest.raises(InputError, match="less than the period's"):
        check_lines(reports.build_lines(leaves), negative_entries=False)


def test_labels_in_english_and_chinese() -> None:
    zh = reports.labels("zh")
    assert (zh["revenue"], zh["expenditure"], zh["budget"], zh["period"], zh["ytd"]) == (
        "收入",
        "支出",
        "预算数",
        "本期数",
        "累计数",
    )
    assert (zh["class"], zh["subclass"], zh["item"], zh["total"]) == ("类", "款", "项", "合计")
    assert reports.labels("en").keys() == zh.keys()
    with pytest.raises(InputError):
        reports.labels("fr")


# --- layouts and the node's own budget, from the command line -------------------------


def cli_run(network: Network, code: str, *args: str) -> Any:
    from click.testing import CliRunner

    from cli import cli

    return CliRunner().invoke(cli, ["--home", str(network.path / code), *args])


def test_report_show_writes_xlsx_and_html_with_the_title_block(
    province: Network, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    book, page = tmp_path / "d1.xlsx", tmp_path / "d1.html"
    for fmt, out in (("xlsx", book), ("html", page)):
        shown = cli_run(province, "410100", "report", "show", "2026-10-D1", "--region", "410102",
                        "--format", fmt, "-o", str(out), "--lang", "zh")  # fmt: skip
        assert shown.exit_code == 0, shown.stderr
    sheet = load_workbook(book).worksheets[0]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert [row[0] for row in cells[:4]] == [
        "2026年10月上旬财政收支旬报",
        "编制单位：410102 中原区（本级）",
        "报送日期：2026-10-12",
        "金额单位：元",
    ]
    header = cells[4]
    leaf_row = next(row for row in cells if row[2] == "2050201")
    figures = dict(zip(header, leaf_row, strict=True))
    assert (figures["本期数"], figures["本月累计"], figures["累计数"]) == (250, 250, 350)
    assert figures["上年同期"] == 400  # 2025-01-01 to 2025-10-10
    text = page.read_text("utf-8")
    assert "<h1>2026年10月上旬财政收支旬报</h1>" in text and "上年同期" in text


def test_a_budget_import_names_every_bad_line_and_writes_nothing(
    province: Network, tmp_path: Path
) -> None:
    county, period = "410322", "2026-06"  # read by no other test
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "收支,科目编码,金额\n"
        "收入,10101,5000.00\n"
        "收入,99999,1.00\n"  # not a revenue code of 2026
        "支出,2050202,abc\n"  # not an amount
        "其他,2050202,1.00\n"  # neither 收入 nor 支出
        "收入,10101,7.00\n",  # the same line again
        encoding="utf-8",
    )
    refused = cli_run(
        province, county, "budget", "import", str(bad), "--year", "2026", "--lang", "en"
    )
    assert refused.exit_code == 3
    assert "4 problem(s), nothing imported" in refused.stderr
    for row in (3, 4, 5, 6):
        assert f"bad.csv row {row}:" in refused.stderr
    assert "given again (first in row 2)" in refused.stderr
    listed = cli_run(province, county, "budget", "list", "--year", "2026", "--format", "json")
    assert json.loads(listed.output) == []
    chinese = cli_run(province, county, "budget", "import", str(bad), "--year", "2026")
    assert chinese.stderr.startswith("错误：4 处问题，未导入任何内容\n"), chinese.stderr
    assert "bad.csv 第 5 行：类别 '其他' 不是 收入 或 支出" in chinese.stderr
    assert "bad.csv 第 6 行：收入 10101 重复（首次在第 2 行）" in chinese.stderr

    good = tmp_path / "budget.csv"
    good.write_text("收支,科目编码,金额\n收入,10101,5000.00\n支出,2050202,300.00\n", "utf-8")
    for _ in range(2):  # the same file twice leaves the same lines
        done = cli_run(province, county, "budget", "import", str(good), "--year", "2026")
        assert done.exit_code == 0, done.stderr
    assert "（替换 2 行）" in done.output
    listed = cli_run(province, county, "budget", "list", "--year", "2026", "--format", "json")
    assert [(b["section"], b["code"], b["amount"]) for b in json.loads(listed.output)] == [
        ("Revenue", "10101", "5000.00"),  # json is for programs: English in any language
        ("Expenditure", "2050202", "300.00"),
    ]
    book = Workbook()  # the same budget from Excel, a title row above the header
    sheet = book.active
    for row in (["2026年本级预算"], ["收支", "科目编码", "金额（元）"], ["收入", "10101", 5000],
                ["支出", "2050202", Decimal("300.00")]):  # fmt: skip
        sheet.append(row)
    book.save(tmp_path / "budget.xlsx")
    done = cli_run(province, county, "budget", "import", str(tmp_path / "budget.xlsx"),
                   "--year", "2026")  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert "已导入 2026 年预算 2 行：收入 5,000.00 元，支出 300.00 元" in done.output
    with at(province, county) as node:
        view = reports.generate(node, period, actor=ACTOR, clock=beijing("2026-07-01"))
    assert leaf(view, "revenue", "10101").budget_fen == 500_000  # a revenue budget shows
    assert view.total("expenditure").budget_fen == 30_000


def test_a_budget_file_of_many_bad_lines_is_refused_in_bounded_memory(
    province: Network, tmp_path: Path
) -> None:
    """A budget holds a line per code at most, but its file may be of any size: 40,000
    lines, each a code given again or no code of the year, are read one at a time and
    refused naming the first and counting all, holding what is kept of the valid codes
    alone (a file read whole held every row, every problem and every code seen)."""
    county = "410181"
    rows = ["收支,科目编码,金额", "收入,10101,1.00"]
    for number in range(1, 40_000):
        rows.append("收入,10101,2.00" if number % 2 else f"支出,9{number:08d},1.00")
    big = tmp_path / "big.csv"
    big.write_text("\n".join(rows) + "\n", "utf-8")
    with at(province, county) as node:
        tracemalloc.start()
        try:
            with pytest.raises(RowsRefused) as refused:
                import_budget(node, big, 2026, actor=ACTOR)
            _size, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert not budget_lines(node, 2026)
    assert str(refused.value.args[0]).startswith("39999 "), refused.value.args[0]
    assert len(refused.value.problems) == 51  # the first 50, then how many more
    assert "39949" in refused.value.problems[-1]
    assert peak < 4_000_000, peak


def test_a_code_gone_while_a_budget_file_is_read_is_named_at_its_row(
    province: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is read before the write transaction: a code that goes meanwhile (a
    code set replaced) refuses its line there, named at its file and row, nothing
    written."""
    county = "410181"
    path = tmp_path / "v.csv"
    path.write_text("收支,科目编码,金额\n收入,10101,1.00\n支出,2050202,2.00\n", "utf-8")
    where = (code_item.c.codeset == "func", code_item.c.year == 2026, code_item.c.code == "2050202")
    opened = budget.open_table
    kept: list[dict[str, Any]] = []

    def code_goes(*args: Any, **kwargs: Any) -> Iterator[Any]:
        yield from opened(*args, **kwargs)
        with at(province, county) as node, node.engine.begin() as conn:
            kept.extend(r._asdict() for r in conn.execute(sa.select(code_item).where(*where)))
            conn.execute(code_item.delete().where(*where))

    monkeypatch.setattr(budget, "open_table", code_goes)
    try:
        with at(province, county) as node, pytest.raises(RowsRefused) as refused:
            import_budget(node, path, 2026, actor=ACTOR)
    finally:
        with at(province, county) as node, node.engine.begin() as conn:
            for row in kept:
                conn.execute(code_item.insert().values(**row))
    assert len(kept) == 1
    assert refused.value.problems == [
        "v.csv row 3: functional classification (功能分类) '2050202' is not a code of 2026"
    ]
    with at(province, county) as node:
        assert not budget_lines(node, 2026)


def test_two_budget_imports_at_once_leave_one_whole_budget(
    province: Network, tmp_path: Path
) -> None:
    county = "410300"
    files = []
    for number, amount in ((1, "100.00"), (2, "200.00")):
        path = tmp_path / f"budget-{number}.csv"
        lines = "".join(f"支出,{code},{amount}\n" for code in ("2050201", "2050202", "2010101"))
        path.write_text("收支,科目编码,金额\n" + lines, "utf-8")
        files.append(path)
    barrier = threading.Barrier(2)

    def one(path: Path) -> None:
        with at(province, county) as node:
            barrier.wait()
            import_budget(node, path, 2025, actor=ACTOR)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(one, path) for path in files]:
            future.result()
    with at(province, county) as node:
        held = {b.amount_fen for b in budget_lines(node, 2025)}
        assert len(budget_lines(node, 2025)) == 3
    assert held in ({10_000}, {20_000})  # one file whole, never a mix


def test_times_are_shown_in_the_node_s_time_zone(province: Network) -> None:
    settings = province.path / "410102" / "node.toml"
    text = settings.read_text("utf-8")
    assert 'time_zone = "Asia/Shanghai"' in text  # what a new node says
    show = ("report", "show", "2026-10-D1", "--lang", "zh")
    try:
        # submitted at 09:00 on 12 October in Beijing: still the 11th in New York
        settings.write_text(text.replace("Asia/Shanghai", "America/New_York"), "utf-8")
        shown = cli_run(province, "410102", *show)
        assert shown.exit_code == 0, shown.stderr
        assert shown.output.splitlines()[2] == "报送日期：2026-10-11"
        settings.write_text(text.replace("Asia/Shanghai", "Mars/Olympus_Mons"), "utf-8")
        refused = cli_run(province, "410102", *show)
        assert refused.exit_code != 0
        assert "time_zone 'Mars/Olympus_Mons' 不是时区" in refused.stderr
    finally:
        settings.write_text(text, "utf-8")
    assert cli_run(province, "410102", *show).output.splitlines()[2] == "报送日期：2026-10-12"


def test_codes_import_year_refuses_a_row_of_another_year(province: Network, tmp_path: Path) -> None:
    codes = tmp_path / "codes-2027.csv"
    codes.write_text(
        "codeset,year,code,name,parent,level\n"
        "func,,2050299,其他普通教育支出,20502,3\n"  # takes --year
        "func,2024,2050298,其他,20502,3\n",  # names another year
        encoding="utf-8",
    )
    refused = cli_run(province, "410000", "codes", "import", str(codes), "--year", "2027")
    assert refused.exit_code == 3, refused.stderr
    assert "codes-2027.csv 第 3 行：年度 2024 不是 2027" in refused.stderr
    listed = cli_run(province, "410000", "codes", "list", "--year", "2027", "--format", "json")
    assert json.loads(listed.output) == []  # nothing imported
    # the 2025 code sets the module imported with --year reached the county that used them
    shown = cli_run(province, "410102", "codes", "list", "--codeset", "func", "--year", "2025",
                    "--format", "json")  # fmt: skip
    assert "2050201" in {c["code"] for c in json.loads(shown.output)}
