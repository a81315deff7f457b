"""Benchmark: a month of the fiscal flows on the real Henan topology (176 nodes + center).

Run by hand (pytest never collects it)::

    .venv/bin/python tests/bench/bench_fiscal.py                 # 100,000 lines
    .venv/bin/python tests/bench/bench_fiscal.py --lines 20000 --keep /tmp/henan
    .venv/bin/python tests/bench/bench_fiscal.py --lines 10000 --profile /tmp/henan-prof

On a ``network init`` of ``config/topologies/henan.toml`` (SQLite, every node its own
database, key and certificate):

1. the province issues N appropriation lines (a CSV batch read through the same path as
   ``fiscalsync allocate --file``) to the 17 cities and the 11 counties it manages
   directly, round robin over every 7-digit functional code of the national code set;
2. ``network sync --until-quiet``: signed change-sets down, signed receipts up;
3. every city breaks each line it received down to one of its counties (round robin,
   80% of it), and syncs again;
4. every city and county records spending against half of what it holds, every node
   (province, cities, counties) generates and submits its monthly report, and the
   network syncs until quiet: reports go to the parents and to the center;
5. the center consolidates the whole province (全省汇总) and lists the submitters.

Printed: each phase's wall and CPU time and rows/s, the rounds, the peak RSS of this process
(everything runs in it), and the checks that every fen arrived: what the province issued
equals what its children received, each city's breakdowns equal what its counties
received, and the consolidation's expenditure equals the sum of every node's ledger.
Target at 100,000 lines: the fiscal flow (steps 1 to 5, after ``network init``) under 30 s,
with a peak RSS under 200 MB.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import config
from nodes.fiscal import appropriations, ledger, reports
from nodes.network import Network, init_network, sync_network
from nodes.node import Node
from schema.tables import appropriation, appropriation_event, ledger_entry

HENAN = config.TOPOLOGIES / "henan.toml"
PERIOD = reports.Period(2026, 10)
TARGET_SECONDS = 30.0
TARGET_RSS_MB = 200.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def functional_codes() -> list[str]:
    with (config.CODESETS / "2026" / "func.csv").open(encoding="utf-8") as handle:
        return [r["code"] for r in csv.DictReader(handle) if len(r["code"]) == 7]


def write_batch(path: Path, recipients: list[str], lines: int) -> None:
    funcs = functional_codes()
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["recipient", "amount", "func", "econ", "fund", "doc", "title", "year"])
        for number in range(lines):
            amount = f"{10_000 + (number * 7919) % 990_000}.{number % 100:02d}"
            out.writerow(
                [
                    recipients[number % len(recipients)],
                    amount,
                    funcs[number % len(funcs)],
                    "51301",
                    "111",
                    f"豫财预〔2026〕{number // 1000 + 1}号",
                    f"转移支付 {number}",
                    2026,
                ]
            )


class Phases:
    def __init__(self, profile: Path | None = None) -> None:
        self.rows: list[tuple[str, float, int | None, str]] = []
        self.profile = profile  # a folder: each phase after the first profiled there

    def run(
        self, name: str, work: Callable[[], Any], count: int | Callable[[], int] | None = None
    ) -> Any:
        """Time ``work`` (wall and CPU, this process's: the machine may be shared);
        ``count`` (or a function giving it afterwards) is its rows."""
        profiler = cProfile.Profile() if self.profile is not None and self.rows else None
        started, cpu = time.perf_counter(), time.process_time()
        if profiler is None:
            result = work()
        else:
            result = profiler.runcall(work)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        if profiler is not None and self.profile is not None:
            self.profile.mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(self.profile / f"phase{len(self.rows)}.prof")
        if callable(count):
            count = count()
        note = ""
        if hasattr(result, "rounds"):
            note = f"{result.rounds} rounds"
        self.rows.append((name, seconds, count, note))
        rate = f"{count / seconds:>10,.0f}" if count else " " * 10
        print(f"  {name:<44} {seconds:7.2f} s {rate} rows/s  cpu {cpu:6.2f} s  {note}", flush=True)
        return result


def fen_sum(network: Network, code: str, where: Any) -> int:
    with Node.open(network.homes[code].path) as node, node.engine.connect() as conn:
        total = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(appropriation_event.c.amount_fen), 0))
            .select_from(appropriation.join(appropriation_event))
            .where(where)
        ).scalar_one()
    return int(total)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="build the province here and keep it")
    parser.add_argument(
        "--profile", type=Path, help="write a cProfile of each phase after init here (phaseN.prof)"
    )
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="fiscalsync-bench-"))
    path = base / "henan"
    phases = Phases(args.profile)
    print(f"Henan fiscal flow, {args.lines:,} lines, SQLite, under {path}")
    try:
        network = phases.run("network init (176 nodes + center)", lambda: init_network(path, HENAN))
        topology = network.topology
        province = topology.province.code
        center = topology.center.code if topology.center else None
        children = [n.code for n in topology if n.parent == province and n.role != "center"]
        cities = [n for n in topology if n.role == "city"]
        batch = base / "batch.csv"
        write_batch(batch, children, args.lines)
        started = time.perf_counter()

        def issue() -> list[str]:
            lines = appropriations.read_allocations(batch, 2026)
            with Node.open(network.homes[province].path) as node:
                return appropriations.allocate(node, lines, actor="bench")

        phases.run(f"province issues to {len(children)} children", issue, args.lines)
        phases.run("sync until quiet", lambda: sync_network(path, until_quiet=True), args.lines)

        breakdown_lines = 0

        def break_down() -> None:
            nonlocal breakdown_lines
            for city in cities:
                counties = [n.code for n in topology if n.parent == city.code]
                if not counties:  # 济源: a city-level unit without counties
                    continue
                with Node.open(network.homes[city.code].path) as node:
                    held = appropriations.holdings(node, issued=False, year=2026)
                    down = [
                        appropriations.Allocation(
                            recipient=counties[number % len(counties)],
                            amount_fen=h.available_fen * 4 // 5,
                            func=h.func_code,
                            econ=h.econ_code,
                            fund=h.fund_code,
                            doc=f"{city.abbreviation or city.code + '财'}预〔2026〕1号",
                            year=2026,
                            parent_id=h.id,
                        )
                        for number, h in enumerate(held)
                    ]
                    appropriations.allocate(node, down, actor="bench")
                    breakdown_lines += len(down)

        phases.run("cities break down to their counties", break_down, lambda: breakdown_lines)
        phases.run(
            "sync until quiet", lambda: sync_network(path, until_quiet=True), breakdown_lines
        )

        entries = 0

        def spend_and_report() -> None:
            nonlocal entries
            for spec in topology:
                if spec.role == "center":
                    continue
                with Node.open(network.homes[spec.code].path) as node:
                    book = [
                        ledger.Entry(
                            entry_date=date(2026, 10, 1 + number % 28),
                            direction="expenditure",
                            code=h.func_code,
                            amount_fen=h.available_fen // 2,
                            appropriation_id=h.id,
                        )
                        for number, h in enumerate(
                            appropriations.holdings(node, issued=False, year=2026)
                        )
                        if h.available_fen >= 2
                    ]
                    if book:
                        entries += ledger.record(node, book, actor="bench")
                    reports.submit(node, PERIOD, actor="bench")

        phases.run(
            "spend, generate and submit 176 monthly reports", spend_and_report, lambda: entries
        )
        phases.run("sync until quiet", lambda: sync_network(path, until_quiet=True))

        def consolidate() -> reports.ReportView:
            assert center is not None
            with Node.open(network.homes[center].path) as node:
                view = reports.view(node, PERIOD, scope="all")
                reports.submitters(node, PERIOD)
            return view

        view = phases.run("center consolidates the province (全省汇总)", consolidate)
        flow = time.perf_counter() - started

        issued = fen_sum(network, province, appropriation.c.issuer == province)
        received = sum(fen_sum(network, c, appropriation.c.recipient == c) for c in children)
        broken = sum(fen_sum(network, c.code, appropriation.c.issuer == c.code) for c in cities)
        got = sum(
            fen_sum(network, n.code, appropriation.c.recipient == n.code)
            for n in topology
            if n.role == "county" and n.parent != province
        )
        spent = 0
        for spec in topology:
            with Node.open(network.homes[spec.code].path) as node, node.engine.connect() as conn:
                spent += int(
                    conn.execute(
                        sa.select(sa.func.coalesce(sa.func.sum(ledger_entry.c.amount_fen), 0))
                    ).scalar_one()
                )
        consolidated = view.total("expenditure").period_fen
        rounds = sum(int(n.split()[0]) for *_, n in phases.rows if n.endswith("rounds"))
        total_rows = args.lines + breakdown_lines
        print()
        print(
            f"  fiscal flow (after network init)             {flow:7.2f} s   target < {TARGET_SECONDS:.0f} s: {'met' if flow < TARGET_SECONDS else 'NOT met'}"
        )
        print(
            f"  appropriation lines moved                    {total_rows:,} ({total_rows / flow:,.0f} rows/s over the flow)"
        )
        print(f"  sync rounds                                  {rounds}")
        rss = peak_rss_mb()
        met = "met" if rss < TARGET_RSS_MB else "NOT met"
        print(
            f"  peak RSS                                     {rss:.0f} MB   target < {TARGET_RSS_MB:.0f} MB: {met}"
        )
        print(
            f"  issued by the province = received below      {issued:,} = {received:,} fen: {'ok' if issued == received else 'MISMATCH'}"
        )
        print(
            f"  broken down by cities = received by counties {broken:,} = {got:,} fen: {'ok' if broken == got else 'MISMATCH'}"
        )
        print(
            f"  consolidated expenditure = every ledger      {consolidated:,} = {spent:,} fen: {'ok' if consolidated == spent else 'MISMATCH'}"
        )
        ok = issued == received and broken == got and consolidated == spent
        return 0 if ok else 1
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
