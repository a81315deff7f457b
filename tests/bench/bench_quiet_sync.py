"""Benchmark: what ``network sync`` costs when nothing moves, part by part.

Run by hand (pytest never collects it), on a province kept by ``bench_fiscal.py``::

    .venv/bin/python tests/bench/bench_fiscal.py --lines 2000 --keep /tmp/henan
    .venv/bin/python tests/bench/bench_quiet_sync.py /tmp/henan/henan --sessions 3

Each session does what ``sync_network`` does for one ``network sync --until-quiet`` of
a quiet province, timed in parts: open every node (settings, topology, engine, schema
check), make each node's exchange (signer, trust store, topology followed), run three
rounds over every node (as the fiscal flow's syncs take), ask every node what is
unsettled, close them. The first session opens everything cold; the next ones are what
the second and third syncs of one process cost. Printed: CPU seconds (this process's)
of each part, per session. The machine may be shared: compare with the code before a
change by running the same command with that code first on ``PYTHONPATH``, alternately.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from nodes.exchange import Exchange
from nodes.network import TOPOLOGY_FILE, _unsettled
from nodes.node import Node
from nodes.topology import load_topology
from schema.engine import release_memory

ROUNDS = 3


def session(path: Path) -> dict[str, float]:
    topology = load_topology(path / TOPOLOGY_FILE)
    parts: dict[str, float] = {}
    started = [time.process_time()]

    def lap(name: str) -> None:
        now = time.process_time()
        parts[name] = now - started[0]
        started[0] = now

    nodes = [Node.open(path / spec.code) for spec in topology]
    lap("open")
    exchanges = [Exchange(node) for node in nodes]
    lap("exchanges")
    for _ in range(ROUNDS):
        for node, exchange in zip(nodes, exchanges, strict=True):
            exchange.run_round()
            release_memory(node.engine)
    lap(f"{ROUNDS} rounds")
    _unsettled(nodes)
    lap("unsettled")
    for node in nodes:
        node.close()
    lap("close")
    parts["total"] = sum(parts.values())
    return parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("province", type=Path, help="a province kept by bench_fiscal --keep")
    parser.add_argument("--sessions", type=int, default=3)
    args = parser.parse_args()
    for number in range(args.sessions):
        parts = session(args.province)
        label = "cold" if number == 0 else "warm"
        print(
            f"session {number + 1} ({label}): "
            + "  ".join(f"{name} {seconds:.2f}" for name, seconds in parts.items())
            + "  (CPU s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
