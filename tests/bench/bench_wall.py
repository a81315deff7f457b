"""Benchmark: the data wall of the Henan province (177 nodes) while the network syncs.

Run by hand (pytest never collects it)::

    .venv/bin/python tests/bench/bench_wall.py                 # 300 requests a route
    .venv/bin/python tests/bench/bench_wall.py --requests 500 --db postgresql

A ``network init`` of config/topologies/henan.toml (every node its own SQLite database,
or a PostgreSQL database each with ``--db postgresql``); the province imports the demo
code extensions and allocates to every city and province-managed county, and a first
settle carries it down. The province's wall (``serve``'s application, uvicorn on
127.0.0.1, in this process) then answers sequential HTTP requests, in turn for
``/api/wall``, ``/`` (the page) and ``/metrics``; latency is from the request sent to the
last byte read. While the network syncs, another *process* (as the agents are, beside
``serve``) runs sync rounds over every node, the province issuing one more
appropriation to a city or a province-managed county before each round, so that
channels carry work and the lag moves.

Configurations, in the same run (the machine's noise is shared):

- **baseline**: ``/api/nodes/410000``, one node's row of the cached figures: what the
  HTTP stack and JSON alone cost;
- **idle**: the wall's routes, the network quiet;
- **syncing**: the wall's routes while the network syncs (figures kept for a second,
  as ``serve`` does);
- **syncing, uncached**: the figures read from the database at every request.

Target: p95 < 200 ms for the wall and the API while the network syncs.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import config  # noqa: E402
from nodes import Node, init_network  # noqa: E402
from nodes.exchange import Exchange  # noqa: E402
from nodes.fiscal.appropriations import Allocation, allocate  # noqa: E402
from nodes.fiscal.codes import import_codes  # noqa: E402
from nodes.fiscal.demo import DEMO_CODES  # noqa: E402
from nodes.network import sync_network  # noqa: E402
from nodes.topology import load_topology  # noqa: E402
from nodes.web import Serving, running  # noqa: E402
from schema.engine import drop_database  # noqa: E402

ROUTES = ("api/wall", "", "metrics")


def _targets(path: Path) -> list[str]:
    topology = load_topology(path / "topology.toml")
    province = topology.province.code
    return [n.code for n in topology.children(province) if n.role != "center"]


def sync_forever(path: Path, first: int) -> None:
    """The syncing process: rounds over every node until SIGTERM; prints the rounds run."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    topology = load_topology(path / "topology.toml")
    targets = _targets(path)
    nodes = [Node.open(path / s.code) for s in topology]
    rounds = 0
    try:
        while not stopping:
            with Node.open(path / topology.province.code) as issuer:
                number = first + rounds
                code = targets[number % len(targets)]
                doc = f"豫财预〔2026〕{number}号"
                allocate(
                    issuer,
                    [Allocation(code, 1_00, "2050202", "50201", "111", doc, 2026)],
                    actor="bench",
                )
            for node in nodes:
                if stopping:
                    break
                exchange = Exchange(node)
                try:
                    exchange.run_round()
                finally:
                    exchange.close()
            rounds += 1
    finally:
        for node in nodes:
            node.close()
    print(rounds, flush=True)


def _time(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


def _measure(base: str, routes: tuple[str, ...], per_route: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {route: [] for route in routes}
    for number in range(per_route * len(routes)):
        route = routes[number % len(routes)]
        found[route].append(_time(base + route))
    return found


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _syncing(path: Path, first: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--sync", str(path), "--first", str(first)],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)  # let its rounds begin
    return process


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=600)
    return int(out.strip() or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per route")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--sync", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=1000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sync is not None:
        sync_forever(args.sync, args.first)
        return
    template = f"{args.pg}/fs_bench_wall_{{code}}" if args.db == "postgresql" else None
    with tempfile.TemporaryDirectory(prefix="bench-wall-") as tmp:
        started = time.monotonic()
        network = init_network(Path(tmp) / "henan", config.TOPOLOGIES / "henan.toml", template)
        print(
            f"henan on {args.db}: {len(network.topology)} nodes in {time.monotonic() - started:.0f} s"
        )
        province = network.path / network.topology.province.code
        targets = _targets(network.path)
        try:
            with Node.open(province) as node:
                import_codes(node, DEMO_CODES)
                lines = [
                    Allocation(
                        code, 1_000_000_00, "2050202", "50201", "111", f"豫财预〔2026〕{i}号", 2026
                    )
                    for i, code in enumerate(targets, 1)
                ]
                allocate(node, lines, actor="bench")
            started = time.monotonic()
            done = sync_network(network.path, until_quiet=True, max_rounds=30)
            print(f"first settle: {done.rounds} rounds in {time.monotonic() - started:.0f} s")
            results = {}
            with Node.open(province) as node:
                with running(Serving(node)) as base:
                    results["baseline"] = _measure(base, ("api/nodes/410000",), args.requests)
                    results["idle"] = _measure(base, ROUTES, args.requests)
                    syncer = _syncing(network.path, 1000)
                    try:
                        results["syncing"] = _measure(base, ROUTES, args.requests)
                    finally:
                        print(f"(sync rounds over all 177 nodes meanwhile: {_stop(syncer)})")
                with running(Serving(node, fresh_for=0)) as base:
                    syncer = _syncing(network.path, 100_000)
                    try:
                        results["syncing, uncached"] = _measure(base, ROUTES, args.requests)
                    finally:
                        print(f"(sync rounds over all 177 nodes meanwhile: {_stop(syncer)})")
            for label, found in results.items():
                for route, values in found.items():
                    print(
                        f"{label:<18} /{route:<17} n={len(values):4d}  "
                        f"p50 {statistics.median(values):7.1f} ms  p95 {_p95(values):7.1f} ms  "
                        f"max {max(values):7.1f} ms"
                    )
        finally:
            if template is not None:
                for spec in network.topology:
                    drop_database(template.replace("{code}", spec.code.replace("-", "_")))


if __name__ == "__main__":
    main()
