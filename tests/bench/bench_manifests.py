"""Benchmark: reading a node's backup manifests as a restore and a keeper's check do:
each verified, then its operations decoded, with the body held by the verification
(``hold=True``) against the same files read a second time (``hold=False``).

Run by hand (pytest never collects it)::

    .venv/bin/python tests/bench/bench_manifests.py --backups 12 --allocations 4000

A demo province is made in a temporary folder; the city 410100 receives
``--allocations`` appropriations and takes ``--backups`` full backups (the manifests of a
SQLite node name every chunk of its file). Then every manifest is read both ways, in
turns (held, again, held, again, ...), ``--repeat`` times. Printed: the manifests' sizes
and the CPU seconds (this process's) of each way, median of the turns, side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import DEMO_TOPOLOGY  # noqa: E402

from nodes import Node, init_network, keys  # noqa: E402
from nodes.backups import KIND, keeper_of, take_backup  # noqa: E402
from nodes.fiscal.appropriations import Allocation, allocate  # noqa: E402
from schema.channels import outbox  # noqa: E402
from sync import changeset  # noqa: E402
from sync.backup.manifest import read_manifest  # noqa: E402
from sync.trust import TrustStore  # noqa: E402, TC001

CITY = "410100"


def read_all(paths: list[Path], trust: TrustStore, keeper: str, hold: bool) -> float:
    """CPU seconds to verify each manifest and decode its operations."""
    started = time.process_time()
    for path in paths:
        verified = changeset.verify(path, trust, recipient=keeper, hold=hold)
        read_manifest(verified.header, verified.operations())
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backups", type=int, default=12)
    parser.add_argument("--allocations", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fiscalsync-bench-") as scratch:
        network = init_network(Path(scratch) / "province", DEMO_TOPOLOGY, None)
        with Node.open(network.path / "410000") as province:
            lines = [
                Allocation(
                    CITY, 10_000 + n, "2050202", "50201", "111", f"豫财预〔2026〕{n}号", 2026
                )
                for n in range(1, args.allocations + 1)
            ]
            allocate(province, lines, actor="bench")
        with Node.open(network.path / CITY) as node:
            for _ in range(args.backups):
                take_backup(node, full=True)
            with node.engine.connect() as conn:
                names = conn.execute(
                    outbox.select()
                    .with_only_columns(outbox.c.filename)
                    .where(outbox.c.kind == KIND)
                ).scalars()
                paths = [node.spool.outbox / name for name in names]
            trust = keys.trust_store(node.home)
            keeper = keeper_of(node.topology, CITY)
            sizes = [p.stat().st_size for p in paths]
            figures: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.repeat):
                for hold in (True, False):
                    figures[hold].append(read_all(paths, trust, keeper, hold))
    held, again = statistics.median(figures[True]), statistics.median(figures[False])
    print(
        f"{len(paths)} manifests, {sum(sizes) / len(sizes) / 1024:.0f} KiB each on average "
        f"(largest {max(sizes) / 1024:.0f} KiB); CPU s to read them all, median of "
        f"{args.repeat}:"
    )
    print(f"  body held by the verification  {held:8.3f}")
    print(f"  body read a second time        {again:8.3f}   ({again / held:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
