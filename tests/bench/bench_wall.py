"""Benchmark: the data wall of the Henan province (177 nodes) while the network syncs.

Run by hand (pytest never collects it)::

    .venv/bin/python tests/bench/bench_wall.py                 # 300 requests a configuration
    .venv/bin/python tests/bench/bench_wall.py --requests 500 --db postgresql

A ``network init`` of config/topologies/henan.toml (every node its own SQLite database,
or a PostgreSQL database each with ``--db postgresql``); the province imports the demo
code extensions and allocates to every city and province-managed county, and a first
settle carries it down. Then the province's wall (``fiscalsync serve`` in this process,
uvicorn on 127.0.0.1) answers sequential HTTP requests from a client thread, in turn for
``/api/wall``, ``/`` and ``/metrics``, while another thread runs sync rounds over every
node (the province issuing more appropriations between rounds, so that channels carry
work and the lag changes). Latency is from the request sent to the last byte read.

Configurations, in the same run (the machine's noise is shared):

- **baseline**: ``/api/nodes/410000`` with the wall kept for a second (one node's row of
  the same cached figures: what the HTTP stack and JSON alone cost);
- **idle**: the wall routes, the network quiet;
- **syncing**: the wall routes while the network syncs;
- **syncing, uncached**: the wall read from the database at every request.

Target: p95 < 200 ms for the wall and the API while the network syncs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
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
from nodes.web import Serving, running  # noqa: E402
from schema.engine import drop_database  # noqa: E402

ROUTES = ("api/wall", "", "metrics")


def _time(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


def _measure(base: str, routes: tuple[str, ...], count: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {route: [] for route in routes}
    for number in range(count):
        route = routes[number % len(routes)]
        found[route].append(_time(base + route))
    return found


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _print(label: str, found: dict[str, list[float]]) -> None:
    for route, values in found.items():
        print(
            f"{label:<22} /{route:<16} n={len(values):4d}  p50 {statistics.median(values):7.1f} ms"
            f"  p95 {_p(values, 0.95):7.1f} ms  max {max(values):7.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    template = f"{args.pg}/fs_bench_wall_{{code}}" if args.db == "postgresql" else None
    with tempfile.TemporaryDirectory(prefix="bench-wall-") as tmp:
        started = time.monotonic()
        network = init_network(Path(tmp) / "henan", config.TOPOLOGIES / "henan.toml", template)
        print(
            f"henan: {len(network.topology)} nodes initialised in {time.monotonic() - started:.0f} s"
        )
        province = network.path / network.topology.province.code
        targets = [n.code for n in network.topology.children(network.topology.province.code)]
        targets = [c for c in targets if network.topology.node(c).role != "center"]
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
            with Node.open(province) as node:
                results = {}
                with running(Serving(node)) as base:
                    results["baseline"] = _measure(base, ("api/nodes/410000",), args.requests)
                    results["idle"] = _measure(base, ROUTES, args.requests)
                    stop = threading.Event()
                    rounds = [0]
                    numbers = [100]

                    def sync_loop() -> None:
                        nodes = [Node.open(network.path / s.code) for s in network.topology]
                        try:
                            while not stop.is_set():
                                with Node.open(province) as issuer:
                                    numbers[0] += 1
                                    number = numbers[0]
                                    code = targets[number % len(targets)]
                                    line = Allocation(
                                        code,
                                        1_00,
                                        "2050202",
                                        "50201",
                                        "111",
                                        f"豫财预〔2026〕{number}号",
                                        2026,
                                    )
                                    allocate(issuer, [line], actor="bench")
                                for each in nodes:
                                    if stop.is_set():
                                        break
                                    exchange = Exchange(each)
                                    try:
                                        exchange.run_round()
                                    finally:
                                        exchange.close()
                                rounds[0] += 1
                        finally:
                            for each in nodes:
                                each.close()

                    syncer = threading.Thread(target=sync_loop, daemon=True)
                    syncer.start()
                    time.sleep(2)
                    results["syncing"] = _measure(base, ROUTES, args.requests)
                    stop.set()
                    syncer.join()
                    print(f"(sync rounds over every node while measuring: {rounds[0]})")
                with running(Serving(node, fresh_for=0)) as base:
                    stop.clear()
                    rounds[0] = 0
                    syncer = threading.Thread(target=sync_loop, daemon=True)
                    syncer.start()
                    time.sleep(2)
                    results["syncing, uncached"] = _measure(base, ROUTES, args.requests)
                    stop.set()
                    syncer.join()
                    print(f"(sync rounds over every node while measuring uncached: {rounds[0]})")
            for label, found in results.items():
                _print(label, found)
        finally:
            if template is not None:
                for spec in network.topology:
                    drop_database(template.replace("{code}", spec.code.replace("-", "_")))


if __name__ == "__main__":
    main()
