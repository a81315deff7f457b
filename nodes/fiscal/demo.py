"""``fiscalsync demo``: the product's main job on the demo province, on SQLite.

The demo province (config/topologies/demo.toml) does a month's work end to end, every
step through signed change-sets between the nodes' own databases:

1. the province sends its code-set extensions (基础数据) to every node;
2. it allocates to the cities and to the county it manages directly, one batch from the
   spreadsheet ``config/demo/allocations-2026.xlsx`` (下达);
3. each city breaks what it received down to its counties (分解), keeping a share;
4. counties and cities import their own revenue budget of the year (年初预算, the 预算数
   of revenue in their reports: a year's receipts at the month's pace, written to
   ``budgets/CODE-YEAR.csv`` in the demo folder), then record spending against their
   appropriations, and revenue;
5. every node generates its monthly report for the last complete month and submits it
   to its parent and to the data center (月报), which consolidates them (汇总): all of
   them two days before the deadline, but 孟津县 (:data:`LATE`) two days after it and
   中牟县 (:data:`MISSING`) never.

The demo runs on its own calendar (:data:`DEMO_TODAY`, a :class:`FixedClock` that the
steps move on), so that its submission table shows reports on time, one late and one
missing every time it runs. On the system clock (``work_a_month`` in tests) every step
happens now, and the late one is on time or late as the real date has it.

Signed receipts come back for every change-set; the result holds what the province
sees (issued, acknowledged), what the cities have available, and the consolidation.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import config
from nodes.fiscal import appropriations, ledger, reports
from nodes.fiscal.budget import import_budget
from nodes.fiscal.codes import import_codes
from nodes.network import Network, NetworkSync, init_network, sync_network
from nodes.node import Node
from nodes.settings import LOCAL_TIME
from nodes.topology import NodeSpec
from sync.clock import SYSTEM_CLOCK, Clock, FixedClock
from sync.signing import DEFAULT_SUITE

__all__ = [
    "DEMO_ALLOCATIONS",
    "DEMO_TODAY",
    "DEMO_TOPOLOGY",
    "LATE",
    "MISSING",
    "DemoResult",
    "run_demo",
    "work_a_month",
]

DEMO_TOPOLOGY = config.TOPOLOGIES / "demo.toml"
DEMO_CODES = config.DEMO / "code-extensions.csv"
DEMO_ALLOCATIONS = config.DEMO / "allocations-2026.xlsx"
ACTOR = "demo"
KEEP_PERCENT = 20
"""What a city keeps of each appropriation for its own spending; the rest goes down."""
SPEND_PERCENT = 55
"""What each node spends of what it holds for itself in the reported month."""
REVENUE = (("10101", 61), ("10106", 23), ("10304", 9))
"""Revenue codes (增值税, 个人所得税, 行政事业性收费收入) and a weight for each node's receipts."""
DEMO_TODAY = datetime(2026, 11, 2, 9, 0, tzinfo=LOCAL_TIME)
"""The demo's own "today" (Beijing time): the month it reports is October 2026."""
LATE = "410322"
"""The node that submits its monthly report two days after the deadline (孟津县)."""
MISSING = "410122"
"""The node that never submits it (中牟县)."""


@dataclass(frozen=True)
class DemoResult:
    network: Network
    codes: int
    changesets: int
    allocated: int
    allocated_fen: int
    breakdowns: int
    entries: int
    period: reports.Period
    syncs: list[NetworkSync]
    issued: list[appropriations.Holding]
    received: dict[str, list[appropriations.Holding]]
    consolidated: reports.ReportView
    submitters: list[reports.Submitter]
    seconds: float

    @property
    def rounds(self) -> int:
        return sum(s.rounds for s in self.syncs)


def last_month(today: date) -> reports.Period:
    """The last complete month before ``today``."""
    previous = today.replace(day=1) - timedelta(days=1)
    return reports.Period(previous.year, previous.month)


def run_demo(
    path: Path | None,
    progress: Callable[[NodeSpec], None] | None = None,
    clock: Clock | None = None,
    suite: str = DEFAULT_SUITE,
) -> DemoResult:
    """Build the demo province under ``path`` (a new temporary folder when None) and run
    a month of its work (see the module's docstring) on the demo's calendar (from
    :data:`DEMO_TODAY`, unless ``clock`` is given); return what it shows."""
    started = time.monotonic()
    clock = clock if clock is not None else FixedClock(DEMO_TODAY)
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="fiscalsync-demo-")) / "province"
    network = init_network(path, DEMO_TOPOLOGY, progress=progress, clock=clock, suite=suite)
    return work_a_month(network, clock, started=started)


def _turn_to(clock: Clock, moment: datetime) -> None:
    """Move a calendar clock on to ``moment`` (never back); the system clock moves itself."""
    if isinstance(clock, FixedClock) and moment > clock.now():
        clock.set(moment)


def work_a_month(
    network: Network, clock: Clock = SYSTEM_CLOCK, *, started: float | None = None
) -> DemoResult:
    """Run a month of the demo province's work (see the module's docstring) on
    ``network``, a ``network init`` of the demo topology on any database."""
    started = time.monotonic() if started is None else started
    path = network.path
    topology = network.topology
    province = network.homes[topology.province.code].path
    period = last_month(reports.local_today(clock))
    syncs = []

    def settle() -> None:
        syncs.append(sync_network(path, until_quiet=True, clock=clock))

    with Node.open(province) as node:
        codes, changesets = import_codes(node, DEMO_CODES, clock=clock)
        lines = appropriations.read_allocations(DEMO_ALLOCATIONS, period.year)
        allocated = appropriations.allocate(node, lines, actor=ACTOR, clock=clock)
    settle()

    breakdowns = 0
    for city in (n for n in topology if n.role == "city"):
        counties = [n.code for n in topology if n.parent == city.code]
        with Node.open(network.homes[city.code].path) as node:
            held = appropriations.holdings(node, issued=False, year=period.year)
            down = [
                _share(h, county, city.abbreviation or city.name, number, len(counties))
                for number, h in enumerate(held, 1)
                for county in counties
            ]
            appropriations.allocate(node, down, actor=ACTOR, clock=clock)
            breakdowns += len(down)
    settle()

    entries = 0
    spenders = [n for n in topology if n.role in ("city", "county")]
    for spec in spenders:
        with Node.open(network.homes[spec.code].path) as node:
            budget = _revenue_budget(path / "budgets", spec.code, period.year)
            import_budget(node, budget, period.year, actor=ACTOR, clock=clock)
            book = _entries(node, spec.code, period)
            entries += ledger.record(node, book, actor=ACTOR, clock=clock)
    with Node.open(network.homes[topology.center.code].path) as node:
        deadline = period.deadline(node.settings)
    submitting = [s.code for s in topology if s.role != "center" and s.code != MISSING]
    for due, codes_now in (
        (deadline - timedelta(days=1, hours=14), [c for c in submitting if c != LATE]),
        (deadline + timedelta(days=1, hours=15), [c for c in submitting if c == LATE]),
    ):
        _turn_to(clock, due)
        for code in codes_now:
            with Node.open(network.homes[code].path) as node:
                reports.submit(node, period, actor=ACTOR, clock=clock)
        settle()

    received = {}
    for spec in topology:
        if spec.role == "city":
            with Node.open(network.homes[spec.code].path) as node:
                received[spec.code] = appropriations.holdings(node, issued=False)
    with Node.open(province) as node:
        issued = appropriations.holdings(node, issued=True)
    with Node.open(network.homes[topology.center.code].path) as node:
        consolidated = reports.view(node, period, scope="all")
        who = reports.submitters(node, period, clock.now())
    return DemoResult(
        network=network,
        codes=codes,
        changesets=changesets,
        allocated=len(allocated),
        allocated_fen=allocated.total_fen,
        breakdowns=breakdowns,
        entries=entries,
        period=period,
        syncs=syncs,
        issued=issued,
        received=received,
        consolidated=consolidated,
        submitters=who,
        seconds=time.monotonic() - started,
    )


def _share(
    held: appropriations.Holding, county: str, abbreviation: str, number: int, counties: int
) -> appropriations.Allocation:
    """One county's part of a received appropriation: an equal share of what the city
    passes down (all but KEEP_PERCENT), whole fen, under the city's 文号 (郑财预〔2026〕1号)."""
    share = held.available_fen * (100 - KEEP_PERCENT) // 100 // counties
    return appropriations.Allocation(
        recipient=county,
        amount_fen=share,
        func=held.func_code,
        econ=held.econ_code,
        fund=held.fund_code,
        doc=f"{abbreviation}预〔{held.year}〕{number}号",
        year=held.year,
        title=held.title,
        transfer_type=held.transfer_type,
        parent_id=held.id,
    )


def _revenue_budget(folder: Path, code: str, year: int) -> Path:
    """A node's revenue budget of ``year`` (年初预算), as an operator imports it: a file
    of one line per revenue code, a year's receipts at the pace :func:`_entries` records
    a month's."""
    folder.mkdir(exist_ok=True)
    path = folder / f"{code}-{year}.csv"
    rows = [f"收入,{revenue},{12 * _receipts(code, weight) // 100}" for revenue, weight in REVENUE]
    path.write_text("\n".join(["section,code,amount", *rows]) + "\n", encoding="utf-8")
    return path


def _receipts(code: str, weight: int) -> int:
    """A month's receipts of a node under a revenue code of ``weight``, in fen: a
    different size of economy per node."""
    scale = int(code[2:4]) + int(code[4:6]) + 7
    return weight * scale * 1_000_00


def _entries(node: Node, code: str, period: reports.Period) -> list[ledger.Entry]:
    """A month's payments against what the node holds, and its tax and fee receipts."""
    book = []
    for held in appropriations.holdings(node, issued=False, year=period.year):
        spend = held.available_fen * SPEND_PERCENT // 100
        first = spend * 2 // 5
        for day, amount in ((5, first), (18, spend - first)):
            book.append(
                ledger.Entry(
                    entry_date=date(period.year, period.month, day),
                    direction="expenditure",
                    code=held.func_code,
                    econ="50201",
                    amount_fen=amount,
                    appropriation_id=held.id,
                    memo=held.title,
                )
            )
    for revenue, weight in REVENUE:
        book.append(
            ledger.Entry(
                entry_date=date(period.year, period.month, 25),
                direction="revenue",
                code=revenue,
                amount_fen=_receipts(code, weight),
            )
        )
    return book
